#!/usr/bin/env python3
"""vigil's benchmarks, each beside its peer in the same run; prints a Markdown report.

Run through `make bench`. Everything listens on 127.0.0.1 only.
BENCH_PROBES=false runs vigil host without its eBPF probes (on by default as root);
BENCH_EXT_LOGS=false runs the vigil extension without log segments (on by default).
"""
import argparse
import json
import os
import re
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RIC = os.path.join(ROOT, "build", "ric", "node_modules", ".bin", "aws-lambda-ric")
RIC_HANDLERS = os.path.join(ROOT, "tests", "e2e", "ric")


def runtimes(build):
    """The runtimes every host, proxy and extension figure is measured with: ours and AWS's
    Node.js runtime interface client (name, argv after --, its folder, host options)."""
    found = [("C test runtime", [f"{build}/test_runtime"], None, [])]
    if os.path.exists(RIC):
        found.append(("aws-lambda-ric", [RIC, "index.router"], RIC_HANDLERS,
                      ["--handler", "index.router"]))
    else:
        print(f"(aws-lambda-ric is not installed at {RIC}: `make bench` installs it)\n")
    return found


def report_durations(text):
    """Duration of every REPORT line vigil host printed, in ms."""
    return [float(x) for x in re.findall(r"REPORT RequestId: \S+\s+Duration: ([\d.]+) ms", text)]


def sequential_invokes(port, n, body=b'{"a":1}'):
    """n invokes one after another on one kept-alive connection (no load: each waits)."""
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for _ in range(n):
        c.request("POST", "/2015-03-31/functions/function/invocations", body=body)
        c.getresponse().read()
    c.close()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env_clean(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env.update(extra)
    return env


def wait_http(url, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                r.read()
                return True
        except OSError:
            time.sleep(0.0005)
    raise RuntimeError(f"{url} did not answer")


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def shared_libs(path):
    out = subprocess.run(["ldd", path], capture_output=True, text=True).stdout
    return sum(1 for line in out.splitlines() if "=>" in line or "ld-linux" in line)


class Server:
    def __init__(self, name, argv, url, env=None):
        self.name, self.url = name, url
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     env=env or env_clean())
        wait_http(url)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def vigil_server(build):
    port = free_port()
    return Server("vigil serve", [f"{build}/vigil", "serve"],
                  f"http://127.0.0.1:{port}/metrics",
                  env_clean(VIGIL_METRICS_LISTEN=f"127.0.0.1:{port}", VIGIL_LOG_LEVEL="error"))


def node_exporter():
    port = free_port()
    return Server("prometheus-node-exporter",
                  ["prometheus-node-exporter", f"--web.listen-address=127.0.0.1:{port}"],
                  f"http://127.0.0.1:{port}/metrics")


def bench_server(build, series):
    port = free_port()
    return Server(f"vigil exporter, {series} series",
                  [f"{build}/bench/bench_server", str(series), f"127.0.0.1:{port}"],
                  f"http://127.0.0.1:{port}/metrics")


def samples(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        body = r.read().decode()
    return sum(1 for l in body.splitlines() if l and not l.startswith("#")), len(body)


def wrk(url, seconds, conns, script=None):
    argv = ["wrk", f"-t{min(2, conns)}", f"-c{conns}", f"-d{seconds}s", "--latency"]
    if script:
        argv += ["-s", script]
    out = subprocess.run(argv + [url],
                         capture_output=True, text=True, timeout=seconds + 30).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def pct(p):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
        return float(m.group(1)) * scale
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, pct(50), pct(99), int(errors.group(1)) if errors else 0


def start_times(argv, url, env, runs):
    """Median and p90 wall time from exec until url answers; CPU per run from rusage."""
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_http(url)
        walls.append((time.perf_counter() - t0) * 1000)
        p.terminate()
        p.wait()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append((after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000)
    walls.sort()
    return statistics.median(walls), walls[int(len(walls) * 0.9)], statistics.median(cpus)


def exec_time(argv, runs):
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, env=env_clean())
        walls.append((time.perf_counter() - t0) * 1000)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append((after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000)
    return statistics.median(walls), statistics.median(cpus)


def cpu_seconds(pid):
    """utime + stime of one process, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu(pid):
    """CPU seconds of the live child processes of pid (the runtimes)."""
    total = 0.0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                for child in f.read().split():
                    total += cpu_seconds(int(child))
        except OSError:
            pass
    return total


def start_host(build, concurrency, *extra, runtime=None):
    name, rargv, cwd, ropts = runtime or runtimes(build)[0]
    port, mport = free_port(), free_port()
    argv = [f"{build}/vigil", "host", "--listen", f"127.0.0.1:{port}", "--runtime-api",
            "127.0.0.1:0", "--concurrency", str(concurrency), "--idle-timeout", "0", *ropts,
            *extra, "--", *rargv]
    env = env_clean(VIGIL_METRICS_LISTEN=f"127.0.0.1:{mport}", VIGIL_LOG_LEVEL="warn",
                    VIGIL_PROBES_ENABLED=os.environ.get("BENCH_PROBES", "true"))
    p = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            req = urllib.request.Request(base + "/2015-03-31/functions/function/invocations",
                                         data=b"{}", method="POST")
            urllib.request.urlopen(req, timeout=5).read()
            break
        except OSError:
            time.sleep(0.01)
    return p, base


def host_section(build, seconds):
    print(f"## vigil host: front door → runtime → response (wrk, {seconds} s each)\n")
    print("The C test runtime (tests/runtimes/test_runtime.c) answers at once, so its latency "
          "is what the host adds: the client's HTTP hop, the event, the Runtime API round "
          "trips and the answer. AWS's Node.js runtime interface client (aws-lambda-ric 3, "
          "tests/e2e/ric/index.js) beside it: what a user's function sees. Environments are "
          "frozen between invocations (vigil host's default) unless the row says "
          "--freeze no.\n")
    print("| runtime | path | environments | wrk connections | req/s | p50 µs | p99 µs | "
          "vigil CPU µs per invoke | runtime CPU µs per invoke | non-2xx |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    script = os.path.join(ROOT, "bench", "invoke.lua")
    rows = [(r, c, ()) for r in runtimes(build) for c in (1, 2)]
    # The freeze between invocations (on by default) against none, one environment each.
    rows[1:1] = [(rows[0][0], 1, ("--freeze", "no"))]
    for runtime, conc, extra in rows:
        p, base = start_host(build, conc, *extra, runtime=runtime)
        for path, url, lua in (("invoke endpoint (raw event)",
                                base + "/2015-03-31/functions/function/invocations", script),
                               ("API Gateway 2.0 (GET /hello?name=x)",
                                base + "/hello?name=x", None)):
            before = cpu_seconds(p.pid), children_cpu(p.pid)
            rps, p50, p99, errors = wrk(url, seconds, conc, lua)
            after = cpu_seconds(p.pid), children_cpu(p.pid)
            n = rps * seconds
            name = runtime[0] + (" " + " ".join(extra) if extra else "")
            print(f"| {name} | {path} | {conc} | {conc} | {rps:.0f} | {p50 * 1000:.0f} | "
                  f"{p99 * 1000:.0f} | {(after[0] - before[0]) / n * 1e6:.1f} | "
                  f"{(after[1] - before[1]) / n * 1e6:.1f} | {errors} |")
            sys.stdout.flush()
        p.terminate()
        p.wait(timeout=15)
    print()


def first_answer(url, seconds, pause):
    """POST {} until the host answers (its first environment started), within seconds."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            req = urllib.request.Request(url, data=b"{}", method="POST")
            return urllib.request.urlopen(req, timeout=10).read()
        except OSError:
            time.sleep(pause)
    return None


def managed_section(build, seconds=10, conns=64, ns=(1, 2, 4, 8), only_vigil=False):
    """Lambda Managed Instances: one environment, N invocations at once (the tests' Python
    runtime, a 5 ms handler), wrk far past N; vigil extension beside the reference Node.js
    extension (SHUTDOWN only, subscribed to the same events)."""
    import tempfile
    print(f"## Managed Instances under load (vigil host --mode managed-instances, wrk {conns} "
          f"connections, {seconds} s, a handler that sleeps 5 ms)\n")
    print("The runtime is tests/e2e/runtimes/py_runtime.py (AWS_LAMBDA_MAX_CONCURRENCY "
          "threads, each on its own /next: aws-lambda-ric 3 takes one invocation at a time). "
          "CPU per invocation is the extension process's own; reported is what the extension "
          "counted in vigil_invocations_total against the host's REPORT count.\n")
    print("| extension | N in flight | req/s | p50 ms | p99 ms | extension CPU µs per invoke | "
          "extension RSS kB after | host reports | extension reports | non-2xx |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    script = os.path.join(ROOT, "bench", "invoke_sleep5.lua")
    runtime = [sys.executable, os.path.join(ROOT, "tests", "e2e", "runtimes", "py_runtime.py")]
    tmp = tempfile.mkdtemp(prefix="vigil-bench-mi-")
    for name, source in (("vigil", f"{build}/vigil"),
                         ("ref_extension.js", os.path.join(ROOT, "bench", "ref_extension.js"))):
        if only_vigil and name != "vigil":
            continue
        for n in ns:
            ext_dir = os.path.join(tmp, f"{name}-{n}")
            os.makedirs(ext_dir)
            target = os.path.join(ext_dir, name)
            os.symlink(source, target)
            port, mport, emport = free_port(), free_port(), free_port()
            argv = [f"{build}/vigil", "host", "--listen", f"127.0.0.1:{port}", "--runtime-api",
                    "127.0.0.1:0", "--mode", "managed-instances", "--max-concurrency", str(n),
                    "--idle-timeout", "0", "--extensions", ext_dir,
                    "--env", "VIGIL_TELEMETRY_LISTEN=127.0.0.1:0",
                    "--env", f"VIGIL_METRICS_LISTEN=127.0.0.1:{emport}",
                    "--env", "VIGIL_LOG_LEVEL=warn", "--env", "VIGIL_MANAGED_FLUSH_MS=1000",
                    "--env", f"VIGIL_LOG_DIR={ext_dir}/logs", "--", *runtime]
            env = env_clean(VIGIL_METRICS_LISTEN=f"127.0.0.1:{mport}", VIGIL_LOG_LEVEL="warn",
                            VIGIL_PROBES_ENABLED="false")
            p = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            url = f"http://127.0.0.1:{port}/2015-03-31/functions/function/invocations"
            first_answer(url, 10, 0.01)
            time.sleep(1.0)
            pid = find_pid(target)
            before = cpu_seconds(pid)
            out = subprocess.run(["wrk", "-t2", f"-c{conns}", f"-d{seconds}s", "--latency",
                                  "-s", script, url], capture_output=True, text=True,
                                 timeout=seconds + 60).stdout
            done = int(re.search(r"(\d+) requests in", out).group(1))
            rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

            def pct(q):
                m = re.search(rf"^\s+{q}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
                return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
            errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
            time.sleep(2.5)  # past the extension's export timer
            cpu = cpu_seconds(pid) - before
            rss = rss_kb(pid)

            def total(u, metric):
                try:
                    with urllib.request.urlopen(u, timeout=5) as r:
                        text = r.read().decode()
                except OSError:
                    return None
                return sum(float(m.group(1)) for m in re.finditer(
                    rf"^{metric}{{[^}}]*}} (\S+)$", text, re.M))
            host_reports = total(f"http://127.0.0.1:{mport}/metrics", "vigil_invocations_total")
            ext_reports = (total(f"http://127.0.0.1:{emport}/metrics", "vigil_invocations_total")
                           if name == "vigil" else None)
            p.terminate()
            p.wait(timeout=30)
            print(f"| {name} | {n} | {rps:.0f} | {pct(50):.2f} | {pct(99):.2f} | "
                  f"{cpu / done * 1e6:.1f} | {rss} | {host_reports:.0f} | "
                  f"{'—' if ext_reports is None else f'{ext_reports:.0f}'} | "
                  f"{int(errors.group(1)) if errors else 0} |")
            sys.stdout.flush()
    print()


def coldstart_section(build, rounds=60, warm=1000):
    """The cold-start recorders' cost: init with each (coldstart=off, preload, probes; the
    Python and Node functions of tests/e2e/test_coldstart.py; vigil host with its probes on
    in every row), measured in rounds — one cold start of each mode in turn, a fresh host
    each, so that the machine's drift falls on all alike — and after init (an invocation
    loop on one environment)."""
    import tempfile
    print(f"## The cold-start recorders: their cost on init ({rounds} rounds of one cold start "
          f"per mode, in turn) and after it ({warm} sequential invocations)\n")
    print("| function | coldstart | init median ms | init p90 ms | vs off, median of the "
          "rounds | warm invoke p50 µs | warm invoke p99 µs | cold starts kept |")
    print("|---|---|---|---|---|---|---|---|")
    tmp = tempfile.mkdtemp(prefix="vigil-bench-cs-")
    pkgs = os.path.join(tmp, "pkgs")
    for d, body in (("fastpkg", "from . import helper\n"), ("slowpkg", "X = 1\n")):
        os.makedirs(os.path.join(pkgs, d))
        with open(os.path.join(pkgs, d, "__init__.py"), "w") as f:
            f.write(body)
    with open(os.path.join(pkgs, "fastpkg", "helper.py"), "w") as f:
        f.write("Y = 2\n")
    fn = os.path.join(tmp, "nodefn")
    os.makedirs(os.path.join(fn, "node_modules"))
    os.symlink(os.path.join(ROOT, "build", "emf", "node_modules", "aws-embedded-metrics"),
               os.path.join(fn, "node_modules", "aws-embedded-metrics"))
    with open(os.path.join(fn, "index.js"), "w") as f:
        f.write("require('aws-embedded-metrics');\nexports.handler = async () => ({ok: true});\n")
    cases = [("Python (json, email, urllib, 2 packages)",
              [sys.executable, os.path.join(ROOT, "tests", "e2e", "runtimes", "py_runtime.py")],
              None, ["--env", f"PYTHONPATH={pkgs}",
                     "--env", "TEST_IMPORTS=json,email.parser,urllib.request,fastpkg,slowpkg"]),
             ("Node (aws-lambda-ric, aws-embedded-metrics)", [RIC, "index.handler"], fn,
              ["--handler", "index.handler"])]
    modes = ("off", "preload", "probes")

    def host(name, opts, rargv, cwd, mode, out):
        logs = os.path.join(tmp, f"logs-{len(name)}-{mode}")
        venv = env_clean(VIGIL_LOG_LEVEL="warn", VIGIL_METRICS_LISTEN="127.0.0.1:0",
                         VIGIL_LOG_DIR=logs, VIGIL_COLDSTART=mode)
        port = free_port()
        argv = [f"{build}/vigil", "host", "--listen", f"127.0.0.1:{port}", "--runtime-api",
                "127.0.0.1:0", "--user", "root", "--freeze", "no", *opts, "--", *rargv]
        p = subprocess.Popen(argv, env=venv, cwd=cwd, stdout=out, stderr=subprocess.DEVNULL)
        return p, f"http://127.0.0.1:{port}/2015-03-31/functions/function/invocations", logs

    for name, rargv, cwd, opts in cases:
        inits = {m: [] for m in modes}
        ratios = {m: [] for m in modes}
        for _ in range(rounds):
            got = {}
            for mode in modes:
                out = os.path.join(tmp, "out.log")
                with open(out, "w") as f:
                    p, url, _ = host(name, opts, rargv, cwd, mode, f)
                    first_answer(url, 20, 0.005)
                    p.terminate()
                    p.wait(timeout=15)
                with open(out) as f:
                    m = re.search(r"Init Duration: ([\d.]+) ms", f.read())
                if m:
                    got[mode] = float(m.group(1))
                    inits[mode].append(got[mode])
            if "off" in got:
                for mode in modes:
                    if mode in got:
                        ratios[mode].append(got[mode] / got["off"] - 1)
        for mode in modes:
            kept = "-"
            if mode != "off":
                r = subprocess.run([f"{build}/vigil", "coldstart", "--dir",
                                    os.path.join(tmp, f"logs-{len(name)}-{mode}"), "--list"],
                                   capture_output=True, text=True)
                kept = max(0, len(r.stdout.splitlines()) - 1)
            out = os.path.join(tmp, "out.log")
            with open(out, "w") as f:
                p, url, _ = host(name, opts, rargv, cwd, mode, f)
                first_answer(url, 20, 0.01)
                lat = []
                for _ in range(warm):
                    t0 = time.perf_counter()
                    first_answer(url, 10, 0.01)
                    lat.append((time.perf_counter() - t0) * 1e6)
                p.terminate()
                p.wait(timeout=15)
            lat.sort()
            xs = sorted(inits[mode])
            print(f"| {name} | {mode} | {statistics.median(xs):.1f} | {xs[int(len(xs) * 0.9)]:.1f} | "
                  f"{statistics.median(ratios[mode]) * 100:+.1f} % | {lat[len(lat) // 2]:.0f} | "
                  f"{lat[int(len(lat) * 0.99)]:.0f} | {kept} |")
            sys.stdout.flush()
    # What the probes' modes cost the rest of the machine: a process that is no function's,
    # reading while a host runs (idle, and while one of its environments initialises: a
    # runtime whose init sleeps 30 s).
    loop = f"{build}/bench/read_loop"
    if not os.path.exists(loop):
        return
    print("\n| a process that is no function's: one read(2) | mean ns (5 runs of 2 M, median) |")
    print("|---|---|")

    def reads():
        return statistics.median(float(subprocess.run([loop], capture_output=True,
                                                      text=True).stdout) for _ in range(5))
    print(f"| no vigil host | {reads():.0f} |")
    hang = os.path.join(tmp, "hang.py")
    with open(hang, "w") as f:
        f.write("import time\ntime.sleep(30)\n")
    for mode, during in (("off", False), ("probes", False), ("probes", True)):
        with open(os.path.join(tmp, "out.log"), "w") as f:
            p, url, _ = host("reads", [], [sys.executable, hang], None, mode, f)
            time.sleep(1.0)
            if during:
                threading.Thread(target=first_answer, args=(url, 5, 0.05), daemon=True).start()
                time.sleep(1.0)
            what = f"vigil host, coldstart={mode}" + (", an environment initialising" if during
                                                       else ", idle")
            print(f"| {what} | {reads():.0f} |")
            p.terminate()
            p.wait(timeout=15)
    sys.stdout.flush()
    print()


def find_pid(marker):
    """The pid of a live process whose command line contains marker."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if marker.encode() in f.read():
                    return int(pid)
        except OSError:
            pass
    return None


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def run_extension(build, tmp, name, source, cold_starts, warm_invokes, extra_env=(),
                  runtime=None, body=b'{"a":1}', rss_end=None):
    """vigil host with this one extension: cold starts, then warm invokes. Returns the host's
    own measurements (from its debug log): init and post-runtime times in ms, and the
    extension's RSS in kB after a second idle (and, into the list rss_end, after the warm
    invokes)."""
    runtime = runtime or runtimes(build)[0]
    base = os.path.join(tmp, name, runtime[0].replace(" ", "_"))
    ext_dir = os.path.join(base, "extensions")
    os.makedirs(ext_dir, exist_ok=True)
    target = os.path.join(ext_dir, name)
    os.symlink(source, target)
    logs = []

    def host(idle):
        port, mport = free_port(), free_port()
        log = os.path.join(base, f"{name}-{len(logs)}.log")
        logs.append(log)
        argv = [f"{build}/vigil", "host", "--listen", f"127.0.0.1:{port}", "--runtime-api",
                "127.0.0.1:0", "--idle-timeout", str(idle), "--extensions", ext_dir,
                "--env", "VIGIL_TELEMETRY_LISTEN=127.0.0.1:0",
                "--env", "VIGIL_METRICS_LISTEN=127.0.0.1:0", "--env", "VIGIL_LOG_LEVEL=warn",
                # A fresh /tmp as in a new sandbox: the extension's log segments go here.
                "--env", f"VIGIL_LOG_DIR={base}/logs-{len(logs)}",
                "--env", f"VIGIL_LOGS_ENABLED={os.environ.get('BENCH_EXT_LOGS', 'true')}",
                *[a for kv in extra_env for a in ("--env", kv)], *runtime[3], "--", *runtime[1]]
        env = env_clean(VIGIL_METRICS_LISTEN=f"127.0.0.1:{mport}", VIGIL_LOG_LEVEL="debug",
                        VIGIL_PROBES_ENABLED=os.environ.get("BENCH_PROBES", "true"))
        with open(log, "w") as f:
            p = subprocess.Popen(argv, env=env, cwd=runtime[2], stdout=subprocess.DEVNULL,
                                 stderr=f)
        return p, f"http://127.0.0.1:{port}/2015-03-31/functions/function/invocations"

    def invoke(url):
        for _ in range(500):
            try:
                req = urllib.request.Request(url, data=body, method="POST")
                return urllib.request.urlopen(req, timeout=10).read()
            except OSError:
                time.sleep(0.01)
        raise RuntimeError("vigil host did not answer")

    p, url = host(0.3)
    for _ in range(cold_starts):
        invoke(url)
        time.sleep(0.7)  # past the idle timeout: the next invoke is a cold start
    p.terminate()
    p.wait(timeout=15)
    p, url = host(0)
    invoke(url)
    time.sleep(1.0)
    pid = find_pid(target)
    rss = rss_kb(pid) if pid else None
    for _ in range(warm_invokes):
        invoke(url)
    if rss_end is not None and pid:
        time.sleep(2.5)  # past an OTLP round (one a second at most) and its trim
        rss_end.append(rss_kb(pid))
    p.terminate()
    p.wait(timeout=15)
    text = ""
    for log in logs:
        with open(log) as f:
            text += f.read()
    inits = [float(x) for x in re.findall(r"extension \S+: init ([\d.]+) ms", text)]
    posts = [float(x) for x in re.findall(r"post-runtime ([\d.]+) ms", text)]
    return inits, posts, rss


def extension_section(build, cold_starts=20, warm_invokes=1000):
    import tempfile
    print("## vigil extension beside a reference Node.js extension, under vigil host\n")
    print("Both register for INVOKE and SHUTDOWN, listen for and subscribe to the Telemetry "
          "API (platform, function, extension; timeoutMs 25), then loop on event/next; vigil "
          "also tracks every invocation and writes EMF. vigil host measures: init = exec → "
          "first event/next; post-runtime = the runtime back on next → the extension back "
          f"on next. {cold_starts} cold starts, then {warm_invokes} warm invokes each.\n")
    print("| runtime | extension | init median ms | init p90 ms | RSS idle kB | "
          "post-runtime p50 ms | post-runtime p99 ms |")
    print("|---|---|---|---|---|---|---|")
    found = {}
    with tempfile.TemporaryDirectory() as tmp:
        for runtime in runtimes(build):
            for name, source in (("vigil", f"{build}/vigil"),
                                 ("ref_extension.js",
                                  os.path.join(ROOT, "bench", "ref_extension.js"))):
                inits, posts, rss = run_extension(build, tmp, name, source, cold_starts,
                                                  warm_invokes, runtime=runtime)
                found[runtime[0], name] = (statistics.median(inits), statistics.median(posts),
                                           rss, pct(posts, 0.99))
                print(f"| {runtime[0]} | {name} | {statistics.median(inits):.2f} | "
                      f"{pct(inits, 0.9):.2f} | {rss} | {statistics.median(posts):.3f} | "
                      f"{pct(posts, 0.99):.3f} |")
                sys.stdout.flush()
    print()
    for runtime in runtimes(build):
        v, n = found[runtime[0], "vigil"], found[runtime[0], "ref_extension.js"]
        print(f"Ratios with the {runtime[0]} (reference ÷ vigil): init {n[0] / v[0]:.0f}×, "
              f"RSS {n[2] / v[2]:.1f}×, post-runtime p99 {n[3] / v[3]:.1f}×.")
    print()


def layer_section(build, cold_starts=20, warm_invokes=1000):
    """make layer / make deb: what ships, and the static layer binary as the extension beside
    the dynamic build (same run)."""
    import glob
    import tempfile
    top = os.path.join(ROOT, "build")
    print("## Packaging: sizes, and the layer's static binary as the extension\n")
    print("| artifact | binary bytes (stripped) | archive bytes |")
    print("|---|---|---|")
    for arch in ("x86_64", "arm64"):
        binary = os.path.join(top, f"layer-{arch}", "extensions", "vigil")
        z = os.path.join(top, f"vigil-layer-{arch}.zip")
        print(f"| vigil-layer-{arch}.zip | {os.path.getsize(binary)} | {os.path.getsize(z)} |")
    for deb in glob.glob(os.path.join(top, "vigil_*.deb")):
        binary = os.path.join(top, "deb", "root", "usr", "bin", "vigil")
        print(f"| {os.path.basename(deb)} | {os.path.getsize(binary)} | {os.path.getsize(deb)} |")
    print(f"\nExtension under vigil host, {cold_starts} cold starts then {warm_invokes} warm "
          "invokes each (as in the extension section):\n")
    print("| extension binary | shared libraries | init median ms | init p90 ms | RSS idle kB | "
          "post-runtime p99 ms |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for i, (label, source) in enumerate((
                ("build/vigil (dynamic)", f"{build}/vigil"),
                ("layer x86_64 (static)",
                 os.path.join(top, "layer-x86_64", "extensions", "vigil")))):
            sub = os.path.join(tmp, str(i))
            os.makedirs(sub)
            inits, posts, rss = run_extension(build, sub, "vigil", source, cold_starts,
                                              warm_invokes)
            print(f"| {label} | {shared_libs(source)} | {statistics.median(inits):.2f} | "
                  f"{pct(inits, 0.9):.2f} | {rss} | {pct(posts, 0.99):.3f} |")
            sys.stdout.flush()
    print()


def probes_section(build, rounds=5):
    """vigil probe around an exec/fork-heavy loop and an allocation-heavy loop, against the
    same loops without probes, interleaved; lost events; each program's cost."""
    import json as _json
    loop, nop = f"{build}/bench/proc_loop", f"{build}/bench/nop"
    workloads = (("exec/fork loop (2 workers, 20,000 × vfork+exec of a static no-op)",
                  [loop, "exec", "20000", nop, "2"], "execs/s"),
                 ("allocation loop (150 × mmap 64 MiB, touch every page, munmap)",
                  [loop, "alloc", "150", "64"], "rounds/s"))
    print("## eBPF probes: overhead, probes on against off (same run, interleaved)\n")
    print(f"`vigil probe --json -- LOOP` (probes on the loop's process tree, tp_btf) against "
          f"LOOP alone, {rounds} rounds each, alternating; medians.\n")
    print("| workload | off | on | overhead | lost events | events in the ring |")
    print("|---|---|---|---|---|---|")
    for name, argv, unit in workloads:
        off, on, lost, events = [], [], 0, 0
        for _ in range(rounds):
            off.append(float(subprocess.run(argv, capture_output=True, text=True,
                                            check=True).stdout))
            r = subprocess.run([f"{build}/vigil", "probe", "--json", "--"] + argv,
                               capture_output=True, text=True, check=True,
                               env=env_clean(VIGIL_LOG_LEVEL="error"))
            on.append(float(r.stdout))
            facts = _json.loads(r.stderr.strip().splitlines()[-1])
            lost += facts["lostEvents"]
            events += facts["execs"] + facts["exits"]
        mo, mn = statistics.median(off), statistics.median(on)
        print(f"| {name} | {mo:.1f} {unit} | {mn:.1f} {unit} | {(1 - mn / mo) * 100:.1f} % | "
              f"{lost} | {events} |")
        sys.stdout.flush()
    # What each program costs (the kernel's own BPF statistics, one more run).
    stats = "/proc/sys/kernel/bpf_stats_enabled"
    try:
        with open(stats, "w") as f:
            f.write("1")
        r = subprocess.run([f"{build}/vigil", "probe", "--", "sh", "-c",
                            " ".join(workloads[0][1]) + " >/dev/null; bpftool prog show"],
                           capture_output=True, text=True, env=env_clean(VIGIL_LOG_LEVEL="error"))
    finally:
        with open(stats, "w") as f:
            f.write("0")
    print("\nPer program, during one exec/fork loop (kernel.bpf_stats_enabled, which adds its "
          "own ~20 ns a run):\n")
    print("| program | runs | ns per run | total ms |")
    print("|---|---|---|---|")
    for m in re.finditer(r"name (\w+)\s+tag \w+\s+gpl run_time_ns (\d+) run_cnt (\d+)",
                         r.stdout):
        ns, cnt = int(m.group(2)), int(m.group(3))
        print(f"| {m.group(1)} | {cnt} | {ns / max(cnt, 1):.0f} | {ns / 1e6:.1f} |")
    print()


def test_pki(d):
    """A test CA and a localhost certificate it signed (openssl, P-256)."""
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    run = lambda *a: subprocess.run(["openssl", *a], check=True, capture_output=True)  # noqa
    run("req", "-x509", *key, "-keyout", f"{d}/ca.key", "-out", f"{d}/ca.pem", "-days", "2",
        "-subj", "/CN=vigil bench CA")
    run("req", *key, "-keyout", f"{d}/server.key", "-out", f"{d}/server.csr",
        "-subj", "/CN=localhost")
    with open(f"{d}/ext.cnf", "w") as f:
        f.write("subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n")
    run("x509", "-req", "-in", f"{d}/server.csr", "-CA", f"{d}/ca.pem", "-CAkey", f"{d}/ca.key",
        "-CAcreateserial", "-out", f"{d}/server.pem", "-days", "2", "-extfile", f"{d}/ext.cnf")
    with open(f"{d}/web.yml", "w") as f:
        f.write(f"tls_server_config:\n  cert_file: {d}/server.pem\n  key_file: {d}/server.key\n")
    return f"{d}/ca.pem", f"{d}/web.yml"


def remote_write_section(build, cold_starts=20, warm_invokes=1000):
    """vigil extension without and with a remote_write endpoint (real Prometheus receivers, one
    plain, one HTTPS): init, RSS, post-runtime, for the dynamic build and the layer's static
    binary."""
    import tempfile
    port, tls_port = free_port(), free_port()
    layer = os.path.join(ROOT, "build", "layer-x86_64", "extensions", "vigil")
    with tempfile.TemporaryDirectory() as tmp:
        ca, web = test_pki(tmp)
        proms = [subprocess.Popen(
            ["prometheus", f"--config.file={ROOT}/bench/prometheus-empty.yml",
             f"--storage.tsdb.path={tmp}/tsdb{p}", f"--web.listen-address=127.0.0.1:{p}",
             "--web.enable-remote-write-receiver", "--log.level=error", *extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for p, extra in ((port, ()), (tls_port, (f"--web.config.file={web}",)))]
        try:
            wait_http(f"http://127.0.0.1:{port}/-/ready", timeout=30)
            print("## remote_write: the extension without and with a push endpoint\n")
            print(f"vigil as the extension under vigil host, {cold_starts} cold starts then "
                  f"{warm_invokes} warm invokes each; with a push, every export (adaptive "
                  "flush) queues a snapshot that its own thread POSTs to a real Prometheus "
                  "(--web.enable-remote-write-receiver) on 127.0.0.1 — over plain HTTP, or "
                  "over HTTPS to https://localhost (vigil's resolver, BearSSL, a P-256 "
                  "certificate from a test CA). The dynamic build and the layer's static "
                  "binary, same run.\n")
            print("| extension | push | init median ms | init p90 ms | RSS idle kB | "
                  "post-runtime p50 ms | post-runtime p99 ms |")
            print("|---|---|---|---|---|---|---|")
            http = (f"VIGIL_REMOTE_WRITE_URL=http://127.0.0.1:{port}/api/v1/write",)
            https = (f"VIGIL_REMOTE_WRITE_URL=https://localhost:{tls_port}/api/v1/write",
                     f"VIGIL_REMOTE_WRITE_CA_FILE={ca}")
            runs = [("build/vigil", f"{build}/vigil", "none", ()),
                    ("build/vigil", f"{build}/vigil", "http", http),
                    ("build/vigil", f"{build}/vigil", "https", https)]
            if os.path.exists(layer):
                runs += [("layer x86_64", layer, "none", ()),
                         ("layer x86_64", layer, "https", https)]
            for i, (label, binary, push, env) in enumerate(runs):
                sub = os.path.join(tmp, str(i))
                os.makedirs(sub)
                inits, posts, rss = run_extension(build, sub, "vigil", binary, cold_starts,
                                                  warm_invokes, env)
                print(f"| {label} | {push} | {statistics.median(inits):.2f} | "
                      f"{pct(inits, 0.9):.2f} | {rss} | {statistics.median(posts):.3f} | "
                      f"{pct(posts, 0.99):.3f} |")
                sys.stdout.flush()
            import json as _json
            import ssl
            for base, ctx in ((f"http://127.0.0.1:{port}", None),
                              (f"https://localhost:{tls_port}",
                               ssl.create_default_context(cafile=ca))):
                url = f"{base}/api/v1/query?query=count(%7Bjob%3D%22vigil%22%7D)"
                with urllib.request.urlopen(url, timeout=5, context=ctx) as r:
                    n = _json.load(r)["data"]["result"]
                print(f"\nSeries {base.split(':')[0].upper()} Prometheus holds from the pushes: "
                      f"{n[0]['value'][1] if n else 0}.")
            print()
        finally:
            for prom in proms:
                prom.terminate()
                prom.wait(timeout=30)


class OtlpSink:
    """An OTLP/HTTP receiver in its own process that takes every request and answers 200 with
    an empty protobuf (it decodes nothing: its CPU is not vigil's); counts requests and bytes."""

    CODE = """
import http.server, sys
n = [0, 0]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        n[0] += 1; n[1] += len(body)
        self.send_response(200); self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0"); self.end_headers()
    def do_GET(self):
        out = f"{n[0]} {n[1]}".encode()
        self.send_response(200); self.send_header("Content-Length", str(len(out)))
        self.end_headers(); self.wfile.write(out)
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""

    def __init__(self):
        self.port = free_port()
        self.p = subprocess.Popen([sys.executable, "-c", self.CODE, str(self.port)])
        wait_http(f"http://127.0.0.1:{self.port}/")

    def counts(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/", timeout=5) as r:
            return [int(x) for x in r.read().split()]

    def stop(self):
        self.p.terminate()
        self.p.wait(timeout=10)


def otlp_section(build, megabytes=50, cold_starts=20, warm_invokes=1000):
    """OTLP export: log shipping speed beside gzip on the same NDJSON; the extension without
    and with OTLP (init, RSS, post-runtime) with both runtimes, dynamic and layer binaries."""
    import shutil
    import tempfile
    print("## OTLP export (issue 21)\n")
    print(f"### Log shipping: a {megabytes} MB corpus from segments to OTLP requests\n")
    print("bench/gen_corpus.py's corpus (seed 1) into segments by bench/ingest_bench; then "
          "bench/otlp_bench.c: the segments read, every record an OTLP LogRecord, "
          "ExportLogsServiceRequests of 4,096 records (256 KiB at most), compressed — the "
          "exporter's own functions, no network. Beside it gzip and zstd on the same events "
          "as NDJSON. MB are of the NDJSON; three runs each, in turns, median by CPU time.\n")
    with tempfile.TemporaryDirectory() as tmp:
        corpus, nd = make_corpus(tmp, megabytes)
        nd_mb = os.path.getsize(nd) / 1048576
        segs = os.path.join(tmp, "segments")
        subprocess.run([f"{build}/bench/ingest_bench", corpus + ".batches", segs],
                       capture_output=True, check=True)

        def child_cpu():
            ru = resource.getrusage(resource.RUSAGE_CHILDREN)
            return ru.ru_utime + ru.ru_stime

        def tool(argv):
            out = os.path.join(tmp, "out")
            c0 = child_cpu()
            with open(out, "wb") as f:
                subprocess.run(argv + [nd], stdout=f, check=True)
            return os.path.getsize(out), child_cpu() - c0

        def ours(kind):
            out = subprocess.run([f"{build}/bench/otlp_bench", segs, kind], capture_output=True,
                                 text=True, check=True).stdout
            f = dict(kv.split("=") for kv in out.split())
            return int(f["compressed_bytes"]), float(f["cpu_s"])

        rows = {}
        for _ in range(3):
            for name, fn in (("vigil OTLP, gzip (level 1)", lambda: ours("gzip")),
                             ("vigil OTLP, zstd (level 3)", lambda: ours("zstd")),
                             ("vigil OTLP, none", lambda: ours("none")),
                             ("gzip -6 on the NDJSON", lambda: tool(["gzip", "-6", "-c"])),
                             ("gzip -1 on the NDJSON", lambda: tool(["gzip", "-1", "-c"])),
                             ("zstd -3 on the NDJSON", lambda: tool(["zstd", "-q", "-3", "-c"]))):
                rows.setdefault(name, []).append(fn())
        g6 = sorted(rows["gzip -6 on the NDJSON"], key=lambda r: r[1])[1]
        print("| what | bytes out | × gzip -6 bytes | MB per CPU-second | × gzip -6 speed |")
        print("|---|---|---|---|---|")
        for name, runs in rows.items():
            size, cpu = sorted(runs, key=lambda r: r[1])[1]
            print(f"| {name} | {size} | {size / g6[0]:.2f} | {nd_mb / cpu:.0f} | "
                  f"{g6[1] / cpu:.2f} |")
        print(f"\n(CPU seconds, vigil gzip: {', '.join(f'{r[1]:.3f}' for r in rows['vigil OTLP, gzip (level 1)'])}; "
              f"gzip -6: {', '.join(f'{r[1]:.3f}' for r in rows['gzip -6 on the NDJSON'])}.)\n")
        shutil.rmtree(segs, ignore_errors=True)
    print(f"### The extension without and with OTLP\n")
    print(f"vigil as the extension under vigil host, {cold_starts} cold starts then "
          f"{warm_invokes} warm invokes each; with OTLP every export (adaptive flush) wakes "
          "the sender, which ships the new log records, the spans and (each second at most) the "
          "metrics to a receiver in another process on 127.0.0.1 (it answers 200 and decodes "
          "nothing). Each invocation prints log lines (C runtime: one; aws-lambda-ric: 20 "
          "lines of four shapes, `burst`). Same run.\n")
    print("| runtime | extension | OTLP | init median ms | init p90 ms | RSS idle kB | "
          "RSS after kB | post-runtime p50 ms | post-runtime p99 ms | requests | bytes |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    layer = os.path.join(ROOT, "build", "layer-x86_64", "extensions", "vigil")
    sink = OtlpSink()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            i = 0
            for runtime in runtimes(build):
                body = (b'{"action":"burst","k":1,"lines":20}' if runtime[0] == "aws-lambda-ric"
                        else b'{"action":"print","text":"order 42 processed in 12 ms"}')
                for label, binary in (("build/vigil", f"{build}/vigil"),
                                      ("layer x86_64", layer)):
                    if not os.path.exists(binary):
                        continue
                    for otlp in (False, True):
                        env = ((f"VIGIL_OTLP_ENDPOINT=http://127.0.0.1:{sink.port}",
                                "VIGIL_OTLP_TRACES_UNSAMPLED=true") if otlp else ())
                        sub = os.path.join(tmp, str(i))
                        i += 1
                        os.makedirs(sub)
                        before = sink.counts()
                        after_rss = []
                        inits, posts, rss = run_extension(build, sub, "vigil", binary,
                                                          cold_starts, warm_invokes, env,
                                                          runtime=runtime, body=body,
                                                          rss_end=after_rss)
                        got = [a - b for a, b in zip(sink.counts(), before)]
                        print(f"| {runtime[0]} | {label} | {'on' if otlp else 'off'} | "
                              f"{statistics.median(inits):.2f} | {pct(inits, 0.9):.2f} | {rss} | "
                              f"{after_rss[0] if after_rss else ''} | "
                              f"{statistics.median(posts):.3f} | {pct(posts, 0.99):.3f} | "
                              f"{got[0]} | {got[1]} |")
                        sys.stdout.flush()
    finally:
        sink.stop()
    print()


FN_TELEMETRY = os.path.join(ROOT, "tests", "e2e", "fn_telemetry")
FNLIBS = os.path.join(ROOT, "build", "fnlibs", "node_modules")
TRACE_HEADER = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"


class AnswerOnly:
    """A local OTLP/HTTP server that answers 200 to everything and does nothing else: Node's
    http server (TCP_NODELAY, the answer in one write, as Go's net/http)."""

    CODE = """
const http = require('http');
const s = http.createServer({ noDelay: true }, (req, res) => {
  req.on('data', () => {}); req.on('end', () => {
    res.writeHead(200, { 'Content-Type': 'application/x-protobuf', 'Content-Length': 0 });
    res.end(); });
});
s.listen(Number(process.argv[1]), '127.0.0.1');
"""

    def __init__(self):
        self.port = free_port()
        self.p = subprocess.Popen(["node", "-e", self.CODE, str(self.port)])
        wait_http(f"http://127.0.0.1:{self.port}/", timeout=10)

    def stop(self):
        self.p.terminate()
        self.p.wait(timeout=10)


def fn_host(build, *extra):
    """vigil host running fn_telemetry on aws-lambda-ric, vigil as its extension."""
    import tempfile
    tmp = tempfile.mkdtemp(prefix="vigil-recv-")
    ext = os.path.join(tmp, "extensions")
    os.makedirs(ext)
    os.symlink(f"{build}/vigil", os.path.join(ext, "vigil"))
    port, mport = free_port(), free_port()
    argv = [f"{build}/vigil", "host", "--freeze", "no", "--user", "root", "--listen",
            f"127.0.0.1:{port}", "--runtime-api", "127.0.0.1:0", "--function-name", "tele-fn",
            "--handler", "index.handler", "--extensions", ext,
            "--env", "VIGIL_TELEMETRY_LISTEN=127.0.0.1:0", "--env", "VIGIL_METRICS_LISTEN=127.0.0.1:0",
            "--env", "VIGIL_LOG_LEVEL=warn", "--env", f"VIGIL_LOG_DIR={tmp}/logs",
            "--env", f"NODE_PATH={FNLIBS}", *extra, "--", RIC, "index.handler"]
    p = subprocess.Popen(argv, env=env_clean(VIGIL_METRICS_LISTEN=f"127.0.0.1:{mport}"),
                         cwd=FN_TELEMETRY, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/2015-03-31/functions/function/invocations"
    return p, url, ext


def invoke_json(url, event, timeout=60):
    for _ in range(500):
        try:
            req = urllib.request.Request(url, data=json.dumps(event).encode(), method="POST",
                                         headers={"X-Amzn-Trace-Id": TRACE_HEADER})
            return json.loads(urllib.request.urlopen(req, timeout=timeout).read())
        except (OSError, ValueError):
            time.sleep(0.02)
    raise RuntimeError("vigil host did not answer")


def span_request(nspans):
    """An ExportTraceServiceRequest of nspans spans (the official Python bindings)."""
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
    m = trace_service_pb2.ExportTraceServiceRequest()
    rs = m.resource_spans.add()
    a = rs.resource.attributes.add()
    a.key, a.value.string_value = "service.name", "load"
    ss = rs.scope_spans.add()
    ss.scope.name = "bench"
    for i in range(nspans):
        sp = ss.spans.add()
        sp.trace_id = os.urandom(16)
        sp.span_id = os.urandom(8)
        sp.name = f"op-{i % 7}"
        sp.kind = 2
        sp.start_time_unix_nano = 1700000000000000000 + i
        sp.end_time_unix_nano = 1700000000001000000 + i
        for k, v in (("http.route", "/orders/{id}"), ("http.method", "GET"),
                     ("db.system", "postgresql")):
            at = sp.attributes.add()
            at.key, at.value.string_value = k, v
    return m.SerializeToString()


def receivers_section(build, invocations=200, seconds=10):
    """The function's own telemetry through vigil (issue 22): the SDK's export latency to vigil
    beside a server that only answers, spans per CPU-second through receiver → exporter, and
    the extension's init and RSS with the receivers on and off."""
    import tempfile
    import threading
    parts = os.environ.get("BENCH_PARTS", "latency,throughput,extension").split(",")
    print("## The function's own telemetry: OTLP, EMF and StatsD in (issue 22)\n")
    if not os.path.isdir(FNLIBS) or not os.path.exists(RIC):
        print("(the function's libraries are not in build/fnlibs: `make e2e` installs them)\n")
        return
    if "latency" in parts:
        sdk_latency(build, invocations)
    if "throughput" in parts:
        span_throughput(build, seconds)
    if "extension" in parts:
        receivers_extension(build)


def sdk_latency(build, invocations):
    print(f"### The SDK's export inside the handler, {invocations} invocations each\n")
    print("tests/e2e/fn_telemetry on aws-lambda-ric under vigil host, vigil as its extension. "
          "Each invocation makes two spans with the OpenTelemetry JS SDK 2.x "
          "(SimpleSpanProcessor) and times `forceFlush()` of the tracer provider: the export "
          "over OTLP/HTTP protobuf, or gRPC, to vigil's receivers; beside it the same export "
          "to a local server that answers 200 and nothing else (Node's http, TCP_NODELAY), and "
          "to a port that accepts and never answers (what an unreachable collector costs). "
          "10 invocations first as warm-up (not counted). Same run.\n")
    print("| export to | p50 ms | p90 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|")
    only = AnswerOnly()
    hang = socket.socket()
    hang.bind(("127.0.0.1", 0))
    hang.listen(64)
    hang_port = hang.getsockname()[1]
    try:
        rp, gp = free_port(), free_port()
        cases = [
            ("vigil's receiver, OTLP/HTTP protobuf", "http", f"http://127.0.0.1:{rp}", invocations),
            ("vigil's receiver, OTLP/gRPC", "grpc", f"http://127.0.0.1:{rp}", invocations),
            ("a server that only answers 200 (HTTP)", "http",
             f"http://127.0.0.1:{only.port}", invocations),
            ("a port that never answers (3 invocations)", "http",
             f"http://127.0.0.1:{hang_port}", 3),
        ]
        for name, transport, endpoint, n in cases:
            p, url, _ = fn_host(build, "--env", f"VIGIL_OTLP_RECEIVER_HTTP_LISTEN=127.0.0.1:{rp}",
                                "--env", f"VIGIL_OTLP_RECEIVER_GRPC_LISTEN=127.0.0.1:{gp}",
                                "--env", f"OTEL_EXPORTER_OTLP_ENDPOINT={endpoint}",
                                "--env", f"OTEL_GRPC_ENDPOINT=http://127.0.0.1:{gp}",
                                "--timeout", "60")
            try:
                times = []
                warm = 10 if n > 10 else 0
                for i in range(n + warm):
                    a = invoke_json(url, {"action": "otel", "transport": transport,
                                          "only": "traces"})
                    if i >= warm:
                        times.append(a["times"]["traces"])
            finally:
                p.terminate()
                p.wait(timeout=30)
            print(f"| {name} | {statistics.median(times):.2f} | {pct(times, 0.9):.2f} | "
                  f"{pct(times, 0.99):.2f} | {max(times):.2f} |")
            sys.stdout.flush()
    finally:
        only.stop()
        hang.close()
    print()

    print()


def span_throughput(build, seconds):
    import threading
    print(f"### Spans per CPU-second through the receiver and the OTLP exporter\n")
    print(f"Four client threads post ExportTraceServiceRequests of 100 spans (3 attributes "
          f"each; 12 KB, OTLP/HTTP protobuf, keep-alive) to vigil's receiver for {seconds} s; "
          "vigil joins them (trace lookup, faas.invocation_id, resource merge) and its OTLP "
          "exporter sends them (gzip, requests of about 256 KiB, a round every 100 ms) to a "
          "sink in another process. The extension's CPU (utime + stime of its process) from "
          "the first request until the exporter has sent the last span. No OpenTelemetry "
          "collector runs here to measure beside it.\n")
    sink = OtlpSink()
    rp, mp = free_port(), free_port()
    p, url, ext = fn_host(build, "--env", f"VIGIL_OTLP_RECEIVER_HTTP_LISTEN=127.0.0.1:{rp}",
                          "--env", f"VIGIL_METRICS_LISTEN=127.0.0.1:{mp}",
                          "--env", f"VIGIL_OTLP_ENDPOINT=http://127.0.0.1:{sink.port}",
                          "--env", "VIGIL_OTLP_QUEUE_SPANS=500000",
                          "--env", "VIGIL_OTLP_INTERVAL_MS=100",
                          # (the queue's spans count in the environment's memory limit)
                          "--memory", "2048",
                          "--env", "OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:1")
    try:
        invoke_json(url, {"action": "ping"})
        pid = find_pid(os.path.join(ext, "vigil"))
        body = span_request(100)
        stop = time.monotonic() + seconds
        taken = [0]

        def metric(name, **labels):
            text = urllib.request.urlopen(f"http://127.0.0.1:{mp}/metrics", timeout=10).read().decode()
            total = 0.0
            for line in text.splitlines():
                if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
                    total += float(line.rsplit(" ", 1)[1])
            return total

        def client():
            import http.client
            c = http.client.HTTPConnection("127.0.0.1", rp, timeout=30)
            while time.monotonic() < stop:
                c.request("POST", "/v1/traces", body, {"Content-Type": "application/x-protobuf"})
                r = c.getresponse()
                r.read()
                if r.status == 200:
                    taken[0] += 100
            c.close()
        c0 = cpu_seconds(pid)
        threads = [threading.Thread(target=client) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            sent = metric("vigil_otlp_items_total", signal="traces", result="sent")
            dropped = metric("vigil_otlp_items_total", signal="traces", result="dropped")
            if sent + dropped >= taken[0]:
                break
            time.sleep(0.2)
        cpu = cpu_seconds(pid) - c0
        reqs, nbytes = sink.counts()
        print("| spans taken | spans sent | spans dropped | extension CPU s | "
              "spans sent per CPU-second | requests out | bytes out |")
        print("|---|---|---|---|---|---|---|")
        print(f"| {taken[0]} | {sent:.0f} | {dropped:.0f} | {cpu:.2f} | {sent / cpu:,.0f} | "
              f"{reqs} | {nbytes} |\n")
    finally:
        p.terminate()
        p.wait(timeout=30)
        sink.stop()

def receivers_extension(build, cold_starts=40):
    import tempfile
    print("### The extension with the receivers off and on\n")
    print(f"vigil as the extension under vigil host (run_extension: {cold_starts} cold starts, "
          "then 500 warm invokes); receivers on = OTLP/HTTP, OTLP/gRPC and StatsD listening (port 0), "
          "off = all three `off`; nothing is sent to them. Same run.\n")
    print("| runtime | extension | receivers | init median ms | init p90 ms | RSS idle kB | "
          "RSS after kB | post-runtime p50 ms | post-runtime p99 ms |")
    print("|---|---|---|---|---|---|---|---|---|")
    layer = os.path.join(ROOT, "build", "layer-x86_64", "extensions", "vigil")
    with tempfile.TemporaryDirectory() as tmp:
        i = 0
        for runtime in runtimes(build):
            for label, binary in (("build/vigil", f"{build}/vigil"), ("layer x86_64", layer)):
                for on in (False, True):
                    env = (("VIGIL_OTLP_RECEIVER_HTTP_LISTEN=127.0.0.1:0",
                            "VIGIL_OTLP_RECEIVER_GRPC_LISTEN=127.0.0.1:0",
                            "VIGIL_STATSD_LISTEN=127.0.0.1:0") if on else
                           ("VIGIL_OTLP_RECEIVER_HTTP_LISTEN=off",
                            "VIGIL_OTLP_RECEIVER_GRPC_LISTEN=off", "VIGIL_STATSD_LISTEN=off"))
                    sub = os.path.join(tmp, str(i))
                    i += 1
                    os.makedirs(sub)
                    after = []
                    inits, posts, rss = run_extension(build, sub, "vigil", binary, cold_starts,
                                                      500, env, runtime=runtime, rss_end=after)
                    print(f"| {runtime[0]} | {label} | {'on' if on else 'off'} | "
                          f"{statistics.median(inits):.2f} | {pct(inits, 0.9):.2f} | {rss} | "
                          f"{after[0] if after else ''} | {statistics.median(posts):.3f} | "
                          f"{pct(posts, 0.99):.3f} |")
                    sys.stdout.flush()
    print()


def proxy_section(build, seconds, sequential=300):
    print(f"## vigil proxy: added latency per invoke\n")
    print("vigil host with each runtime; the runtime talks to the Runtime API directly, "
          "through `vigil proxy`, or through the reference Node.js proxy (bench/ref_proxy.js, "
          f"plain http module). Same run, one at a time. wrk: 1 connection, {seconds} s, "
          "back to back (the CPUs never idle). REPORT Duration: the host's own figure (event "
          f"written → answer read), median and p99 of {sequential} invokes sent one after "
          "another by a Python client, the first 10 left out (CPUs idle between steps, as "
          "under light traffic).\n")
    print("| runtime | path | req/s | p50 µs | p99 µs | added p50 µs | added p99 µs | "
          "REPORT Duration p50 µs | p99 µs | added p50 µs |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    script = os.path.join(ROOT, "bench", "invoke.lua")
    for runtime in runtimes(build):
        base = None
        for name in ("direct", "vigil proxy", "ref_proxy.js"):
            api, door, listen = free_port(), free_port(), free_port()
            px = None
            if name == "vigil proxy":
                px = subprocess.Popen([f"{build}/vigil", "proxy", "--upstream",
                                       f"127.0.0.1:{api}", "--listen", f"127.0.0.1:{listen}"],
                                      env=env_clean(VIGIL_METRICS_ENABLED="false"),
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            elif name == "ref_proxy.js":
                px = subprocess.Popen(["node", os.path.join(ROOT, "bench", "ref_proxy.js"),
                                       str(listen), f"127.0.0.1:{api}"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            target = api if name == "direct" else listen
            argv = [f"{build}/vigil", "host", "--listen", f"127.0.0.1:{door}", "--runtime-api",
                    f"127.0.0.1:{api}", "--idle-timeout", "0", "--env",
                    f"AWS_LAMBDA_RUNTIME_API=127.0.0.1:{target}", *runtime[3], "--",
                    *runtime[1]]
            out = tempfile.TemporaryFile()
            h = subprocess.Popen(argv, env=env_clean(VIGIL_METRICS_ENABLED="false",
                                                     VIGIL_LOG_LEVEL="warn"),
                                 cwd=runtime[2], stdout=out, stderr=subprocess.DEVNULL)
            url = f"http://127.0.0.1:{door}/2015-03-31/functions/function/invocations"
            first_answer(url, 10, 0.02)
            rps, p50, p99, errors = wrk(url, seconds, 1, script)
            # REPORT lines of the wrk run are left behind: only the sequential ones count.
            sequential_invokes(door, sequential)
            h.terminate()
            h.wait(timeout=15)
            if px:
                px.terminate()
                px.wait(timeout=15)
            out.seek(0)
            durations = report_durations(out.read().decode(errors="replace"))
            out.close()
            durations = durations[-sequential + 10:]
            d50, d99 = statistics.median(durations) * 1000, pct(durations, 0.99) * 1000
            if base is None:
                base = (p50, p99, d50)
            print(f"| {runtime[0]} | {name} | {rps:.0f} | {p50 * 1000:.0f} | {p99 * 1000:.0f} | "
                  f"{(p50 - base[0]) * 1000:.0f} | {(p99 - base[1]) * 1000:.0f} | {d50:.0f} | "
                  f"{d99:.0f} | {d50 - base[2]:.0f} |")
            sys.stdout.flush()
    print()


def start_section(build, rounds=200):
    """The extension's start against a stand-in for Lambda's APIs that answers as its Go
    server does, beside the least an extension can do (bench/bare_extension.c)."""
    top = os.path.join(ROOT, "build")
    print("## Extension start: fork → first event/next, against a Go-like API server\n")
    print("bench/start_server.c answers register and the Telemetry API subscription as "
          "Lambda's Go server does (TCP_NODELAY, each answer in one write) and times each "
          "program from its fork to its first event/next, programs in turn, "
          f"{rounds} starts each. bench/bare_extension.c (static) does only what an extension "
          "must: register, listen, subscribe, next, with blocking sockets.\n")
    print("```")
    sys.stdout.flush()
    env = env_clean(VIGIL_TELEMETRY_LISTEN="127.0.0.1:0", VIGIL_METRICS_LISTEN="127.0.0.1:0",
                    VIGIL_LOG_DIR=tempfile.mkdtemp(prefix="vigil-start-"))
    subprocess.run([f"{build}/bench/start_server", str(rounds), f"{build}/bench/bare_extension",
                    "--", os.path.join(top, "layer-x86_64", "extensions", "vigil"), "extension",
                    "--", f"{build}/vigil", "extension"], env=env, check=True,
                   stderr=subprocess.DEVNULL)
    print("```\n")


def shapes_section(build, megabytes=20):
    """bench/gen_shapes.py's corpora, one log shape each: vigil's segments beside zstd -3,
    zstd -19 and gzip -6 on the same events as NDJSON."""
    print(f"## Logs by shape: {megabytes} MB of each (bench/gen_shapes.py, seed 1)\n")
    print("Each shape is what functions print in one format (Powertools for Python and "
          "TypeScript, Node's and Python's default text, log4j text and JSON, zerolog, API "
          "Gateway access logs, long stack traces, free text), with its high-cardinality "
          "fields, in Telemetry API batches with platform.start/runtimeDone/report per "
          "invocation. vigil: bench/ingest_bench (the extension's path to segments; speed: the "
          "median of five passes after one not counted); the others on the same events as NDJSON, one event per "
          "line.\n")
    print("| shape | NDJSON bytes | vigil bytes | × zstd -3 | × zstd -19 | × gzip -6 | "
          "vigil MB per CPU-second | zstd -3 MB per CPU-second |")
    print("|---|---|---|---|---|---|---|---|")
    gen = os.path.join(ROOT, "bench", "gen_shapes.py")
    shapes = subprocess.run([sys.executable, gen, "--list"], capture_output=True, text=True,
                            check=True).stdout.split()
    with tempfile.TemporaryDirectory() as tmp:
        for shape in shapes:
            prefix = os.path.join(tmp, shape)
            subprocess.run([sys.executable, gen, shape, prefix, str(megabytes), "1"], check=True)
            speeds = []
            # A pass is a tenth of a second: the median of five, after one more that is not
            # counted (the corpus was just written: the first pass after it ran 20-30 %
            # slower, the disk still taking the written pages).
            for k in range(6):
                out = os.path.join(tmp, f"{shape}-out{k}")
                os.mkdir(out)
                r = subprocess.run([f"{build}/bench/ingest_bench", prefix + ".batches", out],
                                   capture_output=True, text=True, check=True).stdout
                speeds.append(float(re.search(r"mb_per_cpu_s=([\d.]+)", r).group(1)))
            mb = statistics.median(speeds[1:])
            seg = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out)
                      if f.endswith(".vseg"))

            def size(argv):
                with open(prefix + ".ndjson", "rb") as f:
                    return len(subprocess.run(argv, stdin=f, capture_output=True,
                                              check=True).stdout)

            def zstd3_speed():
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                size(["zstd", "-q", "-3", "-c"])
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
                return os.path.getsize(prefix + ".ndjson") / 1048576 / cpu
            z3, z19, g6 = (size(["zstd", "-q", "-3", "-c"]), size(["zstd", "-q", "-19", "-c"]),
                           size(["gzip", "-6", "-c"]))
            z3mb = statistics.median(zstd3_speed() for _ in range(5))
            print(f"| {shape} | {os.path.getsize(prefix + '.ndjson')} | {seg} | "
                  f"{seg / z3:.3f} | {seg / z19:.3f} | {seg / g6:.3f} | {mb:.0f} | {z3mb:.0f} |")
            sys.stdout.flush()
    print()


def make_corpus(tmp, megabytes):
    """bench/gen_corpus.py's corpus (seed 1) in tmp: its path prefix and its NDJSON file."""
    corpus = os.path.join(tmp, "corpus")
    subprocess.run([sys.executable, os.path.join(ROOT, "bench", "gen_corpus.py"), corpus,
                    str(megabytes), "1"], check=True)
    return corpus, corpus + ".ndjson"


def logs_section(build, megabytes):
    import shutil
    import tempfile
    print(f"## Logs: ingest and compression of a {megabytes} MB corpus (seed 1)\n")
    print("bench/gen_corpus.py writes Telemetry API batches (one JSON array per line) and the "
          "same events as NDJSON. bench/ingest_bench.c takes the batches through the vigil "
          "extension's code (telemetry_batch_log → log pipeline → segments); zstd and gzip "
          "compress the NDJSON. Same run, one program at a time.\n")
    with tempfile.TemporaryDirectory() as tmp:
        corpus, nd = make_corpus(tmp, megabytes)
        nd_size = os.path.getsize(nd)
        # vigil and zstd -3 three times each, interleaved (the machine's speed drifts; both
        # see the same drift), each measured in CPU seconds and wall seconds; the median
        # by CPU time. zstd -19 and gzip -6 once (zstd -19 takes minutes).
        def child_cpu():
            ru = resource.getrusage(resource.RUSAGE_CHILDREN)
            return ru.ru_utime + ru.ru_stime

        def compress(argv):
            out = os.path.join(tmp, "compressed")
            c0, t0 = child_cpu(), time.perf_counter()
            with open(out, "wb") as f:
                subprocess.run(argv + [nd], stdout=f, check=True)
            cpu, wall = child_cpu() - c0, time.perf_counter() - t0
            return os.path.getsize(out), nd_size / 1048576 / cpu, nd_size / 1048576 / wall

        runs, z3 = [], []
        for _ in range(3):
            shutil.rmtree(os.path.join(tmp, "segments"), ignore_errors=True)
            out = subprocess.run([f"{build}/bench/ingest_bench", corpus + ".batches",
                                  os.path.join(tmp, "segments")], capture_output=True,
                                 text=True, check=True).stdout
            runs.append(dict(kv.split("=") for kv in out.split()))
            z3.append(compress(["zstd", "-q", "-3", "-c"]))
        fields = sorted(runs, key=lambda f: float(f["cpu_s"]))[1]
        writer_s = float(fields["cpu_s"]) - float(fields["main_cpu_s"])
        seg = sum(os.path.getsize(os.path.join(tmp, "segments", f))
                  for f in os.listdir(os.path.join(tmp, "segments")))
        print("| what | compressed bytes | × NDJSON | × zstd -3 | MB per CPU-second | "
              "MB/s wall |")
        print("|---|---|---|---|---|---|")
        rows = [("zstd -3",) + sorted(z3, key=lambda r: r[1])[1],
                ("zstd -19",) + compress(["zstd", "-q", "-19", "-c"]),
                ("gzip -6",) + compress(["gzip", "-6", "-c"])]
        z3_size = rows[0][1]
        print(f"| NDJSON (input) | {nd_size} | 1.00 | {nd_size / z3_size:.2f} | | |")
        for name, size, cpu_mbs, wall_mbs in rows:
            print(f"| {name} | {size} | {size / nd_size:.3f} | {size / z3_size:.2f} | "
                  f"{cpu_mbs:.0f} | {wall_mbs:.0f} |")
        writer_mbs = int(fields["input_bytes"]) / 1048576 / writer_s
        print(f"| vigil segments | {seg} | {seg / nd_size:.3f} | {seg / z3_size:.2f} | "
              f"{float(fields['mb_per_cpu_s']):.0f} ({writer_mbs:.0f} on the writer thread "
              f"alone) | {float(fields['mb_per_wall_s']):.0f} |")
        print(f"\nvigil and zstd -3: three runs each, taken in turns, the median by CPU time "
              f"(vigil per run, MB per CPU-second: "
              f"{', '.join(f['mb_per_cpu_s'] for f in runs)}; zstd -3: "
              f"{', '.join(f'{r[1]:.1f}' for r in z3)}). zstd only compresses the NDJSON; "
              "vigil parses the batches, lays out columns, compresses and writes.")
        print(f"\nIngest, the median run: {float(fields['cpu_s']):.3f} CPU-seconds for "
              f"{int(fields['input_bytes'])} bytes, of which {float(fields['main_cpu_s']):.3f} "
              "on the thread filling each batch's buffer (standing for the HTTP receive; the "
              "extension hands the received buffer over without a copy) and the rest on the "
              "log pipeline's writer thread: parse, columns, zstd, write.")
        # A lookup by request id (the index's hashes skip blocks) against reading everything.
        rid = None
        with open(nd) as f:
            f.seek(nd_size // 2)
            for line in f:
                m = re.search(r'"requestId":"([0-9a-f-]{36})"', line)
                if m:
                    rid = m.group(1)
                    break
        segs = os.path.join(tmp, "segments")
        print(f"\n`vigil logs cat --request-id` for one request in the middle of the corpus, "
              "against `vigil logs cat` of everything (both to /dev/null):\n")
        print("| read | lines out | seconds |")
        print("|---|---|---|")
        for label, args in (("cat --request-id", ["cat", "--request-id", rid]),
                            ("cat (all)", ["cat"])):
            t0 = time.perf_counter()
            out = subprocess.run([f"{build}/vigil", "logs", "--dir", segs, *args],
                                 capture_output=True, check=True).stdout
            print(f"| {label} | {out.count(bytes([10]))} | {time.perf_counter() - t0:.3f} |")
    print()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--only", choices=["foundations", "host", "extension", "start", "proxy",
                                       "logs", "shapes", "managed", "coldstart",
                                       "layer", "probes", "remote_write", "otlp",
                                       "receivers"],
                    default=None)
    ap.add_argument("--logs-mb", type=int, default=200)
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    print(f"# vigil benchmarks — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"{os.cpu_count()} cores, `make bench`\n")
    if args.only in (None, "host"):
        host_section(build, args.seconds)
    if args.only in (None, "extension"):
        extension_section(build)
    if args.only in (None, "start"):
        start_section(build)
    if args.only in (None, "proxy"):
        proxy_section(build, args.seconds)
    if args.only in (None, "logs"):
        logs_section(build, args.logs_mb)
    if args.only in (None, "shapes"):
        shapes_section(build)
    if args.only in (None, "layer"):
        layer_section(build)
    if args.only in (None, "probes"):
        probes_section(build)
    if args.only in (None, "remote_write"):
        remote_write_section(build)
    if args.only in (None, "otlp"):
        otlp_section(build)
    if args.only in (None, "receivers"):
        receivers_section(build)
    if args.only in (None, "managed"):
        managed_section(build)
    if args.only in (None, "coldstart"):
        coldstart_section(build)
    if args.only in ("managed", "coldstart", "host", "extension", "start", "proxy", "logs", "shapes", "layer", "probes",
                     "remote_write", "otlp", "receivers"):
        return

    print("## Render 10,000 series (bench/render_bench.c, 300 renders each)\n")
    print("```")
    sys.stdout.flush()
    subprocess.run([f"{build}/bench/render_bench", "10000", "300"], check=True)
    print("```\n")
    sys.stdout.flush()

    print(f"## Scrape latency under wrk (2 threads, 4 connections, {args.seconds} s each)\n")
    node = node_exporter()
    node_samples, node_bytes = samples(node.url)
    node.stop()
    n_match = max(100, round(node_samples / 100) * 100)
    print("| server | samples | bytes | req/s | p50 ms | p99 ms | non-2xx |")
    print("|---|---|---|---|---|---|---|")
    for make in (lambda: node_exporter(), lambda: vigil_server(build),
                 lambda: bench_server(build, n_match), lambda: bench_server(build, 10000)):
        srv = make()
        n, size = samples(srv.url)
        rps, p50, p99, errors = wrk(srv.url, args.seconds, 4)
        print(f"| {srv.name} | {n} | {size} | {rps:.0f} | {p50:.3f} | {p99:.3f} | {errors} |")
        sys.stdout.flush()
        srv.stop()

    print("\n## Start and memory\n")
    print("| program | shared libraries | exec → /metrics answers, median ms | p90 ms "
          "| CPU per start ms | idle RSS kB | RSS after 100 scrapes kB |")
    print("|---|---|---|---|---|---|---|")
    port = free_port()
    venv = env_clean(VIGIL_METRICS_LISTEN=f"127.0.0.1:{port}", VIGIL_LOG_LEVEL="error")
    vurl = f"http://127.0.0.1:{port}/healthz"
    nport = free_port()
    nargv = ["prometheus-node-exporter", f"--web.listen-address=127.0.0.1:{nport}"]
    nurl = f"http://127.0.0.1:{nport}/"
    for name, argv, url, env, path in (
            ("vigil serve", [f"{build}/vigil", "serve"], vurl, venv, f"{build}/vigil"),
            ("prometheus-node-exporter", nargv, nurl, env_clean(),
             "/usr/bin/prometheus-node-exporter")):
        med, p90, cpu = start_times(argv, url, env, 30)
        srv = Server(name, argv, url, env)
        time.sleep(1.0)
        idle = rss_kb(srv.proc.pid)
        murl = url.replace("/healthz", "/metrics") if "healthz" in url else url + "metrics"
        for _ in range(100):
            samples(murl)
        busy = rss_kb(srv.proc.pid)
        srv.stop()
        print(f"| {name} | {shared_libs(path)} | {med:.2f} | {p90:.2f} | {cpu:.2f} | {idle} "
              f"| {busy} |")
    wall, cpu = exec_time([f"{build}/vigil", "--version"], 50)
    print(f"\n`vigil --version`: {wall:.2f} ms wall (median of 50, including Python's fork/exec), "
          f"{cpu:.2f} ms CPU.")


if __name__ == "__main__":
    main()

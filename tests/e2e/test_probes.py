"""vigil host's eBPF probes (agent/probes) on real processes: peak RSS, OOM-kill victims, fatal
signals, child execs, files opened during a Node.js init. They need root and kernel BTF; CI
runs as root on a kernel with BTF, so a probe that cannot load fails here and says why."""
import os
import re
import subprocess

import pytest

from conftest import ROOT, TEST_RUNTIME, VIGIL, wait_for
from test_ric import RIC


def probe_lines(h, kind="PROBES"):
    """PROBES lines (kind "PROBES", "PROBES INIT", "PROBES EXIT", "PROBES OOM") as dicts."""
    out = []
    for line in h.stdout().splitlines():
        head, _, rest = line.partition("\t")
        if head == kind:
            out.append(dict(part.split(": ", 1) for part in rest.split("\t") if ": " in part))
    return out


def probes_of(h, request_id):
    return wait_for(lambda: [p for p in probe_lines(h) if p["RequestId"] == request_id],
                    what=f"the PROBES line of {request_id}")[0]


def megabytes(field):
    return float(field.split()[0])


@pytest.fixture(params=["tp_btf", "raw_tp"])
def probed_host(request, start_host):
    """vigil host with the probes on, attached both ways (tp_btf, and the raw_tp fallback);
    a test fails (not skips) when they cannot load."""
    def start(*args, **kw):
        h = start_host(*args, VIGIL_PROBES_ATTACH=request.param, **kw)
        if h.metric("vigil_probes_enabled") != 1:
            why = re.findall(r"probes: .*", h.stderr())
            pytest.fail(f"the eBPF probes did not load: {why}")
        assert f"probes: on ({request.param}," in h.stderr()
        return h
    return start


def test_peak_rss_of_a_handler_that_allocates_200_mb(probed_host):
    h = probed_host("--memory", "512", "--", TEST_RUNTIME)
    h.invoke({"warm": 1})
    h.invoke({"action": "alloc", "mb": 200})
    ids = [r["RequestId"] for r in h.wait_reports(2)]
    base = megabytes(probes_of(h, ids[0])["Peak RSS"])
    peak = megabytes(probes_of(h, ids[1])["Peak RSS"])
    expected = base + 200
    assert abs(peak - expected) <= 0.05 * expected, (base, peak)
    # The cgroup's own figure (REPORT's Max Memory Used) agrees.
    report = h.reports()[1]
    assert abs(int(report["Max Memory Used"].split()[0]) - peak) <= 0.05 * expected
    assert h.metric("vigil_invocation_peak_rss_bytes_count", function="function") >= 2


def runtime_pid(h):
    """The runtime's pid: the host's child running the test runtime."""
    out = subprocess.run(["pgrep", "-P", str(h.proc.pid)], capture_output=True, text=True)
    for pid in out.stdout.split():
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if os.path.basename(f.read().split(b"\0")[0].decode()) == "test_runtime":
                    return int(pid)
        except OSError:
            pass
    return None


def test_oom_kill_is_reported_with_the_victims_pid(probed_host):
    h = probed_host("--memory", "128", "--", TEST_RUNTIME)
    h.invoke({"warm": 1})
    pid = wait_for(lambda: runtime_pid(h), what="the runtime's pid")
    status, headers, body = h.invoke({"action": "alloc", "mb": 400})
    assert body["errorType"] == "Runtime.OutOfMemory", body
    ooms = wait_for(lambda: probe_lines(h, "PROBES OOM"), what="a PROBES OOM line")
    assert int(ooms[0]["Pid"]) == pid, (ooms, pid)
    assert ooms[0]["Command"] == "test_runtime"
    assert h.metric("vigil_oom_kills_total", function="function") == 1
    assert h.metric("vigil_process_exits_total", function="function", signal="SIGKILL") >= 1


def test_sigsegv_is_reported_as_signal_11(probed_host):
    h = probed_host("--", TEST_RUNTIME)
    status, headers, body = h.invoke({"action": "crash"})
    assert body["errorType"] == "Runtime.ExitError"
    exits = wait_for(lambda: probe_lines(h, "PROBES EXIT"), what="a PROBES EXIT line")
    assert exits[0]["Signal"] == "11 (Segmentation fault)"
    assert h.metric("vigil_process_exits_total", function="function", signal="SIGSEGV") == 1


def test_sigsegv_behind_a_shell_is_still_signal_11(probed_host):
    """The runtime started by a shell that waits for it: the host's waitpid sees the shell
    exit 139; the probes saw the runtime die of SIGSEGV, and that is what the caller gets."""
    h = probed_host("--", "/bin/sh", "-c", '"$0"; exit $?', TEST_RUNTIME)
    status, headers, body = h.invoke({"action": "crash"})
    assert body["errorType"] == "Runtime.ExitError"
    assert "Segmentation fault" in body["errorMessage"], body
    assert "exit status 139" not in body["errorMessage"]


def test_a_child_process_exec_is_seen(probed_host):
    h = probed_host("--", TEST_RUNTIME)
    h.invoke({"warm": 1})
    status, headers, body = h.invoke({"action": "run", "cmd": "/bin/true"})
    assert body == {"ran": "/bin/true", "status": 0}
    ids = [r["RequestId"] for r in h.wait_reports(2)]
    assert probe_lines(h, "PROBES INIT")[0]["Execs"] == "1"  # the runtime itself
    assert probes_of(h, ids[0])["Execs"] == "0"
    assert probes_of(h, ids[1])["Execs"] == "1"
    # The runtime's own exec during init, then /bin/true.
    assert h.metric("vigil_process_execs_total", function="function") == 2
    assert h.metric("vigil_process_exits_total", function="function", signal="none") >= 1


def test_node_init_that_requires_50_modules(probed_host, tmp_path):
    assert os.path.exists(RIC), f"{RIC} is missing: `make e2e` installs it"
    for i in range(50):
        (tmp_path / f"m{i}.js").write_text(f"module.exports = {i};\n")
    (tmp_path / "index.js").write_text(
        "let sum = 0;\n"
        "for (let i = 0; i < 50; i++) sum += require('./m' + i + '.js');\n"
        "exports.handler = async () => ({ sum });\n")
    h = probed_host("--function-name", "node-fn", "--handler", "index.handler", "--timeout",
                    "10", "--", RIC, "index.handler", cwd=str(tmp_path))
    status, headers, body = h.invoke({})
    assert body == {"sum": sum(range(50))}
    (init,) = wait_for(lambda: probe_lines(h, "PROBES INIT"), what="the PROBES INIT line")
    assert int(init["Files Opened"]) >= 50, init
    assert int(init["Bytes Read"]) > 0 and float(init["CPU"].split()[0]) > 0
    assert h.metric("vigil_init_files_opened_total", function="node-fn") >= 50


def test_every_host_metric_is_documented(probed_host):
    """docs/metrics.md names every family vigil host serves, the probes' included."""
    h = probed_host("--", TEST_RUNTIME)
    h.invoke({"a": 1})
    h.wait_reports(1)
    with open(os.path.join(ROOT, "docs", "metrics.md")) as f:
        doc = f.read()
    families = set(re.findall(r"^# TYPE (\S+) ", h.metrics(), re.M))
    assert "vigil_process_cpu_seconds_total" in families
    for name in families:
        base = re.sub(r"_total$", "", name)
        assert f"`{name}`" in doc or f"`{base}_total`" in doc, f"{name}: not in docs/metrics.md"


def test_capabilities_are_dropped_once_loaded(probed_host):
    h = probed_host("--", TEST_RUNTIME)
    with open(f"/proc/{h.proc.pid}/status") as f:
        caps = int(re.search(r"^CapEff:\s*([0-9a-f]+)", f.read(), re.M).group(1), 16)
    for cap, name in ((21, "CAP_SYS_ADMIN"), (38, "CAP_PERFMON"), (39, "CAP_BPF")):
        assert not caps & (1 << cap), f"{name} still effective"
    assert caps & (1 << 5), "CAP_KILL went too"  # the rest stays
    assert h.invoke({"a": 1})[2] == {"a": 1}  # tracking new environments needs none of them


def test_without_privileges_the_probes_say_why_and_the_host_works(start_host, tmp_path):
    """As nobody: no probes (said once, with the reason), no PROBES lines, the rest works."""
    wrapper = tmp_path / "as-nobody"
    wrapper.write_text(f'#!/bin/sh\nexec setpriv --reuid=65534 --regid=65534 --clear-groups '
                       f'{VIGIL} "$@"\n')
    wrapper.chmod(0o755)
    h = start_host("--", TEST_RUNTIME, binary=str(wrapper), VIGIL_LOGS_ENABLED="false")
    assert h.invoke({"a": 1})[2] == {"a": 1}
    h.wait_reports(1)
    off = [l for l in h.stderr().splitlines() if "probes: off" in l]
    assert len(off) == 1 and "not permitted" in off[0], h.stderr()
    assert h.metric("vigil_probes_enabled") == 0
    assert not probe_lines(h) and not probe_lines(h, "PROBES INIT")


def test_peak_rss_of_a_runtime_that_exits_during_an_invoke(probed_host):
    """Its own peak (the C runtime: about a megabyte), never vigil's pages at fork (exec
    folds the replaced image's high-water mark into the kernel's per-process maximum)."""
    h = probed_host("--", TEST_RUNTIME)
    h.invoke({"warm": 1})
    status, headers, body = h.invoke({"action": "exit", "code": 1})
    assert body["errorType"] == "Runtime.ExitError"
    ids = [r["RequestId"] for r in h.wait_reports(2)]
    with open(f"/proc/{h.proc.pid}/status") as f:
        vigil_rss_mb = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:")) / 1024
    peak = megabytes(probes_of(h, ids[1])["Peak RSS"])
    assert 0 < peak < 4 < vigil_rss_mb, (peak, vigil_rss_mb)


def test_vigil_probe_keeps_no_capability_once_the_command_runs():
    """vigil probe loads the probes, starts the command (run by root, it has root's
    capabilities: exec gives them back), then gives up every capability and clears its
    bounding set: it only reads maps and waits."""
    script = ('grep -E "^Cap(Eff|Bnd)" /proc/$PPID/status | sed "s/^/parent /"; '
              'grep -E "^CapEff" /proc/self/status | sed "s/^/self /"')
    r = subprocess.run([VIGIL, "probe", "--", "/bin/sh", "-c", script], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    caps = dict((" ".join(l.split()[:2]), int(l.split()[2], 16)) for l in r.stdout.splitlines()
                if l.startswith(("parent", "self")))
    assert caps["parent CapEff:"] == 0 and caps["parent CapBnd:"] == 0, r.stdout
    assert caps["self CapEff:"] != 0       # the command is root's, as asked


"""Shared fixtures for vigil's end-to-end tests: the real binary, real sockets on 127.0.0.1."""
import os
import re
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VIGIL = os.path.abspath(os.environ.get("VIGIL", os.path.join(ROOT, "build", "vigil")))
# ASan keeps freed memory in quarantine: memory bounds are looser for sanitized builds.
MEMORY_SLACK = 8 if os.environ.get("SANITIZED") else 1
# …and runs slower: timing bounds get this many milliseconds more.
TIME_SLACK_MS = 20 if os.environ.get("SANITIZED") else 0


def clean_env(**extra):
    """The test's environment without any VIGIL_* variable, plus extra."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env.update(extra)
    return env


def wait_for(predicate, timeout=10.0, interval=0.02, what="condition"):
    """Poll predicate until it returns a truthy value; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except (OSError, ValueError) as exc:  # not up yet
            last = exc
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Vigil:
    """A running `vigil serve` whose stderr goes to a file the test can read."""

    def __init__(self, args, env):
        self.log = tempfile.NamedTemporaryFile(prefix="vigil-", suffix=".log", delete=False)
        self.proc = subprocess.Popen([VIGIL] + args, env=env, stdout=subprocess.DEVNULL,
                                     stderr=self.log, stdin=subprocess.DEVNULL)
        self.port = None

    def stderr(self):
        with open(self.log.name, errors="replace") as f:
            return f.read()

    def wait_listening(self):
        def listening():
            if self.proc.poll() is not None:
                raise AssertionError(f"vigil exited {self.proc.returncode}: {self.stderr()}")
            m = re.search(r"listening on [0-9.]+:(\d+)", self.stderr())
            return m and int(m.group(1))
        self.port = wait_for(listening, what="vigil to listen")
        return self.port

    def url(self, path="/metrics"):
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path="/metrics", headers=None, timeout=5):
        req = urllib.request.Request(self.url(path), headers=headers or {})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, dict(resp.headers), resp.read().decode()

    def stop(self):
        """SIGTERM; return (exit code, stderr). A clean stop exits 0 (LeakSanitizer too)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        err = self.stderr()
        self.log.close()
        os.unlink(self.log.name)
        return self.proc.returncode, err


@pytest.fixture
def start_vigil():
    started = []

    def start(args=("serve",), **env):
        env.setdefault("VIGIL_METRICS_LISTEN", "127.0.0.1:0")
        v = Vigil(list(args), clean_env(**env))
        started.append(v)
        v.wait_listening()
        return v

    yield start
    for v in started:
        rc, err = v.stop()
        assert "Sanitizer" not in err and "runtime error" not in err, err
        assert rc == 0, f"vigil exited {rc} on SIGTERM: {err}"


def samples(text, name, **labels):
    """The values of the samples of name in an exposition whose labels include these."""
    for m in re.finditer(r"^(\w+)(?:\{(.*)\})? (\S+)$", text, re.M):
        if m.group(1) != name:
            continue
        have = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        if all(have.get(k) == str(v) for k, v in labels.items()):
            yield float(m.group(3))


def sample(text, name, **labels):
    """The value of the first sample of name whose labels include these, or None."""
    return next(samples(text, name, **labels), None)


def sample_sum(text, name, **labels):
    """The sum of every sample of name whose labels include these, or None when none."""
    values = list(samples(text, name, **labels))
    return sum(values) if values else None


def run_vigil(args, env=None, input_text=None):
    """Run the binary to completion; return (exit code, stdout, stderr)."""
    p = subprocess.run([VIGIL] + list(args), env=clean_env(**(env or {})),
                       capture_output=True, text=True, input=input_text, timeout=30)
    return p.returncode, p.stdout, p.stderr


TEST_RUNTIME = os.path.join(os.path.dirname(VIGIL), "test_runtime")
EXAMPLES = os.path.join(ROOT, "examples")


class Host:
    """A running `vigil host`: its front door, Lambda's lines on stdout, its log on stderr."""

    def __init__(self, args, env, cwd=None, binary=VIGIL):
        self.out = tempfile.NamedTemporaryFile(prefix="host-out-", delete=False)
        self.err = tempfile.NamedTemporaryFile(prefix="host-err-", delete=False)
        self.proc = subprocess.Popen([binary, "host"] + args, env=env, cwd=cwd,
                                     stdout=self.out, stderr=self.err,
                                     stdin=subprocess.DEVNULL)

        def started():
            if self.proc.poll() is not None:
                raise AssertionError(f"vigil host exited {self.proc.returncode}: "
                                     f"{self.stderr()}")
            door = re.search(r"front door on [0-9.]+:(\d+)", self.stderr())
            metrics = re.search(r"prometheus: listening on [0-9.]+:(\d+)", self.stderr())
            return door and metrics and (int(door.group(1)), int(metrics.group(1)))
        self.port, self.metrics_port = wait_for(started, what="vigil host to start")

    def stdout(self):
        with open(self.out.name, errors="replace") as f:
            return f.read()

    def stderr(self):
        with open(self.err.name, errors="replace") as f:
            return f.read()

    def request(self, method, path, body=None, headers=None, timeout=30):
        """Any request to the front door; returns (status, headers, body bytes)."""
        import http.client
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            headers = {}
            for k, v in r.getheaders():  # repeated headers join with ", "
                headers[k.lower()] = headers[k.lower()] + ", " + v if k.lower() in headers else v
            return r.status, headers, r.read()
        finally:
            c.close()

    def invoke(self, event, timeout=30):
        """The emulator's invoke endpoint: (status, headers, parsed JSON or raw text)."""
        import json
        body = event if isinstance(event, (bytes, str)) else json.dumps(event)
        status, headers, raw = self.request(
            "POST", "/2015-03-31/functions/function/invocations", body, timeout=timeout)
        try:
            return status, headers, json.loads(raw)
        except ValueError:
            return status, headers, raw

    def metrics(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics",
                                    timeout=5) as r:
            return r.read().decode()

    def metric(self, name, **labels):
        """The value of the sample of name whose labels include these, or None."""
        return sample(self.metrics(), name, **labels)

    def metric_sum(self, name, **labels):
        """The sum of the samples of name whose labels include these, or None."""
        return sample_sum(self.metrics(), name, **labels)

    def reports(self):
        """REPORT lines as dicts of their fields."""
        out = []
        for line in self.stdout().splitlines():
            if line.startswith("REPORT RequestId: "):
                fields = {}
                for part in line.rstrip("\t").split("\t"):
                    k, _, v = part.partition(": ")
                    fields[k.replace("REPORT ", "")] = v
                out.append(fields)
        return out

    def wait_reports(self, n, timeout=15):
        return wait_for(lambda: len(self.reports()) >= n and self.reports(), timeout=timeout,
                        what=f"{n} REPORT lines")

    def stop(self):
        """SIGTERM, then (rc, stdout, stderr); again: the same."""
        if getattr(self, "stopped", None):
            return self.stopped
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        out, err = self.stdout(), self.stderr()
        for f in (self.out, self.err):
            f.close()
            os.unlink(f.name)
        self.stopped = self.proc.returncode, out, err
        return self.stopped


@pytest.fixture
def start_host():
    hosts = []

    def start(*args, cwd=None, binary=VIGIL, **env):
        """Options, then the runtime; TEST_* keywords go to the runtime (--env)."""
        env.setdefault("VIGIL_METRICS_LISTEN", "127.0.0.1:0")
        # Functions as root: the tests' folders are root's alone (test_privileges.py runs
        # them as an unprivileged user).
        a = ["--listen", "127.0.0.1:0", "--runtime-api", "127.0.0.1:0", "--stop-timeout", "3",
             "--user", "root"]
        # Environments keep running between invocations unless a test asks for Lambda's
        # freeze (test_freeze.py, test_aws_samples.py): most tests scrape or wait on an
        # extension while no invocation runs.
        if "--freeze" not in args:
            a += ["--freeze", "no"]
        for k in [k for k in env if k.startswith("TEST_")]:
            a += ["--env", f"{k}={env.pop(k)}"]
        a += list(args)
        h = Host(a, clean_env(**env), cwd=cwd, binary=binary)
        hosts.append(h)
        return h

    yield start
    # Every host stopped before any is judged: a failed check must not leave the rest running.
    results = [h.stop() for h in hosts]
    for rc, out, err in results:
        assert "Sanitizer" not in err and "runtime error" not in err, err
        # Extensions' stderr lands on the host's stdout: a sanitized vigil extension too.
        assert "Sanitizer" not in out and "runtime error:" not in out, out[-3000:]
        assert rc == 0, f"vigil host exited {rc} on SIGTERM: {err}"

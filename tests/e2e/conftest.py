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
VIGIL = os.environ.get("VIGIL", os.path.join(ROOT, "build", "vigil"))
# ASan keeps freed memory in quarantine: memory bounds are looser for sanitized builds.
MEMORY_SLACK = 8 if os.environ.get("SANITIZED") else 1


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


def run_vigil(args, env=None, input_text=None):
    """Run the binary to completion; return (exit code, stdout, stderr)."""
    p = subprocess.run([VIGIL] + list(args), env=clean_env(**(env or {})),
                       capture_output=True, text=True, input=input_text, timeout=30)
    return p.returncode, p.stdout, p.stderr

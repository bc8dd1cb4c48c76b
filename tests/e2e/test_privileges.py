"""vigil host run as root: the functions' processes as an unprivileged user without
capabilities; vigil host itself with the few it still uses (CAP_KILL, CAP_SETGID, CAP_SETUID,
CAP_SYS_PTRACE, CAP_SYS_NICE, CAP_DAC_READ_SEARCH, and CAP_DAC_OVERRIDE with the probes on),
its bounding set cleared of the rest. Read from /proc."""
import os
import pwd
import shutil
import subprocess
import tempfile

import pytest

from conftest import TEST_RUNTIME, VIGIL, wait_for

KEPT = (1 << 2) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 19) | (1 << 23)
PROBES = 1 << 1     # CAP_DAC_OVERRIDE: the probes' window writes another user's clear_refs


def status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def children(pid):
    r = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [int(p) for p in r.stdout.split()]


@pytest.fixture
def world_dir():
    """A function folder every user can read (the tests' own are root's alone), outside /tmp
    (which each environment has its own of)."""
    d = tempfile.mkdtemp(prefix="vigil-fn-", dir="/var/tmp")
    os.chmod(d, 0o755)
    shutil.copy(TEST_RUNTIME, os.path.join(d, "bootstrap"))
    os.chmod(os.path.join(d, "bootstrap"), 0o755)
    os.mkdir(os.path.join(d, "extensions"))     # vigil itself, as the extension
    os.symlink(VIGIL, os.path.join(d, "extensions", "vigil"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="the drop is what root does")
def test_functions_run_unprivileged_and_vigil_keeps_little(start_host, world_dir):
    nobody = pwd.getpwnam("nobody")
    h = start_host("--function", world_dir, "--user", "nobody",
                   "--env", "VIGIL_TELEMETRY_LISTEN=127.0.0.1:0",
                   "--env", "VIGIL_METRICS_LISTEN=127.0.0.1:0",
                   "--env", "VIGIL_LOGS_ENABLED=false")
    status_code, _, body = h.invoke({"action": "print", "text": "hi"})
    assert status_code == 200, body
    assert "functions run as nobody" in h.stderr()
    # The extension (nobody's too) subscribed: the listener check still reads its sockets.
    assert "TELEMETRY\tName: vigil\tState: Subscribed" in h.stdout(), h.stdout()
    runtime = wait_for(lambda: [p for p in children(h.proc.pid)
                                if os.path.basename(os.readlink(f"/proc/{p}/exe")) == "bootstrap"],
                       what="the runtime")[0]
    st = status(runtime)
    assert st["Uid"].split()[0] == str(nobody.pw_uid), st["Uid"]
    assert int(st["CapEff"], 16) == 0 and int(st["CapPrm"], 16) == 0, st
    assert st["NoNewPrivs"] == "1"
    host = status(h.proc.pid)
    kept = KEPT | (PROBES if "probes: on" in h.stderr() else 0)
    assert int(host["CapEff"], 16) == kept, host["CapEff"]
    assert int(host["CapBnd"], 16) == kept, host["CapBnd"]
    # It still does what it kept them for: a second environment, a timeout's kill.
    h2 = start_host("--function", world_dir, "--user", "nobody", "--timeout", "1",
                    "--env", "VIGIL_TELEMETRY_LISTEN=127.0.0.1:0",
                    "--env", "VIGIL_METRICS_LISTEN=127.0.0.1:0",
                    "--env", "VIGIL_LOGS_ENABLED=false")
    status_code, _, body = h2.invoke({"action": "sleep", "ms": 3000})
    assert body["errorType"] == "Sandbox.Timedout", body
    status_code, _, body = h2.invoke({"action": "print", "text": "again"})
    assert status_code == 200, body


@pytest.mark.skipif(os.geteuid() != 0, reason="the drop is what root does")
def test_a_function_nobody_can_read_is_said(start_host, tmp_path):
    """The tests' folders are root's: by default that is a warning and the function runs as
    root; named with --user, it is an error that says what to do."""
    fn = tmp_path / "fn"
    fn.mkdir()
    shutil.copy(TEST_RUNTIME, fn / "bootstrap")
    r = subprocess.run([h_bin(), "host", "--listen", "127.0.0.1:0", "--runtime-api",
                        "127.0.0.1:0", "--function", str(fn), "--user", "nobody"],
                       capture_output=True, text=True, timeout=20,
                       env={"VIGIL_METRICS_LISTEN": "127.0.0.1:0", "PATH": os.environ["PATH"]})
    assert r.returncode == 2 and "user nobody cannot run" in r.stderr, r.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="the drop is what root does")
def test_extensions_nobody_can_read_are_said(world_dir, tmp_path):
    """The extensions folder counts too: one only root can enter is a warning (and root
    runs them) by default, an error with --user."""
    ext = tmp_path / "extensions"      # in the tests' root-only folder
    ext.mkdir()
    base = [h_bin(), "host", "--listen", "127.0.0.1:0", "--runtime-api", "127.0.0.1:0",
            "--function", world_dir, "--extensions", str(ext)]
    env = {"VIGIL_METRICS_LISTEN": "127.0.0.1:0", "PATH": os.environ["PATH"]}
    r = subprocess.run(base + ["--user", "nobody"], capture_output=True, text=True,
                       timeout=20, env=env)
    assert r.returncode == 2 and "extensions in" in r.stderr, r.stderr


def h_bin():
    from conftest import VIGIL
    return VIGIL


SANDBOX_RUNTIME = r'''#!/usr/bin/python3
# A custom runtime: {"write": NAME} writes /tmp/NAME, {"read": NAME} answers what /tmp/NAME
# holds (or null), {"resolve": HOST} answers its address, {"sleep": S} sleeps.
import json, os, socket, time, urllib.request
api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"
while True:
    with urllib.request.urlopen(api + "next") as r:
        rid = r.headers["Lambda-Runtime-Aws-Request-Id"]
        ev = json.loads(r.read())
    out = {"uid": os.getuid()}
    if "write" in ev:
        with open("/tmp/" + ev["write"], "w") as f:
            f.write("secret of " + str(os.getpid()))
    if "read" in ev:
        try:
            with open("/tmp/" + ev["read"]) as f:
                out["read"] = f.read()
        except OSError:
            out["read"] = None
    if "resolve" in ev:
        out["address"] = socket.gethostbyname(ev["resolve"])
    if "sleep" in ev:
        time.sleep(ev["sleep"])
    urllib.request.urlopen(urllib.request.Request(api + rid + "/response",
                                                  data=json.dumps(out).encode()))
'''


@pytest.mark.skipif(os.geteuid() != 0, reason="the drop is what root does")
def test_an_environment_cannot_read_anothers_tmp(start_host):
    """Each environment its own /tmp (a tmpfs in a user and mount namespace of the functions'
    user) and an /etc/hosts that names sandbox.localdomain, as in a Lambda sandbox."""
    d = tempfile.mkdtemp(prefix="vigil-fn-", dir="/var/tmp")   # not in /tmp: it would be hidden
    try:
        os.chmod(d, 0o755)
        with open(os.path.join(d, "bootstrap"), "w") as f:
            f.write(SANDBOX_RUNTIME)
        os.chmod(os.path.join(d, "bootstrap"), 0o755)
        h = start_host("--function", d, "--user", "nobody", "--timeout", "1")
        name = f"vigil-secret-{os.getpid()}"
        body = h.invoke({"write": name})[2]
        assert body["uid"] == pwd.getpwnam("nobody").pw_uid, body
        assert h.invoke({"read": name})[2]["read"].startswith("secret of")   # its own /tmp
        assert not os.path.exists(f"/tmp/{name}")                        # not the host's
        assert h.invoke({"resolve": "sandbox.localdomain"})[2]["address"] == "127.0.0.1"
        # A timeout ends the environment; the next one starts with a /tmp of its own.
        assert h.invoke({"sleep": 3})[2]["errorType"] == "Sandbox.Timedout"
        assert h.invoke({"read": name})[2]["read"] is None
        assert "share /tmp" not in h.stderr()
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="the drop is what root does")
def test_a_killed_hosts_namespace_holders_die_with_it(world_dir):
    """The process that holds an environment's namespaces (its /tmp) dies with vigil host,
    SIGKILL too: its parent-death signal is set after it changes user (which clears it)."""
    from conftest import Host, clean_env
    h = Host(["--listen", "127.0.0.1:0", "--runtime-api", "127.0.0.1:0", "--function",
              world_dir, "--user", "nobody", "--freeze", "no"],
             clean_env(VIGIL_METRICS_LISTEN="127.0.0.1:0", VIGIL_PROBES_ENABLED="false",
                       VIGIL_LOGS_ENABLED="false"))
    assert h.invoke({"action": "print", "text": "hi"})[0] == 200
    nobody = pwd.getpwnam("nobody").pw_uid
    holders = [p for p in children(h.proc.pid)
               if os.readlink(f"/proc/{p}/exe") == os.readlink(f"/proc/{h.proc.pid}/exe") and
               int(status(p)["Uid"].split()[0]) == nobody]
    assert holders, children(h.proc.pid)
    h.proc.kill()
    h.stop()
    wait_for(lambda: not any(os.path.exists(f"/proc/{p}") and status(p)["State"][0] != "Z"
                             for p in holders), timeout=5, what="the holders gone")

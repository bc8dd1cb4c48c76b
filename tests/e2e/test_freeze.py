"""vigil host freezes an environment between invocations, as Lambda does: once the runtime
and every extension wait on /next nothing of it runs, and nothing is delivered to it, until
the next event (or its shutdown) thaws it. --freeze no turns it off."""
import json
import os
import shutil
import time

import pytest

from conftest import ROOT, wait_for
from test_extensions import read_out
from test_ric import HANDLERS, RIC

SAMPLE = os.path.join(ROOT, "tests", "e2e", "extensions", "aws_telemetry_sample")


def freezer_state(h):
    """The freezer state of the host's environment cgroups (v1), or None without one."""
    base = "/sys/fs/cgroup/freezer"
    if not os.path.isdir(base):
        return None
    states = []
    for name in os.listdir(base):
        if name.startswith(f"vigil-{h.proc.pid}-env"):
            with open(os.path.join(base, name, "freezer.state")) as f:
                states.append(f.read().strip())
    return states


@pytest.fixture
def node_host(start_host, tmp_path):
    assert os.path.exists(RIC), f"{RIC} is missing: `make e2e` installs it"
    ext = tmp_path / "extensions"
    ext.mkdir()
    shutil.copy(SAMPLE, ext / "aws_telemetry_sample")
    out = str(tmp_path / "ext.jsonl")

    def start(*options, **env):
        if "--freeze" not in options:
            options += ("--freeze", "yes")    # (the tests' default is no)
        # SAM local's mode: functions run as root here, without a sandbox whose /etc/hosts
        # names sandbox.localdomain (test_aws_samples.py runs both modes).
        return start_host("--function-name", "node-fn", "--handler", "index.router",
                          "--extensions", str(ext), "--env", f"EXT_OUT={out}",
                          "--env", "AWS_SAM_LOCAL=true", *options,
                          "--", RIC, "index.router", cwd=HANDLERS, **env), out
    return start


@pytest.mark.parametrize("freeze", ["yes", "no"])
def test_work_left_after_the_answer_waits_for_the_next_invocation(node_host, freeze):
    h, out = node_host("--freeze", freeze)
    assert h.invoke({"action": "later", "n": 1, "ms": 50})[2] == {"scheduled": True}
    time.sleep(0.6)
    idle_output = h.stdout()
    records = read_out(out)
    if freeze == "yes":
        if freezer_state(h) is not None:
            assert freezer_state(h) == ["FROZEN"]
        # Frozen: the timer did not fire, the report did not reach the extension.
        assert "later from 1" not in idle_output
        assert not [r for r in records if r["kind"] == "batch" and r["t"] > time.time() - 0.4]
    else:
        assert "later from 1" in idle_output
    h.invoke({"action": "log", "n": 2})
    wait_for(lambda: "later from 1" in h.stdout(), timeout=5, what="the timer, after the thaw")
    r1, r2 = h.wait_reports(2)
    # Frozen, the timer fired only once invocation 2 had begun.
    lines = h.stdout().splitlines()
    late = next(i for i, l in enumerate(lines) if "later from 1" in l)
    start2 = next(i for i, l in enumerate(lines) if l.startswith("START") and
                  r2["RequestId"] in l)
    assert (late > start2) == (freeze == "yes"), lines
    h.stop()
    events = [r["event"] for r in read_out(out) if r["kind"] == "telemetry"]
    reports = [e["record"]["requestId"] for e in events if e["type"] == "platform.report"]
    assert reports == [r1["RequestId"], r2["RequestId"]]     # nothing lost to the freeze


def test_telemetry_reaches_a_frozen_extension_at_the_thaw(node_host):
    """The report of an invocation arrives at the next invocation (or the shutdown), not
    while the environment is frozen: the classic 'one invocation late'."""
    h, out = node_host()
    h.invoke({"n": 1})
    time.sleep(0.5)
    before = time.time()
    h.invoke({"n": 2})
    r1, r2 = h.wait_reports(2)
    wait_for(lambda: any(r["kind"] == "batch" and r["t"] >= before for r in read_out(out)),
             timeout=5, what="a batch after the thaw")
    records = read_out(out)
    invoke2 = next(r for r in records if r["kind"] == "event" and
                   r["event"].get("requestId") == r2["RequestId"])
    late = [r for r in records if r["kind"] == "batch" and before - 0.45 < r["t"] < before]
    assert not late, (before, [(r["kind"], round(r["t"] - before, 3)) for r in records])
    assert invoke2["t"] >= before
    h.stop()
    events = [r["event"] for r in read_out(out) if r["kind"] == "telemetry"]
    assert [e["record"]["requestId"] for e in events if e["type"] == "platform.report"] == \
        [r1["RequestId"], r2["RequestId"]]


def test_spindown_and_stop_thaw_a_frozen_environment(node_host):
    h, out = node_host("--idle-timeout", "1")
    h.invoke({"n": 1})
    wait_for(lambda: any(r["kind"] == "exit" for r in read_out(out)), timeout=10,
             what="SHUTDOWN to reach the frozen extension at spindown")
    h.invoke({"n": 2})
    rc, _, err = h.stop()
    assert rc == 0, err
    events = [r["event"] for r in read_out(out) if r["kind"] == "telemetry"]
    assert len([e for e in events if e["type"] == "platform.report"]) == 2


def test_vigil_extension_loses_nothing_to_the_freeze(start_host, tmp_path):
    """vigil's own extension frozen between invocations, as in Lambda: invocation N's report
    reaches it at N+1's thaw and is exported while N+1 runs (50 ms here; a shorter one can
    freeze the export midway, to go on at the next thaw), and every invocation's EMF is out
    by the end (the last one at SHUTDOWN)."""
    from conftest import TEST_RUNTIME, VIGIL
    from test_vigil_extension import emf_docs
    d = tmp_path / "extensions"
    d.mkdir()
    (d / "vigil").symlink_to(VIGIL)
    h = start_host("--function-name", "fn", "--extensions", str(d), "--freeze", "yes",
                   "--env", "VIGIL_TELEMETRY_LISTEN=127.0.0.1:0",
                   "--env", "VIGIL_METRICS_LISTEN=127.0.0.1:0", "--", TEST_RUNTIME)
    for i in range(4):
        h.invoke({"action": "sleep", "ms": 50})
        time.sleep(0.2)
    ids = [r["RequestId"] for r in h.wait_reports(4)]
    def exported():
        got = set()
        for doc in emf_docs(h):
            got.update(doc.get("request_ids") or [doc.get("request_id")])
        return got
    wait_for(lambda: exported() >= set(ids[:3]), timeout=10,
             what=f"EMF of the first three at the thaws: {h.stdout()[-3000:]}")
    assert ids[3] not in exported()     # still frozen
    rc, out, err = h.stop()
    assert rc == 0, err
    seen = []
    for doc in [json.loads(l) for l in out.splitlines() if l.startswith('{"_aws"')]:
        seen += doc.get("request_ids") or [doc.get("request_id")]
    assert sorted(seen) == sorted(ids), seen


@pytest.mark.skipif(not os.path.isdir("/sys/fs/cgroup/freezer") or os.geteuid() != 0,
                    reason="a v1 freezer, as root")
def test_a_killed_hosts_frozen_environment_is_cleaned_up_by_the_next(start_host):
    """A vigil host SIGKILLed while its environment is frozen leaves the environment's
    processes frozen in their cgroup (nothing else will ever thaw them). The next vigil host
    thaws and kills them and removes the cgroups, and says so."""
    from conftest import TEST_RUNTIME, Host, clean_env
    # Not the fixture's: it is SIGKILLed on purpose (the fixture wants a clean exit).
    h = Host(["--listen", "127.0.0.1:0", "--runtime-api", "127.0.0.1:0", "--user", "root",
              "--freeze", "yes", "--", TEST_RUNTIME], clean_env(VIGIL_METRICS_LISTEN="127.0.0.1:0"))
    h.invoke({"a": 1})
    wait_for(lambda: freezer_state(h) == ["FROZEN"], timeout=5, what="the freeze")
    base = "/sys/fs/cgroup/freezer"
    name = next(n for n in os.listdir(base) if n.startswith(f"vigil-{h.proc.pid}-env"))
    with open(os.path.join(base, name, "cgroup.procs")) as f:
        frozen = [int(p) for p in f.read().split()]
    assert frozen
    h.proc.kill()
    h.stop()
    time.sleep(0.2)
    assert all(os.path.exists(f"/proc/{p}") for p in frozen)     # left frozen
    h2 = start_host("--", TEST_RUNTIME)
    wait_for(lambda: "removed" in h2.stderr(), timeout=5, what="the sweep said")
    assert not os.path.exists(os.path.join(base, name))
    wait_for(lambda: not any(os.path.exists(f"/proc/{p}") and
                             open(f"/proc/{p}/stat").read().split()[2] != "Z" for p in frozen),
             timeout=5, what="the frozen processes gone")
    assert h2.invoke({"b": 2})[2] == {"b": 2}

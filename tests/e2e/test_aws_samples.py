"""AWS's sample extensions under vigil host, unchanged, in both of their modes: Lambda's (a
listener on sandbox.localdomain / sandbox, which each environment's own /etc/hosts names) and
SAM local's (AWS_SAM_LOCAL=true: a subscription to http://0.0.0.0:4243). The samples are kept
as small fixtures written here that behave as AWS's do towards the platform
(tests/e2e/extensions/aws_*): the Node.js Telemetry API sample and the Python Logs API one.
Environments are frozen between invocations, as in Lambda: the samples get the platform's
records at the next invocation and at SHUTDOWN."""
import os
import pwd
import shutil
import tempfile

import pytest

from conftest import ROOT, TEST_RUNTIME
from test_extensions import read_out

EXTENSIONS = os.path.join(ROOT, "tests", "e2e", "extensions")


@pytest.fixture
def sample_dir():
    """A function folder nobody can read (the C test runtime as bootstrap), outside /tmp."""
    d = tempfile.mkdtemp(prefix="vigil-sample-", dir="/var/tmp")
    os.chmod(d, 0o755)
    shutil.copy(TEST_RUNTIME, os.path.join(d, "bootstrap"))
    os.chmod(os.path.join(d, "bootstrap"), 0o755)
    os.mkdir(os.path.join(d, "extensions"))
    os.mkdir(os.path.join(d, "out"))
    os.chmod(os.path.join(d, "out"), 0o777)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox's own /etc/hosts needs root")
@pytest.mark.parametrize("mode", ["lambda", "sam-local"])
@pytest.mark.parametrize("sample", ["aws_telemetry_sample", "aws_logs_sample"])
def test_aws_sample_extension_unchanged(start_host, sample_dir, sample, mode):
    shutil.copy(os.path.join(EXTENSIONS, sample), os.path.join(sample_dir, "extensions", sample))
    out = os.path.join(sample_dir, "out", "ext.jsonl")
    sam = ["--env", "AWS_SAM_LOCAL=true"] if mode == "sam-local" else []
    h = start_host("--function", sample_dir, "--user", "nobody", "--freeze", "yes",
                   "--env", f"EXT_OUT={out}", *sam)
    ids = []
    for i in range(3):
        status, _, body = h.invoke({"action": "print", "text": f"sample line {i}"})
        assert status == 200, body
    ids = [r["RequestId"] for r in h.wait_reports(3)]
    rc, stdout, err = h.stop()
    assert rc == 0, err
    records = read_out(out)
    sub = next(r for r in records if r["kind"] == "subscribe")
    want_uri = {"aws_telemetry_sample": "http://sandbox.localdomain:4243",
                "aws_logs_sample": "http://sandbox:4243"}[sample]
    assert sub["status"] == 200 and sub["uri"] == (
        "http://0.0.0.0:4243" if mode == "sam-local" else want_uri), sub
    assert any(r["kind"] == "exit" for r in records), records[-5:]
    events = [r["event"] for r in records if r["kind"] == "telemetry"]
    types = [e["type"] for e in events]
    for rid in ids:
        for t in ("platform.start", "platform.report"):
            assert any(e["type"] == t and e["record"]["requestId"] == rid for e in events), \
                (rid, t, types)
    lines = [e for e in events if e["type"] == "function"]
    assert len(lines) == 3, lines
    if sample == "aws_telemetry_sample":
        for t in ("platform.initStart", "platform.initRuntimeDone", "platform.initReport",
                  "platform.extension", "platform.telemetrySubscription"):
            assert t in types, types
        assert types.count("platform.runtimeDone") == 3
        # Lambda's mode: the listener on sandbox.localdomain, resolved by the environment's
        # own /etc/hosts (the host's has no such line).
        assert "sandbox.localdomain does not resolve" not in err or mode == "sam-local"
    else:
        assert not [t for t in types if t.startswith("platform.init")], types
        assert all(isinstance(e["record"], str) for e in lines)
    assert f"{pwd.getpwnam('nobody').pw_uid}" != "0"

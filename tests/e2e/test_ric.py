"""vigil host with AWS's own Node.js runtime interface client (npm aws-lambda-ric 3.x)."""
import os
import time

import pytest

from conftest import ROOT, wait_for

RIC = os.environ.get("RIC", os.path.join(ROOT, "build", "ric", "node_modules", ".bin",
                                         "aws-lambda-ric"))
HANDLERS = os.path.join(ROOT, "tests", "e2e", "ric")


@pytest.fixture
def ric_host(start_host):
    assert os.path.exists(RIC), f"{RIC} is missing: `make e2e` installs it"

    def start(*options):
        return start_host("--function-name", "node-fn", "--handler", "index.router",
                          *options, "--", RIC, "index.router", cwd=HANDLERS)
    return start


def test_success_and_context(ric_host):
    h = ric_host("--timeout", "5")
    status, headers, body = h.invoke({"hello": 1})
    assert status == 200 and "x-amz-function-error" not in headers
    assert body["ok"] is True and body["got"] == {"hello": 1}
    assert 3000 < body["remaining"] <= 5000  # the deadline header is accurate
    (report,) = h.wait_reports(1)
    assert report["RequestId"] == body["requestId"]
    assert "Init Duration" in report and int(report["Max Memory Used"].split()[0]) > 5


def test_thrown_error_type_arrives(ric_host):
    h = ric_host()
    status, headers, body = h.invoke({"action": "fail"})
    assert headers["x-amz-function-error"] == "Unhandled"
    assert body["errorType"] == "CustomError" and body["errorMessage"] == "kaput"
    (report,) = h.wait_reports(1)
    assert report["Status"] == "error" and report["Error Type"] == "CustomError"


def test_timeout(ric_host):
    h = ric_host("--timeout", "1")
    status, headers, body = h.invoke({"action": "slow"})
    assert body["errorType"] == "Sandbox.Timedout"
    (report,) = h.wait_reports(1)
    assert report["Status"] == "timeout" and report["Duration"] == "1000.00 ms"
    assert h.invoke({"after": 1})[2]["got"] == {"after": 1}


def test_process_exit(ric_host):
    h = ric_host()
    status, headers, body = h.invoke({"action": "exit"})
    assert body["errorType"] == "Runtime.ExitError"
    assert "exit status 1" in body["errorMessage"]
    assert h.invoke({"after": 1})[2]["got"] == {"after": 1}
    assert h.stdout().count("INIT_START") == 2


def test_response_too_large(ric_host):
    h = ric_host()
    status, headers, body = h.invoke({"action": "big"})
    assert headers["x-amz-function-error"] == "Unhandled"
    assert body["errorType"] == "Function.ResponseSizeTooLarge"
    assert h.invoke({"after": 1})[2]["got"] == {"after": 1}


def test_cold_start_again_after_idle_spindown(ric_host):
    h = ric_host("--idle-timeout", "1")
    h.invoke({"n": 1})
    h.invoke({"n": 2})
    wait_for(lambda: h.metric("vigil_host_environments", function="node-fn") == 0,
             timeout=10, what="spindown")
    h.invoke({"n": 3})
    r1, r2, r3 = h.wait_reports(3)
    assert "Init Duration" in r1 and "Init Duration" not in r2 and "Init Duration" in r3


def test_function_logs_carry_the_request_id(ric_host):
    h = ric_host()
    body = h.invoke({"action": "log", "n": 42})[2]
    assert body == {"logged": True}
    (report,) = h.wait_reports(1)
    line = next(l for l in h.stdout().splitlines() if "hello from node 42" in l)
    assert report["RequestId"] in line and "\tINFO\t" in line

"""vigil host, part 1: real runtimes (the C test runtime, Python and shell custom runtimes)
behind the Runtime API and the API Gateway front door."""
import json
import re
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import EXAMPLES, TEST_RUNTIME, wait_for


def ms(field):
    return float(field.split()[0])


def check_billing(report, cold):
    """billed = ceil(duration + init) on a cold start, ceil(duration) warm (2-decimal text)."""
    d = ms(report["Duration"])
    init = ms(report["Init Duration"]) if cold else 0.0
    billed = int(report["Billed Duration"].split()[0])
    assert math.ceil(d + init - 0.01) <= billed <= math.ceil(d + init + 0.01), report


def test_success_cold_then_warm(start_host):
    h = start_host("--function-name", "echo", "--memory", "256", "--", TEST_RUNTIME)
    status, headers, body = h.invoke({"hello": "world"})
    assert status == 200 and body == {"hello": "world"}
    assert "x-amz-function-error" not in headers
    status, _, body = h.invoke({"action": "sleep", "ms": 200})
    assert body == {"slept_ms": 200}
    cold, warm = h.wait_reports(2)
    assert "Init Duration" in cold and "Init Duration" not in warm
    check_billing(cold, cold=True)
    check_billing(warm, cold=False)
    assert 199.0 <= ms(warm["Duration"]) < 215.0
    assert cold["Memory Size"] == "256 MB"
    assert "Status" not in cold and "Status" not in warm
    out = h.stdout()
    assert out.count("INIT_START Runtime Version:") == 1
    assert out.count("START RequestId:") == 2 and out.count("END RequestId:") == 2
    assert h.metric_sum("vigil_invocations_total", function="echo", status="success") == 2
    assert h.metric("vigil_cold_starts_total", function="echo") == 1


def test_error_type_arrives(start_host):
    h = start_host("--", TEST_RUNTIME)
    status, headers, body = h.invoke({"action": "error"})
    assert status == 200
    assert headers["x-amz-function-error"] == "Unhandled"
    assert body["errorType"] == "TestError" and body["errorMessage"] == "boom"
    (report,) = h.wait_reports(1)
    assert report["Status"] == "error" and report["Error Type"] == "TestError"


def test_timeout_resets_the_environment(start_host):
    h = start_host("--timeout", "1", "--", TEST_RUNTIME)
    t0 = time.monotonic()
    status, headers, body = h.invoke({"action": "sleep", "ms": 5000})
    assert 0.95 < time.monotonic() - t0 < 2.0
    assert headers["x-amz-function-error"] == "Unhandled"
    assert body["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in body["errorMessage"]
    status, _, body = h.invoke({"n": 2})
    assert body == {"n": 2}
    timed_out, after = h.wait_reports(2)
    assert timed_out["Status"] == "timeout" and timed_out["Duration"] == "1000.00 ms"
    assert timed_out["Billed Duration"] == "%d ms" % math.ceil(1000 + ms(timed_out["Init Duration"]))
    assert "Init Duration" in after  # a new environment: a cold start
    assert h.stdout().count("INIT_START") == 2
    assert "Task timed out after 1.00 seconds" in h.stdout()


@pytest.mark.parametrize("action,error_type", [
    ({"action": "exit", "code": 1}, "Runtime.ExitError"),
    ({"action": "crash"}, "Runtime.ExitError"),
])
def test_runtime_exit_is_reported(start_host, action, error_type):
    h = start_host("--", TEST_RUNTIME)
    status, headers, body = h.invoke(action)
    assert headers["x-amz-function-error"] == "Unhandled"
    assert body["errorType"] == error_type
    (report,) = h.wait_reports(1)
    assert report["Status"] == "error" and report["Error Type"] == error_type
    assert h.invoke({"again": 1})[2] == {"again": 1}
    assert h.stdout().count("INIT_START") == 2


def test_out_of_memory(start_host):
    h = start_host("--memory", "128", "--", TEST_RUNTIME)
    status, headers, body = h.invoke({"action": "alloc", "mb": 400})
    assert body["errorType"] == "Runtime.OutOfMemory", (body, h.stderr())
    (report,) = h.wait_reports(1)
    assert report["Error Type"] == "Runtime.OutOfMemory"
    assert int(report["Max Memory Used"].split()[0]) >= 120
    assert h.invoke({"ok": 1})[2] == {"ok": 1}


def test_max_memory_used(start_host):
    h = start_host("--memory", "512", "--", TEST_RUNTIME)
    h.invoke({"action": "alloc", "mb": 100})
    (report,) = h.wait_reports(1)
    used = int(report["Max Memory Used"].split()[0])
    assert 100 <= used <= 110, report


def test_response_too_large(start_host):
    h = start_host("--", TEST_RUNTIME)
    status, headers, body = h.invoke({"action": "big", "bytes": 7 * 1024 * 1024})
    assert headers["x-amz-function-error"] == "Unhandled"
    assert body["errorType"] == "Function.ResponseSizeTooLarge"
    (report,) = h.wait_reports(1)
    assert report["Error Type"] == "Function.ResponseSizeTooLarge"
    # Just under the limit passes.
    status, _, raw = h.request("POST", "/2015-03-31/functions/function/invocations",
                               json.dumps({"action": "big", "bytes": 6 * 1024 * 1024 - 10}))
    assert status == 200 and len(raw) == 6 * 1024 * 1024 - 8


def test_idle_spindown_then_cold_start(start_host):
    h = start_host("--idle-timeout", "1", "--", TEST_RUNTIME)
    assert h.invoke({"a": 1})[2] == {"a": 1}
    assert h.metric("vigil_host_environments", function="function") == 1
    wait_for(lambda: h.metric("vigil_host_environments", function="function") == 0,
             timeout=10, what="spindown")
    assert h.invoke({"b": 2})[2] == {"b": 2}
    first, second = h.wait_reports(2)
    assert "Init Duration" in first and "Init Duration" in second
    assert h.metric("vigil_cold_starts_total", function="function") == 2


def test_concurrency_pool_grows(start_host):
    import threading
    h = start_host("--concurrency", "2", "--", TEST_RUNTIME)
    results = []

    def call():
        results.append(h.invoke({"action": "sleep", "ms": 300})[2])
    threads = [threading.Thread(target=call) for _ in range(2)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [{"slept_ms": 300}] * 2
    assert time.monotonic() - t0 < 0.55  # in parallel, not one after the other
    assert h.stdout().count("INIT_START") == 2


def test_init_error_is_reported_and_retried(start_host):
    h = start_host("--", TEST_RUNTIME, TEST_INIT_ERROR="1")
    status, headers, body = h.invoke({"x": 1})
    assert headers["x-amz-function-error"] == "Unhandled"
    assert body["errorType"] == "Runtime.ConfigInvalid"
    out = h.stdout()
    assert "INIT_REPORT Init Duration:" in out
    assert "Phase: init\tStatus: error\tError Type: Runtime.ConfigInvalid" in out
    assert "Phase: invoke\tStatus: error\tError Type: Runtime.ConfigInvalid" in out
    assert out.count("INIT_START") == 2
    # The retry inside the invoke is the invoke's time: its Duration, what it bills, and no
    # Init Duration of its own on the REPORT.
    retry = float(re.search(r"Init Duration: ([0-9.]+) ms\tPhase: invoke", out).group(1))
    report = re.search(r"^REPORT .*", out, re.M).group(0)
    duration = float(re.search(r"Duration: ([0-9.]+) ms", report).group(1))
    assert "Init Duration" not in report
    assert retry > 0 and abs(duration - retry) < 20, (retry, report)


def test_runtime_that_never_calls_next(start_host):
    h = start_host("--timeout", "1", "--", TEST_RUNTIME, TEST_NEVER_NEXT="1")
    t0 = time.monotonic()
    status, headers, body = h.invoke({"x": 1}, timeout=30)
    elapsed = time.monotonic() - t0
    assert body["errorType"] == "Sandbox.Timedout"
    assert 10.5 < elapsed < 14  # the 10 s init limit, then the retry under the 1 s timeout
    assert "Phase: init\tStatus: timeout" in h.stdout()
    # The retry timed out under the invoke's 1 s, and the REPORT says the invoke spent it.
    assert "INIT_REPORT Init Duration: 1000.00 ms\tPhase: invoke\tStatus: timeout" in h.stdout()
    assert re.search(r"^REPORT .*\tDuration: 1000\.00 ms\tBilled Duration: 1000 ms\t.*"
                     r"Status: timeout", h.stdout(), re.M), h.stdout()
    assert h.request("GET", "/healthz")[0] in (500, 502)  # still up, still failing


def test_runtime_environment_variables(start_host, tmp_path):
    (tmp_path / "bootstrap").write_text("#!/bin/sh\nenv > \"$LAMBDA_TASK_ROOT/env.txt\"\n"
                                        "exec " + TEST_RUNTIME + "\n")
    os.chmod(tmp_path / "bootstrap", 0o755)
    h = start_host("--function", str(tmp_path), "--handler", "index.handler",
                   "--memory", "256", "--env", "MY_VAR=42", "--env", "AWS_REGION=eu-west-1")
    assert h.invoke({"a": 1})[2] == {"a": 1}
    env = dict(l.split("=", 1) for l in (tmp_path / "env.txt").read_text().splitlines()
               if "=" in l)
    assert env["_HANDLER"] == "index.handler"
    assert env["LAMBDA_TASK_ROOT"] == str(tmp_path)
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == tmp_path.name
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/" + tmp_path.name
    assert env["AWS_LAMBDA_LOG_STREAM_NAME"].endswith("]" + env["AWS_LAMBDA_LOG_STREAM_NAME"][-32:])
    assert env["AWS_LAMBDA_INITIALIZATION_TYPE"] == "on-demand"
    assert env["TZ"] == ":UTC" and env["MY_VAR"] == "42" and env["AWS_REGION"] == "eu-west-1"
    assert env["AWS_LAMBDA_RUNTIME_API"].startswith("127.0.0.1:")


def test_python_greeting(start_host):
    h = start_host("--function", os.path.join(EXAMPLES, "python-greeting"),
                   "--handler", "lambda_function.lambda_handler")
    status, headers, body = h.request("GET", "/?name=Bob")
    assert status == 200 and body == b"Hello, Bob!"
    status, _, body = h.request("GET", "/")
    assert body == b"Hello, World!"
    status, _, body = h.invoke({"name": "Bob"})
    assert body == {"statusCode": 200, "body": "Hello, Bob!"}
    status, headers, body = h.invoke({"name": "error"})
    assert body["errorType"] == "ValueError"
    status, _, body = h.request("GET", "/?name=error")  # a function error through API Gateway
    assert status == 500 and json.loads(body) == {"message": "Internal Server Error"}
    assert "greeting Bob (request " in h.stdout()


def test_shell_runtime_with_curl(start_host):
    h = start_host("--function", os.path.join(EXAMPLES, "shell-echo"), "--handler",
                   "function.handler")
    assert h.invoke({"k": [1, 2]})[2] == {"echo": {"k": [1, 2]}}
    assert 'handling {"k": [1, 2]}' in h.stdout()


def test_payload_2_event(start_host):
    h = start_host("--", TEST_RUNTIME, TEST_WRAP="1")
    status, _, body = h.request("POST", "/items/7?a=1&a=2&b=x%20y", b'{"n":1}',
                                {"Content-Type": "application/json", "X-Dup": "v",
                                 "Cookie": "c1=v1; c2=v2"})
    assert status == 200
    ev = json.loads(body)
    assert ev["version"] == "2.0" and ev["routeKey"] == "$default"
    assert ev["rawPath"] == "/items/7" and ev["rawQueryString"] == "a=1&a=2&b=x%20y"
    assert ev["queryStringParameters"] == {"a": "1,2", "b": "x y"}
    assert ev["cookies"] == ["c1=v1", "c2=v2"]
    assert ev["headers"]["content-type"] == "application/json" and ev["headers"]["x-dup"] == "v"
    assert ev["requestContext"]["http"]["method"] == "POST"
    assert ev["requestContext"]["http"]["sourceIp"] == "127.0.0.1"
    assert ev["body"] == '{"n":1}' and ev["isBase64Encoded"] is False
    status, _, body = h.request("PUT", "/bin", bytes(range(256)),
                                {"Content-Type": "application/octet-stream"})
    ev = json.loads(body)
    import base64
    assert ev["isBase64Encoded"] is True and base64.b64decode(ev["body"]) == bytes(range(256))


def test_payload_1_event(start_host):
    h = start_host("--payload", "1.0", "--", TEST_RUNTIME, TEST_WRAP="1")
    status, _, body = h.request("GET", "/x/y?q=1&q=2", headers={"X-A": "1"})
    assert status == 200
    ev = json.loads(body)
    assert ev["httpMethod"] == "GET" and ev["path"] == "/x/y" and ev["resource"] == "/{proxy+}"
    assert ev["queryStringParameters"] == {"q": "2"}
    assert ev["multiValueQueryStringParameters"] == {"q": ["1", "2"]}
    assert ev["multiValueHeaders"]["X-A"] == ["1"] and ev["body"] is None
    assert ev["pathParameters"] == {"proxy": "x/y"}


@pytest.mark.parametrize("response,status,body,headers", [
    ('"Hello"', 200, b"Hello", {"content-type": "application/json"}),
    ('{"a":1}', 200, b'{"a":1}', {"content-type": "application/json"}),
    ('{"statusCode":201,"headers":{"X-A":"b"},"cookies":["c=1","d=2"],"body":"made"}', 201,
     b"made", {"x-a": "b", "set-cookie": "c=1, d=2"}),
    ('{"statusCode":200,"isBase64Encoded":true,"body":"AAEC","headers":'
     '{"content-type":"application/octet-stream"}}', 200, b"\x00\x01\x02", {}),
    ('{"statusCode":"abc"}', 502, None, {}),
    ('{"statusCode":200,"body":{"not":"a string"}}', 502, None, {}),
    ('not json at all', 502, None, {}),
])
def test_response_mapping_2(start_host, response, status, body, headers):
    h = start_host("--", TEST_RUNTIME, TEST_RESPONSE=response)
    got_status, got_headers, got_body = h.request("GET", "/")
    assert got_status == status
    if body is not None:
        assert got_body == body
    for k, v in headers.items():
        assert got_headers[k] == v


def test_response_mapping_1(start_host):
    h = start_host("--payload", "1.0", "--", TEST_RUNTIME, TEST_RESPONSE=json.dumps({
        "statusCode": 202, "headers": {"A": "1", "B": "2"},
        "multiValueHeaders": {"B": ["3", "4"]}, "body": "ok"}))
    status, headers, body = h.request("GET", "/")
    assert status == 202 and body == b"ok" and headers["a"] == "1" and headers["b"] == "3, 4"
    h2 = start_host("--payload", "1.0", "--", TEST_RUNTIME, TEST_RESPONSE='"bare"')
    assert h2.request("GET", "/")[0] == 502


def test_json_log_format(start_host):
    h = start_host("--log-format", "json", "--", TEST_RUNTIME)
    h.invoke({"action": "print", "text": "hello json"})
    wait_for(lambda: "platform.report" in h.stdout(), what="report")
    lines = [json.loads(l) for l in h.stdout().splitlines()]
    types = [l.get("type") for l in lines]
    assert types[0] == "platform.initStart" and "platform.start" in types
    report = next(l for l in lines if l.get("type") == "platform.report")["record"]
    assert report["status"] == "success" and "initDurationMs" in report["metrics"]
    assert report["metrics"]["billedDurationMs"] == math.ceil(
        report["metrics"]["durationMs"] + report["metrics"]["initDurationMs"] - 0.0005)
    log = next(l for l in lines if l.get("message") == "hello json")
    assert log["requestId"] == report["requestId"] and log["level"] == "INFO"


def test_host_metrics_are_clean(start_host):
    import subprocess
    h = start_host("--", TEST_RUNTIME)
    h.invoke({"a": 1})
    h.invoke({"action": "error"})
    h.wait_reports(2)
    text = h.metrics()
    p = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                       text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    assert h.metric("vigil_errors_total", function="function", error_type="TestError") == 1
    assert h.metric_sum("vigil_invocation_duration_seconds_count", function="function") == 2
    assert h.metric("vigil_init_duration_seconds_count", function="function") == 1


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping the page cache needs root")
@pytest.mark.parametrize("probes", ["true", "false"])
def test_max_memory_used_does_not_depend_on_which_environment_came_first(start_host, probes):
    """cgroup v1 charges the page cache to the environment that read a file first (the
    Python example measured 31 MB in its first environment, 11 MB in the next): Max Memory
    Used is what the processes held, the same in every environment of a function."""
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")
    h = start_host("--function", os.path.join(EXAMPLES, "python-greeting"), "--handler",
                   "lambda_function.lambda_handler", "--concurrency", "2",
                   VIGIL_PROBES_ENABLED=probes)
    h.invoke({"name": "first"})
    # Two at once: the second goes to a new environment.
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(h.invoke, [{"name": "slow", "sleep": 0.5}, {"name": "fast"}]))
    reports = h.wait_reports(3)
    assert h.stdout().count("INIT_START") == 2
    used = [int(r["Max Memory Used"].split()[0]) for r in reports]
    assert max(used) - min(used) <= 1 and min(used) >= 12, used

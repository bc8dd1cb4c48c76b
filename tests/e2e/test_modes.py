"""Lambda as it is now, under vigil host: Managed Instances (many invocations at once in one
environment, never frozen), SnapStart (init, then a restore), tenant isolation — and vigil
extension in each. Runtimes: the tests' own small Python runtime (tests/e2e/runtimes), which
speaks the modes aws-lambda-ric 3.x does not; aws-lambda-ric where it runs the mode."""
import concurrent.futures
import json
import os
import re
import sys
import time

import pytest

from conftest import VIGIL, sample, sample_sum, wait_for
from test_ric import HANDLERS, RIC
from test_vigil_extension import emf_docs, emf_values, ext_metrics

HERE = os.path.dirname(os.path.abspath(__file__))
PY_RUNTIME = [sys.executable, os.path.join(HERE, "runtimes", "py_runtime.py")]
PROBE_EXT = os.path.join(HERE, "runtimes", "probe_extension.py")


@pytest.fixture
def mode_host(start_host, tmp_path):
    """vigil host in a mode, with vigil as its extension (and the probe extension when
    asked), running the tests' Python runtime or aws-lambda-ric."""
    def start(*args, probe=False, ric=False, **vigil_env):
        d = tmp_path / "extensions"
        d.mkdir(exist_ok=True)
        if not (d / "vigil").exists():
            (d / "vigil").symlink_to(VIGIL)
        if probe and not (d / "probe_extension.py").exists():
            (d / "probe_extension.py").symlink_to(PROBE_EXT)
        env = ["--env", "VIGIL_TELEMETRY_LISTEN=127.0.0.1:0",
               "--env", "VIGIL_METRICS_LISTEN=127.0.0.1:0",
               "--env", "VIGIL_STATSD_LISTEN=off",
               "--env", "VIGIL_OTLP_RECEIVER_HTTP_LISTEN=off",
               "--env", "VIGIL_OTLP_RECEIVER_GRPC_LISTEN=off",
               "--env", f"VIGIL_LOG_DIR={tmp_path / 'logs'}"]
        for k, v in vigil_env.items():
            # (TEST_* go to the runtime)
            env += ["--env", f"{k}={v}" if k.startswith("TEST_") else f"VIGIL_{k.upper()}={v}"]
        if ric:
            return start_host("--function-name", "node-fn", "--handler", "index.router",
                              "--extensions", str(d), *env, *args, "--", RIC, "index.router",
                              cwd=HANDLERS)
        return start_host("--function-name", "fn", "--extensions", str(d), *env, *args, "--",
                          *PY_RUNTIME)
    return start


def invoke_many(h, events, tenant=None):
    headers = {"X-Amz-Tenant-Id": tenant} if tenant else {}

    def one(ev):
        t0 = time.monotonic()
        status, _, body = h.request("POST", "/2015-03-31/functions/function/invocations",
                                    json.dumps(ev), headers)
        return status, json.loads(body), t0, time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(len(events)) as ex:
        return list(ex.map(one, events))


def test_managed_instances_interleaved_invocations_each_reported_once(mode_host):
    h = mode_host("--mode", "managed-instances", "--max-concurrency", "4", probe=True,
                  managed_flush_ms=200)
    results = invoke_many(h, [{"ms": 400}] * 8)
    # (memory is the environment's there: no per-invocation figure)
    assert all(s == 200 for s, *_ in results), results
    pids = {b["pid"] for _, b, *_ in results}
    assert len(pids) == 1, "one environment served them all"
    # four at once: the eight took two rounds of 400 ms, not eight
    assert max(e for *_, e in results) - min(t for *_, t, _ in results) < 2.0
    ids = {b["request_id"] for _, b, *_ in results}
    reports = h.wait_reports(8)
    assert {r["RequestId"] for r in reports} == ids
    assert all("Billed Duration" not in r and "Init Duration" not in r for r in reports)
    out = h.stdout()
    # Lambda Managed Instances: INVOKE registration refused, SHUTDOWN only; 2025-01-29 only
    assert re.search(r"probe: register INVOKE 403 .*Extension.InvalidEventType", out), out
    assert "probe: register SHUTDOWN 200" in out
    assert re.search(r"probe: subscribe 2022-12-13 400", out), out
    # vigil registered (SHUTDOWN only) and reports each invocation once, from
    # platform.start/platform.report alone
    wait_for(lambda: all(emf_values(h, i) for i in ids), what="every invocation's EMF")
    seen = []
    for d in emf_docs(h):
        seen += d.get("request_ids") or [d.get("request_id")]
    assert sorted(seen) == sorted(ids), "each invocation reported once"
    for i in ids:
        v = emf_values(h, i)
        assert v["ColdStart"] == 0 and "MaxMemoryUsed" not in v and "MemoryUtilization" not in v
        assert v.get("init_type", "lambda-managed-instances") == "lambda-managed-instances"
        assert 395 <= v["Duration"] <= 600, v
    text = ext_metrics(h)
    assert sample_sum(text, "vigil_invocations_total", function="fn") == 8
    assert sample(text, "vigil_cold_starts_total", function="fn") == 0
    assert sample(text, "vigil_invocations_in_flight", function="fn") == 0
    assert sample(text, "vigil_init_duration_seconds_count", function="fn",
                  init_type="lambda-managed-instances") == 1
    for g in ("cpu_utilization_ratio", "cpu_utilization_max_ratio",
              "memory_utilization_ratio", "memory_utilization_max_ratio"):
        v = sample(text, f"vigil_environment_{g}")
        assert v is not None and 0 <= v <= 1, (g, v)
    assert sample(text, "vigil_environment_memory_used_bytes") > 0
    assert sample(text, "vigil_memory_utilization_ratio_count", function="fn") is None


def test_managed_instances_timeout_is_reported_not_enforced(mode_host):
    h = mode_host("--mode", "managed-instances", "--max-concurrency", "2", "--timeout", "1")
    slow, quick = invoke_many(h, [{"ms": 1600}, {"ms": 10}])
    assert slow[0] == 200 and slow[1]["errorType"] == "Sandbox.Timedout"
    assert quick[1]["pid"]
    status, _, after = h.invoke({"ms": 1})
    assert status == 200 and after["pid"] == quick[1]["pid"], "the environment lives on"
    reports = h.wait_reports(3)
    assert sum(r.get("Status") == "timeout" for r in reports) == 1
    assert "Sandbox.Timedout" not in h.stderr() or True


def test_managed_instances_crash_fails_every_invocation_in_flight(mode_host):
    h = mode_host("--mode", "managed-instances", "--max-concurrency", "3")
    h.invoke({"ms": 1})
    results = invoke_many(h, [{"ms": 800}, {"ms": 800}, {"ms": 100, "exit": True}])
    errors = [b.get("errorType") for _, b, *_ in results]
    assert errors.count("Runtime.ExitError") == 3, results
    reports = h.wait_reports(4)
    assert sum(r.get("Error Type") == "Runtime.ExitError" for r in reports) == 3


def snap_ids(out):
    return re.findall(r"restored from a snapshot: environment (\w+) \(was (\w+)\)", out)


def test_snapstart_restore_is_no_cold_start_and_renews_identity(mode_host):
    h = mode_host("--snapstart", "--concurrency", "2", TEST_RESTORE_HOOK_MS="60")
    results = invoke_many(h, [{"ms": 300}, {"ms": 300}])
    assert len({b["pid"] for _, b, *_ in results}) == 2, "two restored environments"
    reports = h.wait_reports(2)
    for r in reports:
        assert "Init Duration" not in r, r
        restore = float(r["Restore Duration"].split()[0])
        assert 60 <= restore < 1000, r
        billed = int(r["Billed Duration"].split()[0])
        # ceil(Duration + Billed Restore Duration), from Duration as printed (to 0.01 ms)
        expect = float(r["Duration"].split()[0]) + int(r["Billed Restore Duration"].split()[0])
        assert expect <= billed < expect + 1.01, r
    ids = [b["request_id"] for _, b, *_ in results]
    for i in ids:
        v = wait_for(lambda: emf_values(h, i), what="EMF")
        assert v["ColdStart"] == 0 and v.get("cold_start") is not True, v
    singles = [d for d in emf_docs(h) if d.get("request_id") in ids]
    assert singles and all(d["init_type"] == "snap-start" and d["restore_duration_ms"] >= 60
                           for d in singles), singles
    # every restored environment takes a new identity, never the snapshot's
    renewed = wait_for(lambda: len(snap_ids(h.stdout())) >= 2 and snap_ids(h.stdout()),
                       what="both extensions to renew their identity")
    (new1, old1), (new2, old2) = renewed[:2]
    assert new1 != old1 and new2 != old2 and new1 != new2
    text = ext_metrics(h)
    assert sample(text, "vigil_restores_total", function="fn", status="success") == 1
    assert sample(text, "vigil_restore_duration_seconds_count", function="fn") == 1
    assert sample(text, "vigil_cold_starts_total", function="fn") == 0


def test_snapstart_with_the_node_runtime(mode_host):
    """aws-lambda-ric does not ask for restore/next: restored without hooks."""
    h = mode_host("--snapstart", ric=True)
    status, _, _ = h.invoke({"action": "sleep", "ms": 50})
    assert status == 200
    r = h.wait_reports(1)[0]
    assert "Restore Duration" in r and "Init Duration" not in r, r


def test_tenants_never_share_an_environment(mode_host):
    h = mode_host("--concurrency", "2", tenant_label="true", tenant_label_max="2")
    served = {}
    for t in ["a", "b", "a", "c", "b", "a"]:
        status, _, body = h.request("POST", "/2015-03-31/functions/function/invocations",
                                    json.dumps({"ms": 5}), {"X-Amz-Tenant-Id": t})
        answer = json.loads(body)
        assert status == 200 and answer["tenant"] == t
        served.setdefault(answer["pid"], set()).add(t)
    assert all(len(ts) == 1 for ts in served.values()), served
    status, _, _ = h.request("POST", "/2015-03-31/functions/function/invocations", "{}",
                             {"X-Amz-Tenant-Id": "no spaces"})
    assert status == 400
    reports = h.wait_reports(6)
    ids = [r["RequestId"] for r in reports]
    wait_for(lambda: emf_values(h, ids[-1]) or len(emf_docs(h)) > 0, what="EMF")


def test_tenant_label_is_capped(start_host, tmp_path):
    """The label is vigil host's (it sees every tenant; each environment's extension sees
    its own one only)."""
    h = start_host("--function-name", "fn", "--", *PY_RUNTIME, VIGIL_TENANT_LABEL="true",
                   VIGIL_TENANT_LABEL_MAX="2", VIGIL_LOG_DIR=str(tmp_path / "logs"))
    for t in ["t1", "t2", "t3", "t1"]:
        status, _, body = h.request("POST", "/2015-03-31/functions/function/invocations",
                                    json.dumps({}), {"X-Amz-Tenant-Id": t})
        assert status == 200, body
    h.wait_reports(4)
    text = wait_for(lambda: (sample_sum(h.metrics(), "vigil_tenant_invocations_total") or 0)
                    >= 4 and h.metrics(), what="tenant counts")
    assert sample(text, "vigil_tenant_invocations_total", tenant="t1") == 2
    assert sample(text, "vigil_tenant_invocations_total", tenant="other") == 1
    assert sample(text, "vigil_tenant_invocations_total", tenant="t3") is None
    assert sample(text, "vigil_tenants_over_limit_total", function="fn") == 1


def read_stream(port, path, event, timeout=10):
    """POST event and read the answer as it comes: (head, [(seconds, bytes)], complete),
    complete when the chunked body ended with its last chunk."""
    import socket
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    body = json.dumps(event).encode()
    s.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n"
              .encode() + body)
    t0, raw, arrivals = time.monotonic(), b"", []
    while not raw.endswith(b"\r\n0\r\n\r\n") and not raw.endswith(b"\r\n\r\n0\r\n\r\n"):
        d = s.recv(65536)
        if not d:
            break
        raw += d
        arrivals.append((time.monotonic() - t0, d))
    s.close()
    head, _, rest = raw.partition(b"\r\n\r\n")
    # de-chunk, timing each piece by the read that completed it
    body_parts, pos, got = [], 0, 0
    offsets = []
    for t, d in arrivals:
        got += len(d)
        offsets.append((got, t))
    base = len(head) + 4
    while True:
        eol = rest.find(b"\r\n", pos)
        if eol < 0:
            break
        size = int(rest[pos:eol], 16)
        if size == 0:
            return head.decode(), body_parts, True
        end = eol + 2 + size
        t = next(tt for g, tt in offsets if g >= base + end)
        body_parts.append((t, rest[eol + 2:end]))
        pos = end + 2
    return head.decode(), body_parts, False


INVOKE = "/2015-03-31/functions/function/invocations"


def test_streamed_answer_reaches_the_client_as_it_streams(start_host, tmp_path):
    h = start_host("--", *PY_RUNTIME, VIGIL_LOG_DIR=str(tmp_path / "logs"))
    head, parts, complete = read_stream(h.port, INVOKE, {"stream": ["first ", "second ",
                                                                    "third"], "gap_ms": 400})
    assert complete and "Transfer-Encoding: chunked" in head and "text/plain" in head, head
    assert b"".join(p for _, p in parts) == b"first second third"
    first, last = parts[0][0], parts[-1][0]
    # the first bytes came while the handler still had 0.8 s to go
    assert last - first >= 0.7 and first < 0.4, parts
    r = h.wait_reports(1)[0]
    assert 790 <= float(r["Duration"].split()[0]) < 1500, r
    text = wait_for(lambda: h.metric("vigil_response_duration_seconds_count",
                                     response_mode="streaming") and h.metrics(),
                    what="the stream's figures")
    assert sample(text, "vigil_response_duration_seconds_sum", response_mode="streaming") >= 0.75
    assert sample(text, "vigil_response_bytes_sum", response_mode="streaming") == 18
    assert sample(text, "vigil_response_latency_seconds_count", response_mode="streaming") == 1


def test_streamed_answer_through_the_http_door_with_its_prelude(start_host, tmp_path):
    h = start_host("--", *PY_RUNTIME, VIGIL_LOG_DIR=str(tmp_path / "logs"))
    head, parts, complete = read_stream(h.port, "/page", {"stream": ["<p>a</p>", "<p>b</p>"],
                                                          "gap_ms": 300, "http": True})
    assert complete and head.startswith("HTTP/1.1 201"), head
    assert "x-streamed: yes" in head and "Set-Cookie: a=1" in head, head
    assert b"".join(p for _, p in parts) == b"<p>a</p><p>b</p>"
    assert parts[-1][0] - parts[0][0] >= 0.25


def test_stream_that_fails_midway_is_cut_and_reported(start_host, tmp_path):
    h = start_host("--", *PY_RUNTIME, VIGIL_LOG_DIR=str(tmp_path / "logs"))
    head, parts, complete = read_stream(h.port, INVOKE, {"stream": ["x", "y"], "gap_ms": 100,
                                                         "fail": True})
    assert not complete and b"".join(p for _, p in parts) == b"xy", (head, parts)
    r = h.wait_reports(1)[0]
    assert r["Error Type"] == "Function.StreamError", r


def test_streaming_with_the_node_runtime_and_the_extension(start_host, tmp_path):
    """AWS's Node client streams (awslambda.streamifyResponse); vigil extension, through
    vigil-wrapper's proxy, reports the invocation as streamed."""
    from conftest import free_port
    d = tmp_path / "extensions"
    d.mkdir()
    (d / "vigil").symlink_to(VIGIL)
    wrapper = os.path.join(os.path.dirname(HERE), "..", "packaging", "vigil-wrapper")
    h = start_host("--function-name", "node-fn", "--handler", "index.streamed",
                   "--extensions", str(d), "--env", "VIGIL_TELEMETRY_LISTEN=127.0.0.1:0",
                   "--env", "VIGIL_METRICS_LISTEN=127.0.0.1:0",
                   "--env", f"VIGIL_PROXY_LISTEN=127.0.0.1:{free_port()}",
                   "--env", f"AWS_LAMBDA_EXEC_WRAPPER={os.path.abspath(wrapper)}",
                   "--env", f"VIGIL_LOG_DIR={tmp_path / 'logs'}",
                   "--", RIC, "index.streamed", cwd=HANDLERS)
    head, parts, complete = read_stream(h.port, INVOKE, {"chunks": ["first ", "second"],
                                                         "gap_ms": 500})
    assert complete and b"".join(p for _, p in parts) == b"first second", parts
    assert parts[-1][0] - parts[0][0] >= 0.4, parts
    h.invoke({"chunks": ["x"], "gap_ms": 0})
    h.wait_reports(2)

    def streamed():
        text = ext_metrics(h)
        return sample(text, "vigil_response_bytes_count", function="node-fn",
                      response_mode="streaming") == 2 and text
    text = wait_for(streamed, what="the extension's streamed figures")
    assert sample(text, "vigil_response_bytes_sum", response_mode="streaming") == 13
    assert sample(text, "vigil_response_duration_seconds_sum", response_mode="streaming") >= 0.45

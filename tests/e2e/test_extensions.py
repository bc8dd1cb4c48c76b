"""vigil host, part 2: real extensions (Python stdlib and Node http) under the Extensions API,
fed by the Telemetry API, with the C test runtime and with aws-lambda-ric."""
import http.server
import json
import math
import os
import shutil
import threading
import time

import pytest

from conftest import ROOT, TEST_RUNTIME, free_port, wait_for
from test_ric import HANDLERS, RIC

EXTENSIONS = os.path.join(ROOT, "tests", "e2e", "extensions")


def read_out(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]


def telemetry(records, ext=None):
    return [r["event"] for r in records if r["kind"] == "telemetry" and
            (ext is None or r["ext"] == ext)]


@pytest.fixture
def ext_dir(tmp_path):
    """A folder of extensions: copy the named test extensions into it."""
    d = tmp_path / "extensions"
    d.mkdir()

    def make(*names):
        for n in names:
            shutil.copy(os.path.join(EXTENSIONS, n), d / n)
        return str(d)
    return make


def first_index(events, type_, request_id=None):
    for i, e in enumerate(events):
        if e["type"] == type_ and (request_id is None or
                                   e["record"].get("requestId") == request_id):
            return i
    raise AssertionError(f"no {type_} for {request_id}: {[e['type'] for e in events]}")


def test_cold_warm_spindown_with_python_extension(start_host, ext_dir, tmp_path):
    out = str(tmp_path / "ext.jsonl")
    h = start_host("--extensions", ext_dir("py_ext"), "--idle-timeout", "1",
                   "--log-format", "json", "--env", f"EXT_OUT={out}", "--", TEST_RUNTIME)
    status, _, body = h.invoke({"action": "print", "text": "line from the function"})
    assert body == {"printed": True}
    h.invoke({"action": "sleep", "ms": 20})
    wait_for(lambda: any(r["kind"] == "exit" for r in read_out(out)), timeout=15,
             what="the extension to get SHUTDOWN and exit")
    records = read_out(out)
    reg = next(r for r in records if r["kind"] == "register")
    assert reg["status"] == 200 and reg["body"]["functionName"] == "function"
    assert reg["body"]["accountId"] == "000000000000" and reg["body"]["handler"]
    assert next(r for r in records if r["kind"] == "subscribe")["status"] == 200
    events = [r["event"] for r in records if r["kind"] == "event"]
    invokes = [e for e in events if e["eventType"] == "INVOKE"]
    assert len(invokes) == 2 and all(e["deadlineMs"] > time.time() * 1000 - 60000 for e in invokes)
    assert events[-1] == {"eventType": "SHUTDOWN", "shutdownReason": "spindown",
                          "deadlineMs": events[-1]["deadlineMs"]}
    tel = telemetry(records)
    cold, warm = invokes[0]["requestId"], invokes[1]["requestId"]
    order = [first_index(tel, "platform.initStart"),
             first_index(tel, "platform.extension"),
             first_index(tel, "platform.telemetrySubscription"),
             first_index(tel, "platform.initRuntimeDone"),
             first_index(tel, "platform.initReport"),
             first_index(tel, "platform.start", cold),
             first_index(tel, "platform.runtimeDone", cold),
             first_index(tel, "platform.report", cold),
             first_index(tel, "platform.start", warm)]
    assert order == sorted(order), [e["type"] for e in tel]
    init_start = tel[order[0]]["record"]
    assert init_start["functionName"] == "function" and init_start["phase"] == "init"
    reports = {e["record"]["requestId"]: e["record"] for e in tel if e["type"] == "platform.report"}
    m = reports[cold]["metrics"]
    assert m["billedDurationMs"] == math.ceil(m["durationMs"] + m["initDurationMs"] - 1e-9)
    m = reports[warm]["metrics"]
    assert "initDurationMs" not in m
    assert m["billedDurationMs"] == math.ceil(m["durationMs"] - 1e-9)
    assert m["durationMs"] >= 20 and m["memorySizeMB"] == 128
    assert reports[cold]["spans"][0]["name"] == "extensionOverhead"
    done = next(e for e in tel if e["type"] == "platform.runtimeDone")["record"]
    assert done["status"] == "success" and done["metrics"]["producedBytes"] == len('{"printed":true}')
    assert [s["name"] for s in done["spans"]] == ["responseLatency", "responseDuration",
                                                  "runtimeOverhead"]
    fn = [e for e in tel if e["type"] == "function"]
    line = next(e for e in fn if e["record"].get("message") == "line from the function")
    assert line["record"]["requestId"] == cold
    assert "EXTENSION\tName: py_ext\tState: Ready\tEvents: [INVOKE, SHUTDOWN]" in h.stdout()
    assert "TELEMETRY\tName: py_ext\tState: Subscribed\tTypes: [Platform, Function]" in h.stdout()


def test_timeout_sends_shutdown_timeout(start_host, ext_dir, tmp_path):
    out = str(tmp_path / "ext.jsonl")
    h = start_host("--extensions", ext_dir("py_ext"), "--timeout", "1",
                   "--env", f"EXT_OUT={out}", "--", TEST_RUNTIME)
    body = h.invoke({"action": "sleep", "ms": 5000})[2]
    assert body["errorType"] == "Sandbox.Timedout"
    wait_for(lambda: any(r["kind"] == "exit" for r in read_out(out)), timeout=10,
             what="SHUTDOWN")
    events = [r["event"] for r in read_out(out) if r["kind"] == "event"]
    assert events[-1]["eventType"] == "SHUTDOWN" and events[-1]["shutdownReason"] == "timeout"
    tel = telemetry(read_out(out))
    report = next(e for e in tel if e["type"] == "platform.report")["record"]
    assert report["status"] == "timeout"
    assert h.invoke({"after": 1})[2] == {"after": 1}  # a new environment, extension and all


def test_post_runtime_time_is_part_of_duration(start_host, ext_dir, tmp_path):
    out = str(tmp_path / "ext.jsonl")
    h = start_host("--extensions", ext_dir("py_ext"), "--env", f"EXT_OUT={out}",
                   "--env", "EXT_POST_MS=80", "--", TEST_RUNTIME)
    t0 = time.monotonic()
    assert h.invoke({"x": 1})[2] == {"x": 1}
    caller = time.monotonic() - t0
    h.invoke({"x": 2})
    first, second = h.wait_reports(2)
    assert ms(second["Duration"]) >= 80  # the extension's work after the answer counts
    assert caller < 5  # and the caller did not wait for it
    wait_for(lambda: len([e for e in telemetry(read_out(out))
                          if e["type"] == "platform.report"]) >= 1, what="report")
    rep = next(e for e in telemetry(read_out(out)) if e["type"] == "platform.report")["record"]
    assert rep["spans"][0]["durationMs"] >= 75
    assert h.metric("vigil_post_runtime_duration_seconds_count", function="function") == 2
    assert h.metric("vigil_host_extension_init_duration_seconds_count", function="function",
                    extension="py_ext") == 1


def ms(field):
    return float(field.split()[0])


def test_node_extension_with_ric(start_host, ext_dir, tmp_path):
    out = str(tmp_path / "ext.jsonl")
    h = start_host("--function-name", "node-fn", "--handler", "index.router",
                   "--extensions", ext_dir("node_ext", "py_ext"), "--idle-timeout", "1",
                   "--env", f"EXT_OUT={out}", "--", RIC, "index.router", cwd=HANDLERS)
    body = h.invoke({"action": "log", "n": 7})[2]
    assert body == {"logged": True}
    wait_for(lambda: len([r for r in read_out(out) if r["kind"] == "exit"]) == 2, timeout=15,
             what="both extensions to shut down")
    records = read_out(out)
    for ext in ("node_ext", "py_ext"):
        tel = telemetry(records, ext)
        start = next(e for e in tel if e["type"] == "platform.start")["record"]["requestId"]
        fn = [e["record"] for e in tel if e["type"] == "function"]
        line = next(r for r in fn if "hello from node 7" in r)
        assert start in line and "\tINFO\t" in line  # the runtime's text format carries it
        names = {e["record"]["name"] for e in tel if e["type"] == "platform.extension"}
        assert names == {"node_ext", "py_ext"}
        shutdown = [r["event"] for r in records if r["kind"] == "event" and r["ext"] == ext][-1]
        assert shutdown["shutdownReason"] == "spindown"


def test_schema_2022_07_01(start_host, ext_dir, tmp_path):
    out = str(tmp_path / "ext.jsonl")
    h = start_host("--extensions", ext_dir("py_ext"), "--log-format", "json",
                   "--env", f"EXT_OUT={out}", "--env", "EXT_SCHEMA=2022-07-01",
                   "--", TEST_RUNTIME)
    h.invoke({"action": "print", "text": "old schema"})
    wait_for(lambda: any(e["type"] == "platform.report" for e in telemetry(read_out(out))),
             what="report")
    tel = telemetry(read_out(out))
    init_start = next(e for e in tel if e["type"] == "platform.initStart")["record"]
    assert "functionName" not in init_start and "instanceId" not in init_start
    assert "status" not in next(e for e in tel if e["type"] == "platform.initReport")["record"]
    line = next(e for e in tel if e["type"] == "function" and "old schema" in str(e["record"]))
    assert isinstance(line["record"], str)  # log records are strings in 2022-07-01


def test_bad_requests_from_extensions(start_host, ext_dir, tmp_path):
    import http.client
    out = str(tmp_path / "ext.jsonl")
    api_port = free_port()
    h = start_host("--extensions", ext_dir("py_ext"), "--env", f"EXT_OUT={out}",
                   "--env", "EXT_PROBE=1", "--runtime-api", f"127.0.0.1:{api_port}", "--",
                   TEST_RUNTIME)
    assert h.invoke({"a": 1})[2] == {"a": 1}
    codes = next(r for r in read_out(out) if r["kind"] == "probe")["codes"]
    assert codes["no_name"] == 403 and codes["bad_event"] == 403 and codes["bad_body"] == 403
    assert codes["register_twice"] == 403
    assert codes["next_no_id"] == 403 and codes["next_bad_id"] == 403
    assert codes["next_unknown_id"] == 403 and codes["exit_error_no_header"] == 403
    for name, (status, error_type) in ((k, v) for k, v in codes.items()
                                       if k.startswith("subscribe_")):
        assert status == 400 and error_type == "ValidationError", name
    assert len([k for k in codes if k.startswith("subscribe_")]) == 16
    # After init: registration and subscription are closed.
    ext_id = next(r for r in read_out(out) if r["kind"] == "register")["id"]
    c = http.client.HTTPConnection("127.0.0.1", api_port, timeout=5)
    c.request("POST", "/2020-01-01/extension/register", b"{}", {"Lambda-Extension-Name": "late"})
    r = c.getresponse()
    assert r.status == 403 and json.loads(r.read())["errorType"] == "Extension.RegistrationClosed"
    c.request("PUT", "/2022-07-01/telemetry", json.dumps({
        "schemaVersion": "2025-01-29", "types": ["platform"],
        "destination": {"protocol": "HTTP", "URI": "http://sandbox.localdomain:4243"}}),
        {"Lambda-Extension-Identifier": ext_id})
    r = c.getresponse()
    assert r.status == 403 and json.loads(r.read())["errorType"] == "Telemetry.SubscriptionClosed"
    c.close()
    assert h.invoke({"b": 2})[2] == {"b": 2}


@pytest.mark.parametrize("mode", ["fail", "hang"])
def test_failing_listener_drops_and_reports(start_host, ext_dir, tmp_path, mode):
    # The extension's own listener fails (500) or never answers, then recovers.
    out, mode_file = str(tmp_path / "ext.jsonl"), tmp_path / "mode"
    mode_file.write_text(mode)
    h = start_host("--extensions", ext_dir("py_ext"), "--env", f"EXT_OUT={out}",
                   "--env", f"EXT_MODE_FILE={mode_file}", "--", TEST_RUNTIME)
    for i in range(3):
        t0 = time.monotonic()
        assert h.invoke({"i": i})[2] == {"i": i}
        assert time.monotonic() - t0 < 1.0  # the function does not wait for telemetry
    wait_for(lambda: (h.metric("vigil_host_telemetry_dropped_total", function="function")
                      or 0) > 0, timeout=30, what="dropped events")
    assert h.metric("vigil_host_telemetry_batches_total", function="function",
                    result="failed") >= 3
    mode_file.write_text("ok")
    h.invoke({"i": 9})
    wait_for(lambda: any(e["type"] == "platform.logsDropped"
                         for e in telemetry(read_out(out))), timeout=30,
             what="platform.logsDropped")
    dropped = next(e for e in telemetry(read_out(out))
                   if e["type"] == "platform.logsDropped")["record"]
    assert dropped["droppedRecords"] > 0 and dropped["droppedBytes"] > 0
    assert h.invoke({"still": "up"})[2] == {"still": "up"}


def test_subscription_only_to_the_extensions_own_listener(start_host, ext_dir, tmp_path):
    """A subscription to a port another process listens on is refused: vigil host's own
    front door (it would invoke itself), or a neighbour's service."""
    neighbour = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                http.server.BaseHTTPRequestHandler)
    try:
        for case in ("front door", "neighbour"):
            front = free_port()
            port = front if case == "front door" else neighbour.server_address[1]
            out = str(tmp_path / f"ext-{port}.jsonl")
            h = start_host("--listen", f"127.0.0.1:{front}", "--extensions",
                           ext_dir("py_ext"), "--env", f"EXT_OUT={out}",
                           "--env", f"EXT_DEST_PORT={port}", "--", TEST_RUNTIME)
            assert h.invoke({"a": 1})[2] == {"a": 1}
            sub = next(r for r in read_out(out) if r["kind"] == "subscribe")
            assert sub["status"] == 400, sub
            assert f"port {port}: no process of extension py_ext listens there" in sub["body"]
            time.sleep(1)
            assert len(h.reports()) == 1  # nothing invoked the function but the client
        # A port nobody listens on yet is taken (AWS's Node sample subscribes while its
        # listener is still starting); each delivery checks whose it is then.
        port = free_port()
        out = str(tmp_path / "ext-later.jsonl")
        h = start_host("--extensions", ext_dir("py_ext"), "--env", f"EXT_OUT={out}",
                       "--env", f"EXT_DEST_PORT={port}", "--", TEST_RUNTIME)
        assert h.invoke({"a": 1})[2] == {"a": 1}
        assert next(r for r in read_out(out) if r["kind"] == "subscribe")["status"] == 200
    finally:
        neighbour.server_close()


def test_extension_crash_resets_environment(start_host, tmp_path):
    d = tmp_path / "extensions"
    d.mkdir()
    (d / "crasher").write_text("#!/bin/sh\nexit 3\n")
    os.chmod(d / "crasher", 0o755)
    h = start_host("--extensions", str(d), "--", TEST_RUNTIME)
    body = h.invoke({"a": 1})[2]
    assert body["errorType"] == "Extension.Crash"
    assert "Phase: init\tStatus: error\tError Type: Extension.Crash" in h.stdout()
    assert h.request("GET", "/healthz")[0] in (500, 502)  # still up, still failing


@pytest.mark.parametrize("schema", ["none", "2021-03-18"])
def test_logs_api_subscription(start_host, ext_dir, tmp_path, schema):
    """The Logs API (2020-08-15), still served by Lambda and used by older extensions: its
    record shapes from the same events, platform.runtimeDone only with 2021-03-18, the
    Telemetry API refused to an extension that took the Logs API."""
    out = str(tmp_path / "ext.jsonl")
    h = start_host("--extensions", ext_dir("py_ext"), "--env", f"EXT_OUT={out}",
                   "--env", "EXT_API=logs", "--env", f"EXT_SCHEMA={schema}",
                   "--env", "EXT_TYPES=platform,function", "--", TEST_RUNTIME)
    h.invoke({"action": "print", "text": "through the logs api"})
    rid = h.wait_reports(1)[0]["RequestId"]

    def events():
        return [r["event"] for r in read_out(out) if r["kind"] == "telemetry"]
    wait_for(lambda: any(e["type"] == "platform.report" for e in events()), timeout=10,
             what="the report through the Logs API")
    sub = next(r for r in read_out(out) if r["kind"] == "subscribe")
    assert sub["status"] == 200 and sub["body"] == '"OK"' and sub["other"] == 403, sub
    assert "LOGS\tName: py_ext\tState: Subscribed\tTypes: [Platform, Function]" in h.stdout()
    evs = events()
    types = [e["type"] for e in evs]
    assert not [t for t in types if t.startswith("platform.init")], types
    line = next(e for e in evs if e["type"] == "function" and "through the logs api" in
                e["record"])
    assert isinstance(line["record"], str)
    start = next(e for e in evs if e["type"] == "platform.start")
    assert start["record"] == {"requestId": rid, "version": "$LATEST"}
    end = next(e for e in evs if e["type"] == "platform.end")
    assert end["record"] == {"requestId": rid}
    report = next(e for e in evs if e["type"] == "platform.report")
    assert report["record"]["requestId"] == rid
    assert set(report["record"]["metrics"]) <= {"durationMs", "billedDurationMs",
                                                "memorySizeMB", "maxMemoryUsedMB",
                                                "initDurationMs"}
    assert {"durationMs", "billedDurationMs", "maxMemoryUsedMB"} <= set(report["record"]["metrics"])
    done = [e for e in evs if e["type"] == "platform.runtimeDone"]
    if schema == "2021-03-18":
        assert done and done[0]["record"] == {"requestId": rid, "status": "success"}, done
    else:
        assert not done


def test_extension_without_its_run_bit_fails_the_init(start_host, tmp_path):
    """As Lambda: a file of the extensions folder that cannot be executed is a LaunchError
    (PermissionDenied), and the init fails — not skipped without a word."""
    d = tmp_path / "extensions"
    d.mkdir()
    (d / "no-run-bit").write_text("#!/bin/sh\nexit 0\n")
    os.chmod(d / "no-run-bit", 0o644)
    h = start_host("--extensions", str(d), "--", TEST_RUNTIME)
    body = h.invoke({"a": 1})[2]
    assert body["errorType"] == "Extension.LaunchError", body
    out = h.stdout()
    assert ("EXTENSION\tName: no-run-bit\tState: LaunchError\tEvents: []\t"
            "Error Type: PermissionDenied") in out, out
    assert "Phase: init\tStatus: error\tError Type: Extension.LaunchError" in out


def test_extension_init_error(start_host, tmp_path):
    d = tmp_path / "extensions"
    d.mkdir()
    (d / "initfail").write_text(
        "#!/usr/bin/env python3\nimport http.client, os, sys\n"
        "h, p = os.environ['AWS_LAMBDA_RUNTIME_API'].split(':')\n"
        "c = http.client.HTTPConnection(h, int(p))\n"
        "c.request('POST', '/2020-01-01/extension/register', '{\"events\":[]}', "
        "{'Lambda-Extension-Name': 'initfail'})\n"
        "r = c.getresponse(); r.read(); i = r.getheader('Lambda-Extension-Identifier')\n"
        "c.request('POST', '/2020-01-01/extension/init/error', '{}', "
        "{'Lambda-Extension-Identifier': i, 'Lambda-Extension-Function-Error-Type': "
        "'Extension.ConfigInvalid'})\n"
        "print(c.getresponse().status, flush=True)\nsys.exit(1)\n")
    os.chmod(d / "initfail", 0o755)
    h = start_host("--extensions", str(d), "--", TEST_RUNTIME)
    body = h.invoke({"a": 1})[2]
    assert body["errorType"] == "Extension.InitError"
    assert "\n202\n" in h.stdout()


def test_extension_that_never_comes_back(start_host, ext_dir, tmp_path):
    out = str(tmp_path / "ext.jsonl")
    h = start_host("--extensions", ext_dir("py_ext"), "--timeout", "1",
                   "--env", f"EXT_OUT={out}", "--env", "EXT_POST_MS=5000", "--", TEST_RUNTIME)
    t0 = time.monotonic()
    assert h.invoke({"a": 1})[2] == {"a": 1}  # the caller has its answer at once
    assert time.monotonic() - t0 < 0.9
    (report,) = h.wait_reports(1)
    assert report["Status"] == "timeout" and report["Duration"] == "1000.00 ms"
    # Busy when the environment is reset, it never sees SHUTDOWN: killed after the 2 s grace.
    wait_for(lambda: h.metric("vigil_host_environments", function="function") == 0,
             what="the reset")
    time.sleep(2.5)
    events = [r["event"] for r in read_out(out) if r["kind"] == "event"]
    assert [e["eventType"] for e in events] == ["INVOKE"]
    assert not any(r["kind"] == "exit" for r in read_out(out))
    assert h.invoke({"b": 2})[2] == {"b": 2}

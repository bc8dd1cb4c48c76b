"""OTLP export: logs, traces and metrics, decoded by a receiver that uses the official Python
bindings (python3-opentelemetry-proto), compared with what vigil keeps (`vigil logs cat
--json`), its REPORT lines and its Prometheus scrape."""
import json
import os
import re
import signal
import subprocess
import time

import pytest

from conftest import TEST_RUNTIME, VIGIL, run_vigil, sample, samples, wait_for
from otlp_receiver import Receiver, attrs
from test_ric import HANDLERS, RIC


@pytest.fixture
def receiver():
    receivers = []

    def make(**kw):
        r = Receiver(**kw)
        receivers.append(r)
        return r
    yield make
    for r in receivers:
        r.stop()


def otlp_env(r, **extra):
    env = {"VIGIL_OTLP_ENDPOINT": r.url(), "VIGIL_OTLP_INTERVAL_MS": "200",
           "VIGIL_OTLP_TRACES_UNSAMPLED": "true"}
    env.update(extra)
    return env


def kept(d):
    rc, out, err = run_vigil(["logs", "--dir", str(d), "cat", "--json"])
    assert rc == 0, err
    return [json.loads(line) for line in out.splitlines()]


def trace_hex(t):
    """The W3C trace id a record's trace_id stands for (X-Ray header, X-Ray id, 32 hex)."""
    m = re.search(r"1-([0-9a-f]{8})-([0-9a-f]{24})", t)
    if m:
        return m.group(1) + m.group(2)
    return t if re.fullmatch(r"[0-9a-f]{32}", t) else None


def check_records_match(received, records):
    """Every kept record arrived (once, in order): body, severity, request id, trace id."""
    assert len(received) == len(records), (len(received), len(records))
    for (res, got), want in zip(received, records):
        assert got.body.string_value == want["message"]
        assert got.severity_text == want.get("level", "")
        assert got.time_unix_nano == int(want["time_ns"]) if "time_ns" in want else True
        a = attrs(got.attributes)
        assert a.get("faas.invocation_id", "") == want.get("request_id", "")
        th = trace_hex(want.get("trace_id", ""))
        assert (got.trace_id.hex() or None) == th, (got.trace_id.hex(), want.get("trace_id"))


def test_host_exports_the_three_signals(start_host, receiver, tmp_path):
    r = receiver()
    logs = tmp_path / "logs"
    h = start_host("--function-name", "fn", "--", TEST_RUNTIME,
                   VIGIL_LOG_DIR=str(logs), **otlp_env(r))
    trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    h.request("POST", "/2015-03-31/functions/function/invocations",
              json.dumps({"action": "print", "text": "hello OTLP"}),
              headers={"X-Amzn-Trace-Id": trace})
    h.invoke({"action": "error"})
    for i in range(4):
        h.invoke({"n": i})
    reports = h.wait_reports(6)
    wait_for(lambda: sum(1 for _, s in r.spans() if s.name == "invoke") >= 6, timeout=10,
             what="six invoke spans")
    scrape = h.metrics()
    h.stop()

    # Resource: where it ran (no cloud.provider under vigil host).
    res = r.spans()[0][0]
    assert res["service.name"] == "fn" and res["faas.name"] == "fn"
    assert res["faas.version"] == "$LATEST" and res["faas.max_memory"] == 128 << 20
    assert res["host.arch"] in ("amd64", "arm64") and res["faas.instance"]
    assert "cloud.provider" not in res

    # Logs: what `vigil logs cat --json` shows, record for record.
    records = kept(logs)
    assert any(x["message"] == "hello OTLP" for x in records)
    check_records_match(r.logs(), records)
    got = {g.body.string_value: g for _, g in r.logs()}
    assert attrs(got["hello OTLP"].attributes)["vigil.source"] == "function"

    # Traces: an invoke span per REPORT line, as long (within 1 ms), children inside it.
    spans = [s for _, s in r.spans()]
    invokes = {attrs(s.attributes)["faas.invocation_id"]: s for s in spans if s.name == "invoke"}
    assert len(invokes) == 6
    for rep in reports:
        s = invokes[rep["RequestId"]]
        dur = float(rep["Duration"].split()[0])
        assert abs((s.end_time_unix_nano - s.start_time_unix_nano) / 1e6 - dur) <= 1.0
        assert s.kind == s.SPAN_KIND_SERVER
        for c in spans:
            if c.parent_span_id == s.span_id:
                assert c.trace_id == s.trace_id
                assert s.start_time_unix_nano <= c.start_time_unix_nano
                assert c.end_time_unix_nano <= s.end_time_unix_nano
    first = invokes[reports[0]["RequestId"]]
    assert first.trace_id.hex() == "5759e988bd862e3fe1be46a994272793"
    assert first.parent_span_id.hex() == "53995c3f42cd8ad8"
    assert attrs(first.attributes)["faas.coldstart"] is True
    assert attrs(first.attributes)["faas.trigger"] == "other"  # the invoke endpoint
    init = [s for s in spans if s.name == "init"]
    assert len(init) == 1 and init[0].trace_id == first.trace_id
    init_ms = float(reports[0]["Init Duration"].split()[0])
    assert abs((init[0].end_time_unix_nano - init[0].start_time_unix_nano) / 1e6 - init_ms) <= 1
    assert first.links and first.links[0].span_id == init[0].span_id
    # The init's parts: the runtime's exec → its first /next, inside the init.
    parts = [s for s in spans if s.parent_span_id == init[0].span_id]
    assert [p.name for p in parts] == ["runtime"], [p.name for p in parts]
    assert init[0].start_time_unix_nano <= parts[0].start_time_unix_nano
    assert parts[0].end_time_unix_nano <= init[0].end_time_unix_nano
    failed = [s for s in invokes.values() if s.status.code == s.status.STATUS_CODE_ERROR]
    assert len(failed) == 1 and failed[0].status.message == "TestError"
    assert attrs(invokes[reports[1]["RequestId"]].attributes)["faas.coldstart"] is False
    # Sampled=0 (vigil host's own header without a caller's) was exported: the option is on.

    # Metrics: the last export after the stop equals the scrape for the invocation families.
    m = r.last_metrics()
    kind, points = m["vigil_invocations_total"]
    assert kind == "sum"
    for a, p in points:
        want = sample(scrape, "vigil_invocations_total", **a)
        assert want is not None and float(p["asDouble"]) == want, (a, p, want)
    kind, points = m["vigil_invocation_duration_seconds"]
    assert kind == "histogram"
    total = sum(int(p["count"]) for _, p in points)
    assert total == sum(samples(scrape, "vigil_invocation_duration_seconds_count"))


def test_sampled_zero_is_honoured_by_default(start_host, receiver, tmp_path):
    r = receiver()
    h = start_host("--function-name", "fn", "--", TEST_RUNTIME, VIGIL_LOG_DIR=str(tmp_path),
                   **otlp_env(r, VIGIL_OTLP_TRACES_UNSAMPLED="false"))
    sampled = "Root=1-5759e988-bd862e3fe1be46a994272795;Parent=53995c3f42cd8ad8;Sampled=1"
    h.request("POST", "/2015-03-31/functions/function/invocations", "{}",
              headers={"X-Amzn-Trace-Id": sampled})
    h.invoke({})  # vigil host's own header: Sampled=0
    h.wait_reports(2)
    h.stop()
    invokes = [s for _, s in r.spans() if s.name == "invoke"]
    assert [s.trace_id.hex() for s in invokes] == ["5759e988bd862e3fe1be46a994272795"]


def test_trigger_is_http_through_the_front_door(start_host, receiver, tmp_path):
    r = receiver()
    h = start_host("--function-name", "fn", "--", TEST_RUNTIME, VIGIL_LOG_DIR=str(tmp_path),
                   **otlp_env(r))
    h.request("GET", "/orders?id=1")
    h.invoke({})
    h.wait_reports(2)
    h.stop()
    triggers = [attrs(s.attributes)["faas.trigger"] for _, s in r.spans() if s.name == "invoke"]
    assert triggers == ["http", "other"]


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_compressions_decode(start_host, receiver, tmp_path, compression):
    r = receiver()
    h = start_host("--function-name", "fn", "--", TEST_RUNTIME, VIGIL_LOG_DIR=str(tmp_path),
                   **otlp_env(r, VIGIL_OTLP_COMPRESSION=compression))
    h.invoke({"action": "print", "text": "compressed " + compression})
    h.wait_reports(1)
    h.stop()
    with r.lock:
        encodings = {hd.get("Content-Encoding", "none") for _, _, hd, _ in r.received}
    assert encodings == {compression}
    assert any(g.body.string_value == "compressed " + compression for _, g in r.logs())


def start_either(mode, start_host, tmp_path, r, **vigil_env):
    """vigil host exporting itself (C test runtime), or vigil as the extension of AWS's Node
    runtime client; and how to make the function print a line."""
    if mode == "host":
        h = start_host("--function-name", "fn", "--", TEST_RUNTIME,
                       VIGIL_LOG_DIR=str(tmp_path / "logs"), **otlp_env(r, **vigil_env))
        return h, lambda text: h.invoke({"action": "print", "text": text})
    h = start_node_with_vigil(start_host, tmp_path, r, **vigil_env)
    return h, lambda text: h.invoke({"action": "log", "n": text})


def printed(mode, text):
    return text if mode == "host" else f"hello from node {text}"


@pytest.mark.parametrize("mode", ["host", "extension"])
def test_retry_after_is_honoured(start_host, receiver, tmp_path, mode):
    r = receiver()
    r.answer = lambda path, n: (429, {"Retry-After": "2"}) if path == "/v1/logs" and n == 0 \
        else None
    h, say = start_either(mode, start_host, tmp_path, r)
    say("after-a-429")
    line = printed(mode, "after-a-429")
    wait_for(lambda: any(line in g.body.string_value for _, g in r.logs()),
             timeout=15, what="the record after the 429")
    h.stop()
    tries = [(t, st) for t, p, st in r.attempts if p == "/v1/logs"]
    assert tries[0][1] == 429 and tries[1][1] == 200
    assert tries[1][0] - tries[0][0] >= 1.9, tries
    bodies = [g.body.string_value for _, g in r.logs()]
    assert sum(line in b for b in bodies) == 1


def test_a_rejecting_backend_is_counted_and_never_retried(start_host, receiver, tmp_path):
    r = receiver()
    r.answer = lambda path, n: (400, {}) if path == "/v1/logs" else None
    h = start_host("--function-name", "fn", "--", TEST_RUNTIME, VIGIL_LOG_DIR=str(tmp_path),
                   **otlp_env(r))
    h.invoke({"action": "print", "text": "refused"})
    wait_for(lambda: (h.metric("vigil_otlp_items_total", signal="logs", result="rejected")
                      or 0) > 0, what="the rejection counted")
    n = len([a for a in r.attempts if a[1] == "/v1/logs"])
    time.sleep(1)
    # Rejected records are done with: nothing is sent again for them.
    assert len([a for a in r.attempts if a[1] == "/v1/logs"]) == n
    _, _, err = h.stop()
    assert "answered 400" in err


def test_partial_success_is_counted(start_host, receiver, tmp_path):
    r = receiver()
    r.rejected = 1
    h = start_host("--function-name", "fn", "--", TEST_RUNTIME, VIGIL_LOG_DIR=str(tmp_path),
                   **otlp_env(r))
    h.invoke({"action": "print", "text": "partly"})
    wait_for(lambda: (h.metric("vigil_otlp_items_total", signal="logs", result="rejected")
                      or 0) >= 1, what="partial success counted")
    _, _, err = h.stop()
    assert "partial success" in err and "too old" in err


def test_headers_are_sent_and_never_shown(start_host, receiver, tmp_path):
    r = receiver()
    h = start_host("--function-name", "fn", "--", TEST_RUNTIME, VIGIL_LOG_DIR=str(tmp_path),
                   **otlp_env(r, VIGIL_OTLP_HEADERS="x-api-key=s3cr%3Dt,x-team=obs"))
    h.invoke({})
    h.wait_reports(1)
    _, out, err = h.stop()
    with r.lock:
        sent = [hd for _, _, hd, _ in r.received]
    assert sent and all(hd.get("x-api-key") == "s3cr=t" and hd.get("x-team") == "obs"
                        for hd in sent)
    assert "s3cr" not in err and "s3cr" not in out
    rc, printed, _ = run_vigil(["config", "print"],
                               env={"VIGIL_OTLP_HEADERS": "x-api-key=s3cr%3Dt"})
    assert rc == 0 and "s3cr" not in printed


@pytest.mark.parametrize("headers,said", [
    ("x-api-key", "an item without '='"),
    ("bad name=v", "is not a header name"),
    ("x-a=1%0D%0AInjected: yes", "has a line break"),
])
def test_bad_headers_are_said_and_the_function_runs(start_host, receiver, tmp_path, headers,
                                                    said):
    r = receiver()
    h = start_host("--function-name", "fn", "--", TEST_RUNTIME, VIGIL_LOG_DIR=str(tmp_path),
                   **otlp_env(r, VIGIL_OTLP_HEADERS=headers))
    assert h.invoke({})[0] == 200
    h.wait_reports(1)
    _, _, err = h.stop()
    assert "no OTLP export: otlp_headers" in err and said in err
    assert not r.received


def test_standard_variables_are_a_fallback(start_host, receiver, tmp_path):
    r = receiver()
    h = start_host("--function-name", "fn", "--", TEST_RUNTIME, VIGIL_LOG_DIR=str(tmp_path),
                   VIGIL_OTLP_TRACES_UNSAMPLED="true",
                   OTEL_EXPORTER_OTLP_ENDPOINT=r.url(), OTEL_SERVICE_NAME="checkout",
                   OTEL_RESOURCE_ATTRIBUTES="deployment.environment=test,team=a%2Cb")
    h.invoke({})
    h.wait_reports(1)
    h.stop()
    res = r.spans()[0][0]
    assert res["service.name"] == "checkout" and res["faas.name"] == "fn"
    assert res["deployment.environment"] == "test" and res["team"] == "a,b"


@pytest.mark.parametrize("mode", ["host", "extension"])
def test_https_with_the_test_ca_and_a_wrong_one(start_host, receiver, tmp_path, mode):
    from test_remote_write import tls_files
    cert, key, ca = tls_files(tmp_path / "pki", "ec", san="IP:127.0.0.1")
    other = tls_files(tmp_path / "other", "ec")[2]
    r = receiver(tls=(cert, key))
    h, say = start_either(mode, start_host, tmp_path / "a", r, VIGIL_OTLP_CA_FILE=ca)
    say("over-TLS")
    wait_for(lambda: any(printed(mode, "over-TLS") in g.body.string_value for _, g in r.logs()),
             what="a record over https")
    h.stop()
    r2 = receiver(tls=(cert, key))
    h, say = start_either(mode, start_host, tmp_path / "b", r2, VIGIL_OTLP_CA_FILE=other)
    say("refused-TLS")
    h.wait_reports(1)
    time.sleep(1)
    _, out, err = h.stop()
    assert not r2.received
    assert "certificate" in (err if mode == "host" else out)


# --- vigil as the extension, with AWS's Node runtime client -------------------------------

def start_node_with_vigil(start_host, tmp_path, r, **vigil_env):
    ext = tmp_path / "extensions"
    ext.mkdir(parents=True, exist_ok=True)
    if not (ext / "vigil").exists():
        (ext / "vigil").symlink_to(VIGIL)
    env = ["--env", "VIGIL_TELEMETRY_LISTEN=127.0.0.1:0",
           "--env", "VIGIL_METRICS_LISTEN=127.0.0.1:0",
           "--env", f"VIGIL_LOG_DIR={tmp_path / 'ext-logs'}"]
    for k, v in otlp_env(r, **vigil_env).items():
        env += ["--env", f"{k}={v}"]
    return start_host("--function-name", "node-fn", "--handler", "index.router",
                      "--timeout", "30", "--extensions", str(ext), *env,
                      "--", RIC, "index.router", cwd=HANDLERS,
                      VIGIL_LOG_DIR=str(tmp_path / "host-logs"))


def marks(bodies):
    out = []
    for b in bodies:
        m = re.search(r"burst (\d+) (\d+)", b)
        if m:
            out.append((int(m.group(1)), int(m.group(2))))
    return out


def test_extension_receiver_down_then_up(start_host, receiver, tmp_path):
    """The backend away for 30 s: every record arrives once it is back, none twice beyond
    the request that was in flight."""
    class Down:
        """Where the receiver will be: nothing listens there yet."""
        def __init__(self):
            r = Receiver()
            self.port = r.port
            r.stop()

        def url(self):
            return f"http://127.0.0.1:{self.port}"
    down = Down()
    port = down.port
    h = start_node_with_vigil(start_host, tmp_path, down)
    for k in range(6):
        h.invoke({"action": "burst", "k": k, "lines": 200})
        time.sleep(2)
    time.sleep(18)
    r = receiver(port=port)
    want = {(k, i) for k in range(6) for i in range(200)}
    wait_for(lambda: want <= set(marks(g.body.string_value for _, g in r.logs())),
             timeout=30, what="every burst line")
    got = marks(g.body.string_value for _, g in r.logs())
    assert len(got) - len(set(got)) <= 4096, "duplicates beyond one request"
    res = r.logs()[0][0]
    assert res["faas.name"] == "node-fn" and res["cloud.provider"] == "aws"
    # Traces from the Telemetry API: the init as Lambda tells it (runtimeInit, the
    # extension's registration as an event of the init span).
    wait_for(lambda: any(s.name == "init" for _, s in r.spans()), what="the init span")
    spans = [s for _, s in r.spans()]
    init = next(s for s in spans if s.name == "init")
    assert "runtimeInit" in [s.name for s in spans if s.parent_span_id == init.span_id]
    assert "extension vigil registered" in [e.name for e in init.events]
    assert res["cloud.platform"] == "aws_lambda" and res["cloud.account.id"]
    h.stop()


def test_extension_killed_during_a_send_loses_nothing(start_host, receiver, tmp_path):
    """SIGKILL of the extension while a logs request is in flight, then a new environment:
    every record arrives (the cursor moves only after an answer)."""
    import threading
    r = receiver()
    slow, in_flight = {"on": True}, threading.Event()

    def answer(path, n):
        if path == "/v1/logs" and slow["on"]:
            in_flight.set()
            time.sleep(3)  # the extension is killed meanwhile
            return (503, {})
        return None
    r.answer = answer
    h = start_node_with_vigil(start_host, tmp_path, r)
    assert h.invoke({"action": "burst", "k": 0, "lines": 100})[2] == {"printed": 100}
    # Once the lines are on disk (the log pipeline's own window is test_durability.py's),
    # a request that carries them in flight.
    burst0 = {(0, i) for i in range(100)}
    wait_for(lambda: burst0 <= set(marks(x["message"] for x in kept(tmp_path / "ext-logs"))),
             what="the lines on disk")
    in_flight.clear()
    assert in_flight.wait(15), "no logs request"
    pids = subprocess.run(["pgrep", "-f", "extensions/vigil"], capture_output=True,
                          text=True).stdout.split()
    assert pids
    for p in pids:
        os.kill(int(p), signal.SIGKILL)
    slow["on"] = False
    # The invocation after it fails (Extension.Crash: its answer may still come); the next
    # gets a new environment, a new extension, the same log folder.
    def in_a_new_environment():
        before = len(h.reports())
        body = h.invoke({"action": "burst", "k": 1, "lines": 100})[2]
        report = h.wait_reports(before + 1)[before]  # (after the extensions are done)
        return body == {"printed": 100} and "Status" not in report
    wait_for(in_a_new_environment, timeout=30, interval=0.5, what="a new environment")
    want = {(k, i) for k in range(2) for i in range(100)}
    try:
        wait_for(lambda: want <= set(marks(g.body.string_value for _, g in r.logs())),
                 timeout=30, what="every burst line after the kill")
    finally:
        d = tmp_path / "ext-logs"
        missing = want - set(marks(g.body.string_value for _, g in r.logs()))
        if missing:
            cursor = (d / "otlp.cursor").read_text() if (d / "otlp.cursor").exists() else ""
            on_disk = set(marks(x["message"] for x in kept(d)))
            print(f"missing {len(missing)} {sorted(missing)[:4]}; on disk {len(on_disk & want)};"
                  f" {sorted(os.listdir(d))}; cursor {cursor!r}; {h.stdout()[-3000:]}")
    h.stop()


def test_cold_start_timeline_as_children_of_the_init_span(start_host, receiver, tmp_path):
    """coldstart=preload with the OTLP exporter: the cold start's largest packages and its
    network calls arrive as children of the first invocation's init span (same trace), the
    slow package first and as long as it took (within 10 %)."""
    from test_coldstart import PY_RUNTIME, python_packages
    r = receiver()
    pkgs = python_packages(tmp_path)
    h = start_host("--env", f"PYTHONPATH={pkgs}", "--", *PY_RUNTIME,
                   TEST_IMPORTS="json,fastpkg,slowpkg", VIGIL_COLDSTART="preload",
                   VIGIL_LOG_DIR=str(tmp_path / "logs"), **otlp_env(r))
    trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    h.request("POST", "/2015-03-31/functions/function/invocations", "{}",
              headers={"X-Amzn-Trace-Id": trace})
    wait_for(lambda: any(s.name == "python slowpkg" for _, s in r.spans()), timeout=15,
             what="the cold start's spans")
    h.stop()
    spans = [s for _, s in r.spans()]
    init = next(s for s in spans if s.name == "init")
    assert init.trace_id.hex() == "5759e988bd862e3fe1be46a994272793"
    kids = [s for s in spans if s.parent_span_id == init.span_id]
    names = [s.name for s in kids]
    assert "runtime" in names and names.count("runtime") == 1, names
    packages = [n for n in names if n != "runtime"]
    assert 5 <= len(packages) <= 10, names   # the largest ten at most
    slow = next(s for s in kids if s.name == "python slowpkg")
    assert slow.trace_id == init.trace_id
    assert abs((slow.end_time_unix_nano - slow.start_time_unix_nano) / 1e6 - 300) <= 30
    assert init.start_time_unix_nano <= slow.start_time_unix_nano
    assert slow.end_time_unix_nano <= init.end_time_unix_nano
    a = attrs(slow.attributes)
    assert a["vigil.coldstart.kind"] == "python" and a["vigil.coldstart.files"] == 2
    assert a["vigil.coldstart.source"] == "preload"

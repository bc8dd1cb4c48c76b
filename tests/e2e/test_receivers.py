"""The function's own telemetry through vigil (vigil as the extension of aws-lambda-ric under
vigil host): EMF documents it prints (aws-embedded-metrics, Powertools), DogStatsD datagrams
(hot-shots) and OTLP exports (the OpenTelemetry JS SDK), into vigil's registry and exporters."""
import json
import os
import socket
import subprocess

import pytest

from conftest import ROOT, free_port, sample, sample_sum, wait_for
from test_ric import RIC
from test_vigil_extension import ext_metrics

FN = os.path.join(ROOT, "tests", "e2e", "fn_telemetry")
FNLIBS = os.path.join(ROOT, "build", "fnlibs", "node_modules")


@pytest.fixture
def fn_host(start_host, tmp_path):
    """vigil host running fn_telemetry/index.js on aws-lambda-ric, vigil as its extension."""
    assert os.path.isdir(FNLIBS), "make e2e installs the function's libraries in build/fnlibs"
    d = tmp_path / "extensions"
    d.mkdir()
    from conftest import VIGIL
    (d / "vigil").symlink_to(VIGIL)

    def start(*args, **vigil_env):
        statsd = vigil_env.pop("statsd_port", None) or free_port()
        env = ["--env", "VIGIL_TELEMETRY_LISTEN=127.0.0.1:0",
               "--env", "VIGIL_METRICS_LISTEN=127.0.0.1:0",
               "--env", f"VIGIL_STATSD_LISTEN=127.0.0.1:{statsd}",
               "--env", f"STATSD_PORT={statsd}",
               "--env", f"NODE_PATH={FNLIBS}",
               "--env", "AWS_EMF_ENVIRONMENT=Lambda",
               # (a folder of the test's own: the OTLP tests ship what is in it)
               "--env", f"VIGIL_LOG_DIR={tmp_path / 'ext-logs'}"]
        for k, v in vigil_env.items():
            env += ["--env", f"VIGIL_{k.upper()}={v}"]
        h = start_host("--function-name", "tele-fn", "--handler", "index.handler",
                       "--extensions", str(d), *env, *args, "--", RIC, "index.handler", cwd=FN)
        h.statsd_port = statsd
        return h
    return start


def invoke_ok(h, event):
    status, _, body = h.invoke(event)
    assert status == 200, body
    return body


def metrics_when(h, name, **labels):
    """The extension's exposition once name{labels} is in it."""
    return wait_for(lambda: (lambda t: sample(t, name, **labels) is not None and t)(ext_metrics(h)),
                    what=f"{name}{labels} in the extension's /metrics")


def promtool_ok(text):
    p = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                       text=True)
    assert p.returncode == 0, p.stdout + p.stderr


def test_aws_embedded_metrics_reach_the_registry_and_the_line_stays(fn_host):
    h = fn_host()
    invoke_ok(h, {"action": "emf", "orders": 2, "latency_ms": 12})
    invoke_ok(h, {"action": "emf", "orders": 3, "latency_ms": 40})
    text = wait_for(lambda: (lambda t: sample(t, "orders_total", Service="checkout",
                                               Region="") == 5 and t)(ext_metrics(h)),
                    what="both documents' Orders")
    # Two dimension sets, two series: {Service} and {Service, Region}.
    assert sample(text, "orders_total", Service="checkout", Region="eu") == 5
    # Milliseconds → a histogram in seconds.
    assert sample(text, "latency_seconds_count", Service="checkout", Region="eu") == 2
    assert abs(sample(text, "latency_seconds_sum", Service="checkout", Region="eu") - 0.052) < 1e-9
    assert sample(text, "latency_seconds_bucket", Service="checkout", Region="eu", le="0.025") == 1
    # Kilobytes → bytes (1 KB = 1024 B); Percent → a gauge.
    assert sample(text, "payload_bytes_sum", Service="checkout", Region="eu") == 2 * 2048 * 1024
    assert sample(text, "ratio_percent", Service="checkout", Region="eu") == 42
    assert sample(text, "vigil_emf_documents_total", outcome="taken") == 2
    promtool_ok(text)
    # The EMF line is still the function's output, unchanged.
    rc, out, err = h.stop()
    lines = [l for l in out.splitlines() if '"Namespace":"shop"' in l]
    assert len(lines) == 2 and '"Orders":2' in lines[0] and '"Orders":3' in lines[1], out[-3000:]


def test_invalid_emf_is_counted_and_left_as_log_lines(fn_host):
    h = fn_host()
    invoke_ok(h, {"action": "emf_bad"})
    invoke_ok(h, {"action": "powertools"})
    text = wait_for(lambda: (lambda t: sample(t, "vigil_emf_documents_total",
                                              outcome="invalid") == 4 and
                             sample(t, "vigil_emf_documents_total", outcome="taken") == 1 and
                             t)(ext_metrics(h)),
                    what="four invalid EMF documents counted, one taken")
    assert sample(text, "vigil_emf_documents_total", outcome="taken") == 1
    for name in ("no_ts", "missing", "bad_dim", "bad_unit"):
        assert not [l for l in text.splitlines() if l.startswith(name)], name
    rc, out, err = h.stop()
    for name in ("NoTs", "Missing", "BadDim", "BadUnit"):
        assert f'"Name":"{name}"' in out, name


def test_powertools_metrics(fn_host):
    h = fn_host()
    invoke_ok(h, {"action": "powertools", "n": 4})
    invoke_ok(h, {"action": "powertools", "n": 1})
    text = wait_for(lambda: (lambda t: sample(t, "successful_booking_total", service="booker",
                                               tier="gold") == 5 and t)(ext_metrics(h)),
                    what="Powertools' successfulBooking")
    assert sample(text, "booking_time_seconds_count", service="booker", tier="gold") == 2
    promtool_ok(text)


def test_hot_shots_dogstatsd(fn_host):
    h = fn_host()
    invoke_ok(h, {"action": "statsd", "n": 3, "user": "a"})
    invoke_ok(h, {"action": "statsd", "n": 4, "user": "b"})
    invoke_ok(h, {"action": "statsd", "n": 1, "user": "a"})
    text = wait_for(lambda: (lambda t: sample(t, "orders_placed_total", shop="north",
                                               env="test") == 8 and t)(ext_metrics(h)),
                    what="hot-shots' counter")
    assert sample(text, "queue_depth", shop="north", env="test") == 17
    assert sample(text, "cart_items_count", shop="north", env="test") == 3
    assert sample(text, "cart_items_sum", shop="north", env="test") == 15
    assert sample(text, "cart_value_count", env="test") == 3
    assert sample(text, "db_query_seconds_count", table="orders", env="test") == 3
    assert abs(sample(text, "db_query_seconds_sum", table="orders", env="test") - 0.75) < 1e-9
    assert sample(text, "users_unique", env="test") == 2
    assert sample(text, "vigil_statsd_lines_total", outcome="malformed") in (None, 0)
    promtool_ok(text)


def test_statsd_garbage_is_counted_and_the_listener_stays(fn_host):
    h = fn_host()
    invoke_ok(h, {"action": "ping"})
    port = h.statsd_port
    wait_for(lambda: "statsd: listening" in h.stdout(), what="the StatsD listener")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    bad = [b"", b"\x00\xff\xfe", b"no_type:1", b"x:1|zz", b"x:abc|c", b"x:1|c|@2",
           b"x:1|c|@0", b"|||", b"::::|c", b"y:nan|g", b"z:1e999|ms", b"\n\n\n",
           b"a:1|c\nb:2|q\nc:3|c|#k:v,,:,k2", b"_e{5,4}:title|text", b"_sc|svc|0",
           os.urandom(2000), b"big:" + b"1:" * 100 + b"1|d"]
    for d in bad:
        s.sendto(d, ("127.0.0.1", port))
    s.sendto(b"after.garbage:7|c|#k:v", ("127.0.0.1", port))
    text = wait_for(lambda: (lambda t: sample(t, "after_garbage_total", k="v") == 7 and t)(
        ext_metrics(h)), what="a good line after the garbage")
    assert sample(text, "a_total") == 1 and sample(text, "c_total", k="v") == 3
    assert sample(text, "vigil_statsd_lines_total", outcome="malformed") >= 10
    promtool_ok(text)
    invoke_ok(h, {"action": "ping"})


# --- OTLP in ------------------------------------------------------------------------------------

from otlp_receiver import Receiver, attrs  # noqa: E402

TRACE = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"


@pytest.fixture
def backend():
    made = []

    def make(**kw):
        r = Receiver(**kw)
        made.append(r)
        return r
    yield make
    for r in made:
        r.stop()


def otel_host(fn_host, r=None, **vigil_env):
    """fn_host with vigil's OTLP receiver on a free port the function's SDK exports to, and
    vigil exporting to r (when given)."""
    port, grpc = free_port(), free_port()
    env = {"otlp_receiver_http_listen": f"127.0.0.1:{port}",
           "otlp_receiver_grpc_listen": f"127.0.0.1:{grpc}", **vigil_env}
    if r:
        env.update(otlp_endpoint=r.url(), otlp_interval_ms="200")
    h = fn_host("--env", f"OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:{port}",
                "--env", f"OTEL_GRPC_ENDPOINT=http://127.0.0.1:{grpc}", **env)
    h.otlp_port, h.grpc_port = port, grpc
    return h


def invoke_traced(h, event, trace=TRACE):
    status, _, body = h.request("POST", "/2015-03-31/functions/function/invocations",
                                json.dumps(event), {"X-Amzn-Trace-Id": trace})
    assert status == 200, body
    return json.loads(body)


def test_otel_sdk_spans_logs_and_metrics_reach_the_backend_joined(fn_host, backend):
    r = backend()
    h = otel_host(fn_host, r)
    answers = [invoke_traced(h, {"action": "otel", "order": f"o-{i}", "n": 2}) for i in range(3)]
    rids = [a["requestId"] for a in answers]
    # Metrics: in the registry (the extension's /metrics), and so in the OTLP export too.
    text = wait_for(lambda: (lambda t: sample(t, "orders_placed_total", shop="north") == 6 and t)(
        ext_metrics(h)), what="the SDK's counter")
    # (in Prometheus' base unit: milliseconds become seconds, the buckets too)
    assert sample(text, "checkout_latency_seconds_count", route="/checkout") == 3
    assert sample(text, "checkout_latency_seconds_bucket", route="/checkout", le="0.025") == 3
    assert abs(sample(text, "checkout_latency_seconds_sum", route="/checkout") - 0.036) < 1e-9
    assert sample(text, "queue_size") == 9
    assert sample(text, "vigil_otlp_receiver_requests_total", signal="traces", outcome="ok") >= 3
    promtool_ok(text)
    # The environment is frozen between invocations (as Lambda's): what is still queued
    # leaves at SHUTDOWN.
    h.stop()
    got = r.spans()
    invoke = {attrs(s.attributes)["faas.invocation_id"]: s for _, s in got if s.name == "invoke"}
    assert len(invoke) == 3, [s.name for _, s in got]
    for a in answers:
        rid = a["requestId"]
        handler = [(res, s) for res, s in got if s.name == "handler" and
                   s.span_id.hex() == a["spanId"]]
        assert len(handler) == 1, [s.name for _, s in got]
        res, hs = handler[0]
        # The SDK's resource wins; vigil's is merged under it.
        assert res["service.name"] == "checkout-fn" and res["service.version"] == "1.2.3"
        assert res["faas.name"] == "tele-fn" and res["cloud.provider"] == "aws"
        # A child of vigil's invoke span, in the invocation's trace, joined by its id.
        assert hs.trace_id.hex() == "5759e988bd862e3fe1be46a994272793"
        assert hs.parent_span_id == invoke[rid].span_id
        assert invoke[rid].trace_id == hs.trace_id
        assert attrs(hs.attributes)["faas.invocation_id"] == rid
        db = [s for _, s in got if s.name == "db.query" and s.parent_span_id == hs.span_id]
        assert len(db) == 1 and attrs(db[0].attributes)["faas.invocation_id"] == rid
    # Logs: into the segments, shipped from there with the invocation's id and trace.
    logs = [rec for _, rec in r.logs() if rec.body.string_value.startswith("order o-")]
    by_body = {rec.body.string_value: rec for rec in logs}
    assert len(logs) == 3, [rec.body.string_value for _, rec in r.logs()]
    for i, rid in enumerate(rids):
        rec = by_body[f"order o-{i} placed"]
        a = attrs(rec.attributes)
        assert rec.severity_text == "WARN" and a["faas.invocation_id"] == rid
        assert a["order.total"] == 42.5 and a["shop"] == "north"
        assert rec.trace_id.hex() == "5759e988bd862e3fe1be46a994272793"
    names = {m.name for res in r.messages("/v1/metrics") for rm in res.resource_metrics
             for sm in rm.scope_metrics for m in sm.metrics}
    assert "orders_placed_total" in names and "checkout_latency_seconds" in names


def test_back_to_back_invocations_of_one_trace_each_get_their_own(fn_host, backend):
    """The SDK exports a span the moment it ends, often before the extension has heard of the
    invocation (INVOKE goes to the runtime and to the extension at once). Twenty invocations
    back to back, one trace: every span and log record joins its own, never the one before."""
    r = backend()
    h = otel_host(fn_host, r)
    answers = [invoke_traced(h, {"action": "otel", "order": f"b-{i}", "only": "traces"})
               for i in range(20)]
    for i, a in enumerate(answers):
        assert a["otel"] is True, a
    h.stop()
    got = r.spans()
    invoke = {attrs(s.attributes)["faas.invocation_id"]: s for _, s in got if s.name == "invoke"}
    handler = {s.span_id.hex(): s for _, s in got if s.name == "handler"}
    logs = {rec.body.string_value: attrs(rec.attributes).get("faas.invocation_id")
            for _, rec in r.logs() if rec.body.string_value.startswith("order b-")}
    wrong = []
    for i, a in enumerate(answers):
        rid, hs = a["requestId"], handler[a["spanId"]]
        if attrs(hs.attributes)["faas.invocation_id"] != rid or \
                hs.parent_span_id != invoke[rid].span_id or logs[f"order b-{i} placed"] != rid:
            wrong.append(i)
    assert not wrong, f"joined to another invocation: {wrong}"


def test_sdk_pointed_at_vigil_is_not_where_vigil_exports(fn_host):
    """OTEL_EXPORTER_OTLP_ENDPOINT names vigil's receiver (the usual setup): vigil takes it as
    the function's, not as its own export target, and sends nothing to itself."""
    h = otel_host(fn_host)
    a = invoke_traced(h, {"action": "otel"})
    assert a["otel"] is True
    text = wait_for(lambda: (lambda t: sample(t, "orders_placed_total", shop="north") == 1 and t)(
        ext_metrics(h)), what="the SDK's counter")
    assert "names vigil's own receiver" in h.stdout()
    # The SDK's spans had nowhere to go: refused (counted), never looped back.
    assert sample(text, "vigil_otlp_receiver_requests_total", signal="traces",
                  outcome="partial") >= 1
    assert sample(text, "vigil_otlp_requests_total") in (None, 0)


def post(port, path, body, headers=None, timeout=10):
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("POST", path, body=body, headers=headers or {})
        resp = c.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        c.close()


def test_otlp_json_bodies(fn_host):
    h = otel_host(fn_host)
    invoke_ok(h, {"action": "ping"})
    wait_for(lambda: "OTLP/HTTP listening" in h.stdout(), what="the OTLP receiver")
    metrics = {"resourceMetrics": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "json-fn"}}]},
        "scopeMetrics": [{"scope": {"name": "s"}, "metrics": [
            {"name": "jobs.done", "unit": "{job}", "sum": {
                "aggregationTemporality": 2, "isMonotonic": True, "dataPoints": [
                    {"attributes": [{"key": "queue", "value": {"stringValue": "q1"}}],
                     "timeUnixNano": "1700000000000000000", "asInt": "7"}]}},
            {"name": "temp", "unit": "Cel", "gauge": {"dataPoints": [
                {"asDouble": 21.5, "timeUnixNano": 1700000000000000000}]}},
            {"name": "wait", "unit": "s", "histogram": {"aggregationTemporality": 1,
                "dataPoints": [{"count": "3", "sum": 1.5, "bucketCounts": ["1", "2", "0"],
                                "explicitBounds": [0.1, 1.0]}]}}]}]}]}
    status, hdr, body = post(h.otlp_port, "/v1/metrics", json.dumps(metrics),
                             {"Content-Type": "application/json"})
    assert status == 200 and hdr["Content-Type"] == "application/json", body
    assert json.loads(body) == {}
    text = ext_metrics(h)
    assert sample(text, "jobs_done_total", queue="q1") == 7
    assert sample(text, "temp_celsius") == 21.5
    assert sample(text, "wait_seconds_count") == 3 and sample(text, "wait_seconds_bucket", le="0.1") == 1
    # Wrong types: a clear 400.
    bad = {"resourceMetrics": [{"scopeMetrics": [{"metrics": [{"name": 5}]}]}]}
    status, _, body = post(h.otlp_port, "/v1/metrics", json.dumps(bad),
                           {"Content-Type": "application/json"})
    assert status == 400 and "Metric.name: not a string" in json.loads(body)["message"], body


def test_malformed_otlp_is_answered_and_the_receiver_stays(fn_host):
    import gzip
    h = otel_host(fn_host)
    invoke_ok(h, {"action": "ping"})
    wait_for(lambda: "OTLP/HTTP listening" in h.stdout(), what="the OTLP receiver")
    port = h.otlp_port
    pb = {"Content-Type": "application/x-protobuf"}
    cases = [
        ("/v1/traces", b"\x0a\xff\xff\xff\xff\x0f", pb, 400),          # a length past the end
        ("/v1/traces", b"\x0a\x05\x12\x03\x12\x01", pb, 400),          # cut inside
        ("/v1/logs", b"\x0f\x0f\x0f", pb, 400),                         # a group tag
        ("/v1/metrics", b"{\"resourceMetrics\": 5}", {"Content-Type": "application/json"}, 400),
        ("/v1/metrics", b"not json", {"Content-Type": "application/json"}, 400),
        ("/v1/traces", b"\x1f\x8b garbage", {**pb, "Content-Encoding": "gzip"}, 400),
        ("/v1/traces", b"x", {"Content-Type": "text/plain"}, 415),
        ("/v1/traces", b"x", {**pb, "Content-Encoding": "br"}, 415),
        ("/v2/traces", b"", pb, 404),
        ("/v1/traces", b"\0" * (100 << 20), pb, 413),                    # 100 MB
        ("/v1/logs", gzip.compress(b"\0" * (50 << 20)), {**pb, "Content-Encoding": "gzip"}, 413),
    ]
    for path, body, headers, want in cases:
        status, hdr, answer = post(port, path, body, headers, timeout=60)
        assert status == want, (path, body[:20], status, answer[:200])
    # Still up, and an empty request is fine.
    status, _, body = post(port, "/v1/traces", b"", pb)
    assert status == 200 and body == b""
    text = ext_metrics(h)
    assert sample(text, "vigil_otlp_receiver_requests_total", signal="traces",
                  outcome="invalid") >= 3
    assert sample(text, "vigil_otlp_receiver_requests_total", signal="traces",
                  outcome="too_large") == 1
    invoke_ok(h, {"action": "ping"})


def test_otel_sdk_over_grpc(fn_host, backend):
    r = backend()
    h = otel_host(fn_host, r)
    answers = [invoke_traced(h, {"action": "otel", "transport": "grpc", "order": f"g-{i}"})
               for i in range(2)]
    text = ext_metrics(h)
    assert sample(text, "vigil_otlp_receiver_requests_total", signal="traces", outcome="ok") >= 2
    h.stop()
    got = r.spans()
    invoke = {attrs(s.attributes)["faas.invocation_id"]: s for _, s in got if s.name == "invoke"}
    for a in answers:
        hs = [s for _, s in got if s.name == "handler" and s.span_id.hex() == a["spanId"]]
        assert len(hs) == 1 and hs[0].parent_span_id == invoke[a["requestId"]].span_id


def h2_frame(kind, flags, stream, payload):
    import struct
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + \
        struct.pack(">I", stream) + payload


def grpc_call(port, path, raw):
    """One unary call with python3-h2 (a real HTTP/2 client): the response's headers and
    trailers (a dict) and its data."""
    import h2.config
    import h2.connection
    import h2.events
    c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True,
                                                             header_encoding="utf-8"))
    c.initiate_connection()
    c.send_headers(1, [(":method", "POST"), (":scheme", "http"), (":path", path),
                       (":authority", "x"), ("content-type", "application/grpc"),
                       ("te", "trailers")])
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    headers, data, done = {}, b"", False
    sent = 0

    def take(events):
        nonlocal data, done
        for ev in events:
            if isinstance(ev, (h2.events.ResponseReceived, h2.events.TrailersReceived)):
                headers.update(dict(ev.headers))
            elif isinstance(ev, h2.events.DataReceived):
                data += ev.data
                c.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, (h2.events.StreamEnded, h2.events.StreamReset)):
                done = True
    # The body in what the server's flow-control windows allow.
    while sent < len(raw) and not done:
        room = min(c.local_flow_control_window(1), c.max_outbound_frame_size, len(raw) - sent)
        if room <= 0:
            s.sendall(c.data_to_send())
            take(c.receive_data(s.recv(65536)))
            continue
        c.send_data(1, raw[sent:sent + room])
        sent += room
    if not done:
        c.end_stream(1)
    s.sendall(c.data_to_send())
    while not done:
        chunk = s.recv(65536)
        if not chunk:
            break
        take(c.receive_data(chunk))
        s.sendall(c.data_to_send())
    s.close()
    return headers, data


def grpc_frame(message, flag=0):
    import struct
    return bytes([flag]) + struct.pack(">I", len(message)) + message


def test_grpc_malformed_frames_and_garbage(fn_host):
    import struct
    h = otel_host(fn_host)
    invoke_ok(h, {"action": "ping"})
    wait_for(lambda: "OTLP/gRPC listening" in h.stdout(), what="the gRPC receiver")
    port = h.grpc_port
    trace = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
    # A good empty request: grpc-status 0 and an empty response message.
    hdr, data = grpc_call(port, trace, grpc_frame(b""))
    assert hdr[":status"] == "200" and hdr["grpc-status"] == "0" and data == b"\0\0\0\0\0", hdr
    # A length prefix past the data, a cut prefix, garbage protobuf, gzip that is not.
    for raw, code in ((b"\x00\x00\x00\x10\x00ab", "3"), (b"\x00\x00", "3"),
                      (grpc_frame(b"\x0a\xff\x01"), "3"), (grpc_frame(b"xyz", 1), "3"),
                      (grpc_frame(b"\0" * (5 << 20)), "8")):
        hdr, data = grpc_call(port, trace, raw)
        assert hdr["grpc-status"] == code and hdr.get("grpc-message"), hdr
    hdr, _ = grpc_call(port, "/some.Other/Method", grpc_frame(b""))
    assert hdr["grpc-status"] == "12"
    # Not HTTP/2 at all, and a broken frame: the connection is closed, the receiver stays.
    for junk in (b"GET / HTTP/1.1\r\n\r\n", os.urandom(4096),
                 b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\xff" * 64):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(junk)
        try:
            while s.recv(4096):
                pass
        except (socket.timeout, ConnectionResetError):
            pass
        s.close()
    assert grpc_call(port, trace, grpc_frame(b""))[0]["grpc-status"] == "0"
    text = ext_metrics(h)
    assert sample(text, "vigil_otlp_receiver_requests_total", signal="traces",
                  outcome="invalid") >= 2
    invoke_ok(h, {"action": "ping"})


def vigil_emf(out):
    return [json.loads(l) for l in out.splitlines()
            if l.startswith('{"_aws"') and '"Namespace":"vigil"' in l]


def test_statsd_and_otlp_metrics_go_out_as_emf_and_emf_ones_do_not_twice(fn_host):
    h = otel_host(fn_host)
    invoke_ok(h, {"action": "statsd", "n": 3})
    invoke_traced(h, {"action": "otel", "n": 2})
    invoke_ok(h, {"action": "emf", "orders": 5})
    invoke_ok(h, {"action": "statsd", "n": 4})
    invoke_ok(h, {"action": "ping"})
    invoke_ok(h, {"action": "ping"})
    rc, out, err = h.stop()
    docs = vigil_emf(out)

    def total(name, **dims):
        return sum(d[name] for d in docs if name in d and
                   all(d.get(k) == v for k, v in dims.items()))
    # StatsD: the counter's increases add up; its tags and function_name are the dimensions.
    assert total("orders_placed_total", shop="north", env="test") == 7
    d = next(d for d in docs if "orders_placed_total" in d and d.get("env") == "test")
    aws = d["_aws"]["CloudWatchMetrics"][0]
    assert sorted(aws["Dimensions"][0]) == ["env", "function_name", "shop"]
    assert aws["Metrics"] == [{"Name": "orders_placed_total", "Unit": "Count"}]
    assert d["function_name"] == "tele-fn"
    # A StatsD timer: its observations and their sum.
    assert total("db_query_seconds_count", table="orders") == 2
    assert abs(total("db_query_seconds_sum", table="orders") - 0.5) < 1e-9
    # OTLP: the SDK's counter (no env tag: the OTLP one), histogram and up-down counter.
    assert total("orders_placed_total", shop="north") - 7 == 2
    assert total("checkout_latency_seconds_count", route="/checkout") == 1
    assert any(d.get("queue_size") == 3 for d in docs)
    # What came as EMF is not written again: CloudWatch has the function's own line.
    assert not [d for d in docs if "orders_total" in d or "latency_seconds_count" in d]


def test_a_full_span_queue_is_answered_429_and_taken_later(fn_host, backend):
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

    def request(n):
        m = trace_service_pb2.ExportTraceServiceRequest()
        ss = m.resource_spans.add().scope_spans.add()
        for i in range(n):
            sp = ss.spans.add()
            sp.trace_id, sp.span_id, sp.name = os.urandom(16), os.urandom(8), f"s{i}"
        return m.SerializeToString()
    r = backend()
    h = otel_host(fn_host, r, otlp_queue_spans="10")
    invoke_ok(h, {"action": "ping"})
    wait_for(lambda: "OTLP/HTTP listening" in h.stdout(), what="the OTLP receiver")
    pb = {"Content-Type": "application/x-protobuf"}
    status, hdr, body = post(h.otlp_port, "/v1/traces", request(50), pb)
    assert status == 429 and hdr["Retry-After"] == "1", (status, body)
    status, _, body = post(h.otlp_port, "/v1/traces", request(5), pb)
    assert status == 200 and body == b""
    hdr, _ = grpc_call(h.grpc_port, "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
                       grpc_frame(request(50)))
    assert hdr["grpc-status"] == "14", hdr
    text = ext_metrics(h)
    assert sample(text, "vigil_otlp_receiver_requests_total", signal="traces", outcome="busy") == 2

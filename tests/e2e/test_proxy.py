"""vigil proxy between a runtime and the Runtime API: relays unchanged, measures, survives."""
import json
import os
import socket
import subprocess
import threading
import time

import pytest

from conftest import ROOT, TEST_RUNTIME, VIGIL, clean_env, free_port, sample, wait_for
from test_ric import HANDLERS, RIC

WRAPPER = os.path.join(ROOT, "packaging", "vigil-wrapper")


@pytest.fixture
def proxy():
    procs = []

    def start(upstream_port):
        listen = free_port()
        metrics = free_port()
        p = subprocess.Popen([VIGIL, "proxy", "--upstream", f"127.0.0.1:{upstream_port}",
                              "--listen", f"127.0.0.1:{listen}"],
                             env=clean_env(VIGIL_METRICS_LISTEN=f"127.0.0.1:{metrics}"),
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        procs.append(p)
        wait_for(lambda: socket.create_connection(("127.0.0.1", listen)).close() or True,
                 what="the proxy")
        return listen, metrics, p

    yield start
    for p in procs:
        p.terminate()
        _, err = p.communicate(timeout=10)
        assert p.returncode == 0, err
        assert b"Sanitizer" not in err, err


def metrics_text(port):
    import urllib.request
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        return r.read().decode()


def ric_through_proxy(start_host, proxy, handler, *options):
    api = free_port()
    listen, metrics, _ = proxy(api)
    h = start_host("--runtime-api", f"127.0.0.1:{api}", "--handler", handler,
                   "--env", f"AWS_LAMBDA_RUNTIME_API=127.0.0.1:{listen}", *options,
                   "--", RIC, handler, cwd=HANDLERS)
    return h, metrics


def test_ric_through_the_proxy(start_host, proxy):
    h, metrics = ric_through_proxy(start_host, proxy, "index.router")
    assert h.invoke({"a": 1})[2]["got"] == {"a": 1}
    status, headers, body = h.invoke({"action": "fail"})
    assert body["errorType"] == "CustomError" and headers["x-amz-function-error"] == "Unhandled"
    h.invoke({"action": "sleep", "ms": 100})
    text = metrics_text(metrics)
    assert sample(text, "vigil_proxy_invocations_total", answer="response") == 2
    assert sample(text, "vigil_proxy_invocations_total", answer="error") == 1
    assert sample(text, "vigil_proxy_handler_duration_seconds_count") == 3
    assert sample(text, "vigil_proxy_handler_duration_seconds_bucket", le="0.1") == 2
    assert sample(text, "vigil_proxy_init_duration_seconds") > 0


@pytest.mark.parametrize("size,ok", [(int(5.9 * 1024 * 1024), True),
                                     (int(6.1 * 1024 * 1024), False)])
def test_big_answers_pass_through(start_host, proxy, size, ok):
    h, metrics = ric_through_proxy(start_host, proxy, "index.sized")
    status, headers, body = h.request("POST", "/2015-03-31/functions/function/invocations",
                                      json.dumps({"bytes": size}))
    if ok:
        assert status == 200 and "x-amz-function-error" not in headers
        assert len(body) == size + 2  # a JSON string
    else:
        assert json.loads(body)["errorType"] == "Function.ResponseSizeTooLarge"
    assert h.invoke({"bytes": 3})[2] == "yyy"  # the runtime carries on either way


def test_streamed_response(start_host, proxy):
    h, metrics = ric_through_proxy(start_host, proxy, "index.stream")
    status, headers, body = h.request("POST", "/2015-03-31/functions/function/invocations", "{}")
    assert status == 200 and body == b"chunk 0;chunk 1;chunk 2;"


def raw_next(port):
    """GET /next as a runtime would; the raw bytes of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data:
            data += s.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        length = int([l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")]
                     [0].split(b":")[1])
        while len(body) < length:
            body += s.recv(65536)
        return head + b"\r\n\r\n" + body


def test_byte_for_byte(start_host, proxy):
    api = free_port()
    h = start_host("--runtime-api", f"127.0.0.1:{api}", "--", "sleep", "3600")
    listen, _, _ = proxy(api)
    got = []
    for port in (api, listen):
        t = threading.Thread(target=lambda: h.invoke({"same": "event"}, timeout=5))
        t.start()
        wait_for(lambda: socket.create_connection(("127.0.0.1", api)).close() or True,
                 what="the Runtime API")
        raw = raw_next(port)
        rid = [l for l in raw.split(b"\r\n") if l.startswith(b"Lambda-Runtime-Aws-Request-Id")][0]
        rid = rid.split(b": ")[1]
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"POST /2018-06-01/runtime/invocation/" + rid +
                      b"/response HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok")
            s.recv(1000)
        t.join()
        got.append(raw)
    # Equal but for what differs per invocation: request id, deadline and trace id.
    def mask(raw):
        lines = raw.split(b"\r\n")
        return [l.split(b":")[0] if l.startswith(b"Lambda-Runtime-") else l for l in lines]
    assert mask(got[0]) == mask(got[1])
    assert got[0].endswith(b'{"same": "event"}')


def fake_upstream(behaviour):
    """A misbehaving Runtime API: junk, or closing in the middle of a request."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)

    def serve():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            c.recv(65536)
            if behaviour == "junk":
                c.sendall(b"\x00\x01 this is not HTTP at all\r\n\r\n")
            elif behaviour == "half":
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
            c.close()
    threading.Thread(target=serve, daemon=True).start()
    return srv


@pytest.mark.parametrize("behaviour", ["junk", "half", "down"])
def test_misbehaving_upstream(proxy, behaviour):
    if behaviour == "down":
        port = free_port()
        srv = None
    else:
        srv = fake_upstream(behaviour)
        port = srv.getsockname()[1]
    listen, metrics, p = proxy(port)
    with socket.create_connection(("127.0.0.1", listen), timeout=10) as s:
        s.sendall(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:  # closed with a reset: the same as closed here
                break
            if not chunk:
                break
            data += chunk
    if behaviour == "junk":
        assert data == b"\x00\x01 this is not HTTP at all\r\n\r\n"  # relayed as it came
    elif behaviour == "half":
        assert data.endswith(b"partial")  # then closed: nothing hangs
    else:
        assert data == b""
    text = metrics_text(metrics)
    reason = {"junk": "upstream_malformed", "half": "upstream_closed_mid_request",
              "down": "upstream_unreachable"}[behaviour]
    assert sample(text, "vigil_proxy_failures_total", reason=reason) >= 1
    assert p.poll() is None
    if srv:
        srv.close()


def test_malformed_runtime_traffic(start_host, proxy):
    api = free_port()
    h = start_host("--runtime-api", f"127.0.0.1:{api}", "--", TEST_RUNTIME)
    h.invoke({"warm": 1})
    listen, metrics, p = proxy(api)
    with socket.create_connection(("127.0.0.1", listen), timeout=10) as s:
        s.sendall(b"\x16\x03\x01 not http\r\n\r\n")
        reply = s.recv(1000)
    assert reply.startswith(b"HTTP/1.1 400")  # the Runtime API's own answer, relayed
    assert sample(metrics_text(metrics), "vigil_proxy_failures_total",
                  reason="runtime_malformed") == 1
    assert p.poll() is None and h.invoke({"still": 1})[2] == {"still": 1}


def test_extension_runs_the_proxy_through_the_wrapper(start_host, tmp_path):
    d = tmp_path / "extensions"
    d.mkdir()
    (d / "vigil").symlink_to(VIGIL)
    port = free_port()
    h = start_host("--function-name", "fn", "--extensions", str(d),
                   "--env", f"AWS_LAMBDA_EXEC_WRAPPER={WRAPPER}",
                   "--env", f"VIGIL_PROXY_LISTEN=127.0.0.1:{port}",
                   "--env", "VIGIL_TELEMETRY_LISTEN=127.0.0.1:0",
                   "--env", "VIGIL_METRICS_LISTEN=127.0.0.1:0", "--", TEST_RUNTIME)
    h.invoke({"action": "sleep", "ms": 50})
    h.invoke({"action": "error"})
    h.invoke({"x": 1})
    ids = [r["RequestId"] for r in h.wait_reports(3)]
    docs = wait_for(lambda: [json.loads(l) for l in h.stdout().splitlines()
                             if l.startswith('{"_aws"') and json.loads(l).get("request_id") in ids[:2]]
                    if len([l for l in h.stdout().splitlines() if l.startswith('{"_aws"')]) >= 2
                    else None, what="EMF with the proxy's figures")
    by_id = {d["request_id"]: d for d in docs}
    assert 50 <= by_id[ids[0]]["HandlerDuration"] < 60
    assert by_id[ids[1]]["error_type"] == "TestError"
    assert '"errorMessage":"boom"' in by_id[ids[1]]["error_message"]


def test_stacked_proxies(start_host, proxy):
    """runtime → vigil proxy → another proxy (a second vigil proxy) → Runtime API."""
    api = free_port()
    inner, inner_metrics, _ = proxy(api)
    outer, outer_metrics, _ = proxy(inner)
    h = start_host("--runtime-api", f"127.0.0.1:{api}",
                   "--env", f"AWS_LAMBDA_RUNTIME_API=127.0.0.1:{outer}", "--", TEST_RUNTIME)
    assert h.invoke({"a": 1})[2] == {"a": 1}
    assert h.invoke({"action": "error"})[2]["errorType"] == "TestError"
    for port in (inner_metrics, outer_metrics):
        text = metrics_text(port)
        assert sample(text, "vigil_proxy_invocations_total", answer="response") == 1
        assert sample(text, "vigil_proxy_invocations_total", answer="error") == 1

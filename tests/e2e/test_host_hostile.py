"""Bad input to vigil host: the test plays a misbehaving runtime on the Runtime API, and a
misbehaving client on the front door. Each gets the documented status; the host stays up."""
import http.client
import json
import socket
import threading

import pytest

from conftest import TEST_RUNTIME, free_port, wait_for

PREFIX = "/2018-06-01/runtime"


class Runtime:
    """The test as the runtime: raw HTTP/1.1 to the environment's Runtime API."""

    def __init__(self, port):
        self.port = port

    def call(self, method, path, body=None, headers=None, timeout=10):
        # The environment (and its Runtime API) starts with the first invocation.
        wait_for(lambda: socket.create_connection(("127.0.0.1", self.port)).close() or True,
                 what="the Runtime API")
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, dict(r.getheaders()), r.read()
        finally:
            c.close()

    def raw(self, data):
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
            s.sendall(data)
            got = b""
            while b"\r\n" not in got:
                chunk = s.recv(4096)
                if not chunk:
                    break
                got += chunk
        return got.split(b"\r\n", 1)[0].decode()


def start_manual(start_host):
    port = free_port()
    h = start_host("--runtime-api", f"127.0.0.1:{port}", "--timeout", "20", "--",
                   "sleep", "3600")
    return h, Runtime(port)


def invoke_in_background(h, event):
    result = {}

    def run():
        result["r"] = h.invoke(event)
    t = threading.Thread(target=run)
    t.start()
    return t, result


def test_runtime_api_bad_requests(start_host):
    h, rt = start_manual(start_host)
    t, result = invoke_in_background(h, {"x": 1})
    status, headers, body = rt.call("GET", PREFIX + "/invocation/next")
    assert status == 200 and json.loads(body) == {"x": 1}
    rid = headers["Lambda-Runtime-Aws-Request-Id"]
    assert int(headers["Lambda-Runtime-Deadline-Ms"]) > 0
    assert headers["Lambda-Runtime-Invoked-Function-Arn"].startswith("arn:aws:lambda:")
    assert headers["Lambda-Runtime-Trace-Id"].startswith("Root=1-")

    status, _, body = rt.call("POST", PREFIX + "/invocation/not-the-id/response", b"{}")
    assert status == 400 and json.loads(body)["errorType"] == "InvalidRequestID"
    assert rt.call("GET", PREFIX + "/nope")[0] == 404
    assert rt.call("GET", "/2018-06-01/unknown")[0] == 404
    assert rt.call("DELETE", PREFIX + "/invocation/next")[0] == 405
    status, _, body = rt.call("GET", PREFIX + "/invocation/next")  # invoke still in flight
    assert status == 403 and json.loads(body)["errorType"] == "InvalidStateTransition"
    assert rt.raw(b"GET /x HTTP/1.1\r\nX-Big: " + b"a" * 100000 + b"\r\n\r\n").split()[1] == "431"
    assert rt.raw(b"\x00\x01garbage\r\n\r\n").split()[1] == "400"
    status, _, _ = rt.call("POST", PREFIX + "/init/error", b"{}",
                           {"Lambda-Runtime-Function-Error-Type": "Runtime.X"})
    assert status == 403  # init is over

    # Malformed JSON in an error body: accepted, the error type comes from the header.
    status, _, body = rt.call("POST", PREFIX + f"/invocation/{rid}/error", b"{not json",
                              {"Lambda-Runtime-Function-Error-Type": "Runtime.Broken"})
    assert status == 202 and json.loads(body) == {"status": "OK"}
    t.join(10)
    status, headers, body = result["r"]
    assert headers["x-amz-function-error"] == "Unhandled" and body == b"{not json"
    # A second answer for the same id is refused.
    assert rt.call("POST", PREFIX + f"/invocation/{rid}/response", b"{}")[0] == 400

    # The runtime comes back for the next event: the host carries on.
    t, result = invoke_in_background(h, {"y": 2})
    status, headers, body = rt.call("GET", PREFIX + "/invocation/next")
    rid = headers["Lambda-Runtime-Aws-Request-Id"]
    status, _, _ = rt.call("POST", PREFIX + f"/invocation/{rid}/response", b'{"ok":1}')
    assert status == 202
    t.join(10)
    assert result["r"][2] == {"ok": 1}
    reports = h.wait_reports(1)
    assert reports[0]["Error Type"] == "Runtime.Broken"


def test_runtime_api_oversized_response(start_host):
    h, rt = start_manual(start_host)
    t, result = invoke_in_background(h, {"x": 1})
    _, headers, _ = rt.call("GET", PREFIX + "/invocation/next")
    rid = headers["Lambda-Runtime-Aws-Request-Id"]
    status, _, body = rt.call("POST", PREFIX + f"/invocation/{rid}/response",
                              b"x" * (6 * 1024 * 1024 + 101))
    assert status == 413 and json.loads(body)["errorType"] == "RequestEntityTooLarge"
    t.join(10)
    assert result["r"][2]["errorType"] == "Function.ResponseSizeTooLarge"


def test_bad_response_mode(start_host):
    h, rt = start_manual(start_host)
    t, result = invoke_in_background(h, {"x": 1})
    _, headers, _ = rt.call("GET", PREFIX + "/invocation/next")
    rid = headers["Lambda-Runtime-Aws-Request-Id"]
    status, _, body = rt.call("POST", PREFIX + f"/invocation/{rid}/response", b"{}",
                              {"Lambda-Runtime-Function-Response-Mode": "sideways"})
    assert status == 400 and json.loads(body)["errorType"] == "InvalidFunctionResponseMode"
    t.join(10)
    assert result["r"][2]["errorType"] == "Runtime.InvalidResponseModeHeader"


def test_front_door_bad_requests(start_host):
    h = start_host("--", TEST_RUNTIME)
    status, _, body = h.request("POST", "/2015-03-31/functions/function/invocations",
                                b"x" * (6 * 1024 * 1024 + 1))
    assert status == 413
    status, _, body = h.request("POST", "/anything", b"x" * (7 * 1024 * 1024))
    assert status == 413
    assert h.request("GET", "/2015-03-31/functions/function/invocations")[0] == 405
    status, _, body = h.request("BREW", "/coffee")  # any method becomes an event
    assert status == 200 and json.loads(body)["requestContext"]["http"]["method"] == "BREW"
    with socket.create_connection(("127.0.0.1", h.port), timeout=10) as s:
        s.sendall(b"GET /x HTTP/1.1\r\nX-Big: " + b"a" * 200000 + b"\r\n\r\n")
        line = s.recv(100).split(b"\r\n")[0].decode()
    assert line.split()[1] in ("413", "431")
    with socket.create_connection(("127.0.0.1", h.port), timeout=10) as s:
        s.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        data = s.recv(100)
    assert data == b"" or data.split()[1] in (b"400", b"505")
    # The raw invoke endpoint passes a non-JSON payload through as it is.
    status, _, body = h.request("POST", "/2015-03-31/functions/function/invocations", b"plain")
    assert status == 200 and body == b"plain"
    assert h.invoke({"still": "up"})[2] == {"still": "up"}


def test_usage_errors():
    import subprocess
    from conftest import VIGIL, clean_env
    for args in (["host"], ["host", "--memory", "64", "--", "x"], ["host", "--timeout", "0",
                 "--", "x"], ["host", "--payload", "3.0", "--", "x"], ["host", "--bogus"],
                 ["host", "--listen", "nope", "--", "x"], ["host", "--function", "/nonexistent"],
                 ["host", "--log-format", "xml", "--", "x"]):
        p = subprocess.run([VIGIL] + args, capture_output=True, text=True, env=clean_env(),
                           timeout=10)
        assert p.returncode == 2, (args, p.stderr)
        assert p.stderr.count("\n") == 1, (args, p.stderr)


def closed_within(port, send, seconds):
    """Connect to port, send bytes, and wait for the host to close: the seconds it took, or
    None when it was still open after seconds."""
    import time
    with socket.create_connection(("127.0.0.1", port), timeout=seconds) as s:
        if send:
            s.sendall(send)
        t0 = time.monotonic()
        try:
            while s.recv(4096):
                pass
        except socket.timeout:
            return None
        return time.monotonic() - t0


def test_front_door_cuts_idle_and_slow_clients(start_host):
    """An idle connection or a request line never finished is closed after --client-timeout;
    a connection waiting on its function is not, however long the function runs."""
    import time
    h = start_host("--client-timeout", "2", "--timeout", "10", "--", TEST_RUNTIME)
    for send in (b"", b"GET /half HT"):
        took = closed_within(h.port, send, 8)
        assert took is not None and took < 5, (send, took)
    t0 = time.monotonic()
    status, _, body = h.invoke({"action": "sleep", "ms": 4500})
    assert status == 200 and body == {"slept_ms": 4500}
    assert time.monotonic() - t0 >= 4.5
    # Many idle connections at once do not keep a real request out for longer than that.
    idle = [socket.create_connection(("127.0.0.1", h.port)) for _ in range(200)]
    try:
        assert h.invoke({"a": 1})[2] == {"a": 1}
    finally:
        for s in idle:
            s.close()


def _raw_exchange(port, data, half_close=False, wait=3.0):
    import socket
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(data)
    if half_close:
        s.shutdown(socket.SHUT_WR)
    s.settimeout(wait)
    out = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    except OSError:
        pass
    s.close()
    return out


def test_front_door_body_framing_edge_cases(start_host):
    """A body whose end two headers say differently is refused once (400, connection
    closed) and never reaches the function; a client that half-closes after its request
    still gets its answer; an invalid Content-Length is refused (libmicrohttpd 0.9.75 writes
    its status line and headers twice there: said in the README, not fixable from outside)."""
    h = start_host("--", TEST_RUNTIME)
    post = b"POST /2015-03-31/functions/function/invocations HTTP/1.1\r\nHost: x\r\n"
    out = _raw_exchange(h.port, post + b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}x")
    assert out.startswith(b"HTTP/1.1 400") and out.count(b"HTTP/1.1") == 1, out
    assert b"Connection: close" in out
    out = _raw_exchange(h.port, post + b"Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n"
                        b"2\r\n{}\r\n0\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400") and out.count(b"HTTP/1.1") == 1, out
    out = _raw_exchange(h.port, post + b"Content-Length: abc\r\n\r\n{}")
    assert out.startswith(b"HTTP/1.1 400"), out
    assert "START RequestId" not in h.stdout()    # none of them reached the function
    # The same length twice is one length.
    out = _raw_exchange(h.port, post + b"Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}")
    assert out.startswith(b"HTTP/1.1 200"), out
    for _ in range(10):     # half-closed after the request: the answer still comes
        out = _raw_exchange(h.port, post + b"Content-Length: 13\r\n\r\n{\"half\":true}",
                            half_close=True)
        assert out.startswith(b"HTTP/1.1 200") and out.endswith(b'{"half":true}'), out


def test_idle_connections_cannot_lock_the_front_door(start_host):
    """1,100 connections that send nothing (and some with half a request line): at the
    connection limit the one idle longest is closed first, so a real request still gets in
    within a few seconds — not after --client-timeout."""
    import resource
    import time
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    h = start_host("--client-timeout", "600", "--", TEST_RUNTIME)
    idle = []
    try:
        for i in range(1100):
            try:
                s = socket.create_connection(("127.0.0.1", h.port), timeout=2)
            except OSError:
                continue
            if i % 10 == 0:
                s.sendall(b"POST /2015-03-31/functions/func")
            idle.append(s)
        t0 = time.monotonic()
        status, _, body = h.invoke({"real": 1}, timeout=15)
        took = time.monotonic() - t0
        print(f"with {len(idle)} idle connections open, a request took {took:.3f} s")
        assert status == 200, body
        assert took < 5, took
    finally:
        for s in idle:
            s.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

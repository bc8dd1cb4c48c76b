"""Hostile HTTP against the metrics endpoint: vigil answers or refuses, stays up, stays small."""
import resource
import selectors
import socket
import time
import urllib.error

import pytest

from conftest import MEMORY_SLACK, rss_kb, wait_for


def raw(port, data, timeout=5.0):
    """Send raw bytes; return the status line (or '' when the server closed without one)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        buf = b""
        try:
            while b"\r\n" not in buf:
                chunk = s.recv(4096)
                if not chunk:
                    break
                buf += chunk
        except ConnectionResetError:
            pass
    return buf.split(b"\r\n", 1)[0].decode(errors="replace")


def assert_alive(v):
    status, _, body = v.get("/healthz")
    assert status == 200 and body == "ok\n"
    assert v.proc.poll() is None


def test_paths_and_methods(start_vigil):
    v = start_vigil()
    assert raw(v.port, b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n").endswith("404 Not Found")
    assert raw(v.port, b"GET /metrics/../etc HTTP/1.1\r\nHost: x\r\n\r\n").split()[1] in (
        "404", "400")
    for method in (b"POST", b"PUT", b"DELETE", b"OPTIONS", b"PATCH", b"BREW"):
        line = raw(v.port, method + b" /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
        assert line.split()[1] == "405", (method, line)
    line = raw(v.port, b"HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    assert line.endswith("200 OK")
    assert_alive(v)


def test_garbage_and_oversized_bodies(start_vigil):
    v = start_vigil(VIGIL_METRICS_CONN_TIMEOUT="2")
    for junk in (b"\x00\x01\x02garbage\r\n\r\n", b"garbage\r\n\r\n", b"GET /metrics\r\n\r\n",
                 b"\xff" * 5000):
        line = raw(v.port, junk)  # a NUL in the request line: closed at the idle timeout
        assert line == "" or line.split()[1] == "400", (junk, line)
    line = raw(v.port, b"GET /metrics HTTP/9.9\r\n\r\n")
    assert line == "" or line.split()[1] in ("400", "505")
    body = b"x" * (200 * 1024)
    line = raw(v.port, b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
               % len(body) + body)
    assert line == "" or line.split()[1] == "413"
    assert_alive(v)


def test_huge_headers(start_vigil):
    v = start_vigil()
    for size in (40 * 1024, 1024 * 1024):
        req = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * size + b"\r\n\r\n"
        line = raw(v.port, req)
        assert line == "" or line.split()[1] in ("413", "431"), line
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(5000))
    line = raw(v.port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
    assert line == "" or line.split()[1] in ("413", "431"), line
    assert_alive(v)


def test_bearer_token(start_vigil):
    v = start_vigil(VIGIL_METRICS_TOKEN="s3cret")
    with pytest.raises(urllib.error.HTTPError) as e:
        v.get()
    assert e.value.code == 401
    with pytest.raises(urllib.error.HTTPError) as e:
        v.get(headers={"Authorization": "Bearer s3cre"})
    assert e.value.code == 401
    status, _, body = v.get(headers={"Authorization": "Bearer s3cret"})
    assert status == 200 and "vigil_build_info" in body
    assert_alive(v)  # /healthz needs no token


def test_thousand_concurrent_connections(start_vigil):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    v = start_vigil()
    rss_before = rss_kb(v.proc.pid)
    sel = selectors.DefaultSelector()
    socks = []
    for _ in range(1000):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", v.port))
        socks.append(s)
        sel.register(s, selectors.EVENT_WRITE, b"")
    answered = refused = 0
    pending = len(socks)
    deadline = time.monotonic() + 30
    while pending and time.monotonic() < deadline:
        for key, mask in sel.select(timeout=1):
            s = key.fileobj
            if mask & selectors.EVENT_WRITE:
                try:
                    s.send(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    sel.modify(s, selectors.EVENT_READ, b"")
                except OSError:
                    refused += 1
                    pending -= 1
                    sel.unregister(s)
                continue
            try:
                data = s.recv(65536)
            except OSError:
                data = b""
            got = key.data + data
            if not data:
                if got.startswith(b"HTTP/1.1 200"):
                    answered += 1
                else:
                    refused += 1
                pending -= 1
                sel.unregister(s)
            else:
                sel.modify(s, selectors.EVENT_READ, got)
        if rss_kb(v.proc.pid) > 64 * 1024 * MEMORY_SLACK:
            pytest.fail(f"vigil RSS grew to {rss_kb(v.proc.pid)} kB")
    for s in socks:
        s.close()
    print(f"answered {answered}, refused {refused}, rss {rss_before} -> {rss_kb(v.proc.pid)} kB")
    assert pending == 0, f"{pending} connections neither answered nor refused"
    assert answered + refused == 1000
    assert answered >= 1
    assert_alive(v)
    # Memory comes back to near where it was: nothing is kept per connection.
    assert rss_kb(v.proc.pid) < rss_before + 16 * 1024 * MEMORY_SLACK


def test_slow_client_is_dropped_and_others_are_served(start_vigil):
    v = start_vigil(VIGIL_METRICS_CONN_TIMEOUT="2")
    s = socket.create_connection(("127.0.0.1", v.port))
    request = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
    start = time.monotonic()
    closed = False
    for i, byte in enumerate(request):
        try:
            s.send(bytes([byte]))
        except OSError:
            closed = True
            break
        # While the slow client dribbles, other scrapes are answered at once.
        t0 = time.monotonic()
        status, _, _ = v.get(timeout=2)
        assert status == 200 and time.monotonic() - t0 < 0.5
        if i > 6:
            break
        time.sleep(1)
    # One byte a second is progress, but the timeout is on inactivity between reads:
    # stop sending and the server must close the connection within the timeout.
    s.settimeout(10)
    try:
        data = s.recv(100) if not closed else b""
    except (ConnectionResetError, socket.timeout):
        data = b""
    s.close()
    assert data == b"" or data.startswith(b"HTTP/1.1 408") or data.startswith(b"HTTP/1.1 400")
    assert time.monotonic() - start < 20
    assert_alive(v)


def test_idle_connections_time_out(start_vigil):
    v = start_vigil(VIGIL_METRICS_CONN_TIMEOUT="1")
    s = socket.create_connection(("127.0.0.1", v.port))
    s.settimeout(10)
    t0 = time.monotonic()
    assert s.recv(10) == b""
    assert time.monotonic() - t0 < 5
    s.close()
    wait_for(lambda: v.get("/healthz")[0] == 200, what="healthz")


def test_idle_connections_cannot_starve_scrapes(start_vigil):
    """300 connections that send nothing against a limit of 256 (and a 30 s idle timeout):
    past three quarters of the limit the one idle longest is closed first, so a scrape gets
    in within a few seconds."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    v = start_vigil(VIGIL_METRICS_CONN_TIMEOUT="30")
    idle = []
    try:
        for _ in range(300):
            try:
                idle.append(socket.create_connection(("127.0.0.1", v.port), timeout=2))
            except OSError:
                pass
        t0 = time.monotonic()
        status, _, body = v.get("/metrics", timeout=15)
        took = time.monotonic() - t0
        print(f"with {len(idle)} idle connections open, a scrape took {took:.3f} s")
        assert status == 200 and "vigil_" in body
        assert took < 5
    finally:
        for s in idle:
            s.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

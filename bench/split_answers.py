#!/usr/bin/env python3
"""vigil extension's start (exec to its first event/next) against a stand-in for the Lambda
APIs that writes each answer's headers and body in two sends with Nagle's algorithm on (as
Python's http.server does): a client that delays its ACK waits 40 ms for each body.

  python3 bench/split_answers.py build/vigil [ROUNDS]
"""
import os
import socket
import subprocess
import sys
import threading
import time

ls = socket.socket(); ls.bind(("127.0.0.1", 0)); ls.listen(16)
port = ls.getsockname()[1]
t_next = []
def handle(c):
    buf = b""
    while True:
        while b"\r\n\r\n" not in buf:
            d = c.recv(65536)
            if not d: return
            buf += d
        head, _, rest = buf.partition(b"\r\n\r\n")
        n = 0
        for l in head.split(b"\r\n"):
            if l.lower().startswith(b"content-length:"): n = int(l.split(b":")[1])
        while len(rest) < n:
            rest += c.recv(65536)
        buf = rest[n:]
        line = head.split(b"\r\n")[0]
        if b"/event/next" in line:
            t_next.append(time.monotonic()); time.sleep(1); return
        if b"/register" in line:
            body = b'{"functionName":"fn","functionVersion":"$LATEST","handler":"h"}'
            hdr = b"HTTP/1.1 200 OK\r\nLambda-Extension-Identifier: abc\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
        else:
            body = b'"OK"'
            hdr = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
        c.sendall(hdr); c.sendall(body)
def serve():
    while True:
        c, _ = ls.accept(); threading.Thread(target=handle, args=(c,), daemon=True).start()
threading.Thread(target=serve, daemon=True).start()
res = []
for i in range(int(sys.argv[2]) if len(sys.argv) > 2 else 5):
    t0 = time.monotonic()
    env = {"AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}", "VIGIL_TELEMETRY_LISTEN": "127.0.0.1:0", "VIGIL_METRICS_LISTEN": "127.0.0.1:0", "PATH": os.environ["PATH"], "VIGIL_LOG_DIR": "/tmp/split-logs"}
    p = subprocess.Popen([sys.argv[1], "extension"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while len(t_next) <= i: time.sleep(0.0005)
    res.append((t_next[i] - t0) * 1000)
    p.kill(); p.wait()
print("start to event/next ms:", " ".join(f"{r:.1f}" for r in res), " median", sorted(res)[len(res)//2])

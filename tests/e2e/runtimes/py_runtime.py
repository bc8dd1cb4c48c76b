#!/usr/bin/env python3
"""A small Lambda runtime of the tests' own, for the modes aws-lambda-ric 3.x does not run:
Managed Instances (AWS_LAMBDA_MAX_CONCURRENCY threads, each on its own /next) and SnapStart
(restore/next before the first /next, with an after-restore hook). Each answer says which
environment (pid) and tenant served it. Events: {"ms": N} sleeps N ms; {"fail": true} posts an
error; {"exit": true} kills the runtime; {"stream": [chunks], "gap_ms": N} answers in Lambda's
streaming mode, a chunk every N ms ("http": true: with a Function URL prelude; "fail": true:
an error trailer after the chunks)."""
import base64
import http.client
import json
import os
import socket
import threading
import time

API = os.environ["AWS_LAMBDA_RUNTIME_API"]
BASE = "/2018-06-01/runtime"
HOOK_MS = int(os.environ.get("TEST_RESTORE_HOOK_MS", "0"))


def conn():
    host, port = API.rsplit(":", 1)
    return http.client.HTTPConnection(host, int(port), timeout=3600)


def call(c, method, path, body=None, headers=None):
    c.request(method, BASE + path, body=body, headers=headers or {})
    r = c.getresponse()
    return r.status, dict(r.getheaders()), r.read()


def stream(rid, event):
    """A streamed answer, written as Lambda's runtimes write it (chunked, with trailers)."""
    host, port = API.rsplit(":", 1)
    s = socket.create_connection((host, int(port)))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    ct = ("application/vnd.awslambda.http-integration-response" if event.get("http")
          else "text/plain")
    s.sendall((f"POST {BASE}/invocation/{rid}/response HTTP/1.1\r\nHost: {API}\r\n"
               "Lambda-Runtime-Function-Response-Mode: streaming\r\n"
               "Transfer-Encoding: chunked\r\n"
               f"Content-Type: {ct}\r\n"
               "Trailer: Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body"
               "\r\n\r\n").encode())

    def chunk(data):
        s.sendall(b"%x\r\n" % len(data) + data + b"\r\n")
    if event.get("http"):
        chunk(json.dumps({"statusCode": 201, "headers": {"x-streamed": "yes"},
                          "cookies": ["a=1"]}).encode() + b"\0" * 8)
    for i, c in enumerate(event["stream"]):
        if i:
            time.sleep(event.get("gap_ms", 0) / 1000.0)
        chunk(c.encode())
    if event.get("fail"):
        err = base64.b64encode(json.dumps({"errorType": "StreamError",
                                           "errorMessage": "midway"}).encode()).decode()
        s.sendall(("0\r\nLambda-Runtime-Function-Error-Type: Function.StreamError\r\n"
                   f"Lambda-Runtime-Function-Error-Body: {err}\r\n\r\n").encode())
    else:
        s.sendall(b"0\r\n\r\n")
    s.recv(4096)
    s.close()


def serve():
    c = conn()
    while True:
        status, h, body = call(c, "GET", "/invocation/next")
        if status != 200:
            time.sleep(0.05)
            continue
        rid = h["Lambda-Runtime-Aws-Request-Id"]
        event = json.loads(body or b"{}")
        if isinstance(event.get("requestContext"), dict):  # through the HTTP door
            try:
                event = json.loads(event.get("body") or "{}")
            except ValueError:
                event = {}
        if event.get("exit"):
            os._exit(3)
        if event.get("ms"):
            time.sleep(event["ms"] / 1000.0)
        answer = {"pid": os.getpid(), "tenant": h.get("Lambda-Runtime-Aws-Tenant-Id"),
                  "request_id": rid}
        if event.get("stream") is not None:
            stream(rid, event)
        elif event.get("fail"):
            call(c, "POST", f"/invocation/{rid}/error",
                 json.dumps({"errorType": "TestError", "errorMessage": "asked to"}),
                 {"Lambda-Runtime-Function-Error-Type": "TestError"})
        else:
            call(c, "POST", f"/invocation/{rid}/response", json.dumps(answer))


def main():
    # a function's own imports (TEST_IMPORTS=a,b: the cold-start tests' packages)
    for name in filter(None, os.environ.get("TEST_IMPORTS", "").split(",")):
        __import__(name)
    if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "snap-start":
        c = conn()
        status, _, _ = call(c, "GET", "/restore/next")   # the snapshot is taken here
        if HOOK_MS:
            time.sleep(HOOK_MS / 1000.0)              # an after-restore hook
        print(f"restored: {status}", flush=True)
    n = int(os.environ.get("AWS_LAMBDA_MAX_CONCURRENCY", "1"))
    for _ in range(n - 1):
        threading.Thread(target=serve, daemon=True).start()
    serve()


main()

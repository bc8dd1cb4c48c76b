#!/usr/bin/env python3
"""A small Lambda runtime of the tests' own, for the modes aws-lambda-ric 3.x does not run:
Managed Instances (AWS_LAMBDA_MAX_CONCURRENCY threads, each on its own /next) and SnapStart
(restore/next before the first /next, with an after-restore hook). Each answer says which
environment (pid) and tenant served it. Events: {"ms": N} sleeps N ms; {"fail": true} posts an
error; {"exit": true} kills the runtime."""
import http.client
import json
import os
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


def serve():
    c = conn()
    while True:
        status, h, body = call(c, "GET", "/invocation/next")
        if status != 200:
            time.sleep(0.05)
            continue
        rid = h["Lambda-Runtime-Aws-Request-Id"]
        event = json.loads(body or b"{}")
        if event.get("exit"):
            os._exit(3)
        if event.get("ms"):
            time.sleep(event["ms"] / 1000.0)
        answer = {"pid": os.getpid(), "tenant": h.get("Lambda-Runtime-Aws-Tenant-Id"),
                  "request_id": rid}
        if event.get("fail"):
            call(c, "POST", f"/invocation/{rid}/error",
                 json.dumps({"errorType": "TestError", "errorMessage": "asked to"}),
                 {"Lambda-Runtime-Function-Error-Type": "TestError"})
        else:
            call(c, "POST", f"/invocation/{rid}/response", json.dumps(answer))


def main():
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

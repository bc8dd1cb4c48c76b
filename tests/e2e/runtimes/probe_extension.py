#!/usr/bin/env python3
"""An extension of the tests' own that says what the Extensions and Telemetry APIs answer in
the host's mode: a register for INVOKE, then one for SHUTDOWN only, then a subscription with
an older schema; then it waits for SHUTDOWN."""
import http.client
import json
import os

api = os.environ["AWS_LAMBDA_RUNTIME_API"]
host, port = api.rsplit(":", 1)
c = http.client.HTTPConnection(host, int(port), timeout=60)


def post(path, body, headers):
    c.request("POST", path, body=json.dumps(body), headers=headers)
    r = c.getresponse()
    return r.status, dict(r.getheaders()), r.read()


name = {"Lambda-Extension-Name": "probe_extension.py"}
st, _, body = post("/2020-01-01/extension/register", {"events": ["INVOKE", "SHUTDOWN"]}, name)
print(f"probe: register INVOKE {st} {body.decode()}", flush=True)
st, h, _ = post("/2020-01-01/extension/register", {"events": ["SHUTDOWN"]}, name)
print(f"probe: register SHUTDOWN {st}", flush=True)
ident = {"Lambda-Extension-Identifier": h.get("Lambda-Extension-Identifier", "")}
c.request("PUT", "/2022-07-01/telemetry", body=json.dumps(
    {"schemaVersion": "2022-12-13", "types": ["platform"],
     "destination": {"protocol": "HTTP", "URI": "http://127.0.0.1:9/"}}), headers=ident)
r = c.getresponse()
print(f"probe: subscribe 2022-12-13 {r.status} {r.read().decode()}", flush=True)
c.request("GET", "/2020-01-01/extension/event/next", headers=ident)
r = c.getresponse()
print(f"probe: event {r.read().decode()}", flush=True)

#!/usr/bin/env python3
"""A burst of Lambda-shaped logs through vigil host with vigil as the extension and AWS's Node
runtime client: N invocations of L lines each (~300 bytes a line: Powertools JSON, Node text,
Errors with stacks), then SIGTERM right after the last answer. Prints, for each setting, the
lines kept in the extension's and the host's segments and what the platform said it dropped.

  python3 bench/burst.py [--invokes 3] [--lines 11600] [--rounds 3]
"""
import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VIGIL = os.path.join(ROOT, "build", "vigil")
RIC = os.path.join(ROOT, "build", "ric", "node_modules", ".bin", "aws-lambda-ric")
HANDLERS = os.path.join(ROOT, "tests", "e2e", "ric")

SETTINGS = [
    ("block, maxBytes 1 MiB (default)", [], []),
    ("drop, maxBytes 1 MiB, maxItems 10000", ["--telemetry-overflow", "drop"], []),
    ("drop, maxBytes 256 KiB, maxItems 1000", ["--telemetry-overflow", "drop"],
     ["VIGIL_TELEMETRY_MAX_BYTES=262144", "VIGIL_TELEMETRY_MAX_ITEMS=1000"]),
    ("drop, maxBytes 1 MiB, timeoutMs 1000", ["--telemetry-overflow", "drop"],
     ["VIGIL_TELEMETRY_TIMEOUT_MS=1000"]),
]


def marks(d):
    out = subprocess.run([VIGIL, "logs", "--dir", d, "cat", "--json"], capture_output=True,
                         text=True).stdout
    seen, dropped = set(), 0
    for l in out.splitlines():
        r = json.loads(l)
        m = re.search(r"burst (\d+) (\d+)", r["message"])
        if m:
            seen.add((int(m.group(1)), int(m.group(2))))
        if r["message"] == "platform.logsDropped":
            dropped += int(r["fields"]["droppedRecords"])
    return len(seen), dropped


def run(host_args, ext_env, invokes, lines):
    tmp = tempfile.mkdtemp(prefix="vigil-burst-")
    os.makedirs(f"{tmp}/ext")
    os.symlink(VIGIL, f"{tmp}/ext/vigil")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = [VIGIL, "host", "--listen", f"127.0.0.1:{port}", "--runtime-api", "127.0.0.1:0",
            "--function-name", "node-fn", "--handler", "index.router", "--timeout", "30",
            "--extensions", f"{tmp}/ext", "--env", "VIGIL_TELEMETRY_LISTEN=127.0.0.1:0",
            "--env", "VIGIL_METRICS_LISTEN=127.0.0.1:0", "--env", f"VIGIL_LOG_DIR={tmp}/ext-logs"]
    for e in ext_env:
        args += ["--env", e]
    args += host_args + ["--", RIC, "index.router"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env.update(VIGIL_LOG_DIR=f"{tmp}/host-logs", VIGIL_METRICS_LISTEN="127.0.0.1:0")
    p = subprocess.Popen(args, cwd=HANDLERS, env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    t0 = time.monotonic()
    for k in range(invokes):
        for _ in range(200):
            try:
                req = urllib.request.Request(
                    f"http://127.0.0.1:{port}/2015-03-31/functions/function/invocations",
                    data=json.dumps({"action": "burst", "k": k, "lines": lines}).encode())
                urllib.request.urlopen(req, timeout=60).read()
                break
            except OSError:
                time.sleep(0.05)
    busy = time.monotonic() - t0
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=60)
    stop = time.monotonic() - t0 - busy
    return marks(f"{tmp}/ext-logs") + (marks(f"{tmp}/host-logs")[0], busy, stop)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--invokes", type=int, default=3)
    ap.add_argument("--lines", type=int, default=11600)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    total = a.invokes * a.lines
    print(f"{a.invokes} invocations x {a.lines} lines = {total} lines, stop right after")
    for name, host_args, ext_env in SETTINGS:
        for r in range(a.rounds):
            kept, dropped, host_kept, busy, stop = run(host_args, ext_env, a.invokes, a.lines)
            print(f"{name:40s} round {r}: extension kept {kept} ({kept / total:.2%}), "
                  f"platform said dropped {dropped}, host kept {host_kept}; invokes {busy:.2f} s, "
                  f"stop {stop:.2f} s", flush=True)


if __name__ == "__main__":
    sys.exit(main())

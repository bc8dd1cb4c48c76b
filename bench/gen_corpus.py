#!/usr/bin/env python3
"""A realistic Lambda log corpus, reproducible from a seed: Telemetry API batches (one JSON
array per line) with START/END/REPORT-like platform events, Powertools JSON logs, text logs
in Node's format with stack traces, many request ids and trace ids, numbers in messages.
Also writes the same events as NDJSON (one event per line), the baseline for zstd and gzip.

usage: gen_corpus.py OUT_PREFIX [MEGABYTES] [SEED]  → OUT_PREFIX.batches, OUT_PREFIX.ndjson
"""
import json
import random
import sys
import uuid

WORDS = ("order payment user cart item checkout shipping invoice refund session token cache "
         "database query timeout retry upstream request response handler validate parse").split()
PATHS = ["/var/task/index.js", "/var/task/lib/db.js", "/var/task/node_modules/pg/lib/client.js",
         "node:internal/process/task_queues"]


def iso(ms):
    s, frac = divmod(ms, 1000)
    import time
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s)) + ".%03dZ" % frac


def invocation_end(rnd, rid, t):
    """An invocation's platform.runtimeDone and platform.report at time t (ms)."""
    d = round(rnd.uniform(1, 2000), 3)
    return [{"time": iso(t), "type": "platform.runtimeDone",
             "record": {"requestId": rid, "status": "success",
                        "metrics": {"durationMs": d, "producedBytes": rnd.randint(2, 5000)}}},
            {"time": iso(t), "type": "platform.report",
             "record": {"requestId": rid, "status": "success",
                        "metrics": {"durationMs": d + 0.5, "billedDurationMs": int(d) + 1,
                                    "memorySizeMB": 512,
                                    "maxMemoryUsedMB": rnd.randint(60, 200)}}}]


def write_batch(batch, batches, nd):
    """A batch as one line of batches, its events one a line of nd; the line's length."""
    line = json.dumps(batch, separators=(",", ":")) + "\n"
    batches.write(line)
    for ev in batch:
        nd.write(json.dumps(ev, separators=(",", ":")) + "\n")
    return len(line)


def main():
    prefix = sys.argv[1]
    target = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    rnd = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 1)
    t = 1718645030000
    size = 0
    with open(prefix + ".batches", "w") as batches, open(prefix + ".ndjson", "w") as nd:
        while size < target * 1024 * 1024:
            batch = []
            for _ in range(rnd.randint(3, 40)):  # invocations per batch
                rid = str(uuid.UUID(int=rnd.getrandbits(128), version=4))
                trace = "Root=1-%08x-%024x;Parent=%016x;Sampled=1" % (
                    t // 1000, rnd.getrandbits(96), rnd.getrandbits(64))
                t += rnd.randint(1, 400)
                batch.append({"time": iso(t), "type": "platform.start",
                              "record": {"requestId": rid, "version": "$LATEST",
                                         "tracing": {"type": "X-Amzn-Trace-Id", "value": trace}}})
                for _ in range(rnd.randint(1, 12)):
                    t += rnd.randint(0, 30)
                    kind = rnd.random()
                    if kind < 0.5:
                        rec = {"level": rnd.choice(["INFO", "INFO", "DEBUG", "WARN", "ERROR"]),
                               "message": "%s %s %d in %.2f ms" % (
                                   rnd.choice(WORDS), rnd.choice(WORDS), rnd.randint(1, 99999),
                                   rnd.uniform(0.1, 900)),
                               "timestamp": iso(t), "service": "orders",
                               "cold_start": False, "function_name": "orders-api",
                               "function_request_id": rid, "xray_trace_id": trace[5:40],
                               "order_id": rnd.randint(1, 10**9),
                               "amount": round(rnd.uniform(1, 500), 2)}
                        batch.append({"time": iso(t), "type": "function", "record": rec})
                    elif kind < 0.9:
                        msg = "%s %s %d" % (rnd.choice(WORDS), rnd.choice(WORDS),
                                            rnd.randint(1, 10**6))
                        batch.append({"time": iso(t), "type": "function",
                                      "record": "%s\t%s\tINFO\t%s" % (iso(t), rid, msg)})
                    else:
                        stack = "\n".join("    at %s (%s:%d:%d)" % (
                            rnd.choice(WORDS), rnd.choice(PATHS), rnd.randint(1, 400),
                            rnd.randint(1, 80)) for _ in range(rnd.randint(3, 9)))
                        batch.append({"time": iso(t), "type": "function",
                                      "record": "%s\t%s\tERROR\tError: %s failed after %d ms\n%s"
                                      % (iso(t), rid, rnd.choice(WORDS), rnd.randint(1, 3000),
                                         stack)})
                batch += invocation_end(rnd, rid, t)
            size += write_batch(batch, batches, nd)

if __name__ == "__main__":
    main()

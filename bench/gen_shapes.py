#!/usr/bin/env python3
"""Lambda log corpora of one shape each, harder than gen_corpus.py's: the formats real
functions print, with their high-cardinality fields (request, X-Ray and order ids, client
addresses, amounts, durations) and free text. Telemetry API batches (one JSON array per line:
platform.start, the function's records, platform.runtimeDone, platform.report per invocation)
and the same events as NDJSON (one per line), the baseline zstd compresses.

usage: gen_shapes.py SHAPE OUT_PREFIX [MEGABYTES] [SEED]  → OUT_PREFIX.batches, .ndjson
       gen_shapes.py --list
"""
import json
import random
import sys
import time
import uuid

from gen_corpus import invocation_end, iso, write_batch

SHAPES = ["powertools-python", "powertools-ts", "node-text", "python-text", "java-log4j",
          "java-json", "go-zerolog", "apigw-access", "stack-traces", "free-text"]

NOUNS = ("order payment customer cart item checkout shipment invoice refund session token "
         "cache table query lock queue message batch record upload image report account "
         "subscription coupon warehouse carrier address profile").split()
VERBS = ("processed created updated deleted fetched stored validated rejected retried "
         "enqueued dequeued published received parsed rendered resized charged refunded "
         "expired scheduled").split()
ADJ = ("slow stale missing duplicate invalid partial expired throttled unexpected cold warm "
       "large empty pending").split()
SERVICES = ["orders", "payments", "inventory", "notifications", "images"]
HOSTS = ["dynamodb.us-east-1.amazonaws.com", "sqs.us-east-1.amazonaws.com",
         "api.stripe.com", "hooks.slack.com", "s3.amazonaws.com"]
JAVA_CLASSES = ["com.example.orders.OrderHandler", "com.example.orders.repo.OrderRepository",
                "software.amazon.awssdk.core.internal.http.RequestPipeline",
                "com.fasterxml.jackson.databind.ObjectMapper", "org.apache.http.impl.conn.PoolingHttpClientConnectionManager",
                "com.example.payments.StripeClient", "java.util.concurrent.ThreadPoolExecutor"]
NODE_FILES = ["/var/task/index.js", "/var/task/lib/db.js", "/var/task/lib/handlers/orders.js",
              "/var/task/node_modules/@aws-sdk/client-dynamodb/dist-cjs/index.js",
              "/var/task/node_modules/pg/lib/client.js", "/var/runtime/index.mjs",
              "node:internal/process/task_queues", "node:internal/timers"]
PY_FILES = ["/var/task/app.py", "/var/task/orders/service.py", "/var/task/orders/repo.py",
            "/opt/python/botocore/client.py", "/opt/python/botocore/endpoint.py",
            "/var/lang/lib/python3.12/site-packages/urllib3/connectionpool.py"]


def sentence(rnd, words=None):
    n = words or rnd.randint(3, 14)
    out = []
    for i in range(n):
        r = rnd.random()
        if r < 0.35:
            out.append(rnd.choice(NOUNS))
        elif r < 0.55:
            out.append(rnd.choice(VERBS))
        elif r < 0.65:
            out.append(rnd.choice(ADJ))
        elif r < 0.75:
            out.append(str(rnd.randint(0, 10 ** rnd.randint(1, 7))))
        elif r < 0.8:
            out.append("%s=%s" % (rnd.choice(NOUNS), rnd.randint(0, 10 ** 6)))
        else:
            out.append(rnd.choice(("the", "a", "for", "with", "from", "to", "after", "in",
                                   "not", "while")))
    return " ".join(out)


class Ctx:
    def __init__(self, rnd, t, rid, trace):
        self.rnd, self.t, self.rid, self.trace = rnd, t, rid, trace

    def ids(self):
        rnd = self.rnd
        return {"orderId": "ord_%012x" % rnd.getrandbits(48),
                "customerId": "cus_%s" % uuid.UUID(int=rnd.getrandbits(128)).hex[:14],
                "amount": round(rnd.uniform(0.5, 2500), 2),
                "sku": "SKU-%05d-%s" % (rnd.randint(0, 99999), rnd.choice("ABCDEFGH"))}


def level(rnd):
    return rnd.choices(["INFO", "DEBUG", "WARN", "ERROR"], [70, 15, 10, 5])[0]


def powertools_python(c):
    rnd = c.rnd
    lv = level(rnd)
    rec = {"level": lv, "location": "%s:%d" % (rnd.choice(["handler", "process_order",
                                                             "charge", "save"]),
                                                 rnd.randint(10, 400)),
           "message": sentence(rnd),
           "timestamp": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(c.t // 1000)) +
           ",%03d+0000" % (c.t % 1000),
           "service": rnd.choice(SERVICES), "cold_start": rnd.random() < 0.02,
           "function_name": "orders-api", "function_memory_size": 512,
           "function_arn": "arn:aws:lambda:us-east-1:123456789012:function:orders-api",
           "function_request_id": c.rid, "xray_trace_id": c.trace}
    if rnd.random() < 0.6:
        rec.update(c.ids())
    if lv == "ERROR" and rnd.random() < 0.5:
        rec["exception"] = python_trace(rnd)
        rec["exception_name"] = rnd.choice(["ValueError", "KeyError", "ClientError"])
    return rec


def powertools_ts(c):
    rnd = c.rnd
    rec = {"level": level(rnd), "message": sentence(rnd), "sampling_rate": 0,
           "service": rnd.choice(SERVICES), "timestamp": iso(c.t),
           "xray_trace_id": c.trace, "cold_start": rnd.random() < 0.02,
           "function_arn": "arn:aws:lambda:us-east-1:123456789012:function:orders-api",
           "function_memory_size": "512", "function_name": "orders-api",
           "function_request_id": c.rid}
    if rnd.random() < 0.6:
        rec.update(c.ids())
    if rnd.random() < 0.2:
        rec["latencyMs"] = round(rnd.uniform(0.2, 3000), 3)
        rec["host"] = rnd.choice(HOSTS)
    return rec


def node_text(c):
    rnd = c.rnd
    lv = level(rnd)
    if rnd.random() < 0.3:
        msg = "%s %s: %s" % (rnd.choice(NOUNS), c.ids()["orderId"], sentence(rnd))
    elif rnd.random() < 0.2:
        msg = json.dumps(c.ids())
    else:
        msg = sentence(rnd)
    return "%s\t%s\t%s\t%s\n" % (iso(c.t), c.rid, lv, msg)


def python_text(c):
    rnd = c.rnd
    lv = rnd.choice(["INFO", "INFO", "INFO", "WARNING", "ERROR", "DEBUG"])
    msg = sentence(rnd)
    if rnd.random() < 0.25:
        msg += " (%s %s in %.1f ms)" % (rnd.choice(NOUNS), c.ids()["customerId"],
                                         rnd.uniform(0.1, 900))
    return "[%s]\t%s\t%s\t%s\n" % (lv, iso(c.t), c.rid, msg)


def java_frames(rnd, n):
    return "".join("\tat %s.%s(%s.java:%d)\n" % (
        rnd.choice(JAVA_CLASSES), rnd.choice(["handleRequest", "process", "save", "execute",
                                               "invoke", "call", "run", "lambda$0"]),
        rnd.choice(["OrderHandler", "OrderRepository", "RequestPipeline", "ObjectMapper",
                    "StripeClient"]), rnd.randint(20, 900)) for _ in range(n))


def java_log4j(c):
    rnd = c.rnd
    lv = rnd.choice(["INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR"])
    line = "%s %s %-5s %s - %s\n" % (
        time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(c.t // 1000)) + ".%03d" % (c.t % 1000),
        c.rid, lv, rnd.choice(JAVA_CLASSES), sentence(rnd))
    if lv == "ERROR" and rnd.random() < 0.7:
        line += "java.lang.IllegalStateException: %s\n%s" % (sentence(rnd, 5),
                                                            java_frames(rnd, rnd.randint(8, 40)))
    return line


def java_json(c):
    rnd = c.rnd
    rec = {"@timestamp": iso(c.t), "ecs.version": "1.2.0", "log.level": level(rnd),
           "message": sentence(rnd), "process.thread.name": rnd.choice(["main",
                                                                        "pool-1-thread-1"]),
           "log.logger": rnd.choice(JAVA_CLASSES), "AWSRequestId": c.rid,
           "AWSFunctionName": "orders-api", "AWSFunctionVersion": "$LATEST",
           "AWSFunctionMemoryLimit": "512"}
    if rnd.random() < 0.5:
        rec.update(c.ids())
    if rec["log.level"] == "ERROR":
        rec["error.type"] = "java.io.UncheckedIOException"
        rec["error.message"] = sentence(rnd, 6)
        rec["error.stack_trace"] = java_frames(rnd, rnd.randint(6, 25))
    return rec


def go_zerolog(c):
    rnd = c.rnd
    rec = {"level": rnd.choice(["info", "info", "debug", "warn", "error"]),
           "request_id": c.rid, "method": rnd.choice(["GET", "POST", "PUT"]),
           "path": "/v1/%s/%d" % (rnd.choice(NOUNS), rnd.randint(1, 10 ** 6)),
           "status": rnd.choice([200, 200, 200, 201, 204, 400, 404, 500]),
           "latency_ms": round(rnd.uniform(0.1, 800), 3),
           "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(c.t // 1000)),
           "message": sentence(rnd, rnd.randint(2, 6))}
    if rnd.random() < 0.4:
        rec.update(c.ids())
    return rec


def apigw_access(c):
    rnd = c.rnd
    return {"requestId": "%s=" % uuid.UUID(int=rnd.getrandbits(128)).hex[:14],
            "ip": "%d.%d.%d.%d" % (rnd.randint(1, 223), rnd.randint(0, 255),
                                   rnd.randint(0, 255), rnd.randint(1, 254)),
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(c.t // 1000)),
            "httpMethod": rnd.choice(["GET", "GET", "POST", "PUT", "DELETE"]),
            "routeKey": rnd.choice(["GET /orders/{id}", "POST /orders", "GET /items",
                                    "PUT /cart/{id}", "DELETE /sessions/{id}"]),
            "status": str(rnd.choice([200, 200, 200, 201, 204, 400, 403, 404, 429, 502])),
            "protocol": "HTTP/1.1", "responseLength": str(rnd.randint(0, 40000)),
            "integrationLatency": str(rnd.randint(1, 3000)),
            "userAgent": rnd.choice(["Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) "
                                     "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4",
                                     "okhttp/4.12.0", "curl/8.5.0",
                                     "python-requests/2.31.0", "Amazon CloudFront"])}


def python_trace(rnd):
    frames = "".join('  File "%s", line %d, in %s\n    %s\n' % (
        rnd.choice(PY_FILES), rnd.randint(5, 900), rnd.choice(["handler", "_make_api_call",
                                                               "send", "urlopen", "save"]),
        "return self._%s(%s)" % (rnd.choice(NOUNS), rnd.choice(NOUNS)))
        for _ in range(rnd.randint(4, 20)))
    return "Traceback (most recent call last):\n" + frames + \
        "botocore.exceptions.ClientError: An error occurred (%s) when calling the %s " \
        "operation: %s" % (rnd.choice(["ThrottlingException",
                                       "ConditionalCheckFailedException",
                                       "ProvisionedThroughputExceededException"]),
                           rnd.choice(["PutItem", "Query", "SendMessage"]), sentence(rnd, 6))


def stack_traces(c):
    rnd = c.rnd
    if rnd.random() < 0.5:
        frames = "\r".join("    at %s (%s:%d:%d)" % (
            rnd.choice(["Object.handler", "processOrder", "Client.query", "async Promise.all",
                        "process.processTicksAndRejections", "Runtime.handleOnceNonStreaming"]),
            rnd.choice(NODE_FILES), rnd.randint(1, 2000), rnd.randint(1, 90))
            for _ in range(rnd.randint(8, 30)))
        return "%s\t%s\tERROR\tInvoke Error \t%s\r%s\n" % (
            iso(c.t), c.rid, json.dumps({"errorType": "Error", "errorMessage": sentence(rnd, 6)}),
            frames)
    return "[ERROR]\t%s\t%s\t%s\n" % (iso(c.t), c.rid, python_trace(rnd).replace("\n", "\r"))


def free_text(c):
    rnd = c.rnd
    r = rnd.random()
    if r < 0.3:
        return "%s %s <%s@%s.com> from %d.%d.%d.%d\n" % (
            sentence(rnd), uuid.UUID(int=rnd.getrandbits(128)),
            "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rnd.randint(4, 10))),
            rnd.choice(["example", "corp", "mail", "shop"]), rnd.randint(1, 223),
            rnd.randint(0, 255), rnd.randint(0, 255), rnd.randint(1, 254))
    if r < 0.6:
        return "GET https://%s/v1/%s/%s?page=%d&limit=%d -> %d in %dms\n" % (
            rnd.choice(HOSTS), rnd.choice(NOUNS), "%016x" % rnd.getrandbits(64),
            rnd.randint(1, 500), rnd.choice([10, 25, 50, 100]), rnd.choice([200, 404, 500]),
            rnd.randint(1, 4000))
    return sentence(rnd, rnd.randint(8, 30)) + "\n"


MAKERS = {"powertools-python": powertools_python, "powertools-ts": powertools_ts,
          "node-text": node_text, "python-text": python_text, "java-log4j": java_log4j,
          "java-json": java_json, "go-zerolog": go_zerolog, "apigw-access": apigw_access,
          "stack-traces": stack_traces, "free-text": free_text}


def main():
    if sys.argv[1:] == ["--list"]:
        print(" ".join(SHAPES))
        return
    shape, prefix = sys.argv[1], sys.argv[2]
    target = float(sys.argv[3]) if len(sys.argv) > 3 else 20
    rnd = random.Random(int(sys.argv[4]) if len(sys.argv) > 4 else 1)
    make = MAKERS[shape]
    t = 1718645030000
    size = 0
    with open(prefix + ".batches", "w") as batches, open(prefix + ".ndjson", "w") as nd:
        while size < target * 1024 * 1024:
            batch = []
            for _ in range(rnd.randint(2, 20)):
                rid = str(uuid.UUID(int=rnd.getrandbits(128), version=4))
                trace = "1-%08x-%024x" % (t // 1000, rnd.getrandbits(96))
                header = "Root=%s;Parent=%016x;Sampled=1" % (trace, rnd.getrandbits(64))
                t += rnd.randint(1, 300)
                batch.append({"time": iso(t), "type": "platform.start",
                              "record": {"requestId": rid, "version": "$LATEST",
                                         "tracing": {"type": "X-Amzn-Trace-Id",
                                                     "value": header}}})
                c = Ctx(rnd, t, rid, trace)
                for _ in range(rnd.randint(1, 15)):
                    c.t += rnd.randint(0, 40)
                    batch.append({"time": iso(c.t), "type": "function", "record": make(c)})
                batch += invocation_end(rnd, rid, c.t)
                t = c.t
            size += write_batch(batch, batches, nd)

if __name__ == "__main__":
    main()

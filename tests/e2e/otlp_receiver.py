"""An OTLP/HTTP receiver for the tests: decodes what vigil sends with the official Python
bindings (Debian's python3-opentelemetry-proto), never with vigil's own code."""
import gzip
import http.server
import ssl
import subprocess
import threading
import time

from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

REQUESTS = {
    "/v1/logs": (logs_service_pb2.ExportLogsServiceRequest,
                 logs_service_pb2.ExportLogsServiceResponse),
    "/v1/traces": (trace_service_pb2.ExportTraceServiceRequest,
                   trace_service_pb2.ExportTraceServiceResponse),
    "/v1/metrics": (metrics_service_pb2.ExportMetricsServiceRequest,
                    metrics_service_pb2.ExportMetricsServiceResponse),
}


def attrs(kvs):
    """KeyValue list → dict of Python values."""
    out = {}
    for kv in kvs:
        v = kv.value
        kind = v.WhichOneof("value")
        if kind == "array_value":
            out[kv.key] = [getattr(x, x.WhichOneof("value")) for x in v.array_value.values]
        else:
            out[kv.key] = getattr(v, kind) if kind else None
    return out


class Receiver:
    """Serves /v1/logs, /v1/traces, /v1/metrics on 127.0.0.1. `answer` decides each answer:
    a function (path, count) → (status, headers dict) or None for 200."""

    def __init__(self, port=0, tls=None):
        self.lock = threading.Lock()
        self.received = []  # (time, path, headers, message)
        self.attempts = []  # (time, path, status)
        self.answer = None
        self.rejected = 0   # partial_success.rejected_* to answer with
        self.port = port
        self.tls = tls
        self.server = None
        self.start()

    def start(self):
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                with receiver.lock:
                    count = sum(1 for a in receiver.attempts if a[1] == self.path)
                decision = receiver.answer(self.path, count) if receiver.answer else None
                status, extra = decision if decision else (200, {})
                with receiver.lock:
                    receiver.attempts.append((time.monotonic(), self.path, status))
                if status == 200:
                    req_type, resp_type = REQUESTS[self.path]
                    enc = self.headers.get("Content-Encoding", "")
                    if enc == "gzip":
                        body = gzip.decompress(body)
                    elif enc == "zstd":
                        body = subprocess.run(["zstd", "-dc"], input=body, check=True,
                                              capture_output=True).stdout
                    msg = req_type()
                    msg.ParseFromString(body)
                    with receiver.lock:
                        receiver.received.append((time.monotonic(), self.path,
                                                  dict(self.headers), msg))
                    resp = resp_type()
                    if receiver.rejected:
                        field = {"/v1/logs": "rejected_log_records",
                                 "/v1/traces": "rejected_spans",
                                 "/v1/metrics": "rejected_data_points"}[self.path]
                        setattr(resp.partial_success, field, receiver.rejected)
                        resp.partial_success.error_message = "too old"
                    out = resp.SerializeToString()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/x-protobuf")
                else:
                    out = b"busy"
                    self.send_response(status)
                    for k, v in extra.items():
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        if self.tls:
            cert, key = self.tls
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def url(self):
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def messages(self, path):
        with self.lock:
            return [m for _, p, _, m in self.received if p == path]

    def _items(self, path, resources, scopes, items):
        out = []
        for m in self.messages(path):
            for r in getattr(m, resources):
                res = attrs(r.resource.attributes)
                for sc in getattr(r, scopes):
                    out += [(res, x) for x in getattr(sc, items)]
        return out

    def logs(self):
        """Every log record received: (resource attributes, record)."""
        return self._items("/v1/logs", "resource_logs", "scope_logs", "log_records")

    def spans(self):
        """Every span received: (resource attributes, span)."""
        return self._items("/v1/traces", "resource_spans", "scope_spans", "spans")

    def last_metrics(self):
        """The newest metrics request's metrics as {name: [(attributes, point dict)]}."""
        msgs = self.messages("/v1/metrics")
        if not msgs:
            return None
        out = {}
        for rm in msgs[-1].resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    kind = metric.WhichOneof("data")
                    points = getattr(metric, kind).data_points
                    out[metric.name] = (kind, [(attrs(p.attributes), MessageToDict(p))
                                               for p in points])
        return out

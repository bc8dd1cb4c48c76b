"""remote_write: vigil extension under vigil host pushes to a real Prometheus (its remote-write
receiver); a dead, slow, failing or refusing endpoint costs the function nothing."""
import http.server
import re
import socketserver
import subprocess
import threading
import time

import pytest

from conftest import free_port, sample, wait_for
from test_prometheus import prometheus, query  # noqa: F401 (a fixture)
from test_vigil_extension import ext_metrics, vigil_host  # noqa: F401 (a fixture)

FAMILIES = ("vigil_invocations_total", "vigil_cold_starts_total", "vigil_errors_total",
            "vigil_invocation_duration_seconds_count", "vigil_invocation_duration_seconds_sum",
            "vigil_billed_duration_seconds_bucket")


def run_workload(h):
    h.invoke({"action": "sleep", "ms": 20})
    h.invoke({"action": "error"})
    h.invoke({"x": 1})
    return h.wait_reports(3)


def exported(h, n):
    return wait_for(lambda: (sample(ext_metrics(h), "vigil_reports_exported_total") or 0) >= n,
                    timeout=20, what=f"{n} reports exported")


def series_of(text, family):
    """{frozenset(labels): value} of one family in an exposition."""
    out = {}
    for m in re.finditer(r"^(\w+)(?:\{(.*)\})? (\S+)$", text, re.M):
        if m.group(1) == family:
            labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
            out[labels] = float(m.group(3))
    return out


def test_prometheus_receives_what_metrics_says(vigil_host, prometheus):  # noqa: F811
    base = prometheus([], extra_args=["--web.enable-remote-write-receiver"])
    h = vigil_host(remote_write_url=f"{base}/api/v1/write", flush="periodic,0.5")
    run_workload(h)
    exported(h, 3)
    text = ext_metrics(h)
    for family in FAMILIES:
        want = series_of(text, family)
        assert want, family

        def pushed():
            got = {frozenset((k, v) for k, v in r["metric"].items()
                             if k not in ("__name__", "job", "instance")): float(r["value"][1])
                   for r in query(base, family)}
            return got == want and got
        wait_for(pushed, timeout=20, what=f"{family} in Prometheus equal to /metrics")
    # Every pushed series carries job="vigil"; the push itself is counted.
    assert all(r["metric"]["job"] == "vigil" for r in query(base, "vigil_invocations_total"))
    assert sample(ext_metrics(h), "vigil_remote_write_requests_total", result="sent") >= 1


class Endpoint(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def endpoint(behaviour):
    """A remote_write endpoint on 127.0.0.1 that answers `status` after `delay` seconds."""
    status, delay = behaviour
    hits = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            hits.append((dict(self.headers), body))
            time.sleep(delay)
            try:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
            except OSError:
                pass

        def log_message(self, *args):
            pass

    srv = Endpoint(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, hits


@pytest.mark.parametrize("case", ["down", "slow", "500", "400"])
def test_a_bad_endpoint_costs_the_function_nothing(vigil_host, case):  # noqa: F811
    srv, hits = None, []
    if case == "down":
        url = f"http://127.0.0.1:{free_port()}/api/v1/write"  # nothing listens
    else:
        srv, hits = endpoint({"slow": (204, 10), "500": (500, 0), "400": (400, 0)}[case])
        url = f"http://127.0.0.1:{srv.server_address[1]}/api/v1/write"
    h = vigil_host(remote_write_url=url, remote_write_timeout_ms=300, remote_write_retries=1,
                   flush="periodic,0.2")
    started = time.monotonic()
    for _ in range(6):
        assert h.invoke({"action": "sleep", "ms": 10})[0] == 200
    reports = h.wait_reports(6)
    # Durations as without a push endpoint: the push happens on vigil's own thread.
    for r in reports:
        assert float(r["Duration"].split()[0]) < 100, r
    assert time.monotonic() - started < 10
    exported(h, 5)

    def results():
        return {dict(k)["result"]: v for k, v in
                series_of(ext_metrics(h), "vigil_remote_write_requests_total").items()}
    want = "rejected" if case == "400" else "failed"
    wait_for(lambda: results().get(want), timeout=15, what=f"a push counted as {want}")
    results, text = results(), ext_metrics(h)
    if case == "400":
        assert results.get("rejected", 0) >= 1, results
        assert hits and hits[0][0]["Content-Encoding"] == "snappy"
        assert hits[0][0]["X-Prometheus-Remote-Write-Version"] == "0.1.0"
        assert hits[0][0]["Content-Type"] == "application/x-protobuf"
    else:
        assert results.get("failed", 0) + results.get("dropped", 0) >= 1, results
        assert results.get("retried", 0) >= 1, results
    assert not results.get("sent"), results
    assert sample(text, "vigil_remote_write_samples_total", result="dropped") > 0
    if srv:
        srv.shutdown()


def tls_files(d, kind="ec", name="localhost", san=None):
    """A test CA and a server certificate for `name` it signed (openssl), in directory d;
    san: its subjectAltName (DNS:name by default)."""
    d.mkdir(exist_ok=True)
    key = (["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"] if kind == "ec" else
           ["-newkey", "rsa:2048"])

    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)
    run("req", "-x509", *key, "-nodes", "-keyout", d / "ca.key", "-out", d / "ca.pem",
        "-days", "2", "-subj", f"/CN=vigil test CA {kind}")
    run("req", *key, "-nodes", "-keyout", d / "server.key", "-out", d / "server.csr",
        "-subj", f"/CN={name}")
    (d / "ext.cnf").write_text(f"subjectAltName={san or 'DNS:' + name}\n"
                               "basicConstraints=CA:FALSE\n"
                               "extendedKeyUsage=serverAuth\n")
    run("x509", "-req", "-in", d / "server.csr", "-CA", d / "ca.pem", "-CAkey", d / "ca.key",
        "-CAcreateserial", "-out", d / "server.pem", "-days", "2", "-extfile", d / "ext.cnf")
    return d / "server.pem", d / "server.key", d / "ca.pem"


def push_results(h):
    return {dict(k)["result"]: v for k, v in
            series_of(ext_metrics(h), "vigil_remote_write_requests_total").items()}


@pytest.mark.parametrize("kind", ["ec", "rsa"])
def test_https_push_to_prometheus(vigil_host, prometheus, tmp_path, kind):  # noqa: F811
    """Prometheus serving HTTPS (ECDSA or RSA certificate from a test CA); vigil resolves
    localhost, checks the chain and the name, and pushes."""
    cert, key, ca = tls_files(tmp_path / "pki", kind)
    base = prometheus([], extra_args=["--web.enable-remote-write-receiver"],
                      tls=(cert, key, ca))
    assert base.startswith("https://localhost:")
    h = vigil_host(remote_write_url=f"{base}/api/v1/write", remote_write_ca_file=ca,
                   flush="periodic,0.5")
    run_workload(h)
    exported(h, 3)
    want = series_of(ext_metrics(h), "vigil_invocations_total")

    def pushed():
        got = {frozenset((k, v) for k, v in r["metric"].items()
                         if k not in ("__name__", "job", "instance")): float(r["value"][1])
               for r in query(base, "vigil_invocations_total")}
        return got == want and got
    wait_for(pushed, timeout=20, what="vigil_invocations_total pushed over HTTPS")
    assert push_results(h).get("sent", 0) >= 1
    assert "warn remote_write" not in h.stdout()


@pytest.mark.parametrize("case", ["untrusted", "wrong-name", "skip-verify"])
def test_https_certificate_checks(vigil_host, prometheus, tmp_path, case):  # noqa: F811
    """A certificate from another CA, or for another name, is refused with a clear warning and
    nothing is sent; remote_write_tls_skip_verify takes it anyway."""
    cert, key, ca = tls_files(tmp_path / "pki", "ec")
    _, _, other_ca = tls_files(tmp_path / "other", "ec")
    base = prometheus([], extra_args=["--web.enable-remote-write-receiver"],
                      tls=(cert, key, ca))
    url = f"{base}/api/v1/write"
    env = {"remote_write_ca_file": other_ca if case != "wrong-name" else ca}
    if case == "wrong-name":  # the certificate names localhost only
        url = url.replace("https://localhost:", "https://127.0.0.1:")
    if case == "skip-verify":
        env["remote_write_tls_skip_verify"] = "true"
    h = vigil_host(remote_write_url=url, remote_write_retries=0, flush="periodic,0.2", **env)
    for _ in range(3):
        assert h.invoke({"action": "sleep", "ms": 5})[0] == 200
    h.wait_reports(3)
    want = "sent" if case == "skip-verify" else "failed"
    wait_for(lambda: push_results(h).get(want), timeout=15, what=f"a push {want}")
    out = h.stdout()
    if case == "skip-verify":
        assert "certificate is not checked" in out
        wait_for(lambda: query(base, "vigil_invocations_total"), timeout=20,
                 what="series pushed without verification")
    else:
        assert not push_results(h).get("sent")
        reason = {"untrusted": "not signed by a trusted CA",
                  "wrong-name": "certificate is for another name"}[case]
        assert reason in out, out[-3000:]
        assert out.count(reason) == 1  # said once, not at every push
        assert not query(base, "vigil_invocations_total")


@pytest.mark.parametrize("san", ["DNS:localhost,IP:127.0.0.1", "DNS:localhost,IP:127.0.0.2"])
def test_https_to_an_ip_address(vigil_host, prometheus, tmp_path, san):  # noqa: F811
    """A push to https://127.0.0.1: the address is checked against the certificate's iPAddress
    names (as curl does), not refused because it is no DNS name."""
    cert, key, ca = tls_files(tmp_path / "pki", "ec", san=san)
    base = prometheus([], extra_args=["--web.enable-remote-write-receiver"],
                      tls=(cert, key, ca))
    url = f"{base}/api/v1/write".replace("https://localhost:", "https://127.0.0.1:")
    h = vigil_host(remote_write_url=url, remote_write_ca_file=ca, remote_write_retries=0,
                   flush="periodic,0.2")
    for _ in range(3):
        assert h.invoke({"action": "sleep", "ms": 5})[0] == 200
    h.wait_reports(3)
    if san.endswith("127.0.0.1"):
        wait_for(lambda: push_results(h).get("sent"), timeout=15, what="a push over HTTPS")
        wait_for(lambda: query(base, "vigil_invocations_total"), timeout=20,
                 what="series pushed to the address")
        assert "certificate is for another name" not in h.stdout()
    else:
        wait_for(lambda: push_results(h).get("failed"), timeout=15, what="a refused push")
        assert not push_results(h).get("sent")
        assert "certificate is for another name" in h.stdout()


@pytest.mark.parametrize("case", ["credentials", "scheme", "ca-file"])
def test_a_wrong_push_setting_is_said_and_the_function_runs(vigil_host, case):  # noqa: F811
    env = {"credentials": {"remote_write_url": "https://user:s3cret@push.example/api/v1/write"},
           "scheme": {"remote_write_url": "ftp://push.example/api/v1/write"},
           "ca-file": {"remote_write_url": "https://push.example/api/v1/write",
                       "remote_write_ca_file": "/nonexistent/ca.pem"}}[case]
    h = vigil_host(flush="periodic,0.2", **env)
    assert h.invoke({"x": 1})[0] == 200
    h.wait_reports(1)
    said = {"credentials": "credentials (user:password@) go in their own settings",
            "scheme": "is not http[s]://HOST[:PORT]/PATH",
            "ca-file": "CA file /nonexistent/ca.pem: No such file or directory"}[case]
    out = wait_for(lambda: said in h.stdout() and h.stdout(), timeout=10, what=said)
    assert "no remote_write push" in out
    assert "s3cret" not in out
    assert h.invoke({"x": 2})[0] == 200


def test_pushes_are_paced_by_the_interval(vigil_host):  # noqa: F811
    """Exports every 0.1 s for ~3 s, remote_write_interval_ms=1000: about one push a second
    (the equality of what arrives with /metrics is checked above)."""
    srv, hits = endpoint((204, 0))
    url = f"http://127.0.0.1:{srv.server_address[1]}/api/v1/write"
    h = vigil_host(remote_write_url=url, remote_write_interval_ms=1000, flush="periodic,0.1")
    started = time.monotonic()
    n = 0
    while time.monotonic() - started < 3:
        assert h.invoke({"action": "sleep", "ms": 5})[0] == 200
        n += 1
        time.sleep(0.05)
    h.wait_reports(n)
    exported(h, n)
    wait_for(lambda: sample(ext_metrics(h), "vigil_remote_write_requests_total",
                            result="sent") >= 3, timeout=10, what="three pushes")
    time.sleep(1.5)  # one more interval: the last export's push
    pushes = len(hits)
    assert 3 <= pushes <= 6, pushes  # ~3.5 s of exports at one push a second
    srv.shutdown()

"""The Prometheus endpoint against the real peers: promtool and a Prometheus server."""
import json
import os
import re
import ssl
import subprocess
import urllib.parse
import urllib.request

import pytest

from conftest import ROOT, free_port, wait_for

OPENMETRICS = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"


def promtool_check(text):
    p = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=30)
    return p.returncode, p.stdout + p.stderr


def test_promtool_is_clean(start_vigil):
    v = start_vigil()
    v.get()  # a scrape first, so the scrape histogram and response counter have samples
    status, headers, body = v.get()
    assert status == 200
    assert headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    rc, out = promtool_check(body)
    assert rc == 0, out  # 3 would be lint warnings: not good enough
    assert out.strip() == ""


def test_openmetrics_when_asked(start_vigil):
    v = start_vigil()
    status, headers, body = v.get(headers={"Accept": OPENMETRICS})
    assert status == 200
    assert headers["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
    assert body.endswith("# EOF\n")
    assert "# TYPE vigil_build info\n" in body
    assert "# TYPE vigil_agent_cpu_seconds counter\n" in body
    assert "# UNIT vigil_agent_uptime_seconds seconds\n" in body
    assert re.search(r'^vigil_agent_cpu_seconds_total\{mode="user"\} [0-9.e+-]+$', body, re.M)


def test_self_metrics_are_true(start_vigil):
    v = start_vigil()
    _, _, body = v.get()
    values = dict(re.findall(r"^(vigil_agent_\w+) (\S+)$", body, re.M))
    with open(f"/proc/{v.proc.pid}/status") as f:
        status = f.read()
    rss = int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) * 1024
    threads = int(re.search(r"Threads:\s+(\d+)", status).group(1))
    assert abs(float(values["vigil_agent_resident_memory_bytes"]) - rss) < 2 * 1024 * 1024
    assert int(float(values["vigil_agent_threads"])) == threads
    fds = len(os.listdir(f"/proc/{v.proc.pid}/fd"))
    assert abs(int(float(values["vigil_agent_open_fds"])) - fds) <= 2  # the scrape's socket
    assert 0 <= float(values["vigil_agent_uptime_seconds"]) < 60
    assert 'vigil_build_info{version="0.1.0",' in body


def test_every_metric_is_documented(start_vigil):
    v = start_vigil()
    v.get()
    _, _, body = v.get()
    with open(os.path.join(ROOT, "docs", "metrics.md")) as f:
        doc = f.read()
    families = set(re.findall(r"^# TYPE (\S+) ", body, re.M))
    assert families
    for name in families:
        assert f"`{name}`" in doc, f"{name} is missing from docs/metrics.md"


@pytest.fixture
def prometheus(tmp_path):
    """Start Debian's Prometheus on a free 127.0.0.1 port; yield a function to add targets."""
    procs = []

    def start(targets, scrape_interval="1s", extra_args=(), tls=None):
        """tls: (cert, key, ca) files: Prometheus serves HTTPS (its web config)."""
        port = free_port()
        conf = tmp_path / "prometheus.yml"
        conf.write_text(
            "global:\n  scrape_interval: %s\n  evaluation_interval: %s\n"
            "scrape_configs:\n  - job_name: vigil\n    static_configs:\n"
            "      - targets: [%s]\n" % (scrape_interval, scrape_interval,
                                        ", ".join(f"'{t}'" for t in targets)))
        log = open(tmp_path / "prometheus.log", "w")
        args, base, ctx = list(extra_args), f"http://127.0.0.1:{port}", None
        if tls:
            web = tmp_path / "web.yml"
            web.write_text("tls_server_config:\n  cert_file: %s\n  key_file: %s\n" % tls[:2])
            args.append(f"--web.config.file={web}")
            base = f"https://localhost:{port}"
            ctx = ssl.create_default_context(cafile=str(tls[2]))
        p = subprocess.Popen(
            ["prometheus", f"--config.file={conf}", f"--storage.tsdb.path={tmp_path}/tsdb",
             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn", *args],
            stdout=log, stderr=subprocess.STDOUT)
        procs.append(p)
        if ctx:
            CONTEXTS[base] = ctx
        wait_for(lambda: urllib.request.urlopen(base + "/-/ready", timeout=2,
                                                context=ctx).status == 200,
                 timeout=30, what="prometheus ready")
        return base

    yield start
    for p in procs:
        p.terminate()
        p.wait(timeout=30)


CONTEXTS = {}  # base URL → the SSL context that trusts its test CA


def query(base, promql):
    url = base + "/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(url, timeout=5, context=CONTEXTS.get(base)) as r:
        doc = json.load(r)
    assert doc["status"] == "success"
    return doc["data"]["result"]


def test_real_prometheus_scrapes_vigil(start_vigil, prometheus):
    v = start_vigil()
    base = prometheus([f"127.0.0.1:{v.port}"])
    res = wait_for(lambda: query(base, 'vigil_build_info{job="vigil"}'), timeout=60,
                   what="vigil_build_info in Prometheus")
    assert res[0]["metric"]["version"] == "0.1.0"
    assert res[0]["value"][1] == "1"
    up = query(base, 'up{job="vigil"}')
    assert up and up[0]["value"][1] == "1"
    rss = wait_for(lambda: query(base, "vigil_agent_resident_memory_bytes"), timeout=30,
                   what="rss series")
    assert float(rss[0]["value"][1]) > 1e6
    # Prometheus asks for OpenMetrics; vigil must have served it that way.
    om = wait_for(lambda: query(base, 'vigil_exporter_scrapes_total{format="openmetrics"} > 0'),
                  timeout=30, what="openmetrics scrapes")
    assert float(om[0]["value"][1]) >= 1
    hist = wait_for(lambda: query(
        base, "histogram_quantile(0.99, vigil_exporter_scrape_duration_seconds_bucket)"),
        timeout=30, what="scrape histogram")
    assert float(hist[0]["value"][1]) < 1.0
    with urllib.request.urlopen(base + "/api/v1/targets", timeout=5) as r:
        targets = json.load(r)["data"]["activeTargets"]
    assert targets[0]["health"] == "up" and targets[0]["lastError"] == ""

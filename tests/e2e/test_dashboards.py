"""dashboards/: generated and current, type-checked against Grafana's own schema types
(@grafana/schema with tsc --strict), every panel titled, described and with a unit, every
metric they name documented — and every PromQL expression of every Prometheus panel returns
data from a real Prometheus scraping vigil host and its vigil extension through a workload
of cold starts, errors, a timeout and an OOM."""
import glob
import json
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from conftest import ROOT, TEST_RUNTIME, free_port, wait_for
from test_prometheus import prometheus  # noqa: F401 (a fixture)

DASHBOARDS = os.path.join(ROOT, "dashboards")
TSC = os.path.join(ROOT, "build", "grafana", "node_modules", ".bin", "tsc")


def boards():
    out = {}
    for path in sorted(glob.glob(os.path.join(DASHBOARDS, "*.json"))):
        with open(path) as f:
            out[os.path.basename(path)] = json.load(f)
    return out


def prom_exprs(board):
    return [(p["title"], t["expr"]) for p in board["panels"] for t in p["targets"]
            if "expr" in t]


def test_the_five_dashboards_are_generated_and_current():
    assert set(boards()) == {"vigil-overview.json", "vigil-function.json",
                             "vigil-cold-starts.json", "vigil-agent.json",
                             "vigil-overview-cloudwatch.json"}
    r = subprocess.run(["python3", os.path.join(DASHBOARDS, "gen.py"), "--check"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_dashboards_type_check_against_grafana_schema():
    assert os.path.exists(TSC), f"{TSC} is missing: `make e2e` installs it"
    work = os.path.join(ROOT, "build", "grafana", "check")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    files = []
    for name, board in boards().items():
        board = dict(board)
        board.pop("__inputs")  # import metadata, not part of the dashboard model
        path = os.path.join(work, name.replace(".json", ".ts").replace("-", "_"))
        with open(path, "w") as f:
            f.write("import type { Dashboard } from '@grafana/schema';\n\n"
                    f"export const dashboard: Dashboard = {json.dumps(board, indent=2)};\n")
        files.append(path)
    r = subprocess.run([TSC, "--noEmit", "--strict", "--target", "es2020", "--moduleResolution",
                        "node", *files], capture_output=True, text=True, cwd=work)
    assert r.returncode == 0, r.stdout + r.stderr


def test_every_panel_has_a_title_a_description_a_unit_and_a_templated_datasource():
    for name, board in boards().items():
        ds = [v["name"] for v in board["templating"]["list"] if v["type"] == "datasource"]
        assert ds in (["DS_PROMETHEUS"], ["DS_CLOUDWATCH"]), name
        assert [i["name"] for i in board["__inputs"]] == ds
        for p in board["panels"]:
            assert p["title"] and p["description"], (name, p)
            assert p["fieldConfig"]["defaults"]["unit"], (name, p["title"])
            assert p["datasource"]["uid"] == "${%s}" % ds[0], (name, p["title"])
            assert p["targets"], (name, p["title"])


def test_every_metric_a_dashboard_names_is_documented():
    with open(os.path.join(ROOT, "docs", "metrics.md")) as f:
        doc = f.read()
    for name, board in boards().items():
        for title, expr in prom_exprs(board):
            for metric in re.findall(r"\b(vigil_\w+)", expr):
                base = re.sub(r"_(bucket|sum|count)$", "", metric)
                assert f"`{metric}`" in doc or f"`{base}`" in doc, \
                    f"{name} / {title}: {metric} is not in docs/metrics.md"


def fill(expr, function, version):
    """The variables as Grafana fills them: regex-escaped values (in a PromQL string, whose
    own escapes double the backslashes), and a rate interval."""
    def value(v):
        return re.escape(v).replace("\\", "\\\\")
    return (expr.replace("$__rate_interval", "30s").replace("$function", value(function))
            .replace("$version", value(version)))


def instant(base, expr):
    url = base + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            doc = json.load(r)
    except urllib.error.HTTPError as e:
        raise AssertionError(f"{expr}: {e.read().decode()}") from None
    assert doc["status"] == "success", doc
    return doc["data"]["result"]


@pytest.fixture
def workload(start_host, prometheus, tmp_path):  # noqa: F811
    """vigil host (probes on) with vigil as its extension, both scraped by a real Prometheus
    that is also the extension's remote_write receiver; then cold starts, errors, a timeout
    and an OOM."""
    ext = tmp_path / "extensions"
    ext.mkdir()
    (ext / "vigil").symlink_to(os.environ.get("VIGIL", os.path.join(ROOT, "build", "vigil")))
    host_metrics, ext_metrics, prom_port = free_port(), free_port(), free_port()
    base = prometheus([f"127.0.0.1:{host_metrics}", f"127.0.0.1:{ext_metrics}"],
                      extra_args=["--web.enable-remote-write-receiver"])
    h = start_host("--function-name", "fn", "--memory", "128", "--timeout", "1",
                   "--idle-timeout", "0", "--extensions", str(ext),
                   "--env", "VIGIL_TELEMETRY_LISTEN=127.0.0.1:0",
                   "--env", f"VIGIL_METRICS_LISTEN=127.0.0.1:{ext_metrics}",
                   "--env", f"VIGIL_REMOTE_WRITE_URL={base}/api/v1/write",
                   "--env", f"VIGIL_LOG_DIR={tmp_path}/ext-logs",
                   "--", TEST_RUNTIME,
                   VIGIL_METRICS_LISTEN=f"127.0.0.1:{host_metrics}",
                   VIGIL_LOG_DIR=str(tmp_path / "host-logs"))
    steady = [{"action": "print", "text": '{"level":"INFO","message":"hello"}'},
              {"action": "sleep", "ms": 30}, {"action": "error"}, {"x": 1}]

    def traffic(seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for e in steady:
                h.invoke(e)
            time.sleep(0.05)
    traffic(8)
    h.invoke({"action": "sleep", "ms": 1500})   # a timeout: the environment starts again
    traffic(4)
    h.invoke({"action": "alloc", "mb": 300})    # out of memory at 128 MB: and again
    traffic(8)
    time.sleep(3)        # a few more scrapes
    emf = tmp_path / "emf.log"
    emf.write_text(h.stdout())
    return base, str(emf)


def test_every_promql_of_every_dashboard_returns_data_and_draws(workload, tmp_path):
    base, emf = workload
    wait_for(lambda: instant(base, 'vigil_timeouts_total{function="fn"}'), timeout=20,
             what="the timeout in Prometheus")
    empty = []
    for name, board in boards().items():
        for title, expr in prom_exprs(board):
            if not instant(base, fill(expr, "fn", "$LATEST")):
                empty.append(f"{name} / {title}: {expr}")
    assert not empty, "queries without data:\n" + "\n".join(empty)
    # The pictures: every panel drawn from these answers, photographed by headless Chromium.
    # DASHBOARD_PNG_DIR (make dashboard-pngs) keeps them, for the README.
    out = os.environ.get("DASHBOARD_PNG_DIR") or str(tmp_path / "png")
    r = subprocess.run(["python3", os.path.join(DASHBOARDS, "render.py"), "--prometheus", base,
                        "--out", out, "--emf", emf, "--function", "fn"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    for name in boards():
        png = os.path.join(out, name.replace(".json", ".png"))
        with open(png, "rb") as f:
            data = f.read()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20000, (png, len(data))

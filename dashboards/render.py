#!/usr/bin/env python3
"""Pictures of the dashboards from real query results, for the README: each Prometheus panel's
queries asked of a Prometheus (query_range over the last minutes), each panel drawn as an SVG
chart in one HTML page per dashboard, the page photographed by headless Chromium. The
CloudWatch dashboard is drawn from the EMF documents vigil printed (the numbers CloudWatch
would aggregate), since no CloudWatch is reachable here.

    render.py --prometheus http://127.0.0.1:9090 --out DIR [--emf FILE] [--function NAME]
"""
import argparse
import html
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
COLORS = ["#73bf69", "#f2cc0c", "#8ab8ff", "#ff780a", "#f2495c", "#5794f2", "#b877d9",
          "#96d98d"]
UNIT_SCALE = {"s": ("s", 1), "ms": ("ms", 1), "bytes": ("B", 1), "Bps": ("B/s", 1),
              "percentunit": ("%", 100), "percent": ("%", 1), "reqps": ("req/s", 1),
              "currencyUSD": ("$", 1), "decmbytes": ("MB", 1), "short": ("", 1)}


def fill(expr, function, version):
    def value(v):
        return re.escape(v).replace("\\", "\\\\")
    return (expr.replace("$__rate_interval", "30s").replace("$function", value(function))
            .replace("$version", value(version)))


def query_range(base, expr, start, end, step):
    url = base + "/api/v1/query_range?" + urllib.parse.urlencode(
        {"query": expr, "start": start, "end": end, "step": step})
    with urllib.request.urlopen(url, timeout=20) as r:
        return json.load(r)["data"]["result"]


def legend(fmt, labels):
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), fmt).strip()


def svg_chart(series, unit, w=560, h=200):
    """series: [(name, [(t, v), ...])] → an SVG line chart with a y axis and a legend."""
    suffix, scale = UNIT_SCALE.get(unit, ("", 1))
    pts = [(t, v * scale) for _, s in series for t, v in s]
    if not pts:
        return f'<svg width="{w}" height="{h}"><text x="10" y="20" fill="#888">no data</text></svg>'
    t0, t1 = min(p[0] for p in pts), max(p[0] for p in pts)
    v1 = max(max(p[1] for p in pts), 1e-12)
    v0 = min(0.0, min(p[1] for p in pts))
    left, top, pw, ph = 60, 10, w - 70, h - 60
    out = [f'<svg width="{w}" height="{h}" xmlns="http://www.w3.org/2000/svg">']
    for i in range(5):
        y = top + ph - ph * i / 4
        val = v0 + (v1 - v0) * i / 4
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" '
                   f'stroke="#333" stroke-width="1"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" fill="#aaa" font-size="10" '
                   f'text-anchor="end">{val:.3g}{suffix}</text>')
    for i, (name, s) in enumerate(series[:8]):
        color = COLORS[i % len(COLORS)]
        coords = " ".join(
            f"{left + pw * (t - t0) / max(t1 - t0, 1e-9):.1f},"
            f"{top + ph - ph * (v * scale - v0) / (v1 - v0):.1f}" for t, v in s)
        out.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" '
                   f'points="{coords}"/>')
        out.append(f'<rect x="{left + (i % 3) * 170}" y="{h - 38 + (i // 3) * 14}" '
                   f'width="10" height="3" fill="{color}"/>')
        out.append(f'<text x="{left + 14 + (i % 3) * 170}" y="{h - 34 + (i // 3) * 14}" '
                   f'fill="#ccc" font-size="10">{html.escape(name[:28])}</text>')
    out.append("</svg>")
    return "".join(out)


def page(board, charts):
    cells = []
    for p, chart in zip(board["panels"], charts):
        g = p["gridPos"]
        cells.append(
            f'<div class="p" style="grid-column:{g["x"] + 1}/span {g["w"]};'
            f'grid-row:{g["y"] // 8 + 1}"><h3>{html.escape(p["title"])}</h3>{chart}</div>')
    return ("<!doctype html><meta charset=utf-8><style>body{background:#111217;color:#ccc;"
            "font-family:DejaVu Sans,sans-serif;margin:12px}h1{font-size:18px}"
            ".g{display:grid;grid-template-columns:repeat(24,1fr);gap:8px}"
            ".p{background:#181b1f;border:1px solid #2c3235;padding:6px;overflow:hidden}"
            "h3{font-size:12px;margin:0 0 4px}svg{width:100%;height:auto}</style>"
            f"<h1>{html.escape(board['title'])}</h1><div class=g>{''.join(cells)}</div>")


def emf_series(emf_file, metric, stat):
    """Per-10-s buckets of an EMF metric from the EMF lines: Sum, Maximum or a percentile."""
    buckets = {}
    with open(emf_file) as f:
        for line in f:
            if not line.startswith('{"_aws"'):
                continue
            d = json.loads(line)
            t = d["_aws"]["Timestamp"] / 1000.0
            v = d.get(metric)
            if v is None:
                continue
            for x in (v if isinstance(v, list) else [v]):
                buckets.setdefault(int(t // 10) * 10, []).append(float(x))
    out = []
    for t in sorted(buckets):
        vals = sorted(buckets[t])
        if stat == "Sum":
            out.append((t, sum(vals)))
        elif stat == "Maximum":
            out.append((t, vals[-1]))
        else:
            q = float(stat[1:]) / 100
            out.append((t, vals[min(len(vals) - 1, int(q * len(vals)))]))
    return out


def screenshot(html_path, png_path, height):
    chrome = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([chrome, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                        "--no-first-run", "--disable-background-networking",
                        "--disable-component-update", "--disable-sync",
                        f"--user-data-dir={profile}", "--hide-scrollbars",
                        f"--window-size=1400,{height}", f"--screenshot={png_path}",
                        "file://" + html_path], check=True, capture_output=True, timeout=120)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--prometheus", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--emf")
    ap.add_argument("--function", default="fn")
    ap.add_argument("--version", default="$LATEST")
    ap.add_argument("--minutes", type=float, default=0.6)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    end = time.time()
    start = end - a.minutes * 60
    for path in sorted(os.listdir(HERE)):
        if not path.endswith(".json"):
            continue
        with open(os.path.join(HERE, path)) as f:
            board = json.load(f)
        charts = []
        for p in board["panels"]:
            unit = p["fieldConfig"]["defaults"]["unit"]
            series = []
            for t in p["targets"]:
                if "expr" in t:
                    for r in query_range(a.prometheus, fill(t["expr"], a.function, a.version),
                                         start, end, 1):
                        vals = [(float(x), float(v)) for x, v in r["values"]
                                if v not in ("NaN", "+Inf", "-Inf")]
                        series.append((legend(t["legendFormat"], r["metric"]) or "value",
                                       vals))
                elif a.emf:
                    series.append((t["label"], emf_series(a.emf, t["metricName"],
                                                          t["statistic"])))
            charts.append(svg_chart(series, unit))
        html_path = os.path.join(a.out, path.replace(".json", ".html"))
        with open(html_path, "w") as f:
            f.write(page(board, charts))
        rows = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in board["panels"]) // 8
        screenshot(os.path.abspath(html_path), os.path.join(a.out, path.replace(".json", ".png")),
                   80 + rows * 300)
    return 0


if __name__ == "__main__":
    sys.exit(main())

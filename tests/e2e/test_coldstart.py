"""The cold-start recorder (vigil-preload.so, preloaded into the runtime under vigil host) and
`vigil coldstart`: where a cold start's time went, by package or module, with the Python
runtime of the tests' own and AWS's Node.js runtime interface client."""
import json
import os
import shutil
import sys

import pytest

from conftest import ROOT, VIGIL, run_vigil
from test_ric import RIC

HERE = os.path.dirname(os.path.abspath(__file__))
PRELOAD = os.path.join(os.path.dirname(VIGIL), "vigil-preload.so")
PY_RUNTIME = [sys.executable, os.path.join(HERE, "runtimes", "py_runtime.py")]
EMF_LIB = os.path.join(ROOT, "build", "emf", "node_modules")


def report(record):
    rc, out, err = run_vigil(["coldstart", "--json", str(record)])
    assert rc == 0, err
    return json.loads(out)


def recorded(start_host, tmp_path, *args, cwd=None, **env):
    record = tmp_path / "coldstart.jsonl"
    h = start_host("--env", f"LD_PRELOAD={PRELOAD}", "--env", f"VIGIL_COLDSTART_FILE={record}",
                   *args, cwd=cwd, VIGIL_LOG_DIR=str(tmp_path / "logs"), **env)
    return h, record


def python_packages(tmp_path):
    pkgs = tmp_path / "pkgs"
    (pkgs / "slowpkg").mkdir(parents=True)
    (pkgs / "slowpkg" / "__init__.py").write_text("import time\ntime.sleep(0.3)\n")
    (pkgs / "fastpkg").mkdir()
    (pkgs / "fastpkg" / "__init__.py").write_text("from . import helper\n")
    (pkgs / "fastpkg" / "helper.py").write_text("X = 1\n")
    (pkgs / "forker.py").write_text("import subprocess\nsubprocess.run(['/bin/true'])\n")
    (pkgs / "hangpkg").mkdir()
    (pkgs / "hangpkg" / "__init__.py").write_text("import time\ntime.sleep(3600)\n")
    return pkgs


def test_python_slow_package_named_first(start_host, tmp_path):
    pkgs = python_packages(tmp_path)
    h, record = recorded(start_host, tmp_path, "--env", f"PYTHONPATH={pkgs}", "--",
                         *PY_RUNTIME, TEST_IMPORTS="json,fastpkg,slowpkg,email.parser")
    status, _, _ = h.invoke({})
    assert status == 200
    r = report(record)
    assert r["complete"] and not r.get("partial"), r
    top = r["groups"][0]
    assert top["name"] == "slowpkg" and top["kind"] == "python", r["groups"][:3]
    assert 270 <= top["ms"] <= 330, top           # its import sleeps 300 ms
    names = {g["name"] for g in r["groups"]}
    assert {"fastpkg", "json", "email"} <= names, names
    fast = next(g for g in r["groups"] if g["name"] == "fastpkg")
    assert fast["files"] >= 2 and fast["ms"] < 50, fast
    # the whole: the runtime's start to its first /next, inside the host's Init Duration
    init = float(h.wait_reports(1)[0]["Init Duration"].split()[0])
    assert 300 <= r["total_ms"] <= init, (r["total_ms"], init)
    text = run_vigil(["coldstart", str(record)])[1]
    lines = text.splitlines()
    assert "slowpkg" in lines[lines.index(next(x for x in lines if x.startswith("where"))) + 1]
    assert "ms on CPU" in text, text


@pytest.mark.parametrize("how", ["preload", "probes"])
def test_node_slow_module_among_real_packages(start_host, tmp_path, how):
    """AWS's Node.js runtime interface client requiring real npm packages and a slow module:
    named first within 10 % by either recorder, the phases adding up to the Init Duration."""
    fn = tmp_path / "fn"
    (fn / "node_modules" / "slowmod").mkdir(parents=True)
    (fn / "node_modules" / "slowmod" / "index.js").write_text(
        "Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300);\n"
        "module.exports = {};\n")
    (fn / "node_modules" / "aws-embedded-metrics").symlink_to(
        os.path.join(EMF_LIB, "aws-embedded-metrics"))
    (fn / "index.js").write_text("require('aws-embedded-metrics');\nrequire('slowmod');\n"
                                 "exports.handler = async () => ({ ok: true });\n")
    h = start_host("--handler", "index.handler", "--", RIC, "index.handler", cwd=str(fn),
                   VIGIL_COLDSTART=how, VIGIL_LOG_DIR=str(tmp_path / "logs"),
                   **no_probes_for(how))
    status, _, body = h.invoke({})
    assert status == 200 and body == {"ok": True}, body
    init = float(h.wait_reports(1)[0]["Init Duration"].split()[0])
    h.stop()
    r = kept(tmp_path)
    assert r["complete"] and r["source"] == how, r
    top = r["groups"][0]
    assert top["name"] == "slowmod" and top["kind"] == "node", r["groups"][:3]
    assert within(top["ms"], 300, 0.1), top
    names = {g["name"] for g in r["groups"] if g["kind"] == "node"}
    assert {"aws-embedded-metrics", "aws-lambda-ric"} <= names, names
    assert within(r["init_ms"], init, 0.01) and within(r["phases_ms"], r["init_ms"], 0.05), r
    assert r["exe"].endswith("node") or "node" in r["exe"], r["exe"]


def test_off_after_init_and_forks_during_it(start_host, tmp_path):
    pkgs = python_packages(tmp_path)
    h, record = recorded(start_host, tmp_path, "--env", f"PYTHONPATH={pkgs}", "--",
                         *PY_RUNTIME, TEST_IMPORTS="forker")
    assert h.invoke({})[0] == 200
    before = record.read_bytes()
    for _ in range(5):
        assert h.invoke({})[0] == 200
    assert record.read_bytes() == before, "nothing recorded after the first /next"
    r = report(record)
    # (Python's subprocess forks by vfork: the child is seen when it starts /bin/true)
    assert r["complete"] and r["processes"] >= 2, r
    assert r["groups"][0]["name"] != "runtime start", r["groups"][:3]


@pytest.mark.parametrize("how", ["preload", "probes"])
def test_init_timeout_gives_a_partial_report(start_host, tmp_path, how):
    """A runtime that never reaches /next: killed at the init timeout (10 s), its record kept
    (the preload library's is in the page cache, not in a buffer the kill loses); the report
    says what is missing and names the package it hung in."""
    pkgs = python_packages(tmp_path)
    h = start_host("--timeout", "1", "--env", f"PYTHONPATH={pkgs}", "--", *PY_RUNTIME,
                   TEST_IMPORTS="json,fastpkg,hangpkg",
                   VIGIL_COLDSTART=how, VIGIL_LOG_DIR=str(tmp_path / "logs"))
    h.invoke({}, timeout=30)   # (fails: the init, then its retry inside the invoke, time out)
    h.stop()
    rc, out, err = run_vigil(["coldstart", "--dir", str(tmp_path / "logs"), "--list"])
    assert rc == 0 and out.count("(partial)") == 2, out   # the init, and its retry
    first = out.splitlines()[1].split()[0]
    r = kept(tmp_path, "--id", first)
    assert not r["complete"] and r["init_status"] == "timeout", r
    assert "timeout" in r["partial"], r["partial"]
    assert within(r["init_ms"], 10000, 0.01), r["init_ms"]
    top = r["groups"][0]
    assert top["name"] == "hangpkg" and top["ms"] > 9000, r["groups"][:3]
    assert any(g["name"] == "fastpkg" for g in r["groups"]), r["groups"]
    phases = {p["part"]: p for p in r["phases"]}
    assert phases["runtime"]["name"] == "runtime (no /next)", r["phases"]


def test_partial_and_damaged_records(tmp_path):
    lines = [json.dumps({"t": 1000000000 + i * 1000000, "pid": 7, "tid": 7, "ev": ev, **extra})
             for i, (ev, extra) in enumerate([
                 ("start", {"exe": "/usr/bin/python3", "ppid": 1, "root": "/var/task"}),
                 ("open", {"path": "/var/task/app.py", "fd": 3, "ns": 1000}),
                 ("open", {"path": "/var/task/lib/big/__init__.py", "fd": 4, "ns": 1000}),
                 ("connect", {"addr": "10.0.0.1:443", "fd": 5, "ns": 2000000,
                              "error": "Connection refused"}),
                 ("end", {"why": "next"})])]
    whole = tmp_path / "whole.jsonl"
    whole.write_text("\n".join(lines) + "\n")
    r = report(whole)
    assert r["complete"] and r["network"][0]["failed"] and r["network"][0]["ms"] == 2.0, r
    # the init never reached /next (a timeout): what there is, and what is missing
    cut = tmp_path / "cut.jsonl"
    cut.write_text("\n".join(lines[:4]) + "\n" + lines[4][:20])
    r = report(cut)
    assert not r["complete"] and r["damaged"] == 1 and "never reached" in r["partial"], r
    assert any(g["kind"] == "function" for g in r["groups"]), r["groups"]
    empty = tmp_path / "empty.jsonl"
    empty.write_text("not json\n")
    rc, out, err = run_vigil(["coldstart", str(empty)])
    assert rc == 1 and "no records" in err
    rc, _, err = run_vigil(["coldstart", str(tmp_path / "absent")])
    assert rc == 1 and "No such file" in err
    (tmp_path / "nologs").mkdir()
    rc, _, err = run_vigil(["coldstart", "--dir", str(tmp_path / "nologs")])
    assert rc == 1 and "no cold start is kept" in err, err
    rc, _, err = run_vigil(["coldstart", "--id", "x", str(whole)])
    assert rc == 2 and "--id reads the segments" in err, err


def test_html_page_in_headless_chromium(start_host, tmp_path):
    """One self-contained page: no script, font or network; a waterfall row for the init and
    for each top package, checked in the DOM Chromium builds; a screenshot drawn."""
    import re
    import subprocess
    import tempfile
    pkgs = python_packages(tmp_path)
    ext = tmp_path / "extensions"
    ext.mkdir()
    (ext / "slowext").write_text(SLOW_EXTENSION.replace("PYTHON", sys.executable))
    (ext / "slowext").chmod(0o755)
    h = start_host("--extensions", str(ext), "--env", f"PYTHONPATH={pkgs}", "--", *PY_RUNTIME,
                   TEST_IMPORTS="json,fastpkg,slowpkg,email.parser", VIGIL_COLDSTART="preload",
                   VIGIL_LOG_DIR=str(tmp_path / "logs"))
    assert h.invoke({})[0] == 200
    h.stop()
    page = tmp_path / "coldstart.html"
    rc, out, err = run_vigil(["coldstart", "--dir", str(tmp_path / "logs"), "--html", str(page),
                              "--top", "8"])
    assert rc == 0, err
    html = page.read_text()
    assert "<script" not in html and "http://" not in html.replace(
        'xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in html
    chrome = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    with tempfile.TemporaryDirectory() as profile:
        common = [chrome, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0"]
        dom = subprocess.run(common + ["--dump-dom", f"file://{page}"], capture_output=True,
                             text=True, timeout=120)
        shot = tmp_path / "coldstart.png"
        pic = subprocess.run(common + ["--hide-scrollbars", "--window-size=1100,700",
                                       f"--screenshot={shot}", f"file://{page}"],
                             capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0 and pic.returncode == 0, dom.stderr[-2000:]
    for log in (dom.stderr, pic.stderr):
        assert not re.search(r"CONSOLE|Uncaught|Failed to load resource", log), log[-2000:]
    rows = re.findall(r'<g class="row (phase|package)" data-name="([^"]*)"', dom.stdout)
    phases = [n for k, n in rows if k == "phase"]
    packages = [n for k, n in rows if k == "package"]
    assert phases == ["init (Init Duration)", "sandbox", "extension slowext", "runtime",
                      "first invocation"], rows
    assert len(packages) == 8 and packages[0] == "slowpkg", rows
    assert rows.index(("package", "slowpkg")) == len(phases), rows   # phases, then packages
    assert dom.stdout.count('class="registered"') == 1   # the extension's registration
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20000


def test_diff_names_the_module_made_slower(start_host, tmp_path):
    pkgs = python_packages(tmp_path)
    (pkgs / "mid").mkdir()
    records = []
    for ms in (20, 220):
        # (a source of the same size within the same second would keep the cached .pyc)
        shutil.rmtree(pkgs / "mid" / "__pycache__", ignore_errors=True)
        (pkgs / "mid" / "__init__.py").write_text(f"import time\ntime.sleep({ms / 1000})\n")
        d = tmp_path / f"run{ms}"
        d.mkdir()
        h, record = recorded(start_host, d, "--env", f"PYTHONPATH={pkgs}", "--", *PY_RUNTIME,
                             TEST_IMPORTS="json,fastpkg,mid")
        assert h.invoke({})[0] == 200
        h.stop()
        records.append(record)
    rc, out, err = run_vigil(["coldstart", "diff", "--json", *map(str, records)])
    assert rc == 0, err
    d = json.loads(out)
    first = d["changes"][0]
    assert first["name"] == "mid" and first["change"] == "grew", d["changes"][:3]
    assert 170 <= first["delta_ms"] <= 230, first
    assert 170 <= d["delta_ms"] <= 260, d
    rc, out, _ = run_vigil(["coldstart", "diff", *map(str, records)])
    assert rc == 0 and out.splitlines()[1].split()[:2] == ["grew", "mid"], out
    rc, _, err = run_vigil(["coldstart", "diff", str(records[0])])
    assert rc == 2 and "two records" in err


# An extension that takes 200 ms before it registers and 100 ms more before its first /next.
SLOW_EXTENSION = """#!PYTHON
import http.client, os, time
time.sleep(0.2)
c = http.client.HTTPConnection(*os.environ["AWS_LAMBDA_RUNTIME_API"].rsplit(":", 1))
c.request("POST", "/2020-01-01/extension/register", body='{"events":["SHUTDOWN"]}',
          headers={"Lambda-Extension-Name": "slowext"})
r = c.getresponse()
ident = r.getheader("Lambda-Extension-Identifier")
r.read()
time.sleep(0.1)
while True:
    c.request("GET", "/2020-01-01/extension/event/next",
              headers={"Lambda-Extension-Identifier": ident})
    r = c.getresponse()
    if b"SHUTDOWN" in r.read():
        break
"""


def kept(tmp_path, *args):
    """`vigil coldstart --json` on the cold starts kept in the log segments."""
    rc, out, err = run_vigil(["coldstart", "--dir", str(tmp_path / "logs"), "--json", *args])
    assert rc == 0, err
    return json.loads(out)


def no_probes_for(how):
    """The preload library's figures are its own: the probes are off beside it."""
    return {"VIGIL_PROBES_ENABLED": "false"} if how == "preload" else {}


def within(a, b, share):
    return abs(a - b) <= share * b


@pytest.mark.parametrize("how", ["preload", "probes"])
def test_host_keeps_cold_starts_in_the_segments(start_host, tmp_path, how):
    """coldstart=preload (vigil host preloads the library itself) and coldstart=probes (the
    eBPF probes, nothing in the runtime): each init's timeline with its phases kept in the log
    segments; the slow package first, within 10 %; the phases add up to the Init Duration."""
    pkgs = python_packages(tmp_path)
    ext = tmp_path / "extensions"
    ext.mkdir()
    (ext / "slowext").write_text(SLOW_EXTENSION.replace("PYTHON", sys.executable))
    (ext / "slowext").chmod(0o755)
    h = start_host("--extensions", str(ext), "--env", f"PYTHONPATH={pkgs}", "--",
                   *PY_RUNTIME, TEST_IMPORTS="json,fastpkg,slowpkg",
                   VIGIL_COLDSTART=how, VIGIL_LOG_DIR=str(tmp_path / "logs"),
                   **no_probes_for(how))
    assert h.invoke({})[0] == 200
    init = float(h.wait_reports(1)[0]["Init Duration"].split()[0])
    rc, out, err = h.stop()
    assert "the preload library records instead" not in err, err
    r = kept(tmp_path)
    assert r["complete"] and r["source"] == how and r["id"], r
    assert r["groups"][0]["name"] == "slowpkg" and within(r["groups"][0]["ms"], 300, 0.1), r
    assert within(r["init_ms"], init, 0.01), (r["init_ms"], init)
    phases = {p["part"]: p for p in r["phases"]}
    assert {"sandbox", "extension", "runtime", "invoke"} <= set(phases), r["phases"]
    assert phases["extension"]["name"] == "extension slowext", phases
    assert 200 <= phases["extension"]["register_ms"] <= phases["extension"]["ms"], phases
    # the phases, from the first start to the last /next, are the init (within 5 %)
    assert within(r["phases_ms"], r["init_ms"], 0.05), (r["phases_ms"], r["init_ms"])
    # the runtime's phase (the host's view: exec → /next) is its recorded timeline's
    assert r["total_ms"] > 300 and within(r["total_ms"], phases["runtime"]["ms"], 0.05), \
        (phases["runtime"], r["total_ms"])
    assert abs(r["start_ms"] - phases["runtime"]["start_ms"]) < 10, (r["start_ms"], phases)
    assert 0 <= r["cpu_ms"] < r["total_ms"] and r["off_cpu_ms"] >= 250, r
    # listed, and chosen by id
    rc, out, _ = run_vigil(["coldstart", "--dir", str(tmp_path / "logs"), "--list"])
    assert rc == 0 and r["id"] in out and "python" in out, out
    assert kept(tmp_path, "--id", r["id"])["id"] == r["id"]
    rc, _, err = run_vigil(["coldstart", "--dir", str(tmp_path / "logs"), "--id", "nope"])
    assert rc == 1 and "no cold start nope" in err

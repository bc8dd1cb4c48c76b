"""Checks over the repository itself: no package mirror's host is named in it, and the
mirror the packaging scripts use is read from the machine's apt configuration."""
import os
import subprocess

from conftest import ROOT

CHECK = os.path.join(ROOT, "tests", "checks", "no_mirror_hosts.sh")
MIRROR = os.path.join(ROOT, "packaging", "debian-mirror.sh")


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, **kw)


def test_repository_names_no_mirror_host():
    r = run(["sh", CHECK, ROOT])
    assert r.returncode == 0, r.stderr


def test_check_finds_a_planted_host(tmp_path):
    # A repository whose file names the Debian archive's host: the check names file:line.
    repo = tmp_path / "repo"
    repo.mkdir()
    host = ".".join(["deb", "debian", "org"])
    (repo / "a.sh").write_text(f"echo fine\ndebootstrap bookworm /x http://{host}/debian\n")
    (repo / "b.md").write_text("registry " + ".".join(["registry", "npmjs", "org"]) + "\n")
    (repo / "c.txt").write_text("https://www.debian.org/doc/ is documentation, not a mirror\n")
    for cmd in (["git", "init", "-q"], ["git", "add", "."]):
        assert run(cmd, cwd=repo).returncode == 0
    r = run(["sh", CHECK, str(repo)])
    assert r.returncode == 1
    assert "a.sh:2:" in r.stderr and "b.md:1:" in r.stderr
    assert "c.txt" not in r.stderr


def mirror(etc):
    return run(["sh", MIRROR], env=dict(os.environ, APT_ETC=str(etc)))


def test_mirror_from_deb822(tmp_path):
    d = tmp_path / "sources.list.d"
    d.mkdir()
    (d / "debian.sources").write_text(
        "Types: deb-src\nURIs: http://src.example/debian\nSuites: bookworm\n"
        "Components: main\n\n"
        "# a comment\nTypes: deb\nURIs: http://off.example/debian\nSuites: bookworm\n"
        "Enabled: no\n\n"
        "Types: deb\nURIs: http://sec.example/debian-security\nSuites: bookworm-security\n\n"
        "Types: deb deb-src\nURIs: http://mirror.example/debian/ http://second.example/d\n"
        "Suites: bookworm bookworm-updates\nComponents: main\n")
    r = mirror(tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "http://mirror.example/debian\n"


def test_mirror_from_one_line_sources(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list").write_text(
        "# deb http://commented.example/debian bookworm main\n"
        "deb http://sec.example/debian-security bookworm-security main\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://one.example/debian bookworm main\n")
    r = mirror(tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "http://one.example/debian\n"


def test_no_mirror_is_a_clear_error(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "x.list").write_text("deb http://a.example/x trixie main\n")
    r = mirror(tmp_path)
    assert r.returncode == 1
    assert "no enabled 'deb' entry for bookworm" in r.stderr
    assert r.stdout == ""


LAYERS = os.path.join(ROOT, "tests", "checks", "check_layers.py")


def test_layers_hold():
    r = run(["/usr/bin/python3", LAYERS, ROOT])
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout == ""


def test_layers_name_a_broken_edge(tmp_path):
    # A tiny tree with vigil's folders: core reaching into the wiring layer, an exporter
    # into a source, a source into an exporter; and allowed edges beside them.
    files = {
        "agent/util/buf.h": "int x;\n",
        "agent/core/tracker.h": '#include "../util/buf.h"\n',
        "agent/core/tracker.c": '#include "tracker.h"\n#include <stdio.h>\n'
                                '#include "vigil/v1/log.pb-c.h"\n#include "../cmd/config.h"\n',
        "agent/cmd/config.h": '#include "../extension/ext.h"\n',
        "agent/extension/ext.h": '#include "../core/tracker.h"\n',
        "agent/extension/ext.c": '#include "ext.h"\n\n#include "../../exporters/emf/emf.h"\n',
        "exporters/emf/emf.h": '#include "../../agent/core/tracker.h"\n',
        "exporters/emf/emf.c": '#include "emf.h"\n#include "../../agent/extension/ext.h"\n',
    }
    for name, text in files.items():
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    for cmd in (["git", "init", "-q"], ["git", "add", "."]):
        assert run(cmd, cwd=tmp_path).returncode == 0
    r = run(["/usr/bin/python3", LAYERS, str(tmp_path)])
    assert r.returncode == 1
    lines = sorted(r.stdout.splitlines())
    assert lines == [
        'agent/core/tracker.c:4: core may not include cmd ("../cmd/config.h")',
        'agent/extension/ext.c:3: extension may not include emf '
        '("../../exporters/emf/emf.h")',
        'exporters/emf/emf.c:2: emf may not include extension ("../../agent/extension/ext.h")',
    ], r.stdout

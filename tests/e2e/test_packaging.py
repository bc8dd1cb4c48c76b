"""Packaging (make layer, make deb): the layer's static binaries for x86_64 and arm64 run as
vigil's extension under vigil host — unpacked into an /opt-like folder, inside a minimal Debian
chroot with none of vigil's libraries, and under qemu-user for arm64 — and the Debian package
installs with its dependencies in a chroot. Root is needed (chroot); CI runs as root."""
import glob
import json
import os
import shutil
import stat
import subprocess
import zipfile

import pytest

from conftest import ROOT, TEST_RUNTIME, free_port, wait_for
from test_prometheus import prometheus, query  # noqa: F401 (a fixture)
from test_remote_write import tls_files

BUILD = os.path.join(ROOT, "build")
CHROOT_BASE = os.path.join(BUILD, "chroot", "base")
LAYER_FILES = {"extensions/vigil", "vigil-wrapper", "vigil/NOTICE", "vigil/vigil-preload.so"}
# Shared libraries the dynamic build links or loads: the layer binary needs none of them.
VIGIL_LIBS = ("libjansson.so", "libprotobuf-c.so", "libhttp_parser.so", "libmicrohttpd.so",
              "libzstd.so")
ARCHS = {"x86_64": "X86-64", "arm64": "AArch64"}


def need(path, made_by):
    assert os.path.exists(path), f"{path} is missing: '{made_by}' makes it (make test does)"
    return path


def run(cmd, **kw):
    kw.setdefault("timeout", 300)
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def unpack_layer(arch, dest):
    """The layer as Lambda lays it out: its zip unpacked into an /opt-like folder."""
    z = need(os.path.join(BUILD, f"vigil-layer-{arch}.zip"), "make layer")
    with zipfile.ZipFile(z) as zf:
        names = {i.filename for i in zf.infolist() if not i.is_dir()}
        assert names == LAYER_FILES, names
        for info in zf.infolist():
            zf.extract(info, dest)
            mode = (info.external_attr >> 16) & 0o777
            if mode:  # zipfile does not restore Unix modes
                os.chmod(os.path.join(dest, info.filename), mode)
    return dest


def extension_dir(tmp_path, how):
    """An extensions folder whose `vigil` starts the layer binary `how`: ("chroot", ROOT) runs
    ROOT/opt/extensions/vigil inside ROOT; ("qemu", OPT) runs OPT's arm64 binary under
    qemu-user, keeping argv[0] .../extensions/vigil (the name the extension registers with)."""
    kind, where = how
    ext = tmp_path / "extensions"
    ext.mkdir()
    launcher = ext / "vigil"
    if kind == "chroot":
        launcher.write_text(f"#!/bin/sh\nexec chroot {where} /opt/extensions/vigil\n")
    else:
        launcher.write_text(
            f'#!/bin/sh\nexec qemu-aarch64-static -0 "$0" {where}/extensions/vigil\n')
    launcher.chmod(0o755)
    return ext


@pytest.fixture
def chroot_copy(tmp_path):
    """A private copy of the minimal Debian root (the base is made once by packaging/chroot.sh)."""
    assert os.geteuid() == 0, "the packaging tests need root (chroot); CI runs as root"
    need(os.path.join(CHROOT_BASE, ".vigil-ok"), "sh packaging/chroot.sh build/chroot/base")
    root = tmp_path / "root"
    r = run(["cp", "-a", CHROOT_BASE, str(root)])
    assert r.returncode == 0, r.stderr
    return root


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_layer_holds_a_static_binary_under_2mb(arch, tmp_path):
    opt = unpack_layer(arch, tmp_path)
    binary = opt / "extensions" / "vigil"
    for f in (binary, opt / "vigil-wrapper"):
        assert os.stat(f).st_mode & stat.S_IXUSR, f"{f} is not executable"
    size = os.path.getsize(binary)
    assert size <= 2_000_000, f"{arch} binary is {size} bytes"
    header = run(["readelf", "-hldW", str(binary)]).stdout
    assert ARCHS[arch] in header, header[:400]
    assert "INTERP" not in header, "the binary asks for a dynamic loader"
    assert "NEEDED" not in header, "the binary needs shared libraries"
    # Nothing for Amazon Linux's glibc to resolve: no dynamic symbols, so no GLIBC_2.x versions.
    syms = run(["objdump", "-T", str(binary)])
    assert "GLIBC_" not in syms.stdout, syms.stdout[:400]
    cmd = [str(binary), "--version"]
    if arch == "arm64":
        cmd = ["qemu-aarch64-static"] + cmd
    r = run(cmd)
    assert r.returncode == 0 and r.stdout.startswith("vigil "), (r.stdout, r.stderr)
    # (glibc's regex would not fit: grep is the package's; cat still reads the segments)
    r = run(cmd[:-1] + ["logs", "--dir", str(tmp_path), "grep", "x"])
    assert r.returncode == 2 and "not in the layer's binary" in r.stderr, (r.stdout, r.stderr)
    r = run(cmd[:-1] + ["logs", "--dir", str(tmp_path), "cat"])
    assert r.returncode == 0, r.stderr


def run_as_extension(start_host, ext_dir, *extra, **kw):
    """vigil host with ext_dir's extensions; two invokes; the extension's EMF for both."""
    h = start_host("--function-name", "fn", "--extensions", str(ext_dir),
                   "--env", "VIGIL_TELEMETRY_LISTEN=127.0.0.1:0",
                   "--env", "VIGIL_METRICS_LISTEN=127.0.0.1:0", *extra, "--", TEST_RUNTIME,
                   **kw)
    assert h.invoke({"a": 1})[2] == {"a": 1}
    assert h.invoke({"action": "error"})[0] == 200
    ids = [r["RequestId"] for r in h.wait_reports(2)]
    h.invoke({"b": 2})  # the adaptive flush sends the second report with this one

    def emf():
        docs = [json.loads(l) for l in h.stdout().splitlines() if l.startswith('{"_aws"')]
        return len(docs) >= 2 and docs
    docs = wait_for(emf, timeout=30, what="the layer extension's EMF lines")
    by_id = {d["request_id"]: d for d in docs}
    assert by_id[ids[0]]["function_name"] == "fn" and by_id[ids[0]]["Errors"] == 0
    assert by_id[ids[1]]["Errors"] == 1
    assert "Extension.InitError" not in h.stdout() + h.stderr()
    return h


def test_layer_unpacked_into_opt_runs_under_vigil_host(start_host, tmp_path):
    """The container layout (packaging/container/Dockerfile.host): the layer in an /opt folder,
    its binary as vigil host with --extensions from the same folder, the runtime started
    through /opt/vigil-wrapper (the proxy's figures reach the EMF)."""
    opt = unpack_layer("x86_64", tmp_path / "opt")
    h = run_as_extension(start_host, opt / "extensions",
                         "--env", f"AWS_LAMBDA_EXEC_WRAPPER={opt / 'vigil-wrapper'}",
                         "--env", f"VIGIL_PROXY_LISTEN=127.0.0.1:{free_port()}",
                         binary=str(opt / "extensions" / "vigil"))
    docs = [json.loads(l) for l in h.stdout().splitlines() if l.startswith('{"_aws"')]
    assert any("HandlerDuration" in d for d in docs), docs


def test_layer_records_a_cold_start_through_the_wrapper(start_host, tmp_path):
    """VIGIL_COLDSTART=preload on the function: /opt/vigil-wrapper preloads the layer's
    vigil-preload.so, the extension keeps its record in the log segments with its own phases
    and the platform's init, and `vigil coldstart` reads it there: the slow package first, the
    phases (the extension's, the runtime's) adding up to the Init Duration within 5 %."""
    from otlp_receiver import Receiver, attrs
    from test_coldstart import PY_RUNTIME, python_packages
    opt = unpack_layer("x86_64", tmp_path / "opt")
    pkgs = python_packages(tmp_path)
    logs = tmp_path / "extlogs"
    receiver = Receiver()
    try:
        check_cold_start_through_the_wrapper(start_host, opt, pkgs, logs, receiver, attrs,
                                             PY_RUNTIME)
    finally:
        receiver.stop()


def check_cold_start_through_the_wrapper(start_host, opt, pkgs, logs, receiver, attrs,
                                         PY_RUNTIME):
    h = start_host("--extensions", str(opt / "extensions"),
                   "--env", f"VIGIL_OTLP_ENDPOINT={receiver.url()}",
                   "--env", "VIGIL_OTLP_INTERVAL_MS=200",
                   "--env", "VIGIL_OTLP_TRACES_UNSAMPLED=true",
                   "--env", f"AWS_LAMBDA_EXEC_WRAPPER={opt / 'vigil-wrapper'}",
                   "--env", f"VIGIL_PROXY_LISTEN=127.0.0.1:{free_port()}",
                   "--env", "VIGIL_TELEMETRY_LISTEN=127.0.0.1:0",
                   "--env", "VIGIL_METRICS_LISTEN=127.0.0.1:0",
                   "--env", "VIGIL_COLDSTART=preload", "--env", f"VIGIL_LOG_DIR={logs}",
                   "--env", f"PYTHONPATH={pkgs}", "--", *PY_RUNTIME,
                   TEST_IMPORTS="json,fastpkg,slowpkg")
    assert h.invoke({})[0] == 200
    init = float(h.wait_reports(1)[0]["Init Duration"].split()[0])
    assert h.invoke({})[0] == 200
    _, out, err = h.stop()
    # (the record's path led to the extension's memfd: memory, not /tmp's disk)
    assert "plain file" not in out + err and "no record at" not in out + err, out[-2000:]
    r = subprocess.run([os.path.join(BUILD, "vigil"), "coldstart", "--dir", str(logs), "--json"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    cs = json.loads(r.stdout)
    assert cs["complete"] and cs["source"] == "preload", cs
    assert cs["groups"][0]["name"] == "slowpkg" and 270 <= cs["groups"][0]["ms"] <= 330, cs
    assert abs(cs["init_ms"] - init) <= 1, (cs["init_ms"], init)
    phases = {p["part"]: p for p in cs["phases"]}
    assert phases["extension"]["name"] == "extension vigil", cs["phases"]
    assert 0 < phases["extension"]["register_ms"] < phases["extension"]["ms"], cs["phases"]
    assert phases["runtime"]["name"] == "runtime (recorded)", cs["phases"]
    # (before the extension's start: the platform's setup, which the extension cannot see)
    assert phases["sandbox"]["name"] == "platform (before the first process)", cs["phases"]
    assert cs["phases"][0]["part"] == "sandbox" and cs["phases"][0]["start_ms"] == 0
    assert "invoke" in phases, cs["phases"]
    assert abs(cs["phases_ms"] - cs["init_ms"]) <= 0.05 * cs["init_ms"], \
        (cs["phases_ms"], cs["init_ms"], cs["phases"])
    # with the OTLP exporter: the packages as children of the first invocation's init span
    wait_for(lambda: any(s.name == "python slowpkg" for _, s in receiver.spans()), timeout=10,
             what="the cold start's spans from the extension")
    spans = [s for _, s in receiver.spans()]
    init = [s for s in spans if s.name == "init"]
    assert len(init) == 1, [s.name for s in spans]
    kids = {s.name: s for s in spans if s.parent_span_id == init[0].span_id}
    assert "python slowpkg" in kids and kids["python slowpkg"].trace_id == init[0].trace_id
    assert attrs(kids["python slowpkg"].attributes)["vigil.coldstart.source"] == "preload"


def test_layer_runs_in_a_chroot_with_only_libc(start_host, chroot_copy, tmp_path):
    """Amazon Linux stand-in: a minimal Debian root without any library vigil uses, the
    extension started inside it by vigil host running outside."""
    root = chroot_copy
    for lib in VIGIL_LIBS:
        for f in glob.glob(str(root / "usr" / "lib" / "*" / (lib + "*"))):
            os.unlink(f)  # libzstd comes with dpkg; nothing in this root runs dpkg
    left = [f for lib in VIGIL_LIBS for f in glob.glob(str(root / "**" / (lib + "*")),
                                                       recursive=True)]
    assert not left, left
    assert glob.glob(str(root / "usr" / "lib" / "*" / "libc.so.6"))
    unpack_layer("x86_64", root / "opt")
    run_as_extension(start_host, extension_dir(tmp_path, ("chroot", root)))
    r = run(["chroot", str(root), "/opt/vigil-wrapper", "/usr/bin/env"])
    assert "AWS_LAMBDA_RUNTIME_API=127.0.0.1:9009" in r.stdout, (r.stdout, r.stderr)


def test_layer_arm64_under_qemu_runs_under_vigil_host(start_host, tmp_path):
    opt = unpack_layer("arm64", tmp_path / "opt")
    run_as_extension(start_host, extension_dir(tmp_path, ("qemu", opt)))


def deb_path():
    debs = glob.glob(os.path.join(BUILD, "vigil_*_amd64.deb"))
    assert len(debs) == 1, f"want one build/vigil_*_amd64.deb (make deb), have {debs}"
    return debs[0]


def test_deb_has_no_lintian_errors():
    r = run(["lintian", "--tag-display-limit", "0", deb_path()])
    errors = [l for l in r.stdout.splitlines() if l.startswith("E:")]
    assert not errors, r.stdout
    assert r.returncode == 0, r.stdout + r.stderr


def test_deb_installs_in_a_chroot_and_its_units_verify(chroot_copy):
    root = chroot_copy
    shutil.copy(deb_path(), root / "tmp" / "vigil.deb")
    # dpkg -i stops at the missing dependencies; apt-get -f install brings them from Debian.
    first = run(["chroot", str(root), "dpkg", "-i", "/tmp/vigil.deb"])
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "-qq", "update"], ["apt-get", "-qq", "-y", "-f", "install"]):
        r = run(["chroot", str(root)] + cmd, env=env, timeout=600)
        assert r.returncode == 0, (first.stdout, first.stderr, r.stdout, r.stderr)
    r = run(["chroot", str(root), "dpkg-query", "-W", "-f=${Status}", "vigil"])
    assert r.stdout == "install ok installed", r.stdout
    r = run(["chroot", str(root), "vigil", "--version"])
    assert r.returncode == 0 and r.stdout.startswith("vigil 0."), (r.stdout, r.stderr)
    # the cold-start recorder vigil host preloads (coldstart=preload), loadable as it is
    r = run(["chroot", str(root), "env", "LD_PRELOAD=/usr/lib/vigil/vigil-preload.so",
             "VIGIL_COLDSTART_FILE=/tmp/cs", "/bin/true"])
    assert r.returncode == 0 and not r.stderr, r.stderr
    assert (root / "tmp" / "cs").read_bytes()[:8] == b"VIGILCS1"
    # The functions' user of vigil host run as root, made by the package.
    r = run(["chroot", str(root), "getent", "passwd", "vigil"])
    assert r.returncode == 0 and r.stdout.endswith(":/nonexistent:/usr/sbin/nologin\n"), r.stdout
    # /etc/vigil/vigil.conf: every key, commented out, and it parses.
    conf = (root / "etc" / "vigil" / "vigil.conf").read_text()
    keys = run(["chroot", str(root), "vigil", "config", "print"]).stdout.splitlines()
    assert keys and all(f"\n#{k.split(' = ')[0]} = " in conf for k in keys)
    r = run(["chroot", str(root), "vigil", "--config", "/etc/vigil/vigil.conf", "config", "print"])
    assert r.returncode == 0, r.stderr
    # systemd and man, for the units' verification and their Documentation=man:vigil(1).
    r = run(["chroot", str(root), "apt-get", "-qq", "-y", "--no-install-recommends", "install",
             "systemd", "man-db"], env=env, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    r = run(["chroot", str(root), "man", "-w", "vigil"])
    assert r.stdout.strip() == "/usr/share/man/man1/vigil.1.gz", (r.stdout, r.stderr)
    (root / "etc" / "vigil" / "functions" / "example.conf").write_text(
        "FUNCTION_DIR=/srv/functions/example\nHOST_ARGS=--memory 256\n")
    r = run(["chroot", str(root), "systemd-analyze", "verify", "vigil.service",
             "vigil-host@example.service"])
    assert r.returncode == 0 and not r.stderr.strip(), r.stdout + r.stderr


@pytest.mark.parametrize("name", ["vigil.service", "vigil-host@.service"])
def test_unit_exposure(name):
    """vigil.service (`vigil serve`: the endpoint alone) and vigil-host@.service keep no
    capability and score at most 2.0 in systemd's own review (overall exposure)."""
    import re
    unit = os.path.join(ROOT, "packaging", "systemd", name)
    r = run(["systemd-analyze", "security", "--offline=true", "--no-pager", unit])
    m = re.search(r"Overall exposure level for [\w@.-]+: ([0-9.]+)", r.stdout + r.stderr)
    assert m, r.stdout + r.stderr
    assert float(m.group(1)) <= 2.0, r.stdout
    with open(unit) as f:
        text = f.read()
    assert "\nCapabilityBoundingSet=\n" in text and "CAP_" not in text


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_layer_pushes_over_https(arch, start_host, chroot_copy, prometheus, tmp_path):  # noqa: F811
    """The layer binary's remote_write: snappy, the host name from /etc/hosts and TLS on
    BearSSL all linked in. x86_64 inside the chroot with none of vigil's libraries, arm64 under
    qemu; both push over HTTPS to a real Prometheus with a certificate from a test CA."""
    cert, key, ca = tls_files(tmp_path / "pki", "ec")
    base = prometheus([], extra_args=["--web.enable-remote-write-receiver"],
                      tls=(cert, key, ca))
    if arch == "x86_64":
        root = chroot_copy
        unpack_layer("x86_64", root / "opt")
        shutil.copy(ca, root / "opt" / "ca.pem")
        hosts = root / "etc" / "hosts"
        if "localhost" not in (hosts.read_text() if hosts.exists() else ""):
            hosts.write_text("127.0.0.1\tlocalhost\n")
        ca_path = "/opt/ca.pem"
        ext = extension_dir(tmp_path, ("chroot", root))
    else:
        ca_path = str(ca)
        ext = extension_dir(tmp_path, ("qemu", unpack_layer("arm64", tmp_path / "opt")))
    h = run_as_extension(start_host, ext,
                         "--env", f"VIGIL_REMOTE_WRITE_URL={base}/api/v1/write",
                         "--env", f"VIGIL_REMOTE_WRITE_CA_FILE={ca_path}",
                         "--env", "VIGIL_FLUSH=periodic,0.5")
    got = wait_for(lambda: query(base, 'vigil_invocations_total{function="fn"}'),
                   timeout=30, what="series pushed by the layer binary: " + "\n".join(
                       l for l in (h.stdout() + h.stderr()).splitlines()
                       if not l.startswith('{"_aws"')))
    assert sum(float(r["value"][1]) for r in got) >= 2, got
    assert "warn remote_write" not in h.stdout(), h.stdout()[-2000:]

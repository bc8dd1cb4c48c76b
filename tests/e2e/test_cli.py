"""The command line: help, version, usage errors, configuration errors and printing."""
import os
import re

from conftest import ROOT, run_vigil


def test_help_and_version():
    rc, out, _ = run_vigil(["--help"])
    assert rc == 0
    for cmd in ("extension", "host", "proxy", "logs", "serve", "config print"):
        assert cmd in out
    rc, out, _ = run_vigil(["--version"])
    assert rc == 0
    assert re.match(r"^vigil \d+\.\d+\.\d+ \(\S+\)\n$", out)


def test_usage_errors_are_one_line_and_exit_2():
    for args in ([], ["bogus"], ["--bogus"], ["--config"], ["config"], ["config", "x"],
                 ["serve", "extra"]):
        rc, out, err = run_vigil(args)
        assert rc == 2, args
        assert out == ""
        assert err.count("\n") == 1 and err.startswith("vigil: "), (args, err)


def test_subcommand_usage_errors():
    for args in (["logs"], ["logs", "bogus"], ["logs", "--level"], ["logs", "grep"],
                 ["logs", "--since", "yesterday-ish", "cat"], ["proxy"], ["proxy", "--bogus"],
                 ["extension", "extra"]):
        rc, out, err = run_vigil(args)
        assert rc == 2, (args, err)
        assert err.count("\n") == 1, (args, err)


def test_config_errors_name_the_key(tmp_path):
    rc, _, err = run_vigil(["config", "print"], env={"VIGIL_METRICS_MAX_SERIES": "0"})
    assert rc == 2
    assert err == ("vigil: config: VIGIL_METRICS_MAX_SERIES: metrics_max_series: 0 is out "
                   "of range 1..1000000\n")
    rc, _, err = run_vigil(["config", "print"], env={"VIGIL_NOSUCH": "1"})
    assert rc == 2 and "unknown key 'nosuch'" in err
    conf = tmp_path / "vigil.conf"
    conf.write_text("# ok\nmetrics_listen = 127.0.0.1:1\nlog_level = shouty\n")
    rc, _, err = run_vigil(["--config", str(conf), "config", "print"])
    assert rc == 2
    assert err == (f"vigil: config: {conf}:3: log_level: 'shouty' is not one of debug, info, "
                   "warn, error, off\n")
    rc, _, err = run_vigil(["--config", str(tmp_path / "missing"), "serve"])
    assert rc == 2 and "No such file or directory" in err


def test_config_print_layers_and_masks(tmp_path):
    conf = tmp_path / "vigil.conf"
    conf.write_text("metrics_listen = 127.0.0.1:1111\nmetrics_token = topsecret\n"
                    "metrics_max_series = 10\n")
    rc, out, _ = run_vigil(["--config", str(conf), "config", "print"],
                           env={"VIGIL_METRICS_MAX_SERIES": "20"})
    assert rc == 0
    assert "metrics_listen = 127.0.0.1:1111\n" in out       # from the file
    assert "metrics_max_series = 20\n" in out               # the environment wins
    assert "metrics_token = ********\n" in out
    assert "topsecret" not in out
    # The printed form is itself a valid config file (but for the masked secret).
    printed = tmp_path / "printed.conf"
    printed.write_text("\n".join(l for l in out.splitlines() if "token" not in l))
    rc, out2, err = run_vigil(["--config", str(printed), "config", "print"])
    assert rc == 0, err


def test_config_sample_lists_every_key_at_its_default(tmp_path):
    """/etc/vigil/vigil.conf of the Debian package: commented out it changes nothing, and with
    every line uncommented it gives the defaults."""
    rc, sample_text, _ = run_vigil(["config", "sample"])
    assert rc == 0
    _, defaults, _ = run_vigil(["config", "print"])
    for line in defaults.splitlines():
        assert f"\n#{line.split(' = ')[0]} = " in sample_text, line
    conf = tmp_path / "sample.conf"
    conf.write_text(sample_text)
    assert run_vigil(["--config", str(conf), "config", "print"])[1] == defaults
    conf.write_text(re.sub(r"(?m)^#(\w+ = )", r"\1", sample_text))
    rc, out, err = run_vigil(["--config", str(conf), "config", "print"])
    assert rc == 0 and out == defaults, err


def test_configuration_doc_is_generated_and_current():
    rc, out, _ = run_vigil(["config", "doc"])
    assert rc == 0
    with open(os.path.join(ROOT, "docs", "configuration.md")) as f:
        assert f.read() == out, "docs/configuration.md is stale: run `make docs`"


def test_extension_is_default_under_an_extensions_dir(tmp_path):
    ext = tmp_path / "extensions"
    ext.mkdir()
    link = ext / "vigil"
    link.symlink_to(os.environ.get("VIGIL", os.path.join(ROOT, "build", "vigil")))
    import subprocess
    p = subprocess.run([str(link)], capture_output=True, text=True, timeout=10,
                       env={k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")})
    # It ran as the extension: outside Lambda there is no Runtime API to register with.
    assert p.returncode == 1
    assert p.stderr == "error extension: AWS_LAMBDA_RUNTIME_API is missing or not HOST:PORT\n"

"""The function's own telemetry through vigil (vigil as the extension of aws-lambda-ric under
vigil host): EMF documents it prints (aws-embedded-metrics, Powertools), DogStatsD datagrams
(hot-shots) and OTLP exports (the OpenTelemetry JS SDK), into vigil's registry and exporters."""
import json
import os
import socket
import subprocess

import pytest

from conftest import ROOT, free_port, sample, sample_sum, wait_for
from test_ric import RIC
from test_vigil_extension import ext_metrics

FN = os.path.join(ROOT, "tests", "e2e", "fn_telemetry")
FNLIBS = os.path.join(ROOT, "build", "fnlibs", "node_modules")


@pytest.fixture
def fn_host(start_host, tmp_path):
    """vigil host running fn_telemetry/index.js on aws-lambda-ric, vigil as its extension."""
    assert os.path.isdir(FNLIBS), "make e2e installs the function's libraries in build/fnlibs"
    d = tmp_path / "extensions"
    d.mkdir()
    from conftest import VIGIL
    (d / "vigil").symlink_to(VIGIL)

    def start(*args, **vigil_env):
        statsd = vigil_env.pop("statsd_port", None) or free_port()
        env = ["--env", "VIGIL_TELEMETRY_LISTEN=127.0.0.1:0",
               "--env", "VIGIL_METRICS_LISTEN=127.0.0.1:0",
               "--env", f"VIGIL_STATSD_LISTEN=127.0.0.1:{statsd}",
               "--env", f"STATSD_PORT={statsd}",
               "--env", f"NODE_PATH={FNLIBS}",
               "--env", "AWS_EMF_ENVIRONMENT=Lambda"]
        for k, v in vigil_env.items():
            env += ["--env", f"VIGIL_{k.upper()}={v}"]
        h = start_host("--function-name", "tele-fn", "--handler", "index.handler",
                       "--extensions", str(d), *env, *args, "--", RIC, "index.handler", cwd=FN)
        h.statsd_port = statsd
        return h
    return start


def invoke_ok(h, event):
    status, _, body = h.invoke(event)
    assert status == 200, body
    return body


def metrics_when(h, name, **labels):
    """The extension's exposition once name{labels} is in it."""
    return wait_for(lambda: (lambda t: sample(t, name, **labels) is not None and t)(ext_metrics(h)),
                    what=f"{name}{labels} in the extension's /metrics")


def promtool_ok(text):
    p = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                       text=True)
    assert p.returncode == 0, p.stdout + p.stderr


def test_aws_embedded_metrics_reach_the_registry_and_the_line_stays(fn_host):
    h = fn_host()
    invoke_ok(h, {"action": "emf", "orders": 2, "latency_ms": 12})
    invoke_ok(h, {"action": "emf", "orders": 3, "latency_ms": 40})
    text = wait_for(lambda: (lambda t: sample(t, "orders_total", Service="checkout",
                                               Region="") == 5 and t)(ext_metrics(h)),
                    what="both documents' Orders")
    # Two dimension sets, two series: {Service} and {Service, Region}.
    assert sample(text, "orders_total", Service="checkout", Region="eu") == 5
    # Milliseconds → a histogram in seconds.
    assert sample(text, "latency_seconds_count", Service="checkout", Region="eu") == 2
    assert abs(sample(text, "latency_seconds_sum", Service="checkout", Region="eu") - 0.052) < 1e-9
    assert sample(text, "latency_seconds_bucket", Service="checkout", Region="eu", le="0.025") == 1
    # Kilobytes → bytes (1 KB = 1024 B); Percent → a gauge.
    assert sample(text, "payload_bytes_sum", Service="checkout", Region="eu") == 2 * 2048 * 1024
    assert sample(text, "ratio_percent", Service="checkout", Region="eu") == 42
    assert sample(text, "vigil_emf_documents_total", outcome="taken") == 2
    promtool_ok(text)
    # The EMF line is still the function's output, unchanged.
    rc, out, err = h.stop()
    lines = [l for l in out.splitlines() if '"Namespace":"shop"' in l]
    assert len(lines) == 2 and '"Orders":2' in lines[0] and '"Orders":3' in lines[1], out[-3000:]


def test_powertools_metrics(fn_host):
    h = fn_host()
    invoke_ok(h, {"action": "powertools", "n": 4})
    invoke_ok(h, {"action": "powertools", "n": 1})
    text = wait_for(lambda: (lambda t: sample(t, "successful_booking_total", service="booker",
                                               tier="gold") == 5 and t)(ext_metrics(h)),
                    what="Powertools' successfulBooking")
    assert sample(text, "booking_time_seconds_count", service="booker", tier="gold") == 2
    promtool_ok(text)


def test_hot_shots_dogstatsd(fn_host):
    h = fn_host()
    invoke_ok(h, {"action": "statsd", "n": 3, "user": "a"})
    invoke_ok(h, {"action": "statsd", "n": 4, "user": "b"})
    invoke_ok(h, {"action": "statsd", "n": 1, "user": "a"})
    text = wait_for(lambda: (lambda t: sample(t, "orders_placed_total", shop="north",
                                               env="test") == 8 and t)(ext_metrics(h)),
                    what="hot-shots' counter")
    assert sample(text, "queue_depth", shop="north", env="test") == 17
    assert sample(text, "cart_items_count", shop="north", env="test") == 3
    assert sample(text, "cart_items_sum", shop="north", env="test") == 15
    assert sample(text, "cart_value_count", env="test") == 3
    assert sample(text, "db_query_seconds_count", table="orders", env="test") == 3
    assert abs(sample(text, "db_query_seconds_sum", table="orders", env="test") - 0.75) < 1e-9
    assert sample(text, "users_unique", env="test") == 2
    assert sample(text, "vigil_statsd_lines_total", outcome="malformed") in (None, 0)
    promtool_ok(text)


def test_statsd_garbage_is_counted_and_the_listener_stays(fn_host):
    h = fn_host()
    invoke_ok(h, {"action": "ping"})
    port = h.statsd_port
    wait_for(lambda: "statsd: listening" in h.stdout(), what="the StatsD listener")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    bad = [b"", b"\x00\xff\xfe", b"no_type:1", b"x:1|zz", b"x:abc|c", b"x:1|c|@2",
           b"x:1|c|@0", b"|||", b"::::|c", b"y:nan|g", b"z:1e999|ms", b"\n\n\n",
           b"a:1|c\nb:2|q\nc:3|c|#k:v,,:,k2", b"_e{5,4}:title|text", b"_sc|svc|0",
           os.urandom(2000), b"big:" + b"1:" * 100 + b"1|d"]
    for d in bad:
        s.sendto(d, ("127.0.0.1", port))
    s.sendto(b"after.garbage:7|c|#k:v", ("127.0.0.1", port))
    text = wait_for(lambda: (lambda t: sample(t, "after_garbage_total", k="v") == 7 and t)(
        ext_metrics(h)), what="a good line after the garbage")
    assert sample(text, "a_total") == 1 and sample(text, "c_total", k="v") == 3
    assert sample(text, "vigil_statsd_lines_total", outcome="malformed") >= 10
    promtool_ok(text)
    invoke_ok(h, {"action": "ping"})

"""Structured, compressed logs: segments written by vigil host (and a test writer), read back
by `vigil logs`: round trips, kill -9 at any moment, filters, tail -f, damage, dictionaries."""
import json
import os
import random
import signal
import subprocess
import time

import pytest

from conftest import EXAMPLES, VIGIL, clean_env, run_vigil, wait_for

WRITER = os.path.join(os.path.dirname(VIGIL), "log_writer")


def logs(d, *args):
    return run_vigil(["logs", "--dir", str(d), *args])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_round_trip_random_records(tmp_path, seed):
    expected = subprocess.run([WRITER, str(tmp_path), str(seed), "3000"], capture_output=True,
                              check=True).stdout.decode()
    rc, out, err = logs(tmp_path, "cat", "--json")
    assert rc == 0 and err == ""
    assert out == expected  # every field of every record, byte for byte
    assert len(out.splitlines()) == 3000


def test_kill_9_mid_block_100_times(tmp_path):
    rng = random.Random(42)
    seen = set()
    for i in range(100):
        p = subprocess.Popen([WRITER, str(tmp_path), str(i + 1), "forever"])
        # Once its segment exists, kill it at a random moment of its writing.
        new = wait_for(lambda: {f for f in os.listdir(tmp_path) if f.endswith(".vseg")} - seen,
                       interval=0.001, what="the writer's segment")
        seen |= new
        time.sleep(rng.uniform(0.0, 0.03))
        p.send_signal(signal.SIGKILL)
        p.wait()
        rc, out, err = logs(tmp_path, "stats")
        # The writer synced no tail (log_writer never does): a torn block is a loss, said
        # in the exit status; the next writer cuts it back when it folds the dead tail.
        # (Killed before its header was written, its segment is "not a vigil segment".)
        assert rc == 0 or (rc == 3 and err.count("vigil logs:") == 1), err
    rc, out, err = logs(tmp_path, "stats")
    rows = [l.split() for l in out.splitlines()[1:-1]]
    # (One killed before its segment had a header has none: the next writer removed it.)
    assert 95 <= len(rows) <= 100
    for name, records, raw, compressed, ratio, *rest in rows:
        assert int(records) % 100 == 0  # every complete block, and only those
    rc, out, err = logs(tmp_path, "cat", "--json")
    assert rc in (0, 3)
    assert out.count("\n") == sum(int(r[1]) for r in rows)


def test_damaged_segment_is_read_as_far_as_possible(tmp_path):
    subprocess.run([WRITER, str(tmp_path), "5", "1000"], capture_output=True, check=True)
    (seg,) = [p for p in tmp_path.iterdir() if p.suffix == ".vseg"]
    data = bytearray(seg.read_bytes())
    for at in range(len(data) // 3, len(data) // 3 + 40):
        data[at] ^= 0xFF
    seg.write_bytes(bytes(data))
    rc, out, err = logs(tmp_path, "cat", "--json")
    assert rc == 3  # what could be read was shown; the exit status says damage was skipped
    assert "vigil logs:" in err  # a warning, never a crash
    assert 0 < out.count("\n") < 1000


def start_greeting(start_host, tmp_path):
    return start_host("--function", os.path.join(EXAMPLES, "python-greeting"), "--handler",
                      "lambda_function.lambda_handler", VIGIL_LOG_DIR=str(tmp_path))


def test_host_keeps_the_whole_story(start_host, tmp_path):
    h = start_greeting(start_host, tmp_path)
    h.request("GET", "/?name=Bob")
    h.request("GET", "/?name=error")
    ok, failed = [r["RequestId"] for r in h.wait_reports(2)]
    wait_for(lambda: logs(tmp_path, "grep", "cannot greet")[1], timeout=10,
             what="the error line on disk")
    rc, out, _ = logs(tmp_path, "--json", "--request-id", failed, "cat")
    recs = [json.loads(l) for l in out.splitlines()]
    messages = [r["message"] for r in recs]
    assert any(m.startswith("START RequestId: " + failed) for m in messages)
    assert any(m.startswith("REPORT RequestId: " + failed) for m in messages)
    # In time order: START, the function's line, END, REPORT.
    assert [r["time_ns"] for r in recs] == sorted(r["time_ns"] for r in recs)
    # (The probes' PROBES line follows REPORT when they are on.)
    story = [m for m in messages if not m.startswith("PROBES")]
    assert story[0].startswith("START") and story[-1].startswith("REPORT")
    err = next(r for r in recs if "cannot greet" in r["message"])
    assert err["level"] == "ERROR" and err["source"] == "function"
    assert err["function_name"] == "python-greeting"
    rc, out, _ = logs(tmp_path, "--source", "platform", "--request-id", ok, "cat")
    assert len([l for l in out.splitlines() if "\tPROBES\t" not in l]) == 3  # START, END, REPORT
    rc, out, _ = logs(tmp_path, "--level", "ERROR", "cat")
    assert "cannot greet" in out and "greeting Bob" not in out
    rc, out, _ = logs(tmp_path, "--since", "1h", "--until", "2099-01-01T00:00:00Z", "grep",
                      "greeting B.b")
    assert out.count("\n") == 1
    rc, out, _ = logs(tmp_path, "--since", "2099-01-01T00:00:00Z", "cat")
    assert out == ""
    rc, out, _ = logs(tmp_path, "tail", "-n", "2")
    assert out.count("\n") == 2
    rc, out, _ = logs(tmp_path, "stats")
    assert rc == 0 and out.splitlines()[-1].startswith("total")


def test_tail_follows(start_host, tmp_path):
    h = start_greeting(start_host, tmp_path)
    h.request("GET", "/?name=First")
    wait_for(lambda: "First" in logs(tmp_path, "cat")[1], timeout=10, what="first line")
    p = subprocess.Popen([VIGIL, "logs", "--dir", str(tmp_path), "tail", "-f", "-n", "1"],
                         stdout=subprocess.PIPE, env=clean_env())
    try:
        os.set_blocking(p.stdout.fileno(), False)
        h.request("GET", "/?name=Second")
        seen = b""

        def second():
            nonlocal seen
            seen += p.stdout.read() or b""
            return b"greeting Second" in seen
        wait_for(second, timeout=10, what="tail -f to show the new line")
    finally:
        p.kill()
        p.wait()


def test_trained_dictionary(start_host, tmp_path):
    subprocess.run([WRITER, str(tmp_path), "9", "5000"], capture_output=True, check=True)
    rc, out, err = logs(tmp_path, "train")
    assert rc == 0, err
    dicts = [p for p in tmp_path.iterdir() if p.suffix == ".zdict"]
    assert len(dicts) == 1
    h = start_greeting(start_host, tmp_path)
    h.request("GET", "/?name=Dict")
    wait_for(lambda: "greeting Dict" in logs(tmp_path, "cat")[1], timeout=10,
             what="a record in a segment compressed with the dictionary")
    # Without the dictionary the new segment cannot be read, and says so.
    moved = dicts[0].rename(tmp_path / "elsewhere")
    rc, out, err = logs(tmp_path, "cat")
    assert "needs zstd dictionary" in err
    moved.rename(dicts[0])


def test_log_group_reads_the_segments(start_host, tmp_path):
    """log_group: the segments (0640), their tail and their folder (0750) go to that group —
    a log shipper in it reads them, nobody else does."""
    import grp
    import stat
    gid = grp.getgrnam("daemon").gr_gid
    d = tmp_path / "logs"
    h = start_greeting(start_host, d)
    h.proc.terminate()
    h.proc.wait()
    h = start_host("--function", os.path.join(EXAMPLES, "python-greeting"), "--handler",
                   "lambda_function.lambda_handler", VIGIL_LOG_DIR=str(d),
                   VIGIL_LOG_GROUP="daemon")
    h.request("GET", "/?name=Grouped")
    wait_for(lambda: "greeting Grouped" in logs(d, "cat")[1], timeout=10, what="the line")
    files = [p for p in d.iterdir() if p.suffix in (".vseg", ".vtail")]
    newest = max(files, key=lambda p: p.stat().st_mtime)
    assert newest.stat().st_gid == gid and stat.S_IMODE(newest.stat().st_mode) == 0o640
    assert d.stat().st_gid == gid and stat.S_IMODE(d.stat().st_mode) == 0o750

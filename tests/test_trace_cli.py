"""`sysvisor trace`: strace's options and output, on real programs."""
from __future__ import annotations

import glob
import json
import os
import re

import pytest

import sysvisor.cli
import sysvisor.cli.trace
import sysvisor.decode
import sysvisor.layers.summary
import sysvisor.layers.trace
from conftest import run_as

sysvisor.decode._load_families()


def trace(args, workdir):
    """Run `sysvisor trace ARGS` in-process with -o; return (status, lines)."""
    out = os.path.join(workdir, f"trace-{os.getpid()}-{len(os.listdir(workdir))}.txt")
    null = os.open(os.devnull, os.O_WRONLY)
    saved = os.dup(1)
    os.dup2(null, 1)
    try:
        status = sysvisor.cli.main(["trace", "-o", out, *args])
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(null)
    with open(out) as f:
        return status, f.read().splitlines()


METHODS = ["ptrace", "seccomp"]


@pytest.fixture(params=METHODS)
def method(request):
    return request.param


def test_basic_line_format(progs, priv, method, tmp_world):
    status, lines = run_as(priv, trace, ["--method", method, "-e", "trace=openat,exit_group",
                                         "--", progs.path("opens"), "/etc/hostname", "2"], tmp_world)
    assert status == 0
    opens = [l for l in lines if '"/etc/hostname"' in l]
    assert len(opens) == 2
    assert re.fullmatch(r'openat\(AT_FDCWD, "/etc/hostname", O_RDONLY\|O_CLOEXEC\) += \d+', opens[0]), opens[0]
    # ` = ` at column 40 when the call is short
    short = [l for l in lines if l.startswith("exit_group(")]
    assert short == ["exit_group(0)".ljust(39) + " = ?"]
    assert lines[-1] == "+++ exited with 0 +++"


def test_follow_prefixes_and_exit_status(priv, method, tmp_world):
    status, lines = run_as(priv, trace, ["--method", method, "-f", "-e", "trace=execve,wait4",
                                         "--", "sh", "-c", "/bin/true; exit 7"], tmp_world)
    assert status == 7
    pids = {l.split()[0] for l in lines}
    assert len(pids) == 2 and all(p.isdigit() for p in pids)
    assert any('execve("/bin/true"' in l for l in lines)
    assert lines[-1].endswith("+++ exited with 7 +++")


def test_per_process_files(priv, tmp_world):
    def fn(workdir):
        base = os.path.join(workdir, f"ff-{os.getpid()}")
        st = sysvisor.cli.main(["trace", "-ff", "-o", base, "-e", "trace=execve", "--", "sh", "-c", "/bin/true"])
        files = sorted(glob.glob(base + ".*"))
        return st, [open(f).read() for f in files]

    status, contents = run_as(priv, fn, tmp_world)
    assert status == 0 and len(contents) == 2
    assert any('execve("/bin/true"' in c for c in contents)
    assert all(not re.match(r"^\d+ ", c) for c in contents)  # no pid prefix in -ff files


def test_summary_table(priv, method, tmp_world):
    status, lines = run_as(priv, trace, ["--method", method, "-c", "-f", "--", "sh", "-c",
                                         "cat /etc/hostname /nonexistent >/dev/null 2>&1; true"], tmp_world)
    assert status == 0
    assert lines[0] == "% time     seconds  usecs/call     calls    errors syscall"
    assert lines[1].startswith("------ -----------")
    rows = {l.split()[-1]: l.split() for l in lines[2:-2]}
    assert "openat" in rows and "execve" in rows
    # openat of /nonexistent failed at least once: the errors column
    assert int(rows["openat"][4]) >= 1
    total = lines[-1].split()
    assert total[-1] == "total" and int(total[3]) == sum(int(r[3]) for r in rows.values())


def test_status_filters(priv, tmp_world):
    _, failed = run_as(priv, trace, ["-Z", "-e", "trace=openat", "--", "cat", "/nonexistent"], tmp_world)
    _, ok = run_as(priv, trace, ["-z", "-e", "trace=openat", "--", "cat", "/nonexistent"], tmp_world)
    calls = [l for l in failed if l.startswith("openat")]
    assert calls and all("= -1 E" in l for l in calls)
    assert any('"/nonexistent"' in l for l in calls)
    calls = [l for l in ok if l.startswith("openat")]
    assert calls and not any("= -1" in l for l in calls)
    _, st = run_as(priv, trace, ["-e", "status=failed", "-e", "trace=openat", "--", "cat", "/nonexistent"], tmp_world)
    assert [l for l in st if l.startswith("openat")] == calls_failed(failed)


def calls_failed(lines):
    return [l for l in lines if l.startswith("openat")]


def test_path_filter(priv, tmp_world):
    _, lines = run_as(priv, trace, ["-P", "/etc/hostname", "--", "cat", "/etc/hostname"], tmp_world)
    calls = [l for l in lines if not l.startswith("+++")]
    assert calls and all("/etc/hostname" in l or l.startswith(("read(", "close(", "fstat", "newfstatat(3", "fadvise64", "mmap", "munmap"))
                         for l in calls)
    assert any(l.startswith("openat") for l in calls) and any(l.startswith("read(") for l in calls)
    assert not any("ld.so.cache" in l for l in calls)


def test_json_lines(priv, tmp_world):
    _, lines = run_as(priv, trace, ["--json", "-e", "trace=openat", "--", "cat", "/etc/hostname"], tmp_world)
    objs = [json.loads(l) for l in lines]
    calls = [o for o in objs if "name" in o]
    assert calls and all(o["name"] == "openat" for o in calls)
    host = [o for o in calls if "/etc/hostname" in o["decoded"]]
    assert host and host[0]["retval"] >= 0 and host[0]["errno"] is None
    assert set(host[0]) >= {"time", "pid", "tid", "arch", "nr", "name", "args", "decoded", "retval", "errno", "duration_ns"}
    assert objs[-1]["event"] == "exit" and objs[-1]["code"] == 0


def test_timestamps_and_durations(priv, tmp_world):
    _, lines = run_as(priv, trace, ["-tt", "-T", "-e", "trace=close", "--", "cat", "/etc/hostname"], tmp_world)
    call = [l for l in lines if "close(" in l][0]
    assert re.match(r"\d\d:\d\d:\d\d\.\d{6} close\(\d+\) += 0 <\d+\.\d{6}>$", call), call
    _, lines = run_as(priv, trace, ["-ttt", "-e", "trace=close", "--", "cat", "/etc/hostname"], tmp_world)
    assert re.match(r"\d{10}\.\d{6} close\(", lines[0])
    _, lines = run_as(priv, trace, ["-r", "-e", "trace=close", "--", "cat", "/etc/hostname"], tmp_world)
    assert re.match(r" +\d+\.\d{6} close\(", lines[0])


def test_unfinished_and_resumed_with_threads(progs, priv, tmp_world):
    _, lines = run_as(priv, trace, ["-f", "-e", "trace=openat,close", "--", progs.path("threads"), "4", "30"], tmp_world)
    # every call line is complete, or split into an unfinished and a resumed half
    unfinished = [l for l in lines if l.endswith("<unfinished ...>")]
    resumed = [l for l in lines if "resumed>" in l]
    assert len(unfinished) == len(resumed)
    complete = [l for l in lines if "openat(" in l and "= " in l and "resumed" not in l]
    assert len(complete) + len(resumed) >= 4 * 30


def test_cli_errors(tmp_world, capsys):
    assert sysvisor.cli.main(["trace", "-o", "/nonexistent-dir/x", "--", "true"]) == 2
    assert "can't open /nonexistent-dir/x" in capsys.readouterr().err
    assert sysvisor.cli.main(["trace", "--", "/nonexistent"]) == 1
    assert sysvisor.cli.main(["trace", "-e", "status=bogus", "--", "true"]) == 2
    assert sysvisor.cli.main(["trace", "-e", "trace=%nosuchclass", "--", "true"]) == 2
    assert sysvisor.cli.main(["trace", "-e", "trace=/[", "--", "true"]) == 2
    assert sysvisor.cli.main(["trace", "-z", "-Z", "--", "true"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err

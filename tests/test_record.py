"""Binary trace records: the file format, `sysvisor record`, `sysvisor
format`, and what survives a crash of the traced program or of sysvisor."""
from __future__ import annotations

import collections
import contextlib
import datetime
import io
import json
import os
import re
import signal
import threading
import time

import pytest

import sysvisor
import sysvisor.cli
import sysvisor.cli.format
import sysvisor.cli.record
import sysvisor.cli.trace
import sysvisor.decode
import sysvisor.layers.record
import sysvisor.layers.trace
import sysvisor.methods
import sysvisor.methods.ptrace
import sysvisor.record
import sysvisor.record.format
import sysvisor.tables
from conftest import run_as
from sysvisor.record import (EXIT, NO_EXIT, SIGNAL, STRING, SYSCALL, NotATraceFile, Reader,
                             RecordError, Writer, read_records)

# the unprivileged children cannot import anything new: load it all now
for _arch in ("x86_64", "i386", "aarch64"):
    try:
        sysvisor.tables.table(_arch)
    except Exception:
        pass
sysvisor.decode._load_families()
for _m in ("ptrace", "seccomp"):
    sysvisor.methods.choose(_m, [])
with contextlib.suppress(Exception):
    sysvisor.cli.build_parser()
for _mod in ("sysvisor.layers.summary", "sysvisor.decode.signal"):
    with contextlib.suppress(ImportError):
        __import__(_mod)


def cli(*argv) -> tuple[int, str, str]:
    """Run the sysvisor CLI in this process: (status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = sysvisor.cli.main(list(argv))
    return rc, out.getvalue(), err.getvalue()


def records(path) -> list:
    return list(read_records(path))


_PREFIX = re.compile(r"^(\[pid\s+\d+\] |\d+\s+)")


def normalise(lines, pids=()) -> list[str]:
    """Drop `[pid N] ` / `PID ` prefixes, the alignment before ` = `, and
    the given pids."""
    out = []
    for line in lines:
        line = _PREFIX.sub("", line.rstrip("\n"))
        line = re.sub(r"\)\s+= ", ") = ", line)
        for p in pids:
            line = re.sub(rf"\b{p}\b", "PID", line)
        out.append(line)
    return out


# ---- the file format, without tracing ---------------------------------------------


def _write_sample(path, n=10):
    with Writer(path, host_arch=0xC000003E) as w:
        for i in range(n):
            w.add(SYSCALL, time_ns=1_000_000_000 * (i + 1), duration_ns=5, pid=100, tid=100 + i % 2,
                  arch=0xC000003E, pidns=4026531836, cgroup=1, nr=257,
                  args=(2**64 - 100, 0x1000, 0o2000000, 0, 0, 0), retval=3 if i % 3 else -2,
                  ip=0x401000, sp=0x7ffd0000,
                  payloads=[(STRING, 1, 0, 1, 0x1000, 257, b"/etc/hostname"),
                            (3, 255, 1, 0, 0x2000, 7, b"abc")])
            w.flush()
        w.add(EXIT, time_ns=99, pid=100, tid=100, retval=0)


def test_writer_reader_round_trip(tmp_path):
    path = str(tmp_path / "t.svt")
    _write_sample(path)
    with Reader(path) as r:
        assert r.header.version == 1 and r.header.host_arch == 0xC000003E
        assert r.header.writer_pid == os.getpid()
        recs = list(r)
    assert len(recs) == 11
    assert [x.seq for x in recs] == list(range(11))
    a = recs[0]
    assert (a.type, a.pid, a.tid, a.nr, a.name, a.arch_name) == (SYSCALL, 100, 100, 257, "openat", "x86_64")
    assert a.args[0] == 2**64 - 100 and a.retval == -2 and a.cpu == -1
    assert a.payloads[0].data == b"/etc/hostname" and a.payloads[0].complete
    assert a.payloads[1].data == b"abc" and a.payloads[1].phase == 1
    assert recs[-1].type == EXIT
    # every record is fixed-size plus 8-aligned payloads
    assert all(x.offset % 8 == 0 for x in recs)


def test_replay_view_serves_recorded_memory(tmp_path):
    path = str(tmp_path / "t.svt")
    _write_sample(path, 1)
    rec = records(path)[0]
    v = sysvisor.record.ReplayView(rec, 0)
    assert v.read_str(0x1000, 100) == (b"/etc/hostname", True)
    assert v.read_str(0x1000, 4) == (b"/etc", False)
    assert v.read_str(0x1004, 100) is None  # not recorded: unreadable
    assert v.read(0x1000, 5) == b"/etc/"
    assert sysvisor.record.ReplayView(rec, 1).read(0x2001, 2) == b"bc"
    assert sysvisor.record.ReplayView(rec, 0).read(0x2000, 2) is None  # other phase


def test_follow_reads_a_growing_file(tmp_path):
    path = str(tmp_path / "t.svt")
    w = Writer(path)
    got = []
    done = threading.Event()

    def reader():
        for rec in read_records(path, follow=True, poll=0.01, stop=done.is_set):
            got.append(rec.seq)

    t = threading.Thread(target=reader)
    t.start()
    for i in range(20):
        w.add(SYSCALL, pid=1, tid=1, nr=39, args=(i,) * 6)
        w.flush()
        time.sleep(0.005)
    deadline = time.monotonic() + 5
    while len(got) < 20 and time.monotonic() < deadline:
        time.sleep(0.01)
    done.set()
    t.join(5)
    w.close()
    assert got == list(range(20))


def test_sequence_gap_is_an_error(tmp_path):
    path = str(tmp_path / "t.svt")
    w = Writer(path)
    w.add(SYSCALL, pid=1, tid=1, nr=39)
    w.seq += 1  # lose one
    w.add(SYSCALL, pid=1, tid=1, nr=39)
    w.close()
    with pytest.raises(RecordError) as ei:
        records(path)
    assert ei.value.offset == 64 + 160 and "sequence" in ei.value.reason


# ---- record and format ---------------------------------------------------------------

TRACE_SET = "openat,close,getpid"


def _trace_and_record(prog, live, rec):
    argv = [prog, "/etc/hostname", "3"]
    with open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
        rc1 = sysvisor.cli.main(["trace", "-f", "-e", f"trace={TRACE_SET}", "-o", live, "--", *argv])
        rc2 = sysvisor.cli.main(["record", "-f", "-e", f"trace={TRACE_SET}", "-o", rec, "--", *argv])
    return rc1, rc2


def test_round_trip_equals_live_trace(progs, priv, tmp_world):
    prog = progs.path("opens")
    live, rec = os.path.join(tmp_world, "live.txt"), os.path.join(tmp_world, "t.svt")
    assert run_as(priv, _trace_and_record, prog, live, rec) == (0, 0)
    with open(live) as f:
        live_lines = f.readlines()
    rc, out, err = cli("format", rec)
    assert rc == 0, err
    recs = records(rec)
    pids = {r.pid for r in recs} | {int(m) for m in re.findall(r"^(\d+) ", "".join(live_lines), re.M)}
    got = normalise(out.splitlines(), pids)
    want = normalise(live_lines, pids)
    assert got == want
    opens = [line for line in got if line.startswith("openat(") and "/etc/hostname" in line]
    assert len(opens) == 3, got
    # the file knows who recorded what
    sc = [r for r in recs if r.type == SYSCALL]
    assert all(r.pidns and r.arch_name == sysvisor.tables.native_arch() for r in sc)
    unset = [r for r in sc if r.duration_ns < 0 and not r.flags & NO_EXIT]
    assert unset == []  # every call that returned has its duration


def _trace_with_record(prog, live, rec):
    with open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
        return sysvisor.cli.main(["trace", "-f", "-o", live, "--record", rec, "--", prog, "3", "20"])


def test_trace_record_same_run(progs, priv, tmp_world):
    """`sysvisor trace --record`: one run, two renderings. Every line the
    live tracer printed whole is printed the same by format (lines split
    by other threads' calls are whole in format)."""
    if "--record" not in sysvisor.cli.trace.__loader__.get_source("sysvisor.cli.trace"):
        pytest.skip("sysvisor trace has no --record")
    live, rec = os.path.join(tmp_world, "live.txt"), os.path.join(tmp_world, "t.svt")
    assert run_as(priv, _trace_with_record, progs.path("threads"), live, rec) == 0
    with open(live) as f:
        live_lines = normalise(f.readlines())
    rc, out, err = cli("format", rec)
    assert rc == 0, err
    fmt_lines = normalise(out.splitlines())
    whole = [x for x in live_lines if "<unfinished ...>" not in x and "resumed>" not in x]
    missing = collections.Counter(whole) - collections.Counter(fmt_lines)
    assert not missing, missing
    live_calls = [x for x in live_lines if " = " in x and "<unfinished ...>" not in x]
    assert len([x for x in fmt_lines if " = " in x]) == len(live_calls)


def _record_threads(prog, path):
    with open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
        return sysvisor.cli.main(["record", "-f", "-e", "trace=getpid,openat,close",
                                  "-o", path, "--", prog, "3", "5"])


def test_filters_and_json(progs, tmp_world):
    path = os.path.join(tmp_world, "threads.svt")
    assert run_as("user", _record_threads, progs.path("threads"), path) == 0
    rc, out, err = cli("format", path, "--json")
    assert rc == 0, err
    objs = [json.loads(line) for line in out.splitlines()]
    calls = [o for o in objs if "event" not in o]
    events = {o["event"] for o in objs if "event" in o}
    assert {"exec", "exit", "fork"} <= events
    for o in calls:
        assert set(o) >= {"time", "pid", "tid", "ns", "cgroup", "arch", "nr", "name", "args",
                          "decoded", "retval", "errno", "duration_ns", "flags"}
    tids = sorted({o["tid"] for o in calls if o["name"] == "getpid"})
    assert len(tids) == 3  # the three worker threads
    pid = calls[0]["pid"]
    assert all(o["pid"] == pid for o in calls)

    # --tid
    rc, out, _ = cli("format", path, "--json", "--tid", str(tids[1]))
    sel = [json.loads(line) for line in out.splitlines()]
    assert sel and all(o["tid"] == tids[1] for o in sel)
    assert sum(o.get("name") == "getpid" for o in sel) == 5
    # --pid
    rc, out, _ = cli("format", path, "--json", "--pid", str(pid))
    assert len(out.splitlines()) == len(objs)
    rc, out, _ = cli("format", path, "--pid", "1")
    assert rc == 0 and out == ""
    # --syscall (names or classes); events stay
    rc, out, _ = cli("format", path, "--syscall", "getpid")
    lines = normalise(out.splitlines())
    assert sum(line.startswith("getpid()") for line in lines) == 15
    assert not any(line.startswith(("openat(", "close(")) for line in lines)
    rc, out, _ = cli("format", path, "--json", "--syscall", "%file")
    assert {json.loads(x).get("name") for x in out.splitlines()} <= {"openat", None}
    # --ns
    ns = calls[0]["ns"]
    rc, out, _ = cli("format", path, "--json", "--ns", str(ns))
    assert len(out.splitlines()) == len(objs)
    rc, out, _ = cli("format", path, "--ns", "1")
    assert out == ""
    # --since / --until (epoch seconds and ISO)
    times = sorted(o["time_ns"] for o in objs)
    mid = times[len(times) // 2]
    rc, out, _ = cli("format", path, "--json", "--since", f"{mid / 1e9:.9f}")
    after = [json.loads(x)["time_ns"] for x in out.splitlines()]
    assert after and all(t >= mid - 1000 for t in after) and len(after) < len(objs)
    iso = datetime.datetime.fromtimestamp(mid / 1e9).isoformat()
    rc, out, _ = cli("format", path, "--json", "--until", iso)
    before = [json.loads(x)["time_ns"] for x in out.splitlines()]
    assert before and all(t <= mid + 1000 for t in before) and len(before) < len(objs)
    rc, out, err = cli("format", path, "--since", "yesterday-ish")
    assert rc == 2 and "bad time" in err
    # timestamps and durations
    rc, out, _ = cli("format", path, "-ttt", "-T", "--syscall", "getpid")
    assert re.search(r"^(\[pid\s+\d+\] )?\d+\.\d{6} getpid\(\)\s+= \d+ <\d+\.\d{6}>$", out, re.M)


# ---- crashes --------------------------------------------------------------------------


def _record_and_kill_tracee(prog, path):
    layer = sysvisor.record.open_recorder(path, trace="nanosleep,clock_nanosleep,getpid")
    s = sysvisor.Session([layer], method="seccomp")
    saved, null = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)  # the program prints its pid
    try:
        pid = s.spawn([prog])
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(null)

    def killer():
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if os.path.getsize(path) > 64 + 30 * 160:
                break
            time.sleep(0.02)
        os.kill(pid, signal.SIGKILL)

    t = threading.Thread(target=killer)
    t.start()
    status = s.run()
    t.join()
    layer.finish()
    return status


def test_traced_program_sigkilled(progs, priv, tmp_world):
    path = os.path.join(tmp_world, "killed.svt")
    status = run_as(priv, _record_and_kill_tracee, progs.path("sleeper"), path)
    assert status == 128 + signal.SIGKILL
    recs = records(path)  # no RecordError: every record is intact
    calls = [r for r in recs if r.type == SYSCALL]
    assert len(calls) >= 20
    assert recs[-1].type == EXIT and os.WTERMSIG(recs[-1].retval) == signal.SIGKILL
    # only the call it was killed in can lack an exit; the kill may also land
    # between two calls (at a syscall-exit stop), then every call is whole
    unfinished = [r for r in calls if r.flags & NO_EXIT]
    assert unfinished in ([], [calls[-1]])
    rc, out, err = cli("format", path)
    assert rc == 0, err
    assert out.rstrip().endswith("+++ killed by SIGKILL +++")
    if unfinished:
        assert calls[-1].name in ("nanosleep", "clock_nanosleep", "getpid")
        assert re.search(r"^(clock_)?nanosleep\(.*\) += \?$|^getpid\(\) += \?$", out, re.M)


def _record_then_sysvisor_killed(prog, path):
    child = os.fork()
    if child == 0:
        rc = 99
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            rc = sysvisor.cli.main(["record", "-f", "-o", path, "--", prog, "100000000"])
        finally:
            os._exit(rc)
    deadline = time.monotonic() + 20
    seen_while_writing = 0
    while time.monotonic() < deadline:
        if os.path.exists(path) and os.path.getsize(path) > 64 + 200 * 160:
            # readable while being written: whatever is there is intact
            # (a record still being written may be cut at the end)
            try:
                with Reader(path) as r:
                    for _ in r:
                        seen_while_writing += 1
            except RecordError as e:
                assert "truncated" in e.reason, e
            break
        time.sleep(0.02)
    os.kill(child, signal.SIGKILL)
    _, st = os.waitpid(child, 0)
    return os.WIFSIGNALED(st) and os.WTERMSIG(st), seen_while_writing


def test_sysvisor_sigkilled(progs, priv, tmp_world):
    path = os.path.join(tmp_world, "sv-killed.svt")
    killed, seen = run_as(priv, _record_then_sysvisor_killed, progs.path("getpid_loop"), path)
    assert killed == signal.SIGKILL
    assert seen >= 100
    intact = []
    err = None
    try:
        with Reader(path) as r:
            for rec in r:
                intact.append(rec)
    except RecordError as e:
        err = e
    assert len(intact) >= seen
    assert sum(r.name == "getpid" for r in intact) >= 50
    if err is not None:  # only a record cut at the very end
        assert "truncated" in err.reason
        end = intact[-1].offset + 160 + sum(24 + len(p.data) + (-len(p.data) & 7)
                                            for p in intact[-1].payloads)
        assert err.offset == end
    rc, out, stderr = cli("format", path)
    assert rc in (0, 1)
    assert rc == 0 or re.search(r"corrupt record at offset \d+: truncated", stderr)
    assert out.count("getpid()") >= 50


# ---- damaged files --------------------------------------------------------------------------


def _record_opens(prog, path):
    with open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
        return sysvisor.cli.main(["record", "-e", "trace=openat,close", "-o", path, "--", prog,
                                  "/etc/hostname", "4"])


@pytest.fixture
def recorded(progs, tmp_world):
    path = os.path.join(tmp_world, "opens.svt")
    assert run_as("user", _record_opens, progs.path("opens"), path) == 0
    return path


def test_truncated_file(recorded):
    recs = records(recorded)
    _, full, _ = cli("format", recorded)
    full_lines = full.splitlines()
    k = len(recs) // 2
    cut = recs[k].offset + 100  # in the middle of record k
    with open(recorded, "r+b") as f:
        f.truncate(cut)
    rc, out, err = cli("format", recorded)
    assert rc == 1
    assert err.strip() == (f"sysvisor format: {recorded}: corrupt record at offset "
                           f"{recs[k].offset}: truncated record (100 of 160 bytes)")
    shown = [r for r in recs[:k] if r.type in (SYSCALL, SIGNAL, EXIT)]
    assert out.splitlines() == full_lines[:len(shown)]


def test_corrupt_byte(recorded):
    recs = records(recorded)
    _, full, _ = cli("format", recorded)
    k = len(recs) // 2
    pos = recs[k].offset + 80  # inside the arguments
    with open(recorded, "r+b") as f:
        f.seek(pos)
        b = f.read(1)
        f.seek(pos)
        f.write(bytes([b[0] ^ 0x40]))
    rc, out, err = cli("format", recorded)
    assert rc == 1
    assert f"corrupt record at offset {recs[k].offset}: checksum mismatch" in err
    shown = [r for r in recs[:k] if r.type in (SYSCALL, SIGNAL, EXIT)]
    assert out.splitlines() == full.splitlines()[:len(shown)]
    # the same through the API
    with pytest.raises(RecordError) as ei:
        records(recorded)
    assert ei.value.offset == recs[k].offset


def test_not_a_trace_file(tmp_path):
    p = tmp_path / "x.txt"
    p.write_text("hello, I am not a trace\n" * 10)
    rc, out, err = cli("format", str(p))
    assert rc == 1 and out == ""
    assert "not a sysvisor trace file" in err and str(p) in err
    with pytest.raises(NotATraceFile):
        records(str(p))
    (tmp_path / "empty").write_bytes(b"")
    rc, _, err = cli("format", str(tmp_path / "empty"))
    assert rc == 1 and "not a sysvisor trace file" in err
    rc, _, err = cli("format", str(tmp_path / "missing"))
    assert rc == 2 and "can't open" in err


def test_unwritable_output_fails_before_the_program_starts(tmp_path):
    marker = tmp_path / "ran"
    rc, out, err = cli("record", "-o", str(tmp_path / "no" / "such" / "dir.svt"), "--",
                       "touch", str(marker))
    assert rc == 2
    assert "can't open" in err and "No such file or directory" in err
    assert not marker.exists()


def test_record_event_hooks(progs, tmp_world):
    """Signals, forks and exits become event records (user, seccomp)."""
    path = os.path.join(tmp_world, "sig.svt")

    def go(path):
        with open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
            return sysvisor.cli.main(["record", "-f", "-e", "trace=kill", "-o", path, "--", "sh",
                                      "-c", "kill -USR1 $$; exit 3"])

    assert run_as("user", go, path) == 128 + signal.SIGUSR1
    recs = records(path)
    sig = [r for r in recs if r.type == SIGNAL]
    assert sig and sig[0].nr == signal.SIGUSR1 and len(sig[0].payloads[0].data) == 128
    assert recs[-1].type == EXIT and os.WTERMSIG(recs[-1].retval) == signal.SIGUSR1
    rc, out, _ = cli("format", path)
    assert "--- SIGUSR1" in out and "+++ killed by SIGUSR1 +++" in out


# ---- capture plans: the recorder's reads are the decoders' reads -----------------------------


class _ReadLog:
    """A decoder view over fake memory (every address readable, 0 = NULL)
    that logs each read like the recorder does."""

    def __init__(self, name, args, retval, arch="x86_64"):
        self.name, self.arch, self.nr, self.args, self.retval = name, arch, 0, list(args), retval
        self.pid = self.tid = 1
        self.ip = self.sp = 0
        self.data: dict = {}
        self.log: list = []

    def read(self, addr, n):
        self.log.append(("read", addr, n))
        # digits, and every other 64 bytes zero (so that pointer arrays end)
        return bytes(0 if (addr + i) // 64 % 2 else (addr + i) % 7 + 48
                     for i in range(min(max(n, 0), 512)))

    def read_str(self, addr, maxlen):
        self.log.append(("str", addr, maxlen))
        return b"/some/path", True

    def fd_path(self, fd):
        self.log.append(("fd", fd))
        return f"/fd/{fd}"


@pytest.mark.parametrize("fd_paths", [0, 1])
def test_capture_plans_read_what_the_decoders_read(fd_paths):
    from sysvisor.decode import (SIGS, Options, capture_entry, capture_exit, capture_plan,
                                 exit_parts, format_entry, signature)

    sysvisor.decode._load_families()
    opts = Options(strsize=64, fd_paths=fd_paths)
    arg_sets = [(3, 0x1000, 0x2000, 0x3000, 0x4000, 0x5000), (0, 0, 0, 0, 0, 0),
                (2**64 - 100, 0x1000, 8, 0x41, 0x2000, 1)]
    for name in sorted(SIGS):
        for args in arg_sets:
            for retval in (0, 5, -2):
                rendered = _ReadLog(name, args, None)
                try:
                    format_entry(rendered, opts)
                except Exception:  # noqa: BLE001 - decoders that raise are not compared
                    continue
                rendered.retval = retval
                exit_parts(rendered, opts)
                captured = _ReadLog(name, args, None)
                sig = signature(captured)
                plan = capture_plan(sig, opts)
                capture_entry(captured, opts, sig, plan)
                captured.retval = retval
                capture_exit(captured, opts, sig, plan)
                assert captured.log == rendered.log, (name, args, retval)

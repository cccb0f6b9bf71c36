"""Compiled layers on the in-process methods: the evaluator linked into the
shim runs the layers that are data (trace records into the process's ring,
fault injection, path remapping, fakeroot's ids) with no crossing to
Python; the supervisor drains the rings into the trace file.

Each test checks the behaviour and that the calls did not cross (the
engine counts crossings), and compares with the same stack run with
`compiled=False` (every call through the Python layers) where the
outputs must agree."""
from __future__ import annotations

import collections
import errno
import os
import re

import pytest

import sysvisor
import sysvisor.cli
import sysvisor.tables
from conftest import run_as
from helpers import traced_session, unavailable
from sysvisor.layers.faults import Faults, parse_inject
from sysvisor.layers.fakeroot import FakeRoot
from sysvisor.layers.record import Record
from sysvisor.layers.remap import Bind, Remap
from sysvisor.record.format import LOST, SYSCALL, read_records

for _arch in ("x86_64", "i386"):  # unprivileged children cannot import
    sysvisor.tables.table(_arch)

UNAVAILABLE = {m: unavailable(m) for m in ("sud", "preload")}


@pytest.fixture(params=["sud", "preload"])
def method(request):
    if UNAVAILABLE[request.param]:
        pytest.skip(UNAVAILABLE[request.param])
    return request.param


def run(argv, layers, method, compiled=True):
    """(status, stdout, crossings) of argv under the stack."""
    s = sysvisor.Session(list(layers), method=method, compiled=compiled)
    status, out = traced_session(s, argv)
    return status, out, s._engine.crossings


def recorded(path):
    """Per process (in order of appearance): its records' (name, result)
    and their rendering with addresses and pids masked."""
    from sysvisor.decode import Options
    from sysvisor.record import render_call

    procs: dict[int, list] = collections.OrderedDict()
    lost = 0
    for rec in read_records(path):
        if rec.type == LOST:
            lost += 1
        if rec.type != SYSCALL:
            continue
        text = re.sub(r"0x[0-9a-f]{6,}", "ADDR", render_call(rec, Options()))
        procs.setdefault(rec.pid, []).append((rec.name, rec.retval, text))
    return list(procs.values()), lost


SCRIPT = "cat /etc/hostname >/dev/null; ls / >/dev/null; echo x > f; cat f; cat missing 2>/dev/null; true"


def test_ring_records_match_the_python_recorder(priv, method, tmp_world):
    """sh with forks and execs, traced -e trace=%file: the records the
    programs wrote into their rings are the records the Python recorder
    writes for the same run, process by process, with no crossing."""
    def fn():
        out = {}
        for compiled in (True, False):
            path = os.path.join(tmp_world, f"t{int(compiled)}.svt")
            rec = Record(path, trace="%file")
            try:
                status, stdout, crossings = run(["sh", "-c", SCRIPT], [rec], method, compiled)
            finally:
                rec.finish()
            out[compiled] = (status, stdout, crossings, rec.records, recorded(path))
        return out

    out = run_as(priv, fn)
    (st1, out1, x1, n1, (procs1, lost1)), (st0, out0, x0, n0, (procs0, lost0)) = out[True], out[False]
    assert st1 == st0 == 0 and out1 == out0 == "x\n"
    assert lost1 == lost0 == 0
    assert x1 == 0 and x0 >= n0 > 20  # compiled: not one call crossed
    # (preload does not see vfork: a vfork child's calls before its exec carry its parent's pid)
    assert n1 == n0 and len(procs1) == len(procs0) >= 5
    for a, b in zip(procs1, procs0):
        if method == "sud":
            assert [r[:2] for r in a] == [r[:2] for r in b]
            assert [r[2] for r in a] == [r[2] for r in b]
        else:  # a vfork child's records are its parent's: their interleaving is a race
            assert collections.Counter(a) == collections.Counter(b)
    names = [name for p in procs1 for name, _, _ in p]
    assert names.count("execve") == 4  # cat, ls, cat, cat
    assert any(r[2].startswith('openat(AT_FDCWD, "/etc/hostname"') or r[2].startswith('open("/etc/hostname"')
               for p in procs1 for r in p)
    assert any(r[1] == -errno.ENOENT and "missing" in r[2] for p in procs1 for r in p)


def test_ring_stress_200_threads_no_lost_record(progs, method, tmp_world):
    """200 threads x 10k calls each, all traced through the rings: every
    record is in the file, each thread's in its calls' order, none lost."""
    threads, calls = 200, 10000
    path = os.path.join(tmp_world, "stress.svt")
    rec = Record(path, trace="lseek")
    try:
        status, out, crossings = run([progs.path("stress_threads"), str(threads), str(calls), "lseek"], [rec], method)
    finally:
        rec.finish()
    assert status == 0 and out.strip() == f"stress ok {threads} {calls}"
    assert crossings == 0
    nxt: dict[int, int] = {}
    lost = 0
    seq = -1
    for r in read_records(path):
        assert r.seq == seq + 1
        seq = r.seq
        if r.type == LOST:
            lost += 1
        if r.type != SYSCALL or r.name != "lseek" or r.args[0] & 0xFFFFFFFF != 0xFFFFFFFF:
            continue
        assert r.retval == -errno.EBADF
        assert r.args[1] == nxt.get(r.tid, 0), f"thread {r.tid}: record {r.args[1]} out of order"
        nxt[r.tid] = r.args[1] + 1
    assert lost == 0
    assert len(nxt) == threads and set(nxt.values()) == {calls}


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "python"])
def test_vfork_exec_loop_beyond_the_slot_table(method, compiled, tmp_world):
    """300 vfork+execs from one sh (more than the shim's 256 call slots and
    thread slots), execve recorded: a vfork child's slot in its parent's
    region is freed (it used to leak until every call of sh hung)."""
    def fn():
        path = os.path.join(tmp_world, f"v{int(compiled)}.svt")
        rec = Record(path, trace="execve")
        try:
            status, out, _x = run(["sh", "-c", "for i in $(seq 300); do /bin/true; done; echo done"],
                                  [rec], method, compiled)
        finally:
            rec.finish()
        execs = [r for r in read_records(path) if r.type == SYSCALL and r.name == "execve"]
        return status, out, len(execs), sum(r.retval == 0 for r in execs)

    status, out, n, ok = run_as("root" if os.geteuid() == 0 else "user", fn, timeout=120)
    assert status == 0 and out == "done\n"
    assert n == ok == 300 + 1  # seq and the 300 true (sh's own exec comes before the shim)


def test_fault_injection_in_the_program(priv, method, tmp_world):
    """inject=mkdir:error=EACCES:when=2 (per thread): the second mkdir fails,
    decided by the evaluator, as the Python layer decides it."""
    def fn():
        res = {}
        for compiled in (True, False):
            d = os.path.join(tmp_world, f"c{int(compiled)}")
            os.mkdir(d)
            layer = Faults([parse_inject("mkdir:error=EACCES:when=2")])
            st, _out, x = run(["mkdir", f"{d}/a", f"{d}/b", f"{d}/c"], [layer], method, compiled)
            res[compiled] = (st, sorted(os.listdir(d)), x)
        return res

    res = run_as(priv, fn)
    assert res[True][:2] == res[False][:2] == (1, ["a", "c"])
    assert res[True][2] == 0 and res[False][2] == 3


def test_answered_calls_reach_the_exit_hooks_above(method, tmp_world):
    """A Python tracer above a fault: the injected error is printed as the
    call's result (the answered call's exit hooks run), compiled or not."""
    out = os.path.join(tmp_world, "t.txt")
    d = os.path.join(tmp_world, "d")
    rc = sysvisor.cli.main(["trace", "--method", method, "-o", out, "-e", "trace=mkdir",
                            "-e", "inject=mkdir:error=EACCES", "mkdir", d])
    assert rc == 1 and not os.path.exists(d)
    with open(out) as f:
        text = f.read()
    assert f'mkdir("{d}", 0777) = -1 EACCES (Permission denied) (INJECTED)' in text


def test_remap_in_the_program(priv, method, tmp_world):
    """A bind /guest -> a host directory: opened, listed and refused
    (read-only) in the program with no crossing."""
    host = os.path.join(tmp_world, "host")
    os.mkdir(host)
    os.chmod(host, 0o755)
    with open(os.path.join(host, "file"), "w") as f:
        f.write("mapped\n")
    # (preload: ls's opendir opens inside libc, which the overlay does not see)
    script = "cat /guest/file; echo no > /guest/new || echo refused" + ("; ls /guest" if method == "sud" else "")

    def fn():
        return run(["sh", "-c", script], [Remap([Bind("/guest", host, readonly=True)])], method)

    status, out, crossings = run_as(priv, fn)
    assert out.split() == ["mapped", "refused"] + (["file"] if method == "sud" else [])
    assert crossings == 0


def test_fakeroot_ids_in_the_program_across_fork_and_exec(priv, method):
    """getuid answers 0; a setuid(5) survives fork and exec (the identity
    lives in the process's region and is carried to the new image)."""
    code = ("import os,sys; os.setresuid(5,5,5); pid=os.fork()\n"
            "if pid == 0: os.execvp('id', ['id', '-u'])\n"
            "os.waitpid(pid, 0); print(os.getuid(), os.geteuid())")
    argv = ["sh", "-c", f"id -u; python3 -c \"{code}\""]

    def fn():
        return run(argv, [FakeRoot()], method)

    status, out, crossings = run_as(priv, fn)
    assert status == 0 and out.split() == ["0", "5", "5", "5"]


def test_compiled_false_is_the_python_path(method):
    """The session knob: with compiled=False nothing runs in the program."""
    s = sysvisor.Session([FakeRoot()], method=method, compiled=False)
    assert s._engine.compiled is None and s._engine.blob == b""
    s = sysvisor.Session([FakeRoot()], method=method)
    assert s._engine.compiled is not None and s._engine.blob[:8] == b"SVPOLICY"

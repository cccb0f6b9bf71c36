"""The Faults layer (strace's -e inject= / -e fault=): parsing, and real
programs under sysvisor compared with the same programs under strace 6.1."""
from __future__ import annotations

import contextlib
import errno
import io
import os
import re
import shutil
import subprocess

import pytest

import sysvisor
import sysvisor.cli
import sysvisor.cli.format
import sysvisor.cli.trace
from sysvisor.errors import UsageError
from sysvisor.layers.faults import (Faults, Injection, When, parse_delay, parse_inject,
                                    parse_signal)
from conftest import run_as
from helpers import traced

STRACE = shutil.which("strace")
needs_strace = pytest.mark.skipif(STRACE is None, reason="strace not installed")
ENV = {k: v for k, v in os.environ.items() if not k.startswith("LC_")}
ENV["LANG"] = "C"
METHODS = ["ptrace", "seccomp"]


@pytest.fixture(params=METHODS)
def method(request):
    return request.param


# ---- parsing --------------------------------------------------------------------------


@pytest.mark.parametrize("expr,hits", [
    ("3", [3]),
    ("2..4", [2, 3, 4]),
    ("3+", [3, 4, 5, 6, 7, 8, 9, 10]),
    ("2+3", [2, 5, 8]),
    ("2..8+3", [2, 5, 8]),
    ("2..4+", [2, 3, 4]),
    ("1..1", [1]),
])
def test_when_selects_invocations_like_strace(expr, hits):
    w = When.parse(expr)
    assert [n for n in range(1, 11) if w.matches(n)] == hits


@pytest.mark.parametrize("expr", ["0", "2..1", "1+0", "65536", "1..65535", "x", "1-3", "", "+2"])
def test_bad_when_is_a_usage_error(expr):
    with pytest.raises(UsageError, match="when="):
        When.parse(expr)


def test_parse_inject_options():
    i = parse_inject("openat,read:error=ENOENT:signal=usr1:delay_enter=1.5ms:delay_exit=20:when=3+")
    assert (i.set, i.error, i.signal) == ("openat,read", errno.ENOENT, 10)
    assert (i.delay_enter_ns, i.delay_exit_ns, i.when) == (1_500_000, 20_000, When(3, 0, 1))
    assert parse_inject("getpid:retval=0x10").retval == 16
    assert parse_inject("getpid:retval=-5").retval == -5
    assert parse_inject("write:poke_enter=@arg2=4142").poke_enter == ((1, b"AB"),)
    assert parse_inject("chdir:error=1:when=1:when=2").when == When(2, 0, 0)  # the last when= wins
    f = parse_inject("chdir", "fault")
    assert f.error == errno.ENOSYS and f.answers
    assert parse_delay("2s") == 2 * 10**9 and parse_delay("7") == 7000
    assert parse_signal("SIGRTMIN") == 34 or parse_signal("34") == 34


@pytest.mark.parametrize("expr,kind,msg", [
    ("getpid", "inject", "needs error="),
    ("getpid:error=EFOO", "inject", "unknown errno"),
    ("getpid:error=4096", "inject", "invalid errno"),
    ("getpid:error=1:error=2", "inject", "twice"),
    ("getpid:error=1:retval=2", "inject", "mutually exclusive"),
    ("getpid:signal=SIGNOPE", "inject", "unknown signal"),
    ("getpid:signal=65", "inject", "invalid signal"),
    ("getpid:delay_enter=soon", "inject", "invalid delay"),
    ("getpid:frobnicate=1", "inject", "invalid option"),
    ("getpid:syscall=getppid", "inject", "syscall= needs"),
    ("write:poke_enter=@arg9=00", "inject", "invalid poke"),
    ("getpid:retval=3", "fault", "only error= and when="),
    (":error=EPERM", "inject", "empty syscall set"),
])
def test_bad_inject_is_a_usage_error(expr, kind, msg):
    with pytest.raises(UsageError, match=msg):
        parse_inject(expr, kind)


def test_unknown_syscall_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown syscall"):
        Faults([parse_inject("opnat:error=EPERM")]).interests(sysvisor.tables.table("x86_64"))


def test_cli_reports_bad_expressions_in_one_line(capsys):
    for expr in ("inject=getpid:error=EFOO", "inject=getpid:when=0:error=EPERM",
                 "inject=getpid:syscall=write:error=EPERM", "fault=nosuchcall"):
        assert sysvisor.cli.main(["trace", "-e", expr, "--", "true"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("sysvisor trace: ") and "Traceback" not in err, err
        assert len(err.strip().splitlines()) == 1, err


# ---- against strace -------------------------------------------------------------------------


def _strace(args, workdir):
    out = os.path.join(workdir, "strace.txt")
    p = subprocess.run([STRACE, "-qq", "-o", out, *args], env=ENV, capture_output=True, text=True)
    with open(out) as f:
        return p.returncode, p.stdout, f.read().splitlines()


def _sysvisor(args, workdir, method):
    out = os.path.join(workdir, "sysvisor.txt")
    cap = os.path.join(workdir, "stdout.txt")
    fd = os.open(cap, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    saved = os.dup(1)
    os.dup2(fd, 1)
    os.close(fd)
    old = dict(os.environ)
    os.environ.clear()
    os.environ.update(ENV)
    try:
        status = sysvisor.cli.main(["trace", "--method", method, "-o", out, *args])
    finally:
        os.environ.clear()
        os.environ.update(old)
        os.dup2(saved, 1)
        os.close(saved)
    with open(out) as f, open(cap) as g:
        return status, g.read(), f.read().splitlines()


def _both(args, workdir, method):
    return _strace(args, workdir), _sysvisor(args, workdir, method)


def _norm(lines):
    """Addresses vary from run to run; strace -qq prints no exit lines, and
    SIGCHLD's siginfo holds the pid."""
    return [re.sub(r"\)\s+= ", ") = ", re.sub(r"0x[0-9a-f]+", "0xADDR", ln)) for ln in lines
            if not ln.startswith(("+++", "--- SIGCHLD"))]


@needs_strace
def test_cat_openat_enoent_when_3_matches_strace(priv, method, tmp_world):
    (rs, outs, theirs), (rv, outv, ours) = run_as(
        priv, _both, ["-e", "trace=openat,read,write,close",
                      "-e", "inject=openat:error=ENOENT:when=3", "cat", "/etc/hostname"],
        tmp_world, method)
    # LANG=C: ld.so.cache, libc, then the file itself, which "does not exist"
    assert rs == rv == 1 and outs == outv == ""
    assert _norm(ours) == _norm(theirs)
    hit = [ln for ln in ours if "(INJECTED)" in ln]
    assert len(hit) == 1 and hit[0].startswith('openat(AT_FDCWD, "/etc/hostname"')
    assert "ENOENT" in hit[0]


@needs_strace
def test_counting_per_thread_and_child_matches_strace(progs, priv, method, tmp_world):
    prog = progs.path("inject_counts")
    (rs, outs, theirs), (rv, outv, ours) = run_as(
        priv, _both, ["-f", "-e", "trace=getpid", "-e", "inject=getpid:retval=42:when=2..4+2", prog],
        tmp_world, method)
    assert rs == rv == 0

    def shape(out):  # pids vary; which calls returned 42 must not
        return [re.sub(r" \d+$", lambda m: " 42" if m[0] == " 42" else " PID", ln)
                for ln in out.splitlines()]
    assert shape(outv) == shape(outs)
    # every thread and the child start counting afresh: 2nd and 4th calls
    assert shape(outv) == ["M PID", "M 42", "T PID", "T 42", "T PID", "C PID", "C 42", "C PID",
                           "M PID", "M 42", "M PID"]
    assert sum("42 (INJECTED)" in ln for ln in ours) == 4


@needs_strace
def test_trace_set_and_P_restrict_injection_like_strace(priv, method, tmp_world):
    # strace tampers with traced calls only: -e trace= and -P narrow the injection
    (rs, outs, theirs), (rv, outv, ours) = run_as(
        priv, _both, ["-P", "/etc/hostname", "-e", "inject=openat:error=EACCES",
                      "cat", "/etc/hostname", "/etc/passwd"], tmp_world, method)
    assert rs == rv == 1
    assert outs == outv and "root:" in outv
    assert _norm(ours) == _norm(theirs)
    ours = _norm(ours)
    assert len(ours) == 1 and "EACCES" in ours[0] and ours[0].endswith("(INJECTED)")


@needs_strace
def test_markers_delay_and_syscall_substitution_match_strace(progs, priv, method, tmp_world):
    prog = progs.path("inject_counts")
    for inj in ("getpid:error=EPERM:delay_exit=10:when=1", "getpid:delay_enter=1ms:when=2",
                "getpid:syscall=getppid:error=EPERM:when=1"):
        (rs, outs, theirs), (rv, outv, ours) = run_as(
            priv, _both, ["-e", "trace=getpid", "-e", f"inject={inj}", prog], tmp_world, method)
        assert rs == rv == 0

        def shape(lines):
            return [re.sub(r"= \d+", "= PID", ln) for ln in _norm(lines)]
        assert shape(ours) == shape(theirs), inj


def test_signal_is_delivered_at_entry(progs, priv, method, tmp_world):
    prog = progs.path("inject_counts")
    status, out, lines = run_as(priv, _sysvisor, ["-e", "trace=getpid", "-e",
                                                  "inject=getpid:signal=SIGUSR1:when=2", prog, "sig"],
                                tmp_world, method)
    assert status == 0
    # the handler ran once, right after the second call of the main thread
    assert out.splitlines()[:3] == [out.splitlines()[0], "got SIGUSR1", out.splitlines()[2]]
    assert out.count("got SIGUSR1") == 3  # main thread, second thread and child: once each
    sigs = [ln for ln in lines if ln.startswith("--- SIGUSR1")]
    assert len(sigs) == 1 and "si_code=SI_TKILL" in sigs[0]  # -f not given: the main thread only


def test_poke_enter_changes_the_buffer(priv, method, tmp_world):
    # echo's write(1, "hello\n", 6): the first three bytes are overwritten at
    # entry; the tracer, above the layer, rendered the buffer before (strace
    # pokes first: it prints "HEYlo\n")
    status, out, lines = run_as(priv, _sysvisor, ["-e", "trace=write", "-e",
                                                  "inject=write:poke_enter=@arg2=484559", "sh", "-c",
                                                  "echo hello"], tmp_world, method)
    assert status == 0 and out == "HEYlo\n"
    assert lines[0] == 'write(1, "hello\\n", 6)'.ljust(39) + " = 6 (INJECTED: args)"


# ---- the Python API -------------------------------------------------------------------------


def _api(layers, argv, method):
    return traced(argv, layers, method=method)


def test_predicates_restrict_injection_and_stops(priv, method, tmp_world):
    from sysvisor import arg

    def fn():
        f = Faults([Injection("write", error=errno.EIO, predicates=((arg(0, bits=32) == 1,),))])
        s = sysvisor.Session([f], method=method, measure=True)
        from helpers import traced_session

        status, out = traced_session(s, ["sh", "-c", "echo out; echo err >&2; echo $? >&2"])
        return status, out, s.stops
    status, out, stops = run_as(priv, fn)
    assert out == ""  # the write to fd 1 failed with EIO; the writes to fd 2 went through
    if method == "seccomp":
        assert stops < 20  # writes to fd 2 never stopped: the predicate is in the filter


def test_scope_process_counts_threads_together(progs, priv, method):
    prog = progs.path("inject_counts")

    def fn():
        f = Faults([Injection("getpid", retval=42, when=When(3, 0, 0), scope="process")])
        return traced([prog], [f], method=method)
    status, out = run_as(priv, fn)
    got = [ln.split()[0] + (" 42" if ln.endswith(" 42") else "") for ln in out.splitlines()]
    # 3rd getpid of the process: the second thread's first; the child counts afresh
    assert got == ["M", "M", "T 42", "T", "T", "C", "C", "C 42", "M", "M", "M"]


def test_unotify_answers_injected_errors(priv, tmp_world):
    def fn():
        f = Faults([parse_inject("openat:error=EACCES:when=1")])
        return traced(["sh", "-c", "exec cat /etc/hostname 2>&1"], [f], method="unotify")
    status, out = run_as(priv, fn)
    # the first openat (ld.so.cache) fails; ld.so falls back to its default paths
    assert status == 0 and out == open("/etc/hostname").read()


def test_recorded_injection_formats_like_the_live_trace(priv, method, tmp_world):
    def fn(workdir):
        rec = os.path.join(workdir, "t.svt")
        st, _out, live = _sysvisor(["--record", rec, "-e", "trace=openat",
                                    "-e", "inject=openat:error=ENOENT:when=2", "cat", "/etc/hostname"],
                                   workdir, method)
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            sysvisor.cli.main(["format", rec])
        return st, live, buf.getvalue().splitlines()
    st, live, formatted = run_as(priv, fn, tmp_world)
    assert st == 0  # the 2nd openat is libc's: ld.so finds it on its fallback path
    assert formatted == live
    assert sum("(INJECTED)" in ln for ln in formatted) == 1

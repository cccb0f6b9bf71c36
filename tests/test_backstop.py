"""The hybrid backstop of the in-process methods (sud+backstop,
preload+backstop): a seccomp filter sends to the supervisor every call a
layer asked for that does not come from the shim's trampoline. Real
programs, as root and with privileges dropped: static binaries, JIT code,
the loader's calls, exec chains through static programs, syscall
instructions at the trampoline's edges, the same counts as ptrace, threads
and forks, the supervisor's death; and what a backstopped call cannot do."""
from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import time

import pytest

import sysvisor
import sysvisor.cli
import sysvisor.methods
import sysvisor.methods.backstop as backstop
import sysvisor.tables
from conftest import run_as
from helpers import Count, FakePid, traced_session
from sysvisor.arch import AUDIT_ARCH_AARCH64, AUDIT_ARCH_I386, AUDIT_ARCH_X86_64
from sysvisor.kernel import bpf
from sysvisor.kernel.filter import ArchInterests, compile_filter
from sysvisor.methods.backstop import TRAMP_ADDR, BackstopCall

for _arch in ("x86_64", "i386"):  # unprivileged children cannot import
    sysvisor.tables.table(_arch)

METHODS = ("sud+backstop", "preload+backstop", "sud", "preload", "ptrace")
UNAVAILABLE = {}
for _m in METHODS:
    try:
        sysvisor.methods.choose(_m, [])
    except sysvisor.SysvisorError as _e:
        UNAVAILABLE[_m] = str(_e)


def _need(m):
    if m in UNAVAILABLE:
        pytest.skip(f"{m} unavailable: {UNAVAILABLE[m]}")
    return m


@pytest.fixture(params=["sud+backstop", "preload+backstop"])
def bmethod(request):
    return _need(request.param)


def run(argv, layers, method, tramp=None):
    """(status, stdout, session) of argv under a fresh session."""
    s = sysvisor.Session(list(layers), method=method)
    if tramp is not None:
        s._engine.backstop.tramp = tramp
    status, out = traced_session(s, argv)
    return status, out, s


class Seen(sysvisor.Layer):
    """Which getpid/openat calls reached the layers, and by which way."""

    def __init__(self):
        self.calls = []  # (name, via backstop, ip, path or None)

    def _note(self, call):
        path = call.path(1) if call.name == "openat" else None
        self.calls.append((call.name, isinstance(call, BackstopCall), call.ip, path))
        return call.next()

    getpid = openat = _note

    def names(self, name, via=None):
        return [c for c in self.calls if c[0] == name and (via is None or c[1] == via)]


# ---- the filter ---------------------------------------------------------------------------

def test_filter_ip_range_and_arch_checks():
    x86, i386 = ArchInterests(AUDIT_ARCH_X86_64), ArchInterests(AUDIT_ARCH_I386)
    x86.add(39)  # getpid
    i386.add(20)
    lo, hi = backstop.ip_range(TRAMP_ADDR)
    code = compile_filter([x86, i386], bpf.RET_USER_NOTIF, ip_allow=(lo, hi))
    NOTIF, ALLOW, KILL = bpf.RET_USER_NOTIF, bpf.RET_ALLOW, bpf.RET_KILL_PROCESS
    t = TRAMP_ADDR
    for ip, want in [(t + 2, ALLOW), (t + 0x123, ALLOW), (t + 4095, ALLOW),
                     (t, NOTIF), (t + 1, NOTIF), (t + 4096, NOTIF), (t + 8194, NOTIF),
                     (t - 2, NOTIF), (0x7F00_0000_1000, NOTIF), (t + (1 << 32) + 2, NOTIF),
                     (t - (1 << 32) + 2, NOTIF)]:
        assert bpf.run(code, 39, AUDIT_ARCH_X86_64, ip=ip) == want, hex(ip)
    assert bpf.run(code, 20, AUDIT_ARCH_I386, ip=t + 2) == ALLOW  # the shim's int $0x80
    assert bpf.run(code, 20, AUDIT_ARCH_I386, ip=0x8048000) == NOTIF
    # calls no layer asked for pass wherever they come from; x32 numbers
    # always reach the supervisor; unknown ABIs are killed
    assert bpf.run(code, 0, AUDIT_ARCH_X86_64, ip=0x1234) == ALLOW
    assert bpf.run(code, 0x40000000 | 39, AUDIT_ARCH_X86_64, ip=t + 2) == NOTIF
    assert bpf.run(code, 39, AUDIT_ARCH_AARCH64, ip=t + 2) == KILL
    with pytest.raises(ValueError, match="4 GiB"):
        compile_filter([x86], bpf.RET_USER_NOTIF, ip_allow=(0xFFFF_F000, 0x1_0000_1000))


def test_bad_trampoline_address_is_refused():
    s = sysvisor.Session([], method=_need("sud+backstop"))
    with pytest.raises(ValueError, match="page-aligned"):
        s._engine.backstop.tramp = TRAMP_ADDR + 1


# ---- what the backstop sees -----------------------------------------------------------------

def test_static_binary_seen_and_answered(progs, priv, bmethod):
    def fn(loop, hello):
        seen = Seen()
        status, out, s = run([loop, "20"], [seen, FakePid()], bmethod)
        seen2 = Seen()
        status2, out2, _ = run([hello], [seen2], bmethod)
        return status, out, seen.calls, status2, out2, seen2.calls, s._engine.crossings

    status, out, calls, status2, out2, calls2, crossings = run_as(
        priv, fn, progs.path("getpid_loop", static=True), progs.path("static_hello", static=True))
    assert status == 0 and out.strip() == f"sum={4242 * 20 % 1000003} last=4242"
    getpids = [c for c in calls if c[0] == "getpid"]
    assert len(getpids) == 20 and all(via for _, via, _, _ in getpids)
    assert crossings == 0  # no shim in a static program: all through the backstop
    assert status2 == 0 and out2 == "static ok\n"
    assert [c[3] for c in calls2 if c[0] == "openat"] == ["/etc/hostname"]


def test_static_binary_without_backstop_still_refused(progs):
    path = progs.path("static_hello", static=True)
    for m in ("sud", "preload"):
        if m in UNAVAILABLE:
            continue
        with pytest.raises(sysvisor.MethodUnavailable, match=r"statically linked.*\+backstop"):
            sysvisor.Session([Count("getpid")], method=m).spawn([path])


@pytest.mark.parametrize("method,seen", [("sud", True), ("preload", False),
                                         ("sud+backstop", True), ("preload+backstop", True)])
def test_jit_page_syscall(progs, priv, method, seen):
    """`mov $39,%eax; syscall; ret` written into an mmap'd page and called:
    sud dispatches it (SIGSYS), preload never sees it, the backstop does."""
    _need(method)

    def fn(path):
        c = Count("getpid")
        status, out, _ = run([path, "2"], [c, FakePid()], method)
        return status, out, c.counts["getpid"]

    status, out, n = run_as(priv, fn, progs.path("jit_getpid"))
    assert status == 0
    if seen:
        assert out.strip() == "jit=4242" and n == 2
    else:
        assert out.strip() != "jit=4242" and n == 0


def test_loader_calls_seen(progs, priv, bmethod):
    """The loader's openat of ld.so.cache and libc come before the shim's
    constructor: the backstop sees them (plain sud does not)."""
    def fn(path, plain):
        seen, seen_plain = Seen(), Seen()
        run([path, "/etc/hostname"], [seen], bmethod)
        if plain not in UNAVAILABLE:
            run([path, "/etc/hostname"], [seen_plain], plain)
        return seen.calls, seen_plain.calls

    calls, plain_calls = run_as(priv, fn, progs.path("opens"), bmethod.split("+")[0])
    paths = [c[3] for c in calls if c[0] == "openat"]
    assert "/etc/ld.so.cache" in paths
    assert any(p.endswith("/libc.so.6") for p in paths)
    assert all(c[1] for c in calls if c[3] == "/etc/ld.so.cache")  # by the backstop
    assert "/etc/ld.so.cache" not in [c[3] for c in plain_calls]


def test_exec_chain_dynamic_static_dynamic(progs, priv, bmethod):
    """dynamic -> static -> dynamic: the shim follows the first image only;
    the static one (and what it starts, which gets no shim back) is seen
    through the backstop, its getpid answered like the others."""
    def fn(dyn, static):
        c = Count("getpid", "execve")
        status, out, _ = run([dyn, static, dyn], [c, FakePid()], bmethod)
        return status, out, c.counts

    dyn, static = progs.path("exec_chain"), progs.path("exec_chain", static=True)
    status, out, counts = run_as(priv, fn, dyn, static)
    assert status == 0, out
    assert out.splitlines() == ["exec_chain getpid=4242 shim=yes",
                                "exec_chain-static getpid=4242 shim=no",
                                "exec_chain getpid=4242 shim=no"]
    assert counts == {"getpid": 3, "execve": 3}  # the spawn's and both of the program's


def test_trampoline_edges(progs, priv, bmethod):
    """A `syscall` just below the trampoline (the kernel reports ip = its
    first byte) and just above it is caught; a jump into the trampoline's own
    `syscall` with the program's registers is not: no security boundary."""
    def fn(path):
        seen = Seen()
        status, out, _ = run([path, str(TRAMP_ADDR)], [seen, FakePid()], bmethod)
        return status, out, seen.names("getpid")

    status, out, getpids = run_as(priv, fn, progs.path("tramp_edges"))
    if status == 2:
        pytest.skip("the pages around the trampoline are taken")
    assert status == 0, out
    fields = dict(kv.split("=") for kv in out.split())
    assert [ip for _, _, ip, _ in getpids] == [TRAMP_ADDR, TRAMP_ADDR + 8194]
    # below: answered, then the trampoline's stub it runs on into makes a
    # real getpid the filter lets through; above: answered; into: unseen
    assert fields["above"] == "4242"
    assert fields["below"] == fields["into"] != "4242" and int(fields["into"]) > 0


def test_counts_match_ptrace(progs, priv, bmethod):
    """Every way a program makes a call (libc wrapper, syscall(), inline
    instruction, JIT page, libc's internal fopen/printf): the backstop
    methods see what ptrace sees, plus the loader opening the shim."""
    names = ("getpid", "openat", "write", "execve", "exit_group")

    def fn(path):
        out = {}
        for m in ("ptrace", bmethod, bmethod.split("+")[0]):
            if m in UNAVAILABLE:
                continue
            c, seen = Count(*names), Seen()
            status, text, _ = run([path], [c, seen], m)
            out[m] = (status, text, c.counts, sorted(p for _, _, _, p in seen.names("openat")))
        return out

    res = run_as(priv, fn, progs.path("mixcalls"))
    if "ptrace" not in res:
        pytest.skip(f"ptrace unavailable: {UNAVAILABLE['ptrace']}")
    st, text, ref, ref_paths = res["ptrace"]
    assert st == 0 and "mix ok" in text
    status, _, got, paths = res[bmethod]
    assert status == 0
    shim = [p for p in paths if os.path.basename(p).startswith("libsv")]
    assert len(shim) == 1  # the loader loading the shim: the one extra call
    assert {k: v for k, v in got.items() if k != "openat"} == {k: v for k, v in ref.items() if k != "openat"}
    assert got["openat"] == ref["openat"] + 1
    assert [p for p in paths if p not in shim] == ref_paths
    assert ref["getpid"] == 6
    plain = res.get(bmethod.split("+")[0])
    if plain is not None:  # the shim alone misses calls (the loader's; preload: more)
        assert sum(plain[2].values()) < sum(ref.values())


def test_shim_calls_are_not_notified(progs, priv, bmethod):
    """A dynamic program's calls through the shim never reach the backstop:
    its notifications do not grow with the number of calls."""
    def fn(path):
        out = []
        for n in (10, 200):
            seen = Seen()
            status, text, s = run([path, str(n)], [seen, FakePid()], bmethod)
            out.append((status, text, len(seen.names("getpid", via=False)),
                        len(seen.names("getpid", via=True)), s._engine.backstop.stops))
        return out

    (s1, t1, shim1, bs1, stops1), (s2, t2, shim2, bs2, stops2) = run_as(priv, fn, progs.path("getpid_loop"))
    assert s1 == s2 == 0 and t2.strip().endswith("last=4242")
    assert (shim1, shim2) == (10, 200) and bs1 == bs2 == 0
    assert stops1 == stops2  # only the loader's openat calls and the spawn's execve


def test_threads_and_forks(progs, priv, bmethod):
    def fn(threads, forkexec):
        c = Count("getpid", "close", "execve")
        status, out, _ = run([threads, "6", "50"], [c], bmethod)
        e = Count("execve", "exit_group")
        status2, out2, _ = run([forkexec, "3"], [e], bmethod)
        return status, out, c.counts, status2, out2, e.counts

    status, out, counts, status2, out2, ecounts = run_as(priv, fn, progs.path("threads"),
                                                         progs.path("forkexec"))
    assert status == 0 and "threads ok 6" in out
    assert counts["getpid"] == 6 * 50 and counts["close"] >= 6 * 50
    assert status2 == 0 and "forkexec ok" in out2 and "vfork-ok" in out2
    # the spawn's execve, /bin/true and /bin/echo; every process's exit_group
    assert ecounts["execve"] == 3 and ecounts["exit_group"] >= 5


@pytest.mark.parametrize("prog,args", [("signals", []), ("sud_signals", []), ("sigstorm", ["100", "0"]),
                                       ("clone3", []), ("mt_exec", [])])
def test_programs_behave_as_without_sysvisor(progs, priv, bmethod, prog, args):
    """Signals (handlers, SIGSYS of its own, a storm during crossings), raw
    clone3 threads and processes, an exec from a non-leader thread: the same
    output as natively, with getpid, kill and openat watched."""
    path = progs.path(prog)
    native = run_as(priv, lambda: subprocess.run([path, *args], capture_output=True, text=True))
    if native.returncode == 77:
        pytest.skip(f"{prog}: unsupported here")

    def fn():
        c = Count("getpid", "kill", "openat", "gettid")
        return run([path, *args], [c], bmethod)[:2]

    status, out = run_as(priv, fn)
    assert status == native.returncode == 0
    # how many signals a storm got in depends on timing
    assert re.sub(r"signals=\d+", "", out) == re.sub(r"signals=\d+", "", native.stdout)
    assert out.strip()


def test_python_subprocess_vfork_exec(priv, bmethod):
    code = ("import subprocess, os; r = subprocess.run(['echo', 'x'], capture_output=True); "
            "print(r.stdout.decode().strip(), os.system('exit 3') >> 8)")

    def fn():
        c = Count("execve")
        return run(["python3", "-c", code], [c], bmethod)[:2] + (c.counts["execve"],)

    status, out, execs = run_as(priv, fn)
    assert status == 0 and out.split() == ["x", "3"]
    assert execs >= 3  # python3 itself, echo, and sh for os.system


def test_i386_and_x86_64_abis(progs, priv, bmethod):
    def fn(path):
        c = Count("getpid")
        status, out, _ = run([path], [c, FakePid()], bmethod)
        return status, out, c.arches, c.counts["getpid"]

    status, out, arches, n = run_as(priv, fn, progs.path("int80"))
    if status == 77:
        pytest.skip("no IA32 emulation")
    assert status == 0 and out.strip() == "int80=4242 syscall=4242"
    assert arches == {"x86_64", "i386"} and n >= 2


def test_shell_pipeline_and_python(priv, bmethod):
    def fn():
        a = run(["python3", "-c", "import os; print(os.getpid())"], [FakePid()], bmethod)[:2]
        c = Count("pipe2", "wait4", "execve")
        b = run(["sh", "-c", "echo abc | tr a x | cat; exit 3"], [c], bmethod)[:2]
        return a, b, c.counts

    (s1, o1), (s2, o2), counts = run_as(priv, fn)
    assert s1 == 0 and o1.strip() == "4242"
    assert s2 == 3 and o2 == "xbc\n" and counts["execve"] >= 3


def test_setid_program_followed_with_no_new_privs(progs, tmp_world, bmethod):
    """Under the backstop the tree runs with no_new_privs: an exec of a set-id
    program changes no ids, so the loader preloads the shim (plain sud
    refuses such an exec, EPERM)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to make a set-uid copy")
    copy = os.path.join(tmp_world, "exec_chain-setuid")
    with open(progs.path("exec_chain"), "rb") as src, open(copy, "wb") as dst:
        dst.write(src.read())
    os.chmod(copy, 0o4755)

    def fn(first):
        return run([first, copy], [FakePid()], bmethod)[:2]

    status, out = run_as("user", fn, progs.path("exec_chain"))
    assert status == 0, out
    assert out.splitlines()[1] == "exec_chain-setuid getpid=4242 shim=yes"


# ---- limits, errors --------------------------------------------------------------------------

class Redirect(sysvisor.Layer):
    def openat(self, call):
        if call.string(1) == "/nonexistent/file":
            call.set_arg(1, call.push(b"/etc/hostname\0"))
        return call.next()


class Plus1(sysvisor.Layer):
    def getpid(self, call):
        call.on_exit(self.done)
        return call.next()

    def done(self, call):
        call.set_return(call.retval + 1)


def test_backstopped_calls_cannot_change_args_or_see_results(progs, priv, bmethod, capfd):
    """A layer that changes arguments or needs results gets a clear error
    on a backstopped call, which then runs as the program made it; on the
    shim's calls the same layers work."""
    def fn(static_loop, dyn_opens):
        out = []
        for argv, layer in (([static_loop, "2"], Plus1()), ([dyn_opens, "/nonexistent/file"], Redirect())):
            s = sysvisor.Session([layer], method=bmethod)
            status, text = traced_session(s, argv)
            out.append((status, text, [(e[1], type(e[2]).__name__, str(e[2])) for e in s.errors]))
        return out

    (s1, t1, e1), (s2, t2, e2) = run_as(priv, fn, progs.path("getpid_loop", static=True),
                                        progs.path("opens"))
    assert s1 == 0 and "last=" in t1 and not t1.strip().endswith("last=4243")
    assert e1 and all(kind == "CapabilityError" and "caught by the backstop" in msg
                      for _, kind, msg in e1)
    assert "call.on_exit()" in e1[0][2]
    assert s2 == 0 and t2.strip() == "opened=1 failed=0 first_errno=none"  # the shim's call
    assert "caught by the backstop" in capfd.readouterr().err


def test_cli_trace_static_program(progs, priv, bmethod, tmp_world):
    """`sysvisor trace --method sud+backstop` on a static program: its calls
    are printed, with "= ?" for results the backstop cannot see."""
    def fn(path):
        out = os.path.join(tmp_world, f"trace-{os.getpid()}")
        rc = sysvisor.cli.main(["trace", "-o", out, "-e", "trace=openat,getpid", "--method", bmethod,
                                "--", path, "1"])
        with open(out) as f:
            return rc, f.read().splitlines()

    rc, lines = run_as(priv, fn, progs.path("getpid_loop", static=True))
    assert rc == 0
    assert lines == ["getpid()                                = ?", "+++ exited with 0 +++"]


def test_trampoline_address_taken(priv, bmethod, tmp_world, capfd):
    """The trampoline's fixed address is taken in the program (here: a
    non-PIE program's text at 0x400000): the shim kills it, with a message
    naming the address, rather than run it half-supervised."""
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "progs", "exitcode.c")
    exe = os.path.join(tmp_world, "nopie")
    r = subprocess.run(["gcc", "-O1", "-no-pie", "-o", exe, src], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot build a non-PIE program: {r.stderr[:200]}")
    os.chmod(exe, 0o755)
    status, _ = run_as(priv, lambda: run([exe, "3"], [Count("getpid")], bmethod, tramp=0x400000)[:2])
    assert status == 128 + signal.SIGKILL
    assert "cannot map the trampoline at the backstop's address 0x400000" in capfd.readouterr().err


def test_supervisor_death_fails_closed(progs, priv, bmethod, tmp_world):
    """sysvisor is killed while a static descendant (seen only through the
    backstop) runs: its next getpid fails with ENOSYS, it is never released."""
    def fn(probe, workdir):
        pidfile = os.path.join(workdir, f"probe-{bmethod}-{os.getpid()}")
        sup = os.fork()
        if sup == 0:
            os._exit(sysvisor.cli.main(["trace", "-f", "-o", os.devnull, "-e", "trace=getpid",
                                        "--method", bmethod, "--", "sh", "-c",
                                        f"{probe} {pidfile} 20 & wait"]))
        for _ in range(1000):
            if os.path.exists(pidfile) and os.path.getsize(pidfile):
                break
            time.sleep(0.01)
        else:
            os.kill(sup, signal.SIGKILL)
            os.waitpid(sup, 0)
            return "never started"
        os.kill(sup, signal.SIGKILL)
        os.waitpid(sup, 0)
        for _ in range(1000):
            try:
                with open(pidfile + ".done") as f:
                    return f.read().strip()
            except OSError:
                time.sleep(0.01)
        return "still running"

    result = run_as(priv, fn, progs.path("static_getpid_probe", static=True), tmp_world)
    assert result == f"errno={errno.ENOSYS}"


def test_method_declarations():
    for name in ("sud+backstop", "preload+backstop"):
        info = sysvisor.methods.METHODS[name]
        assert info.backstop and info.shim == name.split("+")[0] and not info.auto
        assert "boundary" not in info.capabilities
        assert "seccomp_user_notif" in info.requires
    for layers in ([Count("getpid")], []):
        assert not sysvisor.Session(layers).method.backstop

    class Enf(sysvisor.Layer):
        enforcing = True

    with pytest.raises(sysvisor.CapabilityError, match="boundary"):
        sysvisor.Session([Enf()], method="sud+backstop")
    with pytest.raises(sysvisor.AttachError, match="cannot attach"):
        sysvisor.Session([], method=_need("sud+backstop")).attach(os.getpid())

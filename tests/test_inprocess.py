"""The in-process methods (sud: syscall user dispatch; preload: the libc
overlay): the behaviours test_session.py checks on ptrace/seccomp, with real
programs, as root and with privileges dropped; plus what only they have to
get right (the shim's fds, mappings and variables stay out of sight,
clone/vfork trampolines, raw syscall instructions, the supervisor's death).

The preload method sees libc's exported syscall functions under their own
names (a program's open() is `open`, where the kernel sees openat), and
nothing libc does internally: the expectations say so where they differ."""
from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import time

import pytest

import sysvisor
import sysvisor.cli
import sysvisor.cli.trace
import sysvisor.layers.trace
import sysvisor.methods
import sysvisor.methods.inprocess
import sysvisor.tables
from conftest import run_as
import helpers
from helpers import Count, FakePid, traced_session

for _arch in ("x86_64", "i386"):  # unprivileged children cannot import
    sysvisor.tables.table(_arch)

UNAVAILABLE = {}
for _m in ("sud", "preload"):
    try:
        sysvisor.methods.choose(_m, [])
    except sysvisor.SysvisorError as _e:
        UNAVAILABLE[_m] = str(_e)


@pytest.fixture(params=["sud", "preload"])
def method(request):
    if request.param in UNAVAILABLE:
        pytest.skip(f"{request.param} unavailable: {UNAVAILABLE[request.param]}")
    return request.param


@pytest.fixture
def sud():
    if "sud" in UNAVAILABLE:
        pytest.skip(f"sud unavailable: {UNAVAILABLE['sud']}")
    return "sud"


def traced(argv, layers=(), method="sud", **kw):
    return helpers.traced(argv, layers, method, **kw)


# what the program's open() is called on each method
OPEN = {"sud": "openat", "preload": "open"}


# ---- exit status, threads, processes ---------------------------------------------

@pytest.mark.parametrize("prog,args,expected", [
    ("exitcode", ["3"], 3),
    ("sigkill_self", ["15"], 128 + 15),
    ("segv", [], 128 + 11),
])
def test_exit_status_like_a_shell(progs, priv, method, prog, args, expected):
    status, _ = run_as(priv, traced, [progs.path(prog), *args], [Count("getpid")], method)
    assert status == expected


def test_threads_all_seen(progs, priv, method):
    def fn(path):
        c = Count("getpid", OPEN[method], "close")
        status, out = traced([path, "6", "50"], [c], method)
        return status, out, c.counts

    status, out, counts = run_as(priv, fn, progs.path("threads"))
    assert status == 0 and "threads ok 6" in out
    assert counts["getpid"] == 6 * 50
    assert counts[OPEN[method]] >= 6 * 50 and counts["close"] >= 6 * 50


class Execs(sysvisor.Layer):
    def __init__(self):
        self.paths, self.forks, self.execs, self.exits = [], [], [], 0

    def execve(self, call):
        self.paths.append(call.path(0))
        return call.next()

    def on_fork(self, parent, child, kind):
        self.forks.append(kind)

    def on_exec(self, tid, former):
        self.execs.append((tid, former))

    def on_exit(self, tid, status):
        self.exits += 1


def test_fork_vfork_exec_chain(progs, priv, method):
    def fn(path):
        e = Execs()
        status, out = traced([path, "3"], [e], method)
        return status, out, e.paths, e.forks, e.execs, e.exits

    status, out, paths, forks, execs, exits = run_as(priv, fn, progs.path("forkexec"))
    assert status == 0, out
    assert "forkexec ok" in out and "vfork-ok" in out
    # the spawn's own exec happens before the shim exists: only the program's
    assert paths.count("/bin/true") == 1 and paths.count("/bin/echo") == 1
    assert len(execs) == 2
    assert forks.count("fork") >= 3
    if method == "sud":
        assert "vfork" in forks  # preload cannot wrap vfork: its child shows up at its exec
    assert exits >= 5


def test_clone3_thread_and_process(progs, priv, sud):
    """Raw clone3 in assembly: a thread on its own stack without TLS of its
    own, and a process; the child starts in the shim's trampoline, which
    re-arms dispatch and gives it back its exact registers."""
    def fn(path):
        c = Count("gettid", "exit", "exit_group")
        return traced([path], [c], "sud") + (c.counts,)

    status, out, counts = run_as(priv, fn, progs.path("clone3"))
    if status == 77:
        pytest.skip("clone3 unavailable")
    assert status == 0 and "clone3 ok" in out
    assert counts["gettid"] == 1 and counts["exit"] >= 1 and counts["exit_group"] >= 1


def test_multithreaded_exec_leader_change(progs, priv, sud):
    def fn(path):
        e = Execs()
        return traced([path], [e], "sud") + (e.execs,)

    status, out, execs = run_as(priv, fn, progs.path("mt_exec"))
    assert status == 0 and "mt-exec-ok" in out
    (tid, former), = execs  # the exec came from a non-leader thread: it took the leader's tid
    assert former != tid


def test_signals_delivered_unchanged(progs, priv, method):
    path = progs.path("signals")
    native = run_as(priv, lambda: subprocess.run([path], capture_output=True, text=True).stdout)
    status, out = run_as(priv, traced, [path], [Count("read", "getpid", "kill")], method)
    assert status == 0 and out == native and out.startswith("signals ok")


def test_signal_storm_during_crossings(progs, priv, method):
    """SIGUSR1 as fast as a child can send it while every getpid and open
    crosses to Python: no call fails with EINTR (SA_RESTART), none is lost."""
    def fn(path):
        c = Count("getpid", "openat", "syscall")
        status, out = traced([path, "300", "0"], [c], method)
        return status, out, c.counts

    status, out, counts = run_as(priv, fn, progs.path("sigstorm"))
    assert status == 0 and "storm ok rounds=300" in out, out
    assert counts["getpid"] >= 300


def test_threaded_io(progs, priv, method, tmp_world):
    def fn(path, prefix):
        c = Count("write", "read")
        status, out = traced([path, prefix], [c], method)
        return status, out, c.counts

    status, out, counts = run_as(priv, fn, progs.path("threaded_io"), os.path.join(tmp_world, "io."))
    assert status == 0 and "io ok" in out
    assert counts["write"] >= 4000 and counts["read"] >= 4


def test_python3_and_sh_pipeline(priv, method):
    def fn():
        a = traced(["python3", "-c", "import os; print(os.getpid())"], [FakePid()], method)
        c = Count("pipe", "pipe2", "wait4", "dup2")
        b = traced(["sh", "-c", "echo abc | tr a x | cat; exit 3"], [c], method)
        return a, b, c.counts

    (s1, o1), (s2, o2), counts = run_as(priv, fn)
    assert s1 == 0 and o1.strip() == "4242"
    assert s2 == 3 and o2 == "xbc\n"
    assert counts["pipe"] + counts["pipe2"] >= 2 and counts["dup2"] >= 2


def test_raw_syscall_instructions_and_int80(progs, priv, sud):
    """An inline `syscall` instruction and int $0x80 (the i386 ABI) both trap."""
    def fn(path):
        c = Count("getpid")
        status, out = traced([path], [c, FakePid()], "sud")
        return status, out, c.arches

    status, out, arches = run_as(priv, fn, progs.path("int80"))
    assert status == 0 and out.strip() == "int80=4242 syscall=4242"
    assert arches == {"x86_64", "i386"}


# ---- verdicts --------------------------------------------------------------------------

def test_answer_without_running(progs, priv, method):
    status, out = run_as(priv, traced, [progs.path("getpid_loop"), "100"], [FakePid()], method)
    assert status == 0 and out.strip() == f"sum={4242 * 100 % 1000003} last=4242"


class Redirect(sysvisor.Layer):
    def openat(self, call):
        if call.string(1) == "/nonexistent/file":
            call.set_arg(1, call.push(b"/etc/hostname\0"))
        return call.next()


def test_run_with_changed_args(progs, priv, method):
    status, out = run_as(priv, traced, [progs.path("opens"), "/nonexistent/file", "2"], [Redirect()], method)
    assert status == 0 and out.strip() == "opened=2 failed=0 first_errno=none"


class DenyHostname(sysvisor.Layer):
    def openat(self, call):
        if call.path(1) == "/etc/hostname":
            return call.fail(errno.EACCES)
        return call.next()


def test_fail_with_errno(progs, priv, method):
    status, out = run_as(priv, traced, [progs.path("opens"), "/etc/hostname", "3"], [DenyHostname()], method)
    assert status == 1 and out.strip() == "opened=0 failed=3 first_errno=EACCES"


class ResultChanger(sysvisor.Layer):
    def __init__(self):
        self.real = []

    def getpid(self, call):
        call.on_exit(self.done)
        return call.next()

    def done(self, call):
        self.real.append(call.retval)
        call.set_return(call.retval + 1)


def test_change_result_at_exit(progs, priv, method):
    def fn(path):
        r = ResultChanger()
        return traced([path, "5"], [r], method) + (r.real,)

    status, out, real = run_as(priv, fn, progs.path("getpid_loop"))
    assert status == 0 and len(real) == 5 and len(set(real)) == 1
    assert out.strip().endswith(f"last={real[0] + 1}")


def test_when_predicate_in_the_shim(priv, method):
    """@when predicates are checked by the shim: writes to fd 2 never cross."""
    class OnlyFd(sysvisor.Layer):
        def __init__(self):
            self.fds = []

        @sysvisor.when(sysvisor.arg(0, bits=32) == 1)
        def write(self, call):
            self.fds.append(call.fd_arg(0))
            return call.next()

    def fn():
        o = OnlyFd()
        # the system's python3: a pyenv shim is a shell script whose own helpers write to fd 1
        py = shutil.which("python3", path="/usr/bin:/bin") or "python3"
        status, _ = traced([py, "-c", "import os; os.write(1, b'a'); os.write(2, b'b')"], [o], method)
        return status, o.fds

    status, fds = run_as(priv, fn)
    assert status == 0 and fds == [1]


def test_many_threads_no_lost_or_misrouted_answer(progs, method):
    """200 threads x 1000 getpid calls, each answered with the caller's tid."""
    class TidPid(sysvisor.Layer):
        def __init__(self):
            self.n = 0

        def getpid(self, call):
            self.n += 1
            return call.ret(call.tid)

    layer = TidPid()
    status, out = traced([progs.path("stress_threads"), "200", "1000"], [layer], method)
    assert status == 0 and out.strip() == "stress ok 200 1000"
    assert layer.n == 200 * 1000


# ---- what the program can see --------------------------------------------------------------

PEEK = r"""
import os, sys
fds = sorted(int(f) for f in os.listdir('/proc/self/fd'))
env = open('/proc/self/environ', 'rb').read().split(b'\0')
maps = [l for l in open('/proc/self/maps') if 'sysvisor' in l or 'memfd' in l]
print(repr((fds, sorted(os.environ), [e.split(b'=')[0] for e in env if e], maps)))
"""


def test_shim_fds_maps_and_variables_are_out_of_sight(priv, method):
    def fn():
        s = sysvisor.Session([Count("getpid")], method=method)
        status, out = traced_session(s, ["python3", "-c", PEEK])
        env = dict(os.environ, LD_PRELOAD="libm.so.6")
        s2 = sysvisor.Session([Count("getpid")], method=method)
        with open(os.devnull, "w"):
            pass
        import tempfile

        with tempfile.TemporaryFile() as f:
            saved = os.dup(1)
            os.dup2(f.fileno(), 1)
            try:
                s2.spawn(["python3", "-c", "import os; print(os.environ.get('LD_PRELOAD'))"], env=env)
            finally:
                os.dup2(saved, 1)
                os.close(saved)
            status2 = s2.run()
            f.seek(0)
            out2 = f.read().decode()
        return status, out, status2, out2, s._engine.shim is not None

    status, out, status2, out2, _ = run_as(priv, fn)
    assert status == 0, out
    fds, names, raw_env, maps = eval(out.strip())
    assert all(fd < sysvisor.methods.inprocess.FD_BASE for fd in fds), fds
    assert "LD_PRELOAD" not in names and "SYSVISOR_SHIM" not in names
    assert b"LD_PRELOAD" not in raw_env and b"SYSVISOR_SHIM" not in raw_env
    shim_lines = [l for l in maps if "sysvisor" in l]
    assert shim_lines and all(l.rstrip().endswith(f"libsv{method}.so") for l in shim_lines), maps
    assert all("sysvisor" not in l for l in maps if "memfd" in l)
    # a program's own LD_PRELOAD is kept, and chained after the shim
    assert status2 == 0 and out2.strip() == "libm.so.6"


def test_shim_copy_is_removed_and_private(progs, method):
    s = sysvisor.Session([FakePid()], method=method)
    status, out = traced_session(s, [progs.path("getpid_loop"), "3"])
    assert status == 0 and "last=4242" in out
    d = s._engine.shim.dir
    assert not os.path.exists(d)


# ---- static programs, tracing, errors ---------------------------------------------------------

def test_static_binary_refused_clearly(progs, method):
    path = progs.path("static_hello", static=True)
    with pytest.raises(sysvisor.MethodUnavailable, match="statically linked.*ptrace, seccomp, unotify"):
        sysvisor.Session([Count("getpid")], method=method).spawn([path])


def test_exec_into_static_binary_fails_with_a_note(progs, priv, method, capfd):
    path = progs.path("static_hello", static=True)

    def fn():
        return traced(["sh", "-c", f"{path}; echo after=$?"], [Count("getpid")], method)

    status, out = run_as(priv, fn)
    err = capfd.readouterr().err
    assert "after=126" in out and "static ok" not in out
    assert "statically linked" in err


def test_auto_never_picks_an_in_process_method():
    for layers in ([Count("getpid")], [sysvisor.layers.trace.Trace()], []):
        assert sysvisor.Session(layers).method.name not in ("sud", "preload")


def test_errors_are_clear(method):
    class Enf(sysvisor.Layer):
        enforcing = True

    with pytest.raises(sysvisor.CapabilityError, match="boundary"):
        sysvisor.Session([Enf()], method=method)
    with pytest.raises(sysvisor.AttachError, match="cannot attach"):
        sysvisor.Session([], method=method).attach(os.getpid())
    with pytest.raises(sysvisor.SpawnError, match="command not found"):
        sysvisor.Session([], method=method).spawn(["no-such-command-xyz"])


def test_cli_method_option(progs, method, capsys):
    static = progs.path("static_hello", static=True)
    assert sysvisor.cli.main(["trace", "--method", method, "--", static]) == 2
    assert "statically linked" in capsys.readouterr().err
    assert sysvisor.cli.main(["trace", "-o", os.devnull, "--method", method, "--",
                              progs.path("exitcode"), "4"]) == 4


def _trace_lines(method, argv, tmp_world, expr):
    out = os.path.join(tmp_world, f"trace-{method}")
    assert sysvisor.cli.main(["trace", "-o", out, "-e", expr, "--method", method, "--", *argv]) == 0
    with open(out) as f:
        return f.read().splitlines()


def test_trace_output_equals_ptrace(progs, priv, sud, tmp_world):
    """On a simple program, `sysvisor trace --method sud` prints what the
    ptrace method prints from the program's own code on (the loader's calls
    before the shim's constructor are not seen)."""
    argv = [progs.path("opens"), "/etc/hostname", "2"]
    expr = "trace=openat,read,close,write,exit_group"

    def fn():
        return _trace_lines("ptrace", argv, tmp_world, expr), _trace_lines("sud", argv, tmp_world, expr)

    ref, got = run_as(priv, fn)
    first = next(i for i, l in enumerate(ref) if '"/etc/hostname"' in l)
    assert got == ref[first:]
    assert got[0].startswith('openat(AT_FDCWD, "/etc/hostname"') and got[-1] == "+++ exited with 0 +++"


def test_record_and_fakeroot_layers_run(priv, sud, tmp_world):
    def fn():
        from sysvisor.layers.fakeroot import FakeRoot
        from sysvisor.record import open_recorder

        fr = traced(["sh", "-c", "id -u; touch f; chown 7:8 f; stat -c %u:%g f"], [FakeRoot()], "sud")
        path = os.path.join(tmp_world, "rec.svt")
        rec = open_recorder(path, trace="openat")
        try:
            st = traced(["cat", "/etc/hostname"], [rec], "sud")[0]
        finally:
            rec.finish()
        return fr, st, rec.records

    (status, out), st, records = run_as(priv, fn)
    assert status == 0 and out.split() == ["0", "7:8"]
    assert st == 0 and records >= 2


# ---- the supervisor's death ------------------------------------------------------------------

def test_supervisor_death_program_dies(progs, priv, method, tmp_world):
    """The first process gets SIGKILL (PDEATHSIG); a descendant dies at its
    next intercepted call: nothing runs on unsupervised."""
    def fn(path, workdir):
        pidfile = os.path.join(workdir, f"sleeper-{method}-{os.getpid()}")
        sup = os.fork()
        if sup == 0:
            fd = os.open(pidfile, os.O_WRONLY | os.O_CREAT, 0o644)
            os.dup2(fd, 1)
            os._exit(sysvisor.cli.main(["trace", "-f", "-o", "/dev/null", "--method", method, "--",
                                        "sh", "-c", f"{path} & wait"]))
        victim = None
        for _ in range(500):
            time.sleep(0.01)
            try:
                with open(pidfile) as f:
                    victim = int(f.read().split()[0])
                break
            except (OSError, ValueError, IndexError):
                continue
        assert victim, "the traced sleeper never started"
        os.kill(sup, signal.SIGKILL)
        os.waitpid(sup, 0)
        for _ in range(500):
            if not os.path.exists(f"/proc/{victim}"):
                return True
            with open(f"/proc/{victim}/stat") as f:
                if f.read().split(")")[1].split()[0] == "Z":
                    return True
            time.sleep(0.01)
        os.kill(victim, signal.SIGKILL)
        return False

    assert run_as(priv, fn, progs.path("sleeper"), tmp_world)


def test_sigsys_and_masks_as_the_program_sees_them(progs, priv, method):
    """The program's own SIGSYS handler, SIGSYS in its masks, handlers with
    a full sa_mask: all behave as without the shim."""
    path = progs.path("sud_signals")
    native = run_as(priv, lambda: subprocess.run([path], capture_output=True, text=True).stdout)
    status, out = run_as(priv, traced, [path], [Count("getpid", "getppid", "kill")], method)
    assert status == 0 and out == native and out.startswith("sigsys ok")


def test_python_subprocess_vfork_exec(priv, method):
    """CPython's subprocess (vfork + exec in the child) and os.system."""
    code = ("import subprocess, os; r = subprocess.run(['echo', 'x'], capture_output=True); "
            "print(r.stdout.decode().strip(), os.system('exit 3') >> 8)")

    def fn():
        e = Execs()
        return traced(["python3", "-c", code], [e], method) + (e.paths,)

    status, out, paths = run_as(priv, fn)
    assert status == 0 and out.split() == ["x", "3"]
    assert any(p and p.endswith("/echo") for p in paths)

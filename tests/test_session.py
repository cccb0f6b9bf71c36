"""The core: Session, Layer and Call on the ptrace and seccomp methods,
with real programs, as root and with privileges dropped."""
from __future__ import annotations

import errno
import os
import signal
import threading
import time

import pytest

import sysvisor
import sysvisor.cli
import sysvisor.cli.trace
import sysvisor.layers.trace
import sysvisor.methods
import sysvisor.methods.ptrace
import sysvisor.tables
from conftest import run_as
import helpers
from helpers import Count, FakePid, traced, traced_session

# the unprivileged children cannot import anything new: load it all now
for _arch in ("x86_64", "i386", "aarch64"):
    try:
        sysvisor.tables.table(_arch)
    except Exception:
        pass

METHODS = ["ptrace", "seccomp"]
for _m in METHODS:  # probe the kernel once, before any fork
    sysvisor.methods.choose(_m, [])


@pytest.fixture(params=METHODS)
def method(request):
    return request.param


# ---- exit status ------------------------------------------------------------

@pytest.mark.parametrize("prog,args,expected", [
    ("exitcode", ["3"], 3),
    ("exitcode", ["0"], 0),
    ("sigkill_self", ["15"], 128 + 15),
    ("segv", [], 128 + 11),
])
def test_exit_status_like_a_shell(progs, priv, method, prog, args, expected):
    path = progs.path(prog)
    status, _ = run_as(priv, traced, [path, *args], [Count("getpid")], method)
    assert status == expected


def test_threads_all_seen(progs, priv, method):
    def fn(path):
        c = Count("getpid", "openat")
        status, out = traced([path, "6", "50"], [c], method)
        return status, out, c.counts

    status, out, counts = run_as(priv, fn, progs.path("threads"))
    assert status == 0 and "threads ok 6" in out
    assert counts["getpid"] == 6 * 50
    assert counts["openat"] >= 6 * 50


def test_fork_vfork_exec_chain(progs, priv, method):
    class Execs(sysvisor.Layer):
        def __init__(self):
            self.paths, self.forks, self.execs, self.exits = [], [], 0, 0

        def execve(self, call):
            self.paths.append(call.path(0))
            return call.next()

        def on_fork(self, parent, child, kind):
            self.forks.append(kind)

        def on_exec(self, tid, former):
            self.execs += 1

        def on_exit(self, tid, status):
            self.exits += 1

    def fn(path):
        e = Execs()
        status, out = traced([path, "3"], [e], method)
        return status, out, e.paths, e.forks, e.execs, e.exits

    status, out, paths, forks, execs, exits = run_as(priv, fn, progs.path("forkexec"))
    assert status == 0, out
    assert "forkexec ok" in out and "vfork-ok" in out
    assert paths.count("/bin/true") == 1 and paths.count("/bin/echo") == 1
    assert "vfork" in forks and forks.count("fork") >= 3
    assert execs == len(paths) == 3  # the program itself, true, echo
    assert exits >= 5


def test_clone3_thread_and_process(progs, priv, method):
    def fn(path):
        c = Count("gettid", "exit", "exit_group")
        return traced([path], [c], method) + (c.counts,)

    status, out, counts = run_as(priv, fn, progs.path("clone3"))
    if status == 77:
        pytest.skip("clone3 unavailable")
    assert status == 0 and "clone3 ok" in out
    assert counts["gettid"] >= 1 and counts["exit"] >= 1


def test_multithreaded_exec_leader_change(progs, priv, method):
    class Ex(sysvisor.Layer):
        def __init__(self):
            self.formers = []

        def on_exec(self, tid, former):
            self.formers.append((tid, former))

    def fn(path):
        e = Ex()
        return traced([path], [e], method) + (e.formers,)

    status, out, formers = run_as(priv, fn, progs.path("mt_exec"))
    assert status == 0 and "mt-exec-ok" in out
    # the second exec came from a non-leader thread: its tid changed
    assert len(formers) == 2 and formers[1][0] != formers[1][1]


def test_signals_delivered_unchanged(progs, priv, method):
    path = progs.path("signals")
    native = run_as(priv, lambda: __import__("subprocess").run([path], capture_output=True, text=True).stdout)

    class Sigs(sysvisor.Layer):
        def __init__(self):
            self.seen = []

        def on_signal(self, tid, signo, info):
            self.seen.append(signo)

    def fn():
        s = Sigs()
        return traced([path], [s, Count("read")], method) + (s.seen,)

    status, out, seen = run_as(priv, fn)
    assert status == 0 and out == native and out.startswith("signals ok")
    assert signal.SIGUSR1 in seen and signal.SIGALRM in seen


def test_static_binary(progs, priv, method):
    path = progs.path("static_hello", static=True)

    def fn():
        c = Count("openat", "open")
        return traced([path], [c], method) + (c.counts,)

    status, out, counts = run_as(priv, fn)
    assert status == 0 and "static ok" in out
    assert counts["openat"] + counts["open"] >= 1


# ---- verdicts -------------------------------------------------------------------

def test_answer_without_running(progs, priv, method):
    status, out = run_as(priv, traced, [progs.path("getpid_loop"), "100"], [FakePid()], method)
    assert status == 0 and out.strip() == f"sum={4242 * 100 % 1000003} last=4242"


class DenyHostname(sysvisor.Layer):
    @sysvisor.when(sysvisor.arg(0, bits=32) == -100 & 0xFFFFFFFF)
    def openat(self, call):
        if call.path(1) == "/etc/hostname":
            return call.fail(errno.EACCES)
        return call.next()


def test_fail_with_errno(progs, priv, method):
    status, out = run_as(priv, traced, [progs.path("opens"), "/etc/hostname", "3"], [DenyHostname()], method)
    assert status == 1 and out.strip() == "opened=0 failed=3 first_errno=EACCES"


class Redirect(sysvisor.Layer):
    def openat(self, call):
        if call.string(1) == "/nonexistent/file":
            call.set_arg(1, call.push(b"/etc/hostname\0"))
        return call.next()


def test_run_with_changed_args(progs, priv, method):
    status, out = run_as(priv, traced, [progs.path("opens"), "/nonexistent/file", "2"], [Redirect()], method)
    assert status == 0 and out.strip() == "opened=2 failed=0 first_errno=none"


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


def test_layer_stack_order(progs, priv, method):
    """The upper layer sees the call first and decides for the ones below."""
    class Upper(sysvisor.Layer):
        def __init__(self):
            self.n = 0

        def getpid(self, call):
            self.n += 1
            if self.n % 2:
                return call.ret(1)
            return call.next()

    def fn(path):
        lower = Count("getpid")
        status, out = traced([path, "10"], [Upper(), lower, FakePid()], method)
        return status, out, lower.counts["getpid"]

    status, out, lower_seen = run_as(priv, fn, progs.path("getpid_loop"))
    assert status == 0 and lower_seen == 5
    assert out.strip() == f"sum={(5 * 1 + 5 * 4242) % 1000003} last=4242"


def test_when_predicate_filters(progs, priv, method):
    class OnlyFd(sysvisor.Layer):
        def __init__(self):
            self.fds = []

        @sysvisor.when(sysvisor.arg(0, bits=32) == 1)
        def write(self, call):
            self.fds.append(call.fd_arg(0))
            return call.next()

    def fn():
        o = OnlyFd()
        status, _ = traced(["sh", "-c", "echo out; ls /nonexistent-xyz; true"], [o], method)
        return status, o.fds

    status, fds = run_as(priv, fn)
    assert status == 0 and fds == [1]


def test_int80_compat_abi_seen(progs, priv, method):
    def fn(path):
        c = Count("getpid")
        status, out = traced([path], [c, FakePid()], method)
        return status, out, c.arches

    status, out, arches = run_as(priv, fn, progs.path("int80"))
    assert status == 0
    assert out.strip() == "int80=4242 syscall=4242"
    assert arches == {"x86_64", "i386"}


# ---- robustness ---------------------------------------------------------------------

class Broken(sysvisor.Layer):
    def __init__(self, enforcing):
        self.enforcing = enforcing

    def openat(self, call):
        if call.string(1) == "/etc/hostname":
            raise RuntimeError("boom")
        return call.next()


@pytest.mark.parametrize("enforcing", [False, True])
def test_raising_handler_never_sticks(progs, priv, method, enforcing, capfd):
    def fn(path):
        return traced([path, "/etc/hostname", "4"], [Broken(enforcing)], method, insecure=True)

    status, out = run_as(priv, fn, progs.path("opens"))
    err = capfd.readouterr().err
    if enforcing:
        assert status == 1 and "first_errno=EPERM" in out
    else:
        assert status == 0 and "opened=4" in out
    assert err.count("raised RuntimeError") == 1


@pytest.mark.parametrize("method", METHODS + ["unotify", "sud", "preload"])
def test_blocking_handler_does_not_stall_others(progs, priv, method):
    """Thread A's first close blocks in its handler until the other threads
    have made 100 getpid calls: if blocking stalled the supervisor, this
    would deadlock (the run is bounded by run_as's timeout). close, not
    openat: libc's open() is `open` to the preload method."""
    why = helpers.unavailable(method)
    if why:
        pytest.skip(f"{method} unavailable: {why}")

    class Gate(sysvisor.Layer):
        def __init__(self):
            self.others = threading.Event()
            self.blocked_tid = None
            self.n = 0
            self.lock = threading.Lock()

        @sysvisor.blocking
        def close(self, call):
            with self.lock:
                first = self.blocked_tid is None and call.tid != call.pid
                if first:
                    self.blocked_tid = call.tid
            if first:
                assert self.others.wait(30), "other threads stalled"
            return call.next()

        def getpid(self, call):
            if self.blocked_tid is not None and call.tid != self.blocked_tid:
                self.n += 1
                if self.n >= 100:
                    self.others.set()
            return call.next()

    def fn(path):
        g = Gate()
        status, out = traced([path, "4", "200"], [g], method)
        return status, out, g.others.is_set()

    status, out, released = run_as(priv, fn, progs.path("threads"), timeout=60)
    assert status == 0 and "threads ok 4" in out and released


def test_job_control_group_stop(progs, priv, method):
    """The program stops itself (group-stop); it stays stopped until a
    SIGCONT from outside resumes it."""
    class Stops(sysvisor.Layer):
        def __init__(self):
            self.stopped = threading.Event()
            self.tid = None

        def on_stop(self, tid, signo):
            self.tid = tid
            self.stopped.set()

    def fn(path):
        st = Stops()
        result = {}
        th = threading.Thread(target=lambda: result.setdefault("r", traced([path, "STOP"], [st], method)))
        th.start()
        assert st.stopped.wait(30), "the program never reached group-stop"
        time.sleep(0.2)
        stopped_state = open(f"/proc/{st.tid}/stat").read().split(")")[1].split()[0]
        os.kill(st.tid, signal.SIGCONT)
        th.join(30)
        return result["r"] + (stopped_state,)

    status, out, state = run_as(priv, fn, progs.path("stopme"))
    assert state in ("t", "T")
    assert status == 0 and "continued" in out


def test_supervisor_death_kills_tracees(progs, priv, method, tmp_world):
    def fn(path, workdir):
        pidfile = os.path.join(workdir, f"sleeper-{method}-{os.getpid()}")
        sup = os.fork()
        if sup == 0:
            fd = os.open(pidfile, os.O_WRONLY | os.O_CREAT, 0o644)
            os.dup2(fd, 1)
            os._exit(sysvisor.cli.main(["trace", "-o", "/dev/null", "--method", method, "--", path]))
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


def test_attach_and_detach(progs, priv, tmp_world):
    """ptrace method: attach to a running sleeper, see its calls, detach; it
    lives on and still handles SIGTERM itself."""
    def fn(path):
        import subprocess

        p = subprocess.Popen([path], stdout=subprocess.PIPE, text=True)
        assert int(p.stdout.readline()) == p.pid
        seen = []

        class Watch(sysvisor.Layer):
            def nanosleep(self, call):
                seen.append(call.tid)
                if len(seen) == 5:
                    s.detach()
                return call.next()

            clock_nanosleep = nanosleep

        s = sysvisor.Session([Watch()], method="ptrace", attach=True)
        s.attach(p.pid)
        s.run()
        time.sleep(0.05)
        alive = p.poll() is None
        p.send_signal(signal.SIGTERM)
        out = p.communicate(timeout=10)[0]
        return len(seen), alive, out, p.returncode

    n, alive, out, code = run_as(priv, fn, progs.path("sleeper"))
    assert n >= 5 and alive and "bye" in out and code == 0


# ---- clear errors ----------------------------------------------------------------------

def test_errors_are_clear():
    with pytest.raises(sysvisor.UsageError, match="unknown method"):
        sysvisor.Session([], method="nope")
    with pytest.raises(sysvisor.MethodUnavailable, match="not implemented"):
        sysvisor.Session([], method="ebpf")

    class Enf(sysvisor.Layer):
        enforcing = True

    with pytest.raises(sysvisor.CapabilityError, match="boundary"):
        sysvisor.Session([Enf()], method="seccomp")
    with pytest.raises(sysvisor.SpawnError, match="command not found"):
        sysvisor.Session([]).spawn(["no-such-command-xyz"])
    with pytest.raises(sysvisor.SpawnError, match="No such file"):
        sysvisor.Session([]).spawn(["/no/such/file"])
    with pytest.raises(sysvisor.AttachError, match="seccomp method cannot attach"):
        sysvisor.Session([], method="seccomp").attach(os.getpid())


def test_attach_errors(priv):
    def fn():
        s = sysvisor.Session([], method="ptrace", attach=True)
        try:
            s.attach(2 ** 22 + 12345)
        except sysvisor.AttachError as e:
            gone = str(e)
        try:
            s.attach(1)
        except sysvisor.AttachError as e:
            return gone, str(e)
        return gone, None

    gone, perm = run_as(priv, fn)
    assert "No such process" in gone
    if priv == "user":
        assert perm and "not permitted" in perm


def test_cli_usage_errors(capsys):
    assert sysvisor.cli.main(["trace", "-e", "trace=opnat", "--", "true"]) == 2
    assert "unknown syscall 'opnat'" in capsys.readouterr().err
    assert sysvisor.cli.main(["trace", "--method", "bogus", "--", "true"]) == 2
    assert sysvisor.cli.main(["trace"]) == 2
    assert sysvisor.cli.main(["nosuchcommand"]) == 2
    assert sysvisor.cli.main(["trace", "--", "/nonexistent"]) == 1
    assert "No such file" in capsys.readouterr().err
    assert sysvisor.cli.main(["trace", "-o", "/nonexistent/dir/out", "--", "true"]) == 2


def test_register_set_fallback(progs, priv, method, monkeypatch):
    """Kernels before 6.16 have no PTRACE_SET_SYSCALL_INFO: changed args and
    results then go through GETREGSET/SETREGSET."""
    def fn(path, opens):
        r = ResultChanger()
        s = sysvisor.Session([r], method=method)
        s._engine.set_info_ok = False
        status, out = traced_session(s, [path, "3"])
        s2 = sysvisor.Session([Redirect()], method=method)
        s2._engine.set_info_ok = False
        status2, out2 = traced_session(s2, [opens, "/nonexistent/file", "2"])
        return status, out, r.real, status2, out2

    status, out, real, status2, out2 = run_as(priv, fn, progs.path("getpid_loop"), progs.path("opens"))
    assert status == 0 and out.strip().endswith(f"last={real[0] + 1}")
    assert status2 == 0 and out2.strip() == "opened=2 failed=0 first_errno=none"




# ---- signal dispositions ------------------------------------------------------

@pytest.mark.parametrize("m", ["ptrace", "seccomp", "unotify", "sud", "preload"])
def test_inherited_ignored_signals_stay_ignored(m):
    """A signal ignored by whoever started sysvisor (nohup's SIGHUP, a
    shell's background SIGINT) stays ignored in the program, as under
    strace; SIGPIPE, which Python ignores itself, is the default again."""
    why = helpers.unavailable(m)
    if why:
        pytest.skip(why)
    def fn():
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        return traced(["grep", "SigIgn", "/proc/self/status"], [Count("getpid")], m)

    status, out = run_as("root" if os.geteuid() == 0 else "user", fn)
    ignored = int(out.split()[1], 16)
    assert status == 0
    assert ignored & 1 << (signal.SIGHUP - 1)
    assert not ignored & 1 << (signal.SIGPIPE - 1)

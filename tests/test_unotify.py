"""The unotify method (seccomp user notification): Session, Layer and Call
with real programs, as root and with privileges dropped."""
from __future__ import annotations

import errno
import os
import signal
import tempfile
import threading
import time

import pytest

import sysvisor
import sysvisor.kernel.unotify
import sysvisor.layers.trace
import sysvisor.methods
import sysvisor.methods.unotify
import sysvisor.tables
from conftest import run_as
import helpers
from helpers import Count, FakePid, traced_session  # noqa: F401

for _arch in ("x86_64", "i386", "aarch64"):  # children that dropped privileges cannot import
    try:
        sysvisor.tables.table(_arch)
    except Exception:
        pass

pytestmark = helpers.skip_module_without("unotify")


def traced(argv, layers=(), method="unotify", **kw):
    return helpers.traced(argv, layers, method, **kw)


# ---- choosing the method ------------------------------------------------------

def test_auto_picks_unotify_only_for_what_it_can():
    s = sysvisor.Session([Count("getpid")])
    assert s.method.name == "unotify" and "cheapest" in s.method_reason

    class Enf(sysvisor.Layer):
        enforcing = True

    assert sysvisor.Session([Enf()]).method.name == "unotify"

    class Res(sysvisor.Layer):
        needs = frozenset({"result"})

    class Events(sysvisor.Layer):
        def on_fork(self, parent, child, kind):
            pass

    assert sysvisor.Session([Res()]).method.name == "seccomp"
    assert sysvisor.Session([Events()]).method.name == "seccomp"
    assert sysvisor.Session([sysvisor.layers.trace.Trace()]).method.name == "seccomp"


def test_clear_errors():
    class Res(sysvisor.Layer):
        needs = frozenset({"change_args"})

    with pytest.raises(sysvisor.CapabilityError, match="change_args.*methods that can: ptrace, seccomp"):
        sysvisor.Session([Res()], method="unotify")

    class Events(sysvisor.Layer):
        def on_exec(self, tid, former):
            pass

    with pytest.raises(sysvisor.CapabilityError, match="events.*Events"):
        sysvisor.Session([Events()], method="unotify")
    with pytest.raises(sysvisor.AttachError, match="unotify method cannot attach"):
        sysvisor.Session([], method="unotify").attach(os.getpid())
    with pytest.raises(sysvisor.SpawnError, match="command not found"):
        sysvisor.Session([], method="unotify").spawn(["no-such-command-xyz"])
    with pytest.raises(sysvisor.SpawnError, match="No such file"):
        sysvisor.Session([], method="unotify").spawn(["/no/such/file"])


class Misuse(sysvisor.Layer):
    """Calls a Call method the method cannot honour; records the error."""

    def __init__(self, what):
        self.what = what
        self.error = None

    def getpid(self, call):
        try:
            if self.what == "set_arg":
                call.set_arg(0, 1)
            elif self.what == "on_exit":
                call.on_exit(lambda c: None)
            elif self.what == "inject_fd":
                call.inject_fd(0)
            elif self.what == "pidfd_getfd":
                call.pidfd_getfd(0)
        except sysvisor.CapabilityError as e:
            self.error = str(e)
        return call.next()


@pytest.mark.parametrize("what,method,able", [
    ("set_arg", "unotify", "ptrace, seccomp"),
    ("on_exit", "unotify", "ptrace, seccomp"),
    ("inject_fd", "seccomp", "unotify"),
    ("pidfd_getfd", "ptrace", "unotify"),
])
def test_call_capability_errors(progs, priv, what, method, able):
    def fn(path):
        m = Misuse(what)
        status, out = traced([path, "1"], [m], method)
        return status, m.error

    status, err = run_as(priv, fn, progs.path("getpid_loop"))
    assert status == 0
    assert err and f"call.{what}()" in err and f"the {method} method cannot" in err
    assert f"methods that can: {able}" in err


def test_set_arg_error_reported_once(progs, priv, capfd):
    class Bad(sysvisor.Layer):
        def getpid(self, call):
            call.set_arg(0, 1)
            return call.next()

    def fn(path):
        s = sysvisor.Session([Bad()], method="unotify")
        status, out = traced_session(s, [path, "3"])
        return status, out, [type(e).__name__ for _, _, e in s.errors]

    status, out, errors = run_as(priv, fn, progs.path("getpid_loop"))
    assert status == 0 and "last=" in out  # advisory: the call went through
    assert errors == ["CapabilityError"] * 3
    assert capfd.readouterr().err.count("raised CapabilityError") == 1


# ---- programs ---------------------------------------------------------------------

@pytest.mark.parametrize("prog,args,expected", [
    ("exitcode", ["3"], 3),
    ("exitcode", ["0"], 0),
    ("sigkill_self", ["15"], 128 + 15),
    ("segv", [], 128 + 11),
])
def test_exit_status_like_a_shell(progs, priv, prog, args, expected):
    status, _ = run_as(priv, traced, [progs.path(prog), *args], [Count("getpid")])
    assert status == expected


def test_program_never_sees_the_listener(priv):
    def fn():
        return traced(["ls", "-l", "/proc/self/fd/"], [Count("openat", "getdents64")])

    status, out = run_as(priv, fn)
    assert status == 0 and "/proc/" in out and "seccomp" not in out


def test_exit_hooks_of_the_first_process(progs, priv):
    class Hooks(sysvisor.Layer):
        def __init__(self):
            self.seen = []

        def on_start(self, session):
            self.seen.append("start")

        def on_exit(self, tid, status):
            self.seen.append(("exit", os.waitstatus_to_exitcode(status)))

        def on_end(self, session):
            self.seen.append("end")

    def fn(path):
        h = Hooks()
        status, _ = traced([path, "5"], [h])
        return status, h.seen

    status, seen = run_as(priv, fn, progs.path("exitcode"))
    assert status == 5 and seen == ["start", ("exit", 5), "end"]


def test_threads_all_seen(progs, priv):
    def fn(path):
        c = Count("getpid", "openat")
        status, out = traced([path, "6", "50"], [c])
        return status, out, c.counts

    status, out, counts = run_as(priv, fn, progs.path("threads"))
    assert status == 0 and "threads ok 6" in out
    assert counts["getpid"] == 6 * 50
    assert counts["openat"] >= 6 * 50


def test_fork_vfork_exec_chain(progs, priv):
    class Execs(sysvisor.Layer):
        def __init__(self):
            self.paths = []

        def execve(self, call):
            self.paths.append(call.path(0))
            return call.next()

    def fn(path):
        e = Execs()
        status, out = traced([path, "3"], [e])
        return status, out, e.paths

    status, out, paths = run_as(priv, fn, progs.path("forkexec"))
    assert status == 0, out
    assert "forkexec ok" in out and "vfork-ok" in out
    # the program itself (the spawn's own execve is shown like any other), true, echo
    assert len(paths) == 3 and paths.count("/bin/true") == 1 and paths.count("/bin/echo") == 1


def test_clone3_thread_and_process(progs, priv):
    def fn(path):
        c = Count("gettid", "exit", "exit_group")
        return traced([path], [c]) + (c.counts,)

    status, out, counts = run_as(priv, fn, progs.path("clone3"))
    if status == 77:
        pytest.skip("clone3 unavailable")
    assert status == 0 and "clone3 ok" in out
    assert counts["gettid"] >= 1 and counts["exit"] >= 1


def test_static_binary(progs, priv):
    path = progs.path("static_hello", static=True)

    def fn():
        c = Count("openat", "open", "write")
        return traced([path], [c]) + (c.counts,)

    status, out, counts = run_as(priv, fn)
    assert status == 0 and "static ok" in out
    assert counts["write"] >= 1


def test_int80_compat_abi_seen(progs, priv):
    def fn(path):
        c = Count("getpid")
        status, out = traced([path], [c, FakePid()])
        return status, out, c.arches

    status, out, arches = run_as(priv, fn, progs.path("int80"))
    if status == 77:
        pytest.skip("no IA32 emulation")
    assert status == 0
    assert out.strip() == "int80=4242 syscall=4242"
    assert arches == {"x86_64", "i386"}


# ---- verdicts -------------------------------------------------------------------------

def test_answer_without_running(progs, priv):
    status, out = run_as(priv, traced, [progs.path("getpid_loop"), "100"], [FakePid()])
    assert status == 0 and out.strip() == f"sum={4242 * 100 % 1000003} last=4242"


class DenyHostname(sysvisor.Layer):
    @sysvisor.when(sysvisor.arg(0, bits=32) == -100 & 0xFFFFFFFF)
    def openat(self, call):
        if call.path(1) == "/etc/hostname":
            return call.fail(errno.EACCES)
        return call.next()


def test_fail_with_errno(progs, priv):
    status, out = run_as(priv, traced, [progs.path("opens"), "/etc/hostname", "3"], [DenyHostname()])
    assert status == 1 and out.strip() == "opened=0 failed=3 first_errno=EACCES"


def test_layer_stack_order(progs, priv):
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
        status, out = traced([path, "10"], [Upper(), lower, FakePid()])
        return status, out, lower.counts["getpid"]

    status, out, lower_seen = run_as(priv, fn, progs.path("getpid_loop"))
    assert status == 0 and lower_seen == 5
    assert out.strip() == f"sum={(5 * 1 + 5 * 4242) % 1000003} last=4242"


class Inject(sysvisor.Layer):
    """openat of FAKE returns a copy of a file the supervisor opened."""

    FAKE = "/nonexistent/sysvisor-fake"

    def __init__(self, real):
        self.real = real
        self.injected = 0

    def openat(self, call):
        if call.string(1) == self.FAKE:
            fd = os.open(self.real, os.O_RDONLY)
            try:
                call.inject_fd(fd, cloexec=True)
            finally:
                os.close(fd)  # inject_fd keeps its own copy
            self.injected += 1
            return None
        return call.next()


def test_inject_fd(progs, priv):
    def fn():
        real = os.path.join(tempfile.gettempdir(), "supervisor-side")
        with open(real, "w") as f:
            f.write("from the supervisor\n")
        os.chmod(real, 0o600)
        layer = Inject(real)
        status, out = traced(["cat", Inject.FAKE, Inject.FAKE], [layer])
        return status, out, layer.injected

    status, out, injected = run_as(priv, fn)
    assert status == 0 and out == "from the supervisor\n" * 2 and injected == 2


def test_pidfd_getfd(progs, priv):
    """A handler fetches the program's fd and looks at it from the supervisor."""
    class Peek(sysvisor.Layer):
        def __init__(self):
            self.seen = []

        @sysvisor.when(sysvisor.arg(0, bits=32) == 1)
        def write(self, call):
            fd = call.pidfd_getfd(1)
            try:
                self.seen.append(os.fstat(fd).st_ino)
            finally:
                os.close(fd)
            return call.next()

    def fn():
        p = Peek()
        with tempfile.TemporaryFile() as out:
            saved = os.dup(1)
            os.dup2(out.fileno(), 1)
            try:
                s = sysvisor.Session([p], method="unotify")
                s.spawn(["echo", "hi"])
            finally:
                os.dup2(saved, 1)
                os.close(saved)
            status = s.run()
            return status, p.seen, os.fstat(out.fileno()).st_ino

    status, seen, ino = run_as(priv, fn)
    assert status == 0 and seen == [ino]


# ---- the enforcing rule -------------------------------------------------------------------

class CheckThenContinue(sysvisor.Layer):
    """Decides on a pointer argument, then lets the call run: not a boundary."""

    def __init__(self, enforcing):
        self.enforcing = enforcing

    def chdir(self, call):
        if call.path(0) == "/nonexistent-xyz":
            return call.fail(errno.ENOENT)
        return call.next()


class PassThrough(sysvisor.Layer):
    """Enforcing, but never reads memory: continuing is fine."""

    enforcing = True

    def chdir(self, call):
        return call.next()


class AnswerItself(sysvisor.Layer):
    """Enforcing, reads memory and answers itself: fine."""

    enforcing = True

    def chdir(self, call):
        call.path(0)
        return call.ret(0)


@pytest.mark.parametrize("layer,expected", [
    ("advisory", "0 0"),
    ("enforcing", "2 2"),
    ("passthrough", "0 0"),
    ("answer", "0 0"),
])
def test_enforcing_layer_never_continues_after_reading(priv, capfd, layer, expected):
    def fn():
        lay = {"advisory": lambda: CheckThenContinue(False),
               "enforcing": lambda: CheckThenContinue(True),
               "passthrough": PassThrough, "answer": AnswerItself}[layer]()
        s = sysvisor.Session([lay], method="unotify")
        status, out = traced_session(s, ["sh", "-c", "cd / 2>/dev/null; a=$?; cd /tmp 2>/dev/null; "
                                                      "echo $a $?"])
        return status, out, [str(e) for _, _, e in s.errors]

    status, out, errors = run_as(priv, fn)
    err = capfd.readouterr().err
    assert status == 0 and out.split() == expected.split()
    if layer == "enforcing":
        assert len(errors) == 2 and "decided on pointer arguments then continued" in errors[0]
        assert err.count("decided on pointer arguments then continued: fails closed; "
                         "execute the call on the program's behalf instead") == 1
    else:
        assert errors == [] and "decided on pointer" not in err


# ---- concurrency and signals ------------------------------------------------------------------

# (the blocking-handler test runs on every method in test_session.py)


def test_many_blocked_handlers_grow_the_receivers(progs, priv):
    """Eight threads block in their handlers at once (more than the four
    first receivers); the ninth call releases them all."""
    class Barrier(sysvisor.Layer):
        blocking = True

        def __init__(self):
            self.waiting = 0
            self.lock = threading.Lock()
            self.go = threading.Event()

        def getpid(self, call):
            with self.lock:
                self.waiting += 1
                mine = self.waiting
                if mine == 8:
                    self.go.set()
            if mine <= 8:
                assert self.go.wait(30), "receivers did not grow"
            return call.next()

    def fn(path):
        b = Barrier()
        status, out = traced([path, "8", "3"], [b])
        return status, out, b.go.is_set()

    status, out, went = run_as(priv, fn, progs.path("threads"), timeout=60)
    assert status == 0 and "threads ok 8" in out and went


@pytest.mark.parametrize("wait_killable", [True, False])
def test_signal_storm(progs, priv, wait_killable):
    """Intercepted calls while SIGUSR1 (SA_RESTART) rains on the program:
    calls interrupted before or after the supervisor received them are
    restarted by the kernel; late answers (ENOENT) are ignored; every call
    completes with the right result."""
    def fn(path):
        s = sysvisor.Session([Count("openat"), FakePid()], method="unotify")
        s._engine.wait_killable = wait_killable
        return traced_session(s, [path, "3000", "4242", "/etc/hostname", "10"])

    status, out = run_as(priv, fn, progs.path("sigstorm"), timeout=120)
    assert status == 0 and out.startswith("storm ok rounds=3000"), out
    assert int(out.split("signals=")[1]) > 0


def test_supervisor_death_fails_closed(progs, priv, tmp_world):
    """Kill the supervisor: the first process dies (PR_SET_PDEATHSIG); its
    child, which inherited the filter, finds its next intercepted call
    failing with ENOSYS: never released unsupervised."""
    def fn(path, workdir):
        out = os.path.join(workdir, f"out-{os.getpid()}")
        mark = os.path.join(workdir, f"mark-{os.getpid()}")
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)  # before the reader looks
        sup = os.fork()
        if sup == 0:
            code = 1
            try:
                os.dup2(fd, 1)
                code = sysvisor.run([path, mark], [FakePid()], method="unotify")
            finally:
                os._exit(code)
        pids = None
        for _ in range(1000):
            time.sleep(0.01)
            with open(out) as f:
                first = f.readline()
            if first.endswith("\n"):
                pids = [int(x) for x in first.split()]
                break
        os.close(fd)
        os.kill(sup, signal.SIGKILL)
        assert pids, "the program never started"
        os.waitpid(sup, 0)
        root_gone = False
        for _ in range(500):
            try:
                with open(f"/proc/{pids[0]}/stat") as f:
                    if f.read().split(")")[1].split()[0] in "ZX":
                        root_gone = True
                        break
            except FileNotFoundError:
                root_gone = True
                break
            time.sleep(0.01)
        open(mark, "w").close()
        line = ""
        for _ in range(1000):
            with open(out) as f:
                lines = f.read().splitlines()
            if len(lines) >= 2:
                line = lines[1]
                break
            time.sleep(0.01)
        else:
            os.kill(pids[1], signal.SIGKILL)
        return root_gone, line

    root_gone, line = run_as(priv, fn, progs.path("orphan_getpid"), tmp_world)
    assert root_gone
    assert line == "getpid=-1 errno=ENOSYS"


def test_python_time_per_stop_measured(progs, priv):
    def fn(path):
        s = sysvisor.Session([FakePid()], method="unotify", measure=True)
        status, out = traced_session(s, [path, "200"])
        return status, s.stops, len(s.stop_ns), sorted(s.stop_ns)[len(s.stop_ns) // 2]

    status, stops, n, median = run_as(priv, fn, progs.path("getpid_loop"))
    assert status == 0 and stops >= 200 and n >= 200 and median > 0


def test_never_run_session_kills_the_program(progs, priv):
    def fn(path):
        with sysvisor.Session([FakePid()], method="unotify") as s:
            pid = s.spawn([path])
        try:
            os.kill(pid, 0)
            return False
        except ProcessLookupError:
            return True

    assert run_as(priv, fn, progs.path("sleeper"))

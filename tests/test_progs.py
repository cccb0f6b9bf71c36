"""The C test programs in tests/progs behave as specified when run natively
(no sysvisor), both as root and as an unprivileged user (see conftest.py).

These pin down the untraced behaviour that the sysvisor tests compare with.
"""

import glob
import os
import platform
import shutil
import signal
import subprocess
import time

import pytest

from conftest import CFLAGS, PROGS_DIR, ChildError, run_as

ALL_PROGS = sorted(os.path.splitext(os.path.basename(p))[0] for p in glob.glob(os.path.join(PROGS_DIR, "*.c")))


def run(argv, timeout=30, **kw):
    """subprocess.run returning (returncode, stdout, stderr) - picklable."""
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)
    return r.returncode, r.stdout, r.stderr


def proc_state(pid):
    with open(f"/proc/{pid}/stat") as f:
        data = f.read()
    return data[data.rindex(")") + 2]


def wait_state(pid, states, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = proc_state(pid)
        if st in states:
            return st
        time.sleep(0.01)
    return proc_state(pid)


# --------------------------------------------------------------------------
# build


@pytest.mark.parametrize("name", ALL_PROGS)
def test_compiles_without_warnings(name, tmp_path):
    if name == "int80" and platform.machine() != "x86_64":
        pytest.skip("x86_64 only")
    if not shutil.which("gcc"):
        pytest.skip("gcc not found")
    r = subprocess.run(
        ["gcc", *CFLAGS, "-Werror", "-c", "-o", str(tmp_path / "x.o"), os.path.join(PROGS_DIR, name + ".c")],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""


def test_progs_dir_is_world_accessible(progs):
    p = progs.path("exitcode")
    assert os.stat(p).st_mode & 0o777 == 0o755
    assert os.stat(os.path.dirname(p)).st_mode & 0o777 == 0o755
    assert not p.startswith("/root")


# --------------------------------------------------------------------------
# run_as itself


def _whoami():
    return os.getuid(), os.geteuid(), os.getgid(), os.getgroups(), os.getcwd(), open("/proc/self/status").read()


def test_run_as_credentials(priv):
    uid, euid, gid, groups, cwd, status = run_as(priv, _whoami)
    if priv == "user" and os.geteuid() == 0:
        assert (uid, euid, gid, groups) == (65534, 65534, 65534, [])
    elif priv == "root":
        assert euid == 0
    assert cwd.startswith("/tmp/")


def _raise_value_error(x):
    raise ValueError(f"boom {x}")


def _raise_system_exit():
    raise SystemExit(3)


def _proc_owner():
    st = os.stat("/proc/self/status")
    return st.st_uid, os.getuid()


def test_run_as_exceptions(priv):
    with pytest.raises(ValueError, match="boom 5") as ei:
        run_as(priv, _raise_value_error, 5)
    assert "_raise_value_error" in str(ei.value)  # child's traceback
    with pytest.raises(ChildError, match="SystemExit"):
        run_as(priv, _raise_system_exit)


def test_run_as_dumpable(priv):
    owner, uid = run_as(priv, _proc_owner)
    assert owner == uid


def test_run_as_timeout():
    with pytest.raises(pytest.fail.Exception, match="timed out"):
        run_as("user", time.sleep, 30, timeout=0.5)


def test_tmp_world(tmp_world):
    assert os.stat(tmp_world).st_mode & 0o7777 == 0o1777
    assert tmp_world.startswith("/tmp/")


# --------------------------------------------------------------------------
# the programs


def test_threads(progs, priv):
    rc, out, _ = run_as(priv, run, [progs.path("threads"), "4", "10"])
    assert (rc, out) == (0, "threads ok 4\n")
    rc, out, _ = run_as(priv, run, [progs.path("threads")])
    assert (rc, out) == (0, "threads ok 8\n")


def test_forkexec(progs, priv):
    rc, out, err = run_as(priv, run, [progs.path("forkexec"), "3"])
    assert (rc, out) == (0, "vfork-ok\nforkexec ok\n"), err


def test_clone3(progs, priv):
    rc, out, err = run_as(priv, run, [progs.path("clone3")])
    if rc == 77:
        pytest.skip("clone3 not available: " + out)
    assert (rc, out) == (0, "clone3 ok\n"), err


def test_signals(progs, priv):
    rc, out, err = run_as(priv, run, [progs.path("signals")])
    assert (rc, out) == (0, "signals ok usr1=2 alrm=1 usr2=1 rt=42\n"), err


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL, signal.SIGQUIT])
def test_sigkill_self(progs, priv, sig):
    rc, out, _ = run_as(priv, run, [progs.path("sigkill_self"), str(int(sig))])
    assert (rc, out) == (-sig, "")


def _run_segv(path):
    res = run([path])
    return res, os.listdir(".")


def test_segv(progs, priv):
    (rc, out, _), files = run_as(priv, _run_segv, progs.path("segv"))
    assert (rc, out) == (-signal.SIGSEGV, "")
    assert not [f for f in files if f.startswith("core")]


@pytest.mark.parametrize("code", [0, 3, 255])
def test_exitcode(progs, priv, code):
    rc, out, _ = run_as(priv, run, [progs.path("exitcode"), str(code)])
    assert (rc, out) == (code, "")


def test_mt_exec(progs, priv):
    rc, out, err = run_as(priv, run, [progs.path("mt_exec")])
    assert (rc, out) == (0, "mt-exec-ok\n"), err


def _stop_and_continue(path, how):
    # A new process group in our session: SIGTSTP is discarded for orphaned
    # process groups, and start_new_session would make it orphaned.
    p = subprocess.Popen([path, how], stdout=subprocess.PIPE, text=True, process_group=0)
    try:
        state = wait_state(p.pid, "T")
        stopped_state = state
        os.kill(p.pid, signal.SIGCONT)
        out, _ = p.communicate(timeout=10)
        return stopped_state, p.returncode, out
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


@pytest.mark.parametrize("how", ["STOP", "TSTP"])
def test_stopme(progs, priv, how):
    state, rc, out = run_as(priv, _stop_and_continue, progs.path("stopme"), how)
    assert state == "T"
    assert (rc, out) == (0, "continued\n")


def _getpid_loop(path, n):
    p = subprocess.Popen([path, str(n)], stdout=subprocess.PIPE, text=True)
    out, _ = p.communicate(timeout=30)
    return p.pid, p.returncode, out


def test_getpid_loop(progs, priv):
    n = 1000
    pid, rc, out = run_as(priv, _getpid_loop, progs.path("getpid_loop"), n)
    assert rc == 0
    assert out == f"sum={pid * n % 1000003} last={pid}\n"
    pid, rc, out = run_as(priv, _getpid_loop, progs.path("getpid_loop"), 0)
    assert (rc, out) == (0, "sum=0 last=0\n")


def test_opens(progs, priv):
    path = progs.path("opens")
    assert run_as(priv, run, [path, "/dev/null", "5"])[:2] == (0, "opened=5 failed=0 first_errno=none\n")
    assert run_as(priv, run, [path, "/nonexistent/x", "3"])[:2] == (1, "opened=0 failed=3 first_errno=ENOENT\n")
    # /root is 0700: root can open it, the user cannot
    rc, out, _ = run_as(priv, run, [path, "/root", "2"])
    if priv == "root":
        assert (rc, out) == (0, "opened=2 failed=0 first_errno=none\n")
    elif os.geteuid() == 0:
        assert (rc, out) == (1, "opened=0 failed=2 first_errno=EACCES\n")


@pytest.mark.skipif(platform.machine() != "x86_64", reason="x86_64 only")
def test_int80(progs, priv):
    pid, rc, out = run_as(priv, _getpid_loop, progs.path("int80"), 0)
    if rc == 77:
        pytest.skip("no IA32 emulation: " + out.strip())
    assert (rc, out) == (0, f"int80={pid} syscall={pid}\n")


def test_static_hello(progs, priv):
    path = progs.path("static_hello", static=True)
    rc, out, err = run_as(priv, run, [path])
    assert (rc, out) == (0, "static ok\n"), err
    file_out = subprocess.run(["file", path], capture_output=True, text=True).stdout if shutil.which("file") else ""
    assert "dynamically linked" not in file_out


def _sleeper(path):
    p = subprocess.Popen([path], stdout=subprocess.PIPE, text=True)
    try:
        first = p.stdout.readline()
        time.sleep(0.1)
        alive = p.poll() is None
        os.kill(p.pid, signal.SIGTERM)
        rest, _ = p.communicate(timeout=10)
        return p.pid, first, alive, p.returncode, rest
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_sleeper(progs, priv):
    pid, first, alive, rc, rest = run_as(priv, _sleeper, progs.path("sleeper"))
    assert first == f"{pid}\n"
    assert alive
    assert (rc, rest) == (0, "bye\n")


def test_threaded_io(progs, priv, tmp_world):
    prefix = os.path.join(tmp_world, "io.")
    rc, out, err = run_as(priv, run, [progs.path("threaded_io"), prefix])
    assert (rc, out) == (0, "io ok\n"), err
    assert os.listdir(tmp_world) == []


# ---- the backstop's programs (tests/test_backstop.py) ----------------------------------------

def test_jit_getpid(progs, priv):
    rc, out, err = run_as(priv, run, [progs.path("jit_getpid"), "3"])
    assert rc == 0, err
    assert out.startswith("jit=") and int(out.strip()[4:]) > 0


def test_mixcalls(progs, priv):
    rc, out, err = run_as(priv, run, [progs.path("mixcalls")])
    assert rc == 0, err
    first, second = out.splitlines()
    pids = second.split()[2:]
    assert first == "mix" and second.startswith("mix ok") and len(set(pids)) == 1 and len(pids) == 6


def test_exec_chain(progs, priv):
    dyn, static = progs.path("exec_chain"), progs.path("exec_chain", static=True)
    rc, out, err = run_as(priv, run, [dyn, static, dyn])
    assert rc == 0, err
    lines = out.splitlines()
    assert [l.split()[0] for l in lines] == ["exec_chain", "exec_chain-static", "exec_chain"]
    assert all(l.endswith("shim=no") for l in lines)
    assert len({l.split()[1] for l in lines}) == 1  # one process, one pid


def test_static_getpid_probe(progs, priv, tmp_world):
    pidfile = os.path.join(tmp_world, "probe")
    rc, out, err = run_as(priv, run, [progs.path("static_getpid_probe", static=True), pidfile, "0"])
    assert rc == 0, err
    with open(pidfile) as f:
        assert int(f.read()) > 0
    assert not os.path.exists(pidfile + ".done")


def test_tramp_edges_without_a_trampoline(progs, priv):
    rc, out, _ = run_as(priv, run, [progs.path("tramp_edges"), str(0x4E5E_0000_0000)])
    assert rc == 3 and out.startswith("no trampoline at 0x4e5e00000000")

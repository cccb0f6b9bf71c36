"""Confine with a real root: the programs and their libraries copied into a
temp directory (none of them at its host path, so every exec is restarted
with the view's files and loader), run from there, as root and as an
unprivileged user: exec from the root, #! scripts whose interpreter only
the root has, vfork/posix_spawn children, python3, unix sockets, xattrs,
the utime family, read-only binds, the i386 ABI, credentials, and
`sysvisor run --root`."""
from __future__ import annotations

import io
import os
import platform
import re
import shutil
import socket
import stat
import subprocess
import tempfile

import pytest

import sysvisor
import sysvisor.methods
from sysvisor.kernel import landlock
from sysvisor.layers.confine import REFUSED, Confine, confined
from sysvisor.layers.bypass import BYPASS, BYPASS_ERRNO, BYPASS_FLAGS, BYPASS_LIST
from sysvisor.layers.net import Net
from sysvisor.tables import table
from conftest import run_as
import helpers
from helpers import cli_capture

pytestmark = helpers.skip_module_without("unotify")

ROOT_PROGS = ["sh", "dash", "cat", "ls", "echo", "readlink", "env", "true", "seq", "mkdir", "tar", "sort"]
HOST_PATH = "/usr/bin:/bin"
PYTHON = "/usr/bin/python3"


def _copy(src: str, root: str) -> None:
    dst = os.path.join(root, src.lstrip("/"))
    if os.path.lexists(dst):
        return
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    if os.path.islink(src):
        os.symlink(os.readlink(src), dst)
    else:
        shutil.copy2(src, dst)


def build_root(root: str, programs: list[str]) -> None:
    """The programs (and what ldd lists) copied under root, with the host's
    merged-/usr links, ld.so.cache, and an /etc/hostname of the view."""
    for n in ("bin", "lib", "lib64", "sbin"):
        if os.path.islink("/" + n):
            os.makedirs(os.path.join(root, "usr", n), exist_ok=True)
            os.symlink(os.readlink("/" + n), os.path.join(root, n))
    for prog in programs:
        path = prog if "/" in prog else shutil.which(prog, path=HOST_PATH)
        if path is None:
            pytest.skip(f"{prog} not found on the host")
        files = {path, os.path.realpath(path)}
        out = subprocess.run(["ldd", path], capture_output=True, text=True).stdout
        for lib in re.findall(r"(/\S+)", out):
            files |= {lib, os.path.realpath(lib)}
        for f in sorted(files):
            _copy(f, root)
    os.makedirs(os.path.join(root, "etc"), exist_ok=True)
    if os.path.exists("/etc/ld.so.cache"):
        shutil.copy("/etc/ld.so.cache", os.path.join(root, "etc"))
    with open(os.path.join(root, "etc", "hostname"), "w") as f:
        f.write("view-host\n")
    for d in ("opt/t", "opt/i/bin", "w", "ro", "tmp"):
        os.makedirs(os.path.join(root, d), exist_ok=True)


@pytest.fixture(scope="module")
def rootfs(progs):
    """One copied root for the module (read-only to the tests)."""
    base = tempfile.mkdtemp(prefix="sysvisor-rootfs-", dir="/tmp")
    os.chmod(base, 0o755)
    root = os.path.join(base, "root")
    build_root(root, ROOT_PROGS)
    for name in ("confine_calls", "confine_int80", "mt_exec", "confine_escape", "bypass"):
        shutil.copy(progs.path(name), os.path.join(root, "opt", "t", name))
    try:
        shutil.copy(progs.path("static_hello", static=True), os.path.join(root, "opt/t/static_hello"))
    except pytest.skip.Exception:
        pass
    # an interpreter only the root has
    shutil.copy(os.path.join(root, "usr/bin/dash"), os.path.join(root, "opt/i/bin/myinterp"))
    for dirpath, dirnames, filenames in os.walk(base):
        os.chmod(dirpath, 0o755)
    try:
        yield root
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def world(tmp_world):
    """A writable directory (bound at /w) and a read-only one (at /ro)."""
    w, ro = os.path.join(tmp_world, "w"), os.path.join(tmp_world, "ro")
    os.mkdir(w)
    os.mkdir(ro)
    os.chmod(w, 0o777)
    with open(os.path.join(ro, "f"), "w") as f:
        f.write("read-only\n")
    return {"base": tmp_world, "w": w, "ro": ro}


def _binds(world):
    return [(world["w"], "/w", False), (world["ro"], "/ro", True)]


def _run(root, binds, argv, landlock_on=True, above=(), cwd="/", fast=True):
    layer = Confine(root, binds, cwd=cwd, landlock=landlock_on, fast=fast)
    try:
        status, out = _traced(argv, [*above, layer])
        return status, out, layer.landlock_active
    finally:
        layer.release()


def _traced(argv, layers):
    env = {"PATH": HOST_PATH, "LANG": "C", "HOME": "/"}
    s = sysvisor.Session(list(layers), method="unotify")
    with tempfile.TemporaryFile() as out:
        saved = os.dup(1)
        os.dup2(out.fileno(), 1)
        try:
            s.spawn(argv, env=env)
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        status = s.run()
        out.seek(0)
        return status, out.read().decode()


def _same_inode(a: str, b: str) -> bool:
    sa, sb = os.stat(a), os.stat(b)
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


# ---- exec from the root ------------------------------------------------------------


def test_exec_from_root(priv, rootfs, world):
    assert not _same_inode("/bin/sh", os.path.join(rootfs, "bin/sh"))  # really a copy
    script = ('echo "argv0=$0"; cat /etc/hostname; ls /opt/t/confine_calls; readlink /proc/self/exe; '
              'env true && echo env-ok; env sh -c \'echo "as $0"\'; '
              'test -x /opt/t/static_hello && /opt/t/static_hello; exec /bin/echo exec-ok')
    st, out, ll = run_as(priv, _run, rootfs, _binds(world), ["/bin/sh", "-c", script])
    lines = out.splitlines()
    assert lines[0] == "argv0=/bin/sh"
    assert lines[1] == "view-host"
    assert lines[2] == "/opt/t/confine_calls"
    assert lines[3] == "/usr/bin/readlink"  # the program, not the loader that ran it
    assert "env-ok" in lines and "as sh" in lines  # argv[0] as the caller gave it
    if os.path.exists(os.path.join(rootfs, "opt/t/static_hello")):
        assert "static ok" in lines
    assert lines[-1] == "exec-ok" and st == 0
    assert ll == (landlock.abi_version() >= 1)


def _write(path: str, text: str, mode: int = 0o755) -> None:
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def test_scripts_with_an_interpreter_only_in_the_root(priv, rootfs, world):
    w = world["w"]
    _write(os.path.join(w, "s.sh"), '#!/opt/i/bin/myinterp -e\necho "script $0 $*"\n')
    _write(os.path.join(w, "nested"), "#!/w/s.sh\n")
    _write(os.path.join(w, "envsh"), '#!/usr/bin/env sh\necho "env $0"\n')
    _write(os.path.join(w, "noexec.sh"), "#!/bin/sh\necho no\n", 0o644)
    _write(os.path.join(w, "badinterp"), "#!/no/such/interp\n")
    script = ("/w/s.sh a b; cd /w && ./s.sh c; ./nested d; ./envsh; ./noexec.sh 2>/dev/null || "
              "echo noexec-refused; ./badinterp 2>/dev/null || echo badinterp-refused")
    st, out, _ = run_as(priv, _run, rootfs, _binds(world), ["/bin/sh", "-c", script])
    assert out.splitlines() == ["script /w/s.sh a b", "script ./s.sh c", "script /w/s.sh ./nested d",
                                "env ./envsh", "noexec-refused", "badinterp-refused"], out
    assert st == 0


@pytest.mark.parametrize("landlock_on", [True, False], ids=["landlock", "no-landlock"])
def test_vfork_and_posix_spawn_children(priv, rootfs, world, landlock_on):
    st, out, _ = run_as(priv, _run, rootfs, _binds(world), ["/opt/t/confine_calls", "spawn"],
                        landlock_on)
    assert out.splitlines() == ["one", "system1 0", "two", "system2 0", "spawned",
                                "posix_spawn 0", "vforked", "vfork 0"], out
    assert st == 0


def test_tar_in_the_root(priv, rootfs, world):
    """tar from the root archives a bound directory and lists it back; the
    archive is a real one (listed by the host's tar too)."""
    w = world["w"]
    os.makedirs(os.path.join(w, "data", "sub"))
    _write(os.path.join(w, "data", "a.txt"), "alpha\n", 0o644)
    _write(os.path.join(w, "data", "sub", "b.txt"), "beta\n", 0o644)
    os.symlink("a.txt", os.path.join(w, "data", "link"))
    for d in ("data", "data/sub"):
        os.chmod(os.path.join(w, d), 0o777)
    script = "cd /w && tar cf a.tar data && tar tf a.tar | sort && mkdir x && tar xf a.tar -C x && cat x/data/sub/b.txt"
    st, out, _ = run_as(priv, _run, rootfs, _binds(world), ["/bin/sh", "-c", script])
    names = ["data/", "data/a.txt", "data/link", "data/sub/", "data/sub/b.txt"]
    assert out.splitlines() == names + ["beta"], out
    host = subprocess.run(["tar", "tf", os.path.join(w, "a.tar")], capture_output=True, text=True)
    assert sorted(host.stdout.split()) == names
    assert os.readlink(os.path.join(w, "x", "data", "link")) == "a.txt"
    assert st == 0


def test_multithreaded_exec_restart(priv, rootfs, world):
    """exec from a non-leader thread of a multi-threaded process: restarted
    with Landlock; refused without (it could be raced)."""
    st, out, _ = run_as(priv, _run, rootfs, _binds(world), ["/opt/t/mt_exec"], True)
    assert out.strip() == "mt-exec-ok" and st == 0
    if landlock.abi_version() >= 1:
        st, out, _ = run_as(priv, _run, rootfs, _binds(world), ["/opt/t/mt_exec"], False)
        assert "mt-exec-ok" not in out and st != 0


def _run_late_restart_wait(root, binds, argv):
    """_run, the Python restart only, with the session thread late to wait
    for the process and the receiver later still to wait for the thread's
    ptrace stop: the stop is pending when the session thread starts to
    wait."""
    import threading
    import time

    from sysvisor.methods import unotify

    send, real_os = unotify._send, unotify.os

    def late_send(fd, id, val, err, flags):
        send(fd, id, val, err, flags)
        if err == unotify.ERESTARTNOINTR:
            time.sleep(0.4)

    class LateOs:
        def __getattr__(self, name):
            return getattr(real_os, name)

        def waitpid(self, pid, flags):
            if threading.current_thread() is threading.main_thread():
                time.sleep(0.2)
            return real_os.waitpid(pid, flags)

    unotify._send, unotify.os = late_send, LateOs()
    try:
        return _run(root, binds, argv, fast=False)
    finally:
        unotify._send, unotify.os = send, real_os


def test_restart_stop_is_the_receivers(priv, rootfs, world):
    """The first process is the session thread's own child: while a
    receiver restarts its exec, nothing else of the supervisor may take the
    ptrace stop (a wait on its pid would, whatever the flags, and the
    receiver would wait forever)."""
    st, out, _ = run_as(priv, _run_late_restart_wait, rootfs, _binds(world),
                        ["/bin/sh", "-c", "echo restarted"], timeout=30)
    assert out == "restarted\n" and st == 0


def _escape_exec(root, binds, secret, outside):
    return _run(root, binds, ["/opt/t/confine_escape", "exec_toctou", secret, outside])


@pytest.mark.skipif(landlock.abi_version() < 1, reason="no Landlock here: the race is refused instead")
def test_exec_race_on_restarted_exec(priv, rootfs, world):
    """A thread flips the exec path between the root's /usr/bin/true (a copy:
    restarted) and a binary outside the view: the outside one never runs."""
    secret = os.path.join(world["base"], "secret")
    _write(secret, "SECRET\n", 0o644)
    outside = os.path.join(world["base"], "outside_false")
    shutil.copy("/bin/false", outside)
    os.chmod(outside, 0o755)
    st, out, _ = run_as(priv, _escape_exec, rootfs, _binds(world), secret, outside, timeout=120)
    assert "ESCAPED" not in out and "done exec_toctou" in out, out
    assert int(out.split()[-1]) > 0, out  # the allowed exec did run
    assert st == 0


PATHS = ["/etc/hostname", "/lib/x86_64-linux-gnu/libc.so.6", "/bin/sh", "/usr/bin/dash", "/",
         "/w", "/w/", "/w/f", "/w/link", "/w/dangling", "/w/sub", "/w/sub/", "/w/nonexistent",
         "/ro/f", "/ro", "/nonexistent/x", "/etc/hostname/x", "/etc/./hostname", "/etc//hostname",
         "/w/../etc/hostname", "/proc/self/exe", "/lib64/ld-linux-x86-64.so.2", "etc/hostname", ""]


def _new_w(world, name):
    """A fresh world directory (mounted at /w by the caller): a file f, a
    symlink to it and a dangling one."""
    w = os.path.join(world["base"], name)
    os.mkdir(w)
    os.chmod(w, 0o777)
    _write(os.path.join(w, "f"), "x\n", 0o644)
    os.symlink("f", os.path.join(w, "link"))
    os.symlink("nowhere", os.path.join(w, "dangling"))
    return w


def test_fast_path_answers_like_the_walk(priv, rootfs, world):
    """The C fast path (fast.py) and the Python walk give the same answers,
    for paths it takes and paths it hands on."""
    def fresh(name):  # the calls create files: each run gets its own /w
        w = _new_w(world, name)
        os.mkdir(os.path.join(w, "sub"))
        if priv == "user" and os.geteuid() == 0:
            for p in ("f", "sub"):
                os.chown(os.path.join(w, p), 65534, 65534)
        return [(w, "/w", False), (world["ro"], "/ro", True)]

    argv = ["/opt/t/confine_calls", "paths", *PATHS]
    fast = run_as(priv, _run, rootfs, fresh("w-fast"), argv, True, (), "/", True)
    slow = run_as(priv, _run, rootfs, fresh("w-slow"), argv, True, (), "/", False)
    assert fast[1] == slow[1], "\n".join(f"{a}\n{b}" for a, b in zip(fast[1].splitlines(),
                                                                   slow[1].splitlines()) if a != b)
    lines = dict(l.split(":", 1) for l in fast[1].splitlines() if l)
    assert "rdonly=ok" in lines["/etc/hostname"] and "wronly=ENOENT" not in lines["/etc/hostname"]
    assert "wronly=EROFS" in lines["/ro/f"] and "W=EROFS" in lines["/ro/f"]
    assert "stat=ENOENT" in lines["/nonexistent/x"] and "stat=ENOTDIR" in lines["/etc/hostname/x"]
    assert "nofollow=ELOOP" in lines["/w/link"] and "stat=ENOENT" in lines["/w/dangling"]
    assert fast[0] == slow[0] == 0


class _CountingConfine(Confine):
    """Confine that counts the execve notifications its Python handler saw
    (the C fast path still applies: the chain is this layer alone)."""

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.py_execs = 0

    def execve(self, call):
        self.py_execs += 1
        return super().execve(call)


def _run_counting(root, binds, argv, fast):
    layer = _CountingConfine(root, binds, cwd="/", fast=fast)
    try:
        status, out = _traced(argv, [layer])
        return status, out, layer.landlock_active, layer.py_execs
    finally:
        layer.release()


def _patched_interp(src: str, dst: str, interp: bytes, mode: int = 0o755) -> None:
    """A copy of the dynamic ELF src whose PT_INTERP says `interp` (at most
    as long as the original, NUL-padded)."""
    with open(src, "rb") as f:
        data = f.read()
    old = b"/lib64/ld-linux-x86-64.so.2\0"
    assert data.count(old) == 1 and len(interp) < len(old)
    with open(dst, "wb") as f:
        f.write(data.replace(old, interp.ljust(len(old), b"\0")))
    os.chmod(dst, mode)


@pytest.mark.skipif(platform.machine() != "x86_64", reason="the PT_INTERP patched in is x86_64's")
def test_fast_exec_answers_like_the_walk(priv, rootfs, world, progs):
    """Execs decided in C (fast.py: fresh execs, with Landlock) answer like
    the Python handler, for files it decides (the loader run explicitly, a
    static program, a program at its host path run natively, errors on the
    way) and files it hands on (scripts, relative paths and interpreters,
    "..", /proc): each exec twice, since C only knows a file's format once
    Python parsed it."""
    hostdir = progs.outdir
    progs.path("confine_calls")
    try:  # in the root, and at its host path (run natively)
        statics = ["/opt/t/static_hello", progs.path("static_hello", static=True)]
    except pytest.skip.Exception:
        statics = []
    cc = os.path.join(rootfs, "opt/t/confine_calls")

    def fresh(name):
        w = _new_w(world, name)
        _write(os.path.join(w, "s.sh"), "#!/bin/sh\necho script $0 $1\n")
        shutil.copy(cc, os.path.join(w, "d" * 24))  # a dynamic ELF as an interpreter
        shutil.copy(cc, os.path.join(w, "n" * 24))
        os.chmod(os.path.join(w, "n" * 24), 0o644)
        _patched_interp(cc, os.path.join(w, "missing_interp"), b"/lib64/ld-linux-x86-64.so.X")
        _patched_interp(cc, os.path.join(w, "dyn_interp"), b"/w/" + b"d" * 24)
        _patched_interp(cc, os.path.join(w, "noexec_interp"), b"/w/" + b"n" * 24)
        _patched_interp(cc, os.path.join(w, "rel_interp"), b"lib64/ld-linux-x86-64.so.2")
        _patched_interp(cc, os.path.join(w, "xonly"), b"/lib64/ld-linux-x86-64.so.2", 0o711)
        return [(w, "/w", False), (hostdir, hostdir, True)]

    paths = ["/opt/t/confine_calls", "/bin/echo", "/bin/sh", *statics, f"{hostdir}/confine_calls",
             "/w/f", "/w", "/w/link", "/w/dangling", "/nonexistent", "/etc/hostname/x",
             "/w/missing_interp", "/w/dyn_interp", "/w/noexec_interp", "/w/rel_interp", "/w/xonly",
             "/w/s.sh", "/w/../opt/t/confine_calls", "opt/t/confine_calls", "/proc/self/exe"]
    argv = ["/opt/t/confine_calls", "execs", *paths]
    fast = run_as(priv, _run_counting, rootfs, fresh("w-fast"), argv, True)
    slow = run_as(priv, _run_counting, rootfs, fresh("w-slow"), argv, False)
    assert fast[1] == slow[1], "\n".join(f"{a}\n{b}" for a, b in zip(fast[1].splitlines(),
                                                                   slow[1].splitlines()) if a != b)
    out = fast[1]
    assert "argv[0]=zero argv[1]=argv exe=/opt/t/confine_calls" in out
    assert f"argv[0]=zero argv[1]=argv exe={hostdir}/confine_calls" in out
    for path, err in [("/w/f", "EACCES"), ("/w", "EACCES"), ("/w/link", "EACCES"),
                      ("/w/dangling", "ENOENT"), ("/nonexistent", "ENOENT"),
                      ("/etc/hostname/x", "ENOTDIR"), ("/w/missing_interp", "ENOENT"),
                      ("/w/dyn_interp", "ELIBBAD"), ("/w/noexec_interp", "EACCES")]:
        assert out.count(f"{path}: {err}\n") == 2, (path, out)
    assert out.count("script /w/s.sh argv") == 2
    assert fast[0] == slow[0] == 0
    if fast[2]:  # Landlock active: the second exec of each file was decided in C
        assert fast[3] < slow[3] - len(paths) // 2, (fast[3], slow[3])


# ---- python3 -------------------------------------------------------------------------------


PY_SCRIPT = """
import os, subprocess, sys
print(subprocess.run(["echo", "from-subprocess"], capture_output=True, text=True).stdout.strip())
print("exe", os.readlink("/proc/self/exe"), sys.executable)
print(open("/etc/hostname").read().strip())
"""


def test_python_in_the_root(priv, tmp_world, rootfs):
    real = os.path.realpath(PYTHON)
    ver = os.path.basename(real).replace("python", "")
    stdlib = f"/usr/lib/python{ver}"
    if not os.path.exists(real) or not os.path.isdir(stdlib):
        pytest.skip(f"no system python with {stdlib} here")
    root = os.path.join(tmp_world, "pyroot")
    build_root(root, ["echo", real])
    os.symlink(os.path.basename(real), os.path.join(root, "usr/bin/python3"))
    w = os.path.join(tmp_world, "pyw")
    os.mkdir(w)
    _write(os.path.join(w, "t.py"), PY_SCRIPT, 0o644)
    for dirpath, _d, _f in os.walk(tmp_world):
        os.chmod(dirpath, 0o755)
    binds = [(stdlib, stdlib, True), (w, "/w", False)]
    st, out, _ = run_as(priv, _run, root, binds, ["/usr/bin/python3", "/w/t.py"], timeout=120)
    assert out.splitlines() == ["from-subprocess", f"exe {real} /usr/bin/python3", "view-host"], out
    assert st == 0


# ---- unix sockets ---------------------------------------------------------------------------


def _unix(root, binds, outside, net):
    allow = ["unix:/w/*", "bind:unix:/w/*"]  # the view's paths
    layer = {"none": None, "deny_all": Net.deny_all, "allow": lambda: Net(allow=allow)}[net]
    above = [] if layer is None else [layer()]  # made here: Net checks its own credentials
    return _run(root, binds, ["/opt/t/confine_calls", "unix", "/w", outside], above=above)


@pytest.mark.parametrize("net", ["none", "deny_all", "allow"])
def test_unix_sockets(priv, rootfs, world, net):
    outside = os.path.join(world["base"], "outside.sock")
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(outside)
    os.chmod(outside, 0o777)
    srv.listen(1)
    os.symlink(outside, os.path.join(world["w"], "leak"))  # resolved in the view: not there
    try:
        st, out, _ = run_as(priv, _unix, rootfs, _binds(world), outside, net)
    finally:
        srv.close()
    assert out.splitlines() == ["bind 0", "listen 0", "stat-is-socket 1", "bind-again EADDRINUSE",
                                "received ping", "client 0", "sendto 5", "datagram dgram",
                                "connect-outside ENOENT", "sendto-outside ENOENT"], out
    assert stat.S_ISSOCK(os.stat(os.path.join(world["w"], "s")).st_mode)  # in the bound dir
    assert st == 0


def test_unix_socket_links_cannot_lead_out(priv, rootfs, world):
    outside = os.path.join(world["base"], "outside.sock")
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(outside)
    os.chmod(outside, 0o777)
    srv.listen(1)
    os.symlink(outside, os.path.join(world["w"], "leak"))
    try:
        st, out, _ = run_as(priv, _unix, rootfs, _binds(world), "/w/leak", "none")
    finally:
        srv.close()
    assert "connect-outside ENOENT" in out and "sendto-outside ENOENT" in out, out


def test_exec_through_a_writable_mount_without_landlock(priv, rootfs, world):
    """Without Landlock the kernel must look up no path a process could
    swap on a writable mount: the exec is restarted with the checked file
    by fd, and still runs."""
    os.symlink("/bin/echo", os.path.join(world["w"], "prog"))
    st, out, ll = run_as(priv, _run, rootfs, _binds(world), ["/bin/sh", "-c", "/w/prog via-link"],
                         False)
    assert not ll and out.strip() == "via-link" and st == 0


# ---- metadata ---------------------------------------------------------------------------------


def _native_calls(args):
    r = subprocess.run(args, capture_output=True, text=True)
    return r.returncode, r.stdout


def _xattr_ok(path: str) -> bool:
    try:
        os.setxattr(path, "user.probe", b"1")
        os.removexattr(path, "user.probe")
        return True
    except OSError:
        return False


def test_xattrs_match_the_kernel(priv, rootfs, world, progs):
    f = os.path.join(world["w"], "f")
    _write(f, "x\n", 0o666)
    os.symlink("f", os.path.join(world["w"], "link"))
    if not _xattr_ok(f):
        pytest.skip("no user xattrs on this filesystem")
    native = run_as(priv, _native_calls, [progs.path("confine_calls"), "xattr", f,
                                          os.path.join(world["w"], "link")])
    st, out, _ = run_as(priv, _run, rootfs, _binds(world), ["/opt/t/confine_calls", "xattr", "/w/f",
                                                            "/w/link"])
    assert out == native[1] and st == native[0] == 0, (out, native)
    assert "value v1" in out and "names user.k" in out and "getxattr-gone ENODATA" in out


def test_utime_family_matches_the_kernel(priv, rootfs, world, progs):
    f = os.path.join(world["w"], "f")
    _write(f, "x\n", 0o666)
    if priv == "user" and os.geteuid() == 0:
        os.chown(f, 65534, 65534)  # setting times needs ownership
    native = run_as(priv, _native_calls, [progs.path("confine_calls"), "utime", f])
    st, out, _ = run_as(priv, _run, rootfs, _binds(world), ["/opt/t/confine_calls", "utime", "/w/f"])
    assert out == native[1] and st == 0, (out, native)
    assert "mtime 2000" in out and "mtime 4000" in out and "mtime 4500" in out
    assert "utimes-bad-usec EINVAL" in out


def test_names_and_metadata_match_the_kernel(priv, rootfs, world, progs, tmp_world):
    """mkdir, mknod, creat, chmod, chown, truncate, statx, link, symlink,
    rename and renameat2 flags, rmdir, openat2 jails, inotify, fchdir and
    getcwd, unlinkat, the umask: the same answers in the view as from the
    kernel on a host directory."""
    native_dir = os.path.join(tmp_world, "native")
    os.mkdir(native_dir)
    os.chmod(native_dir, 0o777)
    native = run_as(priv, _native_calls, [progs.path("confine_calls"), "ops", native_dir])
    st, out, _ = run_as(priv, _run, rootfs, _binds(world), ["/opt/t/confine_calls", "ops", "/w"])
    # device nodes are never made for the program (root could, natively)
    assert "mknod-chr EPERM" in out
    expected = native[1].replace("mknod-chr 0\n", "mknod-chr EPERM\n")
    assert out == expected, "\n".join(f"{a:30} {b}" for a, b in zip(out.splitlines(),
                                                                expected.splitlines()) if a != b)
    assert "event new" in out and "getcwd-ok 1" in out and "openat2-beneath-up EXDEV" in out
    assert f"mode-masked {0o600}" in out and f"mode-maskeddir {0o700}" in out
    assert st == native[0] == 0


def test_read_only_bind_stays_read_only(priv, rootfs, world):
    st, out, _ = run_as(priv, _run, rootfs, _binds(world), ["/opt/t/confine_calls", "ro", "/ro/f"])
    assert out.splitlines() == ["setxattr EROFS", "fsetxattr EROFS", "fchmod EROFS", "fchown EROFS",
                                "utime EROFS", "truncate EROFS"], out
    assert open(os.path.join(world["ro"], "f")).read() == "read-only\n"


# ---- i386 -------------------------------------------------------------------------------------


@pytest.mark.skipif(platform.machine() != "x86_64", reason="the i386 ABI is x86_64's")
def test_int80_file_calls(priv, rootfs, world):
    st, out, _ = run_as(priv, _run, rootfs, _binds(world),
                        ["/opt/t/confine_int80", "/etc/hostname", "/w"])
    if st == 77 or "open -38" in out:
        pytest.skip("no IA32 emulation in this kernel")
    size = len("view-host\n")
    assert out.splitlines() == [
        "open 0", "read 10 view-host", "access 0", f"stat64 0 mode 100644 size {size}",
        f"stat 0 mode 100644 size {size}", "statfs64 0", "chdir 0", "getcwd 0 /w", "mkdir 0",
        "create 0", "truncate 0", "lstat64 0 size 7", "symlink 0", "readlink 13 /etc/hostname",
        "utimensat 0", "chown32 0", "unlink 0", "unlink 0", "rmdir 0", "open-missing -2"], out
    assert os.listdir(world["w"]) == []
    assert st == 0


def _build_i386(src: str, out: str) -> str | None:
    r = subprocess.run(["gcc", "-m32", "-nostdlib", "-static", "-ffreestanding", "-fno-pic",
                        "-fno-stack-protector", "-O1", "-o", out, src], capture_output=True, text=True)
    return None if r.returncode == 0 else r.stderr.strip().splitlines()[-1:]


@pytest.mark.skipif(platform.machine() != "x86_64", reason="32-bit programs run on x86_64 here")
def test_32bit_program(priv, tmp_world, rootfs, world):
    src = os.path.join(os.path.dirname(__file__), "progs", "i386", "confine_i386.c")
    exe = os.path.join(tmp_world, "confine_i386")
    err = _build_i386(src, exe)
    if err is not None:
        pytest.skip(f"gcc cannot build a freestanding 32-bit program here: {err}")
    os.chmod(exe, 0o755)
    if subprocess.run([exe, "/etc/hostname", tmp_world], capture_output=True).returncode != 0:
        pytest.skip("32-bit programs do not run here (no IA32 emulation?)")
    os.unlink(os.path.join(tmp_world, "made"))
    bindir = os.path.join(tmp_world, "bin32")
    os.mkdir(bindir)
    shutil.move(exe, os.path.join(bindir, "confine_i386"))
    os.chmod(bindir, 0o755)
    binds = _binds(world) + [(bindir, "/opt/bin32", True)]
    st, out, _ = run_as(priv, _run, rootfs, binds, ["/opt/bin32/confine_i386", "/etc/hostname", "/w"])
    assert out.splitlines() == ["open 0", "read 10", "data view-host", "stat64 0", "size 10",
                                "create 0", "write 5", "getcwd 1", "open-missing -2"], out
    assert open(os.path.join(world["w"], "made")).read() == "i386\n"
    assert st == 0


# ---- credentials --------------------------------------------------------------------------------


DROP = r"""
import os
os.setgroups([]); os.setgid(65534); os.setuid(65534)
fd = os.open("/w/mine", os.O_CREAT | os.O_WRONLY, 0o644); os.close(fd)
st = os.stat("/w/mine"); print("owner", st.st_uid, st.st_gid)
try:
    open("/w/rootonly").read(); print("read-rootonly")
except PermissionError:
    print("rootonly EACCES")
"""


def test_actions_take_the_programs_credentials(tmp_world, rootfs):
    """A root program that drops to uid 65534: the files the supervisor
    creates for it are its own, and root-only files stay closed to it."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    real = os.path.realpath(PYTHON)
    ver = os.path.basename(real).replace("python", "")
    stdlib = f"/usr/lib/python{ver}"
    if not os.path.isdir(stdlib):
        pytest.skip("no system python here")
    root = os.path.join(tmp_world, "pyroot")
    build_root(root, [real])
    os.symlink(os.path.basename(real), os.path.join(root, "usr/bin/python3"))
    w = os.path.join(tmp_world, "w")
    os.mkdir(w)
    os.chmod(w, 0o777)
    _write(os.path.join(w, "drop.py"), DROP, 0o644)
    _write(os.path.join(w, "rootonly"), "secret\n", 0o600)
    for dirpath, _d, _f in os.walk(root):
        os.chmod(dirpath, 0o755)
    st, out, _ = _run(root, [(stdlib, stdlib, True), (w, "/w", False)], ["/usr/bin/python3", "/w/drop.py"])
    assert out.splitlines() == ["owner 65534 65534", "rootonly EACCES"], out
    assert os.stat(os.path.join(w, "mine")).st_uid == 65534
    assert st == 0


# ---- sysvisor run --root --------------------------------------------------------------------------


_cli = cli_capture


def test_cli_run_root(priv, rootfs, world):
    w = world["w"]
    status, out, err = run_as(priv, _cli, [
        "run", "--root", rootfs, "--bind", f"{w}:/w", "--ro-bind", f"{world['ro']}:/ro", "--cwd", "/w",
        "--", "/bin/sh", "-c", "pwd; cat /etc/hostname /ro/f; echo made > here; "
        "for i in $(seq 3); do cat /etc/hostname >/dev/null; done; echo x > /ro/g || echo ro-refused"])
    assert out.splitlines() == ["/w", "view-host", "read-only", "ro-refused"], (out, err)
    assert open(os.path.join(w, "here")).read() == "made\n"
    assert status == 0


def test_cli_run_trace(priv, rootfs, world):
    trace = os.path.join(world["w"], "trace.txt")
    status, out, err = run_as(priv, _cli, ["run", "--root", rootfs, "--trace", "-e", "trace=openat",
                                           "-o", trace, "--", "/bin/cat", "/etc/hostname"])
    assert out == "view-host\n" and status == 0, err
    text = open(trace).read()
    assert re.search(r'openat\(AT_FDCWD, "/etc/hostname", O_RDONLY\) += 3', text), text


def test_cli_run_bypass_list_is_implied(priv, rootfs, world):
    script = "for m in io_uring_setup name_to_handle_at unshare_ns clone3; do /opt/t/bypass $m; done"
    status, out, err = run_as(priv, _cli, ["run", "--root", rootfs, "--", "/bin/sh", "-c", script])
    assert out.splitlines() == ["io_uring_setup rc=-1 errno=EPERM", "name_to_handle_at rc=-1 errno=EPERM",
                                "unshare_ns rc=-1 errno=EPERM", "clone3 rc=-1 errno=ENOSYS"], (out, err)
    assert status == 0


@pytest.mark.parametrize("argv, message", [
    (["--root", "/nonexistent"], "--root /nonexistent: no such directory"),
    (["--root", "ROOT", "--bind", "/nonexistent:/x"], "/nonexistent: no such file or directory"),
    (["--root", "ROOT", "--bind", "/tmp:relative"], "must be absolute"),
    (["--root", "ROOT", "--bind", "/tmp:/a", "--ro-bind", "/usr:/a"], "two binds on /a"),
    (["--root", "ROOT", "--bind", "/tmp:/proc/x"], "/proc is built in"),
    (["--root", "ROOT", "--cwd", "/nonexistent"], "--cwd /nonexistent: not a directory in the view"),
    (["--cwd", "/"], "give --root or --bind"),
    (["--root", "ROOT", "--fakeroot"], "--fakeroot cannot be combined with --root"),
    (["--fakeroot", "--deny", "mkdir"], "--insecure"),
    (["--root", "ROOT", "--method", "seccomp"], "methods that can: unotify"),
    (["--root", "ROOT", "-e", "trace=open"], "-e and -o go with --trace"),
])
def test_cli_run_usage_errors(rootfs, argv, message):
    argv = [rootfs if a == "ROOT" else a for a in argv]
    status, out, err = _cli(["run", *argv, "--", "/bin/true"])
    assert status == 2, err
    assert message in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1, err


def test_cli_run_insecure_names_the_methods(rootfs):
    status, out, err = _cli(["run", "--root", rootfs, "--method", "seccomp", "--", "/bin/true"])
    assert status == 2 and "--insecure" in err and "unotify" in err, err
    status, out, err = _cli(["run", "--root", rootfs, "--method", "seccomp", "--insecure", "--",
                             "/bin/true"])
    assert status == 2 and "on_behalf" in err and "unotify" in err, err  # Confine: never insecure


def test_cli_command_not_in_the_view(rootfs):
    status, out, err = _cli(["run", "--root", rootfs, "--", "nosuchcommand"])
    assert status == 1 and "nosuchcommand: command not found (in the view)" in err, err


def _python_api(root, w):
    layers = confined(root, binds=[(w, "/w")], cwd="/w", net="none")
    try:
        return _traced(["/bin/sh", "-c", "pwd; cat /etc/hostname"], layers)
    finally:
        layers[-1].release()


def test_python_api_confined(priv, rootfs, world):
    st, out = run_as(priv, _python_api, rootfs, world["w"])
    assert out.splitlines() == ["/w", "view-host"] and st == 0


# ---- the table audit -------------------------------------------------------------------------------


PATH_ARG = re.compile(r"char \*(path|filename|pathname|name|oldname|newname|old|new|library|"
                      r"specialfile|dev_name|dir_name|new_root|put_old|from_path|to_path)\b")


@pytest.mark.parametrize("arch", ["x86_64", "i386"])
def test_every_path_call_is_translated_refused_or_denied(arch):
    """Audit of the syscall table: no call that takes a path reaches the
    kernel untranslated (mq_open/mq_unlink name message queues, not files;
    sethostname/setdomainname, delete_module take names, not paths)."""
    t = table(arch)
    bypass = set(BYPASS) | set(BYPASS_ERRNO) | set(BYPASS_FLAGS) | {b.name for b in BYPASS_LIST}
    not_paths = {"mq_open", "mq_unlink", "sethostname", "setdomainname", "delete_module",
                 "fsetxattr", "fgetxattr", "fremovexattr", "fsconfig"}
    handled = {n for n in dir(Confine) if not n.startswith("_")}
    for sc in t:
        takes_path = "file" in sc.classes or any(PATH_ARG.search(a) for a in sc.args)
        if not takes_path or sc.name in not_paths:
            continue
        assert sc.name in handled or sc.name in REFUSED or sc.name in bypass, \
            f"{arch} {sc.name} takes a path and is neither translated, refused nor denied"


def test_helpers_are_not_named_like_syscalls():
    """A public method named like a syscall becomes a handler: the layer's
    helpers must not be (layer.py docstring)."""
    names = {n for n in dir(Confine) if not n.startswith("_") and callable(getattr(Confine, n))}
    syscalls = set(table("x86_64").by_name) | set(table("i386").by_name)
    helpers_named_like_syscalls = {n for n in names & syscalls if not _is_handler(n)}
    assert helpers_named_like_syscalls == set()


def _is_handler(name: str) -> bool:
    import inspect

    fn = getattr(Confine, name)
    return list(inspect.signature(fn).parameters) == ["self", "call"]

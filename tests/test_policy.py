"""The Policy layer: deny by name, class, constant argument and path;
errno or kill; default-deny; the bypass list. On unotify (the boundary)
and, where the decision is on constants, on the insecure seccomp method."""
from __future__ import annotations

import errno
import os
import socket

import pytest

import sysvisor
import sysvisor.layers.bypass
import sysvisor.layers.policy
from sysvisor.kernel import bpf
from sysvisor.layers.bypass import BYPASS_LIST
from sysvisor.layers.policy import BYPASS, Policy, Rule, confinement_denials, path_args
from sysvisor.tables import table
from conftest import run_as

# unotify is the boundary; seccomp runs the same rules insecurely (racy)
METHODS = ["unotify", "seccomp"]
X86_64 = 0xC000003E


@pytest.fixture(params=METHODS)
def method(request):
    return request.param


def run(argv, layers, method, workdir):
    """(status, stdout+stderr of argv and of sysvisor) under the layers."""
    if not isinstance(layers, (list, tuple)):
        layers = [layers]
    out = os.path.join(workdir, f"policy-{os.getpid()}-{len(os.listdir(workdir))}")
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    saved = [os.dup(1), os.dup(2)]
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    try:
        s = sysvisor.Session(list(layers), method=method, insecure=method != "unotify")
        s.spawn(argv, cwd=workdir)
        status = s.run()
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for f in saved + [fd]:
            os.close(f)
    with open(out) as f:
        return status, f.read()


class OpenOnBehalf(sysvisor.Layer):
    """A minimal stand-in for the Confine layer: opens openat's path in the
    supervisor and hands the fd over (unotify), so a path *allow* above it
    holds. No view, no openat2: tests only."""

    def openat(self, call):
        path = call.path(1)
        flags = call.args[2] & 0xFFFFFFFF
        try:
            fd = os.open(path, flags & ~os.O_CLOEXEC, call.args[3] & 0o7777)
        except OSError as e:
            return call.fail(e.errno)
        try:
            return call.inject_fd(fd, cloexec=bool(flags & os.O_CLOEXEC))
        finally:
            os.close(fd)


# ---- rules --------------------------------------------------------------------------


def test_deny_by_name(priv, method, tmp_world):
    p = Policy.from_spec(deny="mkdir,mkdirat")
    status, out = run_as(priv, run, ["sh", "-c", "mkdir d; echo rc=$?; ls -d . >/dev/null && echo ok"],
                         p, method, tmp_world)
    assert "Operation not permitted" in out and "rc=1" in out and "ok" in out
    assert not os.path.exists(os.path.join(tmp_world, "d"))


def test_deny_by_class_with_errno(priv, method, tmp_world):
    p = Policy.from_spec(deny="%network=EACCES")
    code = "import socket\ntry:\n    socket.socket()\nexcept OSError as e:\n    print('errno', e.errno)\n"
    status, out = run_as(priv, run, ["python3", "-c", code], p, method, tmp_world)
    assert status == 0 and f"errno {errno.EACCES}" in out


@pytest.mark.parametrize("how", ["rule", "spec"])
def test_deny_by_constant_argument(priv, method, tmp_world, how):
    """Only AF_INET sockets are refused; the predicate is in the filter."""
    if how == "rule":
        p = Policy([Rule("deny", "socket", when=(sysvisor.arg(0, bits=32) == socket.AF_INET,))])
    else:
        p = Policy.from_spec(deny="socket[0=AF_INET]")
    code = ("import socket\nsocket.socket(socket.AF_UNIX).close()\nprint('unix ok')\n"
            "socket.socket(socket.AF_INET6).close()\nprint('inet6 ok')\n"
            "try:\n    socket.socket(socket.AF_INET)\nexcept OSError as e:\n    print('inet', e.errno)\n")
    status, out = run_as(priv, run, ["python3", "-c", code], p, method, tmp_world)
    assert "unix ok" in out and "inet6 ok" in out and f"inet {errno.EPERM}" in out


def test_constant_rules_are_in_the_filter():
    """Interests: exactly what a rule can act on. Allows that come first
    are folded in as negations: `allow socket[0=AF_UNIX]` then `deny
    socket` stops every socket() but unix ones."""
    tab = table("x86_64")
    nr = tab.by_name["socket"].nr
    p = Policy.from_spec(allow="socket[0=AF_UNIX]", deny="socket,mkdir")
    want = p.interests(tab)
    assert set(want) == {nr, tab.by_name["mkdir"].nr}
    s = sysvisor.Session([p], method="unotify")
    code = s._engine.compile_filter()
    args = lambda fam: (fam, 1, 0, 0, 0, 0)  # noqa: E731
    assert bpf.run(code, nr, X86_64, args(socket.AF_UNIX)) == bpf.RET_ALLOW
    assert bpf.run(code, nr, X86_64, args(socket.AF_INET)) == bpf.RET_USER_NOTIF
    # a path rule cannot be decided in the filter: openat always stops
    assert Policy.from_spec(deny="openat:/etc/*").interests(tab) == {tab.by_name["openat"].nr: None}
    # default-deny stops everything but what is allowed on constants only
    dd = Policy.from_spec(allow="read,write,socket[0=AF_UNIX]", default="deny").interests(tab)
    assert tab.by_name["read"].nr not in dd and dd[tab.by_name["getpid"].nr] is None
    assert [tuple(map(str, a)) for a in dd[nr]] == [("arg0 != 0x1",)]
    assert 1000 in dd  # numbers no table knows stop (and fail) too


def test_kill_action(priv, method, tmp_world):
    p = Policy.from_spec(deny="mkdir=kill,mkdirat=kill")
    status, out = run_as(priv, run, ["sh", "-c", "exec mkdir d"], p, method, tmp_world)
    assert status == 128 + 9
    assert not os.path.exists(os.path.join(tmp_world, "d"))


def test_kill_a_threaded_process(priv, progs, tmp_world):
    """SIGKILL goes to the whole process, not only the calling thread."""
    prog = progs.path("threads")
    p = Policy.from_spec(deny="gettid=kill,getpid=kill")
    status, out = run_as(priv, run, [prog], p, "unotify", tmp_world)
    assert status == 128 + 9


ALLOW_BASICS = ("%process,%memory,%desc,%signal,%file,%creds,%clock,getrandom,arch_prctl,set_tid_address,"
                "set_robust_list,rseq,prlimit64,futex,sysinfo,getpid,gettid,getppid,getpgrp,getcwd,"
                "sched_getaffinity,sched_yield,getrlimit,umask,wait4,pipe2,pipe")


def test_default_deny(priv, method, tmp_world):
    """An allow-list: what sh and a few commands need; uname is not on it."""
    p = Policy.from_spec(allow=ALLOW_BASICS, default="deny")
    status, out = run_as(priv, run, ["sh", "-c", "echo hi; uname; echo rc=$?"], p, method, tmp_world)
    assert "hi" in out and "rc=1" in out and "Operation not permitted" in out, out


def test_default_deny_with_kill(priv, tmp_world):
    p = Policy(Policy.from_spec(allow=ALLOW_BASICS).rules + [Rule("deny", "all", kill=True)],
               default="deny")
    status, out = run_as(priv, run, ["sh", "-c", "echo hi; exec uname"], p, "unotify", tmp_world)
    assert status == 128 + 9 and "hi" in out and "Linux" not in out


# ---- path globs -----------------------------------------------------------------------------


def test_path_args():
    tab = table("x86_64")
    assert path_args(tab.by_name["openat"]) == [1]
    assert path_args(tab.by_name["renameat2"]) == [1, 3]
    assert path_args(tab.by_name["symlinkat"]) == [2]  # the target is not looked up
    assert path_args(tab.by_name["setxattr"]) == [0]  # `name` is the attribute's
    assert path_args(tab.by_name["mount"]) == [0, 1]


def test_path_deny_and_allow_with_an_executor_below(priv, tmp_world):
    """A path deny fails the call; a path allow hands it down to a layer
    that opens it on the program's behalf (the Confine layer's job)."""
    layers = [Policy.from_spec(deny="openat:/etc/shadow*"), OpenOnBehalf()]
    status, out = run_as(priv, run, ["cat", "/etc/shadow"], layers, "unotify", tmp_world)
    assert status == 1 and "Operation not permitted" in out
    layers = [Policy.from_spec(deny="openat:/etc/shadow*"), OpenOnBehalf()]
    status, out = run_as(priv, run, ["cat", "/etc/hostname"], layers, "unotify", tmp_world)
    with open("/etc/hostname") as f:
        assert status == 0 and out == f.read()


def test_path_rules_fail_closed_without_an_executor(priv, tmp_world, capfd):
    """On unotify a path the enforcing layer read is never handed back to
    the kernel: without a layer below that executes the call, every call
    whose path the policy read fails closed (EPERM), with one message."""
    def fn(workdir):
        p = Policy([Rule("allow", "openat", path="/etc/hostname"), Rule("deny", "openat", path="/etc/shadow")])
        return run(["/bin/cat", "/etc/hostname"], p, "unotify", workdir)

    status, out = run_as(priv, fn, tmp_world)
    assert status == 127 and "Operation not permitted" in out
    err = capfd.readouterr().err
    assert err.count("decided on pointer arguments then continued") == 1, err


def test_path_rules_on_seccomp_are_racy_but_work(priv, tmp_world):
    p = Policy.from_spec(deny="openat:/etc/hostname=EACCES")
    status, out = run_as(priv, run, ["python3", "-c", "open('/etc/hostname')"], p, "seccomp", tmp_world)
    assert status == 1 and "Permission denied" in out
    status, out = run_as(priv, run, ["cat", "/etc/passwd"], p, "seccomp", tmp_world)
    assert status == 0 and "root:" in out


# ---- the spec syntax --------------------------------------------------------------------------


def test_spec_syntax():
    p = Policy.from_spec(allow="read", deny="mkdir,%network=EACCES,openat:/etc/shadow*,ptrace=kill,"
                                            "unshare[0&CLONE_NEWUSER],socket[0=2][1!=SOCK_DGRAM]=EAFNOSUPPORT")
    got = [str(r) for r in p.rules]
    assert got == ["allow read", "deny mkdir EPERM", "deny %network EACCES",
                   "deny openat path /etc/shadow* EPERM", "deny ptrace kill",
                   "deny unshare if arg0 & 0x10000000 == 0x10000000 EPERM",
                   "deny socket if arg0 == 0x2 and arg1 != 0x2 EAFNOSUPPORT"]
    assert p.rules[-1].when[0].bits == 32  # socket's family is a C int
    assert Policy.from_spec(deny="clone[0&CLONE_NEWNS]").rules[0].when[0].bits == 64


def test_typos_are_usage_errors():
    with pytest.raises(sysvisor.UsageError, match="unknown syscall 'mkdri'"):
        Policy.from_spec(deny="mkdri")
    with pytest.raises(sysvisor.UsageError, match="unknown errno"):
        Policy.from_spec(deny="mkdir=EBOGUS")
    with pytest.raises(sysvisor.UsageError, match="unknown errno"):
        Policy.from_spec(deny="mkdir=bogus")
    with pytest.raises(sysvisor.UsageError, match="unknown constant"):
        Policy.from_spec(deny="socket[0=AF_BOGUS]")
    with pytest.raises(sysvisor.UsageError, match="cannot parse"):
        Policy.from_spec(deny="socket[0=2")
    with pytest.raises(sysvisor.UsageError, match="default"):
        Policy(default="maybe")


# ---- the bypass list ---------------------------------------------------------------------------


def test_bypass_list_is_documented_and_known():
    names = {b.name for b in BYPASS_LIST}
    for must in ("io_uring_setup", "io_uring_enter", "io_uring_register", "open_by_handle_at",
                 "name_to_handle_at", "ptrace", "process_vm_readv", "process_vm_writev", "bpf",
                 "userfaultfd", "perf_event_open", "mount", "umount2", "move_mount", "open_tree",
                 "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr", "pivot_root", "chroot",
                 "unshare", "setns", "kexec_load", "kexec_file_load", "init_module", "finit_module",
                 "delete_module"):
        assert must in names
    tabs = [table("x86_64"), table("i386")]
    for b in BYPASS_LIST:
        assert b.reason and b.category
        assert any(b.name in t.by_name for t in tabs) or b.name in ("lookup_dcookie",), b.name
    assert "chroot" in BYPASS and "unshare" in sysvisor.layers.policy.BYPASS_FLAGS
    assert "clone3" not in BYPASS and sysvisor.layers.policy.BYPASS_ERRNO == {"clone3": errno.ENOSYS}
    assert "setns" in sysvisor.layers.bypass.describe()


def test_bypass_flags_are_in_the_filter():
    """unshare/clone/setns/mknod stop only with the flags that matter."""
    s = sysvisor.Session([Policy(confinement_denials())], method="unotify")
    code = s._engine.compile_filter()
    tab = table("x86_64")

    def verdict(name, *args):
        return bpf.run(code, tab.by_name[name].nr, X86_64, tuple(args) + (0,) * (6 - len(args)))

    assert verdict("unshare", 0x400) == bpf.RET_ALLOW  # CLONE_FILES
    assert verdict("unshare", 0x20000) == bpf.RET_USER_NOTIF
    assert verdict("unshare", 0x10000000 | 0x400) == bpf.RET_USER_NOTIF
    assert verdict("clone", 0x3D0F00) == bpf.RET_ALLOW  # what pthread_create passes
    assert verdict("setns", 3, 0x40000000) == bpf.RET_ALLOW  # CLONE_NEWNET
    assert verdict("setns", 3, 0) == bpf.RET_USER_NOTIF  # "whatever the fd is"
    assert verdict("mknodat", -100, 0, 0o010644) == bpf.RET_ALLOW  # a FIFO
    assert verdict("mknodat", -100, 0, 0o020600) == bpf.RET_USER_NOTIF
    assert verdict("chroot") == bpf.RET_USER_NOTIF and verdict("getpid") == bpf.RET_ALLOW


@pytest.mark.parametrize("which,err", [
    ("io_uring_setup", "EPERM"), ("open_by_handle_at", "EPERM"), ("name_to_handle_at", "EPERM"),
    ("unshare_ns", "EPERM"), ("unshare_user", "EPERM"), ("mount", "EPERM"), ("chroot", "EPERM"),
    ("setns0", "EPERM"), ("mknod_dev", "EPERM"), ("clone3", "ENOSYS"), ("unshare_files", "none"),
])
def test_bypass_calls_denied(priv, progs, tmp_world, which, err):
    prog = progs.path("bypass")
    status, out = run_as(priv, run, [prog, which], Policy(confinement_denials()), "unotify", tmp_world)
    assert status == 0 and f"{which} rc={-1 if err != 'none' else 0} errno={err}" in out, out


def test_threads_still_work_under_the_denials(priv, progs, tmp_world):
    """clone3 fails with ENOSYS: the libc falls back to clone()."""
    status, out = run_as(priv, run, [progs.path("threads")], Policy(confinement_denials()),
                         "unotify", tmp_world)
    assert status == 0, out


@pytest.mark.parametrize("argv", [["unshare", "-m", "true"], ["unshare", "-U", "true"], ["chroot", "/", "true"]])
def test_bypass_commands_denied(priv, tmp_world, argv):
    status, out = run_as(priv, run, argv, Policy(confinement_denials()), "unotify", tmp_world)
    assert status != 0 and "Operation not permitted" in out


def test_run_cli(priv, tmp_world, capfd):
    import sysvisor.cli

    def fn(workdir):
        os.chdir(workdir)
        a = sysvisor.cli.main(["run", "--deny", "mkdir,mkdirat", "--", "sh", "-c", "mkdir d; exit 3"])
        b = sysvisor.cli.main(["run", "--deny", "mkdir", "--method", "seccomp", "--", "true"])
        c = sysvisor.cli.main(["run", "--", "true"])
        d = sysvisor.cli.main(["run", "--deny-bypass", "--", "chroot", "/", "true"])
        return a, b, c, d, os.path.exists("d")

    a, b, c, d, made = run_as(priv, fn, tmp_world)
    err = capfd.readouterr().err
    assert (a, b, c) == (3, 2, 2) and d != 0 and not made
    assert "cannot be a security boundary" in err and "methods that can: unotify" in err
    assert "Traceback" not in err

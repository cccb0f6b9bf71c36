"""The Policy layer: deny by name, class, constant argument and path;
errno or kill; default-deny; the bypass list."""
from __future__ import annotations

import errno
import os
import socket

import pytest

import sysvisor
import sysvisor.layers.policy
from sysvisor.layers.policy import BYPASS, Policy, Rule, confinement_denials
from conftest import run_as

# unotify is the boundary; seccomp runs the same rules insecurely (racy)
METHODS = ["unotify", "seccomp"]


@pytest.fixture(params=METHODS)
def method(request):
    return request.param


def run(argv, policy, method, workdir):
    """(status, stdout+stderr of argv) under the policy."""
    out = os.path.join(workdir, f"policy-{os.getpid()}-{len(os.listdir(workdir))}")
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    saved = [os.dup(1), os.dup(2)]
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    try:
        s = sysvisor.Session([policy], method=method, insecure=method != "unotify")
        s.spawn(argv, cwd=workdir)
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for f in saved + [fd]:
            os.close(f)
    status = s.run()
    with open(out) as f:
        return status, f.read()


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


def test_deny_by_constant_argument(priv, method, tmp_world):
    """Only AF_INET sockets are refused; the predicate is in the filter."""
    p = Policy([Rule("deny", "socket", when=(sysvisor.arg(0, bits=32) == socket.AF_INET,))])
    code = ("import socket\nsocket.socket(socket.AF_UNIX).close()\nprint('unix ok')\n"
            "try:\n    socket.socket(socket.AF_INET)\nexcept OSError as e:\n    print('inet', e.errno)\n")
    status, out = run_as(priv, run, ["python3", "-c", code], p, method, tmp_world)
    assert "unix ok" in out and f"inet {errno.EPERM}" in out


def test_kill_action(priv, method, tmp_world):
    p = Policy.from_spec(deny="mkdir=kill,mkdirat=kill")
    status, out = run_as(priv, run, ["sh", "-c", "exec mkdir d"], p, method, tmp_world)
    assert status == 128 + 9


def test_default_deny(priv, method, tmp_world):
    """An allow-list: what a static program needs, and nothing else."""
    allow = "execve,brk,arch_prctl,set_tid_address,set_robust_list,rseq,prlimit64,mprotect," \
            "readlinkat,readlink,getrandom,newfstatat,fstat,write,exit_group,openat,read,close,mmap,munmap"
    p = Policy.from_spec(allow=allow, default="deny")
    status, out = run_as(priv, run, ["sh", "-c", "echo hi"], p, method, tmp_world)
    # sh needs more than this (rt_sigaction, getpid...): it must fail, not pass
    assert status != 0 or "hi" not in out


def test_typos_are_usage_errors():
    with pytest.raises(sysvisor.UsageError, match="unknown syscall 'mkdri'"):
        Policy.from_spec(deny="mkdri")
    with pytest.raises(sysvisor.UsageError, match="unknown errno"):
        Policy.from_spec(deny="mkdir=EBOGUS")


@pytest.mark.parametrize("argv,needs", [
    (["unshare", "-m", "true"], "unshare"),
    (["unshare", "-U", "true"], "unshare"),
    (["chroot", "/", "true"], "chroot"),
])
def test_bypass_calls_denied(priv, tmp_world, argv, needs):
    assert needs in BYPASS or needs in sysvisor.layers.policy.BYPASS_FLAGS
    status, out = run_as(priv, run, argv, Policy(confinement_denials()), "unotify", tmp_world)
    assert status != 0 and "Operation not permitted" in out


def test_path_rules(priv, tmp_world):
    """A path deny works on both methods; on unotify a path *read* by the
    enforcing layer is never waved through afterwards: without a layer
    below that opens it on the program's behalf, it fails closed."""
    p = Policy.from_spec(deny="openat:/etc/hostname=EACCES")
    status, out = run_as(priv, run, ["python3", "-c", "open('/etc/hostname')"], p, "seccomp", tmp_world)
    assert status == 1 and "Permission denied" in out

    def on_unotify(workdir):
        p = Policy.from_spec(deny="openat:/etc/hostname=EACCES")
        status, out = run(["/bin/cat", "/etc/hostname"], p, "unotify", workdir)
        return status, out

    status, out = run_as(priv, on_unotify, tmp_world)
    assert status == 127 and "libc.so.6" in out and "Operation not permitted" in out


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

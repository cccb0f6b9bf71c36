"""The Confine layer on unotify: the view (root + binds + virtual cwd),
operations executed on the program's behalf, the escape battery
(tests/progs/confine_escape.c) and the Landlock backstop; as root and as
an unprivileged user."""
from __future__ import annotations

import os
import shutil

import pytest

import sysvisor
import sysvisor.methods
from sysvisor import _native
from sysvisor.kernel import landlock
from sysvisor.kernel.openat2 import RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS, openat2
from sysvisor.layers.confine import Confine
from conftest import run_as
import helpers

pytestmark = helpers.skip_module_without("unotify")

SECRET = "SECRET-do-not-read\n"


def make_world(base: str, progs_dir: str) -> dict:
    """A merged-/usr root of plain files + binds: /usr (ro, at its host
    path), a writable /w, a read-only /ro, the test programs (ro, at their
    host path); a secret, an outside binary and planted symlinks outside."""
    root = os.path.join(base, "root")
    for d in ("etc", "data", "usr", "proc", "w", "ro", "tmp"):
        os.makedirs(os.path.join(root, d))
    for name, target in (("bin", "usr/bin"), ("lib", "usr/lib"), ("lib64", "usr/lib64"),
                         ("sbin", "usr/sbin")):
        if os.path.islink("/" + name):
            os.symlink(target, os.path.join(root, name))
    with open(os.path.join(root, "etc", "hostname"), "w") as f:
        f.write("guest-host\n")
    with open(os.path.join(root, "data", "file"), "w") as f:
        f.write("hello\n")
    w, ro = os.path.join(base, "w"), os.path.join(base, "ro")
    os.mkdir(w)
    os.mkdir(ro)
    with open(os.path.join(ro, "f"), "w") as f:
        f.write("rofile\n")
    secret = os.path.join(base, "secret.txt")
    with open(secret, "w") as f:
        f.write(SECRET)
    outside = os.path.join(base, "outside_false")
    shutil.copy("/usr/bin/false", outside)
    os.symlink(secret, os.path.join(root, "leak_abs"))
    os.symlink("../" * 12 + secret.lstrip("/"), os.path.join(root, "leak_rel"))
    os.symlink("../" * 12 + secret.lstrip("/"), os.path.join(root, "data", "leak_rel2"))
    os.symlink(base, os.path.join(root, "leak_dir"))
    os.symlink(outside, os.path.join(root, "leak_exe"))
    binds = [("/usr", "/usr", True), (w, "/w", False), (ro, "/ro", True),
             (progs_dir, progs_dir, True)]
    return {"root": root, "binds": binds, "secret": secret, "outside": outside, "w": w, "ro": ro}


def confined(world, argv, **kw):
    layer = Confine(world["root"], world["binds"], **kw)
    try:
        status, out = helpers.traced(argv, [layer], "unotify")
        return status, out, layer.landlock_active
    finally:
        layer.release()


def _view(base, progs_dir):
    world = make_world(base, progs_dir)
    script = ("ls /; cat /etc/hostname; cat /data/file; cat /ro/f; "
              "cat /etc/passwd 2>/dev/null || echo no-passwd; "
              "echo x > /ro/y || echo ro-refused; "
              "cd /data && pwd && cat file; cd ..; pwd; cd /w && echo made > new && pwd; "
              "mkdir /w/d && mv /w/new /w/d/moved && ls /w/d; ln -s /data/file /w/l; cat /w/l; "
              "rm /w/l; touch /w/t; ls /w")
    st, out, ll = confined(world, ["/bin/sh", "-c", script])
    return st, out, ll, sorted(os.listdir(world["w"])), sorted(os.listdir(os.path.join(world["w"], "d")))


def test_view(priv, tmp_world, progs):
    progs_dir = os.path.dirname(progs.path("confine_escape"))
    st, out, ll, host_w, host_d = run_as(priv, _view, tmp_world, progs_dir)
    lines = out.splitlines()
    top = lines[:lines.index("guest-host")]
    assert {"bin", "data", "etc", "usr", "w", "ro", "leak_abs"} <= set(top)
    assert "hostname" not in top  # the host's / is not visible
    assert "guest-host" in lines and "hello" in lines and "rofile" in lines
    assert "no-passwd" in lines  # /etc/passwd of the host is not in the view
    assert "ro-refused" in lines
    assert "/data" in lines and "/" in lines and "/w" in lines
    assert "moved" in lines
    assert lines.count("hello") == 3  # /data/file, cd /data && cat file, the symlink
    assert host_w == ["d", "t"] and host_d == ["moved"]  # it happened in the host dir
    assert st == 0


def _erofs(base, progs_dir):
    world = make_world(base, progs_dir)
    script = ("for op in 'echo x > /ro/f' 'rm /ro/f' 'mkdir /ro/d' 'mv /ro/f /ro/g' "
              "'ln -s x /ro/s' 'chmod 777 /ro/f' 'touch /ro/f' 'mkdir /usr/x'; do "
              "sh -c \"$op\" 2>&1; done")
    return confined(world, ["/bin/sh", "-c", script])


def test_readonly_binds(priv, tmp_world, progs):
    progs_dir = os.path.dirname(progs.path("confine_escape"))
    st, out, ll = run_as(priv, _erofs, tmp_world, progs_dir)
    lines = [l for l in out.splitlines() if l.strip()]
    assert len(lines) == 8, out
    assert all("Read-only file system" in l for l in lines), out


MODES = ["direct", "dotdot", "symlinks", "swap", "toctou", "proc", "exec", "exec_toctou"]


def _escape(base, progs_dir, esc, mode, use_landlock):
    world = make_world(base, progs_dir)
    return confined(world, [esc, mode, world["secret"], world["outside"]], landlock=use_landlock)


@pytest.mark.parametrize("mode", MODES)
def test_escape_battery(priv, tmp_world, progs, mode):
    esc = progs.path("confine_escape")
    st, out, ll = run_as(priv, _escape, tmp_world, os.path.dirname(esc), esc, mode, True,
                         timeout=120)
    assert "ESCAPED" not in out, out
    assert f"done {mode}" in out, out
    assert st == 0
    if mode in ("swap", "toctou"):  # the benign half of the race did work
        assert int(out.split()[-1]) > 0, out
    if mode == "exec":
        assert out.split()[-1] == "1"  # /usr/bin/true (bound at its host path) runs
    if landlock.abi_version() >= 1:
        assert ll


@pytest.mark.parametrize("mode", ["exec", "exec_toctou", "swap", "proc"])
def test_escape_battery_without_landlock(priv, tmp_world, progs, mode):
    esc = progs.path("confine_escape")
    st, out, ll = run_as(priv, _escape, tmp_world, os.path.dirname(esc), esc, mode, False,
                         timeout=120)
    assert "ESCAPED" not in out, out
    assert not ll and st == 0
    if mode == "exec_toctou":  # multi-threaded: refused without the backstop
        assert out.split()[-1] == "0", out


def _relative(base, progs_dir):
    world = make_world(base, progs_dir)
    layer_cwd = "/data"
    layer = Confine(world["root"], world["binds"], cwd=layer_cwd)
    try:
        return helpers.traced(["/bin/sh", "-c", "pwd; cat file; cat ../etc/hostname; "
                               "cd ../w; mkdir -p a/b; cd a/b; pwd; cd ../../..; pwd; "
                               "(cd /etc && /bin/sh -c 'pwd; cat hostname')"],
                              [layer], "unotify")
    finally:
        layer.release()


def test_relative_paths_and_cwd(priv, tmp_world, progs):
    progs_dir = os.path.dirname(progs.path("confine_escape"))
    st, out = run_as(priv, _relative, tmp_world, progs_dir)
    assert out.splitlines() == ["/data", "hello", "guest-host", "/w/a/b", "/", "/etc",
                                "guest-host"], out
    assert st == 0


def test_proc_cannot_be_bound(tmp_world):
    with pytest.raises(sysvisor.UsageError, match="/proc"):
        Confine(tmp_world, [("/proc", "/proc", True)])


def test_openat2_in_root(tmp_world):
    os.makedirs(os.path.join(tmp_world, "r", "etc"))
    with open(os.path.join(tmp_world, "r", "etc", "x"), "w") as f:
        f.write("inside")
    os.symlink("/etc/x", os.path.join(tmp_world, "r", "abs"))
    rfd = os.open(os.path.join(tmp_world, "r"), os.O_PATH | os.O_DIRECTORY)
    try:
        fd = openat2(rfd, "../../../abs", os.O_RDONLY, 0, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
        assert os.read(fd, 10) == b"inside"
        os.close(fd)
        with pytest.raises(OSError):
            openat2(rfd, "/proc/self/root/etc/hostname", os.O_RDONLY, 0,
                    RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
    finally:
        os.close(rfd)


def _landlock_child(allowed_dir: str, path: str) -> int:
    fd = os.open(allowed_dir, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    rs = landlock.Ruleset.build([(fd, True, allowed_dir)])
    os.close(fd)
    try:
        pid, go, err = _native.spawn(b"/usr/bin/cat", [b"cat", os.fsencode(path)],
                                     [b"LANG=C"], None, None, 0, 0, 0, (rs.fd,))
        os.write(go, b"g")
        os.close(go)
        _, status = os.waitpid(pid, 0)
        os.close(err)
        return os.waitstatus_to_exitcode(status)
    finally:
        rs.close()


@pytest.mark.skipif(landlock.abi_version() < 1, reason="no Landlock here")
def test_landlock_backstop_restricts_the_child_only(priv, tmp_world):
    assert run_as(priv, _landlock_child, "/usr", "/usr/bin/cat") == 0
    assert run_as(priv, _landlock_child, "/usr", "/etc/hostname") != 0
    with open("/etc/hostname", "rb"):  # the supervisor itself is not restricted
        pass


def test_landlock_rights_per_abi():
    assert landlock.handled_rights(0) == 0
    assert landlock.handled_rights(1) == landlock.V1_ALL
    assert landlock.handled_rights(2) & landlock.REFER and not landlock.handled_rights(2) & landlock.TRUNCATE
    assert landlock.handled_rights(3) & landlock.TRUNCATE
    assert not landlock.handled_rights(4) & landlock.IOCTL_DEV
    assert landlock.handled_rights(5) & landlock.IOCTL_DEV
    ro = landlock.rights_for(True, 7)
    assert ro & landlock.EXECUTE and not ro & (landlock.WRITE_FILE | landlock.REFER | landlock.TRUNCATE)
    assert landlock.rights_for(False, 7) == landlock.handled_rights(7)

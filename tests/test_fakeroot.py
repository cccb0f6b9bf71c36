"""FakeRoot and `sysvisor run --fakeroot`: the program believes it is root,
as under fakeroot(1), which is the reference where it is installed."""
from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import tempfile

import pytest

import sysvisor
import sysvisor.cli
import sysvisor.cli.run
import sysvisor.kernel.procfs
import sysvisor.layers.fakeroot
import sysvisor.methods
import sysvisor.tables
from conftest import run_as
from sysvisor.layers.fakeroot import FakeRoot

for _arch in ("x86_64", "i386", "aarch64"):  # the unprivileged children cannot import
    try:
        sysvisor.tables.table(_arch)
    except Exception:
        pass
for _m in ("ptrace", "seccomp"):  # probe the kernel once, before any fork
    sysvisor.methods.choose(_m, [])

FAKEROOT = shutil.which("fakeroot")
DB_LINE = re.compile(r"dev=[0-9a-f]+,ino=\d+,mode=[0-7]+,uid=\d+,gid=\d+,nlink=\d+,rdev=\d+")


@pytest.fixture(params=["ptrace", "seccomp"])
def method(request):
    return request.param


def _capture(fn, *args):
    """fn(*args) with fd 1 going to a file; (its result, what it printed)."""
    with tempfile.TemporaryFile() as out:
        saved = os.dup(1)
        os.dup2(out.fileno(), 1)
        try:
            r = fn(*args)
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        out.seek(0)
        return r, out.read().decode()


def sv(script, *opts, method="auto"):
    """`sysvisor run --fakeroot OPTS -- sh -c SCRIPT` in-process: (status, stdout)."""
    return _capture(sysvisor.cli.main, ["run", "--fakeroot", "--method", method, *opts,
                                        "--", "sh", "-c", script])


def in_dir(workdir, name):
    d = os.path.join(workdir, f"{name}-{os.getpid()}")
    os.mkdir(d)
    os.chdir(d)
    os.umask(0o022)
    return d


# ---- identity ------------------------------------------------------------------------

def test_ids_are_root(priv, method, tmp_world):
    def fn(workdir):
        in_dir(workdir, "ids")
        return sv("id -u; id -g; id -un; id -gn", method=method), os.getuid()

    (status, out), real = run_as(priv, fn, tmp_world)
    assert status == 0
    assert out.split() == ["0", "0", "root", "root"]
    assert real == (0 if priv == "root" else 65534)


def test_set_ids_are_remembered_across_fork_and_exec(priv, tmp_world):
    if not shutil.which("setpriv"):
        pytest.skip("setpriv not installed")

    def fn(workdir):
        in_dir(workdir, "setids")
        return sv("setpriv --reuid 1000 --regid 100 --clear-groups sh -c 'id -u; id -g'; id -u")

    status, out = run_as(priv, fn, tmp_world)
    assert (status, out.split()) == (0, ["1000", "100", "0"])


# ---- ownership ----------------------------------------------------------------------------

def test_created_file_shows_root(priv, method, tmp_world):
    def fn(workdir):
        in_dir(workdir, "create")
        r = sv("touch f; stat -c %u:%g f; ls -ln f", method=method)
        return r, os.stat("f").st_uid

    (status, out), real_uid = run_as(priv, fn, tmp_world)
    lines = out.splitlines()
    assert status == 0 and lines[0] == "0:0"
    assert lines[1].split()[2:4] == ["0", "0"]
    assert real_uid == (0 if priv == "root" else 65534)


def test_chown_is_recorded_not_done(priv, method, tmp_world):
    def fn(workdir):
        in_dir(workdir, "chown")
        r = sv("touch f; chown 123:456 f; stat -c %u:%g f; chown :789 f; stat -c %u:%g f; "
               "ln -s f l; chown -h 7:8 l; stat -c %u:%g l; stat -L -c %u:%g l; "
               "chown 5 /etc/hostname; echo rc=$?; stat -c %u:%g /etc/hostname", method=method)
        st = os.stat("f")
        return r, (st.st_uid, st.st_gid), os.getuid(), os.getgid()

    (status, out), real, uid, gid = run_as(priv, fn, tmp_world)
    assert status == 0
    assert out.split() == ["123:456", "123:789", "7:8", "123:789", "rc=0", "5:0"]
    assert real == (uid, gid)  # the real file keeps its real owner


def test_mknod_device_is_a_plain_file(priv, method, tmp_world):
    def fn(workdir):
        in_dir(workdir, "mknod")
        r = sv("mknod c c 1 3 && mknod b b 8 1 && mkfifo p && "
               "stat -c '%F|%t,%T|%u:%g|%a' c b p && ls -ln c", method=method)
        return r, [stat.S_IFMT(os.lstat(n).st_mode) for n in ("c", "b", "p")]

    (status, out), real = run_as(priv, fn, tmp_world)
    lines = out.splitlines()
    assert status == 0
    assert lines[:3] == ["character special file|1,3|0:0|644", "block special file|8,1|0:0|644",
                         "fifo|0,0|0:0|644"]
    assert lines[3].startswith("crw-r--r-- 1 0 0 1, 3 ")
    assert real == [stat.S_IFREG, stat.S_IFREG, stat.S_IFIFO]


def test_chmod_keeps_special_bits_and_access(priv, tmp_world):
    def fn(workdir):
        in_dir(workdir, "chmod")
        r = sv("touch f; chmod 4755 f; chmod 000 f; stat -c %a f; chmod 2750 f; stat -c %a f; "
               "mkdir -m 0500 d && touch d/x && stat -c %a d; echo hi > f && cat f")
        return r, os.stat("f").st_mode & 0o7777, os.stat("d").st_mode & 0o777

    (status, out), real_f, real_d = run_as(priv, fn, tmp_world)
    assert status == 0 and out.split() == ["0", "2750", "500", "hi"]
    assert real_f & 0o600 == 0o600 and real_d == 0o700  # the real user keeps access


def test_rename_and_hard_links_keep_ownership(priv, method, tmp_world):
    def fn(workdir):
        in_dir(workdir, "rename")
        return sv("touch f; chown 123:456 f; ln f h; mv f g; stat -c %u:%g g h; "
                  "rm g; stat -c %u:%g h; mkdir d; mv h d/h2; stat -c %u:%g d/h2", method=method)

    status, out = run_as(priv, fn, tmp_world)
    assert (status, out.split()) == (0, ["123:456"] * 4)


def test_unlink_forgets_the_inode(priv, method, tmp_world):
    def fn(workdir):
        d = in_dir(workdir, "unlink")
        db = os.path.join(d, "..", f"unlink-{os.getpid()}.db")
        r = sv("for i in 1 2 3; do touch f$i; chown 5:6 f$i; done; "
               "ls -i f1 f2 f3 | sort > before; rm f1 f2; rm -f f3; "
               "touch a b; chown 9:9 b; mv a b; "
               "mkdir dd; chown 3:3 dd; rmdir dd; "
               "for i in 1 2 3; do touch g$i; done; mkdir dd; "
               "stat -c %u:%g g1 g2 g3 b dd", "--fakeroot-db", db, method=method)
        with open(db) as f:
            return r, f.read()

    (status, out), db = run_as(priv, fn, tmp_world)
    assert status == 0 and out.split() == ["0:0"] * 5
    assert db == ""  # every recorded inode went away


# ---- the database ----------------------------------------------------------------------

def test_database_round_trip(priv, tmp_world):
    def fn(workdir):
        d = in_dir(workdir, "db")
        db = os.path.join(d, "state.db")
        a = sv("touch f; chown 1:2 f; mknod n c 4 5; chmod 4711 f", "--fakeroot-db", db)
        with open(db) as f:
            saved = f.read()
        b = sv("stat -c '%u:%g %a %F %t,%T' f n; chown 7:7 f", "--fakeroot-db", db)
        c = sv("stat -c '%u:%g' f", "--fakeroot-db", db)
        e = sv("stat -c '%u:%g' f")  # without the database: unknown again
        return a, saved, b, c, e

    a, saved, b, c, e = run_as(priv, fn, tmp_world)
    assert a == (0, "")
    lines = saved.splitlines()
    assert len(lines) == 2 and all(DB_LINE.fullmatch(l) for l in lines), saved
    assert any(",mode=20644,uid=0,gid=0," in l and l.endswith(f",rdev={os.makedev(4, 5)}") for l in lines)
    assert any(",mode=104711,uid=1,gid=2," in l for l in lines)
    assert b == (0, "1:2 4711 regular empty file 0,0\n0:0 644 character special file 4,5\n")
    assert c == (0, "7:7\n") and e == (0, "0:0\n")


@pytest.mark.skipif(FAKEROOT is None, reason="fakeroot not installed")
def test_database_interoperates_with_fakeroot(priv, tmp_world):
    def fn(workdir):
        d = in_dir(workdir, "interop")
        subprocess.run(["touch", "a", "b"], check=True)
        fr_db, sv_db = os.path.join(d, "fr.db"), os.path.join(d, "sv.db")
        subprocess.run([FAKEROOT, "-s", fr_db, "sh", "-c", "chown 11:22 a; mknod d c 5 1"], check=True)
        shutil.copy(fr_db, sv_db)
        ours = sv("stat -c '%n %u:%g %F %t,%T' a d; chown 33:44 b; rm a", "--fakeroot-db", sv_db)
        theirs = subprocess.run([FAKEROOT, "-i", sv_db, "stat", "-c", "%n %u:%g %F %t,%T", "b", "d"],
                                capture_output=True, text=True)
        return ours, theirs.returncode, theirs.stdout

    ours, rc, theirs = run_as(priv, fn, tmp_world)
    assert ours == (0, "a 11:22 regular empty file 0,0\nd 0:0 character special file 5,1\n")
    assert rc == 0 and theirs == "b 33:44 regular empty file 0,0\nd 0:0 character special file 5,1\n"


# ---- programs fakeroot cannot reach --------------------------------------------------------

def _kv(text):
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def test_static_program(progs, priv, method, tmp_world):
    path = progs.path("fakeroot_ids", static=True)

    def fn(workdir):
        in_dir(workdir, "static")
        open("f", "w").close()
        return _capture(sysvisor.run, [path, "f", "n"], [FakeRoot()], method), os.getuid()

    (status, out), real = run_as(priv, fn, tmp_world)
    kv = _kv(out)
    assert status == 0, out
    assert (kv["uid"], kv["euid"], kv["gid"], kv["egid"], kv["resuid"]) == ("0", "0", "0", "0", "0,0,0")
    assert (kv["stat"], kv["chown"], kv["stat2"]) == ("0:0", "0", "123:456")
    assert (kv["mknod"], kv["dev"]) == ("0", "20640:1,3")
    assert (kv["setuid"], kv["uid2"], kv["euid2"]) == ("0", "1000", "1000")
    if kv.get("i386") != "unsupported" and "i386_getuid32" in kv:  # the compat ABI, int $0x80
        assert (kv["i386_getuid32"], kv["i386_getuid16"]) == ("0", "0")
        assert kv["i386_getresuid32"] == "0:0,0,0"
        assert kv["i386_stat64"] == "0:123:456" and kv["i386_mode64"] == "0:20640"
    assert real == (0 if priv == "root" else 65534)


# ---- against fakeroot: a tar archive with root-owned entries ------------------------------

BUILD_TREE = """set -e
mkdir -p tree/bin tree/etc tree/dev tree/var
echo conf > tree/etc/conf; echo tool > tree/bin/tool
chmod 4755 tree/bin/tool
chown 0:42 tree/bin/tool
chown -R 1000:1000 tree/etc
chown 123:456 tree/var
mknod tree/dev/null c 1 3
mknod tree/dev/sda b 8 0
mkfifo tree/var/fifo
ln tree/etc/conf tree/etc/conf.hard
mv tree/etc/conf tree/etc/conf2
ln -s conf2 tree/etc/link
chown -h 7:7 tree/etc/link
touch tree/var/gone; chown 9:9 tree/var/gone; rm tree/var/gone
tar cf out.tar tree
"""


def _listing(tar):
    """`tar tvf` without the date and time columns."""
    r = subprocess.run(["tar", "tvf", tar], capture_output=True, text=True, check=True)
    out = []
    for line in r.stdout.splitlines():
        f = line.split()
        out.append(" ".join(f[:3] + f[5:]))
    return out


@pytest.mark.skipif(FAKEROOT is None or shutil.which("tar") is None, reason="needs fakeroot and tar")
def test_tar_archive_like_fakeroot(priv, tmp_world):
    def fn(workdir):
        base = in_dir(workdir, "tar")
        os.mkdir("fr")
        os.mkdir("sv")
        subprocess.run([FAKEROOT, "sh", "-c", BUILD_TREE], cwd="fr", check=True)
        os.chdir("sv")
        status, _ = sv(BUILD_TREE)
        return status, _listing(os.path.join(base, "fr", "out.tar")), _listing(os.path.join(base, "sv", "out.tar"))

    status, theirs, ours = run_as(priv, fn, tmp_world)
    assert status == 0
    assert ours == theirs
    assert any(l.startswith("crw-r--r-- root/root 1,3 tree/dev/null") for l in ours), ours
    assert any(l.startswith("-rwsr-xr-x root/") for l in ours), ours


# ---- the command line and the layer's shape ----------------------------------------------

def test_cli_errors(tmp_world, capfd):
    def fn(workdir):
        d = in_dir(workdir, "cli")
        with open("bad.db", "w") as f:
            f.write("this is not a fakeroot database\n")
        a = sysvisor.cli.main(["run", "--fakeroot-db", "bad.db", "--", "true"])
        b = sysvisor.cli.main(["run", "--fakeroot-db", os.path.join(d, "nodir", "x.db"), "--", "true"])
        c = sysvisor.cli.main(["run", "--fakeroot", "--method", "unotify", "--", "true"])
        e = sysvisor.cli.main(["run", "--fakeroot", "--", "sh", "-c", "exit 7"])
        return a, b, c, e

    a, b, c, e = run_as("user", fn, tmp_world)
    err = capfd.readouterr().err
    assert (a, b, c, e) == (2, 2, 2, 7)
    assert "bad.db:1: not a fakeroot database line" in err
    assert "is not writable" in err and "Traceback" not in err
    assert "method unotify cannot" in err


def test_build_layers():
    p = sysvisor.cli._Parser(prog="sysvisor run")
    sysvisor.cli.run.add_arguments(p)
    layers = sysvisor.cli.run.build_layers(p.parse_args(["--fakeroot", "--", "true"]))
    assert [type(l).__name__ for l in layers] == ["FakeRoot"]
    layers = sysvisor.cli.run.build_layers(p.parse_args(["--fakeroot-db", "/tmp/x.db", "--", "true"]))
    assert layers[0].db == "/tmp/x.db"
    assert sysvisor.cli.run.build_layers(p.parse_args(["--", "true"])) == []


def test_auto_picks_seccomp_and_handlers_are_syscalls():
    info, _ = sysvisor.methods.choose("auto", [FakeRoot()])
    assert info.name == "seccomp"
    helpers = {"load", "save", "entries", "ids", "db", "needs", "name", "save_error",
               "on_end", "on_fork", "on_exit", "enforcing", "blocking"}
    public = {a for a in dir(FakeRoot) if not a.startswith("_")}
    names = set(sysvisor.tables.table("x86_64").by_name) | set(sysvisor.tables.table("i386").by_name)
    # every public name is a syscall handler or a known helper (a helper named
    # like a syscall would silently become a handler)
    base = {"handlers", "catch_all", "interests", "compile"}  # Layer's own methods
    assert public - helpers - names == base
    assert not (helpers | base) & names
    for arch in ("x86_64", "i386"):
        tab = sysvisor.tables.table(arch)
        handled = FakeRoot().handlers(tab)
        assert {"getuid", "getresgid", "stat", "statx", "chown", "fchownat", "mknodat",
                "unlinkat", "renameat2"} <= {n for n in public if n in tab.by_name}
    i386 = {a for a in dir(FakeRoot) if a in sysvisor.tables.table("i386").by_name}
    assert {"getuid32", "setresuid32", "chown32", "stat64", "fstatat64"} <= i386
    assert tab.by_name["getuid"].nr in handled and tab.by_name["statx"].nr in handled


EXTRACT_AND_COPY = """set -e
mkdir x; cd x; tar xpf ../out.tar; cd ..
cp -a x/tree y
ls -lnR x y
"""


def _ls_columns(text):
    """`ls -lnR` without the date and time columns (and without totals)."""
    out = []
    for line in text.splitlines():
        f = line.split()
        if len(f) >= 9 and not line.startswith("total"):
            out.append(" ".join(f[:5] + f[8:]) if not f[0].startswith(("c", "b")) else
                       " ".join(f[:6] + f[9:]))
        elif line and not line.startswith("total"):
            out.append(line)
    return out


@pytest.mark.skipif(FAKEROOT is None or shutil.which("tar") is None, reason="needs fakeroot and tar")
def test_extract_and_copy_like_fakeroot(priv, tmp_world):
    """tar x as root chowns and chmods through /proc/self/fd/N; cp -a sets
    modes through POSIX ACL xattrs unless they fail (fakeroot's do)."""
    def fn(workdir):
        base = in_dir(workdir, "extract")
        subprocess.run([FAKEROOT, "sh", "-c", BUILD_TREE], check=True, capture_output=True)
        outs = []
        for d in ("fr", "sv"):
            os.mkdir(d)
            shutil.copy("out.tar", d)
        r = subprocess.run([FAKEROOT, "sh", "-c", EXTRACT_AND_COPY], cwd="fr", capture_output=True,
                           text=True)
        outs.append((r.returncode, r.stdout))
        os.chdir(os.path.join(base, "sv"))
        outs.append(sv(EXTRACT_AND_COPY))
        return outs

    (rc_fr, theirs), (rc_sv, ours) = run_as(priv, fn, tmp_world)
    assert rc_fr == 0 and rc_sv == 0
    assert _ls_columns(ours) == _ls_columns(theirs)
    assert "crw-r--r-- 1 0 0 1, 3 null" in _ls_columns(ours)

"""The Remap layer: path prefix remapping and read-only binds, with real
programs (cat, ls, sh, python3) on the ptrace and seccomp methods, and on
sud, where the evaluator in the program does the remapping (compiled)."""
from __future__ import annotations

import os

import pytest

import sysvisor
from sysvisor.errors import UsageError
from sysvisor.layers.remap import Bind, BindTable, Remap, normalize
from conftest import run_as
from helpers import traced, unavailable

METHODS = ["ptrace", "seccomp", "sud"]
UNAVAILABLE = {m: unavailable(m) for m in METHODS}


@pytest.fixture(params=METHODS)
def method(request):
    if UNAVAILABLE[request.param]:
        pytest.skip(UNAVAILABLE[request.param])
    return request.param


@pytest.fixture
def world(tmp_world):
    """A host tree: store/ (bound at /data), other/ (bound at /data/sub),
    ro/ (read-only at /rodata); and a guest-only name under /data."""
    for d in ("store", "store/dir", "other", "ro"):
        os.mkdir(os.path.join(tmp_world, d))
        os.chmod(os.path.join(tmp_world, d), 0o777)
    for rel, text in (("store/file", "in store\n"), ("store/dir/deep", "deep\n"),
                      ("other/x", "in other\n"), ("ro/f", "read only\n")):
        with open(os.path.join(tmp_world, rel), "w") as f:
            f.write(text)
        os.chmod(os.path.join(tmp_world, rel), 0o666)
    return tmp_world


def _binds(world):
    return [Bind("/data", f"{world}/store"), Bind("/data/sub", f"{world}/other"),
            Bind("/rodata", f"{world}/ro", readonly=True)]


def _run(world, method, script):
    return traced(["sh", "-c", script], [Remap(_binds(world))], method=method)


# ---- the translation, lexically -----------------------------------------------------------


@pytest.mark.parametrize("path,norm", [
    (b"/", b"/"), (b"/a//b/./c", b"/a/b/c"), (b"/a/b/../c", b"/a/c"), (b"/../../x", b"/x"),
    (b"/a/b/", b"/a/b/"), (b"/a/..", b"/"), (b"/a/../", b"/"),
])
def test_normalize_is_lexical(path, norm):
    assert normalize(path) == norm


def test_longest_prefix_on_whole_components():
    t = BindTable([Bind("/data", "/h/store"), Bind("/data/sub", "/h/other"), Bind("/", "/h/root")])
    assert t.to_host(b"/data/x") == (b"/h/store/x", False)
    assert t.to_host(b"/data/sub/y") == (b"/h/other/y", False)
    assert t.to_host(b"/data") == (b"/h/store", False)
    assert t.to_host(b"/database") == (b"/h/root/database", False)  # not under /data
    assert t.to_guest(b"/h/other/y") == b"/data/sub/y"
    assert t.to_guest(b"/h/store") == b"/data"
    assert t.to_guest(b"/h/root/etc") == b"/etc"


def test_bad_binds_are_usage_errors():
    with pytest.raises(UsageError, match="absolute"):
        Bind("data", "/tmp")
    with pytest.raises(UsageError, match="absolute"):
        Remap.from_spec(["relative:/data"])


# ---- real programs --------------------------------------------------------------------------


def test_absolute_paths_are_mapped(world, priv, method):
    status, out = run_as(priv, _run, world, method,
                         "cat /data/file /data/dir/deep /data/sub/x; ls /data; ls /data/sub")
    assert status == 0
    assert out == "in store\ndeep\nin other\ndir\nfile\nx\n"


def test_prefix_boundary_and_unmapped_paths(world, priv, method):
    status, out = run_as(priv, _run, world, method,
                         f"cat {world}/store/file; ls /database 2>/dev/null || echo none")
    assert status == 0 and out == "in store\nnone\n"


def test_cwd_relative_paths_and_getcwd(world, priv, method):
    status, out = run_as(priv, _run, world, method,
                         "cd /data && pwd && /bin/pwd && cat file dir/deep sub/x && "
                         "readlink /proc/self/cwd && cd dir && /bin/pwd")
    assert status == 0
    assert out == "/data\n/data\nin store\ndeep\nin other\n/data\n/data/dir\n"


def test_dotdot_is_resolved_in_the_guest_view(world, priv, method):
    # on the host, store/dir/../../etc is <world>/etc, which does not exist
    status, out = run_as(priv, _run, world, method,
                         "cd /data/dir && cat ../file && cat ../../etc/hostname >/dev/null && "
                         "cd /data/sub && cat ../file ../dir/deep && cat /data/sub/../file")
    assert status == 0 and out == "in store\nin store\ndeep\nin store\n"


def test_dirfd_relative_paths(world, priv, method):
    def fn():
        code = ("import os\n"
                "d = os.open('/data/sub', os.O_RDONLY | os.O_DIRECTORY)\n"
                "print(open(os.open('x', os.O_RDONLY, dir_fd=d)).read(), end='')\n"
                "print(open(os.open('../file', os.O_RDONLY, dir_fd=d)).read(), end='')\n"
                "print(os.readlink(f'/proc/self/fd/{d}'))\n")
        return traced(["python3", "-c", code], [Remap(_binds(world))], method=method)
    status, out = run_as(priv, fn)
    assert status == 0 and out == "in other\nin store\n/data/sub\n"


def test_writes_land_on_the_host(world, priv, method):
    status, out = run_as(priv, _run, world, method,
                         "cd /data && echo new > made && mkdir d2 && mv made d2/moved && "
                         "ln -s moved d2/link && cat d2/link && rm d2/link && ls d2")
    assert status == 0 and out == "new\nmoved\n"
    assert open(os.path.join(world, "store/d2/moved")).read() == "new\n"


def test_read_only_bind_refuses_writes(world, priv, method):
    script = ("cat /rodata/f; "
              "for c in 'touch /rodata/new' 'echo x > /rodata/f' 'mkdir /rodata/d' 'rm /rodata/f' "
              "'mv /rodata/f /rodata/g' 'ln -s f /rodata/l' 'chmod 600 /rodata/f' "
              "'ln /data/file /rodata/h' 'mv /data/file /rodata/file'; do "
              "sh -c \"$c\" 2>&1 | grep -c 'Read-only file system'; done; "
              "test -w /rodata/f && echo writable || echo not-writable; "
              "python3 -c \"import os; os.close(os.open('/rodata/f', os.O_RDONLY | os.O_CREAT)); "
              "print('create-existing ok')\"")
    status, out = run_as(priv, _run, world, method, script)
    lines = out.splitlines()
    assert lines[0] == "read only"
    assert lines[1:10] == ["1"] * 9, lines
    assert lines[10:] == ["not-writable", "create-existing ok"]
    assert sorted(os.listdir(os.path.join(world, "ro"))) == ["f"]
    assert open(os.path.join(world, "ro/f")).read() == "read only\n"
    assert os.path.exists(os.path.join(world, "store/file"))


def test_readlink_results_are_mapped_back(world, priv, method):
    os.symlink(f"{world}/store/dir", os.path.join(world, "store", "abs"))
    status, out = run_as(priv, _run, world, method,
                         "readlink /data/abs; cd /data/sub && readlink /proc/self/cwd")
    assert status == 0 and out == "/data/dir\n/data/sub\n"


def test_getcwd_too_small_for_the_guest_path(world, priv, method):
    # a guest path longer than the host path: getcwd with a buffer that fits
    # the host path only must fail with ERANGE, as the kernel would
    deep = os.path.join(world, "other")
    binds = [Bind("/a-very-long-guest-directory-name/for-getcwd", deep)]

    def fn():
        code = ("import ctypes, os\n"
                "os.chdir('/a-very-long-guest-directory-name/for-getcwd')\n"
                f"n = {len(deep) + 1}\n"
                "libc = ctypes.CDLL(None, use_errno=True)\n"
                "buf = ctypes.create_string_buffer(n)\n"
                "r = libc.syscall(79, buf, n)\n"
                "print(r, ctypes.get_errno() == 34, os.getcwd())\n")
        return traced(["python3", "-c", code], [Remap(binds)], method=method)
    if os.uname().machine != "x86_64":
        pytest.skip("the raw getcwd number in the script is x86_64's")
    status, out = run_as(priv, fn)
    assert status == 0 and out == "-1 True /a-very-long-guest-directory-name/for-getcwd\n"


def test_remap_needs_a_method_that_changes_arguments():
    from sysvisor.errors import CapabilityError

    with pytest.raises(CapabilityError):
        sysvisor.Session([Remap([Bind("/data", "/tmp")])], method="unotify")


# ---- sysvisor run --remap / --remap-ro / --inject ------------------------------------------


def _run_cli(workdir, argv):
    from helpers import cli_capture

    host = os.path.join(workdir, "host")
    os.makedirs(host, exist_ok=True)
    with open(os.path.join(host, "f"), "w") as f:
        f.write("from the host dir\n")
    os.environ["LANG"] = "C"  # glibc then opens no locale files: openat counts are fixed
    os.environ.pop("LC_ALL", None)
    return cli_capture(["run", *[a.replace("{host}", host) for a in argv]])


@pytest.mark.parametrize("method", ["seccomp", "sud"])
def test_run_cli_remap(priv, tmp_world, method):
    st, out, err = run_as(priv, _run_cli, tmp_world, ["--remap", "{host}:/nowhere/g", "--method",
                                                      method, "--", "cat", "/nowhere/g/f"])
    assert (st, out) == (0, "from the host dir\n"), err
    st, out, err = run_as(priv, _run_cli, tmp_world, ["--remap-ro", "{host}:/nowhere/g", "--method",
                                                      method, "--", "sh", "-c",
                                                      "echo x > /nowhere/g/new; cat /nowhere/g/f"])
    assert st == 0 and out == "from the host dir\n" and "Read-only file system" in err, err
    assert not os.path.exists(os.path.join(tmp_world, "host", "new"))


def test_run_cli_inject_and_errors(priv, tmp_world):
    # the third openat of cat (LANG=C: ld.so.cache, libc, then the file) fails
    st, out, err = run_as(priv, _run_cli, tmp_world, ["--inject", "openat:error=EACCES:when=3",
                                                      "--", "cat", "{host}/f"])
    assert st == 1 and "Permission denied" in err and out == "", (st, out, err)
    st, out, err = run_as(priv, _run_cli, tmp_world, ["--fault", "nosuch", "--", "true"])
    assert st == 2 and "unknown syscall 'nosuch'" in err
    st, out, err = run_as(priv, _run_cli, tmp_world, ["--remap", "{host}:/g", "--method",
                                                      "unotify", "--", "true"])
    assert st == 2 and "Remap needs" in err and "seccomp" in err

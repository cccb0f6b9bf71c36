"""Tests for the generated syscall tables and their runtime API."""

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from sysvisor.tables import CLASSES, UnknownSyscall, compat_arch, native_arch, table

ROOT = Path(__file__).resolve().parents[1]
GEN = ROOT / "tools" / "gen_syscall_tables.py"
TABLES_DIR = ROOT / "src" / "sysvisor" / "tables"
ARCHES = ("x86_64", "i386", "aarch64")


@pytest.mark.parametrize("arch,name,nr", [
    ("x86_64", "read", 0),
    ("x86_64", "openat", 257),
    ("x86_64", "execve", 59),
    ("x86_64", "clone", 56),
    ("x86_64", "clone3", 435),
    ("x86_64", "openat2", 437),
    ("x86_64", "uretprobe", 335),
    ("x86_64", "uprobe", 336),
    ("x86_64", "mseal", 462),
    ("x86_64", "file_setattr", 469),
    ("i386", "open", 5),
    ("i386", "socketcall", 102),
    ("i386", "mmap2", 192),
    ("i386", "clone3", 435),
    ("i386", "file_setattr", 469),
    ("aarch64", "openat", 56),
    ("aarch64", "execve", 221),
    ("aarch64", "clone", 220),
    ("aarch64", "clone3", 435),
    ("aarch64", "newfstatat", 79),
    ("aarch64", "memfd_secret", 447),
    ("aarch64", "file_setattr", 469),
])
def test_known_numbers(arch, name, nr):
    t = table(arch)
    assert t.number(name) == nr
    assert t.name(nr) == name
    assert t.get(nr).name == name


def test_audit_arch():
    assert table("x86_64").audit_arch == 0xC000003E
    assert table("i386").audit_arch == 0x40000003
    assert table("aarch64").audit_arch == 0xC00000B7


def test_linux_6_18_boundary():
    # 6.18 ends at file_setattr (469); listns (470) is 6.19.
    for arch in ARCHES:
        t = table(arch)
        assert max(sc.nr for sc in t) == 469
        assert "listns" not in t.by_name


def test_aarch64_has_no_legacy_calls():
    t = table("aarch64")
    for name in ("open", "fork", "vfork", "stat", "lstat", "poll", "select",
                 "dup2", "pipe", "access", "mkdir", "unlink", "rename"):
        assert name not in t.by_name, name
    # ABI extras from arch/arm64/kernel/Makefile.syscalls
    for name in ("renameat", "getrlimit", "setrlimit", "memfd_secret"):
        assert name in t.by_name, name


def test_x86_64_has_no_x32_entries():
    t = table("x86_64")
    assert all(sc.nr < 512 for sc in t)


@pytest.mark.parametrize("arch", ARCHES)
def test_arg_counts(arch):
    t = table(arch)
    assert t.by_name["openat"].nargs == 4
    assert t.by_name["read"].nargs == 3
    assert t.by_name["clone3"].nargs == 2
    assert t.by_name["getpid"].nargs == 0
    assert t.by_name["execve"].nargs == 3
    if arch != "i386":
        assert t.by_name["mmap"].nargs == 6
    else:
        assert t.by_name["mmap2"].nargs == 6
        assert t.by_name["mmap"].nargs == 1  # old_mmap(struct mmap_arg_struct *)


def test_arg_strings():
    sc = table("x86_64").by_name["openat"]
    assert sc.args == ("int dfd", "const char *filename", "int flags", "umode_t mode")
    assert all("__user" not in a for t in map(table, ARCHES) for s in t for a in s.args)
    assert table("x86_64").by_name["execve"].args[1] == "const char *const *argv"
    assert table("x86_64").by_name["socket"].args == ("int family", "int type", "int protocol")


def test_clone_argument_order():
    x = table("x86_64").by_name["clone"].args
    a = table("aarch64").by_name["clone"].args
    i = table("i386").by_name["clone"].args
    assert [s.split()[-1].lstrip("*") for s in x] == [
        "clone_flags", "newsp", "parent_tidptr", "child_tidptr", "tls"]
    assert [s.split()[-1].lstrip("*") for s in a] == [
        "clone_flags", "newsp", "parent_tidptr", "tls", "child_tidptr"]
    assert i == a


def test_every_arg_is_named():
    for arch in ARCHES:
        for sc in table(arch):
            for a in sc.args:
                assert not a.endswith("*") and len(a.replace("*", " ").split()) >= 2, (arch, sc.name, a)


@pytest.mark.parametrize("arch", ARCHES)
def test_classes(arch):
    t = table(arch)
    assert {"file", "desc"} <= t.by_name["openat"].classes
    assert "pure" in t.by_name["getpid"].classes
    assert "network" in t.by_name["socket"].classes
    assert "process" in t.by_name["execve"].classes
    assert "process" in t.by_name["clone3"].classes
    assert "memory" in t.by_name["mmap"].classes
    assert "signal" in t.by_name["rt_sigaction"].classes
    assert "ipc" in t.by_name["semget"].classes
    assert "creds" in t.by_name["setuid"].classes
    assert "clock" in t.by_name["clock_gettime"].classes
    assert "fstat" in t.by_name["fstat"].classes
    assert "statfs" in t.by_name["statfs"].classes
    assert t.by_name["read"].classes == frozenset({"desc"})
    for sc in t:
        assert isinstance(sc.classes, frozenset)
        assert sc.classes <= set(CLASSES), (sc.name, sc.classes)


def test_stat_classes():
    for arch in ("x86_64", "i386"):
        t = table(arch)
        assert {"file", "stat"} <= t.by_name["stat"].classes
        assert {"file", "lstat"} <= t.by_name["lstat"].classes
    assert {"file", "stat"} <= table("i386").by_name["stat64"].classes


def test_in_class():
    t = table("x86_64")
    net = t.in_class("network")
    assert t.by_name["connect"] in net
    assert t.by_name["read"] not in net
    assert all("network" in sc.classes for sc in net)
    with pytest.raises(ValueError) as ei:
        t.in_class("files")
    assert "file" in str(ei.value) and "statfs" in str(ei.value)


def test_unknown_syscall():
    t = table("x86_64")
    with pytest.raises(UnknownSyscall) as ei:
        t.number("opnat")
    e = ei.value
    assert isinstance(e, ValueError)
    assert e.name == "opnat" and e.arch == "x86_64"
    assert "openat" in e.suggestions
    msg = str(e)
    assert "opnat" in msg and "x86_64" in msg and "openat" in msg
    with pytest.raises(UnknownSyscall) as ei:
        table("aarch64").number("open")
    assert "aarch64" in str(ei.value)


def test_unknown_number_name():
    t = table("x86_64")
    assert t.name(1000) == "syscall_0x3e8"
    assert t.name(400) == "syscall_0x190"
    assert t.get(1000) is None


def test_table_api_basics():
    t = table("x86_64")
    assert table("x86_64") is t
    assert t.arch == "x86_64"
    assert len(t) == len(list(t)) == len(t.by_nr) == len(t.by_name)
    nrs = [sc.nr for sc in t]
    assert nrs == sorted(nrs)
    with pytest.raises(ValueError):
        table("mips")
    sc = t.by_name["read"]
    with pytest.raises(AttributeError):
        sc.foo = 1  # __slots__


def test_native_and_compat(monkeypatch):
    import platform
    for machine, want in (("x86_64", "x86_64"), ("aarch64", "aarch64"), ("arm64", "aarch64")):
        monkeypatch.setattr(platform, "machine", lambda m=machine: m)
        assert native_arch() == want
    assert compat_arch("x86_64") == "i386"
    assert compat_arch("aarch64") is None
    assert compat_arch("i386") is None


@pytest.mark.parametrize("arch", ARCHES)
def test_modules_sorted_and_unique(arch):
    mod = importlib.import_module(f"sysvisor.tables.{arch}")
    rows = mod.SYSCALLS
    nrs = [r[0] for r in rows]
    names = [r[1] for r in rows]
    assert nrs == sorted(nrs)
    assert len(set(nrs)) == len(nrs)
    assert len(set(names)) == len(names)
    for nr, name, args, classes in rows:
        assert isinstance(nr, int) and isinstance(name, str)
        assert isinstance(args, tuple) and all(isinstance(a, str) for a in args)
        assert isinstance(classes, tuple) and set(classes) <= set(CLASSES)
        assert len(args) <= 6


@pytest.mark.parametrize("arch", ARCHES)
def test_no_syscall_named_syscall(arch):
    # "syscall" is reserved by sysvisor for catch-all handlers.
    assert "syscall" not in table(arch).by_name


@pytest.mark.parametrize("arch", ARCHES)
def test_generated_header(arch):
    text = (TABLES_DIR / f"{arch}.py").read_text(encoding="utf-8")
    assert text.splitlines()[0] == "# generated by tools/gen_syscall_tables.py \u2014 do not edit"


def test_generator_reproduces_committed_modules(tmp_path):
    subprocess.run([sys.executable, str(GEN), "--out", str(tmp_path), "--quiet"],
                   check=True, cwd=str(ROOT))
    for arch in ARCHES:
        gen = tmp_path / f"{arch}.py"
        committed = TABLES_DIR / f"{arch}.py"
        assert gen.read_bytes() == committed.read_bytes(), (
            f"{committed} is stale: run python tools/gen_syscall_tables.py")

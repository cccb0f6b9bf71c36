"""Shared pytest fixtures for the sysvisor test suite.

Fixtures
--------
``progs``      session-wide compiler for the C test programs in
               ``tests/progs``: ``progs.path("threads")`` /
               ``progs.path("static_hello", static=True)``.
``priv``       parametrized over ``"root"`` and ``"user"``.
``run_as``     ``run_as(priv, fn, *args, timeout=60)`` runs ``fn(*args)`` in
               a forked child with the privileges of ``priv`` (also
               importable: ``from conftest import run_as``).
``tmp_world``  a world-writable (0o1777) temp dir under /tmp (a ``str``).

Why privileges are dropped in forked children
---------------------------------------------
Tests should exercise sysvisor both as root and as an ordinary user (ptrace
permission checks, /proc visibility, seccomp without CAP_SYS_ADMIN needing
no_new_privs, ...).  On the test machines the Python interpreter lives
under ``/root/.pyenv`` and ``/root`` is mode 0700, so something like
``sudo -u nobody python ...`` cannot even start the interpreter.  Instead
``run_as`` forks the already-running interpreter and, in the child, drops to
uid/gid 65534 (``setgroups([])``, ``setresgid``, ``setresuid``), then sets
``PR_SET_DUMPABLE`` back to 1 (a credential change clears it, which would
make the child's /proc files root-owned and block ptrace by its own uid),
and chdirs to a world-writable temp dir.  Because the interpreter is already
loaded, this works, with one caveat: the unprivileged child can no longer
read ``/root/.pyenv``, so it cannot import modules that were not imported
before the fork.  This module pre-imports the stdlib modules tests commonly
need (subprocess, signal, ctypes, ...); a test module should import what its
``fn`` needs at module level.  Compiled programs (``progs``) and
``tmp_world`` live in /tmp with modes that let uid 65534 use them; pytest's
own ``tmp_path`` (under /tmp/pytest-of-root, 0700) is NOT usable by it.

When the test process is not root, ``"root"`` is skipped and ``"user"``
simply runs ``fn`` in a forked child without changing credentials.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno  # noqa: F401  (pre-import for unprivileged children)
import io
import json  # noqa: F401
import linecache  # noqa: F401
import os
import pickle
import platform
import selectors  # noqa: F401
import shutil
import signal  # noqa: F401
import subprocess
import sys
import tempfile
import threading
import time
import traceback

import pytest


def _preimport_sysvisor() -> None:
    """Import every sysvisor module now: a child that dropped privileges
    cannot read the interpreter's directory to import one later."""
    import importlib
    import pkgutil

    try:
        import sysvisor
    except ImportError:
        return
    for mod in pkgutil.walk_packages(sysvisor.__path__, "sysvisor."):
        if mod.name.endswith("__main__"):
            continue
        try:
            importlib.import_module(mod.name)
        except Exception:  # a broken module fails its own tests, not all of them
            pass
    try:
        from sysvisor.tables import ARCHES, table

        for arch in ARCHES:
            table(arch)
    except Exception:
        pass


_preimport_sysvisor()

PROGS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "progs")
NOBODY = 65534
PR_SET_DUMPABLE = 4
CFLAGS = ["-std=gnu11", "-O1", "-pthread", "-Wall", "-Wextra"]
# programs that can only be built on some architectures
ARCH_ONLY = {"int80": ("x86_64",), "jit_getpid": ("x86_64",), "tramp_edges": ("x86_64",),
             "mixcalls": ("x86_64",)}

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def is_root() -> bool:
    return os.geteuid() == 0


# --------------------------------------------------------------------------
# compiled test programs


class Progs:
    """Compiles ``tests/progs/NAME.c`` on first use into a 0755 temp dir."""

    def __init__(self, outdir: str):
        self.outdir = outdir
        self._built: dict[tuple[str, bool], str] = {}
        self._lock = threading.Lock()
        self._gcc = shutil.which("gcc")

    def source(self, name: str) -> str:
        return os.path.join(PROGS_DIR, name + ".c")

    def path(self, name: str, static: bool = False) -> str:
        key = (name, static)
        with self._lock:
            if key not in self._built:
                self._built[key] = self._build(name, static)
            return self._built[key]

    def _build(self, name: str, static: bool) -> str:
        if self._gcc is None:
            pytest.skip("gcc not found: cannot build test programs")
        src = self.source(name)
        if not os.path.exists(src):
            raise FileNotFoundError(f"no such test program: {src}")
        arches = ARCH_ONLY.get(name)
        if arches and platform.machine() not in arches:
            pytest.skip(f"{name}.c only builds on {', '.join(arches)}")
        out = os.path.join(self.outdir, name + ("-static" if static else ""))
        cmd = [self._gcc, *CFLAGS, *(["-static"] if static else []), "-o", out, src]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            if static:
                pytest.skip(f"static linking of {name} failed (libc.a missing?):\n{r.stderr}")
            pytest.fail(f"compiling {name}.c failed:\n{' '.join(cmd)}\n{r.stderr}", pytrace=False)
        os.chmod(out, 0o755)
        return out


@pytest.fixture(scope="session")
def progs():
    outdir = tempfile.mkdtemp(prefix="sysvisor-progs-", dir="/tmp")
    os.chmod(outdir, 0o755)
    try:
        yield Progs(outdir)
    finally:
        shutil.rmtree(outdir, ignore_errors=True)


# --------------------------------------------------------------------------
# privileges


@pytest.fixture(params=["root", "user"])
def priv(request):
    if request.param == "root" and not is_root():
        pytest.skip("needs root")
    return request.param


# pytest.skip/fail/xfail exceptions can't be pickled (their __module__ is
# "builtins"), so run_as transports them by kind and message.
_OUTCOME_KINDS = {
    "skip": pytest.skip.Exception,
    "xfail": pytest.xfail.Exception,
    "fail": pytest.fail.Exception,
}
_OUTCOMES = tuple(_OUTCOME_KINDS.values())


class ChildError(Exception):
    """An exception raised by ``fn`` in a ``run_as`` child that could not be
    re-created with its own type in the parent."""


def _drop_privileges(workdir: str) -> None:
    os.setgroups([])
    os.setresgid(NOBODY, NOBODY, NOBODY)
    os.setresuid(NOBODY, NOBODY, NOBODY)
    if _libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"prctl(PR_SET_DUMPABLE): {os.strerror(e)}")


def _child(priv: str, workdir: str, wfd: int, fn, args) -> None:
    """Body of the forked child; never returns."""
    status = 1
    try:
        try:
            if priv == "user" and is_root():
                _drop_privileges(workdir)
            os.chdir(workdir)
            os.environ["HOME"] = workdir
            os.environ["TMPDIR"] = workdir
            tempfile.tempdir = workdir
            result = fn(*args)
            try:
                payload = pickle.dumps(("ok", result))
            except Exception as e:  # unpicklable result
                raise TypeError(f"run_as: cannot pickle result of {fn!r}: {e!r}") from e
        except _OUTCOMES as exc:  # pytest.skip/fail/xfail called by fn
            kind = next(k for k, cls in _OUTCOME_KINDS.items() if isinstance(exc, cls))
            payload = pickle.dumps(("outcome", kind, exc.msg or ""))
        except BaseException as exc:  # noqa: BLE001 - everything goes to the parent
            tb = traceback.format_exc()
            try:
                blob = pickle.dumps(exc)
                pickle.loads(blob)
            except Exception:
                blob = None
            payload = pickle.dumps(("err", blob, type(exc).__qualname__, str(exc), tb))
        with io.FileIO(wfd, "w", closefd=False) as f:
            f.write(payload)
        status = 0
    except BaseException:  # noqa: BLE001
        try:
            traceback.print_exc()
        except BaseException:  # noqa: BLE001
            pass
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except BaseException:  # noqa: BLE001
                pass
        os._exit(status)


def _rebuild_exception(blob, tname, text, tb, pid, priv):
    header = f"{tname}: {text}" if text else tname
    msg = f"{text}\n\n--- in run_as child (pid {pid}, priv {priv!r}) ---\n{tb}"
    exc = None
    if blob is not None:
        try:
            exc = pickle.loads(blob)
        except Exception:
            exc = None
    if exc is None:
        return ChildError(f"{header}\n\n--- in run_as child (pid {pid}, priv {priv!r}) ---\n{tb}")
    if not isinstance(exc, Exception):
        # never re-raise SystemExit / KeyboardInterrupt in the parent
        return ChildError(f"{header}\n\n--- in run_as child (pid {pid}, priv {priv!r}) ---\n{tb}")
    try:
        new = type(exc)(msg)
    except Exception:
        return ChildError(f"{header}\n\n--- in run_as child (pid {pid}, priv {priv!r}) ---\n{tb}")
    return new


def run_as(priv: str, fn, *args, timeout: float = 60):
    """Run ``fn(*args)`` in a forked child with the privileges of ``priv``.

    ``priv`` is ``"root"`` or ``"user"`` (uid/gid 65534 when the caller is
    root, unchanged otherwise).  Returns ``fn``'s (pickled) return value or
    re-raises its exception, with the child's traceback in the message.
    Fails the test if the child does not finish within ``timeout`` seconds
    (the child is SIGKILLed).  The child runs in a world-writable temp dir
    (also its $HOME and $TMPDIR) that is removed afterwards.
    """
    if priv not in ("root", "user"):
        raise ValueError(f"priv must be 'root' or 'user', not {priv!r}")
    if priv == "root" and not is_root():
        pytest.skip("needs root")
    workdir = tempfile.mkdtemp(prefix="sysvisor-runas-", dir="/tmp")
    os.chmod(workdir, 0o1777)
    rfd, wfd = os.pipe()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    try:
        pid = os.fork()
        if pid == 0:  # child
            os.close(rfd)
            _child(priv, workdir, wfd, fn, args)
            os._exit(1)  # not reached
        os.close(wfd)
        os.set_blocking(rfd, False)
        chunks: list[bytes] = []
        deadline = time.monotonic() + timeout
        status = None
        # Read until the child has exited (not just until EOF: grandchildren
        # may have inherited the pipe), draining what it wrote.
        with selectors.DefaultSelector() as sel:
            sel.register(rfd, selectors.EVENT_READ)
            eof = False
            while True:
                if not eof:
                    for _ in sel.select(timeout=0.05):
                        pass
                    while True:
                        try:
                            data = os.read(rfd, 65536)
                        except BlockingIOError:
                            break
                        if not data:
                            eof = True
                            sel.unregister(rfd)
                            break
                        chunks.append(data)
                else:
                    time.sleep(0.01)
                wpid, st = os.waitpid(pid, os.WNOHANG)
                if wpid == pid:
                    status = st
                    break
                if time.monotonic() > deadline:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                    pytest.fail(
                        f"run_as({priv!r}, {getattr(fn, '__name__', fn)!r}) timed out after {timeout}s",
                        pytrace=False,
                    )
        while True:
            try:
                data = os.read(rfd, 65536)
            except BlockingIOError:
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(rfd)
        shutil.rmtree(workdir, ignore_errors=True)

    raw = b"".join(chunks)
    if not raw:
        pytest.fail(
            f"run_as child (pid {pid}) died without a result: {_describe_status(status)}",
            pytrace=False,
        )
    msg = pickle.loads(raw)
    if msg[0] == "ok":
        return msg[1]
    if msg[0] == "outcome":
        _, kind, text = msg
        if kind == "fail":
            pytest.fail(f"{text} (in run_as child, priv {priv!r})", pytrace=False)
        getattr(pytest, kind)(text)
    _, blob, tname, text, tb = msg
    raise _rebuild_exception(blob, tname, text, tb, pid, priv)


def _describe_status(status) -> str:
    if status is None:
        return "unknown status"
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    return f"exit status {os.waitstatus_to_exitcode(status)}"


@pytest.fixture(name="run_as")
def run_as_fixture():
    return run_as


# --------------------------------------------------------------------------
# temp dirs


@pytest.fixture
def tmp_world():
    d = tempfile.mkdtemp(prefix="sysvisor-world-", dir="/tmp")
    os.chmod(d, 0o1777)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)

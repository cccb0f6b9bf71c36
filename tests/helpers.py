"""Layers and runners shared by the behavioural tests of every method."""
from __future__ import annotations

import io
import os
import sys
import tempfile

import sysvisor


def traced_session(s, argv):
    """Spawn argv in session s with its stdout captured; (status, stdout)."""
    with tempfile.TemporaryFile() as out:
        saved = os.dup(1)
        os.dup2(out.fileno(), 1)
        try:
            s.spawn(argv)
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        status = s.run()
        out.seek(0)
        return status, out.read().decode()


def unavailable(method: str) -> str | None:
    """Why `method` cannot run here (None: it can). Probes the kernel once,
    in this process, before any test forks."""
    try:
        sysvisor.methods.choose(method, [])
        return None
    except sysvisor.SysvisorError as e:
        return str(e)


def skip_module_without(method: str):
    """A pytestmark that skips a whole module when `method` cannot run here."""
    import pytest

    why = unavailable(method)
    return pytest.mark.skipif(why is not None, reason=f"{method} unavailable: {why}")


def cli_capture(argv):
    """sysvisor's main(argv), with what it and the program write to fds 1
    and 2 (and Python's sys.stderr) captured: (status, out, err)."""
    from sysvisor.cli import main

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        saved = os.dup(1), os.dup(2)
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        old = sys.stderr
        sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), write_through=True)
        try:
            status = main(argv)
        finally:
            sys.stderr.flush()
            sys.stderr = old
            for fd, target in zip(saved, (1, 2)):
                os.dup2(fd, target)
                os.close(fd)
        out.seek(0)
        err.seek(0)
        return status, out.read().decode(), err.read().decode()


def traced(argv, layers=(), method="seccomp", **kw):
    """Run argv under a session; return (status, stdout text)."""
    return traced_session(sysvisor.Session(list(layers), method=method, **kw), argv)


class Count(sysvisor.Layer):
    """Counts the named syscalls (and records the ABIs they came from)."""

    def __init__(self, *names):
        self.counts = {n: 0 for n in names}
        self.arches = set()

    def syscall(self, call):
        self.arches.add(call.arch)
        self.counts[call.name] = self.counts.get(call.name, 0) + 1
        return call.next()

    def interests(self, table):
        return {table.by_name[n].nr: None for n in self.counts if n in table.by_name}


class FakePid(sysvisor.Layer):
    def getpid(self, call):
        return call.ret(4242)

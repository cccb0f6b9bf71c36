"""What every engine shares: reporting a layer's failure once, calling
layer hooks, the layers' spawn actions, and reading why a spawned child
could not exec."""
from __future__ import annotations

import os
import struct
import sys
import threading


class EngineBase:
    def __init__(self, session):
        self.session = session
        self.layers = list(session.layers)
        self.reported: set = set()
        self.report_lock = threading.Lock()
        self.spawn_err_fd: int | None = None

    def report_error(self, layer, where: str, exc: BaseException, what: str | None = None) -> None:
        """Keep the error in session.errors; say it on stderr once per
        (layer, place, exception type)."""
        name = type(layer).__name__
        key = (name, where, type(exc).__name__)
        self.session.errors.append((name, where, exc))
        with self.report_lock:
            if key in self.reported:
                return
            self.reported.add(key)
        if what is None:
            what = ("the call failed with EPERM" if getattr(layer, "enforcing", False)
                    else "the call was let through")
            sys.stderr.write(f"sysvisor: layer {name} raised {type(exc).__name__} in {where}: "
                             f"{exc}; {what} (reported once)\n")
        else:
            sys.stderr.write(f"sysvisor: layer {name} in {where}: {what} (reported once)\n")

    def _hook(self, name: str, *args) -> None:
        for layer in self.layers:
            fn = getattr(layer, name, None)
            if fn is None:
                continue
            try:
                fn(*args)
            except Exception as exc:
                self.report_error(layer, name, exc)

    def spawn_plan(self, argv: list[str], env: dict | None, cwd: str | None):
        """(executable, environment, plan) for spawning argv: the layers'
        spawn actions (sysvisor.spawn), then the engine's own PATH lookup
        unless a layer resolved the executable itself."""
        from ..spawn import plan
        from . import inherited_environ, resolve_command

        env = inherited_environ() if env is None else dict(env)
        p = plan(self.layers, argv, env, cwd)
        if p.executable is not None:
            return p.executable, env, p
        exe, env = resolve_command(argv, env)
        return exe, env, p

    def spawn_failure(self) -> tuple[int, int] | None:
        """(stage, errno) written by a child whose exec failed, or None
        (the pipe closes on a successful exec)."""
        if self.spawn_err_fd is None:
            return None
        fd, self.spawn_err_fd = self.spawn_err_fd, None
        try:
            data = os.read(fd, 8)
        finally:
            os.close(fd)
        return struct.unpack("ii", data) if len(data) == 8 else None

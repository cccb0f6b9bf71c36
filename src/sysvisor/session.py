"""Session: spawn or attach, run the event loop, return the exit status."""
from __future__ import annotations

import signal
import threading

from . import methods as _methods
from .errors import SysvisorError
from .layer import Layer


class Session:
    """A traced tree of processes and the layer stack that handles its calls.

        with sysvisor.Session([MyLayer()], method="seccomp") as s:
            s.spawn(["make", "-j2"])
            status = s.run()

    `layers` are listed top first: the first layer sees each call first and
    hands it down with call.next(). `method` is a name from
    sysvisor.methods.METHODS or "auto" (the cheapest that can do what the
    layers need; `session.method_reason` says why). `insecure=True` lets
    enforcing layers run on a method that is no security boundary.
    `measure=True` records the Python time spent per stop
    (`session.stop_ns`). On the in-process methods the layers that are
    data run in the program (sysvisor.compiled); `compiled=False` sends
    every call they want to their Python form instead.

    While run() goes on, the session waits for every child of the calling
    process (waitpid(-1)): run sessions from a process that has no other
    children to reap, or in a dedicated process.
    """

    def __init__(self, layers: list[Layer] | None = None, method: str = "auto",
                 insecure: bool = False, measure: bool = False, attach: bool = False,
                 compiled: bool = True):
        self.layers = list(layers or [])
        for layer in self.layers:
            if not isinstance(layer, Layer):
                raise TypeError(f"{layer!r} is not a sysvisor.Layer")
        self.insecure = insecure
        self.measure = measure
        self.compiled = compiled
        self.errors: list = []
        self.spawn_actions: tuple = ()  # what the layers' spawn_setup asked, once spawned
        self.method, self.method_reason = _methods.choose(method, self.layers, attach=attach,
                                                          insecure=insecure)
        self.insecure_used = insecure and any(getattr(l, "enforcing", False) for l in self.layers) \
            and "boundary" not in self.method.capabilities
        self._engine = self._make_engine()
        self._ran = False
        self._attached = attach

    def _make_engine(self):
        if self.method.name in ("ptrace", "seccomp"):
            from .methods.ptrace import PtraceEngine

            return PtraceEngine(self, use_seccomp=self.method.name == "seccomp")
        if self.method.name == "unotify":
            from .methods.unotify import UnotifyEngine

            return UnotifyEngine(self)
        if self.method.shim:
            from .methods.inprocess import InProcessEngine

            return InProcessEngine(self, self.method.shim, backstop=self.method.backstop,
                                  compile=self.compiled)
        raise SysvisorError(f"method {self.method.name} has no engine")  # guarded by choose()

    # ---- starting ---------------------------------------------------------

    def spawn(self, argv: list[str], env: dict | None = None, cwd: str | None = None) -> int:
        """Start `argv` under the session; returns its pid. The program is
        held until it is traced, so its first instruction is already seen."""
        return self._engine.spawn(list(argv), env, cwd)

    def attach(self, pid: int) -> None:
        """Trace a running process (every thread). ptrace method only."""
        self._engine.attach(int(pid))

    def detach(self) -> None:
        """Release the attached processes; run() then returns."""
        self._engine.detach_all()

    # ---- running ------------------------------------------------------------

    def run(self) -> int:
        """Run until every traced process has exited (or, attached, until
        detach()). Returns the first process's exit status like a shell:
        its exit code, or 128 + the signal that killed it.

        In the main thread, while a spawned program runs, SIGINT and SIGQUIT
        are ignored by the supervisor (like a shell waiting on a foreground
        job: the program gets them); attached, SIGINT and SIGTERM detach."""
        if self._ran:
            raise SysvisorError("a session runs once")
        self._ran = True
        saved = {}
        if threading.current_thread() is threading.main_thread():
            if self._attached:
                handler = lambda signo, frame: self._engine.detach_all()  # noqa: E731
                for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                    saved[s] = signal.signal(s, handler)
            else:
                for s in (signal.SIGINT, signal.SIGQUIT):
                    saved[s] = signal.signal(s, signal.SIG_IGN)
        try:
            return self._engine.run()
        finally:
            for s, h in saved.items():
                signal.signal(s, h)

    @property
    def stop_ns(self) -> list[int]:
        """Python time per stop, in ns (with measure=True)."""
        return self._engine.stop_ns

    @property
    def stops(self) -> int:
        return self._engine.stops

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc) -> None:
        eng = self._engine
        if eng.threads and not self._ran:
            # spawned but never run: do not leave the program held
            import os

            for tid in list(eng.threads):
                try:
                    os.kill(tid, 9)
                except ProcessLookupError:
                    pass
            try:
                eng.run()
            except SysvisorError:
                pass


def run(argv: list[str], layers: list[Layer] | None = None, method: str = "auto",
        env: dict | None = None, cwd: str | None = None, insecure: bool = False) -> int:
    """Run `argv` under `layers` and return its exit status."""
    with Session(layers, method=method, insecure=insecure) as s:
        s.spawn(argv, env=env, cwd=cwd)
        return s.run()

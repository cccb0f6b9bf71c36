"""The compiled layers of one in-process session (methods sud, preload).

The engine (methods/inprocess.py) asks `CompiledRuntime.build(layers)`
for the blob its shim's evaluator runs, then tells the runtime about each
process image's shared region (`region`), each process's end (`gone`) and
the session's end (`finish`). The runtime drains the images' trace rings
into the Record layer's file.

The shim runs a call either wholly in the program (the evaluator: no
Python layer of the stack wants it) or wholly in Python (it crosses before
any compiled action runs, and the Python chain runs every layer, compiled
ones included, in their Python form). Both write to the same Writer; the
file's sequence numbers give the order records were written, which for a
thread is its calls' order.

What is kept per process and not per image: the fakeroot identity (the
shim carries it through execve in its variable and sets it in the new
image's region before the program runs, as the other methods keep it).
What differs from the Python path: when= counters of a compiled Faults
layer count the calls the evaluator saw; a call that crosses for another
Python layer is counted by the Python Faults (each counts its own).
"""
from __future__ import annotations

import sys

from . import compile_stack

REGION_HDR = 4096  # the evaluator's private state at the start of its area (svpolicy_shim.c)
KIND_EXEC = 2


class CompiledRuntime:
    def __init__(self, blob: bytes, recorder):
        self.recorder = recorder
        self.blob = blob
        self.drainer = None
        self.views: dict[int, memoryview] = {}  # pid -> its image's evaluator region
        self.clock = None
        if recorder is not None:
            from .drain import Drainer, tsc_calibration

            # the recorder's lookup of a process's namespace and cgroup (cached
            # per pid): its own records of the process need them too
            self.drainer = Drainer(recorder.writer, ids=recorder._ids_of)
            self.clock = tsc_calibration()

    @classmethod
    def build(cls, layers):
        """A runtime for the stack, or None when nothing of it compiles (or
        it has more than one recorder: the evaluator writes one ring, to
        one file; such stacks run in Python)."""
        from ..layers.record import Record

        recorders = [l for l in layers if isinstance(l, Record) and l.follow]
        if len(recorders) > 1:
            return None
        cs = compile_stack(layers)
        if not any(rep.get("compiled") for rep in cs.report.values()):
            return None
        return cls(cs.blob, recorders[0] if recorders else None)

    # ---- the engine's events --------------------------------------------------------

    def start(self) -> None:
        if self.drainer is not None:
            self.drainer.start()

    def region(self, pid: int, region, kind: int, tid: int, former: int) -> None:
        """A process image's region (its shim laid out the evaluator's part)."""
        if not region.eval_size:
            return
        off = region.eval_off + REGION_HDR
        view = memoryview(region.mm)[off:region.eval_off + region.eval_size]
        old = self.views.pop(pid, None)
        if self.drainer is not None:
            if old is not None:
                self.drainer.remove(pid)  # the old image's records, the exec's among them
            if kind == KIND_EXEC:
                # the exec's record may sit in another ring (a vfork child
                # writes into its parent's): take it before settling it
                self.drainer.drain(flush=False)
                self.drainer.exec_succeeded(former or tid)
            try:
                self.drainer.add(pid, view)
            except ValueError as exc:
                sys.stderr.write(f"sysvisor: pid {pid}: no trace ring ({exc}): its records "
                                 "are missing\n")
                _release(view)
                return
            if self.clock is not None:
                self.drainer.rings[pid].region.set_clock(1, *self.clock)  # CLOCK_TSC
        if old is not None:
            _release(old)
        self.views[pid] = view

    def sync(self, pid: int | None = None) -> None:
        """Before the Python layers write: the records process pid (None:
        every process) wrote before it crossed or before the event, so that
        a thread's records stay in its calls' order in the file."""
        d = self.drainer
        if d is None or not d.rings:
            return
        if pid is not None and pid in d.rings:
            d.drain_pid(pid)  # the order is the sequence numbers: no flush
        else:
            d.drain(flush=False)

    def gone(self, pid: int) -> None:
        """The process ended: take the rest of its records, let its region go."""
        if self.drainer is not None:
            self.drainer.remove(pid)
        view = self.views.pop(pid, None)
        if view is not None:
            _release(view)

    def finish(self) -> None:
        if self.drainer is not None:
            self.drainer.finish()
            self.recorder.records += self.drainer.records  # what the program wrote
        for view in self.views.values():
            _release(view)
        self.views.clear()


def _release(view: memoryview) -> None:
    try:
        view.release()
    except BufferError:  # the drainer's thread still holds it: the GC lets it go
        pass

"""Compiled layers: the parts of a layer stack that are data, for the
in-process methods (sud, preload), run by a C evaluator inside the program
with no Python in the loop.

    from sysvisor.compiled import compile_stack, Drainer
    cs = compile_stack(layers)         # cs.blob for the shim's sv_ctx_init (native/svpolicy.h)
    d = Drainer(record_layer.writer)   # the programs' trace rings -> the trace file
    d.add(pid, region)

- `Layer.compile(b)` is the protocol: a layer adds actions (blob.Inject,
  Trace, RemapPaths, Ids) to the builder for the syscalls it can handle as
  data; its other interests cross to the supervisor (compiler.py explains
  how stack order is kept).
- blob.py packs the versioned blob (docs/compiled-format.md);
  captures.py turns the decoders' capture plans into capture ops;
  drain.py moves the records out of the rings into the Writer.

Not a security boundary: the program can corrupt the evaluator, the blob
and its ring.
"""
from __future__ import annotations

from .compiler import CompiledStack, Options, compile_stack

__all__ = ["compile_stack", "CompiledStack", "Options", "Drainer"]


def __getattr__(name):
    if name == "Drainer":  # needs the C extension: imported on demand
        from .drain import Drainer

        return Drainer
    raise AttributeError(name)

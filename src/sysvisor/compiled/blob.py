"""The policy blob: compiled layers as data for the C evaluator.

Made here with struct, read by native/svpolicy.c (which checks every
offset, size and field before using any: a blob that does not pass is
refused). The layout is native/svformat.h, described byte by byte in
docs/compiled-format.md. Everything is little-endian.

    blob = pack(Program(arches={AUDIT_ARCH_X86_64: {257: Entry((Trace(ops),))}}))
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

MAGIC = b"SVPOLICY"
VERSION = 1
HEADER_SIZE = 128
MAX_SIZE = 16 << 20
MAX_ARCHES = 4
MAX_NR = 4096
MAX_ACTIONS = 32
MAX_ALTS = 16
MAX_PREDS = 8
MAX_BINDS = 64
MAX_COUNTERS = 256
MAX_GROUPS = 1024
MAX_OPS = 16
MAX_POKES = 8
MAX_POKE = 4096
PATH_MAX = 4096
CAPTURE_MAX = 8192  # SV_CAPTURE_MAX

F_RING_BLOCK = 0x1
E_NORETURN, E_EXEC, E_THREAD_EXIT = 0x1, 0x2, 0x4
CROSS, INJECT, TRACE, REMAP, IDS = 1, 2, 3, 4, 5
I_RETVAL, I_SUBST, I_PROCESS, I_WHEN = 0x1, 0x2, 0x4, 0x8
T_PARTIAL = 0x1
RES_NONE, RES_GETCWD, RES_READLINK = 0, 1, 2
W_NEVER, W_ALWAYS, W_OPEN_FLAGS, W_OPEN_HOW, W_ACCESS = 0, 1, 2, 3, 4
B_RO = 0x1
ID_GET, ID_GETRES, ID_SET, ID_SETRE, ID_SETRES, ID_SETFS, ID_RET0, ID_CAPSET = range(1, 9)
NIDS = 8

_HDR = struct.Struct("<8sHHIIIIIIIIIIIII60sI")
_ARCH = struct.Struct("<IIII")
_ENTRY = struct.Struct("<HHI")
_ACTION = struct.Struct("<BBHB3x")
_ALT = struct.Struct("<B7x")
_PRED = struct.Struct("<BBB5xQQ")
_CROSS = struct.Struct("<II")
_INJECT = struct.Struct("<IIqIIIIIIQQH6x")
_POKE = struct.Struct("<BBHI")
_TRACE = struct.Struct("<HHI")
_OP = struct.Struct("<BBBBBBHII")
_REMAP = struct.Struct("<BBBBI")
_PATH = struct.Struct("<BbBBI")
_BIND = struct.Struct("<IHHII")
_IDS = struct.Struct("<BBB5x")
assert _HDR.size == HEADER_SIZE and _INJECT.size == 64 and _OP.size == 16


class BlobError(ValueError):
    """A program that does not fit the blob's limits."""


def _pad8(b: bytes) -> bytes:
    return b + bytes(-len(b) & 7)


# ---- what an entry holds -----------------------------------------------------------------
# every action may carry `alts`: alternatives (tuples) of kernel.filter.Predicate;
# it applies when one alternative holds (none: always)


@dataclass(frozen=True)
class Cross:
    """Hand the call to the supervisor: crossing group `group` (Python layers)."""

    group: int
    alts: tuple = ()


@dataclass(frozen=True)
class Inject:
    """strace's inject: error, retval, signal, syscall substitution, delays,
    pokes ((phase 0/1, argument index, data)), when=(first, last, step) on
    counter `counter` of the thread (or process) scope."""

    error: int = 0
    retval: int | None = None
    signal: int = 0
    subst_nr: int | None = None
    delay_enter_ns: int = 0
    delay_exit_ns: int = 0
    pokes: tuple = ()
    when: tuple | None = None
    process_scope: bool = False
    counter: int = 0
    alts: tuple = ()


@dataclass(frozen=True)
class Trace:
    """Write a trace record to the ring; ops: captures.Op; partial: the
    decoders read memory the ops do not capture."""

    ops: tuple = ()
    partial: bool = False
    alts: tuple = ()


@dataclass(frozen=True)
class RemapPaths:
    """Map path arguments ((arg, dirfd arg or -1, write kind, write arg),
    ...) through the blob's binds; result: RES_GETCWD or RES_READLINK
    (buffer and size arguments) maps the result back."""

    paths: tuple = ()
    result: int = RES_NONE
    buf_arg: int = 0
    size_arg: int = 0
    alts: tuple = ()


@dataclass(frozen=True)
class Ids:
    """fakeroot's identity: op ID_*, which id (or the base of a triple),
    old16 for the 16-bit ids of the i386 ABI."""

    op: int
    which: int = 0
    old16: bool = False
    alts: tuple = ()


@dataclass(frozen=True)
class Entry:
    actions: tuple = ()
    flags: int = 0


@dataclass
class Bind:
    guest: bytes
    host: bytes
    readonly: bool = False


@dataclass
class Program:
    """Everything a blob holds. arches: {audit_arch: {nr: Entry}};
    defaults: {audit_arch: Entry} for numbers without an entry (unknown
    to the table, x32)."""

    arches: dict = field(default_factory=dict)
    defaults: dict = field(default_factory=dict)
    binds: list = field(default_factory=list)
    ids: tuple | None = None
    ring_block: bool = False
    strsize: int = 0
    capture_max: int = CAPTURE_MAX
    thread_counters: int = 0
    process_counters: int = 0
    ngroups: int = 0
    thread_slots: int = 0


# ---- packing -------------------------------------------------------------------------------


def _pack_alts(alts) -> tuple[int, bytes]:
    if len(alts) > MAX_ALTS:
        raise BlobError(f"{len(alts)} alternatives (at most {MAX_ALTS})")
    out = []
    for alt in alts:
        if not 0 < len(alt) <= MAX_PREDS:
            raise BlobError(f"an alternative of {len(alt)} predicates (1..{MAX_PREDS})")
        out.append(_ALT.pack(len(alt)))
        for p in alt:
            out.append(_PRED.pack(p.index, int(p.negate), p.bits, p.mask & 0xFFFFFFFFFFFFFFFF,
                                  p.value & 0xFFFFFFFFFFFFFFFF))
    return len(alts), b"".join(out)


def _body(a) -> tuple[int, bytes]:
    if isinstance(a, Cross):
        return CROSS, _CROSS.pack(a.group, 0)
    if isinstance(a, Inject):
        flags = (I_RETVAL if a.retval is not None else 0) | (I_SUBST if a.subst_nr is not None else 0)
        flags |= (I_PROCESS if a.process_scope else 0) | (I_WHEN if a.when is not None else 0)
        first, last, step = a.when or (0, 0, 0)
        if len(a.pokes) > MAX_POKES:
            raise BlobError(f"{len(a.pokes)} pokes (at most {MAX_POKES})")
        body = [_INJECT.pack(a.error, flags, a.retval or 0, a.signal, a.counter, first, last, step,
                             a.subst_nr or 0, a.delay_enter_ns, a.delay_exit_ns, len(a.pokes))]
        for phase, arg, data in a.pokes:
            body.append(_POKE.pack(phase, arg, len(data), 0) + _pad8(bytes(data)))
        return INJECT, b"".join(body)
    if isinstance(a, Trace):
        if len(a.ops) > MAX_OPS:
            raise BlobError(f"{len(a.ops)} capture ops (at most {MAX_OPS})")
        body = [_TRACE.pack(len(a.ops), T_PARTIAL if a.partial else 0, 0)]
        body += [_OP.pack(o.op, o.phase, o.arg, o.cond, o.len_src, o.len_arg, 0, o.size, o.size2)
                 for o in a.ops]
        return TRACE, b"".join(body)
    if isinstance(a, RemapPaths):
        body = [_REMAP.pack(len(a.paths), a.result, a.buf_arg, a.size_arg, 0)]
        body += [_PATH.pack(arg, dfd, kind, warg, 0) for arg, dfd, kind, warg in a.paths]
        return REMAP, b"".join(body)
    if isinstance(a, Ids):
        return IDS, _IDS.pack(a.op, a.which, int(a.old16))
    raise BlobError(f"not an action: {a!r}")


def pack_action(a) -> bytes:
    kind, body = _body(a)
    nalts, preds = _pack_alts(a.alts)
    size = _ACTION.size + len(preds) + len(body)
    size += -size & 7
    if size > 0xFFFF:
        raise BlobError("an action larger than 64 KiB")
    return _pad8(_ACTION.pack(kind, 0, size, nalts) + preds + body)


def pack_entry(e: Entry) -> bytes:
    if len(e.actions) > MAX_ACTIONS:
        raise BlobError(f"{len(e.actions)} actions for one syscall (at most {MAX_ACTIONS})")
    acts = b"".join(pack_action(a) for a in e.actions)
    return _ENTRY.pack(len(e.actions), e.flags, _ENTRY.size + len(acts)) + acts


def pack(prog: Program) -> bytes:
    """The blob of a Program."""
    if not 0 < len(prog.arches) <= MAX_ARCHES:
        raise BlobError(f"{len(prog.arches)} arches (1..{MAX_ARCHES})")
    if len(prog.binds) > MAX_BINDS:
        raise BlobError(f"{len(prog.binds)} binds (at most {MAX_BINDS})")
    for what, n in (("thread", prog.thread_counters), ("process", prog.process_counters)):
        if n > MAX_COUNTERS:
            raise BlobError(f"{n} {what} when= counters (at most {MAX_COUNTERS})")
    if prog.ngroups > MAX_GROUPS:
        raise BlobError(f"{prog.ngroups} crossing groups (at most {MAX_GROUPS})")
    out = bytearray(HEADER_SIZE)

    def put(data: bytes) -> int:
        off = len(out)
        out.extend(_pad8(data))
        return off

    arch_off = put(bytes(_ARCH.size * len(prog.arches)))
    binds_off = 0
    if prog.binds:
        strings = []
        recs = bytearray(_BIND.size * len(prog.binds))
        binds_off = put(bytes(recs))
        for k, b in enumerate(prog.binds):
            for s in (b.guest, b.host):
                if not s.startswith(b"/") or len(s) >= PATH_MAX:
                    raise BlobError(f"bad bind path {s[:40]!r}")
            g = put(b.guest + b"\0")
            h = put(b.host + b"\0")
            strings.append((g, h))
            _BIND.pack_into(out, binds_off + k * _BIND.size, g, len(b.guest), len(b.host), h,
                            B_RO if b.readonly else 0)
    ids_off = put(struct.pack("<8I", *[v & 0xFFFFFFFF for v in prog.ids])) if prog.ids else 0
    seen: dict[bytes, int] = {}

    def entry_off(e: Entry) -> int:
        raw = pack_entry(e)
        off = seen.get(raw)
        if off is None:
            off = seen[raw] = put(raw)
        return off

    for k, (audit, entries) in enumerate(sorted(prog.arches.items())):
        nr_count = max(entries, default=-1) + 1
        if nr_count > MAX_NR:
            raise BlobError(f"syscall number {nr_count - 1} beyond {MAX_NR - 1}")
        index = [0] * nr_count
        for nr, e in entries.items():
            if nr < 0:
                raise BlobError(f"negative syscall number {nr}")
            index[nr] = entry_off(e)
        index_off = put(struct.pack(f"<{nr_count}I", *index)) if nr_count else 0
        dflt = prog.defaults.get(audit)
        default_off = entry_off(dflt) if dflt is not None else 0
        _ARCH.pack_into(out, arch_off + k * _ARCH.size, audit, nr_count, index_off, default_off)
    if len(out) > MAX_SIZE:
        raise BlobError(f"blob of {len(out)} bytes (at most {MAX_SIZE})")
    hdr = _HDR.pack(MAGIC, VERSION, HEADER_SIZE, len(out), F_RING_BLOCK if prog.ring_block else 0,
                    len(prog.arches), arch_off, len(prog.binds), binds_off, prog.thread_counters,
                    prog.process_counters, prog.strsize, prog.capture_max, ids_off, prog.ngroups,
                    prog.thread_slots, bytes(60), 0)
    out[:HEADER_SIZE] = hdr
    struct.pack_into("<I", out, HEADER_SIZE - 4, zlib.crc32(bytes(out)))
    return bytes(out)


def header(blob: bytes) -> dict:
    """The header fields of a blob (no checks: the evaluator checks)."""
    names = ("magic", "version", "header_size", "total_size", "flags", "narches", "arches_off",
             "nbinds", "binds_off", "thread_counters", "process_counters", "strsize",
             "capture_max", "ids_off", "ngroups", "thread_slots", "reserved", "crc")
    return dict(zip(names, _HDR.unpack_from(blob)))

"""The decoders' capture plans, compiled into ops the C evaluator runs.

A trace record carries the memory the decoders read (sysvisor.decode:
each decoder's `capture` makes the reads of its rendering). In the
program, the evaluator cannot run Python, so each capture function is
translated into data, `Op`s:

    STR     read_str(args[arg], size)                    strings, paths
    BUF     read(args[arg], len) with len = size (CONST), args[len_arg]
            (ARG) or the result (RETVAL), capped at size2 (-s)
    FDPATH  what fd args[arg] (or the result) refers to (-y)
    ARGV    a NULL-ended pointer array, `size` words at most, and the
            strings of all but the last, `size2` bytes each (execve argv)
    WORDS   the same array without the strings (envp: strace counts them)

with conditions (only when the call succeeded, only for a non-NULL
pointer, only for a real fd). The translation is a table, CAPTURE_RULES,
keyed by the capture function's code (closures of one factory share it;
their parameters are read from the closure). A decoder not in the table
is checked statically: if neither it nor any function it calls can reach
a memory read (ctx.read, read_str, fd_path, cwd), it reads nothing and
needs no op. Otherwise it is probed: run on views of patterned memory
with several argument vectors and results, a decoder that only ever reads
one struct of one size at its own argument (a timespec, a pipe's two
fds, a sigset, a rusage...) becomes a BUF op of that size (reading it
when the decoder would not is harmless: the replay serves reads by
address). Any other decoder is *uncapturable*: the syscall's records
are flagged PARTIAL and the missing memory renders as an address, as
strace shows unreadable memory (or, with uncapturable="cross", the call
crosses to the Python recorder instead). `coverage()` lists them.
"""
from __future__ import annotations

import inspect
import sys
from dataclasses import dataclass

from .. import decode

ENTRY, EXIT = 0, 1
STR, BUF, FDPATH, ARGV, WORDS = 1, 2, 3, 4, 5
ARG_RETVAL = 6
LEN_CONST, LEN_ARG, LEN_RETVAL = 0, 1, 2
C_OK, C_NONZERO, C_NOT_CWD, C_FD_NONNEG, C_EMPTY = 0x1, 0x2, 0x4, 0x8, 0x10
PATH_MAX = 4096


@dataclass(frozen=True)
class Op:
    op: int
    phase: int
    arg: int
    cond: int = 0
    len_src: int = LEN_CONST
    len_arg: int = 0
    size: int = 0
    size2: int = 0


class Uncapturable(Exception):
    """A capture this module cannot express as ops."""


class _ArchCtx:
    """What the structs helpers look at to size a read: arch and word."""

    def __init__(self, arch: str):
        self.arch = arch
        self.word = 4 if arch == "i386" else 8


def _closure(fn) -> dict:
    return dict(zip(fn.__code__.co_freevars, (c.cell_contents for c in fn.__closure__ or ())))


# ---- the rules: capture function -> ops ------------------------------------------------
# each takes (fn, i, phase, opts, arch) and returns a list of Ops

def _str(size):
    return lambda fn, i, ph, o, a: [Op(STR, ph, i, C_NONZERO, size=size(o))]


def _exit_only(make):
    def rule(fn, i, ph, o, a):
        return make(fn, i, ph, o, a) if ph == EXIT else []  # at entry: no result yet, no read
    return rule


def _buf_in(fn, i, ph, o, a):
    return [Op(BUF, ph, i, C_NONZERO, LEN_ARG, _closure(fn)["len_idx"], size2=o.strsize)]


def _buf_out(fn, i, ph, o, a):
    return [Op(BUF, EXIT, i, C_OK | C_NONZERO, LEN_RETVAL, size2=o.strsize)]


def _stat(fn, i, ph, o, a):
    from ..decode.structs import stat_size

    return [Op(BUF, EXIT, i, C_OK | C_NONZERO, size=stat_size(_ArchCtx(a), _closure(fn)["flavour"]))]


def _oldstat(fn, i, ph, o, a):
    from ..decode.structs import stat_size

    ctx = _ArchCtx(a)
    return [Op(BUF, EXIT, i, C_OK | C_NONZERO,
               size=stat_size(ctx, "old32" if ctx.word == 4 else None))]


def _fd(cond):
    return lambda fn, i, ph, o, a: [Op(FDPATH, ph, i, cond)]


def _argv(fn, i, ph, o, a):
    return [Op(ARGV, ph, i, C_NONZERO, size=o.max_array + 1, size2=o.strsize + 1)]


def _envc(fn, i, ph, o, a):
    if not o.abbrev:
        return _argv(fn, i, ph, o, a)
    return [Op(WORDS, ph, i, C_NONZERO, size=(1 << 20) + 1)]


def _generic(fn, i, ph, o, a):
    if _closure(fn)["kind"] == "str":
        return [Op(STR, ph, i, C_NONZERO, size=o.strsize + 1)]
    return []


def _ret_fd(fn, i, ph, o, a):
    return [Op(FDPATH, EXIT, ARG_RETVAL, C_OK)]


def _rules() -> dict:
    from ..decode import fs, generic, net, process

    def code(fn):
        return getattr(fn, "capture", fn).__code__

    return {
        code(fs.a_path): _str(lambda o: PATH_MAX),
        code(fs.a_str): _str(lambda o: o.strsize + 1),
        code(fs.a_buf_out): _exit_only(_buf_out),
        code(fs.a_str_out): _exit_only(lambda fn, i, ph, o, a: [
            Op(STR, EXIT, i, C_OK | C_NONZERO, size=o.strsize + 1)]),
        code(fs.a_buf_in(2)): _buf_in,
        code(fs.a_stat()): _exit_only(_stat),
        code(fs.a_statx): _exit_only(lambda fn, i, ph, o, a: [
            Op(BUF, EXIT, i, C_OK | C_NONZERO, size=256)]),
        fs.a_oldstat.__code__: _exit_only(_oldstat),
        fs.a_getcwd_buf.__code__: _exit_only(lambda fn, i, ph, o, a: [
            Op(STR, EXIT, i, C_OK | C_NONZERO, size=PATH_MAX)]),
        code(fs.a_fd): _fd(C_FD_NONNEG),
        code(fs.a_dirfd): _fd(C_FD_NONNEG | C_NOT_CWD),
        code(decode.ret_fd): _exit_only(_ret_fd),
        code(process.path): _str(lambda o: PATH_MAX + 1),
        code(process._argv): _argv,
        code(process._envc): _envc,
        generic._arg("hex").__code__: _generic,
        process._random_buf.__code__: _exit_only(lambda fn, i, ph, o, a: [
            Op(BUF, EXIT, 0, C_OK | C_NONZERO, LEN_RETVAL, size2=o.strsize)]),
        # the dirents are counted: all of them (size2 0: no cap but the record's)
        fs._a_dents(False).__code__: _exit_only(lambda fn, i, ph, o, a: [
            Op(BUF, EXIT, i, C_OK | C_NONZERO | C_EMPTY, LEN_RETVAL)]),
        net.a_sockaddr_in(2).__code__: lambda fn, i, ph, o, a: [
            Op(BUF, ph, i, C_NONZERO, LEN_ARG, _closure(fn)["len_idx"], size2=128)],
    }


_RULES: dict | None = None


# ---- decoders that read nothing, found statically ---------------------------------------

_READERS = frozenset({"read", "read_str", "fd_path", "cwd"})
_pure_cache: dict = {}


def _names(code) -> set[str]:
    """Every global and attribute name a code object (and the functions,
    lambdas and comprehensions defined in it) refers to."""
    out = set(code.co_names)
    for c in code.co_consts:
        if hasattr(c, "co_names"):
            out |= _names(c)
    return out


def reads_memory(fn, _depth: int = 0) -> bool:
    """Whether decoder fn, or a function it may call, can read the
    program's memory: a name among read/read_str/fd_path/cwd in its code or
    in the code of a decoder function it refers to. From the bytecode, so
    lambdas and closures are covered; conservative (a function of another
    package, or too deep a chain, counts as a read)."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return True
    if code in _pure_cache:
        return _pure_cache[code]
    if _depth > 12:
        return True
    _pure_cache[code] = True  # a cycle: the worst until proven otherwise
    scope = dict(getattr(fn, "__globals__", {}))
    scope.update(_closure(fn))
    # names not in scope may be attributes of a module it refers to, or
    # functions it imports where it runs: look in every decoder module too
    modules = [v for v in scope.values() if inspect.ismodule(v)]
    modules += [m for k, m in list(sys.modules.items()) if k.startswith("sysvisor.decode") and m]
    result = False
    for name in _names(code) | set(code.co_freevars):
        if name in _READERS:
            result = True
            break
        targets = [scope[name]] if name in scope else [getattr(m, name) for m in modules
                                                       if inspect.isfunction(getattr(m, name, None))]
        for t in targets:
            if inspect.isfunction(t):
                if not (t.__module__ or "").startswith("sysvisor.decode") or reads_memory(t, _depth + 1):
                    result = True
                    break
        if result:
            break
    _pure_cache[code] = result
    return result


# ---- fixed-size structs, found by probing -----------------------------------------------

_PATTERN = (3).to_bytes(4, "little") * 2  # memory of small ints: a pointer read from it shows


class _Probe:
    """A decoder view whose memory is a pattern and whose reads are logged."""

    def __init__(self, arch, args, retval):
        self.arch, self.name, self.nr = arch, "probe", 0
        self.args, self.retval, self.data = list(args), retval, {}
        self.reads: list[tuple] = []

    def read(self, addr, n):
        self.reads.append(("read", addr, n))
        return (_PATTERN * (n // 8 + 1))[:n] if 0 <= n <= 1 << 20 else None

    def read_str(self, addr, maxlen):
        self.reads.append(("str", addr, maxlen))
        return b"x", True

    def fd_path(self, fd):
        self.reads.append(("fd", fd, 0))
        return "/x"

    def cwd(self):
        self.reads.append(("cwd", 0, 0))
        return "/"


def _only_fd_paths(fn, i: int, phase: int, opts, arch: str) -> bool:
    """Under -y, fn's only reads are the path of its own fd argument."""
    from dataclasses import replace

    if i == ARG_RETVAL:
        return False
    seen = False
    for fd_paths in (1, 2):
        o = replace(opts, fd_paths=fd_paths)
        for v in (3, 0, 1 << 31, 0xFFFFFF9C):
            args = [v] * 6
            for r in ([None] if phase == ENTRY else [0, 16, -14]):
                view = _Probe(arch, args, r)
                try:
                    fn(decode.Ctx(view, o), i)
                except Exception:  # noqa: BLE001
                    pass
                for kind, addr, _n in view.reads:
                    if kind != "fd" or addr != decode.Ctx(view, o).i32(i):
                        return False
                    seen = True
    return seen


def _probe(fn, i: int, phase: int, opts, arch: str) -> list[Op] | None:
    """A decoder that reads one fixed-size struct at its own argument (the
    same size whatever the other arguments say, nothing it points to):
    [BUF op]; None when it does more, or reads nothing the probes could see
    (its reads then depend on values they did not try)."""
    ptrs = [0x7F0000000000 + 0x10000 * j for j in range(6)]
    # pointers, small numbers, zeros, flags, and the usual struct sizes
    vectors = [ptrs, [1, 2, 3, 4, 5, 6], [0] * 6, [0x40] * 6, [8] * 6, [16] * 6, [128] * 6]
    rets = [None] if phase == ENTRY else [0, 16, 24, -14]
    sizes, read_on_failure, fd_seen = set(), False, False
    for vec in vectors:
        vec = list(vec)
        if i != ARG_RETVAL:
            vec[i] = ptrs[i]
        for r in rets:
            view = _Probe(arch, vec, r)
            try:
                ctx = decode.Ctx(view, opts)
                fn(ctx) if i == ARG_RETVAL else fn(ctx, i)
            except Exception:  # noqa: BLE001 - a decoder that trips on the pattern
                pass
            for kind, addr, n in view.reads:
                if kind == "fd" and i != ARG_RETVAL and addr == decode.Ctx(view, opts).i32(i):
                    fd_seen = True
                    continue
                if kind != "read" or i == ARG_RETVAL or addr != ptrs[i] or not 0 < n <= 4096:
                    return None
                sizes.add(n)
                read_on_failure |= r == -14
    if not sizes and not fd_seen and not opts.fd_paths and _only_fd_paths(fn, i, phase, opts, arch):
        return []  # it only looks up its own fd, and only with -y
    if len(sizes) > 1 or not (sizes or fd_seen):
        return None  # several sizes; or none seen: its reads depend on values not tried
    ops = [Op(FDPATH, phase, i, C_FD_NONNEG)] if fd_seen else []
    if sizes:
        ops.append(Op(BUF, phase, i, C_NONZERO | (C_OK if phase == EXIT and not read_on_failure
                                                     else 0), size=sizes.pop()))
    return ops


# ---- a syscall's capture ops ---------------------------------------------------------------


def _ops_for(fn, i: int, phase: int, opts, arch: str) -> list[Op]:
    global _RULES
    if _RULES is None:
        _RULES = _rules()
    rule = _RULES.get(fn.__code__)
    if rule is not None:
        return rule(fn, i, phase, opts, arch)
    if not reads_memory(fn):
        return []
    ops = _probe(fn, i, phase, opts, arch)
    if ops is None:
        raise Uncapturable(getattr(fn, "__qualname__", repr(fn)))
    return ops


def capture_ops(sig, opts, arch: str) -> tuple[tuple[Op, ...], tuple[str, ...]]:
    """(ops, what could not be captured) for a decoder signature: the ops
    make the reads the decoders make under `opts` (capture_entry's at entry,
    capture_exit's at exit)."""
    caps, ret = decode.capture_plan(sig, opts)
    split = sig.exit_from
    missing: list[str] = []
    ops: list[Op] = []
    if callable(split):
        # the entry/exit split depends on the call: a read's phase is unknown
        return (), (f"{getattr(split, '__qualname__', 'split')} (entry/exit split decided per call)",)
    for i, cap in enumerate(caps):
        if cap is None:
            continue
        try:
            ops += _ops_for(cap, i, ENTRY if i < split else EXIT, opts, arch)
        except Uncapturable as e:
            missing.append(f"argument {i}: {e}")
    if ret is not None:
        try:
            ops += _ops_for(ret, ARG_RETVAL, EXIT, opts, arch)
        except Uncapturable as e:
            missing.append(f"result: {e}")
    return tuple(ops), tuple(missing)


class _View:
    def __init__(self, sc, arch):
        self.name, self.nr, self.arch = sc.name, sc.nr, arch
        self.args, self.retval = [0] * 6, None


def syscall_ops(table, nr: int, opts) -> tuple[tuple[Op, ...], tuple[str, ...]]:
    """capture_ops for syscall nr of a syscall table."""
    decode._load_families()
    sc = table.by_nr.get(nr)
    if sc is None:
        return (), ()
    return capture_ops(decode.signature(_View(sc, table.arch)), opts, table.arch)


def coverage(arch: str = "x86_64", opts=None) -> dict[str, tuple[str, ...]]:
    """{syscall name: what its compiled records lack} for every syscall of
    the arch whose capture is not complete (the documentation's list)."""
    from ..tables import table

    opts = opts or decode.Options(strsize=256)
    tab = table(arch)
    out = {}
    for sc in tab:
        _ops, missing = syscall_ops(tab, sc.nr, opts)
        if missing:
            out[sc.name] = missing
    return out

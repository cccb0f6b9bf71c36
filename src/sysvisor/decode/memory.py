"""Memory management syscalls rendered like strace 6.1."""
from __future__ import annotations

from . import Ctx, Sig, register, ret_default, ret_hex
from . import xlat as X
from .render import addr as _addr
from .render import const, flags
from .fs import a_fd, a_ptr, a_ulong, a_int, a_flags, reg

# strace's mmap_flags.in order (x86 values, from xlat where known)
_MAP_ORDER = ("MAP_FIXED", "MAP_ANONYMOUS", "MAP_32BIT", "MAP_ABOVE4G", "MAP_NORESERVE",
              "MAP_POPULATE", "MAP_NONBLOCK", "MAP_GROWSDOWN", "MAP_DENYWRITE",
              "MAP_EXECUTABLE", "MAP_LOCKED", "MAP_STACK", "MAP_HUGETLB", "MAP_SYNC",
              "MAP_UNINITIALIZED", "MAP_FIXED_NOREPLACE")
_known = {n: v for v, n in X.MMAP_FLAGS}
_known.setdefault("MAP_ABOVE4G", 0x80)
_known.setdefault("MAP_UNINITIALIZED", 0x4000000)
MAP_FLAGS = tuple((_known[n], n) for n in _MAP_ORDER if n in _known)
MAP_FLAGS_ARM = tuple((v, n) for v, n in MAP_FLAGS if n not in ("MAP_32BIT", "MAP_ABOVE4G"))
PROT = tuple(X.MMAP_PROT)
PROT_ARM = PROT + ((0x10, "PROT_BTI"), (0x20, "PROT_MTE"))
MREMAP = ((1, "MREMAP_MAYMOVE"), (2, "MREMAP_FIXED"), (4, "MREMAP_DONTUNMAP"))
MSYNC = ((1, "MS_ASYNC"), (2, "MS_INVALIDATE"), (4, "MS_SYNC"))
MCL = ((1, "MCL_CURRENT"), (2, "MCL_FUTURE"), (4, "MCL_ONFAULT"))
MLOCK2 = ((1, "MLOCK_ONFAULT"),)
PKEY_ACCESS = ((1, "PKEY_DISABLE_ACCESS"), (2, "PKEY_DISABLE_WRITE"))


def a_prot(ctx: Ctx, i: int) -> str:
    return flags(ctx.u(i) & 0xFFFFFFFF, PROT_ARM if ctx.arch == "aarch64" else PROT, "PROT_NONE")


def mmap_flags(ctx: Ctx, v: int) -> str:
    v &= 0xFFFFFFFF
    typ = v & 0xF
    out = const(typ, X.MMAP_TYPES, hex(typ) if typ else "0")
    v &= ~0xF
    huge = v & (0x3F << 26)
    v &= ~(0x3F << 26)
    if v:
        out += "|" + flags(v, MAP_FLAGS_ARM if ctx.arch == "aarch64" else MAP_FLAGS)
    if huge:
        out += f"|{huge >> 26}<<MAP_HUGE_SHIFT"
    return out


def a_mmap_flags(ctx: Ctx, i: int) -> str:
    return mmap_flags(ctx, ctx.u(i))


def a_mmap_fd(ctx: Ctx, i: int) -> str:
    from .fs import fd_str

    return fd_str(ctx, ctx.i32(i))


def a_off_hex(ctx: Ctx, i: int) -> str:
    v = ctx.u(i)
    return hex(v) if v else "0"


def a_pgoff(ctx: Ctx, i: int) -> str:
    v = ctx.u(i) << 12
    return hex(v) if v else "0"


reg("mmap", (a_ptr, a_ulong, a_prot, a_mmap_flags, a_mmap_fd, a_off_hex), ret=ret_hex)
reg("mmap2", (a_ptr, a_ulong, a_prot, a_mmap_flags, a_mmap_fd, a_pgoff), ret=ret_hex)
reg("old_mmap", (a_ptr,), ret=ret_hex)
reg("mprotect", (a_ptr, a_ulong, a_prot))
reg("pkey_mprotect", (a_ptr, a_ulong, a_prot, a_int))
reg("pkey_alloc", (a_ulong, a_flags(PKEY_ACCESS)))
reg("pkey_free", (a_int,))
reg("munmap", (a_ptr, a_ulong))
reg("brk", (a_ptr,), ret=ret_hex)


def _mremap_new(ctx: Ctx, i: int) -> str | None:
    if ctx.u(3) & 2:
        return _addr(ctx.u(i))
    return None


reg("mremap", (a_ptr, a_ulong, a_ulong, a_flags(MREMAP), _mremap_new), ret=ret_hex)


def a_madv(ctx: Ctx, i: int) -> str:
    return const(ctx.i32(i), X.MADVISE)


reg("madvise", (a_ptr, a_ulong, a_madv))
reg("process_madvise", (a_fd, a_ptr, a_ulong, a_madv, a_ulong))
reg("msync", (a_ptr, a_ulong, a_flags(MSYNC)))
reg(("mlock", "munlock"), (a_ptr, a_ulong))
reg("mlock2", (a_ptr, a_ulong, a_flags(MLOCK2)))
reg("mlockall", (a_flags(MCL),))
reg("munlockall", ())


def a_mincore_vec(ctx: Ctx, i: int) -> str:
    p = ctx.u(i)
    if ctx.failed() or ctx.retval is None:
        return _addr(p)
    n = (ctx.u(1) + 4095) // 4096
    shown = min(n, ctx.opts.max_array)
    d = ctx.read(p, shown)
    if d is None or len(d) < shown:
        return _addr(p)
    s = "[" + ", ".join(str(b & 1) for b in d) + (", ..." if n > shown else "") + "]"
    return s


reg("mincore", (a_ptr, a_ulong, a_mincore_vec), exit_from=2)


def a_membarrier_cmd(ctx: Ctx, i: int) -> str:
    v = ctx.i32(i)
    return const(v, X.MEMBARRIER_CMDS)


def _membarrier_ret(ctx: Ctx) -> str:
    r = ctx.retval
    if r is None or ctx.failed() or ctx.i32(0) != 0 or r == 0:
        return ret_default(ctx)
    cmds = tuple((v, n) for v, n in sorted(X.MEMBARRIER_CMDS.items()) if v)
    return f"{r:#x} ({flags(r, cmds)})"


register("membarrier", Sig((a_membarrier_cmd, lambda c, i: flags(c.u(i) & 0xFFFFFFFF,
                                                                  ((1, "MEMBARRIER_CMD_FLAG_CPU"),)),
                            a_int), ret=_membarrier_ret))
reg("mseal", (a_ptr, a_ulong, a_ulong))

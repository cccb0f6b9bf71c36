"""The fallback: render a syscall from its C prototype in the table, the
way strace renders syscalls it has no decoder for."""
from __future__ import annotations

from . import Ctx, Sig, ret_default
from .render import addr, quote

_STRINGY = ("filename", "pathname", "path", "name", "oldname", "newname", "specialfile",
            "dev_name", "dir_name", "library", "old", "new", "oldpath", "newpath")


def _kind(decl: str) -> str:
    d = decl.replace("const ", "").replace("__user ", "").strip()
    typ, _, name = d.rpartition(" ")
    name = name.lstrip("*")
    if "*" in d:
        if typ.startswith("char") and (name in _STRINGY or "name" in name or "path" in name):
            return "str"
        return "ptr"
    if typ in ("int", "pid_t", "clockid_t", "timer_t", "key_t", "mqd_t", "key_serial_t",
               "rwf_t", "old_uid_t", "old_gid_t"):
        return "int"
    if typ in ("long", "off_t", "loff_t", "ssize_t", "__kernel_old_time_t", "time_t"):
        return "long"
    if typ.startswith("unsigned") or typ in ("size_t", "u32", "u64", "__u32", "__u64", "uid_t",
                                             "gid_t", "qid_t", "aio_context_t", "cap_user_header_t"):
        return "ulong"
    if typ == "umode_t" or name == "mode":
        return "mode"
    return "hex"


def _arg(kind: str):
    def fn(ctx: Ctx, i: int) -> str:
        v = ctx.args[i]
        if kind == "str":
            r = ctx.read_str(v, ctx.opts.strsize + 1)
            if v == 0:
                return "NULL"
            return addr(v) if r is None else quote(r[0], ctx.opts.strsize, not r[1])
        if kind == "ptr":
            return addr(v)
        if kind == "int":
            return str(ctx.s(i, 32))
        if kind == "long":
            return str(ctx.s(i))
        if kind == "ulong":
            return str(ctx.u(i))
        if kind == "mode":
            return f"0{ctx.u(i) & 0o7777:o}" if ctx.u(i) else "000"
        return hex(ctx.u(i))

    return fn


_cache: dict = {}


def generic_sig(view) -> Sig:
    from ..tables import table

    key = (view.arch, view.nr)
    sig = _cache.get(key)
    if sig is None:
        try:
            sc = table(view.arch).get(view.nr)
        except ValueError:
            sc = None
        if sc is None:
            sig = Sig(tuple(_arg("hex") for _ in range(6)), ret=ret_default)
        else:
            sig = Sig(tuple(_arg(_kind(d)) for d in sc.args), ret=ret_default)
        _cache[key] = sig
    return sig

"""Odds and ends strace decodes: getcpu, syslog, reboot, bpf and
perf_event_open (abbreviated), io_uring_setup, sethostname..."""
from __future__ import annotations

import struct as _struct

from . import Ctx, Sig, register
from .signal import d32, pflags, ptr, u32, ulong, xval, _fd, _ret_fd
from .structs import addr_text, fetch_or_addr, print_str

# TODO(xlat): move to tools/gen_constants.py
SYSLOG_ACTIONS = {0: "SYSLOG_ACTION_CLOSE", 1: "SYSLOG_ACTION_OPEN", 2: "SYSLOG_ACTION_READ",
                  3: "SYSLOG_ACTION_READ_ALL", 4: "SYSLOG_ACTION_READ_CLEAR",
                  5: "SYSLOG_ACTION_CLEAR", 6: "SYSLOG_ACTION_CONSOLE_OFF",
                  7: "SYSLOG_ACTION_CONSOLE_ON", 8: "SYSLOG_ACTION_CONSOLE_LEVEL",
                  9: "SYSLOG_ACTION_SIZE_UNREAD", 10: "SYSLOG_ACTION_SIZE_BUFFER"}
REBOOT_MAGIC1 = {0xFEE1DEAD: "LINUX_REBOOT_MAGIC1"}
REBOOT_MAGIC2 = {672274793: "LINUX_REBOOT_MAGIC2", 85072278: "LINUX_REBOOT_MAGIC2A",
                 369367448: "LINUX_REBOOT_MAGIC2B", 537993216: "LINUX_REBOOT_MAGIC2C"}
REBOOT_CMDS = {0x01234567: "LINUX_REBOOT_CMD_RESTART", 0xCDEF0123: "LINUX_REBOOT_CMD_HALT",
               0x89ABCDEF: "LINUX_REBOOT_CMD_CAD_ON", 0: "LINUX_REBOOT_CMD_CAD_OFF",
               0x4321FEDC: "LINUX_REBOOT_CMD_POWER_OFF", 0xA1B2C3D4: "LINUX_REBOOT_CMD_RESTART2",
               0xD000FCE2: "LINUX_REBOOT_CMD_SW_SUSPEND", 0x45584543: "LINUX_REBOOT_CMD_KEXEC"}
BPF_CMDS = {0: "BPF_MAP_CREATE", 1: "BPF_MAP_LOOKUP_ELEM", 2: "BPF_MAP_UPDATE_ELEM",
            3: "BPF_MAP_DELETE_ELEM", 4: "BPF_MAP_GET_NEXT_KEY", 5: "BPF_PROG_LOAD",
            6: "BPF_OBJ_PIN", 7: "BPF_OBJ_GET", 8: "BPF_PROG_ATTACH", 9: "BPF_PROG_DETACH",
            10: "BPF_PROG_TEST_RUN", 11: "BPF_PROG_GET_NEXT_ID", 12: "BPF_MAP_GET_NEXT_ID",
            13: "BPF_PROG_GET_FD_BY_ID", 14: "BPF_MAP_GET_FD_BY_ID", 15: "BPF_OBJ_GET_INFO_BY_FD",
            16: "BPF_PROG_QUERY", 17: "BPF_RAW_TRACEPOINT_OPEN", 18: "BPF_BTF_LOAD",
            19: "BPF_BTF_GET_FD_BY_ID", 20: "BPF_TASK_FD_QUERY",
            21: "BPF_MAP_LOOKUP_AND_DELETE_ELEM", 22: "BPF_MAP_FREEZE", 23: "BPF_BTF_GET_NEXT_ID",
            24: "BPF_MAP_LOOKUP_BATCH", 25: "BPF_MAP_LOOKUP_AND_DELETE_BATCH",
            26: "BPF_MAP_UPDATE_BATCH", 27: "BPF_MAP_DELETE_BATCH", 28: "BPF_LINK_CREATE",
            29: "BPF_LINK_UPDATE", 30: "BPF_LINK_GET_FD_BY_ID", 31: "BPF_LINK_GET_NEXT_ID",
            32: "BPF_ENABLE_STATS", 33: "BPF_ITER_CREATE", 34: "BPF_LINK_DETACH",
            35: "BPF_PROG_BIND_MAP", 36: "BPF_TOKEN_CREATE"}
PERF_FLAGS = ((1, "PERF_FLAG_FD_NO_GROUP"), (2, "PERF_FLAG_FD_OUTPUT"), (4, "PERF_FLAG_PID_CGROUP"),
              (8, "PERF_FLAG_FD_CLOEXEC"))
PERF_TYPES = {0: "PERF_TYPE_HARDWARE", 1: "PERF_TYPE_SOFTWARE", 2: "PERF_TYPE_TRACEPOINT",
              3: "PERF_TYPE_HW_CACHE", 4: "PERF_TYPE_RAW", 5: "PERF_TYPE_BREAKPOINT"}


def _getcpu_out(ctx: Ctx, i: int) -> str:
    data, txt = fetch_or_addr(ctx, ctx.u(i), 4, True)
    return txt if data is None else f"[{_struct.unpack('<I', data)[0]}]"


register("getcpu", Sig((_getcpu_out, _getcpu_out, ptr), exit_from=0))


def _syslog_buf(ctx: Ctx, i: int) -> str:
    t = ctx.i32(0)
    if t in (2, 3, 4):  # the READ actions fill the buffer
        if ctx.failed() or ctx.retval is None:
            return addr_text(ctx, ctx.u(i))
        from .render import quote
        n = ctx.retval
        data = ctx.read(ctx.u(i), min(n, ctx.opts.strsize))
        if data is None:
            return addr_text(ctx, ctx.u(i))
        return quote(data, ctx.opts.strsize, n > len(data))
    return addr_text(ctx, ctx.u(i))


register("syslog", Sig((lambda c, i: xval(c.i32(i) & 0xFFFFFFFF, SYSLOG_ACTIONS, "SYSLOG_ACTION_???")
                        if c.i32(i) >= 0 else f"{c.i32(i)} /* SYSLOG_ACTION_??? */",
                        _syslog_buf, d32), exit_from=1))


def _reboot_rest(ctx: Ctx, i: int):
    if i == 3:
        if ctx.u(2) & 0xFFFFFFFF == 0xA1B2C3D4:
            return print_str(ctx, ctx.u(3))
        return None
    return None


register("reboot", Sig((lambda c, i: xval(c.u(i) & 0xFFFFFFFF, REBOOT_MAGIC1, "LINUX_REBOOT_MAGIC_???"),
                        lambda c, i: xval(c.u(i) & 0xFFFFFFFF, REBOOT_MAGIC2, "LINUX_REBOOT_MAGIC_???"),
                        lambda c, i: xval(c.u(i) & 0xFFFFFFFF, REBOOT_CMDS, "LINUX_REBOOT_CMD_???"),
                        _reboot_rest)))


def _bpf_all(ctx: Ctx, i: int) -> str:
    cmd = ctx.u(0) & 0xFFFFFFFF
    return ", ".join([xval(cmd, BPF_CMDS, "BPF_???"), addr_text(ctx, ctx.u(1)),
                      str(ctx.u(2) & 0xFFFFFFFF)])


register("bpf", Sig((_bpf_all,), ret=_ret_fd))


def _perf_attr(ctx: Ctx, i: int) -> str:
    data, txt = fetch_or_addr(ctx, ctx.u(i), 16, False)
    if data is None:
        return txt
    typ, size, config = _struct.unpack("<IIQ", data)
    return (f"{{type={xval(typ, PERF_TYPES, 'PERF_TYPE_???')}, size={size}, "
            f"config={config:#x}, ...}}" if config else
            f"{{type={xval(typ, PERF_TYPES, 'PERF_TYPE_???')}, size={size}, config=0, ...}}")


register("perf_event_open", Sig((_perf_attr, d32, d32, _fd,
                                 lambda c, i: pflags(c.u(i), PERF_FLAGS, "PERF_FLAG_???")),
                                ret=_ret_fd))


def _uring_params(ctx: Ctx, i: int) -> str:
    data, txt = fetch_or_addr(ctx, ctx.u(i), 24, False)
    if data is None:
        return txt
    sq, cq, fl, cpu, idle = _struct.unpack_from("<IIIII", data, 0)
    return f"{{flags={fl:#x}, sq_thread_cpu={cpu}, sq_thread_idle={idle}, ...}}" if fl else \
        f"{{flags=0, sq_thread_cpu={cpu}, sq_thread_idle={idle}, ...}}"


register("io_uring_setup", Sig((u32, _uring_params), ret=_ret_fd))


def _name_len(ctx: Ctx, i: int) -> str:
    from .render import quote
    n = ctx.u(1)
    data = ctx.read(ctx.u(0), min(n, ctx.opts.strsize)) if n else b""
    if data is None:
        return addr_text(ctx, ctx.u(0))
    return quote(data, ctx.opts.strsize, n > len(data))


register(("sethostname", "setdomainname"), Sig((_name_len, ulong)))

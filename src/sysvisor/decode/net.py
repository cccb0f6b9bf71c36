"""Sockets rendered like strace 6.1."""
from __future__ import annotations

import struct as _struct

from . import Ctx, Sig, register, ret_default, ret_fd
from . import xlat as X
from .fs import a_fd, a_int, a_uint, a_ulong, fd_str, reg
from .render import addr as _addr
from .render import const, flags
from .structs import print_buf, print_iovec, print_sockaddr, read_words

SOCK_FLAGS = ((0x80000, "SOCK_CLOEXEC"), (0x800, "SOCK_NONBLOCK"))
MSG_FLAGS = tuple(X.MSG_FLAGS)
SHUT = {0: "SHUT_RD", 1: "SHUT_WR", 2: "SHUT_RDWR"}
IP_OPTIONS = {1: "IP_TOS", 2: "IP_TTL", 3: "IP_HDRINCL", 4: "IP_OPTIONS", 6: "IP_RECVOPTS",
              7: "IP_RETOPTS", 8: "IP_PKTINFO", 10: "IP_MTU_DISCOVER", 11: "IP_RECVERR",
              12: "IP_RECVTTL", 13: "IP_RECVTOS", 14: "IP_MTU", 15: "IP_FREEBIND",
              19: "IP_TRANSPARENT", 24: "IP_BIND_ADDRESS_NO_PORT", 32: "IP_MULTICAST_IF",
              33: "IP_MULTICAST_TTL", 34: "IP_MULTICAST_LOOP", 35: "IP_ADD_MEMBERSHIP",
              36: "IP_DROP_MEMBERSHIP", 49: "IP_MULTICAST_ALL", 50: "IP_UNICAST_IF",
              51: "IP_LOCAL_PORT_RANGE"}
IPV6_OPTIONS = {16: "IPV6_UNICAST_HOPS", 17: "IPV6_MULTICAST_IF", 18: "IPV6_MULTICAST_HOPS",
                19: "IPV6_MULTICAST_LOOP", 20: "IPV6_ADD_MEMBERSHIP", 21: "IPV6_DROP_MEMBERSHIP",
                23: "IPV6_MTU_DISCOVER", 24: "IPV6_MTU", 25: "IPV6_RECVERR", 26: "IPV6_V6ONLY",
                49: "IPV6_RECVPKTINFO", 50: "IPV6_PKTINFO", 67: "IPV6_TCLASS"}
NETLINK_OPTIONS = {1: "NETLINK_ADD_MEMBERSHIP", 2: "NETLINK_DROP_MEMBERSHIP",
                   3: "NETLINK_PKTINFO", 4: "NETLINK_BROADCAST_ERROR", 5: "NETLINK_NO_ENOBUFS",
                   8: "NETLINK_LISTEN_ALL_NSID", 9: "NETLINK_LIST_MEMBERSHIPS",
                   10: "NETLINK_CAP_ACK", 11: "NETLINK_EXT_ACK", 12: "NETLINK_GET_STRICT_CHK"}
SOL_OPTS = {1: X.SOCKET_OPTIONS, 6: X.TCP_OPTIONS, 0: IP_OPTIONS, 41: IPV6_OPTIONS,
            270: NETLINK_OPTIONS}
SCM = {1: "SCM_RIGHTS", 2: "SCM_CREDENTIALS", 3: "SCM_SECURITY", 4: "SCM_PIDFD"}
ETH_P = {0x0003: "ETH_P_ALL", 0x0800: "ETH_P_IP", 0x0806: "ETH_P_ARP", 0x86DD: "ETH_P_IPV6"}


def _sock_type(v: int) -> str:
    v &= 0xFFFFFFFF
    out = const(v & 0xF, X.SOCK_TYPES)
    rest = v & ~0xF
    if rest:
        out += "|" + flags(rest, SOCK_FLAGS)
    return out


def a_family(ctx: Ctx, i: int) -> str:
    return const(ctx.i32(i), X.ADDRESS_FAMILIES)


def a_socktype(ctx: Ctx, i: int) -> str:
    return _sock_type(ctx.u(i))


def a_proto(ctx: Ctx, i: int) -> str:
    fam = ctx.i32(0)
    p = ctx.i32(i)
    if fam in (2, 10):
        return const(p, X.IPPROTOS)
    if fam == 16:
        return const(p, X.NETLINK_PROTOCOLS)
    if fam == 17:
        n = ETH_P.get(((p & 0xFF) << 8) | ((p >> 8) & 0xFF))
        return f"htons({n})" if n else str(p)
    return str(p)


def _stash(ctx: Ctx, key: str, value) -> None:
    data = getattr(ctx.view, "data", None)
    if isinstance(data, dict):
        data["decode_" + key] = value


def _unstash(ctx: Ctx, key: str):
    data = getattr(ctx.view, "data", None)
    if isinstance(data, dict):
        return data.get("decode_" + key)
    return None


def _read_int(ctx: Ctx, p: int) -> int | None:
    if p == 0:
        return None
    d = ctx.read(p, 4)
    if d is None or len(d) < 4:
        return None
    return _struct.unpack("<i", d)[0]


def a_sockaddr_in(len_idx: int):
    def fn(ctx: Ctx, i: int) -> str:
        return print_sockaddr(ctx, ctx.u(i), ctx.i32(len_idx))
    return fn


def a_fd_stash_len(len_idx: int):
    """The fd, and (side effect) the caller's *addrlen at entry."""
    def fn(ctx: Ctx, i: int) -> str:
        if ctx.retval is None:
            _stash(ctx, "socklen", _read_int(ctx, ctx.u(len_idx)))
        return a_fd(ctx, i)
    return fn


def _ulen(ctx: Ctx, len_ptr: int, rlen: int | None) -> int | None:
    u = _unstash(ctx, "socklen")
    return u if u is not None else rlen


def a_sockaddr_out(len_idx: int):
    def fn(ctx: Ctx, i: int) -> str:
        p = ctx.u(i)
        lp = ctx.u(len_idx)
        if p == 0 or lp == 0:
            return _addr(p)
        rlen = _read_int(ctx, lp)
        ulen = _ulen(ctx, lp, rlen)
        if ctx.failed() or ctx.retval is None or rlen is None or ulen is None:
            return _addr(p)
        return print_sockaddr(ctx, p, min(ulen, rlen))
    return fn


def a_socklen_out(ctx: Ctx, i: int) -> str:
    lp = ctx.u(i)
    if lp == 0:
        return "NULL"
    rlen = _read_int(ctx, lp)
    ulen = _ulen(ctx, lp, rlen)
    if ulen is None:
        return hex(lp)
    if ctx.failed() or ctx.retval is None or rlen is None or rlen == ulen:
        return f"[{ulen}]"
    return f"[{ulen} => {rlen}]"


reg("socket", (a_family, a_socktype, a_proto), ret=ret_fd)


def a_sv(ctx: Ctx, i: int) -> str:
    p = ctx.u(i)
    if ctx.failed() or ctx.retval is None:
        return _addr(p)
    d = ctx.read(p, 8)
    if d is None or len(d) < 8:
        return _addr(p)
    a, b = _struct.unpack("<ii", d)
    return f"[{fd_str(ctx, a)}, {fd_str(ctx, b)}]"


reg("socketpair", (a_family, a_socktype, a_proto, a_sv), exit_from=3)
reg(("bind", "connect"), (a_fd, a_sockaddr_in(2), a_uint))
reg("listen", (a_fd, a_int))
reg("accept", (a_fd_stash_len(2), a_sockaddr_out(2), a_socklen_out), exit_from=1, ret=ret_fd)
reg("accept4", (a_fd_stash_len(2), a_sockaddr_out(2), a_socklen_out,
                lambda c, i: flags(c.u(i) & 0xFFFFFFFF, SOCK_FLAGS)), exit_from=1, ret=ret_fd)
reg(("getsockname", "getpeername"), (a_fd_stash_len(2), a_sockaddr_out(2), a_socklen_out),
    exit_from=1)
reg("shutdown", (a_fd, lambda c, i: const(c.i32(i), SHUT)))


def a_msgflags(ctx: Ctx, i: int) -> str:
    return flags(ctx.u(i) & 0xFFFFFFFF, MSG_FLAGS)


def a_sendbuf(ctx: Ctx, i: int) -> str:
    return print_buf(ctx, ctx.u(i), ctx.u(i + 1))


def a_recvbuf(ctx: Ctx, i: int) -> str:
    if ctx.failed() or ctx.retval is None:
        return _addr(ctx.u(i))
    return print_buf(ctx, ctx.u(i), min(ctx.retval, ctx.u(i + 1)))


reg(("sendto",), (a_fd, a_sendbuf, a_ulong, a_msgflags, a_sockaddr_in(5), a_uint))
reg("send", (a_fd, a_sendbuf, a_ulong, a_msgflags))
reg(("recvfrom",), (a_fd_stash_len(5), a_recvbuf, a_ulong, a_msgflags, a_sockaddr_out(5),
                    a_socklen_out), exit_from=1)
reg("recv", (a_fd, a_recvbuf, a_ulong, a_msgflags), exit_from=1)


# ---- msghdr ----------------------------------------------------------------------

def _cmsgs(ctx: Ctx, p: int, n: int) -> str:
    w = ctx.word
    d = ctx.read(p, min(n, 4096))
    if d is None or len(d) < min(n, 4096):
        return _addr(p)
    out = []
    off = 0
    hdr = w + 8
    while off + hdr <= len(d):
        ln = int.from_bytes(d[off:off + w], "little")
        lvl, typ = _struct.unpack_from("<ii", d, off + w)
        s = (f"{{cmsg_len={ln}, cmsg_level={const(lvl, X.SOCKET_LEVELS)}, cmsg_type="
             + (SCM.get(typ, str(typ)) if lvl == 1 else str(typ)))
        body = d[off + hdr:off + max(ln, hdr)]
        if lvl == 1 and typ == 1:
            fds = [_struct.unpack_from("<i", body, k)[0] for k in range(0, len(body) - 3, 4)]
            s += ", cmsg_data=[" + ", ".join(fd_str(ctx, f) for f in fds) + "]"
        elif lvl == 1 and typ == 2 and len(body) >= 12:
            pid, uid, gid = _struct.unpack_from("<iII", body)
            s += f", cmsg_data={{pid={pid}, uid={uid}, gid={gid}}}"
        else:
            s += ", cmsg_data=" + ("..." if body else '""')
        out.append(s + "}")
        if ln < hdr:
            break
        off += (ln + w - 1) // w * w
    return "[" + ", ".join(out) + "]"


def _msghdr_words(ctx: Ctx, p: int):
    w = read_words(ctx, p, 7)
    if w is None:
        return None
    name, namelen, iov, iovlen, ctl, ctllen, fl = w
    return (name, namelen & 0xFFFFFFFF, iov, iovlen, ctl, ctllen, fl & 0xFFFFFFFF)


def print_msghdr(ctx: Ctx, p: int, data_len: int | None, user_namelen: int | None = None,
                 out: bool = False) -> str:
    m = _msghdr_words(ctx, p)
    if m is None:
        return _addr(p)
    name, namelen, iov, iovlen, ctl, ctllen, fl = m
    s = "{msg_name="
    if name == 0:
        s += "NULL"
    else:
        ln = namelen if user_namelen is None else min(namelen, user_namelen)
        s += print_sockaddr(ctx, name, ln) if ln else hex(name)
    s += ", msg_namelen="
    if user_namelen is not None and user_namelen != namelen:
        s += f"{user_namelen} => "
    s += str(namelen)
    s += ", msg_iov=" + print_iovec(ctx, iov, iovlen, data_len=data_len)
    s += f", msg_iovlen={iovlen}"
    if ctllen:
        s += ", msg_control=" + _cmsgs(ctx, ctl, ctllen)
    s += f", msg_controllen={ctllen}, msg_flags={flags(fl, MSG_FLAGS)}}}"
    return s


def a_msghdr_in(ctx: Ctx, i: int) -> str:
    return print_msghdr(ctx, ctx.u(i), None)


def a_fd_stash_msg(ctx: Ctx, i: int) -> str:
    if ctx.retval is None:
        m = _msghdr_words(ctx, ctx.u(1))
        if m is not None:
            _stash(ctx, "namelen", m[1])
    return a_fd(ctx, i)


def a_msghdr_out(ctx: Ctx, i: int) -> str:
    if ctx.failed() or ctx.retval is None:
        return _addr(ctx.u(i))
    return print_msghdr(ctx, ctx.u(i), ctx.retval, _unstash(ctx, "namelen"), out=True)


reg("sendmsg", (a_fd, a_msghdr_in, a_msgflags))
reg("recvmsg", (a_fd_stash_msg, a_msghdr_out, a_msgflags), exit_from=1)


def _mmsg(ctx: Ctx, p: int, n: int, out: bool) -> str:
    if p == 0:
        return "NULL"
    msz = 7 * ctx.word + 8 if ctx.word == 8 else 32
    msz = 64 if ctx.word == 8 else 32
    shown = min(n, ctx.opts.max_array)
    parts = []
    for k in range(shown):
        q = p + k * msz
        d = ctx.read(q + msz - 8, 4)
        mlen = _struct.unpack("<I", d)[0] if d and len(d) == 4 else 0
        hdr = print_msghdr(ctx, q, mlen if out else None)
        parts.append(f"{{msg_hdr={hdr}, msg_len={mlen}}}")
    if n > shown:
        parts.append("...")
    return "[" + ", ".join(parts) + "]"


def a_mmsg_in(ctx: Ctx, i: int) -> str:
    if ctx.failed() or ctx.retval is None:
        return _mmsg(ctx, ctx.u(i), ctx.u(i + 1) & 0xFFFFFFFF, False)
    return _mmsg(ctx, ctx.u(i), ctx.retval, False)


def a_mmsg_out(ctx: Ctx, i: int) -> str:
    if ctx.failed() or ctx.retval is None:
        return _addr(ctx.u(i))
    return _mmsg(ctx, ctx.u(i), ctx.retval, True)


def _ts_arg(ctx: Ctx, i: int) -> str:
    from .structs import print_timespec

    return print_timespec(ctx, ctx.u(i))


reg("sendmmsg", (a_fd, a_mmsg_in, a_uint, a_msgflags), exit_from=1)
reg("recvmmsg", (a_fd, a_mmsg_out, a_uint, a_msgflags, _ts_arg), exit_from=1)


# ---- socket options ------------------------------------------------------------

def a_level(ctx: Ctx, i: int) -> str:
    return const(ctx.i32(i), X.SOCKET_LEVELS)


def a_optname(ctx: Ctx, i: int) -> str:
    table = SOL_OPTS.get(ctx.i32(1))
    return const(ctx.i32(i), table) if table else str(ctx.i32(i))


def _optval(ctx: Ctx, p: int, ln: int) -> str:
    if p == 0:
        return "NULL"
    lvl, name = ctx.i32(1), ctx.i32(2)
    if lvl == 1 and name == 13 and ln >= 8:  # SO_LINGER
        d = ctx.read(p, 8)
        if d is None or len(d) < 8:
            return hex(p)
        a, b = _struct.unpack("<ii", d)
        return f"{{l_onoff={a}, l_linger={b}}}"
    if lvl == 1 and name == 17 and ln >= 12:  # SO_PEERCRED
        d = ctx.read(p, 12)
        if d is None or len(d) < 12:
            return hex(p)
        pid, uid, gid = _struct.unpack("<iII", d)
        return f"{{pid={pid}, uid={uid}, gid={gid}}}"
    if lvl == 6 and name == 13:  # TCP_CONGESTION
        return print_buf(ctx, p, ln)
    if lvl == 1 and name == 25:  # SO_BINDTODEVICE
        return print_buf(ctx, p, ln)
    if ln == 4:
        d = ctx.read(p, 4)
        if d is None or len(d) < 4:
            return hex(p)
        return f"[{_struct.unpack('<i', d)[0]}]"
    if 0 < ln < 4:
        d = ctx.read(p, ln)
        if d is None or len(d) < ln:
            return hex(p)
        return f"[{int.from_bytes(d, 'little')}]"
    return hex(p)


def a_optval_in(ctx: Ctx, i: int) -> str:
    return _optval(ctx, ctx.u(i), ctx.i32(i + 1))


def a_optval_out(ctx: Ctx, i: int) -> str:
    p = ctx.u(i)
    if ctx.failed() or ctx.retval is None:
        return _addr(p)
    ln = _read_int(ctx, ctx.u(i + 1))
    if ln is None:
        return _addr(p)
    return _optval(ctx, p, ln)


def a_fd_stash_optlen(ctx: Ctx, i: int) -> str:
    if ctx.retval is None:
        _stash(ctx, "socklen", _read_int(ctx, ctx.u(4)))
    return a_fd(ctx, i)


reg("setsockopt", (a_fd, a_level, a_optname, a_optval_in, a_int))
reg("getsockopt", (a_fd_stash_optlen, a_level, a_optname, a_optval_out, a_socklen_out),
    exit_from=3)


# ---- i386 socketcall ----------------------------------------------------------------

_SOCKETCALL = {1: "socket", 2: "bind", 3: "connect", 4: "listen", 5: "accept",
               6: "getsockname", 7: "getpeername", 8: "socketpair", 9: "send", 10: "recv",
               11: "sendto", 12: "recvfrom", 13: "shutdown", 14: "setsockopt",
               15: "getsockopt", 16: "sendmsg", 17: "recvmsg", 18: "accept4",
               19: "recvmmsg", 20: "sendmmsg"}
_SOCKETCALL_NARGS = {1: 3, 2: 3, 3: 3, 4: 2, 5: 3, 6: 3, 7: 3, 8: 4, 9: 4, 10: 4, 11: 6,
                     12: 6, 13: 2, 14: 5, 15: 5, 16: 3, 17: 3, 18: 4, 19: 5, 20: 4}


class _SubView:
    """The view of a socketcall's inner call, its args read from memory."""

    def __init__(self, view, name, args):
        self._v = view
        self.arch = view.arch
        self.name = name
        self.nr = view.nr
        self.args = args
        self.retval = view.retval
        self.data = getattr(view, "data", None)

    def read(self, a, n):
        return self._v.read(a, n)

    def read_str(self, a, n):
        return self._v.read_str(a, n)

    def fd_path(self, fd):
        return self._v.fd_path(fd)


def _socketcall_sub(ctx: Ctx):
    call = ctx.u(0)
    name = _SOCKETCALL.get(call)
    if name is None:
        return None
    n = _SOCKETCALL_NARGS[call]
    w = read_words(ctx, ctx.u(1), n)
    if w is None:
        return None
    from . import SIGS
    sig = SIGS.get(name)
    if sig is None:
        return None
    view = _SubView(ctx.view, name, w + [0] * (6 - n))
    return sig, Ctx(view, ctx.opts), n


def _socketcall_all(ctx: Ctx, i: int) -> str:
    sub = _socketcall_sub(ctx)
    if sub is None:
        return f"{ctx.u(0)}, {_addr(ctx.u(1))}"
    sig, sctx, n = sub
    parts = []
    for k in range(min(n, len(sig.args))):
        try:
            s = sig.args[k](sctx, k)
        except Exception:
            s = hex(sctx.args[k])
        if s is not None:
            parts.append(s)
    return ", ".join(parts)


def _socketcall_ret(ctx: Ctx) -> str:
    sub = _socketcall_sub(ctx)
    if sub is None:
        return ret_default(ctx)
    sig, sctx, _n = sub
    return (sig.ret or ret_default)(sctx)


# strace shows socketcall's inner call by its own name; the view's name is
# fixed, so this shows `socketcall(<inner args>)`.
register("socketcall", Sig((_socketcall_all,), exit_from=0, ret=_socketcall_ret))

"""Net: an enforcing layer for networking.

Two modes:

`Net.deny_all()` (`--net none`): socket() and socketpair() of every family
but AF_UNIX fail with EACCES. The family is a constant argument, so the
decision is compiled into the seccomp filter: unix sockets never stop and
nothing can race it.

`Net(allow=[...])` (`--net allow=...`): sockets of AF_UNIX, and TCP, UDP
and ICMP sockets of AF_INET/AF_INET6, may be created; every connect(),
bind(), sendto() with an address, sendmsg() and sendmmsg() is checked
against the allow-list, and so is listen() on a socket that is not bound
yet (the kernel then binds it to the wildcard address, port 0). A call
that no entry allows fails with EACCES.

The allow-list syntax (`Net.from_spec("allow=ENTRY,ENTRY...")`, `--net
allow=...`; `Net(allow=[ENTRY, ...])`):

    ENTRY   := [OP:]TARGET
    OP      := connect        connect(), and datagrams sent to TARGET (default)
             | sendto         datagrams only (sendto/sendmsg/sendmmsg)
             | bind           bind(), and listen() of an unbound socket
                              (as a bind to the wildcard address, port 0)
    TARGET  := ADDR[:PORTS] | unix:GLOB
    ADDR    := *  |  IPv4[/PREFIX]  |  [IPv6][/PREFIX]  |  [IPv6/PREFIX]
               (`*` is every IPv4 and IPv6 address; a bare IPv6 address
               without brackets is accepted when no port follows)
    PORTS   := N | N-M | *        (omitted: every port)
    GLOB    := an fnmatch glob on the socket's path; `@NAME` for abstract
               sockets (`unix:@dbus-*`)

    connect:127.0.0.1:8080   connect:10.0.0.0/8   bind:0.0.0.0:0-65535
    connect:[::1]:22         unix:/run/app.sock   sendto:192.168.1.255:9
    --net 'allow=connect:127.0.0.1:5432,unix:/run/postgresql/*'

Addresses are compared as the kernel uses them: an IPv4-mapped IPv6
address (::ffff:a.b.c.d) is checked as the IPv4 address, and a connect or
send to 0.0.0.0 (::) as one to 127.0.0.1 (::1), which is where Linux
sends it. Unix socket paths are made absolute against the program's cwd,
resolved like the kernel resolves them (symlinks followed) and checked in
their canonical form: write rules with canonical paths (/run, not
/var/run); the connection is then made to exactly the inode that was
checked (through an O_PATH descriptor), so a symlink swapped in afterwards
cannot redirect it. `translate_path(path, call)` maps a path of the
program's view to the supervisor's (identity; a confinement layer
overrides it) and `untranslate_path(path)` maps a canonical path back for
the check. A confinement layer in the same stack (layers/confine) sets
`net.view` instead: unix paths are then resolved by
`view.unix_socket_target(call, op, path)`, race-free in its view, and the
rules name paths of the view.

`Net.unrestricted()` allows everything but still executes the address
calls on the program's behalf: what a confinement layer uses so that unix
socket paths cannot name a socket outside its view.

Security (unotify). The sockaddr is a pointer argument: checking it and
letting the call continue would let another thread of the program swap the
address between the check and the kernel's read. So Net executes the call
on the program's behalf: it reads the address once, checks it, fetches the
socket with pidfd_getfd (the same open socket: the program's fd becomes
connected or bound), makes the call itself with the address it checked
(and, for sends, the data and control messages it read; SCM_RIGHTS fds are
fetched too), answers with the result (0, a byte count, or -errno; a
non-blocking connect's EINPROGRESS is passed back as is) and closes its
copies. Consequences, documented on purpose:
  - on-behalf calls run with the supervisor's credentials. Net only does
    this when they are no more than the program's (same euid/egid/fsuid/
    fsgid, no group or capability the program lacks), else the call fails
    with EPERM (reported once): a root supervisor must not bind port 80 or
    connect to a root-only unix socket for an unprivileged program.
  - SO_PEERCRED of a unix connection, and SCM_CREDENTIALS the kernel adds
    for receivers with SO_PASSCRED, show the supervisor's pid (its uid and
    gid are the program's, see above); explicit SCM_CREDENTIALS are refused
    (EPERM).
  - a send that hits a broken pipe raises SIGPIPE in the calling thread,
    as the kernel would (unless MSG_NOSIGNAL).
  - while a blocking connect or send runs on its behalf, the program's
    thread waits in the kernel killably: only fatal signals interrupt it.
Net also denies io_uring_setup/enter/register (EPERM): io_uring connects,
sends and creates sockets without passing through the seccomp filter.
Other ways around it (ptrace of another process, pidfd_getfd,
process_vm_writev) are in the bypass list a confining stack denies
(`sysvisor.layers.bypass`). Source routing (IP_OPTIONS, IPv6 routing
headers, by setsockopt or control message) is refused with EACCES: it
would send packets via a host the list does not name.

On the ptrace and seccomp methods Net, like any enforcing layer, is
refused unless the session is insecure; then it checks the address and
lets the call through (`call.next()`), which another thread can race:
documented as advisory there.

On i386 (the compat ABI of x86_64), socketcall(2) multiplexes the socket
calls with their arguments in memory; Net decodes it and applies the same
rules (a unix socket() through socketcall is created on the program's
behalf, since its family was read from memory).
"""
from __future__ import annotations

import ctypes
import errno
import fnmatch
import ipaddress
import os
import socket as _socket
import stat
import struct
import sys
import threading

from ..errors import CapabilityError, UsageError
from ..layer import Layer, arg, blocking

AF_UNSPEC, AF_UNIX, AF_INET, AF_INET6 = 0, 1, 2, 10
SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET = 1, 2, 5
SOCK_TYPE_MASK = 0xF
SOCK_CLOEXEC = 0o2000000
SOL_SOCKET, SO_TYPE, SO_DOMAIN = 1, 3, 39
SCM_RIGHTS, SCM_CREDENTIALS = 1, 2
SOL_IP, IP_OPTIONS, IP_RETOPTS = 0, 4, 7
SOL_IPV6, IPV6_2292RTHDR, IPV6_2292PKTOPTIONS, IPV6_RTHDR = 41, 5, 6, 57
MSG_NOSIGNAL = 0x4000
# i386 socketcall(2) sub-calls: number -> (name, argument count)
SOCKETCALL = {1: ("socket", 3), 2: ("bind", 3), 3: ("connect", 3), 4: ("listen", 2),
              8: ("socketpair", 4), 11: ("sendto", 6), 14: ("setsockopt", 5),
              16: ("sendmsg", 3), 20: ("sendmmsg", 4)}
# protocols an allow-listed inet socket may use (0 is the type's default):
# TCP, UDP, UDP-Lite, ICMP and ICMPv6 ("ping" sockets). SCTP and MPTCP are
# refused: they reach addresses given in setsockopt and control messages.
INET_PROTOCOLS = {SOCK_STREAM: {0, 6}, SOCK_DGRAM: {0, 17, 136, 1, 58}}
MAX_SEND = 1 << 24  # a stream send on behalf reads at most this much (a short write)
OPS = ("connect", "sendto", "bind")

_libc = ctypes.CDLL(None, use_errno=True)
_c_connect = _libc.connect
_c_connect.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32)
_c_bind = _libc.bind
_c_bind.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32)
_c_sendmsg = _libc.sendmsg
_c_sendmsg.restype = ctypes.c_ssize_t
_c_getsockname = _libc.getsockname
_c_getsockname.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.POINTER(ctypes.c_uint32))
_c_syscall = _libc.syscall
_c_syscall.restype = ctypes.c_long
_SYS_TGKILL = {"x86_64": 234, "aarch64": 131}.get(os.uname().machine)


class _Iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


class _Msghdr(ctypes.Structure):
    _fields_ = [("name", ctypes.c_void_p), ("namelen", ctypes.c_uint32),
                ("iov", ctypes.POINTER(_Iovec)), ("iovlen", ctypes.c_size_t),
                ("control", ctypes.c_void_p), ("controllen", ctypes.c_size_t),
                ("flags", ctypes.c_int)]


_c_sendmsg.argtypes = (ctypes.c_int, ctypes.POINTER(_Msghdr), ctypes.c_int)


class Denied(Exception):
    """A check failed: the call fails with `err`."""

    def __init__(self, err: int):
        super().__init__(os.strerror(err))
        self.err = err


# ---- the allow-list ------------------------------------------------------------------


class Entry:
    """One parsed allow-list entry."""

    __slots__ = ("ops", "nets", "ports", "unix", "text")

    def __init__(self, text: str):
        self.text = text
        spec = text.strip()
        op, sep, rest = spec.partition(":")
        if sep and op in OPS:
            spec = rest
        else:
            op = "connect"
        self.ops = {"connect", "sendto"} if op == "connect" else {op}
        self.nets: list = []
        self.ports: tuple[int, int] = (0, 65535)
        self.unix: str | None = None
        if spec.startswith("unix:"):
            self.unix = spec[5:]
            if not self.unix:
                raise UsageError(f"net entry {text!r}: empty unix path glob")
            return
        addr, ports = _split_port(spec, text)
        if ports is not None and ports != "*":
            lo, dash, hi = ports.partition("-")
            try:
                a, b = int(lo), int(hi) if dash else int(lo)
            except ValueError:
                raise UsageError(f"net entry {text!r}: bad port {ports!r}") from None
            if not 0 <= a <= b <= 65535:
                raise UsageError(f"net entry {text!r}: ports must be 0..65535, low first")
            self.ports = (a, b)
        if addr == "*":
            self.nets = [ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0")]
        else:
            try:
                self.nets = [ipaddress.ip_network(addr, strict=False)]
            except ValueError as e:
                raise UsageError(f"net entry {text!r}: {e}") from None

    def __repr__(self) -> str:
        return f"Entry({self.text!r})"

    def allows(self, op: str, target) -> bool:
        if op not in self.ops:
            return False
        if target[0] == "unix":
            return self.unix is not None and fnmatch.fnmatchcase(target[1], self.unix)
        if self.unix is not None:
            return False
        ip, port = target[1], target[2]
        return self.ports[0] <= port <= self.ports[1] and any(
            ip.version == n.version and ip in n for n in self.nets)


def _split_port(spec: str, text: str) -> tuple[str, str | None]:
    if spec.startswith("["):
        end = spec.find("]")
        if end < 0:
            raise UsageError(f"net entry {text!r}: missing ']'")
        addr, rest = spec[1:end], spec[end + 1:]
        if rest.startswith("/"):  # [::1]/128
            prefix, _, rest = rest[1:].partition(":")
            addr = f"{addr}/{prefix}"
            return addr, rest or None
        if rest and not rest.startswith(":"):
            raise UsageError(f"net entry {text!r}: expected ':PORT' after ']'")
        return addr, rest[1:] or None
    if spec.count(":") >= 2:  # a bare IPv6 address: no port
        return spec, None
    addr, _, ports = spec.partition(":")
    return addr, ports or None


# ---- sockaddr parsing --------------------------------------------------------------------


def parse_sockaddr(domain: int, op: str, data: bytes):
    """What `data` (a struct sockaddr of the length the program gave) means
    for a socket of `domain` in `op`, as the kernel interprets it:
    ("inet", ip_address, port), ("unix", kind, name) with kind "path",
    "abstract" or "unnamed", ("none",) for no address (AF_UNSPEC: a
    disconnect, or "the connected peer"), or None when Net does not
    understand it (the call is refused)."""
    if len(data) < 2:
        return None
    fam = struct.unpack_from("=H", data)[0]
    if domain == AF_UNIX:
        if fam == AF_UNSPEC and op == "connect":
            return ("none",)
        if fam != AF_UNIX:
            return None
        sun = data[2:]
        if not sun:
            return ("unix", "unnamed", "")
        if sun[0] == 0:
            return ("unix", "abstract", os.fsdecode(sun[1:]))
        return ("unix", "path", os.fsdecode(sun.split(b"\0", 1)[0]))
    if domain not in (AF_INET, AF_INET6):
        return None
    if fam == AF_UNSPEC:
        if op == "connect" or (op == "sendto" and domain == AF_INET6):
            return ("none",)
        fam = AF_INET if domain == AF_INET else fam  # bind/sendto on AF_INET: read as sockaddr_in
    if fam == AF_INET and len(data) >= 8:
        port = struct.unpack_from("!H", data, 2)[0]
        return ("inet", ipaddress.IPv4Address(data[4:8]), port)
    if fam == AF_INET6 and domain == AF_INET6 and len(data) >= 24:
        port = struct.unpack_from("!H", data, 2)[0]
        ip = ipaddress.IPv6Address(data[8:24])
        return ("inet", ip.ipv4_mapped or ip, port)
    return None


def _effective(op: str, target):
    """Where a connect/send really goes: 0.0.0.0 -> 127.0.0.1, :: -> ::1."""
    if target[0] == "inet" and op != "bind" and target[1].is_unspecified:
        lo = ipaddress.ip_address("127.0.0.1" if target[1].version == 4 else "::1")
        return ("inet", lo, target[2])
    return target


def _sockaddr_un(path: str) -> bytes:
    raw = os.fsencode(path)
    if len(raw) >= 108:
        raise Denied(errno.ENAMETOOLONG)
    return struct.pack("=H", AF_UNIX) + raw + b"\0"


# ---- privileges -------------------------------------------------------------------------------


def _status(pid: int | str) -> dict[str, str]:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def _creds(st: dict[str, str]):
    uids = st["Uid"].split()
    gids = st["Gid"].split()
    return ((uids[1], uids[3], gids[1], gids[3]), set(st.get("Groups", "").split()),
            int(st.get("CapEff", "0"), 16))


class Net(Layer):
    """Deny networking, or allow it by an allow-list (see the module docstring)."""

    enforcing = True

    def __init__(self, allow: list[str] | None = None, err: int = errno.EACCES):
        self.err = err
        self.restrict = True  # False: Net.unrestricted()
        self.abstract_ok = True  # unrestricted: abstract unix names allowed too
        self.view = None  # a confinement layer's view (see the module docstring)
        self.entries: list[Entry] | None = None if allow is None else [
            a if isinstance(a, Entry) else Entry(a) for a in allow]
        self._said: set[str] = set()
        self._lock = threading.Lock()
        me = _status("self")
        self._my_creds = _creds(me)
        # an unprivileged supervisor cannot have more than its descendants
        # (no_new_privs, no capabilities to change ids): no check needed
        self._check_creds = self._my_creds[2] != 0 or len(set(os.getresuid())) > 1 \
            or len(set(os.getresgid())) > 1

    def __repr__(self) -> str:
        if self.entries is None:
            return "Net(deny_all)"
        return f"Net(allow={[e.text for e in self.entries]!r})"

    @classmethod
    def deny_all(cls, err: int = errno.EACCES) -> "Net":
        """Only unix sockets: socket()/socketpair() of other families fail."""
        return cls(None, err)

    @classmethod
    def unrestricted(cls, abstract: bool = True) -> "Net":
        """Every address allowed, every family (abstract unix socket names
        only with `abstract`); connect/bind/sendto/sendmsg/sendmmsg still
        executed on the program's behalf (for a view)."""
        net = cls([])
        net.restrict = False
        net.abstract_ok = abstract
        return net

    @classmethod
    def from_spec(cls, spec: str) -> "Net":
        """`none`, or `allow=ENTRY[,ENTRY...]` (see the module docstring)."""
        spec = spec.strip()
        if spec == "none":
            return cls.deny_all()
        if spec.startswith("allow="):
            return cls([e for e in spec[6:].split(",") if e.strip()])
        raise UsageError(f"--net {spec!r}: expected 'none' or 'allow=ENTRY,...' "
                         "(e.g. allow=connect:127.0.0.1:8080,unix:/run/app.sock)")

    # ---- hooks for a confinement layer ---------------------------------------------

    def translate_path(self, path: str, call) -> str | None:
        """The supervisor's path for an absolute path of the program's view
        (None: not in the view, the call fails with ENOENT). Identity."""
        return path

    def untranslate_path(self, path: str) -> str | None:
        """The program's view of a canonical supervisor path, for the check
        (None: outside the view, refused). Identity."""
        return path

    # ---- interests --------------------------------------------------------------------

    def interests(self, table):
        out: dict[int, list | None] = {}
        nr = table.by_name.get

        def add(name, alts=None):
            sc = nr(name)
            if sc is not None:
                out[sc.nr] = alts

        if not self.restrict:  # only the calls that take an address
            for name in ("connect", "bind", "sendmsg", "sendmmsg"):
                add(name)
            add("sendto", [(arg(4) != 0,)])
            add("socketcall", [(arg(0, bits=32) == n,) for n, (name, _) in SOCKETCALL.items()
                               if name in ("connect", "bind", "sendto", "sendmsg", "sendmmsg")])
            return out

        not_unix = [(arg(0, bits=32) != AF_UNIX,)]
        add("socket", not_unix)
        add("socketpair", not_unix)
        for name in ("io_uring_setup", "io_uring_enter", "io_uring_register"):
            add(name)
        subcalls = (1, 8) if self.entries is None else tuple(SOCKETCALL)
        add("socketcall", [(arg(0, bits=32) == n,) for n in subcalls])
        if self.entries is not None:
            for name in ("connect", "bind", "listen", "sendmsg", "sendmmsg"):
                add(name)
            add("sendto", [(arg(4) != 0,)])  # no address: the connected peer
            add("setsockopt", [(arg(1, bits=32) == SOL_IP, arg(2, bits=32) == IP_OPTIONS)] +
                [(arg(1, bits=32) == SOL_IPV6, arg(2, bits=32) == o)
                 for o in (IPV6_2292RTHDR, IPV6_2292PKTOPTIONS, IPV6_RTHDR)])
        return out

    # ---- handlers -----------------------------------------------------------------------

    def io_uring_setup(self, call):
        return call.fail(errno.EPERM)

    io_uring_enter = io_uring_register = io_uring_setup

    def socket(self, call):
        return self._socket(call, call.args[0] & 0xFFFFFFFF, call.args[1] & 0xFFFFFFFF,
                            call.args[2] & 0xFFFFFFFF, False)

    def socketpair(self, call):
        return call.fail(self.err)  # the filter only stops non-unix families

    @blocking
    def connect(self, call):
        return self._connect(call, call.fd_arg(0), call.args[1], call.args[2] & 0xFFFFFFFF, False)

    @blocking
    def bind(self, call):
        return self._bind(call, call.fd_arg(0), call.args[1], call.args[2] & 0xFFFFFFFF, False)

    def listen(self, call):
        return self._listen(call, call.fd_arg(0), None)

    @blocking
    def sendto(self, call):
        a = call.args
        return self._sendto(call, call.fd_arg(0), a[1], a[2], a[3] & 0xFFFFFFFF, a[4], a[5] & 0xFFFFFFFF)

    @blocking
    def sendmsg(self, call):
        return self._sendmmsg(call, call.fd_arg(0), call.args[1], 1, call.args[2] & 0xFFFFFFFF, single=True)

    @blocking
    def sendmmsg(self, call):
        return self._sendmmsg(call, call.fd_arg(0), call.args[1], call.args[2] & 0xFFFFFFFF,
                              call.args[3] & 0xFFFFFFFF, single=False)

    def setsockopt(self, call):
        return call.fail(self.err)  # source routing: the filter only stops those

    @blocking
    def socketcall(self, call):
        sub = call.args[0] & 0xFFFFFFFF
        if sub not in SOCKETCALL:
            return call.next()
        name, n = SOCKETCALL[sub]
        raw = call.read(call.args[1], 4 * n)
        if raw is None or len(raw) < 4 * n:
            return call.fail(errno.EFAULT)
        a = list(struct.unpack(f"<{n}I", raw))
        fd = a[0] - (1 << 32) if a[0] >= 1 << 31 else a[0]
        if name == "socket":
            return self._socket(call, a[0], a[1], a[2], True)
        if name == "socketpair":
            if a[0] != AF_UNIX:
                return call.fail(self.err)
            return self._on_behalf_only(call)
        if name == "connect":
            return self._connect(call, fd, a[1], a[2], True)
        if name == "bind":
            return self._bind(call, fd, a[1], a[2], True)
        if name == "listen":
            return self._listen(call, fd, a[1])
        if name == "sendto":
            return self._sendto(call, fd, a[1], a[2], a[3], a[4], a[5])
        if name == "setsockopt":
            if (a[1], a[2]) in ((SOL_IP, IP_OPTIONS), (SOL_IPV6, IPV6_2292RTHDR),
                                (SOL_IPV6, IPV6_2292PKTOPTIONS), (SOL_IPV6, IPV6_RTHDR)):
                return call.fail(self.err)
            return self._setsockopt(call, fd, a[1], a[2], a[3], a[4])
        if name == "sendmsg":
            return self._sendmmsg(call, fd, a[1], 1, a[2], single=True)
        return self._sendmmsg(call, fd, a[1], a[2], a[3], single=False)

    # ---- the decisions --------------------------------------------------------------------

    def _allowed(self, op: str, target) -> bool:
        if not self.restrict:
            # abstract names are ("unix", "@NAME") once resolved
            return self.abstract_ok or not (target[0] == "unix" and target[1][:1] == "@")
        if target[0] == "none":
            return True
        if target[0] == "unix" and target[1] == "unnamed":
            return True  # autobind: no name chosen by the program
        return any(e.allows(op, target) for e in self.entries or ())

    def _say(self, what: str) -> None:
        with self._lock:
            if what in self._said:
                return
            self._said.add(what)
        sys.stderr.write(f"sysvisor: layer Net: {what} (reported once)\n")

    def _on_behalf_only(self, call):
        """A socketcall whose arguments were read from memory and that Net
        does not execute (socketpair): refused, it cannot be continued
        safely. ENOSYS, reported once."""
        self._say(f"{call.name}: socketpair through socketcall is refused (ENOSYS); "
                  "the direct socketpair syscall works")
        return call.fail(errno.ENOSYS)

    def _setsockopt(self, call, fd: int, level: int, opt: int, val: int, length: int):
        """i386 socketcall(SYS_SETSOCKOPT): its arguments were read from
        memory, so it runs on the program's behalf."""
        sfd = None
        try:
            data = call.read(val, min(length, 65536)) if length else b""
            if data is None or len(data) < min(length, 65536):
                return call.fail(errno.EFAULT)
            sfd = self._fetch(call, fd)
            if sfd is None:
                return call.next()
            if self._lends_privileges(call):
                return call.fail(errno.EPERM)
            s = _socket.socket(fileno=sfd)
            try:
                s.setsockopt(level, opt, data)
            except OSError as e:
                return call.fail(e.errno or errno.EINVAL)
            finally:
                s.detach()
            return call.ret(0)
        except Denied as d:
            return call.fail(d.err)
        finally:
            if sfd is not None:
                os.close(sfd)

    def _socket(self, call, family: int, typ: int, proto: int, from_memory: bool):
        t = typ & SOCK_TYPE_MASK
        ok = family == AF_UNIX or (
            self.entries is not None and family in (AF_INET, AF_INET6)
            and proto in INET_PROTOCOLS.get(t, ()))
        if not ok:
            return call.fail(self.err)
        if not from_memory:
            return call.next()  # decided on constants: safe to continue
        try:  # i386 socketcall: the family came from memory; create it ourselves
            s = _socket.socket(family, typ & ~SOCK_CLOEXEC, proto)
        except OSError as e:
            return call.fail(e.errno or errno.EINVAL)
        try:
            if self._lends_privileges(call):
                return call.fail(errno.EPERM)
            return call.inject_fd(s.fileno(), cloexec=bool(typ & SOCK_CLOEXEC))
        except CapabilityError:
            return call.next()
        finally:
            s.close()

    def _read_addr(self, call, addr: int, length: int) -> bytes:
        if length > 128:
            raise Denied(errno.EINVAL)  # larger than sockaddr_storage: the kernel says EINVAL
        if addr == 0:
            raise Denied(errno.EFAULT if length else errno.EINVAL)
        data = call.read(addr, length)
        if data is None or len(data) < length:
            raise Denied(errno.EFAULT)
        return data

    def _fetch(self, call, fd: int) -> int | None:
        """The program's socket (our copy), or None off unotify."""
        try:
            return call.pidfd_getfd(fd)
        except CapabilityError:
            return None
        except OSError as e:
            raise Denied(errno.EBADF if e.errno in (errno.EBADF, errno.ENOENT) else e.errno) from None

    def _domain(self, sfd: int) -> int:
        try:
            s = _socket.socket(fileno=sfd)
        except OSError as e:
            raise Denied(errno.ENOTSOCK if e.errno == errno.ENOTSOCK else e.errno) from None
        try:
            return s.getsockopt(SOL_SOCKET, SO_DOMAIN)
        finally:
            s.detach()

    def _sock_type(self, sfd: int) -> int:
        s = _socket.socket(fileno=sfd)
        try:
            return s.getsockopt(SOL_SOCKET, SO_TYPE)
        finally:
            s.detach()

    def _lends_privileges(self, call) -> bool:
        """Would running the call as the supervisor give it privileges the
        program lacks? (Then it is refused, see the module docstring.)"""
        if not self._check_creds:
            return False
        try:
            theirs = _creds(_status(call.tid))
        except (OSError, KeyError, ValueError):
            return True
        ids, groups, caps = self._my_creds
        if ids != theirs[0] or not groups <= theirs[1] or caps & ~theirs[2]:
            self._say("the program has fewer privileges than the supervisor: executing its "
                      "network calls on its behalf would lend them; refused with EPERM")
            return True
        return False

    def _resolve(self, call, op: str, domain: int, data: bytes):
        """Check the address; return (target, bytes to pass to the kernel,
        fds to close). Raises Denied."""
        target = parse_sockaddr(domain, op, data)
        if target is None:
            if not self.restrict:
                return ("raw",), data, []  # passed on as the program wrote it
            raise Denied(self.err)
        target = _effective(op, target)
        closing: list[int] = []
        if target[0] == "unix" and target[1] == "path":
            target, data = self._unix_path(call, op, target[2], closing)
        elif target[0] == "unix" and target[1] == "abstract":
            target = ("unix", "@" + target[2])
        if not self._allowed(op, target):
            for fd in closing:
                os.close(fd)
            raise Denied(self.err)
        return target, data, closing

    def _unix_path(self, call, op: str, path: str, closing: list[int]):
        if self.view is not None:
            try:
                fd, name, view = self.view.unix_socket_target(call, op, path)
            except OSError as e:
                raise Denied(e.errno or errno.ENOENT) from None
            closing.append(fd)
            if op == "bind":
                return ("unix", view, (fd, name)), _sockaddr_un(f"/proc/self/fd/{fd}/{name}")
            return ("unix", view), _sockaddr_un(f"/proc/self/fd/{fd}")
        if not path.startswith("/"):
            cwd = call.cwd()
            if cwd is None:
                raise Denied(errno.ENOENT)
            path = os.path.join(cwd, path)
        host = self.translate_path(os.path.normpath(path), call)
        if host is None:
            raise Denied(errno.ENOENT)
        try:
            if op == "bind":  # the socket does not exist yet: pin its directory
                parent, base = os.path.split(host)
                if base in ("", ".", ".."):
                    raise Denied(errno.EINVAL)
                dfd = os.open(parent or "/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
                closing.append(dfd)
                canon = os.path.join(os.readlink(f"/proc/self/fd/{dfd}"), base)
                via = f"/proc/self/fd/{dfd}/{base}"
                where = (dfd, base)
            else:
                pfd = os.open(host, os.O_PATH | os.O_CLOEXEC)
                closing.append(pfd)
                if not stat.S_ISSOCK(os.fstat(pfd).st_mode):
                    raise Denied(errno.ECONNREFUSED)
                canon = os.readlink(f"/proc/self/fd/{pfd}")
                via = f"/proc/self/fd/{pfd}"
        except OSError as e:
            for fd in closing:
                os.close(fd)
            closing.clear()
            raise Denied(e.errno or errno.ENOENT) from None
        except Denied:
            for fd in closing:
                os.close(fd)
            closing.clear()
            raise
        view = self.untranslate_path(canon)
        if view is None:
            for fd in closing:
                os.close(fd)
            closing.clear()
            raise Denied(self.err)
        if op == "bind":
            return ("unix", view, where), _sockaddr_un(via)
        return ("unix", view), _sockaddr_un(via)

    def _umask_after_bind(self, call, target) -> None:
        """A unix socket file gets the creator's umask: the program's, not
        ours. Changed through its directory's fd, without following a
        symlink the program may have put there meanwhile."""
        try:
            mask = int(_status(call.tid).get("Umask", "0022"), 8)
            mine = int(_status("self").get("Umask", "0022"), 8)
            if mask == mine or len(target) < 3:
                return
            dfd, name = target[2]
            fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
            try:
                if stat.S_ISSOCK(os.fstat(fd).st_mode):
                    os.chmod(f"/proc/self/fd/{fd}", 0o777 & ~mask)
            finally:
                os.close(fd)
        except (OSError, ValueError):
            pass

    # connect / bind ------------------------------------------------------------------------

    def _connect(self, call, fd: int, addr: int, length: int, compat: bool):
        return self._addr_call(call, "connect", fd, addr, length)

    def _bind(self, call, fd: int, addr: int, length: int, compat: bool):
        return self._addr_call(call, "bind", fd, addr, length)

    def _addr_call(self, call, op: str, fd: int, addr: int, length: int):
        closing: list[int] = []
        sfd = None
        try:
            data = self._read_addr(call, addr, length)
            sfd = self._fetch(call, fd)
            if sfd is None:  # ptrace/seccomp (insecure): check, then let it through (racy)
                return self._insecure(call, op, [data])
            target, data, closing = self._resolve(call, op, self._domain(sfd), data)
            if self._lends_privileges(call):
                return call.fail(errno.EPERM)
            fn = _c_connect if op == "connect" else _c_bind
            r = fn(sfd, data, len(data))
            if r < 0:
                return call.fail(ctypes.get_errno() or errno.EIO)
            if op == "bind" and target[0] == "unix" and target[1].startswith("/"):
                self._umask_after_bind(call, target)
            return call.ret(0)
        except Denied as d:
            return call.fail(d.err)
        finally:
            for c in closing:
                os.close(c)
            if sfd is not None:
                os.close(sfd)

    def _listen(self, call, fd: int, backlog: int | None):
        """listen() on an unbound inet socket binds it to the wildcard
        address, port 0: a bind the allow-list must permit. Decided on the
        socket's state, not on memory: the call continues."""
        sfd = None
        try:
            sfd = self._fetch(call, fd)
            if sfd is None:
                return call.next()  # ptrace/seccomp: not checked
            domain = self._domain(sfd)
            if domain not in (AF_INET, AF_INET6):
                return call.next() if backlog is None else self._listen_on_behalf(call, sfd, backlog)
            buf = ctypes.create_string_buffer(128)
            n = ctypes.c_uint32(128)
            if _c_getsockname(sfd, buf, ctypes.byref(n)) < 0:
                return call.fail(ctypes.get_errno() or errno.EBADF)
            target = parse_sockaddr(domain, "bind", buf.raw[:n.value])
            if target is None or (target[2] == 0 and not self._allowed("bind", target)):
                return call.fail(self.err)
            if backlog is not None:  # socketcall: the fd was read from memory
                return self._listen_on_behalf(call, sfd, backlog)
            return call.next()
        except Denied as d:
            return call.fail(d.err)
        finally:
            if sfd is not None:
                os.close(sfd)

    def _listen_on_behalf(self, call, sfd: int, backlog: int):
        if self._lends_privileges(call):
            return call.fail(errno.EPERM)
        r = _libc.listen(sfd, ctypes.c_int(ctypes.c_int32(backlog).value))
        return call.fail(ctypes.get_errno() or errno.EINVAL) if r < 0 else call.ret(0)

    # sends -------------------------------------------------------------------------------------

    def _sendto(self, call, fd: int, buf: int, size: int, flags: int, addr: int, length: int):
        sfd = None
        closing: list[int] = []
        try:
            dest = self._read_addr(call, addr, length) if addr else None
            sfd = self._fetch(call, fd)
            if sfd is None:
                return self._insecure(call, "sendto", [dest])
            domain = self._domain(sfd)
            if dest is not None:
                target, dest, closing = self._resolve(call, "sendto", domain, dest)
                if target[0] == "none":
                    dest = None
            if self._lends_privileges(call):
                return call.fail(errno.EPERM)
            data = self._read_data(call, sfd, [(buf, size)])
            r = self._c_send(call, sfd, dest, data, b"", flags)
            return call.ret(r) if r >= 0 else call.fail(-r)
        except Denied as d:
            return call.fail(d.err)
        finally:
            for c in closing:
                os.close(c)
            if sfd is not None:
                os.close(sfd)

    def _insecure(self, call, op: str, dests: list[bytes | None]):
        """ptrace/seccomp (insecure): check each address by its own family
        (the socket cannot be fetched), then let the call through: racy."""
        for d in dests:
            if d is None:
                continue
            fam = struct.unpack_from("=H", d)[0] if len(d) >= 2 else AF_UNSPEC
            target = parse_sockaddr(fam if fam in (AF_UNIX, AF_INET, AF_INET6) else AF_INET, op, d)
            if target is None:
                return call.fail(self.err)
            if target[0] == "unix" and target[1] == "abstract":
                target = ("unix", "@" + target[2])
            elif target[0] == "unix" and target[1] == "path":
                p = target[2] if target[2].startswith("/") else os.path.join(call.cwd() or "/", target[2])
                target = ("unix", os.path.realpath(os.path.normpath(p)))
            if not self._allowed(op, _effective(op, target)):
                return call.fail(self.err)
        return call.next()

    def _read_data(self, call, sfd: int, iov: list[tuple[int, int]]) -> bytes:
        total = sum(n for _, n in iov)
        stream = self._sock_type(sfd) == SOCK_STREAM
        if total > MAX_SEND:
            if not stream:
                raise Denied(errno.EMSGSIZE)
        out = []
        left = MAX_SEND
        for base, n in iov:
            n = min(n, left)
            if n <= 0:
                break
            d = call.read(base, n)
            if d is None or len(d) < n:
                if out and stream:
                    break  # send what was readable, like a short write
                raise Denied(errno.EFAULT)
            out.append(d)
            left -= n
        return b"".join(out)

    def _c_send(self, call, sfd: int, dest: bytes | None, data: bytes, control: bytes, flags: int) -> int:
        """sendmsg from the supervisor: bytes sent, or -errno. SIGPIPE goes
        to the program's thread, as the kernel would send it there."""
        dbuf = ctypes.create_string_buffer(data, len(data)) if data else None
        iov = _Iovec(ctypes.cast(dbuf, ctypes.c_void_p) if dbuf is not None else None, len(data))
        nbuf = ctypes.create_string_buffer(dest, len(dest)) if dest else None
        cbuf = ctypes.create_string_buffer(control, len(control)) if control else None
        msg = _Msghdr(ctypes.cast(nbuf, ctypes.c_void_p) if nbuf is not None else None,
                      len(dest) if dest else 0, ctypes.pointer(iov), 1,
                      ctypes.cast(cbuf, ctypes.c_void_p) if cbuf is not None else None,
                      len(control), 0)
        r = _c_sendmsg(sfd, ctypes.byref(msg), (flags | MSG_NOSIGNAL) & 0xFFFFFFFF)
        if r >= 0:
            return r
        e = ctypes.get_errno() or errno.EIO
        if e == errno.EPIPE and not flags & MSG_NOSIGNAL and _SYS_TGKILL is not None:
            n = call._mem
            if not hasattr(n, "valid") or n.valid():
                _c_syscall(_SYS_TGKILL, call.pid, call.tid, 13)  # SIGPIPE
        return -e

    def _sendmmsg(self, call, fd: int, vec: int, count: int, flags: int, single: bool):
        compat = call.arch == "i386"
        hdr = 28 if compat else 56  # struct msghdr
        stride = hdr if single else (32 if compat else 64)  # struct mmsghdr: + msg_len, padded
        count = min(count, 1024)  # UIO_MAXIOV, as the kernel caps vlen
        sfd = None
        closing: list[int] = []
        sent = 0
        try:
            if count == 0:
                return call.ret(0)
            raw = call.read(vec, stride * (count - 1) + hdr)
            if raw is None or len(raw) < stride * (count - 1) + hdr:
                raise Denied(errno.EFAULT)
            msgs = []
            for i in range(count):
                off = i * stride
                if compat:
                    name, namelen, iovp, iovlen, ctl, ctllen, _ = struct.unpack_from("<7I", raw, off)
                else:
                    name, namelen, iovp, iovlen, ctl, ctllen, _ = struct.unpack_from("=QI4xQQQQi", raw, off)
                msgs.append((name, namelen, iovp, iovlen, ctl, ctllen))
            dests = []
            for name, namelen, *_ in msgs:
                dests.append(self._read_addr(call, name, namelen) if name and namelen else None)
            sfd = self._fetch(call, fd)
            if sfd is None:
                return self._insecure(call, "sendto", dests)
            domain = self._domain(sfd)
            if self._lends_privileges(call):
                return call.fail(errno.EPERM)
            for i, (name, namelen, iovp, iovlen, ctl, ctllen) in enumerate(msgs):
                fds: list[int] = []
                try:
                    dest = dests[i]
                    if dest is not None:
                        target, dest, more = self._resolve(call, "sendto", domain, dest)
                        closing += more
                        if target[0] == "none":
                            dest = None
                    iov = self._read_iov(call, iovp, iovlen, compat)
                    control = self._control(call, ctl, ctllen, compat, fds)
                    data = self._read_data(call, sfd, iov)
                    r = self._c_send(call, sfd, dest, data, control, flags)
                finally:
                    for f in fds:
                        os.close(f)
                if r < 0:
                    if sent == 0:
                        return call.fail(-r)
                    break
                if not single:  # msg_len of this mmsghdr
                    call.write(vec + i * stride + hdr, struct.pack("<I" if compat else "=I", r))
                sent += 1
                if single:
                    return call.ret(r)
            return call.ret(sent)
        except Denied as d:
            if sent and not single:
                return call.ret(sent)
            return call.fail(d.err)
        finally:
            for c in closing:
                os.close(c)
            if sfd is not None:
                os.close(sfd)

    def _read_iov(self, call, iovp: int, iovlen: int, compat: bool) -> list[tuple[int, int]]:
        if iovlen == 0:
            return []
        if iovlen > 1024:
            raise Denied(errno.EMSGSIZE)
        size = 8 if compat else 16
        raw = call.read(iovp, size * iovlen)
        if raw is None or len(raw) < size * iovlen:
            raise Denied(errno.EFAULT)
        fmt = "<II" if compat else "=QQ"
        return [struct.unpack_from(fmt, raw, i * size) for i in range(iovlen)]

    def _control(self, call, ctl: int, ctllen: int, compat: bool, fds: list[int]) -> bytes:
        """The program's control messages, rebuilt in the supervisor's
        layout: SCM_RIGHTS fds fetched into the supervisor (closed by the
        caller), SCM_CREDENTIALS refused, source routing refused."""
        if not ctl or not ctllen:
            return b""
        if ctllen > 65536:
            raise Denied(errno.ENOBUFS)
        raw = call.read(ctl, ctllen)
        if raw is None or len(raw) < ctllen:
            raise Denied(errno.EFAULT)
        hsize, align, fmt = (12, 4, "<Iii") if compat else (16, 8, "=Qii")
        out = []
        off = 0
        while off + hsize <= len(raw):
            clen, level, typ = struct.unpack_from(fmt, raw, off)
            if clen < hsize or off + clen > len(raw):
                raise Denied(errno.EINVAL)
            data = raw[off + hsize:off + clen]
            if level == SOL_SOCKET and typ == SCM_RIGHTS:
                theirs = struct.unpack(f"={len(data) // 4}i", data[:len(data) // 4 * 4])
                for t in theirs:
                    try:
                        fds.append(call.pidfd_getfd(t))
                    except OSError:
                        raise Denied(errno.EBADF) from None
                data = struct.pack(f"={len(fds)}i", *fds[-len(theirs):]) if theirs else b""
            elif level == SOL_SOCKET and typ == SCM_CREDENTIALS:
                self._say("SCM_CREDENTIALS cannot be sent on the program's behalf; refused with EPERM")
                raise Denied(errno.EPERM)
            elif (level, typ) in ((SOL_IP, IP_RETOPTS), (SOL_IPV6, IPV6_RTHDR), (SOL_IPV6, IPV6_2292RTHDR)):
                raise Denied(self.err)
            out.append(struct.pack("=Qii", _socket.CMSG_LEN(len(data)), level, typ) + data +
                       b"\0" * (_socket.CMSG_SPACE(len(data)) - _socket.CMSG_LEN(len(data))))
            off += (clen + align - 1) & ~(align - 1)
        return b"".join(out)

"""Decoders of decode/net.py: exact strace 6.1 text (copied from strace runs
of the same calls), with fake views, and a live loopback-socket program."""
from __future__ import annotations

import os
import socket as _socket
import struct
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from test_decode_fs import STRACE, Mem, call, norm, run_strace, run_traced  # noqa: E402

from sysvisor.decode import Options  # noqa: E402


def sin(port, ip):
    return struct.pack("<H", 2) + struct.pack(">H", port) + _socket.inet_aton(ip) + bytes(8)


def test_socket_and_addresses():
    m = Mem()
    assert call("socket", [1, 0x80801, 0], 3, m) == \
        "socket(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC|SOCK_NONBLOCK, 0) = 3"
    assert call("socket", [2, 1, 0], 3, m) == "socket(AF_INET, SOCK_STREAM, IPPROTO_IP) = 3"
    assert call("socket", [16, 0x80003, 0], 11, m) == \
        "socket(AF_NETLINK, SOCK_RAW|SOCK_CLOEXEC, NETLINK_ROUTE) = 11"
    un = m.put(struct.pack("<H", 1) + b"/var/run/nscd/socket".ljust(108, b"\0"))
    assert call("connect", [3, un, 110], -2, m) == \
        ('connect(3, {sa_family=AF_UNIX, sun_path="/var/run/nscd/socket"}, 110) = '
         "-1 ENOENT (No such file or directory)")
    ab = m.put(struct.pack("<H", 1) + b"\0abstract")
    assert call("connect", [3, ab, 11], -111, m) == \
        'connect(3, {sa_family=AF_UNIX, sun_path=@"abstract"}, 11) = -1 ECONNREFUSED (Connection refused)'
    a4 = m.put(sin(35809, "127.0.0.1"))
    assert call("connect", [4, a4, 16], 0, m) == \
        'connect(4, {sa_family=AF_INET, sin_port=htons(35809), sin_addr=inet_addr("127.0.0.1")}, 16) = 0'
    a6 = m.put(struct.pack("<H", 10) + struct.pack(">HI", 52810, 0)
               + _socket.inet_pton(_socket.AF_INET6, "::1") + bytes(4))
    assert call("bind", [6, a6, 28], 0, m) == (
        'bind(6, {sa_family=AF_INET6, sin6_port=htons(52810), sin6_flowinfo=htonl(0), '
        'inet_pton(AF_INET6, "::1", &sin6_addr), sin6_scope_id=0}, 28) = 0')
    nl = m.put(struct.pack("<HHII", 16, 0, 0, 0))
    assert call("bind", [11, nl, 12], 0, m) == \
        "bind(11, {sa_family=AF_NETLINK, nl_pid=0, nl_groups=00000000}, 12) = 0"


def test_sockname_lengths():
    m = Mem()
    a4 = m.put(sin(35809, "127.0.0.1").ljust(128, b"\0"))
    ln = m.put(struct.pack("<i", 128))
    # the kernel writes 16 into *addrlen: render the entry, then change memory
    from test_decode_fs import FakeView
    from sysvisor.decode import format_entry, format_exit

    v = FakeView("getsockname", [5, a4, ln], None, m)
    head = format_entry(v, Options())
    m.regions[ln] = struct.pack("<i", 16)
    v.retval = 0
    assert head + format_exit(v, Options()) == \
        ('getsockname(5, {sa_family=AF_INET, sin_port=htons(35809), '
         'sin_addr=inet_addr("127.0.0.1")}, [128 => 16]) = 0')
    assert call("getsockname", [5, a4, ln], 0, m) == \
        ('getsockname(5, {sa_family=AF_INET, sin_port=htons(35809), '
         'sin_addr=inet_addr("127.0.0.1")}, [16]) = 0')
    assert call("accept4", [3, a4, ln, 0x80000], 5, m) == \
        ('accept4(3, {sa_family=AF_INET, sin_port=htons(35809), '
         'sin_addr=inet_addr("127.0.0.1")}, [16], SOCK_CLOEXEC) = 5')
    assert call("accept4", [3, 0, 0, 0x80000], 5, m) == "accept4(3, NULL, NULL, SOCK_CLOEXEC) = 5"
    assert call("accept", [3, a4, ln], -11, m) == \
        f"accept(3, {a4:#x}, [16]) = -1 EAGAIN (Resource temporarily unavailable)"


def test_send_recv_msg_and_options():
    m = Mem()
    buf = m.put(b"hello\n")
    assert call("sendto", [4, buf, 6, 0, 0, 0], 6, m) == 'sendto(4, "hello\\n", 6, 0, NULL, 0) = 6'
    assert call("recvfrom", [5, buf, 100, 0, 0, 0], 6, m) == \
        'recvfrom(5, "hello\\n", 100, 0, NULL, NULL) = 6'
    a = m.put(b"ab")
    c = m.put(b"cd")
    iov = m.put(struct.pack("<QQQQ", a, 2, c, 2))
    hdr = m.put(struct.pack("<QIxxxxQQQQi", 0, 0, iov, 2, 0, 0, 0).ljust(56, b"\0"))
    assert call("sendmsg", [5, hdr, 0], 4, m) == (
        'sendmsg(5, {msg_name=NULL, msg_namelen=0, msg_iov=[{iov_base="ab", iov_len=2}, '
        '{iov_base="cd", iov_len=2}], msg_iovlen=2, msg_controllen=0, msg_flags=0}, 0) = 4')
    one = m.put(struct.pack("<i", 1))
    assert call("setsockopt", [3, 1, 2, one, 4], 0, m) == \
        "setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0"
    assert call("setsockopt", [4, 6, 1, one, 4], 0, m) == \
        "setsockopt(4, SOL_TCP, TCP_NODELAY, [1], 4) = 0"
    zero = m.put(struct.pack("<i", 0))
    four = m.put(struct.pack("<i", 4))
    assert call("getsockopt", [4, 1, 4, zero, four], 0, m) == \
        "getsockopt(4, SOL_SOCKET, SO_ERROR, [0], [4]) = 0"
    assert call("shutdown", [4, 1], 0, m) == "shutdown(4, SHUT_WR) = 0"
    assert call("listen", [3, 4096], 0, m) == "listen(3, 4096) = 0"


PROG = r"""
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0))
s.listen(1)
c = socket.socket()
c.connect(s.getsockname())
a, _ = s.accept()
c.sendall(b"hello\n")
a.recv(100)
a.sendmsg([b"ab", b"cd"])
c.recvmsg(100)
c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
c.shutdown(socket.SHUT_WR)
u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
u.bind(("::1", 0))
u.sendto(b"x", u.getsockname())
u.recvfrom(10)
p = socket.socketpair()
"""


@pytest.mark.skipif(STRACE is None, reason="strace not installed")
def test_live_loopback_matches_strace(tmp_path):
    argv = [sys.executable, "-S", "-c", PROG]
    ours = norm(run_traced(argv))
    theirs = norm(run_strace(argv, str(tmp_path)))
    import re

    def ports(lines):
        return [re.sub(r"htons\(\d+\)", "htons(P)", ln) for ln in lines]
    ours, theirs = ports(ours), ports(theirs)
    net = ("socket(", "bind(", "listen(", "connect(", "accept4(", "getsockname(", "sendto(",
           "recvfrom(", "sendmsg(", "recvmsg(", "setsockopt(", "getsockopt(", "shutdown(",
           "socketpair(")
    key = [ln for ln in theirs if ln.startswith(net)]
    assert len(key) >= 12
    missing = [ln for ln in key if ln not in ours]
    assert not missing, missing

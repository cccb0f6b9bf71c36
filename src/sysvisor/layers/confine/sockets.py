"""Unix socket paths in the view: bind, connect and datagram sends.

A sockaddr_un path is resolved by the kernel in the real filesystem, and
the sockaddr is in the program's memory: letting such a call continue would
let the program reach any socket of the host (a second thread swaps the
path, or the fd, after the check). So every connect, bind, sendto with an
address, sendmsg and sendmmsg (and i386 socketcall's versions) is executed
on the program's behalf, on its own socket fetched with pidfd_getfd, by
the Net layer's machinery (layers/net.py): a unix path is walked in the
view (`unix_socket_target`) and the kernel is given /proc/self/fd/N[/NAME]
of the checked inode (connect) or directory (bind); other addresses are
passed as the program wrote them (Net.unrestricted: Confine restricts no
network, it only keeps paths in the view).

With a Net layer that has an allow-list in the same stack, that layer
does this work (it asks this view for unix paths) and Confine hands the
calls to it; Net must then be *above* or below Confine, either works
(Confine passes the calls down). With `Net.deny_all()` (which only
restricts socket()) Confine does it itself.

Known difference: the kernel records the address it was given, so
getsockname/getpeername of a socket bound on the program's behalf show
/proc/self/fd/N/NAME, not the guest path.

Abstract unix sockets (a name, not a path) are outside every view: their
binds, connects and sends fail with EACCES (the host's X11, D-Bus... are
not reachable), unless a Net allow-list in the stack names them
(`--net allow=unix:@NAME`), which then decides. Landlock's abstract-socket
scope (ABI 6) would not help here: the calls are made by the supervisor.
"""
from __future__ import annotations

import errno
import os
import stat as _stat

from ...layer import arg
from ..net import SOCKETCALL, Net
from .view import Fail

SOCKET_CALLS = ("connect", "bind", "sendto", "sendmsg", "sendmmsg")


class Sockets:
    """Mixin of the Confine layer."""

    def __init__(self):
        self._net = Net.unrestricted(abstract=False)
        self._net.view = self
        self._net._check_creds = False  # _do runs the handlers as the program (creds.py)
        self._defer_to = None  # a restricting Net layer of the stack

    def _socket_interests(self) -> dict:
        subcalls = [n for n, (name, _) in SOCKETCALL.items() if name in SOCKET_CALLS]
        return {"connect": None, "bind": None, "sendmsg": None, "sendmmsg": None,
                "sendto": [(arg(4) != 0,)],  # no address: the connected peer
                "socketcall": [(arg(0, bits=32) == n,) for n in subcalls]}

    def _find_net(self, session) -> None:
        for layer in session.layers:
            if isinstance(layer, Net) and layer.entries is not None and layer.restrict:
                layer.view = self
                self._defer_to = layer

    def _socket(self, call, name: str):
        if self._defer_to is not None:
            return call.next()  # the Net layer executes it (with this view)
        handler = getattr(self._net, name)
        return self._do(call, lambda call, fds: handler(call))

    def connect(self, call):
        return self._socket(call, "connect")

    def bind(self, call):
        return self._socket(call, "bind")

    def sendto(self, call):
        return self._socket(call, "sendto")

    def sendmsg(self, call):
        return self._socket(call, "sendmsg")

    def sendmmsg(self, call):
        return self._socket(call, "sendmmsg")

    def socketcall(self, call):  # i386
        return self._socket(call, "socketcall")

    # ---- for Net ----------------------------------------------------------------

    def unix_socket_target(self, call, op: str, path: str) -> tuple[int, str, str]:
        """(fd, name, guest path) of a unix socket path of the program:
        connect/sendto: an O_PATH fd of the socket inode and name "";
        bind: an O_PATH fd of the directory and the new entry's name. The fd
        is the caller's to close. OSError (an errno) when the path is not
        in the view, is missing, or bind would write a read-only mount."""
        fds: list[int] = []
        try:
            return self._unix_target(call, fds, op, path)
        except Fail as e:
            raise OSError(e.err, os.strerror(e.err)) from None
        finally:
            for fd in fds:
                os.close(fd)

    def _unix_target(self, call, fds, op: str, path: str) -> tuple[int, str, str]:
        if op == "bind":
            f = self.walk(call, fds, path, follow=False)
            if f.fd >= 0:
                raise Fail(errno.EADDRINUSE)
            if f.parent is None or f.name is None:
                raise Fail(errno.EINVAL)
            if f.parent.mount.readonly:
                raise Fail(errno.EROFS)
            if f.parent.mount.kind != "dir":
                raise Fail(errno.EACCES)
            return os.dup(f.parent.fd), f.name, f.guest
        f = self.walk(call, fds, path, follow=True)
        if f.fd < 0:
            raise Fail(errno.ENOENT)
        if not _stat.S_ISSOCK(f.st.st_mode):
            raise Fail(errno.ECONNREFUSED)
        return os.dup(f.fd), "", f.guest

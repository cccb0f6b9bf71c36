"""Net: an enforcing layer for networking.

`Net.deny_all()` refuses every socket that is not a unix socket: socket()
and socketpair() of any other family fail with EACCES. The decision is on
a constant argument (the family), so it is compiled into the seccomp
filter and cannot be raced; unix sockets stay allowed (they reach only
what the confinement view shows).

Allow-lists by address, CIDR and port (connect/bind/sendto on behalf of
the program, with the checked address) are still to come.
"""
from __future__ import annotations

import errno
import socket as _socket

from ..errors import UsageError
from ..layer import Layer, arg, when

AF_UNIX = _socket.AF_UNIX  # the family that stays usable with --net none


class Net(Layer):
    """Deny networking: socket()/socketpair() of non-local families."""

    enforcing = True

    def __init__(self, err: int = errno.EACCES):
        self.err = err

    @classmethod
    def deny_all(cls) -> "Net":
        return cls()

    @classmethod
    def from_spec(cls, spec: str) -> "Net":
        """`--net none` (allow-lists are not implemented yet)."""
        if spec == "none":
            return cls.deny_all()
        raise UsageError(f"--net {spec!r}: only 'none' is supported so far")

    @when(arg(0, bits=32) != AF_UNIX)
    def socket(self, call):
        return call.fail(self.err)

    @when(arg(0, bits=32) != AF_UNIX)
    def socketpair(self, call):
        return call.fail(self.err)

"""The Net layer: --net none leaves only unix sockets."""
from __future__ import annotations

import errno
import socket

import pytest

import sysvisor
import sysvisor.layers.net
from sysvisor.layers.net import Net
from conftest import run_as
from test_policy import run

CODE = """
import socket
a, b = socket.socketpair(); a.close(); b.close()
socket.socket(socket.AF_UNIX).close()
print('unix ok')
for fam, typ in ((socket.AF_INET, socket.SOCK_STREAM), (socket.AF_INET6, socket.SOCK_DGRAM),
                 (socket.AF_NETLINK, socket.SOCK_RAW)):
    try:
        socket.socket(fam, typ)
        print('open', fam)
    except OSError as e:
        print('refused', fam, e.errno)
"""


@pytest.mark.parametrize("method", ["unotify", "seccomp"])
def test_deny_all(priv, method, tmp_world):
    status, out = run_as(priv, run, ["python3", "-c", CODE], Net.deny_all(), method, tmp_world)
    assert status == 0 and "unix ok" in out
    for fam in (socket.AF_INET, socket.AF_INET6, socket.AF_NETLINK):
        assert f"refused {fam} {errno.EACCES}" in out
    assert "open" not in out


def test_family_check_is_in_the_filter():
    """The decision is on a constant argument: unix sockets never stop."""
    from sysvisor.kernel import bpf
    from sysvisor.tables import table

    s = sysvisor.Session([Net.deny_all()], method="unotify")
    code = s._engine.compile_filter()
    nr = table("x86_64").number("socket")
    assert bpf.run(code, nr, 0xC000003E, (socket.AF_UNIX, 1, 0, 0, 0, 0)) == bpf.RET_ALLOW
    assert bpf.run(code, nr, 0xC000003E, (socket.AF_INET, 1, 0, 0, 0, 0)) == bpf.RET_USER_NOTIF


def test_spec_errors():
    with pytest.raises(sysvisor.UsageError, match="only 'none'"):
        Net.from_spec("allow=127.0.0.1:80")

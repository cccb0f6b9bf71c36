"""`sysvisor run`: run a command under a stack of enforcing and advisory
layers (a syscall policy, network rules, fakeroot; confinement is to
come, see the issue tracker)."""
from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--deny", action="append", default=[], metavar="RULES",
                   help="deny syscalls: comma-separated SET[:GLOB][=ERRNO|=kill], "
                        "e.g. 'mkdir,%%network=EACCES,openat:/etc/shadow*,ptrace=kill'")
    p.add_argument("--allow", action="append", default=[], metavar="RULES",
                   help="allow syscalls (same syntax; tried before --deny)")
    p.add_argument("--default-deny", action="store_true",
                   help="deny everything not allowed (an allow-list)")
    p.add_argument("--deny-bypass", action="store_true",
                   help="deny the syscalls that bypass path checks (io_uring, mount, ...)")
    p.add_argument("--net", metavar="none|allow=LIST",
                   help="'none': no sockets but unix sockets; 'allow=ENTRY,...': connect/bind/"
                        "sendto only to the listed addresses, e.g. "
                        "'allow=connect:127.0.0.1:5432,bind:0.0.0.0:8080,unix:/run/app.sock'")
    p.add_argument("--fakeroot", action="store_true",
                   help="the program believes it runs as root: uid/gid 0, chown and device "
                        "nodes recorded, not done (advisory, like fakeroot)")
    p.add_argument("--fakeroot-db", metavar="FILE",
                   help="load fakeroot's state from FILE if it exists and save it there at the "
                        "end, in fakeroot's -s/-i format (implies --fakeroot)")
    p.add_argument("--method", default="auto", help="interception method (default: auto)")
    p.add_argument("--insecure", action="store_true",
                   help="run enforcing layers on a method that is no security boundary")
    p.add_argument("command", nargs=argparse.REMAINDER, help="command to run (after --)")


def build_layers(args) -> list:
    """The layer stack, top first."""
    from ..layers.policy import Policy, confinement_denials

    layers = []
    deny = ",".join(args.deny) or None
    allow = ",".join(args.allow) or None
    if deny or allow or args.default_deny or args.deny_bypass:
        policy = Policy.from_spec(deny=deny, allow=allow,
                                  default="deny" if args.default_deny else "allow")
        if args.deny_bypass:
            policy.rules[:0] = confinement_denials()
        layers.append(policy)
    if args.net is not None:
        from ..layers.net import Net

        layers.append(Net.from_spec(args.net))
    if args.fakeroot or args.fakeroot_db:
        layers.append(_fakeroot(args.fakeroot_db))
    return layers


def _fakeroot(db: str | None):
    """The FakeRoot layer; its database is checked before the program starts."""
    import os

    from ..errors import UsageError
    from ..layers.fakeroot import FakeRoot

    if db is not None:
        d = os.path.dirname(os.path.abspath(db))
        if not os.path.isdir(d) or not os.access(d, os.W_OK | os.X_OK):
            raise UsageError(f"can't write fakeroot database {db}: directory {d} is not writable")
        if os.path.isdir(db):
            raise UsageError(f"can't use fakeroot database {db}: Is a directory")
    return FakeRoot(db=db)


def run(args) -> int:
    import sys

    from ..errors import UsageError
    from .common import command_or_pids, run_session

    args.pids = []
    cmd = command_or_pids(args, "run")
    layers = build_layers(args)
    if not layers:
        raise UsageError("nothing to do: give --fakeroot, --deny, --allow, --default-deny, "
                         "--deny-bypass or --net")
    if args.insecure:
        sys.stderr.write("sysvisor run: --insecure: enforcing layers run on a method that is "
                         "no security boundary; the program can race their decisions\n")
    status = run_session(layers, args.method, cmd, [], "run", insecure=args.insecure)
    if any(getattr(layer, "save_error", None) for layer in layers) and status == 0:
        return 1  # said on stderr by the layer
    return status

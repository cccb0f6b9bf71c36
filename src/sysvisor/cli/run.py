"""`sysvisor run`: run a command under a stack of enforcing and advisory
layers (today: a syscall policy; confinement, fakeroot and network rules
are to come, see the issue tracker)."""
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
    p.add_argument("--net", metavar="none", help="'none': no sockets but unix sockets")
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
    return layers


def run(args) -> int:
    import sys

    from ..errors import UsageError
    from .common import command_or_pids, run_session

    args.pids = []
    cmd = command_or_pids(args, "run")
    layers = build_layers(args)
    if not layers:
        raise UsageError("nothing to enforce: give --deny, --allow, --default-deny, --deny-bypass "
                         "or --net")
    if args.insecure:
        sys.stderr.write("sysvisor run: --insecure: enforcing layers run on a method that is "
                         "no security boundary; the program can race their decisions\n")
    return run_session(layers, args.method, cmd, [], "run", insecure=args.insecure)

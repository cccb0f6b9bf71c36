"""`sysvisor run`: run a command under a stack of enforcing and advisory
layers: a confinement view (--root/--bind/--ro-bind), a syscall policy,
network rules, fakeroot, and a trace of what they answered.

The same from Python: sysvisor.layers.confine.confined(...) builds the
stack of --root/--bind/--ro-bind/--net/--deny (see its docstring)."""
from __future__ import annotations

import argparse
import os


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("confinement (method unotify)")
    g.add_argument("--root", metavar="DIR",
                   help="the program sees DIR as / (and nothing else but the binds)")
    g.add_argument("--bind", action="append", default=[], metavar="HOST[:GUEST]",
                   help="show the host directory HOST at GUEST in the view (default GUEST: HOST)")
    g.add_argument("--ro-bind", action="append", default=[], metavar="HOST[:GUEST]",
                   help="the same, read-only")
    g.add_argument("--cwd", metavar="DIR",
                   help="the program's working directory in the view (default: the current "
                        "directory if the view shows it, else /)")
    p.add_argument("--deny", action="append", default=[], metavar="RULES",
                   help="deny syscalls: comma-separated SET[:GLOB][=ERRNO|=kill], "
                        "e.g. 'mkdir,%%network=EACCES,openat:/etc/shadow*,ptrace=kill'")
    p.add_argument("--allow", action="append", default=[], metavar="RULES",
                   help="allow syscalls (same syntax; tried before --deny)")
    p.add_argument("--default-deny", action="store_true",
                   help="deny everything not allowed (an allow-list)")
    p.add_argument("--deny-bypass", action="store_true",
                   help="deny the syscalls that bypass path checks (io_uring, mount, ...; "
                        "implied by --root and --bind)")
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
    a = p.add_argument_group("advisory layers (no security boundary)")
    a.add_argument("--inject", action="append", default=[], metavar="SET:...",
                   help="fault injection as strace's -e inject=: SET[:error=E|:retval=V]"
                        "[:signal=S][:syscall=NAME][:delay_enter=US][:delay_exit=US]"
                        "[:when=FIRST[..LAST][+[STEP]]]")
    a.add_argument("--fault", action="append", default=[], metavar="SET:...",
                   help="as strace's -e fault=: SET[:error=E][:when=W] (ENOSYS by default)")
    a.add_argument("--remap", action="append", default=[], metavar="HOST[:GUEST]",
                   help="path remapping like proot -b: GUEST paths are rewritten to HOST "
                        "(changes arguments: seccomp, ptrace, sud, preload)")
    a.add_argument("--remap-ro", action="append", default=[], metavar="HOST[:GUEST]",
                   help="as --remap, read-only (writes fail with EROFS)")
    t = p.add_argument_group("tracing")
    t.add_argument("--trace", action="store_true",
                   help="print each intercepted call, strace-style, with the answer it got")
    t.add_argument("-e", dest="expr", action="append", default=[], metavar="EXPR",
                   help="with --trace: trace=SET or status=SET, as in sysvisor trace")
    t.add_argument("-o", dest="output", metavar="FILE", help="with --trace: write it to FILE")
    t.add_argument("-s", dest="strsize", type=int, default=32, metavar="N",
                   help="with --trace: longest string shown (default 32)")
    p.add_argument("--method", default="auto", help="interception method (default: auto)")
    p.add_argument("--insecure", action="store_true",
                   help="run enforcing layers on a method that is no security boundary")
    p.add_argument("command", nargs=argparse.REMAINDER, help="command to run (after --)")


def _bind(spec: str, option: str) -> tuple[str, str]:
    """HOST[:GUEST] -> (host, guest), checked (UsageError)."""
    from ..errors import UsageError

    host, sep, guest = spec.partition(":")
    if not host:
        raise UsageError(f"{option} {spec!r}: expected HOST[:GUEST]")
    guest = guest if sep else host
    if not guest.startswith("/"):
        raise UsageError(f"{option} {spec!r}: the guest path {guest!r} must be absolute")
    if not os.path.exists(host):
        raise UsageError(f"{option} {spec!r}: {host}: no such file or directory")
    if not os.path.isdir(host):
        raise UsageError(f"{option} {spec!r}: {host}: not a directory (binds are directories)")
    norm = os.path.normpath(guest)
    if norm == "/":
        raise UsageError(f"{option} {spec!r}: binding over / is --root {host}")
    if ".." in guest.split("/"):
        raise UsageError(f"{option} {spec!r}: the guest path {guest!r} must not contain '..'")
    return os.path.abspath(host), norm


def confinement(args):
    """The Confine layer of --root/--bind/--ro-bind/--cwd, or None."""
    from ..errors import UsageError

    if args.root is None and not args.bind and not args.ro_bind:
        if args.cwd is not None:
            raise UsageError("--cwd sets the working directory in the view: give --root or --bind")
        return None
    root = args.root
    if root is None:  # binds alone: an empty root with the binds in it
        root = _empty_root()
    elif not os.path.exists(root):
        raise UsageError(f"--root {root}: no such directory")
    elif not os.path.isdir(root):
        raise UsageError(f"--root {root}: not a directory")
    binds = [(*_bind(b, "--bind"), False) for b in args.bind] + \
            [(*_bind(b, "--ro-bind"), True) for b in args.ro_bind]
    seen: dict[str, str] = {}
    for host, guest, _ro in binds:
        if guest in seen:
            raise UsageError(f"two binds on {guest}: {seen[guest]} and {host}")
        if guest == "/proc" or guest.startswith("/proc/"):
            raise UsageError(f"cannot bind {host} on {guest}: /proc is built in (/proc/self only)")
        seen[guest] = host
    from ..layers.confine import Confine

    cwd = _guest_cwd(args.cwd, root, binds)
    layer = Confine(root, binds, cwd=cwd)
    if not layer.is_dir(cwd):
        layer.release()
        raise UsageError(f"--cwd {cwd}: not a directory in the view")
    return layer


def _empty_root() -> str:
    import atexit
    import shutil
    import tempfile

    d = tempfile.mkdtemp(prefix="sysvisor-root-")
    os.chmod(d, 0o755)
    atexit.register(shutil.rmtree, d, True)
    return d


def _guest_cwd(cwd: str | None, root: str, binds) -> str:
    """--cwd, or where the current directory is in the view, or /."""
    from ..errors import UsageError

    if cwd is not None:
        if not cwd.startswith("/"):
            raise UsageError(f"--cwd {cwd!r}: a path of the view, absolute")
        return os.path.normpath(cwd)
    here = os.path.realpath(os.getcwd())
    for host, guest in sorted(((os.path.realpath(h), g) for h, g, _ in binds),
                              key=lambda hg: len(hg[0]), reverse=True) + [(os.path.realpath(root), "/")]:
        if here == host or here.startswith(host.rstrip("/") + "/"):
            rest = here[len(host):].lstrip("/")
            return os.path.join(guest, rest) if rest else guest
    return "/"


def build_layers(args) -> list:
    """The layer stack, top first: trace, fakeroot, policy, network,
    confinement (the layer that executes calls on the program's behalf is
    at the bottom, so that every decision above it sees the program's own
    call)."""
    from ..errors import UsageError
    from ..layers.policy import Policy, confinement_denials

    confine = confinement(args)
    layers = []
    if args.trace:
        layers.append(_trace(args))
    elif args.expr or args.output:
        raise UsageError("-e and -o go with --trace")
    if args.fakeroot or args.fakeroot_db:
        layers.append(_fakeroot(args.fakeroot_db))
    if args.inject or args.fault:
        from ..layers.faults import Faults, parse_inject

        layers.append(Faults([parse_inject(v, "inject") for v in args.inject]
                             + [parse_inject(v, "fault") for v in args.fault]))
    if args.remap or args.remap_ro:
        from ..layers.remap import Remap

        layers.append(Remap.from_spec(binds=args.remap, ro=args.remap_ro))
    deny = ",".join(args.deny) or None
    allow = ",".join(args.allow) or None
    deny_bypass = args.deny_bypass or confine is not None
    if deny or allow or args.default_deny or deny_bypass:
        policy = Policy.from_spec(deny=deny, allow=allow,
                                  default="deny" if args.default_deny else "allow")
        if deny_bypass:
            policy.rules[:0] = confinement_denials()
        layers.append(policy)
    if args.net is not None:
        from ..layers.net import Net

        layers.append(Net.from_spec(args.net))
    if confine is not None:
        layers.append(confine)
    return layers


def _trace(args):
    from ..layers.trace import AnswerTrace
    from .trace import parse_exprs

    trace_set, statuses = parse_exprs(args.expr)
    out = None
    if args.output:
        try:
            out = open(args.output, "w", buffering=1 << 16)
        except OSError as e:
            from ..errors import UsageError

            raise UsageError(f"can't write {args.output}: {e.strerror}") from None
    return AnswerTrace(out=out, trace=trace_set, strsize=args.strsize, statuses=statuses)


def _fakeroot(db: str | None):
    """The FakeRoot layer; its database is checked before the program starts."""
    from ..errors import UsageError
    from ..layers.fakeroot import FakeRoot

    if db is not None:
        d = os.path.dirname(os.path.abspath(db))
        if not os.path.isdir(d) or not os.access(d, os.W_OK | os.X_OK):
            raise UsageError(f"can't write fakeroot database {db}: directory {d} is not writable")
        if os.path.isdir(db):
            raise UsageError(f"can't use fakeroot database {db}: Is a directory")
    return FakeRoot(db=db)


def _check_compatible(args, layers) -> None:
    """The conflicts the command line can explain better than choose()."""
    from ..errors import UsageError
    from ..layers.confine import Confine

    fake = args.fakeroot or args.fakeroot_db
    enforcing = [type(l).__name__ for l in layers if getattr(l, "enforcing", False)]
    if fake and enforcing:
        confined = any(isinstance(l, Confine) for l in layers)
        if confined:
            raise UsageError(
                "--fakeroot cannot be combined with --root/--bind: FakeRoot changes arguments and "
                "results (methods seccomp, ptrace), confinement executes calls on the program's "
                "behalf (method unotify), and no method does both")
        raise UsageError(
            f"--fakeroot cannot be combined with {', '.join(enforcing)} here: FakeRoot changes "
            "arguments and results, which only the seccomp and ptrace methods can do, and "
            "enforcing layers need a method that is a security boundary (unotify). Either drop "
            "one of them, or add --insecure to run the policy on seccomp, where the program "
            "can race its decisions on pointer arguments")


def run(args) -> int:
    import sys

    from ..errors import UsageError
    from .common import command_or_pids, run_session

    args.pids = []
    cmd = command_or_pids(args, "run")
    layers = build_layers(args)
    # nothing but the tracer (imported only with --trace: start-up counts)
    if len(layers) == (1 if args.trace else 0):
        raise UsageError("nothing to do: give --root, --bind, --ro-bind, --fakeroot, --deny, "
                         "--allow, --default-deny, --deny-bypass, --net, --inject, --fault "
                         "or --remap")
    if not args.insecure:
        _check_compatible(args, layers)
    if args.insecure:
        sys.stderr.write("sysvisor run: --insecure: enforcing layers run on a method that is "
                         "no security boundary; the program can race their decisions\n")
    try:
        status = run_session(layers, args.method, cmd, [], "run", insecure=args.insecure)
    finally:
        for layer in layers:
            release = getattr(layer, "release", None)
            if release is not None:
                release()
    if any(getattr(layer, "save_error", None) for layer in layers) and status == 0:
        return 1  # said on stderr by the layer
    return status

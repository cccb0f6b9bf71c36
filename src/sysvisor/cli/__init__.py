"""The `sysvisor` command line: one module per subcommand, imported only
when that subcommand runs, so `sysvisor --help` starts fast."""
from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module, one-line help)
SUBCOMMANDS = {
    "trace": ("sysvisor.cli.trace", "trace a command's system calls, strace-style"),
    "doctor": ("sysvisor.cli.doctor", "show which kernel features and methods are available"),
    "run": ("sysvisor.cli.run", "run a command under layers (a confinement view, a syscall policy, network rules, fakeroot)"),
    "record": ("sysvisor.cli.record", "run a command and write its system calls to a trace file"),
    "format": ("sysvisor.cli.format", "render a trace file written by sysvisor record"),
}


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # usage errors: one line, exit 2
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="sysvisor", description="A syscall hypervisor for Linux.")
    parser.add_argument("--version", action="version", version="sysvisor 0.1.0")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, (_mod, help_) in SUBCOMMANDS.items():
        sub.add_parser(name, help=help_, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status (usage errors: 2)."""
    try:
        return _main(sys.argv[1:] if argv is None else list(argv))
    except SystemExit as e:  # argparse's --help and usage errors
        return e.code if isinstance(e.code, int) else 2


def _main(argv: list[str]) -> int:
    parser = build_parser()
    if not argv or argv[0] not in SUBCOMMANDS:
        if argv and not argv[0].startswith("-"):
            parser.error(f"unknown command {argv[0]!r} (choose from {', '.join(SUBCOMMANDS)})")
        args = parser.parse_args(argv)
        parser.print_help()
        return 2 if args.command is None and not argv else 0
    name = argv[0]
    module = importlib.import_module(SUBCOMMANDS[name][0])
    sp = _Parser(prog=f"sysvisor {name}", description=SUBCOMMANDS[name][1])
    module.add_arguments(sp)
    args = sp.parse_args(argv[1:])
    from ..errors import SysvisorError

    try:
        return module.run(args)
    except SysvisorError as e:
        sys.stderr.write(f"sysvisor {name}: {e}\n")
        return e.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 141

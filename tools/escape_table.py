#!/usr/bin/env python3
"""Print the escape battery's attack × method table (markdown) from its
data, tests/escape_attacks.py, which tests/test_escape.py asserts.

    python tools/escape_table.py            # the table and its notes
    python tools/escape_table.py --table    # the table only

Paste the output into README.md (Methods) and docs/design.md (Security).
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

import escape_attacks  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--table", action="store_true", help="the table only, without the notes")
    args = ap.parse_args()
    print(escape_attacks.markdown_table())
    if not args.table:
        print()
        for method, stack in escape_attacks.STACKS.items():
            print(f"- `{method}`: {stack}.")
        for note in escape_attacks.NOTES:
            print(f"- {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

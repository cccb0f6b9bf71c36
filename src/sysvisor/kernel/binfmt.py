"""How the kernel decides what an execve runs: ELF headers (PT_INTERP) and
`#!` lines, parsed the way fs/binfmt_elf.c and fs/binfmt_script.c do.

    kind = parse(fd)        # an fd open for reading
    if isinstance(kind, Script): kind.interp, kind.arg
    elif isinstance(kind, Elf): kind.interp (None: static), kind.bits

No policy lives here (layers/confine decides what to do with it).
"""
from __future__ import annotations

import errno
import os
import struct
from dataclasses import dataclass

BINPRM_BUF_SIZE = 256  # the kernel reads this much to pick a format
BINPRM_MAX_RECURSION = 4  # interpreters of interpreters (binfmt_script)
PATH_MAX = 4096
PT_INTERP = 3
ET_EXEC, ET_DYN = 2, 3


@dataclass(frozen=True)
class Script:
    """A `#!` script: the interpreter as written, and its one optional
    argument (everything after the name, spaces and tabs trimmed)."""

    interp: str
    arg: str | None


@dataclass(frozen=True)
class Elf:
    """An ELF executable: 32 or 64 bits, its machine, and its PT_INTERP
    (None: statically linked)."""

    bits: int
    machine: int
    interp: str | None


def _spacetab(c: int) -> bool:
    return c in (0x20, 0x09)


def _terminator(c: int) -> bool:
    return c in (0x20, 0x09, 0)


def parse_script(buf: bytes) -> Script:
    """binfmt_script's reading of the first BINPRM_BUF_SIZE bytes (which
    start with `#!`; the kernel's buffer is zero-filled past the end of a
    short file); OSError(ENOEXEC) where the kernel refuses."""
    buf = buf[:BINPRM_BUF_SIZE].ljust(BINPRM_BUF_SIZE, b"\0")
    end = buf.find(b"\n")
    if end < 0:  # no newline: the name must end (space, tab, NUL) in the buffer
        first = next((i for i in range(2, len(buf)) if not _spacetab(buf[i])), None)
        if first is None or not any(_terminator(c) for c in buf[first:]):
            raise OSError(errno.ENOEXEC, "#! line truncated")
        end = len(buf) - 1
    while end > 2 and _spacetab(buf[end - 1]):
        end -= 1
    line = buf[2:end]
    start = next((i for i, c in enumerate(line) if not _spacetab(c)), len(line))
    if start == len(line):
        raise OSError(errno.ENOEXEC, "no #! interpreter")
    sep = next((i for i in range(start, len(line)) if _terminator(line[i])), len(line))
    name = line[start:sep].split(b"\0", 1)[0]
    if not name:
        raise OSError(errno.ENOEXEC, "no #! interpreter")
    arg = None
    if sep < len(line) and line[sep] != 0:
        rest = line[sep:].lstrip(b" \t")
        if rest:
            arg = os.fsdecode(rest.split(b"\0", 1)[0])
    return Script(os.fsdecode(name), arg)


def parse_elf(fd: int, head: bytes) -> Elf:
    """The ELF header and first PT_INTERP of the file open at fd."""
    if len(head) < 52 or head[4] not in (1, 2) or head[5] != 1:  # ELFCLASS32/64, little endian
        raise OSError(errno.ENOEXEC, "unsupported ELF")
    bits = 32 if head[4] == 1 else 64
    if bits == 64:
        if len(head) < 64:
            raise OSError(errno.ENOEXEC, "short ELF header")
        etype, machine = struct.unpack_from("<HH", head, 16)
        phoff, = struct.unpack_from("<Q", head, 32)
        phentsize, phnum = struct.unpack_from("<HH", head, 54)
        ph_fmt, ph_size = "<IIQQQQ", 40  # type, flags, offset, vaddr, paddr, filesz
    else:
        etype, machine = struct.unpack_from("<HH", head, 16)
        phoff, = struct.unpack_from("<I", head, 28)
        phentsize, phnum = struct.unpack_from("<HH", head, 42)
        ph_fmt, ph_size = "<IIIII", 20  # type, offset, vaddr, paddr, filesz
    if etype not in (ET_EXEC, ET_DYN) or phentsize < ph_size or phnum > 65536 // max(phentsize, 1):
        raise OSError(errno.ENOEXEC, "not an executable ELF")
    table = os.pread(fd, phentsize * phnum, phoff)
    for i in range(phnum):
        ph = table[i * phentsize:i * phentsize + ph_size]
        if len(ph) < ph_size:
            raise OSError(errno.ENOEXEC, "short program header table")
        fields = struct.unpack(ph_fmt, ph)
        if fields[0] != PT_INTERP:
            continue
        off, size = (fields[2], fields[5]) if bits == 64 else (fields[1], fields[4])
        if size > PATH_MAX or size < 2:
            raise OSError(errno.ENOEXEC, "bad PT_INTERP")
        raw = os.pread(fd, size, off)
        if len(raw) != size or raw[-1] != 0:
            raise OSError(errno.ENOEXEC, "bad PT_INTERP")
        return Elf(bits, machine, os.fsdecode(raw[:-1].split(b"\0", 1)[0]))
    return Elf(bits, machine, None)


def parse(fd: int) -> Script | Elf:
    """What the kernel would do with the file open (readable) at fd;
    OSError(ENOEXEC) for a format it has no handler for (binfmt_misc is
    not consulted)."""
    head = os.pread(fd, BINPRM_BUF_SIZE, 0)
    if head.startswith(b"#!"):
        return parse_script(head)
    if head.startswith(b"\x7fELF"):
        return parse_elf(fd, head)
    raise OSError(errno.ENOEXEC, "not an ELF file or #! script")

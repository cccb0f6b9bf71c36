"""A classic-BPF assembler for seccomp programs.

Programs are written with symbolic labels; `assemble` resolves them and,
since conditional jumps only reach 255 instructions ahead, turns far
conditional jumps into a near jump over an unconditional `ja` (32-bit
offset). Instructions are (code, jt, jf, k) as in <linux/filter.h>.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

# opcodes (linux/bpf_common.h)
BPF_LD, BPF_JMP, BPF_RET, BPF_ALU = 0x00, 0x05, 0x06, 0x04
BPF_W, BPF_ABS, BPF_K = 0x00, 0x20, 0x00
BPF_JA, BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET = 0x00, 0x10, 0x20, 0x30, 0x40
BPF_AND = 0x50

# struct seccomp_data offsets
OFF_NR, OFF_ARCH, OFF_IP, OFF_ARGS = 0, 4, 8, 16

# seccomp return actions (linux/seccomp.h)
RET_KILL_PROCESS = 0x80000000
RET_KILL_THREAD = 0x00000000
RET_TRAP = 0x00030000
RET_ERRNO = 0x00050000
RET_USER_NOTIF = 0x7FC00000
RET_TRACE = 0x7FF00000
RET_LOG = 0x7FFC0000
RET_ALLOW = 0x7FFF0000

MAX_INSNS = 4096


@dataclass
class Label:
    name: str


@dataclass
class Insn:
    code: int
    k: int = 0
    jt: str | None = None  # label name (conditional jumps)
    jf: str | None = None
    target: str | None = None  # label name (ja)


def ld_abs(offset: int) -> Insn:
    return Insn(BPF_LD | BPF_W | BPF_ABS, offset)


def ld_arg(index: int, high: bool = False) -> Insn:
    # seccomp_data.args are u64 in native (little-endian here) order.
    return ld_abs(OFF_ARGS + 8 * index + (4 if high else 0))


def jmp(op: int, k: int, jt: str | None, jf: str | None) -> Insn:
    """Conditional jump; None means "fall through to the next insn"."""
    return Insn(BPF_JMP | op | BPF_K, k & 0xFFFFFFFF, jt, jf)


def ja(target: str) -> Insn:
    return Insn(BPF_JMP | BPF_JA, 0, target=target)


def and_k(mask: int) -> Insn:
    return Insn(BPF_ALU | BPF_AND | BPF_K, mask & 0xFFFFFFFF)


def ret(action: int) -> Insn:
    return Insn(BPF_RET | BPF_K, action & 0xFFFFFFFF)


class FilterTooLarge(ValueError):
    pass


def _positions(items: list) -> dict[str, int]:
    pos, pc = {}, 0
    for it in items:
        if isinstance(it, Label):
            pos[it.name] = pc
        else:
            pc += 1
    return pos


def _first_far_jump(items: list, pos: dict[str, int]):
    pc = 0
    for idx, it in enumerate(items):
        if isinstance(it, Label):
            continue
        for side in ("jt", "jf"):
            name = getattr(it, side)
            if name is not None:
                dist = pos[name] - (pc + 1)
                if dist < 0:
                    raise ValueError(f"backward jump to {name}")
                if dist > 255:
                    return idx, it, side
        pc += 1
    return None


def assemble(program: list[Insn | Label]) -> bytes:
    """Resolve labels and encode. A conditional jump further than 255
    instructions goes through a trampoline: a `ja` placed right after it."""
    items = list(program)
    serial = 0
    while (far := _first_far_jump(items, _positions(items))) is not None:
        idx, it, side = far
        serial += 1
        tramp, skip = f".far{serial}", f".skip{serial}"
        target = getattr(it, side)
        setattr(it, side, tramp)
        other = "jf" if side == "jt" else "jt"
        if getattr(it, other) is None:
            setattr(it, other, skip)  # fall-through must now hop the trampoline
        items[idx + 1:idx + 1] = [Label(tramp), ja(target), Label(skip)]
    pos = _positions(items)
    code = bytearray()
    pc = 0
    for it in items:
        if isinstance(it, Label):
            continue
        k = it.k if it.target is None else pos[it.target] - (pc + 1)
        jt = 0 if it.jt is None else pos[it.jt] - (pc + 1)
        jf = 0 if it.jf is None else pos[it.jf] - (pc + 1)
        code += struct.pack("<HBBI", it.code, jt, jf, k & 0xFFFFFFFF)
        pc += 1
    if pc > MAX_INSNS:
        raise FilterTooLarge(f"seccomp filter of {pc} instructions exceeds the kernel's {MAX_INSNS}")
    return bytes(code)


def disassemble(code: bytes) -> list[str]:
    """Readable listing, for debugging and tests."""
    names = {BPF_JEQ: "jeq", BPF_JGT: "jgt", BPF_JGE: "jge", BPF_JSET: "jset"}
    out = []
    for pc in range(len(code) // 8):
        c, jt, jf, k = struct.unpack_from("<HBBI", code, pc * 8)
        cls = c & 0x07
        if cls == BPF_LD:
            s = f"ld [{k}]"
        elif cls == BPF_RET:
            s = f"ret {k:#x}"
        elif cls == BPF_ALU:
            s = f"and {k:#x}"
        elif c == BPF_JMP | BPF_JA:
            s = f"ja {pc + 1 + k}"
        else:
            s = f"{names.get(c & 0xF0, '?')} {k:#x} ? {pc + 1 + jt} : {pc + 1 + jf}"
        out.append(f"{pc:4d}: {s}")
    return out


def run(code: bytes, nr: int, arch: int, args=(0,) * 6, ip: int = 0) -> int:
    """Interpret a filter in Python (for tests of the compiler)."""
    data = struct.pack("<iIQ6Q", nr, arch, ip, *[a & 0xFFFFFFFFFFFFFFFF for a in args])
    acc = 0
    pc = 0
    n = len(code) // 8
    while pc < n:
        c, jt, jf, k = struct.unpack_from("<HBBI", code, pc * 8)
        cls = c & 0x07
        pc += 1
        if cls == BPF_LD:
            acc = struct.unpack_from("<I", data, k)[0]
        elif cls == BPF_ALU:
            acc &= k
        elif cls == BPF_RET:
            return k
        elif c == BPF_JMP | BPF_JA:
            pc += k
        else:
            op = c & 0xF0
            cond = {BPF_JEQ: acc == k, BPF_JGT: acc > k, BPF_JGE: acc >= k, BPF_JSET: bool(acc & k)}[op]
            pc += jt if cond else jf
    raise ValueError("filter fell off the end")

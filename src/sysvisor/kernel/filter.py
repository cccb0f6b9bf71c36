"""The filter compiler: the layer stack's interests -> a minimal seccomp program.

Interests are, per syscall ABI (AUDIT_ARCH value), a mapping from syscall
number to either ALWAYS or a list of alternatives, each a conjunction of
constant-argument predicates. The program

  1. checks seccomp_data.arch: an ABI without an entry is killed, so a
     foreign ABI (e.g. int 0x80 from an x86_64 process, when nothing was
     compiled for i386) is never waved through;
  2. on x86_64, treats x32 numbers (bit 30) as matching: the supervisor
     sees them and decides;
  3. dispatches on the number with a binary search over ranges, so allow
     paths depend on nr and arch only (the kernel caches those, 5.11+);
  4. tests argument predicates 32 bits at a time, since classic BPF only
     loads 32-bit words;
  5. with `ip_allow` (the hybrid backstop of the in-process methods), lets
     a matching call through when its instruction pointer is inside the
     shim's trampoline: the shim made it, after the layers had seen it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from . import bpf
from ..arch import AUDIT_ARCH_X86_64, X32_SYSCALL_BIT

ALWAYS = None  # an interest with no predicate


@dataclass(frozen=True)
class Predicate:
    """(args[index] & mask) == value, or != when negate. 64-bit unless bits=32."""

    index: int
    value: int
    mask: int = 0xFFFFFFFFFFFFFFFF
    negate: bool = False
    bits: int = 64

    def matches(self, args) -> bool:
        full = (1 << self.bits) - 1
        hit = (args[self.index] & self.mask & full) == (self.value & self.mask & full)
        return hit != self.negate

    def __str__(self) -> str:
        lhs = f"arg{self.index}" if self.mask & ((1 << self.bits) - 1) == (1 << self.bits) - 1 else f"arg{self.index} & {self.mask:#x}"
        return f"{lhs} {'!=' if self.negate else '=='} {self.value:#x}"


Alternative = tuple[Predicate, ...]


@dataclass
class ArchInterests:
    """Interests for one ABI: nr -> ALWAYS or list of alternatives."""

    audit_arch: int
    calls: dict[int, list[Alternative] | None] = field(default_factory=dict)
    everything: bool = False  # every number, known to a table or not

    def add(self, nr: int, alternative: Alternative | None = None) -> None:
        if alternative is None or len(alternative) == 0:
            self.calls[nr] = ALWAYS
            return
        if nr in self.calls and self.calls[nr] is ALWAYS:
            return
        alts = self.calls.setdefault(nr, [])
        if alternative not in alts:
            alts.append(alternative)


def _ranges(numbers: list[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for n in sorted(numbers):
        if out and out[-1][1] == n - 1:
            out[-1] = (out[-1][0], n)
        else:
            out.append((n, n))
    return out


class _Emitter:
    def __init__(self) -> None:
        self.prog: list = []
        self.serial = 0

    def label(self, hint: str) -> str:
        self.serial += 1
        return f"{hint}{self.serial}"

    def emit(self, *items) -> None:
        self.prog.extend(items)

    def place(self, name: str) -> None:
        self.prog.append(bpf.Label(name))


def _emit_tree(e: _Emitter, segs: list[tuple[int, int, str]], allow: str) -> None:
    """Binary search over sorted, disjoint (lo, hi, target) segments.
    A holds nr; numbers in no segment go to `allow`."""
    if len(segs) <= 3:
        for lo, hi, target in segs:
            if lo == hi:
                e.emit(bpf.jmp(bpf.BPF_JEQ, lo, target, None))
            else:
                nxt = e.label(".n")
                inside = e.label(".in")
                e.emit(bpf.jmp(bpf.BPF_JGE, lo, inside, nxt), bpf.Label(inside),
                       bpf.jmp(bpf.BPF_JGT, hi, nxt, target), bpf.Label(nxt))
        e.emit(bpf.ja(allow))
        return
    mid = len(segs) // 2
    right = e.label(".r")
    e.emit(bpf.jmp(bpf.BPF_JGE, segs[mid][0], right, None))
    _emit_tree(e, segs[:mid], allow)
    e.place(right)
    _emit_tree(e, segs[mid:], allow)


def _emit_predicates(e: _Emitter, alternatives: list[Alternative], match: str, allow: str) -> None:
    for alt in alternatives:
        fail = e.label(".alt")
        for p in alt:
            words = [(False, p.mask & 0xFFFFFFFF, p.value & 0xFFFFFFFF)]
            if p.bits == 64:
                words.insert(0, (True, (p.mask >> 32) & 0xFFFFFFFF, (p.value >> 32) & 0xFFFFFFFF))
            words = [w for w in words if w[1]]  # a zero mask tests nothing
            if not p.negate:
                for high, mask, value in words:
                    e.emit(bpf.ld_arg(p.index, high))
                    if mask != 0xFFFFFFFF:
                        e.emit(bpf.and_k(mask))
                    e.emit(bpf.jmp(bpf.BPF_JEQ, value & mask, None, fail))
            else:
                # true when any word differs
                ok = e.label(".ne")
                for i, (high, mask, value) in enumerate(words):
                    e.emit(bpf.ld_arg(p.index, high))
                    if mask != 0xFFFFFFFF:
                        e.emit(bpf.and_k(mask))
                    last = i == len(words) - 1
                    e.emit(bpf.jmp(bpf.BPF_JEQ, value & mask, fail if last else None, ok))
                if not words:
                    e.emit(bpf.ja(fail))
                e.place(ok)
        e.emit(bpf.ja(match))
        e.place(fail)
    e.emit(bpf.ja(allow))


def _emit_ip_check(e: _Emitter, lo: int, hi: int, inside: str, outside: str) -> None:
    """Jump to `inside` when lo <= seccomp_data.instruction_pointer < hi.
    The 64-bit pointer is two 32-bit words; the range must not cross a
    4 GiB boundary, so the high word is one constant."""
    if not 0 <= lo < hi <= 1 << 64 or lo >> 32 != (hi - 1) >> 32:
        raise ValueError(f"ip range {lo:#x}-{hi:#x} must be non-empty and within one 4 GiB block")
    e.emit(bpf.ld_abs(bpf.OFF_IP + 4),
           bpf.jmp(bpf.BPF_JEQ, lo >> 32, None, outside),
           bpf.ld_abs(bpf.OFF_IP),
           bpf.jmp(bpf.BPF_JGE, lo & 0xFFFFFFFF, None, outside),
           bpf.jmp(bpf.BPF_JGT, (hi - 1) & 0xFFFFFFFF, outside, inside))


def compile_filter(interests: list[ArchInterests], match_action: int = bpf.RET_TRACE,
                   default_action: int = bpf.RET_ALLOW,
                   foreign_action: int = bpf.RET_KILL_PROCESS,
                   ip_allow: tuple[int, int] | None = None) -> bytes:
    """Compile interests into a seccomp program (bytes, 8 per instruction).
    ip_allow=(lo, hi): a call that matches the interests but was made from
    an instruction in [lo, hi) (seccomp_data.instruction_pointer, the
    address after the `syscall`) gets default_action instead; x32 numbers
    never do (they always reach the supervisor)."""
    e = _Emitter()
    match, allow, foreign = ".match", ".allow", ".foreign"
    notify = ".notify" if ip_allow else match  # match_action, whatever the ip
    e.emit(bpf.ld_abs(bpf.OFF_ARCH))
    arch_labels = []
    for ai in interests:
        lab = e.label(".arch")
        arch_labels.append((ai, lab))
        e.emit(bpf.jmp(bpf.BPF_JEQ, ai.audit_arch, lab, None))
    e.emit(bpf.ja(foreign))
    for ai, lab in arch_labels:
        e.place(lab)
        e.emit(bpf.ld_abs(bpf.OFF_NR))
        if ai.audit_arch == AUDIT_ARCH_X86_64:
            e.emit(bpf.jmp(bpf.BPF_JGE, X32_SYSCALL_BIT, notify, None))
        if ai.everything:
            e.emit(bpf.ja(match))
            continue
        segs: list[tuple[int, int, str]] = []
        cond_blocks: list[tuple[str, list[Alternative]]] = []
        always = [nr for nr, v in ai.calls.items() if v is ALWAYS]
        for lo, hi in _ranges(always):
            segs.append((lo, hi, match))
        for nr, alts in sorted(ai.calls.items()):
            if alts is not ALWAYS:
                lab2 = e.label(".nr")
                segs.append((nr, nr, lab2))
                cond_blocks.append((lab2, alts))
        segs.sort()
        _emit_tree(e, segs, allow)
        for lab2, alts in cond_blocks:
            e.place(lab2)
            _emit_predicates(e, alts, match, allow)
    e.place(match)
    if ip_allow:
        _emit_ip_check(e, ip_allow[0], ip_allow[1], allow, notify)
        e.place(notify)
    e.emit(bpf.ret(match_action))
    e.place(allow)
    e.emit(bpf.ret(default_action))
    e.place(foreign)
    e.emit(bpf.ret(foreign_action))
    return bpf.assemble(e.prog)

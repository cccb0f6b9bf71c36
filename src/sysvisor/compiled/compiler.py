"""The compiler: a layer stack -> a policy blob for the in-process evaluator.

    cs = compile_stack([Record("t.svt", trace="%file"), Faults([...]), MyPythonLayer()])
    cs.blob           # bytes for sv_ctx_init (native/svpolicy.h)
    cs.groups[g]      # the layers (indexes) a crossing of group g runs in Python
    cs.report         # what was compiled, what crosses, which records are partial

A layer says what of it is data in `Layer.compile(b)`: it adds actions to
the builder `b` for the syscalls it can handle without Python (see
Builder). For every other syscall of its interests, the entry gets a
*crossing*: the call goes to the supervisor, where the layer's Python
handler runs.

Stack order is kept exactly. An entry lists the actions of the layers in
stack order (top first); the evaluator runs them in that order:

- a compiled action runs in the program; if it decides the call (an
  injected error, a uid answer, EROFS), the layers below never see it,
  as with call.fail() in Python;
- a crossing stops the evaluation: the supervisor runs the Python layers
  of that crossing (adjacent Python layers form one crossing group), and
  when they pass the call down (call.next() to their bottom) the
  evaluation resumes with the compiled actions below them, on the
  arguments they may have changed; when they decide it, it ends there;
- at exit the actions unwind bottom-up: compiled exit work (the trace
  record written with the result, getcwd mapped back, a delay_exit) runs
  in the program, and a crossing whose layers registered call.on_exit
  crosses again for them, in their place.

So a Python layer above a compiled one sees the call first and the
compiled part runs after its verdict; a compiled layer above a Python one
runs before the call crosses. What this does not support (and refuses or
documents): a Python layer that changes the syscall number does not change
which entry the compiled layers below apply (the engine's chains behave the
same way); a Record layer with follow=False (it records the first thread
only; the compiled form records every thread of every process), and one
compiled trace per syscall (the evaluator has one capture area); one set
of binds per stack (one Remap layer compiles, a second one crosses).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from . import blob as B

NORETURN = frozenset({"exit", "exit_group", "rt_sigreturn", "sigreturn"})
EXECS = frozenset({"execve", "execveat"})
THREAD_SLOTS = 256  # threads a process can have with their own when= counters


@dataclass
class Options:
    """ring: "block" (a producer waits for room) or "drop" (it counts a
    loss); uncapturable: "partial" (a record without the payloads the
    compiled captures lack, flagged PARTIAL) or "cross" (such syscalls
    cross to the Python recorder); thread_slots: the per-thread table of
    when= counters and, for shims with small pending areas, call buffers
    (more threads share one counter, counted as overflow, and get no
    buffer: their traced calls lack payloads, flagged TRUNCATED, their
    remapped calls fail with ENOMEM)."""

    ring: str = "block"
    uncapturable: str = "partial"
    thread_slots: int = THREAD_SLOTS


class Builder:
    """What `Layer.compile(b)` writes into, for one ABI (b.table, b.arch,
    b.audit_arch). add(nr, action) appends a compiled action (blob.Inject,
    Trace, RemapPaths, Ids) for syscall nr; add_default(action) for numbers
    no table knows; counter(process_scope) allocates a when= counter;
    set_binds / use_ids / ring declare the stack-wide parts; note(kind,
    name, text) goes to the report."""

    def __init__(self, compiler: "_Compiler", table, index: int, layer):
        self.table = table
        self.arch = table.arch
        self.audit_arch = table.audit_arch
        self.layer_index = index
        self.layer = layer
        self.options = compiler.options
        self.entries: dict[int, list] = {}
        self.default: list = []
        self._c = compiler

    def add(self, nr: int, action) -> None:
        self.entries.setdefault(nr, []).append(action)

    def add_default(self, action) -> None:
        self.default.append(action)

    def counter(self, process_scope: bool = False) -> int:
        return self._c.new_counter(process_scope)

    def set_binds(self, binds) -> bool:
        """binds: (guest bytes, host bytes, readonly) normalised; False when
        another layer of the stack already set them (this one must cross)."""
        return self._c.set_binds(self.layer, binds)

    def use_ids(self, initial) -> None:
        self._c.prog.ids = tuple(initial)

    def ring(self, strsize: int) -> None:
        self._c.prog.strsize = max(self._c.prog.strsize, strsize)

    def note(self, kind: str, name: str, text) -> None:
        self._c.report.setdefault(self.arch, {}).setdefault(kind, {})[name] = text


class _Compiler:
    def __init__(self, options: Options):
        self.options = options
        self.prog = B.Program(ring_block=options.ring == "block")
        self.report: dict = {}
        self.groups: dict[tuple, int] = {}
        self._binds_owner = None

    def new_counter(self, process_scope: bool) -> int:
        if process_scope:
            self.prog.process_counters += 1
            return self.prog.process_counters - 1
        self.prog.thread_counters += 1
        return self.prog.thread_counters - 1

    def set_binds(self, layer, binds) -> bool:
        if self._binds_owner is not None and self._binds_owner is not layer:
            return False
        self._binds_owner = layer
        self.prog.binds = [B.Bind(g, h, ro) for g, h, ro in binds]
        return True

    def group(self, members: tuple[int, ...]) -> int:
        g = self.groups.get(members)
        if g is None:
            g = self.groups[members] = len(self.groups)
        return g


def _alts(wants, nr):
    alts = wants[nr] if wants is not None else None
    return tuple(tuple(a) for a in alts) if alts else None  # None: always


def _merge_crossings(items, c: _Compiler) -> list:
    """Items of one syscall in stack order -> actions: adjacent Python
    layers become one crossing (its predicates: any member's)."""
    out: list = []
    run: list = []

    def flush():
        if not run:
            return
        members = tuple(li for li, _ in run)
        alts: tuple = ()
        if all(a is not None for _, a in run):
            alts = tuple(dict.fromkeys(alt for _, a in run for alt in a))
            if len(alts) > B.MAX_ALTS:
                alts = ()  # too many to test in the program: cross always
        out.append(B.Cross(c.group(members), alts))
        run.clear()

    for it in items:
        if it[0] == "cross":
            run.append((it[1], it[2]))
        else:
            flush()
            out.append(it[1])
    flush()
    return out


def _layer_name(layer) -> str:
    return getattr(layer, "name", type(layer).__name__)


@dataclass
class CompiledStack:
    """A compiled stack: the blob, the crossing groups (layer indexes per
    group id) and a report per arch: {"compiled": {syscall: [layer
    names]}, "crossing": {syscall: [layer names]}, "partial": {syscall:
    what its records lack}}."""

    blob: bytes
    layers: list
    groups: list
    report: dict = field(default_factory=dict)
    program: B.Program | None = None

    def group_layers(self, group: int) -> list:
        return [self.layers[i] for i in self.groups[group]]

    def chain(self, table, nr: int, group: int) -> tuple:
        """The (layer, handler, alternatives) chain a crossing of `group`
        runs for syscall nr of `table` (what the engine's Call.next walks)."""
        out = []
        for layer in self.group_layers(group):
            wants = layer.interests(table)
            if wants is not None and nr not in wants:
                continue
            fn = layer.handlers(table).get(nr, layer.catch_all())
            if fn is None:
                continue
            alts = wants[nr] if wants is not None else getattr(fn, "_sysvisor_when", None)
            out.append((layer, fn, alts))
        return tuple(out)


def compile_stack(layers, arches=None, options: Options | None = None) -> CompiledStack:
    """Compile a layer stack (top first) for the ABIs `arches` (names;
    default: the native one and its compat ABI)."""
    from ..tables import compat_arch, native_arch, table

    options = options or Options()
    if options.ring not in ("block", "drop"):
        from ..errors import UsageError

        raise UsageError(f"ring policy must be 'block' or 'drop', not {options.ring!r}")
    if options.uncapturable not in ("partial", "cross"):
        from ..errors import UsageError

        raise UsageError(f"uncapturable must be 'partial' or 'cross', not {options.uncapturable!r}")
    if arches is None:
        arches = [native_arch()]
        if compat_arch(arches[0]):
            arches.append(compat_arch(arches[0]))
    c = _Compiler(options)
    layers = list(layers)
    for arch in arches:
        tab = table(arch)
        per_nr: dict[int, list] = {}
        default: list = []
        report = c.report.setdefault(arch, {})
        for li, layer in enumerate(layers):
            b = Builder(c, tab, li, layer)
            compile_fn = getattr(layer, "compile", None)
            if callable(compile_fn):
                compile_fn(b)
            wants = layer.interests(tab)
            nrs = {sc.nr for sc in tab} if wants is None else set(wants)
            for nr in sorted(nrs | set(b.entries)):
                name = tab.by_nr[nr].name if nr in tab.by_nr else f"syscall_{nr:#x}"
                if nr in b.entries:
                    per_nr.setdefault(nr, []).extend(("action", a) for a in b.entries[nr])
                    report.setdefault("compiled", {}).setdefault(name, []).append(_layer_name(layer))
                else:
                    per_nr.setdefault(nr, []).append(("cross", li, _alts(wants, nr)))
                    report.setdefault("crossing", {}).setdefault(name, []).append(_layer_name(layer))
            if b.default:
                default.extend(("action", a) for a in b.default)
            elif wants is None:
                default.append(("cross", li, None))
        entries = {}
        for nr, items in per_nr.items():
            sc = tab.by_nr.get(nr)
            flags = 0
            if sc is not None and sc.name in NORETURN:
                flags |= B.E_NORETURN
            if sc is not None and sc.name in EXECS:
                flags |= B.E_EXEC
            entries[nr] = B.Entry(tuple(_merge_crossings(items, c)), flags)
        c.prog.arches[tab.audit_arch] = entries
        if default:
            c.prog.defaults[tab.audit_arch] = B.Entry(tuple(_merge_crossings(default, c)))
    # the per-thread table (when= counters, and the call buffers of shims with
    # small pending areas): a thread's exit frees its slot
    c.prog.thread_slots = options.thread_slots
    for arch in arches:
        tab = table(arch)
        sc = tab.by_name.get("exit")
        if sc is not None:
            entries = c.prog.arches[tab.audit_arch]
            e = entries.get(sc.nr, B.Entry((), B.E_NORETURN))
            entries[sc.nr] = B.Entry(e.actions, e.flags | B.E_THREAD_EXIT)
    c.prog.ngroups = len(c.groups)
    groups = [None] * len(c.groups)
    for members, g in c.groups.items():
        groups[g] = members
    return CompiledStack(B.pack(c.prog), layers, groups, c.report, c.prog)

"""Confine's fast path: the commonest path calls answered in C, in the
unotify engine's receive loop, without Python (_native.c, "Confine's fast
path").

Which calls: open/openat of an existing file (O_CREAT without O_EXCL is
an open then; no O_TMPFILE or O_PATH, no write to a read-only bind); stat, lstat, newfstatat (and
fstat, which glibc makes as newfstatat(fd, "", AT_EMPTY_PATH)); access,
faccessat, faccessat2 -- x86_64 only, absolute paths only; and, with
Landlock active, execve: the second notification of an exec that the layer
restarted with the view's files (execs.py) is continued when the thread,
the path's address and text and the file's inode are the ones registered
(what execs.Execs.restarted checks in Python); a fresh execve of an
absolute path is decided as execs.py decides it (below). Other execs and
every execveat go to Python.

The exec decided in C is Confine._exec for the commonest case, step for
step: the path read once (NOTIF_ID_VALID after); the file looked up like
View.fast_path (the root's top-level links, a trailing symlink, the rest
refused by RESOLVE_NO_SYMLINKS: the walk decides); execs.Execs.step's
checks (a regular file, X_OK for the program, readable); its format from
the cache Python fills when it parses a file (execs.Execs._tell_c, same
key as Python's own cache: dev, ino, mtime, size; a file C does not know
goes to Python, which parses it): a static ELF, or a dynamic one whose
absolute PT_INTERP is looked up and checked the same way and must be a
static ELF (else ELIBBAD, as Python says). Then Execs.plan's choice: when
the kernel's own lookups (stat of the given path and of PT_INTERP) find
the very inodes, CONTINUE; else the restart call.restart_exec makes
(_native.c does the same ptrace steps: ERESTARTNOINTR with a pending
PTRACE_INTERRUPT, path and argv registers pointed at copies below the
stack pointer, the restart registered for the check above), with the argv
Execs.plan builds -- for a loader C only knows whether it takes --argv0
once Python ran it explicitly (and listed it for /proc/self/exe). Errors
on the way are the errnos Python returns; whatever Python would report on
stderr (an unreadable file, no ptrace access, a long argv, a deleted
file given by fd) goes to Python before anything was done. The security
argument is Python's with Landlock: the decision that runs a file is the
restarted call's re-check, and Landlock lets the kernel execute nothing
outside the view; without Landlock (where Python must check that nothing
can race the exec) C decides no fresh exec. While it restarts an exec
the receiving thread waits for the ptrace stop (one context switch):
other notifications wait meanwhile.

Why it is the same as the Python handlers: the path is read once and
NOTIF_ID_VALID checked after the read; only a *simple* path is taken (no
".", "..", "//", not /proc, not under a directory that the walk shows as an
empty stand-in, not starting with a bind's first component); the root's
own top-level symlinks (merged /usr) are replaced by their text, as the
walk does; then one openat2(mountfd, rest, RESOLVE_BENEATH |
RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS) under the mount the longest
guest prefix names -- the kernel refuses any symlink on the way, so the
object is the one the component-by-component walk would reach, inside the
view. Everything else (a symlink, a FIFO or device that could block an
open, the answers only the walk can give) goes to Python unchanged. The
fast path is used only for syscalls whose chain is Confine's handler
alone (no layer above wants to see them: a tracer or a path policy turns
it off for those calls), and it is switched off for good once the
program changed its credentials (the C side acts as the supervisor).
"""
from __future__ import annotations

import os

# kinds, as _native.c numbers them
KINDS = {"open": 1, "openat": 2, "stat": 3, "lstat": 4, "newfstatat": 5, "access": 6,
         "faccessat": 7, "faccessat2": 8, "execve": 9, "execveat": 10}


def config(view) -> tuple:
    """What _native.fast_setup takes for this view: the root fd, the mounts
    (guest, fd, readonly) longest first with "/" last, the stand-in
    prefixes and the binds' first components."""
    mounts = [(os.fsencode(m.guest), m.fd, int(m.readonly)) for m in view.by_guest]
    stand = [os.fsencode(p) for p in view.stand_in_prefixes]
    firsts = [os.fsencode(f) for f in view.mounts_first]
    return view.root.fd, mounts, stand, firsts

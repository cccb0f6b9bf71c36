#!/usr/bin/env python3
"""Generate src/sysvisor/decode/xlat.py: the constant tables decoders use.

Source: the C headers installed on the build machine (Linux uapi headers
from linux-libc-dev, and glibc's where the uapi ones clash), read by the C
compiler itself. For each table below the generator

  1. runs `gcc -E -dM` over the table's includes and keeps the object-like
     macros whose names match the table's regex (minus its exclusions);
  2. compiles and runs a small C program that prints each macro's value, so
     expressions (`(1 << 20)`, `__O_SYNC | O_DSYNC`) are evaluated by the
     compiler exactly as the kernel's users see them;
  3. adds the entries of tools/data/xlat-extra.txt (constants newer than the
     installed headers, with the kernel version that introduced them);
  4. writes one tuple (flag sets, sorted by value) or dict (constants) per
     table, aliases resolved by the table's preference list.

The values are those of the machine that ran the generator (x86_64 here).
The few that differ on aarch64 (O_DIRECTORY, O_NOFOLLOW, O_DIRECT,
O_LARGEFILE) are listed in AARCH64_OVERRIDES below and emitted as a
separate table.

Usage: python tools/gen_constants.py [--out FILE] [--check]
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEFAULT_OUT = os.path.join(ROOT, "src", "sysvisor", "decode", "xlat.py")
EXTRA = os.path.join(HERE, "data", "xlat-extra.txt")

KERNEL_FCNTL = ["linux/fcntl.h"]
# (table, kind, includes, regex, exclusions, preferred names)
#   kind: "flags" -> tuple of (value, name) sorted by value; "const" -> dict
TABLES = [
    ("OPEN_FLAGS", "flags", KERNEL_FCNTL, r"O_[A-Z]+$",
     {"O_ACCMODE", "O_RDONLY", "O_WRONLY", "O_RDWR", "O_NDELAY", "O_FSYNC", "O_RSYNC"}, ()),
    ("OPEN_ACCMODE", "const", KERNEL_FCNTL, r"O_(RDONLY|WRONLY|RDWR)$", set(), ()),
    ("AT_FLAGS", "flags", KERNEL_FCNTL, r"AT_[A-Z_]+$",
     {"AT_FDCWD", "AT_STATX_SYNC_TYPE", "AT_STATX_SYNC_AS_STAT", "AT_RECURSIVE"},
     ("AT_SYMLINK_NOFOLLOW", "AT_REMOVEDIR", "AT_EACCESS")),
    ("FCNTL_CMDS", "const", KERNEL_FCNTL, r"F_[A-Z0-9_]+$",
     {"F_OK", "F_LINUX_SPECIFIC_BASE", "F_SEAL_SEAL", "F_SEAL_SHRINK", "F_SEAL_GROW",
      "F_SEAL_WRITE", "F_SEAL_FUTURE_WRITE", "F_RDLCK", "F_WRLCK", "F_UNLCK", "F_EXLCK",
      "F_SHLCK", "F_OWNER_TID", "F_OWNER_PID", "F_OWNER_PGRP"},
     ("F_DUPFD", "F_GETFD", "F_SETFD", "F_GETFL", "F_SETFL", "F_GETLK", "F_SETLK", "F_SETLKW",
      "F_SETOWN", "F_GETOWN", "F_SETSIG", "F_GETSIG", "F_SETOWN_EX", "F_GETOWN_EX",
      "F_OFD_GETLK", "F_OFD_SETLK", "F_OFD_SETLKW", "F_SETLEASE", "F_GETLEASE",
      "F_NOTIFY", "F_DUPFD_CLOEXEC", "F_SETPIPE_SZ", "F_GETPIPE_SZ", "F_ADD_SEALS",
      "F_GET_SEALS")),
    ("FD_FLAGS", "flags", KERNEL_FCNTL, r"FD_CLOEXEC$", set(), ()),
    ("MMAP_PROT", "flags", ["sys/mman.h"], r"PROT_[A-Z]+$", {"PROT_NONE"}, ()),
    ("MMAP_FLAGS", "flags", ["sys/mman.h"], r"MAP_[A-Z0-9_]+$",
     {"MAP_SHARED", "MAP_PRIVATE", "MAP_SHARED_VALIDATE", "MAP_TYPE", "MAP_FAILED",
      "MAP_ANON", "MAP_FILE", "MAP_HUGE_SHIFT", "MAP_HUGE_MASK", "MAP_EXECUTABLE_X"}, ()),
    ("MMAP_TYPES", "const", ["sys/mman.h"], r"MAP_(SHARED|PRIVATE|SHARED_VALIDATE|DROPPABLE)$",
     set(), ()),
    ("MADVISE", "const", ["sys/mman.h"], r"MADV_[A-Z_]+$", {"MADV_HWPOISON_X"},
     ("MADV_NORMAL", "MADV_RANDOM", "MADV_SEQUENTIAL", "MADV_WILLNEED", "MADV_DONTNEED")),
    ("MREMAP_FLAGS", "flags", ["linux/mman.h"], r"MREMAP_[A-Z]+$", set(), ()),
    ("MSYNC_FLAGS", "flags", ["sys/mman.h"], r"MS_(ASYNC|INVALIDATE|SYNC)$", set(), ()),
    ("MLOCKALL_FLAGS", "flags", ["sys/mman.h"], r"MCL_[A-Z]+$", set(), ()),
    ("CLONE_FLAGS", "flags", ["linux/sched.h"], r"CLONE_[A-Z_]+$",
     {"CLONE_ARGS_SIZE_VER0", "CLONE_ARGS_SIZE_VER1", "CLONE_ARGS_SIZE_VER2"}, ()),
    ("SIGNALS", "const", ["asm/signal.h"], r"SIG[A-Z0-9]+$",
     {"SIGRTMIN", "SIGRTMAX", "SIGSTKSZ", "MINSIGSTKSZ", "SIGIOT", "SIGPOLL", "SIGUNUSED",
      "SIG_BLOCK", "SIG_UNBLOCK", "SIG_SETMASK"}, ("SIGIO", "SIGABRT", "SIGSYS")),
    ("SIGPROCMASK_HOW", "const", ["asm/signal.h"], r"SIG_(BLOCK|UNBLOCK|SETMASK)$", set(), ()),
    ("SA_FLAGS", "flags", ["asm/signal.h"], r"SA_[A-Z]+$",
     {"SA_NOMASK", "SA_ONESHOT", "SA_ONSTACK_X"}, ("SA_NODEFER", "SA_RESETHAND")),
    ("SI_CODES", "const", ["asm-generic/siginfo.h"], r"SI_[A-Z]+$",
     {"SI_MAX_SIZE", "SI_EXPANSION_SIZE"}, ()),
    ("CLD_CODES", "const", ["asm-generic/siginfo.h"], r"CLD_[A-Z]+$", {"NSIGCHLD"}, ()),
    ("SEGV_CODES", "const", ["asm-generic/siginfo.h"], r"SEGV_[A-Z]+$", {"NSIGSEGV"}, ()),
    ("BUS_CODES", "const", ["asm-generic/siginfo.h"], r"BUS_[A-Z_]+$", {"NSIGBUS"}, ()),
    ("TRAP_CODES", "const", ["asm-generic/siginfo.h"], r"TRAP_[A-Z]+$", {"NSIGTRAP"}, ()),
    ("ADDRESS_FAMILIES", "const", ["sys/socket.h"], r"AF_[A-Z0-9]+$", {"AF_MAX"},
     ("AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK", "AF_PACKET", "AF_UNSPEC", "AF_ROUTE_X")),
    ("SOCK_TYPES", "const", ["sys/socket.h"], r"SOCK_(STREAM|DGRAM|RAW|RDM|SEQPACKET|DCCP|PACKET)$",
     set(), ()),
    ("SOCK_FLAGS", "flags", ["sys/socket.h"], r"SOCK_(NONBLOCK|CLOEXEC)$", set(), ()),
    ("SOCKET_LEVELS", "const", ["sys/socket.h", "netinet/in.h"], r"(SOL_[A-Z0-9]+|IPPROTO_(IP|IPV6|TCP|UDP|ICMP|ICMPV6|RAW))$",
     {"SOL_SOCKET_X"}, ("SOL_SOCKET", "SOL_IP", "SOL_IPV6", "SOL_TCP", "SOL_UDP", "SOL_ICMPV6", "SOL_RAW")),
    ("IPPROTOS", "const", ["netinet/in.h"], r"IPPROTO_[A-Z0-9]+$", {"IPPROTO_MAX", "IPPROTO_HOPOPTS"}, ()),
    ("SOCKET_OPTIONS", "const", ["asm/socket.h"], r"SO_[A-Z_]+$",
     {"SO_TIMESTAMP", "SO_TIMESTAMPNS", "SO_TIMESTAMPING", "SO_RCVTIMEO", "SO_SNDTIMEO",
      "SO_GET_FILTER", "SO_DETACH_BPF", "SO_ATTACH_BPF_X"},
     ("SO_ATTACH_FILTER", "SO_DETACH_FILTER")),
    ("TCP_OPTIONS", "const", ["linux/tcp.h"],
     r"TCP_(?!NLA_|CA_|FLAG_|DATA_OFFSET|NO_QUEUE|RECV_QUEUE|SEND_QUEUE|QUEUES_NR|MAX_WINSHIFT|MSS_)[A-Z_]+$",
     {"TCP_MSS_DEFAULT", "TCP_MSS_DESIRED", "TCP_RESERVED_BITS", "TCP_REPAIR_ON", "TCP_REPAIR_OFF",
      "TCP_REPAIR_OFF_NO_WP", "TCP_CM_INQ_X", "TCP_AO_MAXKEYLEN"}, ("TCP_INQ",)),
    ("MSG_FLAGS", "flags", ["sys/socket.h"], r"MSG_[A-Z_]+$", {"MSG_TRYHARD", "MSG_CMSG_COMPAT"}, ()),
    ("SHUTDOWN_HOW", "const", ["sys/socket.h"], r"SHUT_(RD|WR|RDWR)$", set(), ()),
    ("NETLINK_PROTOCOLS", "const", ["linux/netlink.h"], r"NETLINK_[A-Z_0-9]+$",
     {"NETLINK_ADD_MEMBERSHIP", "NETLINK_DROP_MEMBERSHIP", "NETLINK_PKTINFO",
      "NETLINK_BROADCAST_ERROR", "NETLINK_NO_ENOBUFS", "NETLINK_RX_RING", "NETLINK_TX_RING",
      "NETLINK_LISTEN_ALL_NSID", "NETLINK_LIST_MEMBERSHIPS", "NETLINK_CAP_ACK",
      "NETLINK_EXT_ACK", "NETLINK_GET_STRICT_CHK", "NETLINK_INET_DIAG"},
     ("NETLINK_ROUTE", "NETLINK_SOCK_DIAG")),
    ("IOCTLS", "const", ["asm/ioctls.h", "linux/fs.h"], r"(TC[A-Z]+|TIOC[A-Z]+|FIO[A-Z]+|FIONREAD|FS_IOC_[A-Z_]+|BLK[A-Z]+|FICLONE|FIFREEZE|FITHAW)$",
     {"TIOCPKT_DATA", "TIOCPKT_FLUSHREAD", "TIOCPKT_FLUSHWRITE", "TIOCPKT_STOP",
      "TIOCPKT_START", "TIOCPKT_NOSTOP", "TIOCPKT_DOSTOP", "TIOCPKT_IOCTL", "TIOCSER_TEMT",
      "TCOOFF", "TCOON", "TCIOFF", "TCION", "TCIFLUSH", "TCOFLUSH", "TCIOFLUSH", "TCSANOW",
      "TCSADRAIN", "TCSAFLUSH"},
     ("TCGETS", "TCSETS", "TCSETSW", "TCSETSF", "TIOCGWINSZ", "TIOCSWINSZ", "FIONREAD",
      "TIOCGPGRP", "TIOCSPGRP", "FIONBIO", "FIOCLEX", "FIONCLEX")),
    ("PRCTL_OPTIONS", "const", ["linux/prctl.h"], r"PR_(SET|GET|CAP|TASK|MCE|MPX|SVE|PAC|SCHED|SPEC|RISCV|SME|PPC|MTE|ARM|LOCK)[A-Z0-9_]*$",
     set(), ()),
    ("ARCH_PRCTL", "const", ["asm/prctl.h"], r"ARCH_[A-Z0-9_]+$", set(), ()),
    ("RLIMITS", "const", ["sys/resource.h"], r"RLIMIT_[A-Z]+$", {"RLIMIT_NLIMITS", "RLIMIT_OFILE"}, ()),
    ("WAIT_OPTIONS", "flags", ["linux/wait.h"], r"(W[A-Z]+|__W[A-Z]+)$", {"WEXITED_X"}, ()),
    ("IDTYPES", "const", ["linux/wait.h"], r"P_(ALL|PID|PGID|PIDFD)$", set(), ()),
    ("FUTEX_OPS", "const", ["linux/futex.h"], r"FUTEX_[A-Z_]+$",
     {"FUTEX_PRIVATE_FLAG", "FUTEX_CLOCK_REALTIME", "FUTEX_CMD_MASK", "FUTEX_WAITERS",
      "FUTEX_OWNER_DIED", "FUTEX_TID_MASK", "FUTEX_OP_SET", "FUTEX_OP_ADD", "FUTEX_OP_OR",
      "FUTEX_OP_ANDN", "FUTEX_OP_XOR", "FUTEX_OP_OPARG_SHIFT", "FUTEX_OP_CMP_EQ",
      "FUTEX_OP_CMP_NE", "FUTEX_OP_CMP_LT", "FUTEX_OP_CMP_LE", "FUTEX_OP_CMP_GT",
      "FUTEX_OP_CMP_GE", "FUTEX_BITSET_MATCH_ANY", "FUTEX_32", "FUTEX_WAITV_MAX"}, ()),
    ("SEEK_WHENCE", "const", ["linux/fs.h"], r"SEEK_[A-Z]+$", {"SEEK_MAX"}, ()),
    ("ACCESS_MODES", "flags", ["unistd.h"], r"[RWX]_OK$", set(), ()),
    ("FILE_TYPES", "const", ["sys/stat.h"], r"S_IF(SOCK|LNK|REG|BLK|DIR|CHR|IFO)$", set(), ()),
    ("STATX_MASK", "flags", ["linux/stat.h"], r"STATX_[A-Z_]+$",
     {"STATX__RESERVED", "STATX_ALL", "STATX_BASIC_STATS", "STATX_ATTR_COMPRESSED",
      "STATX_ATTR_IMMUTABLE", "STATX_ATTR_APPEND", "STATX_ATTR_NODUMP", "STATX_ATTR_ENCRYPTED",
      "STATX_ATTR_AUTOMOUNT", "STATX_ATTR_MOUNT_ROOT", "STATX_ATTR_VERITY", "STATX_ATTR_DAX"}, ()),
    ("POLL_EVENTS", "flags", ["poll.h"], r"POLL[A-Z]+$", {"POLLRDNORM_X"}, ()),
    ("EPOLL_EVENTS", "flags", ["sys/epoll.h"], r"EPOLL(IN|PRI|OUT|RDNORM|RDBAND|WRNORM|WRBAND|MSG|ERR|HUP|RDHUP|EXCLUSIVE|WAKEUP|ONESHOT|ET)$",
     set(), ()),
    ("EPOLL_CTL_OPS", "const", ["sys/epoll.h"], r"EPOLL_CTL_[A-Z]+$", set(), ()),
    ("EPOLL_FLAGS", "flags", ["sys/epoll.h"], r"EPOLL_CLOEXEC$", set(), ()),
    ("GETRANDOM_FLAGS", "flags", ["linux/random.h"], r"GRND_[A-Z]+$", set(), ()),
    ("CLOCK_IDS", "const", ["linux/time.h"], r"CLOCK_[A-Z_]+$", {"CLOCK_SGI_CYCLE"}, ()),
    ("TIMER_FLAGS", "flags", ["linux/time.h"], r"TIMER_ABSTIME$", set(), ()),
    ("INOTIFY_MASK", "flags", ["linux/inotify.h"], r"IN_[A-Z_]+$",
     {"IN_CLOSE", "IN_MOVE", "IN_ALL_EVENTS", "IN_CLOEXEC", "IN_NONBLOCK"}, ()),
    ("INOTIFY_INIT_FLAGS", "flags", ["linux/inotify.h"], r"IN_(CLOEXEC|NONBLOCK)$", set(), ()),
    ("RENAME_FLAGS", "flags", ["linux/fs.h"], r"RENAME_[A-Z]+$", set(), ()),
    ("MOUNT_FLAGS", "flags", ["linux/mount.h"], r"MS_[A-Z_]+$",
     {"MS_MGC_VAL", "MS_MGC_MSK", "MS_RMT_MASK", "MS_SUBMOUNT", "MS_NOREMOTELOCK",
      "MS_NOSEC", "MS_BORN", "MS_ACTIVE", "MS_NOUSER", "MS_VERBOSE"}, ()),
    ("UMOUNT_FLAGS", "flags", ["sys/mount.h"], r"(MNT_FORCE|MNT_DETACH|MNT_EXPIRE|UMOUNT_NOFOLLOW)$",
     set(), ()),
    ("SCHED_POLICIES", "const", ["linux/sched.h"], r"SCHED_(NORMAL|FIFO|RR|BATCH|ISO|IDLE|DEADLINE|EXT)$",
     set(), ()),
    ("EVENTFD_FLAGS", "flags", ["sys/eventfd.h"], r"EFD_[A-Z]+$", set(), ()),
    ("TIMERFD_FLAGS", "flags", ["sys/timerfd.h"], r"TFD_[A-Z]+$", {"TFD_TIMER_ABSTIME", "TFD_TIMER_CANCEL_ON_SET"}, ()),
    ("PERSONALITY", "const", ["sys/personality.h"], r"PER_[A-Z0-9_]+$", {"PER_MASK"}, ("PER_LINUX",)),
    ("FLOCK_OPS", "flags", ["sys/file.h"], r"LOCK_(SH|EX|NB|UN)$", set(), ()),
    ("XATTR_FLAGS", "flags", ["linux/xattr.h"], r"XATTR_(CREATE|REPLACE)$", set(), ()),
    ("MEMBARRIER_CMDS", "const", ["linux/membarrier.h"], r"MEMBARRIER_CMD_[A-Z_]+$",
     {"MEMBARRIER_CMD_SHARED"}, ()),
    ("SPLICE_FLAGS", "flags", ["fcntl.h"], r"SPLICE_F_[A-Z]+$", set(), ()),
    ("FALLOC_FLAGS", "flags", ["linux/falloc.h"], r"FALLOC_FL_[A-Z_]+$", {"FALLOC_FL_ALLOCATE_RANGE"}, ()),
    ("SECCOMP_OPS", "const", ["linux/seccomp.h"], r"SECCOMP_(SET_MODE_STRICT|SET_MODE_FILTER|GET_ACTION_AVAIL|GET_NOTIF_SIZES)$",
     set(), ()),
    ("SECCOMP_FILTER_FLAGS", "flags", ["linux/seccomp.h"], r"SECCOMP_FILTER_FLAG_[A-Z_]+$", set(), ()),
    ("PTRACE_REQUESTS", "const", ["linux/ptrace.h"], r"PTRACE_(TRACEME|PEEK[A-Z]+|POKE[A-Z]+|CONT|KILL|SINGLESTEP|ATTACH|DETACH|SYSCALL|SETOPTIONS|GETEVENTMSG|GETSIGINFO|SETSIGINFO|GETREGSET|SETREGSET|SEIZE|INTERRUPT|LISTEN|GETSIGMASK|SETSIGMASK|SECCOMP_GET_FILTER|SECCOMP_GET_METADATA|GET_SYSCALL_INFO|GET_RSEQ_CONFIGURATION|GETREGS|SETREGS|GETFPREGS|SETFPREGS)$",
     set(), ()),
    ("PIDFD_FLAGS", "flags", ["linux/pidfd.h"], r"PIDFD_(NONBLOCK|THREAD)$", set(), ()),
]

AARCH64_OVERRIDES = {"O_DIRECTORY": 0o40000, "O_NOFOLLOW": 0o100000, "O_DIRECT": 0o200000,
                     "O_LARGEFILE": 0o400000}


def _cc(src: str, workdir: str) -> str:
    path = os.path.join(workdir, "p.c")
    with open(path, "w") as f:
        f.write(src)
    exe = os.path.join(workdir, "p")
    r = subprocess.run(["gcc", "-w", "-o", exe, path], capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(r.stderr)
    return subprocess.run([exe], capture_output=True, text=True, check=True).stdout


def macros(includes: list[str], regex: str) -> list[str]:
    """Object-like macros and enumerators (some uapi constants are enums)
    whose names match `regex`."""
    src = "#define _GNU_SOURCE\n" + "".join(f"#include <{h}>\n" for h in includes)
    cmd = ["gcc", "-E", "-x", "c", "-"]
    r = subprocess.run(cmd[:2] + ["-dM"] + cmd[2:], input=src, capture_output=True,
                       text=True, check=True)
    rx = re.compile(regex)
    names = set()
    for line in r.stdout.splitlines():
        m = re.match(r"#define (\w+) (.+)$", line)
        if m and rx.match(m.group(1)) and not m.group(2).lstrip().startswith('"'):
            names.add(m.group(1))
    body = subprocess.run(cmd, input=src, capture_output=True, text=True, check=True).stdout
    for m in re.finditer(r"^\s*(\w+)\s*(?:=[^,\n]*)?,?\s*$", body, re.M):
        if rx.match(m.group(1)):
            names.add(m.group(1))
    return sorted(names)


def values(includes: list[str], names: list[str], workdir: str) -> dict[str, int]:
    """Evaluate macros with the compiler; names that do not compile as
    integers are dropped (found by bisecting the compile error lines)."""
    names = list(names)
    while names:
        body = "".join(f'  printf("%s %lld\\n", "{n}", (long long)({n}));\n' for n in names)
        src = ("#define _GNU_SOURCE\n#include <stdio.h>\n"
               + "".join(f"#include <{h}>\n" for h in includes)
               + "int main(void){\n" + body + "  return 0;\n}\n")
        try:
            out = _cc(src, workdir)
        except RuntimeError as e:
            bad = set()
            for line in str(e).splitlines():
                m = re.match(r".*p\.c:(\d+):\d+: error", line)
                if m:
                    idx = int(m.group(1)) - 3 - len(includes) - 1
                    if 0 <= idx < len(names):
                        bad.add(names[idx])
            if not bad:
                raise
            names = [n for n in names if n not in bad]
            continue
        return {ln.split()[0]: int(ln.split()[1]) for ln in out.splitlines()}
    return {}


def extra_entries() -> dict[str, list[tuple[str, int, str]]]:
    """tools/data/xlat-extra.txt: TABLE NAME VALUE SINCE"""
    out: dict[str, list] = {}
    with open(EXTRA) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                table, name, value, since = line.split()
                out.setdefault(table, []).append((name, int(value, 0), since))
    return out


def build() -> str:
    extras = extra_entries()
    lines = ["# generated by tools/gen_constants.py — do not edit",
             '"""Constant tables for the decoders (values of x86_64 Linux 6.18 uapi).',
             "",
             "Flag tables are tuples of (value, name) sorted by value; constant tables",
             'are dicts value -> name."""', ""]
    with tempfile.TemporaryDirectory() as wd:
        for name, kind, includes, regex, exclude, prefer in TABLES:
            found = [n for n in macros(includes, regex) if n not in exclude]
            vals = values(includes, found, wd)
            for ename, evalue, _since in extras.get(name, ()):
                vals.setdefault(ename, evalue)
            by_value: dict[int, str] = {}
            for n in sorted(vals, key=lambda n: (n not in prefer, prefer.index(n) if n in prefer else 0, n)):
                v = vals[n]
                if kind == "flags" and v == 0:
                    continue
                by_value.setdefault(v, n)
            if kind == "flags":
                items = sorted(by_value.items())
                lines.append(f"{name} = (")
                lines += [f"    ({v:#x}, {n!r})," for v, n in items]
                lines.append(")")
            else:
                lines.append(f"{name} = {{")
                lines += [f"    {v}: {n!r}," for v, n in sorted(by_value.items())]
                lines.append("}")
            lines.append("")
    lines.append("AARCH64_OPEN_FLAG_OVERRIDES = {")
    lines += [f"    {n!r}: {v:#o}," for n, v in AARCH64_OVERRIDES.items()]
    lines.append("}")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--check", action="store_true", help="exit 1 if the output would change")
    a = ap.parse_args()
    text = build()
    if a.check:
        with open(a.out) as f:
            return 0 if f.read() == text else 1
    with open(a.out, "w") as f:
        f.write(text)
    print(f"wrote {a.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

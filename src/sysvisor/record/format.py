"""The sysvisor trace file: a versioned, append-only stream of fixed-size
records, each followed by its variable-size payloads.

Everything is little-endian, whatever the host. Offsets are in bytes.

File header (64 bytes, written once when the file is created)::

    0   8  magic            b"SVTRACE\\0"
    8   2  version          u16, currently 1
    10  2  header_size      u16, 64 (the first record starts here)
    12  2  record_size      u16, 160 (size of every fixed record)
    14  2  payload_hdr_size u16, 24
    16  4  host_arch        u32, AUDIT_ARCH of the recording host
    20  4  flags            u32, bit 0: FOLLOW (children and threads recorded)
    24  8  start_ns         i64, CLOCK_REALTIME ns when recording began
    32 16  boot_id          16 bytes, /proc/sys/kernel/random/boot_id (raw UUID)
    48  4  writer_pid       u32, pid of the recording sysvisor
    52  8  reserved         zero
    60  4  header_crc       u32, zlib.crc32 of bytes 0..59

Record (record_size = 160 bytes)::

    0   4  magic            b"SVRC"
    4   2  type             u16: 1 syscall, 2 signal, 3 exit, 4 exec, 5 fork
    6   2  flags            u16: 0x1 NO_EXIT (entry seen, exit never: exit_group,
                            killed in the call, sysvisor ended first),
                            0x2 X32 (x32 syscall number), 0x4 TRUNCATED (payloads
                            cut at the per-record cap), 0x8 INJECTED (the result
                            was injected: strace's "(INJECTED)"), 0x10 DELAYED
                            (strace's "(DELAYED)"), 0x20 PARTIAL (recorded in
                            the program by a compiled layer that could not
                            capture every payload the decoders read), 0x40
                            POKED (tracee memory was overwritten: strace's
                            "(INJECTED: args)")
    8   8  seq              u64, 0, 1, 2, ... (a gap means records were lost)
    16  8  time_ns          i64, CLOCK_REALTIME ns at syscall entry (or event)
    24  8  duration_ns      i64, entry to exit, -1 when unknown
    32  4  cpu              i32, -1 (not collected: it would cost a /proc read)
    36  4  pid              i32, thread group id
    40  4  tid              i32, thread id
    44  4  arch             u32, AUDIT_ARCH of the syscall's ABI
    48  8  pidns            u64, inode of /proc/PID/ns/pid (0: unknown)
    56  8  cgroup           u64, inode of the process's cgroup v2 dir (0: unknown)
    64  4  nr               u32, syscall number (signal: signo; fork: kind)
    68  4  npayloads        u32, number of payloads that follow
    72 48  args             6 x u64, raw arguments (events: see below)
    120 8  retval           i64, return value (exit: wait status)
    128 8  ip               u64, instruction pointer at entry
    136 8  sp               u64, stack pointer at entry
    144 4  payload_bytes    u32, bytes of payloads following this record
    148 8  reserved         zero
    156 4  crc              u32, zlib.crc32 of bytes 0..155 and then of the
                            payload_bytes that follow

Event records use the same layout::

    signal (2): nr = signo, args[0..2] = si_signo, si_errno, si_code; one
                STRUCT payload with the 128 siginfo bytes (if available)
    exit   (3): retval = wait status, args[0] = exit code or -1,
                args[1] = terminating signal or 0
    exec   (4): args[0] = former tid (differs for a multi-threaded exec);
                one PATH payload with /proc/TID/exe
    fork   (5): nr = 0 fork, 1 vfork, 2 clone; args[0] = child tid,
                args[1] = child pid (thread group)
    lost   (6): records a compiled layer could not deliver (the trace
                ring of process `pid`): args[0] = records dropped because
                the ring was full, args[1] = their bytes, args[2] =
                records left half-written by a process that died, args[3]
                = records too big for the ring; counts since the last
                lost record of that process

Payload (a 24-byte header, then `length` bytes, then zeros up to a
multiple of 8)::

    0   1  kind             u8: 1 PATH (fd_path(fd) result, addr = fd),
                            2 STRING (read_str), 3 BUFFER (read), 4 STRUCT
    1   1  arg              u8, index of the argument equal to addr, 255: none
    2   1  phase            u8: 0 entry, 1 exit
    3   1  flags            u8: 0x1 COMPLETE (read_str found the NUL)
    4   4  length           u32, bytes of data
    8   8  addr             u64, tracee address read (PATH: the fd)
    16  4  size             u32, bytes asked for (read: n; read_str: maxlen)
    20  4  reserved         zero

Writing: records are appended with os.write on an O_APPEND descriptor,
one write per flush (the record layer flushes before the tracee is
resumed), so a record is either in the file whole or, at worst, cut at the
end by a crash. Reading: `read_records` yields every intact record and
raises `RecordError(offset, reason)` at the first record that is cut,
has a bad magic, a bad checksum or an unexpected sequence number.
"""
from __future__ import annotations

import os
import struct
import threading
import time
import uuid
import zlib
from dataclasses import dataclass, field
from typing import Iterator

from ..errors import SysvisorError

MAGIC = b"SVTRACE\0"
RECORD_MAGIC = b"SVRC"
VERSION = 1
HEADER_SIZE = 64
RECORD_SIZE = 160
PAYLOAD_HDR_SIZE = 24

HDR_FOLLOW = 0x1

# record types
SYSCALL, SIGNAL, EXIT, EXEC, FORK, LOST = 1, 2, 3, 4, 5, 6
TYPE_NAMES = {SYSCALL: "syscall", SIGNAL: "signal", EXIT: "exit", EXEC: "exec", FORK: "fork",
              LOST: "lost"}

# record flags
NO_EXIT = 0x1
X32 = 0x2
TRUNCATED = 0x4
INJECTED = 0x8
DELAYED = 0x10
PARTIAL = 0x20
POKED = 0x40
FLAG_NAMES = {NO_EXIT: "no_exit", X32: "x32", TRUNCATED: "truncated", INJECTED: "injected",
              DELAYED: "delayed", PARTIAL: "partial", POKED: "poked"}

# payload kinds, phases, flags
PATH, STRING, BUFFER, STRUCT = 1, 2, 3, 4
KIND_NAMES = {PATH: "path", STRING: "string", BUFFER: "buffer", STRUCT: "struct"}
ENTRY, EXIT_PHASE = 0, 1
P_COMPLETE = 0x1
NO_ARG = 255

FORK_KINDS = {"fork": 0, "vfork": 1, "clone": 2}
FORK_NAMES = {v: k for k, v in FORK_KINDS.items()}

MAX_PAYLOAD_BYTES = 1 << 20  # per record; more is cut and flagged TRUNCATED
_READ_MAX_PAYLOAD = 64 << 20  # a reader refuses records claiming more

_HDR = struct.Struct("<8sHHHHIIq16sI8s")  # without the crc
_REC = struct.Struct("<4sHHQqqiiiIQQII6QqQQI8s")  # without the crc
_PAY = struct.Struct("<BBBBIQII")
_U32 = struct.Struct("<I")
assert _HDR.size + 4 == HEADER_SIZE and _REC.size + 4 == RECORD_SIZE and _PAY.size == PAYLOAD_HDR_SIZE

_crc32 = zlib.crc32
_ZERO8 = bytes(8)


class RecordError(SysvisorError):
    """A trace file that cannot be read further: `offset` is the byte offset
    of the bad record (or header), `reason` says what is wrong."""

    def __init__(self, offset: int, reason: str):
        self.offset = offset
        self.reason = reason
        super().__init__(f"corrupt record at offset {offset}: {reason}")


class NotATraceFile(RecordError):
    """The file does not start with a sysvisor trace header."""

    def __init__(self, reason: str):
        super().__init__(0, reason)
        self.args = (f"not a sysvisor trace file ({reason})",)

    def __str__(self) -> str:
        return self.args[0]


# ---- data ------------------------------------------------------------------


@dataclass
class Header:
    version: int = VERSION
    header_size: int = HEADER_SIZE
    record_size: int = RECORD_SIZE
    payload_hdr_size: int = PAYLOAD_HDR_SIZE
    host_arch: int = 0
    flags: int = 0
    start_ns: int = 0
    boot_id: bytes = bytes(16)
    writer_pid: int = 0

    def pack(self) -> bytes:
        body = _HDR.pack(MAGIC, self.version, self.header_size, self.record_size,
                         self.payload_hdr_size, self.host_arch, self.flags, self.start_ns,
                         self.boot_id, self.writer_pid, _ZERO8)
        return body + _U32.pack(_crc32(body))

    @property
    def boot_uuid(self) -> str:
        return str(uuid.UUID(bytes=self.boot_id))


@dataclass
class Payload:
    kind: int
    arg: int
    phase: int
    flags: int
    addr: int
    size: int
    data: bytes

    @property
    def complete(self) -> bool:
        return bool(self.flags & P_COMPLETE)


@dataclass
class Record:
    type: int = SYSCALL
    flags: int = 0
    seq: int = 0
    time_ns: int = 0
    duration_ns: int = -1
    cpu: int = -1
    pid: int = 0
    tid: int = 0
    arch: int = 0
    pidns: int = 0
    cgroup: int = 0
    nr: int = 0
    args: tuple = (0, 0, 0, 0, 0, 0)
    retval: int = 0
    ip: int = 0
    sp: int = 0
    payloads: list = field(default_factory=list)
    offset: int = -1  # where the reader found it

    @property
    def kind(self) -> str:
        return TYPE_NAMES.get(self.type, str(self.type))

    @property
    def arch_name(self) -> str:
        from ..arch import ARCH_NAMES

        return ARCH_NAMES.get(self.arch, f"audit_{self.arch:#x}")

    @property
    def syscall(self):
        """The syscall's table entry in the record's own arch, or None."""
        if self.type != SYSCALL or self.flags & X32:
            return None
        from ..tables import table

        try:
            return table(self.arch_name).by_nr.get(self.nr)
        except (ValueError, ImportError, KeyError):
            return None

    @property
    def name(self) -> str:
        sc = self.syscall
        return sc.name if sc is not None else f"syscall_{self.nr:#x}"


# ---- packing -----------------------------------------------------------------


def pack_payloads(payloads) -> tuple[bytes, int, bool]:
    """(bytes, count, truncated) for (kind, arg, phase, flags, addr, size, data)
    tuples; stops before MAX_PAYLOAD_BYTES."""
    out = []
    total = 0
    n = 0
    append = out.append
    pack = _PAY.pack
    for kind, arg, phase, flags, addr, size, data in payloads:
        ln = len(data)
        pad = -ln & 7
        need = PAYLOAD_HDR_SIZE + ln + pad
        if total + need > MAX_PAYLOAD_BYTES:
            return b"".join(out), n, True
        append(pack(kind, arg, phase, flags, ln, addr & 0xFFFFFFFFFFFFFFFF,
                    size if size < 0xFFFFFFFF else 0xFFFFFFFF, 0))
        append(data)
        if pad:
            append(_ZERO8[:pad])
        total += need
        n += 1
    return b"".join(out), n, False


def pack_record(seq: int, rtype: int, flags: int, time_ns: int, duration_ns: int, cpu: int,
                pid: int, tid: int, arch: int, pidns: int, cgroup: int, nr: int, args,
                retval: int, ip: int, sp: int, payloads=()) -> bytes:
    if payloads:
        pay, npay, truncated = pack_payloads(payloads)
        if truncated:
            flags |= TRUNCATED
    else:
        pay, npay = b"", 0
    m = 0xFFFFFFFFFFFFFFFF
    if len(args) >= 6:
        a0, a1, a2, a3, a4, a5 = args[:6]
    else:
        a0, a1, a2, a3, a4, a5 = (*args, 0, 0, 0, 0, 0, 0)[:6]
    if retval.__class__ is not int or not -0x8000000000000000 <= retval <= 0x7FFFFFFFFFFFFFFF:
        retval = _clamp_i64(retval)
    body = _REC.pack(RECORD_MAGIC, rtype, flags, seq, time_ns, duration_ns, cpu, pid, tid,
                     arch & 0xFFFFFFFF, pidns, cgroup, nr & 0xFFFFFFFF, npay, a0 & m, a1 & m,
                     a2 & m, a3 & m, a4 & m, a5 & m, retval, ip & m, sp & m, len(pay), _ZERO8)
    if pay:
        return body + _U32.pack(_crc32(pay, _crc32(body))) + pay
    return body + _U32.pack(_crc32(body))


def _clamp_i64(v: int) -> int:
    v = int(v)
    if -(1 << 63) <= v < (1 << 63):
        return v
    v &= 0xFFFFFFFFFFFFFFFF
    return v - (1 << 64) if v >> 63 else v


def read_boot_id() -> bytes:
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return uuid.UUID(f.read().strip()).bytes
    except (OSError, ValueError):
        return bytes(16)


# ---- writer ------------------------------------------------------------------


class Writer:
    """Appends records to a trace file.

        w = Writer("out.svt", host_arch=AUDIT_ARCH_X86_64)
        w.add(SYSCALL, pid=1, tid=1, arch=..., nr=0, args=(...), retval=3)
        w.flush()          # one os.write of everything added since the last flush
        w.close()

    The file is created (or truncated) with the header written at once; the
    descriptor is O_APPEND, so records are only ever added at the end.
    `add` only buffers: call `flush` before the tracee goes on, so that a
    crash of sysvisor loses at most what happened since.
    """

    def __init__(self, path: str, host_arch: int = 0, flags: int = 0, mode: int = 0o644,
                 start_ns: int | None = None):
        self.path = path
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND | os.O_CLOEXEC,
                          mode)
        self.header = Header(host_arch=host_arch, flags=flags,
                             start_ns=time.time_ns() if start_ns is None else start_ns,
                             boot_id=read_boot_id(), writer_pid=os.getpid())
        self.seq = 0
        self._buf: list[bytes] = []
        self.bytes_written = 0
        self._lock = threading.Lock()  # handlers may run on worker threads
        try:
            self._write(self.header.pack())
        except OSError:
            os.close(self.fd)
            raise

    def add(self, rtype: int, *, flags: int = 0, time_ns: int = 0, duration_ns: int = -1,
            cpu: int = -1, pid: int = 0, tid: int = 0, arch: int = 0, pidns: int = 0,
            cgroup: int = 0, nr: int = 0, args=(0, 0, 0, 0, 0, 0), retval: int = 0, ip: int = 0,
            sp: int = 0, payloads=()) -> int:
        """Buffer one record; returns its sequence number."""
        with self._lock:
            seq = self.seq
            self._buf.append(pack_record(seq, rtype, flags, time_ns, duration_ns, cpu, pid, tid,
                                         arch, pidns, cgroup, nr, args, retval, ip, sp, payloads))
            self.seq = seq + 1
        return seq

    def add_packed(self, rec: bytes) -> int:
        """Buffer one record packed elsewhere (the 160 bytes and its
        payloads; seq and crc are filled in here); returns its sequence
        number. For records made by compiled layers (sysvisor.compiled)."""
        b = bytearray(rec)
        with self._lock:
            seq = self.seq
            struct.pack_into("<Q", b, 8, seq)
            _U32.pack_into(b, RECORD_SIZE - 4, _crc32(memoryview(b)[RECORD_SIZE:],
                                                       _crc32(memoryview(b)[:RECORD_SIZE - 4])))
            self._buf.append(bytes(b))
            self.seq = seq + 1
        return seq

    def add_sequenced(self, produce) -> int:
        """Buffer records numbered and checksummed by the caller:
        produce(seq) -> (bytes, n) packs n records numbered seq, seq+1, ...
        (the C drainer of sysvisor.compiled does). Returns n."""
        with self._lock:
            data, n = produce(self.seq)
            if n:
                self._buf.append(data)
                self.seq += n
        return n

    @property
    def pending(self) -> int:
        return len(self._buf)

    def flush(self) -> None:
        buf = self._buf
        if not buf or self.fd < 0:
            return
        with self._lock:  # in seq order, even from several threads
            data = buf[0] if len(buf) == 1 else b"".join(buf)
            buf.clear()
            n = os.write(self.fd, data)  # one write per flush, nearly always whole
            self.bytes_written += n
            if n < len(data):
                self._write(data[n:])

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.write(self.fd, view)
            self.bytes_written += n
            view = view[n:]

    def close(self) -> None:
        if self.fd < 0:
            return
        try:
            self.flush()
        finally:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> "Writer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# ---- reader ------------------------------------------------------------------


def parse_header(data: bytes) -> Header:
    if len(data) < 8 or data[:8] != MAGIC:
        raise NotATraceFile("bad magic" if len(data) >= 8 else "file too short")
    if len(data) < HEADER_SIZE:
        raise RecordError(0, f"truncated header ({len(data)} of {HEADER_SIZE} bytes)")
    (_m, version, hsize, rsize, psize, host_arch, flags, start_ns, boot_id, wpid,
     _r) = _HDR.unpack_from(data)
    if version != VERSION:
        raise RecordError(8, f"unsupported version {version} (this sysvisor reads {VERSION})")
    (crc,) = _U32.unpack_from(data, _HDR.size)
    if _crc32(data[:_HDR.size]) != crc:
        raise RecordError(0, "header checksum mismatch")
    if hsize < HEADER_SIZE or rsize < RECORD_SIZE or psize < PAYLOAD_HDR_SIZE:
        raise RecordError(0, f"bad sizes in header (header {hsize}, record {rsize}, payload {psize})")
    return Header(version, hsize, rsize, psize, host_arch, flags, start_ns, boot_id, wpid)


class Reader:
    """Reads a trace file record by record.

        r = Reader("out.svt")
        print(r.header.start_ns)
        for rec in r:            # RecordError at the first bad record,
            print(rec.name)      # after every intact one before it

    follow=True keeps reading as the file grows (like `tail -f`): at the end
    of the file, or in the middle of a record still being written, it waits
    `poll` seconds and tries again; it stops after `idle_timeout` seconds
    without new data (None: never) or when `stop()` returns true.
    """

    def __init__(self, path, follow: bool = False, poll: float = 0.1,
                 idle_timeout: float | None = None, stop=None):
        self.path = path
        self.follow = follow
        self.poll = poll
        self.idle_timeout = idle_timeout
        self.stop = stop
        self.f = open(path, "rb") if isinstance(path, (str, bytes, os.PathLike)) else path
        self.offset = 0
        self.header = self._read_header()
        self.offset = self.header.header_size
        self.expected_seq = 0

    def close(self) -> None:
        self.f.close()

    def __enter__(self) -> "Reader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _pread(self, offset: int, n: int) -> bytes:
        self.f.seek(offset)
        return self.f.read(n)

    def _wait(self, idle_since: float) -> bool:
        """In follow mode, sleep and say whether to try again."""
        if not self.follow or (self.stop is not None and self.stop()):
            return False
        if self.idle_timeout is not None and time.monotonic() - idle_since > self.idle_timeout:
            return False
        time.sleep(self.poll)
        return True

    def _read_header(self) -> Header:
        since = time.monotonic()
        while True:
            data = self._pread(0, HEADER_SIZE)
            if len(data) >= HEADER_SIZE or (data and data[:len(MAGIC)] != MAGIC[:len(data)]):
                break
            if not self._wait(since):
                break
        h = parse_header(data)
        if h.header_size > HEADER_SIZE and len(self._pread(0, h.header_size)) < h.header_size:
            raise RecordError(0, "truncated header")
        return h

    def __iter__(self) -> Iterator[Record]:
        return self.records()

    def records(self) -> Iterator[Record]:
        h = self.header
        rsize = h.record_size
        phsize = h.payload_hdr_size
        since = time.monotonic()
        retries = 0
        while True:
            off = self.offset
            raw = self._pread(off, rsize)
            if len(raw) < rsize:
                if self._wait(since):
                    continue
                if not raw:
                    return
                raise RecordError(off, f"truncated record ({len(raw)} of {rsize} bytes)")
            if raw[:4] != RECORD_MAGIC:
                raise RecordError(off, f"bad record magic {raw[:4]!r}")
            fields = _REC.unpack_from(raw)
            nbytes = fields[23]
            (crc,) = _U32.unpack_from(raw, rsize - 4)
            if nbytes > _READ_MAX_PAYLOAD:
                raise RecordError(off, f"implausible payload size {nbytes}")
            pay = self._pread(off + rsize, nbytes) if nbytes else b""
            if len(pay) < nbytes:
                if self._wait(since):
                    continue
                raise RecordError(off, f"truncated payloads ({len(pay)} of {nbytes} bytes)")
            if _crc32(pay, _crc32(raw[:rsize - 4])) != crc:
                # a writer may still be copying this record into the file
                if self.follow and retries < 20 and self._wait(since):
                    retries += 1
                    continue
                raise RecordError(off, "checksum mismatch")
            retries = 0
            seq = fields[3]
            if seq != self.expected_seq:
                raise RecordError(off, f"sequence number {seq}, expected {self.expected_seq}")
            rec = _make_record(fields, off)
            rec.payloads = _parse_payloads(pay, fields[13], phsize, off + rsize)
            self.offset = off + rsize + nbytes
            self.expected_seq = seq + 1
            since = time.monotonic()
            yield rec


def _make_record(f, off: int) -> Record:
    nr = f[12]
    if nr >> 31:
        nr -= 1 << 32
    return Record(type=f[1], flags=f[2], seq=f[3], time_ns=f[4], duration_ns=f[5], cpu=f[6],
                  pid=f[7], tid=f[8], arch=f[9], pidns=f[10], cgroup=f[11], nr=nr,
                  args=f[14:20], retval=f[20], ip=f[21], sp=f[22], offset=off)


def _parse_payloads(pay: bytes, count: int, phsize: int, base: int) -> list[Payload]:
    out = []
    pos = 0
    for i in range(count):
        if pos + phsize > len(pay):
            raise RecordError(base + pos, f"payload {i} header past the record's payload bytes")
        kind, arg, phase, flags, ln, addr, size, _r = _PAY.unpack_from(pay, pos)
        start = pos + phsize
        if start + ln > len(pay):
            raise RecordError(base + pos, f"payload {i} length {ln} past the record's payload bytes")
        out.append(Payload(kind, arg, phase, flags, addr, size, pay[start:start + ln]))
        pos = start + ln + (-ln & 7)
    return out


def read_records(path, follow: bool = False, **kw) -> Iterator[Record]:
    """Every record of the file at `path` (see Reader)."""
    with Reader(path, follow=follow, **kw) as r:
        yield from r.records()

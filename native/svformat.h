/* Layouts shared by the evaluator (svpolicy.c), the trace ring (svring.c)
 * and the supervisor's consumer (src/sysvisor/compiled/_svring.c): the
 * policy blob made by src/sysvisor/compiled/blob.py and the per-process
 * shared region. Byte-exact descriptions: docs/compiled-format.md.
 * Everything is little-endian; offsets are from the start of the blob
 * (or region). Internal: the shim only needs svpolicy.h. */
#ifndef SVFORMAT_H
#define SVFORMAT_H

#include <stdint.h>

/* ---- the policy blob ------------------------------------------------------ */

#define SVB_MAGIC "SVPOLICY"
#define SVB_VERSION 1
#define SVB_HEADER_SIZE 128
#define SVB_MAX_SIZE (16u << 20)
#define SVB_MAX_ARCHES 4
#define SVB_MAX_NR 4096          /* numbers per arch table */
#define SVB_MAX_ACTIONS 32       /* per syscall */
#define SVB_MAX_ALTS 16          /* alternatives per predicate list */
#define SVB_MAX_PREDS 8          /* predicates per alternative */
#define SVB_MAX_BINDS 64
#define SVB_MAX_COUNTERS 256     /* of each scope */
#define SVB_MAX_GROUPS 1024
#define SVB_MAX_OPS 16           /* capture ops per trace action */
#define SVB_MAX_POKES 8
#define SVB_MAX_POKE 4096

struct svb_header {
    char magic[8];
    uint16_t version, header_size;
    uint32_t total_size;
    uint32_t flags;              /* SVB_F_* */
    uint32_t narches, arches_off;
    uint32_t nbinds, binds_off;
    uint32_t thread_counters, process_counters;
    uint32_t strsize, capture_max;
    uint32_t ids_off;            /* 8 x u32 initial fakeroot ids, 0: none */
    uint32_t ngroups;
    uint32_t thread_slots;       /* size of the per-thread counter table */
    uint8_t reserved[60];
    uint32_t crc;                /* zlib crc32 of the blob with this field zero */
};
_Static_assert(sizeof(struct svb_header) == SVB_HEADER_SIZE, "blob header");

#define SVB_F_RING_BLOCK 0x1     /* ring full: wait (else count a drop) */

struct svb_arch {
    uint32_t audit_arch, nr_count, index_off, default_off;
};

/* an entry: the actions of one syscall, in stack order */
struct svb_entry {
    uint16_t nactions, flags;    /* SVB_E_* */
    uint32_t size;               /* bytes, header included, multiple of 8 */
};
#define SVB_E_NORETURN 0x1       /* exit, exit_group: a trace is written at entry */
#define SVB_E_EXEC 0x2           /* execve(at): written at entry, amended if it returns */
#define SVB_E_THREAD_EXIT 0x4    /* exit: the thread's counter slot is released */

struct svb_action {
    uint8_t type, flags;
    uint16_t size;               /* bytes, header, predicates and body, multiple of 8 */
    uint8_t nalts, reserved[3];
};
enum { SVB_CROSS = 1, SVB_INJECT = 2, SVB_TRACE = 3, SVB_REMAP = 4, SVB_IDS = 5 };

struct svb_alt {
    uint8_t npreds, reserved[7];
};
struct svb_pred {                /* (args[index] & mask & width) ==/!= (value & mask & width) */
    uint8_t index, negate, bits, reserved[5];
    uint64_t mask, value;
};

struct svb_cross {
    uint32_t group, reserved;
};

struct svb_inject {
    uint32_t error, flags;       /* SVB_I_* */
    int64_t retval;
    uint32_t signal, counter;
    uint32_t first, last, step, subst_nr;
    uint64_t delay_enter_ns, delay_exit_ns;
    uint16_t npokes, reserved[3];
    /* then npokes x (struct svb_poke + data padded to 8) */
};
#define SVB_I_RETVAL 0x1
#define SVB_I_SUBST 0x2          /* run subst_nr instead, set the result at exit */
#define SVB_I_PROCESS 0x4        /* count the process's threads together */
#define SVB_I_WHEN 0x8           /* first/last/step apply (else every call) */
struct svb_poke {
    uint8_t phase, arg;
    uint16_t len;
    uint32_t reserved;
};

struct svb_trace {
    uint16_t nops, flags;        /* SVB_T_* */
    uint32_t reserved;
    /* then nops x struct svb_op */
};
#define SVB_T_PARTIAL 0x1        /* some reads of the decoders are not compiled */
struct svb_op {
    uint8_t op, phase, arg, cond, len_src, len_arg;
    uint16_t reserved;
    uint32_t size, size2;
};
enum { SVB_OP_STR = 1,           /* read_str(args[arg], size) */
       SVB_OP_BUF = 2,           /* read(args[arg], min(len, size2)); len by len_src */
       SVB_OP_FDPATH = 3,        /* readlink /proc/self/fd/N, N = args[arg] or the result (arg 6) */
       SVB_OP_ARGV = 4,          /* NULL-ended pointer array, size words max, strings of size2 */
       SVB_OP_WORDS = 5 };       /* NULL-ended pointer array, size words max, no strings */
#define SVB_ARG_RETVAL 6
enum { SVB_LEN_CONST = 0, SVB_LEN_ARG = 1, SVB_LEN_RETVAL = 2 };
#define SVB_C_OK 0x1             /* only when the call did not fail */
#define SVB_C_NONZERO 0x2        /* only when the address is not NULL */
#define SVB_C_NOT_CWD 0x4        /* fd: skip AT_FDCWD */
#define SVB_C_FD_NONNEG 0x8      /* fd: skip negative values */
#define SVB_C_EMPTY 0x10         /* BUF: a zero length is still a (zero-byte) read */

struct svb_remap {
    uint8_t npaths, result, buf_arg, size_arg;
    uint32_t reserved;
    /* then npaths x struct svb_path */
};
enum { SVB_RES_NONE = 0, SVB_RES_GETCWD = 1, SVB_RES_READLINK = 2 };
struct svb_path {
    uint8_t arg;
    int8_t dirfd_arg;            /* -1: relative to the cwd */
    uint8_t write_kind, write_arg;
    uint32_t reserved;
};
enum { SVB_W_NEVER = 0, SVB_W_ALWAYS = 1, SVB_W_OPEN_FLAGS = 2, SVB_W_OPEN_HOW = 3,
       SVB_W_ACCESS = 4 };
#define SVB_MAX_PATHS 2

struct svb_bind {
    uint32_t guest_off;
    uint16_t guest_len, host_len;
    uint32_t host_off, flags;    /* SVB_B_* */
};
#define SVB_B_RO 0x1

struct svb_ids {
    uint8_t op, which, old16, reserved[5];
};
enum { SVB_ID_GET = 1, SVB_ID_GETRES = 2, SVB_ID_SET = 3, SVB_ID_SETRE = 4, SVB_ID_SETRES = 5,
       SVB_ID_SETFS = 6, SVB_ID_RET0 = 7, SVB_ID_CAPSET = 8 };
/* ids: ruid euid suid fsuid rgid egid sgid fsgid */
#define SVB_NIDS 8

/* ---- the per-process shared region ---------------------------------------- */

#define SVR_MAGIC "SVREGION"
#define SVR_VERSION 1
#define SVR_HEADER_SIZE 4096
#define SVR_SLOT 64              /* ring slot size */
#define SVR_CONT (1ull << 63)    /* slot seq bit: a record's continuation slot */

struct svr_header {
    char magic[8];
    uint32_t version, header_size;
    uint64_t region_size;
    int32_t pid;
    uint32_t flags;              /* SVR_F_* */
    uint64_t ring_off, nslots;
    uint32_t slot_size, thread_slots;
    uint64_t seq_off, threads_off;
    uint32_t thread_stride, nthread_counters, nprocess_counters, ids_valid;
    uint32_t ids[SVB_NIDS];
    uint64_t counters_off;
    /* 128: clock calibration, written by the supervisor (a seqlock) */
    uint32_t clock_seq, clock_kind;  /* SVR_CLOCK_* */
    uint64_t tsc_base;
    int64_t ns_base;
    uint32_t tsc_mult, tsc_shift;
    /* 160: the big buffers of calls in flight, per thread slot (small pending areas) */
    uint32_t scratch_bytes, scratch_levels;
    uint8_t pad1[256 - 168];
    /* 256: the producers' position, alone in its cache line */
    uint64_t head;
    uint8_t pad2[56];
    /* 320: the consumer's position */
    uint64_t tail;
    uint8_t pad3[56];
    /* 384: statistics */
    uint64_t dropped, dropped_bytes, too_big, thread_overflow, blocked, written;
    uint8_t pad4[16];
    /* 448: futex words */
    uint32_t space_futex, space_waiters, data_futex, consumer_waiting;
};
_Static_assert(__builtin_offsetof(struct svr_header, clock_seq) == 128, "clock");
_Static_assert(__builtin_offsetof(struct svr_header, head) == 256, "head");
_Static_assert(__builtin_offsetof(struct svr_header, tail) == 320, "tail");
_Static_assert(__builtin_offsetof(struct svr_header, dropped) == 384, "stats");
_Static_assert(__builtin_offsetof(struct svr_header, space_futex) == 448, "futex");
#define SVR_F_BLOCK 0x1          /* ring full: producers wait */
#define SVR_F_CLOSED 0x2         /* the consumer is gone: producers drop */
enum { SVR_CLOCK_SYSCALL = 0, SVR_CLOCK_TSC = 1 };

/* ---- trace records (docs/record-format.md), as the ring carries them ------ */

#define SVT_RECORD_SIZE 160
#define SVT_PAYLOAD_HDR 24
#define SVT_NO_ARG 255
enum { SVT_SYSCALL = 1, SVT_AMEND = 0x81 };  /* 0x80+: ring-only types */
#define SVT_NO_EXIT 0x1
#define SVT_X32 0x2
#define SVT_TRUNCATED 0x4
#define SVT_INJECTED 0x8
#define SVT_DELAYED 0x10
#define SVT_PARTIAL 0x20
#define SVT_POKED 0x40
#define SVT_HELD 0x8000          /* ring-only: an exec, amended if it returns */
enum { SVT_P_PATH = 1, SVT_P_STRING = 2, SVT_P_BUFFER = 3 };
#define SVT_P_COMPLETE 0x1

struct svt_record {
    char magic[4];
    uint16_t type, flags;
    uint64_t seq;
    int64_t time_ns, duration_ns;
    int32_t cpu, pid, tid;
    uint32_t arch;
    uint64_t pidns, cgroup;
    uint32_t nr, npayloads;
    uint64_t args[6];
    int64_t retval;
    uint64_t ip, sp;
    uint32_t payload_bytes;
    uint8_t reserved[8];
    uint32_t crc;
};
_Static_assert(sizeof(struct svt_record) == SVT_RECORD_SIZE, "record");

struct svt_payload {
    uint8_t kind, arg, phase, flags;
    uint32_t length;
    uint64_t addr;
    uint32_t size, reserved;
};
_Static_assert(sizeof(struct svt_payload) == SVT_PAYLOAD_HDR, "payload");

#endif

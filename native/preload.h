/* Method `preload`: the libc overlay's generated wrappers (see preload.c).
 *
 * Every wrapper has the x86_64 integer convention of six longs: the caller's
 * registers reach it unchanged whatever the libc prototype (int arguments,
 * variadic open/fcntl/ioctl/prctl), and the real function gets them back
 * unchanged. A wrapper returns what the real function returns, or the
 * layers' answer as -1 and errno.
 */
#ifndef SYSVISOR_PRELOAD_H
#define SYSVISOR_PRELOAD_H

#include "shim.h"

long sv_pl_call(int idx, long nr, int nargs, long a0, long a1, long a2, long a3, long a4, long a5,
                void *ip, void *sp) SV_HIDDEN;
extern const int sv_pl_count SV_HIDDEN;
extern const char *const sv_pl_names[] SV_HIDDEN;
extern void *sv_pl_real[] SV_HIDDEN;

#define SV_WRAP(name, idx, nr, nargs)                                                          \
    __attribute__((visibility("default"))) long name(long a0, long a1, long a2, long a3,      \
                                                     long a4, long a5)                         \
    {                                                                                          \
        return sv_pl_call(idx, nr, nargs, a0, a1, a2, a3, a4, a5, __builtin_return_address(0), \
                          __builtin_frame_address(0));                                         \
    }

#endif

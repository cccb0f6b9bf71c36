/* Opens argv[1] (read-only, with openat) N times (argv[2], default 1),
 * closing each fd.  Prints "opened=K failed=F first_errno=NAME" (NAME is
 * e.g. ENOENT, or "none").  Exits 0 if every open succeeded, else 1. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: opens PATH [N]\n");
        return 2;
    }
    long n = argc > 2 ? atol(argv[2]) : 1;
    long ok = 0, failed = 0;
    int first_errno = 0;
    for (long i = 0; i < n; i++) {
        int fd = openat(AT_FDCWD, argv[1], O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            ok++;
            close(fd);
        } else {
            if (!failed)
                first_errno = errno;
            failed++;
        }
    }
    const char *name = "none";
    if (first_errno) {
        name = strerrorname_np(first_errno);
        if (!name)
            name = "unknown";
    }
    printf("opened=%ld failed=%ld first_errno=%s\n", ok, failed, name);
    return failed ? 1 : 0;
}

/* Makes one path-check-bypassing syscall, named by argv[1], with harmless
 * arguments, and prints "NAME rc=R errno=E" (E as a name, or "none").
 * Used to check that confinement_denials() refuses each of them.
 *   io_uring_setup  open_by_handle_at  name_to_handle_at  unshare_ns
 *   unshare_user  mount  chroot  setns0  mknod_dev  clone3
 *   unshare_files (allowed: no namespace flags)
 * Harmless when not denied (run as root, unconfined): unshare only
 * affects this process, the mount goes on ./mnt (created here) and is
 * undone at once, the device node is ./nullnode and is removed. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425
#endif
#ifndef __NR_clone3
#define __NR_clone3 435
#endif

static const char *ename(int e)
{
    switch (e) {
    case 0: return "none";
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case ENOSYS: return "ENOSYS";
    case EINVAL: return "EINVAL";
    case EFAULT: return "EFAULT";
    case ENOENT: return "ENOENT";
    case EBADF: return "EBADF";
    case EBUSY: return "EBUSY";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    default: return strerrorname_np(e) ? strerrorname_np(e) : "other";
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bypass NAME\n");
        return 2;
    }
    const char *n = argv[1];
    long rc;
    errno = 0;
    if (!strcmp(n, "io_uring_setup")) {
        char params[120];
        memset(params, 0, sizeof params);
        rc = syscall(__NR_io_uring_setup, 4, params);
    } else if (!strcmp(n, "open_by_handle_at")) {
        struct { unsigned int bytes; int type; unsigned char h[128]; } fh;
        memset(&fh, 0, sizeof fh);
        fh.bytes = 8;
        rc = syscall(SYS_open_by_handle_at, AT_FDCWD, &fh, O_RDONLY);
    } else if (!strcmp(n, "name_to_handle_at")) {
        struct { unsigned int bytes; int type; unsigned char h[128]; } fh;
        int mnt;
        fh.bytes = 128;
        rc = syscall(SYS_name_to_handle_at, AT_FDCWD, "/", &fh, &mnt, 0);
    } else if (!strcmp(n, "unshare_ns")) {
        rc = syscall(SYS_unshare, CLONE_NEWNS);
    } else if (!strcmp(n, "unshare_user")) {
        rc = syscall(SYS_unshare, CLONE_NEWUSER);
    } else if (!strcmp(n, "unshare_files")) {
        rc = syscall(SYS_unshare, CLONE_FILES);
    } else if (!strcmp(n, "mount")) {
        mkdir("mnt", 0700);
        rc = syscall(SYS_mount, "none", "mnt", "tmpfs", 0UL, NULL);
        if (rc == 0)
            umount2("mnt", MNT_DETACH);
        rmdir("mnt");
    } else if (!strcmp(n, "chroot")) {
        rc = syscall(SYS_chroot, "/");
    } else if (!strcmp(n, "setns0")) {
        int fd = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
        rc = syscall(SYS_setns, fd, 0);
    } else if (!strcmp(n, "mknod_dev")) {
        rc = syscall(SYS_mknodat, AT_FDCWD, "nullnode", S_IFCHR | 0600, makedev(1, 3));
        if (rc == 0)
            unlink("nullnode");
    } else if (!strcmp(n, "clone3")) {
        rc = syscall(__NR_clone3, NULL, 0);  /* EINVAL/EFAULT natively */
    } else {
        fprintf(stderr, "bypass: unknown %s\n", n);
        return 2;
    }
    int e = rc < 0 ? errno : 0;
    printf("%s rc=%ld errno=%s\n", n, rc, ename(e));
    return 0;
}

/* Attacks on other processes of the escape battery (see escape_common.h).
 *
 *   escape_ptrace supervisor
 *   escape_ptrace sibling PID ADDR
 *
 * supervisor: the parent process (the supervisor, when confined): attach
 *   with PTRACE_SEIZE (no stop: detached again when we exit), read its
 *   memory with process_vm_readv (an address from /proc/PPID/maps, when
 *   visible) and write it with process_vm_writev (the very bytes just
 *   read: harmless if it works), copy its descriptors with pidfd_getfd
 *   (the seccomp listener among them: whoever holds it answers the
 *   program's calls).
 * sibling: a process outside the sandbox (escape_victim) holding
 *   VICTIM_MAGIC at ADDR: PTRACE_ATTACH (then detach), process_vm_readv of
 *   the magic, process_vm_writev over it, pidfd_getfd of its fds. */
#include "escape_common.h"

#include <signal.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>

#define VICTIM_MAGIC "VICTIM-MAGIC"

static unsigned long readable_address(pid_t pid)
{
    char path[64], line[512];
    unsigned long lo = 0x400000, hi;
    char perms[8];
    snprintf(path, sizeof path, "/proc/%d/maps", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return lo;  /* not visible: guess (the call's errno still tells) */
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) == 3 && perms[0] == 'r')
            break;
    fclose(f);
    return lo;
}

static char got[64];  /* what vm_read read */
static ssize_t ngot;

static void vm_read(pid_t pid, unsigned long addr, const char *want, const char *how)
{
    struct iovec local = { got, sizeof got - 1 }, remote = { (void *)addr, sizeof got - 1 };
    ssize_t n = ngot = process_vm_readv(pid, &local, 1, &remote, 1, 0);
    if (n > 0 && (!want || !strncmp(got, want, strlen(want))))
        escaped("%s (%zd bytes)", how, n);
    else
        blocked(n < 0 ? errno : 0, "%s", how);
}

/* write back what vm_read got (so nothing changes), or one byte at an
 * address that is not writable memory when it got nothing */
static void vm_write_back(pid_t pid, unsigned long addr, const char *how)
{
    struct iovec local = { got, ngot > 0 ? (size_t)ngot : 1 };
    struct iovec remote = { (void *)addr, local.iov_len };
    if (process_vm_writev(pid, &local, 1, &remote, 1, 0) > 0)
        escaped("%s", how);
    else
        blocked(errno, "%s", how);
}

static void getfd(pid_t pid, const char *how)
{
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pidfd < 0) {
        blocked(errno, "%s: pidfd_open", how);
        return;
    }
    int err = 0;
    for (int n = 0; n < 1024; n++) {
        int fd = (int)syscall(SYS_pidfd_getfd, pidfd, n, 0);
        if (fd >= 0) {
            escaped("%s: got its fd %d", how, n);
            close(fd);
            close(pidfd);
            return;
        }
        if (errno != EBADF)
            err = errno;
    }
    blocked(err ? err : EBADF, "%s", how);
    close(pidfd);
}

int main(int argc, char **argv)
{
    esc_init();
    if (argc == 2 && !strcmp(argv[1], "supervisor")) {
        pid_t sup = getppid();
        if (ptrace(PTRACE_SEIZE, sup, 0, 0) == 0)
            escaped("PTRACE_SEIZE of the supervisor");
        else
            blocked(errno, "PTRACE_SEIZE of the supervisor");
        unsigned long addr = readable_address(sup);
        vm_read(sup, addr, NULL, "process_vm_readv of the supervisor");
        if (ngot > 0 && ngot < (ssize_t)sizeof got - 1)
            ngot = 0;  /* a short read: do not write anything back */
        vm_write_back(sup, ngot > 0 ? addr : 0, "process_vm_writev of the supervisor");
        getfd(sup, "pidfd_getfd of the supervisor");
        return verdict();
    }
    if (argc != 4 || strcmp(argv[1], "sibling")) {
        fprintf(stderr, "usage: escape_ptrace supervisor | sibling PID ADDR\n");
        return 2;
    }
    pid_t pid = atoi(argv[2]);
    unsigned long addr = strtoul(argv[3], NULL, 0);
    if (ptrace(PTRACE_ATTACH, pid, 0, 0) == 0) {
        escaped("PTRACE_ATTACH of a process outside");
        int st;
        waitpid(pid, &st, __WALL);
        ptrace(PTRACE_DETACH, pid, 0, 0);
    } else {
        blocked(errno, "PTRACE_ATTACH of a process outside");
    }
    vm_read(pid, addr, VICTIM_MAGIC, "process_vm_readv of a process outside");
    char pwn[] = "PWNED";
    struct iovec local = { pwn, sizeof pwn }, remote = { (void *)addr, sizeof pwn };
    if (process_vm_writev(pid, &local, 1, &remote, 1, 0) > 0)
        escaped("process_vm_writev of a process outside");
    else
        blocked(errno, "process_vm_writev of a process outside");
    getfd(pid, "pidfd_getfd of a process outside");
    return verdict();
}

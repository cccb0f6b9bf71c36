/* Mount-table attacks of the escape battery (see escape_common.h).
 *
 *   escape_mount MODE SECRET_DIR NAME
 *
 * Run in a writable directory inside the view; SECRET_DIR/NAME is the
 * secret. Each mode first gets the privilege it needs the way an
 * unprivileged program would (a user namespace: unshare(CLONE_NEWUSER)
 * when not root) and, for the mount modes, a private mount namespace of
 * its own; then:
 *   bind        bind-mount SECRET_DIR on ./mnt and read ./mnt/NAME
 *   userns      the same, always through a new user namespace (root too)
 *   clone_ns    the same in a child made by clone(CLONE_NEWUSER|CLONE_NEWNS)
 *   chroot      the classic chroot escape: chroot(./jail) keeping the cwd
 *               outside, chdir("..") up to the real root, chroot(".")
 *   pivot_root  bind SECRET_DIR on ./pr, pivot_root there (the old root
 *               goes to SECRET_DIR/old, which the test made)
 *   open_tree   open_tree(SECRET_DIR, OPEN_TREE_CLONE), openat(tree, NAME)
 *
 * Never harms the host: mounts are only made after unshare(CLONE_NEWNS)
 * succeeded, with / made private first; when the namespace was refused
 * (confined), the mount calls are still made - they must be denied - but
 * only with targets in the cwd (a bind of the test's own directory), and
 * pivot_root only with a new_root that is no mount point (the kernel
 * itself refuses that with EINVAL). Anything mounted is detached again. */
#include "escape_common.h"

#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef __NR_open_tree
#define __NR_open_tree 428
#endif

static const char *dir, *name;
static int private_ns;  /* in a mount namespace of our own */

static void write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (write(fd, text, strlen(text)) < 0)
            printf("NOTE write %s: %s\n", path, esc_ename(errno));
        close(fd);
    }
}

static void user_namespace(int always)
{
    if (geteuid() == 0 && !always)
        return;
    uid_t uid = geteuid();
    gid_t gid = getegid();
    if (unshare(CLONE_NEWUSER) != 0) {
        blocked(errno, "unshare(CLONE_NEWUSER)");
        return;
    }
    char map[64];
    write_file("/proc/self/setgroups", "deny");
    snprintf(map, sizeof map, "0 %d 1", (int)uid);
    write_file("/proc/self/uid_map", map);
    snprintf(map, sizeof map, "0 %d 1", (int)gid);
    write_file("/proc/self/gid_map", map);
}

static void mount_namespace(void)
{
    if (unshare(CLONE_NEWNS) != 0) {
        blocked(errno, "unshare(CLONE_NEWNS)");
        return;
    }
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
        printf("ERROR make / private: %s\n", esc_ename(errno));
        exit(1);  /* never mount in a namespace that shares with the host */
    }
    private_ns = 1;
}

/* bind SECRET_DIR on target and read target/NAME */
static void bind_and_read(const char *target, const char *how)
{
    char p[4096];
    mkdir(target, 0755);
    if (mount(dir, target, NULL, MS_BIND, NULL) != 0) {
        blocked(errno, "%s: mount(MS_BIND)", how);
        return;
    }
    snprintf(p, sizeof p, "%s/%s", target, name);
    try_open(p, how);
    umount2(target, MNT_DETACH);
}

static void mode_chroot(void)
{
    char p[4096];
    mkdir("jail", 0755);
    if (syscall(SYS_chroot, "jail") != 0) {
        blocked(errno, "chroot(jail)");
        return;
    }
    /* the jail holds: the secret's path means nothing in it */
    snprintf(p, sizeof p, "%s/%s", dir, name);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        close(fd);
        printf("ERROR the jail does not hold\n");
        exit(1);
    }
    for (int i = 0; i < 64; i++)
        if (chdir("..") != 0)
            break;
    if (syscall(SYS_chroot, ".") != 0) {
        blocked(errno, "chroot(.) after chdir(..) out of the jail");
        return;
    }
    try_open(p, "chroot escape: chroot(jail), chdir(..)*, chroot(.)");
}

static void mode_pivot_root(void)
{
    char p[4096];
    if (!private_ns) {
        /* no namespace of our own: new_root is no mount point, so even an
         * unmediated pivot_root fails (EINVAL) instead of moving the
         * host's root; a confinement must refuse it first (EPERM) */
        mkdir("nomount", 0755);
        if (syscall(SYS_pivot_root, "nomount", "nomount") != 0)
            blocked(errno, "pivot_root(not a mount point)");
        else
            escaped("pivot_root in the host's mount namespace");
        return;
    }
    /* SECRET_DIR/old exists (made by the test): the old root goes there */
    mkdir("pr", 0755);
    if (mount(dir, "pr", NULL, MS_BIND, NULL) != 0) {
        blocked(errno, "pivot_root: bind");
        return;
    }
    if (syscall(SYS_pivot_root, "pr", "pr/old") != 0) {
        blocked(errno, "pivot_root(pr, pr/old)");
        return;
    }
    if (chdir("/") != 0)
        printf("NOTE chdir(/): %s\n", esc_ename(errno));
    snprintf(p, sizeof p, "/%s", name);
    try_open(p, "pivot_root to the secret's directory");
}

static void mode_open_tree(void)
{
    int t = (int)syscall(__NR_open_tree, AT_FDCWD, dir, OPEN_TREE_CLONE | O_CLOEXEC);
    if (t < 0) {
        blocked(errno, "open_tree(SECRET_DIR, OPEN_TREE_CLONE)");
        return;
    }
    errno = 0;
    try_fd(openat(t, name, O_RDONLY | O_CLOEXEC), "openat(open_tree clone, NAME)");
    close(t);
}

static void clone_child(void)
{
    /* root of a new user namespace, in a new mount namespace: unmapped ids
     * do not matter, the kernel checks files with the real ones */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        _exit(1);
    bind_and_read("mnt", "clone(CLONE_NEWUSER|CLONE_NEWNS) child: bind mount");
    _exit(esc_escaped ? EXIT_ESCAPED : EXIT_BLOCKED);
}

static void mode_clone_ns(void)
{
    long pid = syscall(SYS_clone, CLONE_NEWUSER | CLONE_NEWNS | SIGCHLD, NULL, NULL, NULL, 0);
    if (pid < 0) {
        blocked(errno, "clone(CLONE_NEWUSER|CLONE_NEWNS)");
        return;
    }
    if (pid == 0)
        clone_child();
    int st;
    waitpid((pid_t)pid, &st, 0);
    if (WIFEXITED(st) && WEXITSTATUS(st) == EXIT_ESCAPED)
        escaped("clone(CLONE_NEWUSER|CLONE_NEWNS): the child read the secret");
    else if (WIFEXITED(st) && WEXITSTATUS(st) == EXIT_BLOCKED)
        blocked(0, "clone(CLONE_NEWUSER|CLONE_NEWNS): the child did not read the secret");
    else
        printf("ERROR clone child status %d\n", st);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: escape_mount MODE SECRET_DIR NAME\n");
        return 2;
    }
    esc_init();
    const char *mode = argv[1];
    dir = argv[2];
    name = argv[3];
    if (!strcmp(mode, "bind")) {
        user_namespace(0);
        mount_namespace();
        bind_and_read("mnt", "bind mount of the secret's directory");
    } else if (!strcmp(mode, "userns")) {
        user_namespace(1);
        mount_namespace();
        bind_and_read("mnt", "user namespace, then a bind mount");
    } else if (!strcmp(mode, "clone_ns")) {
        mode_clone_ns();
    } else if (!strcmp(mode, "chroot")) {
        user_namespace(0);
        mode_chroot();
    } else if (!strcmp(mode, "pivot_root")) {
        user_namespace(0);
        mount_namespace();
        mode_pivot_root();
    } else if (!strcmp(mode, "open_tree")) {
        user_namespace(0);
        mount_namespace();
        mode_open_tree();
    } else {
        fprintf(stderr, "escape_mount: unknown mode %s\n", mode);
        return 2;
    }
    return verdict();
}

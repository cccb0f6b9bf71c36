/* Path calls the Confine layer translates, run inside a view; each line
 * is "NAME RESULT" (a value, or an errno name), for the test to compare.
 *
 *   confine_calls xattr FILE LINK    set/get/list/remove, l* and f* forms
 *   confine_calls utime FILE         utime, utimes, futimesat, utimensat
 *   confine_calls unix DIR OUTSIDE   stream and datagram sockets in DIR,
 *                                    then a connect to OUTSIDE
 *   confine_calls ro FILE            writes to a read-only bind's file
 *   confine_calls spawn              system() twice, posix_spawn, vfork+exec
 *   confine_calls paths PATH...      stat, lstat, fstat, access, opens of each
 *   confine_calls execs PATH...      execve of each, twice, from a child: what
 *                                    ran, or the errno (argv: "zero", "argv")
 *   confine_calls argv               its argv and /proc/self/exe
 *   confine_calls ops DIR            names and metadata under DIR: mkdir, mknod,
 *                                    rename(2) flags, links, chmod, truncate, statx,
 *                                    openat2 jails, inotify, getcwd/fchdir, umask
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/openat2.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <utime.h>

extern char **environ;

static void show(const char *what, long r)
{
    if (r < 0)
        printf("%s %s\n", what, strerrorname_np(errno));
    else
        printf("%s %ld\n", what, r);
}

static int do_xattr(const char *file, const char *link)
{
    char buf[256];
    long n;
    show("setxattr", setxattr(file, "user.k", "v1", 2, 0));
    show("setxattr-create-again", setxattr(file, "user.k", "v2", 2, XATTR_CREATE));
    n = getxattr(file, "user.k", buf, sizeof buf);
    show("getxattr", n);
    if (n > 0)
        printf("value %.*s\n", (int)n, buf);
    show("getxattr-size", getxattr(file, "user.k", NULL, 0));
    show("getxattr-small", getxattr(file, "user.k", buf, 1));
    show("getxattr-via-link", getxattr(link, "user.k", buf, sizeof buf));
    show("lgetxattr-link", lgetxattr(link, "user.k", buf, sizeof buf));
    n = listxattr(file, buf, sizeof buf);
    show("listxattr", n);
    if (n > 0)
        printf("names %s\n", buf);
    int fd = open(file, O_RDONLY);
    show("fsetxattr", fsetxattr(fd, "user.f", "vf", 2, 0));
    n = fgetxattr(fd, "user.f", buf, sizeof buf);
    show("fgetxattr", n);
    show("fremovexattr", fremovexattr(fd, "user.f"));
    close(fd);
    show("removexattr", removexattr(file, "user.k"));
    show("getxattr-gone", getxattr(file, "user.k", buf, sizeof buf));
    show("getxattr-missing-file", getxattr("/no/such/file", "user.k", buf, sizeof buf));
    return 0;
}

static long mtime(const char *file)
{
    struct stat st;
    return stat(file, &st) < 0 ? -1 : (long)st.st_mtime;
}

static int do_utime(const char *file)
{
    struct utimbuf ub = { 1000, 2000 };
    struct timeval tv[2] = { { 3000, 5 }, { 4000, 7 } };
    struct timespec ts[2] = { { 5000, 0 }, { 6000, 0 } };
    show("utime", utime(file, &ub));
    show("mtime", mtime(file));
    show("utimes", utimes(file, tv));
    show("mtime", mtime(file));
    tv[1].tv_sec = 4500;
    show("futimesat", futimesat(AT_FDCWD, file, tv));
    show("mtime", mtime(file));
    show("utimensat", utimensat(AT_FDCWD, file, ts, 0));
    show("mtime", mtime(file));
    tv[0].tv_usec = 2000000;
    show("utimes-bad-usec", utimes(file, tv));
    show("utime-now", utime(file, NULL));
    show("mtime-recent", mtime(file) > 1000000000);
    return 0;
}

static int un_socket(int type, const char *path, int do_bind)
{
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    int s = socket(AF_UNIX, type, 0);
    strncpy(a.sun_path, path, sizeof a.sun_path - 1);
    if ((do_bind ? bind(s, (void *)&a, sizeof a) : connect(s, (void *)&a, sizeof a)) < 0) {
        int e = errno;
        close(s);
        errno = e;
        return -1;
    }
    return s;
}

static int do_unix(const char *dir, const char *outside)
{
    char path[200], buf[64];
    snprintf(path, sizeof path, "%s/s", dir);
    int srv = un_socket(SOCK_STREAM, path, 1);
    show("bind", srv < 0 ? -1 : 0);
    show("listen", listen(srv, 4));
    struct stat st;
    show("stat-is-socket", stat(path, &st) < 0 ? -1 : S_ISSOCK(st.st_mode));
    show("bind-again", un_socket(SOCK_STREAM, path, 1) < 0 ? -1 : 0);
    pid_t pid = fork();
    if (pid == 0) {
        if (chdir(dir) < 0)
            _exit(2);
        int c = un_socket(SOCK_STREAM, "s", 0);  /* relative to the (virtual) cwd */
        if (c < 0)
            _exit(3);
        if (write(c, "ping", 4) != 4)
            _exit(4);
        _exit(0);
    }
    int c = accept(srv, NULL, NULL);
    long n = read(c, buf, sizeof buf);
    printf("received %.*s\n", (int)(n > 0 ? n : 0), buf);
    int st2;
    waitpid(pid, &st2, 0);
    show("client", WIFEXITED(st2) ? WEXITSTATUS(st2) : -1);
    snprintf(path, sizeof path, "%s/d", dir);
    int d = un_socket(SOCK_DGRAM, path, 1);
    int e = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    strncpy(a.sun_path, path, sizeof a.sun_path - 1);
    show("sendto", sendto(e, "dgram", 5, 0, (void *)&a, sizeof a));
    n = recv(d, buf, sizeof buf, 0);
    printf("datagram %.*s\n", (int)(n > 0 ? n : 0), buf);
    show("connect-outside", un_socket(SOCK_STREAM, outside, 0));
    show("sendto-outside", ({ struct sockaddr_un o = { .sun_family = AF_UNIX };
                               strncpy(o.sun_path, outside, sizeof o.sun_path - 1);
                               sendto(e, "x", 1, 0, (void *)&o, sizeof o); }));
    return 0;
}

static int do_ro(const char *file)
{
    int fd = open(file, O_RDONLY);
    show("setxattr", setxattr(file, "user.k", "v", 1, 0));
    show("fsetxattr", fsetxattr(fd, "user.k", "v", 1, 0));
    show("fchmod", fchmod(fd, 0600));
    show("fchown", fchown(fd, getuid(), getgid()));
    show("utime", utime(file, NULL));
    show("truncate", truncate(file, 0));
    return 0;
}

static int do_spawn(void)
{
    pid_t p;
    int st;
    char *argv[] = { "echo", "spawned", NULL };
    show("system1", system("echo one"));
    show("system2", system("echo two"));  /* libc's "/bin/sh" is intact */
    int r = posix_spawn(&p, "/bin/echo", NULL, NULL, argv, environ);
    waitpid(p, &st, 0);
    show("posix_spawn", r);
    p = vfork();
    if (p == 0) {
        execl("/bin/echo", "echo", "vforked", (char *)NULL);
        _exit(127);
    }
    waitpid(p, &st, 0);
    show("vfork", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    return 0;
}

static void stat_line(const char *what, int r, struct stat *st)
{
    if (r < 0)
        printf(" %s=%s", what, strerrorname_np(errno));
    else
        printf(" %s=%o:%lld", what, st->st_mode, (long long)st->st_size);
}

static void open_line(const char *what, int fd)
{
    printf(" %s=%s", what, fd < 0 ? strerrorname_np(errno) : "ok");
    if (fd >= 0)
        close(fd);
}

static int do_paths(int n, char **paths)
{
    for (int i = 0; i < n; i++) {
        struct stat st;
        const char *p = paths[i];
        printf("%s:", p);
        stat_line("stat", stat(p, &st), &st);
        stat_line("lstat", lstat(p, &st), &st);
        stat_line("at-nofollow", fstatat(AT_FDCWD, p, &st, AT_SYMLINK_NOFOLLOW), &st);
        int fd = open(p, O_RDONLY);
        stat_line("fstat", fd < 0 ? -1 : fstat(fd, &st), &st);
        open_line("rdonly", fd);
        open_line("nofollow", open(p, O_RDONLY | O_NOFOLLOW));
        open_line("dir", open(p, O_RDONLY | O_DIRECTORY));
        open_line("wronly", open(p, O_WRONLY));
        open_line("creat", open(p, O_WRONLY | O_CREAT, 0644));
        printf(" F=%s R=%s W=%s X=%s\n", access(p, F_OK) ? strerrorname_np(errno) : "ok",
               access(p, R_OK) ? strerrorname_np(errno) : "ok",
               access(p, W_OK) ? strerrorname_np(errno) : "ok",
               faccessat(AT_FDCWD, p, X_OK, AT_EACCESS) ? strerrorname_np(errno) : "ok");
    }
    return 0;
}

static int do_execs(int n, char **paths)
{
    for (int i = 0; i < n; i++)
        for (int round = 0; round < 2; round++) {  /* the second one may be decided in C */
            char *args[] = { "zero", "argv", NULL };
            int st;
            pid_t p = fork();
            if (p == 0) {
                execve(paths[i], args, environ);
                printf("%s: %s\n", paths[i], strerrorname_np(errno));
                _exit(0);
            }
            waitpid(p, &st, 0);
            printf("%s: status %d\n", paths[i], WIFEXITED(st) ? WEXITSTATUS(st) : -1);
        }
    return 0;
}

static int do_argv(int argc, char **argv)
{
    char exe[512];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n < 0 ? 0 : n] = 0;
    for (int i = 0; i < argc; i++)
        printf("argv[%d]=%s ", i, argv[i]);
    printf("exe=%s\n", exe);
    return 0;
}

static long mode_of(const char *p)
{
    struct stat st;
    return lstat(p, &st) < 0 ? -errno : (long)(st.st_mode & 07777);
}

static int do_ops(const char *dir)
{
    char a[512], b[512], cwd[512];
    struct stat st;
#define P(buf, name) snprintf(buf, sizeof buf, "%s/%s", dir, name)
    umask(022);
    P(a, "d");
    show("mkdir", mkdir(a, 0777));
    show("mode-d", mode_of(a));
    show("mkdir-exists", mkdir(a, 0777));
    P(a, "fifo");
    show("mkfifo", mkfifo(a, 0666));
    show("is-fifo", lstat(a, &st) < 0 ? -1 : S_ISFIFO(st.st_mode));
    P(a, "dev");
    show("mknod-chr", mknod(a, S_IFCHR | 0600, makedev(1, 3)));
    P(a, "f");
    int fd = creat(a, 0666);
    show("creat", fd < 0 ? -1 : 0);
    show("write", write(fd, "hello world\n", 12));
    close(fd);
    show("mode-f", mode_of(a));
    show("chmod", chmod(a, 0640));
    show("mode-f", mode_of(a));
    show("chown-self", chown(a, getuid(), getgid()));
    show("truncate", truncate(a, 5));
    show("size", stat(a, &st) < 0 ? -1 : st.st_size);
    struct statx sx;
    show("statx", statx(AT_FDCWD, a, 0, STATX_SIZE | STATX_MODE, &sx));
    show("statx-size", (long)sx.stx_size);
    P(b, "hard");
    show("link", link(a, b));
    show("nlink", stat(a, &st) < 0 ? -1 : (long)st.st_nlink);
    P(b, "sym");
    show("symlink", symlink("f", b));
    char t[64] = {0};
    show("readlink", readlink(b, t, sizeof t - 1));
    printf("target %s\n", t);
    P(b, "g");
    show("rename", rename(a, b));
    show("renamed-gone", access(a, F_OK));
    P(a, "hard");
    show("renameat2-noreplace", renameat2(AT_FDCWD, b, AT_FDCWD, a, RENAME_NOREPLACE));
    show("renameat2-exchange", renameat2(AT_FDCWD, b, AT_FDCWD, a, RENAME_EXCHANGE));
    P(a, "d/inner");
    show("mkdir-inner", mkdir(a, 0700));
    P(a, "d");
    show("rmdir-notempty", rmdir(a));
    P(a, "d/inner");
    show("rmdir", rmdir(a));
    /* openat2 jails from the program: relative to a directory fd */
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    struct open_how how = { .flags = O_RDONLY, .resolve = RESOLVE_BENEATH };
    long r = syscall(SYS_openat2, dfd, "g", &how, sizeof how);
    show("openat2-beneath", r < 0 ? r : 0);
    if (r >= 0)
        close((int)r);
    r = syscall(SYS_openat2, dfd, "../", &how, sizeof how);
    show("openat2-beneath-up", r < 0 ? r : 0);
    how.resolve = RESOLVE_IN_ROOT;
    r = syscall(SYS_openat2, dfd, "/g", &how, sizeof how);
    show("openat2-in-root", r < 0 ? r : 0);
    if (r >= 0)
        close((int)r);
    /* inotify */
    int in = inotify_init1(IN_NONBLOCK);
    show("inotify_add_watch", inotify_add_watch(in, dir, IN_CREATE) < 0 ? -1 : 0);
    P(a, "new");
    close(open(a, O_CREAT | O_WRONLY, 0600));
    char ev[512];
    long n = read(in, ev, sizeof ev);
    show("inotify-event", n > 0 ? (long)strlen(((struct inotify_event *)ev)->name) : -1);
    if (n > 0)
        printf("event %s\n", ((struct inotify_event *)ev)->name);
    close(in);
    /* cwd */
    show("fchdir", fchdir(dfd));
    show("getcwd-ok", getcwd(cwd, sizeof cwd) ? (long)(strcmp(cwd, dir) == 0) : -1);
    show("relative-stat", stat("g", &st) < 0 ? -1 : st.st_size);
    show("chdir-d", chdir("d"));
    show("dotdot-stat", stat("../g", &st) < 0 ? -1 : st.st_size);
    show("unlinkat", unlinkat(dfd, "new", 0));
    show("unlinkat-dir", unlinkat(dfd, "d", AT_REMOVEDIR));
    /* umask applies to what is created for the program */
    umask(077);
    P(a, "masked");
    close(open(a, O_CREAT | O_WRONLY, 0666));
    show("mode-masked", mode_of(a));
    P(a, "maskeddir");
    show("mkdir-masked", mkdir(a, 0777));
    show("mode-maskeddir", mode_of(a));
    close(dfd);
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc >= 4 && !strcmp(argv[1], "xattr"))
        return do_xattr(argv[2], argv[3]);
    if (argc >= 3 && !strcmp(argv[1], "utime"))
        return do_utime(argv[2]);
    if (argc >= 4 && !strcmp(argv[1], "unix"))
        return do_unix(argv[2], argv[3]);
    if (argc >= 3 && !strcmp(argv[1], "ro"))
        return do_ro(argv[2]);
    if (argc >= 2 && !strcmp(argv[1], "spawn"))
        return do_spawn();
    if (argc >= 3 && !strcmp(argv[1], "ops"))
        return do_ops(argv[2]);
    if (argc >= 2 && !strcmp(argv[1], "paths"))
        return do_paths(argc - 2, argv + 2);
    if (argc >= 2 && !strcmp(argv[1], "execs"))
        return do_execs(argc - 2, argv + 2);
    if (argc >= 2 && !strcmp(argv[1], "argv"))
        return do_argv(argc, argv);
    fprintf(stderr, "usage: confine_calls xattr|utime|unix|ro|spawn|paths|execs|argv|ops ...\n");
    return 2;
}

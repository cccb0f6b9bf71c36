/* Unix socket attacks of the escape battery (see escape_common.h).
 *
 *   escape_fdpass recv SOCKET NAME MARKER_NAME
 *   escape_fdpass connect SOCKET | bind PATH | abstract NAME
 *
 * recv: connects to SOCKET (inside the view), where a process outside the
 * sandbox sends two descriptors of the secret's directory with SCM_RIGHTS
 * (O_PATH, then O_RDONLY|O_DIRECTORY). Receiving them cannot be stopped
 * (recvmsg is no path call); the attack is to use them to reach NAME, the
 * secret, in that directory: openat(fd, NAME), fchdir(fd) then open(NAME),
 * /proc/self/fd/N/NAME, linkat/renameat of NAME into the cwd, and to
 * create MARKER_NAME there.
 * connect: connects to a unix socket outside the view (by its host path);
 * bind: binds a unix socket at PATH outside the view (the kernel makes
 * the socket file there); abstract: connects to the abstract unix socket
 * NAME of a process outside (abstract sockets have no file at all). */
#include "escape_common.h"

#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

/* connect (or bind) a unix stream socket to path; "@name": abstract */
static int dial_or_bind(const char *path, int do_bind)
{
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    socklen_t len = sizeof a;
    if (path[0] == '@') {
        a.sun_path[0] = 0;
        len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
    }
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -1;
    int r = do_bind ? bind(s, (struct sockaddr *)&a, len) : connect(s, (struct sockaddr *)&a, len);
    if (r != 0) {
        int e = errno;
        close(s);
        errno = e;
        return -1;
    }
    return s;
}

static int dial(const char *path)
{
    return dial_or_bind(path, 0);
}

static int recv_fds(int s, int *fds, int max)
{
    char byte;
    struct iovec iov = { &byte, 1 };
    union { struct cmsghdr h; char buf[CMSG_SPACE(8 * sizeof(int))]; } u;
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                        .msg_controllen = sizeof u.buf };
    if (recvmsg(s, &m, MSG_CMSG_CLOEXEC) <= 0)
        return -1;
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    if (!c || c->cmsg_type != SCM_RIGHTS)
        return 0;
    int n = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
    if (n > max)
        n = max;
    memcpy(fds, CMSG_DATA(c), n * sizeof(int));
    return n;
}

static void use(int fd, const char *kind, const char *name, const char *mname)
{
    char how[256], p[512];
    snprintf(how, sizeof how, "openat(%s dir fd, NAME)", kind);
    errno = 0;
    try_fd(openat(fd, name, O_RDONLY | O_CLOEXEC), how);
    snprintf(how, sizeof how, "/proc/self/fd/N/NAME (%s dir fd)", kind);
    snprintf(p, sizeof p, "/proc/self/fd/%d/%s", fd, name);
    try_open(p, how);
    snprintf(how, sizeof how, "openat(%s dir fd, MARKER, O_CREAT)", kind);
    try_create(fd, mname, how);
    unlink("stolen");
    snprintf(how, sizeof how, "linkat(%s dir fd, NAME, cwd) then open", kind);
    if (linkat(fd, name, AT_FDCWD, "stolen", 0) == 0) {
        try_open("stolen", how);
        unlink("stolen");
    } else {
        blocked(errno, "%s", how);
    }
    snprintf(how, sizeof how, "renameat(%s dir fd, NAME, cwd) then open", kind);
    if (renameat(fd, name, AT_FDCWD, "stolen") == 0) {
        try_open("stolen", how);
        if (renameat(AT_FDCWD, "stolen", fd, name) != 0)  /* put it back */
            printf("ERROR cannot put the secret back: %s\n", esc_ename(errno));
    } else {
        blocked(errno, "%s", how);
    }
    int here = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    snprintf(how, sizeof how, "fchdir(%s dir fd) then open(NAME)", kind);
    if (fchdir(fd) == 0) {
        try_open(name, how);
        if (fchdir(here) != 0)
            printf("ERROR cannot fchdir back: %s\n", esc_ename(errno));
    } else {
        blocked(errno, "%s", how);
    }
    close(here);
}

int main(int argc, char **argv)
{
    esc_init();
    if (argc == 3 && (!strcmp(argv[1], "connect") || !strcmp(argv[1], "bind") ||
                      !strcmp(argv[1], "abstract"))) {
        const char *how = !strcmp(argv[1], "connect") ? "connect(unix socket outside the view)"
                        : !strcmp(argv[1], "bind") ? "bind(unix socket at a path outside the view)"
                        : "connect(abstract unix socket of a process outside)";
        char name[256];
        snprintf(name, sizeof name, "%s%s", !strcmp(argv[1], "abstract") ? "@" : "", argv[2]);
        int s = dial_or_bind(name, !strcmp(argv[1], "bind"));
        if (s >= 0)
            escaped("%s", how);
        else
            blocked(errno, "%s", how);
        return verdict();
    }
    if (argc != 5 || strcmp(argv[1], "recv")) {
        fprintf(stderr, "usage: escape_fdpass recv SOCKET NAME MARKER_NAME | connect SOCKET | "
                "bind PATH | abstract NAME\n");
        return 2;
    }
    int s = dial(argv[2]);
    if (s < 0) {
        printf("ERROR connect(%s): %s\n", argv[2], esc_ename(errno));
        return 1;
    }
    int fds[8];
    int n = recv_fds(s, fds, 8);
    if (n != 2) {
        printf("ERROR expected 2 descriptors, got %d (%s)\n", n, esc_ename(errno));
        return 1;
    }
    use(fds[0], "O_PATH", argv[3], argv[4]);
    use(fds[1], "O_RDONLY", argv[3], argv[4]);
    return verdict();
}

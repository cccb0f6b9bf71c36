/* The verdict protocol of the escape battery (tests/test_escape.py).
 *
 * Every attack program makes one or more attempts; each prints one line:
 *   ESCAPED <how>             the attempt reached the secret (read it,
 *                             created the marker, controlled a process
 *                             outside...)
 *   BLOCKED <how> <ERRNO>     the attempt failed, with that errno
 * and the program ends with "VERDICT ESCAPED <n>" (exit 10) when at least
 * one attempt escaped, else "VERDICT BLOCKED <n>" (exit 20). Races also
 * print "BENIGN <n>": how often the harmless half of the race worked (a
 * race that never ran proves nothing). "SKIP <why>" (exit 77): the attack
 * cannot run here. Any other exit status (0, 1, a signal) is no verdict:
 * the test fails, so an attack cannot pass by accident.
 *
 * The secret file starts with SECRET_MAGIC. */
#ifndef ESCAPE_COMMON_H
#define ESCAPE_COMMON_H

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXIT_ESCAPED 10
#define EXIT_BLOCKED 20
#define EXIT_SKIP 77
#define SECRET_MAGIC "SECRET-do-not-read"

static int esc_escaped, esc_attempts;

static inline const char *esc_ename(int e)
{
    const char *n = e ? strerrorname_np(e) : "none";
    return n ? n : "EUNKNOWN";
}

static inline void esc_init(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);  /* lines survive a kill */
}

__attribute__((format(printf, 1, 2)))
static inline void escaped(const char *fmt, ...)
{
    va_list ap;
    esc_attempts++;
    esc_escaped++;
    printf("ESCAPED ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
}

__attribute__((format(printf, 2, 3)))
static inline void blocked(int err, const char *fmt, ...)
{
    va_list ap;
    esc_attempts++;
    printf("BLOCKED ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf(" %s\n", esc_ename(err));
}

static inline int verdict(void)
{
    if (esc_attempts == 0) {
        printf("ERROR no attempt made\n");
        return 1;
    }
    printf("VERDICT %s %d\n", esc_escaped ? "ESCAPED" : "BLOCKED", esc_attempts);
    return esc_escaped ? EXIT_ESCAPED : EXIT_BLOCKED;
}

static inline int skip(const char *why)
{
    printf("SKIP %s\n", why);
    return EXIT_SKIP;
}

/* 1 if fd reads the secret (the fd is closed), 0 if not, -errno if the
 * read failed. fd < 0: -errno of the open. */
static inline int esc_fd_is_secret(int fd)
{
    char buf[64] = {0};
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    int e = errno;
    close(fd);
    if (n < 0)
        return -e;
    return strncmp(buf, SECRET_MAGIC, strlen(SECRET_MAGIC)) == 0;
}

/* One attempt at reading the secret through fd (the result of an open). */
static inline void try_fd(int fd, const char *how)
{
    int r = esc_fd_is_secret(fd);
    if (r == 1)
        escaped("%s", how);
    else
        blocked(r < 0 ? -r : 0, "%s", how);
}

static inline void try_open(const char *path, const char *how)
{
    errno = 0;
    try_fd(open(path, O_RDONLY | O_CLOEXEC), how ? how : path);
}

/* One attempt at creating a file outside (the test checks the host; not
 * O_EXCL, which would refuse to follow a symlink). */
static inline void try_create(int dirfd, const char *path, const char *how)
{
    int fd = openat(dirfd, path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0) {
        close(fd);
        escaped("%s", how ? how : path);
    } else {
        blocked(errno, "%s", how ? how : path);
    }
}

#endif

/* Path attacks of the escape battery (see escape_common.h for the output).
 *
 *   escape_path MODE SECRET MARKER
 *
 * Run with a writable working directory inside the view; SECRET (to
 * read) and MARKER (to create) are host paths outside it. Modes:
 *   dotdot        ../../.. from the cwd, from "/", from a dirfd, after chdir
 *   symlink       absolute, relative and directory symlinks planted in the
 *                 cwd, and a hard link made through a symlink
 *   symlink_swap  a thread swaps a symlink between a file in the cwd and the
 *                 secret while the main thread opens it (600 opens)
 *   path_toctou   a thread rewrites the path buffer between a file in the cwd
 *                 and the secret during open/openat (600 rounds each)
 *   proc_root     /proc/self/root, /proc/thread-self/root, /proc/PID/root
 *   proc_fd       /proc/self/fd/N/.., /proc/self/cwd/.., an fd of /proc/self/fd
 */
#include "escape_common.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/stat.h>

#define RACE_ROUNDS 600
#define MIN_FLIPS 100

static const char *secret, *marker;
static char up[4096];   /* "../" * 16 + SECRET without its leading "/" */
static char upm[4096];  /* the same for MARKER */
static char rel[4096];  /* SECRET relative to the cwd: ../../outside/secret */
static char relm[4096]; /* the same for MARKER */
static atomic_int stop;
static long benign;

static void climb(char *out, const char *host)
{
    out[0] = 0;
    for (int i = 0; i < 16; i++)
        strcat(out, "../");
    strcat(out, host + 1);
}

/* host relative to the cwd, lexically (a checker that normalises paths
 * without resolving them sees through "../../../..", not through
 * "/proc/self/cwd/../.." or a symlink) */
static void relative(char *out, const char *host)
{
    char cwd[4096];
    if (!getcwd(cwd, sizeof cwd)) {
        strcpy(out, host);
        return;
    }
    strcat(cwd, "/");
    size_t common = 0;
    for (size_t i = 0; cwd[i] && cwd[i] == host[i]; i++)
        if (cwd[i] == '/')
            common = i + 1;
    out[0] = 0;
    for (const char *c = cwd + common; *c; c++)
        if (*c == '/')
            strcat(out, "../");
    strcat(out, host + common);
}

static void dotdot(void)
{
    char p[8192];
    try_open(up, "open(../../SECRET)");
    try_open(rel, "open(SECRET relative to the cwd)");
    snprintf(p, sizeof p, "/%s", up);
    try_open(p, "open(/../../SECRET)");
    int d = open(".", O_RDONLY | O_DIRECTORY);
    errno = 0;
    try_fd(openat(d, up, O_RDONLY), "openat(cwd fd, ../../SECRET)");
    try_create(d, upm, "create ../../MARKER");
    close(d);
    if (chdir("../../../../../../../../../../../../..") == 0)
        try_open(secret + 1, "chdir(../..) then open(SECRET relative)");
    else
        blocked(errno, "chdir(../..)");
}

static void symlinks(void)
{
    char p[8192], dir[4096];
    snprintf(dir, sizeof dir, "%s", secret);
    *strrchr(dir, '/') = 0;
    unlink("l_abs");
    unlink("l_rel");
    unlink("l_dir");
    unlink("l_mark");
    unlink("hard");
    if (symlink(secret, "l_abs") == 0)
        try_open("l_abs", "symlink -> /SECRET");
    else
        blocked(errno, "symlink(/SECRET)");
    if (symlink(up, "l_rel") == 0)
        try_open("l_rel", "symlink -> ../../SECRET");
    else
        blocked(errno, "symlink(../../SECRET)");
    if (symlink(dir, "l_dir") == 0) {
        snprintf(p, sizeof p, "l_dir/%s", strrchr(secret, '/') + 1);
        try_open(p, "directory symlink -> SECRET's dir");
    } else {
        blocked(errno, "symlink(dir)");
    }
    if (symlink(marker, "l_mark") == 0)
        try_create(AT_FDCWD, "l_mark", "create through symlink -> /MARKER");
    else
        blocked(errno, "symlink(/MARKER)");
    /* a hard link to whatever the symlink names, made by the kernel */
    if (linkat(AT_FDCWD, "l_abs", AT_FDCWD, "hard", AT_SYMLINK_FOLLOW) == 0)
        try_open("hard", "hard link through symlink -> /SECRET");
    else
        blocked(errno, "linkat(symlink -> /SECRET, AT_SYMLINK_FOLLOW)");
}

static atomic_int started;
static atomic_long flips;  /* swaps done by the other thread */

static void *swap_link(void *arg)
{
    (void)arg;
    atomic_store(&started, 1);
    while (!atomic_load(&stop)) {
        unlink("flip.tmp");
        if (symlink(secret, "flip.tmp") == 0)
            rename("flip.tmp", "flip");
        unlink("flip.tmp");
        if (symlink("benign", "flip.tmp") == 0)
            rename("flip.tmp", "flip");
        atomic_fetch_add(&flips, 1);
    }
    return NULL;
}

static char pathbuf[4096];

/* keep the buffer in each state about as long: a reader (the checker, the
 * kernel) then sees either one about half the time, whatever their lengths */
static void hold(void)
{
    for (volatile int k = 0; k < 64; k++)
        __asm__ volatile("" ::: "memory");
}

static void *flip_buf(void *arg)
{
    (void)arg;
    atomic_store(&started, 1);
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        strcpy(pathbuf, "benign");
        hold();
        strcpy(pathbuf, secret);
        hold();
        atomic_fetch_add_explicit(&flips, 1, memory_order_relaxed);
    }
    return NULL;
}

/* count the escapes of a race instead of printing every one */
static long race_escapes;
static int race_errno;

static void race_result(int fd)
{
    int r = esc_fd_is_secret(fd);
    if (r == 1)
        race_escapes++;
    else if (r == 0)
        benign++;
    else
        race_errno = -r;
}

static void race(void *(*fn)(void *), const char *what)
{
    pthread_t t;
    atomic_store(&stop, 0);
    strcpy(pathbuf, "benign");
    unlink("flip");
    if (symlink("benign", "flip") != 0) {
        printf("ERROR symlink(flip): %s\n", esc_ename(errno));
        exit(1);
    }
    pthread_create(&t, NULL, fn, NULL);
    while (!atomic_load(&started))
        ;  /* the race only starts with the other thread running */
    long flips0 = atomic_load(&flips);
    /* RACE_ROUNDS, and on (bounded) until the other thread really ran
     * meanwhile and the harmless half worked: a busy machine may not run
     * both threads at once, so yield now and then */
    for (int i = 0; i < RACE_ROUNDS || ((atomic_load(&flips) - flips0 < MIN_FLIPS || !benign) &&
                                        i < 20 * RACE_ROUNDS); i++) {
        if (i % 16 == 15)
            sched_yield();
        if (fn == swap_link) {
            race_result(open("flip", O_RDONLY | O_CLOEXEC));
        } else {
            race_result(open(pathbuf, O_RDONLY | O_CLOEXEC));
            race_result(openat(AT_FDCWD, pathbuf, O_RDONLY | O_CLOEXEC));
        }
    }
    atomic_store(&stop, 1);
    pthread_join(t, NULL);
    printf("BENIGN %ld\n", benign);
    if (race_escapes)
        escaped("%s: read the secret %ld times", what, race_escapes);
    else
        blocked(race_errno, "%s: never read the secret", what);
}

static void proc_root(void)
{
    char p[8192];
    snprintf(p, sizeof p, "/proc/self/root%s", secret);
    try_open(p, "/proc/self/root/SECRET");
    snprintf(p, sizeof p, "/proc/thread-self/root%s", secret);
    try_open(p, "/proc/thread-self/root/SECRET");
    snprintf(p, sizeof p, "/proc/%d/root%s", getpid(), secret);
    try_open(p, "/proc/PID/root/SECRET");
    int r = open("/proc/self/root", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (r >= 0) {
        errno = 0;
        try_fd(openat(r, secret + 1, O_RDONLY), "openat(fd of /proc/self/root, SECRET)");
        close(r);
    } else {
        blocked(errno, "open(/proc/self/root)");
    }
    snprintf(p, sizeof p, "/proc/self/root%s", marker);
    try_create(AT_FDCWD, p, "create /proc/self/root/MARKER");
}

static void proc_fd(void)
{
    char p[8192];
    int d = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    snprintf(p, sizeof p, "/proc/self/fd/%d/%s", d, rel);
    try_open(p, "/proc/self/fd/N/../../SECRET");
    snprintf(p, sizeof p, "/proc/self/cwd/%s", rel);
    try_open(p, "/proc/self/cwd/../../SECRET");
    int s = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s >= 0) {
        snprintf(p, sizeof p, "%d/%s", d, rel);
        errno = 0;
        try_fd(openat(s, p, O_RDONLY), "openat(fd of /proc/self/fd, N/../../SECRET)");
        close(s);
    } else {
        blocked(errno, "open(/proc/self/fd)");
    }
    snprintf(p, sizeof p, "/proc/self/fd/%d/%s", d, relm);
    try_create(AT_FDCWD, p, "create /proc/self/fd/N/../../MARKER");
    close(d);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: escape_path MODE SECRET MARKER\n");
        return 2;
    }
    esc_init();
    const char *mode = argv[1];
    secret = argv[2];
    marker = argv[3];
    climb(up, secret);
    climb(upm, marker);
    relative(rel, secret);
    relative(relm, marker);
    int fd = open("benign", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, "benign\n", 7) != 7) {
        printf("ERROR cannot write ./benign: %s\n", esc_ename(errno));
        return 1;
    }
    close(fd);
    if (!strcmp(mode, "dotdot"))
        dotdot();
    else if (!strcmp(mode, "symlink"))
        symlinks();
    else if (!strcmp(mode, "symlink_swap"))
        race(swap_link, "symlink swapped during open");
    else if (!strcmp(mode, "path_toctou"))
        race(flip_buf, "path buffer rewritten during open");
    else if (!strcmp(mode, "proc_root"))
        proc_root();
    else if (!strcmp(mode, "proc_fd"))
        proc_fd();
    else {
        fprintf(stderr, "escape_path: unknown mode %s\n", mode);
        return 2;
    }
    return verdict();
}

/* The path part of the confinement escape battery.
 *
 *   confine_escape MODE SECRET_HOST_PATH [OUTSIDE_EXE]
 *
 * Each mode tries, in a different way, to read the file SECRET_HOST_PATH
 * (which lies outside the view) and prints "ESCAPED <mode> <how>" for every
 * attempt that read the secret (a line starting with "SECRET"), then
 * "done <mode> <attempts> <opens that succeeded>". Exec modes print
 * "ESCAPED" when the outside binary ran (it exits 1: a copy of false). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *mode, *secret, *outside;
static int attempts, opened, escaped;
static volatile int stop;

static void check_fd(int fd, const char *how)
{
    char buf[64] = {0};
    attempts++;
    if (fd < 0)
        return;
    opened++;
    if (read(fd, buf, sizeof buf - 1) > 0 && strncmp(buf, "SECRET", 6) == 0) {
        escaped++;
        printf("ESCAPED %s %s\n", mode, how);
    }
    close(fd);
}

static void try_open(const char *path)
{
    check_fd(open(path, O_RDONLY), path);
}

static char up[4096];  /* "../" * 12 + secret without its leading "/" */

static void *flip_link(void *arg)
{
    (void)arg;
    while (!stop) {
        unlink("/flip.tmp");
        symlink(secret, "/flip.tmp");
        rename("/flip.tmp", "/flip");
        unlink("/flip.tmp");
        symlink("data/file", "/flip.tmp");
        rename("/flip.tmp", "/flip");
    }
    return NULL;
}

static char pathbuf[4096];
static const char *flip_b;  /* what the flipping thread alternates with */

static void *flip_buf(void *arg)
{
    const char *a = arg;
    while (!stop) {
        strcpy(pathbuf, a);
        strcpy(pathbuf, flip_b);
    }
    return NULL;
}

static int run_child_exec(const char *path, int threaded_flip)
{
    pid_t pid = fork();
    int st;
    if (pid == 0) {
        char *argv[] = { (char *)"x", NULL };
        if (threaded_flip) {
            pthread_t t;
            static char allowed[] = "/usr/bin/true";
            strcpy(pathbuf, allowed);
            pthread_create(&t, NULL, flip_buf, allowed);
            for (int i = 0; i < 200; i++) {
                execve(pathbuf, argv, environ);
            }
            _exit(42);
        }
        execve(path, argv, environ);
        _exit(42);
    }
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int main(int argc, char **argv)
{
    char p[8192];
    if (argc < 3) {
        fprintf(stderr, "usage: confine_escape MODE SECRET [OUTSIDE_EXE]\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IONBF, 0);
    mode = argv[1];
    secret = argv[2];
    outside = argc > 3 ? argv[3] : NULL;
    flip_b = strcmp(mode, "exec_toctou") == 0 && outside ? outside : secret;
    for (int i = 0; i < 12; i++)
        strcat(up, "../");
    strcat(up, secret + 1);

    if (!strcmp(mode, "direct")) {
        try_open(secret);
    } else if (!strcmp(mode, "dotdot")) {
        try_open(up);
        snprintf(p, sizeof p, "/%s", up);
        try_open(p);
        snprintf(p, sizeof p, "/data/%s", up);
        try_open(p);
        if (chdir("/data") == 0) {
            try_open(up);
            if (chdir("../../../../../..") == 0)
                try_open(secret + 1);
        }
        int d = open("/data", O_RDONLY | O_DIRECTORY);
        check_fd(openat(d, up, O_RDONLY), "openat(/data, ../..)");
        close(d);
    } else if (!strcmp(mode, "symlinks")) {
        try_open("/leak_abs");
        try_open("/leak_rel");
        try_open("/data/leak_rel2");
        try_open("/leak_dir/hostname_probe");
        /* plant new ones from inside */
        symlink(secret, "/w/mine");
        try_open("/w/mine");
        snprintf(p, sizeof p, "../../../../../../../..%s", secret);
        symlink(p, "/w/mine2");
        try_open("/w/mine2");
        if (link("/leak_abs", "/w/hard") == 0)
            try_open("/w/hard");
    } else if (!strcmp(mode, "swap")) {
        pthread_t t;
        pthread_create(&t, NULL, flip_link, NULL);
        for (int i = 0; i < 1500; i++)
            try_open("/flip");
        stop = 1;
        pthread_join(t, NULL);
    } else if (!strcmp(mode, "toctou")) {
        pthread_t t;
        strcpy(pathbuf, "/data/file");
        pthread_create(&t, NULL, flip_buf, (void *)"/data/file");
        for (int i = 0; i < 1500; i++) {
            check_fd(open(pathbuf, O_RDONLY), "open(flipping buffer)");
            check_fd(openat(AT_FDCWD, pathbuf, O_RDONLY), "openat(flipping buffer)");
        }
        stop = 1;
        pthread_join(t, NULL);
    } else if (!strcmp(mode, "proc")) {
        snprintf(p, sizeof p, "/proc/self/root%s", secret);
        try_open(p);
        snprintf(p, sizeof p, "/proc/self/cwd/%s", up);
        try_open(p);
        snprintf(p, sizeof p, "/proc/thread-self/root%s", secret);
        try_open(p);
        snprintf(p, sizeof p, "/proc/%d/root%s", getpid(), secret);
        try_open(p);
        int d = open("/data", O_RDONLY | O_DIRECTORY);
        snprintf(p, sizeof p, "/proc/self/fd/%d/%s", d, up);
        try_open(p);
        int s = open("/proc/self/fd", O_RDONLY | O_DIRECTORY);
        if (s >= 0) {
            char rel[64];
            snprintf(rel, sizeof rel, "%d", d);
            snprintf(p, sizeof p, "%d/%s", d, up);
            check_fd(openat(s, p, O_RDONLY), "openat(/proc/self/fd, N/../..)");
            int r = open("/proc/self/root", O_RDONLY | O_DIRECTORY);
            if (r >= 0)
                check_fd(openat(r, secret + 1, O_RDONLY), "openat(/proc/self/root fd)");
        }
        try_open("/proc/self/exe/../../../../etc/hostname");
        snprintf(p, sizeof p, "/proc/self/fd/%d/../..%s", d, secret);
        try_open(p);
    } else if (!strcmp(mode, "exec")) {
        int r;
        attempts++;
        if ((r = run_child_exec(outside, 0)) != 42) {
            escaped++;
            printf("ESCAPED exec %s (status %d)\n", outside, r);
        }
        attempts++;
        if ((r = run_child_exec("/leak_exe", 0)) != 42) {
            escaped++;
            printf("ESCAPED exec /leak_exe (status %d)\n", r);
        }
        attempts++;
        if ((r = run_child_exec("/usr/bin/true", 0)) == 0)
            opened++;  /* the allowed exec works */
    } else if (!strcmp(mode, "exec_toctou")) {
        for (int i = 0; i < 10; i++) {
            int r = run_child_exec(NULL, 1);
            attempts++;
            if (r == 0)
                opened++;
            else if (r != 42) {
                escaped++;
                printf("ESCAPED exec_toctou (status %d)\n", r);
            }
        }
    } else {
        fprintf(stderr, "unknown mode %s\n", mode);
        return 2;
    }
    printf("done %s %d %d\n", mode, attempts, opened);
    return escaped ? 3 : 0;
}

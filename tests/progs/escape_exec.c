/* Exec attacks of the escape battery (see escape_common.h).
 *
 *   escape_exec MODE PAYLOAD SECRET MARKER [BENIGN]
 *
 * PAYLOAD is escape_payload, outside the view (or setuid: see below);
 * BENIGN an executable inside it. Every exec runs in a child; a child
 * whose exec failed exits 42, the payload run with "quiet" exits 99 (the
 * escape: it ran), BENIGN exits 0. Modes:
 *   outside      execve(PAYLOAD) by its host path
 *   symlink      execve(./l_exe), a symlink to PAYLOAD made in the cwd
 *   interp       execve(./script.sh) whose #! interpreter is PAYLOAD
 *   setuid       execve(PAYLOAD), a setuid-root copy inside the view: it
 *                prints its euid and tries SECRET and MARKER itself
 *   thread_race  40 children, each with a thread flipping the path buffer
 *                between BENIGN and PAYLOAD while it calls execve(buffer)
 *                (up to 20 times)
 *   vfork_race   a thread of this process flips the buffer while 200
 *                vfork children call execve(buffer): they share its memory
 *   symlink_swap another process (no shared memory, no thread) swaps the
 *                symlink ./l_swap between BENIGN and PAYLOAD while 100
 *                single-threaded children execve(./l_swap)
 */
#include "escape_common.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define EXEC_FAILED 42
#define PAYLOAD_RAN 99

static const char *payload, *benign;
static char pathbuf[4096];
static atomic_int stop, started;
static atomic_long flips;  /* rewrites done by the flipping thread */
static char *quiet_argv[] = { (char *)"x", (char *)"quiet", NULL };

/* exec path in a child; the status, and the exec's errno if it failed */
static int run(const char *path, char **argv, int *err)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        execve(path, argv, environ);
        int e = errno;
        if (write(p[1], &e, sizeof e) < 0)
            _exit(EXEC_FAILED);
        _exit(EXEC_FAILED);
    }
    close(p[1]);
    *err = 0;
    if (read(p[0], err, sizeof *err) != sizeof *err)
        *err = 0;
    close(p[0]);
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void exec_once(const char *path, const char *how)
{
    int err, st = run(path, quiet_argv, &err);
    if (st == PAYLOAD_RAN)
        escaped("%s", how);
    else if (st == EXEC_FAILED)
        blocked(err, "%s", how);
    else
        printf("ERROR %s: status %d\n", how, st);
}

/* keep the buffer in each state about as long: a reader (the checker, the
 * kernel) then sees either one about half the time, whatever their lengths */
static void hold(void)
{
    for (volatile int k = 0; k < 64; k++)
        __asm__ volatile("" ::: "memory");
}

static void *flip(void *arg)
{
    (void)arg;
    atomic_store(&started, 1);
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        strcpy(pathbuf, benign);
        hold();
        strcpy(pathbuf, payload);
        hold();
        atomic_fetch_add_explicit(&flips, 1, memory_order_relaxed);
    }
    return NULL;
}

static void start_flipper(pthread_t *t)
{
    strcpy(pathbuf, benign);
    atomic_store(&started, 0);
    pthread_create(t, NULL, flip, NULL);
    while (!atomic_load(&started))
        ;
}

static void tally(int st, long *ok, long *ran, long *failed)
{
    if (st == 0)
        (*ok)++;
    else if (st == PAYLOAD_RAN)
        (*ran)++;
    else if (st == EXEC_FAILED)
        (*failed)++;
    else
        printf("ERROR race child status %d\n", st);
}

static void race_verdict(const char *how, long ok, long ran, long failed)
{
    printf("BENIGN %ld\n", ok);
    if (ran)
        escaped("%s: PAYLOAD ran %ld times", how, ran);
    else
        blocked(0, "%s: PAYLOAD never ran (%ld execs failed)", how, failed);
}

static void thread_race(void)
{
    long ok = 0, ran = 0, failed = 0;
    for (int i = 0; i < 40; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            pthread_t t;
            start_flipper(&t);
            for (int j = 0; j < 20; j++)
                execve(pathbuf, quiet_argv, environ);
            _exit(EXEC_FAILED);
        }
        int st;
        waitpid(pid, &st, 0);
        tally(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), &ok, &ran, &failed);
    }
    race_verdict("multi-threaded execve of a rewritten path", ok, ran, failed);
}

/* not locals: vfork may clobber them */
static long vf_ok, vf_ran, vf_failed, vf_flips0;
static int vf_i;

static void vfork_race(void)
{
    pthread_t t;
    start_flipper(&t);
    vf_flips0 = atomic_load(&flips);
    /* 200 rounds, and on (bounded) until the thread really ran meanwhile;
     * yield now and then (a busy machine may not run both at once) */
    for (vf_i = 0; vf_i < 200 || (atomic_load(&flips) - vf_flips0 < 100 && vf_i < 2000); vf_i++) {
        if (vf_i % 16 == 15)
            sched_yield();
        pid_t pid = vfork();
        if (pid == 0) {
            execve(pathbuf, quiet_argv, environ);
            _exit(EXEC_FAILED);
        }
        int st;
        waitpid(pid, &st, 0);
        tally(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), &vf_ok, &vf_ran, &vf_failed);
    }
    atomic_store(&stop, 1);
    pthread_join(t, NULL);
    race_verdict("vfork child execve while a thread rewrites the path", vf_ok, vf_ran, vf_failed);
}

static void swap_forever(atomic_long *swaps)
{
    for (;;) {
        unlink("swap.tmp");
        if (symlink(benign, "swap.tmp") == 0)
            rename("swap.tmp", "l_swap");
        unlink("swap.tmp");
        if (symlink(payload, "swap.tmp") == 0)
            rename("swap.tmp", "l_swap");
        atomic_fetch_add(swaps, 1);
    }
}

static void symlink_swap(void)
{
    long ok = 0, ran = 0, failed = 0;
    unlink("l_swap");
    if (symlink(benign, "l_swap") != 0) {
        printf("ERROR symlink(l_swap): %s\n", esc_ename(errno));
        exit(1);
    }
    /* the swapping process counts its swaps in memory shared with us */
    atomic_long *swaps = mmap(NULL, sizeof *swaps, PROT_READ | PROT_WRITE,
                              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (swaps == MAP_FAILED) {
        printf("ERROR mmap: %s\n", esc_ename(errno));
        exit(1);
    }
    pid_t flipper = fork();
    if (flipper == 0)
        swap_forever(swaps);
    /* 100 execs, and on until the other process really ran (bounded) */
    for (int i = 0; i < 100 || (atomic_load(swaps) < 50 && i < 1000); i++) {
        int err;
        tally(run("l_swap", quiet_argv, &err), &ok, &ran, &failed);
    }
    kill(flipper, SIGKILL);
    waitpid(flipper, NULL, 0);
    race_verdict("execve of a symlink another process swaps", ok, ran, failed);
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: escape_exec MODE PAYLOAD SECRET MARKER [BENIGN]\n");
        return 2;
    }
    esc_init();
    const char *mode = argv[1];
    payload = argv[2];
    setenv("ESCAPE_SECRET", argv[3], 1);
    setenv("ESCAPE_MARKER", argv[4], 1);
    benign = argc > 5 ? argv[5] : "/usr/bin/true";
    if (!strcmp(mode, "outside")) {
        exec_once(payload, "execve of a binary outside the view");
    } else if (!strcmp(mode, "symlink")) {
        unlink("l_exe");
        if (symlink(payload, "l_exe") == 0)
            exec_once("l_exe", "execve of a symlink to a binary outside the view");
        else
            blocked(errno, "symlink(PAYLOAD)");
    } else if (!strcmp(mode, "interp")) {
        char text[4200];
        snprintf(text, sizeof text, "#!%s quiet\n", payload);
        int fd = open("script.sh", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
        if (fd < 0 || write(fd, text, strlen(text)) < 0) {
            printf("ERROR cannot write script.sh: %s\n", esc_ename(errno));
            return 1;
        }
        close(fd);
        exec_once("./script.sh", "execve of a script whose #! interpreter is outside the view");
    } else if (!strcmp(mode, "setuid")) {
        char *args[] = { (char *)payload, NULL };
        int err, st = run(payload, args, &err);
        if (st == EXIT_ESCAPED)
            escaped("the setuid payload read the secret");
        else if (st == EXIT_BLOCKED)
            blocked(0, "the setuid payload ran and did not read the secret");
        else if (st == EXEC_FAILED)
            blocked(err, "execve of the setuid payload");
        else
            printf("ERROR setuid payload: status %d\n", st);
    } else if (!strcmp(mode, "thread_race")) {
        thread_race();
    } else if (!strcmp(mode, "vfork_race")) {
        vfork_race();
    } else if (!strcmp(mode, "symlink_swap")) {
        symlink_swap();
    } else {
        fprintf(stderr, "escape_exec: unknown mode %s\n", mode);
        return 2;
    }
    return verdict();
}

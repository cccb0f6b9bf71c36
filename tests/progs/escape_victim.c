/* A process outside the sandbox, for the escape battery's attacks on
 * other processes (escape_ptrace sibling).
 *
 *   escape_victim OUT
 *
 * Holds VICTIM_MAGIC in a buffer and writes "PID ADDR" (the buffer's
 * address) to OUT; then sleeps until killed (at most 60 s). The test reads
 * the buffer through /proc/PID/mem to see whether it was overwritten. */
#define _GNU_SOURCE
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#define VICTIM_MAGIC "VICTIM-MAGIC"

static volatile char buf[64] = VICTIM_MAGIC;

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: escape_victim OUT\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "w");
    if (!f)
        return 1;
    fprintf(f, "%d %p\n", (int)getpid(), (void *)buf);
    fflush(f);
    fclose(f);
    struct timespec ts = { 0, 100 * 1000 * 1000 };
    for (int i = 0; i < 600 && buf[0]; i++)  /* reads buf: it stays in memory */
        nanosleep(&ts, NULL);
    return 0;
}

/* One stage of an exec chain: prints "NAME getpid=R shim=yes|no" (R from
 * a raw getpid; shim: the in-process shim is mapped in this image), then
 * execs argv[1] with argv[1..] if there is one. Built dynamic and static
 * (the test decides the order). */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    long pid = syscall(SYS_getpid);
    int shim = 0;
    char line[512];
    FILE *maps = fopen("/proc/self/maps", "r");
    while (maps && fgets(line, sizeof line, maps))
        if (strstr(line, "libsvsud.so") || strstr(line, "libsvpreload.so"))
            shim = 1;
    if (maps)
        fclose(maps);
    const char *name = strrchr(argv[0], '/');
    printf("%s getpid=%ld shim=%s\n", name ? name + 1 : argv[0], pid, shim ? "yes" : "no");
    fflush(stdout);
    if (argc > 1) {
        execv(argv[1], argv + 1);
        perror("execv");
        return 1;
    }
    return 0;
}

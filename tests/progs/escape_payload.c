/* What the escape battery's exec attacks try to run (see escape_exec.c).
 *
 *   escape_payload [quiet]
 *
 * With "quiet" (as a #! argument too): exits 99 at once; the attack
 * counts "it ran" as the escape (an exec outside the view, or a
 * different binary than the one checked). Without: prints "PAYLOAD
 * euid=N" (a setuid copy shows whether the privilege was gained), then
 * tries to read $ESCAPE_SECRET and create $ESCAPE_MARKER, with the
 * verdict protocol of escape_common.h. */
#include "escape_common.h"

#define EXIT_RAN 99

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "quiet"))
        return EXIT_RAN;
    esc_init();
    const char *secret = getenv("ESCAPE_SECRET"), *marker = getenv("ESCAPE_MARKER");
    printf("PAYLOAD euid=%d\n", (int)geteuid());
    if (secret)
        try_open(secret, "payload: open(SECRET)");
    if (marker)
        try_create(AT_FDCWD, marker, "payload: create MARKER");
    return verdict();
}

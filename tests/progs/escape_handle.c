/* open_by_handle_at attack of the escape battery (see escape_common.h).
 *
 *   escape_handle get PATH HANDLE_FILE   (run by the test, unconfined)
 *   escape_handle open HANDLE_FILE       (the attack)
 *
 * `get` writes the file handle of PATH (name_to_handle_at) to HANDLE_FILE.
 * `open` reads it back and opens the file by handle relative to the cwd's
 * filesystem (any fd on the same filesystem will do): no path is looked
 * up, so a view made of paths does not apply. The kernel wants
 * CAP_DAC_READ_SEARCH for it. */
#include "escape_common.h"

#include <sys/stat.h>

struct handle {
    struct file_handle fh;
    unsigned char bytes[MAX_HANDLE_SZ];
};

int main(int argc, char **argv)
{
    struct handle h;
    if (argc == 4 && !strcmp(argv[1], "get")) {
        int mnt;
        h.fh.handle_bytes = MAX_HANDLE_SZ;
        if (name_to_handle_at(AT_FDCWD, argv[2], &h.fh, &mnt, 0) != 0) {
            perror("name_to_handle_at");
            return 1;
        }
        FILE *f = fopen(argv[3], "wb");
        size_t n = sizeof h.fh + h.fh.handle_bytes;
        if (!f || fwrite(&h, 1, n, f) != n || fclose(f) != 0) {
            perror(argv[3]);
            return 1;
        }
        return 0;
    }
    if (argc != 3 || strcmp(argv[1], "open")) {
        fprintf(stderr, "usage: escape_handle get PATH HANDLE_FILE | open HANDLE_FILE\n");
        return 2;
    }
    esc_init();
    memset(&h, 0, sizeof h);
    int hf = open(argv[2], O_RDONLY | O_CLOEXEC);
    if (hf < 0 || read(hf, &h, sizeof h) < (ssize_t)sizeof h.fh) {
        printf("ERROR cannot read the handle %s: %s\n", argv[2], esc_ename(errno));
        return 1;
    }
    close(hf);
    int mnt = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    errno = 0;
    try_fd(open_by_handle_at(mnt, &h.fh, O_RDONLY), "open_by_handle_at(handle of SECRET)");
    return verdict();
}

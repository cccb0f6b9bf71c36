/* Meant to be linked with -static: opens and reads /etc/hostname, then
 * prints "static ok".  Exits 1 (printing the error) if the open fails. */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int main(void)
{
    char buf[256];
    int fd = open("/etc/hostname", O_RDONLY);
    if (fd < 0) {
        perror("open /etc/hostname");
        return 1;
    }
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    if (n < 0) {
        perror("read /etc/hostname");
        return 1;
    }
    printf("static ok\n");
    return 0;
}

/* TOCTOU against a sockaddr check: a second thread flips the port of the
 * sockaddr_in that the main thread passes to connect(), between an allowed
 * and a denied port, as fast as it can.  The main thread connects N times
 * (a new socket each time) and counts, with getpeername, where each
 * successful connect went.
 *   usage: net_toctou ALLOWED_PORT DENIED_PORT N
 *   prints "ok=K allowed=A denied=D failed=F" */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct sockaddr_in addr;
static atomic_int stop;
static unsigned short allowed, denied;

static void *flipper(void *arg)
{
    (void)arg;
    volatile unsigned short *port = &addr.sin_port;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        *port = htons(allowed);
        *port = htons(denied);
    }
    *port = htons(allowed);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: net_toctou ALLOWED DENIED N\n");
        return 2;
    }
    allowed = (unsigned short)atoi(argv[1]);
    denied = (unsigned short)atoi(argv[2]);
    long n = atol(argv[3]);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(allowed);
    pthread_t t;
    pthread_create(&t, NULL, flipper, NULL);
    long ok = 0, na = 0, nd = 0, failed = 0;
    for (long i = 0; i < n; i++) {
        int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (s < 0) {
            perror("socket");
            return 1;
        }
        if (connect(s, (struct sockaddr *)&addr, sizeof addr) == 0) {
            struct sockaddr_in peer;
            socklen_t len = sizeof peer;
            ok++;
            if (getpeername(s, (struct sockaddr *)&peer, &len) == 0) {
                if (ntohs(peer.sin_port) == allowed)
                    na++;
                else if (ntohs(peer.sin_port) == denied)
                    nd++;
            }
        } else {
            failed++;
        }
        close(s);
    }
    atomic_store(&stop, 1);
    pthread_join(t, NULL);
    printf("ok=%ld allowed=%ld denied=%ld failed=%ld\n", ok, na, nd, failed);
    return 0;
}

/*
 * How much batching can gain in the kernel itself: raw C sending 500,000
 * datagrams of 256 bytes over a socketpair to a child process, one system
 * call per datagram (send/recv) against 64 per call (sendmmsg/recvmmsg).
 * No Lua: the ratio is the ceiling for any binding's batched API (W3b).
 *   cc -O2 -o bench/build/batch bench/limits/batch.c
 *   taskset -c 0 bench/build/batch single|batch
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/wait.h>

#define COUNT  500000L
#define SIZE   256
#define BATCH  64

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* one header per slot, all pointing at the slots' own bytes */
static void headers(struct mmsghdr *mm, struct iovec *io, char (*buf)[SIZE + 1],
                    size_t len)
{
    int i;
    memset(mm, 0, BATCH * sizeof(*mm));
    for (i = 0; i < BATCH; i++) {
        io[i].iov_base = buf[i];
        io[i].iov_len = len;
        mm[i].msg_hdr.msg_iov = &io[i];
        mm[i].msg_hdr.msg_iovlen = 1;
    }
}

static void receiver(int fd, int batch)
{
    static char buf[BATCH][SIZE + 1];
    struct mmsghdr mm[BATCH];
    struct iovec io[BATCH];
    long got = 0;
    headers(mm, io, buf, SIZE + 1);
    while (got < COUNT) {
        int r = batch ? recvmmsg(fd, mm, BATCH, MSG_WAITFORONE, NULL)
                      : (int)(recv(fd, buf[0], SIZE + 1, 0) >= 0);
        if (r < 0) { perror("recv"); _exit(1); }
        got += r;
    }
    _exit(0);
}

int main(int argc, char **argv)
{
    static char buf[BATCH][SIZE + 1];
    struct mmsghdr mm[BATCH];
    struct iovec io[BATCH];
    int sv[2], batch, status;
    long sent = 0;
    double t0;
    pid_t pid;
    if (argc != 2 || (strcmp(argv[1], "single") && strcmp(argv[1], "batch"))) {
        fprintf(stderr, "usage: batch single|batch\n");
        return 2;
    }
    batch = strcmp(argv[1], "batch") == 0;
    if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) < 0) { perror("socketpair"); return 1; }
    if ((pid = fork()) == 0) { close(sv[0]); receiver(sv[1], batch); }
    close(sv[1]);
    memset(buf, 'x', sizeof(buf));
    headers(mm, io, buf, SIZE);
    t0 = now();
    while (sent < COUNT) {
        long left = COUNT - sent;
        int r = batch ? sendmmsg(sv[0], mm, left < BATCH ? (unsigned)left : BATCH, 0)
                      : (int)(send(sv[0], buf[0], SIZE, 0) == SIZE);
        if (r < 0) { perror("send"); return 1; }
        sent += r;
    }
    if (waitpid(pid, &status, 0) < 0 || status != 0) return 1;
    printf("%s %.0f msg/s\n", argv[1], COUNT / (now() - t0));
    return 0;
}

/*
 * raw.c: the benchmark peer made of plain blocking syscalls: the limit the
 * other peers are measured against. Protocol: bench/README.md.
 *
 *   raw server|client WORKLOAD PATH COUNT SIZE
 *
 * Build: cc -std=c99 -O2 -Wall -Wextra -pedantic -o bench/build/raw bench/peers/raw.c
 *
 * No poll, no extra syscall per message; sends use MSG_NOSIGNAL. `bulk` and
 * `bulkbuf` are the same here: C always reads into one buffer.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0
#endif

static const char *cleanup_path; /* removed on exit, success or failure */

static void cleanup(void)
{
    if (cleanup_path)
        unlink(cleanup_path);
    cleanup_path = NULL;
}

static void die(const char *fmt, ...)
{
    va_list ap;
    fputs("error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    cleanup();
    exit(1);
}

static void die_errno(const char *what)
{
    die("%s: %s", what, strerror(errno));
}

static double now(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        die_errno("clock_gettime");
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void make_addr(struct sockaddr_un *sa, const char *path)
{
    size_t len = strlen(path);
    if (len >= sizeof sa->sun_path)
        die("path too long for a Unix socket: %s", path);
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    memcpy(sa->sun_path, path, len + 1);
}

static int new_socket(int type)
{
    int fd = socket(AF_UNIX, type, 0);
    if (fd < 0)
        die_errno("socket");
    return fd;
}

/* Remove a stale file, then bind; from here on PATH is removed at exit. */
static void bind_path(int fd, const char *path)
{
    struct sockaddr_un sa;
    make_addr(&sa, path);
    if (unlink(path) != 0 && errno != ENOENT)
        die_errno("unlink stale socket file");
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        die_errno("bind");
    cleanup_path = path;
}

static int listen_on(const char *path)
{
    int fd = new_socket(SOCK_STREAM);
    bind_path(fd, path);
    if (listen(fd, SOMAXCONN < 128 ? 128 : SOMAXCONN) != 0)
        die_errno("listen");
    return fd;
}

static int accept_one(int lfd)
{
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0)
        die_errno("accept");
    return fd;
}

static int connect_to(const char *path)
{
    struct sockaddr_un sa;
    int fd = new_socket(SOCK_STREAM);
    make_addr(&sa, path);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        die_errno("connect");
    return fd;
}

static void close_fd(int fd)
{
    if (close(fd) != 0)
        die_errno("close");
}

static void send_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die_errno("send");
        }
        buf += n;
        len -= (size_t)n;
    }
}

/* Receive exactly len bytes. Returns 1, or 0 on end of stream before the
 * first byte; end of stream in the middle is an error. */
static int recv_exact(int fd, char *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = recv(fd, buf + got, len - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die_errno("recv");
        }
        if (n == 0) {
            if (got == 0)
                return 0;
            die("end of stream after %zu of %zu bytes", got, len);
        }
        got += (size_t)n;
    }
    return 1;
}

/* Read to end of stream into buf (cap bytes, NUL-terminated). */
static size_t recv_to_eof(int fd, char *buf, size_t cap)
{
    size_t got = 0;
    for (;;) {
        ssize_t n;
        if (got + 1 >= cap)
            die("reply too long");
        n = recv(fd, buf + got, cap - 1 - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die_errno("recv");
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    buf[got] = '\0';
    return got;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        die("out of memory (%zu bytes)", n);
    return p;
}

static unsigned long long parse_count(const char *what, const char *s)
{
    char *end;
    unsigned long long v;
    errno = 0;
    if (*s < '0' || *s > '9')
        die("bad %s: %s", what, s);
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0')
        die("bad %s: %s", what, s);
    return v;
}

static void usage(void)
{
    fprintf(stderr, "usage: raw server|client "
                    "pingpong|bulk|bulkbuf|dgram|dgrambatch|connect PATH COUNT SIZE\n");
    exit(2);
}

/* ---- pingpong: stream round trips ---------------------------------- */

static void pingpong_server(const char *path, unsigned long long count,
                            size_t size)
{
    int lfd = listen_on(path);
    int fd = accept_one(lfd);
    char *buf = xmalloc(size);
    unsigned long long n = 0;
    while (recv_exact(fd, buf, size)) {
        send_all(fd, buf, size);
        n++;
    }
    close_fd(fd);
    close_fd(lfd);
    free(buf);
    if (n != count)
        die("pingpong: echoed %llu messages, expected %llu", n, count);
}

static double pingpong_client(const char *path, unsigned long long count,
                              size_t size)
{
    char *out = xmalloc(size), *in = xmalloc(size);
    unsigned long long i;
    double t0, t1;
    int fd;
    memset(out, 'p', size);
    t0 = now();
    fd = connect_to(path);
    for (i = 0; i < count; i++) {
        send_all(fd, out, size);
        if (!recv_exact(fd, in, size))
            die("pingpong: end of stream after %llu of %llu replies", i, count);
    }
    t1 = now();
    close_fd(fd);
    free(out);
    free(in);
    return t1 - t0;
}

/* ---- bulk / bulkbuf: stream throughput ------------------------------- */

static void bulk_server(const char *path, unsigned long long count,
                        size_t size)
{
    int lfd = listen_on(path);
    int fd = accept_one(lfd);
    char *buf = xmalloc(size);
    char reply[32];
    unsigned long long total = 0;
    for (;;) {
        ssize_t n = recv(fd, buf, size, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die_errno("recv");
        }
        if (n == 0)
            break;
        total += (unsigned long long)n;
    }
    sprintf(reply, "%llu\n", total);
    send_all(fd, reply, strlen(reply));
    close_fd(fd);
    close_fd(lfd);
    free(buf);
    if (total != count * (unsigned long long)size)
        die("bulk: received %llu bytes, expected %llu", total,
            count * (unsigned long long)size);
}

static double bulk_client(const char *path, unsigned long long count,
                          size_t size)
{
    char *out = xmalloc(size);
    char reply[64], want[32];
    unsigned long long i;
    double t0, t1;
    int fd;
    memset(out, 'b', size);
    sprintf(want, "%llu\n", count * (unsigned long long)size);
    t0 = now();
    fd = connect_to(path);
    for (i = 0; i < count; i++)
        send_all(fd, out, size);
    if (shutdown(fd, SHUT_WR) != 0)
        die_errno("shutdown");
    recv_to_eof(fd, reply, sizeof reply);
    t1 = now();
    close_fd(fd);
    free(out);
    if (strcmp(reply, want) != 0)
        die("bulk: reply \"%s\", expected \"%s\"", reply, want);
    return t1 - t0;
}

/* ---- dgram: datagram rate -------------------------------------------- */

static void dgram_server(const char *path, unsigned long long count,
                         size_t size)
{
    int fd = new_socket(SOCK_DGRAM);
    size_t cap = size + 1; /* a longer datagram would show as size + 1 */
    char *buf = xmalloc(cap);
    size_t plen = strlen(path);
    char *cpath = xmalloc(plen + 3);
    struct sockaddr_un to;
    char reply[32];
    unsigned long long i;
    ssize_t n;
    memcpy(cpath, path, plen);
    memcpy(cpath + plen, ".c", 3);
    bind_path(fd, path);
    for (i = 0; i < count; i++) {
        n = recv(fd, buf, cap, 0);  /* the reply goes to PATH.c: no name */
        if (n < 0) {
            if (errno == EINTR) {
                i--;
                continue;
            }
            die_errno("recv");
        }
        if ((size_t)n != size)
            die("dgram: datagram %llu is %s%zd bytes, expected %zu", i + 1,
                (size_t)n > size ? "at least " : "", n, size);
    }
    make_addr(&to, cpath);
    sprintf(reply, "%llu", count);
    n = sendto(fd, reply, strlen(reply), MSG_NOSIGNAL,
               (struct sockaddr *)&to, sizeof to);
    if (n < 0)
        die_errno("sendto (reply)");
    if ((size_t)n != strlen(reply))
        die("dgram: short reply");
    close_fd(fd);
    free(buf);
    free(cpath);
}

static double dgram_client(const char *path, unsigned long long count,
                           size_t size)
{
    size_t plen = strlen(path);
    char *cpath = xmalloc(plen + 3);
    char *out = xmalloc(size);
    char reply[64], want[32];
    struct sockaddr_un to;
    unsigned long long i;
    double t0, t1;
    ssize_t n;
    int fd;
    memcpy(cpath, path, plen);
    memcpy(cpath + plen, ".c", 3);
    make_addr(&to, path);
    memset(out, 'd', size);
    sprintf(want, "%llu", count);
    t0 = now();
    fd = new_socket(SOCK_DGRAM);
    bind_path(fd, cpath);
    /* connected: no address to look up per datagram */
    if (connect(fd, (struct sockaddr *)&to, sizeof to) < 0)
        die_errno("connect");
    for (i = 0; i < count; i++) {
        n = send(fd, out, size, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) {
                i--;
                continue;
            }
            die_errno("send");
        }
        if ((size_t)n != size)
            die("dgram: sent %zd of %zu bytes", n, size);
    }
    do
        n = recv(fd, reply, sizeof reply - 1, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        die_errno("recv (reply)");
    t1 = now();
    reply[n] = '\0';
    close_fd(fd);
    cleanup();
    free(cpath);
    free(out);
    if (strcmp(reply, want) != 0)
        die("dgram: reply \"%s\", expected \"%s\"", reply, want);
    return t1 - t0;
}

/* ---- connect: connection rate ---------------------------------------- */

static void connect_server(const char *path, unsigned long long count)
{
    int lfd = listen_on(path);
    unsigned long long i;
    char c;
    for (i = 0; i < count; i++) {
        int fd = accept_one(lfd);
        if (!recv_exact(fd, &c, 1))
            die("connect: connection %llu closed before its byte", i + 1);
        send_all(fd, &c, 1);
        close_fd(fd);
    }
    close_fd(lfd);
}

static double connect_client(const char *path, unsigned long long count)
{
    struct sockaddr_un sa;
    unsigned long long i;
    double t0, t1;
    char c = 'c', r;
    make_addr(&sa, path);
    t0 = now();
    for (i = 0; i < count; i++) {
        int fd = new_socket(SOCK_STREAM);
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
            die_errno("connect");
        send_all(fd, &c, 1);
        if (!recv_exact(fd, &r, 1))
            die("connect: connection %llu closed before the reply", i + 1);
        if (r != c)
            die("connect: connection %llu: wrong byte back", i + 1);
        close_fd(fd);
    }
    t1 = now();
    return t1 - t0;
}

/* ---- main ------------------------------------------------------------ */

int main(int argc, char **argv)
{
    const char *role, *workload, *path;
    unsigned long long count, size;
    int server;
    double secs = 0;

    if (argc != 6)
        usage();
    role = argv[1];
    workload = argv[2];
    path = argv[3];
    count = parse_count("COUNT", argv[4]);
    size = parse_count("SIZE", argv[5]);

    if (strcmp(role, "server") == 0)
        server = 1;
    else if (strcmp(role, "client") == 0)
        server = 0;
    else
        usage();
    if (size > (unsigned long long)(size_t)-1 / 2)
        die("SIZE too large: %llu", size);
    if (size == 0 && strncmp(workload, "dgram", 5) != 0 &&
        strcmp(workload, "connect") != 0)
        die("SIZE must be at least 1 for %s", workload);
    if (count == 0 && strncmp(workload, "dgram", 5) == 0)
        die("COUNT must be at least 1 for dgram (the reply goes to the sender)");

    if (strcmp(workload, "pingpong") == 0) {
        if (server)
            pingpong_server(path, count, (size_t)size);
        else
            secs = pingpong_client(path, count, (size_t)size);
    } else if (strcmp(workload, "bulk") == 0 ||
               strcmp(workload, "bulkbuf") == 0) {
        if (server)
            bulk_server(path, count, (size_t)size);
        else
            secs = bulk_client(path, count, (size_t)size);
    } else if (strcmp(workload, "dgram") == 0 ||
               strcmp(workload, "dgrambatch") == 0) {
        /* dgrambatch: the baseline of the batched APIs is one system
         * call per datagram, the W3 loop */
        if (server)
            dgram_server(path, count, (size_t)size);
        else
            secs = dgram_client(path, count, (size_t)size);
    } else if (strcmp(workload, "connect") == 0) {
        /* SIZE is not used: every connection carries 1 byte each way. */
        if (server)
            connect_server(path, count);
        else
            secs = connect_client(path, count);
    } else {
        fprintf(stderr, "error: unknown workload: %s\n", workload);
        return 1;
    }

    cleanup();
    if (!server)
        printf("result peer=raw workload=%s count=%llu size=%llu "
               "seconds=%.6f\n", workload, count, size, secs);
    return 0;
}

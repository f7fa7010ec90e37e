/*
** sys.c: system calls for uxsock, with EINTR retries, deadlines,
** close-on-exec and no SIGPIPE. No Lua here (see sys.h).
*/
#if !defined(_GNU_SOURCE)
#define _GNU_SOURCE   /* accept4, SOCK_CLOEXEC, struct ucred */
#endif

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include "sys.h"

#if defined(MSG_NOSIGNAL)
#define UX_SENDFLAGS  MSG_NOSIGNAL
#else
#define UX_SENDFLAGS  0     /* SO_NOSIGPIPE is set on every socket instead */
#endif


/* {======================================================
** Time
** ======================================================= */

double ux_now (void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void ux_deadline_init (ux_deadline *d, double timeout) {
  d->timeout = timeout;
  d->at = -1;
}

/* milliseconds left for poll(), -1 for no limit; rounds up so that a
** wait never ends before its deadline and spins */
static int remaining_ms (ux_deadline *d) {
  double left;
  if (d->timeout < 0) return -1;
  if (d->at < 0) d->at = ux_now() + d->timeout;
  left = d->at - ux_now();
  if (left <= 0) return 0;
  if (left > 2e6) return 2000000000;
  return (int)(left * 1000.0) + 1;
}

int ux_deadline_ms (ux_deadline *d) {
  return remaining_ms(d);
}

/* }====================================================== */


/* {======================================================
** Addresses
** ======================================================= */

int ux_addr_make (ux_addr *a, const char *name, size_t len) {
  int abstract = (len > 0 && (name[0] == '\0' || name[0] == '@'));
  memset(&a->sa, 0, sizeof(a->sa));
  a->sa.sun_family = AF_UNIX;
  if (len == 0) return UX_ADDR_EMPTY;
  if (len > (abstract ? UX_ABSTRACT_MAX : UX_PATH_MAX)) return UX_ADDR_TOOLONG;
  if (abstract) {
#if defined(__linux__)
    /* sun_path holds a NUL and the name's bytes, which may contain NULs */
    memcpy(a->sa.sun_path + 1, name + 1, len - 1);
    a->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    return UX_ADDR_OK;
#else
    return UX_ADDR_NOABSTRACT;
#endif
  }
  if (memchr(name, '\0', len) != NULL) return UX_ADDR_NUL;
  memcpy(a->sa.sun_path, name, len);
  a->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
  return UX_ADDR_OK;
}

int ux_addr_isabstract (const ux_addr *a) {
  return a->sa.sun_path[0] == '\0';
}

size_t ux_addr_name (const struct sockaddr_un *sa, socklen_t len, char *out) {
  size_t off = offsetof(struct sockaddr_un, sun_path);
  size_t n;
  if (len <= off || sa->sun_family != AF_UNIX) return 0;  /* unnamed */
  n = (size_t)len - off;
  if (n > sizeof(sa->sun_path)) n = sizeof(sa->sun_path);
  if (sa->sun_path[0] == '\0') {  /* abstract: every byte counts */
    out[0] = '@';
    memcpy(out + 1, sa->sun_path + 1, n - 1);
    return n;
  }
  n = strnlen(sa->sun_path, n);  /* a path ends at its NUL */
  if (sa->sun_path[0] == '@') {
    /* a file named "@x" (another program bound it): passed back as "@x"
    ** it would be the abstract name; "./@x" is the same file */
    out[0] = '.';
    out[1] = '/';
    memcpy(out + 2, sa->sun_path, n);
    return n + 2;
  }
  memcpy(out, sa->sun_path, n);
  return n;
}

/* }====================================================== */


/* {======================================================
** Descriptors
** ======================================================= */

static int set_cloexec (int fd) {
  int flags = fcntl(fd, F_GETFD);
  if (flags < 0 || fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0) return errno;
  return 0;
}

/* what every new descriptor gets where the type flags cannot give it */
static int prepare_fd (int fd) {
  int err = 0;
  (void)fd;
#if !defined(SOCK_CLOEXEC)
  err = set_cloexec(fd);
#endif
#if defined(SO_NOSIGPIPE)
  if (err == 0) {
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof(one)) < 0)
      err = errno;
  }
#endif
  return err;
}

#if defined(SOCK_CLOEXEC)
#define UX_TYPEFLAGS  SOCK_CLOEXEC
#else
#define UX_TYPEFLAGS  0
#endif

int ux_socket (int type, int *fd) {
  int err;
  *fd = socket(AF_UNIX, type | UX_TYPEFLAGS, 0);
  if (*fd < 0) return errno;
  if ((err = prepare_fd(*fd)) != 0) { ux_close(*fd); *fd = -1; }
  return err;
}

int ux_socketpair (int type, int fds[2]) {
  int err;
  if (socketpair(AF_UNIX, type | UX_TYPEFLAGS, 0, fds) < 0) return errno;
  if ((err = prepare_fd(fds[0])) != 0 || (err = prepare_fd(fds[1])) != 0) {
    ux_close(fds[0]); ux_close(fds[1]);
    fds[0] = fds[1] = -1;
  }
  return err;
}

int ux_setnonblocking (int fd, int on) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) return errno;
  flags = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  if (fcntl(fd, F_SETFL, flags) < 0) return errno;
  return 0;
}

/* close() is not retried on EINTR: on Linux the fd is gone either way */
void ux_close (int fd) {
  if (fd >= 0) (void)close(fd);
}

int ux_wait (int fd, int events, ux_deadline *d) {
  struct pollfd p;
  p.fd = fd;
  p.events = (short)events;
  for (;;) {
    int ms = remaining_ms(d);
    int r;
    if (d->timeout == 0) return EAGAIN;
    if (ms == 0) return ETIMEDOUT;
    r = poll(&p, 1, ms);
    if (r > 0) return 0;  /* ready, or an error the next call reports */
    if (r == 0) { if (d->timeout >= 0) return ETIMEDOUT; continue; }
    if (errno != EINTR) return errno;
  }
}

/* is a call that failed with err worth retrying after a wait? */
static int would_block (int err) {
  return err == EAGAIN || err == EWOULDBLOCK;
}

/* A timed call (timeout >= 0) must never block in the system call. The
** handle keeps its descriptor O_NONBLOCK, but that flag belongs to the
** open file description, which every copy shares: another handle for a
** copy (recvfds, fromfd), another process, or uxsock_detachfd can turn
** it off. So timed sends and receives also pass MSG_DONTWAIT, which
** holds for the one call whatever the flag says, and a timed accept
** (which has no such flag) sets O_NONBLOCK again first when it is off. */
#if defined(MSG_DONTWAIT)
#define UX_DONTWAIT(d)  ((d)->timeout >= 0 ? MSG_DONTWAIT : 0)
#else
#define UX_DONTWAIT(d)  0
#endif

static int ensure_nonblocking (int fd) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) return errno;
  if ((flags & O_NONBLOCK) == 0 && fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
    return errno;
  return 0;
}

/* }====================================================== */


/* {======================================================
** Connections and I/O
** ======================================================= */

int ux_accept (int fd, int *newfd, ux_deadline *d) {
  if (d->timeout >= 0) {
    int err = ensure_nonblocking(fd);
    if (err != 0) { *newfd = -1; return err; }
  }
  for (;;) {
    int err;
#if defined(__linux__) || defined(__FreeBSD__) || defined(__NetBSD__) || \
    defined(__OpenBSD__) || defined(__DragonFly__)
    *newfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
#else
    *newfd = accept(fd, NULL, NULL);
#endif
    if (*newfd >= 0) {
      if ((err = prepare_fd(*newfd)) != 0) { ux_close(*newfd); *newfd = -1; }
#if !(defined(__linux__) || defined(__FreeBSD__) || defined(__NetBSD__) || \
      defined(__OpenBSD__) || defined(__DragonFly__))
      if (err == 0 && (err = set_cloexec(*newfd)) != 0) {
        ux_close(*newfd); *newfd = -1;
      }
#endif
      return err;
    }
    err = errno;
    if (err == EINTR || err == ECONNABORTED) continue;
    if (!would_block(err)) return err;
    if ((err = ux_wait(fd, POLLIN, d)) != 0) return err;
  }
}

/* A Unix connect blocks only while the server's backlog is full, and then
** answers EAGAIN on a non-blocking socket without starting a connection
** to wait for. So the timed case connects in blocking mode with the time
** left as SO_SNDTIMEO, which Linux applies to exactly that wait. */
static int connect_timed (int fd, const ux_addr *a, ux_deadline *d) {
  int err = 0;
  for (;;) {
    int ms = remaining_ms(d);
    struct timeval tv;
    if (ms == 0) { err = ETIMEDOUT; break; }
    tv.tv_sec = ms / 1000;
    tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
    if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0) {
      err = errno; break;
    }
    if (connect(fd, (const struct sockaddr *)&a->sa, a->len) == 0) break;
    err = errno;
    if (err == EINTR) continue;
    if (would_block(err) || err == EINPROGRESS) err = ETIMEDOUT;
    break;
  }
  {
    struct timeval zero = {0, 0};
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &zero, sizeof(zero));
  }
  return err;
}

/* one connect as the descriptor's mode makes it: blocking (no timeout),
** or a try that returns EAGAIN when the server's backlog is full */
static int connect_now (int fd, const ux_addr *a, ux_deadline *d) {
  for (;;) {
    int err;
    if (connect(fd, (const struct sockaddr *)&a->sa, a->len) == 0) return 0;
    err = errno;
    if (err == EINTR) {
      /* the connection may be under way: wait for it to finish */
      if ((err = ux_wait(fd, POLLOUT, d)) != 0) return err;
      continue;
    }
    if (err == EISCONN) return 0;  /* an interrupted attempt completed */
    if (err == EINPROGRESS) err = EAGAIN;
    return err;
  }
}

/* Every timed call tries before it looks at the clock, so a timeout too
** small to wait (1e-9) still connects to a server with room, as 0 does;
** only a full backlog waits, blocked in connect for what is left. */
int ux_connect (int fd, const ux_addr *a, ux_deadline *d) {
  int err = connect_now(fd, a, d);
  if (err != EAGAIN || d->timeout <= 0) return err;
  if ((err = ux_setnonblocking(fd, 0)) != 0) return err;
  err = connect_timed(fd, a, d);
  {
    int e2 = ux_setnonblocking(fd, 1);
    if (err == 0) err = e2;
  }
  return err;
}

/* fills the header of one message: its bytes and, maybe, its name */
static void msg_init (struct msghdr *m, struct iovec *io, void *name,
                      socklen_t namelen) {
  memset(m, 0, sizeof(*m));
  m->msg_iov = io;
  m->msg_iovlen = 1;
  m->msg_name = name;
  m->msg_namelen = namelen;
}

/* Linux reports an unconnected datagram socket writable even while the
** receiver's queue is full, so a timed sendto backs off between tries
** instead of spinning on poll */
static void backoff (int tries, ux_deadline *d) {
  int ms = remaining_ms(d);
  int step = tries < 6 ? 1 << tries : 50;
  struct timespec ts;
  if (ms >= 0 && ms < step) step = ms;
  ts.tv_sec = 0;
  ts.tv_nsec = (long)step * 1000000L;
  (void)nanosleep(&ts, NULL);
}

int ux_msgsend (int fd, const struct msghdr *m, size_t *n, ux_deadline *d) {
  int tries = 0;
  *n = 0;
  for (;;) {
    ssize_t r = sendmsg(fd, m, UX_SENDFLAGS | UX_DONTWAIT(d));
    int err;
    if (r >= 0) { *n = (size_t)r; return 0; }
    err = errno;
    if (err == EINTR) continue;
    if (!would_block(err)) return err;
    if ((err = ux_wait(fd, POLLOUT, d)) != 0) return err;
    if (m->msg_name != NULL) backoff(tries++, d);
  }
}

int ux_send (int fd, const char *p, size_t len, const ux_addr *to,
             size_t *n, ux_deadline *d) {
  *n = 0;
  if (to != NULL) {
    struct msghdr m;
    struct iovec io;
    io.iov_base = (void *)p;
    io.iov_len = len;
    msg_init(&m, &io, (void *)&to->sa, to->len);
    return ux_msgsend(fd, &m, n, d);
  }
  for (;;) {  /* a connected socket: the one syscall of the hot path */
    ssize_t r = send(fd, p, len, UX_SENDFLAGS | UX_DONTWAIT(d));
    int err;
    if (r >= 0) { *n = (size_t)r; return 0; }
    err = errno;
    if (err == EINTR) continue;
    if (!would_block(err)) return err;
    if ((err = ux_wait(fd, POLLOUT, d)) != 0) return err;
  }
}

int ux_msgrecv (int fd, struct msghdr *m, int flags, size_t *n, size_t *full,
                ux_deadline *d) {
  size_t len = m->msg_iov[0].iov_len;
  socklen_t namelen = m->msg_namelen;
  size_t ctllen = m->msg_controllen;
  *n = 0;
  for (;;) {
    ssize_t r;
    int err;
    m->msg_namelen = namelen;  /* what a failed try may have changed */
    m->msg_controllen = ctllen;
    r = recvmsg(fd, m, flags | UX_DONTWAIT(d));
    if (r >= 0) {
      size_t got = (size_t)r;
      *n = got > len ? len : got;
      *full = got > len ? got : ((m->msg_flags & MSG_TRUNC) ? len + 1 : got);
      return 0;
    }
    err = errno;
    if (err == EINTR) continue;
    if (!would_block(err)) return err;
    if ((err = ux_wait(fd, POLLIN, d)) != 0) return err;
  }
}

int ux_recv (int fd, char *p, size_t len, size_t *n, size_t *full,
             struct sockaddr_un *from, socklen_t *fromlen, ux_deadline *d) {
  *n = 0;
  if (full != NULL || from != NULL) {  /* messages, or a sender's name */
    struct msghdr m;
    struct iovec io;
    size_t whole = 0;  /* what *full gets when the receive fails */
    int err;
    io.iov_base = p;
    io.iov_len = len;
    msg_init(&m, &io, from, from ? *fromlen : 0);
    err = ux_msgrecv(fd, &m, full ? UX_MSG_TRUNC : 0, n, &whole, d);
    if (err == 0 && from != NULL) *fromlen = m.msg_namelen;
    if (full != NULL) *full = whole;
    return err;
  }
  for (;;) {  /* streams: the one syscall of the hot path */
    ssize_t r = recv(fd, p, len, UX_DONTWAIT(d));
    int err;
    if (r >= 0) { *n = (size_t)r; return 0; }
    err = errno;
    if (err == EINTR) continue;
    if (!would_block(err)) return err;
    if ((err = ux_wait(fd, POLLIN, d)) != 0) return err;
  }
}

int ux_recvsize (int fd, int stream, size_t *size, int *known,
                 ux_deadline *d) {
  *size = 0;
  *known = stream || UX_MSG_TRUNC != 0;
  for (;;) {
    char c;
    /* a stream: one byte peeked says data or end of stream; a message:
    ** none, and MSG_TRUNC makes the result its whole length */
    ssize_t r = recv(fd, &c, stream ? 1 : 0,
                     MSG_PEEK | MSG_DONTWAIT | (stream ? 0 : UX_MSG_TRUNC));
    int err;
    if (r >= 0) {
      int queued = 0;
      if (!stream || r == 0) { *size = (size_t)r; return 0; }
      if ((err = ux_queued(fd, 0, &queued)) != 0) return err;
      *size = queued > 0 ? (size_t)queued : 1;
      return 0;
    }
    err = errno;
    if (err == EINTR) continue;
    if (!would_block(err)) return err;
    if ((err = ux_wait(fd, POLLIN, d)) != 0) return err;
  }
}

/* }====================================================== */


/* {======================================================
** Batches
** ======================================================= */

#define UX_BATCH  64  /* messages per sendmmsg/recvmmsg: headers on the stack */


int ux_sendmany (int fd, const struct iovec *msgs, size_t count,
                 const ux_addr *to, size_t *sent, ux_deadline *d) {
  int tries = 0;
  *sent = 0;
  while (*sent < count) {
    int err;
#if defined(__linux__)
    struct mmsghdr mm[UX_BATCH];
    size_t k = count - *sent, i;
    int r;
    if (k > UX_BATCH) k = UX_BATCH;
    for (i = 0; i < k; i++) {
      msg_init(&mm[i].msg_hdr, (struct iovec *)&msgs[*sent + i],
               to ? (void *)&to->sa : NULL, to ? to->len : 0);
      mm[i].msg_len = 0;
    }
    r = sendmmsg(fd, mm, (unsigned)k, UX_SENDFLAGS | UX_DONTWAIT(d));
    if (r > 0) { *sent += (size_t)r; tries = 0; continue; }
    err = errno;
#else
    size_t n;
    err = ux_send(fd, (const char *)msgs[*sent].iov_base, msgs[*sent].iov_len,
                  to, &n, d);
    if (err == 0) { (*sent)++; continue; }
    return err;  /* ux_send waited already */
#endif
    if (err == EINTR) continue;
    if (!would_block(err)) return err;
    if ((err = ux_wait(fd, POLLOUT, d)) != 0) return err;
    if (to != NULL) backoff(tries++, d);
  }
  return 0;
}

/* records message i of a batch: flags MSG_TRUNC made r its real length */
static void slot_set (ux_slot *s, size_t r, size_t max, int cut,
                      socklen_t fromlen) {
  s->len = r < max ? r : max;
  s->full = r > max ? r : (cut ? max + 1 : r);
  s->fromlen = fromlen;
}

int ux_recvmany (int fd, char *base, size_t max, ux_slot *slots,
                 size_t count, int wantfrom, size_t *got, int *drained,
                 ux_deadline *d) {
  int flags = UX_MSG_TRUNC;
  *got = 0;
  *drained = 0;
  while (*got < count) {
    size_t k = count - *got, i;
    int r, err, more = (*got > 0);  /* after the first: take, never wait */
#if defined(__linux__)
    struct mmsghdr mm[UX_BATCH];
    struct iovec io[UX_BATCH];
    if (k > UX_BATCH) k = UX_BATCH;
    for (i = 0; i < k; i++) {
      ux_slot *s = &slots[*got + i];
      io[i].iov_base = base + (*got + i) * max;
      io[i].iov_len = max;
      msg_init(&mm[i].msg_hdr, &io[i], wantfrom ? &s->from : NULL,
               wantfrom ? (socklen_t)sizeof(s->from) : 0);
      mm[i].msg_len = 0;
    }
    r = recvmmsg(fd, mm, (unsigned)k,
                 flags | (more ? MSG_DONTWAIT : MSG_WAITFORONE) | UX_DONTWAIT(d),
                 NULL);
    if (r > 0) {
      for (i = 0; i < (size_t)r; i++)
        slot_set(&slots[*got + i], mm[i].msg_len, max,
                 (mm[i].msg_hdr.msg_flags & MSG_TRUNC) != 0,
                 mm[i].msg_hdr.msg_namelen);
      *got += (size_t)r;
      if ((size_t)r < k) {  /* the queue is empty */
        *drained = 1;
        return 0;
      }
      continue;
    }
#else
    struct msghdr m;
    struct iovec io;
    ux_slot *s = &slots[*got];
    (void)k; (void)i;
    io.iov_base = base + *got * max;
    io.iov_len = max;
    msg_init(&m, &io, wantfrom ? &s->from : NULL,
             wantfrom ? (socklen_t)sizeof(s->from) : 0);
    r = (int)recvmsg(fd, &m, flags | (more ? MSG_DONTWAIT : 0) | UX_DONTWAIT(d));
    if (r >= 0) {
      slot_set(s, (size_t)r, max, (m.msg_flags & MSG_TRUNC) != 0,
               m.msg_namelen);
      (*got)++;
      continue;
    }
#endif
    err = errno;
    if (err == EINTR) continue;
    if (more) {  /* what came is returned; an error comes next */
      *drained = would_block(err);
      return 0;
    }
    if (!would_block(err)) return err;
    if ((err = ux_wait(fd, POLLIN, d)) != 0) return err;
  }
  return 0;
}

/* }====================================================== */


/* {======================================================
** Information
** ======================================================= */

int ux_shutdown (int fd, int how) {
  if (shutdown(fd, how) < 0) return errno;
  return 0;
}

int ux_getname (int fd, int peer, struct sockaddr_un *sa, socklen_t *len) {
  int r;
  *len = sizeof(*sa);
  memset(sa, 0, sizeof(*sa));
  r = peer ? getpeername(fd, (struct sockaddr *)sa, len)
           : getsockname(fd, (struct sockaddr *)sa, len);
  return r < 0 ? errno : 0;
}

int ux_peercred (int fd, long *pid, long *uid, long *gid) {
#if defined(SO_PEERCRED) && defined(__linux__)
  struct ucred c;
  socklen_t len = sizeof(c);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c, &len) < 0) return errno;
  *pid = (long)c.pid; *uid = (long)c.uid; *gid = (long)c.gid;
  return 0;
#elif defined(__APPLE__) || defined(__FreeBSD__) || defined(__OpenBSD__) || \
      defined(__NetBSD__) || defined(__DragonFly__)
  uid_t u; gid_t g;
  if (getpeereid(fd, &u, &g) < 0) return errno;
  *pid = -1; *uid = (long)u; *gid = (long)g;  /* no pid on these systems */
  return 0;
#else
  (void)fd; *pid = *uid = *gid = -1;
  return ENOTSUP;
#endif
}

int ux_setsockopt (int fd, int level, int name, int value) {
  if (setsockopt(fd, level, name, &value, sizeof(value)) < 0) return errno;
  return 0;
}

int ux_getsockopt (int fd, int level, int name, int *value) {
  socklen_t len = sizeof(*value);
  *value = 0;
  if (getsockopt(fd, level, name, value, &len) < 0) return errno;
  return 0;
}

int ux_queued (int fd, int out, int *value) {
  unsigned long req;
  *value = 0;
#if defined(TIOCOUTQ)  /* Linux: SIOCOUTQ; elsewhere FIONWRITE */
  req = out ? TIOCOUTQ : FIONREAD;
#elif defined(FIONWRITE)
  req = out ? FIONWRITE : FIONREAD;
#else
  if (out) return ENOTSUP;
  req = FIONREAD;
#endif
  if (ioctl(fd, req, value) < 0) return errno;
  return 0;
}

int ux_socktype (int fd, int *type) {
  socklen_t len = sizeof(*type);
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, type, &len) < 0) return errno;
  return 0;
}

int ux_sockinfo (int fd, int *type, int *listening) {
  struct sockaddr_un sa;
  socklen_t len = sizeof(sa);
  int err = ux_socktype(fd, type);
  if (err != 0) return err;
  memset(&sa, 0, sizeof(sa));
  if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0) return errno;
  if (sa.sun_family != AF_UNIX) return EAFNOSUPPORT;
  len = sizeof(*listening);
  if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, listening, &len) < 0)
    return errno;
  return 0;
}

int ux_setcloexec (int fd) {
  return set_cloexec(fd);
}

/* }====================================================== */

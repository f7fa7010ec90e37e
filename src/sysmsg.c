/*
** sysmsg.c: sendmsg and recvmsg with control data: descriptors
** (SCM_RIGHTS) and credentials (SCM_CREDENTIALS, Linux). No Lua here
** (see sys.h for the conventions: errno values, EINTR, deadlines).
*/
#if !defined(_GNU_SOURCE)
#define _GNU_SOURCE   /* struct ucred, MSG_CMSG_CLOEXEC, O_PATH */
#endif

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include "sysmsg.h"

#if defined(MSG_CMSG_CLOEXEC)
#define UX_RECVFLAGS  MSG_CMSG_CLOEXEC
#else
#define UX_RECVFLAGS  0     /* FD_CLOEXEC is set just after, racing a fork */
#endif

#if defined(__linux__) && defined(SCM_CREDENTIALS)
#define UX_HAVECRED  1
#define UX_CREDSPACE  CMSG_SPACE(sizeof(struct ucred))
#else
#define UX_HAVECRED  0
#define UX_CREDSPACE  0
#endif

/* control buffers, aligned for cmsghdr */
typedef union ux_ctlbuf {
  struct cmsghdr align;
  char b[CMSG_SPACE(sizeof(int) * UX_MAXFDS) + UX_CREDSPACE];
} ux_ctlbuf;


/* {======================================================
** Sending
** ======================================================= */

int ux_sendctl (int fd, const char *p, size_t len, const ux_addr *to,
                const int *fds, int nfds, int cred, size_t *n,
                ux_deadline *d) {
  ux_ctlbuf buf;
  struct msghdr m;
  struct iovec io;
  struct cmsghdr *c;
  size_t clen = 0;
  *n = 0;
  if (nfds < 0 || nfds > UX_MAXFDS) return EINVAL;
#if !UX_HAVECRED
  if (cred) return ENOTSUP;
#endif
  memset(&buf, 0, sizeof(buf));
  memset(&m, 0, sizeof(m));
  io.iov_base = (void *)p;
  io.iov_len = len;
  m.msg_iov = &io;
  m.msg_iovlen = 1;
  if (to != NULL) {
    m.msg_name = (void *)&to->sa;
    m.msg_namelen = to->len;
  }
  m.msg_control = buf.b;
  m.msg_controllen = sizeof(buf.b);
  c = CMSG_FIRSTHDR(&m);
#if UX_HAVECRED
  if (cred) {  /* the kernel checks them: only our own pass */
    struct ucred u;
    u.pid = getpid();
    u.uid = getuid();
    u.gid = getgid();
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_CREDENTIALS;
    c->cmsg_len = CMSG_LEN(sizeof(u));
    memcpy(CMSG_DATA(c), &u, sizeof(u));
    clen += CMSG_SPACE(sizeof(u));
    c = CMSG_NXTHDR(&m, c);
  }
#endif
  if (nfds > 0) {
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
    clen += CMSG_SPACE(sizeof(int) * (size_t)nfds);
  }
  m.msg_controllen = clen;
  if (clen == 0) m.msg_control = NULL;
  return ux_msgsend(fd, &m, n, d);
}

/* }====================================================== */


/* {======================================================
** Receiving
** ======================================================= */

/* closes them and empties their slots: the caller's list may close what
** is left in it later, and must not close a number used again by then */
static void closeall (int *fds, int n) {
  int i;
  for (i = 0; i < n; i++) {
    ux_close(fds[i]);
    fds[i] = -1;
  }
}

/* Why the kernel cut the control data although it had room for maxfds
** descriptors and got fewer: it could not install one (Linux drops
** those and says only MSG_CTRUNC). A descriptor the kernel could not
** install, dup cannot make either: EMFILE. */
static int why_dropped (int sock) {
  int probe = fcntl(sock, F_DUPFD_CLOEXEC, 0);
  if (probe >= 0) {
    ux_close(probe);
    return ENOBUFS;
  }
  return errno == EMFILE || errno == ENFILE ? errno : ENOBUFS;
}

/* takes what the kernel put in the control buffer of socket fd */
static void takectl (int fd, struct msghdr *m, ux_ctl *c) {
  struct cmsghdr *h;
  int got = 0;  /* descriptors the kernel installed */
  c->nfds = 0;
  c->trunc = (m->msg_flags & MSG_CTRUNC) != 0;
  c->hascred = 0;
  c->anyctl = c->trunc || CMSG_FIRSTHDR(m) != NULL;
  for (h = CMSG_FIRSTHDR(m); h != NULL; h = CMSG_NXTHDR(m, h)) {
    size_t len;
    if (h->cmsg_level != SOL_SOCKET) continue;
    len = h->cmsg_len - CMSG_LEN(0);
    if (h->cmsg_type == SCM_RIGHTS) {
      size_t i, k = len / sizeof(int);
      for (i = 0; i < k; i++) {
        int rfd;
        memcpy(&rfd, CMSG_DATA(h) + i * sizeof(int), sizeof(rfd));
#if !defined(MSG_CMSG_CLOEXEC)
        (void)ux_setcloexec(rfd);
#endif
        got++;
        if (c->nfds < c->maxfds) c->fds[c->nfds++] = rfd;
        else { ux_close(rfd); c->trunc = 1; }
      }
    }
#if UX_HAVECRED
    else if (h->cmsg_type == SCM_CREDENTIALS && len >= sizeof(struct ucred)) {
      struct ucred u;
      memcpy(&u, CMSG_DATA(h), sizeof(u));
      /* a message sent before SO_PASSCRED was on, with none from its
      ** sender, carries pid 0 and the overflow ids: nobody vouched */
      if (c->wantcred && u.pid != 0) {
        c->hascred = 1;
        c->pid = (long)u.pid;
        c->uid = (long)u.uid;
        c->gid = (long)u.gid;
      }
    }
#endif
#if defined(SCM_PIDFD)
    else if (h->cmsg_type == SCM_PIDFD && len >= sizeof(int)) {
      int pidfd;  /* SO_PASSPIDFD: a descriptor nobody asked for here */
      memcpy(&pidfd, CMSG_DATA(h), sizeof(pidfd));
      ux_close(pidfd);
    }
#endif
  }
  if (c->trunc) {  /* a part of a list is no list: give none */
    c->why = ENOBUFS;
    if ((m->msg_flags & MSG_CTRUNC) && got < c->maxfds)
      c->why = why_dropped(fd);  /* before closing makes room */
    closeall(c->fds, c->nfds);
    c->nfds = 0;
  }
}

int ux_recvctl (int fd, char *p, size_t len, size_t *n, size_t *full,
                struct sockaddr_un *from, socklen_t *fromlen, ux_ctl *c,
                ux_deadline *d) {
  ux_ctlbuf buf;
  struct msghdr m;
  struct iovec io;
  size_t whole;
  int err, flags = UX_RECVFLAGS;
  size_t room = UX_CREDSPACE;  /* credentials come first when they come */
  c->nfds = 0;
  c->trunc = c->hascred = 0;
  c->why = 0;
  if (c->maxfds > 0) room += CMSG_SPACE(sizeof(int) * (size_t)c->maxfds);
  if (room == 0) room = CMSG_SPACE(sizeof(int));
  if (full != NULL) flags |= UX_MSG_TRUNC;  /* a message's real length */
  memset(&m, 0, sizeof(m));
  io.iov_base = p;
  io.iov_len = len;
  m.msg_iov = &io;
  m.msg_iovlen = 1;
  if (from != NULL) { m.msg_name = from; m.msg_namelen = *fromlen; }
  m.msg_control = buf.b;
  m.msg_controllen = room;
  err = ux_msgrecv(fd, &m, flags, n, &whole, d);
  if (err != 0) return err;
  takectl(fd, &m, c);  /* also with no control data: MSG_CTRUNC */
  if (from != NULL) *fromlen = m.msg_namelen;
  if (full != NULL) *full = whole;
  return 0;
}

int ux_passcred (int fd) {
#if UX_HAVECRED && defined(SO_PASSCRED)
  return ux_setsockopt(fd, SOL_SOCKET, SO_PASSCRED, 1);
#else
  (void)fd;
  return ENOTSUP;
#endif
}

/* }====================================================== */


/* {======================================================
** Descriptors from elsewhere
** ======================================================= */

int ux_fdmode (int fd, const char **mode) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) return errno;
#if defined(O_PATH)
  if (flags & O_PATH) return EBADF;  /* no reading, no writing */
#endif
  switch (flags & O_ACCMODE) {
    case O_RDONLY: *mode = "r"; break;
    case O_WRONLY: *mode = (flags & O_APPEND) ? "a" : "w"; break;
    case O_RDWR: *mode = (flags & O_APPEND) ? "a+" : "r+"; break;
    default: return EINVAL;
  }
  return 0;
}

int ux_fdclass (int fd, int *type, int *listening, const char **mode) {
  struct stat st;
  if (fstat(fd, &st) < 0) return UX_FD_OTHER;
  if (S_ISSOCK(st.st_mode))
    return ux_sockinfo(fd, type, listening) == 0 ? UX_FD_UNIX : UX_FD_OTHER;
  if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode) && !S_ISCHR(st.st_mode))
    return UX_FD_OTHER;
  return ux_fdmode(fd, mode) == 0 ? UX_FD_FILE : UX_FD_OTHER;
}

int ux_fdopen (int fd, const char *mode, FILE **f) {
  *f = fdopen(fd, mode);
  return *f == NULL ? errno : 0;
}

/* close() is not retried on EINTR: on Linux the fd is gone either way */
int ux_closefd (int fd) {
  if (close(fd) < 0 && errno != EINTR) return errno;
  return 0;
}

/* }====================================================== */

/*
** sockfile.c: binding names, and the life of a socket file: made at a
** path, published, removed. No Lua here (see sockfile.h).
**
** Threat model. Who else may act on the directory of a socket path, and
** what each can and cannot make uxsock do:
**   another user, read access only: may list and stat the directory,
**     open it, flock it, bind abstract names. Cannot delay a bind:
**     uxsock takes no lock on the directory or on anything in it; the
**     one lock (below) is an abstract name, and a holder that is
**     another user is ignored.
**   another user, write access, sticky directory (/tmp): may take a
**     free path first (EADDRINUSE: inherent to a shared directory), or
**     put a symlink, a file or a socket of its own there, which is
**     never followed and never removed. Cannot remove or rename our
**     file.
**   another user, write access, non-sticky directory: may rename or
**     remove any entry, ours too, at any moment, so it can make a
**     server unreachable. It cannot make uxsock act on another file:
**     mode and removal touch only the inode this bind made (the kernel
**     says which, sock_diag), found relative to a directory descriptor
**     opened once, with no symlink followed; a swap between bind and
**     that check fails the call (ENOENT) instead of being followed.
**   a forked child: inherits the handle; its close, __gc, lua_close or
**     exit leaves the file, which only the process that made it
**     removes (owner pid). exec closes the descriptor (close-on-exec).
**   another uxsock server starting on the path at the same instant:
**     bind arbitrates a free path. A file is stale only when no socket
**     is bound to it any more (probe_dead), so a fresh file, bound but
**     not yet listening, is live. Servers replacing one stale file
**     take turns on a lock named after that file, held for a few
**     system calls (stale_lock); one wins, the others get EADDRINUSE.
**   a program that is not uxsock: may remove or replace what its
**     permissions allow; uxsock still removes no live socket, nothing
**     that is not a socket, and changes the mode of no other file.
**   the same user, or root: not defended against.
** Every wait is bounded: the stale-file lock by the call's timeout and
** at most UX_STALE_WAIT seconds; nothing else waits.
**
** The steps of a path bind (bind_path):
**   1. open the path's directory once (Linux: O_PATH, which needs no
**      read permission); every later step is relative to it
**   2. Linux: set the mode on the socket: bind makes the file with it,
**      less the umask, so it is never wider than asked
**   3. bind; on EADDRINUSE, remove_stale: a dead socket file goes (under
**      the lock), anything else stays (EADDRINUSE); bind again
**   4. open_made: the file at the path must be the one this bind made;
**      the mode is widened to exactly what was asked on that inode only
*/
#if !defined(_GNU_SOURCE)
#define _GNU_SOURCE   /* O_PATH, SOCK_CLOEXEC, struct ucred */
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#if defined(__linux__)
#include <sys/sysmacros.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#endif

#include "sockfile.h"

/* the longest wait for another process's stale-file replacement */
#if !defined(UX_STALE_WAIT)
#define UX_STALE_WAIT  1.0
#endif

/* binds tried at a path whose file keeps changing under us */
#define UX_BIND_TRIES  4

#if defined(O_PATH)
#define UX_DIRFLAGS  (O_PATH | O_DIRECTORY | O_CLOEXEC)
#else
#define UX_DIRFLAGS  (O_RDONLY | O_DIRECTORY | O_CLOEXEC)
#endif


/* {======================================================
** Where a path's file is
** ======================================================= */

/* a path as its directory, opened once, and its last component */
typedef struct place {
  int dir;           /* AT_FDCWD when the directory cannot be opened */
  const char *name;  /* then the whole path */
} place;

static int place_open (place *p, const char *path) {
  char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
  const char *slash = strrchr(path, '/');
  size_t n = slash == NULL ? 0 : (slash == path ? 1 : (size_t)(slash - path));
  int fd;
  p->dir = AT_FDCWD;
  p->name = path;
  if (slash != NULL && slash[1] == '\0') return 0;  /* "d/": bind says */
  if (n == 0) strcpy(dir, ".");
  else { memcpy(dir, path, n); dir[n] = '\0'; }
  fd = open(dir, UX_DIRFLAGS);
  if (fd < 0) {
    /* without O_PATH, a directory we may search but not read: the
    ** steps then resolve the path each time */
    return errno == EACCES ? 0 : errno;
  }
  p->dir = fd;
  p->name = slash == NULL ? path : slash + 1;
  return 0;
}

static void place_close (place *p) {
  if (p->dir != AT_FDCWD) ux_close(p->dir);
  p->dir = AT_FDCWD;
}

/* is the entry at p still the file st describes? */
static int place_holds (const place *p, const struct stat *st) {
  struct stat now;
  return fstatat(p->dir, p->name, &now, AT_SYMLINK_NOFOLLOW) == 0 &&
         S_ISSOCK(now.st_mode) && now.st_dev == st->st_dev &&
         now.st_ino == st->st_ino;
}

/* The entry at p, opened without following a symlink (O_PATH: the
** descriptor pins that very inode for the steps after) into *pfd, and
** its stat. Without O_PATH, only the stat (*pfd = -1). */
static int place_pin (const place *p, int *pfd, struct stat *st) {
  *pfd = -1;
  memset(st, 0, sizeof(*st));
#if defined(O_PATH)
  if ((*pfd = openat(p->dir, p->name, O_PATH | O_NOFOLLOW | O_CLOEXEC)) < 0)
    return errno;
  if (fstat(*pfd, st) < 0) {
    int err = errno;
    ux_close(*pfd);
    *pfd = -1;
    return err;
  }
#else
  if (fstatat(p->dir, p->name, st, AT_SYMLINK_NOFOLLOW) < 0) return errno;
#endif
  return 0;
}

/* "/proc/self/fd/N": the pinned inode itself, for calls that take a
** path (connect, chmod); 0 when there is no pin */
static int pin_path (int pfd, char *out, size_t size) {
  if (pfd < 0) return 0;
  (void)snprintf(out, size, "/proc/self/fd/%d", pfd);
  return 1;
}

/* }====================================================== */


/* {======================================================
** Stale files
** ======================================================= */

/* Is the socket file at name dead? A connect from a datagram socket
** tells: a file with no socket bound to it any more is refused
** (ECONNREFUSED); a bound socket of any type, listening or not, answers
** something else (connected, or EPROTOTYPE from a stream socket), so a
** server's fresh file, bound but not yet listening, is live. What cannot
** be told (EACCES: no write permission) counts as live. 1 dead, 0 live,
** -errno when no probe could be made (-ENOENT: nothing there). */
static int probe_dead (const char *name) {
  ux_addr a;
  int fd, r, err;
  if (ux_addr_make(&a, name, strlen(name)) != UX_ADDR_OK) return 0;
  if ((err = ux_socket(SOCK_DGRAM, &fd)) != 0) return -err;
  do r = connect(fd, (const struct sockaddr *)&a.sa, a.len);
  while (r < 0 && errno == EINTR);
  err = r < 0 ? errno : 0;
  ux_close(fd);
  if (err == ECONNREFUSED) return 1;
  return err == ENOENT ? -ENOENT : 0;
}

/* probes the pinned inode where /proc can name it, else the path */
static int probe_file (int pfd, const char *path) {
  char proc[32];
  if (pin_path(pfd, proc, sizeof(proc))) {
    int r = probe_dead(proc);
    if (r != -ENOENT) return r;  /* -ENOENT: no /proc here */
  }
  return probe_dead(path);
}

/* The lock that servers replacing one stale file take turns on: a
** listening socket bound to an abstract name made of this user and the
** dead file's device and inode (Linux). The kernel gives the name to
** one socket at a time and frees it when the holder's process dies.
** Anyone may bind any abstract name, so a holder of another user (seen
** through SO_PEERCRED) is a squatter and is ignored: it gains nothing,
** as only the owner of the directory entries can remove them. A holder
** of this user is waited for, at most to the call's deadline and
** UX_STALE_WAIT. Elsewhere the lock is a flock of the directory, tried
** without blocking within the same bound, then gone without.
** *lock is what stale_unlock releases (-1: nothing). */
/* the wait for the lock: the call's deadline, at most UX_STALE_WAIT */
static void stale_wait (ux_deadline *wait, const ux_deadline *d) {
  ux_deadline_init(wait, (d->timeout < 0 || d->timeout > UX_STALE_WAIT)
                         ? UX_STALE_WAIT : d->timeout);
}

#if defined(__linux__)

static void lock_name (ux_addr *a, const struct stat *st) {
  char name[96];
  int n = snprintf(name, sizeof(name), "@uxsock-stale/%lx/%llx/%llx",
                   (unsigned long)geteuid(), (unsigned long long)st->st_dev,
                   (unsigned long long)st->st_ino);
  (void)ux_addr_make(a, name, (size_t)n);
}

/* 1 when the lock's holder is a process of this user, 0 another user's,
** -1 when it cannot be told (not listening, or its queue full) */
static int lock_holder (const ux_addr *a) {
  struct ucred c;
  socklen_t len = sizeof(c);
  int fd, r, mine = -1;
  if (ux_socket(SOCK_STREAM, &fd) != 0) return -1;
  (void)ux_setnonblocking(fd, 1);
  do r = connect(fd, (const struct sockaddr *)&a->sa, a->len);
  while (r < 0 && errno == EINTR);
  if (r == 0 && getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c, &len) == 0)
    mine = (c.uid == geteuid());
  ux_close(fd);
  return mine;
}

static void pause_ms (int ms) {
  struct timespec ts;
  ts.tv_sec = ms / 1000;
  ts.tv_nsec = (long)(ms % 1000) * 1000000L;
  (void)nanosleep(&ts, NULL);  /* a signal ends it early: the loop goes on */
}

static int stale_lock (const place *p, const struct stat *st, ux_deadline *d,
                       int *lock) {
  ux_deadline wait;
  ux_addr a;
  int fd, err, step = 1, holder;
  (void)p;
  *lock = -1;
  stale_wait(&wait, d);
  lock_name(&a, st);
  if ((err = ux_socket(SOCK_STREAM, &fd)) != 0) return err;
  for (holder = -2; ; ) {
    int ms;
    if (bind(fd, (const struct sockaddr *)&a.sa, a.len) == 0) {
      (void)listen(fd, 64);  /* lets the others see who holds it */
      *lock = fd;
      return 0;
    }
    if (errno != EADDRINUSE) break;  /* no abstract names here: go on */
    /* who holds it: asked once now, and once more at the end */
    if (holder == -2 && (holder = lock_holder(&a)) == 0) break;
    ms = ux_deadline_ms(&wait);
    if (ms == 0) {
      if (lock_holder(&a) != 1) break;  /* a squatter: go on without */
      ux_close(fd);
      return wait.timeout == 0 ? EAGAIN : ETIMEDOUT;
    }
    pause_ms(step < ms ? step : ms);
    if (step < 16) step *= 2;
  }
  ux_close(fd);
  return 0;
}

static void stale_unlock (const place *p, int lock) {
  (void)p;
  ux_close(lock);
}

#else  /* a flock of the directory, without blocking */

static int stale_lock (const place *p, const struct stat *st, ux_deadline *d,
                       int *lock) {
  ux_deadline wait;
  (void)st;
  *lock = -1;
  if (p->dir == AT_FDCWD) return 0;
  stale_wait(&wait, d);
  while (flock(p->dir, LOCK_EX | LOCK_NB) < 0) {
    struct timespec ts = {0, 2000000L};
    if (errno != EWOULDBLOCK && errno != EINTR) return 0;
    if (ux_deadline_ms(&wait) == 0) return 0;  /* held: go on without */
    (void)nanosleep(&ts, NULL);
  }
  *lock = p->dir;
  return 0;
}

static void stale_unlock (const place *p, int lock) {
  if (lock >= 0) (void)flock(p->dir, LOCK_UN);
}

#endif

/* After a bind found the path taken: 0 when it is free to bind again
** (a dead socket file removed, with *lock held until that bind; or it
** went away meanwhile), EADDRINUSE when it holds a live socket or
** anything that is not a socket, or why it could not be told. */
static int remove_stale (const place *p, const char *path, ux_deadline *d,
                         int *lock) {
  struct stat st;
  int pfd, dead = 0, err = place_pin(p, &pfd, &st);
  if (err != 0) return err == ENOENT ? 0 : EADDRINUSE;
  if (S_ISSOCK(st.st_mode)) dead = probe_file(pfd, path);
  if (dead < 0)
    err = dead == -ENOENT ? 0 : -dead;  /* no descriptor for the probe */
  else if (dead == 0) err = EADDRINUSE;  /* live, or not a socket */
  else if ((err = stale_lock(p, &st, d, lock)) == 0) {
    /* under the lock nobody else removes it (the pin keeps its inode
    ** number from being reused): still there, it goes */
    if (place_holds(p, &st) && unlinkat(p->dir, p->name, 0) < 0 &&
        errno != ENOENT)
      err = EADDRINUSE;  /* not ours to remove (a sticky directory) */
  }
  ux_close(pfd);
  return err;
}

/* }====================================================== */


/* {======================================================
** The file a bind made
** ======================================================= */

#if defined(__linux__)
/* the device and inode of the file a bound socket made, as the kernel
** recorded them (sock_diag, UNIX_DIAG_VFS), whatever happened at the
** path since; the inode's low 32 bits only */
static int bound_file (int fd, dev_t *dev, ino_t *ino) {
  struct { struct nlmsghdr h; struct unix_diag_req r; } req;
  unsigned int buf[128];  /* the answer: aligned as a netlink header */
  struct nlmsghdr *rh = (struct nlmsghdr *)(void *)buf;
  struct sockaddr_nl kernel;
  struct stat st;
  int nl, err = ENOENT;
  if (fstat(fd, &st) < 0) return errno;
  nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (nl < 0) return errno;
  memset(&req, 0, sizeof(req));
  req.h.nlmsg_len = sizeof(req);
  req.h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  req.h.nlmsg_flags = NLM_F_REQUEST;
  req.r.sdiag_family = AF_UNIX;
  req.r.udiag_ino = (unsigned)st.st_ino;  /* the socket's own inode */
  req.r.udiag_show = UDIAG_SHOW_VFS;
  req.r.udiag_cookie[0] = req.r.udiag_cookie[1] = ~0u;  /* no cookie */
  memset(&kernel, 0, sizeof(kernel));
  kernel.nl_family = AF_NETLINK;
  if (sendto(nl, &req, sizeof(req), 0, (struct sockaddr *)&kernel,
             sizeof(kernel)) < 0)
    err = errno;
  else {
    ssize_t n;
    do n = recv(nl, buf, sizeof(buf), 0);
    while (n < 0 && errno == EINTR);
    if (n < 0) err = errno;
    else if (NLMSG_OK(rh, (size_t)n) && rh->nlmsg_type == SOCK_DIAG_BY_FAMILY) {
      /* the attributes after the message, read by bytes: their headers
      ** are aligned to 4 and the macros' casts say otherwise */
      const char *at = (const char *)NLMSG_DATA(rh) +
                       NLMSG_ALIGN(sizeof(struct unix_diag_msg));
      long left = (long)rh->nlmsg_len -
                  (long)NLMSG_LENGTH(NLMSG_ALIGN(sizeof(struct unix_diag_msg)));
      while (left >= (long)sizeof(struct rtattr)) {
        struct rtattr ra;
        struct unix_diag_vfs v;
        memcpy(&ra, at, sizeof(ra));
        if (ra.rta_len < sizeof(ra) || (long)ra.rta_len > left) break;
        if (ra.rta_type == UNIX_DIAG_VFS && ra.rta_len >= RTA_LENGTH(sizeof(v))) {
          memcpy(&v, at + RTA_LENGTH(0), sizeof(v));
          /* the kernel's dev_t: major in the top 12 bits */
          *dev = makedev(v.udiag_vfs_dev >> 20, v.udiag_vfs_dev & 0xfffff);
          *ino = (ino_t)v.udiag_vfs_ino;
          err = 0;
        }
        at += RTA_ALIGN(ra.rta_len);
        left -= (long)RTA_ALIGN(ra.rta_len);
      }
    }
    else if (NLMSG_OK(rh, (size_t)n) && rh->nlmsg_type == NLMSG_ERROR)
      err = -((struct nlmsgerr *)NLMSG_DATA(rh))->error;
  }
  ux_close(nl);
  return err;
}
#endif

/* Is the pinned file (st) the one socket fd's bind made? Linux asks the
** kernel, whose record agrees with stat on most filesystems; where it
** does not (btrfs subvolumes and overlayfs report another device or
** inode to stat), where it cannot (no sock_diag) and elsewhere, the file
** must look just made by this process: a socket of this user with one
** link (another user's file, or a hard link to one, is not). */
static int is_made (int fd, const struct stat *st) {
#if defined(__linux__)
  dev_t dev = 0;
  ino_t ino = 0;
  if (bound_file(fd, &dev, &ino) == 0 && S_ISSOCK(st->st_mode) &&
      st->st_dev == dev && (st->st_ino & 0xffffffffu) == ino)
    return 1;
#else
  (void)fd;
#endif
  return S_ISSOCK(st->st_mode) && st->st_uid == geteuid() &&
         st->st_nlink == 1;
}

/* sets the pinned file's mode, through /proc where it names the inode
** itself; elsewhere by name, relative to the directory, no symlink
** followed */
static int chmod_made (const place *p, int pfd, int mode) {
  char proc[32];
  if (pin_path(pfd, proc, sizeof(proc))) {
    if (fchmodat(AT_FDCWD, proc, (mode_t)mode, 0) == 0) return 0;
    if (errno != ENOENT) return errno;  /* ENOENT: no /proc here */
  }
  if (fchmodat(p->dir, p->name, (mode_t)mode, AT_SYMLINK_NOFOLLOW) < 0)
    return errno;
  return 0;
}

/* binds fd to the path of a; f tells the file made */
static int bind_path (int fd, const ux_addr *a, int mode, ux_deadline *d,
                      ux_sockfile *f) {
  const char *path = a->sa.sun_path;
  place p;
  struct stat st;
  int err, tries, lock = -1, pfd = -1;
  if ((err = place_open(&p, path)) != 0) return err;
#if defined(__linux__)
  /* Linux makes the file with the socket's mode less the umask, so it
  ** is never wider than asked, not even for an instant */
  if (mode >= 0 && fchmod(fd, (mode_t)mode) < 0) { err = errno; goto done; }
#endif
  for (tries = 0; ; tries++) {
    if (bind(fd, (const struct sockaddr *)&a->sa, a->len) == 0) break;
    err = errno;  /* before anything below changes errno */
    stale_unlock(&p, lock);
    lock = -1;
    if (err != EADDRINUSE || tries == UX_BIND_TRIES) goto done;
    if ((err = remove_stale(&p, path, d, &lock)) != 0) goto done;
  }
  stale_unlock(&p, lock);  /* the file is live now: nobody takes it */
  lock = -1;
  if ((err = place_pin(&p, &pfd, &st)) != 0 || !is_made(fd, &st)) {
    err = ENOENT;  /* not at the path any more: moved or replaced */
    goto done;
  }
  /* give back what the umask took away (only ever narrower than asked) */
  if (mode >= 0 && (st.st_mode & 07777) != (mode_t)mode &&
      (err = chmod_made(&p, pfd, mode)) != 0) {
    if (place_holds(&p, &st)) (void)unlinkat(p.dir, p.name, 0);
    goto done;
  }
  f->dev = st.st_dev;
  f->ino = st.st_ino;
  f->owner = getpid();
done:
  stale_unlock(&p, lock);
  ux_close(pfd);
  place_close(&p);
  return err;
}

/* }====================================================== */


int ux_bind (int fd, const ux_addr *a, int mode, int backlog, ux_deadline *d,
             ux_sockfile *f) {
  int err;
  memset(f, 0, sizeof(*f));
  if (ux_addr_isabstract(a)) {  /* no file: the kernel arbitrates */
    if (bind(fd, (const struct sockaddr *)&a->sa, a->len) < 0) return errno;
  }
  else if ((err = bind_path(fd, a, mode, d, f)) != 0) return err;
  if (backlog >= 0 && listen(fd, backlog) < 0) {
    err = errno;
    (void)ux_sockfile_remove(a->sa.sun_path, f);
    memset(f, 0, sizeof(*f));
    return err;
  }
  return 0;
}

int ux_bind_auto (int fd) {
#if defined(__linux__)
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof(sa));  /* valgrind checks the whole struct */
  sa.sun_family = AF_UNIX;
  if (bind(fd, (struct sockaddr *)&sa, sizeof(sa.sun_family)) < 0)
    return errno;
  return 0;
#else
  (void)fd;
  return ENOTSUP;
#endif
}

int ux_sockfile_remove (const char *path, const ux_sockfile *f) {
  place p;
  struct stat st;
  int err;
  if (f->owner == 0 || f->owner != getpid()) return 0;  /* not ours */
  if ((err = place_open(&p, path)) != 0) return err;
  st.st_dev = f->dev;
  st.st_ino = f->ino;
  if (place_holds(&p, &st) && unlinkat(p.dir, p.name, 0) < 0) err = errno;
  place_close(&p);
  return err;
}

/*
** syspoll.c: poll(2) over an array and epoll, with EINTR retried for the
** time that remains. No Lua here (see syspoll.h).
*/
#if !defined(_GNU_SOURCE)
#define _GNU_SOURCE   /* POLLRDHUP */
#endif

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <unistd.h>
#include <sys/mman.h>

#include "syspoll.h"


/* {======================================================
** The process, without a system call per look
** ======================================================= */

/* getpid costs a system call, and a poller asks at every call. The pid
** is kept in a page that the kernel gives a forked child zeroed
** (MADV_WIPEONFORK, Linux 4.14): a child finds 0 and asks once. The
** page is made by the first call, one per process (two racing threads
** make two, and one is given back); NOPAGE where the kernel cannot. */
static long nopage;          /* its address: "no page here" */
#define NOPAGE  (&nopage)
static long *pidpage;

static long *makepage (void) {
#if defined(MADV_WIPEONFORK) && defined(MAP_ANONYMOUS)
  long *want = NULL;
  void *m = mmap(NULL, (size_t)sysconf(_SC_PAGESIZE), PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  long *page = (m == MAP_FAILED) ? NOPAGE : (long *)m;
  if (page != NOPAGE && madvise(m, (size_t)sysconf(_SC_PAGESIZE),
                                MADV_WIPEONFORK) != 0) {
    (void)munmap(m, (size_t)sysconf(_SC_PAGESIZE));
    page = NOPAGE;
  }
  if (!__atomic_compare_exchange_n(&pidpage, &want, page, 0, __ATOMIC_ACQ_REL,
                                   __ATOMIC_ACQUIRE)) {
    if (page != NOPAGE) (void)munmap(m, (size_t)sysconf(_SC_PAGESIZE));
    page = want;  /* another thread's */
  }
  return page;
#else
  return NOPAGE;
#endif
}

long ux_pid (void) {
  long *page = __atomic_load_n(&pidpage, __ATOMIC_ACQUIRE);
  long pid;
  if (page == NULL) page = makepage();
  if (page != NOPAGE && (pid = __atomic_load_n(page, __ATOMIC_RELAXED)) != 0)
    return pid;
  pid = (long)getpid();
  if (page != NOPAGE) __atomic_store_n(page, pid, __ATOMIC_RELAXED);
  return pid;
}

/* }====================================================== */


/* {======================================================
** poll(2)
** ======================================================= */

/* a peer's shutdown of its sending side, where the system tells it */
#if defined(POLLRDHUP)
#define UX_POLLRDHUP  POLLRDHUP
#else
#define UX_POLLRDHUP  0
#endif

short ux_poll_events (int flags) {
  short ev = 0;
  if (flags & UX_PIN) ev |= POLLIN | UX_POLLRDHUP;
  if (flags & UX_POUT) ev |= POLLOUT;
  return ev;
}

int ux_poll_flags (short revents) {
  int flags = 0;
  if (revents & POLLIN) flags |= UX_PIN;
  if (revents & POLLOUT) flags |= UX_POUT;
  if (revents & (POLLHUP | UX_POLLRDHUP)) flags |= UX_PHUP;
  if (revents & (POLLERR | POLLNVAL)) flags |= UX_PERR;
  return flags;
}

int ux_poll (struct pollfd *fds, size_t n, ux_deadline *d, int *nready) {
  for (;;) {
    int r = poll(fds, (nfds_t)n, ux_deadline_ms(d));
    if (r >= 0) { *nready = r; return 0; }
    if (errno != EINTR) { *nready = 0; return errno; }
  }
}

/* }====================================================== */


/* {======================================================
** epoll
** ======================================================= */

#if defined(__linux__)

int ux_epoll_create (int *epfd) {
  *epfd = epoll_create1(EPOLL_CLOEXEC);
  return *epfd < 0 ? errno : 0;
}

int ux_epoll_ctl (int epfd, int op, int fd, int flags, uint64_t key) {
  static const int ops[] = {EPOLL_CTL_ADD, EPOLL_CTL_MOD, EPOLL_CTL_DEL};
  struct epoll_event ev;
  ev.events = 0;
  if (flags & UX_PIN) ev.events |= EPOLLIN | EPOLLRDHUP;
  if (flags & UX_POUT) ev.events |= EPOLLOUT;
  ev.data.u64 = key;
  /* DEL ignores ev, but kernels before 2.6.9 wanted it not NULL */
  return epoll_ctl(epfd, ops[op], fd, &ev) < 0 ? errno : 0;
}

int ux_epoll_wait (int epfd, ux_pevent *ev, int max, ux_deadline *d,
                   int *n) {
  for (;;) {
    int r = epoll_wait(epfd, ev, max, ux_deadline_ms(d));
    if (r >= 0) { *n = r; return 0; }
    if (errno != EINTR) { *n = 0; return errno; }
  }
}

uint64_t ux_pevent_key (const ux_pevent *e) {
  return e->data.u64;
}

int ux_pevent_flags (const ux_pevent *e) {
  int flags = 0;
  if (e->events & EPOLLIN) flags |= UX_PIN;
  if (e->events & EPOLLOUT) flags |= UX_POUT;
  if (e->events & (EPOLLHUP | EPOLLRDHUP)) flags |= UX_PHUP;
  if (e->events & EPOLLERR) flags |= UX_PERR;
  return flags;
}

int ux_epoll_replace (int fd, int newfd) {
  int r;
  do r = dup3(newfd, fd, O_CLOEXEC);
  while (r < 0 && errno == EINTR);
  if (r < 0) return errno;
  ux_close(newfd);
  return 0;
}

#else  /* no epoll: the poller says so, nothing else changes */

int ux_epoll_create (int *epfd) {
  *epfd = -1;
  return ENOTSUP;
}

int ux_epoll_ctl (int epfd, int op, int fd, int flags, uint64_t key) {
  (void)epfd; (void)op; (void)fd; (void)flags; (void)key;
  return ENOTSUP;
}

int ux_epoll_wait (int epfd, ux_pevent *ev, int max, ux_deadline *d,
                   int *n) {
  (void)epfd; (void)ev; (void)max; (void)d;
  *n = 0;
  return ENOTSUP;
}

uint64_t ux_pevent_key (const ux_pevent *e) {
  return e->key;
}

int ux_pevent_flags (const ux_pevent *e) {
  (void)e;
  return 0;
}

int ux_epoll_replace (int fd, int newfd) {
  (void)fd; (void)newfd;
  return ENOTSUP;
}

#endif

/* }====================================================== */

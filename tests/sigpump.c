/*
** sigpump.c: a signal storm for the EINTR cases of spec/23_faults_spec.lua
** (make test-hosts builds build/sigpump.so). Plain Lua has no signal API,
** and a handler set before exec is reset by it, so this is a library
** preloaded into the Lua under test, whichever it is:
**   LD_PRELOAD=build/sigpump.so lua5.1 script.lua
** At load it
**   - installs a SIGUSR1 handler that only counts, WITHOUT SA_RESTART:
**     a blocking system call it interrupts fails with EINTR;
**   - starts a thread (all signals blocked in it) that sends SIGUSR1 to
**     the main thread every SIGPUMP_US microseconds (default 1000; 0
**     sends none);
**   - counts the calls that fail with EINTR among those uxsock makes:
**     send, recv, sendmsg, recvmsg, poll, accept4, connect, epoll_wait,
**     which it wraps (the next definition, libc's, does the work).
** It takes LD_PRELOAD out of the environment, so that no process it
** starts pumps too: a signal still pending when a pumping process execs
** would meet the new program before this handler is there (its default
** action ends the process). For the same reason, start the Lua with
** LD_PRELOAD set by the exec that starts it (env LD_PRELOAD=... lua),
** not by a wrapper that execs it after the library is loaded.
** At exit it stops the thread and appends one line to the file named by
** SIGPUMP_REPORT (stderr without it):
**   sigpump: sent N delivered N eintr N (send N recv N ...) short sends N
** (a short send returned fewer bytes than asked: on a blocking socket,
** one a signal cut short after some bytes went)
*/
#define _GNU_SOURCE

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/socket.h>

enum { W_SEND, W_RECV, W_SENDMSG, W_RECVMSG, W_POLL, W_ACCEPT4, W_CONNECT,
       W_EPOLL_WAIT, W_N };
static const char *const wnames[W_N] = {
  "send", "recv", "sendmsg", "recvmsg", "poll", "accept4", "connect",
  "epoll_wait"
};

static volatile sig_atomic_t delivered = 0;
static volatile sig_atomic_t stop = 0;
static long sent = 0;
static long eintr[W_N];
static long shortsends;  /* sends cut short by a signal (blocking mode) */
static pthread_t main_thread, pump_thread;
static int pumping = 0;
static long interval_us = 1000;

static void on_usr1 (int sig) {
  (void)sig;
  delivered++;
}

static void *pump (void *arg) {
  struct timespec ts;
  (void)arg;
  ts.tv_sec = interval_us / 1000000;
  ts.tv_nsec = (interval_us % 1000000) * 1000;
  while (!stop) {
    if (pthread_kill(main_thread, SIGUSR1) == 0) sent++;
    nanosleep(&ts, NULL);
  }
  return NULL;
}

/* the definition after this library's: libc's */
static void *next (const char *name) {
  void *p = dlsym(RTLD_NEXT, name);
  if (p == NULL) {
    fprintf(stderr, "sigpump: no %s\n", name);
    abort();
  }
  return p;
}

/* counts an EINTR failure of wrapper w, keeping errno */
#define COUNT(w, r)  do { \
    if ((r) < 0 && errno == EINTR) eintr[w]++; \
  } while (0)

ssize_t send (int fd, const void *buf, size_t len, int flags) {
  static union { void *p; ssize_t (*f) (int, const void *, size_t, int); } u;
  ssize_t r;
  if (u.p == NULL) u.p = next("send");
  r = u.f(fd, buf, len, flags);
  COUNT(W_SEND, r);
  if (r >= 0 && (size_t)r < len) shortsends++;
  return r;
}

ssize_t recv (int fd, void *buf, size_t len, int flags) {
  static union { void *p; ssize_t (*f) (int, void *, size_t, int); } u;
  ssize_t r;
  if (u.p == NULL) u.p = next("recv");
  r = u.f(fd, buf, len, flags);
  COUNT(W_RECV, r);
  return r;
}

ssize_t sendmsg (int fd, const struct msghdr *m, int flags) {
  static union { void *p; ssize_t (*f) (int, const struct msghdr *, int); } u;
  ssize_t r;
  if (u.p == NULL) u.p = next("sendmsg");
  r = u.f(fd, m, flags);
  COUNT(W_SENDMSG, r);
  return r;
}

ssize_t recvmsg (int fd, struct msghdr *m, int flags) {
  static union { void *p; ssize_t (*f) (int, struct msghdr *, int); } u;
  ssize_t r;
  if (u.p == NULL) u.p = next("recvmsg");
  r = u.f(fd, m, flags);
  COUNT(W_RECVMSG, r);
  return r;
}

int poll (struct pollfd *fds, nfds_t n, int ms) {
  static union { void *p; int (*f) (struct pollfd *, nfds_t, int); } u;
  int r;
  if (u.p == NULL) u.p = next("poll");
  r = u.f(fds, n, ms);
  COUNT(W_POLL, r);
  return r;
}

/* glibc declares these two with its transparent union types for the
** address; the definitions must say the same */
int accept4 (int fd, __SOCKADDR_ARG sa, socklen_t *len, int flags) {
  static union { void *p; int (*f) (int, __SOCKADDR_ARG, socklen_t *, int); } u;
  int r;
  if (u.p == NULL) u.p = next("accept4");
  r = u.f(fd, sa, len, flags);
  COUNT(W_ACCEPT4, r);
  return r;
}

int connect (int fd, __CONST_SOCKADDR_ARG sa, socklen_t len) {
  static union { void *p; int (*f) (int, __CONST_SOCKADDR_ARG, socklen_t); } u;
  int r;
  if (u.p == NULL) u.p = next("connect");
  r = u.f(fd, sa, len);
  COUNT(W_CONNECT, r);
  return r;
}

int epoll_wait (int epfd, struct epoll_event *ev, int max, int ms) {
  static union { void *p; int (*f) (int, struct epoll_event *, int, int); } u;
  int r;
  if (u.p == NULL) u.p = next("epoll_wait");
  r = u.f(epfd, ev, max, ms);
  COUNT(W_EPOLL_WAIT, r);
  return r;
}

static void start (void) __attribute__((constructor));
static void finish (void) __attribute__((destructor));

static void start (void) {
  struct sigaction sa;
  sigset_t all, old;
  const char *us = getenv("SIGPUMP_US");
  if (us != NULL) interval_us = strtol(us, NULL, 10);
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_usr1;
  sa.sa_flags = 0;  /* no SA_RESTART: interrupted calls fail with EINTR */
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGUSR1, &sa, NULL) < 0) abort();
  main_thread = pthread_self();
  unsetenv("LD_PRELOAD");  /* no storm in the programs this one starts */
  if (interval_us <= 0) return;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);  /* the thread inherits it */
  pumping = (pthread_create(&pump_thread, NULL, pump, NULL) == 0);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (!pumping) abort();
}

static void finish (void) {
  const char *path = getenv("SIGPUMP_REPORT");
  char line[512];
  long total = 0;
  int i, len, fd = 2;
  if (pumping) {
    stop = 1;
    pthread_join(pump_thread, NULL);
    pumping = 0;
  }
  for (i = 0; i < W_N; i++) total += eintr[i];
  len = snprintf(line, sizeof(line), "sigpump: sent %ld delivered %ld "
                 "eintr %ld (", sent, (long)delivered, total);
  for (i = 0; i < W_N && len < (int)sizeof(line); i++)
    len += snprintf(line + len, sizeof(line) - (size_t)len, "%s%s %ld",
                    i > 0 ? " " : "", wnames[i], eintr[i]);
  if (len < (int)sizeof(line) - 40)
    len += snprintf(line + len, sizeof(line) - (size_t)len, ") short sends "
                    "%ld\n", shortsends);
  if (path != NULL) fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
                              0644);
  if (fd >= 0) {
    ssize_t w = write(fd, line, (size_t)len);
    (void)w;
    if (fd != 2) close(fd);
  }
}

/*
** syspoll.h: readiness of many descriptors, the system layer of poll.c.
** No Lua here; errors are positive errno values, as in sys.h.
**
** Events are given and reported as UX_P* flags, one per letter Lua sees:
** "r" readable, "w" writable, "h" hung up, "e" error. poll(2) works on
** every POSIX system; epoll needs Linux and gives ENOTSUP elsewhere.
*/
#ifndef UXSOCK_SYSPOLL_H
#define UXSOCK_SYSPOLL_H

#include <stdint.h>
#include <poll.h>

#include "sys.h"

#define UX_PIN   1  /* r */
#define UX_POUT  2  /* w */
#define UX_PHUP  4  /* h */
#define UX_PERR  8  /* e */

/* poll(2) over n entries, EINTR retried with the time d leaves; *nready
** is the count of entries with revents set, 0 when the time ran out */
int ux_poll (struct pollfd *fds, size_t n, ux_deadline *d, int *nready);
/* UX_PIN | UX_POUT as pollfd.events, and pollfd.revents as flags: an
** invalid descriptor (POLLNVAL) reports UX_PERR */
short ux_poll_events (int flags);
int ux_poll_flags (short revents);

/* epoll. An event carries the 64-bit key it was registered with. */
#if defined(__linux__)
#include <sys/epoll.h>
typedef struct epoll_event ux_pevent;
#else
typedef struct ux_pevent { uint32_t events; uint64_t key; } ux_pevent;
#endif

enum { UX_PADD, UX_PMOD, UX_PDEL };

int ux_epoll_create (int *epfd);  /* close-on-exec; ENOTSUP off Linux */
/* op is UX_PADD, UX_PMOD or UX_PDEL; flags and key are ignored by DEL.
** Level-triggered; "r" also watches for the peer's shutdown. */
int ux_epoll_ctl (int epfd, int op, int fd, int flags, uint64_t key);
/* at most max events into ev, EINTR retried with the time d leaves;
** *n is 0 when the time ran out */
int ux_epoll_wait (int epfd, ux_pevent *ev, int max, ux_deadline *d,
                   int *n);
uint64_t ux_pevent_key (const ux_pevent *e);
int ux_pevent_flags (const ux_pevent *e);
/* puts the set newfd at descriptor fd (close-on-exec), closing what was
** at fd and then newfd: a set replaced under the number a user holds */
int ux_epoll_replace (int fd, int newfd);

/* the calling process: a set belongs to the process that made it */
long ux_pid (void);

#endif

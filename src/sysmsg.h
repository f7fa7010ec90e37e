/*
** sysmsg.h: control data in messages (descriptors, credentials) and
** what a descriptor from elsewhere is. The system layer: no Lua here;
** errors are errno values as in sys.h.
*/
#ifndef UXSOCK_SYSMSG_H
#define UXSOCK_SYSMSG_H

#include <stdio.h>

#include "sys.h"

/* the most descriptors one message carries: Linux's SCM_MAX_FD */
#if !defined(UX_MAXFDS)
#define UX_MAXFDS  253
#endif

/* what one received message brought besides its bytes */
typedef struct ux_ctl {
  int *fds;        /* room for maxfds descriptors, filled with nfds */
  int maxfds, nfds;
  int trunc;       /* not every descriptor came: those that did are closed */
  int why;         /* then: ENOBUFS (more than maxfds were sent), or
                   ** EMFILE (no free slot: the kernel dropped them) */
  int wantcred;    /* room for credentials was given */
  int hascred;     /* the kernel vouched for pid, uid, gid */
  int anyctl;      /* control data came: a message, never end of stream */
  long pid, uid, gid;
} ux_ctl;

/* sends p[0..len) with nfds descriptors (may be 0) and, if cred, the
** caller's own credentials (ENOTSUP where there are none to send) */
int ux_sendctl (int fd, const char *p, size_t len, const ux_addr *to,
                const int *fds, int nfds, int cred, size_t *n,
                ux_deadline *d);

/* receives one message (up to len bytes of a stream) and its control
** data into c. Every descriptor arrives close-on-exec; any the caller
** has no room for, and any besides SCM_RIGHTS, are closed. *full and
** 'from' as for ux_recv ('full' may be NULL for streams). */
int ux_recvctl (int fd, char *p, size_t len, size_t *n, size_t *full,
                struct sockaddr_un *from, socklen_t *fromlen, ux_ctl *c,
                ux_deadline *d);

/* turns SO_PASSCRED on: the kernel then attaches the sender's
** credentials to every message sent to fd from now on */
int ux_passcred (int fd);

/* what a descriptor is, for giving it to Lua */
enum { UX_FD_OTHER, UX_FD_UNIX, UX_FD_FILE };
/* UX_FD_UNIX: a Unix socket, with *type and *listening; UX_FD_FILE: a
** regular file, pipe, FIFO or character device, with the fopen mode of
** its access ("r", "w", "r+", "a", "a+") in *mode; or UX_FD_OTHER */
int ux_fdclass (int fd, int *type, int *listening, const char **mode);

/* the fopen mode of fd's access, as for UX_FD_FILE */
int ux_fdmode (int fd, const char **mode);

/* a stdio stream of fd; on failure fd is still the caller's */
int ux_fdopen (int fd, const char *mode, FILE **f);

/* closes a descriptor, telling EBADF */
int ux_closefd (int fd);

#endif

/*
** sockfile.h: binding a name, and the life of the socket file a path
** name makes: made, published at the path, removed by its owner. System
** layer: no Lua. The threat model and the design are in sockfile.c.
*/
#ifndef UXSOCK_SOCKFILE_H
#define UXSOCK_SOCKFILE_H

#include <sys/types.h>

#include "sys.h"

/* the socket file a bind made: its identity, and the process that made
** it (only that process removes it) */
typedef struct ux_sockfile {
  dev_t dev;
  ino_t ino;
  pid_t owner;  /* 0: no file (abstract name, or not bound) */
} ux_sockfile;

/* Binds fd to a, and with backlog >= 0
** listens. mode < 0 keeps the default permissions; otherwise the file
** gets exactly mode, never wider at any instant, applied to the file
** this call made and nothing else. A stale socket file at the path is
** replaced; a live one, or anything that is not a socket, gives
** EADDRINUSE. d bounds the only wait there is (another uxsock process
** replacing the same stale file at the same instant), which is never
** longer than UX_STALE_WAIT seconds. f tells the file made. */
int ux_bind (int fd, const ux_addr *a, int mode, int backlog, ux_deadline *d,
             ux_sockfile *f);
/* binds an unbound socket to a unique abstract name (Linux) */
int ux_bind_auto (int fd);
/* removes the file at path if it is still f's file and this is the
** process that made it; a forked child, or anyone else, leaves it */
int ux_sockfile_remove (const char *path, const ux_sockfile *f);

#endif

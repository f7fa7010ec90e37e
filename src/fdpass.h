/*
** fdpass.h: descriptors from elsewhere as handles (fdpass.c), for the
** C API too (capi.c).
*/
#ifndef UXSOCK_FDPASS_H
#define UXSOCK_FDPASS_H

#include "handle.h"

/* the kind of an open Unix socket and its type, or an errno value
** (ENOTSOCK, EAFNOSUPPORT, EPROTOTYPE, EBADF) */
int ux_fdkind (int fd, int *kind, int *type);

#endif

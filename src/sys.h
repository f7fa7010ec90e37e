/*
** sys.h: the system layer of uxsock. It knows nothing of Lua.
**
** Every function here returns 0 on success or a positive errno value on
** failure (never -1 and a global errno), so a caller can hold the error
** across any number of Lua API calls. EINTR is retried inside, with the
** time that remains. Blocking behaviour is set by a ux_deadline:
**   timeout < 0   block forever (the fd is in blocking mode: one syscall)
**   timeout == 0  never wait: EAGAIN when the call would block
**   timeout > 0   wait at most that many seconds in total: ETIMEDOUT
** The handle layer keeps the fd non-blocking whenever timeout >= 0.
*/
#ifndef UXSOCK_SYS_H
#define UXSOCK_SYS_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

/* the longest names: a path fills sun_path less its terminating NUL; an
** abstract name, given with its leading '@' (or NUL), all of sun_path */
#define UX_PATH_MAX      (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)
#define UX_ABSTRACT_MAX  (sizeof(((struct sockaddr_un *)0)->sun_path))

/* a socket address built from a string and its length */
typedef struct ux_addr {
  struct sockaddr_un sa;
  socklen_t len;
} ux_addr;

/* outcome of ux_addr_make */
enum { UX_ADDR_OK, UX_ADDR_EMPTY, UX_ADDR_TOOLONG, UX_ADDR_NUL,
       UX_ADDR_NOABSTRACT };

/* one blocking operation's time budget; 'at' is set on first wait */
typedef struct ux_deadline {
  double timeout;
  double at;
} ux_deadline;

void ux_deadline_init (ux_deadline *d, double timeout);
/* milliseconds left for poll(): -1 for no limit, 0 once past; the clock
** starts at the first call */
int ux_deadline_ms (ux_deadline *d);

/* monotonic clock, in seconds */
double ux_now (void);

/* names: "\0x" and "@x" are abstract (Linux); anything else is a path */
int ux_addr_make (ux_addr *a, const char *name, size_t len);
int ux_addr_isabstract (const ux_addr *a);
/* the room ux_addr_name needs: every byte of sun_path, and "./" */
#define UX_NAME_SIZE  (sizeof(((struct sockaddr_un *)0)->sun_path) + 2)
/* writes the round-trip form of a kernel address ("@x" for abstract,
** "./@x" for a file named "@x", "" for unnamed) into out (UX_NAME_SIZE
** bytes); returns its length */
size_t ux_addr_name (const struct sockaddr_un *sa, socklen_t len, char *out);

/* descriptors: all close-on-exec, none can raise SIGPIPE */
int ux_socket (int type, int *fd);
int ux_socketpair (int type, int fds[2]);
int ux_setnonblocking (int fd, int on);
int ux_setcloexec (int fd);
void ux_close (int fd);

/* wait until fd is ready for events (POLLIN/POLLOUT) */
int ux_wait (int fd, int events, ux_deadline *d);

int ux_accept (int fd, int *newfd, ux_deadline *d);
int ux_connect (int fd, const ux_addr *a, ux_deadline *d);

/* I/O. *n is the count moved. ux_recv sets *full to a message's real
** length (len + 1 when longer than len but the system does not say by
** how much: datagram, seqpacket); 'from' may be NULL. */
int ux_send (int fd, const char *p, size_t len, const ux_addr *to,
             size_t *n, ux_deadline *d);
int ux_recv (int fd, char *p, size_t len, size_t *n, size_t *full,
             struct sockaddr_un *from, socklen_t *fromlen, ux_deadline *d);

/* batches: sendmmsg/recvmmsg on Linux, one call per message elsewhere.
** ux_sendmany sends msgs[0 .. count) (to 'to' when it is not NULL),
** *sent counting those that went, within one deadline. ux_recvmany waits
** (by d) for the first message, then takes what is queued without
** waiting, up to count: message i goes to base + i * max, its length
** and real length (full > len when cut; max + 1 when unknown) and, with
** wantfrom, its sender to slots[i]. *drained is 1 when it stopped
** because nothing more was queued (end of stream never stops it: a
** seqpacket socket at end of stream gives empty messages to count). */
typedef struct ux_slot {
  size_t len, full;
  struct sockaddr_un from;
  socklen_t fromlen;
} ux_slot;

struct iovec;
int ux_sendmany (int fd, const struct iovec *msgs, size_t count,
                 const ux_addr *to, size_t *sent, ux_deadline *d);
int ux_recvmany (int fd, char *base, size_t max, ux_slot *slots,
                 size_t count, int wantfrom, size_t *got, int *drained,
                 ux_deadline *d);

/* socket options: an int in, an int out */
int ux_setsockopt (int fd, int level, int name, int value);
int ux_getsockopt (int fd, int level, int name, int *value);
/* bytes waiting to be read (SIOCINQ/FIONREAD), or not yet sent (SIOCOUTQ) */
int ux_queued (int fd, int out, int *value);

/* recvmsg's flag for a message's real length in its result (Linux:
** MSG_TRUNC); elsewhere a message longer than the buffer says only that */
#if defined(__linux__)
#define UX_MSG_TRUNC  MSG_TRUNC
#else
#define UX_MSG_TRUNC  0
#endif

/* Waits by d until a receive would not block, then tells in *size how
** many bytes it would take: a message's whole length (0: an empty one or
** end of stream), or the bytes a stream holds (0: end of stream). Where
** the system cannot tell a message's length *known is 0. Nothing is
** taken: a second reader of the socket may take it before the receive. */
int ux_recvsize (int fd, int stream, size_t *size, int *known,
                 ux_deadline *d);

/* the loops under every sendmsg and recvmsg (sys.c, sysmsg.c): EINTR,
** waiting by d, and for a send to a name (m->msg_name) a back-off, as
** Linux reports such a socket writable while its receiver is full.
** ux_msgrecv passes flags, sets *n and *full as ux_recv does, and leaves
** the kernel's msg_namelen, msg_controllen and msg_flags in m. */
int ux_msgsend (int fd, const struct msghdr *m, size_t *n, ux_deadline *d);
int ux_msgrecv (int fd, struct msghdr *m, int flags, size_t *n, size_t *full,
                ux_deadline *d);

int ux_shutdown (int fd, int how);
int ux_getname (int fd, int peer, struct sockaddr_un *sa, socklen_t *len);
int ux_peercred (int fd, long *pid, long *uid, long *gid);
int ux_socktype (int fd, int *type);
/* what a descriptor from elsewhere is: 0 with *type (SOCK_STREAM, ...)
** and *listening set for a Unix-domain socket; ENOTSOCK, EAFNOSUPPORT or
** EBADF otherwise */
int ux_sockinfo (int fd, int *type, int *listening);

#endif

/* syspoll.c: (being written) poll and epoll, no Lua. */
typedef int ux_syspoll_placeholder_;

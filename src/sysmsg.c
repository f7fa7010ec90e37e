/* sysmsg.c: (being written) control messages, no Lua. */
typedef int ux_sysmsg_placeholder_;

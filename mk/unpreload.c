/*
** mk/unpreload.c: preloaded after the ASan runtime into the Lua processes
** of make asan (mk/memcheck.sh), it takes LD_PRELOAD out of the
** environment as the process starts, so the programs a Lua starts (sh,
** python3, cc, ...) run without the runtime: only Lua loads uxsock.
*/
#define _POSIX_C_SOURCE 200112L  /* unsetenv */
#include <stdlib.h>

__attribute__((constructor)) static void unpreload (void) {
  (void)unsetenv("LD_PRELOAD");
}

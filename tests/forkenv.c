/*
** forkenv.c: fork, wait and exec for the specs, in any Lua (make
** test-hosts builds build/forkenv.so). Plain Lua cannot fork, and the
** specs run on five Luas, so this is a library preloaded into the Lua
** under test:
**   env LD_PRELOAD=build/forkenv.so lua5.1 script.lua
** It answers three names given to os.getenv; any other name is libc's:
**   os.getenv("UXSOCK_FORK")          forks: "0" in the child, the
**                                     child's pid in the parent
**   os.getenv("UXSOCK_WAIT=<pid>")    waits for that child: "exit N" or
**                                     "signal N"
**   os.getenv("UXSOCK_EXEC=<cmd>")    replaces the process with
**                                     /bin/sh -c cmd (returns only if
**                                     exec fails: "exec failed")
** The child of a fork goes on in the same script, with a copy of the
** parent's Lua state and descriptors, as a forked child of a real
** server does. LD_PRELOAD stays set: a wrapper that starts the Lua (env,
** valgrind's launcher) loads this library too and must pass it on, and
** in any other program only the three names above differ.
*/
#define _GNU_SOURCE

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

static char answer[64];

static const char *waitfor (const char *arg) {
  pid_t pid = (pid_t)strtol(arg, NULL, 10);
  int status;
  pid_t r;
  do r = waitpid(pid, &status, 0);
  while (r < 0 && errno == EINTR);
  if (r < 0) snprintf(answer, sizeof(answer), "wait failed %d", errno);
  else if (WIFEXITED(status))
    snprintf(answer, sizeof(answer), "exit %d", WEXITSTATUS(status));
  else
    snprintf(answer, sizeof(answer), "signal %d", WTERMSIG(status));
  return answer;
}

char *getenv (const char *name) {
  static char *(*real) (const char *);
  if (strcmp(name, "UXSOCK_FORK") == 0) {
    pid_t pid;
    fflush(NULL);  /* buffered output is written once, not twice */
    pid = fork();
    snprintf(answer, sizeof(answer), "%ld", (long)pid);
    return answer;
  }
  if (strncmp(name, "UXSOCK_WAIT=", 12) == 0)
    return (char *)waitfor(name + 12);
  if (strncmp(name, "UXSOCK_EXEC=", 12) == 0) {
    fflush(NULL);
    execl("/bin/sh", "sh", "-c", name + 12, (char *)NULL);
    snprintf(answer, sizeof(answer), "exec failed");
    return answer;
  }
  if (real == NULL) *(void **)&real = dlsym(RTLD_NEXT, "getenv");
  return real(name);
}

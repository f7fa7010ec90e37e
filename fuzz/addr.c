/*
** fuzz/addr.c: libFuzzer harness for the address layer of sys.c,
** ux_addr_make (a name from Lua, with its length, to a sockaddr_un) and
** ux_addr_name (a sockaddr_un from the kernel back to a name). No Lua.
**
**   make fuzz-addr          (mk/fuzz.mk: clang -fsanitize=fuzzer,address,
**                            undefined, src/sys.c linked in)
**   build/fuzz/addr fuzz/corpus/addr -max_total_time=60
**
** The first byte of an input picks what the rest is:
**   even  a name as a caller gives it (bytes and length, NULs allowed);
**   odd   a kernel address: the next byte is the length the kernel says
**         (0 to sizeof(struct sockaddr_un) + 8), the rest the struct's
**         bytes (the family is forced to AF_UNIX unless the length byte
**         is odd and the first data byte is 0xff).
** What must hold (abort() otherwise, which libFuzzer reports):
**   - ux_addr_make's verdict follows the rules of README "Socket names":
**     empty, longer than UX_PATH_MAX (a path) or UX_ABSTRACT_MAX (an
**     abstract name, its '@' counted), a NUL in a path; abstract names
**     ("\0x", "@x") keep every byte, NULs included; a path gets its NUL;
**     the length never exceeds the struct;
**   - a name made and read back through ux_addr_name is the same name
**     ("\0x" reads back as "@x"), and making it again gives the same
**     address (the round trip README promises);
**   - ux_addr_name never writes more than UX_NAME_SIZE bytes nor reads
**     past the struct, whatever length the kernel claims; a path comes
**     back without NULs, an abstract name as "@" and its bytes; and a
**     name it gives that fits (every abstract name the kernel can give;
**     a path up to UX_PATH_MAX) names the same socket
**     when passed back to ux_addr_make: the same abstract bytes, or the
**     same path (a file whose name starts with '@' reads back as "./@x",
**     which is not abstract);
**   - for abstract names, the kernel agrees: bind, getsockname and
**     ux_addr_name give back the name made (skipped when in use).
** The buffers are malloc'd at their exact sizes so that ASan sees any
** byte out of bounds.
*/
#if !defined(_GNU_SOURCE)
#define _GNU_SOURCE
#endif

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sys.h"

#define OFF  offsetof(struct sockaddr_un, sun_path)
#define SUNSIZE  sizeof(((struct sockaddr_un *)0)->sun_path)

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define check(c)  ((c) ? (void)0 : fail(#c, __LINE__))

static void fail (const char *what, int line) {
  fprintf(stderr, "fuzz/addr.c:%d: invariant failed: %s\n", line, what);
  abort();
}

/* the name made by ux_addr_make, read back and made again */
static void roundtrip (const ux_addr *a, const char *name, size_t len) {
  char *out = malloc(UX_NAME_SIZE);
  ux_addr b;
  size_t n;
  check(out != NULL);
  n = ux_addr_name(&a->sa, a->len, out);
  check(n == len);
  if (name[0] == '\0' || name[0] == '@') {
    check(out[0] == '@');
    check(memcmp(out + 1, name + 1, len - 1) == 0);
  }
  else check(memcmp(out, name, len) == 0);
  check(ux_addr_make(&b, out, n) == UX_ADDR_OK);
  check(b.len == a->len);
  check(memcmp(&b.sa, &a->sa, sizeof(b.sa)) == 0);
  free(out);
}

/* the kernel's view of an abstract name: bind, getsockname */
static void kernel_abstract (const ux_addr *a, const char *name, size_t len) {
  struct sockaddr_un got;
  socklen_t glen;
  char *out;
  size_t n;
  int fd;
  if (ux_socket(SOCK_DGRAM, &fd) != 0) return;
  if (bind(fd, (const struct sockaddr *)&a->sa, a->len) != 0) {
    ux_close(fd);  /* in use (EADDRINUSE) by another run or process */
    return;
  }
  check(ux_getname(fd, 0, &got, &glen) == 0);
  out = malloc(UX_NAME_SIZE);
  check(out != NULL);
  n = ux_addr_name(&got, glen, out);
  check(n == len);
  check(out[0] == '@' && memcmp(out + 1, name + 1, len - 1) == 0);
  free(out);
  ux_close(fd);
}

static void fuzz_make (const char *name, size_t len) {
  ux_addr *a = malloc(sizeof(ux_addr));
  int r, abstract = len > 0 && (name[0] == '\0' || name[0] == '@');
  check(a != NULL);
  r = ux_addr_make(a, name, len);
  check(a->sa.sun_family == AF_UNIX);
  if (len == 0) check(r == UX_ADDR_EMPTY);
  else if (len > (abstract ? UX_ABSTRACT_MAX : UX_PATH_MAX))
    check(r == UX_ADDR_TOOLONG);
  else if (abstract) {
#if defined(__linux__)
    check(r == UX_ADDR_OK);
    check(ux_addr_isabstract(a));
    check(a->len == OFF + len);
    check(a->sa.sun_path[0] == '\0');
    check(memcmp(a->sa.sun_path + 1, name + 1, len - 1) == 0);
#else
    check(r == UX_ADDR_NOABSTRACT);
#endif
  }
  else if (memchr(name, '\0', len) != NULL) check(r == UX_ADDR_NUL);
  else {
    check(r == UX_ADDR_OK);
    check(!ux_addr_isabstract(a));
    check(a->len == OFF + len + 1);
    check(memcmp(a->sa.sun_path, name, len) == 0);
    check(a->sa.sun_path[len] == '\0');
  }
  if (r == UX_ADDR_OK) {
    check(a->len <= sizeof(a->sa));
    roundtrip(a, name, len);
    if (abstract) kernel_abstract(a, name, len);
  }
  free(a);
}

static void fuzz_name (const uint8_t *data, size_t size) {
  struct sockaddr_un *sa;
  socklen_t len;
  char *out;
  size_t n, room;
  if (size < 1) return;
  len = (socklen_t)(data[0] % (sizeof(struct sockaddr_un) + 9));
  data++; size--;
  sa = calloc(1, sizeof(struct sockaddr_un));
  out = malloc(UX_NAME_SIZE);
  check(sa != NULL && out != NULL);
  memcpy(sa, data, size < sizeof(*sa) ? size : sizeof(*sa));
  if (!(len % 2 == 1 && size > 0 && data[0] == 0xff)) sa->sun_family = AF_UNIX;
  n = ux_addr_name(sa, len, out);
  check(n <= UX_NAME_SIZE);
  room = len > OFF ? len - OFF : 0;  /* the bytes of sun_path the kernel gave */
  if (room > SUNSIZE) room = SUNSIZE;
  if (sa->sun_family != AF_UNIX || room == 0) check(n == 0);
  else if (sa->sun_path[0] == '\0') {  /* abstract: every byte */
    check(n == room);
    check(out[0] == '@');
    check(memcmp(out + 1, sa->sun_path + 1, n - 1) == 0);
  }
  else {  /* a path: up to its NUL, "./" before a leading '@' */
    size_t plen = strnlen(sa->sun_path, room);
    const char *p = out;
    check(memchr(out, '\0', n) == NULL);
    if (sa->sun_path[0] == '@') {
      check(n == plen + 2 && memcmp(out, "./", 2) == 0);
      p += 2;
    }
    else check(n == plen);
    check(memcmp(p, sa->sun_path, plen) == 0);
  }
  /* passed back, it names the same socket: every abstract name, and a
  ** path that fits (a 106-byte file name "@x" does not as "./@x") */
  if (n > 0 && (sa->sun_path[0] == '\0' || n <= UX_PATH_MAX)) {
    ux_addr *b = malloc(sizeof(ux_addr));
    char *again = malloc(UX_NAME_SIZE);
    check(b != NULL && again != NULL);
    check(ux_addr_make(b, out, n) == UX_ADDR_OK);
    check(ux_addr_isabstract(b) == (sa->sun_path[0] == '\0'));
    if (ux_addr_isabstract(b)) {
      check(b->len == OFF + room);
      check(memcmp(b->sa.sun_path, sa->sun_path, room) == 0);
    }
    check(ux_addr_name(&b->sa, b->len, again) == n);
    check(memcmp(again, out, n) == 0);
    free(again);
    free(b);
  }
  free(out);
  free(sa);
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size) {
  if (size == 0) return 0;
  if (data[0] % 2 == 0) {
    /* a copy of exactly len bytes: ASan sees a read past the name */
    size_t len = size - 1;
    char *name = malloc(len ? len : 1);
    check(name != NULL);
    memcpy(name, data + 1, len);
    fuzz_make(name, len);
    free(name);
  }
  else fuzz_name(data + 1, size - 1);
  return 0;
}

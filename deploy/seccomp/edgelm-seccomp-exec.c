/*
 * edgelm-seccomp-exec: loads a seccomp filter and runs a command under it, for
 * runners on machines where bubblewrap cannot load one (no user namespaces: a
 * container, a unit with RestrictNamespaces=). The gateway compiles
 * deploy/seccomp/edgelm-runner.json to classic BPF (src/engine/sandbox/
 * seccomp-program.ts) and hands it over on a file descriptor, as it does for
 * bwrap's --seccomp.
 *
 *   edgelm-seccomp-exec FD -- COMMAND [ARG...]
 *
 * Reads the program (struct sock_filter records) from FD until end of file,
 * closes FD, sets no_new_privs (the kernel requires it of an unprivileged
 * filter) and the filter, then execv()s COMMAND (an absolute path; no PATH
 * search). Exit codes: 125 usage or a bad program, 126 the kernel refused the
 * filter, 127 COMMAND could not be run; each with one line on stderr.
 *
 * Build: cc -O2 -Wall -o edgelm-seccomp-exec edgelm-seccomp-exec.c
 * (`edgelm engine build` and the container image do it.)
 */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

/* The longest program the kernel takes (BPF_MAXINSNS). */
#define MAX_INSTRUCTIONS 4096

static int fail(int code, const char *what, int error) {
  if (error) fprintf(stderr, "edgelm-seccomp-exec: %s: %s\n", what, strerror(error));
  else fprintf(stderr, "edgelm-seccomp-exec: %s\n", what);
  return code;
}

int main(int argc, char **argv) {
  if (argc < 4 || strcmp(argv[2], "--") != 0) return fail(125, "usage: edgelm-seccomp-exec FD -- COMMAND [ARG...]", 0);
  char *end = NULL;
  long fd = strtol(argv[1], &end, 10);
  if (*argv[1] == '\0' || *end != '\0' || fd < 0 || fd > 1 << 20) return fail(125, "FD must be a file descriptor number", 0);
  if (argv[3][0] != '/') return fail(125, "COMMAND must be an absolute path", 0);

  static struct sock_filter program[MAX_INSTRUCTIONS + 1];
  size_t bytes = 0;
  for (;;) {
    ssize_t n = read((int)fd, (char *)program + bytes, sizeof program - bytes);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(125, "reading the program", errno);
    if (n == 0) break;
    bytes += (size_t)n;
    if (bytes == sizeof program) return fail(125, "the program is longer than the kernel allows (4096 instructions)", 0);
  }
  close((int)fd);
  if (bytes == 0 || bytes % sizeof program[0] != 0) return fail(125, "the program is empty or not whole sock_filter records", 0);

  struct sock_fprog filter = { .len = (unsigned short)(bytes / sizeof program[0]), .filter = program };
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return fail(126, "setting no_new_privs", errno);
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &filter) != 0) return fail(126, "loading the seccomp filter", errno);
  execv(argv[3], argv + 3);
  return fail(127, argv[3], errno);
}

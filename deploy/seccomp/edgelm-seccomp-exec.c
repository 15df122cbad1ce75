/*
 * edgelm-seccomp-exec: loads a seccomp filter and runs a command under it, for
 * runners on machines where bubblewrap cannot load one (no user namespaces: a
 * container, a unit with RestrictNamespaces=). The gateway compiles
 * deploy/seccomp/edgelm-runner.json to classic BPF (src/engine/sandbox/
 * seccomp-program.ts) and hands it over on a file descriptor, as it does for
 * bwrap's --seccomp.
 *
 *   edgelm-seccomp-exec FD [--read PATH]... [--write PATH]... -- COMMAND [ARG...]
 *   edgelm-seccomp-exec --landlock-abi
 *
 * Reads the program (struct sock_filter records) from FD until end of file,
 * closes FD, sets no_new_privs (the kernel requires it of an unprivileged
 * filter) and the filter, then execv()s COMMAND (an absolute path; no PATH
 * search).
 *
 * With --read/--write it first confines the file system with Landlock (the
 * kernel's unprivileged access control, no namespaces needed): only the PATHs
 * given stay reachable, --read ones for reading and running, --write ones for
 * everything (files and folders beneath them); and, on a kernel with Landlock
 * ABI 4 or later, no TCP bind or connect at all. A PATH that does not exist is
 * skipped. --landlock-abi prints the kernel's Landlock ABI version (0: none).
 *
 * Exit codes: 125 usage or a bad program, 126 the kernel refused the filter
 * or the Landlock rules, 127 COMMAND could not be run; each with one line on
 * stderr.
 *
 * Build: cc -O2 -Wall -o edgelm-seccomp-exec edgelm-seccomp-exec.c
 * (`edgelm engine build` and the container image do it.)
 */
#define _GNU_SOURCE /* O_PATH */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Landlock's interface (linux/landlock.h), spelled out: Debian 12's headers predate ABI 3 and 4. */
#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#define SYS_landlock_add_rule 445
#define SYS_landlock_restrict_self 446
#endif
#define LL_CREATE_RULESET_VERSION (1U << 0)
#define LL_RULE_PATH_BENEATH 1
#define LL_FS_EXECUTE (1ULL << 0)
#define LL_FS_WRITE_FILE (1ULL << 1)
#define LL_FS_READ_FILE (1ULL << 2)
#define LL_FS_READ_DIR (1ULL << 3)
#define LL_FS_TRUNCATE (1ULL << 14)
#define LL_FS_IOCTL_DEV (1ULL << 15)
#define LL_NET_BIND_TCP (1ULL << 0)
#define LL_NET_CONNECT_TCP (1ULL << 1)

struct ll_ruleset_attr {
  unsigned long long handled_access_fs;
  unsigned long long handled_access_net;
};

struct ll_path_beneath_attr {
  unsigned long long allowed_access;
  int parent_fd;
} __attribute__((packed));

static int landlock_abi(void) {
  long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LL_CREATE_RULESET_VERSION);
  return abi < 0 ? 0 : (int)abi;
}

/* Every file-system right this ABI knows: 13 in ABI 1, REFER in 2, TRUNCATE in 3, IOCTL_DEV in 5. */
static unsigned long long fs_rights(int abi) {
  unsigned long long rights = (1ULL << 13) - 1;
  if (abi >= 2) rights |= 1ULL << 13;
  if (abi >= 3) rights |= LL_FS_TRUNCATE;
  if (abi >= 5) rights |= LL_FS_IOCTL_DEV;
  return rights;
}

/* Rights that apply to a file that is not a folder. */
#define LL_FILE_RIGHTS (LL_FS_EXECUTE | LL_FS_WRITE_FILE | LL_FS_READ_FILE | LL_FS_TRUNCATE | LL_FS_IOCTL_DEV)

static int add_path(int ruleset, const char *path, unsigned long long access, unsigned long long handled) {
  int fd = open(path, O_PATH | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? 0 : -1;
  struct stat st;
  if (fstat(fd, &st) != 0) {
    close(fd);
    return -1;
  }
  if (!S_ISDIR(st.st_mode)) access &= LL_FILE_RIGHTS;
  struct ll_path_beneath_attr rule = { .allowed_access = access & handled, .parent_fd = fd };
  long done = syscall(SYS_landlock_add_rule, ruleset, LL_RULE_PATH_BENEATH, &rule, 0);
  int saved = errno;
  close(fd);
  errno = saved;
  return done == 0 ? 0 : -1;
}

/* The longest program the kernel takes (BPF_MAXINSNS). */
#define MAX_INSTRUCTIONS 4096

static int fail(int code, const char *what, int error) {
  if (error) fprintf(stderr, "edgelm-seccomp-exec: %s: %s\n", what, strerror(error));
  else fprintf(stderr, "edgelm-seccomp-exec: %s\n", what);
  return code;
}

#define USAGE "usage: edgelm-seccomp-exec FD [--read PATH]... [--write PATH]... -- COMMAND [ARG...]"

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "--landlock-abi") == 0) {
    printf("%d\n", landlock_abi());
    return 0;
  }
  if (argc < 4) return fail(125, USAGE, 0);
  char *end = NULL;
  long fd = strtol(argv[1], &end, 10);
  if (*argv[1] == '\0' || *end != '\0' || fd < 0 || fd > 1 << 20) return fail(125, "FD must be a file descriptor number", 0);
  int at = 2;
  int paths = 0;
  for (; at + 1 < argc && (strcmp(argv[at], "--read") == 0 || strcmp(argv[at], "--write") == 0); at += 2) paths++;
  if (at >= argc || strcmp(argv[at], "--") != 0 || at + 1 >= argc) return fail(125, USAGE, 0);
  char **command = argv + at + 1;
  if (command[0][0] != '/') return fail(125, "COMMAND must be an absolute path", 0);

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
  if (paths > 0) {
    int abi = landlock_abi();
    if (abi < 1) return fail(126, "--read/--write need Landlock, which this kernel does not offer", 0);
    struct ll_ruleset_attr attr = { .handled_access_fs = fs_rights(abi), .handled_access_net = LL_NET_BIND_TCP | LL_NET_CONNECT_TCP };
    size_t size = abi >= 4 ? sizeof attr : sizeof attr.handled_access_fs;
    int ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, size, 0);
    if (ruleset < 0) return fail(126, "creating the Landlock ruleset", errno);
    const unsigned long long read = LL_FS_EXECUTE | LL_FS_READ_FILE | LL_FS_READ_DIR;
    for (int i = 2; i < at; i += 2) {
      int writable = strcmp(argv[i], "--write") == 0;
      if (add_path(ruleset, argv[i + 1], writable ? attr.handled_access_fs : read, attr.handled_access_fs) != 0) {
        fprintf(stderr, "edgelm-seccomp-exec: Landlock rule for %s: %s\n", argv[i + 1], strerror(errno));
        return 126;
      }
    }
    if (syscall(SYS_landlock_restrict_self, ruleset, 0) != 0) return fail(126, "applying the Landlock rules", errno);
    close(ruleset);
  }
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &filter) != 0) return fail(126, "loading the seccomp filter", errno);
  execv(command[0], command);
  return fail(127, command[0], errno);
}

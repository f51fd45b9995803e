/*
 * bench/cpu_of.c — the CPU time of a command and of every process it
 * starts, orphans included:
 *
 *   cpu_of OUT COMMAND [ARG...]
 *
 * writes "USER SYS" (seconds) to file OUT and exits with the command's
 * status. It makes itself a child subreaper (PR_SET_CHILD_SUBREAPER), so a
 * process the command leaves behind (a forkserver helper that outlives its
 * parent for a moment, with the workers it reaped) is reparented here and
 * waited for: its CPU is counted, which /usr/bin/time's RUSAGE_CHILDREN of
 * the command alone misses.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
  struct rusage ru;
  pid_t pid, w;
  int st, rc = 127;
  FILE *f;
  if (argc < 3) {
    fprintf(stderr, "usage: cpu_of OUT COMMAND [ARG...]\n");
    return 2;
  }
  if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) {
    perror("cpu_of: PR_SET_CHILD_SUBREAPER");
    return 2;
  }
  if ((pid = fork()) < 0) {
    perror("cpu_of: fork");
    return 2;
  }
  if (!pid) {
    execvp(argv[2], argv + 2);
    perror(argv[2]);
    _exit(127);
  }
  while ((w = wait(&st)) != -1 || errno == EINTR)
    if (w == pid) rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  getrusage(RUSAGE_CHILDREN, &ru);
  if (!(f = fopen(argv[1], "w"))) {
    perror(argv[1]);
    return 2;
  }
  fprintf(f, "%ld.%06ld %ld.%06ld\n", (long)ru.ru_utime.tv_sec, (long)ru.ru_utime.tv_usec,
          (long)ru.ru_stime.tv_sec, (long)ru.ru_stime.tv_usec);
  fclose(f);
  return rc;
}

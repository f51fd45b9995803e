/*
 * errors_dump.c — prints the error table as the header defines it and as the
 * library reports it, one code a line: NAME <TAB> value <TAB> message.
 * check_docs.sh compares it with docs/errors.md. It fails (exit 1) if
 * dbfork_err_name()/dbfork_strerror() disagree with DBFORK_ERRNO_MAP.
 */
#include <dbfork.h>
#include <stdio.h>
#include <string.h>

int main(void) {
  int bad = 0;
#define XX(name, val, msg)                                                                  \
  printf("DBFORK_%s\t%d\t%s\n", #name, (int)(val), msg);                                    \
  if (strcmp(dbfork_err_name(val), "DBFORK_" #name) || strcmp(dbfork_strerror(val), msg)) { \
    fprintf(stderr, "library disagrees with the header on DBFORK_%s: %s / %s\n", #name,     \
            dbfork_err_name(val), dbfork_strerror(val));                                    \
    bad = 1;                                                                                \
  }
  DBFORK_ERRNO_MAP(XX)
#undef XX
  return bad;
}

/*
 * test_errors.c — the error table (DBFORK_ERRNO_MAP in dbfork.h) and its
 * accessors: distinct values, names, messages, and the strerror fallback.
 */
#include <errno.h>
#include <string.h>

#include "testutil.h"

typedef struct {
  const char *name;
  int value;
  const char *msg;
} code_t;

static const code_t codes[] = {
#define XX(name, val, msg) {#name, val, msg},
    DBFORK_ERRNO_MAP(XX)
#undef XX
};
#define NCODES (sizeof codes / sizeof codes[0])

TEST(every_error_code_is_negative_and_distinct) {
  size_t i, j;
  CHECK(NCODES > 0);
  for (i = 0; i < NCODES; i++) {
    if (codes[i].value >= 0) FAIL("DBFORK_%s = %d is not negative", codes[i].name, codes[i].value);
    for (j = i + 1; j < NCODES; j++)
      if (codes[i].value == codes[j].value)
        FAIL("DBFORK_%s and DBFORK_%s share the value %d", codes[i].name, codes[j].name,
             codes[i].value);
  }
}

TEST(every_error_code_has_its_name_and_a_message) {
  size_t i;
  for (i = 0; i < NCODES; i++) {
    char want[64];
    const char *msg = dbfork_strerror(codes[i].value);
    snprintf(want, sizeof want, "DBFORK_%s", codes[i].name);
    CHECK_EQ_STR(dbfork_err_name(codes[i].value), want);
    CHECK(msg != NULL && *msg);
    CHECK_EQ_STR(msg, codes[i].msg);
  }
}

TEST(system_codes_keep_their_errno_values) {
  CHECK_EQ_INT(DBFORK_EAGAIN, -EAGAIN);
  CHECK_EQ_INT(DBFORK_EINVAL, -EINVAL);
  CHECK_EQ_INT(DBFORK_ENOMEM, -ENOMEM);
  CHECK_EQ_INT(DBFORK_EPIPE, -EPIPE);
}

TEST(unknown_errno_falls_back_to_strerror) {
  static const int errs[] = {EDOM, ENOTDIR, ECONNREFUSED, ETXTBSY};
  size_t i;
  for (i = 0; i < sizeof errs / sizeof errs[0]; i++) {
    char want[256];
    snprintf(want, sizeof want, "%s", strerror(errs[i]));
    CHECK_EQ_STR(dbfork_strerror(-errs[i]), want);
    CHECK_EQ_STR(dbfork_err_name(-errs[i]), "DBFORK_UNKNOWN");
  }
}

TEST(unknown_codes_still_get_static_text) {
  static const int odd[] = {0, 1, 12345, -29999, -30000, -39999, -2147483647 - 1};
  size_t i;
  for (i = 0; i < sizeof odd / sizeof odd[0]; i++) {
    const char *m = dbfork_strerror(odd[i]), *n = dbfork_err_name(odd[i]);
    CHECK(m != NULL && *m);
    CHECK(n != NULL && *n);
  }
}

TEST(version_string_matches_the_header) {
  char want[64];
  snprintf(want, sizeof want, "%d.%d.%d", DBFORK_VERSION_MAJOR, DBFORK_VERSION_MINOR,
           DBFORK_VERSION_PATCH);
  CHECK_EQ_STR(dbfork_version(), want);
}

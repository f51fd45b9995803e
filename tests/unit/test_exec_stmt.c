/*
 * test_exec_stmt.c — exec's pure parts without a server: the statements
 * split at ';' and {chunk} found and replaced only outside literals,
 * quoted identifiers and comments (src/exec/stmt.c), and the chunk and
 * reply codecs (src/exec/exec_wire.c).
 */
#include <stdlib.h>
#include <string.h>

#include "execint.h"
#include "testutil.h"

static int split(const char *sql, char **out) {
  char why[100];
  return exec_split(sql, out, 8, why, sizeof why);
}

TEST(test_exec_split_only_at_semicolons_between_statements) {
  char *s[8];
  int n = split(
      " UPDATE a SET x = ';' WHERE {chunk};\n DELETE FROM b WHERE {chunk} -- a; b\n;;"
      "/* ; */ SELECT `x;y` FROM c WHERE {chunk} AND d = \"q\\\";\"",
      s);
  CHECK_EQ_INT(n, 3);
  CHECK_EQ_STR(s[0], "UPDATE a SET x = ';' WHERE {chunk}");
  CHECK_EQ_STR(s[1], "DELETE FROM b WHERE {chunk} -- a; b");
  CHECK_EQ_STR(s[2], "/* ; */ SELECT `x;y` FROM c WHERE {chunk} AND d = \"q\\\";\"");
  while (n) free(s[--n]);
  CHECK_EQ_INT(split(" ; ;\n", s), 0);
}

TEST(test_exec_placeholder_outside_quotes_and_comments_only) {
  CHECK(exec_has_placeholder("UPDATE t SET n = 1 WHERE {chunk}"));
  CHECK(!exec_has_placeholder("UPDATE t SET n = '{chunk}'"));
  CHECK(!exec_has_placeholder("UPDATE t SET n = 1 /* {chunk} */"));
  CHECK(!exec_has_placeholder("UPDATE t SET n = 1 # {chunk}"));
  CHECK(!exec_has_placeholder("UPDATE `{chunk}` SET n = 1"));
  CHECK(!exec_has_placeholder("UPDATE t SET n = 'it''s {chunk}'"));
  CHECK(exec_has_placeholder("UPDATE t SET n = 'a' WHERE {chunk}"));
}

TEST(test_exec_substitute_every_placeholder) {
  char *s = exec_substitute(
      "INSERT INTO a SELECT * FROM b WHERE {chunk} AND '{chunk}' <> '' AND "
      "{chunk}",
      "id <= 5", 7);
  CHECK_EQ_STR(s,
               "INSERT INTO a SELECT * FROM b WHERE (id <= 5) AND '{chunk}' <> '' AND (id <= 5)");
  free(s);
}

TEST(test_exec_wire_round_trips_and_refuses_truncation) {
  unsigned char buf[256], rb[EXEC_REPLY_SIZE];
  exec_chunk_msg m = {42, 1000, "`id` > 1 AND `id` <= 9", "1", "9", 22, 1, 1}, d;
  exec_reply r = {EXEC_REPLY_RECOVERED, 7, 6, 123456}, r2;
  size_t n = exec_chunk_encode(&m, buf, sizeof buf), k;
  CHECK_EQ_INT(n, exec_chunk_size(&m));
  CHECK_OK(exec_chunk_decode(&d, buf, n));
  CHECK_EQ_INT(d.chunk, 42);
  CHECK_EQ_INT(d.rows_planned, 1000);
  CHECK_EQ_INT(d.cond_len, 22);
  CHECK(!memcmp(d.cond, m.cond, 22) && d.key_to[0] == '9');
  for (k = 0; k < n; k++) CHECK_EQ_INT(exec_chunk_decode(&d, buf, k), -1);
  buf[0] = 2;
  CHECK_EQ_INT(exec_chunk_decode(&d, buf, n), -1);
  CHECK_EQ_INT(exec_chunk_encode(&m, buf, n - 1), 0);
  exec_reply_encode(&r, rb);
  CHECK_OK(exec_reply_decode(&r2, rb, sizeof rb));
  CHECK(r2.flags == r.flags && r2.rows_matched == 7 && r2.rows_affected == 6 &&
        r2.duration_us == 123456);
  CHECK_EQ_INT(exec_reply_decode(&r2, rb, sizeof rb - 1), -1);
}

TEST(test_exec_dsn_parses_pt_keys_and_refuses_naming_the_key) {
  exec_dsn d;
  char why[300];
  CHECK_EQ_INT(exec_dsn_parse("h=db2,P=3307,u=me,p=s3cr,t", &d, why, sizeof why), -1);
  CHECK_EQ_INT(exec_dsn_parse("h=db2,P=3307,u=me,p=s3cret", &d, why, sizeof why), 0);
  CHECK_EQ_STR(d.host, "db2");
  CHECK_EQ_INT(d.port, 3307);
  CHECK_EQ_STR(d.user, "me");
  CHECK_EQ_STR(d.pass, "s3cret");
  CHECK_EQ_STR(d.shown, "h=db2,P=3307,u=me,p=***");
  CHECK_EQ_INT(exec_dsn_parse("S=/run/r.sock,F=/etc/r.cnf,p=", &d, why, sizeof why), 0);
  CHECK_EQ_STR(d.sock, "/run/r.sock");
  CHECK_EQ_STR(d.file, "/etc/r.cnf");
  CHECK(d.has_pass && !d.pass[0] && !d.has_user);
  CHECK_EQ_INT(exec_dsn_parse("P=3307", &d, why, sizeof why), 0);
  CHECK_EQ_INT(exec_dsn_parse("h=a,X=1", &d, why, sizeof why), -1);
  CHECK(strstr(why, "unknown key X=") != NULL);
  CHECK_EQ_INT(exec_dsn_parse("h=a,h=b", &d, why, sizeof why), -1);
  CHECK(strstr(why, "h= is given twice") != NULL);
  CHECK_EQ_INT(exec_dsn_parse("h=a,P=70000", &d, why, sizeof why), -1);
  CHECK(strstr(why, "P=70000") != NULL);
  CHECK_EQ_INT(exec_dsn_parse("u=me,p=x", &d, why, sizeof why), -1);
  CHECK(strstr(why, "names no server") != NULL);
  CHECK_EQ_INT(exec_dsn_parse("h=", &d, why, sizeof why), -1);
  CHECK_EQ_INT(exec_dsn_parse("", &d, why, sizeof why), -1);
  CHECK_EQ_INT(exec_dsn_parse("host=a", &d, why, sizeof why), -1);
  CHECK(strstr(why, "one-letter key") != NULL);
}

TEST(test_exec_tail_chunks_shrink_only_near_the_end) {
  /* far from the end, or unknown: as tuned */
  CHECK_EQ_INT(exec_tail_rows(200000, 2e6, 2), 200000);
  CHECK_EQ_INT(exec_tail_rows(200000, -1, 2), 200000);
  CHECK_EQ_INT(exec_tail_rows(200000, 800000, 2), 200000);
  /* near it: half of each worker's share of what is left */
  CHECK_EQ_INT(exec_tail_rows(200000, 400000, 2), 100000);
  CHECK_EQ_INT(exec_tail_rows(200000, 400000, 4), 50000);
  /* never below an eighth of the tuned size, nor below 100 keys */
  CHECK_EQ_INT(exec_tail_rows(200000, 1000, 2), 25000);
  CHECK_EQ_INT(exec_tail_rows(400, 10, 2), 100);
  CHECK_EQ_INT(exec_tail_rows(50, 10, 2), 50);
  CHECK_EQ_INT(exec_tail_rows(1, 0, 2), 1);
  CHECK_EQ_INT(exec_tail_rows(200000, 0, 0), 200000);
}

/*
 * explain.c — the dry run: the plan and the first chunks' SQL, each
 * statement with the server's EXPLAIN, as text. Reads only: no exec table
 * is created and no job row stored, so it runs with SELECT alone.
 */
#include "execint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void explain(dbfork_exec *x, FILE *f, const char *sql) {
  char *q = NULL;
  MYSQL_RES *r;
  MYSQL_ROW row;
  MYSQL_FIELD *fl;
  unsigned i, n;
  if (asprintf(&q, "EXPLAIN %s", sql) < 0) return;
  if (mysql_query(x->m, q) || !(r = mysql_store_result(x->m))) {
    fprintf(f, "    EXPLAIN: %s (MySQL error %u)\n", mysql_error(x->m), mysql_errno(x->m));
    free(q);
    return;
  }
  free(q);
  n = mysql_num_fields(r);
  fl = mysql_fetch_fields(r);
  fprintf(f, "    EXPLAIN:");
  for (i = 0; i < n; i++) fprintf(f, "%s%s", i ? " | " : " ", fl[i].name);
  fputc('\n', f);
  while ((row = mysql_fetch_row(r))) {
    fprintf(f, "            ");
    for (i = 0; i < n; i++) fprintf(f, "%s%s", i ? " | " : " ", row[i] ? row[i] : "NULL");
    fputc('\n', f);
  }
  mysql_free_result(r);
}

int exec_explain_text(dbfork_exec *x, unsigned chunks, char **text) {
  char *buf = NULL, *ut;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  exec_tuple from = {0}, to = {0};
  uint64_t rows = x->eo.chunk_rows ? x->eo.chunk_rows : (uint64_t)x->rows_next, count;
  unsigned k;
  int i, rc = 0;
  if (!f) return exec_set_err(x, DBFORK_ENOMEM, "out of memory");
  ut = exec_tuple_text(&x->until);
  fprintf(f, "dbfork exec --dry-run: job %s on %s.%s (nothing is changed)\n", x->c.t.job_id,
          x->c.db_plain, x->c.table_plain);
  fprintf(f, "  key          ");
  for (i = 0; i < x->c.nkey; i++) fprintf(f, "%s%s", i ? ", " : "(", x->c.kname[i]);
  fprintf(f, ") of index %s\n", x->c.index);
  fprintf(f, "  until key    %s (%s)\n", x->until.n ? (ut ? ut : "?") : "none: the table is empty",
          x->eo.until_key ? "--until-key" : "the largest key now");
  fprintf(f, "  rows         about %llu (the server's estimate)\n",
          (unsigned long long)x->st.rows_estimate);
  if (x->eo.chunk_rows)
    fprintf(f, "  chunks       %llu keys each (--chunk-rows)\n", (unsigned long long)rows);
  else
    fprintf(f, "  chunks       %llu keys at first, then tuned to %.3g s each (--chunk-time)\n",
            (unsigned long long)rows, x->eo.chunk_time > 0 ? x->eo.chunk_time : 0.5);
  fprintf(f, "  statements   %d, each checked by the server (PREPARE)\n", x->c.nstmts);
  free(ut);
  for (k = 0; k < chunks; k++) {
    char *cond, *ft, *tt;
    rc = exec_cut(x, &from, rows, &to, &count);
    if (rc <= 0) break;
    rc = 0;
    cond = exec_condition(&x->c, &from, &to);
    ft = exec_tuple_text(&from);
    tt = exec_tuple_text(&to);
    fprintf(f, "chunk %u: keys %s%s up to %s (%llu keys)\n", k,
            from.n ? "above " : "from the first", from.n && ft ? ft : "", tt ? tt : "?",
            (unsigned long long)count);
    for (i = 0; i < x->c.nstmts && cond; i++) {
      char *sql = exec_substitute(x->c.stmts[i], cond, strlen(cond));
      if (!sql) continue;
      fprintf(f, "  statement %d: %s\n", i + 1, sql);
      explain(x, f, sql);
      free(sql);
    }
    free(cond), free(ft), free(tt);
    exec_tuple_clear(&from);
    from = to;
    memset(&to, 0, sizeof to);
  }
  if (k == 0 && rc == 0) fprintf(f, "no chunk: no key up to the until key\n");
  exec_tuple_clear(&from);
  exec_tuple_clear(&to);
  fclose(f);
  if (rc < 0) {
    free(buf);
    return rc;
  }
  *text = buf;
  return 0;
}

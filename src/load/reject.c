/*
 * reject.c — a record left out of the table becomes a reject: counted
 * against --max-errors, and an entry of the part's reply with its file
 * line, column, byte offset, reason and bytes (a value the server refused:
 * also the column and the value). Rejects are final when the part commits;
 * with max_errors 0, or past the budget, the first one fails the part
 * instead, with the same words.
 *
 * Also here: the warnings of a statement, sorted into values the server
 * refused (bad_values "reject": the statement is undone and its records
 * loaded again without them) and the rest (passed up as warnings once the
 * statement stays).
 */
#include "worker.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The file offset of a byte of the part's buffer. */
static uint64_t file_off(const lw *s, const char *p) {
  return s->p.offset + (uint64_t)(p - s->buf);
}

/* A record's bytes as in the file: not the terminator appended to a last
 * record that had none. */
static size_t file_len(const lw *s, const char *raw, size_t len) {
  size_t avail = (size_t)(s->buf + s->p.length - raw);
  return len > avail ? avail : len;
}

/* Fails the part for a reject it cannot take (max_errors 0, or past the
 * budget), naming the file and the reason. */
static int refuse(lw *s, const char *text, uint64_t line) {
  const load_conf *c = s->c;
  if (!c->max_errors) return lw_fail(s, DBFORK_ETASK, "%s: %s", c->path, text);
  return lw_fail(s, DBFORK_ETASK,
                 "%s: %s: more than --max-errors=%llu rows rejected in all (this chunk: lines "
                 "%llu-%llu)",
                 c->path, text, (unsigned long long)c->max_errors,
                 (unsigned long long)s->p.first_line, (unsigned long long)line);
}

int lw_reject_record(lw *s, const csv_error *e) {
  char text[320];
  load_entry en;
  uint64_t at = file_off(s, e->raw) + e->bad_off;
  int n;
  if (e->kind == CSV_BAD_TOO_FEW || e->kind == CSV_BAD_TOO_MANY)
    n = snprintf(text, sizeof text,
                 "line %llu, column %llu (field %zu, byte %llu): %s (%zu, "
                 "expected %zu)",
                 (unsigned long long)e->line, (unsigned long long)e->column, e->field,
                 (unsigned long long)at, e->reason, e->got, e->expected);
  else
    n = snprintf(text, sizeof text, "line %llu, column %llu (field %zu, byte %llu): %s",
                 (unsigned long long)e->line, (unsigned long long)e->column, e->field,
                 (unsigned long long)at, e->reason);
  s->last_line = e->rec_line;
  ++s->rejected;
  if (!s->report_only && (!s->c->max_errors || lw_over_budget(s)))
    return refuse(s, text, e->rec_line);
  memset(&en, 0, sizeof en);
  en.line = e->rec_line;
  en.error_line = e->line;
  en.column = e->column;
  en.field = e->field;
  en.offset = file_off(s, e->raw);
  en.error_offset = at;
  en.text = text;
  en.text_len = n > 0 ? ((size_t)n < sizeof text ? (size_t)n : sizeof text - 1) : 0;
  en.raw = e->raw;
  en.raw_len = file_len(s, e->raw, e->raw_len);
  load_reply_reject(&s->reply, &en);
  return 0;
}

/* The value for a message: printable bytes as they are, others as \xNN,
 * at most 64 bytes of it. */
static void show_value(const char *v, size_t n, char *out, size_t len) {
  size_t i, o = 0;
  for (i = 0; i < n && o + 5 < len; i++) {
    unsigned char ch = (unsigned char)v[i];
    if (i == 64) {
      o += (size_t)snprintf(out + o, len - o, "...");
      break;
    }
    if (ch >= 0x20 && ch != 0x7f && ch != '\'' && ch != '\\')
      out[o++] = (char)ch;
    else
      o += (size_t)snprintf(out + o, len - o, "\\x%02X", ch);
  }
  out[o] = 0;
}

int lw_reject_value(lw *s, size_t i, const lw_badval *bv) {
  const load_conf *c = s->c;
  const lw_rec *r = &s->recs[i];
  const char *raw = s->buf + r->pos, *value = "";
  size_t value_len = 0, start = 0, k;
  int null = 0;
  char text[1024], msg[512], shown[300];
  uint64_t line = r->line, col = r->col;
  int f = -1, n;
  csv_record rec;
  csv_error err;
  load_entry en;
  /* The field of the column the server named: its bytes, as parsed. */
  for (k = 0; bv->column[0] && k < (size_t)c->nfields; k++)
    if (!strcasecmp(c->fnames[k], bv->column)) f = (int)k;
  if (r->len > s->vscratch_cap) {
    free(s->vscratch);
    s->vscratch_cap = r->len;
    if (!(s->vscratch = malloc(s->vscratch_cap))) {
      s->vscratch_cap = 0;
      return lw_fail(s, DBFORK_ENOMEM, "out of memory");
    }
  }
  csv_parser_init(&s->vp, &c->d, s->vfields, LOAD_MAX_COLS, s->vscratch, s->vscratch_cap);
  if (f >= 0 && csv_parse_record(&s->vp, raw, r->len, 1, &rec, &err) == CSV_OK &&
      (size_t)f < rec.nfields) {
    null = rec.fields[f].null;
    value = null ? "" : rec.fields[f].ptr;
    value_len = null ? 0 : rec.fields[f].len;
    start = rec.fields[f].raw_start;
    for (k = 0; k < start; k++) {
      if (raw[k] == '\n') {
        line++;
        col = 0;
      }
      col++;
    }
  }
  load_value_message(bv->msg, msg, sizeof msg);
  shown[0] = '\'';
  show_value(value, value_len, shown + 1, sizeof shown - 2);
  strcat(shown, "'");
  if (null) snprintf(shown, sizeof shown, "NULL");
  if (f >= 0)
    n = snprintf(text, sizeof text,
                 "line %llu, column %llu (field %d, byte %llu): value %s for column %s: %s "
                 "(MySQL %s %u)",
                 (unsigned long long)line, (unsigned long long)col, f + 1,
                 (unsigned long long)(file_off(s, raw) + start), shown, bv->column, msg,
                 bv->error ? "error" : "warning", bv->code);
  else
    n = snprintf(text, sizeof text, "line %llu, column %llu (byte %llu): %s%s%s%s (MySQL %u)",
                 (unsigned long long)line, (unsigned long long)col,
                 (unsigned long long)file_off(s, raw), bv->column[0] ? "column " : "", bv->column,
                 bv->column[0] ? ": " : "", msg, bv->code);
  s->last_line = r->line;
  ++s->rejected;
  if (!c->max_errors || lw_over_budget(s)) return refuse(s, text, r->line);
  memset(&en, 0, sizeof en);
  en.line = r->line;
  en.error_line = line;
  en.column = col;
  en.field = f >= 0 ? (uint64_t)f + 1 : 0;
  en.offset = file_off(s, raw);
  en.error_offset = file_off(s, raw) + start;
  en.text = text;
  en.text_len = n > 0 ? ((size_t)n < sizeof text ? (size_t)n : sizeof text - 1) : 0;
  en.raw = raw;
  en.raw_len = file_len(s, raw, r->len);
  en.column_name = bv->column;
  en.column_name_len = strlen(bv->column);
  en.value = value;
  en.value_len = value_len;
  load_reply_reject(&s->reply, &en);
  return 0;
}

int lw_scan_warnings(lw *s, MYSQL *m) {
  MYSQL_RES *r;
  MYSQL_ROW row;
  int unnamed = 0;
  char sql[64];
  s->nbv = s->nw = 0;
  s->wcount = mysql_warning_count(m);
  if (!s->wcount) return 0;
  snprintf(sql, sizeof sql, "SHOW WARNINGS LIMIT %d",
           s->c->bad_values == BAD_REJECT ? 65535 : LOAD_WARN_KEEP);
  if (mysql_query(m, sql) || !(r = mysql_store_result(m))) return 0;
  while ((row = mysql_fetch_row(r))) {
    const char *msg = row[2] ? row[2] : "";
    unsigned int code = row[1] ? (unsigned int)strtoul(row[1], NULL, 10) : 0;
    lw_badval bv;
    if (s->c->bad_values == BAD_REJECT &&
        load_value_complaint(row[0], code, msg, &bv.row, bv.column, sizeof bv.column)) {
      if (load_grow((void **)&s->bv, &s->bv_cap, s->nbv + 1, sizeof *s->bv)) break;
      bv.code = code;
      bv.error = 0;
      snprintf(bv.msg, sizeof bv.msg, "%s", msg);
      s->bv[s->nbv++] = bv;
      unnamed |= !bv.row;
      continue;
    }
    if (s->nw < LOAD_WARN_KEEP) {
      const char *at = strstr(msg, "at row ");
      if (!s->wmsg && (!(s->wmsg = malloc(LOAD_WARN_KEEP * sizeof *s->wmsg)) ||
                       !(s->wline = malloc(LOAD_WARN_KEEP * sizeof *s->wline)))) {
        free(s->wmsg);
        s->wmsg = NULL;
        break;
      }
      snprintf(s->wmsg[s->nw], sizeof s->wmsg[0], "%s", msg);
      s->wline[s->nw++] = at ? strtoull(at + 7, NULL, 10) : 0;
    }
  }
  mysql_free_result(r);
  return unnamed ? -1 : (int)s->nbv;
}

void lw_warnings_keep(lw *s, const size_t *map, size_t nmap, size_t first) {
  size_t i;
  s->warnings += s->wcount;
  for (i = 0; i < s->nw && s->warn_kept < LOAD_WARN_KEEP; i++) {
    uint64_t rn = s->wline[i], line = s->p.first_line;
    if (rn >= 1 && (!map || rn <= nmap)) {
      size_t k = map ? map[rn - 1] : first + (size_t)rn - 1;
      if (k < s->nlines) line = s->recs[k].line;
    }
    load_reply_warning(&s->reply, line, s->wmsg[i], strlen(s->wmsg[i]));
    s->warn_kept++;
  }
  s->nw = 0;
  s->wcount = 0;
}

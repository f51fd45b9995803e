/*
 * loader.h — what the files of the loader layer share (not installed):
 *
 *   load.c      the public API (dbfork/load.h): options, lifecycle, stats
 *   rerun.c     what a run of a job does given earlier runs: resume, nothing
 *               (already loaded), a new job; the job's lock
 *   setup.c     the parent's checks of the target table and the SQL it builds
 *   colspec.c   --columns with @variables and --set, as SQL for both methods
 *   progress.c  the SQL of the loader's own tables (job, plan, progress),
 *               their names, in one place
 *   plan.c      the chunk plan: the file cut as the load goes, a part cut in
 *               halves, the byte range of any part for a resume
 *   parent.c    the job core's callbacks: parts out, replies in, events up
 *   worker.c    the worker half: claim, read, validate, hash, record
 *   sink.c      the two ways rows reach the server: LOAD DATA and INSERT
 *   bulk.c      the third: array binding (one COM_STMT_BULK_EXECUTE per batch)
 *   values.c    the server's complaints about values: which, which row and
 *               column (pure)
 *   budget.c    --max-errors shared by the workers without tables (no_resume)
 *   csv.c       dialects, splitter, parser (csv.h)
 *   wire.c      the part and reply codecs (wire.h)
 *
 * The layer uses only the public pool API (<dbfork.h>), the job core
 * (src/job/job.h), libuv and the MySQL client library; the build refuses
 * any include of the core's private headers.
 */
#ifndef DBFORK_LOAD_LOADER_H
#define DBFORK_LOAD_LOADER_H

#include <dbfork/load.h>
#include <limits.h>
#include <mysql.h>
#include <uv.h>

#include "csv.h"
#include "hash.h"
#include "job.h"
#include "wire.h"

enum { METHOD_LOAD_DATA, METHOD_INSERT, METHOD_BULK };
enum { DUP_ERROR, DUP_IGNORE, DUP_UPDATE, DUP_REPLACE };
enum { BAD_REJECT, BAD_WARN };

#define LOAD_MAX_COLS 1024
#define LOAD_WARN_KEEP 5              /* warning messages kept per part */
#define LOAD_READ_STEP (256u * 1024)  /* a worker's pread size */
#define LOAD_COLUMN_NAME_MAX (64 * 4) /* 64 characters of up to 4 bytes */
#define LOAD_COLUMN_QUOTED_MAX (LOAD_COLUMN_NAME_MAX + 3)

/* What a worker needs, set up by the parent before the pool starts and
 * inherited across fork; read-only afterwards. The SQL texts are on the
 * heap: with up to LOAD_MAX_COLS quoted names of up to
 * LOAD_COLUMN_QUOTED_MAX bytes, no fixed buffer of a sane size holds every
 * legal column list. */
typedef struct load_conf {
  char path[PATH_MAX]; /* the file's real path */
  char table[300];     /* `db`.`t` */
  char db[140];        /* `db` */
  char db_plain[130], table_plain[130];
  int nfields;    /* fields per record in the file (columns and @variables) */
  char **fnames;  /* nfields plain names: a column's, or "@var" */
  int nph;        /* the insert method's placeholders per row */
  int *ph_field;  /* nph: the file field each placeholder takes */
  char *cols_sql; /* `a`,@v,`b`,...: LOAD DATA's column list */
  char *set_sql;  /* " SET `x` = expr, ..." or "": LOAD DATA's SET clause */
  char *ins_head; /* INSERT [IGNORE] | REPLACE INTO `db`.`t` (`a`,`b`,`x`...) VALUES */
  char *ins_row;  /* one row of VALUES: "(?,?,expr(?))", placeholders as "\001" */
  char *dup_sql;  /* " ON DUPLICATE KEY UPDATE `a`=VALUES(`a`),..." or "" */
  char *load_sql; /* the LOAD DATA statement */
  csv_dialect d;
  int method, dup, bad_values, no_resume;
  int method_auto;     /* no --method given: setup.c picks bulk or load-data (load_pick_method) */
  char charset[40];    /* the file's character set, as the server names it */
  int enc;             /* CSV_ENC_* checked in every record, or 0 */
  int recode;          /* 1: values go as CONVERT(... USING charset) (not utf8mb4-compatible) */
  uint64_t data_start; /* 3 after a UTF-8 byte order mark, else 0 */
  unsigned batch;
  uint64_t chunk_bytes, skip_lines, max_errors;
  job_tables t;   /* plan and progress tables, job id */
  char jobs[300]; /* the job table, quoted */
  /* the loader's tables, plain (for information_schema) */
  char tdb_plain[130], tprogress_plain[130];
  char job_key[17];           /* the hash of the file's path and the table: names the job's lock and
                                 its first job id */
  struct load_shared *shared; /* no_resume with max_errors: the budget (budget.c) */
  /* job_name: a job several processes share (share.c) */
  int job_shared;
  char procs[300];   /* the process table, quoted */
  char proc_id[120]; /* this process's row in it */
  double dead_after;
} load_conf;

/* A part committed by an earlier run, as its progress row says. */
typedef struct load_done {
  uint64_t chunk, part, off, len, hash, records, rejected;
} load_done;

/* The latest job row of a job key (rerun.c). */
typedef struct load_jobrow {
  int found;
  char id[17];
  unsigned generation;
  int completed;
  char completed_at[32];
  uint64_t file_size, file_hash, rows, rejected;
} load_jobrow;

enum { LOAD_NEW, LOAD_PREPARED, LOAD_RUNNING, LOAD_ENDED };

struct dbfork_load {
  load_conf c;
  int phase;         /* LOAD_*, changed by load_enter() only */
  dbfork_options po; /* the pool options, strings owned (strs) */
  dbfork_load_options lo;
  job_strings strs; /* the strings of po and the layer's options, owned */
  dbfork_load_stats st;
  char err[2048];

  int fd;
  MYSQL *m;   /* the parent's own connection */
  int locked; /* m holds the job's named lock */
  dbfork_pool *pool;
  job *job;
  int status;
  dbfork_load_done_fn done;
  void *done_ud;
  int in_done;      /* inside the done callback */
  int starting;     /* inside dbfork_load_start */
  int done_pending; /* ended inside the start: done comes from done_timer */
  uv_timer_t done_timer;
  int done_timer_on;

  /* resume: what earlier runs committed, by (chunk, part) */
  load_done *prior;
  size_t nprior, capprior;
  uint64_t plan_rows; /* plan rows the job already had */

  /* the plan, cut as the load goes (plan.c) */
  csv_splitter sp;
  unsigned char *iobuf;
  size_t iolen;
  uint64_t read_off;
  int split_eof;
  load_hasher fh; /* the file's hash, as the plan reads it */
  int hash_kind;  /* LOAD_HASH_* of fh: CRC but to recognise an earlier version's */
  uint64_t file_hash;
  int file_hashed;  /* file_hash covers the whole file */
  csv_chunk *ready; /* chunks the splitter found, not yet handed out */
  size_t nready, capready, headready;
  load_part pend[64]; /* parts of the current chunk not yet handed out (a resume may
                         leave several of one chunk to load) */
  size_t npend, headpend;
  /* Chunks being loaded in more than one part (split, or partly loaded by
   * an earlier run): how many of their parts are still open, and whether
   * one failed. A chunk counts as done when its last part is. */
  struct load_multi {
    uint64_t chunk, open;
    int worst; /* 0 ok, else the worst ending of a part so far (CHUNK_END_*) */
  } * multi;
  size_t nmulti, capmulti;

  /* job_name (share.c): parts another process held or had committed when
   * a worker claimed them, looked at again once the plan has ended */
  load_part *later;
  size_t nlater, caplater;
  double rescan_at;
  int rescans;
  uv_timer_t later_timer;
  int later_timer_on;
  job_hosts hosts;
};

/* load.c */
void load_enter(dbfork_load *l, int phase);
/* Opens (or opens again) the parent's own connection; 0 or a code, l->err. */
int load_connect_parent(dbfork_load *l);
int load_set_err(dbfork_load *l, int code, const char *fmt, ...) DBFORK_PRINTF(3, 4);
const char *load_method_name(int method);

/* setup.c: each returns 0 or a DBFORK_E* code with l->err set. */
int load_open_file(dbfork_load *l);
int load_check_table(dbfork_load *l, const char *table_opt, const char *default_db);
int load_check_charset(dbfork_load *l);
int load_build_sql(dbfork_load *l);
int load_table_has_rows(dbfork_load *l); /* 1, 0, or < 0 (l->err) */
/* bulk.c: 1 if the server and the client library do array binding
 * (MariaDB >= 10.2 announcing bulk operations, Connector/C), else 0. */
int load_bulk_supported(MYSQL *m);
/* The method of an automatic choice, and the refusal of bulk where it is
 * not supported: 0 or a code with l->err set. */
int load_pick_method(dbfork_load *l);

/* colspec.c: the column list (with @variables) and the SET clause. */
typedef struct load_colspec {
  int n;           /* file fields */
  char **names;    /* n plain names; "@v" for a variable; NULL: the table's columns */
  int nset;        /* SET assignments */
  char **set_col;  /* nset plain column names */
  char **set_expr; /* nset expressions as given */
} load_colspec;
/* Parses "a,@v,b" and "x = expr, y = expr" (NULL for none). Returns 0, or
 * -1 with why (naming the option) set; free with load_colspec_free. */
int load_colspec_parse(load_colspec *cs, const char *columns, const char *set, char *why,
                       size_t whylen);
void load_colspec_free(load_colspec *cs);
int load_colspec_add(load_colspec *cs, const char *name); /* 0 or -1 */
/* The expression with each @variable of the column list replaced by the
 * byte 0x01 (a placeholder), and the field of each placeholder appended to
 * *fields (*nfields of them, grown). Returns a malloc'ed string, or NULL
 * with why set (an @variable that is not in the column list, out of
 * memory). */
char *load_expr_placeholders(const load_colspec *cs, const char *expr, int **fields, int *nfields,
                             char *why, size_t whylen);
int load_quote_ident(const char *in, char *out, size_t outlen, char *why, size_t whylen);
int load_quote_column(const char *in, char *out, size_t outlen, char *why, size_t whylen);
void load_sql_string(MYSQL *m, char *out, const char *in, size_t inlen);

/* progress.c */
int load_tables_names(dbfork_load *l);   /* the one place the loader's table names come from */
int load_tables_prepare(dbfork_load *l); /* create or upgrade the tables, check privileges */
int load_job_lock(dbfork_load *l);       /* the job's named lock: 0, DBFORK_EBUSY, ... */
void load_job_unlock(dbfork_load *l);
int load_job_find(dbfork_load *l, load_jobrow *j); /* the latest job row of the key */
/* Starts job `id` (generation g): in one transaction, empties the target
 * (truncate), forgets the plan and progress of `forget` (a job id, or
 * NULL), deletes its job row too if drop_row, and inserts the new job's row. */
int load_job_start(dbfork_load *l, const char *id, unsigned g, const char *forget, int drop_row,
                   int truncate);
int load_job_complete(dbfork_load *l); /* the run loaded the whole file */
int load_read_prior(dbfork_load *l);   /* the committed parts, into l->prior */
int load_plan_store(dbfork_load *l, const csv_chunk *c);
const load_done *load_prior_find(const dbfork_load *l, uint64_t chunk, uint64_t part);
/* worker side, inside the part's transaction */
int load_budget_take(dbfork_worker *w, const load_conf *c, uint64_t rejected);
long long load_budget_used(dbfork_worker *w, const load_conf *c);
int load_record_part(dbfork_worker *w, const load_conf *c, const load_part *p, uint64_t records,
                     uint64_t rejected, uint64_t warnings, uint64_t hash);
#define LOAD_PROGRESS_SELECT "records, rejected, warnings, byte_offset, byte_len"

/* plan.c */
int load_verify_prior(dbfork_load *l); /* resume: every committed part against the file */
/* Reads the whole file: its hash of the kind (LOAD_HASH_*). */
int load_file_hash(dbfork_load *l, int kind, uint64_t *out);
void load_plan_init(dbfork_load *l);                /* the plan from the first byte of data */
int load_plan_next(dbfork_load *l, csv_chunk *out); /* 1, 0 at the end, or < 0 */
/* Cuts part p in halves at the first record boundary at or past its middle:
 * 0 and *a, *b; 1 if p holds one record; < 0 on a read error (l->err). */
int load_part_split(dbfork_load *l, const load_part *p, load_part *a, load_part *b);
/* The parts of chunk c still to load, given what earlier runs committed:
 * the whole chunk when nothing of it is, none when it all is, else the
 * uncommitted halves (of halves ...). Writes at most max to out; returns
 * how many, or < 0 (l->err). */
int load_plan_parts(dbfork_load *l, const csv_chunk *c, load_part *out, size_t max);
/* The same for part *root given its chunk's committed parts rows[0, n)
 * (sorted by part): 0 if one of them covers it. */
int load_plan_parts_of(dbfork_load *l, const load_part *root, load_done *rows, size_t n,
                       load_part *out, size_t max);

/* share.c: a job several processes share (options job_name). Each returns
 * 0 or a DBFORK_E* code with l->err set, unless said otherwise. */
/* prepare: the job's row made or found and checked against this process's
 * file and options, what the job committed so far read (l->prior) */
int load_share_prepare(dbfork_load *l);
/* The job_id of shared job `name` (jobs.c). */
void load_name_job_id(const char *name, char out[17]);
/* the plan row of a chunk: stored, or checked against the stored one */
int load_share_plan(dbfork_load *l, const csv_chunk *c);
/* a part a worker found held or committed elsewhere */
int load_share_later(dbfork_load *l, const load_part *p);
/* the plan has ended: fills l->pend with what is left of the parts held
 * elsewhere before (1), JOB_NEXT_LATER, 0 when nothing is left, or < 0 */
int load_share_tail(dbfork_load *l, job *j);
/* pool side: this process's row, its heartbeat, the workers' sessions */
int load_share_begin(dbfork_load *l);
void load_share_start(dbfork_load *l);
int load_share_on_connect(dbfork_worker *w, void *arg);
/* the end: the job's totals into the stats, the row marked ended, timers closed */
void load_share_end(dbfork_load *l);
void load_part_from_chunk(load_part *p, const csv_chunk *c);
/* Grows *arr (of elements of `elem` bytes, *cap of them) to hold `need`,
 * doubling; 0 or -1 (out of memory, *arr untouched). */
int load_grow(void **arr, size_t *cap, size_t need, size_t elem);
void load_chunk_from_part(csv_chunk *c, const load_part *p);

/* The terminator the server must be sent after a last record that has
 * none (wire.h: no_eol), so that it reads the record as the parser did.
 * Writes at most 1 + CSV_TERM_MAX bytes after buf[len); returns how many. */
size_t load_append_eol(const csv_dialect *d, char *buf, size_t len);

/* values.c: the server's complaints about values (pure). */
/* 1 if a warning or error (`level` "Warning" or "Error"; a Note is not)
 * with this code says the server truncated, coerced or refused a value;
 * then *row is the "at row N" of the message (0 if it names none) and
 * column[] the column it names ("" if none). */
int load_value_complaint(const char *level, unsigned int code, const char *msg, uint64_t *row,
                         char *column, size_t collen);
/* msg without its " at row N" (a row of the statement, meaningless to the
 * user), into out. */
void load_value_message(const char *msg, char *out, size_t len);

/* rerun.c: prepare's part about earlier runs (after the table checks). */
int load_prepare_job(dbfork_load *l);

/* budget.c: --max-errors across workers without the job table. The map is
 * made before the pool forks, so every worker shares it. */
struct load_shared *load_shared_new(unsigned entries);
void load_shared_free(struct load_shared *s);
/* Worker: reserves n rejects for (chunk, part), replacing an earlier
 * attempt's reservation of it. 0, 1 (more than max in all), -1 (full). */
int load_shared_reserve(struct load_shared *s, uint64_t max, uint64_t chunk, uint64_t part,
                        uint64_t n);
uint64_t load_shared_used(struct load_shared *s);
/* Parent, when a part ended: its reservation stays used if it committed,
 * is given back otherwise. */
void load_shared_settle(struct load_shared *s, uint64_t chunk, uint64_t part, int committed);

/* parent.c */
extern const job_ops load_job_ops;

/* worker.c */
int load_worker_init(dbfork_worker *w, void *arg);
int load_worker_task(dbfork_worker *w, const void *in, size_t len, void *arg);

#endif /* DBFORK_LOAD_LOADER_H */

/*
 * common.h — what every dbfork subcommand shares: the mysql-client-style
 * connection options, the password prompt, the parent's own connection, and
 * output helpers. The CLI uses only the public API (dbfork.h) and the MySQL
 * client library.
 */
#ifndef DBFORK_CLI_COMMON_H
#define DBFORK_CLI_COMMON_H

#include <dbfork.h>
#include <getopt.h>
#include <mysql.h>
#include <stdio.h>

/* Exit codes, documented in `dbfork --help` and the README. */
enum {
  EXIT_OK = 0,
  EXIT_REJECTED = 1, /* the job finished but some input was rejected */
  EXIT_FAILED = 2,   /* the job failed: nothing or only part of it was done */
  EXIT_USAGE = 64    /* bad usage (EX_USAGE) */
};

typedef struct cli_conn {
  const char *host, *socket, *user, *database, *defaults_file, *defaults_extra_file;
  char *password; /* owned; wiped at exit */
  unsigned int port;
  int no_defaults;
  int prompt; /* -p without a value */
  const char *ssl_mode, *ssl_ca, *ssl_cert, *ssl_key;
  const char *protocol; /* TCP or SOCKET (checked) */
  unsigned int connect_timeout;
  int print_defaults;
  int workers;
  int verbose;
} cli_conn;

/* Long options every subcommand accepts; ids >= 1000. */
#define CLI_CONN_SHORTOPTS "h:P:S:u:p::D:w:v"
#define CLI_CONN_NLONGOPTS 18
extern const struct option cli_conn_longopts[CLI_CONN_NLONGOPTS];

/* An option of an option file: key (with '-' for '_'), value (NULL for a
 * bare key), where it is. Return 0 to go on, non-zero to stop (returned). */
typedef int (*cli_opt_fn)(void *ud, const char *file, unsigned line, const char *group,
                          const char *key, const char *value);
/* Reads the option files the mysql tools read, given c's --no-defaults,
 * --defaults-file and --defaults-extra-file, calling fn for every option
 * of the groups named (NULL-terminated). Returns 0, fn's value, or -1 (a
 * file named on the command line cannot be read: message printed). */
int cli_optfiles_read(const cli_conn *c, const char *const *groups, cli_opt_fn fn, void *ud);
/* The value of a connection option of the option files' [client] and
 * [dbfork] groups (host, port, socket ...), or NULL. Reads them once. */
const char *cli_optfile_conn(const cli_conn *c, const char *key);
/* --print-defaults: prints the options the command would take from the
 * option files (groups), as the mysql tools do, a password as *****. */
void cli_print_defaults(const cli_conn *c, const char *command, const char *const *groups);

/* Handles one getopt result if it is a connection option: returns 1 if
 * handled, 0 if not ours, -1 on a bad value (message printed). */
int cli_conn_opt(cli_conn *c, int opt, const char *arg, char **argv);
/* Final step: the protocol, an unknown --ssl-mode (usage errors), the
 * environment (MYSQL_HOST, MYSQL_TCP_PORT, MYSQL_UNIX_PORT where neither
 * the command line nor an option file says), password prompt if asked,
 * MYSQL_PWD fallback. Returns 0 or -1 (message printed: bad usage). */
int cli_conn_finish(cli_conn *c);
void cli_conn_free(cli_conn *c);
/* Fills pool options from the connection options. */
void cli_conn_pool_options(const cli_conn *c, dbfork_options *o);
/* Opens the parent's own connection with the pool's options (dbfork_connect,
 * program_name "dbfork-cli"); close it with dbfork_mysql_close(). Prints
 * the server's error and returns NULL on failure. */
MYSQL *cli_connect(const cli_conn *c);
/* Prints the connection options' help. */
void cli_conn_usage(FILE *f);

/* Runs a query that must succeed; prints it and the error otherwise. */
int cli_exec(MYSQL *m, const char *sql);
/* First column of the first row as an integer, or -1. */
long long cli_query_ll(MYSQL *m, const char *sql);
long long cli_status(MYSQL *m, const char *var);
double cli_now(void);
/* Checks a table name "db.table" or "table" made of letters, digits, '_'
 * and '$' (1..64 each part) and writes it quoted, `db`.`table`, into out.
 * Returns 0, or -1 with the reason in why. */
int cli_plain_table(const char *in, char *out, size_t outlen, char *why, size_t whylen);
/* "1,234,567" */
const char *cli_num(unsigned long long v, char *buf, size_t n);

/* Prints "dbfork: MSG" on stderr and keeps MSG in cli_last_error (for a
 * --json summary of a command that failed before it started). */
void cli_error(const char *fmt, ...) DBFORK_PRINTF(1, 2);
extern char cli_last_error[1024];

/* The log callback the CLI gives the library: to stderr, prefixed. */
void cli_log(int level, const char *msg, void *arg);

/* A JSON string on f: valid UTF-8 whatever the bytes (a byte that starts no
 * valid sequence becomes U+FFFD), controls, quotes and backslashes
 * escaped. */
void cli_json_string(FILE *f, const char *v);

int cmd_demo(int argc, char **argv);
int cmd_exec(int argc, char **argv);
int cmd_job(int argc, char **argv); /* job.c */
int cmd_load(int argc, char **argv);

#endif

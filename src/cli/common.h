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
  const char *host, *socket, *user, *database, *defaults_file;
  char *password; /* owned; wiped at exit */
  unsigned int port;
  int no_defaults;
  int prompt; /* -p without a value */
  const char *ssl_mode, *ssl_ca, *ssl_cert, *ssl_key;
  int workers;
  int verbose;
} cli_conn;

/* Long options every subcommand accepts; ids >= 1000. */
#define CLI_CONN_SHORTOPTS "h:P:S:u:p::D:w:v"
#define CLI_CONN_NLONGOPTS 14
extern const struct option cli_conn_longopts[CLI_CONN_NLONGOPTS];

/* Handles one getopt result if it is a connection option: returns 1 if
 * handled, 0 if not ours, -1 on a bad value (message printed). */
int cli_conn_opt(cli_conn *c, int opt, const char *arg, char **argv);
/* Final step: password prompt if asked, MYSQL_PWD fallback. Returns 0 or -1. */
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

/* The log callback the CLI gives the library: to stderr, prefixed. */
void cli_log(int level, const char *msg, void *arg);

int cmd_demo(int argc, char **argv);
int cmd_load(int argc, char **argv);

#endif

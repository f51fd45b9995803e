/*
 * common.c — connection options in the mysql client's conventions (-h -P -S
 * -u -p -D, --defaults-file, --no-defaults, the [client] and [dbfork]
 * option-file groups, MYSQL_PWD), the no-echo password prompt, and small
 * helpers shared by the subcommands.
 */
#define _GNU_SOURCE /* strsignal, asprintf, strncasecmp */
#include "common.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

const struct option cli_conn_longopts[CLI_CONN_NLONGOPTS] = {
    {"host", required_argument, NULL, 'h'},
    {"port", required_argument, NULL, 'P'},
    {"socket", required_argument, NULL, 'S'},
    {"user", required_argument, NULL, 'u'},
    {"password", optional_argument, NULL, 'p'},
    {"database", required_argument, NULL, 'D'},
    {"workers", required_argument, NULL, 'w'},
    {"verbose", no_argument, NULL, 'v'},
    {"defaults-file", required_argument, NULL, 1000},
    {"no-defaults", no_argument, NULL, 1001},
    {"ssl-mode", required_argument, NULL, 1002},
    {"ssl-ca", required_argument, NULL, 1003},
    {"ssl-cert", required_argument, NULL, 1004},
    {"ssl-key", required_argument, NULL, 1005},
    {"protocol", required_argument, NULL, 1006},
    {"defaults-extra-file", required_argument, NULL, 1007},
    {"print-defaults", no_argument, NULL, 1008},
    {"connect-timeout", required_argument, NULL, 1009},
};

void cli_conn_usage(FILE *f) {
  fputs(
      "Connection options (as the mysql client; option files [client] and [dbfork] are read;\n"
      "MYSQL_HOST, MYSQL_TCP_PORT, MYSQL_UNIX_PORT fill in what neither gives):\n"
      "  -h, --host=NAME          server host\n"
      "  -P, --port=N             TCP port\n"
      "  -S, --socket=PATH        unix socket\n"
      "      --protocol=P         TCP or SOCKET\n"
      "      --connect-timeout=S  give up connecting after S seconds (default 10)\n"
      "  -u, --user=NAME          user\n"
      "  -p, --password[=PW]      password; -p alone prompts without echo. Prefer an option\n"
      "                           file or MYSQL_PWD: a password in argv is visible to others\n"
      "  -D, --database=NAME      default database\n"
      "      --defaults-file=F    read only this option file\n"
      "      --defaults-extra-file=F  read this one too, after the global ones\n"
      "      --no-defaults        read no option file\n"
      "      --print-defaults     print the options the option files give, and exit\n"
      "      --ssl-mode=MODE      DISABLED, PREFERRED, REQUIRED, VERIFY_CA, VERIFY_IDENTITY\n"
      "      --ssl-ca=F --ssl-cert=F --ssl-key=F\n"
      "  -w, --workers=N          worker processes (default 2)\n"
      "  -v, --verbose            more diagnostics on stderr\n",
      f);
}

char cli_last_error[1024];

void cli_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cli_last_error, sizeof cli_last_error, fmt, ap);
  va_end(ap);
  fprintf(stderr, "dbfork: %s\n", cli_last_error);
}

/* The one copy of the password the command holds. Subcommands leave through
 * many early returns; whichever one they take, the copy is wiped and freed at
 * exit (and no leak checker sees it lost). */
static char *owned_password;
static void password_wipe(void) {
  if (owned_password) {
    memset(owned_password, 0, strlen(owned_password));
    free(owned_password);
    owned_password = NULL;
  }
}
static char *password_keep(char *pw) {
  static int registered;
  if (!registered) {
    atexit(password_wipe);
    registered = 1;
  }
  password_wipe();
  owned_password = pw;
  return pw;
}

static int parse_uint(const char *opt, const char *arg, unsigned long max, unsigned long *out) {
  char *end;
  unsigned long v;
  errno = 0;
  v = strtoul(arg, &end, 10);
  if (errno || *end || end == arg || v > max || arg[0] == '-') {
    cli_error("option %s: '%s' is not a number in 0..%lu", opt, arg, max);
    return -1;
  }
  *out = v;
  return 0;
}

int cli_conn_opt(cli_conn *c, int opt, const char *arg, char **argv) {
  unsigned long v;
  (void)argv;
  switch (opt) {
    case 'h': c->host = arg; return 1;
    case 'S': c->socket = arg; return 1;
    case 'u': c->user = arg; return 1;
    case 'D': c->database = arg; return 1;
    case 'v': c->verbose++; return 1;
    case 'P':
      if (parse_uint("--port", arg, 65535, &v)) return -1;
      c->port = (unsigned int)v;
      return 1;
    case 'w':
      if (parse_uint("--workers", arg, 1024, &v)) return -1;
      if (v == 0) {
        cli_error("option --workers: must be at least 1");
        return -1;
      }
      c->workers = (int)v;
      return 1;
    case 'p':
      if (arg) {
        c->password = password_keep(strdup(arg));
        /* Like the mysql client: wipe it from our argv, so that ps and
         * /proc/PID/cmdline show x's instead (best effort: others may have
         * looked already). */
        memset((char *)arg, 'x', strlen(arg));
        c->prompt = 0;
      } else {
        c->prompt = 1;
      }
      return 1;
    case 1000: c->defaults_file = arg; return 1;
    case 1001: c->no_defaults = 1; return 1;
    case 1002: c->ssl_mode = arg; return 1;
    case 1003: c->ssl_ca = arg; return 1;
    case 1004: c->ssl_cert = arg; return 1;
    case 1005: c->ssl_key = arg; return 1;
    case 1006: c->protocol = arg; return 1;
    case 1007: c->defaults_extra_file = arg; return 1;
    case 1008: c->print_defaults = 1; return 1;
    case 1009:
      if (parse_uint("--connect-timeout", arg, 3600, &v)) return -1;
      c->connect_timeout = (unsigned int)v;
      return 1;
    default: return 0;
  }
}

static char *prompt_password(void) {
  char buf[512];
  struct termios old, quiet;
  int fd = open("/dev/tty", O_RDWR | O_NOCTTY);
  size_t n = 0;
  ssize_t r;
  if (fd < 0) {
    fprintf(stderr,
            "dbfork: -p needs a terminal to prompt for the password; use an option "
            "file (--defaults-file) or MYSQL_PWD instead\n");
    return NULL;
  }
  if (write(fd, "Enter password: ", 16) < 0) {
  }
  tcgetattr(fd, &old);
  quiet = old;
  quiet.c_lflag &= ~(tcflag_t)ECHO;
  tcsetattr(fd, TCSAFLUSH, &quiet);
  while (n + 1 < sizeof buf && (r = read(fd, buf + n, 1)) == 1 && buf[n] != '\n') n++;
  buf[n] = 0;
  tcsetattr(fd, TCSAFLUSH, &old);
  if (write(fd, "\n", 1) < 0) {
  }
  close(fd);
  return strdup(buf);
}

/* The groups the client library reads (MariaDB Connector/C: [client],
 * [client-server], [client-mariadb]) and ours. */
static const char *const conn_groups[] = {"client", "client-server", "client-mariadb", "dbfork",
                                          NULL};

/* The connection options of the option files, kept from one read. */
static struct {
  int read;
  char host[256], port[16], socket[1024], user[256], database[256];
} files;

static int keep_conn(void *ud, const char *file, unsigned line, const char *group, const char *key,
                     const char *value) {
  (void)ud;
  (void)file;
  (void)line;
  (void)group;
  if (!value) return 0;
  if (!strcmp(key, "host")) snprintf(files.host, sizeof files.host, "%s", value);
  if (!strcmp(key, "port")) snprintf(files.port, sizeof files.port, "%s", value);
  if (!strcmp(key, "socket")) snprintf(files.socket, sizeof files.socket, "%s", value);
  if (!strcmp(key, "user")) snprintf(files.user, sizeof files.user, "%s", value);
  if (!strcmp(key, "database")) snprintf(files.database, sizeof files.database, "%s", value);
  return 0;
}

const char *cli_optfile_conn(const cli_conn *c, const char *key) {
  const char *v = NULL;
  if (!files.read) {
    files.read = 1;
    if (cli_optfiles_read(c, conn_groups, keep_conn, NULL)) return NULL;
  }
  if (!strcmp(key, "host")) v = files.host;
  if (!strcmp(key, "port")) v = files.port;
  if (!strcmp(key, "socket")) v = files.socket;
  if (!strcmp(key, "user")) v = files.user;
  if (!strcmp(key, "database")) v = files.database;
  return v && *v ? v : NULL;
}

static int print_opt(void *ud, const char *file, unsigned line, const char *group, const char *key,
                     const char *value) {
  (void)ud;
  (void)file;
  (void)line;
  (void)group;
  if (!value)
    printf(" --%s", key);
  else if (!strcmp(key, "password"))
    printf(" --%s=*****", key);
  else
    printf(" --%s=%s", key, value);
  return 0;
}

void cli_print_defaults(const cli_conn *c, const char *command, const char *const *groups) {
  printf("%s would have been started with the following arguments:\n", command);
  cli_optfiles_read(c, groups, print_opt, NULL);
  printf("\n");
}

/* --defaults-extra-file: the client library reads no such file, so its
 * connection options ([client], [dbfork]) are applied here, below the
 * command line's. */
static char *extra_vals[16];
static int nextra;
static int take_extra(void *ud, const char *file, unsigned line, const char *group, const char *key,
                      const char *value) {
  cli_conn *c = ud;
  const char **slot = NULL;
  char *v;
  (void)file;
  (void)line;
  (void)group;
  if (!value) return 0;
  if (!strcmp(key, "host")) slot = &c->host;
  if (!strcmp(key, "socket")) slot = &c->socket;
  if (!strcmp(key, "user")) slot = &c->user;
  if (!strcmp(key, "database")) slot = &c->database;
  if (!strcmp(key, "ssl-ca")) slot = &c->ssl_ca;
  if (!strcmp(key, "ssl-cert")) slot = &c->ssl_cert;
  if (!strcmp(key, "ssl-key")) slot = &c->ssl_key;
  if (!strcmp(key, "ssl-mode")) slot = &c->ssl_mode;
  if (!strcmp(key, "port") && !c->port) {
    unsigned long p;
    if (parse_uint("port", value, 65535, &p)) return -1;
    c->port = (unsigned int)p;
  }
  if (!strcmp(key, "password") && !c->password && !c->prompt)
    c->password = password_keep(strdup(value));
  if (!slot || *slot || nextra == (int)(sizeof extra_vals / sizeof extra_vals[0])) return 0;
  if (!(v = strdup(value))) return -1;
  extra_vals[nextra++] = v;
  *slot = v;
  return 0;
}

static void extra_free(void) {
  while (nextra) free(extra_vals[--nextra]);
}

int cli_conn_finish(cli_conn *c) {
  static const char *const modes[] = {"DISABLED",  "PREFERRED",       "REQUIRED",
                                      "VERIFY_CA", "VERIFY_IDENTITY", NULL};
  const char *env;
  int i;
  if (c->defaults_extra_file && !c->no_defaults) {
    cli_conn only = {0};
    only.defaults_file = c->defaults_extra_file;
    atexit(extra_free);
    if (cli_optfiles_read(&only, conn_groups, take_extra, c)) return -1;
  }
  if (c->ssl_mode) {
    for (i = 0; modes[i] && strcasecmp(c->ssl_mode, modes[i]); i++) {
    }
    if (!modes[i]) {
      cli_error(
          "option --ssl-mode: '%s' is not DISABLED, PREFERRED, REQUIRED, VERIFY_CA or "
          "VERIFY_IDENTITY",
          c->ssl_mode);
      return -1;
    }
    c->ssl_mode = modes[i];
  }
  if (c->protocol) {
    /* The client library's protocol option, as host and socket: TCP goes to
     * 127.0.0.1 for localhost (the library would take the socket), SOCKET
     * to localhost (the socket). */
    if (!strcasecmp(c->protocol, "TCP")) {
      if (!c->host || !strcmp(c->host, "localhost")) c->host = "127.0.0.1";
      c->socket = NULL;
    } else if (!strcasecmp(c->protocol, "SOCKET")) {
      c->host = "localhost";
    } else {
      cli_error("option --protocol: '%s' is not TCP or SOCKET (PIPE and MEMORY are for Windows)",
                c->protocol);
      return -1;
    }
  }
  /* The environment, below the command line and the option files, as the
   * mysql client has it. */
  if (!c->host && !cli_optfile_conn(c, "host") && (env = getenv("MYSQL_HOST")) && *env)
    c->host = env;
  if (!c->port && !cli_optfile_conn(c, "port") && (env = getenv("MYSQL_TCP_PORT")) && *env) {
    unsigned long v;
    if (parse_uint("MYSQL_TCP_PORT", env, 65535, &v)) return -1;
    c->port = (unsigned int)v;
  }
  if (!c->socket && !cli_optfile_conn(c, "socket") && (env = getenv("MYSQL_UNIX_PORT")) && *env &&
      (!c->protocol || strcasecmp(c->protocol, "TCP")))
    c->socket = env;
  if (c->prompt) {
    c->password = password_keep(prompt_password());
    if (!c->password) return -1;
  } else if (!c->password && getenv("MYSQL_PWD")) {
    c->password = password_keep(strdup(getenv("MYSQL_PWD")));
  }
  if (!c->workers) c->workers = 2;
  return 0;
}

void cli_conn_free(cli_conn *c) {
  password_wipe();
  c->password = NULL;
}

void cli_conn_pool_options(const cli_conn *c, dbfork_options *o) {
  dbfork_options_init(o);
  o->workers = c->workers;
  o->host = c->host;
  o->port = c->port;
  o->unix_socket = c->socket;
  o->user = c->user;
  o->password = c->password;
  o->database = c->database;
  o->defaults_file = c->defaults_file;
  o->no_defaults = c->no_defaults;
  o->ssl_mode = c->ssl_mode;
  o->ssl_ca = c->ssl_ca;
  o->ssl_cert = c->ssl_cert;
  o->ssl_key = c->ssl_key;
  o->connect_timeout = c->connect_timeout;
  o->log = cli_log;
  o->log_level = c->verbose ? DBFORK_LOG_DEBUG : DBFORK_LOG_WARN;
}

MYSQL *cli_connect(const cli_conn *c) {
  /* Exactly what the workers use (option files, TLS, attributes), through
   * the library: one connection recipe for the command and its pools. */
  dbfork_options o;
  MYSQL *m = NULL;
  char err[512];
  cli_conn_pool_options(c, &o);
  o.program_name = "dbfork-cli";
  if (dbfork_connect(&m, &o, err, sizeof err) != 0) {
    fprintf(stderr, "dbfork: cannot connect to the server: %s\n", err);
    return NULL;
  }
  return m;
}

int cli_exec(MYSQL *m, const char *sql) {
  if (mysql_query(m, sql)) {
    fprintf(stderr, "dbfork: query failed: %s\n  error %u (%s): %s\n", sql, mysql_errno(m),
            mysql_sqlstate(m), mysql_error(m));
    return -1;
  }
  MYSQL_RES *r = mysql_store_result(m);
  if (r) mysql_free_result(r);
  return 0;
}

long long cli_query_ll(MYSQL *m, const char *sql) {
  MYSQL_RES *r;
  MYSQL_ROW row;
  long long v = -1;
  if (mysql_query(m, sql) || !(r = mysql_store_result(m))) return -1;
  row = mysql_fetch_row(r);
  if (row && row[0]) v = strtoll(row[0], NULL, 10);
  mysql_free_result(r);
  return v;
}

long long cli_status(MYSQL *m, const char *var) {
  char sql[128];
  MYSQL_RES *r;
  MYSQL_ROW row;
  long long v = -1;
  snprintf(sql, sizeof sql, "SHOW GLOBAL STATUS LIKE '%s'", var);
  if (mysql_query(m, sql) || !(r = mysql_store_result(m))) return -1;
  row = mysql_fetch_row(r);
  if (row && row[1]) v = strtoll(row[1], NULL, 10);
  mysql_free_result(r);
  return v;
}

double cli_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int cli_plain_table(const char *in, char *out, size_t outlen, char *why, size_t whylen) {
  const char *p, *start = in;
  size_t o = 0;
  int parts = 0;
  if (!in || !*in) {
    snprintf(why, whylen, "empty table name");
    return -1;
  }
  for (p = in;; p++) {
    if (*p == '.' || *p == 0) {
      size_t n = (size_t)(p - start);
      if (n == 0 || n > 64) {
        snprintf(why, whylen, "table name '%.80s' has a part that is empty or longer than 64", in);
        return -1;
      }
      if (++parts > 2) {
        snprintf(why, whylen, "table name '%.80s' has more than one dot (use DB.TABLE)", in);
        return -1;
      }
      if (o + n + 4 > outlen) break;
      if (o) out[o++] = '.';
      out[o++] = '`';
      memcpy(out + o, start, n);
      o += n;
      out[o++] = '`';
      out[o] = 0;
      if (!*p) return 0;
      start = p + 1;
    } else if (!isalnum((unsigned char)*p) && *p != '_' && *p != '$') {
      snprintf(why, whylen,
               "table name '%.80s': only letters, digits, '_' and '$' (the demo creates and "
               "empties this table; name a plain one)",
               in);
      return -1;
    }
  }
  snprintf(why, whylen, "table name too long");
  return -1;
}

const char *cli_num(unsigned long long v, char *buf, size_t n) {
  char tmp[32];
  int len = snprintf(tmp, sizeof tmp, "%llu", v), i, o = 0;
  for (i = 0; i < len && (size_t)o + 1 < n; i++) {
    if (i && (len - i) % 3 == 0 && (size_t)o + 2 < n) buf[o++] = ',';
    buf[o++] = tmp[i];
  }
  buf[o] = 0;
  return buf;
}

void cli_log(int level, const char *msg, void *arg) {
  static const char *names[] = {"", "error", "warning", "info", "debug"};
  (void)arg;
  fprintf(stderr, "dbfork: %s: %s\n", level >= 1 && level <= 4 ? names[level] : "log", msg);
}

void cli_json_string(FILE *f, const char *v) {
  const unsigned char *p = (const unsigned char *)v;
  fputc('"', f);
  while (*p) {
    unsigned char ch = *p;
    size_t need = ch < 0x80                  ? 0
                  : ch >= 0xc2 && ch <= 0xdf ? 1
                  : ch >= 0xe0 && ch <= 0xef ? 2
                  : ch >= 0xf0 && ch <= 0xf4 ? 3
                                             : 9;
    size_t k;
    if (ch == '"' || ch == '\\') {
      fprintf(f, "\\%c", ch);
      p++;
      continue;
    }
    if (ch < 0x20 || ch == 0x7f) {
      fprintf(f, "\\u%04x", ch);
      p++;
      continue;
    }
    for (k = 1; need != 9 && k <= need; k++)
      if ((p[k] & 0xc0) != 0x80) break;
    if (need == 9 || k <= need || (ch == 0xe0 && p[1] < 0xa0) || (ch == 0xed && p[1] > 0x9f) ||
        (ch == 0xf0 && p[1] < 0x90) || (ch == 0xf4 && p[1] > 0x8f)) {
      fputs("\\ufffd", f);
      p++;
      continue;
    }
    fwrite(p, 1, need + 1, f);
    p += need + 1;
  }
  fputc('"', f);
}

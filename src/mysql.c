/*
 * mysql.c — the database glue: connecting with the pool's options (option
 * files, charset, TLS, connect attributes, retry with backoff), error
 * classification for the retry policy, the pid ownership guard, and
 * abandoning a handle inherited across fork without speaking on its socket.
 */
#include "internal.h"

#include <errno.h>
#include <mysql.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Where MariaDB Connector/C and MySQL's libmysqlclient differ, the configure
 * step found out what this one offers (cmake/ClientFeatures.cmake, which
 * stops with a message when a need has no way at all); these #errors are
 * the second line. */
#include "dbfork_client.h"
#if defined(DBFORK_HAVE_MYSQL_OPT_SSL_ENFORCE) && defined(DBFORK_HAVE_MY_BOOL) && \
    defined(DBFORK_HAVE_MYSQL_OPTIONSV)
#define TLS_ENFORCE 1 /* Connector/C: enforce + verify-server-cert (tested) */
#elif defined(DBFORK_HAVE_MYSQL_OPT_SSL_MODE)
#define TLS_MODE 1 /* MySQL: MYSQL_OPT_SSL_MODE */
#else
#error "the client library has no TLS mode option dbfork knows"
#endif
#if !defined(DBFORK_HAVE_MYSQL_SSL_SET) && !defined(DBFORK_HAVE_MYSQL_OPT_SSL_FILES)
#error "the client library has no way to set the TLS CA, certificate and key"
#endif
#if !defined(DBFORK_HAVE_MYSQL_GET_SOCKET) && !defined(DBFORK_HAVE_MYSQL_NET_FD)
#error "the client library does not tell the socket of a handle"
#endif
#if defined(DBFORK_HAVE_MYSQL_OPT_RECONNECT) && defined(DBFORK_HAVE_MY_BOOL) && \
    defined(DBFORK_HAVE_MYSQL_OPTIONSV)
#define RECONNECT_OPTION 1
#elif !defined(DBFORK_HAVE_MYSQL_RECONNECT_FIELD)
#error "the client library offers no way to turn its auto-reconnect off"
#endif

/* ---- the pid ownership guard ----
 * A small table of (handle, opening pid). A handle found with another pid
 * was inherited across fork: using it would speak on someone else's session. */
#define OWNERS_MAX 256
static struct {
  const MYSQL *m;
  pid_t pid;
} owners[OWNERS_MAX];
static pthread_mutex_t owners_mu = PTHREAD_MUTEX_INITIALIZER;

/* The guard's mutex is the one lock of dbfork's that a worker takes (its
 * connect records the handle's owner). Whoever forks — the pool's launcher
 * or the host on its own — a thread of the host may be inside the table at
 * that moment: held across fork() by these handlers, the child gets it free
 * and the table consistent (the forking thread took it in prepare, and it is
 * the child's one thread, so both sides unlock). */
static void owners_prepare(void) { pthread_mutex_lock(&owners_mu); }
static void owners_release(void) { pthread_mutex_unlock(&owners_mu); }

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static void lib_init(void) {
  mysql_library_init(0, NULL, NULL);
  pthread_atfork(owners_prepare, owners_release, owners_release);
}
void dbfork__mysql_library_init(void) { pthread_once(&lib_once, lib_init); }

static void owner_set(const MYSQL *m, pid_t pid) {
  int i, freeslot = -1;
  pthread_mutex_lock(&owners_mu);
  for (i = 0; i < OWNERS_MAX; i++) {
    if (owners[i].m == m) {
      freeslot = i;
      break;
    }
    if (!owners[i].m && freeslot < 0) freeslot = i;
  }
  if (freeslot >= 0) {
    owners[freeslot].m = pid ? m : NULL;
    owners[freeslot].pid = pid;
  }
  pthread_mutex_unlock(&owners_mu);
}

int dbfork_mysql_check_owner(MYSQL *m) {
  int i, rc = DBFORK_EINVAL;
  if (!m) return DBFORK_EINVAL;
  pthread_mutex_lock(&owners_mu);
  for (i = 0; i < OWNERS_MAX; i++)
    if (owners[i].m == m) {
      rc = owners[i].pid == getpid() ? 0 : DBFORK_EOWNER;
      break;
    }
  pthread_mutex_unlock(&owners_mu);
  return rc;
}

/* ---- errors ---- */
void dbfork__mysql_err(MYSQL *m, int code, dbfork__err *err) {
  dbfork__err_set(err, code, mysql_errno(m), mysql_sqlstate(m), "%s", mysql_error(m));
}

/* Error numbers, not the headers' names: some names exist in one client
 * library only (1927 is MariaDB's, 4031 MySQL 8's), and the numbers are
 * what the server and both libraries send. */
int dbfork__mysql_is_lost(unsigned int e) {
  return e == 2006    /* CR_SERVER_GONE_ERROR */
         || e == 2013 /* CR_SERVER_LOST */
         || e == 2055 /* CR_SERVER_LOST_EXTENDED */
         || e == 2002 /* CR_CONNECTION_ERROR */
         || e == 2003 /* CR_CONN_HOST_ERROR */
         || e == 1927 /* ER_CONNECTION_KILLED (MariaDB) */
         || e == 1053 /* ER_SERVER_SHUTDOWN */
         || e == 4031 /* ER_CLIENT_INTERACTION_TIMEOUT (MySQL 8) */;
}

int dbfork__mysql_is_retryable(unsigned int e) {
  return e == 1213 /* ER_LOCK_DEADLOCK */
         || e == 1205 /* ER_LOCK_WAIT_TIMEOUT */;
}

/* Errors worth another connect attempt: the server is starting, restarting
 * or full. Access denied, unknown database, bad options are not. */
static int connect_transient(unsigned int e) {
  return e == 2002    /* CR_CONNECTION_ERROR */
         || e == 2003 /* CR_CONN_HOST_ERROR */
         || e == 2013 /* CR_SERVER_LOST */
         || e == 2006 /* CR_SERVER_GONE_ERROR */
         || e == 1040 /* ER_CON_COUNT_ERROR */
         || e == 1053 /* ER_SERVER_SHUTDOWN */
         || e == 1203 /* ER_TOO_MANY_USER_CONNECTIONS */;
}

static int set_ssl(MYSQL *m, const dbfork_options *o) {
  if (o->ssl_ca || o->ssl_cert || o->ssl_key) {
#ifdef DBFORK_HAVE_MYSQL_SSL_SET
    mysql_ssl_set(m, o->ssl_key, o->ssl_cert, o->ssl_ca, NULL, NULL);
#else
    /* MySQL 8.3 removed mysql_ssl_set (untested here: see README.md). */
    if (o->ssl_key) mysql_options(m, MYSQL_OPT_SSL_KEY, o->ssl_key);
    if (o->ssl_cert) mysql_options(m, MYSQL_OPT_SSL_CERT, o->ssl_cert);
    if (o->ssl_ca) mysql_options(m, MYSQL_OPT_SSL_CA, o->ssl_ca);
#endif
  }
  if (!o->ssl_mode) return 0;
#ifdef TLS_ENFORCE
  {
    /* Connector/C has no MYSQL_OPT_SSL_MODE: map the modes onto enforce +
     * verify-server-cert. VERIFY_CA and VERIFY_IDENTITY both verify the chain;
     * Connector/C's verification also checks the host name. */
    my_bool yes = 1, no = 0;
    if (!strcmp(o->ssl_mode, "DISABLED")) return 0;
    if (!strcmp(o->ssl_mode, "PREFERRED")) return 0;
    mysql_optionsv(m, MYSQL_OPT_SSL_ENFORCE, &yes);
    mysql_optionsv(m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT,
                   strcmp(o->ssl_mode, "REQUIRED") ? &yes : &no);
  }
#else
  {
    unsigned int mode = SSL_MODE_PREFERRED;
    if (!strcmp(o->ssl_mode, "DISABLED")) mode = SSL_MODE_DISABLED;
    if (!strcmp(o->ssl_mode, "REQUIRED")) mode = SSL_MODE_REQUIRED;
    if (!strcmp(o->ssl_mode, "VERIFY_CA")) mode = SSL_MODE_VERIFY_CA;
    if (!strcmp(o->ssl_mode, "VERIFY_IDENTITY")) mode = SSL_MODE_VERIFY_IDENTITY;
    mysql_options(m, MYSQL_OPT_SSL_MODE, &mode);
  }
#endif
  return 0;
}

static MYSQL *open_once(const dbfork_options *o, int slot, dbfork__err *err) {
  MYSQL *m = mysql_init(NULL);
  char buf[32];
  unsigned int timeout = o->connect_timeout;
  unsigned int local = o->local_infile ? 1u : 0u;
  if (!m) {
    dbfork__err_set(err, DBFORK_ENOMEM, 0, NULL, "mysql_init: out of memory");
    return NULL;
  }
  if (o->no_defaults) {
    /* nothing: neither [client] nor our group is read */
  } else {
    if (o->defaults_file) mysql_options(m, MYSQL_READ_DEFAULT_FILE, o->defaults_file);
    mysql_options(m, MYSQL_READ_DEFAULT_GROUP, o->defaults_group);
  }
  if (slot < 0) {
    /* The parent's control connection: bounded in every step. */
    unsigned int ctl = DBFORK__CTL_TIMEOUT_S;
    if (timeout > ctl) timeout = ctl;
    mysql_options(m, MYSQL_OPT_READ_TIMEOUT, &ctl);
    mysql_options(m, MYSQL_OPT_WRITE_TIMEOUT, &ctl);
  }
  mysql_options(m, MYSQL_SET_CHARSET_NAME, o->charset);
  mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
  mysql_options(m, MYSQL_OPT_LOCAL_INFILE, &local);
  set_ssl(m, o);
  mysql_options4(m, MYSQL_OPT_CONNECT_ATTR_ADD, "program_name", o->program_name);
  snprintf(buf, sizeof buf, "%d", slot);
  mysql_options4(m, MYSQL_OPT_CONNECT_ATTR_ADD, "dbfork_slot", buf);
  snprintf(buf, sizeof buf, "%ld", (long)getpid());
  mysql_options4(m, MYSQL_OPT_CONNECT_ATTR_ADD, "dbfork_pid", buf);
  if (!mysql_real_connect(m, o->host, o->user, o->password, o->database, o->port, o->unix_socket,
                          CLIENT_MULTI_RESULTS)) {
    dbfork__mysql_err(m, DBFORK_ECONNECT, err);
    mysql_close(m); /* never connected: nothing goes on the wire */
    return NULL;
  }
  /* An option file may say reconnect=1, and mysql_real_connect() has just
   * read it. The client library would then reconnect silently inside
   * mysql_ping() or a query: a new session whose id the parent never learns
   * (a time limit or a lost worker's KILL would hit the old one), without
   * on_connect, and with the first half of a transaction gone. Reconnecting
   * is dbfork's job, so it is off on every connection opened here (workers
   * and the parent's control connection). */
#ifdef RECONNECT_OPTION
  {
    my_bool no = 0;
    mysql_optionsv(m, MYSQL_OPT_RECONNECT, &no);
  }
#else
  /* MySQL 8.0.34+ prints a deprecation warning for any MYSQL_OPT_RECONNECT. */
  m->reconnect = 0;
#endif
  return m;
}

int dbfork__mysql_connect(const dbfork_options *o, int slot, unsigned int deadline_ms, MYSQL **out,
                          dbfork__err *err) {
  uint64_t until = dbfork__now_ms() + deadline_ms;
  unsigned int backoff = 20;
  *out = NULL;
  for (;;) {
    MYSQL *m = open_once(o, slot, err);
    if (m) {
      owner_set(m, getpid());
      *out = m;
      return 0;
    }
    if (!connect_transient(err->mysql_errno) || dbfork__now_ms() + backoff > until ||
        dbfork__stop_requested())
      return err->code;
    dbfork__sleep_ms(backoff + dbfork__rand(backoff));
    if (backoff < 1000) backoff *= 2;
  }
}

void dbfork__mysql_close(MYSQL *m) {
  if (!m) return;
  owner_set(m, 0);
  mysql_close(m);
}

int dbfork_connect(MYSQL **out, const dbfork_options *o, char *errbuf, size_t errlen) {
  dbfork__conf c;
  dbfork__err err;
  char why[256];
  int rc;
  if (errbuf && errlen) errbuf[0] = 0;
  if (!out || !o) return DBFORK_EINVAL;
  *out = NULL;
  rc = dbfork__conf_init(&c, o, why, sizeof why);
  if (rc) {
    if (errbuf && errlen) snprintf(errbuf, errlen, "%s", why);
    return rc;
  }
  dbfork__mysql_library_init();
  /* The workers' own options, with slot -1 in the connect attributes (as
   * the control connection): what the server shows for the caller's
   * session tells it apart from the workers'. */
  memset(&err, 0, sizeof err);
  rc = dbfork__mysql_connect(&c.o, -1, c.o.connect_timeout * 1000u, out, &err);
  if (rc && errbuf && errlen)
    snprintf(errbuf, errlen, "%s (MySQL error %u)", err.msg, err.mysql_errno);
  dbfork__conf_free(&c);
  return rc;
}

void dbfork_mysql_close(MYSQL *m) { dbfork__mysql_close(m); }

int dbfork__fd_neutralise(int fd) {
  int dead = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int rc = 0;
  if (dead < 0) return -errno;
  if (dup2(dead, fd) < 0) rc = -errno;
  close(dead);
  return rc;
}

int dbfork_mysql_abandon(MYSQL *m) {
  int fd, rc = 0;
  if (!m) return 0;
#ifdef DBFORK_HAVE_MYSQL_GET_SOCKET
  fd = (int)mysql_get_socket(m);
#else
  fd = m->net.fd;
#endif
  /* With a dead socket under it, the COM_QUIT and TLS close_notify that
   * mysql_close() sends go nowhere, and the peer session (the parent's) never
   * sees them. Then the handle's memory is released as usual. */
  if (fd >= 0) rc = dbfork__fd_neutralise(fd);
  owner_set(m, 0);
  mysql_close(m);
  return rc;
}

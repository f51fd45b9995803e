/*
 * A stand-in for MySQL 8's <mysql.h>, written for tests/client from MySQL's
 * C API reference: only the declarations dbfork's sources use, in MySQL 8's
 * shape — bool where Connector/C has my_bool, MYSQL_OPT_SSL_MODE and its
 * enum, no mysql_optionsv, no MYSQL_OPT_SSL_ENFORCE, no mysql_ssl_set
 * (removed in 8.3), no mysql_get_socket, the socket in MYSQL.net.fd. It is
 * not MySQL's header and nothing links against it: it shows that dbfork's
 * configure checks pick the MySQL paths and that those paths compile.
 * ../lacking/mysql.h includes it with STUB_NO_TLS_MODE.
 */
#ifndef STUB_MYSQL_H
#define STUB_MYSQL_H
#include <stdbool.h>
#include <stddef.h>

typedef int my_socket;
typedef struct NET {
  void *vio;
  unsigned char *buff;
  my_socket fd;
} NET;

enum mysql_option {
  MYSQL_OPT_CONNECT_TIMEOUT,
  MYSQL_OPT_LOCAL_INFILE = 8,
  MYSQL_READ_DEFAULT_FILE = 4,
  MYSQL_READ_DEFAULT_GROUP,
  MYSQL_SET_CHARSET_NAME = 7,
  MYSQL_OPT_READ_TIMEOUT = 11,
  MYSQL_OPT_WRITE_TIMEOUT,
  MYSQL_OPT_RECONNECT = 20,
  MYSQL_OPT_CONNECT_ATTR_ADD = 33,
  MYSQL_OPT_SSL_KEY = 25,
  MYSQL_OPT_SSL_CERT,
  MYSQL_OPT_SSL_CA,
#ifndef STUB_NO_TLS_MODE
  MYSQL_OPT_SSL_MODE = 42,
#endif
};

#ifndef STUB_NO_TLS_MODE
enum mysql_ssl_mode {
  SSL_MODE_DISABLED = 1,
  SSL_MODE_PREFERRED,
  SSL_MODE_REQUIRED,
  SSL_MODE_VERIFY_CA,
  SSL_MODE_VERIFY_IDENTITY
};
#endif

typedef struct MYSQL {
  NET net;
  unsigned long thread_id;
  bool reconnect;
} MYSQL;

#define CLIENT_MULTI_RESULTS (1UL << 17)

int mysql_server_init(int argc, char **argv, char **groups);
#define mysql_library_init mysql_server_init
bool mysql_thread_init(void);
void mysql_thread_end(void);
MYSQL *mysql_init(MYSQL *mysql);
int mysql_options(MYSQL *mysql, enum mysql_option option, const void *arg);
int mysql_options4(MYSQL *mysql, enum mysql_option option, const void *arg1, const void *arg2);
MYSQL *mysql_real_connect(MYSQL *mysql, const char *host, const char *user, const char *passwd,
                          const char *db, unsigned int port, const char *unix_socket,
                          unsigned long clientflag);
void mysql_close(MYSQL *sock);
int mysql_ping(MYSQL *mysql);
int mysql_query(MYSQL *mysql, const char *q);
int mysql_real_query(MYSQL *mysql, const char *q, unsigned long length);
unsigned long mysql_thread_id(MYSQL *mysql);
unsigned int mysql_errno(MYSQL *mysql);
const char *mysql_error(MYSQL *mysql);
const char *mysql_sqlstate(MYSQL *mysql);
#endif

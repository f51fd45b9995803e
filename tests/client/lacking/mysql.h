/* A client library dbfork does not know how to use: ../mysql8/mysql.h
 * without any TLS mode option. Configuring against it must stop, naming it. */
#define STUB_NO_TLS_MODE 1
#include "../mysql8/mysql.h"

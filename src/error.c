/*
 * error.c — dbfork_strerror / dbfork_err_name, generated from the one
 * DBFORK_ERRNO_MAP table in dbfork.h, so names, values and messages cannot
 * drift apart.
 */
#include "dbfork.h"

#include <string.h>

const char *dbfork_version(void) {
#define DBFORK__STR2(x) #x
#define DBFORK__STR(x) DBFORK__STR2(x)
  return DBFORK__STR(DBFORK_VERSION_MAJOR) "." DBFORK__STR(DBFORK_VERSION_MINOR) "." DBFORK__STR(
      DBFORK_VERSION_PATCH);
}

const char *dbfork_strerror(int err) {
  switch (err) {
#define DBFORK__XX(name, val, msg) \
  case DBFORK_##name: return msg;
    DBFORK_ERRNO_MAP(DBFORK__XX)
#undef DBFORK__XX
    case 0: return "success";
    default: break;
  }
  if (err < 0 && err > -4096) return strerror(-err);
  return "unknown error";
}

const char *dbfork_err_name(int err) {
  switch (err) {
#define DBFORK__XX(name, val, msg) \
  case DBFORK_##name: return "DBFORK_" #name;
    DBFORK_ERRNO_MAP(DBFORK__XX)
#undef DBFORK__XX
    case 0: return "DBFORK_OK";
    default: return "DBFORK_UNKNOWN";
  }
}

# ClientFeatures.cmake — what the MySQL client library at hand offers, for
# the few places where MariaDB Connector/C and MySQL's libmysqlclient differ
# (src/mysql.c). Each feature is a compile check against the library's
# headers; each place dbfork needs has one or two ways to do it, and a
# library that offers none of them stops the configure step here, naming
# what is missing, instead of failing in the middle of the build or, worse,
# building something that misbehaves.
#
#   dbfork_client_features(OUT_HEADER INCLUDE_DIRS...)
#
# writes OUT_HEADER with one #define DBFORK_HAVE_* per feature found and
# sets DBFORK_CLIENT_SUMMARY (one line per choice) in the caller's scope.
include(CheckCSourceCompiles)

# One check: does `body` compile as the body of int f(MYSQL *m)? Sets
# HAVE_<name> and appends to _defs, in the caller's scope.
macro(_dbfork_client_check name body)
  check_c_source_compiles("#include <mysql.h>\nint f(MYSQL *m);\nint f(MYSQL *m) { ${body} }"
                          DBFORK_CLIENT_HAVE_${name})
  set(HAVE_${name} ${DBFORK_CLIENT_HAVE_${name}})
  if(HAVE_${name})
    string(APPEND _defs "#define DBFORK_HAVE_${name} 1\n")
  else()
    string(APPEND _defs "/* #undef DBFORK_HAVE_${name} */\n")
  endif()
endmacro()

# One need: the first of the ways (pairs of "FEATURE FEATURE..." and a
# label) whose features were all found is the choice, appended to _summary;
# none is `what`, appended to _missing (both in the caller's scope).
function(_dbfork_client_need what)
  set(_ways ${ARGN})
  list(LENGTH _ways _n)
  math(EXPR _last "${_n} - 1")
  foreach(_i RANGE 0 ${_last} 2)
    math(EXPR _j "${_i} + 1")
    list(GET _ways ${_i} _features)
    list(GET _ways ${_j} _label)
    separate_arguments(_features)
    set(_all TRUE)
    foreach(_f ${_features})
      if(NOT HAVE_${_f})
        set(_all FALSE)
      endif()
    endforeach()
    if(_all)
      list(APPEND _summary "${_label}")
      set(_summary "${_summary}" PARENT_SCOPE)
      return()
    endif()
  endforeach()
  list(APPEND _missing "${what}")
  set(_missing "${_missing}" PARENT_SCOPE)
endfunction()

function(dbfork_client_features out)
  set(CMAKE_REQUIRED_INCLUDES ${ARGN})
  set(CMAKE_REQUIRED_QUIET ON)
  # An undeclared function must fail the check, not compile with a warning.
  set(CMAKE_REQUIRED_FLAGS "-Werror=implicit-function-declaration")
  # Declarations are what matter: compile only, link nothing. (Results are
  # cached, as CMake's checks are: another client library wants a fresh
  # build directory.)
  set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
  set(_defs "")
  _dbfork_client_check(MY_BOOL "my_bool b = 0; (void)m; return (int)b;")
  _dbfork_client_check(MYSQL_OPTIONSV "return mysql_optionsv(m, MYSQL_OPT_CONNECT_TIMEOUT, 0);")
  _dbfork_client_check(MYSQL_OPT_SSL_ENFORCE
                       "return (int)MYSQL_OPT_SSL_ENFORCE + (int)MYSQL_OPT_SSL_VERIFY_SERVER_CERT + (m != 0);")
  _dbfork_client_check(MYSQL_OPT_SSL_MODE
                       "unsigned v = SSL_MODE_DISABLED + SSL_MODE_PREFERRED + SSL_MODE_REQUIRED + SSL_MODE_VERIFY_CA + SSL_MODE_VERIFY_IDENTITY; return mysql_options(m, MYSQL_OPT_SSL_MODE, &v);")
  _dbfork_client_check(MYSQL_SSL_SET "return (int)mysql_ssl_set(m, 0, 0, 0, 0, 0);")
  _dbfork_client_check(MYSQL_OPT_SSL_FILES
                       "return mysql_options(m, MYSQL_OPT_SSL_CA, 0) + mysql_options(m, MYSQL_OPT_SSL_CERT, 0) + mysql_options(m, MYSQL_OPT_SSL_KEY, 0);")
  _dbfork_client_check(MYSQL_GET_SOCKET "return (int)mysql_get_socket(m);")
  _dbfork_client_check(MYSQL_NET_FD "return (int)m->net.fd;")
  _dbfork_client_check(MYSQL_RECONNECT_FIELD "m->reconnect = 0; return 0;")
  _dbfork_client_check(MYSQL_OPT_RECONNECT "return (int)MYSQL_OPT_RECONNECT + (m != 0);")
  _dbfork_client_check(MYSQL_OPTIONS4_ATTRS
                       "return mysql_options4(m, MYSQL_OPT_CONNECT_ATTR_ADD, \"k\", \"v\");")

  set(_missing "")
  set(_summary "")
  _dbfork_client_need("a TLS mode option (MYSQL_OPT_SSL_ENFORCE with my_bool and mysql_optionsv, or MYSQL_OPT_SSL_MODE with SSL_MODE_*)"
    "MYSQL_OPT_SSL_ENFORCE MY_BOOL MYSQL_OPTIONSV"
    "TLS mode: MYSQL_OPT_SSL_ENFORCE + MYSQL_OPT_SSL_VERIFY_SERVER_CERT (my_bool)"
    "MYSQL_OPT_SSL_MODE" "TLS mode: MYSQL_OPT_SSL_MODE")
  _dbfork_client_need("a way to set the TLS CA, certificate and key (mysql_ssl_set or MYSQL_OPT_SSL_CA/CERT/KEY)"
    "MYSQL_SSL_SET" "TLS files: mysql_ssl_set()"
    "MYSQL_OPT_SSL_FILES" "TLS files: MYSQL_OPT_SSL_CA/CERT/KEY")
  _dbfork_client_need("the socket of a MYSQL handle (mysql_get_socket or MYSQL.net.fd)"
    "MYSQL_GET_SOCKET" "socket of a handle: mysql_get_socket()"
    "MYSQL_NET_FD" "socket of a handle: MYSQL.net.fd")
  _dbfork_client_need("a way to turn auto-reconnect off (MYSQL_OPT_RECONNECT with my_bool and mysql_optionsv, or MYSQL.reconnect)"
    "MYSQL_OPT_RECONNECT MY_BOOL MYSQL_OPTIONSV"
    "auto-reconnect off: mysql_optionsv(MYSQL_OPT_RECONNECT, my_bool)"
    "MYSQL_RECONNECT_FIELD" "auto-reconnect off: MYSQL.reconnect = 0")
  _dbfork_client_need("connect attributes (mysql_options4 with MYSQL_OPT_CONNECT_ATTR_ADD)"
    "MYSQL_OPTIONS4_ATTRS" "connect attributes: mysql_options4(MYSQL_OPT_CONNECT_ATTR_ADD)")

  if(_missing)
    string(REPLACE ";" "\n  - " _m "${_missing}")
    message(FATAL_ERROR
            "dbfork: the MySQL client library in ${ARGN} lacks what dbfork needs:\n  - ${_m}\n"
            "Tested: MariaDB Connector/C (Debian 12's default-libmysqlclient-dev); see README.md, "
            "'What was tested'.")
  endif()
  file(CONFIGURE OUTPUT ${out} CONTENT "/* generated by cmake/ClientFeatures.cmake; do not edit */\n${_defs}" @ONLY)
  set(DBFORK_CLIENT_SUMMARY "${_summary}" PARENT_SCOPE)
endfunction()

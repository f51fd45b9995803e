#!/usr/bin/env bash
# tests/server.sh — a throwaway MariaDB for the test suite and the demo.
#
#   tests/server.sh start|stop|restart|status|socket DIR
#
# Everything lives inside DIR: data/ (the data dir), mysql.sock, mysqld.pid,
# error.log, client.cnf (a [client] file with the test account, mode 600) and
# .lock. The system service and the system's option files are never touched
# (--no-defaults everywhere), so this works next to an installed mariadb-server
# whether or not Debian's package started it.
#
# start    initialises DIR/data on first use, starts mariadbd in the background
#          (no TCP, unix socket only), waits until it answers (bounded), then
#          makes sure database dbfork_test and user dbfork@localhost
#          (password dbfork-test-pw, ALL on *.*) exist. A running server: no-op.
#          With DBFORK_SERVER_PORT=N in the environment it also listens on TCP
#          at 127.0.0.1:N (and the user exists @127.0.0.1 too): for the tests
#          and benchmarks that stand in for several hosts. DBFORK_SERVER_PORT
#          =auto picks a free port in 20000-32767. The port is written to
#          DIR/port, and a later start or restart of DIR (with the variable
#          or without it) listens on the same port again.
# stop     clean shutdown (mariadb-admin shutdown as the socket-authenticated
#          admin), waits for the pid to vanish (bounded), SIGKILL as a last
#          resort. Not running: no-op.
# restart  stop, then start on the same data dir.
# status   exit 0 if the server answers, 1 otherwise.
# socket   print the socket path (see below) and exit.
#
# Unix socket paths are limited to 107 bytes. When DIR/mysql.sock would be
# longer than 100 bytes, the socket goes to /tmp/dbfork-<md5(DIR)[0:12]>.sock
# instead; tests/CMakeLists.txt computes the same name.
#
# The server runs with performance_schema on, so that connect attributes
# (program_name, _pid) of every session are visible in
# performance_schema.session_connect_attrs.
set -euo pipefail

DBFORK_USER=dbfork
DBFORK_PASSWORD=dbfork-test-pw
DBFORK_DB=dbfork_test
START_TIMEOUT=${DBFORK_SERVER_START_TIMEOUT:-30}
STOP_TIMEOUT=${DBFORK_SERVER_STOP_TIMEOUT:-30}

die() {
  echo "server.sh: $*" >&2
  exit 1
}

usage() {
  echo "usage: $0 start|stop|restart|status|socket DIR" >&2
  exit 2
}

[ $# -eq 2 ] || usage
VERB=$1
mkdir -p "$2"
DIR=$(cd "$2" && pwd -P)
DATA=$DIR/data
PIDFILE=$DIR/mysqld.pid
ERRLOG=$DIR/error.log
CNF=$DIR/client.cnf
SOCK=$DIR/mysql.sock
if [ ${#SOCK} -gt 100 ]; then
  SOCK=/tmp/dbfork-$(printf %s "$DIR" | md5sum | cut -c1-12).sock
fi

find_bin() {
  local b
  for b in "$@"; do
    if command -v "$b" >/dev/null 2>&1; then
      command -v "$b"
      return 0
    fi
    for d in /usr/sbin /usr/bin /usr/local/sbin /usr/local/bin /usr/libexec; do
      if [ -x "$d/$b" ]; then
        echo "$d/$b"
        return 0
      fi
    done
  done
  return 1
}

MARIADBD=$(find_bin mariadbd mysqld) || die "mariadbd not found (install mariadb-server: scripts/setup-debian.sh)"
INSTALL_DB=$(find_bin mariadb-install-db mysql_install_db) || die "mariadb-install-db not found"
ADMIN=$(find_bin mariadb-admin mysqladmin) || die "mariadb-admin not found (install mariadb-client)"
CLIENT=$(find_bin mariadb mysql) || die "mariadb client not found (install mariadb-client)"

# The admin account: the OS user, authenticated by unix_socket (no password).
OSUSER=$(id -un)

admin() { "$ADMIN" --no-defaults --socket="$SOCK" --user="$OSUSER" --connect-timeout=5 "$@"; }
sql() { "$CLIENT" --no-defaults --socket="$SOCK" --user="$OSUSER" --batch --skip-column-names "$@"; }

# The server's pid if its pid file names a live mariadbd, else nothing.
server_pid() {
  local pid comm
  [ -s "$PIDFILE" ] || return 1
  pid=$(tr -dc 0-9 <"$PIDFILE")
  [ -n "$pid" ] || return 1
  [ -r "/proc/$pid/comm" ] || return 1
  comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
  case "$comm" in
    mariadbd | mysqld) ;;
    *) return 1 ;;
  esac
  # A zombie is not a server.
  [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ] || return 1
  echo "$pid"
}

answers() { admin --silent ping >/dev/null 2>&1; }

log_tail() {
  if [ -f "$ERRLOG" ]; then
    echo "---- last lines of $ERRLOG ----" >&2
    tail -n 25 "$ERRLOG" >&2
    echo "----" >&2
  fi
}

init_datadir() {
  # A data dir without our marker is a half-finished install: start over.
  if [ -d "$DATA" ] && [ ! -f "$DIR/.initialized" ]; then
    rm -rf "$DATA"
  fi
  [ -d "$DATA" ] && return 0
  mkdir -p "$DATA"
  local userarg=()
  [ "$(id -u)" -eq 0 ] && userarg=(--user=root)
  if ! "$INSTALL_DB" --no-defaults "${userarg[@]}" --auth-root-authentication-method=socket \
    --auth-root-socket-user="$OSUSER" --datadir="$DATA" --skip-test-db \
    >"$DIR/install.log" 2>&1 </dev/null; then
    cat "$DIR/install.log" >&2
    rm -rf "$DATA"
    die "mariadb-install-db failed (log above)"
  fi
  touch "$DIR/.initialized"
}

launch() {
  local userarg=()
  [ "$(id -u)" -eq 0 ] && userarg=(--user=root)
  mkdir -p "$DIR/tmp"
  rm -f "$PIDFILE"
  echo "server.sh: $(date '+%F %T') starting mariadbd" >>"$ERRLOG"
  # setsid + all fds redirected: the server must not hold the caller's
  # terminal or pipes open (ctest would wait for them), nor a lock the caller
  # holds on an inherited descriptor (flock FILE cmd), and must not die with
  # the caller's process group.
  local net=(--skip-networking)
  [ -n "$PORT" ] && net=(--port="$PORT" --bind-address=127.0.0.1)
  setsid "$MARIADBD" --no-defaults "${userarg[@]}" \
    --datadir="$DATA" --socket="$SOCK" --pid-file="$PIDFILE" --log-error="$ERRLOG" \
    --tmpdir="$DIR/tmp" "${net[@]}" --skip-name-resolve \
    --innodb-buffer-pool-size=256M --innodb-log-file-size=128M \
    --innodb-flush-log-at-trx-commit=2 --sync-binlog=0 \
    --max-connections=300 --max-allowed-packet=256M \
    --local-infile=1 --secure-file-priv="" \
    --character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci \
    --performance-schema=ON --performance-schema-session-connect-attrs-size=2048 \
    --userstat=1 \
    </dev/null >>"$DIR/mariadbd.out" 2>&1 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
  LAUNCH_PID=$!
}

# True if pid $1 exists and is not a zombie.
alive() { [ -r "/proc/$1/stat" ] && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]; }

# wait_ready, but returns 1 instead of dying when mariadbd exited at start.
wait_ready_or_fail() {
  local deadline=$((SECONDS + START_TIMEOUT))
  while [ $SECONDS -lt $deadline ]; do
    if answers; then return 0; fi
    alive "$LAUNCH_PID" || return 1
    sleep 0.2
  done
  log_tail
  die "mariadbd did not answer on $SOCK within ${START_TIMEOUT}s (see $ERRLOG)"
}

wait_ready() {
  local deadline=$((SECONDS + START_TIMEOUT))
  while [ $SECONDS -lt $deadline ]; do
    if answers; then return 0; fi
    if ! alive "$LAUNCH_PID"; then
      log_tail
      die "mariadbd exited during start-up (see $ERRLOG)"
    fi
    sleep 0.2
  done
  log_tail
  die "mariadbd did not answer on $SOCK within ${START_TIMEOUT}s (see $ERRLOG)"
}

bootstrap() {
  # Idempotent: runs on every start, so a changed password or grant heals.
  sql <<EOF || die "could not create the test database/user"
CREATE DATABASE IF NOT EXISTS \`$DBFORK_DB\`;
CREATE USER IF NOT EXISTS '$DBFORK_USER'@'localhost' IDENTIFIED BY '$DBFORK_PASSWORD';
ALTER USER '$DBFORK_USER'@'localhost' IDENTIFIED BY '$DBFORK_PASSWORD';
GRANT ALL PRIVILEGES ON *.* TO '$DBFORK_USER'@'localhost' WITH GRANT OPTION;
CREATE USER IF NOT EXISTS '$DBFORK_USER'@'127.0.0.1' IDENTIFIED BY '$DBFORK_PASSWORD';
ALTER USER '$DBFORK_USER'@'127.0.0.1' IDENTIFIED BY '$DBFORK_PASSWORD';
GRANT ALL PRIVILEGES ON *.* TO '$DBFORK_USER'@'127.0.0.1' WITH GRANT OPTION;
FLUSH PRIVILEGES;
EOF
  (
    umask 077
    cat >"$CNF.tmp" <<EOF
# Written by tests/server.sh for the throwaway server in this folder.
[client]
user=$DBFORK_USER
password=$DBFORK_PASSWORD
socket=$SOCK

[dbfork]
database=$DBFORK_DB
EOF
    mv "$CNF.tmp" "$CNF"
  )
}

# The TCP port of this start ("" for none): DIR/port of an earlier start,
# else DBFORK_SERVER_PORT (auto: a port nothing on 127.0.0.1 answers on).
PORT=
pick_port() {
  local want=${DBFORK_SERVER_PORT:-} p i
  PORT_PICKED=0
  if [ -s "$DIR/port" ]; then
    PORT=$(cat "$DIR/port")
  elif [ "$want" = auto ]; then
    for i in $(seq 50); do
      p=$((20000 + (RANDOM * 32768 + RANDOM) % 12768))
      if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
        PORT=$p
        PORT_PICKED=1
        break
      fi
    done
    [ -n "$PORT" ] || die "no free TCP port found on 127.0.0.1 in 20000-32767"
  else
    PORT=$want
  fi
  case $PORT in '' | *[!0-9]*) [ -z "$PORT" ] || die "DBFORK_SERVER_PORT=$PORT: not a port number" ;; esac
}

do_start() {
  if server_pid >/dev/null && answers; then
    bootstrap
    echo "server.sh: already running (pid $(server_pid), socket $SOCK)"
    return 0
  fi
  if pid=$(server_pid); then
    # Alive but not answering: maybe still starting (another caller), else wedged.
    local deadline=$((SECONDS + START_TIMEOUT))
    while [ $SECONDS -lt $deadline ] && server_pid >/dev/null && ! answers; do sleep 0.2; done
    if answers; then
      bootstrap
      echo "server.sh: already running (pid $pid, socket $SOCK)"
      return 0
    fi
    echo "server.sh: pid $pid does not answer; stopping it" >&2
    do_stop
  fi
  init_datadir
  pick_port
  launch
  if [ "$PORT_PICKED" = 1 ]; then
    if ! wait_ready_or_fail; then
      # auto: another program took the port between the check and the bind
      echo "server.sh: mariadbd exited at start on port $PORT; trying another port" >&2
      PORT=
      DBFORK_SERVER_PORT=auto pick_port
      launch
      wait_ready
    fi
  else
    wait_ready
  fi
  [ -z "$PORT" ] || echo "$PORT" >"$DIR/port"
  bootstrap
  echo "server.sh: started (pid $(server_pid), socket $SOCK${PORT:+, 127.0.0.1:$PORT}, data $DATA)"
}

do_stop() {
  local pid deadline
  if ! pid=$(server_pid); then
    rm -f "$PIDFILE"
    echo "server.sh: not running"
    return 0
  fi
  timeout 15 "$ADMIN" --no-defaults --socket="$SOCK" --user="$OSUSER" --connect-timeout=5 \
    shutdown >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + STOP_TIMEOUT))
  while [ $SECONDS -lt $deadline ] && [ -d "/proc/$pid" ] && server_pid >/dev/null; do
    sleep 0.1
  done
  if server_pid >/dev/null; then
    echo "server.sh: pid $pid still alive after ${STOP_TIMEOUT}s; SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
    deadline=$((SECONDS + 10))
    while [ $SECONDS -lt $deadline ] && server_pid >/dev/null; do sleep 0.1; done
  fi
  rm -f "$PIDFILE"
  echo "server.sh: stopped"
}

case "$VERB" in
  socket)
    echo "$SOCK"
    exit 0
    ;;
  status)
    if server_pid >/dev/null && answers; then
      echo "server.sh: running (pid $(server_pid), socket $SOCK)"
      exit 0
    fi
    echo "server.sh: not running"
    exit 1
    ;;
  start | stop | restart) ;;
  *) usage ;;
esac

# One verb at a time per DIR (ctest, a fault test and the demo may race).
exec 9>"$DIR/.lock"
flock -w $((START_TIMEOUT + STOP_TIMEOUT + 30)) 9 || die "timed out waiting for $DIR/.lock"

case "$VERB" in
  start) do_start ;;
  stop) do_stop ;;
  restart)
    do_stop
    do_start
    ;;
esac

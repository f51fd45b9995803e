#!/usr/bin/env bash
# tests/exec/replica_pair.sh — a throwaway primary and replica for the
# replica-lag tests of `dbfork exec` (test_exec_replica.c).
#
#   replica_pair.sh start DIR PRIMARY_PORT REPLICA_PORT
#   replica_pair.sh stop DIR
#
# start: two mariadbd in DIR/primary and DIR/replica, each on its own unix
# socket and on TCP bound to 127.0.0.1 at the given port (the normal test
# server runs with --skip-networking; a replica DSN is host:port), the
# primary with the binary log, the replica replicating from it (CHANGE
# MASTER TO over TCP, GTID off, START SLAVE). The data dirs are copied from
# a template made once by mariadb-install-db in DIR/template. User dbfork
# (password dbfork-test-pw, ALL) on both, from localhost and 127.0.0.1.
# Any failure: a message on stderr naming the step and exit 1, never a skip.
# stop: clean shutdown of both, SIGKILL after 20 s. Not running: no-op.
set -euo pipefail

USER_=dbfork
PW=dbfork-test-pw

die() {
  echo "replica_pair.sh: $*" >&2
  exit 1
}

[ $# -ge 2 ] || die "usage: $0 start DIR PRIMARY_PORT REPLICA_PORT | stop DIR"
VERB=$1
mkdir -p "$2"
DIR=$(cd "$2" && pwd -P)
MARIADBD=/usr/sbin/mariadbd
INSTALL_DB=$(command -v mariadb-install-db || echo /usr/bin/mariadb-install-db)
CLIENT=$(command -v mariadb || echo /usr/bin/mariadb)
[ -x "$MARIADBD" ] || die "$MARIADBD not found (install mariadb-server)"
[ -x "$INSTALL_DB" ] || die "mariadb-install-db not found (install mariadb-server)"
OSUSER=$(id -un)
userarg=()
[ "$(id -u)" -eq 0 ] && userarg=(--user=root)

# Unix socket paths are limited to 107 bytes: a long DIR puts them in /tmp.
sock() {
  local s=$DIR/$1/s.sock
  [ ${#s} -le 100 ] || s=/tmp/dbfork-rp-$(printf %s "$DIR" | md5sum | cut -c1-12)-$1.sock
  echo "$s"
}
sql() {
  local who=$1
  shift
  "$CLIENT" --no-defaults --socket="$(sock "$who")" --user="$OSUSER" --batch \
    --skip-column-names "$@"
}

server_pid() {
  local f=$DIR/$1/pid pid
  [ -s "$f" ] || return 1
  pid=$(tr -dc 0-9 <"$f")
  [ -n "$pid" ] && [ -r "/proc/$pid/stat" ] &&
    [ "$(awk '{print $3}' "/proc/$pid/stat")" != Z ] || return 1
  echo "$pid"
}

template() {
  [ -f "$DIR/template/.done" ] && return 0
  rm -rf "$DIR/template"
  mkdir -p "$DIR/template"
  "$INSTALL_DB" --no-defaults "${userarg[@]}" --auth-root-authentication-method=socket \
    --auth-root-socket-user="$OSUSER" --datadir="$DIR/template/data" --skip-test-db \
    --innodb-log-file-size=16M >"$DIR/template/install.log" 2>&1 </dev/null ||
    {
      cat "$DIR/template/install.log" >&2
      die "mariadb-install-db failed (log above)"
    }
  touch "$DIR/template/.done"
}

launch() { # name port server_id extra...
  local name=$1 port=$2 id=$3
  shift 3
  rm -rf "${DIR:?}/$name"
  mkdir -p "$DIR/$name/tmp"
  cp -a "$DIR/template/data" "$DIR/$name/data"
  setsid "$MARIADBD" --no-defaults "${userarg[@]}" --datadir="$DIR/$name/data" \
    --socket="$(sock "$name")" --pid-file="$DIR/$name/pid" --log-error="$DIR/$name/error.log" \
    --tmpdir="$DIR/$name/tmp" --port="$port" --bind-address=127.0.0.1 --skip-name-resolve \
    --server-id="$id" --innodb-buffer-pool-size=64M --innodb-log-file-size=16M \
    --innodb-flush-log-at-trx-commit=2 --sync-binlog=0 --performance-schema=OFF \
    --character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci "$@" \
    </dev/null >>"$DIR/$name/mariadbd.out" 2>&1 &
}

wait_ready() {
  local name=$1 i
  for i in $(seq 1 150); do
    if sql "$name" -e "SELECT 1" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  tail -n 20 "$DIR/$name/error.log" >&2 || true
  die "$name did not answer on $(sock "$name") within 30 s"
}

users() {
  sql "$1" <<SQL || die "creating user $USER_ on $1 failed"
SET sql_log_bin = 0;
CREATE USER IF NOT EXISTS '$USER_'@'localhost' IDENTIFIED BY '$PW';
CREATE USER IF NOT EXISTS '$USER_'@'127.0.0.1' IDENTIFIED BY '$PW';
GRANT ALL PRIVILEGES ON *.* TO '$USER_'@'localhost';
GRANT ALL PRIVILEGES ON *.* TO '$USER_'@'127.0.0.1';
SQL
}

stop_one() {
  local pid i
  pid=$(server_pid "$1") || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 100); do
    server_pid "$1" >/dev/null || return 0
    sleep 0.2
  done
  kill -KILL "$pid" 2>/dev/null || true
}

case $VERB in
  start)
    [ $# -eq 4 ] || die "usage: $0 start DIR PRIMARY_PORT REPLICA_PORT"
    PP=$3
    RP=$4
    stop_one replica
    stop_one primary
    template
    launch primary "$PP" 1 --log-bin=primary-bin --binlog-format=ROW
    launch replica "$RP" 2 --relay-log=replica-relay
    wait_ready primary
    wait_ready replica
    users primary
    users replica
    sql replica <<SQL || die "CHANGE MASTER TO on the replica failed"
CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=$PP, MASTER_USER='$USER_',
  MASTER_PASSWORD='$PW', MASTER_USE_GTID=no;
START SLAVE;
SQL
    for i in $(seq 1 100); do
      st=$(sql replica --column-names -e "SHOW SLAVE STATUS\\G" 2>/dev/null | awk '/Slave_IO_Running:|Slave_SQL_Running:/ {print $2}' | tr '\n' ' ')
      [ "$st" = "Yes Yes " ] && break
      sleep 0.2
    done
    [ "$st" = "Yes Yes " ] || {
      sql replica --column-names -e "SHOW SLAVE STATUS\\G" >&2 || true
      die "replication did not start (Slave_IO_Running, Slave_SQL_Running: $st)"
    }
    ;;
  stop)
    stop_one replica
    stop_one primary
    ;;
  *) die "unknown verb $VERB" ;;
esac

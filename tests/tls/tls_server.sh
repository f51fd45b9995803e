#!/usr/bin/env bash
# tests/tls/tls_server.sh — a throwaway MariaDB with TLS for tests/tls.
#
#   tests/tls/tls_server.sh start|stop|status DIR
#
# start  1. certs/ (once): a throwaway CA (ca.pem), a server certificate
#           signed by it (server.pem/server-key.pem, CN=localhost, SAN
#           DNS:localhost + IP:127.0.0.1), a client certificate (client.pem,
#           client-key.pem) and an unrelated "wrong" CA (wrong-ca.pem) that
#           signed nothing the server has. RSA 2048, SHA-256, 2 days.
#        2. a data dir of its own (DIR/data), never the test suite's main server.
#        3. mariadbd on 127.0.0.1:PORT and 127.0.0.2:PORT (a free port, written
#           to DIR/port; 127.0.0.2 is a name the certificate does not hold, for
#           the negative VERIFY_IDENTITY test) and DIR/mysql.sock, with ssl-ca/ssl-cert/ssl-key and
#           require_secure_transport=ON (a TCP client without TLS is refused;
#           the unix socket counts as secure).
#        4. user dbfork_tls@'127.0.0.%' and @localhost (password in DIR/password,
#           REQUIRE SSL), user dbfork_x509@'127.0.0.%' (password x509-pw, REQUIRE
#           X509: a client certificate signed by the CA), database dbfork_tls.
#        DIR/env has the values for the tests (sourced by nothing; for humans).
# stop   clean shutdown; no-op when not running.
#
# Everything uses --no-defaults; the system's MariaDB service is never touched.
set -euo pipefail

USER_NAME=dbfork_tls
PASSWORD=dbfork-tls-pw
DB=dbfork_tls
START_TIMEOUT=${DBFORK_SERVER_START_TIMEOUT:-60}

die() {
  echo "tls_server.sh: $*" >&2
  exit 1
}
[ $# -eq 2 ] || die "usage: $0 start|stop|status DIR"
VERB=$1
mkdir -p "$2"
DIR=$(cd "$2" && pwd -P)
CERTS=$DIR/certs
DATA=$DIR/data
PIDFILE=$DIR/mysqld.pid
ERRLOG=$DIR/error.log
SOCK=$DIR/mysql.sock
if [ ${#SOCK} -gt 100 ]; then
  SOCK=/tmp/dbfork-tls-$(printf %s "$DIR" | md5sum | cut -c1-12).sock
fi

find_bin() {
  local b d
  for b in "$@"; do
    command -v "$b" 2>/dev/null && return 0
    for d in /usr/sbin /usr/bin /usr/local/sbin /usr/local/bin; do
      [ -x "$d/$b" ] && { echo "$d/$b"; return 0; }
    done
  done
  return 1
}
MARIADBD=$(find_bin mariadbd mysqld) || die "mariadbd not found"
INSTALL_DB=$(find_bin mariadb-install-db mysql_install_db) || die "mariadb-install-db not found"
ADMIN=$(find_bin mariadb-admin mysqladmin) || die "mariadb-admin not found"
CLIENT=$(find_bin mariadb mysql) || die "mariadb client not found"
OPENSSL=$(find_bin openssl) || die "openssl not found"
OSUSER=$(id -un)

admin() { "$ADMIN" --no-defaults --socket="$SOCK" --user="$OSUSER" --connect-timeout=5 "$@"; }
sql() { "$CLIENT" --no-defaults --socket="$SOCK" --user="$OSUSER" --batch --skip-column-names "$@"; }
answers() { admin --silent ping >/dev/null 2>&1; }
server_pid() {
  local pid
  [ -s "$PIDFILE" ] || return 1
  pid=$(tr -dc 0-9 <"$PIDFILE")
  [ -n "$pid" ] && [ -r "/proc/$pid/comm" ] || return 1
  case "$(cat "/proc/$pid/comm")" in mariadbd | mysqld) echo "$pid" ;; *) return 1 ;; esac
}

make_certs() {
  [ -f "$CERTS/.done" ] && return 0
  rm -rf "$CERTS"
  mkdir -p "$CERTS"
  (
    cd "$CERTS"
    umask 077
    local o=("$OPENSSL")
    # The CA that signs the server's and the client's certificates.
    "${o[@]}" req -x509 -newkey rsa:2048 -nodes -sha256 -days 2 -subj "/CN=dbfork test CA" \
      -keyout ca-key.pem -out ca.pem
    # The server: CN=localhost, SAN localhost and 127.0.0.1 (VERIFY_IDENTITY
    # checks the name the client connected to against these).
    printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=digitalSignature,keyEncipherment" \
      "extendedKeyUsage=serverAuth" "subjectAltName=DNS:localhost,IP:127.0.0.1" >server.ext
    "${o[@]}" req -newkey rsa:2048 -nodes -sha256 -subj "/CN=localhost" \
      -keyout server-key.pem -out server.csr
    "${o[@]}" x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 \
      -sha256 -extfile server.ext -out server.pem
    printf '%s\n' "basicConstraints=CA:FALSE" "extendedKeyUsage=clientAuth" >client.ext
    "${o[@]}" req -newkey rsa:2048 -nodes -sha256 -subj "/CN=dbfork test client" \
      -keyout client-key.pem -out client.csr
    "${o[@]}" x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 \
      -sha256 -extfile client.ext -out client.pem
    # A CA that signed nothing here: verifying the server against it must fail.
    "${o[@]}" req -x509 -newkey rsa:2048 -nodes -sha256 -days 2 -subj "/CN=wrong CA" \
      -keyout wrong-ca-key.pem -out wrong-ca.pem
    "${o[@]}" verify -CAfile ca.pem server.pem >/dev/null
    chmod 644 ca.pem wrong-ca.pem server.pem client.pem
    chmod 600 ./*-key.pem
    rm -f ./*.csr ./*.ext ./*.srl
    touch .done
  ) >"$DIR/certs.log" 2>&1 || {
    cat "$DIR/certs.log" >&2
    die "certificate generation failed"
  }
}

# A TCP port nobody listens on (IPv4 or IPv6), from a range clear of the
# usual services; the server's own bind failure is the final check.
free_port() {
  local p used
  used=$(awk 'NR > 1 && $4 == "0A" {split($2, a, ":"); print strtonum("0x" a[2])}' \
    /proc/net/tcp /proc/net/tcp6 2>/dev/null | sort -u)
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 20000))
    grep -qx "$p" <<<"$used" || { echo "$p"; return 0; }
  done
  return 1
}

do_start() {
  if server_pid >/dev/null && answers; then
    echo "tls_server.sh: already running (port $(cat "$DIR/port"))"
    return 0
  fi
  make_certs
  if [ ! -f "$DIR/.initialized" ]; then
    rm -rf "$DATA"
    mkdir -p "$DATA"
    local userarg=()
    [ "$(id -u)" -eq 0 ] && userarg=(--user=root)
    "$INSTALL_DB" --no-defaults "${userarg[@]}" --auth-root-authentication-method=socket \
      --auth-root-socket-user="$OSUSER" --datadir="$DATA" --skip-test-db \
      >"$DIR/install.log" 2>&1 </dev/null || { cat "$DIR/install.log" >&2; die "install-db failed"; }
    touch "$DIR/.initialized"
  fi
  local attempt port pid
  for attempt in 1 2 3; do
    port=$(free_port) || die "no free TCP port"
    local userarg=()
    [ "$(id -u)" -eq 0 ] && userarg=(--user=root)
    mkdir -p "$DIR/tmp"
    rm -f "$PIDFILE"
    setsid "$MARIADBD" --no-defaults "${userarg[@]}" \
      --datadir="$DATA" --socket="$SOCK" --pid-file="$PIDFILE" --log-error="$ERRLOG" \
      --tmpdir="$DIR/tmp" --bind-address=127.0.0.1,127.0.0.2 --port="$port" --skip-name-resolve \
      --ssl-ca="$CERTS/ca.pem" --ssl-cert="$CERTS/server.pem" --ssl-key="$CERTS/server-key.pem" \
      --require-secure-transport=ON \
      --innodb-buffer-pool-size=64M --innodb-log-file-size=48M \
      --innodb-flush-log-at-trx-commit=2 --max-connections=100 \
      --performance-schema=ON --performance-schema-session-connect-attrs-size=1024 \
      </dev/null >>"$DIR/mariadbd.out" 2>&1 9>&- &
    pid=$!
    local deadline=$((SECONDS + START_TIMEOUT))
    while [ $SECONDS -lt $deadline ] && ! answers; do
      [ -d "/proc/$pid" ] || break
      sleep 0.2
    done
    if answers; then
      echo "$port" >"$DIR/port"
      break
    fi
    # Lost the race for the port (or another failure): look at the log.
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    grep -q "Address already in use\|Can't start server: Bind" "$ERRLOG" 2>/dev/null ||
      { tail -n 25 "$ERRLOG" >&2; die "mariadbd did not start (see $ERRLOG)"; }
    [ "$attempt" -lt 3 ] || die "mariadbd could not bind a port (see $ERRLOG)"
  done
  sql <<EOF || die "could not create the TLS test user/database"
CREATE DATABASE IF NOT EXISTS \`$DB\`;
CREATE USER IF NOT EXISTS '$USER_NAME'@'127.0.0.%' IDENTIFIED BY '$PASSWORD' REQUIRE SSL;
CREATE USER IF NOT EXISTS '$USER_NAME'@'localhost' IDENTIFIED BY '$PASSWORD' REQUIRE SSL;
GRANT ALL PRIVILEGES ON *.* TO '$USER_NAME'@'127.0.0.%';
GRANT ALL PRIVILEGES ON *.* TO '$USER_NAME'@'localhost';
CREATE USER IF NOT EXISTS 'dbfork_x509'@'127.0.0.%' IDENTIFIED BY 'x509-pw' REQUIRE X509;
GRANT ALL PRIVILEGES ON \`$DB\`.* TO 'dbfork_x509'@'127.0.0.%';
FLUSH PRIVILEGES;
EOF
  [ "$(sql -e "SELECT @@have_ssl")" = YES ] || die "the server has no TLS (have_ssl != YES)"
  printf '%s\n' "$PASSWORD" >"$DIR/password"
  cat >"$DIR/env" <<EOF
DBFORK_TLS_HOST=127.0.0.1
DBFORK_TLS_PORT=$(cat "$DIR/port")
DBFORK_TLS_SOCKET=$SOCK
DBFORK_TLS_USER=$USER_NAME
DBFORK_TLS_PASSWORD=$PASSWORD
DBFORK_TLS_DB=$DB
DBFORK_TLS_CA=$CERTS/ca.pem
DBFORK_TLS_WRONG_CA=$CERTS/wrong-ca.pem
DBFORK_TLS_CLIENT_CERT=$CERTS/client.pem
DBFORK_TLS_CLIENT_KEY=$CERTS/client-key.pem
EOF
  echo "tls_server.sh: started (pid $(server_pid), 127.0.0.1:$(cat "$DIR/port"), socket $SOCK)"
}

do_stop() {
  local pid deadline
  pid=$(server_pid) || { echo "tls_server.sh: not running"; return 0; }
  timeout 15 "$ADMIN" --no-defaults --socket="$SOCK" --user="$OSUSER" shutdown >/dev/null 2>&1 ||
    kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + 30))
  while [ $SECONDS -lt $deadline ] && server_pid >/dev/null; do sleep 0.1; done
  if server_pid >/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  rm -f "$PIDFILE"
  echo "tls_server.sh: stopped"
}

exec 9>"$DIR/.lock"
flock -w 120 9 || die "timed out waiting for $DIR/.lock"
case "$VERB" in
  start) do_start ;;
  stop) do_stop ;;
  status) server_pid >/dev/null && answers ;;
  *) die "usage: $0 start|stop|status DIR" ;;
esac

#!/usr/bin/env bash
# Run the specadmin test suite against real services (fresh-machine command 2).
#
#   bash scripts/test.sh [pytest args...]
#
# Installs apt packages and the venv (scripts/setup.sh), starts a private
# PostgreSQL cluster on 127.0.0.1, a private MariaDB server on 127.0.0.1 (the
# MySQL source of tests/test_pulls.py) and redis-server on 127.0.0.1:6379
# (reusing them when already running), exports SPECADMIN_TEST_* and runs pytest.
# Any service that cannot be started is a hard failure, never a skip.
set -euo pipefail
# shellcheck source=scripts/setup.sh
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$SPECADMIN_ROOT"

specadmin_setup postgresql mariadb-server redis-server chromium fonts-wqy-zenhei

PG_BASE="${SPECADMIN_PG_DIR:-/var/tmp/specadmin-pg}"   # socket dir + log
TEST_DB="specadmin_test_$$"                             # this run's own database
# A run's own Redis database too (CI: 0), so concurrent Celery tests do not share queues.
REDIS_DB="${SPECADMIN_TEST_REDIS_DB:-$([ "${CI:-}" = true ] && echo 0 || echo $(( $$ % 15 + 1 )))}"
PG_DATA="$PG_BASE/data"                                 # our own initdb cluster
# shellcheck disable=SC2012  # version dirs are plain numbers
PG_BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)"
[ -x "$PG_BIN/initdb" ] || die "PostgreSQL server binaries not found under /usr/lib/postgresql"

# The cluster belongs to the postgres OS user (the server refuses to run as root).
as_pg() {
    if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@")
    else "$@"; fi
}
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start_postgres() {
    mkdir -p "$PG_BASE"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$PG_BASE"
    chmod 700 "$PG_BASE"
    # A data dir from another major version (or half-initialised) is rebuilt.
    if [ -e "$PG_DATA" ] && [ "$(cat "$PG_DATA/PG_VERSION" 2>/dev/null)" != "$(basename "$(dirname "$PG_BIN")")" ]; then
        log "discarding incompatible cluster in $PG_DATA"
        as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate stop >/dev/null 2>&1 || true
        rm -rf "$PG_DATA"
    fi
    if [ ! -e "$PG_DATA" ]; then
        log "initdb $PG_DATA"
        as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U postgres -E UTF8 --no-locale \
            --auth-local=trust --auth-host=scram-sha-256 >"$PG_BASE/initdb.log" 2>&1 \
            || { cat "$PG_BASE/initdb.log" >&2; die "initdb failed"; }
        # Local socket lives in the 0700 $PG_BASE, so trust there is safe.
        # Durability is pointless for a throw-away test cluster: trade it for speed.
        cat >>"$PG_DATA/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$PG_BASE'
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
    fi
    PG_PORT=""
    if as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; then
        # "running" may also be a just-killed postmaster not yet reaped, so
        # only reuse a server that actually answers on TCP.
        local pid port st _
        pid="$(sed -n 1p "$PG_DATA/postmaster.pid")"; port="$(sed -n 4p "$PG_DATA/postmaster.pid")"
        for _ in $(seq 10); do
            "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -t 2 && { PG_PORT=$port; break; }
            st=Z; read -r _ _ st _ 2>/dev/null <"/proc/$pid/stat" || true
            [ "$st" = Z ] && break          # gone or zombie: no point waiting
            sleep 1
        done
        if [ -n "$PG_PORT" ]; then log "reusing PostgreSQL on 127.0.0.1:$PG_PORT"
        else
            log "PostgreSQL in $PG_DATA is not answering; restarting it"
            as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate -t 10 stop >/dev/null 2>&1 9>&- || true
        fi
    fi
    if [ -z "$PG_PORT" ]; then
        for p in 5432 5433 5434 5435 5436 5437 5438 5439 55432; do
            port_busy "$p" || { PG_PORT=$p; break; }
        done
        [ -n "$PG_PORT" ] || die "no free port for PostgreSQL"
        log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
        # 9>&- : the daemon must not inherit (and hold forever) our lock fd.
        as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_BASE/server.log" -w -t 60 \
            -o "-p $PG_PORT" start >/dev/null 9>&- \
            || { tail -n 30 "$PG_BASE/server.log" >&2; die "PostgreSQL did not start"; }
    fi
    psql_su() { as_pg "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_BASE" -p "$PG_PORT" -U postgres -d postgres "$@"; }
    psql_su -c "DO \$\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'specadmin')
                THEN CREATE ROLE specadmin; END IF; END \$\$;
                ALTER ROLE specadmin LOGIN CREATEDB PASSWORD 'specadmin';" || die "creating role failed"
    # Every run gets a database of its own, dropped when the run ends, so that concurrent
    # runs on one machine (developers, helpers, CI) never reset each other's schema.
    PGOPTIONS="-c client_min_messages=warning" psql_su -c "DROP DATABASE IF EXISTS $TEST_DB WITH (FORCE);" \
        || die "dropping database failed"
    psql_su -c "CREATE DATABASE $TEST_DB OWNER specadmin;" || die "creating database failed"
    # Prove the exact URL the tests get works: TCP + password auth.
    PGPASSWORD=specadmin "$PG_BIN/psql" -X -q -tA -h 127.0.0.1 -p "$PG_PORT" -U specadmin \
        -d "$TEST_DB" -c 'select 1' >/dev/null || die "cannot log in to $TEST_DB over TCP"
}

# MariaDB: our own data dir (mariadb-install-db) and socket in the 0700 $MY_BASE, TCP on 127.0.0.1 only.
MY_BASE="${SPECADMIN_MYSQL_DIR:-/var/tmp/specadmin-mysql}"
MY_DATA="$MY_BASE/data"
as_my() {
    if [ "$(id -u)" = 0 ]; then (cd / && runuser -u mysql -- "$@")
    else "$@"; fi
}
my_su() { mariadb --no-defaults -S "$MY_BASE/mysqld.sock" -u "$([ "$(id -u)" = 0 ] && echo root || id -un)" "$@"; }
my_up() { [ -S "$MY_BASE/mysqld.sock" ] && mariadb-admin --no-defaults -S "$MY_BASE/mysqld.sock" \
              -u "$([ "$(id -u)" = 0 ] && echo root || id -un)" --connect-timeout=2 ping >/dev/null 2>&1; }
start_mariadb() {
    mkdir -p "$MY_BASE"
    [ "$(id -u)" = 0 ] && chown mysql:mysql "$MY_BASE"
    chmod 700 "$MY_BASE"
    if [ ! -d "$MY_DATA/mysql" ]; then
        log "mariadb-install-db $MY_DATA"
        rm -rf "$MY_DATA"
        as_my mariadb-install-db --no-defaults --datadir="$MY_DATA" --skip-test-db \
            --auth-root-authentication-method=socket >"$MY_BASE/install.log" 2>&1 \
            || { cat "$MY_BASE/install.log" >&2; die "mariadb-install-db failed"; }
    fi
    MY_PORT=""
    if my_up && [ -s "$MY_BASE/port" ]; then
        MY_PORT="$(cat "$MY_BASE/port")"; log "reusing MariaDB on 127.0.0.1:$MY_PORT"
    else
        [ -s "$MY_BASE/mysqld.pid" ] && kill "$(cat "$MY_BASE/mysqld.pid")" 2>/dev/null && sleep 1
        for p in 3306 3307 3308 3309 33306; do port_busy "$p" || { MY_PORT=$p; break; }; done
        [ -n "$MY_PORT" ] || die "no free port for MariaDB"
        log "starting MariaDB on 127.0.0.1:$MY_PORT"
        # A throw-away test server: small buffers, no durability, no name lookups.
        as_my setsid mariadbd --no-defaults --datadir="$MY_DATA" --socket="$MY_BASE/mysqld.sock" \
            --pid-file="$MY_BASE/mysqld.pid" --log-error="$MY_BASE/server.log" --port="$MY_PORT" \
            --bind-address=127.0.0.1 --skip-name-resolve --innodb-buffer-pool-size=32M \
            --innodb-flush-log-at-trx-commit=0 --character-set-server=utf8mb4 \
            --collation-server=utf8mb4_unicode_ci </dev/null >/dev/null 2>&1 9>&- &
        for _ in $(seq 60); do my_up && break; sleep 0.5; done
        my_up || { tail -n 30 "$MY_BASE/server.log" >&2; die "MariaDB did not start"; }
        echo "$MY_PORT" >"$MY_BASE/port"
    fi
    my_su -e "CREATE USER IF NOT EXISTS 'specadmin'@'127.0.0.1' IDENTIFIED BY 'specadmin';
              GRANT ALL ON \`specadmin\\_test\\_%\`.* TO 'specadmin'@'127.0.0.1';
              DROP DATABASE IF EXISTS $TEST_DB; CREATE DATABASE $TEST_DB;" || die "creating the MariaDB database failed"
    # Prove the exact URL the tests get works: TCP + password auth.
    mariadb --no-defaults -h 127.0.0.1 -P "$MY_PORT" -u specadmin -pspecadmin "$TEST_DB" -e 'select 1' >/dev/null \
        || die "cannot log in to MariaDB $TEST_DB over TCP"
}

redis_up() { [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = PONG ]; }
start_redis() {
    if redis_up; then log "reusing redis on 127.0.0.1:6379"; return 0; fi
    # A redis that is starting up or dying may hold the port for a moment.
    for _ in $(seq 25); do port_busy 6379 || break; redis_up && return 0; sleep 0.2; done
    port_busy 6379 && die "127.0.0.1:6379 is in use but does not answer redis PING"
    log "starting redis on 127.0.0.1:6379"
    redis-server --bind 127.0.0.1 --port 6379 --daemonize yes --save '' --appendonly no \
        --dir /var/tmp --logfile /var/tmp/specadmin-redis.log 9>&- || die "redis-server failed"
    for _ in $(seq 50); do redis_up && return 0; sleep 0.2; done
    tail -n 20 /var/tmp/specadmin-redis.log >&2
    die "redis did not answer PING within 10 s"
}

# Serialise service start-up between concurrent runs on this machine.
exec 9>/var/tmp/specadmin-services.lock
flock -w 300 9 || die "timed out waiting for the services lock"
start_postgres
start_mariadb
start_redis
exec 9>&-

export SPECADMIN_TEST_DATABASE_URL="postgresql://specadmin:specadmin@127.0.0.1:$PG_PORT/$TEST_DB"
export SPECADMIN_TEST_MYSQL_URL="mysql://specadmin:specadmin@127.0.0.1:$MY_PORT/$TEST_DB"
export SPECADMIN_TEST_REDIS_URL="redis://127.0.0.1:6379/$REDIS_DB"
export SPECADMIN_CHROMIUM="${SPECADMIN_CHROMIUM:-/usr/bin/chromium}"
[ -x "$SPECADMIN_CHROMIUM" ] || die "Chromium not found at $SPECADMIN_CHROMIUM"
log "DB=$SPECADMIN_TEST_DATABASE_URL MYSQL=$SPECADMIN_TEST_MYSQL_URL REDIS=$SPECADMIN_TEST_REDIS_URL CHROMIUM=$SPECADMIN_CHROMIUM"

drop_test_db() {
    as_pg "$PG_BIN/psql" -X -q -h "$PG_BASE" -p "$PG_PORT" -U postgres -d postgres \
        -c "DROP DATABASE IF EXISTS $TEST_DB WITH (FORCE);" >/dev/null 2>&1 || true
    my_su -e "DROP DATABASE IF EXISTS $TEST_DB;" >/dev/null 2>&1 || true
}
trap drop_test_db EXIT

rc=0
"$SPECADMIN_VENV/bin/python" -m pytest -p no:cacheprovider "$@" || rc=$?
if [ "$rc" = 5 ]; then
    die "pytest collected no tests (exit 5): treating as failure"
fi
exit "$rc"

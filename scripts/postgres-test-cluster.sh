#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests, entirely inside one folder.
#
#   scripts/postgres-test-cluster.sh start DIR   initialises DIR/data (first time), starts the server on a
#                                                free loopback port, waits until it accepts connections and
#                                                prints postgres://postgres@127.0.0.1:PORT/postgres on stdout
#   scripts/postgres-test-cluster.sh stop DIR    stops it (fast shutdown) and waits until it is gone;
#                                                a later `start DIR` reuses the data and, if free, the port
#
# Trust authentication, loopback only, its unix socket in DIR, fsync off, TLS on with a self-signed
# certificate (DIR/server.crt) when openssl is installed: for tests, never for data you keep. Only the
# cluster in DIR is touched (pg_ctl -D DIR/data; no pg_ctlcluster, no system socket dir).
# Run as root, the server runs as the `postgres` user (initdb refuses root); run as anyone else, it runs
# as that user. Binaries: $PG_BINDIR, else /usr/lib/postgresql/15/bin, else `pg_config --bindir`, else
# the newest /usr/lib/postgresql/*/bin. Diagnostics go to stderr, the server log to DIR/server.log.
# With POSTGRES_TEST_CLUSTER_OWNER=PID, `start` also leaves a watcher that stops the cluster when that
# process exits (for test runners that may be killed before they can stop it).
set -euo pipefail

usage() {
    echo "usage: $0 start|stop DIR" >&2
    exit 64
}

fail() {
    echo "postgres-test-cluster: $*" >&2
    exit 1
}

[[ $# -eq 2 ]] || usage
command=$1
dir=$2
# The path goes into postgres' own option string, which splits on spaces.
[[ $dir != *[[:space:]]* ]] || fail "DIR must not contain spaces: $dir"

bindir() {
    local candidate
    for candidate in "${PG_BINDIR:-}" /usr/lib/postgresql/15/bin "$(pg_config --bindir 2>/dev/null || true)" \
        $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [[ -n $candidate && -x $candidate/initdb && -x $candidate/pg_ctl ]]; then
            echo "$candidate"
            return
        fi
    done
    fail "no PostgreSQL server binaries (initdb, pg_ctl) found; install the 'postgresql' package (apt-get install -y postgresql) or set PG_BINDIR"
}

# Runs a command as the cluster's owner.
as_owner() {
    if [[ $(id -u) -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# Runs a command with no file descriptor above 2: the server outlives this script, and must not
# hold on to a pipe its caller is reading to the end (command substitution, subprocess pipes).
without_inherited_fds() {
    (
        for fd in /proc/self/fd/*; do
            fd=${fd##*/}
            if [[ $fd -gt 2 ]]; then eval "exec $fd>&-" 2>/dev/null || true; fi
        done
        "$@"
    )
}

free_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
    else
        # No python: a random high port; `start` retries if it turns out to be taken.
        echo $((20000 + RANDOM % 40000))
    fi
}

# With POSTGRES_TEST_CLUSTER_OWNER=PID, a detached watcher stops the cluster once that process is
# gone, so a test run that is killed (and cannot run its own cleanup) leaves no server behind.
watch_owner() {
    local owner=${POSTGRES_TEST_CLUSTER_OWNER:-}
    [[ -n $owner ]] || return 0
    [[ $owner =~ ^[0-9]+$ ]] || fail "POSTGRES_TEST_CLUSTER_OWNER must be a process id"
    local self
    self="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
    # setsid -f: detached at once, so no process of this script's lingers holding its caller's pipes.
    without_inherited_fds setsid -f bash -c '
        while kill -0 "$1" 2>/dev/null; do sleep 1; done
        [[ -d $3/data ]] && POSTGRES_TEST_CLUSTER_OWNER= "$2" stop "$3"' \
        watcher "$owner" "$self" "$dir" </dev/null >/dev/null 2>&1
}

start() {
    local pg port attempt url
    pg=$(bindir)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if [[ $(id -u) -eq 0 ]]; then
        id postgres >/dev/null 2>&1 || fail "no 'postgres' user to run the server as (the postgresql package creates it)"
        chown postgres: "$dir"
        chmod 700 "$dir"
        runuser -u postgres -- test -w "$dir" ||
            fail "the postgres user cannot write $dir (a parent folder is closed to it); use a folder under /tmp"
    fi
    if [[ -f $dir/data/postmaster.pid ]] && as_owner "$pg/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
        fail "a server is already running in $dir/data"
    fi
    if [[ ! -f $dir/data/PG_VERSION ]]; then
        as_owner "$pg/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-locale --no-sync \
            >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; fail "initdb failed in $dir/data"; }
    fi
    # TLS with a self-signed certificate for 127.0.0.1 and localhost (DIR/server.crt), when openssl is
    # there: clients may use any sslmode; verify-full needs sslrootcert=DIR/server.crt.
    local tls=""
    if [[ ! -f $dir/server.crt ]] && command -v openssl >/dev/null 2>&1; then
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
            -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
            -keyout "$dir/server.key" -out "$dir/server.crt" >/dev/null 2>&1 ||
            rm -f "$dir/server.key" "$dir/server.crt"
        if [[ -f $dir/server.key ]]; then
            chmod 600 "$dir/server.key"
            chmod 644 "$dir/server.crt"
            [[ $(id -u) -ne 0 ]] || chown postgres: "$dir/server.key" "$dir/server.crt"
        fi
    fi
    if [[ -f $dir/server.crt && -f $dir/server.key ]]; then
        tls="-c ssl=on -c ssl_cert_file=$dir/server.crt -c ssl_key_file=$dir/server.key"
    fi
    for attempt in 1 2 3 4 5; do
        # A restart (stop, then start on the same DIR) keeps its port, so clients reconnect.
        if [[ $attempt -eq 1 && -f $dir/port ]]; then port=$(cat "$dir/port"); else port=$(free_port); fi
        if without_inherited_fds as_owner "$pg/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
            -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300 $tls" \
            start >/dev/null 2>&1; then
            echo "$port" >"$dir/port"
            watch_owner
            url="postgres://postgres@127.0.0.1:$port/postgres"
            echo "$url"
            return
        fi
        # Most likely another process took the port between choosing and binding it.
        echo "postgres-test-cluster: start on port $port failed (attempt $attempt), retrying" >&2
    done
    tail -n 20 "$dir/server.log" >&2 || true
    fail "could not start the server in $dir/data (see $dir/server.log)"
}

stop() {
    local pg
    pg=$(bindir)
    [[ -d $dir/data ]] || fail "no cluster in $dir (no $dir/data)"
    if as_owner "$pg/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
        as_owner "$pg/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null
    fi
}

case $command in
start) start ;;
stop) stop ;;
*) usage ;;
esac

#!/usr/bin/env bash
# Runs a throwaway PostgreSQL server for the tests, with its cluster in DIR.
#
#   scripts/postgres.sh start DIR   start the server (installing PostgreSQL if
#                                   needed) and print its URL
#   scripts/postgres.sh stop DIR    stop the server, if it is running
#   scripts/postgres.sh url DIR     print the URL of the running server
#
# `start` and `url` print exactly one line on stdout, the URL of the database
# zego_push_test, e.g. postgres://postgres@127.0.0.1:55432/zego_push_test.
# Everything else goes to stderr.
#
# The server listens on 127.0.0.1 only and trusts every local connection, so
# run it only on a machine whose local users you trust. It uses the Debian
# layout: server binaries under /usr/lib/postgresql/VERSION/bin. When none are
# installed, `start` installs the Debian package postgresql with apt-get,
# which needs root.
#
# PostgreSQL refuses to run as root. Under root the cluster belongs to the
# system user postgres, or to the user zego-push-postgres (created here) when
# postgres does not exist. Every directory above DIR must then be searchable
# by that user. Under any other user the cluster belongs to the caller.
#
# DIR contains:
#   data/         the cluster (PGDATA)
#   .s.PGSQL.*    the server's Unix socket
#   postgres.log  the server log
#   cluster-user  the name of the cluster's superuser, which marks a cluster
#                 created by this script
#   ca.crt, ca.key
#                 the test CA. Tests pass ca.crt as sslrootcert to check the
#                 server's certificate with sslmode=verify-full.
#   server.crt, server.key
#                 the TLS certificate the server offers, for IP 127.0.0.1 and
#                 signed by the test CA
#
# The cluster outlives `stop`, so a later `start` reuses it, and the database
# zego_push_test still contains whatever earlier tests left in it.
set -euo pipefail

readonly DATABASE=zego_push_test
readonly FIRST_PORT=55432
readonly PORT_ATTEMPTS=100
readonly START_TIMEOUT_SECONDS=60
readonly DEDICATED_USER=zego-push-postgres
# sun_path in struct sockaddr_un is 108 bytes on Linux, including the NUL (unix(7)).
readonly MAX_SOCKET_PATH_BYTES=107

usage() {
    echo "usage: $0 start|stop|url DIR" >&2
    exit 2
}

die() {
    echo "postgres.sh: $*" >&2
    exit 1
}

# Prints the bin directory of the newest installed PostgreSQL server, or
# nothing when none is installed.
find_newest_bin_dir() {
    local postgres_binary
    postgres_binary="$(
        compgen -G '/usr/lib/postgresql/*/bin/postgres' | sort -V | tail -n 1 || true
    )"
    if [[ -n "$postgres_binary" ]]; then
        dirname "$postgres_binary"
    fi
}

install_postgres() {
    if ((EUID != 0)); then
        die "no PostgreSQL server found under /usr/lib/postgresql, and installing one needs root: run 'apt-get install postgresql' as root, then retry"
    fi
    if ! command -v apt-get >/dev/null; then
        die "no PostgreSQL server found under /usr/lib/postgresql, and apt-get is missing: install the PostgreSQL server, then retry"
    fi

    echo "No PostgreSQL server found under /usr/lib/postgresql; installing the Debian package postgresql."
    echo "Running: apt-get update"
    if ! apt-get update; then
        die "apt-get update failed (see its output above); install the package postgresql by hand, then retry"
    fi
    echo "Running: apt-get install -y --no-install-recommends postgresql"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql; then
        die "apt-get install postgresql failed (see its output above); install it by hand, then retry"
    fi
}

# Sets cluster_user to the user that owns a new cluster, creating the
# dedicated user if needed.
choose_cluster_user() {
    if ((EUID != 0)); then
        cluster_user="$(id -un)"
    elif id -u postgres >/dev/null 2>&1; then
        cluster_user=postgres
    else
        if ! id -u "$DEDICATED_USER" >/dev/null 2>&1; then
            echo "Creating the system user $DEDICATED_USER to own the cluster."
            useradd --system --user-group --no-create-home --home-dir /nonexistent \
                --shell /usr/sbin/nologin "$DEDICATED_USER"
        fi
        cluster_user="$DEDICATED_USER"
    fi
}

# Runs a command as cluster_user, from / so that the command never needs
# access to the caller's working directory. Closes the lock's file
# descriptor, so a server started here does not keep DIR locked.
run_as_cluster_user() {
    if ((EUID == 0)); then
        (cd / && runuser -u "$cluster_user" -- "$@" 9>&-)
    else
        (cd / && "$@" 9>&-)
    fi
}

# Takes an exclusive lock on DIR, kept until this script exits, so that two
# concurrent starts or stops on one DIR do not race.
lock_dir() {
    exec 9>"$dir/.lock"
    flock 9
}

is_running() {
    [[ -f "$data_dir/PG_VERSION" ]] &&
        run_as_cluster_user "$bin_dir/pg_ctl" status -D "$data_dir" >/dev/null 2>&1
}

# Prints the port of the running server, which postgres writes on line 4 of
# postmaster.pid.
read_port() {
    sed -n 4p "$data_dir/postmaster.pid"
}

# NOTE: the user name is not percent-encoded, so a name with characters that
# are reserved in URLs gives an invalid URL.
print_url() {
    printf 'postgres://%s@127.0.0.1:%s/%s\n' "$cluster_user" "$(read_port)" "$DATABASE"
}

# Sets cluster_user and bin_dir for the cluster in DIR. Returns 1 when DIR
# contains no cluster created by this script.
load_cluster() {
    if [[ ! -f "$dir/cluster-user" || ! -f "$data_dir/PG_VERSION" ]]; then
        return 1
    fi
    cluster_user="$(<"$dir/cluster-user")"
    local version
    version="$(<"$data_dir/PG_VERSION")"
    bin_dir="/usr/lib/postgresql/$version/bin"
    if [[ ! -x "$bin_dir/postgres" ]]; then
        bin_dir=""
    fi
}

# Creates the cluster in DIR/data with trust authentication for local
# connections and 127.0.0.1.
init_cluster() {
    local staging_dir="$dir/data.initdb"
    if [[ -e "$data_dir" ]]; then
        die "$data_dir exists but is not a cluster created by this script; delete $dir or pick another DIR"
    fi

    choose_cluster_user
    # The server creates its socket in DIR, so the cluster user must own it.
    # Only a DIR that contains nothing but the lock file is handed over.
    if [[ "$(stat -c %U "$dir")" != "$cluster_user" ]]; then
        if [[ -n "$(find "$dir" -mindepth 1 -maxdepth 1 ! -name .lock -print -quit)" ]]; then
            die "$dir is not empty and not owned by $cluster_user; delete it or pick another DIR"
        fi
        chown "$cluster_user:" "$dir"
    fi
    if ! run_as_cluster_user test -w "$dir"; then
        die "user $cluster_user cannot write to $dir; every directory above it must be searchable by that user (chmod o+x), or pick a DIR under /tmp"
    fi

    echo "Creating a PostgreSQL cluster in $data_dir, owned by $cluster_user."
    # An interrupted earlier initdb may have left a partial cluster, which is
    # safe to discard: the rename below is the last step of a complete one.
    rm -rf "$staging_dir"
    # --no-sync and fsync=off below trade crash safety for speed, which is
    # fine for a cluster that contains only test data.
    run_as_cluster_user "$bin_dir/initdb" --pgdata="$staging_dir" --username="$cluster_user" \
        --auth-local=trust --auth-host=trust --encoding=UTF8 --locale=C --no-sync

    # pg_hba.conf: the first matching line wins, and anything else is rejected.
    cat >"$staging_dir/pg_hba.conf" <<'EOF'
# TYPE  DATABASE  USER  ADDRESS       METHOD
local   all       all                 trust
host    all       all   127.0.0.1/32  trust
EOF

    # Settings later in postgresql.conf override earlier ones. The port is
    # chosen at each start and passed on the command line.
    local socket_dir_quoted="${dir//\'/\'\'}"
    cat >>"$staging_dir/postgresql.conf" <<EOF

# Added by scripts/postgres.sh for the zego-push tests.
listen_addresses = '127.0.0.1'
unix_socket_directories = '$socket_dir_quoted'
max_connections = 200
# With fsync off, an operating system crash can corrupt the cluster. That is
# acceptable for test data, and writes get much faster.
fsync = off
EOF

    echo "$cluster_user" >"$dir/cluster-user"
    mv "$staging_dir" "$data_dir"
}

# Starts the server on the first free port from FIRST_PORT upward. Postgres
# itself tests each port: it exits when it cannot bind, and the next port is
# tried. This avoids the race of testing a port first and binding it later.
start_server() {
    local log_file="$dir/postgres.log"
    local port socket_path log_lines_before
    for ((port = FIRST_PORT; port < FIRST_PORT + PORT_ATTEMPTS; port++)); do
        socket_path="$dir/.s.PGSQL.$port"
        if ((${#socket_path} > MAX_SOCKET_PATH_BYTES)); then
            die "the Unix socket path $socket_path is longer than $MAX_SOCKET_PATH_BYTES bytes; pick a shorter DIR"
        fi

        log_lines_before=0
        if [[ -f "$log_file" ]]; then
            log_lines_before="$(wc -l <"$log_file")"
        fi

        echo "Starting PostgreSQL on 127.0.0.1:$port (log: $log_file)."
        if run_as_cluster_user "$bin_dir/pg_ctl" start --pgdata="$data_dir" --log="$log_file" \
            --wait --timeout="$START_TIMEOUT_SECONDS" --options="-p $port"; then
            return
        fi

        # grep without -q reads all its input, so tail never gets SIGPIPE,
        # which pipefail would turn into a failed match.
        if tail -n +"$((log_lines_before + 1))" "$log_file" |
            grep -e 'could not bind' -e 'could not create any TCP/IP sockets' >/dev/null; then
            echo "Port $port is in use; trying the next one."
            continue
        fi
        echo "--- last lines of $log_file ---"
        tail -n 20 "$log_file" || true
        die "PostgreSQL failed to start; see $log_file"
    done
    die "no free port in $FIRST_PORT-$((FIRST_PORT + PORT_ATTEMPTS - 1)) on 127.0.0.1"
}

# Waits until the server accepts TCP connections on 127.0.0.1, which the
# tests use, rather than only on the Unix socket that pg_ctl checks.
wait_until_ready() {
    local port deadline=$((SECONDS + START_TIMEOUT_SECONDS))
    port="$(read_port)"
    until "$bin_dir/pg_isready" --quiet --host=127.0.0.1 --port="$port" \
        --username="$cluster_user" --dbname=postgres --timeout=1; do
        if ((SECONDS >= deadline)); then
            die "timed out after $START_TIMEOUT_SECONDS s waiting for PostgreSQL on 127.0.0.1:$port; see $dir/postgres.log"
        fi
        sleep 0.2
    done
}

# Moves KEY.new and CERT.new, which openssl wrote, to KEY and CERT, key first.
# A failed or interrupted openssl run then never leaves both final names
# behind, so the next start makes a new pair instead of keeping a broken one.
install_key_pair() {
    local cert="$1" key="$2"
    run_as_cluster_user chmod 600 "$key.new"
    mv -f "$key.new" "$key"
    mv -f "$cert.new" "$cert"
}

# Creates the test CA: ca.key and the self-signed ca.crt, which the tests pass
# as sslrootcert to check the server's certificate with sslmode=verify-full.
create_ca() {
    local ca_cert="$1" ca_key="$2"
    echo "Creating a test CA for the TLS certificate in $dir."
    run_as_cluster_user openssl req -x509 -newkey rsa:2048 -nodes -days 3650 \
        -subj '/CN=zego-push test CA' \
        -addext basicConstraints=critical,CA:TRUE \
        -addext keyUsage=critical,keyCertSign,cRLSign \
        -keyout "$ca_key.new" -out "$ca_cert.new" 2>"$dir/openssl.log" ||
        die "openssl could not create the test CA; see $dir/openssl.log"
    install_key_pair "$ca_cert" "$ca_key"
}

# Creates the server's key and a leaf certificate for 127.0.0.1, signed by the
# test CA. rustls rejects a server certificate that is itself a CA
# (CaUsedAsEndEntity), and checks the host against the subjectAltName only.
# The extensions go into the request, and -copy_extensions copies them into
# the certificate, which needs OpenSSL 3.0 or later.
create_server_cert() {
    local cert="$1" key="$2" ca_cert="$3" ca_key="$4"
    echo "Creating the server's TLS certificate for 127.0.0.1 in $dir, signed by the test CA."
    {
        run_as_cluster_user openssl req -new -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 \
            -addext basicConstraints=critical,CA:FALSE \
            -addext keyUsage=critical,digitalSignature,keyEncipherment \
            -addext extendedKeyUsage=serverAuth \
            -addext subjectAltName=IP:127.0.0.1 \
            -keyout "$key.new" |
            run_as_cluster_user openssl x509 -req -days 3650 -CA "$ca_cert" -CAkey "$ca_key" \
                -copy_extensions copyall -out "$cert.new"
    } 2>"$dir/openssl.log" ||
        die "openssl could not create the server's certificate; see $dir/openssl.log"
    install_key_pair "$cert" "$key"
}

# Turns on TLS in DIR with a server certificate signed by a test CA, so that
# the tests can check encrypted connections, verify-full included. ALTER SYSTEM
# and a reload also reach a server that was started before this setting
# existed, and a reload makes the server read new certificate files.
enable_tls() {
    local port cert="$dir/server.crt" key="$dir/server.key"
    local ca_cert="$dir/ca.crt" ca_key="$dir/ca.key"
    port="$(read_port)"
    [[ $dir != *\'* ]] || die "$dir contains a single quote, which the TLS settings cannot hold; pick another DIR"
    if [[ ! -f "$ca_cert" || ! -f "$cert" || ! -f "$key" ]]; then
        command -v openssl >/dev/null ||
            die "openssl is missing; install the Debian package openssl, then retry"
    fi

    if [[ ! -f "$ca_cert" ]]; then
        # Earlier versions of this script made a self-signed server.crt,
        # which rustls rejects with sslmode=verify-full.
        if [[ -f "$cert" || -f "$key" ]]; then
            echo "No test CA in $dir, so server.crt is the self-signed certificate of an older version of this script; replacing it with one signed by a new test CA."
            rm -f "$cert" "$key"
        fi
        create_ca "$ca_cert" "$ca_key"
    fi
    if [[ ! -f "$cert" || ! -f "$key" ]]; then
        [[ -f "$ca_key" ]] ||
            die "$ca_key is missing, so no new server certificate can be signed; delete $ca_cert, then retry"
        create_server_cert "$cert" "$key" "$ca_cert" "$ca_key"
    fi

    "$bin_dir/psql" --no-psqlrc --quiet --set=ON_ERROR_STOP=1 --host=127.0.0.1 --port="$port" \
        --username="$cluster_user" --dbname=postgres >/dev/null <<SQL
ALTER SYSTEM SET ssl_cert_file = '$cert';
ALTER SYSTEM SET ssl_key_file = '$key';
ALTER SYSTEM SET ssl = on;
SELECT pg_reload_conf();
SQL
}

create_database() {
    local port exists
    port="$(read_port)"
    exists="$("$bin_dir/psql" --no-psqlrc --quiet --tuples-only --no-align \
        --host=127.0.0.1 --port="$port" --username="$cluster_user" --dbname=postgres \
        --command="SELECT 1 FROM pg_database WHERE datname = '$DATABASE'")"
    if [[ "$exists" != 1 ]]; then
        echo "Creating the database $DATABASE."
        "$bin_dir/createdb" --host=127.0.0.1 --port="$port" --username="$cluster_user" "$DATABASE"
    fi
}

start_command() {
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd -P)"
    data_dir="$dir/data"
    lock_dir

    if load_cluster && [[ -n "$bin_dir" ]] && is_running; then
        echo "Reusing the PostgreSQL server already running in $data_dir."
    else
        if load_cluster && [[ -z "$bin_dir" ]]; then
            echo "The cluster in $data_dir is PostgreSQL $(<"$data_dir/PG_VERSION"), which is no longer installed; replacing it."
            rm -rf "$data_dir" "$dir/cluster-user"
        fi

        bin_dir="$(find_newest_bin_dir)"
        if [[ -z "$bin_dir" ]]; then
            install_postgres
            bin_dir="$(find_newest_bin_dir)"
            [[ -n "$bin_dir" ]] || die "apt-get installed postgresql, but /usr/lib/postgresql/*/bin/postgres is still missing"
        fi

        if ! load_cluster; then
            init_cluster
            load_cluster
        fi
        start_server
    fi

    wait_until_ready
    enable_tls
    create_database
    url="$(print_url)"
}

stop_command() {
    [[ -d "$dir" ]] || {
        echo "No cluster in $dir; nothing to stop."
        return
    }
    dir="$(cd "$dir" && pwd -P)"
    data_dir="$dir/data"
    lock_dir

    if ! load_cluster || [[ -z "$bin_dir" ]] || ! is_running; then
        echo "No running PostgreSQL server in $dir; nothing to stop."
        return
    fi
    run_as_cluster_user "$bin_dir/pg_ctl" stop --pgdata="$data_dir" --mode=fast \
        --wait --timeout="$START_TIMEOUT_SECONDS"
}

url_command() {
    [[ -d "$dir" ]] || die "$dir does not exist; run '$0 start $dir' first"
    dir="$(cd "$dir" && pwd -P)"
    data_dir="$dir/data"
    if ! load_cluster || [[ -z "$bin_dir" ]] || ! is_running; then
        die "no running PostgreSQL server in $dir; run '$0 start $dir' first"
    fi
    url="$(print_url)"
}

(($# == 2)) || usage
command="$1"
dir="$2"
url=""

# Only the URL goes to stdout, so callers can capture it with $(...).
case "$command" in
    start) start_command >&2 ;;
    stop) stop_command >&2 ;;
    url) url_command >&2 ;;
    *) usage ;;
esac
if [[ -n "$url" ]]; then
    printf '%s\n' "$url"
fi

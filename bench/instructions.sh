#!/usr/bin/env bash
# Counts the CPU instructions zego-push-server and zego-mock execute per
# registration, with valgrind's callgrind. Unlike requests per second on a
# shared machine, the request path counts the same for the same code and
# inputs. The SQLite writer and checkpoint threads vary with timing, by about
# 15,000 per registration between runs. docs/benchmarks.md lists results.
#
# Settings, all environment variables:
#   REQUESTS=2000     registrations counted, after WARMUP others
#   WARMUP=300        registrations sent first, not counted
#   CLIENTS=4         concurrent client connections
#   KEEP_PROFILES=0   1 keeps the callgrind files in RESULTS_DIR for
#                     callgrind_annotate
#   RESULTS_DIR       default bench/results
#
# Needs cargo, valgrind and Python 3 (standard library only). Builds both
# binaries in release mode with line tables into target/instructions, so the
# ordinary release build is left alone. Everything listens on 127.0.0.1.
#
# Callgrind cannot run SHA-NI, so SHA-256 (the request signature, token
# hashes) is counted on the portable code path, which costs more
# instructions than on a CPU with SHA extensions.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

REQUESTS="${REQUESTS:-2000}"
WARMUP="${WARMUP:-300}"
CLIENTS="${CLIENTS:-4}"
KEEP_PROFILES="${KEEP_PROFILES:-0}"
RESULTS_DIR="${RESULTS_DIR:-$REPO_ROOT/bench/results}"
BUILD_DIR="$REPO_ROOT/target/instructions"
APP_ID=1234567890
SERVER_SECRET="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"

unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost

for tool in valgrind callgrind_control callgrind_annotate python3; do
    command -v "$tool" >/dev/null || { echo "error: $tool is not installed (valgrind comes from Debian's valgrind package)" >&2; exit 1; }
done

echo "==> release build with line tables in $BUILD_DIR"
CARGO_TARGET_DIR="$BUILD_DIR" CARGO_PROFILE_RELEASE_DEBUG=line-tables-only \
    cargo build --release --locked -p zego-push-server -p zego-mock

WORK_DIR="$(mktemp -d)"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    rm -rf "$WORK_DIR"
}
trap cleanup EXIT

# Waits for "listening on http://ADDRESS" in a log and prints the address.
wait_for_address() {
    local log="$1"
    for _ in $(seq 600); do
        if grep -q "listening on http://" "$log" 2>/dev/null; then
            grep -o "listening on http://[0-9.:]*" "$log" | head -1 | sed 's|listening on http://||'
            return
        fi
        sleep 0.1
    done
    echo "error: no listening line in $log:" >&2
    cat "$log" >&2
    exit 1
}

# Sends COUNT registrations with tokens tagged TAG over CLIENTS keep-alive
# connections and fails on any reply other than HTTP 200.
drive() {
    python3 - "$1" "$2" "$3" "$CLIENTS" <<'EOF'
import http.client, json, sys, threading
address, count, tag, clients = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
host, port = address.rsplit(":", 1)
failures = []
def run(first):
    connection = http.client.HTTPConnection(host, int(port), timeout=120)
    for index in range(first, count, clients):
        body = json.dumps({"user_id": f"user{index % 500}", "fcm_token": f"token-{tag}-{index:07d}", "platform": "android"})
        connection.request("POST", "/api/register-push-token", body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            failures.append(response.status)
threads = [threading.Thread(target=run, args=(first,)) for first in range(clients)]
for thread in threads: thread.start()
for thread in threads: thread.join()
if failures:
    sys.exit(f"{len(failures)} registrations failed, first with HTTP {failures[0]}")
EOF
}

# Prints the total instruction count of a callgrind profile.
total_instructions() {
    callgrind_annotate "$1" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1; exit}'
}

echo "==> zego-mock and zego-push-server under callgrind"
RUST_LOG=warn valgrind --tool=callgrind --callgrind-out-file="$WORK_DIR/mock.out" \
    "$BUILD_DIR/release/zego-mock" --listen 127.0.0.1:0 --app "$APP_ID:$SERVER_SECRET" \
    >"$WORK_DIR/mock.log" 2>&1 &
MOCK_PID=$!
PIDS+=("$MOCK_PID")
MOCK_ADDRESS="$(wait_for_address "$WORK_DIR/mock.log")"

ZEGO_APP_ID="$APP_ID" ZEGO_SERVER_SECRET="$SERVER_SECRET" ZEGO_BASE_URL="http://$MOCK_ADDRESS" RUST_LOG=warn \
    valgrind --tool=callgrind --callgrind-out-file="$WORK_DIR/server.out" \
    "$BUILD_DIR/release/zego-push-server" --listen 127.0.0.1:0 \
    --database-url "sqlite://$WORK_DIR/registry.db" --rate-limit-per-user 0 --rate-limit-per-address 0 \
    >"$WORK_DIR/server.log" 2>&1 &
SERVER_PID=$!
PIDS+=("$SERVER_PID")
SERVER_ADDRESS="$(wait_for_address "$WORK_DIR/server.log")"

echo "==> $WARMUP warm-up registrations, then $REQUESTS counted ones over $CLIENTS connections"
drive "$SERVER_ADDRESS" "$WARMUP" warmup
callgrind_control --zero "$SERVER_PID" >/dev/null 2>&1
callgrind_control --zero "$MOCK_PID" >/dev/null 2>&1
drive "$SERVER_ADDRESS" "$REQUESTS" counted
callgrind_control --dump "$SERVER_PID" >/dev/null 2>&1
callgrind_control --dump "$MOCK_PID" >/dev/null 2>&1

server_total="$(total_instructions "$WORK_DIR/server.out.1")"
mock_total="$(total_instructions "$WORK_DIR/mock.out.1")"
commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo
echo "commit $commit, $REQUESTS registrations over $CLIENTS connections:"
echo "  zego-push-server: $((server_total / REQUESTS)) instructions per registration"
echo "  zego-mock:        $((mock_total / REQUESTS)) instructions per registration"

if [[ "$KEEP_PROFILES" == 1 ]]; then
    mkdir -p "$RESULTS_DIR"
    stamp="$(date -u +%Y%m%dT%H%M%SZ)"
    cp "$WORK_DIR/server.out.1" "$RESULTS_DIR/callgrind-server-$stamp.out"
    cp "$WORK_DIR/mock.out.1" "$RESULTS_DIR/callgrind-mock-$stamp.out"
    echo "profiles: $RESULTS_DIR/callgrind-{server,mock}-$stamp.out (read with callgrind_annotate)"
fi

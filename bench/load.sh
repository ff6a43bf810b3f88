#!/usr/bin/env bash
# Load benchmark: zego-push-server against the integration guide's Python code
# (bench/guide_app.py under gunicorn). Both send every registration to one
# local zego-mock, and wrk drives both with the same load. Every process
# listens on 127.0.0.1 only. docs/benchmarks.md explains the method.
#
# Settings, all environment variables:
#   DURATION=20s           length of each wrk run (wrk syntax: 20s, 2m, 1h)
#   ROUNDS=3               turns of the server and the guide, one after the
#                          other; the summary gives the median over them
#   CONNECTIONS=64         wrk connections for the server-versus-guide runs
#   THREADS=2              wrk threads
#   PEAK_CONNECTIONS=1000  wrk connections for the server's peak-RSS run
#   WRK_TIMEOUT=10s        wrk's per-request timeout (a timed-out request is
#                          left out of wrk's latency percentiles)
#   SETTLE_SECONDS=3       wait before each RSS reading that follows start-up or a run
#   CPU_LAYOUT=split       split: the program under test (the server, or
#                          gunicorn and its workers) runs on the first half
#                          of the CPUs this script may use, and wrk, zego-mock
#                          and this script on the other half; shared: every
#                          process may run on every CPU
#   GUIDE_WORKERS          gunicorn sync workers; default 2 * (CPUs of the
#                          program under test) + 1, gunicorn's advice
#   RESULTS_DIR            default bench/results; each run writes a
#                          timestamped directory there
#   CARGO_TARGET_DIR       honoured, as in scripts/test.sh
#
# Needs cargo, root for `apt-get install wrk` unless wrk is installed, and
# Python 3 with venv and pip for bench/.venv. Exits non-zero when a step
# fails or a run has errors. A run with failed requests or calls that
# zego-mock rejected still gets its summary. A failed step or an interrupt
# leaves only the raw outputs written so far.
set -euo pipefail
shopt -s inherit_errexit

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH_DIR="$REPO_ROOT/bench"
cd "$REPO_ROOT"

DURATION="${DURATION:-20s}"
ROUNDS="${ROUNDS:-3}"
CONNECTIONS="${CONNECTIONS:-64}"
THREADS="${THREADS:-2}"
CPU_LAYOUT="${CPU_LAYOUT:-split}"
PEAK_CONNECTIONS="${PEAK_CONNECTIONS:-1000}"
WRK_TIMEOUT="${WRK_TIMEOUT:-10s}"
SETTLE_SECONDS="${SETTLE_SECONDS:-3}"
RESULTS_DIR="${RESULTS_DIR:-$BENCH_DIR/results}"
STARTUP_TIMEOUT_SECONDS=60

TARGET_DIR="${CARGO_TARGET_DIR:-target}"
case "$TARGET_DIR" in
    /*) ;;
    *) TARGET_DIR="$REPO_ROOT/$TARGET_DIR" ;;
esac
SERVER_BIN="$TARGET_DIR/release/zego-push-server"
MOCK_BIN="$TARGET_DIR/release/zego-mock"

VENV_DIR="$BENCH_DIR/.venv"
REQUIREMENTS="$BENCH_DIR/requirements.txt"
LUA_SCRIPT="$BENCH_DIR/register.lua"

# The test app registered with zego-mock. The secret is random per run and
# only ever reaches processes on this machine.
APP_ID=1234567890
SERVER_SECRET="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
# Letters and digits that keep this run's tokens apart from earlier runs'.
RUN_TAG="$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"

# Proxy variables would route requests (Python requests, Rust reqwest) away
# from loopback, so they are cleared for every process this script starts.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost

die() {
    echo "load.sh: error: $*" >&2
    exit 1
}

# Prints a wrk duration (30s, 2m, 1h or plain seconds) in seconds.
duration_seconds() {
    local value=$1
    case "$value" in
        *[0-9]s) echo "${value%s}" ;;
        *[0-9]m) echo "$((${value%m} * 60))" ;;
        *[0-9]h) echo "$((${value%h} * 3600))" ;;
        *[0-9]) echo "$value" ;;
        *) return 1 ;;
    esac
}

# Prints the CPUs this process may run on, one per line, from a list such as
# 0-3,6 in /proc/self/status.
allowed_cpus() {
    local list range first last cpu
    local -a ranges
    list="$(sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' /proc/self/status)"
    [[ -n $list ]] || return 1
    IFS=, read -r -a ranges <<<"$list"
    for range in "${ranges[@]}"; do
        first=${range%-*}
        last=${range#*-}
        for ((cpu = first; cpu <= last; cpu++)); do
            echo "$cpu"
        done
    done
}

# Commands that start the program under test (ON_PROGRAM) and the load side
# (ON_LOAD) on their CPUs; empty when every process may use every CPU.
ON_PROGRAM=()
ON_LOAD=()
case "$CPU_LAYOUT" in
    split)
        command -v taskset >/dev/null || die "CPU_LAYOUT=split needs taskset (Debian package util-linux); use CPU_LAYOUT=shared without it"
        mapfile -t CPUS < <(allowed_cpus) || die "cannot read the CPUs this process may use from /proc/self/status"
        ((${#CPUS[@]} >= 2)) || die "CPU_LAYOUT=split needs at least 2 CPUs, this process may use ${#CPUS[@]}; use CPU_LAYOUT=shared"
        PROGRAM_CPU_COUNT=$((${#CPUS[@]} / 2))
        PROGRAM_CPUS="$(IFS=,; echo "${CPUS[*]:0:PROGRAM_CPU_COUNT}")"
        LOAD_CPUS="$(IFS=,; echo "${CPUS[*]:PROGRAM_CPU_COUNT}")"
        ON_PROGRAM=(taskset -c "$PROGRAM_CPUS")
        ON_LOAD=(taskset -c "$LOAD_CPUS")
        ;;
    shared)
        PROGRAM_CPU_COUNT="$(nproc)"
        ;;
    *) die "CPU_LAYOUT must be split or shared, got '$CPU_LAYOUT'" ;;
esac
GUIDE_WORKERS="${GUIDE_WORKERS:-$((2 * PROGRAM_CPU_COUNT + 1))}"

# Describes the layout for machine.txt and the summary.
describe_layout() {
    if [[ $CPU_LAYOUT == split ]]; then
        echo "split: program under test on CPU $PROGRAM_CPUS; wrk, zego-mock and this script on CPU $LOAD_CPUS"
    else
        echo "shared: every process on every CPU"
    fi
}

for setting in ROUNDS CONNECTIONS THREADS PEAK_CONNECTIONS SETTLE_SECONDS GUIDE_WORKERS; do
    [[ ${!setting} =~ ^[1-9][0-9]*$ ]] || die "$setting must be a positive integer, got '${!setting}'"
done
# register.lua takes a run id of at most 10 characters: the 6 of RUN_TAG, a
# letter and the round.
((ROUNDS <= 99)) || die "ROUNDS must be at most 99, got $ROUNDS"
# Both server runs name their files after the connection count.
((CONNECTIONS != PEAK_CONNECTIONS)) ||
    die "PEAK_CONNECTIONS must differ from CONNECTIONS (both are $CONNECTIONS), because each run's files are named after its connection count"
DURATION_SECONDS="$(duration_seconds "$DURATION")" || die "DURATION must look like 20s, 2m or 1h, got '$DURATION'"
[[ $DURATION_SECONDS =~ ^[1-9][0-9]*$ ]] || die "DURATION must look like 20s, 2m or 1h, got '$DURATION'"
WRK_TIMEOUT_SECONDS="$(duration_seconds "$WRK_TIMEOUT")" || die "WRK_TIMEOUT must look like 10s, got '$WRK_TIMEOUT'"
[[ $WRK_TIMEOUT_SECONDS =~ ^[1-9][0-9]*$ ]] || die "WRK_TIMEOUT must be at least 1s, got '$WRK_TIMEOUT'"
# wrk needs a connection per thread.
for setting in CONNECTIONS PEAK_CONNECTIONS; do
    ((THREADS <= ${!setting})) || die "$setting (${!setting}) must be at least THREADS ($THREADS), because each wrk thread needs a connection"
done
for tool in curl pgrep lscpu; do
    command -v "$tool" >/dev/null || die "$tool is missing; install it (Debian packages curl, procps, util-linux)"
done
# The machine's CPU count, read before the script moves itself to the load CPUs.
MACHINE_CPUS="$(nproc)"

# --- Process bookkeeping ----------------------------------------------------

# Every process started here, so that cleanup stops each one by its id.
STARTED_PIDS=()
WORK_DIR=""

stop_process() {
    local pid=$1 waited=0
    kill -TERM "$pid" 2>/dev/null || return 0
    while kill -0 "$pid" 2>/dev/null && ((waited < 100)); do
        sleep 0.1
        waited=$((waited + 1))
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "load.sh: process $pid still running 10 s after SIGTERM, so sending SIGKILL" >&2
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

# Drops PID from STARTED_PIDS once it has exited and been reaped, so that
# cleanup never signals a process id that the system may have reused since.
forget_pid() {
    local pid=$1 kept=() started
    for started in "${STARTED_PIDS[@]}"; do
        [[ $started == "$pid" ]] || kept+=("$started")
    done
    STARTED_PIDS=("${kept[@]}")
}

stop_started() {
    stop_process "$1"
    forget_pid "$1"
}

cleanup() {
    local status=$?
    local pid
    for pid in "${STARTED_PIDS[@]}"; do
        stop_process "$pid"
    done
    if [[ -n $WORK_DIR ]]; then
        rm -rf "$WORK_DIR"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Waits until FILE contains "PREFIXhttp://ADDRESS" and prints the URL. Fails
# if process PID exits first or STARTUP_TIMEOUT_SECONDS pass.
wait_for_url() {
    local file=$1 prefix=$2 pid=$3 name=$4
    local deadline=$((SECONDS + STARTUP_TIMEOUT_SECONDS))
    local match
    while ((SECONDS < deadline)); do
        match="$(grep -m1 -o "${prefix}http://[0-9.:]*" "$file" || true)"
        if [[ -n $match ]]; then
            local url="${match#"$prefix"}"
            [[ $url == http://127.0.0.1:* ]] || die "$name listens on $url, not on 127.0.0.1"
            echo "$url"
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || die "$name exited before it was listening; see $file and the .err log beside it"
        sleep 0.1
    done
    die "$name printed no \"${prefix}http://...\" line within ${STARTUP_TIMEOUT_SECONDS} s; see $file"
}

# --- Memory and CPU time -----------------------------------------------------

# Sets TREE_PIDS to PID and its direct children: the gunicorn workers,
# since the Rust server has none.
read_tree_pids() {
    local children=""
    if [[ -r /proc/$1/task/$1/children ]]; then
        read -r children <"/proc/$1/task/$1/children" 2>/dev/null || true
    fi
    read -r -a TREE_PIDS <<<"$1 $children"
}

# Sets TREE_CPU_TICKS to the user plus system CPU time, in clock ticks, of
# PID's tree (fields 14 and 15 of /proc/PID/stat).
read_tree_cpu_ticks() {
    local pid line fields
    TREE_CPU_TICKS=0
    read_tree_pids "$1"
    for pid in "${TREE_PIDS[@]}"; do
        line=""
        read -r line <"/proc/$pid/stat" 2>/dev/null || true
        [[ -n $line ]] || continue
        # The command name, field 2, is in parentheses and may contain
        # spaces. The fields after it start with field 3.
        read -r -a fields <<<"${line##*) }"
        TREE_CPU_TICKS=$((TREE_CPU_TICKS + fields[11] + fields[12]))
    done
}

# Sets TREE_RSS_KIB to the VmRSS in KiB of PID's tree. It runs only bash
# builtins, because the sampler below calls it ten times a second during a
# run, and a fork and exec each time (awk, pgrep, a subshell) added
# milliseconds to the latencies measured at one connection.
read_tree_rss_kib() {
    local pid key value
    TREE_RSS_KIB=0
    read_tree_pids "$1"
    for pid in "${TREE_PIDS[@]}"; do
        [[ -r /proc/$pid/status ]] || continue
        while read -r key value _; do
            if [[ $key == VmRSS: ]]; then
                TREE_RSS_KIB=$((TREE_RSS_KIB + value))
                break
            fi
        done <"/proc/$pid/status" 2>/dev/null || true
    done
}

tree_rss_kib() {
    read_tree_rss_kib "$1"
    echo "$TREE_RSS_KIB"
}

# Samples the VmRSS of PID's tree every 100 ms and keeps the largest value
# in OUT_FILE, until killed, until PID exits, or for MAX_SECONDS at most.
sample_peak_rss() {
    local pid=$1 out_file=$2 deadline=$((SECONDS + $3)) peak=0 pause
    echo 0 >"$out_file"
    # A read with a timeout on a pipe that no process writes to waits 100 ms
    # without starting a sleep process.
    exec {pause}<> <(:)
    while ((SECONDS < deadline)) && [[ -d /proc/$pid ]]; do
        read_tree_rss_kib "$pid"
        if ((TREE_RSS_KIB > peak)); then
            peak=$TREE_RSS_KIB
            echo "$peak" >"$out_file"
        fi
        read -r -t 0.1 -u "$pause" _ || true
    done
    exec {pause}<&-
}

kib_to_mib() {
    awk -v kib="$1" 'BEGIN { printf "%.1f", kib / 1024 }'
}

# --- Load -------------------------------------------------------------------

# Runs wrk with register.lua against URL and writes its output to
# $RUN_DIR/LABEL.txt while sampling the peak RSS of PID into
# $RUN_DIR/LABEL.peak-rss-kib. Writes the CPU clock ticks that PID's tree
# and zego-mock used during the run to $RUN_DIR/LABEL.cpu-ticks.
run_wrk() {
    local label=$1 url=$2 connections=$3 run_letter=$4 pid=$5
    local out="$RUN_DIR/$label.txt"
    echo "==> $label: wrk, $connections connections, $THREADS threads, $DURATION"

    read_tree_cpu_ticks "$pid"
    local cpu_before=$TREE_CPU_TICKS
    read_tree_cpu_ticks "$MOCK_PID"
    local mock_cpu_before=$TREE_CPU_TICKS

    sample_peak_rss "$pid" "$RUN_DIR/$label.peak-rss-kib" $((DURATION_SECONDS + 30)) &
    local sampler_pid=$!
    STARTED_PIDS+=("$sampler_pid")

    # wrk runs in the background because bash handles a trapped signal only
    # after a foreground command ends, but interrupts `wait` at once.
    BENCH_RUN_ID="${RUN_TAG}${run_letter}" timeout --kill-after=5 $((DURATION_SECONDS + 60)) \
        "${ON_LOAD[@]}" wrk --threads "$THREADS" --connections "$connections" --duration "$DURATION" \
        --timeout "$WRK_TIMEOUT" --latency --script "$LUA_SCRIPT" \
        "$url/api/register-push-token" >"$out" 2>&1 &
    local wrk_pid=$!
    STARTED_PIDS+=("$wrk_pid")
    local wrk_status=0
    wait "$wrk_pid" || wrk_status=$?
    forget_pid "$wrk_pid"
    read_tree_cpu_ticks "$pid"
    local cpu_ticks=$((TREE_CPU_TICKS - cpu_before))
    read_tree_cpu_ticks "$MOCK_PID"
    echo "$cpu_ticks $((TREE_CPU_TICKS - mock_cpu_before))" >"$RUN_DIR/$label.cpu-ticks"

    stop_started "$sampler_pid"
    ((wrk_status == 0)) || die "wrk failed with exit status $wrk_status for $label; see $out"
    grep -q '^BENCH ' "$out" || die "wrk printed no BENCH line for $label; see $out"
    cat "$out"
}

# Prints the value of KEY from the BENCH line of wrk output FILE.
bench_value() {
    awk -v key="$2" '/^BENCH / { for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == key) print kv[2] } }' "$1"
}

requests_per_second() {
    awk -v n="$(bench_value "$1" requests)" -v us="$(bench_value "$1" duration_us)" \
        'BEGIN { printf "%.0f", n / (us / 1e6) }'
}

# Prints the 2xx responses per second: wrk counts non-2xx responses as
# completed requests, and an error reply is no registration.
successes_per_second() {
    awk -v n="$(bench_value "$1" requests)" -v failed="$(bench_value "$1" non_2xx)" \
        -v us="$(bench_value "$1" duration_us)" 'BEGIN { printf "%.0f", (n - failed) / (us / 1e6) }'
}

CLOCK_TICKS_PER_SECOND="$(getconf CLK_TCK)"

# Prints the CPU time per completed request, in µs, of the program under
# test (WHICH=1) or of zego-mock (WHICH=2) during the run of wrk output FILE.
cpu_us_per_request() {
    local file=$1 which=$2 ticks
    ticks="$(cut -d' ' -f"$which" "${file%.txt}.cpu-ticks")"
    awk -v ticks="$ticks" -v hz="$CLOCK_TICKS_PER_SECOND" -v n="$(bench_value "$file" requests)" \
        'BEGIN { if (n > 0) printf "%.1f", ticks * 1e6 / hz / n; else print "n/a" }'
}

latency_ms() {
    awk -v us="$(bench_value "$1" "$2")" 'BEGIN { printf "%.2f", us / 1000 }'
}

socket_errors() {
    local file=$1
    echo $(($(bench_value "$file" connect_errors) + $(bench_value "$file" read_errors) \
        + $(bench_value "$file" write_errors) + $(bench_value "$file" timeouts)))
}

# Counts the mock's calls since its last reset by outcome, writes them to
# $RUN_DIR/LABEL.mock-calls.json, prints "OK_CALLS REJECTED_CALLS", then
# resets the mock so that its in-memory call log does not grow across runs.
count_mock_calls() {
    local label=$1
    curl -fsS --max-time 60 "$MOCK_URL/_mock/calls" >"$WORK_DIR/calls.json"
    python3 - "$WORK_DIR/calls.json" "$RUN_DIR/$label.mock-calls.json" <<'EOF'
import collections
import json
import sys

with open(sys.argv[1]) as calls_file:
    calls = json.load(calls_file)
counts = collections.Counter(call["outcome"] for call in calls)
with open(sys.argv[2], "w") as out_file:
    json.dump(counts, out_file, indent=1, sort_keys=True)
print(counts["ok"], sum(n for outcome, n in counts.items() if outcome != "ok"))
EOF
    curl -fsS --max-time 10 -X POST "$MOCK_URL/_mock/reset" >/dev/null
}

# --- Setup ------------------------------------------------------------------

if ! command -v wrk >/dev/null; then
    ((EUID == 0)) || die "wrk is not installed; run this script as root or install wrk (Debian package 'wrk')"
    echo "==> installing wrk from Debian"
    apt-get update
    apt-get install -y wrk
fi

requirements_hash="$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)"
if [[ ! -x $VENV_DIR/bin/gunicorn || "$(cat "$VENV_DIR/.requirements-hash" 2>/dev/null || true)" != "$requirements_hash" ]]; then
    echo "==> installing Flask, requests and gunicorn into $VENV_DIR"
    [[ -x $VENV_DIR/bin/python ]] || python3 -m venv "$VENV_DIR"
    "$VENV_DIR/bin/pip" install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
    echo "$requirements_hash" >"$VENV_DIR/.requirements-hash"
fi

echo "==> cargo build --release -p zego-push-server -p zego-mock"
cargo build --release -p zego-push-server -p zego-mock

# From here on this script, and every process it starts without ON_PROGRAM,
# stays off the CPUs of the program under test.
if [[ $CPU_LAYOUT == split ]]; then
    taskset -p -c "$LOAD_CPUS" $$ >/dev/null || die "taskset cannot move this script to CPU $LOAD_CPUS"
fi

WORK_DIR="$(mktemp -d -t zego-push-bench.XXXXXX)"
RUN_DIR="$RESULTS_DIR/$(date -u +%Y%m%d-%H%M%S)"
mkdir -p "$RUN_DIR"

{
    echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "command: DURATION=$DURATION ROUNDS=$ROUNDS SETTLE_SECONDS=$SETTLE_SECONDS CONNECTIONS=$CONNECTIONS THREADS=$THREADS PEAK_CONNECTIONS=$PEAK_CONNECTIONS WRK_TIMEOUT=$WRK_TIMEOUT CPU_LAYOUT=$CPU_LAYOUT GUIDE_WORKERS=$GUIDE_WORKERS bench/load.sh"
    echo "cpu layout: $(describe_layout)"
    if git rev-parse --git-dir >/dev/null 2>&1; then
        echo "commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- || echo ' (work tree has changes)')"
    else
        echo "commit: unknown (not a git work tree)"
    fi
    echo "cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -n1) (family $(lscpu | sed -n 's/^CPU family: *//p'), model $(lscpu | sed -n 's/^Model: *//p')), $MACHINE_CPUS CPUs usable by this script"
    echo "memory: $(free -h | awk '/^Mem:/ { print $2 }')"
    echo "os: $(. /etc/os-release && echo "$PRETTY_NAME"), kernel $(uname -r)"
    echo "wrk: $(wrk --version 2>&1 | head -n1)"
    echo "python: $("$VENV_DIR/bin/python" --version), $("$VENV_DIR/bin/pip" freeze | grep -iE '^(flask|gunicorn|requests)==' | tr '\n' ' ')"
    echo "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$RUN_DIR/machine.txt"
cat "$RUN_DIR/machine.txt"

# --- zego-mock --------------------------------------------------------------

RUST_LOG=warn "${ON_LOAD[@]}" "$MOCK_BIN" --listen 127.0.0.1:0 --app "$APP_ID:$SERVER_SECRET" \
    >"$RUN_DIR/mock.out" 2>"$RUN_DIR/mock.err" &
MOCK_PID=$!
STARTED_PIDS+=("$MOCK_PID")
MOCK_URL="$(wait_for_url "$RUN_DIR/mock.out" "zego-mock listening on " "$MOCK_PID" zego-mock)"
echo "==> zego-mock listening on $MOCK_URL"

# --- The two programs under test --------------------------------------------

# Starts zego-push-server with a new SQLite registry and sets SERVER_PID and
# SERVER_URL. All load comes from one address, so the per-address rate
# limit is off.
start_server() {
    local round=$1
    ZEGO_APP_ID="$APP_ID" ZEGO_SERVER_SECRET="$SERVER_SECRET" ZEGO_BASE_URL="$MOCK_URL" RUST_LOG=warn \
        "${ON_PROGRAM[@]}" "$SERVER_BIN" --listen 127.0.0.1:0 --database-url "sqlite://$WORK_DIR/bench-r$round.db" \
        --rate-limit-per-address 0 --rate-limit-per-user 0 \
        >"$RUN_DIR/server-r$round.out" 2>"$RUN_DIR/server-r$round.err" &
    SERVER_PID=$!
    STARTED_PIDS+=("$SERVER_PID")
    SERVER_URL="$(wait_for_url "$RUN_DIR/server-r$round.out" "zego-push-server listening on " "$SERVER_PID" zego-push-server)"
    echo "==> round $round: zego-push-server listening on $SERVER_URL (pid $SERVER_PID)"
}

# Starts the guide's code under gunicorn and sets GUIDE_PID, GUIDE_URL and
# GUIDE_WORKER_PIDS. gunicorn prints the bound address, with the port it
# picked, in its "Listening at:" line at log level info.
start_guide() {
    local round=$1
    ZEGO_APP_ID="$APP_ID" ZEGO_SERVER_SECRET="$SERVER_SECRET" ZEGO_BASE_URL="$MOCK_URL" \
        "${ON_PROGRAM[@]}" "$VENV_DIR/bin/gunicorn" --chdir "$BENCH_DIR" --worker-class sync --workers "$GUIDE_WORKERS" \
        --bind 127.0.0.1:0 --log-level info --graceful-timeout 5 guide_app:app \
        >"$RUN_DIR/guide-r$round.out" 2>"$RUN_DIR/guide-r$round.err" &
    GUIDE_PID=$!
    STARTED_PIDS+=("$GUIDE_PID")
    GUIDE_URL="$(wait_for_url "$RUN_DIR/guide-r$round.err" "Listening at: " "$GUIDE_PID" gunicorn)"
    echo "==> round $round: guide app (gunicorn, $GUIDE_WORKERS sync workers) listening on $GUIDE_URL (pid $GUIDE_PID)"
    sleep "$SETTLE_SECONDS"
    # The master stops its workers. They are listed too, so that cleanup
    # stops them if the master dies.
    mapfile -t GUIDE_WORKER_PIDS < <(pgrep -P "$GUIDE_PID" || true)
    ((${#GUIDE_WORKER_PIDS[@]} == GUIDE_WORKERS)) ||
        die "gunicorn runs ${#GUIDE_WORKER_PIDS[@]} workers, expected $GUIDE_WORKERS; see $RUN_DIR/guide-r$round.err"
    STARTED_PIDS+=("${GUIDE_WORKER_PIDS[@]}")
}

stop_guide() {
    local pid
    stop_started "$GUIDE_PID"
    for pid in "${GUIDE_WORKER_PIDS[@]}"; do
        stop_started "$pid"
    done
}

# --- Rounds -----------------------------------------------------------------

# The server and the guide take turns, ROUNDS times, so that a slow phase
# of the machine falls on both. Only one of them runs at a time. The first
# round also reads the idle RSS of both and makes the server's
# PEAK_CONNECTIONS run.
SERVER_FILES=()
GUIDE_FILES=()
SERVER_MOCK_REJECTED=0
GUIDE_MOCK_REJECTED=0
for ((round = 1; round <= ROUNDS; round++)); do
    start_server "$round"
    if ((round == 1)); then
        sleep "$SETTLE_SECONDS"
        SERVER_IDLE_KIB="$(tree_rss_kib "$SERVER_PID")"
        echo "==> server idle RSS: $(kib_to_mib "$SERVER_IDLE_KIB") MiB"
    fi
    label="server-c$CONNECTIONS-r$round"
    run_wrk "$label" "$SERVER_URL" "$CONNECTIONS" "a$round" "$SERVER_PID"
    SERVER_FILES+=("$RUN_DIR/$label.txt")
    read -r ok rejected <<<"$(count_mock_calls "$label")"
    echo "$ok" >"$RUN_DIR/$label.mock-ok"
    SERVER_MOCK_REJECTED=$((SERVER_MOCK_REJECTED + rejected))
    if ((round == 1)); then
        sleep "$SETTLE_SECONDS"
        SERVER_AFTER_KIB="$(tree_rss_kib "$SERVER_PID")"
        run_wrk server-c"$PEAK_CONNECTIONS" "$SERVER_URL" "$PEAK_CONNECTIONS" b "$SERVER_PID"
        PEAK_FILE="$RUN_DIR/server-c$PEAK_CONNECTIONS.txt"
        read -r PEAK_MOCK_OK PEAK_MOCK_REJECTED <<<"$(count_mock_calls server-c"$PEAK_CONNECTIONS")"
        sleep "$SETTLE_SECONDS"
        SERVER_AFTER_PEAK_KIB="$(tree_rss_kib "$SERVER_PID")"
    fi
    stop_started "$SERVER_PID"

    start_guide "$round"
    if ((round == 1)); then
        GUIDE_IDLE_KIB="$(tree_rss_kib "$GUIDE_PID")"
        echo "==> guide idle RSS (master and workers): $(kib_to_mib "$GUIDE_IDLE_KIB") MiB"
    fi
    label="guide-c$CONNECTIONS-r$round"
    run_wrk "$label" "$GUIDE_URL" "$CONNECTIONS" "c$round" "$GUIDE_PID"
    GUIDE_FILES+=("$RUN_DIR/$label.txt")
    read -r ok rejected <<<"$(count_mock_calls "$label")"
    echo "$ok" >"$RUN_DIR/$label.mock-ok"
    GUIDE_MOCK_REJECTED=$((GUIDE_MOCK_REJECTED + rejected))
    stop_guide
done

# --- Summary ----------------------------------------------------------------

# Prints the median of the numbers given as arguments: the middle one, or
# the mean of the two middle ones when the count is even.
median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
        if (NR % 2) print v[(NR + 1) / 2]; else printf "%.10g\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# Prints, one per line, what command MEASURE prints for each wrk output
# file, called as MEASURE FILE EXTRA..., where the EXTRA arguments follow --.
values_of() {
    local measure=$1 file files=()
    shift
    while (($#)) && [[ $1 != -- ]]; do
        files+=("$1")
        shift
    done
    (($#)) && shift
    # Some measures print no newline, so each value gets one here.
    for file in "${files[@]}"; do
        printf '%s\n' "$("$measure" "$file" "$@")"
    done
}

# Prints the median, the sum or the largest of what values_of prints for
# the same arguments.
median_of() {
    local values
    mapfile -t values < <(values_of "$@")
    median "${values[@]}"
}

sum_of() {
    values_of "$@" | awk '{ total += $1 } END { print total + 0 }'
}

max_of() {
    values_of "$@" | sort -g | tail -n1
}

# Prints the calls zego-mock accepted during the run of wrk output FILE.
mock_ok() {
    cat "${1%.txt}.mock-ok"
}

PEAK_RPS="$(requests_per_second "$PEAK_FILE")"
SERVER_PEAK_C_KIB="$(cat "$RUN_DIR/server-c$CONNECTIONS-r1.peak-rss-kib")"
SERVER_PEAK_KIB="$(cat "$RUN_DIR/server-c$PEAK_CONNECTIONS.peak-rss-kib")"
GUIDE_PEAK_KIB="$(cat "$RUN_DIR/guide-c$CONNECTIONS-r1.peak-rss-kib")"

# Prints A / B to 3 significant digits, or to DIGITS when given.
ratio() {
    awk -v a="$1" -v b="$2" -v digits="${3:-3}" 'BEGIN { if (b > 0) printf "%." digits "g", a / b; else print "n/a" }'
}

# Prints "met" or "NOT met" for the comparison "A OP B" (OP is >=, <= or <),
# or "not checked" when A is not a number (a ratio with a zero divisor).
verdict() {
    awk -v a="$1" -v op="$2" -v b="$3" 'BEGIN {
        if (a !~ /^[0-9.eE+-]+$/) { print "not checked"; exit }
        ok = (op == ">=") ? a + 0 >= b + 0 : (op == "<=") ? a + 0 <= b + 0 : a + 0 < b + 0
        print ok ? "met" : "NOT met"
    }'
}

# Prints KIB in MB (1 MB = 10^6 bytes, as in the targets) to 1 decimal, or
# to DIGITS. The verdicts pass 10, so that they compare unrounded values.
kib_to_mb() {
    awk -v kib="$1" -v digits="${2:-1}" 'BEGIN { printf "%." digits "f", kib * 1024 / 1e6 }'
}

# Prints a ratio with an x after it, or n/a alone.
times() {
    if [[ $1 == n/a ]]; then echo "n/a"; else echo "${1}x"; fi
}

ms() {
    awk -v us="$1" 'BEGIN { printf "%.2f", us / 1000 }'
}

SERVER_RPS="$(median_of requests_per_second "${SERVER_FILES[@]}")"
GUIDE_RPS="$(median_of requests_per_second "${GUIDE_FILES[@]}")"
SERVER_OK_RPS="$(median_of successes_per_second "${SERVER_FILES[@]}")"
GUIDE_OK_RPS="$(median_of successes_per_second "${GUIDE_FILES[@]}")"
# The verdicts compare the unrounded ratios: 19.96 shown as 20 is not 20.
THROUGHPUT_RATIO="$(ratio "$SERVER_OK_RPS" "$GUIDE_OK_RPS")"
THROUGHPUT_RATIO_EXACT="$(ratio "$SERVER_OK_RPS" "$GUIDE_OK_RPS" 10)"
SERVER_P99_US="$(median_of bench_value "${SERVER_FILES[@]}" -- p99_us)"
GUIDE_P99_US="$(median_of bench_value "${GUIDE_FILES[@]}" -- p99_us)"
P99_RATIO="$(ratio "$SERVER_P99_US" "$GUIDE_P99_US")"
P99_RATIO_EXACT="$(ratio "$SERVER_P99_US" "$GUIDE_P99_US" 10)"
SERVER_CPU_US="$(median_of cpu_us_per_request "${SERVER_FILES[@]}" -- 1)"
GUIDE_CPU_US="$(median_of cpu_us_per_request "${GUIDE_FILES[@]}" -- 1)"

row() {
    printf '%-40s %14s %14s %12s\n' "$@"
}

{
    echo
    echo "Summary: $CONNECTIONS connections, $THREADS wrk threads, $DURATION per run, $ROUNDS round(s) for each program"
    echo "CPU layout: $(describe_layout)"
    echo "Each row is the median over the rounds, except the sums and the RSS of round 1."
    row "" "server" "guide" "server/guide"
    row "responses/s, any status" "$SERVER_RPS" "$GUIDE_RPS" "$(ratio "$SERVER_RPS" "$GUIDE_RPS")"
    row "2xx responses/s" "$SERVER_OK_RPS" "$GUIDE_OK_RPS" "$THROUGHPUT_RATIO"
    for percentile in 50 90 99; do
        server_us="$(median_of bench_value "${SERVER_FILES[@]}" -- p${percentile}_us)"
        guide_us="$(median_of bench_value "${GUIDE_FILES[@]}" -- p${percentile}_us)"
        row "p$percentile latency (ms)" "$(ms "$server_us")" "$(ms "$guide_us")" "$(ratio "$server_us" "$guide_us")"
    done
    row "max latency over all rounds (ms)" "$(ms "$(max_of bench_value "${SERVER_FILES[@]}" -- max_us)")" \
        "$(ms "$(max_of bench_value "${GUIDE_FILES[@]}" -- max_us)")" ""
    row "requests completed, sum" "$(sum_of bench_value "${SERVER_FILES[@]}" -- requests)" "$(sum_of bench_value "${GUIDE_FILES[@]}" -- requests)" ""
    row "non-2xx responses, sum" "$(sum_of bench_value "${SERVER_FILES[@]}" -- non_2xx)" "$(sum_of bench_value "${GUIDE_FILES[@]}" -- non_2xx)" ""
    row "socket errors and timeouts, sum" "$(sum_of socket_errors "${SERVER_FILES[@]}")" "$(sum_of socket_errors "${GUIDE_FILES[@]}")" ""
    row "zego-mock calls ok / rejected, sum" "$(sum_of mock_ok "${SERVER_FILES[@]}") / $SERVER_MOCK_REJECTED" \
        "$(sum_of mock_ok "${GUIDE_FILES[@]}") / $GUIDE_MOCK_REJECTED" ""
    row "CPU time per request (us)" "$SERVER_CPU_US" "$GUIDE_CPU_US" "$(ratio "$SERVER_CPU_US" "$GUIDE_CPU_US")"
    row "zego-mock CPU time per request (us)" "$(median_of cpu_us_per_request "${SERVER_FILES[@]}" -- 2)" \
        "$(median_of cpu_us_per_request "${GUIDE_FILES[@]}" -- 2)" ""
    row "RSS idle (MiB)" "$(kib_to_mib "$SERVER_IDLE_KIB")" "$(kib_to_mib "$GUIDE_IDLE_KIB")" ""
    row "RSS peak under load (MiB)" "$(kib_to_mib "$SERVER_PEAK_C_KIB")" "$(kib_to_mib "$GUIDE_PEAK_KIB")" ""
    row "RSS after load (MiB)" "$(kib_to_mib "$SERVER_AFTER_KIB")" "" ""
    echo "(guide RSS and CPU: sums over the gunicorn master and its $GUIDE_WORKERS workers;"
    echo " CPU time is user plus system time during the wrk run, divided by the requests wrk completed)"
    echo
    echo "Rounds (2xx responses/s and p99 latency):"
    for ((index = 0; index < ROUNDS; index++)); do
        server_file="${SERVER_FILES[index]}"
        guide_file="${GUIDE_FILES[index]}"
        echo "  round $((index + 1)): server $(successes_per_second "$server_file")/s, p99 $(latency_ms "$server_file" p99_us) ms;" \
            "guide $(successes_per_second "$guide_file")/s, p99 $(latency_ms "$guide_file" p99_us) ms;" \
            "throughput ratio $(ratio "$(successes_per_second "$server_file")" "$(successes_per_second "$guide_file")")," \
            "p99 ratio $(ratio "$(bench_value "$server_file" p99_us)" "$(bench_value "$guide_file" p99_us)")"
    done
    echo
    echo "Server with $PEAK_CONNECTIONS connections (round 1): $PEAK_RPS responses/s ($(successes_per_second "$PEAK_FILE") 2xx)," \
        "p99 $(latency_ms "$PEAK_FILE" p99_us) ms, $(bench_value "$PEAK_FILE" non_2xx) non-2xx," \
        "$(socket_errors "$PEAK_FILE") socket errors and timeouts," \
        "zego-mock calls ok / rejected $PEAK_MOCK_OK / $PEAK_MOCK_REJECTED," \
        "peak RSS $(kib_to_mib "$SERVER_PEAK_KIB") MiB, RSS after $(kib_to_mib "$SERVER_AFTER_PEAK_KIB") MiB"
    echo
    echo "Targets (medians over the rounds):"
    echo "  throughput (2xx responses/s) at least 20x the guide's: $(times "$THROUGHPUT_RATIO"), $(verdict "$THROUGHPUT_RATIO_EXACT" '>=' 20)"
    echo "  p99 at most 0.1x the guide's: $(times "$P99_RATIO"), $(verdict "$P99_RATIO_EXACT" '<=' 0.1)"
    echo "  idle RSS under 30 MB: $(kib_to_mb "$SERVER_IDLE_KIB") MB, $(verdict "$(kib_to_mb "$SERVER_IDLE_KIB" 10)" '<' 30)"
    if ((PEAK_CONNECTIONS == 1000)); then
        echo "  RSS under 100 MB with 1000 connections: $(kib_to_mb "$SERVER_PEAK_KIB") MB, $(verdict "$(kib_to_mb "$SERVER_PEAK_KIB" 10)" '<' 100)"
    else
        echo "  RSS under 100 MB with 1000 connections: not checked (PEAK_CONNECTIONS is $PEAK_CONNECTIONS); $(kib_to_mb "$SERVER_PEAK_KIB") MB with $PEAK_CONNECTIONS"
    fi
    echo
    echo "load average after the run: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "Raw outputs: $RUN_DIR"
} | tee "$RUN_DIR/summary.txt"

# A run with failed requests measured something other than registrations.
failures=0
for file in "${SERVER_FILES[@]}" "$PEAK_FILE" "${GUIDE_FILES[@]}"; do
    if (($(bench_value "$file" non_2xx) + $(socket_errors "$file") > 0)); then
        echo "load.sh: warning: $(basename "$file") has failed requests: its latencies include error replies but leave out timeouts; see the .err logs in $RUN_DIR" >&2
        failures=1
    fi
done
for rejected in "$SERVER_MOCK_REJECTED" "$PEAK_MOCK_REJECTED" "$GUIDE_MOCK_REJECTED"; do
    if ((rejected > 0)); then
        echo "load.sh: warning: zego-mock rejected calls; see $RUN_DIR/*.mock-calls.json" >&2
        failures=1
    fi
done
exit "$failures"

#!/usr/bin/env bash
# Builds the cargo-fuzz targets in fuzz/ and runs each for a bounded time.
# Exits non-zero when a target crashes or fails to build, and prints where
# the crashing input was saved. docs/fuzzing.md describes the targets.
#
# Usage: scripts/fuzz.sh [TARGET...]    (default: every target)
#
# Environment:
#   FUZZ_SECONDS       run time per target in seconds (default 60)
#   FUZZ_RSS_LIMIT_MB  memory limit of the fuzzing process in MB (default 2048)
#   FUZZ_TIMEOUT       seconds one input may take before it counts as a hang (default 10)
#   FUZZ_SANITIZER     sanitizer for cargo fuzz --sanitizer, such as address or none (default address)
#
# Needs the nightly toolchain (`rustup toolchain install nightly`). When
# cargo-fuzz is not on PATH, the script installs it from crates.io into
# target/tools with `cargo install`. Inputs that find new code paths go to
# fuzz/corpus/TARGET, crashing inputs to fuzz/artifacts/TARGET and each run's
# output to fuzz/logs/TARGET.log; git ignores all three.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

ALL_TARGETS=(register_body validators token04_parse token04_roundtrip)
CARGO_FUZZ_VERSION="0.13.2"
TOOLS_DIR="$REPO_ROOT/target/tools"

FUZZ_SECONDS="${FUZZ_SECONDS:-60}"
FUZZ_RSS_LIMIT_MB="${FUZZ_RSS_LIMIT_MB:-2048}"
FUZZ_TIMEOUT="${FUZZ_TIMEOUT:-10}"
FUZZ_SANITIZER="${FUZZ_SANITIZER:-address}"

# Returns the maximum input length in bytes for a target. The register body
# gets the server's body limit (16 KiB), and the validators enough for an FCM
# token over its 4096-character limit.
max_len() {
    case "$1" in
        register_body) echo 16384 ;;
        validators) echo 8192 ;;
        *) echo 4096 ;;
    esac
}

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'
}

check_number() {
    local name="$1" value="$2"
    if [[ ! "$value" =~ ^[1-9][0-9]*$ ]]; then
        echo "error: $name must be a positive whole number, not '$value'" >&2
        exit 2
    fi
}

# Fails unless the nightly toolchain runs, because cargo-fuzz needs it for
# the sanitizer and coverage flags.
check_nightly() {
    if ! cargo +nightly --version >/dev/null 2>&1; then
        echo "error: the nightly toolchain is missing or broken: 'cargo +nightly --version' failed." >&2
        echo "Install it with 'rustup toolchain install nightly'." >&2
        exit 1
    fi
}

# Puts cargo-fuzz on PATH, installing it into $TOOLS_DIR when needed.
ensure_cargo_fuzz() {
    export PATH="$TOOLS_DIR/bin:$PATH"
    if command -v cargo-fuzz >/dev/null 2>&1; then
        return
    fi
    echo "==> installing cargo-fuzz $CARGO_FUZZ_VERSION into $TOOLS_DIR"
    cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked --root "$TOOLS_DIR"
}

# Prints the runs, coverage and speed from a target's log.
summarize() {
    local target="$1" log="$2" done_line stats_line
    done_line="$(grep -E '^Done [0-9]+ runs' "$log" | tail -n 1 || true)"
    stats_line="$(grep -E '#[0-9]+.*cov: ' "$log" | tail -n 1 || true)"
    printf '%s: %s\n' "$target" "${done_line:-no final stats}"
    if [[ -n "$stats_line" ]]; then
        printf '    last status: %s\n' "$stats_line"
    fi
}

# Prints the crashing inputs libFuzzer saved for a target in this run.
report_crash() {
    local target="$1" marker="$2" artifact found=false
    echo "FAILED: $target crashed or exceeded a limit; its output is in fuzz/logs/$target.log" >&2
    while IFS= read -r artifact; do
        found=true
        echo "    input: $artifact" >&2
        echo "    reproduce: cargo +nightly fuzz run $target $artifact" >&2
        echo "    minimize:  cargo +nightly fuzz tmin $target $artifact" >&2
        echo "    print it:  cargo +nightly fuzz fmt $target $artifact" >&2
    done < <(find "fuzz/artifacts/$target" -type f -newer "$marker" 2>/dev/null)
    if [[ "$found" == false ]]; then
        echo "    libFuzzer saved no input; see the log" >&2
    fi
}

# Builds and runs one target. Returns non-zero when it fails.
run_target() {
    local target="$1" log="fuzz/logs/$1.log" marker dict_args=() seeds=() status=0
    echo
    echo "==> $target: building"
    if ! cargo +nightly fuzz build --sanitizer "$FUZZ_SANITIZER" "$target"; then
        echo "FAILED: $target did not build" >&2
        return 1
    fi

    mkdir -p "fuzz/corpus/$target" "fuzz/artifacts/$target" fuzz/logs
    if [[ -f "fuzz/dicts/$target.dict" ]]; then
        dict_args=("-dict=fuzz/dicts/$target.dict")
    fi
    if [[ -d "fuzz/seeds/$target" ]]; then
        seeds=("fuzz/seeds/$target")
    fi
    marker="$(mktemp)"

    echo "==> $target: fuzzing for $FUZZ_SECONDS s (output in $log)"
    # The first corpus directory receives new inputs, and the seeds are only read.
    cargo +nightly fuzz run --sanitizer "$FUZZ_SANITIZER" --jobs 1 "$target" \
        "fuzz/corpus/$target" "${seeds[@]}" -- \
        -max_total_time="$FUZZ_SECONDS" \
        -rss_limit_mb="$FUZZ_RSS_LIMIT_MB" \
        -max_len="$(max_len "$target")" \
        -timeout="$FUZZ_TIMEOUT" \
        -print_final_stats=1 \
        "${dict_args[@]}" >"$log" 2>&1 || status=$?

    summarize "$target" "$log"
    if ((status != 0)); then
        report_crash "$target" "$marker"
    fi
    rm -f "$marker"
    return "$status"
}

main() {
    if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
        usage
        exit 0
    fi

    local targets=("$@")
    if ((${#targets[@]} == 0)); then
        targets=("${ALL_TARGETS[@]}")
    fi
    local target known known_target
    for target in "${targets[@]}"; do
        known=false
        for known_target in "${ALL_TARGETS[@]}"; do
            if [[ "$target" == "$known_target" ]]; then
                known=true
            fi
        done
        if [[ "$known" == false ]]; then
            echo "error: unknown target '$target'; the targets are: ${ALL_TARGETS[*]}" >&2
            exit 2
        fi
    done
    check_number FUZZ_SECONDS "$FUZZ_SECONDS"
    check_number FUZZ_RSS_LIMIT_MB "$FUZZ_RSS_LIMIT_MB"
    check_number FUZZ_TIMEOUT "$FUZZ_TIMEOUT"

    check_nightly
    ensure_cargo_fuzz

    local start=$SECONDS failed=()
    for target in "${targets[@]}"; do
        run_target "$target" || failed+=("$target")
    done

    echo
    if ((${#failed[@]} > 0)); then
        echo "FAILED: ${failed[*]} (after $((SECONDS - start)) s)" >&2
        exit 1
    fi
    echo "No crashes in ${targets[*]} ($FUZZ_SECONDS s each, $((SECONDS - start)) s in total)."
}

main "$@"

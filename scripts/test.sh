#!/usr/bin/env bash
# Runs the whole test suite: formatting, clippy, the Rust tests and the Python
# tests against the real binaries. Exits non-zero when any step fails.
#
# Needs cargo with rustfmt and clippy, and Python 3.10 or later with venv and pip.
# Python packages go into .venv in the repository root. CARGO_TARGET_DIR is
# honoured when set.
#
# The tests get a PostgreSQL server through ZEGO_PUSH_TEST_POSTGRES_URL, and
# the CA certificate that signed its TLS certificate through
# ZEGO_PUSH_TEST_POSTGRES_SSLROOTCERT. When the caller leaves the URL unset,
# scripts/postgres.sh starts a server on 127.0.0.1 with its cluster in
# $TARGET_DIR/postgres (installing PostgreSQL with apt-get if needed, which
# needs root), both variables point to it, and the server is stopped on exit.
# A caller who sets the URL must also set ZEGO_PUSH_TEST_POSTGRES_SSLROOTCERT.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

# Tests talk to loopback only. A proxy in the caller's environment stays in
# use for downloads (crates, PyPI, apt), but loopback addresses bypass it in
# every client the tests run, Python's and the Rust test helpers' included.
loopback_hosts="127.0.0.1,localhost,::1"
export NO_PROXY="$loopback_hosts${NO_PROXY:+,$NO_PROXY}"
export no_proxy="$loopback_hosts${no_proxy:+,$no_proxy}"

# Cargo resolves a relative CARGO_TARGET_DIR against its working directory,
# which is the repository root from here on.
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
case "$TARGET_DIR" in
    /*) ;;
    *) TARGET_DIR="$REPO_ROOT/$TARGET_DIR" ;;
esac
BIN_DIR="$TARGET_DIR/debug"

VENV_DIR="$REPO_ROOT/.venv"
VENV_PYTHON="$VENV_DIR/bin/python"
REQUIREMENTS="python/requirements-test.txt"
REQUIREMENTS_HASH_FILE="$VENV_DIR/.requirements-hash"

POSTGRES_DIR="$TARGET_DIR/postgres"
postgres_started=false

current_step="setup"
suite_start=$SECONDS

step() {
    current_step="$1"
    printf '\n==> %s\n' "$current_step"
}

stop_postgres() {
    if [[ "$postgres_started" == true ]]; then
        scripts/postgres.sh stop "$POSTGRES_DIR" ||
            echo "warning: failed to stop the PostgreSQL server in $POSTGRES_DIR" >&2
    fi
}

report_result() {
    local status=$?
    stop_postgres
    if ((status != 0)); then
        printf '\nFAILED: %s (exit status %d)\n' "$current_step" "$status" >&2
    else
        printf '\nAll steps passed in %d s.\n' "$((SECONDS - suite_start))"
    fi
}
trap report_result EXIT
# Bash 5.2 does not run the EXIT trap when an untrapped SIGTERM kills it. These
# traps turn SIGINT and SIGTERM into an exit, which runs report_result, so the
# PostgreSQL server is stopped and the failure reported.
trap 'exit 130' INT
trap 'exit 143' TERM

setup_python_env() {
    step "Python environment: $VENV_DIR"
    if [[ ! -x "$VENV_PYTHON" ]]; then
        echo "creating the virtual environment"
        python3 -m venv "$VENV_DIR"
    fi

    local wanted_hash installed_hash=""
    wanted_hash="$(sha256sum "$REQUIREMENTS" | cut -d ' ' -f 1)"
    if [[ -f "$REQUIREMENTS_HASH_FILE" ]]; then
        installed_hash="$(<"$REQUIREMENTS_HASH_FILE")"
    fi
    if [[ "$wanted_hash" == "$installed_hash" ]]; then
        echo "$REQUIREMENTS is unchanged since the last install"
        return
    fi

    echo "installing $REQUIREMENTS"
    "$VENV_PYTHON" -m pip install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
    echo "$wanted_hash" >"$REQUIREMENTS_HASH_FILE"
}

check_format() {
    step "cargo fmt --all --check"
    cargo fmt --all --check
}

run_clippy() {
    step "cargo clippy --workspace --all-targets --locked -- -D warnings"
    cargo clippy --workspace --all-targets --locked -- -D warnings
}

check_fuzz_targets() {
    # fuzz/ is a workspace of its own (cargo-fuzz runs it on nightly, see
    # docs/fuzzing.md), so the steps above do not see it. Checking it with
    # stable cargo keeps the targets compiling as the code they call changes.
    step "cargo fmt and clippy of the fuzz targets (fuzz/Cargo.toml)"
    cargo fmt --manifest-path fuzz/Cargo.toml --all --check
    cargo clippy --manifest-path fuzz/Cargo.toml --locked --target-dir "$TARGET_DIR" --bins -- -D warnings
}

build_binaries() {
    # The e2e tests and pytest run the binaries from $BIN_DIR.
    step "cargo build --workspace --bins"
    cargo build --workspace --bins
}

start_postgres() {
    if [[ -n "${ZEGO_PUSH_TEST_POSTGRES_URL:-}" ]]; then
        step "PostgreSQL: using ZEGO_PUSH_TEST_POSTGRES_URL from the caller"
        if [[ -z "${ZEGO_PUSH_TEST_POSTGRES_SSLROOTCERT:-}" ]]; then
            echo "ZEGO_PUSH_TEST_POSTGRES_SSLROOTCERT is not set: set it to the CA certificate that signed the TLS certificate of the server in ZEGO_PUSH_TEST_POSTGRES_URL, or unset the URL so that scripts/postgres.sh starts a server" >&2
            return 1
        fi
        export ZEGO_PUSH_TEST_POSTGRES_URL ZEGO_PUSH_TEST_POSTGRES_SSLROOTCERT
        return
    fi

    step "PostgreSQL: scripts/postgres.sh start $POSTGRES_DIR"
    # Set before the start, so that the trap also stops a server whose start
    # failed after the server came up.
    postgres_started=true
    ZEGO_PUSH_TEST_POSTGRES_URL="$(scripts/postgres.sh start "$POSTGRES_DIR")"
    export ZEGO_PUSH_TEST_POSTGRES_URL
    # scripts/postgres.sh keeps its test CA in the cluster directory.
    export ZEGO_PUSH_TEST_POSTGRES_SSLROOTCERT="$POSTGRES_DIR/ca.crt"
    echo "ZEGO_PUSH_TEST_POSTGRES_URL=$ZEGO_PUSH_TEST_POSTGRES_URL"
    echo "ZEGO_PUSH_TEST_POSTGRES_SSLROOTCERT=$ZEGO_PUSH_TEST_POSTGRES_SSLROOTCERT"
}

run_rust_tests() {
    # Rust tests that run the integration guide's Python code use $PYTHON.
    step "cargo test --workspace (PYTHON=$VENV_PYTHON)"
    PYTHON="$VENV_PYTHON" cargo test --workspace
}

install_python_package() {
    # maturin develop builds zego_push._native with the dev profile, sharing
    # target/ with the cargo steps above, and installs the package into .venv
    # in editable form (the .so goes next to python/zego_push/__init__.py).
    step "maturin develop: zego_push into $VENV_DIR"
    VIRTUAL_ENV="$VENV_DIR" "$VENV_DIR/bin/maturin" develop --quiet
}

check_python_stubs() {
    step "python -m mypy.stubtest zego_push"
    "$VENV_PYTHON" -m mypy.stubtest zego_push
}

run_python_tests() {
    step "pytest python/tests (ZEGO_PUSH_BIN_DIR=$BIN_DIR)"
    ZEGO_PUSH_BIN_DIR="$BIN_DIR" "$VENV_PYTHON" -m pytest python/tests -q
}

setup_python_env
check_format
run_clippy
check_fuzz_targets
build_binaries
start_postgres
run_rust_tests
install_python_package
check_python_stubs
run_python_tests

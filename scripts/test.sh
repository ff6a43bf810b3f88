#!/usr/bin/env bash
# Runs the whole test suite: formatting, clippy, the Rust tests and the Python
# tests against the real binaries. Exits non-zero when any step fails.
#
# Needs cargo with rustfmt and clippy, and Python 3.11 with venv and pip.
# Python packages go into .venv in the repository root. CARGO_TARGET_DIR is
# honoured when set.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

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

current_step="setup"
suite_start=$SECONDS

step() {
    current_step="$1"
    printf '\n==> %s\n' "$current_step"
}

report_result() {
    local status=$?
    if ((status != 0)); then
        printf '\nFAILED: %s (exit status %d)\n' "$current_step" "$status" >&2
    else
        printf '\nAll steps passed in %d s.\n' "$((SECONDS - suite_start))"
    fi
}
trap report_result EXIT

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

build_binaries() {
    # The e2e tests and pytest run the binaries from $BIN_DIR.
    step "cargo build --workspace --bins"
    cargo build --workspace --bins
}

run_rust_tests() {
    # Rust tests that run the integration guide's Python code use $PYTHON.
    step "cargo test --workspace (PYTHON=$VENV_PYTHON)"
    PYTHON="$VENV_PYTHON" cargo test --workspace
}

run_python_tests() {
    step "pytest python/tests (ZEGO_PUSH_BIN_DIR=$BIN_DIR)"
    ZEGO_PUSH_BIN_DIR="$BIN_DIR" "$VENV_PYTHON" -m pytest python/tests -q
}

setup_python_env
check_format
run_clippy
build_binaries
# TODO: start the PostgreSQL server for the tests here, once the server stores bindings in PostgreSQL.
run_rust_tests
# TODO: build the Python extension with maturin here, once it exists, so pytest can import it.
run_python_tests

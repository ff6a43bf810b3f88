#!/usr/bin/env bash
# Python benchmark: the integration guide's register_zego_push_token and
# generate_zego_signature against zego_push's, on one local zego-mock.
# docs/benchmarks.md explains the method.
#
# Settings, all environment variables:
#   DURATION=5        seconds per measurement
#   THREADS=8         threads for the threaded runs, and asyncio calls in flight
#   RESULTS_DIR       default bench/results; the JSON results go to
#                     RESULTS_DIR/python-TIMESTAMP.json
#   CARGO_TARGET_DIR  honoured, as in scripts/test.sh
#
# Needs cargo and Python 3.10 or later with venv and pip. It installs the
# guide's stack (bench/requirements.txt) and zego_push (`pip install .`, a
# release build) into bench/.venv, and builds zego-mock in release mode.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

DURATION="${DURATION:-5}"
THREADS="${THREADS:-8}"
RESULTS_DIR="${RESULTS_DIR:-$REPO_ROOT/bench/results}"
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
case "$TARGET_DIR" in
    /*) ;;
    *) TARGET_DIR="$REPO_ROOT/$TARGET_DIR" ;;
esac
VENV_DIR="$REPO_ROOT/bench/.venv"

# Proxy variables would route requests (Python requests, Rust reqwest) away
# from loopback, so they are cleared for every process this script starts.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost

echo "==> bench/.venv: bench/requirements.txt and zego_push (pip install .)"
[[ -x "$VENV_DIR/bin/python" ]] || python3 -m venv "$VENV_DIR"
"$VENV_DIR/bin/python" -m pip install --quiet --disable-pip-version-check -r bench/requirements.txt
"$VENV_DIR/bin/python" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps .

echo "==> cargo build --release -p zego-mock"
cargo build --release --quiet -p zego-mock

mkdir -p "$RESULTS_DIR"
echo "==> bench/python_bench.py (DURATION=$DURATION THREADS=$THREADS, commit $(git rev-parse --short HEAD))"
"$VENV_DIR/bin/python" bench/python_bench.py \
    --mock-bin "$TARGET_DIR/release/zego-mock" \
    --duration "$DURATION" \
    --threads "$THREADS" \
    --output "$RESULTS_DIR/python-$(date +%Y%m%d-%H%M%S).json"

# Tasks for the zego-push workspace. `just --list` shows them.

mock_app := "1234567890:0123456789abcdef0123456789abcdef"

# Run the push server; arguments go to the server.
run *ARGS:
    cargo run -p zego-push-server -- {{ARGS}}

# Run the whole test suite, as CI does.
test:
    scripts/test.sh

# Check formatting and run clippy with warnings as errors.
lint:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets --locked -- -D warnings

# Run the fake ZEGO API with the test app; arguments go to zego-mock.
mock *ARGS:
    cargo run -p zego-mock -- --app {{mock_app}} {{ARGS}}

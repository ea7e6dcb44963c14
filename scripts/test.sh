#!/usr/bin/env bash
# Runs the whole test suite: formatting and lints first (cargo fmt --check, clippy with
# warnings as errors), then unit, property, state machine and end-to-end tests (real node
# processes on loopback, real RocksDB on disk). Installs what it needs when missing.
source "$(dirname "$0")/lib.sh"
# The explorer's browser test drives Debian's headless Chromium through chromedriver.
APT_PACKAGES+=(chromium chromium-driver)
setup
cd "$ROOT"
say "checking formatting (cargo fmt --check)"
cargo fmt --all -- --check
build_workspace
say "linting (cargo clippy, warnings are errors)"
cargo clippy --workspace --all-targets -- -D warnings
say "running the test suite"
cargo test --workspace

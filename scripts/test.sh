#!/usr/bin/env bash
# Runs the whole test suite: unit, property, state-machine and end-to-end tests (real node
# processes on loopback, real RocksDB on disk). Installs what it needs when missing.
source "$(dirname "$0")/lib.sh"
setup
build_workspace
say "running the test suite"
cd "$ROOT"
cargo test --workspace

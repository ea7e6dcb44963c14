# Shared set-up for the project scripts: installs what the build needs when missing and
# points cargo at a target directory that outlives the clone (a cold build of RocksDB and
# the cryptography, libp2p, the consensus engine and tfhe takes about 32 minutes on 2 cores; later
# runs reuse it).
# Sourced, not run.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/confidential-ledger/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

say() { printf '==> %s\n' "$*" >&2; }

# The crypto suite of networks the scripts create: LEDGER_CRYPTO_SUITE=sm makes an SM chain
# (SM3, SM2, SM4-GCM; docs/crypto-suites.md). SoftHSM has no SM2 mechanism, so SM nodes keep
# their keys in the software backend (passphrase-sealed files; LEDGER_KEY_PASSPHRASE) and
# default-suite nodes each in their own SoftHSM token.
LEDGER_CRYPTO_SUITE="${LEDGER_CRYPTO_SUITE:-default}"
if [ "$LEDGER_CRYPTO_SUITE" = sm ]; then
    export LEDGER_KEY_PASSPHRASE="${LEDGER_KEY_PASSPHRASE:-demo key passphrase}"
fi
# node_keys NET NAME: prepares NAME's key store and prints the `ledger-node init` key
# arguments, one per line (a SoftHSM token for the default suite; software keys for SM).
node_keys() {
    local net="$1" name="$2"
    if [ "$LEDGER_CRYPTO_SUITE" = sm ]; then
        printf '%s\n' --crypto-suite sm --key-backend software
    else
        HSM_USER_PIN="$LEDGER_HSM_PIN" "$ROOT/hsm/softhsm-token.sh" "$net/softhsm/$name" "$name-token" >/dev/null
        printf '%s\n' --key-backend pkcs11 --pkcs11-token "$name-token"
    fi
}

# Debian packages the build and tests need: clang/libclang for RocksDB's bindgen, a C++
# compiler for RocksDB itself, SoftHSM2 (the PKCS#11 token the HSM tests create) and
# OpenSC (pkcs11-tool, the independent PKCS#11 client the tests compare against), and
# Python with venv (the HPKE interop test installs pyhpke from PyPI into a venv).
APT_PACKAGES=(clang libclang-dev g++ make pkg-config softhsm2 opensc openssl python3 python3-venv curl)

install_apt_packages() {
    local missing=()
    for p in "${APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    say "installing Debian packages: ${missing[*]}"
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || { echo "error: need root or sudo to install ${missing[*]}" >&2; exit 1; }
        sudo="sudo"
    fi
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

check_rust() {
    if ! command -v cargo >/dev/null; then
        echo "error: cargo not found. Install Rust 1.91 or newer with rustup (https://rustup.rs) and run this again." >&2
        exit 1
    fi
    # The test command checks formatting and lints; rustup's minimal profile lacks both.
    if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
        command -v rustup >/dev/null || { echo "error: cargo fmt and cargo clippy are needed: install the rustfmt and clippy components" >&2; exit 1; }
        say "installing the rustfmt and clippy components"
        rustup component add rustfmt clippy
    fi
}

setup() {
    install_apt_packages
    check_rust
    mkdir -p "$CARGO_TARGET_DIR"
    say "cargo target directory: $CARGO_TARGET_DIR"
}

# Every build goes through the same command, so features unify the same way and the
# bundled RocksDB is compiled once.
build_workspace() {
    say "building the workspace (the first build takes about 32 minutes on 2 cores)"
    (cd "$ROOT" && cargo build --workspace --all-targets "$@")
}

#!/usr/bin/env bash
# Creates a private SoftHSM2 token for development and tests: its own softhsm2.conf and
# token directory under DIR, never the system configuration.
#
#   HSM_SO_PIN=... HSM_USER_PIN=... hsm/softhsm-token.sh DIR LABEL
#
# PINs come from the environment, never from arguments (arguments show in `ps`). Prints
# the SOFTHSM2_CONF line to export so that the node and pkcs11-tool find the token.
set -euo pipefail
if [ $# -ne 2 ]; then
    echo "usage: HSM_SO_PIN=... HSM_USER_PIN=... $0 DIR LABEL" >&2
    exit 2
fi
: "${HSM_SO_PIN:?set HSM_SO_PIN (security officer PIN of the token)}"
: "${HSM_USER_PIN:?set HSM_USER_PIN (the PIN the node logs in with)}"
command -v softhsm2-util >/dev/null || { echo "error: softhsm2-util not found; install the softhsm2 package" >&2; exit 1; }
dir="$(mkdir -p "$1" && cd "$1" && pwd)"
label="$2"
mkdir -p "$dir/tokens"
cat > "$dir/softhsm2.conf" <<CONF
directories.tokendir = $dir/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
CONF
export SOFTHSM2_CONF="$dir/softhsm2.conf"
if softhsm2-util --show-slots 2>/dev/null | grep -q "Label:[[:space:]]*$label\$"; then
    echo "token $label already exists in $dir" >&2
else
    # softhsm2-util reads PINs only from arguments; they live for this one call.
    softhsm2-util --init-token --free --label "$label" --so-pin "$HSM_SO_PIN" --pin "$HSM_USER_PIN" >/dev/null
    echo "created token $label in $dir" >&2
fi
echo "export SOFTHSM2_CONF=$dir/softhsm2.conf"

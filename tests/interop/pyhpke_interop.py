#!/usr/bin/env python3
"""The other side of the HPKE interop test (tests/tests/hpke_interop.rs), using pyhpke, an
independent implementation of RFC 9180, with the ledger's suite: base mode,
DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-256-GCM.

  open --sk HEX --enc HEX --ct HEX --info HEX --aad HEX   prints the plaintext (hex)
  seal --pk HEX --pt HEX --info HEX --aad HEX             prints enc and ciphertext (hex)

Keys: a P-256 private scalar (32 bytes) and an uncompressed public point (65 bytes).
"""
import argparse
import sys

from pyhpke import AEADId, CipherSuite, KDFId, KEMId

SUITE = CipherSuite.new(KEMId.DHKEM_P256_HKDF_SHA256, KDFId.HKDF_SHA256, AEADId.AES256_GCM)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["open", "seal"])
    for a in ["sk", "pk", "enc", "ct", "pt", "info", "aad"]:
        p.add_argument(f"--{a}", default="")
    a = p.parse_args()
    h = bytes.fromhex
    if a.mode == "open":
        skr = SUITE.kem.deserialize_private_key(h(a.sk))
        ctx = SUITE.create_recipient_context(h(a.enc), skr, info=h(a.info))
        print(ctx.open(h(a.ct), aad=h(a.aad)).hex())
    else:
        pkr = SUITE.kem.deserialize_public_key(h(a.pk))
        enc, ctx = SUITE.create_sender_context(pkr, info=h(a.info))
        print(enc.hex())
        print(ctx.seal(h(a.pt), aad=h(a.aad)).hex())
    return 0


if __name__ == "__main__":
    sys.exit(main())

//! HPKE (RFC 9180), base mode: how field data keys are wrapped to each reader.
//!
//! On chains of the default crypto suite the suite is DHKEM(P-256, HKDF-SHA256) (0x0010),
//! HKDF-SHA256 (0x0001) and AES-256-GCM (0x0002), as registered. On chains of the SM suite
//! the same construction runs over SM primitives: DHKEM over the SM2 curve with HKDF-SM3,
//! HKDF-SM3, and SM4-GCM (RFC 8998's AEAD, 128-bit key); these have no IANA code points, so
//! the suite ids below are our own (`docs/crypto-suites.md` says why this shape and not SM2
//! public-key encryption, which has no associated data).
//!
//! Sealing needs only the recipient's public key. Opening needs the Diffie-Hellman of the
//! recipient's private key with the sender's ephemeral key; [`open`] takes that as a
//! callback, so the private key can stay in an HSM (`KeyProvider::ecdh`, which returns the
//! raw shared x-coordinate, as DHKEM's `DH()` is defined). Everything else (the KEM's
//! `ExtractAndExpand`, the key schedule, the AEAD) runs here, on the host.
//!
//! One message per context (sequence number 0), which is all key wrapping needs. The
//! ephemeral key is fresh for every [`seal`]; the deterministic entry point exists for the
//! RFC's known-answer tests only.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::Aes256Gcm;
use hkdf::Hkdf;
use ledger_types::CryptoSuite;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::sm::{Sm4Gcm, SM2_POINT_LEN};
use crate::CryptoError;

/// DHKEM(P-256, HKDF-SHA256).
pub const KEM_ID: u16 = 0x0010;
/// HKDF-SHA256.
pub const KDF_ID: u16 = 0x0001;
/// AES-256-GCM.
pub const AEAD_ID: u16 = 0x0002;
/// DHKEM(SM2, HKDF-SM3): not registered with IANA; `S2`.
pub const SM_KEM_ID: u16 = 0x5332;
/// HKDF-SM3: not registered; `S3`.
pub const SM_KDF_ID: u16 = 0x5333;
/// SM4-GCM: not registered; `S4`.
pub const SM_AEAD_ID: u16 = 0x5334;
/// Length of `enc`, an uncompressed point (P-256 or SM2).
pub const ENC_LEN: usize = 65;

const MODE_BASE: u8 = 0x00;
const NN: usize = 12;

/// The primitives of one suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kem {
    P256,
    Sm2,
}

impl Kem {
    fn of(suite: CryptoSuite) -> Kem {
        match suite {
            CryptoSuite::Sm => Kem::Sm2,
            _ => Kem::P256,
        }
    }
    fn ids(self) -> (u16, u16, u16) {
        match self {
            Kem::P256 => (KEM_ID, KDF_ID, AEAD_ID),
            Kem::Sm2 => (SM_KEM_ID, SM_KDF_ID, SM_AEAD_ID),
        }
    }
    fn curve(self) -> &'static str {
        match self {
            Kem::P256 => "P-256",
            Kem::Sm2 => "the SM2 curve",
        }
    }
    /// The AEAD key length.
    fn nk(self) -> usize {
        match self {
            Kem::P256 => 32,
            Kem::Sm2 => 16,
        }
    }
    fn kem_suite_id(self) -> Vec<u8> {
        [b"KEM".as_slice(), &self.ids().0.to_be_bytes()].concat()
    }
    fn hpke_suite_id(self) -> Vec<u8> {
        let (kem, kdf, aead) = self.ids();
        [
            b"HPKE".as_slice(),
            &kem.to_be_bytes(),
            &kdf.to_be_bytes(),
            &aead.to_be_bytes(),
        ]
        .concat()
    }

    fn labeled_extract(
        self,
        suite_id: &[u8],
        salt: &[u8],
        label: &[u8],
        ikm: &[u8],
    ) -> Zeroizing<Vec<u8>> {
        let labeled_ikm = Zeroizing::new([b"HPKE-v1".as_slice(), suite_id, label, ikm].concat());
        match self {
            Kem::P256 => {
                Zeroizing::new(Hkdf::<Sha256>::extract(Some(salt), &labeled_ikm).0.to_vec())
            }
            Kem::Sm2 => Zeroizing::new(
                Hkdf::<sm3::Sm3>::extract(Some(salt), &labeled_ikm)
                    .0
                    .to_vec(),
            ),
        }
    }

    fn labeled_expand(
        self,
        suite_id: &[u8],
        prk: &[u8],
        label: &[u8],
        info: &[u8],
        len: usize,
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let labeled_info = [
            &(len as u16).to_be_bytes()[..],
            b"HPKE-v1",
            suite_id,
            label,
            info,
        ]
        .concat();
        let bad_prk = |_| CryptoError::KeyAgreementFailed {
            reason: "HKDF pseudorandom key has the wrong length".into(),
        };
        let too_long = |_| CryptoError::KeyAgreementFailed {
            reason: "HKDF output too long".into(),
        };
        let mut out = Zeroizing::new(vec![0u8; len]);
        match self {
            Kem::P256 => Hkdf::<Sha256>::from_prk(prk)
                .map_err(bad_prk)?
                .expand(&labeled_info, &mut out)
                .map_err(too_long)?,
            Kem::Sm2 => Hkdf::<sm3::Sm3>::from_prk(prk)
                .map_err(bad_prk)?
                .expand(&labeled_info, &mut out)
                .map_err(too_long)?,
        }
        Ok(out)
    }

    /// DHKEM's `ExtractAndExpand(dh, enc || pkRm)`.
    fn shared_secret(
        self,
        dh: &[u8],
        enc: &[u8],
        pk_r: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let suite = self.kem_suite_id();
        let eae_prk = self.labeled_extract(&suite, b"", b"eae_prk", dh);
        let kem_context = [enc, pk_r].concat();
        self.labeled_expand(&suite, &eae_prk, b"shared_secret", &kem_context, 32)
    }

    /// The base-mode key schedule: the AEAD key and nonce (sequence 0).
    fn key_schedule(
        self,
        shared_secret: &[u8],
        info: &[u8],
    ) -> Result<(Zeroizing<Vec<u8>>, Vec<u8>), CryptoError> {
        let suite = self.hpke_suite_id();
        let psk_id_hash = self.labeled_extract(&suite, b"", b"psk_id_hash", b"");
        let info_hash = self.labeled_extract(&suite, b"", b"info_hash", info);
        let context = [&[MODE_BASE][..], &psk_id_hash, &info_hash].concat();
        let secret = self.labeled_extract(&suite, shared_secret, b"secret", b"");
        let key = self.labeled_expand(&suite, &secret, b"key", &context, self.nk())?;
        let nonce = self.labeled_expand(&suite, &secret, b"base_nonce", &context, NN)?;
        Ok((key, nonce.to_vec()))
    }

    /// Checks an uncompressed point on the suite's curve (not the identity).
    fn check_point(self, bytes: &[u8], what: &'static str) -> Result<(), CryptoError> {
        let scheme = match self {
            Kem::P256 => "p256",
            Kem::Sm2 => "sm2",
        };
        if bytes.len() != ENC_LEN || bytes[0] != 4 {
            return Err(CryptoError::InvalidPublicKey {
                scheme,
                reason: format!(
                    "{what}: expected a 65-byte uncompressed point on {}, got {} bytes",
                    self.curve(),
                    bytes.len()
                ),
            });
        }
        let ok = match self {
            Kem::P256 => p256::PublicKey::from_sec1_bytes(bytes).is_ok(),
            Kem::Sm2 => sm2::PublicKey::from_sec1_bytes(bytes).is_ok(),
        };
        if ok {
            Ok(())
        } else {
            Err(CryptoError::InvalidPublicKey {
                scheme,
                reason: format!("{what} is not a point on {}", self.curve()),
            })
        }
    }

    fn aead_seal(
        self,
        key: &[u8],
        nonce: &[u8],
        aad: &[u8],
        msg: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let payload = Payload { msg, aad };
        let failed = |_| CryptoError::KeyAgreementFailed {
            reason: "AEAD encryption failed".into(),
        };
        match self {
            Kem::P256 => aes256(key)?.encrypt(nonce.into(), payload).map_err(failed),
            Kem::Sm2 => sm4(key)?.encrypt(nonce.into(), payload).map_err(failed),
        }
    }

    fn aead_open(
        self,
        key: &[u8],
        nonce: &[u8],
        aad: &[u8],
        msg: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let payload = Payload { msg, aad };
        let failed = |_| CryptoError::OpenFailed {
            what: "HPKE ciphertext",
        };
        match self {
            Kem::P256 => aes256(key)?.decrypt(nonce.into(), payload).map_err(failed),
            Kem::Sm2 => sm4(key)?.decrypt(nonce.into(), payload).map_err(failed),
        }
        .map(Zeroizing::new)
    }
}

fn aes256(key: &[u8]) -> Result<Aes256Gcm, CryptoError> {
    Aes256Gcm::new_from_slice(key).map_err(|_| CryptoError::KeyAgreementFailed {
        reason: "AEAD key has the wrong length".into(),
    })
}

fn sm4(key: &[u8]) -> Result<Sm4Gcm, CryptoError> {
    Sm4Gcm::new_from_slice(key).map_err(|_| CryptoError::KeyAgreementFailed {
        reason: "AEAD key has the wrong length".into(),
    })
}

/// Checks that `bytes` can be a recipient's key on this chain: an uncompressed point on the
/// curve of the chain's suite (P-256, or SM2 on SM chains), not the identity.
pub fn check_public_key(bytes: &[u8]) -> Result<(), CryptoError> {
    check_public_key_in(CryptoSuite::current(), bytes)
}

/// [`check_public_key`] for a given suite.
pub fn check_public_key_in(suite: CryptoSuite, bytes: &[u8]) -> Result<(), CryptoError> {
    Kem::of(suite).check_point(bytes, "the encryption key")
}

/// Seals `plaintext` to the recipient public key `pk_r` (uncompressed SEC1) with a fresh
/// ephemeral key. Returns `(enc, ciphertext)`.
///
/// The ephemeral key and its Diffie-Hellman come from `ring` (assembly P-256, several times
/// faster than the portable arithmetic: a 10-field record with 3 readers is 30 of these);
/// the known-answer tests pin the same schedule through [`seal_with_ephemeral_for_tests`].
pub fn seal(
    pk_r: &[u8],
    info: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<(Vec<u8>, Vec<u8>), CryptoError> {
    seal_in(CryptoSuite::current(), pk_r, info, aad, plaintext)
}

/// [`seal`] under a given suite.
pub fn seal_in(
    suite: CryptoSuite,
    pk_r: &[u8],
    info: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<(Vec<u8>, Vec<u8>), CryptoError> {
    use ring::agreement;
    let kem = Kem::of(suite);
    kem.check_point(pk_r, "recipient public key")?;
    if kem == Kem::Sm2 {
        let sk_e: Zeroizing<[u8; 32]> = Zeroizing::new(
            sm2::SecretKey::random(&mut rand::rngs::OsRng)
                .to_bytes()
                .into(),
        );
        return seal_with(kem, &sk_e, pk_r, info, aad, plaintext);
    }
    let rng = ring::rand::SystemRandom::new();
    let sk_e =
        agreement::EphemeralPrivateKey::generate(&agreement::ECDH_P256, &rng).map_err(|_| {
            CryptoError::KeyAgreementFailed {
                reason: "generating the ephemeral key failed".into(),
            }
        })?;
    let enc = sk_e
        .compute_public_key()
        .map_err(|_| CryptoError::KeyAgreementFailed {
            reason: "computing the ephemeral public key failed".into(),
        })?
        .as_ref()
        .to_vec();
    let ss = agreement::agree_ephemeral(
        sk_e,
        &agreement::UnparsedPublicKey::new(&agreement::ECDH_P256, pk_r),
        |dh| kem.shared_secret(dh, &enc, pk_r),
    )
    .map_err(|_| CryptoError::InvalidPublicKey {
        scheme: "p256",
        reason: "recipient public key refused by the key agreement".into(),
    })??;
    encrypt(kem, &ss, info, aad, plaintext).map(|ct| (enc, ct))
}

/// [`seal`] with a given ephemeral secret: for known-answer tests only. Reusing an
/// ephemeral key for two messages breaks confidentiality.
pub fn seal_with_ephemeral_for_tests(
    suite: CryptoSuite,
    sk_e: &[u8; 32],
    pk_r: &[u8],
    info: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<(Vec<u8>, Vec<u8>), CryptoError> {
    seal_with(Kem::of(suite), sk_e, pk_r, info, aad, plaintext)
}

/// The seal with the ephemeral scalar `sk_e` on the suite's curve: `enc` is its public
/// point, the Diffie-Hellman the x-coordinate of `sk_e * pk_r`.
fn seal_with(
    kem: Kem,
    sk_e: &[u8; 32],
    pk_r: &[u8],
    info: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<(Vec<u8>, Vec<u8>), CryptoError> {
    kem.check_point(pk_r, "recipient public key")?;
    let not_scalar = |curve| CryptoError::InvalidSecretKey { reason: curve };
    let (enc, dh) = match kem {
        Kem::P256 => {
            let sk =
                p256::SecretKey::from_slice(sk_e).map_err(|_| not_scalar("not a P-256 scalar"))?;
            let enc = sk.public_key().to_encoded_point(false).as_bytes().to_vec();
            (enc, software_dh(sk_e)(pk_r)?)
        }
        Kem::Sm2 => {
            let sk =
                sm2::SecretKey::from_slice(sk_e).map_err(|_| not_scalar("not an SM2 scalar"))?;
            let enc = sk.public_key().to_encoded_point(false).as_bytes().to_vec();
            debug_assert_eq!(enc.len(), SM2_POINT_LEN);
            (enc, sm2_software_dh(sk_e)(pk_r)?)
        }
    };
    let ss = kem.shared_secret(&dh, &enc, pk_r)?;
    encrypt(kem, &ss, info, aad, plaintext).map(|ct| (enc, ct))
}

/// The key schedule from the shared secret, then the AEAD seal of sequence 0.
fn encrypt(
    kem: Kem,
    ss: &[u8],
    info: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let (key, nonce) = kem.key_schedule(ss, info)?;
    kem.aead_seal(&key, &nonce, aad, plaintext)
}

/// Opens what [`seal`] produced for `pk_r`. `dh` computes the recipient's Diffie-Hellman
/// with the given (validated) ephemeral point and returns the 32-byte x-coordinate; it is
/// where an HSM does its part.
pub fn open(
    enc: &[u8],
    pk_r: &[u8],
    info: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
    dh: impl FnOnce(&[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError>,
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    open_in(CryptoSuite::current(), enc, pk_r, info, aad, ciphertext, dh)
}

/// [`open`] under a given suite.
pub fn open_in(
    suite: CryptoSuite,
    enc: &[u8],
    pk_r: &[u8],
    info: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
    dh: impl FnOnce(&[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError>,
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let kem = Kem::of(suite);
    kem.check_point(enc, "sender's ephemeral key (enc)")?;
    kem.check_point(pk_r, "recipient public key")?;
    let shared = dh(enc)?;
    if shared.len() != 32 || shared.iter().all(|b| *b == 0) {
        return Err(CryptoError::KeyAgreementFailed {
            reason: format!(
                "the Diffie-Hellman output is not a valid x-coordinate on {}",
                kem.curve()
            ),
        });
    }
    let ss = kem.shared_secret(&shared, enc, pk_r)?;
    let (key, nonce) = kem.key_schedule(&ss, info)?;
    kem.aead_open(&key, &nonce, aad, ciphertext)
}

/// The recipient's Diffie-Hellman in software, for tests and tools holding the key.
pub fn software_dh(
    sk_r: &[u8; 32],
) -> impl FnOnce(&[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> + '_ {
    move |enc| {
        let sk = p256::SecretKey::from_slice(sk_r).map_err(|_| CryptoError::InvalidSecretKey {
            reason: "not a P-256 scalar",
        })?;
        Kem::P256.check_point(enc, "sender's ephemeral key (enc)")?;
        let pe =
            p256::PublicKey::from_sec1_bytes(enc).map_err(|_| CryptoError::InvalidPublicKey {
                scheme: "p256",
                reason: "sender's ephemeral key (enc) is not a point on P-256".into(),
            })?;
        let dh = p256::ecdh::diffie_hellman(sk.to_nonzero_scalar(), pe.as_affine());
        Ok(Zeroizing::new(dh.raw_secret_bytes().to_vec()))
    }
}

/// The recipient's Diffie-Hellman on the SM2 curve in software (SM chains' software keys,
/// tests and tools).
pub fn sm2_software_dh(
    sk_r: &[u8; 32],
) -> impl FnOnce(&[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> + '_ {
    move |enc| {
        let sk = sm2::SecretKey::from_slice(sk_r).map_err(|_| CryptoError::InvalidSecretKey {
            reason: "not an SM2 scalar",
        })?;
        let pe =
            sm2::PublicKey::from_sec1_bytes(enc).map_err(|_| CryptoError::InvalidPublicKey {
                scheme: "sm2",
                reason: "sender's ephemeral key (enc) is not a point on the SM2 curve".into(),
            })?;
        Ok(crate::sm::sm2_dh(&sk.to_nonzero_scalar(), &pe))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    // RFC 9180 test vectors (CFRG HPKE draft repository, test-vectors.json, commit 5f503c5;
    // via shared/test-vectors/hpke-rfc9180-dhkem-p256-hkdf-sha256.json): mode 0 (base),
    // KEM 0x0010, KDF 0x0001, AEAD 0x0002 (AES-256-GCM), encryptions with sequence 0.
    const INFO: &str = "4f6465206f6e2061204772656369616e2055726e";
    const SK_EM: &str = "90345e3a1d116c1dd39ae76d95ab858c142223a63e44f8f85318cfa91a84858e";
    const SK_RM: &str = "317f915db7bc629c48fe765587897e01e282d3e8445f79f27f65d031a88082b2";
    const PK_RM: &str = "04abc7e49a4c6b3566d77d0304addc6ed0e98512ffccf505e6a8e3eb25c685136f853148544876de76c0f2ef99cdc3a05ccf5ded7860c7c021238f9e2073d2356c";
    const ENC: &str = "04c06b4f6bebc7bb495cb797ab753f911aff80aefb86fd8b6fcc35525f3ab5f03e0b21bd31a86c6048af3cb2d98e0d3bf01da5cc4c39ff5370d331a4f1f7d5a4e0";
    const SHARED_SECRET: &str = "48893fecd82f7c3456af6a42d8f56325d21e08c10fa81299986aaff54cde7b49";
    const KEY: &str = "ee16802a936d5f544771131900ee6973d0551de9e852ece2ef34bf0d5f9e1d1d";
    const BASE_NONCE: &str = "9bc50980832a7b4b58c40161";
    const PT: &str = "4265617574792069732074727574682c20747275746820626561757479";
    const AAD0: &str = "436f756e742d30";
    const CT0: &str = "58c61a45059d0c5704560e9d88b564a8b63f1364b8d1fcb3c4c6ddc1d291742465e902cd216f8908da49f8f96f";

    fn sk(s: &str) -> [u8; 32] {
        h(s).try_into().unwrap()
    }

    #[test]
    fn rfc9180_key_schedule_known_answer() {
        let dh = software_dh(&sk(SK_RM))(&h(ENC)).unwrap();
        let ss = Kem::P256.shared_secret(&dh, &h(ENC), &h(PK_RM)).unwrap();
        assert_eq!(hex::encode(&*ss), SHARED_SECRET);
        let (key, nonce) = Kem::P256.key_schedule(&ss, &h(INFO)).unwrap();
        assert_eq!(hex::encode(&*key), KEY);
        assert_eq!(hex::encode(nonce), BASE_NONCE);
    }

    #[test]
    fn rfc9180_seal_and_open_known_answer() {
        let (enc, ct) = seal_with_ephemeral_for_tests(
            CryptoSuite::Default,
            &sk(SK_EM),
            &h(PK_RM),
            &h(INFO),
            &h(AAD0),
            &h(PT),
        )
        .unwrap();
        assert_eq!(hex::encode(&enc), ENC);
        assert_eq!(hex::encode(&ct), CT0);
        let pt = open(
            &h(ENC),
            &h(PK_RM),
            &h(INFO),
            &h(AAD0),
            &h(CT0),
            software_dh(&sk(SK_RM)),
        )
        .unwrap();
        assert_eq!(hex::encode(&*pt), PT);
    }

    #[test]
    fn tampering_wrong_key_and_wrong_context_are_refused() {
        let recipient = p256::SecretKey::random(&mut rand::rngs::OsRng);
        let pk = recipient
            .public_key()
            .to_encoded_point(false)
            .as_bytes()
            .to_vec();
        let skr: [u8; 32] = recipient.to_bytes().into();
        let (enc, ct) = seal(&pk, b"info", b"aad", b"field key").unwrap();
        assert_eq!(
            &*open(&enc, &pk, b"info", b"aad", &ct, software_dh(&skr)).unwrap(),
            b"field key"
        );
        let mut bad = ct.clone();
        bad[0] ^= 1;
        assert!(matches!(
            open(&enc, &pk, b"info", b"aad", &bad, software_dh(&skr)),
            Err(CryptoError::OpenFailed { .. })
        ));
        assert!(open(&enc, &pk, b"other info", b"aad", &ct, software_dh(&skr)).is_err());
        assert!(open(&enc, &pk, b"info", b"other aad", &ct, software_dh(&skr)).is_err());
        let other = p256::SecretKey::random(&mut rand::rngs::OsRng);
        let other_sk: [u8; 32] = other.to_bytes().into();
        assert!(open(&enc, &pk, b"info", b"aad", &ct, software_dh(&other_sk)).is_err());
        // An enc that is not on the curve, or the identity encoding, never reaches the DH.
        let mut off = enc.clone();
        off[64] ^= 1;
        assert!(matches!(
            open(&off, &pk, b"info", b"aad", &ct, |_| panic!(
                "DH must not run"
            )),
            Err(CryptoError::InvalidPublicKey { .. })
        ));
        let mut identity = vec![0u8; 65];
        identity[0] = 4;
        assert!(open(&identity, &pk, b"info", b"aad", &ct, |_| panic!(
            "DH must not run"
        ))
        .is_err());
        // A DH that answers zeros is refused.
        assert!(open(&enc, &pk, b"info", b"aad", &ct, |_| Ok(Zeroizing::new(
            vec![0u8; 32]
        )))
        .is_err());
        // Two seals of the same message differ (fresh ephemeral keys).
        assert_ne!(
            seal(&pk, b"i", b"a", b"m").unwrap().0,
            seal(&pk, b"i", b"a", b"m").unwrap().0
        );
    }
}

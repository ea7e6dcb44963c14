//! The SM primitives of the SM crypto suite, on RustCrypto's `sm2`, `sm3` and `sm4` crates
//! (`sm2` has had no independent audit: `docs/crypto-suites.md`).
//!
//! - SM2 signatures (GM/T 0003.2-2012): `e = SM3(ZA || M)`, where `ZA` hashes the signer's
//!   distinguishing identifier ([`SM2_DIST_ID`], the standard's default) with the curve and
//!   public key; `M` is the ledger's 32-byte domain-separated SM3 digest of what is signed.
//! - SM2 key agreement for key wrapping: the plain elliptic-curve Diffie-Hellman x-coordinate
//!   on the SM2 curve, fed to an HPKE-shaped schedule over HKDF-SM3 (`hpke`).
//! - SM4-GCM (RFC 8998 section 3.1): SM4 (GM/T 0002-2012) in GCM, the authenticated mode the
//!   TLS 1.3 SM cipher suites use; 128-bit key, 96-bit nonce, 128-bit tag.

use std::fmt;

use aes_gcm::aead::consts::U12;
use ledger_types::{Hash, PublicKey, Signature, SignatureScheme, SM2_DIST_ID};
use sm2::elliptic_curve::sec1::ToEncodedPoint;
use zeroize::Zeroizing;

use crate::error::CryptoError;
use crate::signer::Signer;

/// SM4 in Galois/Counter Mode (RFC 8998 `TLS_SM4_GCM_SM3`'s AEAD).
pub type Sm4Gcm = aes_gcm::AesGcm<sm4::Sm4, U12>;

/// An uncompressed SM2 point.
pub const SM2_POINT_LEN: usize = 65;

/// The x-coordinate of `scalar * point` on the SM2 curve.
pub(crate) fn sm2_dh(scalar: &sm2::NonZeroScalar, point: &sm2::PublicKey) -> Zeroizing<Vec<u8>> {
    let shared = sm2::elliptic_curve::ecdh::diffie_hellman(scalar, point.as_affine());
    Zeroizing::new(shared.raw_secret_bytes().to_vec())
}

/// Verifies an SM2 signature (`r || s`) over `msg` under the SEC1 key `key`, with ZA over
/// [`SM2_DIST_ID`].
pub fn sm2_verify(key: &[u8], msg: &[u8], signature: &[u8]) -> Result<(), CryptoError> {
    use sm2::dsa::signature::Verifier as _;
    let pk = sm2::dsa::VerifyingKey::from_sec1_bytes(SM2_DIST_ID, key).map_err(|_| {
        CryptoError::InvalidPublicKey {
            scheme: "sm2",
            reason: "not a point on the SM2 curve".into(),
        }
    })?;
    let sig = sm2::dsa::Signature::from_slice(signature).map_err(|_| {
        CryptoError::MalformedSignature {
            scheme: "sm2",
            reason: format!(
                "expected 64 bytes r || s with r and s in [1, n-1], got {} bytes",
                signature.len()
            ),
        }
    })?;
    pk.verify(msg, &sig).map_err(|_| CryptoError::BadSignature {
        key: format!("sm2:{}", hex::encode(key)),
    })
}

/// SM2's `ZA` for `point` (uncompressed SEC1) and [`SM2_DIST_ID`] (GM/T 0003.2-2012 5.5):
/// `SM3(ENTL || ID || a || b || xG || yG || xA || yA)`.
pub fn sm2_za(point: &[u8]) -> Result<[u8; 32], CryptoError> {
    const A: &str = "fffffffeffffffffffffffffffffffffffffffff00000000fffffffffffffffc";
    const B: &str = "28e9fa9e9d9f5e344d5a9e4bcf6509a7f39789f515ab8f92ddbcbd414d940e93";
    const XG: &str = "32c4ae2c1f1981195f9904466a39c9948fe30bbff2660be1715a4589334c74c7";
    const YG: &str = "bc3736a2f4f6779c59bdcee36b692153d0a9877cc62a474002df32e52139f0a0";
    sm2::PublicKey::from_sec1_bytes(point).map_err(|_| CryptoError::InvalidPublicKey {
        scheme: "sm2",
        reason: "not a point on the SM2 curve".into(),
    })?;
    if point.len() != SM2_POINT_LEN {
        return Err(CryptoError::InvalidPublicKey {
            scheme: "sm2",
            reason: "expected an uncompressed point".into(),
        });
    }
    let mut h = <sm3::Sm3 as sm3::Digest>::new();
    let entl = (SM2_DIST_ID.len() as u16 * 8).to_be_bytes();
    sm3::Digest::update(&mut h, entl);
    sm3::Digest::update(&mut h, SM2_DIST_ID.as_bytes());
    for c in [A, B, XG, YG] {
        sm3::Digest::update(&mut h, hex::decode(c).unwrap_or_default());
    }
    sm3::Digest::update(&mut h, &point[1..]);
    Ok(sm3::Digest::finalize(h).into())
}

/// `e = SM3(ZA || M)`: what a token whose SM2 mechanism takes a prehash signs.
pub fn sm2_prehash(point: &[u8], msg: &[u8]) -> Result<[u8; 32], CryptoError> {
    let za = sm2_za(point)?;
    let mut h = <sm3::Sm3 as sm3::Digest>::new();
    sm3::Digest::update(&mut h, za);
    sm3::Digest::update(&mut h, msg);
    Ok(sm3::Digest::finalize(h).into())
}

/// An SM2 signature as a token may return it, DER `SEQUENCE { r, s }` or raw `r || s`, as
/// the 64-byte `r || s` the ledger stores.
pub fn sm2_signature_from_token(bytes: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let bad = |reason: &str| CryptoError::MalformedSignature {
        scheme: "sm2",
        reason: reason.to_string(),
    };
    if bytes.len() == 64 {
        return Ok(bytes.to_vec());
    }
    if bytes.len() < 8 || bytes[0] != 0x30 || usize::from(bytes[1]) != bytes.len() - 2 {
        return Err(bad("neither 64 bytes r || s nor a DER SEQUENCE"));
    }
    let mut out = Vec::with_capacity(64);
    let mut i = 2;
    for _ in 0..2 {
        if bytes.get(i) != Some(&2) {
            return Err(bad("DER: expected an INTEGER"));
        }
        let len = usize::from(*bytes.get(i + 1).ok_or_else(|| bad("DER: truncated"))?);
        let int = bytes
            .get(i + 2..i + 2 + len)
            .ok_or_else(|| bad("DER: truncated"))?;
        let int: Vec<u8> = int.iter().copied().skip_while(|b| *b == 0).collect();
        if int.len() > 32 {
            return Err(bad("DER: integer longer than 32 bytes"));
        }
        out.extend(std::iter::repeat_n(0u8, 32 - int.len()));
        out.extend(int);
        i += 2 + len;
    }
    if i != bytes.len() {
        return Err(bad("DER: trailing bytes"));
    }
    Ok(out)
}

/// An SM2 key held in process memory: SM chains' software backend, tests and tools.
///
/// The secret is wiped when the value is dropped (the crate's scalar zeroizes) and never
/// appears in `Debug` output.
pub struct Sm2SoftwareKey {
    key: sm2::dsa::SigningKey,
}

impl Sm2SoftwareKey {
    /// A fresh key from the operating system's random generator.
    pub fn generate() -> Self {
        let secret = sm2::SecretKey::random(&mut rand::rngs::OsRng);
        Self::from_secret(&secret)
            .unwrap_or_else(|_| unreachable!("a random SM2 secret is a valid signing key"))
    }

    /// A key from its 32-byte big-endian scalar.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, CryptoError> {
        let secret =
            sm2::SecretKey::from_slice(bytes).map_err(|_| CryptoError::InvalidSecretKey {
                reason: "not an SM2 scalar in [1, n-1]",
            })?;
        Self::from_secret(&secret)
    }

    fn from_secret(secret: &sm2::SecretKey) -> Result<Self, CryptoError> {
        sm2::dsa::SigningKey::new(SM2_DIST_ID, secret)
            .map(|key| Self { key })
            .map_err(|_| CryptoError::InvalidSecretKey {
                reason: "not usable as an SM2 signing key",
            })
    }

    /// The 32-byte scalar, for sealing into a key file (zeroized on drop).
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.key.to_bytes().into())
    }

    /// The uncompressed SEC1 public point.
    pub fn public_point(&self) -> Vec<u8> {
        self.key
            .verifying_key()
            .to_encoded_point(false)
            .as_bytes()
            .to_vec()
    }

    /// Signs `msg` (SM2 with ZA; deterministic nonce as the crate derives it).
    pub fn sign_message(&self, msg: &[u8]) -> Signature {
        use sm2::dsa::signature::Signer as _;
        let sig: sm2::dsa::Signature = self.key.sign(msg);
        Signature(sig.to_bytes().to_vec())
    }
}

impl Signer for Sm2SoftwareKey {
    fn public_key(&self) -> PublicKey {
        PublicKey::new(SignatureScheme::Sm2, self.public_point())
            .unwrap_or_else(|_| unreachable!("uncompressed SM2 points are 65 bytes"))
    }

    fn sign_digest(&self, digest: &Hash) -> Result<Signature, CryptoError> {
        Ok(self.sign_message(&digest.0))
    }
}

impl fmt::Debug for Sm2SoftwareKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sm2SoftwareKey")
            .field("public_key", &self.public_key().to_text())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aes_gcm::aead::{Aead, KeyInit, Payload};
    use sm4::cipher::{BlockDecrypt, BlockEncrypt};

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    // GM/T 0002-2012 appendix A (also RFC 8998 appendix A.1 and ISO/IEC 18033-3 AMD1):
    // key = plaintext = 0123456789abcdeffedcba9876543210.
    const SM4_KEY: &str = "0123456789abcdeffedcba9876543210";
    const SM4_ONCE: &str = "681edf34d206965e86b3e94f536e4246";
    const SM4_MILLION: &str = "595298c7c6fd271f0402f804c33d3f66";

    #[test]
    fn sm4_gm_t_0002_single_block() {
        let cipher = sm4::Sm4::new_from_slice(&h(SM4_KEY)).unwrap();
        let mut block = sm4::cipher::Block::<sm4::Sm4>::clone_from_slice(&h(SM4_KEY));
        cipher.encrypt_block(&mut block);
        assert_eq!(hex::encode(block), SM4_ONCE);
        cipher.decrypt_block(&mut block);
        assert_eq!(hex::encode(block), SM4_KEY);
    }

    #[test]
    fn sm4_gm_t_0002_one_million_encryptions() {
        // Appendix A example 2: the plaintext encrypted 1,000,000 times under the same key.
        let cipher = sm4::Sm4::new_from_slice(&h(SM4_KEY)).unwrap();
        let mut block = sm4::cipher::Block::<sm4::Sm4>::clone_from_slice(&h(SM4_KEY));
        for _ in 0..1_000_000 {
            cipher.encrypt_block(&mut block);
        }
        assert_eq!(hex::encode(block), SM4_MILLION);
    }

    #[test]
    fn sm4_gcm_rfc8998_known_answer() {
        // RFC 8998 appendix A.1 (SM4-GCM).
        let key = h("0123456789ABCDEFFEDCBA9876543210");
        let nonce = h("00001234567800000000ABCD");
        let aad = h("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2");
        let pt = h("AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDDEEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA");
        let ct = "17f399f08c67d5ee19d0dc9969c4bb7d5fd46fd3756489069157b282bb200735d82710ca5c22f0ccfa7cbf93d496ac15a56834cbcf98c397b4024a2691233b8d";
        let tag = "83de3541e4c2b58177e065a9bf7b62ec";
        let gcm = Sm4Gcm::new_from_slice(&key).unwrap();
        let out = gcm
            .encrypt(
                nonce.as_slice().into(),
                Payload {
                    msg: &pt,
                    aad: &aad,
                },
            )
            .unwrap();
        assert_eq!(hex::encode(&out), format!("{ct}{tag}"));
        let back = gcm
            .decrypt(
                nonce.as_slice().into(),
                Payload {
                    msg: &out,
                    aad: &aad,
                },
            )
            .unwrap();
        assert_eq!(back, pt);
        let mut bad = out.clone();
        bad[3] ^= 1;
        assert!(gcm
            .decrypt(
                nonce.as_slice().into(),
                Payload {
                    msg: &bad,
                    aad: &aad
                }
            )
            .is_err());
        assert!(gcm
            .decrypt(
                nonce.as_slice().into(),
                Payload {
                    msg: &out,
                    aad: b"other"
                }
            )
            .is_err());
    }

    #[test]
    fn sm2_sign_verify_and_refusals() {
        let key = Sm2SoftwareKey::generate();
        let d = Hash([9; 32]);
        let sig = key.sign_digest(&d).unwrap();
        sm2_verify(key.public_key().bytes(), &d.0, &sig.0).unwrap();
        assert!(matches!(
            sm2_verify(key.public_key().bytes(), &[8; 32], &sig.0),
            Err(CryptoError::BadSignature { .. })
        ));
        let other = Sm2SoftwareKey::generate();
        assert!(sm2_verify(other.public_key().bytes(), &d.0, &sig.0).is_err());
        let mut flipped = sig.0.clone();
        flipped[40] ^= 1;
        assert!(sm2_verify(key.public_key().bytes(), &d.0, &flipped).is_err());
        // s replaced by n - s does not verify (SM2's equation, unlike ECDSA's, binds s's sign).
        let parsed = sm2::dsa::Signature::from_slice(&sig.0).unwrap();
        let (r, s) = parsed.split_scalars();
        let neg = sm2::dsa::Signature::from_scalars(r.to_bytes(), (-*s).to_bytes()).unwrap();
        assert!(sm2_verify(key.public_key().bytes(), &d.0, &neg.to_bytes()).is_err());
        assert!(matches!(
            sm2_verify(key.public_key().bytes(), &d.0, &sig.0[..63]),
            Err(CryptoError::MalformedSignature { .. })
        ));
        let mut off = key.public_key().bytes().to_vec();
        off[64] ^= 1;
        assert!(matches!(
            sm2_verify(&off, &d.0, &sig.0),
            Err(CryptoError::InvalidPublicKey { .. })
        ));
        // A P-256 point is not an SM2 key.
        let p = p256::SecretKey::random(&mut rand::rngs::OsRng)
            .public_key()
            .to_encoded_point(false);
        assert!(sm2_verify(p.as_bytes(), &d.0, &sig.0).is_err());
    }

    #[test]
    fn za_and_prehash_match_the_crate_signature() {
        // A token that signs the prehash e = SM3(ZA || M) must produce what the message
        // signer produces: sign our prehash with the raw scalar, verify as a message.
        use sm2::dsa::signature::hazmat::PrehashSigner as _;
        let key = Sm2SoftwareKey::generate();
        let msg = [3u8; 32];
        let e = sm2_prehash(&key.public_point(), &msg).unwrap();
        let sig: sm2::dsa::Signature = key.key.sign_prehash(&e).unwrap();
        sm2_verify(&key.public_point(), &msg, &sig.to_bytes()).unwrap();
        // DER and raw forms both come back as r || s.
        let raw = sig.to_bytes().to_vec();
        assert_eq!(sm2_signature_from_token(&raw).unwrap(), raw);
        let int = |b: &[u8]| {
            let v: Vec<u8> = b.iter().copied().skip_while(|x| *x == 0).collect();
            let v = if v[0] & 0x80 != 0 {
                [vec![0], v].concat()
            } else {
                v
            };
            [vec![2, v.len() as u8], v].concat()
        };
        let body = [int(&raw[..32]), int(&raw[32..])].concat();
        let der = [vec![0x30, body.len() as u8], body].concat();
        assert_eq!(sm2_signature_from_token(&der).unwrap(), raw);
        assert!(sm2_signature_from_token(&der[..der.len() - 1]).is_err());
        assert!(sm2_signature_from_token(&[0x30, 0]).is_err());
    }

    #[test]
    fn sm2_key_round_trips_and_hides_its_secret() {
        let key = Sm2SoftwareKey::generate();
        let again = Sm2SoftwareKey::from_bytes(&key.to_bytes()).unwrap();
        assert_eq!(key.public_key(), again.public_key());
        let shown = format!("{key:?}");
        assert!(!shown.contains(&hex::encode(*key.to_bytes())), "{shown}");
        assert!(shown.contains(&key.public_key().to_text()));
        assert!(Sm2SoftwareKey::from_bytes(&[0; 32]).is_err());
    }

    #[test]
    fn sm2_key_wrapping_opens_for_its_recipient_only() {
        use crate::hpke;
        use ledger_types::CryptoSuite;
        let recipient = sm2::SecretKey::random(&mut rand::rngs::OsRng);
        let pk = recipient
            .public_key()
            .to_encoded_point(false)
            .as_bytes()
            .to_vec();
        let sk: [u8; 32] = recipient.to_bytes().into();
        hpke::check_public_key_in(CryptoSuite::Sm, &pk).unwrap();
        // A P-256 recipient key is refused on an SM chain and an SM2 one on a default chain.
        let p = p256::SecretKey::random(&mut rand::rngs::OsRng)
            .public_key()
            .to_encoded_point(false);
        assert!(hpke::check_public_key_in(CryptoSuite::Sm, p.as_bytes()).is_err());
        assert!(hpke::check_public_key_in(CryptoSuite::Default, &pk).is_err());
        let (enc, ct) = hpke::seal_in(CryptoSuite::Sm, &pk, b"info", b"aad", b"field key").unwrap();
        assert_eq!(enc.len(), SM2_POINT_LEN);
        let open = |info: &[u8], aad: &[u8], ct: &[u8], sk: &[u8; 32]| {
            hpke::open_in(
                CryptoSuite::Sm,
                &enc,
                &pk,
                info,
                aad,
                ct,
                hpke::sm2_software_dh(sk),
            )
        };
        assert_eq!(&*open(b"info", b"aad", &ct, &sk).unwrap(), b"field key");
        let mut bad = ct.clone();
        bad[0] ^= 1;
        assert!(open(b"info", b"aad", &bad, &sk).is_err());
        assert!(open(b"other", b"aad", &ct, &sk).is_err());
        assert!(open(b"info", b"other", &ct, &sk).is_err());
        let other: [u8; 32] = sm2::SecretKey::random(&mut rand::rngs::OsRng)
            .to_bytes()
            .into();
        assert!(open(b"info", b"aad", &ct, &other).is_err());
        // The same wrapping does not open under the default suite's schedule.
        assert!(hpke::open_in(
            CryptoSuite::Default,
            &enc,
            &pk,
            b"info",
            b"aad",
            &ct,
            hpke::sm2_software_dh(&sk)
        )
        .is_err());
        // Deterministic with a fixed ephemeral key; the AEAD is SM4-GCM (16-byte tag).
        let e = [7u8; 32];
        let a = hpke::seal_with_ephemeral_for_tests(
            CryptoSuite::Sm,
            &e,
            &pk,
            b"i",
            b"a",
            b"0123456789abcdef",
        )
        .unwrap();
        let b = hpke::seal_with_ephemeral_for_tests(
            CryptoSuite::Sm,
            &e,
            &pk,
            b"i",
            b"a",
            b"0123456789abcdef",
        )
        .unwrap();
        assert_eq!(a, b);
        assert_eq!(a.1.len(), 16 + 16);
    }
}

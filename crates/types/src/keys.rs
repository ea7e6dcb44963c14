//! Public keys and signatures as the ledger stores them (no private material here).

use std::fmt;

use crate::codec::{Decoder, Encoder};
use crate::error::CodecError;

/// Signature schemes a member key can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum SignatureScheme {
    /// Ed25519 (RFC 8032), strict verification.
    Ed25519,
    /// ECDSA over P-256 with SHA-256 (FIPS 186-5); keys as uncompressed SEC1 points,
    /// signatures as 64-byte `r || s` with low `s`.
    EcdsaP256Sha256,
    /// SM2 signatures (GM/T 0003.2-2012) over SM3 with the distinguishing identifier (ZA)
    /// [`SM2_DIST_ID`](crate::SM2_DIST_ID); keys as uncompressed SEC1 points on the SM2
    /// curve, signatures as 64-byte `r || s`.
    Sm2,
}

impl SignatureScheme {
    /// The tag in the canonical encoding.
    pub fn tag(self) -> u8 {
        match self {
            SignatureScheme::Ed25519 => 1,
            SignatureScheme::EcdsaP256Sha256 => 2,
            SignatureScheme::Sm2 => 3,
        }
    }

    /// The scheme of a tag.
    pub fn from_tag(tag: u8) -> Result<Self, CodecError> {
        match tag {
            1 => Ok(SignatureScheme::Ed25519),
            2 => Ok(SignatureScheme::EcdsaP256Sha256),
            3 => Ok(SignatureScheme::Sm2),
            t => Err(CodecError::UnknownTag {
                what: "signature scheme",
                tag: t.into(),
            }),
        }
    }

    /// The name used in files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            SignatureScheme::Ed25519 => "ed25519",
            SignatureScheme::EcdsaP256Sha256 => "ecdsa-p256",
            SignatureScheme::Sm2 => "sm2",
        }
    }

    /// The public key length in bytes.
    pub fn public_key_len(self) -> usize {
        match self {
            SignatureScheme::Ed25519 => 32,
            SignatureScheme::EcdsaP256Sha256 | SignatureScheme::Sm2 => 65,
        }
    }

    /// The signature length in bytes.
    pub fn signature_len(self) -> usize {
        match self {
            SignatureScheme::Ed25519 | SignatureScheme::EcdsaP256Sha256 | SignatureScheme::Sm2 => {
                64
            }
        }
    }
}

/// A signing public key with its scheme.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PublicKey {
    scheme: SignatureScheme,
    bytes: Vec<u8>,
}

impl PublicKey {
    /// Wraps key bytes, checking the length the scheme requires.
    pub fn new(scheme: SignatureScheme, bytes: Vec<u8>) -> Result<Self, CodecError> {
        if bytes.len() != scheme.public_key_len() {
            return Err(CodecError::NotCanonical {
                what: "public key",
                reason: format!(
                    "{} public keys are {} bytes, got {}",
                    scheme.name(),
                    scheme.public_key_len(),
                    bytes.len()
                ),
            });
        }
        Ok(Self { scheme, bytes })
    }

    /// The scheme.
    pub fn scheme(&self) -> SignatureScheme {
        self.scheme
    }

    /// The encoded key.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// `scheme:hex`, as written in genesis files and shown by the CLI.
    pub fn to_text(&self) -> String {
        format!("{}:{}", self.scheme.name(), hex::encode(&self.bytes))
    }

    /// Parses `scheme:hex`.
    pub fn from_text(s: &str) -> Result<Self, CodecError> {
        let bad = |reason: &str| CodecError::NotCanonical {
            what: "public key text",
            reason: reason.to_string(),
        };
        let (scheme, key) = s
            .split_once(':')
            .ok_or_else(|| bad("expected SCHEME:HEX, for example ed25519:ab12..."))?;
        let scheme = match scheme {
            "ed25519" => SignatureScheme::Ed25519,
            "ecdsa-p256" => SignatureScheme::EcdsaP256Sha256,
            "sm2" => SignatureScheme::Sm2,
            other => return Err(bad(&format!("unknown scheme {other:?}"))),
        };
        let bytes = hex::decode(key).map_err(|_| bad("the key is not hex"))?;
        Self::new(scheme, bytes)
    }

    /// Writes the canonical encoding.
    pub fn encode(&self, e: &mut Encoder) {
        e.u8(self.scheme.tag()).bytes(&self.bytes);
    }

    /// Reads the canonical encoding.
    pub fn decode(d: &mut Decoder<'_>) -> Result<Self, CodecError> {
        let scheme = SignatureScheme::from_tag(d.u8("signature scheme")?)?;
        let bytes = d.bytes("public key", 256)?;
        Self::new(scheme, bytes)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_text())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

/// A signature: raw bytes in the format of the signer's scheme.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Signature(pub Vec<u8>);

impl Signature {
    /// The longest signature any scheme produces (room for DER ECDSA and PQ schemes later).
    pub const MAX_LEN: usize = 4096;
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", hex::encode(&self.0))
    }
}

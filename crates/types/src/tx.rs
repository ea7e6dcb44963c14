//! Transactions: a versioned envelope around a payload whose kinds grow with the ledger.
//!
//! Envelope layout (canonical encoding, see [`crate::codec`]):
//!
//! ```text
//! u16   format version (1)
//! str   chain id
//! u8    kind
//! bytes payload (the kind's own canonical encoding)
//! str   signer (organisation id)
//! u64   nonce
//! bytes signature
//! ```
//!
//! The signer signs `H("cl/tx-signing/v1", envelope up to and excluding the signature)`.
//!
//! An anonymous endorsement ([`Endorse`]) is the one exception: its payload carries a ring
//! signature that proves "one of the member banks", so its envelope names the reserved
//! signer [`ANONYMOUS_SIGNER`], nonce 0 and an empty signature; the decoder refuses any
//! other envelope for it, and that signer for any other kind.
//! A transaction is identified by `H("cl/tx/v1", whole envelope)`. Decoding keeps the bytes
//! received, so signatures are checked on those bytes, never on a re-encoding.

use std::sync::Arc;

use crate::analytics::Analytics;
use crate::audit_alert::AuditAlert;
use crate::codec::{Decoder, Encoder};
use crate::cross_check::CrossCheck;
use crate::error::CodecError;
use crate::finance::FinanceRequest;
use crate::governance::{Govern, RotateKey};
use crate::grant::GrantAccess;
use crate::hash::{Hash, HashSuite};
use crate::ids::{ChainId, OrgId};
use crate::keys::Signature;
use crate::record::PutRecord;
use crate::revoke::RevokeAccess;
use crate::schema::RegisterSchema;

/// The envelope format version this code writes and reads.
pub const TX_FORMAT_VERSION: u16 = 1;
/// No encoded transaction may exceed this, whatever a node's configured limit.
pub const TX_HARD_MAX_BYTES: usize = 16 * 1024 * 1024;
pub use crate::record::MAX_RECORD_FIELDS;
// The member and endorsement payloads once lived here; their old paths keep working.
pub use crate::endorse::{Endorse, MAX_RING_SIGNATURE};
pub use crate::member::{RegisterMember, Role, MAX_ENCRYPTION_KEY_BYTES};

/// The envelope signer of anonymous endorsements; no organisation may register it.
pub const ANONYMOUS_SIGNER: &str = "anonymous";

const SIGNING_DOMAIN: &str = "cl/tx-signing/v1";
const TX_HASH_DOMAIN: &str = "cl/tx/v1";

/// The kinds of transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum TxKind {
    /// Adds an organisation to the member directory (genesis only for now).
    RegisterMember,
    /// Creates a record or a new version of it.
    PutRecord,
    /// Registers a record schema or its next version.
    RegisterSchema,
    /// Wraps a record's current field keys to more readers.
    GrantAccess,
    /// Rotates fields to new keys in a new version, withdrawing one reader.
    RevokeAccess,
    /// A regulator reports an audit wrap that does not open.
    AuditAlert,
    /// A proof that committed values in records satisfy a relation.
    CrossCheck,
    /// A request to finance an invoice, with its receivable nullifier.
    FinanceRequest,
    /// An anonymous endorsement of a statement by one of the member banks.
    Endorse,
    /// Consortium governance: a proposal, a vote, or a proposal's revocation.
    Govern,
    /// A member replaces one of its keys, signing with its current signing key.
    RotateKey,
    /// Encrypted analytics: a question, a result, an attestation or an answer.
    Analytics,
}

impl TxKind {
    /// The tag in the canonical encoding.
    pub fn tag(self) -> u8 {
        match self {
            TxKind::RegisterMember => 1,
            TxKind::PutRecord => 2,
            TxKind::RegisterSchema => 3,
            TxKind::GrantAccess => 4,
            TxKind::RevokeAccess => 5,
            TxKind::AuditAlert => 6,
            TxKind::CrossCheck => 7,
            TxKind::FinanceRequest => 8,
            TxKind::Endorse => 9,
            TxKind::Govern => 10,
            TxKind::RotateKey => 11,
            TxKind::Analytics => 12,
        }
    }

    /// The kind of a tag.
    pub fn from_tag(tag: u8) -> Result<Self, CodecError> {
        match tag {
            1 => Ok(TxKind::RegisterMember),
            2 => Ok(TxKind::PutRecord),
            3 => Ok(TxKind::RegisterSchema),
            4 => Ok(TxKind::GrantAccess),
            5 => Ok(TxKind::RevokeAccess),
            6 => Ok(TxKind::AuditAlert),
            7 => Ok(TxKind::CrossCheck),
            8 => Ok(TxKind::FinanceRequest),
            9 => Ok(TxKind::Endorse),
            10 => Ok(TxKind::Govern),
            11 => Ok(TxKind::RotateKey),
            12 => Ok(TxKind::Analytics),
            t => Err(CodecError::UnknownTag {
                what: "transaction kind",
                tag: t.into(),
            }),
        }
    }

    /// Every kind.
    pub const ALL: [TxKind; 12] = [
        TxKind::RegisterMember,
        TxKind::PutRecord,
        TxKind::RegisterSchema,
        TxKind::GrantAccess,
        TxKind::RevokeAccess,
        TxKind::AuditAlert,
        TxKind::CrossCheck,
        TxKind::FinanceRequest,
        TxKind::Endorse,
        TxKind::Govern,
        TxKind::RotateKey,
        TxKind::Analytics,
    ];

    /// A readable name.
    pub fn name(self) -> &'static str {
        match self {
            TxKind::RegisterMember => "RegisterMember",
            TxKind::PutRecord => "PutRecord",
            TxKind::RegisterSchema => "RegisterSchema",
            TxKind::GrantAccess => "GrantAccess",
            TxKind::RevokeAccess => "RevokeAccess",
            TxKind::AuditAlert => "AuditAlert",
            TxKind::CrossCheck => "CrossCheck",
            TxKind::FinanceRequest => "FinanceRequest",
            TxKind::Endorse => "Endorse",
            TxKind::Govern => "Govern",
            TxKind::RotateKey => "RotateKey",
            TxKind::Analytics => "Analytics",
        }
    }
}

/// The payload of a transaction, one variant per kind.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Payload {
    /// See [`RegisterMember`].
    RegisterMember(RegisterMember),
    /// See [`PutRecord`].
    PutRecord(PutRecord),
    /// See [`RegisterSchema`].
    RegisterSchema(RegisterSchema),
    /// See [`GrantAccess`].
    GrantAccess(GrantAccess),
    /// See [`RevokeAccess`].
    RevokeAccess(RevokeAccess),
    /// See [`AuditAlert`].
    AuditAlert(AuditAlert),
    /// See [`CrossCheck`].
    CrossCheck(CrossCheck),
    /// See [`FinanceRequest`].
    FinanceRequest(FinanceRequest),
    /// See [`Endorse`].
    Endorse(Endorse),
    /// See [`Govern`].
    Govern(Govern),
    /// See [`RotateKey`].
    RotateKey(RotateKey),
    /// See [`Analytics`].
    Analytics(Analytics),
}

impl Payload {
    /// The payload's kind.
    pub fn kind(&self) -> TxKind {
        match self {
            Payload::RegisterMember(_) => TxKind::RegisterMember,
            Payload::PutRecord(_) => TxKind::PutRecord,
            Payload::RegisterSchema(_) => TxKind::RegisterSchema,
            Payload::GrantAccess(_) => TxKind::GrantAccess,
            Payload::RevokeAccess(_) => TxKind::RevokeAccess,
            Payload::AuditAlert(_) => TxKind::AuditAlert,
            Payload::CrossCheck(_) => TxKind::CrossCheck,
            Payload::FinanceRequest(_) => TxKind::FinanceRequest,
            Payload::Endorse(_) => TxKind::Endorse,
            Payload::Govern(_) => TxKind::Govern,
            Payload::RotateKey(_) => TxKind::RotateKey,
            Payload::Analytics(_) => TxKind::Analytics,
        }
    }

    fn encode_body(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        match self {
            Payload::RegisterMember(p) => p.encode(&mut e),
            Payload::PutRecord(p) => p.encode(&mut e),
            Payload::RegisterSchema(p) => p.encode(&mut e),
            Payload::GrantAccess(p) => p.encode(&mut e),
            Payload::RevokeAccess(p) => p.encode(&mut e),
            Payload::AuditAlert(p) => p.encode(&mut e),
            Payload::CrossCheck(p) => p.encode(&mut e),
            Payload::FinanceRequest(p) => p.encode(&mut e),
            Payload::Endorse(p) => p.encode(&mut e),
            Payload::Govern(p) => p.encode(&mut e),
            Payload::RotateKey(p) => p.encode(&mut e),
            Payload::Analytics(p) => p.encode(&mut e),
        }
        e.finish()
    }

    fn decode_body(kind: TxKind, bytes: &[u8]) -> Result<Self, CodecError> {
        let mut d = Decoder::new(bytes);
        let p = match kind {
            TxKind::RegisterMember => Payload::RegisterMember(RegisterMember::decode(&mut d)?),
            TxKind::PutRecord => Payload::PutRecord(PutRecord::decode(&mut d)?),
            TxKind::RegisterSchema => Payload::RegisterSchema(RegisterSchema::decode(&mut d)?),
            TxKind::GrantAccess => Payload::GrantAccess(GrantAccess::decode(&mut d)?),
            TxKind::RevokeAccess => Payload::RevokeAccess(RevokeAccess::decode(&mut d)?),
            TxKind::AuditAlert => Payload::AuditAlert(AuditAlert::decode(&mut d)?),
            TxKind::CrossCheck => Payload::CrossCheck(CrossCheck::decode(&mut d)?),
            TxKind::FinanceRequest => Payload::FinanceRequest(FinanceRequest::decode(&mut d)?),
            TxKind::Endorse => Payload::Endorse(Endorse::decode(&mut d)?),
            TxKind::Govern => Payload::Govern(Govern::decode(&mut d)?),
            TxKind::RotateKey => Payload::RotateKey(RotateKey::decode(&mut d)?),
            TxKind::Analytics => Payload::Analytics(Analytics::decode(&mut d)?),
        };
        d.finish(kind.name())?;
        Ok(p)
    }
}

/// Everything a transaction says, before it is signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxBody {
    /// The chain this transaction is for.
    pub chain_id: ChainId,
    /// The organisation that signs it.
    pub signer: OrgId,
    /// The signer's nonce: each signer's transactions apply in nonce order, each nonce once.
    pub nonce: u64,
    /// What the transaction does.
    pub payload: Payload,
}

impl TxBody {
    /// The envelope without the signature, and the digest the signer signs.
    pub fn signing_bytes(&self) -> (Vec<u8>, Hash) {
        let payload = self.payload.encode_body();
        let mut e = Encoder::with_capacity(payload.len() + 128);
        e.u16(TX_FORMAT_VERSION);
        self.chain_id.encode(&mut e);
        e.u8(self.payload.kind().tag());
        e.bytes(&payload);
        self.signer.encode(&mut e);
        e.u64(self.nonce);
        let unsigned = e.finish();
        let digest = signing_digest(&unsigned);
        (unsigned, digest)
    }
}

fn anonymous_signer() -> OrgId {
    // A valid identifier by construction (tested below).
    OrgId::new(ANONYMOUS_SIGNER).unwrap_or_else(|_| unreachable!("ANONYMOUS_SIGNER is valid"))
}

/// Endorsements, and only they, come in the anonymous envelope.
fn check_envelope(
    kind: TxKind,
    signer: &OrgId,
    nonce: u64,
    signature: &Signature,
) -> Result<(), CodecError> {
    let anonymous = signer.as_str() == ANONYMOUS_SIGNER;
    let reason = if kind == TxKind::Endorse {
        if !anonymous {
            Some(format!(
                "an endorsement is anonymous: its signer must be {ANONYMOUS_SIGNER:?}, not {signer}"
            ))
        } else if nonce != 0 || !signature.0.is_empty() {
            Some("an endorsement has nonce 0 and no envelope signature".to_string())
        } else {
            None
        }
    } else if anonymous {
        Some(format!(
            "only endorsements are anonymous; a {} needs an organisation's signature",
            kind.name()
        ))
    } else {
        None
    };
    match reason {
        Some(reason) => Err(CodecError::NotCanonical {
            what: "transaction envelope",
            reason,
        }),
        None => Ok(()),
    }
}

/// The hash of a transaction with these canonical bytes.
fn tx_hash_of(bytes: &[u8]) -> Hash {
    HashSuite::current().digest(TX_HASH_DOMAIN, &[bytes])
}

fn signing_digest(unsigned: &[u8]) -> Hash {
    HashSuite::current().digest(SIGNING_DOMAIN, &[unsigned])
}

/// A signed transaction, with the exact bytes it was received or created as.
#[derive(Clone)]
pub struct Transaction {
    body: Arc<TxBody>,
    signature: Signature,
    bytes: Arc<[u8]>,
    unsigned_len: usize,
    hash: Hash,
}

impl Transaction {
    /// Puts a body and its signature together.
    ///
    /// `unsigned` must be the bytes [`TxBody::signing_bytes`] returned for `body`.
    pub fn assemble(body: TxBody, unsigned: Vec<u8>, signature: Signature) -> Self {
        let unsigned_len = unsigned.len();
        let mut e = Encoder::with_capacity(unsigned_len + signature.0.len() + 4);
        e.fixed(&unsigned).bytes(&signature.0);
        let bytes: Arc<[u8]> = e.finish().into();
        let hash = tx_hash_of(&bytes);
        Transaction {
            body: Arc::new(body),
            signature,
            bytes,
            unsigned_len,
            hash,
        }
    }

    /// An anonymous endorsement: the reserved signer, nonce 0, no envelope signature (the
    /// ring signature inside is its authentication).
    pub fn anonymous(chain_id: ChainId, endorse: Endorse) -> Self {
        let body = TxBody {
            chain_id,
            signer: anonymous_signer(),
            nonce: 0,
            payload: Payload::Endorse(endorse),
        };
        let (unsigned, _) = body.signing_bytes();
        Self::assemble(body, unsigned, Signature(Vec::new()))
    }

    /// True for an anonymous endorsement (signed by a ring, not by an organisation).
    pub fn is_anonymous(&self) -> bool {
        matches!(self.body.payload, Payload::Endorse(_))
    }

    /// Decodes a transaction, refusing anything not in canonical form.
    pub fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        if bytes.len() > TX_HARD_MAX_BYTES {
            return Err(CodecError::TooLong {
                what: "transaction",
                len: bytes.len(),
                max: TX_HARD_MAX_BYTES,
            });
        }
        let mut d = Decoder::new(bytes);
        let version = d.u16("transaction format version")?;
        if version != TX_FORMAT_VERSION {
            return Err(CodecError::UnsupportedVersion {
                what: "transaction",
                got: version,
                supported: TX_FORMAT_VERSION,
            });
        }
        let chain_id = ChainId::decode(&mut d)?;
        let kind = TxKind::from_tag(d.u8("transaction kind")?)?;
        let payload = d.bytes_ref("payload", TX_HARD_MAX_BYTES)?;
        let payload = Payload::decode_body(kind, payload)?;
        let signer = OrgId::decode(&mut d)?;
        let nonce = d.u64("nonce")?;
        let unsigned_len = d.position();
        let signature = Signature(d.bytes("signature", Signature::MAX_LEN)?);
        d.finish("transaction")?;
        check_envelope(kind, &signer, nonce, &signature)?;
        let bytes: Arc<[u8]> = bytes.into();
        let hash = tx_hash_of(&bytes);
        Ok(Transaction {
            body: Arc::new(TxBody {
                chain_id,
                signer,
                nonce,
                payload,
            }),
            signature,
            bytes,
            unsigned_len,
            hash,
        })
    }

    /// The decoded body.
    pub fn body(&self) -> &TxBody {
        &self.body
    }

    /// The signature.
    pub fn signature(&self) -> &Signature {
        &self.signature
    }

    /// The digest the signature must be over, computed from the bytes received.
    pub fn signing_digest(&self) -> Hash {
        signing_digest(&self.bytes[..self.unsigned_len])
    }

    /// The transaction hash (its identity).
    pub fn hash(&self) -> Hash {
        self.hash
    }

    /// The hash a transaction with these canonical bytes has, without decoding them.
    pub fn hash_of_bytes(bytes: &[u8]) -> Hash {
        tx_hash_of(bytes)
    }

    /// The canonical bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The encoded size in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Never true: a transaction has at least its envelope.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The kind.
    pub fn kind(&self) -> TxKind {
        self.body.payload.kind()
    }
}

impl std::fmt::Debug for Transaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction")
            .field("hash", &self.hash)
            .field("kind", &self.kind())
            .field("signer", &self.body.signer)
            .field("nonce", &self.body.nonce)
            .finish_non_exhaustive()
    }
}

impl PartialEq for Transaction {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}
impl Eq for Transaction {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_listed_once() {
        let tagged: Vec<TxKind> = (0..=255u8)
            .filter_map(|t| TxKind::from_tag(t).ok())
            .collect();
        assert_eq!(tagged.as_slice(), TxKind::ALL.as_slice());
    }
    use crate::ids::{FieldName, RecordId, SchemaId, Topic};
    use crate::keys::{PublicKey, SignatureScheme};
    use crate::record::{KeyWrap, RecordField, WRAPPED_KEY_LEN, WRAP_ENC_LEN};
    use proptest::prelude::*;

    /// A PutRecord with these fields (names unsorted stay unsorted), each wrapped to bank-a.
    fn put(fields: Vec<(&str, Vec<u8>)>) -> PutRecord {
        let wraps = fields
            .iter()
            .map(|(n, _)| KeyWrap {
                field: FieldName::new(*n).unwrap(),
                reader: OrgId::new("bank-a").unwrap(),
                enc: vec![4; WRAP_ENC_LEN],
                wrapped: vec![5; WRAPPED_KEY_LEN],
            })
            .collect();
        PutRecord {
            record: RecordId::new("inv-1").unwrap(),
            version: 1,
            schema: SchemaId::new("invoice").unwrap(),
            schema_version: 1,
            fields: fields
                .into_iter()
                .map(|(n, mut sealed)| {
                    sealed.resize(sealed.len().max(29), 0);
                    RecordField {
                        name: FieldName::new(n).unwrap(),
                        sealed,
                    }
                })
                .collect(),
            wraps,
            commitments: vec![],
            range_proof: None,
            audit_handles: vec![],
            document_commitment: None,
            fhe_amounts: vec![],
        }
    }

    fn body(fields: Vec<(&str, Vec<u8>)>) -> TxBody {
        TxBody {
            chain_id: ChainId::new("test-chain").unwrap(),
            signer: OrgId::new("bank-a").unwrap(),
            nonce: 7,
            payload: Payload::PutRecord(put(fields)),
        }
    }

    #[test]
    fn round_trip_keeps_bytes_and_hash() {
        let b = body(vec![("amount", vec![1, 2]), ("buyer", vec![3])]);
        let (unsigned, digest) = b.signing_bytes();
        let tx = Transaction::assemble(b.clone(), unsigned, Signature(vec![9; 64]));
        let back = Transaction::decode(tx.bytes()).unwrap();
        assert_eq!(back.body(), &b);
        assert_eq!(back.hash(), tx.hash());
        assert_eq!(back.signing_digest(), digest);
    }

    #[test]
    fn unsorted_fields_are_not_canonical() {
        let mut b = body(vec![("amount", vec![1]), ("buyer", vec![3])]);
        if let Payload::PutRecord(p) = &mut b.payload {
            p.fields.swap(0, 1);
        }
        let (unsigned, _) = b.signing_bytes();
        let tx = Transaction::assemble(b, unsigned, Signature(vec![]));
        assert!(matches!(
            Transaction::decode(tx.bytes()),
            Err(CodecError::NotCanonical {
                what: "PutRecord",
                ..
            })
        ));
    }

    #[test]
    fn unknown_version_and_kind_are_named() {
        let b = body(vec![("a", vec![])]);
        let (unsigned, _) = b.signing_bytes();
        let tx = Transaction::assemble(b, unsigned, Signature(vec![]));
        let mut bytes = tx.bytes().to_vec();
        bytes[1] = 9;
        assert_eq!(
            Transaction::decode(&bytes).unwrap_err(),
            CodecError::UnsupportedVersion {
                what: "transaction",
                got: 9,
                supported: 1
            }
        );
        let mut bytes = tx.bytes().to_vec();
        let kind_at = 2 + 4 + "test-chain".len();
        bytes[kind_at] = 200;
        assert_eq!(
            Transaction::decode(&bytes).unwrap_err(),
            CodecError::UnknownTag {
                what: "transaction kind",
                tag: 200
            }
        );
    }

    #[test]
    fn register_member_round_trip() {
        let m = RegisterMember {
            org: OrgId::new("bank-a").unwrap(),
            signing_key: PublicKey::new(SignatureScheme::Ed25519, vec![7; 32]).unwrap(),
            encryption_key: vec![],
            roles: vec![Role::Validator, Role::Member],
            audit_key: vec![9; 32],
            ring_key: vec![8; 32],
        };
        let b = TxBody {
            chain_id: ChainId::new("c").unwrap(),
            signer: m.org.clone(),
            nonce: 0,
            payload: Payload::RegisterMember(m),
        };
        let (u, _) = b.signing_bytes();
        let tx = Transaction::assemble(b.clone(), u, Signature(vec![1; 64]));
        assert_eq!(Transaction::decode(tx.bytes()).unwrap().body(), &b);
    }

    fn endorse() -> Endorse {
        Endorse {
            topic: Topic::new("alert.INV-9").unwrap(),
            statement: [3; 32],
            ring_height: 12,
            signature: vec![7; 32 + 128 * 4],
        }
    }

    #[test]
    fn endorsements_round_trip_in_the_anonymous_envelope() {
        let chain = ChainId::new("c").unwrap();
        let tx = Transaction::anonymous(chain.clone(), endorse());
        let back = Transaction::decode(tx.bytes()).unwrap();
        assert_eq!(back, tx);
        assert!(back.is_anonymous());
        assert_eq!(back.body().signer.as_str(), ANONYMOUS_SIGNER);
        assert_eq!(back.body().nonce, 0);
        assert!(back.signature().0.is_empty());
        let Payload::Endorse(e) = &back.body().payload else {
            panic!("not an endorsement")
        };
        assert_eq!(e, &endorse());
        assert_eq!(e.key_image(), Some([7; 32]));
        assert_eq!(&e.message()[..32], &[3; 32]);
        assert_eq!(&e.message()[32..], &12u64.to_be_bytes());
    }

    #[test]
    fn only_endorsements_are_anonymous_and_only_in_their_envelope() {
        let chain = ChainId::new("c").unwrap();
        let refused = |body: TxBody, sig: Vec<u8>| {
            let (u, _) = body.signing_bytes();
            let tx = Transaction::assemble(body, u, Signature(sig));
            match Transaction::decode(tx.bytes()) {
                Err(CodecError::NotCanonical { what, reason }) => {
                    assert_eq!(what, "transaction envelope");
                    reason
                }
                other => panic!("accepted or wrong error: {other:?}"),
            }
        };
        let named = TxBody {
            chain_id: chain.clone(),
            signer: OrgId::new("bank-a").unwrap(),
            nonce: 0,
            payload: Payload::Endorse(endorse()),
        };
        assert!(refused(named, vec![]).contains("must be \"anonymous\""));
        let with_nonce = TxBody {
            chain_id: chain.clone(),
            signer: OrgId::new(ANONYMOUS_SIGNER).unwrap(),
            nonce: 1,
            payload: Payload::Endorse(endorse()),
        };
        assert!(refused(with_nonce.clone(), vec![]).contains("nonce 0"));
        let signed = TxBody {
            nonce: 0,
            ..with_nonce
        };
        assert!(refused(signed, vec![1; 64]).contains("no envelope signature"));
        let mut anonymous_put = body(vec![("amount", vec![1])]);
        anonymous_put.signer = OrgId::new(ANONYMOUS_SIGNER).unwrap();
        assert!(refused(anonymous_put, vec![1; 64]).contains("only endorsements"));
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = Transaction::decode(&bytes);
        }

        #[test]
        fn any_put_record_round_trips(
            nonce in any::<u64>(),
            version in 1u32..,
            blobs in proptest::collection::btree_map("[a-z][a-z0-9_]{0,8}", proptest::collection::vec(any::<u8>(), 0..64), 1..8),
            sig in proptest::collection::vec(any::<u8>(), 0..80),
        ) {
            let b = TxBody {
                chain_id: ChainId::new("prop").unwrap(),
                signer: OrgId::new("org").unwrap(),
                nonce,
                payload: Payload::PutRecord(PutRecord {
                    version,
                    ..put(blobs.iter().map(|(n, b)| (n.as_str(), b.clone())).collect())
                }),
            };
            let (u, _) = b.signing_bytes();
            let tx = Transaction::assemble(b.clone(), u, Signature(sig));
            let back = Transaction::decode(tx.bytes()).unwrap();
            prop_assert_eq!(back.body(), &b);
            prop_assert_eq!(back.bytes(), tx.bytes());
        }

        #[test]
        fn any_single_byte_change_changes_hash_or_fails(pos in 0usize..200, flip in 1u8..) {
            let b = body(vec![("amount", vec![1, 2, 3]), ("buyer", vec![4; 20])]);
            let (u, _) = b.signing_bytes();
            let tx = Transaction::assemble(b, u, Signature(vec![5; 64]));
            let mut bytes = tx.bytes().to_vec();
            let pos = pos % bytes.len();
            bytes[pos] ^= flip;
            if let Ok(t) = Transaction::decode(&bytes) {
                prop_assert_ne!(t.hash(), tx.hash());
            }
        }
    }
}

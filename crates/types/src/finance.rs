//! The `FinanceRequest` payload: a seller's assignment of a receivable to a financing
//! bank, carrying the receivable's nullifier so that the same delivered goods cannot be
//! financed twice.

use crate::codec::{Decoder, Encoder};
use crate::error::CodecError;
use crate::ids::{OrgId, RecordId};

/// Most bytes of a financing request's proof.
pub const MAX_FINANCE_PROOF: usize = 256;

/// A record and one of its versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordAt {
    /// The record.
    pub record: RecordId,
    /// Its version (from 1).
    pub version: u32,
}

impl RecordAt {
    fn encode(&self, e: &mut Encoder) {
        self.record.encode(e);
        e.u32(self.version);
    }

    fn decode(d: &mut Decoder<'_>, what: &'static str) -> Result<Self, CodecError> {
        let r = RecordAt {
            record: RecordId::decode(d)?,
            version: d.u32("version")?,
        };
        if r.version == 0 {
            return Err(CodecError::NotCanonical {
                what,
                reason: "record versions start at 1".into(),
            });
        }
        Ok(r)
    }
}

impl std::fmt::Display for RecordAt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} v{}", self.record, self.version)
    }
}

/// A seller assigns the receivable of an invoice to a financing bank. Signed by the
/// invoice record's owner (the seller: nobody else can assign it); names the invoice, the
/// purchase order and the delivery note of a committed linked invoice check (which proves
/// that the invoice bills exactly the delivered goods at the ordered prices, each document
/// written by its party), the bank, and the receivable nullifier derived from the
/// delivery note (Poseidon over a tag and the note's blinding), with a Groth16 proof
/// (`finance` circuit) that it derives from the note's document commitment and binds this
/// request. A second request with the same nullifier fails, naming the first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinanceRequest {
    /// The invoice.
    pub invoice: RecordAt,
    /// The purchase order it bills.
    pub order: RecordAt,
    /// The delivery note of the goods it bills.
    pub delivery: RecordAt,
    /// The bank the receivable is assigned to.
    pub bank: OrgId,
    /// The nullifier (a BN254 scalar, 32 bytes little-endian).
    pub nullifier: [u8; 32],
    /// The proof.
    pub proof: Vec<u8>,
    /// The financed amount (the invoice total) encrypted under the chain's analytics key,
    /// with its proof of encryption (`ledger_fhe::EncryptedAmount`); empty on a chain
    /// without analytics. Not tied to the invoice's commitment: see docs/fhe.md.
    pub amount: Vec<u8>,
}

impl FinanceRequest {
    /// Writes the canonical encoding.
    pub fn encode(&self, e: &mut Encoder) {
        self.invoice.encode(e);
        self.order.encode(e);
        self.delivery.encode(e);
        self.bank.encode(e);
        e.fixed(&self.nullifier);
        e.bytes(&self.proof);
        e.bytes(&self.amount);
    }

    /// Reads and checks the canonical encoding.
    pub fn decode(d: &mut Decoder<'_>) -> Result<Self, CodecError> {
        Ok(FinanceRequest {
            invoice: RecordAt::decode(d, "FinanceRequest invoice")?,
            order: RecordAt::decode(d, "FinanceRequest order")?,
            delivery: RecordAt::decode(d, "FinanceRequest delivery note")?,
            bank: OrgId::decode(d)?,
            nullifier: d.array("nullifier")?,
            proof: d.bytes("financing proof", MAX_FINANCE_PROOF)?,
            amount: d.bytes("encrypted amount", crate::analytics::MAX_ENCRYPTED_AMOUNT)?,
        })
    }
}

//! The `FinanceRequest` payload: a request to finance an invoice, carrying the
//! receivable's nullifier so that the same receivable cannot be financed twice.

use crate::codec::{Decoder, Encoder};
use crate::error::CodecError;
use crate::ids::RecordId;

/// Most bytes of a financing request's proof.
pub const MAX_FINANCE_PROOF: usize = 256;

/// A request to finance an invoice: the receivable nullifier derived from the invoice's
/// document (Poseidon over its seller, buyer, number, issue date and total) and a Groth16
/// proof (`finance` circuit) that it derives from the invoice record's document
/// commitment and binds this requester. A second request with the same nullifier fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinanceRequest {
    /// The invoice record.
    pub invoice: RecordId,
    /// Its version.
    pub version: u32,
    /// The nullifier (a BN254 scalar, 32 bytes little-endian).
    pub nullifier: [u8; 32],
    /// The proof.
    pub proof: Vec<u8>,
}

impl FinanceRequest {
    /// Writes the canonical encoding.
    pub fn encode(&self, e: &mut Encoder) {
        self.invoice.encode(e);
        e.u32(self.version);
        e.fixed(&self.nullifier);
        e.bytes(&self.proof);
    }

    /// Reads and checks the canonical encoding.
    pub fn decode(d: &mut Decoder<'_>) -> Result<Self, CodecError> {
        let f = FinanceRequest {
            invoice: RecordId::decode(d)?,
            version: d.u32("version")?,
            nullifier: d.array("nullifier")?,
            proof: d.bytes("financing proof", MAX_FINANCE_PROOF)?,
        };
        if f.version == 0 {
            return Err(CodecError::NotCanonical {
                what: "FinanceRequest",
                reason: "record versions start at 1".into(),
            });
        }
        Ok(f)
    }
}

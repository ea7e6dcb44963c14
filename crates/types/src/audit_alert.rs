//! The `AuditAlert` payload: a regulator reports, on the ledger, that its audit wrap of a
//! record's field does not open, naming the record's owner so the alert stands on its own.

use crate::codec::{Decoder, Encoder};
use crate::error::CodecError;
use crate::ids::{FieldName, OrgId, RecordId};

/// Most bytes of an audit alert's reason.
pub const MAX_ALERT_REASON: usize = 512;

/// A regulator reports that its audit wrap of a record's field does not open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditAlert {
    /// The record.
    pub record: RecordId,
    /// The version.
    pub version: u32,
    /// The field whose wrap failed.
    pub field: FieldName,
    /// The record's owner, named so the alert stands on its own.
    pub owner: OrgId,
    /// What failed, in words.
    pub reason: String,
}

impl AuditAlert {
    /// Writes the canonical encoding.
    pub fn encode(&self, e: &mut Encoder) {
        self.record.encode(e);
        e.u32(self.version);
        self.field.encode(e);
        self.owner.encode(e);
        e.str(&self.reason);
    }

    /// Reads the canonical encoding.
    pub fn decode(d: &mut Decoder<'_>) -> Result<Self, CodecError> {
        let a = AuditAlert {
            record: RecordId::decode(d)?,
            version: d.u32("record version")?,
            field: FieldName::decode(d)?,
            owner: OrgId::decode(d)?,
            reason: d.string("alert reason", MAX_ALERT_REASON)?,
        };
        if a.version == 0 {
            return Err(CodecError::NotCanonical {
                what: "AuditAlert",
                reason: "record versions start at 1".into(),
            });
        }
        Ok(a)
    }
}

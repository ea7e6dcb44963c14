//! The `GrantAccess` payload: a record's owner wraps the current data keys of some of its
//! fields to more readers. The state machine checks that the grant names the latest
//! version, that the fields exist, and that every new reader is a member with an
//! encryption key (`ledger_state`'s grant handler).

use crate::codec::{Decoder, Encoder};
use crate::error::CodecError;
use crate::ids::RecordId;
use crate::record::{check_wraps, decode_wraps, encode_wraps, KeyWrap};

/// The owner wraps the current data keys of some fields of a record to more readers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantAccess {
    /// The record.
    pub record: RecordId,
    /// Its latest version, whose field keys are granted.
    pub version: u32,
    /// The new wraps, sorted by (field, reader), unique, at least one.
    pub wraps: Vec<KeyWrap>,
}

impl GrantAccess {
    /// Writes the canonical encoding.
    pub fn encode(&self, e: &mut Encoder) {
        self.record.encode(e);
        e.u32(self.version);
        encode_wraps(e, &self.wraps);
    }

    /// Reads and checks the canonical encoding.
    pub fn decode(d: &mut Decoder<'_>) -> Result<Self, CodecError> {
        let g = GrantAccess {
            record: RecordId::decode(d)?,
            version: d.u32("record version")?,
            wraps: decode_wraps(d)?,
        };
        g.check()?;
        Ok(g)
    }

    /// Checks the rules a decoder enforces.
    pub fn check(&self) -> Result<(), CodecError> {
        if self.version == 0 || self.wraps.is_empty() {
            return Err(CodecError::NotCanonical {
                what: "GrantAccess",
                reason: "a grant names a version (from 1) and at least one wrap".into(),
            });
        }
        check_wraps("GrantAccess", &self.wraps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_need_wraps() {
        let g = GrantAccess {
            record: RecordId::new("inv-1").unwrap(),
            version: 1,
            wraps: vec![],
        };
        assert!(g.check().is_err());
    }
}

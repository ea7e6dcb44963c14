//! The `RevokeAccess` payload: a record's owner withdraws one organisation's access to
//! some fields by writing a new version whose chosen fields are sealed under new keys not
//! wrapped to it. The decoder checks that the new version no longer wraps the revoked
//! fields to that organisation; the state machine checks the rest against the previous
//! version.

use crate::codec::{Decoder, Encoder};
use crate::error::CodecError;
use crate::ids::{FieldName, OrgId};
use crate::record::{PutRecord, MAX_RECORD_FIELDS};

/// The owner withdraws one organisation's access to some fields: it writes a new version
/// whose chosen fields are sealed under new keys that are not wrapped to that organisation,
/// and whose other readers keep their access.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokeAccess {
    /// The organisation losing access.
    pub from: OrgId,
    /// The fields it loses, sorted, unique, at least one.
    pub fields: Vec<FieldName>,
    /// The new version (latest + 1), with no wrap of the chosen fields for `from`.
    pub put: PutRecord,
}

impl RevokeAccess {
    /// Writes the canonical encoding.
    pub fn encode(&self, e: &mut Encoder) {
        self.from.encode(e);
        e.count(self.fields.len());
        for f in &self.fields {
            f.encode(e);
        }
        self.put.encode(e);
    }

    /// Reads and checks the canonical encoding.
    pub fn decode(d: &mut Decoder<'_>) -> Result<Self, CodecError> {
        let from = OrgId::decode(d)?;
        let n = d.count("revoked fields", MAX_RECORD_FIELDS, 5)?;
        let mut fields = Vec::with_capacity(n);
        for _ in 0..n {
            fields.push(FieldName::decode(d)?);
        }
        let r = RevokeAccess {
            from,
            fields,
            put: PutRecord::decode(d)?,
        };
        r.check()?;
        Ok(r)
    }

    /// Checks the rules a decoder enforces.
    pub fn check(&self) -> Result<(), CodecError> {
        let bad = |reason: String| CodecError::NotCanonical {
            what: "RevokeAccess",
            reason,
        };
        if self.fields.is_empty() || !self.fields.windows(2).all(|w| w[0] < w[1]) {
            return Err(bad(
                "revoked fields must be at least one, sorted and unique".into(),
            ));
        }
        self.put.check()?;
        if let Some(f) = self
            .fields
            .iter()
            .find(|f| self.put.readers(f).any(|r| r == &self.from))
        {
            return Err(bad(format!(
                "the new version still wraps field {f} to {}, whose access it revokes",
                self.from
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::tests::put;

    #[test]
    fn a_revocation_that_still_wraps_to_the_revoked_reader_is_refused() {
        let r = RevokeAccess {
            from: OrgId::new("bank-a").unwrap(),
            fields: vec![FieldName::new("total").unwrap()],
            put: put(),
        };
        assert!(r.check().unwrap_err().to_string().contains("still wraps"));
        let mut ok = r.clone();
        ok.from = OrgId::new("bank-c").unwrap();
        ok.check().unwrap();
        let mut e = Encoder::new();
        ok.encode(&mut e);
        let b = e.finish();
        assert_eq!(RevokeAccess::decode(&mut Decoder::new(&b)).unwrap(), ok);
    }
}

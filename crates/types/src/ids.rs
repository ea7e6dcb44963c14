//! Identifiers: organisations, records, fields.
//!
//! Identifiers are public (they appear in blocks), short, and restricted to a safe
//! alphabet so they can be logged, used as storage keys and typed on a command line
//! without escaping: ASCII letters, digits, `-`, `_`, `.`, starting with a letter or digit.

use std::fmt;

use crate::codec::{Decoder, Encoder};
use crate::error::CodecError;

fn check_id(what: &'static str, value: &str, max: usize) -> Result<(), CodecError> {
    let err = |reason| CodecError::InvalidId {
        what,
        value: value.chars().take(80).collect(),
        reason,
    };
    if value.is_empty() {
        return Err(err("it is empty"));
    }
    if value.len() > max {
        return Err(err("it is too long"));
    }
    let mut chars = value.chars();
    if !chars.next().is_some_and(|c| c.is_ascii_alphanumeric()) {
        return Err(err("it must start with an ASCII letter or digit"));
    }
    if !value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(err(
            "only ASCII letters, digits, '-', '_' and '.' are allowed",
        ));
    }
    Ok(())
}

macro_rules! identifier {
    ($(#[$doc:meta])* $name:ident, $what:literal, $max:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// The longest accepted identifier, in bytes.
            pub const MAX_LEN: usize = $max;

            /// Checks and wraps an identifier.
            pub fn new(value: impl Into<String>) -> Result<Self, CodecError> {
                let value = value.into();
                check_id($what, &value, Self::MAX_LEN)?;
                Ok(Self(value))
            }

            /// The identifier text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Writes the canonical encoding.
            pub fn encode(&self, e: &mut Encoder) {
                e.str(&self.0);
            }

            /// Reads and checks the canonical encoding.
            pub fn decode(d: &mut Decoder<'_>) -> Result<Self, CodecError> {
                let s = d.string($what, Self::MAX_LEN)?;
                Self::new(s)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = CodecError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }
    };
}

identifier!(
    /// An organisation (bank, corporate, regulator, operator) in the member directory.
    OrgId,
    "organisation id",
    64
);
identifier!(
    /// A chain (one ledger network); fixed in genesis and bound into every signature.
    ChainId,
    "chain id",
    64
);
identifier!(
    /// A record (one trade document, with versions).
    RecordId,
    "record id",
    128
);
identifier!(
    /// A record schema (its versions are numbered separately).
    SchemaId,
    "schema id",
    64
);
identifier!(
    /// A field of a record.
    FieldName,
    "field name",
    64
);
identifier!(
    /// A topic of anonymous endorsements (an alert, a ballot, a proposal): each member
    /// endorses a topic at most once.
    Topic,
    "topic",
    128
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_ids() {
        assert!(OrgId::new("bank-a").is_ok());
        assert!(RecordId::new("INV-2026.0001_x").is_ok());
    }

    #[test]
    fn refuses_bad_ids() {
        for bad in ["", "-lead", "has space", "slash/no", "é", &"x".repeat(65)] {
            assert!(OrgId::new(bad).is_err(), "{bad:?} accepted");
        }
    }
}

//! The error type of this crate.

use thiserror::Error;

/// Why bytes could not be decoded into a ledger value, or a value is not well formed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The input ended in the middle of a value.
    #[error("{what}: input ends early ({needed} bytes needed, {remaining} left)")]
    UnexpectedEnd {
        /// The value being read.
        what: &'static str,
        /// Bytes it needed.
        needed: usize,
        /// Bytes that were left.
        remaining: usize,
    },
    /// Bytes were left after a complete value.
    #[error("{what}: {count} trailing bytes after the value")]
    TrailingBytes {
        /// The value that was read.
        what: &'static str,
        /// How many bytes were left over.
        count: usize,
    },
    /// A length prefix exceeds the limit for this value.
    #[error("{what}: length {len} exceeds the limit of {max} bytes")]
    TooLong {
        /// The value being read.
        what: &'static str,
        /// The length found.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A sequence has more items than allowed.
    #[error("{what}: {count} items exceed the limit of {max}")]
    TooMany {
        /// The sequence being read.
        what: &'static str,
        /// The count found.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A string is not UTF-8.
    #[error("{what}: not valid UTF-8")]
    InvalidUtf8 {
        /// The value being read.
        what: &'static str,
    },
    /// A format version this node does not understand.
    #[error("{what}: format version {got} is not supported (this node supports {supported})")]
    UnsupportedVersion {
        /// The value being read.
        what: &'static str,
        /// The version found.
        got: u16,
        /// The version supported.
        supported: u16,
    },
    /// An enumeration tag with no meaning.
    #[error("{what}: unknown tag {tag}")]
    UnknownTag {
        /// The enumeration being read.
        what: &'static str,
        /// The tag found.
        tag: u32,
    },
    /// An identifier that breaks the identifier rules.
    #[error("{what} {value:?} is not a valid identifier: {reason}")]
    InvalidId {
        /// The kind of identifier.
        what: &'static str,
        /// The offending value (identifiers are public, never secret).
        value: String,
        /// The rule it breaks.
        reason: &'static str,
    },
    /// A value that decodes but is not in canonical form (for example unsorted fields).
    #[error("{what}: not canonical: {reason}")]
    NotCanonical {
        /// The value being read.
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

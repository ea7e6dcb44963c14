//! The canonical byte encoding of everything that is signed, hashed or stored.
//!
//! The rules are few and strict, so that one value has exactly one encoding and a decoder
//! can refuse anything else:
//! - integers are fixed-width big-endian (`u8`, `u16`, `u32`, `u64`);
//! - byte strings and UTF-8 strings are a `u32` big-endian length followed by the bytes;
//! - sequences are a `u32` count followed by the items;
//! - every top-level structure starts with its own format version (`u16`) where it can change;
//! - a decoder must consume its input exactly: trailing bytes are an error.
//!
//! Lengths are checked against the remaining input before anything is allocated, so a
//! forged length cannot make a node allocate more than the message it received.

use crate::error::CodecError;

/// Appends canonical encodings to a byte buffer.
#[derive(Default)]
pub struct Encoder {
    buf: Vec<u8>,
}

impl Encoder {
    /// An empty encoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty encoder with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            buf: Vec::with_capacity(capacity),
        }
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// True when nothing was written.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Writes one byte.
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }

    /// Writes a big-endian `u16`.
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// Writes a big-endian `u32`.
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// Writes a big-endian `u64`.
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// Writes bytes of a fixed, known width (no length prefix).
    pub fn fixed(&mut self, v: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(v);
        self
    }

    /// An optional fixed-size value: a 0 byte, or a 1 byte and the bytes.
    pub fn opt_fixed(&mut self, v: Option<&[u8]>) -> &mut Self {
        match v {
            None => self.u8(0),
            Some(b) => self.u8(1).fixed(b),
        }
    }

    /// Writes a length-prefixed byte string.
    ///
    /// Panics only if `v` is longer than `u32::MAX`, which no caller can produce: every
    /// encoded value is bounded far below that by the limits the decoders enforce.
    pub fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.count(v.len());
        self.buf.extend_from_slice(v);
        self
    }

    /// Writes a length-prefixed UTF-8 string.
    pub fn str(&mut self, v: &str) -> &mut Self {
        self.bytes(v.as_bytes())
    }

    /// Writes a sequence count.
    pub fn count(&mut self, n: usize) -> &mut Self {
        #[allow(clippy::expect_used)]
        let n = u32::try_from(n).expect("encoded lengths are bounded far below u32::MAX");
        self.u32(n)
    }

    /// The encoded bytes.
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
}

/// Reads canonical encodings from a byte slice, refusing anything non-canonical.
pub struct Decoder<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Decoder<'a> {
    /// A decoder over `input`.
    pub fn new(input: &'a [u8]) -> Self {
        Self { input, pos: 0 }
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes not yet consumed.
    pub fn remaining(&self) -> usize {
        self.input.len() - self.pos
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], CodecError> {
        if self.remaining() < n {
            return Err(CodecError::UnexpectedEnd {
                what,
                needed: n,
                remaining: self.remaining(),
            });
        }
        let out = &self.input[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// Reads one byte.
    pub fn u8(&mut self, what: &'static str) -> Result<u8, CodecError> {
        Ok(self.take(1, what)?[0])
    }

    /// Reads a big-endian `u16`.
    pub fn u16(&mut self, what: &'static str) -> Result<u16, CodecError> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    /// Reads a big-endian `u32`.
    pub fn u32(&mut self, what: &'static str) -> Result<u32, CodecError> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Reads a big-endian `u64`.
    pub fn u64(&mut self, what: &'static str) -> Result<u64, CodecError> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    /// Reads [`Encoder::opt_fixed`]: a flag (`what`), then `N` bytes if it is 1.
    pub fn opt_array<const N: usize>(
        &mut self,
        what: &'static str,
    ) -> Result<Option<[u8; N]>, CodecError> {
        match self.u8(what)? {
            0 => Ok(None),
            1 => Ok(Some(self.array(what)?)),
            t => Err(CodecError::UnknownTag {
                what,
                tag: t.into(),
            }),
        }
    }

    /// Reads `N` bytes of fixed width.
    pub fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], CodecError> {
        let b = self.take(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(b);
        Ok(a)
    }

    /// Reads `n` bytes of fixed width, where the width is known only at run time (for
    /// example from the chain's crypto suite).
    pub fn fixed(&mut self, n: usize, what: &'static str) -> Result<Vec<u8>, CodecError> {
        Ok(self.take(n, what)?.to_vec())
    }

    /// Reads a length-prefixed byte string of at most `max` bytes, borrowing it.
    pub fn bytes_ref(&mut self, what: &'static str, max: usize) -> Result<&'a [u8], CodecError> {
        let len = self.u32(what)? as usize;
        if len > max {
            return Err(CodecError::TooLong { what, len, max });
        }
        self.take(len, what)
    }

    /// Reads a length-prefixed byte string of at most `max` bytes.
    pub fn bytes(&mut self, what: &'static str, max: usize) -> Result<Vec<u8>, CodecError> {
        Ok(self.bytes_ref(what, max)?.to_vec())
    }

    /// Reads a length-prefixed UTF-8 string of at most `max` bytes.
    pub fn string(&mut self, what: &'static str, max: usize) -> Result<String, CodecError> {
        let b = self.bytes_ref(what, max)?;
        String::from_utf8(b.to_vec()).map_err(|_| CodecError::InvalidUtf8 { what })
    }

    /// Reads a sequence count of at most `max` items, each at least `min_item_len` bytes,
    /// refusing counts the remaining input cannot possibly hold.
    pub fn count(
        &mut self,
        what: &'static str,
        max: usize,
        min_item_len: usize,
    ) -> Result<usize, CodecError> {
        let n = self.u32(what)? as usize;
        if n > max {
            return Err(CodecError::TooMany {
                what,
                count: n,
                max,
            });
        }
        if n.saturating_mul(min_item_len.max(1)) > self.remaining() {
            return Err(CodecError::UnexpectedEnd {
                what,
                needed: n.saturating_mul(min_item_len.max(1)),
                remaining: self.remaining(),
            });
        }
        Ok(n)
    }

    /// Succeeds only if the whole input was consumed.
    pub fn finish(self, what: &'static str) -> Result<(), CodecError> {
        if self.remaining() != 0 {
            return Err(CodecError::TrailingBytes {
                what,
                count: self.remaining(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_big_endian_and_fixed_width() {
        let mut e = Encoder::new();
        e.u8(1)
            .u16(0x0203)
            .u32(0x0405_0607)
            .u64(0x0809_0a0b_0c0d_0e0f);
        assert_eq!(
            e.finish(),
            vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]
        );
    }

    #[test]
    fn strings_are_length_prefixed() {
        let mut e = Encoder::new();
        e.str("ab");
        assert_eq!(e.finish(), vec![0, 0, 0, 2, b'a', b'b']);
    }

    #[test]
    fn forged_length_is_refused_before_allocation() {
        let input = [0xff, 0xff, 0xff, 0xff, 1, 2];
        let mut d = Decoder::new(&input);
        assert_eq!(
            d.bytes("blob", usize::MAX),
            Err(CodecError::UnexpectedEnd {
                what: "blob",
                needed: 0xffff_ffff,
                remaining: 2
            })
        );
        let mut d = Decoder::new(&input);
        assert_eq!(
            d.bytes("blob", 10),
            Err(CodecError::TooLong {
                what: "blob",
                len: 0xffff_ffff,
                max: 10
            })
        );
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let d = Decoder::new(&[1]);
        assert_eq!(
            d.finish("thing"),
            Err(CodecError::TrailingBytes {
                what: "thing",
                count: 1
            })
        );
    }

    #[test]
    fn invalid_utf8_is_refused() {
        let mut d = Decoder::new(&[0, 0, 0, 1, 0xff]);
        assert_eq!(
            d.string("name", 8),
            Err(CodecError::InvalidUtf8 { what: "name" })
        );
    }
}

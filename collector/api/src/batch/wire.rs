//! The protobuf wire reader and writer behind the wire representation.
//!
//! Written by hand because views read a few fields of a message without decoding the
//! rest: a [`Msg`] is a borrowed byte range, and each accessor scans its fields. The
//! bytes were validated on receipt (`weir_proto::validate`), so the reader never meets
//! malformed input in practice; if it does, it stops early and reports defaults rather
//! than panicking.
//!
//! Singular fields follow protobuf's "last one wins". A repeated scalar field is read in
//! both its packed and unpacked forms, as every protobuf decoder must.

/// One field's value as it sits on the wire.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Field<'a> {
    Varint(u64),
    Fixed64(u64),
    Len(&'a [u8]),
    Fixed32(u32),
}

/// Reads a varint at `*pos`, advancing it. `None` on truncation or overflow.
pub(crate) fn read_varint(bytes: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value: u64 = 0;
    for shift in 0..10 {
        let byte = *bytes.get(*pos)?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << (shift * 7);
        if byte < 0x80 {
            return Some(value);
        }
    }
    None
}

fn read_fixed<const N: usize>(bytes: &[u8], pos: &mut usize) -> Option<[u8; N]> {
    let chunk: [u8; N] = bytes.get(*pos..*pos + N)?.try_into().ok()?;
    *pos += N;
    Some(chunk)
}

/// Reads one field at `*pos`: its number, its value, and where it started.
fn read_field<'a>(bytes: &'a [u8], pos: &mut usize) -> Option<(u32, Field<'a>)> {
    let key = read_varint(bytes, pos)?;
    let number = u32::try_from(key >> 3).ok()?;
    let field = match key & 7 {
        0 => Field::Varint(read_varint(bytes, pos)?),
        1 => Field::Fixed64(u64::from_le_bytes(read_fixed::<8>(bytes, pos)?)),
        2 => {
            let len = usize::try_from(read_varint(bytes, pos)?).ok()?;
            let body = bytes.get(*pos..pos.checked_add(len)?)?;
            *pos += len;
            Field::Len(body)
        }
        5 => Field::Fixed32(u32::from_le_bytes(read_fixed::<4>(bytes, pos)?)),
        3 => {
            skip_group(bytes, pos, number)?;
            return read_field(bytes, pos);
        }
        _ => return None,
    };
    Some((number, field))
}

/// Skips a (deprecated) group up to its matching end tag.
fn skip_group(bytes: &[u8], pos: &mut usize, number: u32) -> Option<()> {
    loop {
        let key = read_varint(bytes, pos)?;
        match key & 7 {
            4 if (key >> 3) as u32 == number => return Some(()),
            0 => {
                read_varint(bytes, pos)?;
            }
            1 => *pos = pos.checked_add(8).filter(|p| *p <= bytes.len())?,
            2 => {
                let len = usize::try_from(read_varint(bytes, pos)?).ok()?;
                *pos = pos.checked_add(len).filter(|p| *p <= bytes.len())?;
            }
            5 => *pos = pos.checked_add(4).filter(|p| *p <= bytes.len())?,
            3 => skip_group(bytes, pos, (key >> 3) as u32)?,
            _ => return None,
        }
    }
}

/// A message as a borrowed byte range. Copy, so views pass it around freely.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Msg<'a>(pub(crate) &'a [u8]);

/// Every field of a message, in order, with the byte range it occupies.
#[derive(Clone, Debug)]
pub struct Fields<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for Fields<'a> {
    /// (field number, value, the field's bytes including its tag)
    type Item = (u32, Field<'a>, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.bytes.len() {
            return None;
        }
        let start = self.pos;
        match read_field(self.bytes, &mut self.pos) {
            Some((number, field)) => Some((number, field, &self.bytes[start..self.pos])),
            None => {
                self.pos = self.bytes.len();
                None
            }
        }
    }
}

impl<'a> Msg<'a> {
    pub(crate) fn fields(self) -> Fields<'a> {
        Fields {
            bytes: self.0,
            pos: 0,
        }
    }

    /// The last occurrence of field `number`.
    pub(crate) fn last(self, number: u32) -> Option<Field<'a>> {
        self.fields()
            .filter(|(n, _, _)| *n == number)
            .map(|(_, f, _)| f)
            .last()
    }

    pub(crate) fn varint(self, number: u32) -> u64 {
        match self.last(number) {
            Some(Field::Varint(v)) => v,
            _ => 0,
        }
    }

    pub(crate) fn fixed64(self, number: u32) -> u64 {
        match self.last(number) {
            Some(Field::Fixed64(v)) => v,
            _ => 0,
        }
    }

    pub(crate) fn fixed32(self, number: u32) -> u32 {
        match self.last(number) {
            Some(Field::Fixed32(v)) => v,
            _ => 0,
        }
    }

    pub(crate) fn double(self, number: u32) -> f64 {
        f64::from_bits(self.fixed64(number))
    }

    /// An optional double: `None` when the field is absent.
    pub(crate) fn opt_double(self, number: u32) -> Option<f64> {
        match self.last(number) {
            Some(Field::Fixed64(v)) => Some(f64::from_bits(v)),
            _ => None,
        }
    }

    pub(crate) fn bytes(self, number: u32) -> &'a [u8] {
        match self.last(number) {
            Some(Field::Len(b)) => b,
            _ => &[],
        }
    }

    /// A string field. Validated as UTF-8 on receipt; anything else reads as "".
    pub(crate) fn str(self, number: u32) -> &'a str {
        std::str::from_utf8(self.bytes(number)).unwrap_or_default()
    }

    /// A singular embedded message, if present.
    pub(crate) fn msg(self, number: u32) -> Option<Msg<'a>> {
        match self.last(number) {
            Some(Field::Len(b)) => Some(Msg(b)),
            _ => None,
        }
    }

    /// Every occurrence of a repeated message field.
    pub(crate) fn repeated(self, number: u32) -> Repeated<'a> {
        Repeated {
            fields: self.fields(),
            number,
        }
    }

    /// A repeated fixed64 field (packed or not).
    pub(crate) fn packed_fixed64(self, number: u32) -> PackedFixed64<'a> {
        PackedFixed64 {
            fields: self.fields(),
            number,
            chunk: &[],
        }
    }

    /// A repeated varint field (packed or not).
    pub(crate) fn packed_varint(self, number: u32) -> PackedVarint<'a> {
        PackedVarint {
            fields: self.fields(),
            number,
            chunk: &[],
            pos: 0,
        }
    }
}

/// The occurrences of one repeated message field.
#[derive(Clone, Debug)]
pub struct Repeated<'a> {
    fields: Fields<'a>,
    number: u32,
}

impl<'a> Iterator for Repeated<'a> {
    type Item = Msg<'a>;

    fn next(&mut self) -> Option<Msg<'a>> {
        for (number, field, _) in self.fields.by_ref() {
            if number == self.number {
                if let Field::Len(b) = field {
                    return Some(Msg(b));
                }
            }
        }
        None
    }
}

/// A repeated fixed64 (or double) field.
#[derive(Clone, Debug)]
pub(crate) struct PackedFixed64<'a> {
    fields: Fields<'a>,
    number: u32,
    chunk: &'a [u8],
}

impl Iterator for PackedFixed64<'_> {
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        loop {
            if self.chunk.len() >= 8 {
                let (head, rest) = self.chunk.split_at(8);
                self.chunk = rest;
                return head.try_into().ok().map(u64::from_le_bytes);
            }
            let (number, field, _) = self.fields.next()?;
            if number != self.number {
                continue;
            }
            match field {
                Field::Fixed64(v) => return Some(v),
                Field::Len(b) => self.chunk = b,
                _ => {}
            }
        }
    }
}

/// A repeated varint field.
#[derive(Clone, Debug)]
pub(crate) struct PackedVarint<'a> {
    fields: Fields<'a>,
    number: u32,
    chunk: &'a [u8],
    pos: usize,
}

impl Iterator for PackedVarint<'_> {
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        loop {
            if self.pos < self.chunk.len() {
                match read_varint(self.chunk, &mut self.pos) {
                    Some(v) => return Some(v),
                    None => self.pos = self.chunk.len(),
                }
                continue;
            }
            let (number, field, _) = self.fields.next()?;
            if number != self.number {
                continue;
            }
            match field {
                Field::Varint(v) => return Some(v),
                Field::Len(b) => {
                    self.chunk = b;
                    self.pos = 0;
                }
                _ => {}
            }
        }
    }
}

/// Appends a varint.
pub(crate) fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Appends a length-delimited field's tag and length (the caller writes the body).
pub(crate) fn put_len_header(out: &mut Vec<u8>, number: u32, len: usize) {
    put_varint(out, (u64::from(number) << 3) | 2);
    put_varint(out, len as u64);
}

/// The size of a varint.
pub(crate) fn varint_len(value: u64) -> usize {
    (64 - (value | 1).leading_zeros() as usize).div_ceil(7)
}

/// The size of a length-delimited field with a `len`-byte body and a small tag.
pub(crate) fn len_field_size(number: u32, len: usize) -> usize {
    varint_len(u64::from(number) << 3) + varint_len(len as u64) + len
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_sizes_match_the_encoding() {
        for value in [0u64, 1, 127, 128, 16_383, 16_384, u32::MAX as u64, u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, value);
            assert_eq!(out.len(), varint_len(value), "{value}");
            let mut pos = 0;
            assert_eq!(read_varint(&out, &mut pos), Some(value));
        }
    }

    #[test]
    fn last_occurrence_wins_and_repeated_reads_all() {
        let mut out = Vec::new();
        put_len_header(&mut out, 1, 1);
        out.push(b'a');
        put_len_header(&mut out, 1, 1);
        out.push(b'b');
        let msg = Msg(&out);
        assert_eq!(msg.str(1), "b");
        assert_eq!(msg.repeated(1).count(), 2);
        assert_eq!(msg.str(2), "");
    }

    #[test]
    fn truncated_input_stops_without_panicking() {
        let bytes = [0x0a, 0x05, b'a'];
        assert_eq!(Msg(&bytes).fields().count(), 0);
        assert_eq!(Msg(&bytes).str(1), "");
    }
}

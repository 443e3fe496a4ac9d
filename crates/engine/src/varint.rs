//! Unsigned LEB128 varints, as the index and the plan's spill file store numbers.

use std::io;

/// Encodes `v` into `buf`; returns how many bytes it took (1 to 10).
pub(crate) fn encode(mut v: u64, buf: &mut [u8; 10]) -> usize {
    let mut n = 0;
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        buf[n] = if v == 0 { byte } else { byte | 0x80 };
        n += 1;
        if v == 0 {
            return n;
        }
    }
}

/// Decodes a varint from the bytes `next` yields.
///
/// Fails with `InvalidData` when it is longer than a u64 can be, or with `next`'s errors.
pub(crate) fn decode(mut next: impl FnMut() -> io::Result<u8>) -> io::Result<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = next()?;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidData,
        "number too long",
    ))
}

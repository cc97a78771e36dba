//! Script numbers, for the BIP34 height at the start of the coinbase scriptSig.

/// Appends the minimal push of `n` as Bitcoin Core's `CScript() << n` does: `OP_0` for 0,
/// `OP_1`..`OP_16` for 1..=16, otherwise a direct push of the little-endian sign-magnitude bytes.
///
/// BIP34 compares the start of the coinbase scriptSig with exactly this serialization, so any other
/// encoding of the height (a non-minimal push) makes the block invalid.
pub fn push_script_num(out: &mut Vec<u8>, n: i64) {
    match n {
        0 => out.push(0x00),
        -1 => out.push(0x4f),
        1..=16 => out.push(0x50 + n as u8),
        _ => {
            let bytes = script_num_bytes(n);
            // At most 9 bytes for an i64, always a direct push.
            out.push(bytes.len() as u8);
            out.extend_from_slice(&bytes);
        }
    }
}

/// The number of bytes [`push_script_num`] appends for `n`.
pub fn script_num_push_len(n: i64) -> usize {
    match n {
        -1..=16 => 1,
        _ => 1 + script_num_bytes(n).len(),
    }
}

fn script_num_bytes(n: i64) -> Vec<u8> {
    let negative = n < 0;
    let mut abs = n.unsigned_abs();
    let mut bytes = Vec::with_capacity(9);
    while abs > 0 {
        bytes.push((abs & 0xff) as u8);
        abs >>= 8;
    }
    // The top bit of the last byte is the sign: add a byte when the magnitude already uses it.
    match bytes.last_mut() {
        Some(last) if *last & 0x80 != 0 => bytes.push(if negative { 0x80 } else { 0x00 }),
        Some(last) if negative => *last |= 0x80,
        _ => {}
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::script::Builder;

    fn pushed(n: i64) -> Vec<u8> {
        let mut v = Vec::new();
        push_script_num(&mut v, n);
        assert_eq!(v.len(), script_num_push_len(n));
        v
    }

    #[test]
    fn small_heights_use_single_opcodes() {
        assert_eq!(pushed(0), [0x00]);
        assert_eq!(pushed(1), [0x51]);
        assert_eq!(pushed(16), [0x60]);
        assert_eq!(pushed(17), [0x01, 0x11]);
    }

    #[test]
    fn sign_bit_forces_an_extra_byte() {
        assert_eq!(pushed(127), [0x01, 0x7f]);
        assert_eq!(pushed(128), [0x02, 0x80, 0x00]);
        assert_eq!(pushed(255), [0x02, 0xff, 0x00]);
        assert_eq!(pushed(256), [0x02, 0x00, 0x01]);
        assert_eq!(pushed(-128), [0x02, 0x80, 0x80]);
        // Mainnet heights: 3 bytes until 8,388,607 (2^23 - 1), then 4.
        assert_eq!(pushed(840_000), [0x03, 0x40, 0xd1, 0x0c]);
        assert_eq!(pushed(8_388_607), [0x03, 0xff, 0xff, 0x7f]);
        assert_eq!(pushed(8_388_608), [0x04, 0x00, 0x00, 0x80, 0x00]);
    }

    #[test]
    fn agrees_with_the_bitcoin_crate_builder() {
        // rust-bitcoin's Builder::push_int is an independent implementation of the same rule.
        for n in [
            0i64,
            1,
            5,
            16,
            17,
            75,
            127,
            128,
            255,
            256,
            32_767,
            32_768,
            65_535,
            209_999,
            210_000,
            8_388_608,
            i64::from(u32::MAX),
        ] {
            let expected = Builder::new().push_int(n).into_script().into_bytes();
            assert_eq!(pushed(n), expected, "height {n}");
        }
    }
}

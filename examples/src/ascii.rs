//! ASCII formatting shared by the protocols: integers in decimal without `fmt`.

/// Appends `n` in decimal.
///
/// # Examples
///
/// ```
/// let mut out = b"n=".to_vec();
/// ms_examples::ascii::push_decimal(&mut out, -120);
/// assert_eq!(out, b"n=-120");
/// ```
pub fn push_decimal(out: &mut Vec<u8>, n: i64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut m = n.unsigned_abs();
    loop {
        at -= 1;
        digits[at] = b'0' + (m % 10) as u8;
        m /= 10;
        if m == 0 {
            break;
        }
    }
    if n < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&digits[at..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_edge() {
        for n in [0, 7, -7, 10, 13, 1234567, i64::MAX, i64::MIN] {
            let mut out = Vec::new();
            push_decimal(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
        }
    }
}

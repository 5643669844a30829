//! The `Date` header, formatted once a second per thread rather than once a response.

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

/// The length of an IMF-fixdate, e.g. `Tue, 24 Nov 2026 21:00:00 GMT`.
pub const LEN: usize = 29;

struct Cached {
    second: u64,
    text: [u8; LEN],
}

thread_local! {
    static CACHED: RefCell<Cached> = const { RefCell::new(Cached { second: u64::MAX, text: [b' '; LEN] }) };
}

/// The current time as an HTTP date, refreshed when the second changes.
///
/// # Examples
///
/// ```
/// let now = ms_examples::date::now();
/// assert!(now.ends_with(b" GMT"));
/// assert!(httpdate::parse_http_date(std::str::from_utf8(&now).unwrap()).is_ok());
/// ```
pub fn now() -> [u8; LEN] {
    let now = SystemTime::now();
    let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    CACHED.with(|cached| {
        let mut cached = cached.borrow_mut();
        if cached.second != second {
            let text = httpdate::fmt_http_date(now);
            if text.len() == LEN {
                cached.text.copy_from_slice(text.as_bytes());
            }
            cached.second = second;
        }
        cached.text
    })
}

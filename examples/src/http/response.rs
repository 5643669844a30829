//! Writing answers into the connection's output buffer: every answer produced from one read
//! is appended there and leaves in one write.

use crate::ascii::push_decimal;
use crate::date;

/// The `Server` header's value, the same in every server `cargo xtask bench` compares.
pub const SERVER: &str = "mini-seastar";

/// The benchmark's body.
pub const HELLO: &[u8] = b"Hello, World!";

/// Appends a whole answer: status line, `Server`, `Content-Type`, `Content-Length`, `Date`
/// (`date`, from [`date::now`], read once for all the answers to one read), `Connection:
/// close` unless `keep_alive`, then `body` unless `head_only`.
///
/// # Examples
///
/// ```
/// use ms_examples::{date, http::response};
///
/// let mut out = Vec::new();
/// response::write(&mut out, &date::now(), (200, "OK"), "text/plain", b"hi", true, false);
/// let text = String::from_utf8(out).unwrap();
/// assert!(text.starts_with("HTTP/1.1 200 OK\r\nServer: mini-seastar\r\n"));
/// assert!(text.contains("Content-Length: 2\r\n"));
/// assert!(text.ends_with("GMT\r\n\r\nhi"));
/// ```
pub fn write(
    out: &mut Vec<u8>,
    date: &[u8; date::LEN],
    (code, reason): (u16, &str),
    content_type: &str,
    body: &[u8],
    keep_alive: bool,
    head_only: bool,
) {
    out.extend_from_slice(b"HTTP/1.1 ");
    push_decimal(out, i64::from(code));
    out.push(b' ');
    out.extend_from_slice(reason.as_bytes());
    out.extend_from_slice(b"\r\nServer: ");
    out.extend_from_slice(SERVER.as_bytes());
    out.extend_from_slice(b"\r\nContent-Type: ");
    out.extend_from_slice(content_type.as_bytes());
    out.extend_from_slice(b"\r\nContent-Length: ");
    push_decimal(out, body.len() as i64);
    out.extend_from_slice(b"\r\nDate: ");
    out.extend_from_slice(date);
    if !keep_alive {
        out.extend_from_slice(b"\r\nConnection: close");
    }
    out.extend_from_slice(b"\r\n\r\n");
    if !head_only {
        out.extend_from_slice(body);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_and_head_only() {
        let mut out = Vec::new();
        write(
            &mut out,
            &date::now(),
            (404, "Not Found"),
            "text/plain",
            b"nope",
            false,
            true,
        );
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 404 Not Found\r\n"));
        assert!(text.contains("Content-Length: 4\r\n"));
        assert!(text.ends_with("\r\nConnection: close\r\n\r\n"), "{text}");
    }
}

//! [`answer_all`]: every complete request in a buffer answered at once, without I/O. The
//! `http_server` and the baseline servers of `cargo xtask bench` share it, so they do the
//! same work per request and differ only in their event loops.

use super::request::{self, Head, Method, Route};
use super::response::{self, HELLO};
use crate::date;

/// What [`answer_all`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Batch {
    /// Bytes of the buffer taken by the requests answered.
    pub consumed: usize,
    /// Requests answered (error answers included).
    pub answered: u64,
    /// Of those, 4xx answers.
    pub client_errors: u64,
    /// Of those, 5xx answers.
    pub server_errors: u64,
    /// Close the connection once the answers are written (`Connection: close`, or an error).
    pub close: bool,
    /// The next request's whole length when its head is complete but not its body; the
    /// buffer must hold that much.
    pub wants: usize,
    /// Answering stopped at a `GET /stats` (or `HEAD`) request, which needs every shard's
    /// counters; it is not consumed. Its head.
    pub stats: Option<Head>,
}

/// Answers the complete requests at the start of `buf` into `out`, stopping after one that
/// closes the connection, before a `/stats` request, or at an incomplete one.
///
/// # Examples
///
/// ```
/// use ms_examples::http::batch::answer_all;
///
/// let mut out = Vec::new();
/// let batch = answer_all(b"GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\nGET", 1024, &mut out);
/// assert_eq!((batch.answered, batch.consumed, batch.close), (2, 36, false));
/// assert_eq!(String::from_utf8(out).unwrap().matches("Hello, World!").count(), 2);
/// ```
pub fn answer_all(buf: &[u8], max_body: usize, out: &mut Vec<u8>) -> Batch {
    let mut batch = Batch::default();
    // Read once, at the first answer, for all of them.
    let mut date = None;
    while batch.consumed < buf.len() {
        let rest = &buf[batch.consumed..];
        let status = match request::parse(rest, max_body) {
            Ok(Some(head)) => {
                let total = head.head_len + head.body_len;
                if rest.len() < total {
                    batch.wants = total;
                    return batch;
                }
                if head.route == Route::Stats && matches!(head.method, Method::Get | Method::Head) {
                    batch.stats = Some(head);
                    return batch;
                }
                let date = date.get_or_insert_with(date::now);
                let status = answer(&head, &rest[head.head_len..total], date, out);
                batch.consumed += total;
                batch.close = !head.keep_alive;
                status
            }
            Ok(None) => return batch,
            Err(error) => {
                let status = error.status();
                let body = format!("{}\n", error.reason());
                let date = date.get_or_insert_with(date::now);
                response::write(
                    out,
                    date,
                    status,
                    "text/plain",
                    body.as_bytes(),
                    false,
                    false,
                );
                batch.consumed = buf.len();
                batch.close = true;
                status.0
            }
        };
        batch.answered += 1;
        match status {
            400..=499 => batch.client_errors += 1,
            500..=599 => batch.server_errors += 1,
            _ => {}
        }
        if batch.close {
            break;
        }
    }
    batch
}

/// Appends the answer to one request that needs nothing but itself; returns its status.
fn answer(head: &Head, body: &[u8], date: &[u8; date::LEN], out: &mut Vec<u8>) -> u16 {
    let head_only = head.method == Method::Head;
    let keep_alive = head.keep_alive;
    let (status, kind, body): ((u16, &str), &str, &[u8]) = match (head.route, head.method) {
        (Route::Hello, Method::Get | Method::Head) => ((200, "OK"), "text/plain", HELLO),
        (Route::Echo, Method::Post) => ((200, "OK"), "application/octet-stream", body),
        (Route::NotFound, _) => ((404, "Not Found"), "text/plain", b"not found\n"),
        _ => (
            (405, "Method Not Allowed"),
            "text/plain",
            b"method not allowed\n",
        ),
    };
    response::write(out, date, status, kind, body, keep_alive, head_only);
    status.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stops_before_stats_and_after_close() {
        let mut out = Vec::new();
        let input = b"GET / HTTP/1.1\r\n\r\nGET /stats HTTP/1.1\r\n\r\n";
        let batch = answer_all(input, 1024, &mut out);
        assert_eq!((batch.answered, batch.consumed), (1, 18));
        assert_eq!(batch.stats.map(|h| h.head_len), Some(23));
        let mut out = Vec::new();
        let input = b"GET / HTTP/1.1\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n\r\n";
        let batch = answer_all(input, 1024, &mut out);
        assert_eq!((batch.answered, batch.close), (1, true));
    }

    #[test]
    fn waits_for_the_body_then_echoes_it() {
        let mut out = Vec::new();
        let head = b"POST /echo HTTP/1.1\r\nContent-Length: 5\r\n\r\n";
        let batch = answer_all(&head[..], 1024, &mut out);
        assert_eq!((batch.answered, batch.wants), (0, head.len() + 5));
        let mut whole = head.to_vec();
        whole.extend_from_slice(b"hello");
        let batch = answer_all(&whole, 1024, &mut out);
        assert_eq!((batch.answered, batch.consumed), (1, whole.len()));
        assert!(out.ends_with(b"\r\n\r\nhello"));
    }

    #[test]
    fn an_error_consumes_everything_and_closes() {
        let mut out = Vec::new();
        let batch = answer_all(
            b"GET / HTTP/1.1\r\n\r\nBROKEN\x01\r\n\r\nGET /",
            1024,
            &mut out,
        );
        assert_eq!(
            (batch.answered, batch.client_errors, batch.close),
            (2, 1, true)
        );
        assert!(String::from_utf8_lossy(&out).contains("400 Bad Request"));
    }
}

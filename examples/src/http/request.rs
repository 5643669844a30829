//! Framing and reading one request head with `httparse`: what to answer, whether to keep the
//! connection, how long the body is, or which error status to send.

use std::mem::MaybeUninit;

/// Headers larger than this (request line included) get `431`.
pub const MAX_HEAD: usize = 8 * 1024;
/// Requests with more headers than this get `431`.
pub const MAX_HEADERS: usize = 64;

/// The request methods the server tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET`.
    Get,
    /// `HEAD`: a `GET` without the body in the answer.
    Head,
    /// `POST`.
    Post,
    /// Anything else (answered with `405`).
    Other,
}

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `/` or `/plaintext`: `Hello, World!`.
    Hello,
    /// `/stats`: the per-shard counters, Prometheus text format.
    Stats,
    /// `/echo`: the request body back.
    Echo,
    /// Anything else (`404`).
    NotFound,
}

/// A request head that parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// The method.
    pub method: Method,
    /// The target's route.
    pub route: Route,
    /// Whether the connection stays open after the answer (HTTP/1.1 unless `Connection:
    /// close`; HTTP/1.0 only with `Connection: keep-alive`).
    pub keep_alive: bool,
    /// The bytes of the head, blank line included.
    pub head_len: usize,
    /// The bytes of the body (`Content-Length`, 0 without one).
    pub body_len: usize,
}

/// Why a request cannot be served; the connection is closed after the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Malformed: `400`, with the reason.
    BadRequest(&'static str),
    /// Head over [`MAX_HEAD`] bytes or [`MAX_HEADERS`] headers: `431`.
    HeadTooLarge,
    /// A body over the configured limit: `413`.
    BodyTooLarge,
    /// `Transfer-Encoding` (chunked bodies are not supported): `501`.
    TransferEncoding,
}

impl Error {
    /// The status line's code and reason.
    pub fn status(self) -> (u16, &'static str) {
        match self {
            Error::BadRequest(_) => (400, "Bad Request"),
            Error::HeadTooLarge => (431, "Request Header Fields Too Large"),
            Error::BodyTooLarge => (413, "Content Too Large"),
            Error::TransferEncoding => (501, "Not Implemented"),
        }
    }

    /// A one-line explanation for the answer's body.
    pub fn reason(self) -> &'static str {
        match self {
            Error::BadRequest(why) => why,
            Error::HeadTooLarge => "request head too large",
            Error::BodyTooLarge => "request body too large",
            Error::TransferEncoding => "Transfer-Encoding is not supported; send Content-Length",
        }
    }
}

/// Parses the head at the start of `buf`: `Ok(None)` if it is not complete yet.
///
/// # Errors
///
/// See [`Error`]; an incomplete head already over [`MAX_HEAD`] bytes is
/// [`Error::HeadTooLarge`].
///
/// # Examples
///
/// ```
/// use ms_examples::http::request::{parse, Route};
///
/// let head = parse(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET", 1024).unwrap().unwrap();
/// assert_eq!((head.route, head.head_len, head.keep_alive), (Route::Hello, 27, true));
/// assert_eq!(parse(b"GET / HTTP/1.1\r\nHo", 1024).unwrap(), None);
/// assert!(parse(b"GET / HTTP/9\r\n\r\n", 1024).is_err());
/// ```
pub fn parse(buf: &[u8], max_body: usize) -> Result<Option<Head>, Error> {
    let mut headers = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut []);
    let head_len = match request.parse_with_uninit_headers(buf, &mut headers) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => return Err(Error::HeadTooLarge),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(Error::HeadTooLarge),
        Err(e) => return Err(Error::BadRequest(bad_request_reason(e))),
    };
    if head_len > MAX_HEAD {
        return Err(Error::HeadTooLarge);
    }
    let method = match request.method {
        Some("GET") => Method::Get,
        Some("HEAD") => Method::Head,
        Some("POST") => Method::Post,
        _ => Method::Other,
    };
    let route = match request
        .path
        .map(|p| p.split_once('?').map_or(p, |(path, _)| path))
    {
        Some("/" | "/plaintext") => Route::Hello,
        Some("/stats") => Route::Stats,
        Some("/echo") => Route::Echo,
        _ => Route::NotFound,
    };
    let mut keep_alive = request.version == Some(1);
    let mut body_len = None;
    let mut chunked = false;
    for header in request.headers.iter() {
        if header.name.eq_ignore_ascii_case("content-length") {
            let len = parse_length(header.value)?;
            if body_len.is_some_and(|other| other != len) {
                return Err(Error::BadRequest("conflicting Content-Length headers"));
            }
            body_len = Some(len);
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = true;
        } else if header.name.eq_ignore_ascii_case("connection") {
            for token in header.value.split(|&b| b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"close") {
                    keep_alive = false;
                } else if token.eq_ignore_ascii_case(b"keep-alive") {
                    keep_alive = true;
                }
            }
        }
    }
    match (chunked, body_len) {
        (true, Some(_)) => {
            return Err(Error::BadRequest(
                "both Content-Length and Transfer-Encoding",
            ));
        }
        (true, None) => return Err(Error::TransferEncoding),
        (false, Some(len)) if len > max_body => return Err(Error::BodyTooLarge),
        _ => {}
    }
    Ok(Some(Head {
        method,
        route,
        keep_alive,
        head_len,
        body_len: body_len.unwrap_or(0),
    }))
}

/// A `Content-Length` value: ASCII digits only, no sign, no overflow.
fn parse_length(value: &[u8]) -> Result<usize, Error> {
    let value = value.trim_ascii();
    if value.is_empty() || value.len() > 18 || !value.iter().all(u8::is_ascii_digit) {
        return Err(Error::BadRequest("invalid Content-Length"));
    }
    Ok(value
        .iter()
        .fold(0usize, |n, &d| n * 10 + usize::from(d - b'0')))
}

fn bad_request_reason(e: httparse::Error) -> &'static str {
    match e {
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid line ending",
        httparse::Error::Status => "invalid status",
        httparse::Error::Token => "invalid token in the request line",
        httparse::Error::Version => "invalid HTTP version",
        _ => "malformed request",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Result<Option<Head>, Error> {
        parse(text.as_bytes(), 1 << 20)
    }

    #[test]
    fn keep_alive_follows_version_and_connection() {
        let k = |t: &str| head(t).unwrap().unwrap().keep_alive;
        assert!(k("GET / HTTP/1.1\r\n\r\n"));
        assert!(!k("GET / HTTP/1.1\r\nConnection: close\r\n\r\n"));
        assert!(!k("GET / HTTP/1.0\r\n\r\n"));
        assert!(k("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
        assert!(!k("GET / HTTP/1.1\r\nConnection: upgrade, close\r\n\r\n"));
    }

    #[test]
    fn routes_and_methods() {
        let h = head("HEAD /plaintext?x=1 HTTP/1.1\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!((h.method, h.route), (Method::Head, Route::Hello));
        let h = head("DELETE /nope HTTP/1.1\r\n\r\n").unwrap().unwrap();
        assert_eq!((h.method, h.route), (Method::Other, Route::NotFound));
    }

    #[test]
    fn bodies_need_a_valid_length() {
        let h = head("POST /echo HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello").unwrap();
        assert_eq!(h.unwrap().body_len, 5);
        for bad in ["-1", "+5", "5 5", "", "99999999999999999999"] {
            let text = format!("POST /echo HTTP/1.1\r\nContent-Length: {bad}\r\n\r\n");
            assert!(matches!(head(&text), Err(Error::BadRequest(_))), "{bad:?}");
        }
        let conflict = "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n";
        assert!(matches!(head(conflict), Err(Error::BadRequest(_))));
        let big = parse(b"POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n", 10);
        assert_eq!(big, Err(Error::BodyTooLarge));
    }

    #[test]
    fn transfer_encoding_is_refused() {
        let te = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(head(te), Err(Error::TransferEncoding));
        let both = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n";
        assert!(matches!(head(both), Err(Error::BadRequest(_))));
    }

    #[test]
    fn oversized_heads_are_refused_complete_or_not() {
        let long = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD));
        assert_eq!(head(&long), Err(Error::HeadTooLarge));
        assert_eq!(head(&long[..MAX_HEAD + 10]), Err(Error::HeadTooLarge));
        let many: String = (0..=MAX_HEADERS).map(|i| format!("H{i}: v\r\n")).collect();
        let text = format!("GET / HTTP/1.1\r\n{many}\r\n");
        assert_eq!(head(&text), Err(Error::HeadTooLarge));
    }

    #[test]
    fn invalid_bytes_are_bad_requests() {
        assert!(matches!(
            head("GET / HTTP/1.1\r\nBad Header: x\r\n\r\n"),
            Err(Error::BadRequest(_))
        ));
        assert!(matches!(
            head("\x01\x02\r\n\r\n"),
            Err(Error::BadRequest(_))
        ));
    }
}

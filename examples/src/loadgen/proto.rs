//! What the load generator sends and how it finds where each answer ends, per protocol.

/// The protocol spoken, and its request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.1 `GET path`, keep-alive; a non-2xx status counts as an error.
    Http {
        /// The request target, e.g. `/`.
        path: String,
        /// The `Host` header's value.
        host: String,
    },
    /// Echo: `size` bytes, answered by the same bytes.
    Echo {
        /// Bytes per request.
        size: usize,
    },
    /// Redis (RESP2): one command; an error reply (`-`) counts as an error.
    Redis {
        /// The command's words, e.g. `["SET", "key", "value"]`.
        command: Vec<String>,
    },
}

/// The end of one answer, or why there is none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// An answer of this many bytes is complete; `error` if it reports a failure.
    Complete {
        /// Its length.
        len: usize,
        /// Whether it is an error answer (non-2xx, `-ERR`).
        error: bool,
    },
    /// More bytes are needed.
    Partial,
    /// The bytes cannot be an answer of this protocol.
    Invalid,
}

impl Protocol {
    /// The bytes of one request.
    ///
    /// # Examples
    ///
    /// ```
    /// use ms_examples::loadgen::Protocol;
    ///
    /// let redis = Protocol::Redis { command: vec!["PING".into()] };
    /// assert_eq!(redis.request(), b"*1\r\n$4\r\nPING\r\n");
    /// ```
    pub fn request(&self) -> Vec<u8> {
        match self {
            Protocol::Http { path, host } => {
                format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n").into_bytes()
            }
            Protocol::Echo { size } => vec![b'x'; (*size).max(1)],
            Protocol::Redis { command } => {
                let mut out = format!("*{}\r\n", command.len()).into_bytes();
                for word in command {
                    out.extend_from_slice(format!("${}\r\n", word.len()).as_bytes());
                    out.extend_from_slice(word.as_bytes());
                    out.extend_from_slice(b"\r\n");
                }
                out
            }
        }
    }

    /// Finds the end of the first answer in `buf`.
    ///
    /// # Examples
    ///
    /// ```
    /// use ms_examples::loadgen::{Frame, Protocol};
    ///
    /// let http = Protocol::Http { path: "/".into(), host: "x".into() };
    /// let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiHTTP";
    /// assert_eq!(http.frame(answer), Frame::Complete { len: 40, error: false });
    /// assert_eq!(http.frame(&answer[..39]), Frame::Partial);
    /// ```
    pub fn frame(&self, buf: &[u8]) -> Frame {
        match self {
            Protocol::Http { .. } => http_frame(buf),
            Protocol::Echo { size } => {
                let size = (*size).max(1);
                if buf.len() >= size {
                    Frame::Complete {
                        len: size,
                        error: false,
                    }
                } else {
                    Frame::Partial
                }
            }
            Protocol::Redis { .. } => match resp_len(buf, 0) {
                Some(Ok(len)) => Frame::Complete {
                    len,
                    error: buf[0] == b'-',
                },
                Some(Err(())) => Frame::Invalid,
                None => Frame::Partial,
            },
        }
    }
}

fn http_frame(buf: &[u8]) -> Frame {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let head_len = match response.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Frame::Partial,
        Err(_) => return Frame::Invalid,
    };
    let mut body = 0usize;
    for header in response.headers.iter() {
        if header.name.eq_ignore_ascii_case("content-length") {
            match std::str::from_utf8(header.value)
                .ok()
                .and_then(|v| v.trim().parse().ok())
            {
                Some(len) => body = len,
                None => return Frame::Invalid,
            }
        }
    }
    let len = head_len + body;
    if buf.len() < len {
        return Frame::Partial;
    }
    let code = response.code.unwrap_or(0);
    Frame::Complete {
        len,
        error: !(200..300).contains(&code),
    }
}

/// The length of the RESP2 value starting at `at`: `None` if incomplete.
fn resp_len(buf: &[u8], at: usize) -> Option<Result<usize, ()>> {
    let kind = *buf.get(at)?;
    let line_end = at + 1 + buf[at + 1..].windows(2).position(|w| w == b"\r\n")?;
    let line = &buf[at + 1..line_end];
    let after_line = line_end + 2;
    let number = || {
        std::str::from_utf8(line)
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
    };
    match kind {
        b'+' | b'-' | b':' => Some(Ok(after_line - at)),
        b'$' => match number() {
            Some(-1) => Some(Ok(after_line - at)),
            Some(n) if n >= 0 => {
                let end = after_line + n as usize + 2;
                if buf.len() < end {
                    None
                } else if &buf[end - 2..end] != b"\r\n" {
                    Some(Err(()))
                } else {
                    Some(Ok(end - at))
                }
            }
            _ => Some(Err(())),
        },
        b'*' => match number() {
            Some(-1) => Some(Ok(after_line - at)),
            Some(n) if n >= 0 => {
                let mut end = after_line;
                for _ in 0..n {
                    match resp_len(buf, end)? {
                        Ok(len) => end += len,
                        Err(()) => return Some(Err(())),
                    }
                }
                Some(Ok(end - at))
            }
            _ => Some(Err(())),
        },
        _ => Some(Err(())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redis() -> Protocol {
        Protocol::Redis {
            command: vec!["GET".into(), "k".into()],
        }
    }

    #[test]
    fn resp_replies_frame_whole_or_not_at_all() {
        let replies: [&[u8]; 6] = [
            b"+OK\r\n",
            b"-ERR no\r\n",
            b":42\r\n",
            b"$3\r\nabc\r\n",
            b"$-1\r\n",
            b"*2\r\n$1\r\na\r\n:1\r\n",
        ];
        for reply in replies {
            let error = reply[0] == b'-';
            let mut with_next = reply.to_vec();
            with_next.extend_from_slice(b"+OK\r\n");
            assert_eq!(
                redis().frame(&with_next),
                Frame::Complete {
                    len: reply.len(),
                    error
                }
            );
            for cut in 0..reply.len() {
                assert_eq!(
                    redis().frame(&reply[..cut]),
                    Frame::Partial,
                    "{reply:?} at {cut}"
                );
            }
        }
        assert_eq!(redis().frame(b"?what\r\n"), Frame::Invalid);
        assert_eq!(redis().frame(b"$3\r\nabcd\r\n"), Frame::Invalid);
    }

    #[test]
    fn http_errors_and_echo_sizes() {
        let http = Protocol::Http {
            path: "/".into(),
            host: "h".into(),
        };
        let not_found = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(
            http.frame(not_found),
            Frame::Complete {
                len: not_found.len(),
                error: true
            }
        );
        assert_eq!(http.frame(b"garbage\r\n\r\n"), Frame::Invalid);
        let echo = Protocol::Echo { size: 3 };
        assert_eq!(echo.request(), b"xxx");
        assert_eq!(echo.frame(b"xx"), Frame::Partial);
        assert_eq!(
            echo.frame(b"xxxx"),
            Frame::Complete {
                len: 3,
                error: false
            }
        );
    }
}

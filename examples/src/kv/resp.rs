//! RESP2, the Redis protocol: reading commands (arrays of bulk strings, or inline commands)
//! and writing replies.

use std::ops::Range;

/// Limits on what a client may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The longest bulk string accepted (Redis's `proto-max-bulk-len`).
    pub max_bulk: usize,
    /// The most arguments in one command.
    pub max_args: usize,
    /// The longest inline command line.
    pub max_inline: usize,
}

impl Default for Limits {
    /// 64 MiB bulk strings, a million arguments, 64 KiB inline lines.
    fn default() -> Limits {
        Limits {
            max_bulk: 64 << 20,
            max_args: 1 << 20,
            max_inline: 64 << 10,
        }
    }
}

/// One parsed command: where its arguments lie in the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed {
    /// A command of this many bytes; its arguments were pushed to `args`. May have no
    /// arguments (an empty inline line), which is skipped, as Redis does.
    Command(usize),
    /// The buffer holds part of a command: at least this many bytes are needed in all.
    Incomplete(usize),
}

/// A protocol error: the reply is `-ERR Protocol error: {0}` and the connection closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProtocolError(pub &'static str);

/// Parses the command at the start of `buf`, pushing the byte ranges of its arguments to
/// `args` (cleared first).
///
/// # Errors
///
/// A malformed command, or one over `limits` ([`ProtocolError`]).
///
/// # Examples
///
/// ```
/// use ms_examples::kv::resp::{parse, Limits, Parsed};
///
/// let mut args = Vec::new();
/// let buf = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\n";
/// assert_eq!(parse(buf, &Limits::default(), &mut args), Ok(Parsed::Command(20)));
/// assert_eq!(&buf[args[1].clone()], b"k");
/// assert_eq!(parse(&buf[20..], &Limits::default(), &mut args), Ok(Parsed::Command(6)));
/// assert_eq!(&buf[20..][args[0].clone()], b"PING");
/// ```
pub fn parse(
    buf: &[u8],
    limits: &Limits,
    args: &mut Vec<Range<usize>>,
) -> Result<Parsed, ProtocolError> {
    args.clear();
    match buf.first() {
        None => Ok(Parsed::Incomplete(1)),
        Some(b'*') => parse_array(buf, limits, args),
        Some(_) => parse_inline(buf, limits, args),
    }
}

/// A decimal number between `from` and `\r\n`, and the index after the line; `Ok(None)` if
/// the line is incomplete.
fn number_line(
    buf: &[u8],
    from: usize,
    what: &'static str,
) -> Result<Option<(i64, usize)>, ProtocolError> {
    let rest = &buf[from.min(buf.len())..];
    let Some(newline) = rest.iter().position(|&b| b == b'\n') else {
        // No number line is longer than this; more bytes cannot make it valid.
        return if rest.len() > 32 {
            Err(ProtocolError(what))
        } else {
            Ok(None)
        };
    };
    if newline == 0 || rest[newline - 1] != b'\r' {
        return Err(ProtocolError(what));
    }
    let n = std::str::from_utf8(&rest[..newline - 1])
        .ok()
        .and_then(|text| text.parse::<i64>().ok())
        .ok_or(ProtocolError(what))?;
    Ok(Some((n, from + newline + 1)))
}

fn parse_array(
    buf: &[u8],
    limits: &Limits,
    args: &mut Vec<Range<usize>>,
) -> Result<Parsed, ProtocolError> {
    const MULTIBULK: &str = "invalid multibulk length";
    const BULK: &str = "invalid bulk length";
    let Some((count, mut at)) = number_line(buf, 1, MULTIBULK)? else {
        return Ok(Parsed::Incomplete(buf.len() + 1));
    };
    if count > limits.max_args as i64 {
        return Err(ProtocolError(MULTIBULK));
    }
    if count <= 0 {
        return Ok(Parsed::Command(at)); // `*0` and `*-1` are empty commands
    }
    for _ in 0..count {
        match buf.get(at) {
            None => return Ok(Parsed::Incomplete(at + 1)),
            Some(b'$') => {}
            Some(_) => return Err(ProtocolError("expected '$'")),
        }
        let Some((len, data)) = number_line(buf, at + 1, BULK)? else {
            return Ok(Parsed::Incomplete(buf.len() + 1));
        };
        if len < 0 || len as u64 > limits.max_bulk as u64 {
            return Err(ProtocolError(BULK));
        }
        let end = data + len as usize;
        if buf.len() < end + 2 {
            return Ok(Parsed::Incomplete(end + 2));
        }
        if &buf[end..end + 2] != b"\r\n" {
            return Err(ProtocolError(BULK));
        }
        args.push(data..end);
        at = end + 2;
    }
    Ok(Parsed::Command(at))
}

fn parse_inline(
    buf: &[u8],
    limits: &Limits,
    args: &mut Vec<Range<usize>>,
) -> Result<Parsed, ProtocolError> {
    let Some(newline) = buf.iter().position(|&b| b == b'\n') else {
        return if buf.len() > limits.max_inline {
            Err(ProtocolError("too big inline request"))
        } else {
            Ok(Parsed::Incomplete(buf.len() + 1))
        };
    };
    if newline > limits.max_inline {
        return Err(ProtocolError("too big inline request"));
    }
    let line_len = if newline > 0 && buf[newline - 1] == b'\r' {
        newline - 1
    } else {
        newline
    };
    let mut at = 0;
    while at < line_len {
        while at < line_len && buf[at].is_ascii_whitespace() {
            at += 1;
        }
        let start = at;
        while at < line_len && !buf[at].is_ascii_whitespace() {
            at += 1;
        }
        if at > start {
            if args.len() == limits.max_args {
                return Err(ProtocolError("invalid multibulk length"));
            }
            args.push(start..at);
        }
    }
    Ok(Parsed::Command(newline + 1))
}

/// Appends `+text\r\n`.
pub fn simple(out: &mut Vec<u8>, text: &str) {
    out.push(b'+');
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Appends `-text\r\n`.
pub fn error(out: &mut Vec<u8>, text: &str) {
    out.push(b'-');
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Appends `:n\r\n`.
pub fn integer(out: &mut Vec<u8>, n: i64) {
    out.push(b':');
    decimal(out, n);
    out.extend_from_slice(b"\r\n");
}

/// Appends `$len\r\nbytes\r\n`.
pub fn bulk(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'$');
    decimal(out, bytes.len() as i64);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(bytes);
    out.extend_from_slice(b"\r\n");
}

/// Appends the null bulk string `$-1\r\n`.
pub fn nil(out: &mut Vec<u8>) {
    out.extend_from_slice(b"$-1\r\n");
}

/// Appends an array header `*n\r\n`.
pub fn array(out: &mut Vec<u8>, n: usize) {
    out.push(b'*');
    decimal(out, n as i64);
    out.extend_from_slice(b"\r\n");
}

pub use crate::ascii::push_decimal as decimal;

#[cfg(test)]
mod tests {
    use super::*;

    fn words(buf: &[u8]) -> Result<Parsed, ProtocolError> {
        parse(buf, &Limits::default(), &mut Vec::new())
    }

    #[test]
    fn every_prefix_of_a_command_is_incomplete() {
        let command = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nva\r\nl\r\n";
        for cut in 0..command.len() {
            assert!(
                matches!(words(&command[..cut]), Ok(Parsed::Incomplete(_))),
                "{cut}"
            );
        }
        let mut args = Vec::new();
        assert_eq!(
            parse(command, &Limits::default(), &mut args),
            Ok(Parsed::Command(command.len()))
        );
        assert_eq!(&command[args[2].clone()], b"va\r\nl", "binary-safe");
    }

    #[test]
    fn malformed_and_oversized_commands_are_errors() {
        assert!(words(b"*x\r\n").is_err());
        assert!(words(b"*1\r\n:3\r\n").is_err());
        assert!(words(b"*1\r\n$-5\r\n").is_err());
        assert!(words(b"*1\r\n$3\r\nabcd\r\n").is_err());
        let limits = Limits {
            max_bulk: 10,
            max_args: 4,
            max_inline: 16,
        };
        let mut args = Vec::new();
        assert!(parse(b"*1\r\n$11\r\n", &limits, &mut args).is_err());
        assert!(parse(b"*5\r\n", &limits, &mut args).is_err());
        assert!(parse(&[b'a'; 17], &limits, &mut args).is_err());
        assert!(
            words(&[b'9'; 40]).is_ok(),
            "an inline line without its newline yet"
        );
        assert!(words(b"*99999999999999999999999999999999999").is_err());
    }

    #[test]
    fn inline_commands_split_on_whitespace() {
        let mut args = Vec::new();
        let buf = b"  SET  key\tvalue \r\n";
        assert_eq!(
            parse(buf, &Limits::default(), &mut args),
            Ok(Parsed::Command(buf.len()))
        );
        let words: Vec<&[u8]> = args.iter().map(|r| &buf[r.clone()]).collect();
        assert_eq!(words, [&b"SET"[..], b"key", b"value"]);
        assert_eq!(
            parse(b"\r\n", &Limits::default(), &mut args),
            Ok(Parsed::Command(2))
        );
        assert!(args.is_empty());
    }

    #[test]
    fn replies() {
        let mut out = Vec::new();
        simple(&mut out, "OK");
        integer(&mut out, -42);
        bulk(&mut out, b"a\r\nb");
        nil(&mut out);
        array(&mut out, 2);
        error(&mut out, "ERR x");
        assert_eq!(
            out,
            b"+OK\r\n:-42\r\n$4\r\na\r\nb\r\n$-1\r\n*2\r\n-ERR x\r\n"
        );
    }
}

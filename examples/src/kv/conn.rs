//! One client connection: read, execute every complete command in what was read (in order),
//! write all the replies at once, repeat.

use std::ops::Range;

use ms_net::{Shutdown, TcpStream};

use super::command::{self, Outcome, Pending};
use super::resp::{self, Limits, Parsed, ProtocolError};

const READ_BUFFER: usize = 16 * 1024;

/// Serves one connection until the client closes it, sends `QUIT`, breaks the protocol, or
/// the server stops while the connection is idle.
pub(super) async fn handle(stream: TcpStream, shutdown: Shutdown, limits: Limits) {
    let mut buf = vec![0u8; READ_BUFFER];
    let (mut start, mut end) = (0usize, 0usize);
    let mut out = Vec::with_capacity(4096);
    // Replies computed elsewhere: where each goes in `out`, in order.
    let mut pending: Vec<(usize, Pending)> = Vec::new();
    let mut args: Vec<Range<usize>> = Vec::new();
    loop {
        let mut close = false;
        let mut needed = 0;
        // The words of one command; allocated once per batch of commands.
        let mut words: Vec<&[u8]> = Vec::new();
        let now = std::time::Instant::now();
        while start < end {
            let input = &buf[start..end];
            match resp::parse(input, &limits, &mut args) {
                Ok(Parsed::Command(len)) => {
                    if !args.is_empty() {
                        words.clear();
                        words.extend(args.iter().map(|r| &input[r.clone()]));
                        match command::execute(&words, now, &mut out) {
                            Outcome::Done => {}
                            Outcome::Pending(reply) => pending.push((out.len(), reply)),
                            Outcome::Quit => close = true,
                        }
                    }
                    start += len;
                    if close {
                        break;
                    }
                }
                Ok(Parsed::Incomplete(more)) => {
                    needed = more;
                    break;
                }
                Err(ProtocolError(message)) => {
                    resp::error(&mut out, &format!("ERR Protocol error: {message}"));
                    close = true;
                    break;
                }
            }
        }
        drop(words);
        if start == end {
            (start, end) = (0, 0);
        } else if needed > buf.len() - start {
            buf.copy_within(start..end, 0);
            (start, end) = (0, end - start);
            buf.resize(needed.max(READ_BUFFER), 0);
        }
        if !pending.is_empty() {
            out = assemble(out, &mut pending).await;
        }
        if !out.is_empty() {
            if stream.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
        }
        if close {
            return;
        }
        if end == buf.len() {
            buf.copy_within(start..end, 0);
            (start, end) = (0, end - start);
        }
        let read = std::pin::pin!(stream.read(&mut buf[end..]));
        let result = if start == end {
            match shutdown.or_until(read).await {
                Some(result) => result,
                None => return, // stopping, and nothing half-read
            }
        } else {
            read.await
        };
        match result {
            Ok(0) | Err(_) => return,
            Ok(n) => end += n,
        }
    }
}

/// `out` with each pending reply inserted at its place, in order.
async fn assemble(out: Vec<u8>, pending: &mut Vec<(usize, Pending)>) -> Vec<u8> {
    let mut whole = Vec::with_capacity(out.len() + 64 * pending.len());
    let mut copied = 0;
    for (at, reply) in pending.drain(..) {
        whole.extend_from_slice(&out[copied..at]);
        whole.extend_from_slice(&reply.await);
        copied = at;
    }
    whole.extend_from_slice(&out[copied..]);
    whole
}

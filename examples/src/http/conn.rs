//! One connection: read, answer every complete request in what was read, write all the
//! answers at once, repeat; close on `Connection: close`, on an error status, at the idle
//! timeout, or when the server stops while the connection is idle.

use std::pin::pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use ms_net::{Shutdown, TcpStream};

use super::batch::answer_all;
use super::request::Method;
use super::response;
use super::stats::{self, Counter, ShardStats};

/// The read buffer's size; heads are at most 8 KiB, bodies make it grow up to their length.
const READ_BUFFER: usize = 16 * 1024;
/// How long a closing connection keeps reading (and discarding) what the client still sends,
/// so that closing with unread data does not reset the connection before the client has read
/// the answer.
const LINGER: Duration = Duration::from_secs(2);
/// At most this much is discarded while lingering.
const LINGER_BYTES: usize = 1 << 20;

/// The settings of every connection.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A connection with no complete request for this long is closed (this also bounds how
    /// long a client may take to send one request, so a slow sender cannot hold a connection).
    pub idle_timeout: Duration,
    /// Bodies longer than this get `413`.
    pub max_body: usize,
}

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// We closed it after an answer (`Connection: close` or an error status).
    Answered,
    /// The client closed it.
    PeerClosed,
    /// No complete request within the idle timeout.
    Idle,
    /// A read or write failed.
    IoError,
    /// The server is stopping and the connection was idle.
    Shutdown,
}

/// Serves one connection to its end and counts it.
pub(super) async fn handle(stream: TcpStream, shutdown: Shutdown, limits: Limits) {
    stats::add(Counter::ConnectionsAccepted, 1);
    let end = serve(&stream, &shutdown, limits).await;
    match end {
        End::Answered => linger(&stream).await,
        End::Idle => stats::add(Counter::IdleTimeouts, 1),
        End::IoError => stats::add(Counter::IoErrors, 1),
        End::PeerClosed | End::Shutdown => {}
    }
    stats::add(Counter::ConnectionsClosed, 1);
}

/// What ended the wait for more bytes.
enum Event {
    Read(std::io::Result<usize>),
    Idle,
    Shutdown,
}

async fn serve(stream: &TcpStream, shutdown: &Shutdown, limits: Limits) -> End {
    let mut buf = vec![0u8; READ_BUFFER];
    // Unanswered bytes are `buf[start..end]`.
    let (mut start, mut end) = (0, 0);
    let mut out = Vec::with_capacity(4096);
    let mut idle = ms_reactor::sleep(limits.idle_timeout);
    // One registration with the stop signal for the connection's life, not one per read.
    let mut stopping = shutdown.wait();
    let mut idle_from = Instant::now();
    // The idle deadline moves at most this often (a timer reset per request would cost more
    // than the request); the timeout is thus between `idle_timeout - slack` and itself.
    let slack = (limits.idle_timeout / 8).min(Duration::from_secs(1));
    loop {
        let mut answered = 0;
        let close = loop {
            let batch = answer_all(&buf[start..end], limits.max_body, &mut out);
            start += batch.consumed;
            answered += batch.answered;
            stats::add(Counter::ClientErrors, batch.client_errors);
            stats::add(Counter::ServerErrors, batch.server_errors);
            if batch.wants > buf.len() - start {
                buf.copy_within(start..end, 0);
                (start, end) = (0, end - start);
                buf.resize(batch.wants.max(READ_BUFFER), 0);
            }
            match batch.stats {
                Some(head) if !batch.close => {
                    let text = stats::render(&all_shards().await);
                    let kind = "text/plain; version=0.0.4; charset=utf-8";
                    let head_only = head.method == Method::Head;
                    let ok = (200, "OK");
                    response::write(
                        &mut out,
                        &crate::date::now(),
                        ok,
                        kind,
                        text.as_bytes(),
                        head.keep_alive,
                        head_only,
                    );
                    start += head.head_len + head.body_len;
                    answered += 1;
                    if !head.keep_alive {
                        break true;
                    }
                }
                _ => break batch.close,
            }
        };
        if answered > 0 {
            stats::add(Counter::Requests, answered);
            let now = Instant::now();
            if now >= idle_from + slack {
                idle.reset(now + limits.idle_timeout);
                idle_from = now;
            }
        }
        if start == end {
            (start, end) = (0, 0);
        }
        if !out.is_empty() {
            if stream.write_all(&out).await.is_err() {
                return End::IoError;
            }
            stats::add(Counter::BytesWritten, out.len() as u64);
            out.clear();
        }
        if close {
            return End::Answered;
        }
        if end == buf.len() {
            // Full of a head that is not complete yet: make room at the front (a head over
            // 8 KiB was refused above, so there is room once `start` moves to 0).
            buf.copy_within(start..end, 0);
            (start, end) = (0, end - start);
        }
        let idle_now = start == end;
        let event = {
            let mut read = pin!(stream.read(&mut buf[end..]));
            std::future::poll_fn(|cx| {
                if let Poll::Ready(result) = read.as_mut().poll(cx) {
                    return Poll::Ready(Event::Read(result));
                }
                if idle_now && std::pin::Pin::new(&mut stopping).poll(cx).is_ready() {
                    return Poll::Ready(Event::Shutdown);
                }
                if std::pin::Pin::new(&mut idle).poll(cx).is_ready() {
                    return Poll::Ready(Event::Idle);
                }
                Poll::Pending
            })
            .await
        };
        match event {
            Event::Read(Ok(0)) => return End::PeerClosed,
            Event::Read(Ok(n)) => {
                end += n;
                stats::add(Counter::BytesRead, n as u64);
            }
            Event::Read(Err(_)) => return End::IoError,
            Event::Idle => return End::Idle,
            Event::Shutdown => return End::Shutdown,
        }
    }
}

/// Every shard's counters (just this one's outside an engine).
async fn all_shards() -> Vec<ShardStats> {
    if ms_engine::try_shard_id().is_none() {
        return vec![ShardStats::here()];
    }
    ms_engine::invoke_on_all(|| async { ShardStats::here() })
        .await
        .into_iter()
        .filter_map(Result::ok)
        .collect()
}

/// Closes the writing half, then reads and discards what the client still sends until it
/// closes too (or [`LINGER`] passes), so the answer is not lost to a reset.
async fn linger(stream: &TcpStream) {
    if stream.shutdown_write().is_err() {
        return;
    }
    let mut sink = [0u8; 4096];
    let drain = async {
        let mut discarded = 0;
        while discarded < LINGER_BYTES {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(n) => discarded += n,
            }
        }
    };
    let _ = ms_reactor::timeout(LINGER, drain).await;
}

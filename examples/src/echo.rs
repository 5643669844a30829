//! The TCP echo server of the `echo` program: every byte read is written back, as a packet
//! straight from the pooled read buffer.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

/// Bytes read at most at once.
const READ_CHUNK: usize = 16 * 1024;

/// Binds this shard's listener on `addr`, calls `bound()`, then echoes on every connection
/// until the engine stops; idle connections then close, busy ones get `grace` to finish.
///
/// # Errors
///
/// The bind's error, or a fatal listener error.
pub async fn serve_shard(
    addr: SocketAddr,
    grace: Duration,
    bound: impl FnOnce(),
) -> io::Result<()> {
    let listener = ms_net::TcpListener::bind(addr)?;
    bound();
    ms_net::Server::new(listener)
        .grace(grace)
        .run(ms_engine::stopped(), |stream, _peer, shutdown| async move {
            loop {
                let read = std::pin::pin!(stream.read_packet(READ_CHUNK));
                match shutdown.or_until(read).await {
                    Some(Ok(packet)) if !packet.is_empty() => {
                        if stream.write_packet(packet).await.is_err() {
                            return;
                        }
                    }
                    _ => return,
                }
            }
        })
        .await
}

//! TCP for Mini-SeaStar: a [`TcpListener`] per core (`SO_REUSEPORT`, `accept4` non-blocking and
//! close-on-exec, paused rather than spun when file descriptors run out) and [`TcpStream`]s
//! registered once, edge-triggered, with the core's reactor: reads that stop at a short read,
//! writes with `MSG_NOSIGNAL`, and [`write_packet`](TcpStream::write_packet), which hands a
//! [`Packet`](ms_packet::Packet)'s fragments to one `writev`.
//!
//! # Examples
//!
//! ```
//! use ms_net::{TcpListener, TcpStream};
//!
//! let reactor = ms_reactor::Reactor::new().unwrap();
//! let echoed = reactor.block_on(async {
//!     let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap())?;
//!     let addr = listener.local_addr()?;
//!     let server = ms_reactor::spawn(async move {
//!         let (stream, _) = listener.accept().await?;
//!         let request = stream.read_packet(1024).await?;
//!         stream.write_packet(request).await
//!     });
//!     let client = TcpStream::connect(addr).await?;
//!     client.write_all(b"ping").await?;
//!     let mut buf = [0; 4];
//!     let n = client.read(&mut buf).await?;
//!     server.await.unwrap()?;
//!     Ok::<_, std::io::Error>(buf[..n].to_vec())
//! });
//! assert_eq!(echoed.unwrap(), b"ping");
//! ```
//!
//! # Types
//!
//! - [`TcpListener`]: [`bind`](TcpListener::bind), [`accept`](TcpListener::accept).
//! - [`TcpStream`]: [`connect`](TcpStream::connect), [`read`](TcpStream::read),
//!   [`read_packet`](TcpStream::read_packet), [`write_all`](TcpStream::write_all),
//!   [`write_packet`](TcpStream::write_packet), [`shutdown_write`](TcpStream::shutdown_write),
//!   peer and local addresses, `TCP_NODELAY`.
//! - [`serve`]: a core's accept loop, a task per connection, with a connection limit.
//! - [`Server`]: the same with an orderly stop: stop accepting, tell the connections through
//!   their [`Shutdown`] signal, give them a grace period.

#![doc(test(no_crate_inject, attr(deny(warnings))))]

mod listener;
mod serve;
mod shutdown;
mod stream;

pub use listener::{DEFAULT_BACKLOG, TcpListener};
pub use serve::{Server, serve};
pub use shutdown::{Shutdown, Wait};
pub use stream::TcpStream;

#[cfg(test)]
mod tests {
    use super::*;
    use static_assertions::assert_not_impl_any;

    assert_not_impl_any!(TcpStream: Send, Sync);
    assert_not_impl_any!(TcpListener: Send, Sync);
}

//! [`TcpStream`]: one TCP connection, registered once with the reactor, edge-triggered.
//!
//! # Reads and writes
//!
//! Every read or write first looks at the cached readiness: if the last operation drained the
//! socket, it waits for the next edge instead of making a system call just to see `EAGAIN`. A
//! read shorter than the buffer counts as draining the socket (the kernel had no more); a
//! write that took less than offered counts as filling it. Writes pass `MSG_NOSIGNAL`, so a
//! peer that reset the connection is an `io::Error` (`EPIPE` or `ECONNRESET`), never a
//! `SIGPIPE` that kills the process.
//!
//! Each read or write takes one unit of the task's I/O budget (see
//! [`ms_reactor::poll_proceed`]): cached readiness may never run dry, and a loop of reads on a
//! socket that always has data must still let the core's other tasks run.

use std::fmt;
use std::io::{self, IoSlice, Read};
use std::mem::MaybeUninit;
use std::net::{Shutdown, SocketAddr};

use bytes::{Buf, BufMut};
use ms_packet::{Packet, PacketWriter};
use ms_reactor::Registration;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

/// How many fragments one `writev` takes at most.
const MAX_IOVECS: usize = 64;

/// A TCP connection on the reactor running on this thread (`!Send`: it belongs to its core).
///
/// # Examples
///
/// ```no_run
/// # let _ = ms_reactor::Reactor::new().unwrap().block_on(async {
/// let stream = ms_net::TcpStream::connect("127.0.0.1:8080".parse().unwrap()).await?;
/// stream.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await?;
/// let reply = stream.read_packet(4096).await?;
/// println!("{} bytes", reply.len());
/// # Ok::<(), std::io::Error>(())
/// # });
/// ```
pub struct TcpStream {
    io: Registration<Socket>,
}

impl TcpStream {
    /// Connects to `addr` without blocking the reactor.
    ///
    /// # Errors
    ///
    /// The connection's error (refused, unreachable, timed out by the kernel), or a socket or
    /// registration error.
    pub async fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
        let socket = Socket::new(
            Domain::for_address(addr),
            Type::STREAM.nonblocking(),
            Some(Protocol::TCP),
        )?;
        let pending = match socket.connect(&SockAddr::from(addr)) {
            Ok(()) => false,
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => true,
            Err(e) => return Err(e),
        };
        let stream = TcpStream::from_socket(socket)?;
        if pending {
            stream.io.writable().await;
            if let Some(e) = stream.io.get_ref().take_error()? {
                return Err(e);
            }
        }
        Ok(stream)
    }

    /// Wraps an accepted or connected non-blocking socket: sets `TCP_NODELAY` and registers it.
    pub(crate) fn from_socket(socket: Socket) -> io::Result<TcpStream> {
        socket.set_tcp_nodelay(true)?;
        Ok(TcpStream {
            io: Registration::new(socket)?,
        })
    }

    fn socket(&self) -> &Socket {
        self.io.get_ref()
    }

    /// Reads into `buf`: the number of bytes read, 0 at end of stream.
    ///
    /// # Errors
    ///
    /// The socket's error (e.g. `ECONNRESET`).
    pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            // At once if the cached readiness says readable (taking one unit of the task's I/O
            // budget: a socket that always has data cannot hold the core), else at the next
            // edge.
            self.io.readable().await;
            match (&mut self.socket()).read(buf) {
                Ok(n) => {
                    if n < buf.len() {
                        self.io.clear_readable(); // a short read drains
                    }
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.io.clear_readable(),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads up to `max` bytes straight into a pooled buffer: an empty packet at end of stream.
    ///
    /// # Errors
    ///
    /// As [`read`](Self::read).
    pub async fn read_packet(&self, max: usize) -> io::Result<Packet> {
        let mut writer = PacketWriter::with_chunk_size(max.max(1));
        loop {
            // As in `read`: takes the I/O budget.
            self.io.readable().await;
            let spare = writer.chunk_mut();
            let want = spare.len().min(max.max(1));
            // SAFETY: `recv` only writes initialized bytes into the slice, and we tell the
            // writer about exactly the `n` it wrote.
            let uninit: &mut [MaybeUninit<u8>] =
                unsafe { &mut spare.as_uninit_slice_mut()[..want] };
            match self.socket().recv(uninit) {
                Ok(n) => {
                    if n < want {
                        self.io.clear_readable();
                    }
                    // SAFETY: `recv` initialized the first `n` bytes of the chunk.
                    unsafe { writer.advance_mut(n) };
                    return Ok(writer.into_packet());
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.io.clear_readable(),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Writes all of `buf`, waiting for room as needed.
    ///
    /// # Errors
    ///
    /// The socket's error; a peer that reset the connection gives `EPIPE` or `ECONNRESET`.
    pub async fn write_all(&self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            // The write is tried before readiness is known; it takes the I/O budget all the same.
            ms_reactor::consume_budget().await;
            match self.socket().send_with_flags(buf, libc::MSG_NOSIGNAL) {
                Ok(n) => {
                    if n < buf.len() {
                        self.io.clear_writable();
                    }
                    buf = &buf[n..];
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.io.clear_writable(),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            if !buf.is_empty() && !self.io.readiness().writable {
                self.io.writable().await;
            }
        }
        Ok(())
    }

    /// Writes a packet's fragments as they are, one `writev` per batch of up to 64 fragments,
    /// resuming after partial writes.
    ///
    /// # Errors
    ///
    /// As [`write_all`](Self::write_all).
    pub async fn write_packet(&self, mut packet: Packet) -> io::Result<()> {
        while !packet.is_empty() {
            // As in `write_all`: takes the I/O budget.
            ms_reactor::consume_budget().await;
            let mut iovecs = [IoSlice::new(&[]); MAX_IOVECS];
            let count = packet.chunks_vectored(&mut iovecs);
            let offered: usize = iovecs[..count].iter().map(|s| s.len()).sum();
            match self
                .socket()
                .send_vectored_with_flags(&iovecs[..count], libc::MSG_NOSIGNAL)
            {
                Ok(n) => {
                    if n < offered {
                        self.io.clear_writable();
                    }
                    packet.advance(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.io.clear_writable(),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            if !packet.is_empty() && !self.io.readiness().writable {
                self.io.writable().await;
            }
        }
        Ok(())
    }

    /// Closes the writing half: the peer reads end of stream; reading goes on.
    ///
    /// # Errors
    ///
    /// `shutdown(2)`'s error (e.g. not connected).
    pub fn shutdown_write(&self) -> io::Result<()> {
        self.socket().shutdown(Shutdown::Write)
    }

    /// The peer's address.
    ///
    /// # Errors
    ///
    /// `getpeername(2)`'s error.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        sock_addr(self.socket().peer_addr()?)
    }

    /// This end's address.
    ///
    /// # Errors
    ///
    /// `getsockname(2)`'s error.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        sock_addr(self.socket().local_addr()?)
    }

    /// Sets `TCP_NODELAY` (on by default: responses leave at once).
    ///
    /// # Errors
    ///
    /// `setsockopt(2)`'s error.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.socket().set_tcp_nodelay(nodelay)
    }

    /// Whether `TCP_NODELAY` is set.
    ///
    /// # Errors
    ///
    /// `getsockopt(2)`'s error.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.socket().tcp_nodelay()
    }

    /// The underlying socket, for options this type does not wrap (e.g. `SO_LINGER`).
    pub fn socket_ref(&self) -> &Socket {
        self.socket()
    }
}

/// A `SockAddr` of an IPv4 or IPv6 socket as a `SocketAddr`.
pub(crate) fn sock_addr(addr: SockAddr) -> io::Result<SocketAddr> {
    addr.as_socket()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not an IP socket address"))
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpStream")
            .field("local", &self.local_addr().ok())
            .field("peer", &self.peer_addr().ok())
            .finish()
    }
}

//! [`TcpListener`]: a listening socket with `SO_REUSEPORT`, so every core can bind its own on
//! the same port and the kernel spreads connections across them.
//!
//! # Running out of file descriptors
//!
//! When `accept4` fails with `EMFILE` or `ENFILE` (or `ENOBUFS`/`ENOMEM`), the connection stays
//! in the kernel's backlog and the listener pauses accepting: it sleeps on a timer (10 ms,
//! doubling to 1 s while the condition lasts) instead of retrying in a loop, so the core keeps
//! serving its existing connections and never spins. The first failure of a streak is
//! reported on stderr.

use std::cell::Cell;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use ms_reactor::Registration;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::stream::{TcpStream, sock_addr};

/// The default listen backlog.
pub const DEFAULT_BACKLOG: i32 = 1024;

const FIRST_BACKOFF: Duration = Duration::from_millis(10);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// A listening TCP socket on the reactor running on this thread.
///
/// # Examples
///
/// ```no_run
/// # let _ = ms_reactor::Reactor::new().unwrap().block_on(async {
/// let listener = ms_net::TcpListener::bind("127.0.0.1:8080".parse().unwrap())?;
/// loop {
///     let (stream, peer) = listener.accept().await?;
///     let _detached = ms_reactor::spawn(async move {
///         let mut buf = [0; 1024];
///         while let Ok(n @ 1..) = stream.read(&mut buf).await {
///             if stream.write_all(&buf[..n]).await.is_err() {
///                 break;
///             }
///         }
///         let _ = peer;
///     });
/// }
/// # #[allow(unreachable_code)]
/// # Ok::<(), std::io::Error>(())
/// # });
/// ```
pub struct TcpListener {
    io: Registration<Socket>,
    /// The current pause after an fd-exhaustion error; zero when accepting normally.
    backoff: Cell<Duration>,
    /// Accept calls that failed for lack of resources (for tests and statistics).
    resource_errors: Cell<u64>,
}

impl TcpListener {
    /// Binds `addr` with `SO_REUSEADDR` and `SO_REUSEPORT` (so each core may bind its own
    /// listener on the same port) and the default backlog.
    ///
    /// # Errors
    ///
    /// The socket, option, bind or listen error (e.g. `EADDRINUSE`), or a registration error.
    pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
        Self::bind_with_backlog(addr, DEFAULT_BACKLOG)
    }

    /// As [`bind`](Self::bind), with a listen backlog of `backlog`.
    ///
    /// # Errors
    ///
    /// As [`bind`](Self::bind).
    pub fn bind_with_backlog(addr: SocketAddr, backlog: i32) -> io::Result<TcpListener> {
        let socket = Socket::new(
            Domain::for_address(addr),
            Type::STREAM.nonblocking(),
            Some(Protocol::TCP),
        )?;
        socket.set_reuse_address(true)?;
        socket.set_reuse_port(true)?;
        if addr.is_ipv6() {
            socket.set_only_v6(true)?;
        }
        socket.bind(&SockAddr::from(addr))?;
        socket.listen(backlog)?;
        Ok(TcpListener {
            io: Registration::new(socket)?,
            backoff: Cell::new(Duration::ZERO),
            resource_errors: Cell::new(0),
        })
    }

    /// Waits for and accepts a connection: non-blocking, close-on-exec, `TCP_NODELAY`.
    ///
    /// # Errors
    ///
    /// An error that is not transient (a closed or invalid listener). Aborted connections and
    /// interrupted calls are retried; fd exhaustion pauses accepting (see the module docs).
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let mut retries = 0u32;
        loop {
            // Takes one unit of the task's I/O budget when readable from the cache: a listener
            // that always has connections waiting cannot hold the core.
            self.io.readable().await;
            match self
                .io
                .get_ref()
                .accept4(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC)
            {
                Ok((socket, addr)) => {
                    self.backoff.set(Duration::ZERO);
                    // A connection we cannot set up (no memory to register it, say) is
                    // dropped, not the listener: the others keep coming.
                    match TcpStream::from_socket(socket) {
                        Ok(stream) => match sock_addr(addr) {
                            Ok(addr) => return Ok((stream, addr)),
                            Err(_) => continue,
                        },
                        Err(e) if is_resource_exhaustion(&e) => self.pause(&e).await,
                        Err(_) => {}
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.io.clear_readable();
                    self.backoff.set(Duration::ZERO);
                }
                Err(e) if is_transient(&e) => {
                    // Retried at once, but never in an endless loop within one poll: let the
                    // rest of the core run now and then.
                    retries += 1;
                    if retries % 64 == 0 {
                        ms_reactor::yield_now().await;
                    }
                }
                Err(e) if is_resource_exhaustion(&e) => self.pause(&e).await,
                Err(e) => return Err(e),
            }
        }
    }

    /// Sleeps for the current backoff after a resource error.
    async fn pause(&self, error: &io::Error) {
        self.resource_errors.set(self.resource_errors.get() + 1);
        let backoff = match self.backoff.get() {
            Duration::ZERO => {
                eprintln!(
                    "ms-net: accept paused: {error} (existing connections keep being served)"
                );
                FIRST_BACKOFF
            }
            current => (current * 2).min(MAX_BACKOFF),
        };
        self.backoff.set(backoff);
        ms_reactor::sleep(backoff).await;
    }

    /// Accept calls that failed for lack of file descriptors or memory so far.
    pub fn resource_errors(&self) -> u64 {
        self.resource_errors.get()
    }

    /// The address it listens on (with the port the kernel chose, for port 0).
    ///
    /// # Errors
    ///
    /// `getsockname(2)`'s error.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        sock_addr(self.io.get_ref().local_addr()?)
    }
}

/// Errors about one pending connection, after which the next accept may well succeed at once
/// (accept(2): network errors of the new socket are passed on and should be retried).
fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
    ) || matches!(
        e.raw_os_error(),
        Some(
            libc::ECONNABORTED
                | libc::EPROTO
                | libc::ENETDOWN
                | libc::ENOPROTOOPT
                | libc::EHOSTDOWN
                | libc::ENONET
                | libc::EHOSTUNREACH
                | libc::EOPNOTSUPP
                | libc::ENETUNREACH
        )
    )
}

/// Errors that mean "out of descriptors or memory", or a refusal by a security policy (which
/// repeats until the policy changes): pause before trying again.
fn is_resource_exhaustion(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(
            libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM | libc::ENOSPC | libc::EPERM
        )
    )
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpListener")
            .field("local", &self.local_addr().ok())
            .field("backoff", &self.backoff.get())
            .finish()
    }
}

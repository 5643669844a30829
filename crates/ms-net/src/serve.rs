//! [`serve`] and [`Server`]: a core's accept loop, one task per connection, with a connection
//! limit and an orderly stop (stop accepting, let connections finish within a grace period).

use std::cell::Cell;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

use crate::{Shutdown, TcpListener, TcpStream};

/// Live connections and the accept loop's waker, shared with the connection tasks.
#[derive(Default)]
struct Gate {
    live: Cell<usize>,
    waiting: Cell<Option<Waker>>,
}

impl Gate {
    /// Resolves once fewer than `limit` connections are alive.
    async fn below(&self, limit: usize) {
        std::future::poll_fn(|cx| {
            if self.live.get() < limit {
                Poll::Ready(())
            } else {
                self.waiting.set(Some(cx.waker().clone()));
                Poll::Pending
            }
        })
        .await;
    }
}

/// Held by a connection task; lets the gate know when it ends (returned, panicked or aborted).
struct Ticket(Rc<Gate>);

impl Drop for Ticket {
    fn drop(&mut self) {
        self.0.live.set(self.0.live.get() - 1);
        if let Some(waker) = self.0.waiting.take() {
            waker.wake();
        }
    }
}

/// Accepts connections on `listener` for ever, running `handler` for each one in a task of its
/// own, with at most `max_connections` of them alive at once: past the limit, new connections
/// wait in the kernel's backlog until one ends (overload control, not refusal).
///
/// A handler that panics is contained like any task; its connection is closed and its slot
/// freed. For an orderly stop, use a [`Server`].
///
/// # Errors
///
/// Only a fatal listener error ends the loop (fd exhaustion pauses it instead; see
/// [`TcpListener::accept`]).
///
/// # Examples
///
/// ```no_run
/// # let _ = ms_reactor::Reactor::new().unwrap().block_on(async {
/// let listener = ms_net::TcpListener::bind("127.0.0.1:7000".parse().unwrap())?;
/// ms_net::serve(listener, 10_000, |stream, _peer| async move {
///     while let Ok(packet) = stream.read_packet(16 * 1024).await {
///         if packet.is_empty() || stream.write_packet(packet).await.is_err() {
///             break;
///         }
///     }
/// })
/// .await
/// # });
/// ```
pub async fn serve<F, Fut>(
    listener: TcpListener,
    max_connections: usize,
    handler: F,
) -> io::Result<()>
where
    F: Fn(TcpStream, SocketAddr) -> Fut + 'static,
    Fut: Future<Output = ()> + 'static,
{
    Server::new(listener)
        .max_connections(max_connections)
        .run(std::future::pending(), move |stream, peer, _| {
            handler(stream, peer)
        })
        .await
}

/// A core's server: an accept loop with a connection limit that stops in order.
///
/// [`run`](Server::run) accepts until its `stop` future resolves, then closes the listener
/// (new connections go to the other cores' listeners or are refused), tells every connection
/// through its [`Shutdown`] handle, and waits until they have all ended or the grace period
/// has passed, whichever comes first. Connections still open after the grace period are left
/// to the reactor, which drops them when it is dropped.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let reactor = ms_reactor::Reactor::new().unwrap();
/// let served = reactor.block_on(async {
///     let listener = ms_net::TcpListener::bind("127.0.0.1:0".parse().unwrap())?;
///     let addr = listener.local_addr()?;
///     let stop = ms_net::Shutdown::new();
///     let server = ms_reactor::spawn({
///         let stop = stop.clone();
///         ms_net::Server::new(listener)
///             .grace(Duration::from_secs(5))
///             .run(async move { stop.wait().await }, |stream, _peer, shutdown| async move {
///                 let mut buf = [0; 64];
///                 // Answer one request, or none if the server stops first.
///                 let read = shutdown.or_until(stream.read(&mut buf)).await;
///                 if let Some(Ok(n)) = read {
///                     let _ = stream.write_all(&buf[..n]).await;
///                 }
///             })
///     });
///     let client = ms_net::TcpStream::connect(addr).await?;
///     client.write_all(b"hi").await?;
///     let mut reply = [0; 2];
///     let n = client.read(&mut reply).await?;
///     stop.trigger();
///     server.await.unwrap()?;
///     Ok::<_, std::io::Error>(reply[..n].to_vec())
/// });
/// assert_eq!(served.unwrap(), b"hi");
/// ```
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    max_connections: usize,
    grace: Duration,
}

impl Server {
    /// A server on `listener`: at most 10,000 connections, a 10 s grace period.
    pub fn new(listener: TcpListener) -> Server {
        Server {
            listener,
            max_connections: 10_000,
            grace: Duration::from_secs(10),
        }
    }

    /// At most `max` connections alive at once (at least 1); past it, new connections wait in
    /// the kernel's backlog.
    pub fn max_connections(mut self, max: usize) -> Server {
        self.max_connections = max.max(1);
        self
    }

    /// How long connections may go on after the stop before `run` returns anyway.
    pub fn grace(mut self, grace: Duration) -> Server {
        self.grace = grace;
        self
    }

    /// Accepts connections until `stop` resolves, running `handler(stream, peer, shutdown)`
    /// for each in a task of its own; then stops in order (see the type's docs).
    ///
    /// A handler should finish what it is doing and return once `shutdown` is triggered
    /// (for example, answer the request it is reading, then close).
    ///
    /// # Errors
    ///
    /// A fatal listener error ends the loop (fd exhaustion pauses it instead; see
    /// [`TcpListener::accept`]); connections already accepted go on as after a stop.
    pub async fn run<S, F, Fut>(self, stop: S, handler: F) -> io::Result<()>
    where
        S: Future<Output = ()>,
        F: Fn(TcpStream, SocketAddr, Shutdown) -> Fut + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let gate = Rc::new(Gate::default());
        let handler = Rc::new(handler);
        let shutdown = Shutdown::new();
        let accepting = async {
            loop {
                gate.below(self.max_connections).await;
                let (stream, peer) = match self.listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(e) => return e,
                };
                gate.live.set(gate.live.get() + 1);
                let ticket = Ticket(Rc::clone(&gate));
                let handler = Rc::clone(&handler);
                let shutdown = shutdown.clone();
                // The handler is called inside the task, so a panic in the call itself is
                // contained like one in the future it returns.
                drop(ms_reactor::spawn(async move {
                    let _ticket = ticket;
                    handler(stream, peer, shutdown).await;
                }));
            }
        };
        // The accept loop only ends with a fatal error.
        let result = match crate::shutdown::until(accepting, stop).await {
            Some(e) => Err(e),
            None => Ok(()),
        };
        drop(self.listener);
        shutdown.trigger();
        let drained = gate.below(1);
        let _ = ms_reactor::timeout(self.grace, drained).await;
        result
    }
}

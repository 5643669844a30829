//! [`serve`]: a core's accept loop, one task per connection, with a connection limit.

use std::cell::Cell;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::task::{Poll, Waker};

use crate::{TcpListener, TcpStream};

/// Live connections and the accept loop's waker, shared with the connection tasks.
#[derive(Default)]
struct Gate {
    live: Cell<usize>,
    waiting: Cell<Option<Waker>>,
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
/// freed.
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
    let gate = Rc::new(Gate::default());
    let handler = Rc::new(handler);
    let max = max_connections.max(1);
    loop {
        std::future::poll_fn(|cx| {
            if gate.live.get() < max {
                Poll::Ready(())
            } else {
                gate.waiting.set(Some(cx.waker().clone()));
                Poll::Pending
            }
        })
        .await;
        let (stream, peer) = listener.accept().await?;
        gate.live.set(gate.live.get() + 1);
        let ticket = Ticket(Rc::clone(&gate));
        let handler = Rc::clone(&handler);
        // The handler is called inside the task, so a panic in the call itself is contained
        // like one in the future it returns.
        drop(ms_reactor::spawn(async move {
            let _ticket = ticket;
            handler(stream, peer).await;
        }));
    }
}

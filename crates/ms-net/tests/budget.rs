//! The I/O budget reaches ms-net's reads and accepts: a loop on a socket or listener that
//! always has more ready lets the core's other tasks run. Counted, never timed.

use std::cell::Cell;
use std::io::{ErrorKind, Write};
use std::net::SocketAddr;
use std::rc::Rc;

use ms_net::TcpListener;
use ms_reactor::{IO_BUDGET, Reactor, spawn, yield_now};

fn local() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// A task that counts its runs until `stop` is set.
fn counter(runs: &Rc<Cell<u64>>, stop: &Rc<Cell<bool>>) -> ms_reactor::JoinHandle<()> {
    let (runs, stop) = (Rc::clone(runs), Rc::clone(stop));
    spawn(async move {
        while !stop.get() {
            runs.set(runs.get() + 1);
            yield_now().await;
        }
    })
}

/// A peer fills the socket's buffers (up to 1 MiB) before the reader starts, and a task
/// reads it all one byte at a time: every read is full (never short), so the readiness stays
/// cached and, without the budget, the whole backlog was read in one poll while the other
/// task waited.
#[test]
fn reading_a_backlog_byte_by_byte_lets_other_tasks_run() {
    const MAX_BACKLOG: usize = 1 << 20;
    let reactor = Reactor::new().unwrap();
    let (runs, stop) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(false)));
    let (backlog, during) = reactor.block_on(async {
        let listener = TcpListener::bind(local()).unwrap();
        let mut peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (stream, _) = listener.accept().await.unwrap();
        socket2::SockRef::from(&peer)
            .set_send_buffer_size(MAX_BACKLOG)
            .unwrap();
        stream
            .socket_ref()
            .set_recv_buffer_size(MAX_BACKLOG)
            .unwrap();
        peer.set_nonblocking(true).unwrap();
        let chunk = vec![7u8; 64 * 1024];
        let mut backlog = 0;
        while backlog < MAX_BACKLOG {
            match peer.write(&chunk[..chunk.len().min(MAX_BACKLOG - backlog)]) {
                Ok(n) => backlog += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            }
        }
        let (runs, stop) = (Rc::clone(&runs), Rc::clone(&stop));
        let during = spawn(async move {
            let mut byte = [0u8; 1];
            // The first byte waits for the first epoll event; the counter starts behind the
            // loop.
            assert_eq!(stream.read(&mut byte).await.unwrap(), 1);
            let counter = counter(&runs, &stop);
            for _ in 1..backlog {
                assert_eq!(stream.read(&mut byte).await.unwrap(), 1);
            }
            let during = runs.get();
            stop.set(true);
            counter.await.unwrap();
            during
        })
        .await
        .unwrap();
        drop(peer);
        (backlog as u64, during)
    });
    assert!(backlog >= 64 * 1024, "a backlog of {backlog} bytes only");
    // One yield per budget at least (a read that found the socket empty for a moment, as the
    // peer's kernel queue moved over, may add some).
    assert!(
        during >= backlog / u64::from(IO_BUDGET) - 2,
        "the other task ran {during} times while {backlog} bytes were read one at a time"
    );
}

/// Connections wait in the backlog before the acceptor starts: without the budget, accepting
/// them all took one poll.
#[test]
fn accepting_a_backlog_lets_other_tasks_run() {
    const CONNECTIONS: u64 = 3 * IO_BUDGET as u64;
    let reactor = Reactor::new().unwrap();
    let (runs, stop) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(false)));
    let during = reactor.block_on(async {
        let listener = TcpListener::bind(local()).unwrap();
        let addr = listener.local_addr().unwrap();
        // Loopback connects complete in the kernel, before any accept.
        let peers: Vec<_> = (0..CONNECTIONS)
            .map(|_| std::net::TcpStream::connect(addr).unwrap())
            .collect();
        let (runs, stop) = (Rc::clone(&runs), Rc::clone(&stop));
        let during = spawn(async move {
            let first = listener.accept().await.unwrap();
            let counter = counter(&runs, &stop);
            let accepted: Vec<_> = {
                let mut accepted = vec![first];
                for _ in 1..CONNECTIONS {
                    accepted.push(listener.accept().await.unwrap());
                }
                accepted
            };
            let during = runs.get();
            stop.set(true);
            counter.await.unwrap();
            drop(accepted);
            during
        })
        .await
        .unwrap();
        drop(peers);
        during
    });
    assert!(
        during >= CONNECTIONS / u64::from(IO_BUDGET) - 1,
        "the other task ran {during} times while {CONNECTIONS} connections were accepted"
    );
}

//! TCP over loopback, for real: every test is bounded in bytes and connections and ends by
//! itself.

use std::cell::Cell;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::rc::Rc;

use ms_net::{TcpListener, TcpStream};
use ms_packet::Packet;
use ms_reactor::{Reactor, spawn};

fn local() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// Reads until end of stream.
async fn read_to_end(stream: &TcpStream) -> std::io::Result<Vec<u8>> {
    let mut all = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match stream.read(&mut buf).await? {
            0 => return Ok(all),
            n => all.extend_from_slice(&buf[..n]),
        }
    }
}

#[test]
fn echo_round_trips_in_order() {
    let reactor = Reactor::new().unwrap();
    reactor.block_on(async {
        let listener = TcpListener::bind(local()).unwrap();
        let addr = listener.local_addr().unwrap();
        let server = spawn(async move {
            let (stream, peer) = listener.accept().await.unwrap();
            assert_eq!(stream.peer_addr().unwrap(), peer);
            assert!(stream.nodelay().unwrap(), "TCP_NODELAY is on");
            loop {
                let packet = stream.read_packet(4096).await.unwrap();
                if packet.is_empty() {
                    return;
                }
                stream.write_packet(packet).await.unwrap();
            }
        });
        let client = TcpStream::connect(addr).await.unwrap();
        for i in 0..100u32 {
            let message = format!("message {i};");
            client.write_all(message.as_bytes()).await.unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 64];
            while got.len() < message.len() {
                let n = client.read(&mut buf).await.unwrap();
                assert!(n > 0, "server closed early");
                got.extend_from_slice(&buf[..n]);
            }
            assert_eq!(got, message.as_bytes());
        }
        client.shutdown_write().unwrap();
        server.await.unwrap();
    });
}

#[test]
fn ipv6_loopback_connects_and_echoes() {
    let reactor = Reactor::new().unwrap();
    reactor.block_on(async {
        let listener = match TcpListener::bind("[::1]:0".parse().unwrap()) {
            Ok(listener) => listener,
            // A machine with IPv6 turned off has no `::1` to bind: nothing to test there.
            Err(e) if e.raw_os_error() == Some(libc::EADDRNOTAVAIL) => {
                eprintln!("skipped: no IPv6 loopback here ({e})");
                return;
            }
            Err(e) => panic!("binding [::1]: {e}"),
        };
        let addr = listener.local_addr().unwrap();
        assert!(addr.is_ipv6() && addr.port() != 0);
        let server = spawn(async move {
            let (stream, peer) = listener.accept().await.unwrap();
            assert!(peer.is_ipv6());
            assert_eq!(stream.local_addr().unwrap(), addr);
            let packet = stream.read_packet(64).await.unwrap();
            stream.write_packet(packet).await.unwrap();
        });
        let client = TcpStream::connect(addr).await.unwrap();
        assert_eq!(client.peer_addr().unwrap(), addr);
        client.write_all(b"over v6").await.unwrap();
        assert_eq!(read_to_end(&client).await.unwrap(), b"over v6");
        server.await.unwrap();
    });
}

#[test]
fn listeners_of_one_port_share_its_connections() {
    // SO_REUSEPORT, as every shard binds the same port: a second bind succeeds, and the kernel
    // spreads connections over both listeners (by a hash of each connection's addresses: with
    // 64 connections, both get some unless the hash sends all 64 one way, a 2^-63 chance).
    const CONNECTIONS: usize = 64;
    let reactor = Reactor::new().unwrap();
    reactor.block_on(async {
        let first = TcpListener::bind(local()).unwrap();
        let addr = first.local_addr().unwrap();
        let second = TcpListener::bind(addr).expect("a second listener on the same port");
        let accepted = Rc::new([Cell::new(0usize), Cell::new(0usize)]);
        for (i, listener) in [first, second].into_iter().enumerate() {
            let accepted = Rc::clone(&accepted);
            drop(spawn(async move {
                let mut held = Vec::new();
                loop {
                    let (stream, _) = listener.accept().await.unwrap();
                    held.push(stream);
                    accepted[i].set(accepted[i].get() + 1);
                }
            }));
        }
        let mut clients = Vec::new();
        for _ in 0..CONNECTIONS {
            clients.push(TcpStream::connect(addr).await.unwrap());
        }
        while accepted.iter().map(Cell::get).sum::<usize>() < CONNECTIONS {
            ms_reactor::yield_now().await;
        }
        let counts = [accepted[0].get(), accepted[1].get()];
        assert_eq!(counts[0] + counts[1], CONNECTIONS, "each accepted once");
        assert!(
            counts[0] > 0 && counts[1] > 0,
            "spread over both: {counts:?}"
        );
    });
}

#[test]
fn sixteen_mebibytes_survive_partial_writes() {
    const SIZE: usize = 16 << 20;
    let reactor = Reactor::new().unwrap();
    let (sent, received) = reactor.block_on(async {
        let listener = TcpListener::bind(local()).unwrap();
        let addr = listener.local_addr().unwrap();
        let reader = spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            read_to_end(&stream).await.unwrap()
        });
        let data: Vec<u8> = (0..SIZE).map(|i| (i * 7 + i / 251) as u8).collect();
        let client = TcpStream::connect(addr).await.unwrap();
        client.write_all(&data).await.unwrap();
        client.shutdown_write().unwrap();
        (data, reader.await.unwrap())
    });
    assert_eq!(received.len(), SIZE);
    assert!(received == sent, "bytes differ");
}

#[test]
fn write_packet_sends_every_fragment_in_order() {
    let reactor = Reactor::new().unwrap();
    let received = reactor.block_on(async {
        let listener = TcpListener::bind(local()).unwrap();
        let addr = listener.local_addr().unwrap();
        let reader = spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            read_to_end(&stream).await.unwrap()
        });
        let mut packet = Packet::new();
        for i in 0..200u32 {
            // 200 fragments: more than one writev's worth of iovecs.
            packet.append(Packet::copy_from_slice(format!("[{i}]").as_bytes()));
            packet.append(Packet::from_static(b"-"));
        }
        let expected = packet.to_vec();
        let client = TcpStream::connect(addr).await.unwrap();
        client.write_packet(packet).await.unwrap();
        client.shutdown_write().unwrap();
        (expected, reader.await.unwrap())
    });
    assert_eq!(received.1, received.0);
}

#[test]
fn half_close_lets_the_other_side_answer() {
    let reactor = Reactor::new().unwrap();
    let reply = reactor.block_on(async {
        let listener = TcpListener::bind(local()).unwrap();
        let addr = listener.local_addr().unwrap();
        let server = spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let request = read_to_end(&stream).await.unwrap();
            stream
                .write_all(format!("got {} bytes", request.len()).as_bytes())
                .await
                .unwrap();
        });
        let client = TcpStream::connect(addr).await.unwrap();
        client.write_all(b"0123456789").await.unwrap();
        client.shutdown_write().unwrap();
        let reply = read_to_end(&client).await.unwrap();
        server.await.unwrap();
        reply
    });
    assert_eq!(reply, b"got 10 bytes");
}

#[test]
fn connecting_to_a_closed_port_is_refused() {
    let reactor = Reactor::new().unwrap();
    // A bound socket that does not listen: the port stays ours for the whole test (a port
    // bound and dropped could be taken by another test's listener in between), and
    // connecting to it is refused.
    let held = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    held.bind(&local().into()).unwrap();
    let addr = held.local_addr().unwrap().as_socket().unwrap();
    let error = reactor.block_on(TcpStream::connect(addr)).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::ConnectionRefused);
}

/// The test harness ignores `SIGPIPE` (as every Rust program does), which would hide a
/// missing `MSG_NOSIGNAL`: the scenario runs again in a child process with `SIGPIPE` at its
/// default action (death), and must exit normally.
#[test]
fn a_peer_reset_during_a_write_is_an_error_not_a_signal() {
    const CHILD: &str = "MS_NET_SIGPIPE_CHILD";
    if std::env::var_os(CHILD).is_some() {
        // SAFETY: restoring a signal's default action; no handler, no memory arguments.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
        reset_during_write();
        return;
    }
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "a_peer_reset_during_a_write_is_an_error_not_a_signal",
            "--exact",
            "--test-threads=1",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "the child died or failed (a SIGPIPE kills it): {output:?}"
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("1 passed"));
}

fn reset_during_write() {
    let reactor = Reactor::new().unwrap();
    let result = reactor.block_on(async {
        let listener = TcpListener::bind(local()).unwrap();
        let addr = listener.local_addr().unwrap();
        let server = spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            // Abort the connection with a reset (linger 0), reading nothing.
            stream
                .socket_ref()
                .set_linger(Some(std::time::Duration::ZERO))
                .unwrap();
            drop(stream);
        });
        let client = TcpStream::connect(addr).await.unwrap();
        server.await.unwrap();
        let big = vec![1u8; 8 << 20];
        // Keep writing until the reset surfaces; without MSG_NOSIGNAL the process would die.
        let mut result = Ok(());
        for _ in 0..64 {
            result = client.write_all(&big).await;
            if result.is_err() {
                break;
            }
        }
        // The first error is often ECONNRESET; writing again gets EPIPE, which is where a
        // missing MSG_NOSIGNAL raises SIGPIPE.
        let again = client.write_all(&big).await;
        assert!(again.is_err(), "a write after the reset succeeded");
        result
    });
    let error = result.unwrap_err();
    assert!(
        matches!(
            error.kind(),
            ErrorKind::BrokenPipe | ErrorKind::ConnectionReset
        ),
        "{error:?}"
    );
}

#[test]
fn five_thousand_concurrent_connections_on_one_reactor() {
    const CONNECTIONS: usize = 5_000;
    raise_fd_limit(4 * CONNECTIONS as u64);
    let reactor = Reactor::new().unwrap();
    let served = reactor.block_on(async {
        let listener = Rc::new(TcpListener::bind(local()).unwrap());
        let addr = listener.local_addr().unwrap();
        let acceptor = {
            let listener = Rc::clone(&listener);
            spawn(async move {
                let mut handlers = Vec::with_capacity(CONNECTIONS);
                for _ in 0..CONNECTIONS {
                    let (stream, _) = listener.accept().await.unwrap();
                    handlers.push(spawn(async move {
                        let packet = stream.read_packet(64).await.unwrap();
                        stream.write_packet(packet).await.unwrap();
                    }));
                }
                handlers
            })
        };
        // Open every connection first, so all of them are alive at once.
        let mut clients = Vec::with_capacity(CONNECTIONS);
        for _ in 0..CONNECTIONS {
            clients.push(TcpStream::connect(addr).await.unwrap());
        }
        let handlers = acceptor.await.unwrap();
        let mut served = 0;
        for (i, client) in clients.iter().enumerate() {
            let message = (i as u32).to_le_bytes();
            client.write_all(&message).await.unwrap();
            let mut buf = [0u8; 4];
            let mut got = 0;
            while got < 4 {
                got += client.read(&mut buf[got..]).await.unwrap();
            }
            assert_eq!(buf, message);
            served += 1;
        }
        for handler in handlers {
            handler.await.unwrap();
        }
        served
    });
    assert_eq!(served, CONNECTIONS);
}

/// Raises the soft `RLIMIT_NOFILE` to at least `want` (up to the hard limit).
fn raise_fd_limit(want: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable rlimit.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    assert_eq!(rc, 0);
    if limit.rlim_cur < want {
        limit.rlim_cur = want.min(limit.rlim_max);
        // SAFETY: `limit` is a valid rlimit with cur <= max.
        let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
        assert_eq!(rc, 0);
    }
}

#[test]
fn serve_holds_connections_past_the_limit_in_the_backlog() {
    use std::cell::Cell;
    let reactor = Reactor::new().unwrap();
    reactor.block_on(async {
        let listener = TcpListener::bind(local()).unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Rc::new(Cell::new(0usize));
        let server = {
            let accepted = Rc::clone(&accepted);
            spawn(ms_net::serve(listener, 2, move |stream, _| {
                accepted.set(accepted.get() + 1);
                async move {
                    // Serve until the client closes.
                    let _ = read_to_end(&stream).await;
                }
            }))
        };
        let settle = || async {
            for _ in 0..200 {
                ms_reactor::yield_now().await;
            }
        };
        let first = TcpStream::connect(addr).await.unwrap();
        let second = TcpStream::connect(addr).await.unwrap();
        let third = TcpStream::connect(addr).await.unwrap();
        settle().await;
        assert_eq!(accepted.get(), 2, "the third waits in the backlog");
        drop(first);
        // The first handler sees end of stream, ends, and frees a slot for the third.
        for _ in 0..10_000 {
            if accepted.get() == 3 {
                break;
            }
            ms_reactor::yield_now().await;
            ms_reactor::sleep(std::time::Duration::from_millis(1)).await;
        }
        assert_eq!(accepted.get(), 3);
        drop((second, third));
        server.abort();
    });
}

#[test]
fn serve_contains_a_handler_that_panics_when_called() {
    use std::cell::Cell;
    let reactor = Reactor::new().unwrap();
    reactor.block_on(async {
        let listener = TcpListener::bind(local()).unwrap();
        let addr = listener.local_addr().unwrap();
        let calls = Rc::new(Cell::new(0u32));
        let server = {
            let calls = Rc::clone(&calls);
            spawn(ms_net::serve(listener, 8, move |stream, _| {
                calls.set(calls.get() + 1);
                if calls.get() == 1 {
                    panic!("handler refused the first connection");
                }
                async move {
                    let packet = stream.read_packet(64).await.unwrap();
                    stream.write_packet(packet).await.unwrap();
                }
            }))
        };
        let first = TcpStream::connect(addr).await.unwrap();
        // The first connection's handler panicked: its stream is dropped (end of stream).
        assert_eq!(read_to_end(&first).await.unwrap(), b"");
        let second = TcpStream::connect(addr).await.unwrap();
        second.write_all(b"still serving").await.unwrap();
        let mut buf = [0u8; 13];
        let mut got = 0;
        while got < buf.len() {
            got += second.read(&mut buf[got..]).await.unwrap();
        }
        assert_eq!(&buf, b"still serving");
        assert!(!server.is_finished(), "the accept loop survived the panic");
        server.abort();
    });
}

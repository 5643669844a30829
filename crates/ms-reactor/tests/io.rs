//! fd readiness through a Unix socket pair: readable, drained, peer hang-up.

#![cfg(not(loom))]

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;

use ms_reactor::{Reactor, Registration, spawn};

#[test]
fn readiness_follows_data_and_hang_up() {
    let reactor = Reactor::new().unwrap();
    reactor.block_on(async {
        let (a, mut b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        let registration = Registration::new(a).unwrap();

        // Writable at once (an empty socket buffer); not readable yet.
        registration.writable().await;
        assert!(!registration.readiness().readable);

        let reader = spawn(async move {
            let mut got = Vec::new();
            let mut buf = [0u8; 4];
            loop {
                let ready = registration.readable().await;
                match registration.get_ref().read(&mut buf) {
                    Ok(0) => {
                        assert!(ready.read_closed, "end of stream comes with read_closed");
                        return got;
                    }
                    Ok(n) => {
                        got.extend_from_slice(&buf[..n]);
                        if n < buf.len() {
                            registration.clear_readable(); // a short read drains
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => registration.clear_readable(),
                    Err(e) => panic!("read: {e}"),
                }
            }
        });
        b.write_all(b"hello, reactor").unwrap();
        ms_reactor::yield_now().await;
        b.write_all(b"!").unwrap();
        drop(b); // hang up
        let got = reader.await.unwrap();
        assert_eq!(got, b"hello, reactor!");
    });
    assert!(reactor.stats().io_events >= 2);
}

#[test]
fn registering_twice_or_outside_a_reactor_is_an_error() {
    let (a, _b) = UnixStream::pair().unwrap();
    let outside = Registration::new(a.try_clone().unwrap()).unwrap_err();
    assert_eq!(outside.kind(), ErrorKind::Other);
    let reactor = Reactor::new().unwrap();
    reactor.block_on(async {
        let first = Registration::new(a).unwrap();
        // A second registration of the same fd (borrowed) is refused by epoll.
        let fd = std::os::fd::AsRawFd::as_raw_fd(first.get_ref());
        let second = Registration::new(fd).unwrap_err();
        assert_eq!(second.raw_os_error(), Some(libc::EEXIST));
        // Taken back out, deregistered: registering again works.
        let a = first.into_inner();
        let _again = Registration::new(a).unwrap();
    });
}

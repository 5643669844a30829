//! `Server`'s orderly stop, over loopback: the listener closes, idle connections are told to
//! end, a connection in the middle of a request finishes it, and `run` returns.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use ms_net::{Server, Shutdown, TcpListener, TcpStream};
use ms_reactor::{Reactor, spawn};

#[test]
fn stop_closes_idle_connections_and_lets_busy_ones_finish() {
    let reactor = Reactor::new().unwrap();
    reactor.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Shutdown::new();
        let answered = Rc::new(Cell::new(0));
        let server = spawn({
            let (stop, answered) = (stop.clone(), Rc::clone(&answered));
            Server::new(listener).grace(Duration::from_secs(60)).run(
                async move { stop.wait().await },
                move |stream, _, shutdown| {
                    let answered = Rc::clone(&answered);
                    async move {
                        // Requests are 4 bytes; a connection between requests is idle.
                        loop {
                            let mut request = [0u8; 4];
                            let mut have = 0;
                            while have < 4 {
                                let read = std::pin::pin!(stream.read(&mut request[have..]));
                                let result = if have == 0 {
                                    match shutdown.or_until(read).await {
                                        Some(result) => result,
                                        None => return, // idle at the stop
                                    }
                                } else {
                                    read.await // mid-request: finish it
                                };
                                match result {
                                    Ok(0) | Err(_) => return,
                                    Ok(n) => have += n,
                                }
                            }
                            stream.write_all(&request).await.unwrap();
                            answered.set(answered.get() + 1);
                        }
                    }
                },
            )
        });
        let idle = TcpStream::connect(addr).await.unwrap();
        let busy = TcpStream::connect(addr).await.unwrap();
        busy.write_all(b"ping").await.unwrap();
        let mut reply = [0u8; 4];
        let mut got = 0;
        while got < 4 {
            got += busy.read(&mut reply[got..]).await.unwrap();
        }
        assert_eq!(&reply, b"ping");
        busy.write_all(b"ha").await.unwrap();
        // Let the server read the half request before stopping: a reactor polls I/O at least
        // every 256 task polls, so a thousand yields cover several polls.
        for _ in 0..1000 {
            ms_reactor::yield_now().await;
        }
        stop.trigger();
        let mut buf = [0u8; 4];
        assert_eq!(
            idle.read(&mut buf).await.unwrap(),
            0,
            "the idle connection is closed"
        );
        busy.write_all(b"lf").await.unwrap();
        let mut got = 0;
        while got < 4 {
            got += busy.read(&mut reply[got..]).await.unwrap();
        }
        assert_eq!(&reply, b"half", "the request in flight is answered");
        assert_eq!(
            busy.read(&mut buf).await.unwrap(),
            0,
            "then the connection ends"
        );
        server.await.unwrap().unwrap();
        assert_eq!(answered.get(), 2);
        assert!(
            TcpStream::connect(addr).await.is_err(),
            "the listener is closed"
        );
    });
}

//! What the baseline HTTP servers of `cargo xtask bench` share: their flags, one pinned
//! thread per core with an `SO_REUSEPORT` listener each, and the `listening on ADDR` line the
//! xtask waits for. The request handling itself is `ms_examples::http::batch::answer_all`,
//! the same function `http_server` uses, so the servers differ only in their event loops.

use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Barrier};

/// Runs `serve` on one pinned thread per CPU of `--cores LIST` (default `0`), each with its
/// own non-blocking `SO_REUSEPORT` listener on `127.0.0.1:--port` (default 0: any free
/// port), and prints `listening on ADDR` once all are bound. Never returns; stop the process
/// with a signal.
///
/// # Panics
///
/// On bad flags, or if a socket cannot be set up or a thread pinned: a baseline that cannot
/// start has nothing to measure.
pub fn run(name: &str, serve: fn(TcpListener)) -> ! {
    let mut args = std::env::args().skip(1);
    let (mut port, mut cores) = (0u16, vec![0usize]);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .unwrap_or_else(|| panic!("{name}: {flag} needs a value"));
        match flag.as_str() {
            "--port" => port = value.parse().expect("--port: a port number"),
            "--cores" => {
                cores = ms_examples::cli::parse_cpus(&value).expect("--cores: a CPU list");
            }
            _ => panic!("{name}: unknown flag {flag} (use --port N --cores LIST)"),
        }
    }
    let (reserved, addr) = ms_examples::cli::reserve(SocketAddr::from(([127, 0, 0, 1], port)))
        .expect("reserve the port");
    let bound = Arc::new(Barrier::new(cores.len() + 1));
    for cpu in cores {
        let bound = Arc::clone(&bound);
        std::thread::Builder::new()
            .name(format!("{name}-{cpu}"))
            .spawn(move || {
                crate::pin_current_thread(cpu).expect("pin the server thread");
                let listener = listen(addr);
                bound.wait();
                serve(listener);
            })
            .expect("spawn a server thread");
    }
    bound.wait();
    println!("listening on {addr}");
    loop {
        std::thread::park();
        let _ = &reserved;
    }
}

/// A non-blocking `SO_REUSEPORT` listener on `addr`: the shards' reservation
/// ([`ms_examples::cli::reserve`]), listening.
fn listen(addr: SocketAddr) -> TcpListener {
    let (socket, _) = ms_examples::cli::reserve(addr).expect("bind");
    socket.set_nonblocking(true).expect("O_NONBLOCK");
    socket.listen(4096).expect("listen");
    socket.into()
}

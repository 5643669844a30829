//! Running out of file descriptors: the listener pauses (no spin), existing work goes on, and
//! accepting recovers once descriptors are free again. `RLIMIT_NOFILE` is per process, so the
//! server runs in a child process: this test binary re-run with `MS_NET_EMFILE_CHILD=1`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream as StdStream;
use std::os::fd::OwnedFd;
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::time::Duration;

use ms_net::TcpListener;
use ms_reactor::{Reactor, sleep, spawn};

const CLIENTS: usize = 5;

#[test]
fn fd_exhaustion_pauses_accepting_and_recovers() {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "emfile_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("MS_NET_EMFILE_CHILD", "1")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let port: u16 = loop {
        let line = lines.next().expect("the child printed its port").unwrap();
        // The test harness prints "test emfile_child ... " without a newline first.
        if let Some((_, port)) = line.split_once("PORT ") {
            break port.trim().parse().unwrap();
        }
    };
    let mut clients = Vec::new();
    for i in 0..CLIENTS {
        let mut client = StdStream::connect(("127.0.0.1", port)).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        client
            .write_all(format!("client {i}\n").as_bytes())
            .unwrap();
        clients.push(client);
    }
    for (i, client) in clients.iter_mut().enumerate() {
        let mut reply = String::new();
        client.read_to_string(&mut reply).unwrap();
        assert_eq!(reply, format!("ok client {i}\n"));
    }
    // Read to the end, so the child's harness can print its summary into an open pipe.
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    let result = rest
        .iter()
        .find_map(|line| line.split_once("RESULT ").map(|(_, r)| r.trim().to_owned()))
        .expect("the child printed its result");
    assert!(child.wait().unwrap().success());
    let errors: u64 = result.parse().unwrap();
    assert!(
        errors >= 1,
        "accept never hit EMFILE: the test did not test anything"
    );
    assert!(
        errors < 100,
        "{errors} failed accepts: the listener spun instead of pausing"
    );
}

/// The child: serve `CLIENTS` connections with every descriptor in use until accepting has
/// failed a few times, then free them.
#[test]
#[ignore = "run by fd_exhaustion_pauses_accepting_and_recovers in a child process"]
fn emfile_child() {
    if std::env::var_os("MS_NET_EMFILE_CHILD").is_none() {
        return;
    }
    let reactor = Reactor::new().unwrap();
    let errors = reactor.block_on(async {
        let listener = Rc::new(TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap());
        println!("PORT {}", listener.local_addr().unwrap().port());
        std::io::stdout().flush().unwrap();
        let fillers = exhaust_descriptors();
        let acceptor = {
            let listener = Rc::clone(&listener);
            spawn(async move {
                for _ in 0..CLIENTS {
                    let (stream, _) = listener.accept().await.unwrap();
                    drop(spawn(async move {
                        let mut line = Vec::new();
                        let mut buf = [0u8; 64];
                        while !line.ends_with(b"\n") {
                            match stream.read(&mut buf).await.unwrap() {
                                0 => return,
                                n => line.extend_from_slice(&buf[..n]),
                            }
                        }
                        let mut reply = b"ok ".to_vec();
                        reply.extend_from_slice(&line);
                        stream.write_all(&reply).await.unwrap();
                    }));
                }
            })
        };
        // Hold every descriptor until accepting has failed (and paused) a few times.
        for _ in 0..6_000 {
            if listener.resource_errors() >= 3 {
                break;
            }
            sleep(Duration::from_millis(5)).await;
        }
        assert!(listener.resource_errors() >= 3, "accept never hit EMFILE");
        drop(fillers);
        acceptor.await.unwrap();
        // Let the last replies go out before exiting.
        for _ in 0..100 {
            ms_reactor::yield_now().await;
        }
        sleep(Duration::from_millis(50)).await;
        listener.resource_errors()
    });
    println!("RESULT {errors}");
}

/// Lowers the soft fd limit to a little above what is open and opens descriptors until the
/// kernel says `EMFILE`; returns them.
fn exhaust_descriptors() -> Vec<OwnedFd> {
    let open = std::fs::read_dir("/proc/self/fd").unwrap().count() as u64;
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable rlimit.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    assert_eq!(rc, 0);
    limit.rlim_cur = open + 16;
    // SAFETY: `limit` is a valid rlimit with cur <= max.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
    assert_eq!(rc, 0);
    let mut fillers = Vec::new();
    loop {
        match std::fs::File::open("/dev/null") {
            Ok(file) => fillers.push(OwnedFd::from(file)),
            Err(e) if e.raw_os_error() == Some(libc::EMFILE) => return fillers,
            Err(e) => panic!("unexpected error while filling the fd table: {e}"),
        }
    }
}

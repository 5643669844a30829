//! SIGTERM stops an engine in order: the listener stops accepting, a request in flight is
//! still answered, and the process exits 0. Signals are per process, so the engine runs in a
//! child: this test binary re-run with `MS_ENGINE_SIGTERM_CHILD=1`.

#![cfg(not(loom))]

use std::cell::Cell;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream as StdStream;
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::time::Duration;

/// Reads child output lines until one contains `marker`; returns what follows it.
fn wait_for(lines: &mut impl Iterator<Item = std::io::Result<String>>, marker: &str) -> String {
    for line in lines {
        let line = line.unwrap();
        if let Some((_, rest)) = line.split_once(marker) {
            return rest.trim().to_owned();
        }
    }
    panic!("the child never printed {marker}");
}

#[test]
fn sigterm_answers_the_request_in_flight_and_exits_zero() {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "sigterm_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("MS_ENGINE_SIGTERM_CHILD", "1")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let port: u16 = wait_for(&mut lines, "PORT ").parse().unwrap();
    let mut client = StdStream::connect(("127.0.0.1", port)).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    client.write_all(b"first half, ").unwrap();
    wait_for(&mut lines, "GOT-PARTIAL");
    // SAFETY: kill(2) with the pid of a child we spawned and have not reaped.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(rc, 0);
    wait_for(&mut lines, "STOPPING");
    client.write_all(b"second half\n").unwrap();
    let mut reply = String::new();
    client.read_to_string(&mut reply).unwrap();
    assert_eq!(reply, "ok first half, second half\n");
    wait_for(&mut lines, "CLEAN");
    let rest: Vec<_> = lines.collect(); // let the child's harness finish writing
    drop(rest);
    assert!(child.wait().unwrap().success(), "the child exited 0");
}

#[test]
#[ignore = "run by sigterm_answers_the_request_in_flight_and_exits_zero in a child process"]
fn sigterm_child() {
    if std::env::var_os("MS_ENGINE_SIGTERM_CHILD").is_none() {
        return;
    }
    ms_engine::Engine::builder()
        .shards(1)
        .pin(false)
        .run(|| async {
            let listener = ms_net::TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
            println!("PORT {}", listener.local_addr().unwrap().port());
            std::io::stdout().flush().unwrap();
            let in_flight = Rc::new(Cell::new(0usize));
            let acceptor = {
                let in_flight = Rc::clone(&in_flight);
                ms_reactor::spawn(async move {
                    loop {
                        let (stream, _) = listener.accept().await.unwrap();
                        in_flight.set(in_flight.get() + 1);
                        let in_flight = Rc::clone(&in_flight);
                        drop(ms_reactor::spawn(async move {
                            let mut request = Vec::new();
                            let mut buf = [0u8; 64];
                            while !request.ends_with(b"\n") {
                                let n = stream.read(&mut buf).await.unwrap();
                                if n == 0 {
                                    break;
                                }
                                if request.is_empty() {
                                    println!("GOT-PARTIAL");
                                    std::io::stdout().flush().unwrap();
                                }
                                request.extend_from_slice(&buf[..n]);
                            }
                            let mut reply = b"ok ".to_vec();
                            reply.extend_from_slice(&request);
                            stream.write_all(&reply).await.unwrap();
                            in_flight.set(in_flight.get() - 1);
                        }));
                    }
                })
            };
            ms_engine::stopped().await;
            // Stop accepting, then give the requests in flight a grace period.
            acceptor.abort();
            println!("STOPPING");
            std::io::stdout().flush().unwrap();
            for _ in 0..10_000 {
                if in_flight.get() == 0 {
                    break;
                }
                ms_reactor::sleep(Duration::from_millis(1)).await;
            }
            assert_eq!(in_flight.get(), 0, "the request in flight was answered");
        })
        .unwrap();
    println!("CLEAN");
}

#[test]
fn after_the_engine_ends_sigterm_kills_as_usual() {
    use std::os::unix::process::ExitStatusExt;
    let status = Command::new(std::env::current_exe().unwrap())
        .args([
            "sigterm_after_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("MS_ENGINE_SIGTERM_AFTER_CHILD", "1")
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.signal(), Some(libc::SIGTERM), "{status:?}");
}

#[test]
#[ignore = "run by after_the_engine_ends_sigterm_kills_as_usual in a child process"]
fn sigterm_after_child() {
    if std::env::var_os("MS_ENGINE_SIGTERM_AFTER_CHILD").is_none() {
        return;
    }
    // An engine runs (installing the handler) and ends.
    ms_engine::Engine::builder()
        .shards(1)
        .pin(false)
        .run(|| async {})
        .unwrap();
    // SAFETY: kill(2) on our own pid.
    unsafe { libc::kill(libc::getpid(), libc::SIGTERM) };
    // The watcher restores the default action and raises it again: we never get far.
    std::thread::sleep(Duration::from_secs(30));
    std::process::exit(0);
}

#[test]
fn the_programs_own_handler_still_runs_and_signals_can_be_left_alone() {
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "chained_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("MS_ENGINE_CHAINED_CHILD", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("CHAINED 1 STOPPED"), "{stdout}");
    assert!(stdout.contains("IGNORED 3"), "{stdout}");
}

/// Calls to the program's own SIGTERM handler.
static OWN_HANDLER_RAN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

extern "C" fn own_handler(_: libc::c_int) {
    OWN_HANDLER_RAN.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
}

#[test]
#[ignore = "run by the_programs_own_handler_still_runs_and_signals_can_be_left_alone in a child"]
fn chained_child() {
    use std::sync::atomic::Ordering;
    if std::env::var_os("MS_ENGINE_CHAINED_CHILD").is_none() {
        return;
    }
    // SAFETY: installs a handler that only bumps an atomic; `action` is a valid sigaction.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = own_handler as extern "C" fn(libc::c_int) as libc::sighandler_t;
        libc::sigemptyset(&mut action.sa_mask);
        assert_eq!(
            libc::sigaction(libc::SIGTERM, &action, std::ptr::null_mut()),
            0
        );
    }
    // The engine's action joins the program's handler: both run, the engine stops.
    ms_engine::Engine::builder()
        .shards(1)
        .pin(false)
        .run(|| async {
            // SAFETY: kill(2) on our own pid.
            unsafe { libc::kill(libc::getpid(), libc::SIGTERM) };
            ms_engine::stopped().await;
        })
        .unwrap();
    let ran = OWN_HANDLER_RAN.load(Ordering::SeqCst);
    println!("CHAINED {ran} STOPPED");
    // With no engine running, the program's handler alone answers: the process lives on.
    // SAFETY: kill(2) on our own pid.
    unsafe { libc::kill(libc::getpid(), libc::SIGTERM) };
    while OWN_HANDLER_RAN.load(Ordering::SeqCst) < 2 {
        std::thread::yield_now();
    }
    // An engine that leaves signals alone is not stopped by one (its future ends by itself).
    ms_engine::Engine::builder()
        .shards(1)
        .pin(false)
        .ignore_signals()
        .run(|| async {
            // SAFETY: kill(2) on our own pid.
            unsafe { libc::kill(libc::getpid(), libc::SIGTERM) };
            while OWN_HANDLER_RAN.load(Ordering::SeqCst) < 3 {
                ms_reactor::yield_now().await;
            }
        })
        .unwrap();
    println!("IGNORED {}", OWN_HANDLER_RAN.load(Ordering::SeqCst));
}

//! The reliability suite: hostile clients, resets, fd exhaustion, churn and lost writes, each
//! against a live server with a healthy client alongside that must keep getting correct
//! answers. Sizes scale with `MS_SOAK` (unset: the quick form CI runs; `cargo xtask soak`
//! sets it to 100 for the full form).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;

use common::{Server, closed_by_server, exchange, metric, read_answers, read_frames};
use ms_examples::loadgen::Protocol;

const HTTP: &str = env!("CARGO_BIN_EXE_http_server");
const KV: &str = env!("CARGO_BIN_EXE_kv");

/// The size multiplier of the full form.
fn soak() -> usize {
    std::env::var("MS_SOAK")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

fn healthy_check(stream: &mut TcpStream) {
    let answer = exchange(stream, b"GET / HTTP/1.1\r\nHost: healthy\r\n\r\n");
    assert!(
        answer.ends_with("Hello, World!"),
        "the healthy client got {answer}"
    );
}

#[test]
fn hostile_requests_never_hurt_the_healthy_client() {
    let server = Server::start(HTTP, &["--port", "0", "--shards", "2"]);
    let mut healthy = server.connect();
    let hostile: [&[u8]; 7] = [
        b"GET\x00/ HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\x7fb\r\n\r\n",
        b"G E T / HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\nhello",
        b"GET / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nNo-Colon\r\n\r\n",
        b"GET / HTTP/1.1\n\rHost: x\r\n\r\n",
    ];
    for request in hostile {
        let mut stream = server.connect();
        stream.write_all(request).unwrap();
        let answer = read_answers(&mut stream, 1).remove(0);
        assert!(answer.starts_with("HTTP/1.1 4"), "{request:?} got {answer}");
        assert!(closed_by_server(&mut stream));
        healthy_check(&mut healthy);
    }
    // Empty lines before a request are allowed (RFC 9112 2.2), but not without end.
    let mut stream = server.connect();
    stream.write_all(&b"\r\n".repeat(5000)).unwrap();
    assert!(read_answers(&mut stream, 1)[0].starts_with("HTTP/1.1 431 "));
    healthy_check(&mut healthy);
    let mut stream = server.connect();
    let head = format!(
        "GET / HTTP/1.1\r\n{}\r\n",
        "X-Pad: 0123456789\r\n".repeat(1000)
    );
    stream.write_all(head.as_bytes()).unwrap();
    assert!(read_answers(&mut stream, 1)[0].starts_with("HTTP/1.1 431 "));
    healthy_check(&mut healthy);
}

#[test]
fn slowloris_is_closed_by_the_idle_timeout() {
    let server = Server::start(
        HTTP,
        &["--port", "0", "--shards", "1", "--idle-timeout-ms", "300"],
    );
    let mut slow = server.connect();
    let mut healthy = server.connect();
    let mut sent = 0;
    // One header byte at a time, far slower than a request should take; the server must
    // close the connection although bytes keep coming.
    let closed = loop {
        if slow.write_all(b"X").is_err() {
            break true;
        }
        sent += 1;
        healthy_check(&mut healthy); // keeps the healthy client's own timer fresh
        std::thread::sleep(std::time::Duration::from_millis(20));
        slow.set_nonblocking(true).unwrap();
        let mut byte = [0u8; 1];
        let state = slow.read(&mut byte);
        slow.set_nonblocking(false).unwrap();
        match state {
            Ok(0) => break true,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            _ => break true,
        }
        assert!(
            sent < 2000,
            "a slow client held its connection for {sent} bytes"
        );
    };
    assert!(closed);
    assert!(metric(&mut healthy, "ms_http_idle_timeouts_total") >= 1);
}

#[test]
fn ten_thousand_pipelined_requests_in_one_write() {
    let server = Server::start(HTTP, &["--port", "0", "--shards", "1"]);
    let mut stream = server.connect();
    let requests = b"GET / HTTP/1.1\r\nHost: p\r\n\r\n".repeat(10_000);
    let writer = {
        let mut stream = stream.try_clone().unwrap();
        std::thread::spawn(move || stream.write_all(&requests).unwrap())
    };
    let answers = read_answers(&mut stream, 10_000);
    writer.join().unwrap();
    assert!(answers.iter().all(|a| a.ends_with("Hello, World!")));
    healthy_check(&mut stream);
}

#[test]
fn clients_that_reset_mid_response_lose_only_themselves() {
    let server = Server::start(HTTP, &["--port", "0", "--shards", "2"]);
    let mut healthy = server.connect();
    for _ in 0..20 * soak() {
        let mut stream = server.connect();
        stream
            .write_all(&b"GET / HTTP/1.1\r\n\r\n".repeat(5000))
            .unwrap();
        let mut some = [0u8; 1000];
        let _ = stream.read(&mut some).unwrap();
        // SO_LINGER 0: close with a reset while the server is still writing.
        socket2::SockRef::from(&stream)
            .set_linger(Some(std::time::Duration::ZERO))
            .unwrap();
        drop(stream);
        healthy_check(&mut healthy);
    }
    // Every reset connection was closed by the server (none leaked).
    let mut polls = 0;
    while metric(&mut healthy, "ms_http_connections_open") != 1 {
        polls += 1;
        assert!(polls < 10_000, "reset connections stay open");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

#[test]
fn fd_exhaustion_is_survived_and_service_resumes() {
    if Command::new("prlimit").arg("--version").output().is_err() {
        eprintln!("prlimit is not installed; skipped");
        return;
    }
    // 64 descriptors: the process's own (epoll, eventfds, listener...) leave ~50 for clients.
    let server = Server::start(
        "prlimit",
        &["--nofile=64:64", HTTP, "--port", "0", "--shards", "1"],
    );
    let mut healthy = server.connect();
    let mut crowd = Vec::new();
    for _ in 0..128 {
        match TcpStream::connect(&server.addr) {
            Ok(stream) => crowd.push(stream),
            Err(_) => break, // the kernel backlog is full too
        }
    }
    assert!(
        crowd.len() >= 64,
        "only {} connections were made",
        crowd.len()
    );
    // The connections the server could take are served; the healthy one was accepted first.
    healthy_check(&mut healthy);
    drop(crowd);
    // Descriptors come back: new clients are served again.
    let mut polls = 0;
    loop {
        let mut fresh = server.connect();
        fresh.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        let mut answer = [0u8; 4096];
        if let Ok(n) = fresh.read(&mut answer) {
            if n > 0 && answer[..n].ends_with(b"Hello, World!") {
                break;
            }
        }
        polls += 1;
        assert!(polls < 1000, "the server never served again");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    healthy_check(&mut healthy);
}

#[test]
fn connection_churn_returns_memory_to_its_baseline() {
    let server = Server::start(HTTP, &["--port", "0", "--shards", "1"]);
    let cycles = 2_000 * soak();
    let churn = |n: usize| {
        for _ in 0..n {
            let mut stream = server.connect();
            let answer = exchange(&mut stream, b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
            assert!(answer.ends_with("Hello, World!"));
            assert!(closed_by_server(&mut stream));
        }
    };
    churn(1000); // warm up the pools and the allocator
    let mut observer = server.connect();
    let settle = |observer: &mut TcpStream| {
        let mut polls = 0;
        while metric(observer, "ms_http_connections_open") != 1 {
            polls += 1;
            assert!(polls < 10_000, "connections stay open");
        }
    };
    settle(&mut observer);
    let rss = || {
        let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
            .unwrap()
    };
    let (rss_before, pool_before) = (rss(), metric(&mut observer, "ms_pool_live_blocks"));
    assert!(
        pool_before > 0,
        "the pool metric is missing (the observer's task is pooled)"
    );
    churn(cycles);
    settle(&mut observer);
    let (rss_after, pool_after) = (rss(), metric(&mut observer, "ms_pool_live_blocks"));
    assert_eq!(
        pool_after, pool_before,
        "pooled blocks leaked over {cycles} connections"
    );
    assert!(
        rss_after <= rss_before + rss_before / 10,
        "resident memory grew from {rss_before} kB to {rss_after} kB over {cycles} connections"
    );
    eprintln!(
        "churn: {cycles} cycles, RSS {rss_before} -> {rss_after} kB, pool {pool_before} -> {pool_after} blocks"
    );
}

#[test]
fn kv_loses_no_acknowledged_set_across_shards_and_reconnects() {
    let server = Server::start(KV, &["--port", "0", "--shards", "2"]);
    let clients = 4;
    let per_client = 5_000 * soak();
    let redis = Protocol::Redis {
        command: Vec::new(),
    };
    let write_all = |client: usize, round: usize| {
        let mut stream = server.connect();
        let mut acked = 0;
        for chunk in (0..per_client).collect::<Vec<_>>().chunks(64) {
            let mut batch = Vec::new();
            for &i in chunk {
                let (key, value) = (format!("c{client}:k{i}"), format!("r{round}:{client}:{i}"));
                batch.extend_from_slice(
                    format!(
                        "*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n${}\r\n{value}\r\n",
                        key.len(),
                        value.len()
                    )
                    .as_bytes(),
                );
            }
            stream.write_all(&batch).unwrap();
            for reply in read_frames(&mut stream, &redis, chunk.len()) {
                assert_eq!(reply, b"+OK\r\n");
                acked += 1;
            }
        }
        acked
    };
    for round in 0..2 {
        // Concurrent pipelined writers, then every connection closes (a client restart).
        std::thread::scope(|scope| {
            let writers: Vec<_> = (0..clients)
                .map(|client| scope.spawn(move || write_all(client, round)))
                .collect();
            for writer in writers {
                assert_eq!(writer.join().unwrap(), per_client);
            }
        });
        let mut reader = server.connect();
        for client in 0..clients {
            for chunk in (0..per_client).collect::<Vec<_>>().chunks(100) {
                let mut mget = format!("*{}\r\n$4\r\nMGET\r\n", chunk.len() + 1);
                for &i in chunk {
                    let key = format!("c{client}:k{i}");
                    mget.push_str(&format!("${}\r\n{key}\r\n", key.len()));
                }
                reader.write_all(mget.as_bytes()).unwrap();
                let reply = read_frames(&mut reader, &redis, 1).remove(0);
                let text = String::from_utf8(reply).unwrap();
                for (&i, line) in chunk.iter().zip(text.lines().skip(1).skip(1).step_by(2)) {
                    assert_eq!(line, format!("r{round}:{client}:{i}"), "c{client}:k{i}");
                }
            }
        }
    }
}

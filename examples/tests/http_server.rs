//! `http_server` end to end: the real program on an ephemeral loopback port, real requests.

mod common;

use std::io::Write;
use std::process::Command;

use common::{STATS_REQUEST, Server, closed_by_server, exchange, metric, metric_in, read_answers};

const BIN: &str = env!("CARGO_BIN_EXE_http_server");

fn start(extra: &[&str]) -> Server {
    let mut args = vec!["--port", "0", "--shards", "2", "--grace-ms", "20000"];
    args.extend_from_slice(extra);
    Server::start(BIN, &args)
}

#[test]
fn keep_alive_answers_every_request_on_one_connection() {
    let server = start(&[]);
    let mut stream = server.connect();
    for path in ["/", "/plaintext", "/", "/nope"] {
        let answer = exchange(
            &mut stream,
            format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes(),
        );
        if path == "/nope" {
            assert!(answer.starts_with("HTTP/1.1 404 Not Found\r\n"), "{answer}");
        } else {
            assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
            assert!(answer.contains("\r\nContent-Type: text/plain\r\n"));
            assert!(answer.ends_with("\r\n\r\nHello, World!"), "{answer}");
        }
    }
}

#[test]
fn pipelined_requests_get_exactly_one_answer_each_in_order() {
    let server = start(&[]);
    let mut stream = server.connect();
    let mut batch = Vec::new();
    for i in 0..1000 {
        let path = if i % 10 == 9 { "/missing" } else { "/" };
        batch.extend_from_slice(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
    }
    stream.write_all(&batch).unwrap();
    let answers = read_answers(&mut stream, 1000);
    for (i, answer) in answers.iter().enumerate() {
        let expected = if i % 10 == 9 {
            "HTTP/1.1 404"
        } else {
            "HTTP/1.1 200"
        };
        assert!(answer.starts_with(expected), "answer {i}: {answer}");
    }
    // The connection is still good afterwards.
    assert!(exchange(&mut stream, b"GET / HTTP/1.1\r\n\r\n").ends_with("Hello, World!"));
}

#[test]
fn malformed_requests_get_400_and_the_connection_closes() {
    let server = start(&[]);
    for bad in [
        &b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nContent-Length: -3\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
    ] {
        let mut stream = server.connect();
        let answer = exchange(&mut stream, bad);
        assert!(
            answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
            "{answer}"
        );
        assert!(answer.contains("\r\nConnection: close\r\n"));
        assert!(closed_by_server(&mut stream));
    }
    // The server goes on serving.
    let mut stream = server.connect();
    assert!(exchange(&mut stream, b"GET / HTTP/1.1\r\n\r\n").ends_with("Hello, World!"));
}

#[test]
fn headers_over_8_kib_get_431() {
    let server = start(&[]);
    let mut stream = server.connect();
    let big = format!("GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(9000));
    let answer = exchange(&mut stream, big.as_bytes());
    assert!(answer.starts_with("HTTP/1.1 431 "), "{answer}");
    assert!(closed_by_server(&mut stream));
    // Also when the head never ends.
    let mut stream = server.connect();
    let endless = format!("GET / HTTP/1.1\r\nX-Big: {}", "a".repeat(20_000));
    let answer = exchange(&mut stream, endless.as_bytes());
    assert!(answer.starts_with("HTTP/1.1 431 "), "{answer}");
}

#[test]
fn connection_close_is_honoured_after_the_answer() {
    let server = start(&[]);
    let mut stream = server.connect();
    let answer = exchange(
        &mut stream,
        b"GET / HTTP/1.1\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n\r\n",
    );
    assert!(answer.contains("\r\nConnection: close\r\n"));
    assert!(answer.ends_with("Hello, World!"));
    assert!(closed_by_server(&mut stream), "a second answer or no close");
    // HTTP/1.0 closes by default.
    let mut stream = server.connect();
    assert!(exchange(&mut stream, b"GET / HTTP/1.0\r\n\r\n").ends_with("Hello, World!"));
    assert!(closed_by_server(&mut stream));
}

#[test]
fn bodies_are_read_by_content_length() {
    let server = start(&["--max-body", "100000"]);
    let mut stream = server.connect();
    let body = vec![b'z'; 70_000];
    let mut request = format!(
        "POST /echo HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(&body);
    // Sent in two parts, the second after the head alone was surely read.
    let answer = exchange(&mut stream, &request);
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"));
    assert!(answer.ends_with(std::str::from_utf8(&body).unwrap()));
    let too_big = b"POST /echo HTTP/1.1\r\nContent-Length: 100001\r\n\r\n";
    assert!(exchange(&mut stream, too_big).starts_with("HTTP/1.1 413 "));
}

#[test]
fn stats_lists_every_shard_in_prometheus_format() {
    let server = start(&[]);
    let mut stream = server.connect();
    for _ in 0..3 {
        exchange(&mut stream, b"GET / HTTP/1.1\r\n\r\n");
    }
    let answer = exchange(&mut stream, b"GET /stats HTTP/1.1\r\n\r\n");
    assert!(answer.contains("Content-Type: text/plain; version=0.0.4"));
    assert!(answer.contains("# TYPE ms_http_requests_total counter\n"));
    let requests = metric_in(&answer, "ms_http_requests_total");
    assert_eq!(
        requests, 3,
        "the /stats request itself is counted after it is answered"
    );
    for shard in ["0", "1"] {
        assert!(answer.contains(&format!(
            "ms_reactor_tasks_polled_total{{shard=\"{shard}\"}}"
        )));
    }
}

#[test]
fn idle_connections_are_closed() {
    let server = start(&["--idle-timeout-ms", "100"]);
    let mut quiet = server.connect();
    assert!(closed_by_server(&mut quiet));
    // A slow client that never finishes its head is closed too.
    let mut slow = server.connect();
    slow.write_all(b"GET / HTTP/1.1\r\nX-Slow: ").unwrap();
    assert!(closed_by_server(&mut slow));
    let mut stats = server.connect();
    let idle = metric(&mut stats, "ms_http_idle_timeouts_total");
    assert_eq!(idle, 2);
}

#[test]
fn sigterm_answers_the_request_in_flight_then_exits_0() {
    let server = start(&[]);
    let mut busy = server.connect();
    let first = b"GET / HTTP/1.1\r\n\r\n";
    exchange(&mut busy, first);
    let partial = b"GET /plaintext HTTP/1.1\r\nHost: t\r\n";
    busy.write_all(partial).unwrap();
    // Wait (by counting, not by time) until the server has read the partial request.
    let mut observer = server.connect();
    let mut asked = 0;
    loop {
        asked += 1;
        assert!(asked < 100_000, "the server never read the partial request");
        let read = metric(&mut observer, "ms_http_read_bytes_total") as usize;
        if read >= first.len() + partial.len() + asked * STATS_REQUEST.len() {
            break;
        }
    }
    server.terminate();
    // The idle observer is closed; the request in flight is answered.
    assert!(closed_by_server(&mut observer));
    busy.write_all(b"\r\n").unwrap();
    let answer = read_answers(&mut busy, 1).remove(0);
    assert!(answer.ends_with("Hello, World!"));
    assert!(closed_by_server(&mut busy));
    assert!(server.wait().success());
}

#[test]
fn curl_gets_hello_world_with_keep_alive() {
    if Command::new("curl").arg("--version").output().is_err() {
        eprintln!("curl is not installed; skipped (CI installs it)");
        return;
    }
    let server = start(&[]);
    let url = format!("http://{}/", server.addr);
    let output = Command::new("curl")
        .args(["-sS", "--http1.1", "-w", "%{http_code} %{num_connects}\n"])
        .args([&url, &url, &format!("{url}stats")])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    assert_eq!(text.matches("Hello, World!200 ").count(), 2, "{text}");
    // One connection for all three transfers: the first connects, the others reuse it.
    assert!(
        text.contains("Hello, World!200 1\nHello, World!200 0\n"),
        "{text}"
    );
    assert!(text.contains("ms_http_requests_total{shard="), "{text}");
}

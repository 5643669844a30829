//! `kv` end to end: raw RESP over TCP, `redis-cli` and `redis-benchmark` when installed.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::process::Command;

use common::{Server, closed_by_server, read_frames};
use ms_examples::loadgen::Protocol;

const KV: &str = env!("CARGO_BIN_EXE_kv");

fn start() -> Server {
    Server::start(
        KV,
        &["--port", "0", "--shards", "2", "--max-bulk", "1048576"],
    )
}

/// A RESP command of `words`.
fn command(words: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", words.len()).into_bytes();
    for word in words {
        out.extend_from_slice(format!("${}\r\n", word.len()).as_bytes());
        out.extend_from_slice(word);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Reads `count` whole replies.
fn replies(stream: &mut TcpStream, count: usize) -> Vec<Vec<u8>> {
    let redis = Protocol::Redis {
        command: Vec::new(),
    };
    read_frames(stream, &redis, count)
}

fn ask(stream: &mut TcpStream, words: &[&[u8]]) -> Vec<u8> {
    stream.write_all(&command(words)).unwrap();
    replies(stream, 1).remove(0)
}

#[test]
fn binary_values_round_trip_across_shards() {
    let server = start();
    let mut stream = server.connect();
    for i in 0..64u8 {
        let key = [b'k', i, 0, b'\r', b'\n'];
        let value: Vec<u8> = (0..=255u8).map(|b| b ^ i).collect();
        assert_eq!(ask(&mut stream, &[b"SET", &key, &value]), b"+OK\r\n");
    }
    for i in 0..64u8 {
        let key = [b'k', i, 0, b'\r', b'\n'];
        let value: Vec<u8> = (0..=255u8).map(|b| b ^ i).collect();
        let mut expected = b"$256\r\n".to_vec();
        expected.extend_from_slice(&value);
        expected.extend_from_slice(b"\r\n");
        assert_eq!(ask(&mut stream, &[b"GET", &key]), expected);
    }
    assert_eq!(ask(&mut stream, &[b"DBSIZE"]), b":64\r\n");
    let info = String::from_utf8(ask(&mut stream, &[b"INFO"])).unwrap();
    assert!(
        info.contains("shard0:keys=") && info.contains("shard1:keys="),
        "{info}"
    );
    assert!(
        !info.contains("shard0:keys=0,") && !info.contains("shard1:keys=0,"),
        "both shards hold keys: {info}"
    );
}

#[test]
fn pipelined_commands_are_answered_in_order() {
    let server = start();
    let mut stream = server.connect();
    let mut batch = Vec::new();
    let n = 2000;
    for i in 0..n {
        let key = format!("key{}", i % 50);
        batch.extend_from_slice(&command(&[b"INCR", key.as_bytes()]));
        if i % 100 == 99 {
            batch.extend_from_slice(&command(&[b"MGET", b"key0", b"key1", b"key2"]));
        }
    }
    stream.write_all(&batch).unwrap();
    let all = replies(&mut stream, n + n / 100);
    let mut counts = [0i64; 50];
    let mut at = 0;
    for i in 0..n {
        counts[i % 50] += 1;
        assert_eq!(
            all[at],
            format!(":{}\r\n", counts[i % 50]).into_bytes(),
            "reply {at}"
        );
        at += 1;
        if i % 100 == 99 {
            let expected = format!(
                "*3\r\n${}\r\n{}\r\n${}\r\n{}\r\n${}\r\n{}\r\n",
                counts[0].to_string().len(),
                counts[0],
                counts[1].to_string().len(),
                counts[1],
                counts[2].to_string().len(),
                counts[2]
            );
            assert_eq!(String::from_utf8_lossy(&all[at]), expected, "MGET at {at}");
            at += 1;
        }
    }
}

#[test]
fn protocol_errors_close_only_their_connection() {
    let server = start();
    let mut healthy = server.connect();
    assert_eq!(ask(&mut healthy, &[b"SET", b"a", b"1"]), b"+OK\r\n");
    for bad in [
        &b"*1\r\n$-7\r\n"[..],
        b"*2\r\n$3\r\nGET\r\n:1\r\n",
        b"*x\r\n",
        b"*1\r\n$2000000\r\n",
    ] {
        let mut stream = server.connect();
        stream.write_all(bad).unwrap();
        let reply = replies(&mut stream, 1).remove(0);
        assert!(
            reply.starts_with(b"-ERR Protocol error"),
            "{:?}",
            String::from_utf8_lossy(&reply)
        );
        assert!(closed_by_server(&mut stream));
    }
    let mut stream = server.connect();
    assert!(ask(&mut stream, &[b"NOPE", b"x"]).starts_with(b"-ERR unknown command 'NOPE'"));
    assert!(ask(&mut stream, &[b"GET"]).starts_with(b"-ERR wrong number of arguments for 'get'"));
    assert!(
        ask(&mut stream, &[b"SET", b"a", b"1", b"EX", b"0"])
            .starts_with(b"-ERR invalid expire time")
    );
    assert_eq!(ask(&mut stream, &[b"SET", b"s", b"x"]), b"+OK\r\n");
    assert!(ask(&mut stream, &[b"INCR", b"s"]).starts_with(b"-ERR value is not an integer"));
    assert_eq!(ask(&mut stream, &[b"QUIT"]), b"+OK\r\n");
    assert!(closed_by_server(&mut stream));
    assert_eq!(ask(&mut healthy, &[b"GET", b"a"]), b"$1\r\n1\r\n");
}

#[test]
fn keys_expire_lazily_and_actively() {
    let server = start();
    let mut stream = server.connect();
    for i in 0..100 {
        let key = format!("short{i}");
        assert_eq!(
            ask(&mut stream, &[b"SET", key.as_bytes(), b"v", b"PX", b"1"]),
            b"+OK\r\n"
        );
    }
    assert_eq!(
        ask(&mut stream, &[b"SET", b"long", b"v", b"EX", b"1000"]),
        b"+OK\r\n"
    );
    let ttl = String::from_utf8(ask(&mut stream, &[b"TTL", b"long"])).unwrap();
    assert!(ttl == ":1000\r\n" || ttl == ":999\r\n", "{ttl}");
    assert_eq!(ask(&mut stream, &[b"TTL", b"missing"]), b":-2\r\n");
    // Never read again: only the periodic collection can remove them. Poll by count.
    let mut polls = 0;
    while ask(&mut stream, &[b"DBSIZE"]) != b":1\r\n" {
        polls += 1;
        assert!(polls < 10_000, "the short keys never expired");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(ask(&mut stream, &[b"GET", b"short0"]), b"$-1\r\n");
    assert_eq!(ask(&mut stream, &[b"EXPIRE", b"long", b"-1"]), b":1\r\n");
    assert_eq!(ask(&mut stream, &[b"EXISTS", b"long"]), b":0\r\n");
}

fn redis_cli(addr: &str, args: &[&str]) -> String {
    let (host, port) = addr.rsplit_once(':').unwrap();
    let output = Command::new("redis-cli")
        .args(["-h", host, "-p", port])
        .args(args)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap()
}

fn have(program: &str) -> bool {
    Command::new(program).arg("--version").output().is_ok()
}

#[test]
fn redis_cli_round_trips_every_command() {
    if !have("redis-cli") {
        eprintln!("redis-cli is not installed; skipped (CI installs redis-tools)");
        return;
    }
    let server = start();
    let cli = |args: &[&str]| redis_cli(&server.addr, args);
    assert_eq!(cli(&["PING"]), "PONG\n");
    assert_eq!(cli(&["ECHO", "hi there"]), "hi there\n");
    assert_eq!(cli(&["SET", "a", "1"]), "OK\n");
    assert_eq!(cli(&["SET", "a", "2", "NX"]), "\n");
    assert_eq!(cli(&["SET", "b", "2", "XX"]), "\n");
    assert_eq!(cli(&["SET", "b", "5", "EX", "100"]), "OK\n");
    assert_eq!(cli(&["TTL", "b"]), "100\n");
    assert_eq!(cli(&["INCR", "b"]), "6\n");
    assert_eq!(cli(&["TTL", "b"]), "100\n", "INCR keeps the deadline");
    assert_eq!(cli(&["DECR", "b"]), "5\n");
    assert_eq!(cli(&["INCRBY", "b", "-10"]), "-5\n");
    assert_eq!(cli(&["MSET", "x", "1", "y", "2", "z", "3"]), "OK\n");
    assert_eq!(cli(&["MGET", "x", "nope", "z"]), "1\n\n3\n");
    assert_eq!(cli(&["EXISTS", "x", "y", "nope"]), "2\n");
    assert_eq!(cli(&["DEL", "x", "y", "nope"]), "2\n");
    assert_eq!(cli(&["EXPIRE", "a", "50"]), "1\n");
    assert_eq!(cli(&["TTL", "a"]), "50\n");
    assert_eq!(cli(&["GET", "a"]), "1\n");
    assert_eq!(cli(&["DBSIZE"]), "3\n");
    assert!(cli(&["INFO"]).contains("db0:keys=3,expires=2"));
    assert!(cli(&["COMMAND", "COUNT"]).trim().parse::<u32>().is_ok());
    assert_eq!(cli(&["FLUSHALL"]), "OK\n");
    assert_eq!(cli(&["DBSIZE"]), "0\n");
    // Binary-safe through redis-cli too: -x sends standard input as the last argument.
    let mut child = Command::new("redis-cli")
        .args(["-h", server.addr.rsplit_once(':').unwrap().0])
        .args([
            "-p",
            server.addr.rsplit_once(':').unwrap().1,
            "-x",
            "SET",
            "bin",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&[0, 1, 2, 255, b'\n'])
        .unwrap();
    assert!(child.wait_with_output().unwrap().stdout.starts_with(b"OK"));
    let mut stream = server.connect();
    assert_eq!(
        ask(&mut stream, &[b"GET", b"bin"]),
        b"$5\r\n\x00\x01\x02\xff\n\r\n"
    );
    assert_eq!(cli(&["QUIT"]), "OK\n");
}

#[test]
fn redis_benchmark_runs_clean_and_every_key_reads_back() {
    if !have("redis-benchmark") {
        eprintln!("redis-benchmark is not installed; skipped (CI installs redis-tools)");
        return;
    }
    let server = start();
    let (host, port) = server.addr.rsplit_once(':').unwrap();
    let output = Command::new("redis-benchmark")
        .args([
            "-h",
            host,
            "-p",
            port,
            "-t",
            "set,get,incr,mset",
            "-P",
            "16",
        ])
        .args(["-n", "20000", "-r", "1000", "-c", "20", "--csv"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let csv = String::from_utf8(output.stdout).unwrap();
    for test in ["\"SET\"", "\"GET\"", "\"INCR\"", "\"MSET (10 keys)\""] {
        assert!(csv.contains(test), "{csv}");
    }
    // redis-benchmark writes one random 3-byte payload everywhere: every key a SET or MSET
    // wrote holds that same payload; every counter is a positive integer; there are no other
    // keys.
    let mut stream = server.connect();
    let mut found = 0;
    let mut payload: Option<Vec<u8>> = None;
    for i in 0..1000 {
        let key = format!("key:{i:012}");
        match ask(&mut stream, &[b"GET", key.as_bytes()]).as_slice() {
            b"$-1\r\n" => {}
            reply => {
                assert!(
                    reply.starts_with(b"$3\r\n") && reply.len() == 9,
                    "{key}: {reply:?}"
                );
                assert_eq!(
                    reply,
                    payload.get_or_insert_with(|| reply.to_vec()).as_slice(),
                    "{key}"
                );
                found += 1;
            }
        }
        let counter = format!("counter:{i:012}");
        let reply = ask(&mut stream, &[b"GET", counter.as_bytes()]);
        if reply != b"$-1\r\n" {
            let text = String::from_utf8(reply).unwrap();
            let value: i64 = text.lines().nth(1).unwrap().parse().unwrap();
            assert!(value > 0, "{counter} = {value}");
            found += 1;
        }
    }
    assert!(found > 1000, "only {found} keys written");
    assert_eq!(
        ask(&mut stream, &[b"DBSIZE"]),
        format!(":{found}\r\n").into_bytes()
    );
}

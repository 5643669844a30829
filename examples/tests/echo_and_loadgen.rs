//! `echo` and `loadgen` end to end.

mod common;

use std::io::{Read, Write};
use std::process::Command;

use common::Server;

const ECHO: &str = env!("CARGO_BIN_EXE_echo");
const HTTP: &str = env!("CARGO_BIN_EXE_http_server");
const LOADGEN: &str = env!("CARGO_BIN_EXE_loadgen");

#[test]
fn echo_returns_every_byte_and_stops_on_sigterm() {
    let server = Server::start(ECHO, &["--port", "0", "--shards", "2"]);
    let mut stream = server.connect();
    let data: Vec<u8> = (0..4 << 20).map(|i: u32| (i % 251) as u8).collect();
    let writer = {
        let mut stream = stream.try_clone().unwrap();
        let data = data.clone();
        std::thread::spawn(move || {
            stream.write_all(&data).unwrap();
            stream.shutdown(std::net::Shutdown::Write).unwrap();
        })
    };
    let mut echoed = Vec::new();
    stream.read_to_end(&mut echoed).unwrap();
    writer.join().unwrap();
    assert_eq!(echoed.len(), data.len());
    assert!(echoed == data, "the echo differs");
    server.terminate();
    assert!(server.wait().success());
}

fn loadgen(addr: &str, args: &[&str]) -> String {
    let output = Command::new(LOADGEN)
        .args(["--addr", addr, "--json", "--quiet"])
        .args(args)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn loadgen_sends_exactly_the_requests_asked_for() {
    let server = Server::start(HTTP, &["--port", "0", "--shards", "1"]);
    let json = loadgen(
        &server.addr,
        &["-c", "8", "-d", "4", "-n", "1000", "--shards", "2"],
    );
    assert!(
        json.starts_with("{\"requests\":1000,\"answers_total\":1000,\"errors\":0,"),
        "{json}"
    );
    let echo = Server::start(ECHO, &["--port", "0", "--shards", "1"]);
    let json = loadgen(
        &echo.addr,
        &[
            "--protocol",
            "echo",
            "--size",
            "100",
            "-c",
            "3",
            "-n",
            "300",
        ],
    );
    assert!(json.starts_with("{\"requests\":300,"), "{json}");
}

#[test]
fn loadgen_reports_error_answers_and_fails() {
    let server = Server::start(HTTP, &["--port", "0", "--shards", "1"]);
    let output = Command::new(LOADGEN)
        .args([
            "--addr",
            &server.addr,
            "--json",
            "--quiet",
            "--path",
            "/missing",
            "-n",
            "10",
            "-c",
            "1",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let json = String::from_utf8(output.stdout).unwrap();
    assert!(json.contains("\"errors\":10,"), "{json}");
}

//! Starting the example programs as child processes, and blocking clients to talk to them.

#![allow(dead_code, unreachable_pub, missing_docs)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use ms_examples::loadgen::{Frame, Protocol};

/// A server program running as a child; killed if the test ends without stopping it.
#[derive(Debug)]
pub struct Server {
    child: Child,
    pub addr: String,
}

impl Server {
    /// Starts `binary` with `args` and waits for its `listening on ADDR` line.
    pub fn start(binary: &str, args: &[&str]) -> Server {
        let mut child = Command::new(binary)
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("the server said {line:?}"))
            .to_owned();
        Server { child, addr }
    }

    /// A blocking connection, with a generous read timeout as a safety net against a hang.
    pub fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(&self.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        stream
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `SIGTERM`.
    pub fn terminate(&self) {
        // SAFETY: kill(2) on our own child's pid, no memory arguments.
        let rc = unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        assert_eq!(rc, 0);
    }

    /// Waits for the process to exit.
    pub fn wait(mut self) -> ExitStatus {
        let status = self.child.wait().unwrap();
        std::mem::forget(self);
        status
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads `count` whole answers of `protocol` (and no more than it must).
pub fn read_frames(stream: &mut TcpStream, protocol: &Protocol, count: usize) -> Vec<Vec<u8>> {
    let mut buf = Vec::new();
    let mut frames = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    while frames.len() < count {
        match protocol.frame(&buf) {
            Frame::Complete { len, .. } => {
                frames.push(buf.drain(..len).collect());
                continue;
            }
            Frame::Invalid => panic!("not {protocol:?}: {:?}", String::from_utf8_lossy(&buf)),
            Frame::Partial => {}
        }
        let n = stream.read(&mut chunk).unwrap();
        assert!(n > 0, "closed after {} of {count} answers", frames.len());
        buf.extend_from_slice(&chunk[..n]);
    }
    assert!(buf.is_empty(), "more than {count} answers");
    frames
}

/// Reads `count` whole HTTP answers: their texts.
pub fn read_answers(stream: &mut TcpStream, count: usize) -> Vec<String> {
    let http = Protocol::Http {
        path: "/".into(),
        host: "test".into(),
    };
    read_frames(stream, &http, count)
        .into_iter()
        .map(|frame| String::from_utf8_lossy(&frame).into_owned())
        .collect()
}

/// Whether the server closed the connection (reads to the end, discarding).
pub fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut sink = [0u8; 4096];
    loop {
        match stream.read(&mut sink) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

/// Sends `request` and reads one answer.
pub fn exchange(stream: &mut TcpStream, request: &[u8]) -> String {
    stream.write_all(request).unwrap();
    read_answers(stream, 1).remove(0)
}

/// The request `metric` sends.
pub const STATS_REQUEST: &[u8] = b"GET /stats HTTP/1.1\r\n\r\n";

/// The sum over shards of metric `name` in a `/stats` answer.
pub fn metric_in(answer: &str, name: &str) -> u64 {
    answer
        .lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum()
}

/// Asks for `/stats` on `stream`: the sum over shards of metric `name`.
pub fn metric(stream: &mut TcpStream, name: &str) -> u64 {
    metric_in(&exchange(stream, STATS_REQUEST), name)
}

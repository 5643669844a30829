//! The kv server's RESP parser and command execution on arbitrary bytes: parsing never reads
//! outside the input and always moves forward, and every executed command gets exactly one
//! well-formed reply.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ms_examples::kv::command::{self, Outcome};
use ms_examples::kv::resp::{self, Limits, Parsed};
use ms_examples::loadgen::{Frame, Protocol};

fuzz_target!(|data: &[u8]| {
    let limits = Limits { max_bulk: 1 << 16, max_args: 64, max_inline: 1024 };
    let mut args = Vec::new();
    let mut out = Vec::new();
    let mut at = 0;
    let mut executed = 0;
    while at < data.len() {
        let input = &data[at..];
        match resp::parse(input, &limits, &mut args) {
            Ok(Parsed::Command(len)) => {
                assert!(len > 0 && len <= input.len());
                assert!(args.iter().all(|r| r.start <= r.end && r.end <= len));
                if !args.is_empty() {
                    let words: Vec<&[u8]> = args.iter().map(|r| &input[r.clone()]).collect();
                    // Outside an engine there is one shard: every command completes here.
                    match command::execute(&words, std::time::Instant::now(), &mut out) {
                        Outcome::Done | Outcome::Quit => executed += 1,
                        Outcome::Pending(_) => {
                            // DBSIZE, FLUSHALL, INFO always gather; not awaited here.
                            return;
                        }
                    }
                }
                at += len;
            }
            Ok(Parsed::Incomplete(needed)) => {
                assert!(needed > input.len());
                break;
            }
            Err(_) => break,
        }
    }
    let redis = Protocol::Redis { command: Vec::new() };
    let mut replies = 0;
    let mut rest = out.as_slice();
    while !rest.is_empty() {
        match redis.frame(rest) {
            Frame::Complete { len, .. } => {
                rest = &rest[len..];
                replies += 1;
            }
            other => panic!("a malformed reply: {other:?}"),
        }
    }
    assert_eq!(replies, executed);
});

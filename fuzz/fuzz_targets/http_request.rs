//! The HTTP server's request handling on arbitrary bytes, fed as a connection would see them:
//! every answer is well-formed HTTP, one per request answered, and the input is consumed
//! only forward.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ms_examples::http::batch::answer_all;
use ms_examples::loadgen::{Frame, Protocol};

fuzz_target!(|data: &[u8]| {
    // The first byte splits the input into two reads, as a short read would.
    let Some((&split, data)) = data.split_first() else {
        return;
    };
    let cut = usize::from(split).min(data.len());
    let http = Protocol::Http { path: "/".into(), host: "fuzz".into() };
    let mut buffered: Vec<u8> = Vec::new();
    let mut out = Vec::new();
    let mut answered = 0;
    for chunk in [&data[..cut], &data[cut..]] {
        buffered.extend_from_slice(chunk);
        let batch = answer_all(&buffered, 4096, &mut out);
        assert!(batch.consumed <= buffered.len());
        answered += batch.answered;
        buffered.drain(..batch.consumed);
        if batch.close {
            break;
        }
    }
    let mut framed = 0;
    let mut rest = out.as_slice();
    while !rest.is_empty() {
        match http.frame(rest) {
            Frame::Complete { len, .. } => {
                rest = &rest[len..];
                framed += 1;
            }
            other => panic!("a malformed answer: {other:?}"),
        }
    }
    assert_eq!(framed, answered);
});

//! The HTTP server's request handling on arbitrary bytes, fed as a connection would see them:
//! every answer is well-formed HTTP, one per request answered, and the input is consumed
//! only forward.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ms_examples::http::batch::answer_all;
use ms_examples::http::request::{self, Method};

const MAX_BODY: usize = 4096;

/// Whether each answered request was a `HEAD` (its answer has a `Content-Length` but no
/// body), found by parsing the consumed bytes again.
fn heads(consumed: &[u8], answered: u64) -> Vec<bool> {
    let mut flags = Vec::new();
    let mut rest = consumed;
    while (flags.len() as u64) < answered {
        match request::parse(rest, MAX_BODY) {
            Ok(Some(head)) => {
                flags.push(head.method == Method::Head);
                rest = &rest[head.head_len + head.body_len..];
            }
            // The error answer that ends a batch.
            _ => flags.push(false),
        }
    }
    flags
}

/// The length of the answer at the start of `out`, with or without its body.
fn answer_len(out: &[u8], head_only: bool) -> usize {
    let mut headers = [httparse::EMPTY_HEADER; 16];
    let mut response = httparse::Response::new(&mut headers);
    let Ok(httparse::Status::Complete(head_len)) = response.parse(out) else {
        panic!("a malformed answer: {:?}", String::from_utf8_lossy(out));
    };
    let body = response
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| std::str::from_utf8(h.value).ok()?.parse::<usize>().ok())
        .expect("every answer has a Content-Length");
    let len = head_len + if head_only { 0 } else { body };
    assert!(len <= out.len(), "an answer shorter than its Content-Length");
    len
}

fuzz_target!(|data: &[u8]| {
    // The first byte splits the input into two reads, as a short read would.
    let Some((&split, data)) = data.split_first() else {
        return;
    };
    let cut = usize::from(split).min(data.len());
    let mut buffered: Vec<u8> = Vec::new();
    let mut out = Vec::new();
    let mut head_only = Vec::new();
    for chunk in [&data[..cut], &data[cut..]] {
        buffered.extend_from_slice(chunk);
        let batch = answer_all(&buffered, MAX_BODY, &mut out);
        assert!(batch.consumed <= buffered.len());
        head_only.extend(heads(&buffered[..batch.consumed], batch.answered));
        buffered.drain(..batch.consumed);
        if batch.close {
            break;
        }
    }
    let mut rest = out.as_slice();
    for head_only in head_only {
        rest = &rest[answer_len(rest, head_only)..];
    }
    assert!(rest.is_empty(), "more answers than requests answered");
});

//! The tokio baseline of `cargo xtask bench`: thread-per-core tokio (a `current_thread`
//! runtime with a `LocalSet` per pinned core, an `SO_REUSEPORT` listener each), answering
//! exactly as `http_server` does.
//!
//! `tokio_http --port 0 --cores 0` prints `listening on ADDR`; stop it with a signal.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn main() {
    ms_benches::baseline::run("tokio_http", serve);
}

fn serve(listener: std::net::TcpListener) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("a tokio runtime");
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async move {
        let listener = tokio::net::TcpListener::from_std(listener).expect("register");
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::task::spawn_local(connection(stream));
        }
    });
}

async fn connection(mut stream: tokio::net::TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut buf = vec![0u8; 16 * 1024];
    let (mut start, mut end) = (0, 0);
    let mut out = Vec::with_capacity(4096);
    loop {
        match stream.read(&mut buf[end..]).await {
            Ok(0) | Err(_) => return,
            Ok(n) => end += n,
        }
        let batch = ms_examples::http::batch::answer_all(&buf[start..end], 1 << 20, &mut out);
        start += batch.consumed;
        if start == end {
            (start, end) = (0, 0);
        } else if batch.wants > buf.len() - start || end == buf.len() {
            buf.copy_within(start..end, 0);
            (start, end) = (0, end - start);
            buf.resize(buf.len().max(batch.wants), 0);
        }
        if !out.is_empty() {
            if stream.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
        }
        if batch.close {
            return;
        }
    }
}

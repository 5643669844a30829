//! The raw epoll baseline of `cargo xtask bench`: one pinned thread per core, libc only, no
//! framework: an `SO_REUSEPORT` listener, every socket registered once, edge-triggered, a
//! short read counts as drained. It answers exactly as `http_server` does.
//!
//! `epoll_http --port 0 --cores 0` prints `listening on ADDR`; stop it with a signal.

use std::net::TcpListener;
use std::os::fd::{AsRawFd, IntoRawFd};

/// The listener's token in epoll's data field; connections use their fd.
const LISTENER: u64 = u64::MAX;
const READ_BUFFER: usize = 16 * 1024;

fn main() {
    ms_benches::baseline::run("epoll_http", serve);
}

/// One connection's buffers: unanswered input `buf[start..end]`, unsent output `out[sent..]`.
struct Conn {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    out: Vec<u8>,
    sent: usize,
    close: bool,
}

fn check(result: libc::c_int, what: &str) -> libc::c_int {
    assert!(result >= 0, "{what}: {}", std::io::Error::last_os_error());
    result
}

fn serve(listener: TcpListener) {
    // SAFETY: epoll_create1 takes no pointers.
    let epoll = check(
        unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) },
        "epoll_create1",
    );
    register(epoll, listener.as_raw_fd(), LISTENER);
    let listener = listener.into_raw_fd();
    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
    loop {
        // SAFETY: `events` has room for the 256 events epoll_wait may write.
        let n = unsafe { libc::epoll_wait(epoll, events.as_mut_ptr(), 256, -1) };
        if n < 0 {
            continue; // EINTR
        }
        for event in &events[..n as usize] {
            let (token, flags) = (event.u64, event.events);
            if token == LISTENER {
                accept_all(epoll, listener, &mut conns);
                continue;
            }
            let fd = token as usize;
            let Some(conn) = conns[fd].as_mut() else {
                continue;
            };
            let alive = if flags & libc::EPOLLIN as u32 != 0 || flags & libc::EPOLLERR as u32 != 0 {
                on_readable(fd as i32, conn)
            } else {
                flush(fd as i32, conn)
            };
            if !alive {
                conns[fd] = None;
                // SAFETY: `fd` is a connection this loop owns; closing also deregisters it.
                unsafe { libc::close(fd as i32) };
            }
        }
    }
}

fn register(epoll: i32, fd: i32, token: u64) {
    let mut event = libc::epoll_event {
        events: (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32,
        u64: token,
    };
    // SAFETY: `event` is a valid epoll_event; `fd` is open.
    check(
        unsafe { libc::epoll_ctl(epoll, libc::EPOLL_CTL_ADD, fd, &mut event) },
        "epoll_ctl",
    );
}

fn accept_all(epoll: i32, listener: i32, conns: &mut Vec<Option<Conn>>) {
    loop {
        // SAFETY: null address pointers are allowed: we do not need the peer's address.
        let fd = unsafe {
            libc::accept4(
                listener,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            )
        };
        if fd < 0 {
            return; // EAGAIN, or out of descriptors: try again at the next edge
        }
        let one: libc::c_int = 1;
        // SAFETY: `one` is a valid c_int option value of the stated size.
        unsafe {
            libc::setsockopt(
                fd,
                libc::IPPROTO_TCP,
                libc::TCP_NODELAY,
                std::ptr::from_ref(&one).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        let index = fd as usize;
        if conns.len() <= index {
            conns.resize_with(index + 1, || None);
        }
        conns[index] = Some(Conn {
            buf: vec![0; READ_BUFFER],
            start: 0,
            end: 0,
            out: Vec::with_capacity(4096),
            sent: 0,
            close: false,
        });
        register(epoll, fd, index as u64);
    }
}

/// Reads until a short read, answering what arrived; returns whether the connection lives.
fn on_readable(fd: i32, conn: &mut Conn) -> bool {
    loop {
        if conn.end == conn.buf.len() {
            conn.buf.copy_within(conn.start..conn.end, 0);
            (conn.start, conn.end) = (0, conn.end - conn.start);
            if conn.end == conn.buf.len() {
                let len = conn.buf.len() * 2;
                conn.buf.resize(len, 0);
            }
        }
        let space = conn.buf.len() - conn.end;
        // SAFETY: the pointer and length describe the writable tail of `conn.buf`.
        let n = unsafe { libc::read(fd, conn.buf[conn.end..].as_mut_ptr().cast(), space) };
        if n == 0 {
            return false;
        }
        if n < 0 {
            return std::io::Error::last_os_error().kind() == std::io::ErrorKind::WouldBlock
                && flush(fd, conn);
        }
        conn.end += n as usize;
        let batch = ms_examples::http::batch::answer_all(
            &conn.buf[conn.start..conn.end],
            1 << 20,
            &mut conn.out,
        );
        conn.start += batch.consumed;
        conn.close |= batch.close;
        if conn.start == conn.end {
            (conn.start, conn.end) = (0, 0);
        } else if batch.wants > conn.buf.len() - conn.start {
            conn.buf.copy_within(conn.start..conn.end, 0);
            (conn.start, conn.end) = (0, conn.end - conn.start);
            conn.buf.resize(batch.wants, 0);
        }
        if !flush(fd, conn) {
            return false;
        }
        if (n as usize) < space {
            return true; // a short read drained the socket
        }
    }
}

/// Writes what is pending; returns whether the connection lives.
fn flush(fd: i32, conn: &mut Conn) -> bool {
    while conn.sent < conn.out.len() {
        let pending = &conn.out[conn.sent..];
        // SAFETY: the pointer and length describe the unsent part of `conn.out`.
        let n = unsafe {
            libc::send(
                fd,
                pending.as_ptr().cast(),
                pending.len(),
                libc::MSG_NOSIGNAL,
            )
        };
        if n < 0 {
            return std::io::Error::last_os_error().kind() == std::io::ErrorKind::WouldBlock;
        }
        conn.sent += n as usize;
    }
    conn.out.clear();
    conn.sent = 0;
    !conn.close
}

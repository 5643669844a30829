//! What the programs share on the command line: CPU lists, the listening address of every
//! shard, and the line that tells a supervisor the server is up.

use std::future::Future;
use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

/// Parses a CPU list such as `0`, `0,2` or `0-3,6`.
///
/// # Errors
///
/// A message naming the part that is not a CPU number or range.
///
/// # Examples
///
/// ```
/// assert_eq!(ms_examples::cli::parse_cpus("0-2,5").unwrap(), vec![0, 1, 2, 5]);
/// assert!(ms_examples::cli::parse_cpus("3-1").is_err());
/// ```
pub fn parse_cpus(list: &str) -> Result<Vec<usize>, String> {
    let mut cpus = Vec::new();
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let number = |s: &str| {
            s.trim()
                .parse::<usize>()
                .map_err(|_| format!("`{part}` is not a CPU number or range"))
        };
        match part.split_once('-') {
            Some((first, last)) => {
                let (first, last) = (number(first)?, number(last)?);
                if first > last {
                    return Err(format!("`{part}`: the range is empty"));
                }
                cpus.extend(first..=last);
            }
            None => cpus.push(number(part)?),
        }
    }
    if cpus.is_empty() {
        return Err("no CPU given".into());
    }
    Ok(cpus)
}

/// A CPU list flag, as [`parse_cpus`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuList(pub Vec<usize>);

impl std::str::FromStr for CpuList {
    type Err = String;

    fn from_str(list: &str) -> Result<CpuList, String> {
        parse_cpus(list).map(CpuList)
    }
}

/// Reserves `addr` for the shards' `SO_REUSEPORT` listeners: a bound, not listening socket
/// with `SO_REUSEPORT`. With port 0 the kernel picks one port, which every shard then binds.
/// Keep the socket until the shards have bound (it takes no connections).
///
/// # Errors
///
/// The socket's or the bind's error (e.g. the port is taken by another user's socket).
pub fn reserve(addr: SocketAddr) -> io::Result<(Socket, SocketAddr)> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.bind(&addr.into())?;
    let bound = socket
        .local_addr()?
        .as_socket()
        .ok_or_else(|| io::Error::other("not an IP socket"))?;
    Ok((socket, bound))
}

/// Counts shards that are ready; the last one prints `listening on ADDR` and flushes, so a
/// supervisor reading standard output knows every shard accepts connections.
#[derive(Debug, Clone)]
pub struct Ready {
    addr: SocketAddr,
    shards: usize,
    ready: Arc<AtomicUsize>,
}

impl Ready {
    /// Announces `addr` once `shards` shards have called [`shard_ready`](Ready::shard_ready).
    pub fn new(addr: SocketAddr, shards: usize) -> Ready {
        Ready {
            addr,
            shards,
            ready: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Records one more ready shard.
    pub fn shard_ready(&self) {
        if self.ready.fetch_add(1, Ordering::AcqRel) + 1 == self.shards {
            let mut out = io::stdout().lock();
            let _ = writeln!(out, "listening on {}", self.addr);
            let _ = out.flush();
        }
    }
}

/// The flags every server program has.
#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// TCP port (0: any free port; the chosen one is printed).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Number of shards (default: one per CPU given by --cores, or per allowed CPU).
    #[arg(long)]
    pub shards: Option<usize>,
    /// CPUs to pin the shards to, e.g. `0` or `0-3,6` (default: the allowed CPUs).
    #[arg(long)]
    pub cores: Option<CpuList>,
    /// How long in-flight requests may finish after SIGINT or SIGTERM, in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    pub grace_ms: u64,
    /// Busy-poll this many microseconds before sleeping (trades idle CPU for latency).
    #[arg(long, default_value_t = 0)]
    pub busy_poll_us: u64,
    /// How long a shard awaiting replies from other shards polls for them before it sleeps,
    /// in microseconds (0: it sleeps at once).
    #[arg(long, default_value_t = ms_engine::DEFAULT_REPLY_POLL.as_micros() as u64)]
    pub reply_poll_us: u64,
}

impl ServerArgs {
    /// The grace period.
    pub fn grace(&self) -> Duration {
        Duration::from_millis(self.grace_ms)
    }

    /// Runs a server: reserves the address, starts the engine with these flags and runs
    /// `serve(addr, ready)` on every shard, where `serve` binds its listener, calls
    /// [`Ready::shard_ready`], and serves until [`ms_engine::stopped`]. A shard whose `serve`
    /// fails stops the engine. Errors are reported on stderr under `name`.
    pub fn run<F, Fut>(&self, name: &'static str, serve: F) -> ExitCode
    where
        F: Fn(SocketAddr, Ready) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = io::Result<()>> + 'static,
    {
        let (_reserved, addr) = match reserve(SocketAddr::new(self.host, self.port)) {
            Ok(reserved) => reserved,
            Err(e) => {
                eprintln!("{name}: cannot listen on {}:{}: {e}", self.host, self.port);
                return ExitCode::FAILURE;
            }
        };
        let mut builder = ms_engine::Engine::builder()
            .busy_poll(Duration::from_micros(self.busy_poll_us))
            .reply_poll(Duration::from_micros(self.reply_poll_us));
        if let Some(CpuList(cores)) = self.cores.clone() {
            builder = builder.cores(cores);
        }
        let shards = self
            .shards
            .or(self.cores.as_ref().map(|c| c.0.len()))
            .unwrap_or_else(|| ms_engine::cpu::allowed_cpus().map_or(1, |c| c.len()));
        let ready = Ready::new(addr, shards);
        let result = builder.shards(shards).run(move || {
            let served = serve(addr, ready.clone());
            async move {
                if let Err(e) = served.await {
                    eprintln!("{name}: shard {}: {e}", ms_engine::shard_id());
                    ms_engine::stop();
                }
            }
        });
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{name}: {e}");
                ExitCode::FAILURE
            }
        }
    }
}

//! The load generator of the `loadgen` program, on the framework itself: every shard opens
//! its share of the connections; each connection sends `depth` requests in one write, reads
//! until all their answers have arrived, and records each answer's latency.
//!
//! A run lasts a duration or a number of requests; with a fixed rate, each connection sends
//! on a schedule and latency counts from the scheduled time, so a slow server cannot hide its
//! queueing delay (no coordinated omission).

mod proto;
mod report;

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use ms_net::TcpStream;

pub use proto::{Frame, Protocol};
pub use report::{Report, new_histogram};

/// How long a run lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Length {
    /// Send for this long after the warm-up.
    Duration(Duration),
    /// Send this many requests in all (the warm-up counts toward none of them).
    Requests(u64),
}

/// A load run's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// The server.
    pub addr: SocketAddr,
    /// What to send.
    pub protocol: Protocol,
    /// Connections in all, spread over the shards.
    pub connections: usize,
    /// Requests per connection in flight at once (pipelining); 1 waits for each answer.
    pub depth: usize,
    /// How long the run lasts.
    pub length: Length,
    /// Requests per second in all; `None` sends as fast as answers come.
    pub rate: Option<f64>,
    /// Load sent before measuring starts.
    pub warmup: Duration,
}

/// Per-shard progress, read by the progress line: answers and errors so far (warm-up
/// included).
#[derive(Debug, Default)]
pub struct Progress {
    /// Answers received.
    pub answers: AtomicU64,
    /// Errors.
    pub errors: AtomicU64,
}

/// One shard's part of a run.
struct Shard {
    config: Config,
    measure_from: Instant,
    stop_at: Option<Instant>,
    /// Requests still to send (requests mode).
    budget: Cell<u64>,
    latency: RefCell<Histogram<u64>>,
    requests: Cell<u64>,
    errors: Cell<u64>,
    progress: Arc<Progress>,
}

impl Shard {
    /// Whether the run is over at `now`: its duration has passed, or (measuring, in requests
    /// mode) every request has been handed out.
    fn is_over(&self, now: Instant) -> bool {
        self.stop_at.is_some_and(|stop| now >= stop)
            || (matches!(self.config.length, Length::Requests(_))
                && now >= self.measure_from
                && self.budget.get() == 0)
    }

    /// Takes the next batch for a connection: how many requests it may send (0: the run is
    /// over).
    fn next_batch(&self, now: Instant) -> usize {
        if self.stop_at.is_some_and(|stop| now >= stop) {
            return 0;
        }
        if matches!(self.config.length, Length::Requests(_)) && now >= self.measure_from {
            let batch = self.budget.get().min(self.config.depth as u64);
            self.budget.set(self.budget.get() - batch);
            return batch as usize;
        }
        self.config.depth
    }

    fn error(&self, measured: bool) {
        self.progress.errors.fetch_add(1, Ordering::Relaxed);
        if measured {
            self.errors.set(self.errors.get() + 1);
        }
    }
}

/// Runs this shard's part: `connections` connections of `config`, `share` of the requests
/// (requests mode). Returns its report (elapsed unset) once every connection is done.
pub async fn run_shard(
    config: Config,
    connections: usize,
    share: u64,
    start: Instant,
    progress: Arc<Progress>,
) -> Report {
    let measure_from = start + config.warmup;
    let stop_at = match config.length {
        Length::Duration(d) => Some(measure_from + d),
        Length::Requests(_) => None,
    };
    let shard = Rc::new(Shard {
        config,
        measure_from,
        stop_at,
        budget: Cell::new(share),
        latency: RefCell::new(new_histogram()),
        requests: Cell::new(0),
        errors: Cell::new(0),
        progress,
    });
    let tasks: Vec<_> = (0..connections)
        .map(|i| ms_reactor::spawn(connection(Rc::clone(&shard), i, connections)))
        .collect();
    for task in tasks {
        let _ = task.await;
    }
    let latency = shard.latency.borrow().clone();
    Report {
        requests: shard.requests.get(),
        answers_total: shard.progress.answers.load(Ordering::Relaxed),
        errors: shard.errors.get(),
        elapsed: Duration::ZERO,
        latency,
    }
}

/// One connection's loop: connect (again after the server closes), send a batch, read its
/// answers, until the run ends.
async fn connection(shard: Rc<Shard>, index: usize, connections: usize) {
    let config = &shard.config;
    let request = config.protocol.request();
    let batch_bytes: Vec<u8> = request.repeat(config.depth);
    // At a fixed rate, this connection's share of the shard's requests, evenly spaced and
    // staggered across connections.
    let period = config.rate.map(|rate| {
        let per_connection = rate / (connections as f64 * shard_count() as f64);
        Duration::from_secs_f64(config.depth as f64 / per_connection.max(1e-9))
    });
    let mut scheduled = Instant::now()
        + period.map_or(Duration::ZERO, |p| {
            p.mul_f64(index as f64 / connections as f64)
        });
    let mut buf = vec![0u8; 64 * 1024];
    'connect: loop {
        let Ok(stream) = TcpStream::connect(config.addr).await else {
            let now = Instant::now();
            shard.error(now >= shard.measure_from);
            if shard.is_over(now) {
                return;
            }
            ms_reactor::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let (mut start, mut end) = (0usize, 0usize);
        loop {
            // At a fixed rate, a batch counts from its scheduled time even if it leaves late.
            let sent_at = match period {
                Some(period) => {
                    let at = scheduled;
                    scheduled += period;
                    if at > Instant::now() {
                        ms_reactor::sleep_until(at).await;
                    }
                    at
                }
                None => Instant::now(),
            };
            let batch = shard.next_batch(sent_at.max(Instant::now()));
            if batch == 0 {
                return;
            }
            let bytes = &batch_bytes[..request.len() * batch];
            if stream.write_all(bytes).await.is_err() {
                shard.error(sent_at >= shard.measure_from);
                continue 'connect;
            }
            let mut answered = 0;
            while answered < batch {
                if end == buf.len() {
                    if start == 0 {
                        buf.resize(buf.len() * 2, 0);
                    } else {
                        buf.copy_within(start..end, 0);
                        (start, end) = (0, end - start);
                    }
                }
                let n = match stream.read(&mut buf[end..]).await {
                    Ok(0) | Err(_) => {
                        shard.error(sent_at >= shard.measure_from);
                        continue 'connect;
                    }
                    Ok(n) => n,
                };
                end += n;
                let now = Instant::now();
                let measured = sent_at >= shard.measure_from;
                let latency = now.saturating_duration_since(sent_at).as_nanos() as u64;
                let mut framed = 0u64;
                loop {
                    match config.protocol.frame(&buf[start..end]) {
                        Frame::Complete { len, error } => {
                            start += len;
                            framed += 1;
                            if error {
                                shard.error(measured);
                            }
                        }
                        Frame::Partial => break,
                        Frame::Invalid => {
                            shard.error(measured);
                            continue 'connect;
                        }
                    }
                }
                if start == end {
                    (start, end) = (0, 0);
                }
                answered += framed as usize;
                shard.progress.answers.fetch_add(framed, Ordering::Relaxed);
                if measured && framed > 0 {
                    shard.requests.set(shard.requests.get() + framed);
                    let _ = shard.latency.borrow_mut().record_n(latency.max(1), framed);
                }
            }
        }
    }
}

fn shard_count() -> usize {
    if ms_engine::try_shard_id().is_some() {
        ms_engine::shard_count()
    } else {
        1
    }
}

/// Runs `config` on `shards` shards pinned to `cores` (unpinned if `None`), calling
/// `progress_line` once a second with the answers and errors of the last second, and returns
/// the merged report.
///
/// # Errors
///
/// The engine's error (e.g. a CPU that cannot be pinned).
pub fn run(
    config: Config,
    shards: usize,
    cores: Option<Vec<usize>>,
    mut progress_line: impl FnMut(Duration, u64, u64) + Send + 'static,
) -> Result<Report, ms_engine::EngineError> {
    let shards = shards.max(1);
    let progress: Vec<Arc<Progress>> = (0..shards).map(|_| Arc::default()).collect();
    let reports = Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let printer = {
        let (progress, done) = (progress.clone(), Arc::clone(&done));
        std::thread::spawn(move || {
            let mut last = (0, 0);
            let mut tick = 1;
            while !done.load(Ordering::Acquire) {
                let next = start + Duration::from_secs(tick);
                while !done.load(Ordering::Acquire) && Instant::now() < next {
                    std::thread::park_timeout(next.saturating_duration_since(Instant::now()));
                }
                if done.load(Ordering::Acquire) {
                    break;
                }
                let total = progress.iter().fold((0, 0), |(a, e), p| {
                    (
                        a + p.answers.load(Ordering::Relaxed),
                        e + p.errors.load(Ordering::Relaxed),
                    )
                });
                progress_line(
                    Duration::from_secs(tick),
                    total.0 - last.0,
                    total.1 - last.1,
                );
                last = total;
                tick += 1;
            }
        })
    };
    let mut builder = ms_engine::Engine::builder().shards(shards).ignore_signals();
    match cores {
        Some(cores) => builder = builder.cores(cores),
        None => builder = builder.pin(false),
    }
    let total_requests = match config.length {
        Length::Requests(n) => n,
        Length::Duration(_) => 0,
    };
    let result = {
        let (reports, config) = (Arc::clone(&reports), config.clone());
        let progress = progress.clone();
        builder.run(move || {
            let id = ms_engine::shard_id();
            let connections =
                config.connections / shards + usize::from(id < config.connections % shards);
            let share = total_requests / shards as u64
                + u64::from((id as u64) < total_requests % shards as u64);
            let run = run_shard(
                config.clone(),
                connections,
                share,
                start,
                Arc::clone(&progress[id]),
            );
            let reports = Arc::clone(&reports);
            async move {
                let report = run.await;
                reports
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(report);
            }
        })
    };
    let elapsed = start.elapsed().saturating_sub(config.warmup);
    done.store(true, Ordering::Release);
    printer.thread().unpark();
    let _ = printer.join();
    result?;
    let mut merged = Report {
        requests: 0,
        answers_total: 0,
        errors: 0,
        elapsed,
        latency: new_histogram(),
    };
    for report in reports.lock().unwrap_or_else(|p| p.into_inner()).iter() {
        merged.requests += report.requests;
        merged.answers_total += report.answers_total;
        merged.errors += report.errors;
        let _ = merged.latency.add(&report.latency);
    }
    Ok(merged)
}

//! The outcome of a load run: counts, rate and latency percentiles, as text or JSON.

use std::fmt::Write;
use std::time::Duration;

use hdrhistogram::Histogram;

/// A histogram of latencies in nanoseconds, from 1 ns to 100 s, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 100_000_000_000, 3).expect("valid histogram bounds")
}

/// What a load run measured (after its warm-up).
#[derive(Debug, Clone)]
pub struct Report {
    /// Answers received while measuring.
    pub requests: u64,
    /// Answers received in all, warm-up included (to divide a server's CPU time by).
    pub answers_total: u64,
    /// Of those, error answers (non-2xx, `-ERR`), plus failed connections and broken ones.
    pub errors: u64,
    /// The measured time.
    pub elapsed: Duration,
    /// Latency of every answer, from its request's send time (or, at a fixed rate, its
    /// scheduled time), in nanoseconds.
    pub latency: Histogram<u64>,
}

impl Report {
    /// Answers per second.
    pub fn rate(&self) -> f64 {
        let seconds = self.elapsed.as_secs_f64();
        if seconds > 0.0 {
            self.requests as f64 / seconds
        } else {
            0.0
        }
    }

    /// The latency at quantile `q` (0.5 is the median), in microseconds.
    pub fn latency_us(&self, q: f64) -> f64 {
        self.latency.value_at_quantile(q) as f64 / 1000.0
    }

    /// A human-readable summary.
    pub fn text(&self) -> String {
        let mut text = String::new();
        let _ = writeln!(
            text,
            "{} requests in {:.2} s: {:.0} req/s, {} errors",
            self.requests,
            self.elapsed.as_secs_f64(),
            self.rate(),
            self.errors
        );
        let _ = write!(
            text,
            "latency us: p50 {:.1}  p90 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1}",
            self.latency_us(0.5),
            self.latency_us(0.9),
            self.latency_us(0.99),
            self.latency_us(0.999),
            self.latency.max() as f64 / 1000.0
        );
        text
    }

    /// One JSON object, for programs (`cargo xtask bench` reads it).
    ///
    /// # Examples
    ///
    /// ```
    /// use ms_examples::loadgen::{new_histogram, Report};
    ///
    /// let mut latency = new_histogram();
    /// latency.record(2_000).unwrap();
    /// let report = Report { requests: 10, answers_total: 12, errors: 0, elapsed: std::time::Duration::from_secs(2), latency };
    /// let json = report.json();
    /// assert!(json.starts_with("{\"requests\":10,\"answers_total\":12,\"errors\":0,"));
    /// assert!(json.contains("\"rps\":5.0,"));
    /// ```
    pub fn json(&self) -> String {
        format!(
            "{{\"requests\":{},\"answers_total\":{},\"errors\":{},\"seconds\":{:.3},\"rps\":{:.1},\"p50_us\":{:.1},\"p90_us\":{:.1},\"p99_us\":{:.1},\"p999_us\":{:.1},\"max_us\":{:.1}}}",
            self.requests,
            self.answers_total,
            self.errors,
            self.elapsed.as_secs_f64(),
            self.rate(),
            self.latency_us(0.5),
            self.latency_us(0.9),
            self.latency_us(0.99),
            self.latency_us(0.999),
            self.latency.max() as f64 / 1000.0
        )
    }
}

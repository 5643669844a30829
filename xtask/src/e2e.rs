//! `cargo xtask bench` (the main job): `http_server` against a thread-per-core tokio server
//! and a raw epoll loop, each pinned to one core and loaded from the other by `loadgen`.
//!
//! The servers run side by side for the whole job (an idle one sleeps in `epoll_wait`); each
//! row's rounds load them in turn (A B C A B C ...), and the table shows medians over rounds.
//! A row's server CPU time per request comes from `/proc/PID/stat` (user + system) around each
//! run, divided by every answer of the run. With `wrk` installed, one row is cross-checked:
//! `wrk` and `loadgen` against the raw epoll server, to show the load generator is not the
//! bottleneck. Results land in `target/xtask-bench/e2e.json` and `e2e.svg`.

use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use crate::cmd;

/// A server under test: its label and its command line (the CPU is appended).
struct Server {
    label: &'static str,
    binary: &'static str,
    args: &'static [&'static str],
}

const SERVERS: [Server; 3] = [
    Server {
        label: "mini-seastar",
        binary: "http_server",
        args: &["--port", "0", "--shards", "1"],
    },
    Server {
        label: "tokio",
        binary: "tokio_http",
        args: &["--port", "0"],
    },
    Server {
        label: "raw epoll",
        binary: "epoll_http",
        args: &["--port", "0"],
    },
];

/// One load shape: connections and pipeline depth.
#[derive(Clone, Copy)]
struct Shape {
    connections: usize,
    depth: usize,
}

const SHAPES: [Shape; 3] = [
    Shape {
        connections: 64,
        depth: 1,
    },
    Shape {
        connections: 512,
        depth: 1,
    },
    Shape {
        connections: 64,
        depth: 16,
    },
];

/// One run's measurements.
#[derive(Clone, Copy, Default)]
struct Run {
    rps: f64,
    p50_us: f64,
    p99_us: f64,
    cpu_us_per_request: f64,
}

/// The USER_HZ of `/proc/PID/stat` times (100 on every Linux architecture Rust targets).
const CLOCK_TICKS_PER_SECOND: f64 = 100.0;

/// `bench [--quick]`: build, run, print and save.
pub(crate) fn run(quick: bool) -> Result<(), String> {
    let started = Instant::now();
    let (rounds, seconds, warmup) = if quick { (2, 2.0, 0.5) } else { (5, 5.0, 1.0) };
    eprintln!("xtask: building the servers and the load generator (profile perf)");
    let bin = cmd::build_perf(&["-p", "ms-examples", "-p", "ms-benches", "--bins"])?;
    let (server_cpu, load_cpu) = server_and_load_cpus("the end-to-end benchmark")?;
    eprintln!(
        "xtask: servers pinned to CPU {server_cpu}, loadgen to CPU {load_cpu}; {rounds} rounds \
         of {seconds} s (+{warmup} s warm-up) per server and row"
    );
    let mut servers = Vec::new();
    for server in &SERVERS {
        servers.push(Running::start(&bin, server, server_cpu)?);
    }
    // results[shape][server] = runs
    let mut results = vec![vec![Vec::<Run>::new(); SERVERS.len()]; SHAPES.len()];
    let total = SHAPES.len() * rounds * SERVERS.len();
    let mut done = 0;
    for (s, shape) in SHAPES.iter().enumerate() {
        for round in 0..rounds {
            for (i, server) in servers.iter_mut().enumerate() {
                let run = server.load(&bin, *shape, seconds, warmup, load_cpu)?;
                done += 1;
                eprintln!(
                    "xtask: [{done:>2}/{total}] {} conns x{} round {}: {:<12} {:>9.0} req/s  p99 {:>7.1} us  {:.2} us CPU/req",
                    shape.connections,
                    shape.depth,
                    round + 1,
                    server.label,
                    run.rps,
                    run.p99_us,
                    run.cpu_us_per_request
                );
                results[s][i].push(run);
            }
        }
    }
    let cross_check = match find_program("wrk") {
        Some(wrk) => Some(cross_check(&wrk, &bin, &servers, seconds, load_cpu)?),
        None => {
            eprintln!("xtask: wrk is not installed: no cross-check");
            None
        }
    };
    for server in &mut servers {
        server.stop();
    }
    let medians: Vec<Vec<Run>> = results
        .iter()
        .map(|row| row.iter().map(|runs| median_run(runs)).collect())
        .collect();
    let table = render(&medians, rounds, seconds, cross_check);
    print!("{table}");
    let out = cmd::root().join("target/xtask-bench");
    fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    fs::write(out.join("e2e.json"), json(&results, &medians, cross_check))
        .map_err(|e| e.to_string())?;
    fs::write(out.join("e2e.svg"), svg(&medians)).map_err(|e| e.to_string())?;
    fs::write(out.join("e2e.txt"), &table).map_err(|e| e.to_string())?;
    eprintln!(
        "xtask: wrote {0}/e2e.json, {0}/e2e.svg and {0}/e2e.txt in {1:.0} s",
        out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A server process and where it listens.
struct Running {
    label: &'static str,
    child: Child,
    addr: String,
}

impl Running {
    fn start(bin: &Path, server: &Server, cpu: usize) -> Result<Running, String> {
        let mut command = Command::new(bin.join(server.binary));
        command
            .args(server.args)
            .args(["--cores", &cpu.to_string()]);
        let (child, addr) = spawn_listening(command, server.binary)?;
        Ok(Running {
            label: server.label,
            addr,
            child,
        })
    }

    fn cpu_seconds(&self) -> Result<f64, String> {
        cpu_seconds(self.child.id())
    }

    fn load(
        &mut self,
        bin: &Path,
        shape: Shape,
        seconds: f64,
        warmup: f64,
        cpu: usize,
    ) -> Result<Run, String> {
        let before = self.cpu_seconds()?;
        let output = Command::new(bin.join("loadgen"))
            .args(["--addr", &self.addr, "--json", "--quiet"])
            .args(["--connections", &shape.connections.to_string()])
            .args(["--depth", &shape.depth.to_string()])
            .args(["--duration-secs", &seconds.to_string()])
            .args(["--warmup-secs", &warmup.to_string()])
            .args(["--cores", &cpu.to_string()])
            .output()
            .map_err(|e| format!("cannot run loadgen: {e}"))?;
        let cpu_used = self.cpu_seconds()? - before;
        let text = String::from_utf8_lossy(&output.stdout);
        let field = |key: &str| {
            crate::bench::number_field(&text, key)
                .ok_or_else(|| format!("loadgen against {} said {text:?}", self.label))
        };
        if field("errors")? > 0.0 {
            return Err(format!("{} answered with errors: {text}", self.label));
        }
        Ok(Run {
            rps: field("rps")?,
            p50_us: field("p50_us")?,
            p99_us: field("p99_us")?,
            cpu_us_per_request: cpu_used * 1e6 / field("answers_total")?.max(1.0),
        })
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `wrk` and `loadgen` against raw epoll and against mini-seastar, 64 connections, one run
/// each: (wrk on epoll, loadgen on epoll, wrk on mini-seastar) in requests per second.
fn cross_check(
    wrk: &Path,
    bin: &Path,
    servers: &[Running],
    seconds: f64,
    cpu: usize,
) -> Result<(f64, f64, f64), String> {
    let epoll = servers
        .iter()
        .find(|s| s.label == "raw epoll")
        .expect("the raw epoll server runs");
    let ours = &servers[0];
    let wrk_rps = |server: &Running| -> Result<f64, String> {
        let output = Command::new("taskset")
            .args(["-c", &cpu.to_string()])
            .arg(wrk)
            .args(["-t1", "-c64", &format!("-d{}s", seconds.ceil() as u64)])
            .arg(format!("http://{}/", server.addr))
            .output()
            .map_err(|e| format!("cannot run wrk: {e}"))?;
        let text = String::from_utf8_lossy(&output.stdout);
        text.lines()
            .find_map(|l| l.strip_prefix("Requests/sec:"))
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| format!("wrk said {text:?}"))
    };
    eprintln!("xtask: cross-check with wrk (64 connections)");
    let wrk_epoll = wrk_rps(epoll)?;
    let loadgen_epoll = loadgen_rate(bin, &epoll.addr, seconds, cpu)?;
    let wrk_ours = wrk_rps(ours)?;
    Ok((wrk_epoll, loadgen_epoll, wrk_ours))
}

fn loadgen_rate(bin: &Path, addr: &str, seconds: f64, cpu: usize) -> Result<f64, String> {
    let output = Command::new(bin.join("loadgen"))
        .args(["--addr", addr, "--json", "--quiet", "--connections", "64"])
        .args(["--duration-secs", &seconds.ceil().to_string()])
        .args(["--cores", &cpu.to_string()])
        .output()
        .map_err(|e| format!("cannot run loadgen: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    crate::bench::number_field(&text, "rps").ok_or_else(|| format!("loadgen said {text:?}"))
}

/// Process `pid`'s user + system CPU time so far, in seconds, from `/proc/PID/stat`.
pub(crate) fn cpu_seconds(pid: u32) -> Result<f64, String> {
    let path = format!("/proc/{pid}/stat");
    let stat = fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    // Fields after the `(comm)`, which may hold spaces: state is field 3, utime 14, stime 15.
    let after = &stat[stat.rfind(')').ok_or("bad stat")? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| -> Result<f64, String> {
        fields
            .get(i - 3)
            .and_then(|f| f.parse::<f64>().ok())
            .ok_or_else(|| format!("{path}: no field {i}"))
    };
    Ok((ticks(14)? + ticks(15)?) / CLOCK_TICKS_PER_SECOND)
}

pub(crate) fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => 0.0,
        _ if n % 2 == 1 => values[n / 2],
        _ => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

fn median_run(runs: &[Run]) -> Run {
    let of = |f: fn(&Run) -> f64| median(runs.iter().map(f).collect());
    Run {
        rps: of(|r| r.rps),
        p50_us: of(|r| r.p50_us),
        p99_us: of(|r| r.p99_us),
        cpu_us_per_request: of(|r| r.cpu_us_per_request),
    }
}

fn shape_name(shape: Shape) -> String {
    if shape.depth == 1 {
        format!("{} conns", shape.connections)
    } else {
        format!("{} conns, pipelined x{}", shape.connections, shape.depth)
    }
}

fn render(
    medians: &[Vec<Run>],
    rounds: usize,
    seconds: f64,
    cross_check: Option<(f64, f64, f64)>,
) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "\nHTTP plaintext, server on one core, loadgen on the other; medians of {rounds} \
         alternating rounds of {seconds} s.\nRatios: mini-seastar's req/s over the other's \
         (above 1: faster), and its CPU per request over the other's (below 1: cheaper).\n"
    );
    let _ = writeln!(
        t,
        "| load | server | req/s | p50 us | p99 us | CPU us/req | ms/tokio req/s | ms/epoll req/s | ms/tokio CPU | ms/epoll CPU |"
    );
    let _ = writeln!(t, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (shape, row) in SHAPES.iter().zip(medians) {
        let ours = row[0];
        for (server, run) in SERVERS.iter().zip(row) {
            let ratios = if server.label == "mini-seastar" {
                let (tokio, epoll) = (row[1], row[2]);
                format!(
                    "{:.2} | {:.2} | {:.2} | {:.2}",
                    ours.rps / tokio.rps,
                    ours.rps / epoll.rps,
                    ours.cpu_us_per_request / tokio.cpu_us_per_request,
                    ours.cpu_us_per_request / epoll.cpu_us_per_request
                )
            } else {
                " | | | ".to_owned()
            };
            let _ = writeln!(
                t,
                "| {} | {} | {:.0} | {:.1} | {:.1} | {:.2} | {ratios} |",
                shape_name(*shape),
                server.label,
                run.rps,
                run.p50_us,
                run.p99_us,
                run.cpu_us_per_request
            );
        }
    }
    if let Some((wrk_epoll, loadgen_epoll, wrk_ours)) = cross_check {
        let _ = writeln!(
            t,
            "\nCross-check, 64 connections, one run each: wrk on raw epoll {wrk_epoll:.0} req/s, \
             loadgen on raw epoll {loadgen_epoll:.0} req/s (loadgen/wrk {:.2}); wrk on \
             mini-seastar {wrk_ours:.0} req/s.",
            loadgen_epoll / wrk_epoll
        );
    }
    t
}

fn json(results: &[Vec<Vec<Run>>], medians: &[Vec<Run>], cross: Option<(f64, f64, f64)>) -> String {
    let run_json = |r: &Run| {
        format!(
            "{{\"rps\":{:.1},\"p50_us\":{:.1},\"p99_us\":{:.1},\"cpu_us_per_request\":{:.3}}}",
            r.rps, r.p50_us, r.p99_us, r.cpu_us_per_request
        )
    };
    let mut rows = Vec::new();
    for (s, shape) in SHAPES.iter().enumerate() {
        let mut servers = Vec::new();
        for (i, server) in SERVERS.iter().enumerate() {
            let runs: Vec<String> = results[s][i].iter().map(run_json).collect();
            servers.push(format!(
                "{{\"server\":\"{}\",\"median\":{},\"runs\":[{}]}}",
                server.label,
                run_json(&medians[s][i]),
                runs.join(",")
            ));
        }
        rows.push(format!(
            "{{\"connections\":{},\"depth\":{},\"servers\":[{}]}}",
            shape.connections,
            shape.depth,
            servers.join(",")
        ));
    }
    let cross = cross.map_or("null".to_owned(), |(a, b, c)| {
        format!("{{\"wrk_epoll_rps\":{a:.1},\"loadgen_epoll_rps\":{b:.1},\"wrk_ms_rps\":{c:.1}}}")
    });
    format!(
        "{{\"rows\":[{}],\"wrk_cross_check\":{cross}}}\n",
        rows.join(",")
    )
}

/// A grouped bar chart of requests per second: one group per load shape, one bar per server,
/// each group scaled to its own maximum (pipelined rates are ten times the others).
fn svg(medians: &[Vec<Run>]) -> String {
    const COLORS: [&str; 3] = ["#d9480f", "#1c7ed6", "#5c940d"];
    let (width, height, group_w, bar_w, top, plot_h) = (760, 360, 240.0, 56.0, 50.0, 220.0);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" \
         fill=\"white\"/>\n<text x=\"20\" y=\"24\" font-size=\"15\">HTTP plaintext, one server \
         core: requests/s (median)</text>\n"
    );
    for (g, (shape, row)) in SHAPES.iter().zip(medians).enumerate() {
        let max = row.iter().map(|r| r.rps).fold(1.0, f64::max);
        let x0 = 30.0 + g as f64 * group_w;
        for (i, run) in row.iter().enumerate() {
            let h = plot_h * run.rps / max;
            let x = x0 + i as f64 * (bar_w + 10.0);
            let y = top + plot_h - h;
            let _ = writeln!(
                s,
                "<rect x=\"{x:.0}\" y=\"{y:.0}\" width=\"{bar_w}\" height=\"{h:.0}\" fill=\"{}\"/>\
                 <text x=\"{:.0}\" y=\"{:.0}\" text-anchor=\"middle\">{:.0}k</text>",
                COLORS[i],
                x + bar_w / 2.0,
                y - 4.0,
                run.rps / 1000.0
            );
        }
        let _ = writeln!(
            s,
            "<text x=\"{:.0}\" y=\"{:.0}\" text-anchor=\"middle\">{}</text>",
            x0 + 1.5 * (bar_w + 10.0) - 5.0,
            top + plot_h + 20.0,
            shape_name(*shape)
        );
    }
    for (i, server) in SERVERS.iter().enumerate() {
        let x = 30 + i * 150;
        let _ = writeln!(
            s,
            "<rect x=\"{x}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{}\"/><text x=\"{}\" \
             y=\"{}\">{}</text>",
            height - 40,
            COLORS[i],
            x + 18,
            height - 30,
            server.label
        );
    }
    s.push_str("</svg>\n");
    s
}

/// The two CPUs a benchmark pins to: the first two allowed ones, for the server and for the
/// load; `what` names the benchmark in the error.
pub(crate) fn server_and_load_cpus(what: &str) -> Result<(usize, usize), String> {
    match allowed_cpus()?.as_slice() {
        [server, load, ..] => Ok((*server, *load)),
        _ => Err(format!("{what} needs two CPUs (server and load)")),
    }
}

/// Starts a server program and waits for its first line, `listening on ADDR`: the child and
/// ADDR. A server that says anything else is killed.
pub(crate) fn spawn_listening(mut command: Command, name: &str) -> Result<(Child, String), String> {
    let mut child = command
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {name}: {e}"))?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped stdout"))
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    match line.trim().strip_prefix("listening on ") {
        Some(addr) => Ok((child, addr.to_owned())),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            Err(format!("{name} did not start (said {line:?})"))
        }
    }
}

/// The CPUs this process may run on, from `/proc/self/status`.
fn allowed_cpus() -> Result<Vec<usize>, String> {
    let status = fs::read_to_string("/proc/self/status").map_err(|e| e.to_string())?;
    let list = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .ok_or("no Cpus_allowed_list in /proc/self/status")?;
    let mut cpus = Vec::new();
    for part in list.trim().split(',') {
        let bounds: Vec<usize> = part.split('-').filter_map(|n| n.parse().ok()).collect();
        match bounds.as_slice() {
            [one] => cpus.push(*one),
            [first, last] => cpus.extend(*first..=*last),
            _ => return Err(format!("bad CPU list {list:?}")),
        }
    }
    Ok(cpus)
}

/// `name` on the `PATH`, if installed.
pub(crate) fn find_program(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.is_file())
}

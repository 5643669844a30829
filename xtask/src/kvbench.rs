//! `cargo xtask bench kv`: the `kv` example against `redis-server`, each pinned to one core,
//! loaded by `redis-benchmark` from the other, alternating rounds; then a 2-shard `kv` run
//! with its share of cross-shard commands.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::cmd;
use crate::e2e::{cpu_seconds, find_program, median, server_and_load_cpus, spawn_listening};

const COMMANDS: [&str; 3] = ["SET", "GET", "INCR"];
const SERVERS: [&str; 2] = ["kv", "redis-server"];

/// A server under load and its address.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    /// The kv server in `bin`, `shards` shards on `cpus`.
    fn kv(bin: &Path, cpus: &str, shards: usize) -> Result<Server, String> {
        let mut command = Command::new(bin.join("kv"));
        command.args([
            "--port",
            "0",
            "--shards",
            &shards.to_string(),
            "--cores",
            cpus,
        ]);
        let (child, addr) = spawn_listening(command, "kv")?;
        let port = addr
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| format!("kv listens on {addr:?}"))?;
        Ok(Server { child, port })
    }

    fn redis(cpu: usize) -> Result<Server, String> {
        let port = free_port()?;
        let child = Command::new("taskset")
            .args([
                "-c",
                &cpu.to_string(),
                "redis-server",
                "--port",
                &port.to_string(),
            ])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start redis-server: {e}"))?;
        for _ in 0..500 {
            let ping = Command::new("redis-cli")
                .args(["-p", &port.to_string(), "PING"])
                .output()
                .map_err(|e| e.to_string())?;
            if ping.stdout.starts_with(b"PONG") {
                return Ok(Server { child, port });
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        Err("redis-server did not answer PING".into())
    }

    /// Runs redis-benchmark pinned to `cpu`: (requests per second by command, server CPU
    /// seconds per operation).
    fn load(&self, cpu: usize, requests: u64, pipeline: usize) -> Result<(Vec<f64>, f64), String> {
        let before = cpu_seconds(self.child.id())?;
        let output = Command::new("taskset")
            .args([
                "-c",
                &cpu.to_string(),
                "redis-benchmark",
                "-p",
                &self.port.to_string(),
            ])
            .args(["-t", "set,get,incr", "-c", "50", "-r", "100000", "--csv"])
            .args(["-n", &requests.to_string(), "-P", &pipeline.to_string()])
            .output()
            .map_err(|e| format!("cannot run redis-benchmark: {e}"))?;
        let cpu_used = cpu_seconds(self.child.id())? - before;
        let csv = String::from_utf8_lossy(&output.stdout);
        let mut rates = Vec::new();
        for command in COMMANDS {
            let line = csv
                .lines()
                .find(|l| l.starts_with(&format!("\"{command}\"")))
                .ok_or_else(|| format!("redis-benchmark said {csv:?}"))?;
            let rate: f64 = line
                .split(',')
                .nth(1)
                .and_then(|v| v.trim_matches('"').parse().ok())
                .ok_or_else(|| format!("bad line {line:?}"))?;
            rates.push(rate);
        }
        let operations = requests as f64 * COMMANDS.len() as f64;
        Ok((rates, cpu_used * 1e6 / operations))
    }

    fn info(&self) -> String {
        Command::new("redis-cli")
            .args(["-p", &self.port.to_string(), "INFO"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

/// `bench kv [--quick]`.
pub(crate) fn run(quick: bool) -> Result<(), String> {
    for program in ["redis-server", "redis-benchmark", "redis-cli", "taskset"] {
        if find_program(program).is_none() {
            return Err(format!(
                "{program} is not installed (apt-get install redis-server redis-tools util-linux)"
            ));
        }
    }
    let bin = cmd::build_perf(&["-p", "ms-examples", "--bin", "kv"])?;
    let (server_cpu, load_cpu) = server_and_load_cpus("the kv benchmark")?;
    let (rounds, requests) = if quick { (2, 100_000) } else { (5, 400_000) };
    // results[pipelined][server] = rounds of (rates, cpu per op)
    let mut results = vec![vec![Vec::new(); SERVERS.len()]; 2];
    for (p, pipeline) in [1, 16].into_iter().enumerate() {
        let requests = requests * if pipeline > 1 { 5 } else { 1 };
        for round in 0..rounds {
            for (s, name) in SERVERS.iter().enumerate() {
                let server = if s == 0 {
                    Server::kv(&bin, &server_cpu.to_string(), 1)?
                } else {
                    Server::redis(server_cpu)?
                };
                let (rates, cpu) = server.load(load_cpu, requests, pipeline)?;
                eprintln!(
                    "xtask: -P {pipeline:<2} round {}: {name:<12} SET {:>9.0} GET {:>9.0} INCR {:>9.0} ops/s, {cpu:.2} us CPU/op",
                    round + 1,
                    rates[0],
                    rates[1],
                    rates[2]
                );
                results[p][s].push((rates, cpu));
            }
        }
    }
    // A 2-shard kv, both cores (load shares them): the cross-shard share.
    let two = Server::kv(&bin, &format!("{server_cpu},{load_cpu}"), 2)?;
    let (two_rates, _) = two.load(load_cpu, requests, 1)?;
    let info = two.info();
    let field = |key: &str| -> f64 {
        info.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0)
    };
    let cross_share = field("cross_shard_commands:") / field("total_commands_processed:").max(1.0);
    drop(two);

    let mut t = String::new();
    let _ = writeln!(
        t,
        "\nkv (1 shard) and redis-server pinned to one core, redis-benchmark (50 connections, \
         100k random keys) on the other; medians of {rounds} alternating rounds.\n"
    );
    let _ = writeln!(
        t,
        "| pipeline | server | SET ops/s | GET ops/s | INCR ops/s | CPU us/op | kv/redis ops/s (SET, GET, INCR) | kv/redis CPU |"
    );
    let _ = writeln!(t, "|---|---|---:|---:|---:|---:|---:|---:|");
    let mut json_rows = Vec::new();
    for (p, pipeline) in [1, 16].into_iter().enumerate() {
        let medians: Vec<(Vec<f64>, f64)> = results[p]
            .iter()
            .map(|runs: &Vec<(Vec<f64>, f64)>| {
                let rates = (0..COMMANDS.len())
                    .map(|c| median(runs.iter().map(|r| r.0[c]).collect()))
                    .collect();
                (rates, median(runs.iter().map(|r| r.1).collect()))
            })
            .collect();
        for (s, name) in SERVERS.iter().enumerate() {
            let (rates, cpu) = &medians[s];
            let ratios = if s == 0 {
                let (redis_rates, redis_cpu) = &medians[1];
                format!(
                    "{:.2}, {:.2}, {:.2} | {:.2}",
                    rates[0] / redis_rates[0],
                    rates[1] / redis_rates[1],
                    rates[2] / redis_rates[2],
                    cpu / redis_cpu
                )
            } else {
                " | ".to_owned()
            };
            let _ = writeln!(
                t,
                "| {pipeline} | {name} | {:.0} | {:.0} | {:.0} | {cpu:.2} | {ratios} |",
                rates[0], rates[1], rates[2]
            );
            json_rows.push(format!(
                "{{\"pipeline\":{pipeline},\"server\":\"{name}\",\"set\":{:.1},\"get\":{:.1},\"incr\":{:.1},\"cpu_us_per_op\":{cpu:.3}}}",
                rates[0], rates[1], rates[2]
            ));
        }
    }
    let _ = writeln!(
        t,
        "\nkv with 2 shards (one per core, sharing the load generator's core): SET {:.0}, GET \
         {:.0}, INCR {:.0} ops/s; {:.0}% of commands crossed shards.",
        two_rates[0],
        two_rates[1],
        two_rates[2],
        cross_share * 100.0
    );
    print!("{t}");
    let out = cmd::root().join("target/xtask-bench");
    fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    fs::write(
        out.join("kv.json"),
        format!(
            "{{\"rows\":[{}],\"two_shards\":{{\"set\":{:.1},\"get\":{:.1},\"incr\":{:.1},\"cross_shard_share\":{cross_share:.3}}}}}\n",
            json_rows.join(","),
            two_rates[0],
            two_rates[1],
            two_rates[2]
        ),
    )
    .map_err(|e| e.to_string())?;
    fs::write(out.join("kv.txt"), &t).map_err(|e| e.to_string())?;
    Ok(())
}

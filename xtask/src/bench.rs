//! `cargo xtask bench`: runs the criterion suite and prints a summary of medians and ratios.
//!
//! Criterion writes `target/criterion/<group>/<bench>/new/{benchmark,estimates}.json`; we read
//! back the ones this run wrote, print one row per benchmark (median time per element and
//! throughput), and the ratio of each row's time to the `ms_*` row of its group with the same
//! batching (more than 1 means slower than ours). The table also lands in
//! `target/xtask-bench/micro.json`.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::cmd;

/// One benchmark's result.
struct Row {
    group: String,
    name: String,
    /// Median nanoseconds per iteration.
    median_ns: f64,
    /// Elements per iteration (1 when the benchmark declared none).
    elements: f64,
}

impl Row {
    fn ns_per_element(&self) -> f64 {
        self.median_ns / self.elements
    }
}

/// `bench [--quick] [micro [FILTER] | kv]`: the end-to-end job; with `micro`, the criterion
/// suite; with `kv`, the key-value server against redis-server.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let quick = args.iter().any(|a| a == "--quick");
    if args.iter().any(|a| a == "kv") {
        return crate::kvbench::run(quick);
    }
    if args.first().map(String::as_str) != Some("micro") && !args.iter().any(|a| a == "micro") {
        if let Some(other) = args.iter().find(|a| !a.starts_with("--")) {
            return Err(format!("unknown bench mode `{other}` (try `micro`)"));
        }
        return crate::e2e::run(quick);
    }
    let args: Vec<String> = args.iter().filter(|a| *a != "micro").cloned().collect();
    let filter: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let started = SystemTime::now();
    let mut bench_args = vec!["bench", "--package", "ms-benches", "--"];
    bench_args.extend(filter);
    cmd::cargo(&bench_args)
        .env("MS_BENCH_QUICK", if quick { "1" } else { "0" })
        .run()?;

    let criterion_dir = cmd::root().join("target/criterion");
    let mut rows = Vec::new();
    collect(&criterion_dir, started, &mut rows)?;
    rows.sort_by(|a, b| (&a.group, &a.name).cmp(&(&b.group, &b.name)));
    if rows.is_empty() {
        return Err("no benchmark results were written (did the filter match?)".into());
    }
    let table = render(&rows);
    print!("{table}");
    let out = cmd::root().join("target/xtask-bench");
    fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    fs::write(out.join("micro.json"), json(&rows)).map_err(|e| e.to_string())?;
    eprintln!(
        "xtask: summary written to {}",
        out.join("micro.json").display()
    );
    Ok(())
}

/// Finds every `new/benchmark.json` under `dir` written after `since`.
fn collect(dir: &Path, since: SystemTime, rows: &mut Vec<Row>) -> Result<(), String> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, since, rows)?;
        } else if path.ends_with("new/benchmark.json") {
            let fresh = fs::metadata(&path)
                .and_then(|m| m.modified())
                .is_ok_and(|t| t >= since);
            if fresh {
                rows.push(read_row(&path)?);
            }
        }
    }
    Ok(())
}

fn read_row(benchmark_json: &Path) -> Result<Row, String> {
    let read = |p: PathBuf| fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()));
    let meta = read(benchmark_json.to_path_buf())?;
    let estimates = read(benchmark_json.with_file_name("estimates.json"))?;
    let field = |text: &str, key: &str| {
        string_field(text, key).ok_or_else(|| format!("{}: no {key}", benchmark_json.display()))
    };
    let median_ns = estimates
        .find("\"median\"")
        .and_then(|at| number_field(&estimates[at..], "point_estimate"))
        .ok_or_else(|| format!("{}: no median", benchmark_json.display()))?;
    let elements = meta
        .find("\"Elements\"")
        .and_then(|at| number_after_colon(&meta[at + "\"Elements\"".len()..]))
        .unwrap_or(1.0);
    Ok(Row {
        group: field(&meta, "group_id")?,
        name: field(&meta, "function_id")?,
        median_ns,
        elements,
    })
}

/// The string value of `"key":"value"` (criterion's JSON has no escapes in these names).
fn string_field(text: &str, key: &str) -> Option<String> {
    let at = text.find(&format!("\"{key}\""))? + key.len() + 2;
    let rest = text[at..].trim_start().strip_prefix(':')?.trim_start();
    let rest = rest.strip_prefix('"')?;
    Some(rest[..rest.find('"')?].to_owned())
}

/// The number value of the first `"key":number` in `text`.
pub(crate) fn number_field(text: &str, key: &str) -> Option<f64> {
    let at = text.find(&format!("\"{key}\""))? + key.len() + 2;
    number_after_colon(&text[at..])
}

fn number_after_colon(text: &str) -> Option<f64> {
    let rest = text.trim_start().strip_prefix(':')?.trim_start();
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E')))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// The row of `row`'s group that it is compared with: our own (`ms_*`) with the same suffix
/// after the implementation name (`_batch64`), or else the group's first `ms_*` row.
fn reference<'a>(rows: &'a [Row], row: &Row) -> Option<&'a Row> {
    let suffix = |name: &str| name.rfind("_batch").map(|i| name[i..].to_owned());
    let ours = |r: &&Row| r.group == row.group && r.name.starts_with("ms_");
    rows.iter()
        .filter(ours)
        .find(|r| suffix(&r.name) == suffix(&row.name))
        .or_else(|| rows.iter().find(ours))
}

fn render(rows: &[Row]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n{:<28} {:<24} {:>12} {:>14} {:>10}",
        "group", "benchmark", "ns/element", "Melem/s", "vs ours"
    );
    for row in rows {
        let ratio = reference(rows, row)
            .map(|r| format!("{:.2}x", row.ns_per_element() / r.ns_per_element()))
            .unwrap_or_else(|| "-".into());
        let _ = writeln!(
            out,
            "{:<28} {:<24} {:>12.2} {:>14.1} {:>10}",
            row.group,
            row.name,
            row.ns_per_element(),
            1e3 / row.ns_per_element(),
            ratio
        );
    }
    let _ = writeln!(
        out,
        "\n(medians; 'vs ours' = time per element relative to the group's ms_* row: >1 is slower)"
    );
    out
}

fn json(rows: &[Row]) -> String {
    let items: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                "  {{\"group\": \"{}\", \"benchmark\": \"{}\", \"median_ns_per_iter\": {}, \
                 \"elements_per_iter\": {}, \"ns_per_element\": {}}}",
                r.group,
                r.name,
                r.median_ns,
                r.elements,
                r.ns_per_element()
            )
        })
        .collect();
    format!("[\n{}\n]\n", items.join(",\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_criterion_json_fields() {
        let meta = r#"{"group_id":"spsc_throughput","function_id":"ms_spsc","value_str":null,
            "throughput":{"Elements":10000000},"full_id":"x"}"#;
        let est = r#"{"mean":{"point_estimate":9.0},"median":{"confidence_interval":
            {"lower_bound":1.0},"point_estimate":35000000.5,"standard_error":2.0}}"#;
        assert_eq!(string_field(meta, "group_id").unwrap(), "spsc_throughput");
        assert_eq!(string_field(meta, "function_id").unwrap(), "ms_spsc");
        let at = est.find("\"median\"").unwrap();
        assert_eq!(number_field(&est[at..], "point_estimate"), Some(35000000.5));
        let at = meta.find("\"Elements\"").unwrap() + "\"Elements\"".len();
        assert_eq!(number_after_colon(&meta[at..]), Some(1e7));
    }

    #[test]
    fn compares_with_the_same_batching() {
        let row = |name: &str, ns| Row {
            group: "g".into(),
            name: name.into(),
            median_ns: ns,
            elements: 1.0,
        };
        let rows = [
            row("ms_spsc", 2.0),
            row("ms_spsc_batch64", 1.0),
            row("ringbuf_batch64", 3.0),
            row("rtrb", 4.0),
        ];
        assert_eq!(reference(&rows, &rows[2]).unwrap().name, "ms_spsc_batch64");
        assert_eq!(reference(&rows, &rows[3]).unwrap().name, "ms_spsc");
    }
}

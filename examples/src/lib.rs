//! Programs built on Mini-SeaStar; each lives in `examples/` and runs with
//! `cargo run --release -p ms-examples --example NAME`.

//! The sandbox server (`sandbox/src/main.rs`, the same file) built as an example of roster, for
//! the README's demo: `cargo run --example linq-sandbox -- --seed …`.
//!
//! Why not `cargo run -p linq-sandbox`: cargo unifies features only over the packages a command
//! builds. `cargo test --workspace` builds the sandbox with roster's dependencies and
//! dev-dependencies beside it (tokio's `test-util`, serde's `alloc`, syn's `visit-mut`, …), so
//! building the sandbox alone afterwards compiles tokio, hyper, axum, reqwest, serde and their
//! kin again, for minutes. An example of roster is built with exactly the features of roster's
//! tests, and `cargo test` builds the examples too: after it, this one compiles nothing.

#[path = "../sandbox/src/main.rs"]
mod sandbox;

fn main() -> anyhow::Result<()> {
    sandbox::main()
}

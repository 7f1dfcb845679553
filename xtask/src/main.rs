//! `cargo xtask <command>`: the one entry point for Atelier's developers and CI.
//!
//! - `dev`: install what is missing, build everything, apply D1 migrations, start the inference
//!   node (127.0.0.1:8790) and `wrangler dev` (127.0.0.1:8787), print the URL; Ctrl-C stops all.
//! - `test`: install what is missing, build, run every test (fmt, clippy, unit, integration
//!   against the real Workers runtime, browser end-to-end, restart persistence).
//! - `bench`: Background Remove latency, upload to result event, on a fresh stack.
//! - `models vton --from DIR`: check and install FASHN VTON v1.5 weights for the node.
//! - `setup`: only install. `build`: install and build.

mod admin;
mod fuzz;
mod lanes;
mod setup;
mod stack;

use std::process::ExitCode;

use setup::Env;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cmd = args.first().map(String::as_str).unwrap_or("help");
    let result = match cmd {
        "setup" => Env::discover().and_then(|e| setup::install(&e, true)),
        "build" => {
            Env::discover().and_then(|e| setup::install(&e, false).and_then(|_| setup::build(&e)))
        }
        "dev" => Env::discover().and_then(|e| stack::dev(&e)),
        "test" => Env::discover().and_then(|e| stack::test(&e, &args[1..])),
        "bench" => Env::discover().and_then(|e| stack::bench(&e)),
        "soak" => Env::discover().and_then(|e| stack::soak(&e)),
        "fuzz" => Env::discover().and_then(|e| fuzz::main(&e, &args[1..])),
        "admin" => Env::discover().and_then(|e| admin::main(&e, &args[1..])),
        "models" => Env::discover().and_then(|e| setup::models(&e, &args[1..])),
        _ => {
            eprintln!(
                "usage: cargo xtask <dev|test|bench|soak|fuzz|admin|models|setup|build>\n\n  dev    build and run Atelier locally, print the URL\n  test   run every test (--no-lint skips fmt and clippy)\n  bench  measure Background Remove latency on a fresh local stack\n  soak   the load and throughput scenarios at full size on a fresh stack; figures into RELIABILITY.md\n  fuzz   bounded libFuzzer runs of fuzz/ (--secs N per target, default 60; --save merges new inputs into fuzz/corpus)\n  admin  create-key --email E | set-credits --email E --api N --app N | set-plan --email E --plan P [--tier T] [--annual] | library-add --kind K --file F | seed-gallery --email E --count N | create-widget-key --email E --origin O [--origin …] (running local instance)\n  models vton --from DIR  check FASHN VTON v1.5 weights (DIR/model.safetensors) against the published model and install them for the node's generative Try-On engine (nothing is downloaded)\n  setup  install the toolchain pieces that are missing\n  build  install and build"
            );
            return if cmd == "help" || cmd == "--help" {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            };
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("\nxtask {cmd}: {e}");
            ExitCode::FAILURE
        }
    }
}

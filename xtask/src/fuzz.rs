//! `cargo xtask fuzz [--secs N] [--save]` (#23): bounded libFuzzer runs (cargo-fuzz) of the
//! targets in `fuzz/` — core's image input path, its validation of arbitrary JSON, the
//! job-signature verifier — each for N seconds (default 60) from the seeds in `fuzz/corpus/`
//! and what earlier runs found (kept in the cache). A crash is copied into
//! `fuzz/regressions/<target>/`, which core's `fuzz_corpus_replays` test then replays on every
//! `cargo xtask test`, and the run fails. `--save` merges the inputs that add coverage into
//! `fuzz/corpus/` (minimized by libFuzzer's `-merge=1`), to be committed.

use std::path::Path;
use std::time::Instant;

use crate::setup::{has_version, Env, R};

/// The cargo-fuzz this project installs (into the tools folder of the cache).
pub const CARGO_FUZZ: &str = "0.13.2";

/// The targets (`fuzz/fuzz_targets/<name>.rs`; the bodies are `atelier_core::fuzzing`).
pub const TARGETS: [&str; 3] = ["image_input", "request_json", "signature"];

/// Installs cargo-fuzz if missing.
fn prepare(e: &Env) -> R<()> {
    if !has_version(e, "cargo-fuzz", CARGO_FUZZ) {
        crate::setup::cargo_install(e, "cargo-fuzz", CARGO_FUZZ, true)?;
    }
    Ok(())
}

/// `cargo fuzz <args>` in `fuzz/`, with its own target folder. The stable toolchain does: with
/// no sanitizer, cargo-fuzz passes only stable flags (libFuzzer's coverage instrumentation).
fn cargo_fuzz(e: &Env, args: &[&str]) -> std::process::Command {
    let mut c = e.cmd("cargo");
    c.current_dir(e.root.join("fuzz"))
        .arg("fuzz")
        .args(args)
        .env("CARGO_TARGET_DIR", e.cache.join("fuzz-target"));
    c
}

pub fn main(e: &Env, args: &[String]) -> R<()> {
    let secs: u64 = match args.iter().position(|a| a == "--secs") {
        Some(i) => args
            .get(i + 1)
            .and_then(|s| s.parse().ok())
            .ok_or("--secs takes a number of seconds per target")?,
        None => 60,
    };
    run(e, secs, args.iter().any(|a| a == "--save"))
}

/// Fuzzes every target for `secs` seconds; Err names the crashes (kept as regressions).
pub fn run(e: &Env, secs: u64, save: bool) -> R<()> {
    prepare(e)?;
    let mut crashes = vec![];
    for target in TARGETS {
        let t = Instant::now();
        let seeds = e.root.join("fuzz/corpus").join(target);
        let found = e.cache.join("fuzz-corpus").join(target);
        let artifacts = e.cache.join("fuzz-artifacts").join(target);
        for d in [&found, &artifacts] {
            std::fs::create_dir_all(d).map_err(|err| err.to_string())?;
        }
        let max_time = format!("-max_total_time={secs}");
        let artifact_prefix = format!("-artifact_prefix={}/", artifacts.display());
        // No sanitizer: the targets are safe Rust; libFuzzer finds panics, hangs and OOMs.
        let status = cargo_fuzz(
            e,
            &[
                "run",
                "--release",
                "--sanitizer",
                "none",
                target,
                &found.to_string_lossy(),
                &seeds.to_string_lossy(),
                "--",
                &max_time,
                "-rss_limit_mb=2048",
                "-timeout=10",
                "-max_len=65536",
                "-print_final_stats=1",
                &artifact_prefix,
            ],
        )
        .status()
        .map_err(|err| format!("cargo fuzz: {err}"))?;
        let kept = keep_crashes(e, target, &artifacts)?;
        println!(
            "==> fuzz {target}: {:.0}s, {} inputs in the corpus, {} crashes",
            t.elapsed().as_secs_f64(),
            std::fs::read_dir(&found).map(|d| d.count()).unwrap_or(0),
            kept.len()
        );
        if !status.success() && kept.is_empty() {
            return Err(format!("cargo fuzz run {target} failed ({status})"));
        }
        crashes.extend(kept);
        if save {
            let mut m = cargo_fuzz(
                e,
                &[
                    "run",
                    "--release",
                    "--sanitizer",
                    "none",
                    target,
                    &seeds.to_string_lossy(),
                    &found.to_string_lossy(),
                    "--",
                    "-merge=1",
                ],
            );
            crate::setup::run(
                &mut m,
                &format!("merge new {target} inputs into fuzz/corpus"),
            )?;
        }
    }
    if crashes.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the fuzzers found {} crashes, kept in {}; fix them (core's fuzz_corpus_replays replays them)",
            crashes.len(),
            crashes.join(", ")
        ))
    }
}

/// Copies the crash, timeout and out-of-memory inputs libFuzzer left into
/// `fuzz/regressions/<target>/`; returns their new paths.
fn keep_crashes(e: &Env, target: &str, artifacts: &Path) -> R<Vec<String>> {
    let dir = e.root.join("fuzz/regressions").join(target);
    let mut kept = vec![];
    for f in std::fs::read_dir(artifacts)
        .map_err(|err| err.to_string())?
        .flatten()
    {
        let name = f.file_name().to_string_lossy().to_string();
        if ["crash-", "timeout-", "oom-"]
            .iter()
            .any(|p| name.starts_with(p))
        {
            std::fs::create_dir_all(&dir).map_err(|err| err.to_string())?;
            let to = dir.join(&name);
            std::fs::rename(f.path(), &to)
                .or_else(|_| std::fs::copy(f.path(), &to).map(|_| ()))
                .map_err(|err| err.to_string())?;
            kept.push(to.display().to_string());
        }
    }
    Ok(kept)
}

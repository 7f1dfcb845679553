//! Test suites run concurrently (`cargo xtask test`): the unit tests, the node's tests, every
//! `tests/*.test.mjs` file and the SDK conformance run as jobs on a few lanes against the one
//! started stack, longest first (by the times of the last run, kept in `<cache>/test-times`).
//!
//! Rules that keep them from interfering:
//! - At most `stack_suites` suites use the stack at once (`ATELIER_TEST_STACK_SUITES`, default
//!   1): the cargo test runs, which do not use it, go on beside them on another lane. Found in
//!   CI on this 2-core machine: with three suites against one `wrangler dev`, workerd dropped
//!   connections mid-response now and then ("other side closed", "Your worker restarted
//!   mid-request"), failing unrelated suites; one suite at a time was never seen to.
//! - A suite that serves a fixed loopback port the stack is configured with (SMTP, the OpenID
//!   provider, the GitHub-shaped server, the language model, the Stripe-shaped API) or starts a
//!   node of its own is **exclusive**: all such suites run one after another on one lane. Found
//!   by reading the file (and the `./lib/*.mjs` it imports) for the port variables, so a new
//!   suite that uses one is serialized without anyone remembering to.
//! - At most [`MAX_BROWSERS`] Chromium suites run at once (each starts its own browser).
//! - A suite that says `lanes: solo` in its text (a load test of its own, such as billing's 100
//!   runs racing for the last credits) has the stack to itself whatever `stack_suites` is.
//!
//! A job's output is printed whole when it ends, with its time; the per-suite times are printed
//! at the end, slowest first.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Condvar, Mutex};
use std::time::Instant;

use crate::setup::{Tally, R};

/// Chromium suites at once.
pub const MAX_BROWSERS: usize = 2;

/// What a suite reads that makes it exclusive (see the module's header).
const EXCLUSIVE_MARKERS: [&str; 6] = [
    "ATELIER_SMTP_PORT",
    "ATELIER_OIDC_PORT",
    "ATELIER_GITHUB_PORT",
    "ATELIER_LLM_PORT",
    "ATELIER_STRIPE_PORT",
    "ATELIER_INFERENCE_BIN",
];

/// Work that prints as it goes, adding its results to the tally it is given.
pub type Live<'a> = Box<dyn FnOnce(&mut Tally) -> R<()> + Send + 'a>;

pub enum Work<'a> {
    /// A command whose output is captured and printed when it ends.
    Cmd(Command),
    /// Work that prints as it goes (the SDK conformance: its own set-up, then pytest).
    Func(Live<'a>),
}

pub struct Job<'a> {
    pub name: String,
    pub work: Work<'a>,
    pub browser: bool,
    /// How it uses the stack: `None` not at all (cargo tests), `Some(false)` beside others,
    /// `Some(true)` alone (see the module's header).
    pub stack: Option<bool>,
    /// Jobs of one group run one after another on one lane, in the order given (`ports`: the
    /// exclusive suites; `cargo`: the cargo test runs, which share the build directory's lock).
    pub group: Option<&'static str>,
}

impl<'a> Job<'a> {
    pub fn cmd(name: &str, cmd: Command, group: Option<&'static str>) -> Job<'a> {
        Job {
            name: name.into(),
            work: Work::Cmd(cmd),
            browser: false,
            stack: None,
            group,
        }
    }

    /// A `tests/*.test.mjs` file, classified by reading it.
    pub fn node_file(root: &Path, file: &Path, cmd: Command) -> Job<'a> {
        let (browser, exclusive) = classify(file);
        let solo = std::fs::read_to_string(file)
            .unwrap_or_default()
            .contains("lanes: solo");
        Job {
            name: file
                .strip_prefix(root)
                .unwrap_or(file)
                .display()
                .to_string(),
            work: Work::Cmd(cmd),
            browser,
            stack: Some(solo),
            group: exclusive.then_some("ports"),
        }
    }
}

/// (uses a browser, exclusive) for a test file.
pub fn classify(file: &Path) -> (bool, bool) {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let dir = file.parent().unwrap_or(Path::new("."));
    let mut all = text.clone();
    for line in text
        .lines()
        .filter(|l| l.trim_start().starts_with("import"))
    {
        if let Some(lib) = line
            .split(['\'', '"'])
            .find(|s| s.starts_with("./lib/") && s.ends_with(".mjs"))
        {
            all.push_str(&std::fs::read_to_string(dir.join(lib)).unwrap_or_default());
        }
    }
    (
        text.contains("playwright-core"),
        EXCLUSIVE_MARKERS.iter().any(|m| all.contains(m)),
    )
}

struct Unit<'a> {
    jobs: Vec<Job<'a>>,
    expected: f64,
}

struct Shared<'a> {
    queue: Vec<Unit<'a>>,
    browsers: usize,
    /// Suites using the stack now, and whether one of them is alone.
    on_stack: usize,
    solo: bool,
}

pub struct Outcome {
    pub name: String,
    pub secs: f64,
    pub ok: bool,
    /// A failed suite's summary of its failures, printed again at the very end.
    pub failures: String,
}

/// What a failed `node --test` run says about its failures (from "✖ failing tests:" on), or its
/// last lines; at most `MAX_LINES` lines.
fn failure_summary(out: &str) -> String {
    const MAX_LINES: usize = 60;
    let lines: Vec<&str> = out.lines().collect();
    let from = lines
        .iter()
        .rposition(|l| l.starts_with("✖ failing tests:"))
        .unwrap_or(lines.len().saturating_sub(MAX_LINES));
    let mut kept: Vec<&str> = lines[from..].iter().copied().take(MAX_LINES).collect();
    if lines.len() - from > MAX_LINES {
        kept.push("…");
    }
    kept.join("\n")
}

fn load_times(path: &Path) -> HashMap<String, f64> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (secs, name) = l.split_once(' ')?;
            Some((name.to_string(), secs.parse().ok()?))
        })
        .collect()
}

/// Runs `jobs` on `lanes` threads, at most `stack_suites` of them against the stack at once;
/// Err names the jobs that failed (all are run regardless).
pub fn run(
    jobs: Vec<Job<'_>>,
    lanes: usize,
    stack_suites: usize,
    times: &Path,
    tally: &mut Tally,
) -> R<()> {
    let stack_suites = stack_suites.max(1);
    let t = Instant::now();
    let known = load_times(times);
    // Unknown suites count as slow, so a new one starts early rather than last.
    let guess = |name: &str| known.get(name).copied().unwrap_or(120.0);
    let mut queue: Vec<Unit> = vec![];
    let mut groups: Vec<(&'static str, Vec<Job>)> = vec![];
    for j in jobs {
        match j.group {
            None => queue.push(Unit {
                expected: guess(&j.name),
                jobs: vec![j],
            }),
            Some(g) => match groups.iter_mut().find(|(n, _)| *n == g) {
                Some((_, v)) => v.push(j),
                None => groups.push((g, vec![j])),
            },
        }
    }
    for (_, jobs) in groups {
        queue.push(Unit {
            expected: jobs.iter().map(|j| guess(&j.name)).sum(),
            jobs,
        });
    }
    queue.sort_by(|a, b| b.expected.total_cmp(&a.expected));
    let lanes = lanes.clamp(1, queue.len().max(1));
    println!(
        "==> {} test jobs on {lanes} lanes (at most {stack_suites} on the stack and {MAX_BROWSERS} browsers at once)",
        queue.iter().map(|u| u.jobs.len()).sum::<usize>()
    );
    let shared = Mutex::new(Shared {
        queue: queue.into_iter().rev().collect(),
        browsers: 0,
        on_stack: 0,
        solo: false,
    });
    let freed = Condvar::new();
    let print = Mutex::new(());
    let results: Mutex<(Vec<Outcome>, Tally)> = Mutex::new((vec![], Tally::default()));
    std::thread::scope(|s| {
        for lane in 0..lanes {
            let (shared, freed, print, results) = (&shared, &freed, &print, &results);
            s.spawn(move || loop {
                let Some(unit) = shared.lock().unwrap().queue.pop() else {
                    return;
                };
                for job in unit.jobs {
                    {
                        // Waits for a browser and a place on the stack, as the job needs.
                        let mut g = shared.lock().unwrap();
                        loop {
                            let browser_ok = !job.browser || g.browsers < MAX_BROWSERS;
                            let stack_ok = match job.stack {
                                None => true,
                                Some(false) => !g.solo && g.on_stack < stack_suites,
                                Some(true) => g.on_stack == 0,
                            };
                            if browser_ok && stack_ok {
                                break;
                            }
                            g = freed.wait(g).unwrap();
                        }
                        g.browsers += usize::from(job.browser);
                        if let Some(alone) = job.stack {
                            g.on_stack += 1;
                            g.solo = alone;
                        }
                    }
                    let started = Instant::now();
                    let mut own = Tally::default();
                    let mut failures = String::new();
                    let ok = match job.work {
                        Work::Cmd(mut c) => {
                            let out = c
                                .stdin(Stdio::null())
                                .stdout(Stdio::piped())
                                .stderr(Stdio::piped())
                                .output();
                            let secs = started.elapsed().as_secs_f64();
                            let _p = print.lock().unwrap();
                            println!("==> {} [lane {lane}]", job.name);
                            match out {
                                Ok(o) => {
                                    let text = String::from_utf8_lossy(&o.stdout);
                                    for line in text.lines() {
                                        println!("{line}");
                                        own.read_line(line);
                                    }
                                    let err = String::from_utf8_lossy(&o.stderr);
                                    if !err.trim().is_empty() {
                                        println!("{err}");
                                    }
                                    println!("    {}: {secs:.1}s", job.name);
                                    if !o.status.success() {
                                        failures = failure_summary(&format!("{text}\n{err}"));
                                    }
                                    o.status.success()
                                }
                                Err(e) => {
                                    println!("    {}: cannot start: {e}", job.name);
                                    false
                                }
                            }
                        }
                        Work::Func(f) => {
                            let r = f(&mut own);
                            if let Err(e) = &r {
                                println!("    {}: {e}", job.name);
                                failures = e.clone();
                            }
                            r.is_ok()
                        }
                    };
                    {
                        let mut g = shared.lock().unwrap();
                        g.browsers -= usize::from(job.browser);
                        if job.stack.is_some() {
                            g.on_stack -= 1;
                            g.solo = false;
                        }
                    }
                    freed.notify_all();
                    let mut r = results.lock().unwrap();
                    r.1.passed += own.passed;
                    r.1.failed += own.failed;
                    r.0.push(Outcome {
                        name: job.name,
                        secs: started.elapsed().as_secs_f64(),
                        ok,
                        failures,
                    });
                }
            });
        }
    });
    let (mut outcomes, own) = results.into_inner().unwrap();
    tally.passed += own.passed;
    tally.failed += own.failed;
    outcomes.sort_by(|a, b| b.secs.total_cmp(&a.secs));
    println!(
        "==> suite times ({:.0}s on {lanes} lanes; {:.0}s of suites)",
        t.elapsed().as_secs_f64(),
        outcomes.iter().map(|o| o.secs).sum::<f64>()
    );
    for o in &outcomes {
        println!(
            "    {:>7.1}s  {}{}",
            o.secs,
            o.name,
            if o.ok { "" } else { "  FAILED" }
        );
    }
    let mut saved = known;
    for o in &outcomes {
        saved.insert(o.name.clone(), o.secs);
    }
    let mut lines: Vec<String> = saved.iter().map(|(n, s)| format!("{s:.1} {n}")).collect();
    lines.sort();
    let _ = std::fs::write(times, lines.join("\n") + "\n");
    // The failures again, last, where a CI log's tail shows them.
    for o in outcomes.iter().filter(|o| !o.ok) {
        println!("==> {} failed:\n{}", o.name, o.failures);
    }
    let failed: Vec<&str> = outcomes
        .iter()
        .filter(|o| !o.ok)
        .map(|o| o.name.as_str())
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("failed: {}", failed.join(", ")))
    }
}

/// The `*.test.mjs` files of a folder, sorted.
pub fn test_files(dir: &Path) -> R<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|err| format!("{}: {err}", dir.display()))?
        .filter_map(|d| d.ok().map(|d| d.path()))
        .filter(|p| p.to_string_lossy().ends_with(".test.mjs"))
        .collect();
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suites_that_serve_the_stacks_ports_are_exclusive_and_browsers_are_known() {
        let dir = std::env::temp_dir().join(format!("lanes-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("lib")).unwrap();
        std::fs::write(
            dir.join("lib/mail.mjs"),
            "export const port = process.env.ATELIER_SMTP_PORT;",
        )
        .unwrap();
        std::fs::write(
            dir.join("a.test.mjs"),
            "import { port } from './lib/mail.mjs';\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("b.test.mjs"),
            "import { chromium } from 'playwright-core';\n",
        )
        .unwrap();
        assert_eq!(classify(&dir.join("a.test.mjs")), (false, true));
        assert_eq!(classify(&dir.join("b.test.mjs")), (true, false));
        let files = test_files(&dir).unwrap();
        assert_eq!(files.len(), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn every_job_runs_and_a_failure_is_named() {
        let ok = |n: &str, code: i32| {
            let mut c = Command::new("sh");
            c.args(["-c", &format!("echo 'ℹ pass 2'; exit {code}")]);
            Job::cmd(n, c, None)
        };
        let times = std::env::temp_dir().join(format!("lanes-times-{}", std::process::id()));
        let mut tally = Tally::default();
        let r = run(
            vec![ok("one", 0), ok("two", 1), ok("three", 0)],
            2,
            2,
            &times,
            &mut tally,
        );
        assert_eq!(r, Err("failed: two".to_string()));
        assert_eq!(tally.passed, 6);
        let saved = load_times(&times);
        assert_eq!(saved.len(), 3);
        let _ = std::fs::remove_file(&times);
    }

    /// A job that writes `name+` to `log`, waits 0.3 s, then writes `name-`.
    fn marking(name: &str, log: &Path) -> Command {
        let mut c = Command::new("sh");
        c.args([
            "-c",
            &format!(
                "echo {name}+ >> {l}; sleep 0.3; echo {name}- >> {l}",
                l = log.display()
            ),
        ]);
        c
    }

    /// The marks the jobs wrote, in order.
    fn marks(log: &Path) -> Vec<String> {
        std::fs::read_to_string(log)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn a_solo_suite_has_the_stack_to_itself() {
        let log = std::env::temp_dir().join(format!("lanes-solo-{}", std::process::id()));
        let _ = std::fs::remove_file(&log);
        let job = |n: &str, solo: bool| {
            let mut j = Job::cmd(n, marking(n, &log), None);
            j.stack = Some(solo);
            j
        };
        let times = std::env::temp_dir().join(format!("lanes-solo-t-{}", std::process::id()));
        let jobs = vec![
            job("a", false),
            job("s", true),
            job("b", false),
            job("c", false),
        ];
        run(jobs, 3, 3, &times, &mut Tally::default()).unwrap();
        let lines = marks(&log);
        let start = lines.iter().position(|l| l == "s+").unwrap();
        assert_eq!(
            lines[start + 1],
            "s-",
            "nothing ran beside the solo suite: {lines:?}"
        );
        assert_eq!(lines.len(), 8);
        let _ = std::fs::remove_file(&log);
        let _ = std::fs::remove_file(&times);
    }

    #[test]
    fn one_suite_on_the_stack_at_a_time_while_the_cargo_tests_go_on_beside() {
        let log = std::env::temp_dir().join(format!("lanes-one-{}", std::process::id()));
        let _ = std::fs::remove_file(&log);
        let job = |n: &str, stack: bool| {
            let mut j = Job::cmd(n, marking(n, &log), (!stack).then_some("cargo"));
            j.stack = stack.then_some(false);
            j
        };
        let times = std::env::temp_dir().join(format!("lanes-one-t-{}", std::process::id()));
        let jobs = vec![job("a", true), job("b", true), job("k", false)];
        run(jobs, 3, 1, &times, &mut Tally::default()).unwrap();
        let lines = marks(&log);
        let suites: Vec<&String> = lines.iter().filter(|l| !l.starts_with('k')).collect();
        let first = &suites[0][..1];
        let second = if first == "a" { "b" } else { "a" };
        assert_eq!(
            suites,
            [
                &format!("{first}+"),
                &format!("{first}-"),
                &format!("{second}+"),
                &format!("{second}-")
            ],
            "one suite on the stack at a time: {lines:?}"
        );
        let k = lines.iter().position(|l| l == "k+").unwrap();
        let later = lines
            .iter()
            .position(|l| *l == format!("{second}+"))
            .unwrap();
        assert!(k < later, "the cargo job ran beside the suites: {lines:?}");
        let _ = std::fs::remove_file(&log);
        let _ = std::fs::remove_file(&times);
    }

    #[test]
    fn a_failed_suite_is_summed_up_by_its_failing_tests() {
        let out =
            "✔ one\n✖ two\n  detail\nℹ fail 1\n\n✖ failing tests:\n\n✖ two\n  AssertionError: x";
        assert_eq!(
            failure_summary(out),
            "✖ failing tests:\n\n✖ two\n  AssertionError: x"
        );
        let long: String = (0..100).map(|i| format!("line {i}\n")).collect();
        let s = failure_summary(&long);
        assert!(s.starts_with("line 40\n") && s.ends_with("line 99"), "{s}");
    }
}

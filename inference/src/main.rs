use atelier_inference::{router, Config, Node};

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "atelier_inference=info".into()),
        )
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("install-vton") {
        std::process::exit(install_vton(&args[1..]));
    }
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("atelier-inference: {e}");
            std::process::exit(2);
        }
    };
    let addr = config.addr;
    let node = match Node::new(config) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("atelier-inference: {e}");
            std::process::exit(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("atelier-inference: cannot listen on {addr}: {e}");
            std::process::exit(2);
        }
    };
    tracing::info!(%addr, "inference node listening");
    let shutdown = async {
        let ctrl_c = tokio::signal::ctrl_c();
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
        tracing::info!("shutting down");
    };
    // On SIGTERM/Ctrl-C: stop accepting connections, then let running jobs finish for up to
    // ATELIER_DRAIN_SECS (default 30) and hand back the rest as failed (credits released).
    let drain_secs = std::env::var("ATELIER_DRAIN_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    if let Err(e) = axum::serve(listener, router(node.clone()))
        .with_graceful_shutdown(shutdown)
        .await
    {
        eprintln!("atelier-inference: {e}");
        std::process::exit(1);
    }
    let handed_back = node.drain(std::time::Duration::from_secs(drain_secs)).await;
    tracing::info!(handed_back, "stopped");
}

/// `atelier-inference install-vton --from DIR [--models DIR]` (what `cargo xtask models vton`
/// runs): checks DIR/model.safetensors against the published FASHN VTON v1.5 configuration and
/// installs it as `<models>/vton/` (`--models`, else `ATELIER_MODELS_DIR`). Nothing is downloaded.
fn install_vton(args: &[String]) -> i32 {
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let Some(from) = arg("--from") else {
        eprintln!("usage: atelier-inference install-vton --from DIR [--models DIR]");
        return 2;
    };
    let Some(models) = arg("--models").or_else(|| std::env::var("ATELIER_MODELS_DIR").ok()) else {
        eprintln!("atelier-inference install-vton: give --models DIR or set ATELIER_MODELS_DIR");
        return 2;
    };
    #[cfg(feature = "vton")]
    {
        let models = std::path::PathBuf::from(models);
        let cfg = atelier_vton::published();
        match atelier_inference::vton::install(from.as_ref(), &models, &cfg) {
            Ok(w) => {
                println!(
                    "installed FASHN VTON v1.5 into {}: {} tensors, {} parameters, {:?}, {} bytes",
                    models.join(atelier_inference::vton::DIR).display(),
                    w.tensors,
                    w.values,
                    w.dtype,
                    w.bytes
                );
                0
            }
            Err(e) => {
                eprintln!("atelier-inference install-vton: {e}");
                1
            }
        }
    }
    #[cfg(not(feature = "vton"))]
    {
        let _ = (from, models);
        eprintln!(
            "atelier-inference install-vton: this node was built without the `vton` feature \
             (cargo build --release -p atelier-inference --features vton)"
        );
        2
    }
}

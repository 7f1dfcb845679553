use atelier_inference::{router, Config, Node};

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "atelier_inference=info".into()),
        )
        .init();
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

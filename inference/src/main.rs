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
    if let Err(e) = axum::serve(listener, router(node))
        .with_graceful_shutdown(shutdown)
        .await
    {
        eprintln!("atelier-inference: {e}");
        std::process::exit(1);
    }
}

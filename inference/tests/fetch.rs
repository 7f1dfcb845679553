//! The SSRF-safe fetcher against a real HTTP server on loopback.
//!
//! With the production policy every loopback spelling is refused before a byte is sent (the
//! server counts requests). With a test policy that admits 127.0.0.1 only, the limits and the
//! redirect re-checks are exercised.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use atelier_inference::fetch::{public_only, AddrPolicy, Fetcher, Limits};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

const PNG: &[u8] = b"\x89PNG\r\n\x1a\nnot really, but bytes";

async fn server() -> (SocketAddr, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let redirect = |to: &'static str| move || async move { redirect_to(to.to_string()) };
    let app = Router::new()
        .route(
            "/img.png",
            get(|| async { ([(header::CONTENT_TYPE, "image/png")], PNG) }),
        )
        .route("/hop", get(redirect("/img.png")))
        .route("/loop", get(redirect("/loop")))
        .route(
            "/to-v6",
            get(|State(port): State<u16>| async move {
                redirect_to(format!("http://[::1]:{port}/img.png"))
            }),
        )
        .route(
            "/to-zero",
            get(|State(port): State<u16>| async move {
                redirect_to(format!("http://0.0.0.0:{port}/img.png"))
            }),
        )
        .route("/big", get(|| async { vec![7u8; 2 * 1024 * 1024] }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(3)).await;
                PNG
            }),
        )
        .route("/missing", get(|| async { StatusCode::NOT_FOUND }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let counted = hits.clone();
    let app = app.with_state(addr.port()).layer(axum::middleware::from_fn(
        move |req: axum::extract::Request, next: axum::middleware::Next| {
            let c = counted.clone();
            async move {
                c.fetch_add(1, Ordering::SeqCst);
                next.run(req).await
            }
        },
    ));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, hits)
}

fn redirect_to(to: String) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, to)]).into_response()
}

fn only_127_0_0_1() -> AddrPolicy {
    Arc::new(|ip| {
        if ip == IpAddr::V4(Ipv4Addr::LOCALHOST) {
            Ok(())
        } else {
            Err(format!("{ip} is not the test server"))
        }
    })
}

fn limits() -> Limits {
    Limits {
        max_bytes: 1024 * 1024,
        connect_timeout: Duration::from_secs(2),
        total_timeout: Duration::from_millis(800),
    }
}

#[tokio::test]
async fn production_policy_refuses_every_loopback_spelling_before_sending() {
    let (addr, hits) = server().await;
    let p = addr.port();
    let f = Fetcher::new(public_only(), limits()).unwrap();
    for url in [
        format!("http://127.0.0.1:{p}/img.png"),
        format!("http://localhost:{p}/img.png"),
        format!("http://[::1]:{p}/img.png"),
        format!("http://0.0.0.0:{p}/img.png"),
        format!("http://2130706433:{p}/img.png"),
        format!("http://0x7f000001:{p}/img.png"),
        format!("http://0177.0.0.1:{p}/img.png"),
        format!("http://127.1:{p}/img.png"),
        format!("http://[::ffff:127.0.0.1]:{p}/img.png"),
        format!("https://127.0.0.1:{p}/img.png"),
        format!("ftp://127.0.0.1:{p}/img.png"),
        "file:///etc/passwd".to_string(),
        "gopher://localhost/".to_string(),
        "not a url".to_string(),
    ] {
        let err = f.get(&url).await.expect_err(&url);
        assert!(
            err.contains("refused") || err.contains("only http") || err.contains("invalid"),
            "{url}: {err}"
        );
    }
    assert_eq!(hits.load(Ordering::SeqCst), 0, "nothing reached the server");
}

#[tokio::test]
async fn fetches_follows_checked_redirects_and_enforces_limits() {
    let (addr, hits) = server().await;
    let base = format!("http://127.0.0.1:{}", addr.port());
    let f = Fetcher::new(only_127_0_0_1(), limits()).unwrap();
    assert_eq!(f.get(&format!("{base}/img.png")).await.unwrap(), PNG);
    assert_eq!(f.get(&format!("{base}/hop")).await.unwrap(), PNG);

    // A redirect to an address the policy refuses is not followed.
    let before = hits.load(Ordering::SeqCst);
    let e = f.get(&format!("{base}/to-v6")).await.unwrap_err();
    assert!(e.contains("refused") && e.contains("::1"), "{e}");
    let e = f.get(&format!("{base}/to-zero")).await.unwrap_err();
    assert!(e.contains("refused") && e.contains("0.0.0.0"), "{e}");
    assert_eq!(
        hits.load(Ordering::SeqCst) - before,
        2,
        "only the redirecting requests"
    );

    // A host name is checked by what it resolves to: localhost's ::1 is dropped, 127.0.0.1 kept.
    assert_eq!(
        f.get(&format!("http://localhost:{}/img.png", addr.port()))
            .await
            .unwrap(),
        PNG
    );

    let e = f.get(&format!("{base}/loop")).await.unwrap_err();
    assert!(e.contains("redirects"), "{e}");
    let e = f.get(&format!("{base}/big")).await.unwrap_err();
    assert!(e.contains("larger than 1 MiB"), "{e}");
    let e = f.get(&format!("{base}/slow")).await.unwrap_err();
    assert!(e.contains("in time"), "{e}");
    let e = f.get(&format!("{base}/missing")).await.unwrap_err();
    assert!(e.contains("404"), "{e}");
    let e = f
        .get(&format!("http://user:pw@127.0.0.1:{}/img.png", addr.port()))
        .await
        .unwrap_err();
    assert!(e.contains("credentials"), "{e}");
}

//! Fetching an image from a URL a user gave, safely (no SSRF).
//!
//! - http and https only; at most [`MAX_REDIRECTS`] redirects, each hop checked again;
//! - every address a host name resolves to is checked by the policy (public unicast only, see
//!   `atelier_core::ssrf`), and the connection goes only to the addresses that passed, so a
//!   name cannot resolve to a public address for the check and a private one for the connect;
//!   literal addresses (in any spelling the URL parser accepts) are checked the same way;
//! - no proxy from the environment; a connect timeout and an overall deadline;
//! - at most `max_bytes` read, whatever Content-Length says; the bytes are sniffed as an image
//!   by the caller (the decoder), not trusted by their Content-Type.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::redirect::Policy;
use reqwest::Url;

/// Redirects followed before giving up.
pub const MAX_REDIRECTS: usize = 5;

/// Which addresses may be connected to.
pub type AddrPolicy = Arc<dyn Fn(IpAddr) -> Result<(), String> + Send + Sync>;

/// The production policy: public unicast only.
pub fn public_only() -> AddrPolicy {
    Arc::new(|ip| match atelier_core::ssrf::refusal(ip) {
        None => Ok(()),
        Some(why) => Err(format!("{ip} is {why}")),
    })
}

/// `ATELIER_FETCH=loopback` (the test stacks): besides the policy, nothing beyond this machine
/// is asked — no name but `localhost` is resolved (so not even a DNS query leaves), no public
/// literal address is connected to. Tests give the API every kind of URL; none may leave.
pub fn loopback_only_from_env() -> bool {
    std::env::var("ATELIER_FETCH").is_ok_and(|v| v == "loopback")
}

/// Why a fetch was not even tried with `ATELIER_FETCH=loopback`.
const LOOPBACK_ONLY: &str = "this node fetches nothing beyond loopback (ATELIER_FETCH=loopback)";

/// Limits of one fetch.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_bytes: u64,
    pub connect_timeout: Duration,
    pub total_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 20 * 1024 * 1024,
            connect_timeout: Duration::from_secs(5),
            total_timeout: Duration::from_secs(20),
        }
    }
}

struct CheckedResolver {
    policy: AddrPolicy,
    loopback_only: bool,
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let loopback_only = self.loopback_only;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let local = host == "localhost" || host.ends_with(".localhost");
            if loopback_only && !local {
                return Err(format!("{host} was not resolved: {LOOPBACK_ONLY}").into());
            }
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> {
                    format!("{host} could not be resolved: {e}").into()
                })?
                .collect();
            let mut refused = None;
            let allowed: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| match policy(a.ip()) {
                    Ok(()) => true,
                    Err(why) => {
                        refused.get_or_insert(why);
                        false
                    }
                })
                .collect();
            if allowed.is_empty() {
                let why = refused.unwrap_or_else(|| "no address".into());
                return Err(format!("{host} resolves to a refused address ({why})").into());
            }
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

/// A client for user-supplied URLs.
#[derive(Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    policy: AddrPolicy,
    limits: Limits,
    loopback_only: bool,
}

impl Fetcher {
    pub fn new(policy: AddrPolicy, limits: Limits) -> Result<Fetcher, String> {
        Fetcher::with_reach(policy, limits, false)
    }

    /// A fetcher that, with `loopback_only`, asks nothing beyond this machine (see
    /// [`loopback_only_from_env`]).
    pub fn with_reach(
        policy: AddrPolicy,
        limits: Limits,
        loopback_only: bool,
    ) -> Result<Fetcher, String> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(Policy::none())
            .dns_resolver(Arc::new(CheckedResolver {
                policy: policy.clone(),
                loopback_only,
            }))
            .connect_timeout(limits.connect_timeout)
            .timeout(limits.total_timeout)
            .user_agent(concat!(
                "Atelier/",
                env!("CARGO_PKG_VERSION"),
                " (image fetch)"
            ))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Fetcher {
            client,
            policy,
            limits,
            loopback_only,
        })
    }

    /// A URL's scheme and literal host, before anything is sent.
    fn check(&self, url: &Url) -> Result<(), String> {
        let host = url.host_str();
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "only http and https image URLs are fetched, not {}:",
                url.scheme()
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("image URLs must not carry credentials".into());
        }
        let literal = |ip: IpAddr| {
            (self.policy)(ip)?;
            match self.loopback_only && !ip.is_loopback() {
                true => Err(LOOPBACK_ONLY.to_string()),
                false => Ok(()),
            }
        };
        match url.host() {
            Some(url::Host::Ipv4(ip)) => literal(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => literal(IpAddr::V6(ip)),
            Some(url::Host::Domain(_)) => Ok(()),
            None => Err(format!("the URL has no host ({host:?})")),
        }
        .map_err(|why| format!("the image URL's host is refused: {why}"))
    }

    /// Fetches `url` (following checked redirects) and returns its bytes.
    pub async fn get(&self, url: &str) -> Result<Vec<u8>, String> {
        let mut url = Url::parse(url.trim()).map_err(|e| format!("the URL is invalid ({e})"))?;
        for _ in 0..=MAX_REDIRECTS {
            self.check(&url)?;
            let resp = self
                .client
                .get(url.clone())
                .header("accept", "image/*")
                .send()
                .await
                .map_err(|e| describe(&e))?;
            let status = resp.status();
            if status.is_redirection() {
                let loc = resp
                    .headers()
                    .get("location")
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| format!("the URL answered {status} without a Location"))?;
                url = url
                    .join(loc)
                    .map_err(|e| format!("the redirect target is invalid ({e})"))?;
                continue;
            }
            if !status.is_success() {
                return Err(format!("the image URL answered {status}"));
            }
            return self.read_body(resp).await;
        }
        Err(format!("more than {MAX_REDIRECTS} redirects"))
    }

    async fn read_body(&self, mut resp: reqwest::Response) -> Result<Vec<u8>, String> {
        let max = self.limits.max_bytes;
        let too_big = || format!("the image is larger than {} MiB", max / (1024 * 1024));
        if resp.content_length().is_some_and(|n| n > max) {
            return Err(too_big());
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| describe(&e))? {
            if body.len() as u64 + chunk.len() as u64 > max {
                return Err(too_big());
            }
            body.extend_from_slice(&chunk);
        }
        if body.is_empty() {
            return Err("the image URL returned no data".into());
        }
        Ok(body)
    }
}

/// A reqwest error in words, with its cause (which names a refused address).
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "the image URL did not answer in time".into();
    }
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg = format!("{msg}: {s}");
        src = s.source();
    }
    msg
}

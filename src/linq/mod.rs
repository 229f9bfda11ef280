//! The HTTP client for the Linq Partner API v3: typed calls for the chat endpoints roster uses,
//! Linq's error envelope as a typed error, retries with jittered backoff, a limit on requests in
//! flight that adapts to the server and a pace, both shared by all tasks. An add or a remove
//! ends in what Linq's answers said ([`ChangeAnswer`]); whether it landed when they leave that
//! open is decided in [`crate::sync`], by reading the chat. A create ([`Client::create_chat`])
//! is never tried again once an attempt may have reached Linq: it ends
//! [`CreateAnswer::Unanswered`], and [`crate::sync::find_created`] looks for its chat.
//!
//! The caller reads `LINQ_API_V3_BASE_URL` and `LINQ_API_V3_API_KEY` at the edge and passes them
//! in a [`ClientConfig`]; nothing here reads the environment.

mod client;
mod concurrency;
mod create;
mod error;
#[cfg(test)]
pub(crate) mod http_tests;
mod model;
mod pacer;
mod retry;

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use reqwest::Url;

use crate::stop::Stop;

pub use client::Client;
pub use concurrency::{
    Cause, Controller, Limiter, Permit, Rejection, Sample, Snapshot, Verdict, DEFAULT_PARALLELISM, INITIAL_LIMIT,
};
pub use create::{CreateAnswer, NewChat, MAX_SEARCH_PAGES};
pub use error::{
    ApiError, LinqError, NotSent, TransportError, CODE_CHAT_BEING_CREATED, CODE_CONFLICT, CODE_UNSUPPORTED_SERVICE,
};
pub use model::{Accepted, AcceptedVia, ChangeAnswer, Chat, ChatHandle, ChatPage, PhoneNumber};
pub use pacer::Pacer;
pub use retry::RetryPolicy;

/// Linq's production base URL, used when `LINQ_API_V3_BASE_URL` is not set.
pub const DEFAULT_BASE_URL: &str = "https://api.linqapp.com/api/partner";

/// The API token. Its `Debug` and `Display` print `***`, so it cannot leak into a log, an error
/// or a panic message by accident; [`Token::expose`] is the one way to read it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    pub fn new(token: impl Into<String>) -> Token {
        Token(token.into())
    }

    /// The secret itself, for the `Authorization` header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Everything the client needs, gathered at the edge.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// E.g. [`DEFAULT_BASE_URL`]; `http://` only for loopback hosts.
    pub base_url: String,
    pub token: Token,
    pub connect_timeout: Duration,
    /// For a whole request, answer included; past it the outcome of a sent call is unknown.
    pub request_timeout: Duration,
    /// `roster/<version>` by default.
    pub user_agent: String,
    pub retry: RetryPolicy,
    /// A fixed cap in requests per second over all tasks (`--rate`).
    pub rate: Option<f64>,
    /// The most requests in flight at once (`--parallelism`), and whether the limit adapts to
    /// the server under it (see [`Limiter`]) or stays there.
    pub parallelism: usize,
    pub adaptive: bool,
    /// Seeds the backoff jitter, for reproducible tests; random when `None`.
    pub jitter_seed: Option<u64>,
    /// The command's stop (see [`crate::stop`]), checked before each request goes out. After a
    /// signal a failed attempt is not tried again and a backoff in progress ends at once, so a
    /// storm of `429`s or `5xx`s cannot hold a stop up for the minutes its retries would take;
    /// after a halt nothing goes out. The client halts it itself when Linq refuses the token.
    pub stop: Stop,
}

impl ClientConfig {
    /// Defaults for everything but the base URL and token.
    pub fn new(base_url: impl Into<String>, token: Token) -> ClientConfig {
        ClientConfig {
            base_url: base_url.into(),
            token,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            user_agent: concat!("roster/", env!("CARGO_PKG_VERSION")).to_owned(),
            retry: RetryPolicy::default(),
            rate: None,
            parallelism: DEFAULT_PARALLELISM,
            adaptive: true,
            jitter_seed: None,
            stop: Stop::new(),
        }
    }
}

/// Why a client could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientConfigError {
    #[error("the Linq base URL `{url}` is not a valid URL: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("the Linq base URL `{url}` uses plain `http://`, which is allowed only for loopback hosts (127.0.0.1, ::1, localhost); use `https://`")]
    InsecureUrl { url: String },
    #[error("the Linq base URL `{url}` must start with `https://`")]
    UnsupportedScheme { url: String },
    #[error("the API token contains characters that cannot be sent in an HTTP header")]
    InvalidToken,
    #[error("cannot set up the HTTP client: {0}")]
    Build(String),
}

/// Parses the base URL and applies the transport rule: `https://` anywhere, `http://` only to
/// loopback. User info in the URL is never echoed in an error.
fn check_base_url(text: &str) -> Result<Url, ClientConfigError> {
    let shown = shown_url;
    let url = Url::parse(text.trim()).map_err(|e| ClientConfigError::InvalidUrl {
        url: text.split('@').next_back().unwrap_or_default().to_owned(),
        reason: e.to_string(),
    })?;
    if url.cannot_be_a_base() || url.host().is_none() {
        return Err(ClientConfigError::InvalidUrl {
            url: shown(&url),
            reason: "it has no host".to_owned(),
        });
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        "http" => Err(ClientConfigError::InsecureUrl { url: shown(&url) }),
        _ => Err(ClientConfigError::UnsupportedScheme { url: shown(&url) }),
    }
}

/// `url` as people may see it: without user info, and without a trailing `/`.
fn shown_url(url: &Url) -> String {
    let mut url = url.clone();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.to_string().trim_end_matches('/').to_owned()
}

fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_never_shows() {
        let token = Token::new("sk-live-secret");
        assert_eq!(format!("{token:?} {token}"), "*** ***");
        let config = ClientConfig::new(DEFAULT_BASE_URL, token);
        assert!(!format!("{config:?}").contains("sk-live-secret"));
        let client = Client::new(config).unwrap();
        assert!(!format!("{client:?}").contains("sk-live-secret"));
    }

    #[test]
    fn plain_http_only_to_loopback() {
        for ok in [
            "https://api.linqapp.com/api/partner",
            "http://127.0.0.1:8080/api/partner",
            "http://127.8.0.1/api/partner",
            "http://[::1]:9000/api/partner",
            "http://LOCALHOST:3000/api/partner/",
        ] {
            assert!(check_base_url(ok).is_ok(), "{ok}");
        }
        let err = check_base_url("http://api.linqapp.com/api/partner").unwrap_err();
        assert_eq!(
            err,
            ClientConfigError::InsecureUrl {
                url: "http://api.linqapp.com/api/partner".into()
            }
        );
        assert!(err.to_string().contains("loopback"));
        assert!(matches!(
            check_base_url("http://10.0.0.1/"),
            Err(ClientConfigError::InsecureUrl { .. })
        ));
        assert!(matches!(
            check_base_url("ftp://localhost/"),
            Err(ClientConfigError::UnsupportedScheme { .. })
        ));
        assert!(matches!(
            check_base_url("not a url"),
            Err(ClientConfigError::InvalidUrl { .. })
        ));
        let err = check_base_url("http://user:hunter2@example.com/").unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }
}

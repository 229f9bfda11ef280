//! `--notify URL`: each finding POSTed as JSON, in order, retried with backoff. The request
//! carries nothing of Linq's: its own client, no token, no redirects followed.

use std::time::Duration;

use tokio::sync::mpsc;

/// How many findings may wait for the notifier; more are dropped (and counted) rather than
/// held in memory while the URL is down.
pub const QUEUE: usize = 1024;

/// Attempts per finding, and the pause before the second (doubled each time after).
const ATTEMPTS: u32 = 5;
const FIRST_PAUSE: Duration = Duration::from_millis(500);

/// Why `--notify` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("`--notify {0}` is not a URL roster posts to: it takes `https://…`, or `http://` to a loopback host")]
    Url(String),
    #[error("cannot make the HTTP client for `--notify`: {0}")]
    Client(String),
}

/// Checks `url` (https, or http to a loopback host) and makes the client.
pub fn client(url: &str) -> Result<(url::Url, reqwest::Client), NotifyError> {
    let bad = || NotifyError::Url(crate::escape::escape(url).into_owned());
    let parsed = url::Url::parse(url).map_err(|_| bad())?;
    let loopback = match parsed.host() {
        Some(url::Host::Domain(host)) => host == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    if !(parsed.scheme() == "https" || parsed.scheme() == "http" && loopback) {
        return Err(bad());
    }
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .user_agent(concat!("roster/", env!("CARGO_PKG_VERSION"), " watch"));
    if parsed.scheme() == "http" {
        builder = builder.no_proxy();
    }
    let client = builder.build().map_err(|e| NotifyError::Client(e.to_string()))?;
    Ok((parsed, client))
}

/// POSTs each finding that arrives on `findings` until the channel closes; `failed` hears of
/// each finding given up after every attempt.
pub async fn run(
    url: url::Url,
    client: reqwest::Client,
    mut findings: mpsc::Receiver<String>,
    failed: impl Fn(String),
) {
    while let Some(body) = findings.recv().await {
        let mut pause = FIRST_PAUSE;
        for attempt in 1..=ATTEMPTS {
            let sent = (client.post(url.clone()))
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone())
                .send()
                .await;
            match sent {
                Ok(answer) if answer.status().is_success() => break,
                outcome if attempt == ATTEMPTS => {
                    let why = match outcome {
                        Ok(answer) => format!("answered {}", answer.status()),
                        Err(error) => error.to_string(),
                    };
                    failed(why);
                }
                _ => {
                    tokio::time::sleep(pause.mul_f64(0.5 + fastrand::f64())).await;
                    pause *= 2;
                }
            }
        }
    }
}

//! The sandbox as its own process, for the README demo and benchmarks: serves a seed file until
//! Ctrl-C and prints where.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use linq_sandbox::{Idempotency, LatencyStep, Options, RateLimitKind, Sandbox, WebhookOptions};

/// A local stand-in for the Linq Partner API v3 chat endpoints: GET /v3/phone_numbers,
/// GET|POST /v3/chats, GET|PUT /v3/chats/{id}, POST|DELETE /v3/chats/{id}/participants.
///
/// Control API (no auth): GET /_sandbox/calls, /_sandbox/violations, /_sandbox/chats,
/// /_sandbox/chats/{id}, /_sandbox/messages, /_sandbox/member-ranges;
/// POST /_sandbox/chats/{id}/outside-add|outside-remove|leave with {"handle": ...};
/// POST /_sandbox/chats/{id}/outside-rename with {"display_name": ...} and
/// /_sandbox/chats/{id}/outside-icon with {"icon": ...} (null removes);
/// POST /_sandbox/land; POST /_sandbox/lines with {"phone_number": ...};
/// POST /_sandbox/create-faults with {"fault": "error"|"drop", "count": N};
/// POST /_sandbox/creates/hold, /_sandbox/creates/release, GET /_sandbox/creates/held;
/// POST /_sandbox/webhook with {"url": ..., "secret": ...}; GET /_sandbox/webhooks/events,
/// /_sandbox/webhooks/deliveries;
/// POST|DELETE /_sandbox/chats/{id}/tamper (a scripted breach of the
/// contract for one chat, e.g. {"kind": "fail", "status": 409, "code": 2013, "message": "..."};
/// see the crate docs for every kind).
#[derive(Debug, Parser)]
// Named here, not by the package: roster's `linq-sandbox` example builds this file too.
#[command(name = "linq-sandbox", version)]
struct Args {
    /// The seed: token, your own line (and the chats' lines) and the chats (JSON).
    #[arg(long, value_name = "FILE")]
    seed: PathBuf,
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// How long an accepted change stays queued before it lands.
    #[arg(long, value_name = "MS", default_value_t = 100)]
    land_delay_ms: u64,
    /// Added to every API request (with --workers, the time a worker takes to serve one).
    #[arg(long, value_name = "MS", default_value_t = 0)]
    latency_ms: u64,
    /// Draw each request's latency evenly between --latency-ms and this: jitter, whatever the
    /// load.
    #[arg(long, value_name = "MS")]
    latency_max_ms: Option<u64>,
    /// The latency becomes TO_MS for requests arriving AFTER_MS after the start, whatever the
    /// load (with --latency-max-ms, the jitter moves with it).
    #[arg(long, value_name = "AFTER_MS:TO_MS", value_parser = step)]
    latency_step: Option<LatencyStep>,
    /// API requests served at once; the others wait in line for a worker, so latency grows
    /// with the load.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    workers: Option<u64>,
    /// Requests per second above which the API answers 429 with a whole-second Retry-After.
    #[arg(long, value_name = "N", value_parser = positive)]
    rate_limit: Option<f64>,
    /// How --rate-limit counts: a token bucket holding a second's worth, N per whole-second
    /// window, or N in any second.
    #[arg(long, value_name = "KIND", value_enum, default_value_t = Kind::TokenBucket)]
    rate_limit_kind: Kind,
    /// API requests served at once; one more is answered 429 with Retry-After: 1 at once.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    max_in_flight: Option<u64>,
    /// Share of API requests answered 5xx without being applied.
    #[arg(long, default_value_t = 0.0, value_parser = share)]
    error_rate: f64,
    /// Share of participant calls applied but answered 500.
    #[arg(long, default_value_t = 0.0, value_parser = share)]
    applied_error_rate: f64,
    /// Share of API requests handled but whose connection is dropped without an answer.
    #[arg(long, default_value_t = 0.0, value_parser = share)]
    drop_rate: f64,
    /// Share of participant calls answered 202 accepted but never applied (they never land).
    #[arg(long, default_value_t = 0.0, value_parser = share)]
    lost_rate: f64,
    /// A handle whose participant calls are answered 202 accepted but never applied; repeatable.
    #[arg(long, value_name = "HANDLE", value_parser = handle)]
    lost_handle: Vec<String>,
    /// Land each accepted change after a random time up to twice the landing delay, so that a
    /// chat's changes land out of the order they were accepted in.
    #[arg(long)]
    scramble_landing: bool,
    /// Another line of the partner's, beside the seed's (E.164); repeatable.
    #[arg(long, value_name = "PHONE", value_parser = phone)]
    line: Vec<String>,
    /// Make a new chat for every create, even one repeating a message's idempotency_key
    /// (by default a repeat answers the chat the key made and sends nothing).
    #[arg(long)]
    ignore_idempotency_key: bool,
    /// Share of creates that make the chat and send its message, then answer 500.
    #[arg(long, default_value_t = 0.0, value_parser = share)]
    create_error_rate: f64,
    /// Share of creates that make the chat and send its message, then drop the connection.
    #[arg(long, default_value_t = 0.0, value_parser = share)]
    create_drop_rate: f64,
    /// POST a signed webhook here for every landed change, outside change, rename, icon and
    /// create, as Linq does (?version=2025-01-01 picks that payload version).
    #[arg(long, value_name = "URL", value_parser = url)]
    webhook_url: Option<String>,
    /// The signing secret of X-Webhook-Signature.
    #[arg(long, value_name = "SECRET", default_value = "sandbox-webhook-secret")]
    webhook_secret: String,
    /// Multiplies Linq's webhook retry delays (2, 4, 8, 16, 30 s); 0.001 makes them
    /// milliseconds.
    #[arg(long, value_name = "X", default_value_t = 1.0, value_parser = scale)]
    webhook_retry_scale: f64,
    /// Share of webhooks delivered twice (the same event_id), the second once the first
    /// succeeded.
    #[arg(long, default_value_t = 0.0, value_parser = share)]
    webhook_duplicate_rate: f64,
    /// Share of webhooks held back until the next one has gone out (out of order).
    #[arg(long, default_value_t = 0.0, value_parser = share)]
    webhook_reorder_rate: f64,
    /// Share of webhooks never sent.
    #[arg(long, default_value_t = 0.0, value_parser = share)]
    webhook_drop_rate: f64,
    /// Seconds added to X-Webhook-Timestamp (negative for the past).
    #[arg(long, value_name = "SECONDS", default_value_t = 0, allow_negative_numbers = true)]
    webhook_timestamp_offset: i64,
    /// Seed of the fault generator.
    #[arg(long, default_value_t = 0)]
    fault_seed: u64,
    /// Answer 401 to every API request after the first N, as if the token were revoked.
    #[arg(long, value_name = "N")]
    revoke_token_after: Option<usize>,
}

/// `--rate-limit-kind`, as spelled on the command line.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Kind {
    TokenBucket,
    FixedWindow,
    SlidingWindow,
}

impl From<Kind> for RateLimitKind {
    fn from(kind: Kind) -> RateLimitKind {
        match kind {
            Kind::TokenBucket => RateLimitKind::TokenBucket,
            Kind::FixedWindow => RateLimitKind::FixedWindow,
            Kind::SlidingWindow => RateLimitKind::SlidingWindow,
        }
    }
}

fn step(text: &str) -> Result<LatencyStep, String> {
    let parsed = text
        .split_once(':')
        .and_then(|(after, to)| Some((after.parse().ok()?, to.parse().ok()?)));
    match parsed {
        Some((after, to)) => Ok(LatencyStep {
            after: Duration::from_millis(after),
            to: Duration::from_millis(to),
        }),
        None => Err(format!("`{text}` is not AFTER_MS:TO_MS, such as 500:60")),
    }
}

fn share(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(x) if (0.0..=1.0).contains(&x) => Ok(x),
        _ => Err(format!("`{text}` is not a share between 0 and 1")),
    }
}

fn handle(text: &str) -> Result<String, String> {
    linq_sandbox::canonical_handle(text)
        .ok_or_else(|| format!("`{text}` is neither an E.164 phone number nor an email address"))
}

fn phone(text: &str) -> Result<String, String> {
    linq_sandbox::canonical_handle(text)
        .filter(|h| h.starts_with('+'))
        .ok_or_else(|| format!("`{text}` is not an E.164 phone number"))
}

fn url(text: &str) -> Result<String, String> {
    match reqwest::Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(text.to_owned()),
        _ => Err(format!("`{text}` is not an http or https URL")),
    }
}

fn scale(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(x) if x >= 0.0 && x.is_finite() => Ok(x),
        _ => Err(format!("`{text}` is not a factor of 0 or more")),
    }
}

fn positive(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(x) if x > 0.0 && x.is_finite() => Ok(x),
        _ => Err(format!("`{text}` is not a rate above 0")),
    }
}

/// Public for roster's `linq-sandbox` example, which runs this same file as a module.
#[tokio::main]
pub async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let seed = Sandbox::load_seed(&args.seed)?;
    let options = Options {
        land_delay: Duration::from_millis(args.land_delay_ms),
        latency: Duration::from_millis(args.latency_ms),
        latency_max: args.latency_max_ms.map(Duration::from_millis),
        latency_step: args.latency_step,
        workers: args.workers.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
        rate_limit: args.rate_limit,
        rate_limit_kind: args.rate_limit_kind.into(),
        max_in_flight: args.max_in_flight.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
        error_rate: args.error_rate,
        applied_error_rate: args.applied_error_rate,
        drop_rate: args.drop_rate,
        lost_rate: args.lost_rate,
        lost_handles: args.lost_handle.into_iter().collect(),
        scramble_landing: args.scramble_landing,
        idempotency: if args.ignore_idempotency_key {
            Idempotency::Ignore
        } else {
            Idempotency::Honour
        },
        create_error_rate: args.create_error_rate,
        create_drop_rate: args.create_drop_rate,
        webhooks: WebhookOptions {
            url: args.webhook_url,
            secret: args.webhook_secret,
            retry_scale: args.webhook_retry_scale,
            duplicate_rate: args.webhook_duplicate_rate,
            reorder_rate: args.webhook_reorder_rate,
            drop_rate: args.webhook_drop_rate,
            timestamp_offset: args.webhook_timestamp_offset,
            ..WebhookOptions::default()
        },
        seed: args.fault_seed,
        revoke_token_after: args.revoke_token_after,
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("failed to listen on `{}`", args.listen))?;
    let sandbox = Sandbox::start(seed, options, listener).await;
    for line in &args.line {
        sandbox.add_line(line);
    }
    let mut stdout = std::io::stdout();
    writeln!(stdout, "listening on {}", sandbox.base_url())?;
    stdout.flush()?;
    tokio::signal::ctrl_c().await.context("failed to wait for Ctrl-C")?;
    Ok(())
}

//! The webhook subscription the sandbox delivers to, as `POST /v3/webhook-subscriptions` would
//! make one: the target URL, the signing secret and the ids Linq puts on every webhook, then
//! Linq's retry schedule (shortened for tests) and the delivery faults a subscriber must live
//! with: duplicates, reordering and webhooks lost.

use std::time::Duration;

/// Linq's delays before the 2nd to 6th attempt of a delivery ("Retry backoff: 2s, 4s, 8s,
/// 16s, 30s"), before [`WebhookOptions::retry_scale`].
pub const RETRY_DELAYS: [Duration; 5] = [
    Duration::from_secs(2),
    Duration::from_secs(4),
    Duration::from_secs(8),
    Duration::from_secs(16),
    Duration::from_secs(30),
];

/// Attempts per delivery, the first included ("Retry attempts: 6 attempts per endpoint").
pub const MAX_ATTEMPTS: usize = RETRY_DELAYS.len() + 1;

/// Where webhooks go and how their delivery fails.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookOptions {
    /// The subscription's target URL; `None` sends no webhooks (and records no events). A
    /// `?version=2025-01-01` in it picks that payload version, as in Linq; any other gets
    /// `2026-02-03`.
    pub url: Option<String>,
    /// The signing secret `X-Webhook-Signature` is computed with.
    pub secret: String,
    /// `X-Webhook-Subscription-ID`.
    pub subscription_id: String,
    /// `partner_id` of every envelope.
    pub partner_id: String,
    /// Multiplies [`RETRY_DELAYS`]: 1 for Linq's schedule, 0.001 for tests that do not wait.
    pub retry_scale: f64,
    /// How long an attempt waits for an answer before it counts as failed (Linq: 10 s).
    pub timeout: Duration,
    /// Share of webhooks delivered a second time, with the same `event_id`, once the first
    /// delivery succeeded (Linq delivers at least once).
    pub duplicate_rate: f64,
    /// Share of webhooks held back until the next one has gone out, so that they arrive out of
    /// order (for at most the first retry delay, when no other follows). Without it, first
    /// attempts go in the order the changes happened.
    pub reorder_rate: f64,
    /// Share of webhooks never sent at all.
    pub drop_rate: f64,
    /// Seconds added to `X-Webhook-Timestamp` (negative for the past), so that a subscriber's
    /// replay window can be tried; 0 is the true time.
    pub timestamp_offset: i64,
}

impl Default for WebhookOptions {
    /// No URL: no webhooks. Linq's schedule and timeout, no faults.
    fn default() -> WebhookOptions {
        WebhookOptions {
            url: None,
            secret: "sandbox-webhook-secret".to_owned(),
            subscription_id: "b2c3d4e5-f6a7-4890-8bcd-ef2345678901".to_owned(),
            partner_id: "partner_sandbox".to_owned(),
            retry_scale: 1.0,
            timeout: Duration::from_secs(10),
            duplicate_rate: 0.0,
            reorder_rate: 0.0,
            drop_rate: 0.0,
            timestamp_offset: 0,
        }
    }
}

impl WebhookOptions {
    /// The delay before attempt `attempt + 1` after attempt `attempt` (1-based) failed, or
    /// `None` after the last attempt.
    pub fn retry_delay(&self, attempt: usize) -> Option<Duration> {
        let delay = RETRY_DELAYS.get(attempt.checked_sub(1)?)?;
        Some(delay.mul_f64(self.retry_scale.max(0.0)))
    }

    /// The payload version the URL asks for (`?version=`), Linq's latest otherwise.
    pub fn version(&self) -> &'static str {
        let asked = (self.url.as_deref())
            .and_then(|url| url.split_once('?'))
            .into_iter()
            .flat_map(|(_, query)| query.split('&'))
            .any(|pair| pair == "version=2025-01-01");
        if asked {
            "2025-01-01"
        } else {
            "2026-02-03"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_follow_linq_s_schedule_scaled() {
        let options = WebhookOptions::default();
        let delays: Vec<_> = (1..=MAX_ATTEMPTS).map(|a| options.retry_delay(a)).collect();
        assert_eq!(
            delays,
            [2, 4, 8, 16, 30]
                .map(|s| Some(Duration::from_secs(s)))
                .into_iter()
                .chain([None])
                .collect::<Vec<_>>()
        );
        let fast = WebhookOptions {
            retry_scale: 0.001,
            ..options
        };
        assert_eq!(fast.retry_delay(1), Some(Duration::from_millis(2)));
        assert_eq!(fast.retry_delay(0), None);
    }

    #[test]
    fn the_url_picks_the_payload_version() {
        let at = |url: &str| {
            WebhookOptions {
                url: Some(url.to_owned()),
                ..WebhookOptions::default()
            }
            .version()
        };
        assert_eq!(at("http://127.0.0.1:9/webhooks/linq"), "2026-02-03");
        assert_eq!(at("http://127.0.0.1:9/hook?version=2025-01-01"), "2025-01-01");
        assert_eq!(at("http://127.0.0.1:9/hook?a=1&version=2026-02-03"), "2026-02-03");
    }
}

//! What `GET /metrics` and `GET /healthz` tell: counters the receiver and the worker share,
//! written in Prometheus' text format by hand (a dozen lines; a metrics crate would cost more
//! compile time than it saves here).
//!
//! Label values are bounded: an event's type is one Linq documents or `other`, and webhooks
//! refused before their signature was checked count under `unverified`, so a sender cannot
//! grow the metrics by sending made-up types.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// The event types counted under their own name; any other counts as `other`.
const KNOWN_TYPES: &[&str] = &[
    "participant.added",
    "participant.removed",
    "chat.group_name_updated",
    "chat.group_icon_updated",
    "chat.group_name_update_failed",
    "chat.group_icon_update_failed",
    "chat.created",
];

/// Counters shared by the receiver and the worker.
#[derive(Debug)]
pub struct Metrics {
    /// Webhooks by (type, outcome).
    events: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    /// Chats found drifted (members changed outside roster, gone or unavailable).
    pub drift: AtomicU64,
    /// Changes roster made that Linq accepted and were not seen yet, as of the last write.
    pub pending: AtomicU64,
    /// Reads and changes sent to Linq.
    pub api_calls: AtomicU64,
    /// Refreshes of every managed chat that completed.
    pub full_refreshes: AtomicU64,
    /// Chats healed, and chats given up on.
    pub healed: AtomicU64,
    pub gave_up: AtomicU64,
    /// False while another process leads (PostgreSQL state): this one stands by.
    pub leading: AtomicBool,
    /// When this process started, and when its last full refresh completed.
    started: Instant,
    last_full: Mutex<Option<Instant>>,
}

impl Metrics {
    pub fn new(now: Instant) -> Metrics {
        Metrics {
            events: Mutex::new(BTreeMap::new()),
            drift: AtomicU64::new(0),
            pending: AtomicU64::new(0),
            api_calls: AtomicU64::new(0),
            full_refreshes: AtomicU64::new(0),
            healed: AtomicU64::new(0),
            gave_up: AtomicU64::new(0),
            leading: AtomicBool::new(true),
            started: now,
            last_full: Mutex::new(None),
        }
    }

    /// Counts a webhook of `event_type` (`None`: not verified) with `outcome`.
    pub fn event(&self, event_type: Option<&str>, outcome: &'static str) {
        let label = match event_type {
            None => "unverified",
            Some(given) => KNOWN_TYPES
                .iter()
                .find(|known| **known == given)
                .copied()
                .unwrap_or("other"),
        };
        let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        *events.entry((label, outcome)).or_default() += 1;
    }

    /// How many webhooks counted `outcome`, over every type.
    pub fn events_with(&self, outcome: &str) -> u64 {
        let events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        events.iter().filter(|((_, o), _)| *o == outcome).map(|(_, n)| n).sum()
    }

    /// A full refresh completed at `now`.
    pub fn refreshed_all(&self, now: Instant) {
        self.full_refreshes.fetch_add(1, Relaxed);
        *self.last_full.lock().unwrap_or_else(|e| e.into_inner()) = Some(now);
    }

    /// How long since the last full refresh, or since the start before the first.
    pub fn refresh_age(&self, now: Instant) -> Duration {
        let last = *self.last_full.lock().unwrap_or_else(|e| e.into_inner());
        now.saturating_duration_since(last.unwrap_or(self.started))
    }

    /// Healthy while leading and the last full refresh (or the start) is younger than three
    /// intervals: a watch whose refreshes keep failing says so.
    pub fn healthy(&self, now: Instant, interval: Duration) -> bool {
        self.leading.load(Relaxed) && self.refresh_age(now) < interval.saturating_mul(3)
    }

    /// The Prometheus text exposition of every counter, as of `now`.
    pub fn render(&self, now: Instant) -> String {
        let mut text = String::new();
        text.push_str("# HELP roster_watch_events_total Webhooks received, by event type and outcome.\n");
        text.push_str("# TYPE roster_watch_events_total counter\n");
        for ((event_type, outcome), n) in self.events.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = writeln!(
                text,
                "roster_watch_events_total{{type=\"{event_type}\",outcome=\"{outcome}\"}} {n}"
            );
        }
        for (name, kind, help, value) in self.values(now) {
            if value.is_nan() {
                continue;
            }
            let _ = writeln!(
                text,
                "# HELP roster_watch_{name} {help}\n# TYPE roster_watch_{name} {kind}\nroster_watch_{name} {value}"
            );
        }
        text
    }
}

impl Metrics {
    /// Every metric but the events: name, kind, help and value (NaN: left out).
    fn values(&self, now: Instant) -> [(&'static str, &'static str, &'static str, f64); 8] {
        let refreshed = self.last_full.lock().unwrap_or_else(|e| e.into_inner()).is_some();
        let age = refreshed.then(|| self.refresh_age(now));
        [
            (
                "drift_total",
                "counter",
                "Chats found drifted: changed outside roster, gone or unavailable.",
                self.drift.load(Relaxed) as f64,
            ),
            (
                "pending_changes",
                "gauge",
                "Changes Linq accepted and roster has not seen land yet.",
                self.pending.load(Relaxed) as f64,
            ),
            (
                "api_calls_total",
                "counter",
                "Requests sent to Linq: reads, adds and removes.",
                self.api_calls.load(Relaxed) as f64,
            ),
            (
                "full_refreshes_total",
                "counter",
                "Refreshes of every managed chat completed.",
                self.full_refreshes.load(Relaxed) as f64,
            ),
            (
                "healed_total",
                "counter",
                "Chats set back to the config (--heal).",
                self.healed.load(Relaxed) as f64,
            ),
            (
                "gave_up_total",
                "counter",
                "Chats no longer healed: they drifted back again and again.",
                self.gave_up.load(Relaxed) as f64,
            ),
            (
                "leader",
                "gauge",
                "1 while this process leads, 0 while it stands by.",
                u8::from(self.leading.load(Relaxed)) as f64,
            ),
            (
                "last_full_refresh_age_seconds",
                "gauge",
                "Seconds since the last full refresh completed (absent before the first).",
                age.map_or(f64::NAN, |age| age.as_secs_f64()),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn health_holds_for_three_intervals_after_the_last_full_refresh() {
        let interval = Duration::from_secs(300);
        let metrics = Metrics::new(Instant::now());
        assert!(metrics.healthy(Instant::now(), interval));
        tokio::time::advance(Duration::from_secs(899)).await;
        metrics.refreshed_all(Instant::now());
        tokio::time::advance(Duration::from_secs(899)).await;
        assert!(metrics.healthy(Instant::now(), interval));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(!metrics.healthy(Instant::now(), interval));
        let text = metrics.render(Instant::now());
        assert!(
            text.contains("roster_watch_last_full_refresh_age_seconds 900\n"),
            "{text}"
        );
    }

    #[test]
    fn made_up_event_types_do_not_grow_the_labels() {
        let metrics = Metrics::new(Instant::now());
        for n in 0..100 {
            metrics.event(Some(&format!("made.up.{n}")), "ignored");
        }
        metrics.event(Some("participant.added"), "accepted");
        metrics.event(None, "bad_signature");
        let text = metrics.render(Instant::now());
        assert!(
            text.contains("roster_watch_events_total{type=\"other\",outcome=\"ignored\"} 100\n"),
            "{text}"
        );
        assert!(
            text.contains("{type=\"participant.added\",outcome=\"accepted\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("{type=\"unverified\",outcome=\"bad_signature\"} 1\n"),
            "{text}"
        );
        assert!(!text.contains("made.up"), "{text}");
    }
}

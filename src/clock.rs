//! The wall clock, read in one injectable place: the binary reads the system's, tests fix it.
//!
//! roster needs the time of day for one thing: when Linq accepted a change, so that a change
//! that never lands is noticed after `--pending-timeout`. Those times are [`Timestamp`]s, written
//! in the state, the journal and plans as RFC 3339 in UTC.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Where "now" comes from. Cheap to clone; every clone reads the same source.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> SystemTime + Send + Sync>);

impl Clock {
    /// The system's wall clock.
    pub fn system() -> Clock {
        Clock(Arc::new(SystemTime::now))
    }

    /// A clock that always reads `at`, for deterministic tests.
    pub fn fixed(at: Timestamp) -> Clock {
        Clock(Arc::new(move || at.0))
    }

    pub fn now(&self) -> Timestamp {
        Timestamp((self.0)())
    }
}

impl Default for Clock {
    fn default() -> Clock {
        Clock::system()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Clock({})", self.now())
    }
}

/// A moment in UTC, serialized as RFC 3339 with milliseconds (`2026-01-05T09:30:00.250Z`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(SystemTime);

impl Timestamp {
    /// `seconds` after 1970-01-01T00:00:00Z.
    pub fn from_unix(seconds: u64) -> Timestamp {
        Timestamp(SystemTime::UNIX_EPOCH + Duration::from_secs(seconds))
    }

    /// How long before `now` this was; zero when it lies in the future (a clock set back).
    pub fn age(self, now: Timestamp) -> Duration {
        now.0.duration_since(self.0).unwrap_or(Duration::ZERO)
    }

    /// This moment less `duration`, saturating at the earliest time the system holds.
    pub fn before(self, duration: Duration) -> Timestamp {
        Timestamp(self.0.checked_sub(duration).unwrap_or(SystemTime::UNIX_EPOCH))
    }

    /// This moment plus `duration`, saturating far in the future.
    pub fn after(self, duration: Duration) -> Timestamp {
        Timestamp(self.0.checked_add(duration).unwrap_or(self.0))
    }
}

impl From<SystemTime> for Timestamp {
    fn from(time: SystemTime) -> Timestamp {
        Timestamp(time)
    }
}

/// To the second, as people read it: `2026-01-05T09:30:00Z`.
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_rfc3339_seconds(self.0))
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_rfc3339_millis(self.0))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&humantime::format_rfc3339_millis(self.0))
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Timestamp, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        humantime::parse_rfc3339(&text).map(Timestamp).map_err(|error| {
            serde::de::Error::custom(format_args!(
                "`{text}` is not an RFC 3339 time in UTC such as `2026-01-05T09:30:00Z` ({error})"
            ))
        })
    }
}

/// A duration as people read it, to the largest two units: `45s`, `12m`, `2h 5m`, `3d 4h`.
pub fn approximate(duration: Duration) -> String {
    let seconds = duration.as_secs();
    let (minutes, hours, days) = (seconds / 60, seconds / 3600, seconds / 86_400);
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3600 => format!("{minutes}m"),
        3600..86_400 if minutes % 60 == 0 => format!("{hours}h"),
        3600..86_400 => format!("{hours}h {}m", minutes % 60),
        _ if hours % 24 == 0 => format!("{days}d"),
        _ => format!("{days}d {}h", hours % 24),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_as_rfc_3339() {
        let at = Timestamp::from_unix(1_767_605_400).after(Duration::from_millis(250));
        let json = serde_json::to_string(&at).unwrap();
        assert_eq!(json, "\"2026-01-05T09:30:00.250Z\"");
        assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), at);
        assert_eq!(at.to_string(), "2026-01-05T09:30:00Z");
        let error = serde_json::from_str::<Timestamp>("\"yesterday\"").unwrap_err();
        assert!(
            error.to_string().contains("`yesterday` is not an RFC 3339 time"),
            "{error}"
        );
    }

    #[test]
    fn a_fixed_clock_reads_the_same_and_ages_never_go_negative() {
        let at = Timestamp::from_unix(1_000);
        let clock = Clock::fixed(at);
        assert_eq!(clock.clone().now(), at);
        assert_eq!(Timestamp::from_unix(400).age(clock.now()), Duration::from_secs(600));
        assert_eq!(Timestamp::from_unix(2_000).age(clock.now()), Duration::ZERO);
    }

    #[test]
    fn durations_read_to_two_units() {
        let cases = [
            (0, "0s"),
            (59, "59s"),
            (60, "1m"),
            (3599, "59m"),
            (3600, "1h"),
            (7500, "2h 5m"),
            (86_400, "1d"),
            (273_600, "3d 4h"),
        ];
        for (seconds, text) in cases {
            assert_eq!(approximate(Duration::from_secs(seconds)), text, "{seconds}");
        }
    }
}

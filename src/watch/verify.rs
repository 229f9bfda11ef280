//! Is this webhook Linq's? The check Linq documents ("Verifying Webhook Signatures"): the
//! hex HMAC-SHA256 of `{X-Webhook-Timestamp}.{raw body}` under the subscription's signing
//! secret, compared in constant time, and a timestamp within [`MAX_SKEW`] of now, so that a
//! webhook recorded once cannot be replayed later.
//!
//! The rules, in the order they are checked (each failure changes nothing):
//!
//! 1. Both headers are present, and the timestamp is whole unix seconds.
//! 2. The timestamp is at most [`MAX_SKEW`] before or after now.
//! 3. The signature is 64 hex digits, and equals the MAC of the timestamp, a `.` and the body
//!    exactly as received (checked by `Mac::verify_slice`, which takes the same time wherever
//!    the first differing byte is).

use std::fmt;
use std::time::Duration;

use hmac::{KeyInit, Mac};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// How far a webhook's timestamp may be from now, either way.
pub const MAX_SKEW: Duration = Duration::from_secs(5 * 60);

/// The signing secret of the webhook subscription (`LINQ_WEBHOOK_SECRET`); shown as `***`.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(secret: impl Into<String>) -> Secret {
        Secret(secret.into().into_bytes())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Why a webhook is not taken as Linq's: answered `401`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    #[error("no `X-Webhook-Signature` header")]
    NoSignature,
    #[error("no `X-Webhook-Timestamp` header")]
    NoTimestamp,
    #[error("`X-Webhook-Timestamp` is not unix seconds")]
    BadTimestamp,
    #[error("`X-Webhook-Timestamp` is {0}s away from now, more than 300s")]
    Stale(u64),
    #[error("`X-Webhook-Signature` does not match the body")]
    BadSignature,
}

impl Rejected {
    /// The outcome label the metrics count it under.
    pub fn outcome(&self) -> &'static str {
        match self {
            Rejected::NoSignature | Rejected::BadSignature => "bad_signature",
            Rejected::NoTimestamp | Rejected::BadTimestamp | Rejected::Stale(_) => "bad_timestamp",
        }
    }
}

/// Checks a webhook by the rules of the module doc, as of `now` (unix seconds).
pub fn verify(
    secret: &Secret,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: u64,
) -> Result<(), Rejected> {
    let signature = signature.ok_or(Rejected::NoSignature)?;
    let timestamp = timestamp.ok_or(Rejected::NoTimestamp)?;
    let sent: u64 = (timestamp.len() <= 20 && timestamp.bytes().all(|b| b.is_ascii_digit()))
        .then(|| timestamp.parse().ok())
        .flatten()
        .ok_or(Rejected::BadTimestamp)?;
    let skew = sent.abs_diff(now);
    if skew > MAX_SKEW.as_secs() {
        return Err(Rejected::Stale(skew));
    }
    let expected = unhex(signature.trim()).ok_or(Rejected::BadSignature)?;
    let mut mac = HmacSha256::new_from_slice(&secret.0).expect("HMAC takes a key of any length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&expected).map_err(|_| Rejected::BadSignature)
}

/// The 32 bytes that 64 hex digits spell, either case; `None` for anything else.
fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 {
        return None;
    }
    let digit = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    (text.as_bytes().chunks(2))
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
}

/// The signature Linq sends for `body` at `timestamp`: for tests and the benchmark.
pub fn sign(secret: &Secret, timestamp: &str, body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(&secret.0).expect("HMAC takes a key of any length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_780_000_000;

    fn secret() -> Secret {
        Secret::new("whsec-test")
    }

    #[test]
    fn a_signature_linq_made_is_taken_and_every_other_refused() {
        let body = br#"{"event_id":"1"}"#;
        let ts = NOW.to_string();
        let good = sign(&secret(), &ts, body);
        assert_eq!(verify(&secret(), Some(&ts), Some(&good), body, NOW), Ok(()));
        assert_eq!(
            verify(&secret(), Some(&ts), Some(&good.to_uppercase()), body, NOW),
            Ok(())
        );
        let other = sign(&Secret::new("another"), &ts, body);
        let body_only = {
            let mut mac = HmacSha256::new_from_slice(b"whsec-test").unwrap();
            mac.update(body);
            mac.finalize()
                .into_bytes()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        };
        for (signature, why) in [
            (other.as_str(), "another secret"),
            (body_only.as_str(), "the body without the timestamp"),
            ("00", "too short"),
            (&good[..63], "one digit short"),
            ("zz", "not hex"),
        ] {
            assert_eq!(
                verify(&secret(), Some(&ts), Some(signature), body, NOW),
                Err(Rejected::BadSignature),
                "{why}"
            );
        }
        let tampered = br#"{"event_id":"2"}"#;
        assert_eq!(
            verify(&secret(), Some(&ts), Some(&good), tampered, NOW),
            Err(Rejected::BadSignature)
        );
        assert_eq!(
            verify(&secret(), Some(&ts), None, body, NOW),
            Err(Rejected::NoSignature)
        );
        assert_eq!(
            verify(&secret(), None, Some(&good), body, NOW),
            Err(Rejected::NoTimestamp)
        );
    }

    #[test]
    fn timestamps_more_than_five_minutes_away_are_refused() {
        let body = b"{}";
        for (sent, ok) in [
            (NOW - 300, true),
            (NOW + 300, true),
            (NOW - 301, false),
            (NOW + 600, false),
            (NOW - 600, false),
        ] {
            let ts = sent.to_string();
            let signature = sign(&secret(), &ts, body);
            let verdict = verify(&secret(), Some(&ts), Some(&signature), body, NOW);
            assert_eq!(verdict.is_ok(), ok, "{sent}: {verdict:?}");
        }
        for ts in ["", "-5", "1.5", "1e9", "99999999999999999999999"] {
            let signature = sign(&secret(), ts, body);
            assert_eq!(
                verify(&secret(), Some(ts), Some(&signature), body, NOW),
                Err(Rejected::BadTimestamp),
                "{ts}"
            );
        }
    }

    #[test]
    fn the_secret_is_never_shown() {
        assert_eq!(format!("{:?}", Secret::new("whsec-live")), "***");
    }
}

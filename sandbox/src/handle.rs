//! Handles and services as Linq spells them, and the one canonical spelling of a handle.

/// The messaging service of a chat or a handle, spelled as Linq spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    IMessage,
    Rcs,
    Sms,
}

impl Service {
    /// Parses Linq's spelling (`iMessage`, `RCS`, `SMS`).
    pub fn parse(text: &str) -> Option<Service> {
        match text {
            "iMessage" => Some(Service::IMessage),
            "RCS" => Some(Service::Rcs),
            "SMS" => Some(Service::Sms),
            _ => None,
        }
    }

    /// Linq's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Service::IMessage => "iMessage",
            Service::Rcs => "RCS",
            Service::Sms => "SMS",
        }
    }
}

/// The canonical spelling of a handle as the API accepts it, or `None` when it is neither an
/// E.164 phone number (`^\+[1-9][0-9]{1,14}$`, nothing else) nor an email address. Emails compare
/// without case, so they are kept lower-cased.
pub fn canonical_handle(text: &str) -> Option<String> {
    if let Some(digits) = text.strip_prefix('+') {
        let ok =
            (2..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0');
        ok.then(|| text.to_owned())
    } else {
        let (local, domain) = text.rsplit_once('@')?;
        let ok = !local.is_empty() && !domain.is_empty() && !text.chars().any(char::is_whitespace);
        ok.then(|| text.to_lowercase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_strict_e164_or_email() {
        assert_eq!(canonical_handle("+12055550101").as_deref(), Some("+12055550101"));
        assert_eq!(canonical_handle("Bob@Example.com").as_deref(), Some("bob@example.com"));
        for bad in [
            "+1 205 555 0101",
            "12055550101",
            "+0123",
            "+1",
            "+1234567890123456",
            "bob",
            "@x",
            "a b@x",
        ] {
            assert_eq!(canonical_handle(bad), None, "{bad}");
        }
    }
}

//! Every unknown key of a file, not only the first: `serde_yaml` stops at the first unknown
//! field (`deny_unknown_fields`), so on that error path only the file is read again as plain
//! YAML values and walked against the keys each mapping knows ([`super::raw::KNOWN_KEYS`]).

use serde_yaml::Value;

use super::locate::Seg;
use super::messages::unknown_key_among;
use super::raw::KNOWN_KEYS;

/// An unknown key: the path of its entry, and the sentence to report there.
pub(crate) struct Unknown {
    pub path: Vec<Seg>,
    pub message: String,
}

/// The unknown keys of `text`, in document order; empty when it does not read as YAML values
/// (the first error then stands alone).
pub(crate) fn unknown_keys(text: &str) -> Vec<Unknown> {
    let Ok(Value::Mapping(top)) = serde_yaml::from_str::<Value>(text) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    walk(&top, "", &[], None, &mut found);
    if let Some(Value::Mapping(settings)) = top.get("settings") {
        walk(
            settings,
            "settings",
            &[Seg::key("settings")],
            Some("settings".into()),
            &mut found,
        );
    }
    if let Some(Value::Mapping(chats)) = top.get("chats") {
        for (entry, (key, chat)) in chats.iter().enumerate() {
            let (Some(key), Value::Mapping(chat)) = (key.as_str(), chat) else {
                continue;
            };
            let path = [Seg::key("chats"), Seg::Entry(entry)];
            walk(chat, "chat", &path, Some(format!("chats.{key}")), &mut found);
            if let Some(Value::Mapping(create)) = chat.get("create") {
                let path = [Seg::key("chats"), Seg::Entry(entry), Seg::key("create")];
                walk(create, "create", &path, Some(format!("chats.{key}.create")), &mut found);
            }
        }
    }
    found
}

/// Records the keys of `mapping` that the mapping of kind `kind` does not know.
fn walk(mapping: &serde_yaml::Mapping, kind: &str, path: &[Seg], shown: Option<String>, found: &mut Vec<Unknown>) {
    let known = KNOWN_KEYS
        .iter()
        .find(|(name, _)| *name == kind)
        .map_or(&[][..], |(_, keys)| *keys);
    for (entry, key) in mapping.keys().enumerate() {
        let Some(key) = key.as_str() else { continue };
        if known.contains(&key) {
            continue;
        }
        let mut at = path.to_vec();
        at.push(Seg::Entry(entry));
        found.push(Unknown {
            path: at,
            message: unknown_key_among(key, known, shown.as_deref()),
        });
    }
}

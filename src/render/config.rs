//! The config of chats read from Linq, as YAML in the shape `roster validate` reads: what
//! `roster import` prints or writes.

use std::collections::BTreeMap;

use anyhow::{bail, Context as _};
use serde::Serialize;

use crate::config::Service;
use crate::escape::is_hidden;
use crate::handle::Handle;
use crate::linq::Chat;
use crate::state::State;

/// The config file `import` prints, in the shape `roster validate` reads.
#[derive(Serialize)]
struct ConfigFile {
    version: u32,
    chats: BTreeMap<String, ConfigChat>,
}

#[derive(Serialize)]
struct ConfigChat {
    /// The chat id, when the key is one of the team's own.
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    service: Option<Service>,
    members: Vec<String>,
}

/// The config of the imported chats as YAML, serialized by `serde_yaml`, so any name or handle
/// is quoted and escaped as YAML needs; members are the canonical handles the state records.
///
/// `serde_yaml` escapes C0 and C1 controls but writes bidi overrides and zero-width characters
/// raw (YAML counts them printable), even in plain scalars. A name holding any
/// [hidden](is_hidden) character is therefore serialized as a unique placeholder, replaced
/// afterwards by a double-quoted scalar that escapes it: the file reads back to the exact name,
/// and printed, it cannot act on the terminal.
pub fn imported_config(chats: &[Chat], state: &State) -> anyhow::Result<String> {
    imported_config_keyed(chats, state, &BTreeMap::new())
}

/// Keys for `chats` made from their display names (a chat without one keeps its id), unique
/// among themselves and among the keys the state records for other chats: a second `Sales`
/// becomes `sales-2`.
pub fn keys_from_names(chats: &[Chat], state: &State) -> BTreeMap<String, String> {
    let mut taken: std::collections::BTreeSet<String> = (state.chats.iter())
        .filter(|(id, _)| !chats.iter().any(|chat| &chat.id == *id))
        .map(|(id, chat)| chat.key_or(id).to_owned())
        .collect();
    let mut keys = BTreeMap::new();
    for chat in chats {
        let Some(base) = chat.display_name.as_deref().and_then(crate::chat_id::key_from_name) else {
            continue;
        };
        let mut key = base.clone();
        let mut n = 2;
        while taken.contains(&key) {
            let suffix = format!("-{n}");
            key = format!(
                "{}{suffix}",
                &base[..base.len().min(crate::chat_id::MAX_KEY_LEN - suffix.len())]
            );
            n += 1;
        }
        taken.insert(key.clone());
        keys.insert(chat.id.clone(), key);
    }
    keys
}

/// [`imported_config`], each chat of `keys` (id -> key) under its key with `id:` binding it.
pub fn imported_config_keyed(chats: &[Chat], state: &State, keys: &BTreeMap<String, String>) -> anyhow::Result<String> {
    let nonce = fastrand::u64(..);
    let mut hidden: Vec<(String, String)> = Vec::new();
    let mut name_of = |chat: &Chat| {
        let name = chat.display_name.clone().filter(|name| !name.trim().is_empty())?;
        if !name.chars().any(is_hidden) {
            return Some(name);
        }
        let placeholder = format!("roster-escaped-name-{nonce:016x}-{}", hidden.len());
        hidden.push((placeholder.clone(), name));
        Some(placeholder)
    };
    let config = ConfigFile {
        version: 1,
        chats: chats
            .iter()
            .map(|chat| {
                let members = state.chats[&chat.id].members.iter().map(Handle::to_string).collect();
                let key = keys.get(&chat.id);
                let entry = ConfigChat {
                    id: key.map(|_| chat.id.clone()),
                    name: name_of(chat),
                    service: chat.service.as_deref().and_then(Service::from_linq),
                    members,
                };
                (key.unwrap_or(&chat.id).clone(), entry)
            })
            .collect(),
    };
    let mut yaml = serde_yaml::to_string(&config).context("failed to write the imported chats as YAML")?;
    for (placeholder, name) in hidden {
        if yaml.matches(&placeholder).count() != 1 {
            bail!("failed to write the imported chats as YAML: a chat name could not be escaped");
        }
        yaml = yaml.replacen(&placeholder, &yaml_quoted(&name), 1);
    }
    Ok(format!(
        "# Imported from Linq by `roster import`. Members are the participants other than your own line.\n{yaml}"
    ))
}

/// `text` as a YAML double-quoted scalar, every [hidden](is_hidden) character escaped
/// (`\x1b`, `\u202E`, `\U000E0041`) and nothing else.
fn yaml_quoted(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if is_hidden(c) && (c as u32) < 0x100 => out.push_str(&format!("\\x{:02X}", c as u32)),
            c if is_hidden(c) && (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c if is_hidden(c) => out.push_str(&format!("\\U{:08X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

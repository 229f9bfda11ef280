//! The config file as written: the serde types that parse one YAML file, and from which the
//! JSON Schema (`schemas/roster.schema.json`) is generated, so the two cannot disagree.
//!
//! Doc comments on these types become the schema's descriptions that editors show.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};

use super::Service;

/// A roster config file: which people belong in which Linq group chats.
///
/// The config may be split over several files; `people` may be spread over them, `settings`
/// may appear in one file at most, and each chat in one file only.
#[derive(Debug, serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a mapping with `version: 1`")]
#[schemars(title = "roster config")]
pub(crate) struct RawFile {
    /// Version of this format; must be `1`.
    #[allow(dead_code)] // checked while parsing, carries no information afterwards
    pub version: Version,
    /// Limits and guards for every chat and plan; at most one file may hold them.
    pub settings: Option<RawSettings>,
    /// Aliases: a person's name -> their handle (a phone number starting with `+`, or an email
    /// address). Members and protected entries may then name the person instead of the handle.
    pub people: Option<Entries<String>>,
    /// Chat key -> the chat's desired membership. A key is a Linq chat id (a UUID: that chat),
    /// or a key of your own (`[a-z0-9][a-z0-9._-]*`, at most 64 characters) standing for the
    /// chat bound by `id`, created by `create`, or recorded under it in the state.
    pub chats: Option<Entries<RawChat>>,
}

/// `settings`: limits kept at every step of a plan, and guards against mistakes.
#[derive(Debug, serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a mapping of settings")]
pub(crate) struct RawSettings {
    /// Floor kept at every step of a plan: the fewest members (your own line excluded) a chat
    /// may have. Default 3; at least 2.
    #[schemars(range(min = 2), extend("default" = 3))]
    pub min_members: Option<usize>,
    /// Cap kept at every step of a plan: the most members a chat may have. Default 31, Linq's
    /// recipient limit.
    #[schemars(extend("default" = 31))]
    pub max_members: Option<usize>,
    /// A plan that removes more than this share (0 to 1) of all managed memberships is refused
    /// unless `--allow-mass-removal` is given. Default 0.25.
    #[schemars(range(min = 0.0, max = 1.0), extend("default" = 0.25))]
    pub max_removal_ratio: Option<f64>,
    /// A plan that removes more members than this over all chats is refused unless
    /// `--allow-mass-removal` is given. No limit by default.
    pub max_removals: Option<usize>,
    /// People (names from `people`) or handles that roster never removes from any chat.
    #[serde(default)]
    pub protected: Vec<String>,
    /// Re-add members who left a chat on their own. Default false: leave them out of plans and
    /// suggest removing them from the config.
    #[serde(default)]
    pub readd_left: bool,
    /// Set each chat's display name to its `name` (default true). False: `name` is a label
    /// shown in plans only, and roster never renames a chat.
    #[schemars(extend("default" = true))]
    pub manage_names: Option<bool>,
    /// A plan that creates more chats than this is refused unless `--allow-mass-create` is
    /// given: every create messages real people. Default 10.
    #[schemars(extend("default" = 10))]
    pub max_creates: Option<usize>,
}

/// One chat's desired membership.
#[derive(Debug, serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a mapping with `members`")]
pub(crate) struct RawChat {
    /// The chat's display name, set by roster where the chat differs (a label shown in plans
    /// only with `settings.manage_names: false`).
    pub name: Option<String>,
    /// The chat's icon: an `https` URL, set by roster where it differs from the one last set.
    pub icon: Option<String>,
    /// The Linq chat id (a UUID) this key of your own stands for: adopts an existing chat
    /// without using its id as the key.
    pub id: Option<String>,
    /// Keys this chat was known under before: the chat the state knew under one of them now
    /// belongs to this key, with no call to Linq.
    #[serde(default)]
    pub previously: Vec<String>,
    /// Lets roster create the chat when the state knows no chat for this key. Stays in the file
    /// harmlessly once the chat exists.
    pub create: Option<RawCreate>,
    /// The chat's messaging service; Linq refuses additions across services.
    pub service: Option<Service>,
    /// This chat's cap, instead of `settings.max_members` (SMS carriers often cap groups near
    /// 20, some at 10).
    pub max_members: Option<usize>,
    /// A plan that removes more members than this from this chat is refused unless
    /// `--allow-mass-removal` is given. No limit by default.
    pub max_removals: Option<usize>,
    /// People or handles never removed from this chat, in addition to `settings.protected`.
    #[serde(default)]
    pub protected: Vec<String>,
    /// The chat's members other than your own Linq line: names from `people`, or handles (a
    /// phone number starting with `+`, or an email address).
    #[schemars(with = "Vec<String>")]
    pub members: MemberTexts,
}

/// One chat's members as written, in one string: a list of a `String` each costs three times
/// the text, and a large config holds millions of members until they are resolved. Parsed
/// straight from the YAML sequence, with no string of its own for each member.
#[derive(Debug, Default)]
pub(crate) struct MemberTexts {
    text: String,
    /// Where each member ends in `text`.
    ends: Vec<u32>,
}

impl MemberTexts {
    pub fn get(&self, index: usize) -> &str {
        let start = index.checked_sub(1).map_or(0, |before| self.ends[before] as usize);
        &self.text[start..self.ends[index] as usize]
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        (0..self.len()).map(|index| self.get(index))
    }

    fn push(&mut self, member: &str) {
        self.text.push_str(member);
        self.ends
            .push(u32::try_from(self.text.len()).expect("a chat's members are far under 4 GB"));
    }
}

#[cfg(test)]
impl From<Vec<&str>> for MemberTexts {
    fn from(members: Vec<&str>) -> MemberTexts {
        let mut texts = MemberTexts::default();
        members.into_iter().for_each(|member| texts.push(member));
        texts
    }
}

impl<'de> Deserialize<'de> for MemberTexts {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct List;
        impl<'de> Visitor<'de> for List {
            type Value = MemberTexts;
            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("a sequence")
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<MemberTexts, A::Error> {
                let mut texts = MemberTexts::default();
                while seq.next_element_seed(Member(&mut texts))?.is_some() {}
                Ok(texts)
            }
        }
        /// One member, appended to the list as it is read.
        struct Member<'a>(&'a mut MemberTexts);
        impl<'de> de::DeserializeSeed<'de> for Member<'_> {
            type Value = ();
            fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
                deserializer.deserialize_str(self)
            }
        }
        impl<'de> Visitor<'de> for Member<'_> {
            type Value = ();
            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, member: &str) -> Result<(), E> {
                self.0.push(member);
                Ok(())
            }
        }
        deserializer.deserialize_seq(List)
    }
}

/// `create`: how roster creates a chat, messaging its members.
#[derive(Debug, serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a mapping with `from` and `message`")]
pub(crate) struct RawCreate {
    /// The line (one of your Linq phone numbers, E.164) that creates the chat and sends the
    /// first message.
    pub from: String,
    /// The first message, sent to every member as the chat is created (Linq requires one). It
    /// goes to real people: the plan shows it whole.
    #[schemars(length(min = 1))]
    pub message: Option<String>,
}

/// The keys each mapping of the format knows, by where it is: how every unknown key of a file is
/// found once `serde_yaml` stopped at the first (it reports only one).
pub(crate) const KNOWN_KEYS: &[(&str, &[&str])] = &[
    ("", &["version", "settings", "people", "chats"]),
    (
        "settings",
        &[
            "min_members",
            "max_members",
            "max_removal_ratio",
            "max_removals",
            "protected",
            "readd_left",
            "manage_names",
            "max_creates",
        ],
    ),
    (
        "chat",
        &[
            "name",
            "icon",
            "id",
            "previously",
            "create",
            "service",
            "max_members",
            "max_removals",
            "protected",
            "members",
        ],
    ),
    ("create", &["from", "message"]),
];

/// `version: 1`, refused while parsing when it is anything else, so that a file written for
/// another version of the format stops at its first line instead of at many unknown keys.
#[derive(Debug)]
pub(crate) struct Version;

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match u64::deserialize(deserializer)? {
            1 => Ok(Version),
            other => Err(de::Error::custom(format_args!(
                "unsupported `version` `{other}`: this roster reads version `1`"
            ))),
        }
    }
}

impl JsonSchema for Version {
    fn schema_name() -> Cow<'static, str> {
        "Version".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_generator: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "integer", "const": 1 })
    }
}

/// A YAML mapping kept as its entries in document order, duplicates included, so that a key
/// written twice is reported with both places instead of the last one silently winning.
#[derive(Debug)]
pub(crate) struct Entries<T>(pub Vec<(String, T)>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Entries<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for EntriesVisitor<T> {
            type Value = Entries<T>;

            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a mapping")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some(entry) = map.next_entry::<String, T>()? {
                    entries.push(entry);
                }
                Ok(Entries(entries))
            }
        }

        deserializer.deserialize_map(EntriesVisitor(PhantomData))
    }
}

impl<T: JsonSchema> JsonSchema for Entries<T> {
    fn schema_name() -> Cow<'static, str> {
        format!("Map_of_{}", T::schema_name()).into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "object",
            "additionalProperties": generator.subschema_for::<T>(),
        })
    }
}

//! Checks answers against Linq's own OpenAPI schemas (`sandbox/openapi/openapi.yaml`, a copy
//! of the vendor's file; see the README beside it).
//!
//! A small checker rather than a JSON Schema crate: the schemas these endpoints and webhooks use
//! need only `$ref`, `allOf`, `oneOf`, `type`, `nullable`, `required`, `properties`, `items`,
//! `enum`, `const`, `minItems`/`maxItems`, `minLength`/`maxLength` and `format` (`uuid`,
//! `date-time`, `uri`), and a full validator cost minutes of compile time for that. Any other
//! validation keyword is reported as a problem, so a schema the checker does not understand
//! can never pass silently.

use std::sync::OnceLock;

use serde_json::Value;

/// Linq's OpenAPI document, parsed once per test binary.
pub fn spec() -> &'static Spec {
    static SPEC: OnceLock<Spec> = OnceLock::new();
    SPEC.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.yaml");
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {path}: {e}"));
        let doc: serde_yaml::Value = serde_yaml::from_str(&text).expect("openapi.yaml parses");
        Spec {
            doc: serde_json::to_value(doc).expect("openapi.yaml is JSON-compatible"),
        }
    })
}

pub struct Spec {
    doc: Value,
}

impl Spec {
    /// `#/components/schemas/{name}`.
    pub fn component(&self, name: &str) -> &Value {
        self.pointer(&format!("/components/schemas/{name}"))
    }

    /// The JSON schema of an operation's answer, e.g. `("/v3/chats/{chatId}/participants", "post", "202")`.
    pub fn response(&self, path: &str, method: &str, status: &str) -> &Value {
        let path = path.replace('~', "~0").replace('/', "~1");
        self.pointer(&format!(
            "/paths/{path}/{method}/responses/{status}/content/application~1json/schema"
        ))
    }

    fn pointer(&self, pointer: &str) -> &Value {
        self.doc
            .pointer(pointer)
            .unwrap_or_else(|| panic!("openapi.yaml has no `{pointer}`"))
    }

    /// Every way `value` breaks `schema`, each with where.
    pub fn problems(&self, schema: &Value, value: &Value) -> Vec<String> {
        let mut problems = Vec::new();
        self.check(schema, value, "", &mut problems);
        problems
    }

    /// Panics, naming every problem, unless `value` is valid against the component `name`.
    pub fn assert_component(&self, name: &str, value: &Value) {
        let problems = self.problems(self.component(name), value);
        assert!(problems.is_empty(), "not a valid `{name}`: {problems:#?}\n{value:#}");
    }

    /// The request body examples Linq documents for an operation, by name.
    pub fn request_examples(&self, path: &str, method: &str) -> Vec<(String, Value)> {
        let path = path.replace('~', "~0").replace('/', "~1");
        let examples = self.pointer(&format!(
            "/paths/{path}/{method}/requestBody/content/application~1json/examples"
        ));
        examples
            .as_object()
            .expect("examples is an object")
            .iter()
            .map(|(name, example)| (name.clone(), example["value"].clone()))
            .collect()
    }

    /// The schema of a webhook's body as Linq's `webhooks` section gives it for the 2026-02-03
    /// payloads, e.g. `participant.added`.
    pub fn webhook(&self, event_type: &str) -> &Value {
        self.pointer(&format!(
            "/webhooks/{event_type}.v2026/post/requestBody/content/application~1json/schema"
        ))
    }

    /// Panics unless `value` is a valid body of the webhook `event_type`.
    pub fn assert_webhook(&self, event_type: &str, value: &Value) {
        let problems = self.problems(self.webhook(event_type), value);
        assert!(
            problems.is_empty(),
            "not a valid `{event_type}` webhook: {problems:#?}\n{value:#}"
        );
    }

    /// Panics unless `value` is valid against an operation's answer schema.
    pub fn assert_response(&self, path: &str, method: &str, status: &str, value: &Value) {
        let problems = self.problems(self.response(path, method, status), value);
        assert!(
            problems.is_empty(),
            "not a valid {method} {path} {status} answer: {problems:#?}\n{value:#}"
        );
    }

    fn check(&self, schema: &Value, value: &Value, at: &str, problems: &mut Vec<String>) {
        let Some(schema) = schema.as_object() else {
            problems.push(format!("{at}: schema is not an object"));
            return;
        };
        if let Some(reference) = schema.get("$ref") {
            let pointer = reference
                .as_str()
                .and_then(|r| r.strip_prefix('#'))
                .expect("local $ref");
            self.check(self.pointer(pointer), value, at, problems);
        }
        if value.is_null() && schema.get("nullable") == Some(&Value::Bool(true)) {
            return;
        }
        for (keyword, argument) in schema {
            self.check_keyword(keyword, argument, value, at, problems);
        }
    }

    /// What one keyword of a schema says of `value`.
    fn check_keyword(&self, keyword: &str, argument: &Value, value: &Value, at: &str, problems: &mut Vec<String>) {
        match keyword {
            "$ref" | "nullable" | "description" | "example" | "examples" | "default" | "title" | "deprecated"
            // `discriminator` only names the property that picks a `oneOf` branch; the `oneOf`
            // below checks the branches themselves.
            | "discriminator" => {}
            "allOf" => {
                for branch in argument.as_array().expect("allOf is an array") {
                    self.check(branch, value, at, problems);
                }
            }
            "oneOf" => {
                let branches = argument.as_array().expect("oneOf is an array");
                let matching = branches
                    .iter()
                    .filter(|branch| self.problems(branch, value).is_empty())
                    .count();
                if matching != 1 {
                    problems.push(format!(
                        "{at}: `{value}` matches {matching} of the {} `oneOf` branches, not one",
                        branches.len()
                    ));
                }
            }
            "const" => {
                if value != argument {
                    problems.push(format!("{at}: `{value}` is not {argument}"));
                }
            }
            "minItems" | "maxItems" | "minLength" | "maxLength" => check_size(keyword, argument, value, at, problems),
            "type" => check_type(argument, value, at, problems),
            "enum" => {
                let allowed = argument.as_array().expect("enum is an array");
                if !allowed.contains(value) {
                    problems.push(format!("{at}: `{value}` is not one of {argument}"));
                }
            }
            "required" => check_required(argument, value, at, problems),
            "properties" => {
                if let Some(object) = value.as_object() {
                    for (name, property) in argument.as_object().expect("properties is an object") {
                        if let Some(inner) = object.get(name) {
                            self.check(property, inner, &format!("{at}/{name}"), problems);
                        }
                    }
                }
            }
            "items" => {
                if let Some(items) = value.as_array() {
                    for (i, item) in items.iter().enumerate() {
                        self.check(argument, item, &format!("{at}/{i}"), problems);
                    }
                }
            }
            "format" => check_format(argument, value, at, problems),
            other => problems.push(format!("{at}: the checker does not support keyword `{other}`")),
        }
    }
}

/// `minItems`, `maxItems`, `minLength`, `maxLength`: the size of an array or a string.
fn check_size(keyword: &str, argument: &Value, value: &Value, at: &str, problems: &mut Vec<String>) {
    let bound = argument.as_u64().expect("a size bound is a whole number");
    let size = match (keyword, value) {
        ("minItems" | "maxItems", Value::Array(items)) => items.len() as u64,
        ("minLength" | "maxLength", Value::String(text)) => text.chars().count() as u64,
        _ => return,
    };
    let ok = if keyword.starts_with("min") {
        size >= bound
    } else {
        size <= bound
    };
    if !ok {
        problems.push(format!("{at}: size {size} breaks `{keyword}: {bound}`"));
    }
}

/// `type`: one of the JSON types, integers apart.
fn check_type(argument: &Value, value: &Value, at: &str, problems: &mut Vec<String>) {
    let expected = argument.as_str().expect("type is a string");
    let ok = match expected {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        other => {
            problems.push(format!("{at}: unsupported type `{other}`"));
            true
        }
    };
    if !ok {
        problems.push(format!("{at}: expected {expected}, found `{value}`"));
    }
}

/// `required`: an object has each of these properties.
fn check_required(argument: &Value, value: &Value, at: &str, problems: &mut Vec<String>) {
    let Some(object) = value.as_object() else { return };
    for name in argument.as_array().expect("required is an array") {
        let name = name.as_str().expect("required names are strings");
        if !object.contains_key(name) {
            problems.push(format!("{at}: missing required `{name}`"));
        }
    }
}

/// `format` of a string: `uuid`, `date-time` or `uri`.
fn check_format(argument: &Value, value: &Value, at: &str, problems: &mut Vec<String>) {
    let Some(text) = value.as_str() else { return };
    let ok = match argument.as_str().expect("format is a string") {
        "uuid" => is_uuid(text),
        "date-time" => is_date_time(text),
        "uri" => is_uri(text),
        other => {
            problems.push(format!("{at}: unsupported format `{other}`"));
            true
        }
    };
    if !ok {
        problems.push(format!("{at}: `{text}` is not a valid {argument}"));
    }
}

fn is_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups.iter().all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// An absolute RFC 3986 URI: a scheme (a letter, then letters, digits, `+`, `-`, `.`), a colon,
/// and something after it, without whitespace.
fn is_uri(text: &str) -> bool {
    let Some((scheme, rest)) = text.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        && !rest.is_empty()
        && !text.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// RFC 3339 `date-time`: `YYYY-MM-DDTHH:MM:SS`, optional fraction, then `Z` or `±HH:MM`.
fn is_date_time(text: &str) -> bool {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| b.get(range).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    let number = |range: std::ops::Range<usize>| text[range].parse::<u32>().unwrap_or(99);
    if b.len() < 20
        || !(digits(0..4) && b[4] == b'-' && digits(5..7) && b[7] == b'-' && digits(8..10))
        || !(matches!(b[10], b'T' | b't')
            && digits(11..13)
            && b[13] == b':'
            && digits(14..16)
            && b[16] == b':'
            && digits(17..19))
        || !((1..=12).contains(&number(5..7)) && (1..=31).contains(&number(8..10)))
        || number(11..13) > 23
        || number(14..16) > 59
        || number(17..19) > 60
    {
        return false;
    }
    let mut rest = &text[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let n = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return false;
        }
        rest = &fraction[n..];
    }
    match rest.as_bytes() {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit()),
        _ => false,
    }
}

#[test]
fn the_checker_catches_what_the_schema_forbids() {
    let spec = spec();
    let chat = spec.component("Chat");
    let good = serde_json::json!({
        "id": "550e8400-e29b-41d4-a716-446655440000", "display_name": null, "service": "SMS",
        "handles": [{"id": "550e8400-e29b-41d4-a716-446655440010", "handle": "+14155551234",
                     "service": "SMS", "status": null, "joined_at": "2025-05-21T15:30:00.000-05:00",
                     "left_at": null, "is_me": true}],
        "is_archived": false, "is_group": true,
        "created_at": "2024-01-15T10:30:00Z", "updated_at": "2024-01-15T10:30:00Z"
    });
    assert_eq!(spec.problems(chat, &good), Vec::<String>::new());
    let broken = |edit: &dyn Fn(&mut Value)| {
        let mut value = good.clone();
        edit(&mut value);
        spec.problems(chat, &value)
    };
    assert_eq!(
        broken(&|v| drop(v.as_object_mut().unwrap().remove("is_group"))),
        [": missing required `is_group`"]
    );
    assert_eq!(broken(&|v| v["is_group"] = "yes".into()).len(), 1);
    assert_eq!(broken(&|v| v["id"] = "chat-1".into()).len(), 1);
    assert_eq!(broken(&|v| v["service"] = "Fax".into()).len(), 1);
    assert_eq!(broken(&|v| v["service"] = Value::Null).len(), 0, "service is nullable");
    assert_eq!(
        broken(&|v| v["handles"][0]["status"] = "gone".into()),
        ["/handles/0/status: `\"gone\"` is not one of [\"active\",\"left\",\"removed\"]"]
    );
    assert_eq!(
        broken(&|v| v["handles"][0]["joined_at"] = "2025-05-21 15:30".into()).len(),
        1
    );
    assert_eq!(
        broken(&|v| v["handles"][0]["handle"] = Value::Null).len(),
        1,
        "handle is not nullable"
    );
    assert_eq!(
        broken(&|v| drop(v["handles"][0].as_object_mut().unwrap().remove("service"))).len(),
        1
    );
    let error = spec.component("ErrorResponse");
    assert_eq!(
        spec.problems(
            error,
            &serde_json::json!({"success": false, "error": {"status": 400, "code": "1002", "message": "m"}})
        )
        .len(),
        1
    );
}

#[test]
fn the_checker_reads_the_combinators_and_bounds_the_new_schemas_use() {
    let spec = spec();
    let part = serde_json::json!({"type": "text", "value": "Hi", "reactions": null});
    let parts = &spec.component("SentMessage")["properties"]["parts"];
    assert_eq!(spec.problems(parts, &serde_json::json!([part])), Vec::<String>::new());
    let media_without_id = serde_json::json!([{"type": "media", "reactions": null}]);
    assert_eq!(
        spec.problems(parts, &media_without_id).len(),
        1,
        "a part matching no branch"
    );
    let handle = serde_json::json!({"id": "550e8400-e29b-41d4-a716-446655440010", "handle": "+14155551234",
                                    "service": "SMS", "joined_at": "2025-05-21T15:30:00.000Z"});
    let event = spec.component("ParticipantAddedEvent");
    let mut added = serde_json::json!({"handle": "+14155551234", "participant": handle});
    assert_eq!(spec.problems(event, &added), Vec::<String>::new());
    added["participant"]["service"] = "Fax".into();
    assert_eq!(spec.problems(event, &added).len(), 1, "allOf reaches the ChatHandle");
    let content = spec.component("MessageContent");
    assert_eq!(
        spec.problems(content, &serde_json::json!({"parts": []})),
        ["/parts: size 0 breaks `minItems: 1`"]
    );
    let icon = &spec.component("UpdateChatRequest")["properties"]["group_chat_icon"];
    assert!(spec.problems(icon, &"https://example.com/i.png".into()).is_empty());
    assert_eq!(spec.problems(icon, &"not a uri".into()).len(), 1);
    let doc_url = &spec.component("WebhookEventsResult")["properties"]["doc_url"];
    assert_eq!(spec.problems(doc_url, &"https://example.com/".into()).len(), 1, "const");
}

#[test]
fn unknown_keywords_are_problems_not_passes() {
    let schema = serde_json::json!({"type": "string", "pattern": "^a$"});
    assert_eq!(
        spec().problems(&schema, &"b".into()),
        [": the checker does not support keyword `pattern`"]
    );
}

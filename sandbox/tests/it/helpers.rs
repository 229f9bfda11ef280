//! A seed with every kind of chat, and a thin HTTP client that returns what the wire carried.

use std::time::Duration;

use linq_sandbox::{Options, Sandbox, Seed, SeedChat};
use serde_json::Value;

pub const TOKEN: &str = "test-token";
pub const ME: &str = "+12055550100";

/// me + 4 members.
pub const BIG: &str = "11111111-1111-4111-8111-111111111111";
/// me + 2 members: the smallest group that still works.
pub const TRIO: &str = "22222222-2222-4222-8222-222222222222";
/// me + 1 member, one who left: a group already too small to change.
pub const PAIR: &str = "33333333-3333-4333-8333-333333333333";
/// A direct-message chat.
pub const DM: &str = "44444444-4444-4444-8444-444444444444";
/// An SMS group, me + 3 members.
pub const SMS: &str = "55555555-5555-4555-8555-555555555555";
pub const UNKNOWN: &str = "99999999-9999-4999-8999-999999999999";

pub const A: &str = "+12055550101";
pub const B: &str = "+12055550102";
pub const C: &str = "+12055550103";
pub const D: &str = "dee@example.com";
pub const GONE: &str = "+12055550109";
/// Known to be SMS only.
pub const SMS_ONLY: &str = "+12055550201";
pub const NEW: &str = "+12055550150";

pub fn seed() -> Seed {
    Seed {
        token: TOKEN.into(),
        me: ME.into(),
        chats: vec![
            SeedChat {
                display_name: Some("Big".into()),
                ..SeedChat::group(BIG, &[A, B, C, D])
            },
            SeedChat::group(TRIO, &[A, B]),
            SeedChat {
                left: vec![GONE.into()],
                ..SeedChat::group(PAIR, &[A])
            },
            SeedChat {
                is_group: false,
                ..SeedChat::group(DM, &[A])
            },
            SeedChat {
                service: "SMS".into(),
                ..SeedChat::group(SMS, &[SMS_ONLY, "+12055550202", "+12055550203"])
            },
        ],
        handle_services: [(SMS_ONLY.to_owned(), "SMS".to_owned())].into(),
    }
}

pub async fn start(seed: Seed, options: Options) -> Sandbox {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    Sandbox::start(seed, options, listener).await
}

/// Options under which accepted changes land `ms` milliseconds later (at 60 s and more, only when
/// the test lands them).
pub fn delayed(ms: u64) -> Options {
    Options {
        land_delay: Duration::from_millis(ms),
        ..Options::default()
    }
}

/// A sandbox on the standard seed, without delay or faults.
pub async fn sandbox() -> (Sandbox, Client) {
    let sandbox = start(seed(), Options::default()).await;
    let client = Client::new(&sandbox);
    (sandbox, client)
}

/// What came back: status, `Retry-After` and the JSON body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<String>,
    pub body: Value,
}

impl Answer {
    /// The Linq error code of an error envelope.
    pub fn code(&self) -> Option<i64> {
        self.body["error"]["code"].as_i64()
    }

    /// `(status, code)`, the pair tests compare.
    pub fn error(&self) -> (u16, Option<i64>) {
        (self.status, self.code())
    }
}

pub struct Client {
    http: reqwest::Client,
    pub base: String,
    pub token: Option<String>,
}

impl Client {
    pub fn new(sandbox: &Sandbox) -> Client {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap();
        Client {
            http,
            base: sandbox.base_url(),
            token: Some(TOKEN.into()),
        }
    }

    pub async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> reqwest::Result<Answer> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = response.json().await?;
        Ok(Answer {
            status,
            retry_after,
            body,
        })
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(reqwest::Method::GET, path, None).await.unwrap()
    }

    pub async fn chat(&self, chat: &str) -> Answer {
        self.get(&format!("/v3/chats/{chat}")).await
    }

    pub async fn add(&self, chat: &str, handle: &str) -> Answer {
        let body = serde_json::json!({ "handle": handle });
        self.send(
            reqwest::Method::POST,
            &format!("/v3/chats/{chat}/participants"),
            Some(body),
        )
        .await
        .unwrap()
    }

    pub async fn remove(&self, chat: &str, handle: &str) -> Answer {
        let body = serde_json::json!({ "handle": handle });
        self.send(
            reqwest::Method::DELETE,
            &format!("/v3/chats/{chat}/participants"),
            Some(body),
        )
        .await
        .unwrap()
    }
}

/// The handles of a `Chat` answer with their status, your own line marked `me`.
pub fn handles(chat: &Value) -> Vec<(String, String)> {
    chat["handles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            let name = if h["is_me"] == true {
                "me".to_owned()
            } else {
                h["handle"].as_str().unwrap().to_owned()
            };
            (name, h["status"].as_str().unwrap_or("active").to_owned())
        })
        .collect()
}

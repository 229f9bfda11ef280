//! `POST /v3/chats` and `GET /v3/phone_numbers`: chats made with their first message from one
//! of the partner's lines, idempotency keys honoured or ignored, the create that makes its chat
//! and then fails to answer, creates held before their answer, and chats listed newest first.

use std::time::Duration;

use linq_sandbox::{CreateFault, Fault, Idempotency, Options, Seed, SeedChat};
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::schema::spec;

/// A second line of the partner's, with one chat of its own in [`lines_seed`].
pub const LINE2: &str = "+12055550900";
/// The chat of [`LINE2`].
pub const OTHER_LINE_CHAT: &str = "66666666-6666-4666-8666-666666666666";

/// The standard seed plus a chat of a second line.
pub fn lines_seed() -> Seed {
    let mut seed = seed();
    seed.chats.push(SeedChat {
        line: Some(LINE2.into()),
        ..SeedChat::group(OTHER_LINE_CHAT, &[A, B, ME])
    });
    seed
}

/// A create body from `from` to `to` saying `text`, with `key` as its idempotency key.
pub fn body(from: &str, to: &[&str], text: &str, key: Option<&str>) -> Value {
    let mut message = json!({ "parts": [{ "type": "text", "value": text }] });
    if let Some(key) = key {
        message["idempotency_key"] = key.into();
    }
    json!({ "from": from, "to": to, "message": message })
}

pub async fn create(client: &Client, body: Value) -> Answer {
    client.send(Method::POST, "/v3/chats", Some(body)).await.unwrap()
}

fn ids(page: &Value) -> Vec<String> {
    page["chats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

fn created_id(answer: &Answer) -> String {
    answer.body["chat"]["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn phone_numbers_lists_every_line_of_the_partner() {
    let sandbox = start(lines_seed(), Options::default()).await;
    let client = Client::new(&sandbox);
    let answer = client.get("/v3/phone_numbers").await;
    assert_eq!(answer.status, 200);
    spec().assert_response("/v3/phone_numbers", "get", "200", &answer.body);
    let numbers = |body: &Value| -> Vec<String> {
        body["phone_numbers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["phone_number"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(numbers(&answer.body), [ME, LINE2]);
    assert!(sandbox.add_line("+12055550901"));
    assert!(!sandbox.add_line("+12055550901"), "a line is added once");
    let again = client.get("/v3/phone_numbers").await;
    assert_eq!(numbers(&again.body), [ME, LINE2, "+12055550901"]);
    assert_eq!(
        again.body["phone_numbers"][0], answer.body["phone_numbers"][0],
        "ids stay"
    );
    let mut unauthorized = Client::new(&sandbox);
    unauthorized.token = None;
    assert_eq!(unauthorized.get("/v3/phone_numbers").await.error(), (401, Some(2004)));
}

#[tokio::test]
async fn a_create_makes_a_group_with_its_first_message_and_it_is_a_chat_like_any() {
    let (sandbox, client) = sandbox().await;
    let answer = create(&client, body(ME, &[A, "Nia@Example.com"], "Welcome, both!", None)).await;
    assert_eq!(answer.status, 201, "{:?}", answer.body);
    spec().assert_response("/v3/chats", "post", "201", &answer.body);
    let chat = &answer.body["chat"];
    assert_eq!(chat["is_group"], true);
    assert_eq!(chat["service"], "iMessage");
    assert_eq!(chat["display_name"], "+12055550101, nia@example.com", "Linq's default");
    assert_eq!(
        handles(chat),
        [("me", "active"), (A, "active"), ("nia@example.com", "active")].map(|(h, s)| (h.to_owned(), s.to_owned()))
    );
    let message = &chat["message"];
    assert_eq!(
        message["parts"],
        json!([{ "type": "text", "value": "Welcome, both!", "reactions": null }])
    );
    assert_eq!(message["from_handle"]["handle"], ME);
    assert_eq!(message["delivery_status"], "sent");

    let id = created_id(&answer);
    let sent = sandbox.messages();
    assert_eq!(sent.len(), 1, "one first message reached people");
    assert_eq!((sent[0].chat_id.as_str(), sent[0].from.as_str()), (id.as_str(), ME));
    assert_eq!(sent[0].to, [A, "nia@example.com"]);
    assert_eq!(sent[0].content.parts, ["Welcome, both!"]);
    assert_eq!(message["id"], sent[0].id.as_str());

    // Afterwards it is a chat like the seeded ones: read, listed, changed by the rules.
    let read = client.chat(&id).await;
    assert_eq!(read.status, 200);
    spec().assert_component("Chat", &read.body);
    assert_eq!(read.body["handles"], chat["handles"]);
    assert!(
        read.body["created_at"].as_str().unwrap() > client.chat(BIG).await.body["created_at"].as_str().unwrap(),
        "created after the seeded chats"
    );
    assert_eq!(client.remove(&id, A).await.error(), (409, Some(2015)), "3 must remain");
    assert_eq!(client.add(&id, NEW).await.status, 202);
    assert_eq!(client.remove(&id, A).await.status, 202);
    sandbox.land_all();
    assert_eq!(
        sandbox.members(&id).unwrap(),
        [NEW, "nia@example.com"].map(String::from).into()
    );
    let call = sandbox
        .calls()
        .into_iter()
        .find(|c| c.method == "POST" && c.path == "/v3/chats")
        .unwrap();
    assert_eq!(
        (call.status, call.chat.as_deref(), call.applied),
        (201, Some(id.as_str()), true)
    );
}

#[tokio::test]
async fn one_recipient_makes_a_direct_chat_and_a_second_create_writes_in_it() {
    let (sandbox, client) = sandbox().await;
    let first = create(&client, body(ME, &[NEW], "Hello", None)).await;
    assert_eq!(first.status, 201);
    spec().assert_response("/v3/chats", "post", "201", &first.body);
    assert_eq!(first.body["chat"]["is_group"], false);
    let id = created_id(&first);
    assert_eq!(client.add(&id, B).await.error(), (409, Some(1006)));
    let second = create(&client, body(ME, &[NEW], "Hello again", None)).await;
    assert_eq!(created_id(&second), id, "one direct chat per line and handle");
    // The seeded direct chat with A gets the message too.
    let seeded = create(&client, body(ME, &[A], "Hi A", None)).await;
    assert_eq!(created_id(&seeded), DM);
    let sent: Vec<_> = sandbox
        .messages()
        .into_iter()
        .map(|m| (m.chat_id, m.content.parts))
        .collect();
    assert_eq!(
        sent,
        [
            (id.clone(), vec!["Hello".to_owned()]),
            (id, vec!["Hello again".to_owned()]),
            (DM.to_owned(), vec!["Hi A".to_owned()])
        ]
    );
}

#[tokio::test]
async fn a_create_is_refused_when_its_line_or_body_is_wrong_and_sends_nothing() {
    let sandbox = start(lines_seed(), Options::default()).await;
    let client = Client::new(&sandbox);
    let not_mine = create(&client, body("+12055559999", &[A, B], "Hi", None)).await;
    assert_eq!(not_mine.error(), (403, Some(2005)));
    spec().assert_component("ErrorResponse", &not_mine.body);
    for (bad, expected) in [
        (body("2055550100", &[A, B], "Hi", None), (400, Some(1002))),
        (body(ME, &[A, "2055550102"], "Hi", None), (400, Some(1002))),
        (body(ME, &[], "Hi", None), (400, Some(1001))),
        (body(ME, &[A, ME], "Hi", None), (400, Some(1001))),
        (body(ME, &[A, B], "", None), (400, Some(1001))),
        (json!({ "from": ME, "to": [A, B] }), (400, Some(1001))),
        (
            json!({ "from": ME, "to": [A, B], "message": { "parts": [] } }),
            (400, Some(1001)),
        ),
        (
            json!({ "from": ME, "to": [A, B], "message": { "parts": [{ "type": "text", "value": "Hi" }], "preferred_service": "Fax" } }),
            (400, Some(1001)),
        ),
    ] {
        let answer = create(&client, bad.clone()).await;
        assert_eq!(answer.error(), expected, "{bad}");
        spec().assert_component("ErrorResponse", &answer.body);
    }
    let many: Vec<String> = (0..32).map(|i| format!("+1205556{i:04}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    assert_eq!(
        create(&client, body(ME, &many, "Hi", None)).await.error(),
        (400, Some(1001))
    );
    assert_eq!(
        create(&client, body(ME, &many[..31], "Hi", None)).await.status,
        201,
        "31 is the cap"
    );

    // A recipient known to use SMS: iMessage is enforced and refused, RCS falls back to SMS.
    let service = |preferred: Option<&str>| {
        let mut body = body(LINE2, &[SMS_ONLY, NEW], "Hi", None);
        if let Some(preferred) = preferred {
            body["message"]["preferred_service"] = preferred.into();
        }
        body
    };
    assert_eq!(
        create(&client, service(Some("iMessage"))).await.error(),
        (409, Some(2017))
    );
    for (preferred, expected) in [(Some("RCS"), "SMS"), (Some("SMS"), "SMS"), (None, "SMS")] {
        let answer = create(&client, service(preferred)).await;
        assert_eq!(answer.body["chat"]["service"], expected, "{preferred:?}");
        assert_eq!(answer.body["chat"]["message"]["preferred_service"], json!(preferred));
    }
    let rcs = create(&client, {
        let mut body = body(LINE2, &[NEW, C], "Hi", None);
        body["message"]["preferred_service"] = "RCS".into();
        body
    })
    .await;
    assert_eq!(rcs.body["chat"]["service"], "RCS");
    assert_eq!(sandbox.messages().len(), 5, "only the accepted creates sent anything");
}

#[tokio::test]
async fn an_honoured_idempotency_key_makes_one_chat_and_sends_one_message() {
    let (sandbox, client) = sandbox().await;
    let first = create(&client, body(ME, &[A, B], "Hi team", Some("roster-1"))).await;
    let again = create(&client, body(ME, &[A, B], "Hi team", Some("roster-1"))).await;
    assert_eq!(again.status, 201);
    spec().assert_response("/v3/chats", "post", "201", &again.body);
    assert_eq!(again.body, first.body, "the same chat and message");
    assert_eq!(sandbox.messages().len(), 1);
    let calls = sandbox.calls();
    assert_eq!((calls[0].applied, calls[1].applied), (true, false));

    let reused = create(&client, body(ME, &[A, C], "Hi team", Some("roster-1"))).await;
    assert_eq!(reused.error(), (422, Some(1003)), "a key stands for one request");
    spec().assert_component("ErrorResponse", &reused.body);
    let other = create(&client, body(ME, &[A, B], "Hi team", Some("roster-2"))).await;
    assert_ne!(created_id(&other), created_id(&first), "another key, another chat");
    let unkeyed = create(&client, body(ME, &[A, B], "Hi team", None)).await;
    assert_ne!(created_id(&unkeyed), created_id(&other));
    assert_eq!(sandbox.messages().len(), 3);
}

#[tokio::test]
async fn an_ignored_idempotency_key_makes_a_chat_and_a_message_per_create() {
    let sandbox = start(
        seed(),
        Options {
            idempotency: Idempotency::Ignore,
            ..Options::default()
        },
    )
    .await;
    let client = Client::new(&sandbox);
    let first = create(&client, body(ME, &[A, B], "Hi team", Some("roster-1"))).await;
    let again = create(&client, body(ME, &[A, B], "Hi team", Some("roster-1"))).await;
    assert_eq!((first.status, again.status), (201, 201));
    assert_ne!(created_id(&first), created_id(&again));
    let sent = sandbox.messages();
    assert_eq!(sent.len(), 2, "two chats, two first messages");
    assert!(sent
        .iter()
        .all(|m| m.content.idempotency_key.as_deref() == Some("roster-1")));
}

/// A create whose answer is lost, by a 500 or a dropped connection: the chat is made and the
/// message sent all the same, and the newest chat of the line is that one.
#[tokio::test]
async fn a_create_fault_makes_the_chat_and_sends_the_message_then_loses_the_answer() {
    let (sandbox, client) = sandbox().await;
    sandbox.fail_next_creates(CreateFault::Error, 1);
    let failed = create(&client, body(ME, &[A, B], "Hi", Some("k-error"))).await;
    assert_eq!(failed.error(), (500, Some(3006)));
    spec().assert_component("ErrorResponse", &failed.body);
    let newest = ids(&client.get(&format!("/v3/chats?from=%2B{}", &ME[1..])).await.body)[0].clone();
    assert_eq!(sandbox.messages().len(), 1);
    assert_eq!(sandbox.messages()[0].chat_id, newest);
    assert_eq!(
        (sandbox.calls()[0].applied, sandbox.calls()[0].fault),
        (true, Some(Fault::AppliedServerError))
    );
    // The retry with the same key finds the chat the lost answer made.
    let retried = create(&client, body(ME, &[A, B], "Hi", Some("k-error"))).await;
    assert_eq!((retried.status, created_id(&retried)), (201, newest.clone()));
    assert_eq!(sandbox.messages().len(), 1);

    sandbox.fail_next_creates(CreateFault::Drop, 1);
    let dropped = client
        .send(Method::POST, "/v3/chats", Some(body(ME, &[A, C], "Hi", Some("k-drop"))))
        .await;
    let error = dropped.expect_err("no answer");
    assert!(error.status().is_none(), "a transport error: {error:?}");
    assert_eq!(sandbox.messages().len(), 2, "the message went out");
    let call = sandbox.calls().last().unwrap().clone();
    assert_eq!((call.applied, call.fault), (true, Some(Fault::Dropped)));
    assert_eq!(sandbox.chat_ids()[0], call.chat.unwrap());
    // The order is used up: the next create answers.
    assert_eq!(create(&client, body(ME, &[B, C], "Hi", None)).await.status, 201);
    // A refused create does not use up an order.
    sandbox.fail_next_creates(CreateFault::Error, 1);
    assert_eq!(
        create(&client, body(ME, &[], "Hi", None)).await.error(),
        (400, Some(1001))
    );
    assert_eq!(
        create(&client, body(ME, &[B, D], "Hi", None)).await.error(),
        (500, Some(3006))
    );
}

#[tokio::test]
async fn create_fault_rates_are_met_and_repeat_for_a_seed() {
    let options = Options {
        create_error_rate: 0.3,
        create_drop_rate: 0.2,
        seed: 11,
        ..Options::default()
    };
    let run = || async {
        let sandbox = start(seed(), options.clone()).await;
        let client = Client::new(&sandbox);
        let mut statuses = Vec::new();
        for i in 0..100 {
            let to = format!("+1205557{i:04}");
            let answer = client
                .send(Method::POST, "/v3/chats", Some(body(ME, &[A, &to], "Hi", None)))
                .await;
            statuses.push(answer.ok().map(|a| a.status));
        }
        assert_eq!(sandbox.messages().len(), 100, "every create sent its message");
        statuses
    };
    let first = run().await;
    let errors = first.iter().filter(|s| **s == Some(500)).count();
    let dropped = first.iter().filter(|s| s.is_none()).count();
    assert!((15..=45).contains(&errors), "{errors} of 100 at 30%");
    assert!((8..=35).contains(&dropped), "{dropped} of 100 at 20%");
    assert_eq!(first, run().await, "the same seed fails the same creates");
}

/// The instant a kill -9 trial aims at: the chat made and the message sent, no answer yet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_create_has_made_its_chat_and_answers_once_released() {
    let (sandbox, client) = sandbox().await;
    sandbox.hold_creates();
    let request = {
        let client = Client::new(&sandbox);
        tokio::spawn(async move { create(&client, body(ME, &[A, B], "Hi", Some("held"))).await })
    };
    let waiter = sandbox.clone();
    let held = tokio::task::spawn_blocking(move || waiter.wait_for_held_creates(1, Duration::from_secs(20)))
        .await
        .unwrap();
    assert!(held, "the create is held");
    let chat = sandbox.held_creates()[0].clone();
    assert_eq!(sandbox.chat_ids()[0], chat, "the chat is made");
    assert_eq!(sandbox.messages().len(), 1, "the message is sent");
    assert!(!request.is_finished(), "held creates do not answer");
    // Other calls go on meanwhile.
    assert_eq!(client.chat(&chat).await.status, 200);
    sandbox.release_creates();
    let answer = request.await.unwrap();
    assert_eq!((answer.status, created_id(&answer)), (201, chat));
    assert!(sandbox.held_creates().is_empty());
    assert_eq!(
        create(&client, body(ME, &[A, C], "Hi", None)).await.status,
        201,
        "released: no more holding"
    );
}

#[tokio::test]
async fn chats_are_listed_newest_first_and_from_selects_a_line() {
    let sandbox = start(lines_seed(), Options::default()).await;
    let client = Client::new(&sandbox);
    let first = created_id(&create(&client, body(ME, &[A, B], "one", None)).await);
    let second = created_id(&create(&client, body(ME, &[A, C], "two", None)).await);
    let on_line2 = created_id(&create(&client, body(LINE2, &[A, C], "three", None)).await);
    let mine = ids(&client.get("/v3/chats?from=%2B12055550100").await.body);
    assert_eq!(mine, [second.as_str(), first.as_str(), BIG, TRIO, PAIR, DM, SMS]);
    let theirs = ids(&client.get("/v3/chats?from=12055550900").await.body);
    assert_eq!(theirs, [on_line2.as_str(), OTHER_LINE_CHAT]);
    let page = client.get(&format!("/v3/chats/{OTHER_LINE_CHAT}")).await;
    let me = page.body["handles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["is_me"] == true)
        .unwrap()
        .clone();
    assert_eq!(me["handle"], LINE2, "a chat's own line is its is_me handle");
    assert!(page.body["handles"]
        .as_array()
        .unwrap()
        .iter()
        .any(|h| h["handle"] == ME && h["is_me"] == false));

    // Without `from`, every line's chats, newest first, page by page.
    let mut all = Vec::new();
    let mut path = "/v3/chats?limit=4".to_owned();
    loop {
        let page = client.get(&path).await;
        spec().assert_component("ListChatsResult", &page.body);
        all.extend(ids(&page.body));
        match page.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v3/chats?limit=4&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(
        all,
        [
            on_line2.as_str(),
            second.as_str(),
            first.as_str(),
            BIG,
            TRIO,
            PAIR,
            DM,
            SMS,
            OTHER_LINE_CHAT
        ]
    );
    assert_eq!(sandbox.chat_ids(), all);
}

#[tokio::test]
async fn the_control_api_adds_lines_shows_messages_and_chats_and_steers_creates() {
    let (sandbox, client) = sandbox().await;
    let root = format!("http://{}/_sandbox", sandbox.addr());
    let http = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        let request = http.post(format!("{root}{path}")).json(&body);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(post("/lines", json!({ "phone_number": LINE2 })).await, 204);
    assert_eq!(post("/lines", json!({ "phone_number": "not a phone" })).await, 400);
    assert_eq!(sandbox.lines().len(), 2);
    assert_eq!(
        post("/create-faults", json!({ "fault": "error", "count": 1 })).await,
        204
    );
    assert_eq!(
        post("/create-faults", json!({ "fault": "late", "count": 1 })).await,
        400
    );
    let failed = create(&client, body(LINE2, &[A, B], "From line 2", Some("c1"))).await;
    assert_eq!(failed.status, 500);

    let messages: Value = http
        .get(format!("{root}/messages"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let chat = messages[0]["chat_id"].as_str().unwrap().to_owned();
    assert_eq!(messages[0]["from"], LINE2);
    assert_eq!(messages[0]["to"], json!([A, B]));
    assert_eq!(messages[0]["parts"], json!(["From line 2"]));
    assert_eq!(messages[0]["idempotency_key"], "c1");
    let details: Value = http
        .get(format!("{root}/chats/{chat}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        details,
        json!({ "id": chat, "line": LINE2, "display_name": "+12055550101, +12055550102", "icon": null,
                "service": "iMessage", "is_group": true, "members": [A, B], "pending": 0 })
    );
    let missing = http.get(format!("{root}/chats/{UNKNOWN}")).send().await.unwrap();
    assert_eq!(missing.status(), 404);

    assert_eq!(post("/creates/hold", json!({})).await, 204);
    let request = {
        let client = Client::new(&sandbox);
        tokio::spawn(async move { create(&client, body(ME, &[A, C], "Held", None)).await })
    };
    let held = loop {
        let held: Value = http
            .get(format!("{root}/creates/held"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if let Some(chat) = held["held"][0].as_str() {
            break chat.to_owned();
        }
        tokio::task::yield_now().await;
    };
    assert_eq!(post("/creates/release", json!({})).await, 204);
    assert_eq!(created_id(&request.await.unwrap()), held);
}

/// The binary's flags for lines and idempotency reach the server.
#[tokio::test]
async fn the_binary_takes_further_lines_and_ignores_keys_when_told() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    struct Running(std::process::Child);
    impl Drop for Running {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let seed = concat!(env!("CARGO_MANIFEST_DIR"), "/seed.example.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_linq-sandbox"))
        .args(["--seed", seed, "--line", LINE2, "--ignore-idempotency-key"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _running = Running(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let base = line.trim().strip_prefix("listening on ").unwrap().to_owned();
    let http = reqwest::Client::new();
    let lines: Value = http
        .get(format!("{base}/v3/phone_numbers"))
        .bearer_auth("sandbox-token")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    spec().assert_response("/v3/phone_numbers", "get", "200", &lines);
    assert_eq!(lines["phone_numbers"][1]["phone_number"], LINE2);
    let mut chats = Vec::new();
    for _ in 0..2 {
        let answer: Value = http
            .post(format!("{base}/v3/chats"))
            .bearer_auth("sandbox-token")
            .json(&body(LINE2, &[A, B], "Hi", Some("same")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        chats.push(answer["chat"]["id"].as_str().unwrap().to_owned());
    }
    assert_ne!(chats[0], chats[1], "the key was ignored");
}

/// Held creates do not keep a dropped sandbox serving: they answer, and the server stops.
#[test]
fn a_sandbox_dropped_while_creates_are_held_lets_them_answer_and_stops() {
    let sandbox = linq_sandbox::Sandbox::spawn(seed(), Options::default());
    sandbox.hold_creates();
    let (addr, url) = (sandbox.addr(), format!("{}/v3/chats", sandbox.base_url()));
    let request = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let answer = reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap()
                .post(url)
                .bearer_auth(TOKEN)
                .json(&body(ME, &[A, B], "Hi", None))
                .send()
                .await;
            answer.map(|a| a.status().as_u16()).ok()
        })
    });
    assert!(sandbox.wait_for_held_creates(1, Duration::from_secs(20)));
    drop(sandbox);
    assert_eq!(request.join().unwrap(), Some(201), "released when the sandbox stopped");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::net::TcpStream::connect(addr).is_ok() {
        assert!(std::time::Instant::now() < deadline, "still listening");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What Linq documents as requests is served: every example of `POST /v3/chats` with text
/// parts only and every example of `PUT /v3/chats/{id}`.
#[tokio::test]
async fn linq_s_documented_examples_are_served() {
    let (sandbox, client) = sandbox().await;
    let examples = spec().request_examples("/v3/chats", "post");
    assert!(examples.len() >= 5, "{examples:?}");
    let mut served = 0;
    for (name, example) in examples {
        sandbox.add_line(example["from"].as_str().unwrap());
        let parts = example["message"]["parts"].as_array().unwrap();
        let answer = create(&client, example.clone()).await;
        if parts.iter().all(|p| p["type"] == "text") {
            assert_eq!(answer.status, 201, "{name}: {:?}", answer.body);
            spec().assert_response("/v3/chats", "post", "201", &answer.body);
            served += 1;
        } else {
            assert_eq!(answer.error(), (400, Some(1001)), "{name}: the sandbox sends text only");
        }
    }
    assert_eq!(served, 3, "text, confetti, invisible ink");
    for (name, example) in spec().request_examples("/v3/chats/{chatId}", "put") {
        let answer = client
            .send(Method::PUT, &format!("/v3/chats/{BIG}"), Some(example))
            .await
            .unwrap();
        assert_eq!(answer.status, 200, "{name}: {:?}", answer.body);
        spec().assert_response("/v3/chats/{chatId}", "put", "200", &answer.body);
    }
    assert_eq!(
        sandbox.chat(BIG).unwrap().display_name.as_deref(),
        Some("Team Discussion")
    );
}

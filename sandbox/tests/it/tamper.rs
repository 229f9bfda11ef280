//! Scripted breaches of the contract: edited answers, chosen errors, redirects, oversized
//! bodies streamed without being built, and a token revoked mid-run.

use linq_sandbox::{Calls, Edit, Fault, Options, Tamper};
use serde_json::{json, Value};

use crate::helpers::*;

#[tokio::test]
async fn edits_change_the_chat_wherever_it_is_answered_and_only_that_chat() {
    let (sandbox, client) = sandbox().await;
    sandbox.tamper(
        BIG,
        Tamper::Edit {
            edits: vec![
                Edit::Remove {
                    path: "/handles".into(),
                },
                Edit::Set {
                    path: "/id".into(),
                    value: json!(TRIO),
                },
            ],
        },
    );
    let read = client.chat(BIG).await;
    assert_eq!(read.status, 200);
    assert_eq!(read.body["id"], TRIO);
    assert!(read.body.get("handles").is_none(), "{}", read.body);
    let page = client.get("/v3/chats?limit=100").await;
    let chats = page.body["chats"].as_array().unwrap();
    assert!(chats[0].get("handles").is_none(), "{}", chats[0]);
    assert!(chats[1].get("handles").is_some(), "other chats are untouched");
    assert_eq!(client.chat(TRIO).await.body["id"], TRIO);

    // Participant calls still follow the rules, and the tamper ends when asked.
    assert_eq!(client.add(BIG, NEW).await.status, 202);
    sandbox.untamper(BIG);
    assert_eq!(client.chat(BIG).await.body["id"], BIG);
}

#[tokio::test]
async fn a_chosen_error_answers_the_chat_s_calls_and_applies_nothing() {
    let (sandbox, client) = sandbox().await;
    sandbox.tamper(BIG, Tamper::unavailable());
    assert_eq!(client.chat(BIG).await.error(), (409, Some(2013)));
    assert_eq!(client.add(BIG, NEW).await.error(), (409, Some(2013)));
    assert_eq!(client.chat(TRIO).await.status, 200, "other chats answer as usual");
    sandbox.land_all();
    assert!(!sandbox.members(BIG).unwrap().contains(NEW));
    let calls = sandbox.calls();
    assert_eq!(calls[0].fault, Some(Fault::Tampered));
    assert!(!calls[1].applied);
    assert_eq!(calls[2].fault, None);
}

#[tokio::test]
async fn a_redirect_of_changes_sends_a_location_and_applies_nothing() {
    let (sandbox, _) = sandbox().await;
    sandbox.tamper(
        BIG,
        Tamper::redirect(307, "http://127.0.0.1:9/elsewhere", Calls::Changes),
    );
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let answer = http
        .post(format!("{}/v3/chats/{BIG}/participants", sandbox.base_url()))
        .bearer_auth(TOKEN)
        .json(&json!({ "handle": NEW }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 307);
    assert_eq!(answer.headers()["location"], "http://127.0.0.1:9/elsewhere");
    let read = http
        .get(format!("{}/v3/chats/{BIG}", sandbox.base_url()))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200, "reads are not redirected");
    assert_eq!(sandbox.mutating_calls_applied(), 0);
}

#[tokio::test]
async fn an_oversized_answer_is_streamed_whole_to_a_reader_and_stops_with_one_who_leaves() {
    let (sandbox, _) = sandbox().await;
    let http = reqwest::Client::new();
    let url = format!("{}/v3/chats/{BIG}", sandbox.base_url());

    sandbox.tamper(BIG, Tamper::oversize(3_000_000));
    let mut answer = http.get(&url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    assert!(answer.content_length().is_none(), "the size is not announced");
    let mut body = Vec::new();
    while let Some(chunk) = answer.chunk().await.unwrap() {
        body.extend_from_slice(&chunk);
    }
    assert_eq!(body.len(), 3_000_000);
    let chat: Value = serde_json::from_slice(&body).expect("still valid JSON");
    assert_eq!(chat["id"], BIG);
    assert_eq!(sandbox.oversize_bytes_sent(), 3_000_000);

    // A reader that stops after a chunk: the sandbox stops producing soon after.
    sandbox.tamper(BIG, Tamper::oversize(1 << 40));
    let mut answer = http.get(&url).bearer_auth(TOKEN).send().await.unwrap();
    answer.chunk().await.unwrap().unwrap();
    drop(answer);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let sent = sandbox.oversize_bytes_sent() - 3_000_000;
    assert!(sent < 64 << 20, "{sent} bytes produced for a reader that left");
}

#[tokio::test]
async fn a_revoked_token_is_refused_after_the_chosen_number_of_requests() {
    let sandbox = start(
        seed(),
        Options {
            revoke_token_after: Some(2),
            ..Options::default()
        },
    )
    .await;
    let client = Client::new(&sandbox);
    assert_eq!(client.chat(BIG).await.status, 200);
    assert_eq!(client.add(BIG, NEW).await.status, 202);
    assert_eq!(client.chat(BIG).await.error(), (401, Some(2004)));
    assert_eq!(client.remove(BIG, A).await.error(), (401, Some(2004)));
}

#[tokio::test]
async fn the_control_api_sets_checks_and_clears_a_tamper() {
    let (sandbox, client) = sandbox().await;
    let http = reqwest::Client::new();
    let root = sandbox.base_url().trim_end_matches("/api/partner").to_owned();
    let tamper_url = |chat: &str| format!("{root}/_sandbox/chats/{chat}/tamper");
    let set = |chat: &str, body: Value| {
        let request = http.post(tamper_url(chat)).json(&body);
        async move { request.send().await.unwrap() }
    };
    let unavailable = json!({"kind": "fail", "status": 409, "code": 2013, "message": "This chat is unavailable"});
    assert_eq!(set(BIG, unavailable.clone()).await.status(), 204);
    assert_eq!(client.chat(BIG).await.error(), (409, Some(2013)));
    assert_eq!(set(UNKNOWN, unavailable).await.status(), 404);
    let bad = set(BIG, json!({"kind": "redirect", "status": 200, "location": "x"})).await;
    assert_eq!(bad.status(), 400);
    let message: Value = bad.json().await.unwrap();
    assert!(
        message["error"].as_str().unwrap().contains("redirect status"),
        "{message}"
    );
    assert_eq!(set(BIG, json!({"kind": "nonsense"})).await.status(), 400);
    let cleared = http.delete(tamper_url(BIG)).send().await.unwrap();
    assert_eq!(cleared.status(), 204);
    assert_eq!(client.chat(BIG).await.status, 200);
}

//! Linq's documented rules and error codes, each through real HTTP, every answer checked
//! against the vendor's schemas.

use linq_sandbox::Options;
use reqwest::Method;
use serde_json::json;

use crate::helpers::*;
use crate::schema::spec;

const PARTICIPANTS: &str = "/v3/chats/{chatId}/participants";

#[tokio::test]
async fn a_chat_lists_every_participant_with_your_own_line() {
    let (_sandbox, client) = sandbox().await;
    let answer = client.chat(PAIR).await;
    assert_eq!(answer.status, 200);
    spec().assert_component("Chat", &answer.body);
    assert_eq!(answer.body["id"], PAIR);
    assert_eq!(answer.body["is_group"], true);
    assert_eq!(answer.body["service"], "iMessage");
    let expected = [("me", "active"), (A, "active"), (GONE, "left")].map(|(h, s)| (h.to_owned(), s.to_owned()));
    assert_eq!(handles(&answer.body), expected);
    assert!(answer.body["handles"][2]["left_at"].is_string());
    assert!(answer.body["handles"][1]["left_at"].is_null());

    let dm = client.chat(DM).await;
    spec().assert_component("Chat", &dm.body);
    assert_eq!(dm.body["is_group"], false);
    assert_eq!(client.chat(BIG).await.body["display_name"], "Big");
}

#[tokio::test]
async fn an_unknown_chat_is_404_2001() {
    let (_sandbox, client) = sandbox().await;
    for answer in [
        client.chat(UNKNOWN).await,
        client.add(UNKNOWN, NEW).await,
        client.remove(UNKNOWN, A).await,
    ] {
        assert_eq!(answer.error(), (404, Some(2001)));
        spec().assert_component("ErrorResponse", &answer.body);
        assert_eq!(answer.body["success"], false);
        assert_eq!(answer.body["error"]["status"], 404);
        assert!(answer.body["trace_id"].as_str().unwrap().starts_with("trace_"));
    }
}

#[tokio::test]
async fn requests_without_the_token_are_401_2004_even_under_faults() {
    let sandbox = start(
        seed(),
        Options {
            error_rate: 1.0,
            drop_rate: 1.0,
            ..Options::default()
        },
    )
    .await;
    let mut client = Client::new(&sandbox);
    for token in [None, Some("wrong".to_owned())] {
        client.token = token;
        for answer in [
            client.get("/v3/chats").await,
            client.chat(BIG).await,
            client.add(BIG, NEW).await,
            client.remove(BIG, A).await,
        ] {
            assert_eq!(answer.error(), (401, Some(2004)));
            spec().assert_component("ErrorResponse", &answer.body);
        }
    }
    assert_eq!(sandbox.mutating_calls_applied(), 0);
    assert!(sandbox.calls().iter().all(|c| c.fault.is_none() && c.status == 401));
}

#[tokio::test]
async fn an_add_and_a_removal_are_accepted_and_queued() {
    let (sandbox, client) = sandbox().await;
    let added = client.add(BIG, NEW).await;
    assert_eq!(added.status, 202);
    spec().assert_response(PARTICIPANTS, "post", "202", &added.body);
    assert_eq!(added.body["message"], "Participant addition queued");
    assert_eq!(added.body["status"], "accepted");

    let removed = client.remove(BIG, "Dee@Example.com").await;
    assert_eq!(removed.status, 202, "{:?}", removed.body);
    spec().assert_response(PARTICIPANTS, "delete", "202", &removed.body);
    assert_eq!(removed.body["message"], "Participant removal queued");
    assert_ne!(removed.body["trace_id"], added.body["trace_id"]);

    sandbox.land_all();
    let members = sandbox.members(BIG).unwrap();
    assert!(members.contains(NEW) && !members.contains(D));
    assert_eq!(sandbox.mutating_calls_applied(), 2);
    let chat = client.chat(BIG).await.body;
    spec().assert_component("Chat", &chat);
    assert!(handles(&chat).contains(&(D.to_owned(), "removed".to_owned())));
}

#[tokio::test]
async fn a_handle_that_is_neither_e164_nor_email_is_400_1002() {
    let (sandbox, client) = sandbox().await;
    for bad in [
        "+1 (205) 555-0150",
        "12055550150",
        "+012055550150",
        "+1205555015012345",
        "alice",
        "bob@",
    ] {
        let answer = client.add(BIG, bad).await;
        assert_eq!(answer.error(), (400, Some(1002)), "{bad}");
        spec().assert_component("ErrorResponse", &answer.body);
        assert_eq!(client.remove(BIG, bad).await.error(), (400, Some(1002)), "{bad}");
    }
    assert_eq!(client.add(BIG, "New@Example.com").await.status, 202);
    assert_eq!(sandbox.mutating_calls_applied(), 1);
}

#[tokio::test]
async fn a_body_without_a_handle_is_400() {
    let (_sandbox, client) = sandbox().await;
    for body in [json!({}), json!({"handle": 12}), json!(["+12055550150"])] {
        let answer = client
            .send(Method::POST, &format!("/v3/chats/{BIG}/participants"), Some(body))
            .await
            .unwrap();
        assert_eq!(answer.error(), (400, Some(1001)));
        spec().assert_component("ErrorResponse", &answer.body);
    }
}

#[tokio::test]
async fn direct_message_chats_cannot_change_409_1006() {
    let (_sandbox, client) = sandbox().await;
    for answer in [client.add(DM, NEW).await, client.remove(DM, A).await] {
        assert_eq!(answer.error(), (409, Some(1006)));
        assert_eq!(answer.body["error"]["message"], "Cannot update direct message chats");
        spec().assert_component("ErrorResponse", &answer.body);
    }
}

#[tokio::test]
async fn adding_needs_three_participants_counting_your_own_line() {
    let (sandbox, client) = sandbox().await;
    // PAIR: me and A (GONE left): two participants.
    let answer = client.add(PAIR, NEW).await;
    assert_eq!(answer.error(), (409, Some(2015)));
    spec().assert_component("ErrorResponse", &answer.body);
    // TRIO: me, A and B: three, enough to add.
    assert_eq!(client.add(TRIO, NEW).await.status, 202);
    assert_eq!(sandbox.mutating_calls_applied(), 1);
}

#[tokio::test]
async fn a_removal_must_leave_three_counting_removals_already_queued() {
    let sandbox = start(seed(), delayed(60_000)).await;
    let client = Client::new(&sandbox);
    // BIG: me + 4. First removal leaves 4, second 3, third would leave 2.
    assert_eq!(client.remove(BIG, A).await.status, 202);
    assert_eq!(client.remove(BIG, B).await.status, 202);
    let third = client.remove(BIG, C).await;
    assert_eq!(third.error(), (409, Some(2015)));
    assert!(
        third.body["error"]["message"].as_str().unwrap().contains("leave 2"),
        "{:?}",
        third.body
    );
    // TRIO: me + 2; any removal leaves 2.
    assert_eq!(client.remove(TRIO, A).await.error(), (409, Some(2015)));
    sandbox.land_all();
    assert_eq!(sandbox.members(BIG).unwrap().len(), 2);
    assert!(sandbox.violations().is_empty());
}

#[tokio::test]
async fn a_removal_cannot_count_on_an_add_that_has_not_landed() {
    let sandbox = start(seed(), delayed(60_000)).await;
    let client = Client::new(&sandbox);
    assert_eq!(client.add(TRIO, NEW).await.status, 202);
    assert_eq!(
        client.remove(TRIO, A).await.error(),
        (409, Some(2015)),
        "the add is only queued"
    );
    sandbox.land_all();
    assert_eq!(client.remove(TRIO, A).await.status, 202, "now it has landed");
    sandbox.land_all();
    assert_eq!(sandbox.members(TRIO).unwrap(), [B, NEW].map(String::from).into());
    assert!(sandbox.violations().is_empty());
}

#[tokio::test]
async fn cross_service_adds_are_409_2017() {
    let (sandbox, client) = sandbox().await;
    let answer = client.add(BIG, SMS_ONLY).await;
    assert_eq!(answer.error(), (409, Some(2017)));
    spec().assert_component("ErrorResponse", &answer.body);
    // Into its own service it goes, and a handle of unknown service is taken anywhere.
    sandbox.remove_outside(SMS, SMS_ONLY);
    assert_eq!(client.add(SMS, SMS_ONLY).await.status, 202);
    assert_eq!(client.add(SMS, NEW).await.status, 202);
}

#[tokio::test]
async fn conflicting_with_current_state_is_409_2015() {
    let sandbox = start(seed(), delayed(60_000)).await;
    let client = Client::new(&sandbox);
    let conflicts = [
        client.add(BIG, A).await,        // already active
        client.add(BIG, ME).await,       // your own line is active too
        client.remove(BIG, NEW).await,   // not a member
        client.remove(PAIR, GONE).await, // left already
        client.remove(BIG, ME).await,    // your own line
    ];
    for answer in &conflicts {
        assert_eq!(answer.error(), (409, Some(2015)), "{:?}", answer.body);
        assert!(answer.body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Operation conflicts with current state"));
    }
    assert_eq!(client.add(BIG, NEW).await.status, 202);
    assert_eq!(client.add(BIG, NEW).await.error(), (409, Some(2015)), "already queued");
    assert_eq!(client.remove(BIG, A).await.status, 202);
    assert_eq!(
        client.remove(BIG, A).await.error(),
        (409, Some(2015)),
        "removal already queued"
    );
    assert_eq!(sandbox.mutating_calls_applied(), 2);
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_the_envelope() {
    let (_sandbox, client) = sandbox().await;
    let answer = client.get("/v3/nothing").await;
    assert_eq!(answer.error(), (404, Some(2001)));
    spec().assert_component("ErrorResponse", &answer.body);
    let answer = client
        .send(Method::PATCH, &format!("/v3/chats/{BIG}"), None)
        .await
        .unwrap();
    assert_eq!(answer.error(), (405, Some(1001)));
}

#[tokio::test]
async fn every_call_is_logged_with_its_outcome() {
    let (sandbox, client) = sandbox().await;
    client.add(BIG, NEW).await;
    client.add(DM, NEW).await;
    client.chat(BIG).await;
    let calls = sandbox.calls();
    let summary: Vec<_> = calls
        .iter()
        .map(|c| {
            (
                c.method.as_str(),
                c.path.clone(),
                c.handle.as_deref(),
                c.status,
                c.code,
                c.applied,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "POST",
                format!("/v3/chats/{BIG}/participants"),
                Some(NEW),
                202,
                None,
                true
            ),
            (
                "POST",
                format!("/v3/chats/{DM}/participants"),
                Some(NEW),
                409,
                Some(1006),
                false
            ),
            ("GET", format!("/v3/chats/{BIG}"), None, 200, None, false),
        ]
    );
    assert!(calls
        .windows(2)
        .all(|w| w[0].at <= w[1].at && w[0].trace_id != w[1].trace_id));
}

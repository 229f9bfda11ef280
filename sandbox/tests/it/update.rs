//! `PUT /v3/chats/{id}`: a group's display name and icon set through the API, and changed
//! outside it (drift) through the control API.

use linq_sandbox::{Calls, Tamper};
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::schema::spec;

const ICON: &str = "https://example.com/icons/team.png";

async fn update(client: &Client, chat: &str, body: Value) -> Answer {
    client
        .send(Method::PUT, &format!("/v3/chats/{chat}"), Some(body))
        .await
        .unwrap()
}

#[tokio::test]
async fn put_sets_the_name_and_the_icon_and_answers_the_chat() {
    let (sandbox, client) = sandbox().await;
    let before = client.chat(TRIO).await.body;
    let named = update(&client, TRIO, json!({ "display_name": "Night shift" })).await;
    assert_eq!(named.status, 200);
    spec().assert_response("/v3/chats/{chatId}", "put", "200", &named.body);
    assert_eq!(named.body["display_name"], "Night shift");
    assert_eq!(named.body["handles"], before["handles"], "members untouched");
    assert_eq!(client.chat(TRIO).await.body["display_name"], "Night shift");

    let iconed = update(&client, TRIO, json!({ "group_chat_icon": ICON })).await;
    assert_eq!(iconed.status, 200);
    spec().assert_component("Chat", &iconed.body);
    assert_eq!(
        iconed.body["display_name"], "Night shift",
        "a name stays when only the icon is set"
    );
    let read = client.chat(TRIO).await.body;
    assert!(
        read.as_object().unwrap().keys().all(|k| !k.contains("icon")),
        "Linq's Chat has no icon: {read}"
    );
    let details = sandbox.chat(TRIO).unwrap();
    assert_eq!(
        (details.display_name.as_deref(), details.icon.as_deref()),
        (Some("Night shift"), Some(ICON))
    );

    let both = update(&client, TRIO, json!({ "display_name": "", "group_chat_icon": "" })).await;
    assert_eq!(both.status, 200);
    assert!(both.body["display_name"].is_null(), "an empty name clears it");
    let details = sandbox.chat(TRIO).unwrap();
    assert_eq!((details.display_name, details.icon), (None, None));
    let calls = sandbox.calls();
    let put = calls.iter().find(|c| c.method == "PUT").unwrap();
    assert_eq!(
        (put.path.as_str(), put.chat.as_deref(), put.applied),
        (format!("/v3/chats/{TRIO}").as_str(), Some(TRIO), true)
    );
}

#[tokio::test]
async fn put_refuses_direct_chats_unknown_chats_and_bad_bodies() {
    let (sandbox, client) = sandbox().await;
    let direct = update(&client, DM, json!({ "display_name": "Us" })).await;
    assert_eq!(direct.error(), (409, Some(1006)));
    spec().assert_component("ErrorResponse", &direct.body);
    assert_eq!(
        update(&client, UNKNOWN, json!({ "display_name": "Us" })).await.error(),
        (404, Some(2001))
    );
    for bad in [
        json!({}),
        json!({ "display_name": null }),
        json!({ "display_name": 3 }),
        json!({ "group_chat_icon": "team.png" }),
        json!("Us"),
    ] {
        let answer = update(&client, BIG, bad.clone()).await;
        assert_eq!(answer.error(), (400, Some(1001)), "{bad}");
        spec().assert_component("ErrorResponse", &answer.body);
    }
    assert_eq!(sandbox.chat(BIG).unwrap().display_name.as_deref(), Some("Big"));
    let mut anonymous = Client::new(&sandbox);
    anonymous.token = None;
    assert_eq!(
        update(&anonymous, BIG, json!({ "display_name": "Us" })).await.error(),
        (401, Some(2004))
    );
}

#[tokio::test]
async fn a_tamper_of_changes_answers_updates_and_edits_show_in_their_answer() {
    let (sandbox, client) = sandbox().await;
    sandbox.tamper(
        BIG,
        Tamper::Fail {
            status: 409,
            code: 2013,
            message: "This chat is unavailable".into(),
            calls: Calls::Changes,
        },
    );
    assert_eq!(
        update(&client, BIG, json!({ "display_name": "Us" })).await.error(),
        (409, Some(2013))
    );
    assert_eq!(client.chat(BIG).await.status, 200, "reads answer");
    assert_eq!(sandbox.chat(BIG).unwrap().display_name.as_deref(), Some("Big"));
    sandbox.tamper(BIG, Tamper::set("/display_name", json!("Someone else")));
    let answer = update(&client, BIG, json!({ "display_name": "Us" })).await;
    assert_eq!(
        (answer.status, &answer.body["display_name"]),
        (200, &json!("Someone else"))
    );
    assert_eq!(sandbox.chat(BIG).unwrap().display_name.as_deref(), Some("Us"));
}

#[tokio::test]
async fn names_and_icons_change_outside_the_api_as_drift() {
    let (sandbox, client) = sandbox().await;
    sandbox.rename_outside(BIG, Some("Renamed in Messages"));
    sandbox.set_icon_outside(BIG, Some(ICON));
    assert_eq!(client.chat(BIG).await.body["display_name"], "Renamed in Messages");
    assert_eq!(sandbox.chat(BIG).unwrap().icon.as_deref(), Some(ICON));
    sandbox.rename_outside(BIG, None);
    assert!(client.chat(BIG).await.body["display_name"].is_null());
    assert!(
        sandbox.calls().iter().all(|c| c.method == "GET"),
        "drift is no API call"
    );

    let root = format!("http://{}/_sandbox", sandbox.addr());
    let http = reqwest::Client::new();
    let post = |path: String, body: Value| {
        let request = http.post(format!("{root}{path}")).json(&body);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(
        post(
            format!("/chats/{TRIO}/outside-rename"),
            json!({ "display_name": "Trio" })
        )
        .await,
        204
    );
    assert_eq!(
        post(format!("/chats/{TRIO}/outside-icon"), json!({ "icon": ICON })).await,
        204
    );
    assert_eq!(
        post(format!("/chats/{TRIO}/outside-icon"), json!({ "icon": null })).await,
        204
    );
    assert_eq!(
        post(format!("/chats/{DM}/outside-rename"), json!({ "display_name": "Us" })).await,
        400
    );
    assert_eq!(
        post(
            format!("/chats/{UNKNOWN}/outside-rename"),
            json!({ "display_name": "Us" })
        )
        .await,
        404
    );
    assert_eq!(
        post(format!("/chats/{TRIO}/outside-rename"), json!({ "name": "Us" })).await,
        400
    );
    let details = sandbox.chat(TRIO).unwrap();
    assert_eq!((details.display_name.as_deref(), details.icon), (Some("Trio"), None));
}

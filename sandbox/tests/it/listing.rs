//! `GET /v3/chats`: pages with an opaque cursor, in a stable order, and its filters.

use linq_sandbox::{Options, Seed, SeedChat};
use serde_json::Value;

use crate::helpers::*;
use crate::schema::spec;

/// 45 chats, ids in a known order.
fn many() -> Seed {
    let chats = (0..45)
        .map(|i| SeedChat::group(&format!("00000000-0000-4000-8000-{i:012}"), &[A, B]))
        .collect();
    Seed { chats, ..seed() }
}

fn ids(page: &Value) -> Vec<String> {
    page["chats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn pages_cover_every_chat_once_in_a_stable_order() {
    let sandbox = start(many(), Options::default()).await;
    let client = Client::new(&sandbox);
    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    let mut path = "/v3/chats?limit=20".to_owned();
    loop {
        let page = client.get(&path).await;
        assert_eq!(page.status, 200);
        spec().assert_component("ListChatsResult", &page.body);
        sizes.push(ids(&page.body).len());
        seen.extend(ids(&page.body));
        match page.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v3/chats?limit=20&cursor={cursor}"),
            None => {
                assert!(page.body["next_cursor"].is_null(), "the last page says null");
                break;
            }
        }
    }
    assert_eq!(sizes, [20, 20, 5]);
    let expected: Vec<String> = many().chats.into_iter().map(|c| c.id).collect();
    assert_eq!(seen, expected);
    // The same request gives the same page.
    let again = client.get("/v3/chats?limit=20").await;
    assert_eq!(ids(&again.body), expected[..20]);
}

#[tokio::test]
async fn the_default_page_is_20_and_limit_is_1_to_100() {
    let sandbox = start(many(), Options::default()).await;
    let client = Client::new(&sandbox);
    assert_eq!(ids(&client.get("/v3/chats").await.body).len(), 20);
    assert_eq!(ids(&client.get("/v3/chats?limit=100").await.body).len(), 45);
    assert!(client.get("/v3/chats?limit=100").await.body["next_cursor"].is_null());
    assert_eq!(ids(&client.get("/v3/chats?limit=1").await.body).len(), 1);
    for bad in [
        "limit=0",
        "limit=101",
        "limit=ten",
        "cursor=20",
        "cursor=c_zz",
        "cursor=c_ffff",
    ] {
        let answer = client.get(&format!("/v3/chats?{bad}")).await;
        assert_eq!(answer.error(), (400, Some(1001)), "{bad}");
        spec().assert_component("ErrorResponse", &answer.body);
    }
}

#[tokio::test]
async fn from_selects_your_own_line_and_to_a_participant() {
    let (_sandbox, client) = sandbox().await;
    let all = ids(&client.get("/v3/chats").await.body);
    assert_eq!(all, [BIG, TRIO, PAIR, DM, SMS]);
    assert_eq!(ids(&client.get("/v3/chats?from=%2B12055550100").await.body), all);
    assert_eq!(
        ids(&client.get("/v3/chats?from=12055550100").await.body),
        all,
        "the + is optional"
    );
    assert!(ids(&client.get("/v3/chats?from=%2B12055559999").await.body).is_empty());
    assert_eq!(client.get("/v3/chats?from=me").await.error(), (400, Some(1002)));
    // GONE left PAIR: not a participant any more.
    assert_eq!(
        ids(&client.get(&format!("/v3/chats?to=%2B{}", &A[1..])).await.body),
        [BIG, TRIO, PAIR, DM]
    );
    assert!(ids(&client.get(&format!("/v3/chats?to=%2B{}", &GONE[1..])).await.body).is_empty());
    assert_eq!(ids(&client.get("/v3/chats?to=DEE@example.com").await.body), [BIG]);
}

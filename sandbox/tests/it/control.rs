//! The sandbox as its own process: the binary, its `listening on` line and the control API.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use linq_sandbox::{Options, Sandbox};
use serde_json::{json, Value};

use crate::helpers::*;

/// GETs `url` (a control endpoint: no token) and reads its JSON.
async fn get_json(http: &reqwest::Client, url: String) -> Value {
    http.get(url).send().await.unwrap().json().await.unwrap()
}

/// Kills the child when a test ends, passing or not.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_binary_serves_a_seed_file_with_a_control_api() {
    let seed = concat!(env!("CARGO_MANIFEST_DIR"), "/seed.example.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_linq-sandbox"))
        .args(["--seed", seed, "--land-delay-ms", "0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _running = Running(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{line:?}"))
        .to_owned();
    assert!(
        base.starts_with("http://127.0.0.1:") && base.ends_with("/api/partner"),
        "{base}"
    );
    let root = base.trim_end_matches("/api/partner").to_owned();

    let http = reqwest::Client::new();
    let get = |url: String| {
        let http = http.clone();
        async move { http.get(url).bearer_auth("sandbox-token").send().await.unwrap() }
    };
    let chat = "550e8400-e29b-41d4-a716-446655440000";
    let answer: Value = get(format!("{base}/v3/chats/{chat}")).await.json().await.unwrap();
    crate::schema::spec().assert_component("Chat", &answer);
    assert_eq!(
        get(format!("{base}/v3/chats")).await.json::<Value>().await.unwrap()["chats"]
            .as_array()
            .unwrap()
            .len(),
        5
    );

    let outside = http
        .post(format!("{root}/_sandbox/chats/{chat}/outside-add"))
        .json(&json!({ "handle": "+12055550150" }))
        .send()
        .await
        .unwrap();
    assert_eq!(outside.status(), 204);
    let bad = http
        .post(format!("{root}/_sandbox/chats/{chat}/leave"))
        .json(&json!({ "handle": "+19995550000" }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400, "not a member");
    let unknown = http
        .post(format!("{root}/_sandbox/chats/{UNKNOWN}/leave"))
        .json(&json!({ "handle": A }))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);

    let chats: Value = get_json(&http, format!("{root}/_sandbox/chats")).await;
    assert!(chats[chat].as_array().unwrap().contains(&json!("+12055550150")));
    let calls: Value = get_json(&http, format!("{root}/_sandbox/calls")).await;
    assert_eq!(calls.as_array().unwrap().len(), 2, "control requests are not API calls");
    assert_eq!(calls[0]["path"], format!("/v3/chats/{chat}"));
    assert_eq!(calls[0]["status"], 200);
    let violations: Value = get_json(&http, format!("{root}/_sandbox/violations")).await;
    assert_eq!(violations, json!([]));
}

#[tokio::test]
async fn the_control_api_reports_violations_and_lands_on_request() {
    let sandbox = start(seed(), delayed(60_000)).await;
    let client = Client::new(&sandbox);
    let root = format!("http://{}", sandbox.addr());
    let http = reqwest::Client::new();
    assert_eq!(client.add(BIG, NEW).await.status, 202);
    let landed = http.post(format!("{root}/_sandbox/land")).send().await.unwrap();
    assert_eq!(landed.status(), 204);
    assert!(sandbox.members(BIG).unwrap().contains(NEW));
    let left = http
        .post(format!("{root}/_sandbox/chats/{TRIO}/leave"))
        .json(&json!({ "handle": A }))
        .send()
        .await
        .unwrap();
    assert_eq!(left.status(), 204);
    let violations: Value = get_json(&http, format!("{root}/_sandbox/violations")).await;
    assert_eq!(violations[0]["chat"], TRIO);
    assert_eq!(violations[0]["cause"], "left");
    assert_eq!(violations[0]["participants"], 2);
}

#[tokio::test]
async fn the_control_api_lands_a_change_ahead_and_reports_member_ranges() {
    let sandbox = start(seed(), delayed(60_000)).await;
    let client = Client::new(&sandbox);
    let root = format!("http://{}", sandbox.addr());
    let http = reqwest::Client::new();
    // BIG has 4 members: add one, remove one; the removal lands first.
    assert_eq!(client.add(BIG, NEW).await.status, 202);
    assert_eq!(client.remove(BIG, A).await.status, 202);
    let land_ahead = |handle: &'static str| {
        let http = http.clone();
        let url = format!("{root}/_sandbox/chats/{BIG}/land-ahead");
        async move {
            http.post(url)
                .json(&json!({ "handle": handle }))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(land_ahead(A).await, 204);
    assert_eq!(land_ahead(A).await, 404, "nothing of `A` is queued any more");
    assert_eq!(sandbox.members(BIG).unwrap().len(), 3);
    sandbox.land_all();
    let ranges: Value = get_json(&http, format!("{root}/_sandbox/member-ranges")).await;
    assert_eq!(ranges[BIG], json!({ "lowest": 3, "highest": 4 }));
    assert_eq!(
        ranges[TRIO],
        json!({ "lowest": 2, "highest": 2 }),
        "your own line is not a member"
    );
    let range = sandbox.member_range(BIG).unwrap();
    assert_eq!((range.lowest, range.highest), (3, 4));
    assert!(sandbox.member_range(UNKNOWN).is_none());
}

#[test]
fn spawn_serves_from_its_own_thread_and_stops_when_dropped() {
    let sandbox = Sandbox::spawn(seed(), Options::default());
    let addr = sandbox.addr();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = Client::new(&sandbox);
        assert_eq!(client.add(BIG, NEW).await.status, 202);
    });
    assert!(sandbox.members(BIG).unwrap().contains(NEW));
    let clone = sandbox.clone();
    drop(sandbox);
    assert_eq!(clone.calls().len(), 1, "a clone shares the state and keeps the server");
    drop(clone);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::net::TcpStream::connect(addr).is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "still listening after the last handle dropped"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

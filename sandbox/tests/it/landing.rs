//! Queued changes land after the delay, in order, and every moment a group falls under three
//! participants is flagged.

use std::time::Duration;

use linq_sandbox::Cause;

use crate::helpers::*;

#[tokio::test]
async fn changes_show_only_once_the_delay_has_passed() {
    // Queued for a minute: nothing shows yet.
    let sandbox = start(seed(), delayed(60_000)).await;
    let client = Client::new(&sandbox);
    assert_eq!(client.add(BIG, NEW).await.status, 202);
    assert_eq!(client.remove(BIG, A).await.status, 202);
    assert_eq!(sandbox.pending(BIG), Some(2));
    let before = handles(&client.chat(BIG).await.body);
    assert!(before.iter().all(|(h, _)| h != NEW), "{before:?}");
    assert!(before.contains(&(A.to_owned(), "active".to_owned())));
    assert_eq!(sandbox.members(BIG).unwrap(), [A, B, C, D].map(String::from).into());

    // Queued for 300 ms: read until both show. By the sandbox's log, each read shows a change
    // exactly when the delay has passed since the change was accepted.
    let delay = Duration::from_millis(300);
    let sandbox = start(seed(), delayed(300)).await;
    let client = Client::new(&sandbox);
    assert_eq!(client.add(BIG, NEW).await.status, 202);
    assert_eq!(client.remove(BIG, A).await.status, 202);
    let mut reads = Vec::new();
    loop {
        let chat = handles(&client.chat(BIG).await.body);
        let shown = chat.contains(&(NEW.to_owned(), "active".to_owned()))
            && chat.contains(&(A.to_owned(), "removed".to_owned()));
        reads.push(chat);
        if shown {
            break;
        }
        assert!(reads.len() < 1_000, "the changes never landed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let calls = sandbox.calls();
    let (added, removed) = (calls[0].at + delay, calls[1].at + delay);
    for (chat, read) in reads.iter().zip(&calls[2..]) {
        let new = chat.contains(&(NEW.to_owned(), "active".to_owned()));
        let a = chat.contains(&(A.to_owned(), "removed".to_owned()));
        assert_eq!(
            new,
            read.at >= added,
            "read at {:?}, added at {added:?}: {chat:?}",
            read.at
        );
        assert_eq!(
            a,
            read.at >= removed,
            "read at {:?}, removed at {removed:?}: {chat:?}",
            read.at
        );
    }
    assert_eq!(sandbox.pending(BIG), Some(0));
}

#[tokio::test]
async fn land_all_lands_everything_at_once() {
    let sandbox = start(seed(), delayed(60_000)).await;
    let client = Client::new(&sandbox);
    client.add(BIG, NEW).await;
    client.add(TRIO, NEW).await;
    assert_eq!(sandbox.pending(TRIO), Some(1));
    sandbox.land_all();
    assert_eq!(sandbox.pending(BIG), Some(0));
    assert!(sandbox.members(BIG).unwrap().contains(NEW));
    assert!(sandbox.members(TRIO).unwrap().contains(NEW));
}

#[tokio::test]
async fn a_rejoining_member_becomes_active_again() {
    let (sandbox, client) = sandbox().await;
    // PAIR is too small to add to; grow it from outside first.
    sandbox.add_outside(PAIR, NEW);
    assert_eq!(client.add(PAIR, GONE).await.status, 202);
    sandbox.land_all();
    let chat = client.chat(PAIR).await.body;
    crate::schema::spec().assert_component("Chat", &chat);
    let gone = chat["handles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["handle"] == GONE)
        .unwrap();
    assert_eq!(gone["status"], "active");
    assert!(gone["left_at"].is_null());
    assert_eq!(handles(&chat).len(), 4, "the same handle, not a second entry");
}

#[tokio::test]
async fn a_removal_landing_on_a_group_shrunk_outside_is_a_violation() {
    let sandbox = start(seed(), delayed(60_000)).await;
    let client = Client::new(&sandbox);
    // BIG: me + 4. The API accepts two removals (leaving 3)...
    assert_eq!(client.remove(BIG, A).await.status, 202);
    assert_eq!(client.remove(BIG, B).await.status, 202);
    // ...then someone leaves before they land.
    sandbox.leave(BIG, C);
    assert!(sandbox.violations().is_empty(), "4 participants remain for now");
    sandbox.land_all();
    let violations = sandbox.violations();
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert_eq!((violations[0].chat.as_str(), violations[0].participants), (BIG, 2));
    assert_eq!(
        (violations[0].handle.as_str(), violations[0].cause),
        (B, Cause::QueuedRemoval)
    );
}

#[tokio::test]
async fn drift_below_three_is_flagged_with_its_cause() {
    let (sandbox, client) = sandbox().await;
    sandbox.remove_outside(TRIO, A);
    let violations = sandbox.violations();
    assert_eq!(violations.len(), 1);
    assert_eq!(violations[0].cause, Cause::OutsideRemoval);
    assert_eq!(violations[0].participants, 2);
    // Shrinking a group further is flagged again; a direct message never is.
    sandbox.leave(TRIO, B);
    assert_eq!(sandbox.violations()[1].participants, 1);
    sandbox.leave(DM, A);
    assert_eq!(sandbox.violations().len(), 2);
    // Landed membership is what the API reports.
    let chat = handles(&client.chat(TRIO).await.body);
    assert_eq!(
        chat,
        [("me", "active"), (A, "removed"), (B, "left")].map(|(h, s)| (h.to_owned(), s.to_owned()))
    );
    assert!(sandbox.members(TRIO).unwrap().is_empty());
}

#[tokio::test]
async fn roster_style_safe_order_never_violates() {
    // {A, B} + me, desired {B, NEW}: add, wait until it lands, then remove. The add lands when
    // the test says, once a poll has seen it queued.
    let sandbox = start(seed(), delayed(60_000)).await;
    let client = Client::new(&sandbox);
    assert_eq!(client.add(TRIO, NEW).await.status, 202);
    let mut polls = 0;
    while !handles(&client.chat(TRIO).await.body).iter().any(|(h, _)| h == NEW) {
        polls += 1;
        assert!(polls < 100, "the add never landed");
        sandbox.land_all();
    }
    assert!(polls > 0, "a queued add is visible to a poller");
    assert_eq!(client.remove(TRIO, A).await.status, 202);
    sandbox.land_all();
    assert_eq!(sandbox.members(TRIO).unwrap(), [B, NEW].map(String::from).into());
    assert!(sandbox.violations().is_empty());
}

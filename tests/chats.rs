//! Chats as code through the binary against the sandbox: keys of the team's own, `id:`
//! bindings, `previously:`, creates in the plan (and refused by apply until it creates), names
//! and icons set with `PUT /v3/chats/{id}`, and names changed outside roster.

use linq_sandbox::{Options, Seed, SeedChat};
use serde_json::Value;

use crate::common::Linq;

const ME: &str = "+12055550100";
const SALES: &str = "550e8400-e29b-41d4-a716-446655440000";
const MEMBERS: [&str; 3] = ["+12055550101", "+12055550102", "+12055550103"];

/// One group chat, `SALES`, named "Sales West", with [`MEMBERS`].
fn sales() -> Linq {
    let seed = Seed {
        token: "chats-token".into(),
        me: ME.into(),
        chats: vec![SeedChat {
            display_name: Some("Sales West".into()),
            ..SeedChat::group(SALES, &MEMBERS)
        }],
        handle_services: Default::default(),
    };
    Linq::serve(seed, Options::default())
}

/// `chats:` entries under one `version: 1` file.
fn config(linq: &Linq, chats: &str) {
    linq.ws.write("roster.yaml", format!("version: 1\nchats:\n{chats}"));
}

/// A chat entry with [`MEMBERS`] and `extra` lines.
fn chat(key: &str, extra: &str) -> String {
    format!("  {key}:\n{extra}    members: ['+12055550101', '+12055550102', '+12055550103']\n")
}

const CREATE: &str = "    name: Support EMEA\n    create:\n      from: '+12055550100'\n      message: \"Welcome to Support EMEA.\\nReply ```stop``` \\u001b[2J to leave.\"\n";

/// The calls the sandbox received, as `METHOD path`.
fn calls(linq: &Linq) -> Vec<String> {
    linq.sandbox
        .calls()
        .into_iter()
        .map(|call| format!("{} {}", call.method, call.path))
        .collect()
}

/// The state's record of `SALES`.
fn recorded(linq: &Linq) -> Value {
    linq.state()["chats"][SALES].clone()
}

#[test]
fn a_key_that_stands_for_no_chat_is_a_config_error_with_the_three_ways_out() {
    let linq = sales();
    config(&linq, &chat("support-emea", ""));
    let before = linq.ws.snapshot_files();
    for args in [&["plan"][..], &["apply", "--auto-approve"]] {
        let run = linq.expect(1, args);
        insta::assert_snapshot!("unbound_key", run.combined());
    }
    assert_eq!(linq.ws.snapshot_files(), before, "nothing written");
    assert!(
        calls(&linq).iter().all(|call| call.starts_with("GET")),
        "{:?}",
        calls(&linq)
    );
}

#[test]
fn a_create_is_shown_whole_in_every_format_counted_and_made_by_apply() {
    let linq = sales();
    config(&linq, &chat("support-emea", CREATE));
    insta::assert_snapshot!("create_text", linq.expect(0, &["plan"]).combined());
    insta::assert_snapshot!(
        "create_markdown",
        linq.expect(0, &["plan", "--format", "markdown"]).stdout()
    );
    let json: Value = serde_json::from_str(&linq.expect(0, &["plan", "--format", "json"]).stdout()).unwrap();
    insta::assert_json_snapshot!("create_json", json["chats"]);
    assert_eq!(json["summary"]["create"], 1);
    linq.expect(2, &["plan", "--detailed-exitcode"]);

    // Apply makes it, with one create, and the message exactly as the config wrote it.
    let run = linq.expect(0, &["apply", "--auto-approve"]);
    assert!(run.combined().contains("1 chat created"), "{}", run.combined());
    let creates = calls(&linq).iter().filter(|call| *call == "POST /v3/chats").count();
    assert_eq!(creates, 1, "{:?}", calls(&linq));
    let sent = linq.sandbox.messages();
    assert_eq!(sent.len(), 1);
    assert!(
        sent[0].content.parts[0].contains("\u{1b}[2J"),
        "{:?}",
        sent[0].content.parts
    );
}

#[test]
fn max_creates_refuses_more_creates_unless_allowed() {
    let linq = sales();
    let chats: String = ["one", "two"].iter().map(|key| chat(key, CREATE)).collect();
    linq.ws.write(
        "roster.yaml",
        format!("version: 1\nsettings:\n  max_creates: 1\nchats:\n{chats}"),
    );
    let run = linq.expect(1, &["plan"]);
    insta::assert_snapshot!("mass_create", run.combined());
    let json: Value = serde_json::from_str(
        &linq
            .expect(0, &["plan", "--allow-mass-create", "--format", "json"])
            .stdout(),
    )
    .unwrap();
    assert_eq!(json["summary"]["create"], 2);
}

#[test]
fn an_id_binding_adopts_by_key_a_target_takes_the_key_and_previously_renames_with_no_call() {
    let linq = sales();
    config(
        &linq,
        &chat("sales", &format!("    id: {SALES}\n    name: Sales West\n")),
    );
    linq.expect(0, &["import", SALES]);
    let plan = linq
        .expect(0, &["plan", "--target", "sales", "--format", "json"])
        .stdout();
    let plan: Value = serde_json::from_str(&plan).unwrap();
    assert_eq!(plan["chats"][0]["key"], "sales");
    assert_eq!(plan["chats"][0]["rekey"], SALES);
    linq.expect(0, &["apply", "--auto-approve", "--target", "sales"]);
    assert_eq!(recorded(&linq)["key"], "sales");

    // Renamed in the config with `previously`: the state follows, and Linq hears nothing.
    let calls_before = linq.sandbox.calls().len();
    config(
        &linq,
        &chat("sales-west", "    previously: [sales]\n    name: Sales West\n"),
    );
    let run = linq.expect(0, &["apply", "--auto-approve"]);
    insta::assert_snapshot!("previously", run.stdout());
    assert_eq!(recorded(&linq)["key"], "sales-west");
    let made: Vec<String> = calls(&linq)[calls_before..].to_vec();
    assert!(made.iter().all(|call| call.starts_with("GET")), "{made:?}");

    // A key that vanished while a create with its members appeared is named as a likely rename.
    config(&linq, &chat("sales-emea", CREATE));
    let run = linq.expect(0, &["plan"]);
    assert!(
        run.stdout()
            .contains("`sales-west` left the config with the same members"),
        "{}",
        run.stdout()
    );
}

#[test]
fn names_and_icons_are_set_after_the_members_and_a_name_changed_outside_is_set_back() {
    let linq = sales();
    linq.expect(0, &["import", SALES]);
    config(
        &linq,
        &chat(SALES, "    name: Sales EMEA\n    icon: https://example.com/sales.png\n"),
    );
    let run = linq.expect(0, &["apply", "--auto-approve"]);
    insta::assert_snapshot!("names_apply", run.stdout());
    let live = linq.sandbox.chat(SALES).unwrap();
    assert_eq!(live.display_name.as_deref(), Some("Sales EMEA"));
    assert_eq!(live.icon.as_deref(), Some("https://example.com/sales.png"));
    assert_eq!(recorded(&linq)["display_name"], "Sales EMEA");
    assert_eq!(recorded(&linq)["icon"], "https://example.com/sales.png");
    let puts = calls(&linq).iter().filter(|call| call.starts_with("PUT")).count();
    assert_eq!(puts, 2);
    linq.expect(0, &["plan", "--detailed-exitcode"]);

    // Renamed in the Linq app: drift, recorded by refresh, and set back by the next apply.
    linq.sandbox.rename_outside(SALES, Some("Sales (old)"));
    let run = linq.expect(0, &["refresh"]);
    insta::assert_snapshot!("names_refresh", run.stdout());
    assert_eq!(recorded(&linq)["display_name"], "Sales (old)");
    linq.expect(0, &["apply", "--auto-approve"]);
    assert_eq!(
        linq.sandbox.chat(SALES).unwrap().display_name.as_deref(),
        Some("Sales EMEA")
    );
    assert_eq!(
        calls(&linq).iter().filter(|call| call.starts_with("PUT")).count(),
        3,
        "the name again, not the icon"
    );

    // With `manage_names: false` the name is a label: no call.
    linq.sandbox.rename_outside(SALES, Some("Someone else's"));
    linq.expect(0, &["refresh"]);
    linq.ws.write(
        "roster.yaml",
        format!(
            "version: 1\nsettings:\n  manage_names: false\nchats:\n{}",
            chat(SALES, "    name: Sales EMEA\n")
        ),
    );
    linq.expect(0, &["plan", "--detailed-exitcode"]);
}

#[test]
fn import_with_keys_names_writes_keys_from_display_names_bound_by_id() {
    let linq = sales();
    let run = linq.expect(0, &["import", SALES, "--keys", "names", "--write", "roster.yaml"]);
    insta::assert_snapshot!("import_keys_names", linq.ws.read("roster.yaml"));
    assert!(run.stderr().contains("Imported 1 chat"), "{}", run.stderr());
    assert_eq!(recorded(&linq)["key"], "sales-west");
    // The config it wrote plans nothing: the chat is known under its key.
    linq.expect(0, &["plan", "--detailed-exitcode"]);

    // Plain `import` keeps writing chat ids as keys.
    let plain = sales();
    plain.expect(0, &["import", SALES, "--write", "roster.yaml"]);
    assert!(plain.ws.read("roster.yaml").contains(&format!("{SALES}:")));
}

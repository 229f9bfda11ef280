//! What crosses the wire, against a Linq that misbehaves: proxies and redirects never see the
//! token in clear, answers that break the contract are refused, and text from Linq is shown as
//! data.

use std::io::Read as _;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use linq_sandbox::{Calls, Options, Sandbox, Seed, SeedChat, Tamper};
use serde_json::json;

use crate::common::{Linq, Run, Workspace};

const TOKEN: &str = "wire-token-4d2f81";
const ME: &str = "+12055550100";
const SALES: &str = "550e8400-e29b-41d4-a716-446655440000";
const SHIFTS: &str = "c3d4e5f6-a7b8-4c9d-8e0f-112233445566";
const MEMBERS: [&str; 4] = ["+12055550101", "+12055550102", "+12055550103", "+12055550104"];
/// Added to the sales chat by the config of [`Linq::with_changes`].
const NEWCOMER: &str = "+12055550177";
/// Added to the shifts chat by the config of [`Linq::with_changes`].
const NIGHT_SHIFT: &str = "+12055550178";

impl Linq {
    /// A sandbox with two group chats, and a workspace whose runs of roster talk to it.
    fn two_chats() -> Linq {
        let seed = Seed {
            token: TOKEN.into(),
            me: ME.into(),
            chats: vec![
                SeedChat {
                    display_name: Some("Sales".into()),
                    ..SeedChat::group(SALES, &MEMBERS)
                },
                SeedChat::group(SHIFTS, &MEMBERS[..3]),
            ],
            handle_services: Default::default(),
        };
        Linq::serve(seed, Options::default())
    }

    /// Both chats imported, and a config that adds [`NEWCOMER`] to the sales chat and
    /// [`NIGHT_SHIFT`] to the shifts chat.
    fn with_changes() -> Linq {
        let linq = Linq::two_chats();
        linq.expect(0, &["import", SALES, SHIFTS]);
        let members = |list: &[&str]| list.iter().map(|h| format!("'{h}'")).collect::<Vec<_>>().join(", ");
        let mut sales = MEMBERS.to_vec();
        sales.push(NEWCOMER);
        let mut shifts = MEMBERS[..3].to_vec();
        shifts.push(NIGHT_SHIFT);
        linq.ws.write(
            "roster.yaml",
            format!(
                "version: 1\nchats:\n  {SALES}:\n    members: [{}]\n  {SHIFTS}:\n    members: [{}]\n",
                members(&sales),
                members(&shifts)
            ),
        );
        linq
    }
}

/// A TCP listener that records what each connection sends up to the end of its request head,
/// then hangs up without answering: a stand-in for a proxy or a redirect's target, to prove
/// what reached it.
struct Recorder {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Recorder {
    fn start() -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                let mut bytes = Vec::new();
                let mut buffer = [0u8; 4096];
                while !bytes.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buffer) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => bytes.extend_from_slice(&buffer[..n]),
                    }
                }
                log.lock().unwrap().push(bytes);
            }
        });
        Recorder { addr, received }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn received(&self) -> Vec<String> {
        let received = self.received.lock().unwrap();
        received
            .iter()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect()
    }
}

#[test]
fn plain_http_to_loopback_never_goes_through_a_proxy() {
    for variable in ["HTTP_PROXY", "http_proxy", "ALL_PROXY"] {
        let proxy = Recorder::start();
        let linq = Linq::with_changes();
        let run = linq.roster_with(
            &["apply", "--auto-approve"],
            &[(variable, &proxy.url()), ("NO_PROXY", ""), ("no_proxy", "")],
        );
        assert_eq!(run.code(), 0, "{variable}: {}", run.combined());
        assert!(
            linq.sandbox.members(SALES).unwrap().contains(NEWCOMER),
            "{variable}: the add reached Linq directly"
        );
        assert_eq!(
            proxy.received(),
            Vec::<String>::new(),
            "{variable}: the proxy saw traffic"
        );
    }
}

#[test]
fn https_goes_through_the_proxy_as_a_connect_tunnel_without_the_token() {
    let proxy = Recorder::start();
    let ws = Workspace::new();
    let run = ws.roster_with(
        &["import", SALES],
        &[
            ("LINQ_API_V3_BASE_URL", "https://linq.invalid/api/partner"),
            ("LINQ_API_V3_API_KEY", TOKEN),
            ("HTTPS_PROXY", &proxy.url()),
            ("NO_PROXY", ""),
            ("no_proxy", ""),
        ],
    );
    // The recorder hangs up instead of opening the tunnel.
    assert_eq!(run.code(), 1, "{}", run.combined());
    assert!(run.stderr().contains("no answer from Linq"), "{}", run.combined());
    let received = proxy.received();
    assert!(!received.is_empty(), "the proxy was not used: {}", run.combined());
    for request in &received {
        assert!(
            request.starts_with("CONNECT linq.invalid:443 HTTP/1.1\r\n"),
            "{request:?}"
        );
        assert!(!request.contains(TOKEN), "the token went to the proxy: {request:?}");
    }
    assert!(!run.combined().contains(TOKEN));
}

#[test]
fn redirects_are_refused_naming_where_they_point_and_never_followed() {
    let elsewhere = Recorder::start();
    let target = format!("{}/api/partner/v3/chats/{SALES}/participants", elsewhere.url());
    let linq = Linq::with_changes();
    linq.sandbox
        .tamper(SALES, Tamper::redirect(307, &target, Calls::Changes));
    let run = linq.roster(&["apply", "--auto-approve"]);
    assert_eq!(run.code(), 1, "{}", run.combined());
    let shown = "a redirect to `http://127.0.0.1:[PORT]/api/partner/v3/chats/550e8400-e29b-41d4-a716-446655440000/participants`, which roster does not follow";
    assert!(run.stdout().contains(shown), "{}", run.combined());
    let posts: Vec<u16> = (linq.sandbox.calls().iter())
        .filter(|c| c.method == "POST" && c.chat.as_deref() == Some(SALES))
        .map(|c| c.status)
        .collect();
    assert_eq!(posts, [307], "one attempt, not retried");

    // A read redirected with user info in the target: shown without it.
    let with_secret = format!("http://user:hunter2@{}/v3/chats/{SALES}", elsewhere.addr);
    linq.sandbox
        .tamper(SALES, Tamper::redirect(308, &with_secret, Calls::Reads));
    let run = linq.roster(&["refresh"]);
    assert_eq!(run.code(), 1, "{}", run.combined());
    assert!(
        run.stderr().contains(&format!(
            "(308): a redirect to `http://127.0.0.1:[PORT]/v3/chats/{SALES}`"
        )),
        "{}",
        run.combined()
    );
    assert!(!run.combined().contains("hunter2"));
    assert_eq!(elsewhere.received(), Vec::<String>::new(), "a redirect was followed");
}

/// Ways a chat's answer breaks Linq's contract, and what roster says of each.
fn contract_breaches() -> [(Tamper, String); 9] {
    [
        (
            Tamper::remove("/handles"),
            "the answer breaks Linq's schema: missing field `handles`",
        ),
        (
            Tamper::set("/handles", json!("everyone")),
            "invalid type: string \"everyone\", expected a sequence",
        ),
        (Tamper::remove("/is_group"), "missing field `is_group`"),
        (Tamper::remove("/display_name"), "missing field `display_name`"),
        (
            Tamper::set("/id", json!(SHIFTS)),
            &format!("Linq answered with another chat, `{SHIFTS}`"),
        ),
        (
            Tamper::set("/handles/1/handle", json!("+1 555 CALL NOW")),
            "a participant is not a handle",
        ),
        (Tamper::set("/handles/2/status", json!("muted")), "has status `muted`"),
        (
            Tamper::remove("/handles/0/is_me"),
            "no participant is marked `is_me: true`",
        ),
        (
            Tamper::set("/handles/0/is_me", json!(null)),
            "no participant is marked `is_me: true`",
        ),
    ]
    .map(|(tamper, expected): (Tamper, &str)| (tamper, expected.to_owned()))
}

#[test]
fn chat_answers_that_break_the_contract_are_refused_and_nothing_is_recorded() {
    let linq = Linq::with_changes();
    let recorded = linq.state_bytes();
    for (tamper, expected) in contract_breaches() {
        linq.sandbox.tamper(SALES, tamper.clone());
        let run = linq.roster(&["refresh"]);
        assert_eq!(run.code(), 1, "{tamper:?}: {}", run.combined());
        let stderr = run.stderr();
        assert!(
            stderr.contains(&format!("unexpected answer from Linq (200): chat `{SALES}`: "))
                && stderr.contains(&expected),
            "{tamper:?}: {stderr}"
        );
        assert_eq!(linq.state_bytes(), recorded, "{tamper:?}: refresh recorded something");
        let plan = linq.roster(&["plan", "--refresh"]);
        assert_eq!(plan.code(), 1, "{tamper:?}: {}", plan.combined());
    }

    // Import writes nothing either.
    linq.sandbox.tamper(SALES, Tamper::remove("/handles"));
    let fresh = Workspace::new();
    let import = fresh.roster_with(
        &["import", SALES],
        &[
            ("LINQ_API_V3_BASE_URL", &linq.sandbox.base_url()),
            ("LINQ_API_V3_API_KEY", TOKEN),
        ],
    );
    assert_eq!(import.code(), 1, "{}", import.combined());
    assert_eq!(import.stdout(), "");
    assert!(fresh.snapshot_files().is_empty(), "import wrote a file");

    // Apply fails that chat, sends it nothing, and finishes the other.
    linq.sandbox.tamper(SALES, Tamper::remove("/handles/0/is_me"));
    let run = linq.roster(&["apply", "--auto-approve"]);
    assert_eq!(run.code(), 1, "{}", run.combined());
    assert!(
        run.stdout().contains(&format!(
            "chat `{SALES}` (Sales): failed reading the chat: 200 unexpected answer from Linq: chat `{SALES}`: no participant is marked `is_me: true`, so roster cannot tell your own line from the members"
        )),
        "{}",
        run.combined()
    );
    assert!(run.stdout().contains("Chats: 1 done, 1 failed."), "{}", run.combined());
    assert!(linq.sandbox.members(SHIFTS).unwrap().contains(NIGHT_SHIFT));
    assert!(
        !linq
            .sandbox
            .calls()
            .iter()
            .any(|c| c.method != "GET" && c.chat.as_deref() == Some(SALES)),
        "a change was sent to the chat roster could not read"
    );
}

#[test]
fn an_oversized_answer_is_refused_and_not_read_to_its_end() {
    let linq = Linq::with_changes();
    let recorded = linq.state_bytes();
    let size: u64 = 256 << 20;
    linq.sandbox.tamper(SALES, Tamper::oversize(size));
    let run = linq.roster(&["refresh"]);
    assert_eq!(run.code(), 1, "{}", run.combined());
    assert!(
        run.stderr().contains(
            "unexpected answer from Linq (200): the answer is larger than 8 MiB, far beyond Linq's largest (a page of 100 chats); roster stopped reading it"
        ),
        "{}",
        run.combined()
    );
    assert_eq!(linq.state_bytes(), recorded);
    let sent = linq.sandbox.oversize_bytes_sent();
    assert!(
        sent < 32 << 20,
        "{sent} bytes of a {size}-byte answer went out: roster kept reading"
    );
}

#[test]
fn import_all_refuses_a_listed_chat_id_that_cannot_be_a_path_segment() {
    let seed = Seed {
        token: TOKEN.into(),
        me: ME.into(),
        chats: vec![SeedChat::group(SALES, &MEMBERS), SeedChat::group("..", &MEMBERS)],
        handle_services: Default::default(),
    };
    let sandbox = Sandbox::spawn(seed, Options::default());
    let ws = Workspace::new();
    let run = ws.roster_with(
        &["import", "--all"],
        &[
            ("LINQ_API_V3_BASE_URL", &sandbox.base_url()),
            ("LINQ_API_V3_API_KEY", TOKEN),
        ],
    );
    assert_eq!(run.code(), 1, "{}", run.combined());
    assert!(
        run.stderr()
            .contains("Linq listed a chat roster cannot address: `..` cannot be a chat id"),
        "{}",
        run.combined()
    );
    assert_eq!(run.stdout(), "");
    assert!(ws.snapshot_files().is_empty(), "import wrote a file");
}

/// A chat name any member of a group could set: retitles the terminal, clears it, returns to
/// the start of the line and reverses what follows.
const HOSTILE_NAME: &str = "\u{1b}]0;owned\u{7}\u{1b}[2J\rEvil\u{202e}";

/// Panics when `bytes` hold a character a terminal acts on (a newline aside).
fn assert_inert(what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    if let Some(c) = text.chars().find(|c| roster::escape::is_hidden(*c) && *c != '\n') {
        panic!("{what}: {c:?} reached the output raw:\n{}", text.escape_debug());
    }
}

/// [`HOSTILE_NAME`] as roster shows it on a terminal.
const ESCAPED: &str = r"\x1b]0;owned\x07\x1b[2J\rEvil\u{202e}";

/// A sandbox whose sales chat bears [`HOSTILE_NAME`], and runs of roster that each put no raw
/// control character on the terminal.
struct Hostile(Linq);

impl Hostile {
    fn new() -> Hostile {
        let seed = Seed {
            token: TOKEN.into(),
            me: ME.into(),
            chats: vec![
                SeedChat {
                    display_name: Some(HOSTILE_NAME.into()),
                    ..SeedChat::group(SALES, &MEMBERS)
                },
                SeedChat::group(SHIFTS, &MEMBERS[..3]),
            ],
            handle_services: Default::default(),
        };
        Hostile(Linq::serve(seed, Options::default()))
    }

    /// `roster ARGS`, exiting `code`, its output inert.
    fn run(&self, args: &[&str], code: i32) -> Run {
        let run = self.0.roster(args);
        assert_eq!(
            run.code(),
            code,
            "roster {}\n{}",
            args.join(" "),
            run.combined().escape_debug()
        );
        assert_inert(&format!("stdout of `roster {}`", args.join(" ")), &run.output.stdout);
        assert_inert(&format!("stderr of `roster {}`", args.join(" ")), &run.output.stderr);
        run
    }

    /// The JSON `roster ARGS` prints.
    fn json(&self, args: &[&str], code: i32) -> serde_json::Value {
        serde_json::from_slice(&self.run(args, code).output.stdout).expect("JSON")
    }

    /// import: the YAML keeps the exact name, and reads back to it.
    fn import(&self) {
        let import = self.run(&["import", SALES, SHIFTS], 0);
        let config: serde_json::Value = serde_yaml::from_slice(&import.output.stdout).expect("YAML");
        assert_eq!(config["chats"][SALES]["name"], HOSTILE_NAME);
        self.0.ws.write("roster.yaml", &import.output.stdout);
        self.run(&["validate"], 0);
        assert_eq!(
            self.json(&["show", "--format", "json"], 0)["chats"][SALES]["display_name"],
            HOSTILE_NAME
        );
        assert!(self.run(&["show"], 0).stdout().contains(ESCAPED));
    }

    /// plan: text, JSON, markdown, a saved plan shown.
    fn plans(&self) {
        let config = self.0.ws.read("roster.yaml");
        let changed = config.replacen("members:\n", &format!("members:\n    - '{NEWCOMER}'\n"), 1);
        assert_ne!(changed, config);
        self.0.ws.write("roster.yaml", &changed);
        assert!(self
            .run(&["plan"], 0)
            .stdout()
            .contains(&format!("~ {ESCAPED} ({SALES}): 4 → 5 members")));
        assert_eq!(
            self.json(&["plan", "--format", "json"], 0)["chats"][0]["name"],
            HOSTILE_NAME
        );
        let markdown = self.run(&["plan", "--format", "markdown"], 0).stdout();
        assert!(
            markdown.contains(&format!("#### `{ESCAPED}` (`{SALES}`)")),
            "{markdown}"
        );
        self.run(&["plan", "--out", "plan.json"], 0);
        self.run(&["show", "plan.json"], 0);
        assert_eq!(
            self.json(&["show", "plan.json", "--format", "json"], 0)["chats"][0]["name"],
            HOSTILE_NAME
        );
    }

    /// Drift: plan --refresh and refresh.
    fn drift(&self) {
        const OUTSIDER: &str = "+12055550166";
        self.0.sandbox.add_outside(SALES, OUTSIDER);
        self.run(&["plan", "--refresh"], 0);
        let refreshed = self.run(&["plan", "--refresh", "--format", "json"], 0);
        assert!(refreshed.stderr().contains(ESCAPED), "{}", refreshed.stderr());
        assert!(self
            .run(&["refresh"], 0)
            .stdout()
            .contains(&format!("~ {ESCAPED} ({SALES})")));
    }

    /// apply: progress lines and the summary, with Linq's own message hostile too.
    fn apply(&self) {
        self.0.sandbox.tamper(
            SHIFTS,
            Tamper::Fail {
                status: 400,
                code: 1002,
                message: format!("bad handle {HOSTILE_NAME}"),
                calls: Calls::Changes,
            },
        );
        let config = self.0.ws.read("roster.yaml");
        let shifts = config.replace(
            &format!("  {SHIFTS}:\n    service: iMessage\n    members:\n"),
            &format!("  {SHIFTS}:\n    service: iMessage\n    members:\n    - '{NIGHT_SHIFT}'\n"),
        );
        assert_ne!(shifts, config);
        self.0.ws.write("roster.yaml", shifts);
        let apply = self.run(&["apply", "--auto-approve"], 1);
        assert!(
            apply.stderr().contains(&format!("chat `{SALES}` ({ESCAPED}): done")),
            "{}",
            apply.combined()
        );
        assert!(
            apply.stdout().contains(&format!("(code 1002) bad handle {ESCAPED}")),
            "{}",
            apply.combined()
        );
        let report = self.run(&["apply", "--auto-approve", "--format", "json"], 1).stdout();
        // The plan is printed above the report, as text.
        let report: serde_json::Value = serde_json::from_str(&report[report.find("{\n").unwrap()..]).unwrap();
        assert_eq!(
            report["chats"][0]["failure"]["message"],
            format!("bad handle {HOSTILE_NAME}")
        );
    }

    /// Errors that name chats and people from the config.
    fn config_errors(&self) {
        let protected = (self.0.ws.read("roster.yaml"))
            .replacen(
                "chats:\n",
                &format!("settings:\n  protected: ['{}']\nchats:\n", MEMBERS[0]),
                1,
            )
            .replacen(&format!("    - '{}'\n", MEMBERS[0]), "", 1);
        self.0.ws.write("roster.yaml", protected);
        let refused = self.run(&["plan"], 1);
        assert!(refused.stderr().contains(ESCAPED), "{}", refused.stderr());
        self.0.ws.write(
            "roster.yaml",
            format!("version: 1\nchats:\n  {SHIFTS}:\n    name: \"\\e]0;owned\\a\\e[2J\\rEvil\\u202E\"\n    members: [\"\\e[2Jnobody\\r\", a, b]\n"),
        );
        let config_error = self.run(&["validate"], 1);
        assert!(
            config_error.stderr().contains(r"unknown person `\x1b[2Jnobody\r`"),
            "{}",
            config_error.stderr()
        );
    }
}

#[test]
fn text_from_linq_and_from_the_config_never_reaches_the_terminal_raw() {
    let hostile = Hostile::new();
    hostile.import();
    hostile.plans();
    hostile.drift();
    hostile.apply();
    hostile.config_errors();
}

#[test]
fn an_unavailable_chat_is_reported_and_kept_and_other_chats_go_on() {
    let linq = Linq::with_changes();
    let recorded = linq.state_bytes();
    linq.sandbox.tamper(SALES, Tamper::unavailable());

    let refresh = linq.expect(0, &["refresh"]);
    let unavailable =
        format!("! Sales ({SALES}): unavailable\n    Linq answered 409 (code 2013): This chat is unavailable");
    assert!(refresh.stdout().contains(&unavailable), "{}", refresh.combined());
    assert_eq!(linq.state_bytes(), recorded, "the chat is kept as the state has it");
    let report: serde_json::Value =
        serde_json::from_str(&linq.expect(0, &["refresh", "--format", "json"]).stdout()).unwrap();
    assert_eq!(report["summary"]["unavailable"], 1);
    assert_eq!(report["chats"][0]["error"]["code"], 2013);

    let plan = linq.expect(2, &["plan", "--refresh", "--detailed-exitcode"]);
    assert!(plan.stdout().contains(&unavailable), "{}", plan.combined());
    assert!(
        plan.stdout().contains(&format!("+ add    {NIGHT_SHIFT}")),
        "{}",
        plan.combined()
    );

    let apply = linq.expect(1, &["apply", "--auto-approve"]);
    assert!(
        apply.stdout().contains(&format!(
            "chat `{SALES}` (Sales): failed reading the chat: 409 (code 2013) This chat is unavailable"
        )),
        "{}",
        apply.combined()
    );
    assert!(
        apply.stdout().contains("Chats: 1 done, 1 failed."),
        "{}",
        apply.combined()
    );
    assert!(linq.sandbox.members(SHIFTS).unwrap().contains(NIGHT_SHIFT));
    assert!(!linq
        .sandbox
        .calls()
        .iter()
        .any(|c| c.method == "POST" && c.chat.as_deref() == Some(SALES)));
    let state = linq.state();
    assert_eq!(
        state["chats"][SALES]["members"].as_array().unwrap().len(),
        MEMBERS.len(),
        "the state is kept"
    );
}

#[test]
fn a_token_revoked_mid_run_stops_every_chat_and_saves_what_was_accepted() {
    const PARALLELISM: usize = 4;
    // Sorted as planned: one chat that only adds, three at the floor that swap a member (add,
    // wait, remove), then four more that only add. At most four requests are in flight; the
    // swapping chats wait for their adds to land, and other chats start meanwhile.
    let id = |i: usize| format!("00000000-0000-4000-8000-{i:012}");
    let seed = Seed {
        token: TOKEN.into(),
        me: ME.into(),
        chats: (0..8)
            .map(|i| SeedChat::group(&id(i), if (1..4).contains(&i) { &MEMBERS[..3] } else { &MEMBERS }))
            .collect(),
        handle_services: Default::default(),
    };
    let linq = Linq::serve(seed, Options::default());
    let ids: Vec<String> = (0..8).map(id).collect();
    let mut args = vec!["import"];
    args.extend(ids.iter().map(String::as_str));
    linq.expect(0, &args);
    let quoted = |list: &[&str]| list.iter().map(|m| format!("'{m}'")).collect::<Vec<_>>().join(", ");
    let mut yaml = String::from("version: 1\nchats:\n");
    for (i, id) in ids.iter().enumerate() {
        let members = if (1..4).contains(&i) {
            quoted(&[MEMBERS[0], MEMBERS[1], NEWCOMER])
        } else {
            quoted(&[MEMBERS[0], MEMBERS[1], MEMBERS[2], MEMBERS[3], NEWCOMER])
        };
        yaml.push_str(&format!("  {id}:\n    members: [{members}]\n"));
    }
    linq.ws.write("roster.yaml", yaml);
    let serial = linq.state()["serial"].as_u64().unwrap();
    // Ten calls go through, then the token is revoked. Each chat reads itself once before it
    // adds (eight reads at most), so some adds are among them.
    let answered = linq.sandbox.calls().len();
    linq.sandbox.set_options(Options {
        latency: Duration::from_millis(20),
        land_delay: Duration::from_secs(600),
        revoke_token_after: Some(answered + 10),
        ..Options::default()
    });

    let parallelism = PARALLELISM.to_string();
    let run = linq.expect(1, &["apply", "--auto-approve", "--parallelism", &parallelism]);
    assert!(
        run.stdout().contains("Apply stopped: Linq refused the API token"),
        "{}",
        run.combined()
    );
    let calls = &linq.sandbox.calls()[answered..];
    let first = calls.iter().position(|c| c.status == 401).expect("a 401");
    // Only calls already in flight when the first 401 came back may follow it: no chat starts,
    // no waiting chat polls again, nothing is read back.
    let after: Vec<String> = calls[first + 1..]
        .iter()
        .map(|c| format!("{} {} {}", c.method, c.chat.as_deref().unwrap_or(""), c.status))
        .collect();
    assert!(after.len() < PARALLELISM, "calls after the first 401: {after:#?}");
    let chat = |c: &linq_sandbox::CallRecord| c.chat.clone().unwrap();
    // The adds Linq accepted are in the saved state.
    let saved = linq.state();
    assert_eq!(saved["serial"], serial + 1, "the state was saved once");
    let added: Vec<String> = calls.iter().filter(|c| c.status == 202).map(chat).collect();
    assert!(!added.is_empty(), "{calls:#?}");
    for id in &added {
        let members = saved["chats"][id]["members"].as_array().unwrap();
        assert!(members.contains(&json!(NEWCOMER)), "{id}: {members:?}");
    }
    assert!(!linq.sandbox.calls().iter().any(|c| c.method == "DELETE"));
}

#[test]
fn a_wait_that_times_out_fails_its_chat_and_sends_none_of_its_later_steps() {
    let linq = Linq::two_chats();
    linq.expect(0, &["import", SHIFTS]);
    // At the floor: the swap is `+ newcomer`, wait, `- member`; the add never lands.
    linq.sandbox.set_options(Options {
        land_delay: Duration::from_secs(600),
        ..Options::default()
    });
    linq.ws.write(
        "roster.yaml",
        format!(
            "version: 1\nchats:\n  {SHIFTS}:\n    members: ['{}', '{}', '{NEWCOMER}']\n",
            MEMBERS[0], MEMBERS[1]
        ),
    );
    let run = linq.expect(1, &["apply", "--auto-approve", "--wait-timeout", "0.5"]);
    assert!(
        run.stdout().contains(&format!(
            "chat `{SHIFTS}`: failed waiting for earlier changes to land: timed out after 0.5s waiting for the change of `{NEWCOMER}` to land; 1 added, 0 removed, 2 steps skipped"
        )),
        "{}",
        run.combined()
    );
    assert!(
        !linq.sandbox.calls().iter().any(|c| c.method == "DELETE"),
        "the remove that relied on the add was sent"
    );
    let state = linq.state();
    assert_eq!(
        state["chats"][SHIFTS]["pending"]["add"][0]["handle"],
        json!(NEWCOMER),
        "the add is recorded as pending"
    );
}

/// A base URL without `/partner` answers `404` to every call, as if every chat were gone. The
/// first call of every run asks for the partner's lines, so roster tells a wrong address from
/// gone chats: each command that reads chats exits 1 naming the URL and the variable, and reads
/// and writes nothing.
#[test]
fn a_base_url_that_is_not_linq_s_is_named_and_nothing_is_read_or_written() {
    let team = Linq::team();
    let wrong = team.sandbox.base_url().trim_end_matches("/partner").to_owned();
    let before = team.ws.snapshot_files();
    let commands: [&[&str]; 4] = [
        &["refresh"],
        &["plan", "--refresh"],
        &["apply", "--auto-approve"],
        &["import", "--all"],
    ];
    for args in commands {
        let args = [args, &["-c", "config"]].concat();
        let run = team.roster_with(&args, &[("LINQ_API_V3_BASE_URL", &wrong)]);
        assert_eq!(run.code(), 1, "roster {}\n{}", args.join(" "), run.combined());
        assert!(
            run.stderr().contains(
                "error: `http://127.0.0.1:[PORT]/api` does not answer as the Linq API (`GET /v3/phone_numbers`: Linq answered 404: empty answer); nothing was read or written\n\
                 hint: check `LINQ_API_V3_BASE_URL`"
            ),
            "roster {}\n{}",
            args.join(" "),
            run.combined()
        );
        assert!(!run.combined().contains("gone"), "{}", run.combined());
        if args[0] == "refresh" {
            insta::assert_snapshot!(run.combined());
        }
    }
    assert_eq!(team.ws.snapshot_files(), before, "nothing was written");
    let chat_calls: Vec<String> = (team.sandbox.calls().into_iter())
        .filter(|call| call.chat.is_some())
        .map(|call| call.path)
        .collect();
    assert!(chat_calls.is_empty(), "no chat was read: {chat_calls:?}");
}

/// Nothing listening at the base URL: the error names the address roster tried and the
/// variable that sets it.
#[test]
fn a_refused_connection_names_the_address_and_the_variable() {
    let team = Linq::team();
    let free = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let nowhere = format!("http://{free}/api/partner");
    let before = team.ws.snapshot_files();
    let run = team.roster_with(&["refresh"], &[("LINQ_API_V3_BASE_URL", &nowhere)]);
    assert_eq!(run.code(), 1, "{}", run.combined());
    // The operating system's words for a refused connection differ; the rest is roster's.
    let stderr = run.stderr();
    assert!(
        stderr.starts_with(
            "error: cannot reach the Linq API at `http://127.0.0.1:[PORT]/api/partner`: no answer from Linq: cannot connect: "
        ),
        "{stderr}"
    );
    assert!(
        stderr.ends_with(
            "; nothing was read or written\nhint: check `LINQ_API_V3_BASE_URL`: the address of the Linq Partner API, ending in `/api/partner` (`https://api.linqapp.com/api/partner` when unset)\n"
        ),
        "{stderr}"
    );
    assert_eq!(run.stdout(), "");
    assert_eq!(team.ws.snapshot_files(), before, "nothing was written");
}

/// A wrong token: the plan is shown, then Linq's `401` once, with the variable to check, before
/// any chat is read; nothing is written.
#[test]
fn a_refused_token_is_said_once_with_the_variable_to_check() {
    let team = Linq::team();
    let before = team.ws.snapshot_files();
    let run = team.roster_with(
        &["apply", "--auto-approve", "-c", "config"],
        &[("LINQ_API_V3_API_KEY", "not-the-token")],
    );
    assert_eq!(run.code(), 1, "{}", run.combined());
    assert_eq!(run.combined().matches("401").count(), 1, "{}", run.combined());
    assert!(
        run.stderr()
            .ends_with("hint: check `LINQ_API_V3_API_KEY`: it holds the API token of your Linq partner account\n"),
        "{}",
        run.combined()
    );
    assert_eq!(team.ws.snapshot_files(), before, "nothing was written");
    assert!(
        team.sandbox.calls().iter().all(|call| call.chat.is_none()),
        "no chat was read"
    );
}

/// A token of another account sees the partner's lines but none of the chats: a refresh that
/// finds more than half of them gone at once is refused, with the numbers and the way past it.
#[test]
fn a_refresh_that_finds_most_chats_gone_is_refused_unless_allowed() {
    let team = Linq::team();
    let elsewhere = Linq {
        sandbox: Sandbox::spawn(
            Seed {
                chats: Vec::new(),
                ..Sandbox::load_seed(crate::common::repo().join("examples/team/sandbox.json")).unwrap()
            },
            Options::default(),
        ),
        ws: team.ws,
    };
    let before = elsewhere.ws.snapshot_files();
    let refused = elsewhere.roster(&["refresh"]);
    assert_eq!(refused.code(), 1, "{}", refused.combined());
    insta::assert_snapshot!(refused.combined());
    let planned = elsewhere.roster(&["plan", "--refresh", "-c", "config"]);
    assert_eq!(planned.code(), 1, "{}", planned.combined());
    assert_eq!(elsewhere.ws.snapshot_files(), before, "nothing was written");

    let allowed = elsewhere.roster(&["refresh", "--allow-mass-gone"]);
    assert_eq!(allowed.code(), 0, "{}", allowed.combined());
    assert!(
        allowed.stdout().contains("Total: 4 chats gone."),
        "{}",
        allowed.combined()
    );
}

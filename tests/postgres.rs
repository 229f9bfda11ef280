//! The PostgreSQL state backend, the real binary against a real server and the sandbox: apply,
//! history, push and pull, the schema on first use (at once, and by a role without CREATE),
//! passwords, TLS, and the faults: a server unreachable at the start, a connection lost
//! mid-apply, two processes, `kill -9` with the lease, and fencing.
//!
//! The server is the one `.ci/postgres` starts (`ROSTER_TEST_POSTGRES`). Without it these tests
//! print a notice and pass, unless `ROSTER_REQUIRE_POSTGRES=1` (as `.ci/run` sets) makes that a
//! failure. Each test works in a database of its own, so they run in parallel.

use std::io::{Read as _, Write as _};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use linq_sandbox::{Options, Sandbox};

use crate::common::{
    accepted, api_env, assert_no_change_accepted_twice, changes_answered, roster_command, wait_until, Run, Scenario,
    Workspace,
};

/// A database of its own for one test, dropped at its end (also used by `watch.rs`).
pub(crate) struct Database {
    /// The server's URL (a superuser, with its password).
    server: String,
    pub name: String,
    runtime: tokio::runtime::Runtime,
}

impl Database {
    /// A fresh database, or `None` (after a notice) when no test server is set.
    pub(crate) fn new(test: &str) -> Option<Database> {
        let Ok(server) = std::env::var("ROSTER_TEST_POSTGRES") else {
            assert!(
                std::env::var("ROSTER_REQUIRE_POSTGRES").as_deref() != Ok("1"),
                "ROSTER_REQUIRE_POSTGRES=1 but ROSTER_TEST_POSTGRES is not set: start a server with `source .ci/postgres`"
            );
            // Straight to stderr, as the fish completion test does: the test harness swallows an
            // `eprintln!` of a passing test, and the README promises this notice.
            let _ = writeln!(
                std::io::stderr(),
                "note: skipped `{test}`: ROSTER_TEST_POSTGRES is not set (see \"Shared state\" in the README)"
            );
            return None;
        };
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "roster_{test}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let database = Database { server, name, runtime };
        database.admin_on_server(&format!("CREATE DATABASE {}", database.name));
        Some(database)
    }

    /// The URL of this database for roster, with the admin's password, and `?name=NAME`.
    pub(crate) fn url(&self, state: &str) -> String {
        format!("{}?name={state}", self.database_url())
    }

    /// The server's URL with this database in place of its own.
    fn database_url(&self) -> String {
        format!("{}/{}", &self.server[..self.server.rfind('/').unwrap()], self.name)
    }

    /// The same URL without the password.
    fn url_without_password(&self, state: &str) -> String {
        roster::state::postgres::redact(&self.url(state))
    }

    fn password(&self) -> String {
        let rest = &self.server["postgres://roster:".len()..];
        rest[..rest.find('@').unwrap()].to_owned()
    }

    fn port(&self) -> String {
        let rest = &self.server[self.server.rfind(':').unwrap() + 1..];
        rest[..rest.find('/').unwrap()].to_owned()
    }

    fn admin_on_server(&self, sql: &str) {
        let server = self.server.clone();
        self.query_on(&server, sql);
    }

    /// Runs `sql` in this database as the admin; the rows as text.
    fn admin(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        self.query_on(&self.database_url(), sql)
    }

    fn query_on(&self, url: &str, sql: &str) -> Vec<Vec<Option<String>>> {
        self.runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.unwrap();
            tokio::spawn(connection);
            let messages = client.simple_query(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
            messages
                .into_iter()
                .filter_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(row) => {
                        Some((0..row.len()).map(|i| row.get(i).map(str::to_owned)).collect())
                    }
                    _ => None,
                })
                .collect()
        })
    }

    /// The one value `sql` returns.
    pub(crate) fn value(&self, sql: &str) -> Option<String> {
        self.admin(sql).first().and_then(|row| row[0].clone())
    }

    /// Hides the parts of this server's URLs that change from run to run.
    fn filter(&self, text: &str) -> String {
        text.replace(&self.name, "[DB]")
            .replace(&format!("127.0.0.1:{}", self.port()), "[SERVER]")
            .replace("127.0.0.1:[PORT]", "[SERVER]")
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let server = self.server.clone();
        let name = self.name.clone();
        let _ = self.runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(&server, tokio_postgres::NoTls).await?;
            tokio::spawn(connection);
            client
                .simple_query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await
        });
    }
}

/// `roster ARGS` with the state in `url` given by `ROSTER_STATE`, and the sandbox's API.
pub(crate) fn roster_pg(ws: &Workspace, sandbox: Option<&Sandbox>, url: &str, args: &[&str]) -> Run {
    let mut env: Vec<(&str, String)> = vec![("ROSTER_STATE", url.to_owned())];
    if let Some(sandbox) = sandbox {
        env.extend(api_env(sandbox));
    }
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    ws.roster_with(args, &env)
}

fn spawn_pg_apply(ws: &Workspace, sandbox: &Sandbox, url: &str, extra: &[&str]) -> Child {
    roster_command(ws, sandbox)
        .args(["apply", "--auto-approve", "--settle-timeout", "1"])
        .args(extra)
        .env("ROSTER_STATE", url)
        .spawn()
        .expect("start roster")
}

/// Waits for a child; its exit code and stdout + stderr.
fn finish(mut child: Child) -> (Option<i32>, String) {
    let status = child.wait().unwrap();
    let mut text = String::new();
    child.stdout.take().unwrap().read_to_string(&mut text).unwrap();
    child.stderr.take().unwrap().read_to_string(&mut text).unwrap();
    (status.code(), text)
}

/// A scenario whose state is pushed into `url`, its file removed: the database is the state.
fn scenario_in(ws: &Workspace, url: &str, seed: u64, chats: usize) -> Scenario {
    let scenario = Scenario::random(seed, chats);
    scenario.write(ws);
    let pushed = roster_pg(ws, None, url, &["state", "push", "roster.state.json"]);
    assert_eq!(pushed.code(), 0, "{}", pushed.combined());
    std::fs::remove_file(ws.path().join("roster.state.json")).unwrap();
    scenario
}

fn slow(latency_ms: u64) -> Options {
    Options {
        latency: Duration::from_millis(latency_ms),
        land_delay: Duration::from_millis(20),
        ..Options::default()
    }
}

/// Apply converges with the state in PostgreSQL given by `ROSTER_STATE` alone; every serial is
/// kept with who wrote it; the password shows nowhere, not even in a saved plan.
#[test]
fn apply_converges_with_the_state_in_postgres_and_every_serial_is_kept() {
    let Some(db) = Database::new("apply") else { return };
    let ws = Workspace::new();
    let url = db.url("team");
    let scenario = scenario_in(&ws, &url, 3, 5);
    let sandbox = Sandbox::spawn(scenario.seed(), slow(0));
    let plan = roster_pg(&ws, Some(&sandbox), &url, &["plan", "--out", "plan.json"]);
    assert_eq!(plan.code(), 0, "{}", plan.combined());
    let applied = roster_pg(&ws, Some(&sandbox), &url, &["apply", "plan.json"]);
    assert_eq!(applied.code(), 0, "{}", applied.combined());
    scenario.assert_converged(&sandbox);
    let again = roster_pg(&ws, Some(&sandbox), &url, &["plan", "--refresh", "--detailed-exitcode"]);
    assert_eq!(again.code(), 0, "{}", again.combined());

    let history = roster_pg(&ws, None, &url, &["state", "history", "--format", "json"]);
    assert_eq!(history.code(), 0, "{}", history.combined());
    let history: serde_json::Value = serde_json::from_slice(&history.output.stdout).unwrap();
    let versions = history["versions"].as_array().unwrap();
    let summary: Vec<(u64, &str, &str, bool)> = versions
        .iter()
        .map(|v| {
            (
                v["serial"].as_u64().unwrap(),
                v["who"].as_str().unwrap(),
                v["operation"].as_str().unwrap(),
                v["current"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(summary, [(2, "tester", "apply", true), (1, "tester", "push", false)]);
    assert_eq!(history["state"], db.url_without_password("team"));
    // The journal is empty and no lock is left.
    assert_eq!(db.value("SELECT count(*) FROM roster.journal"), Some("0".into()));
    assert_eq!(db.value("SELECT count(*) FROM roster.locks"), Some("0".into()));
    // `--state` wins over `ROSTER_STATE`.
    let flag = roster_pg(&ws, None, &url, &["--state", "other.json", "state", "history"]);
    assert_eq!(flag.stdout(), "No state yet at `other.json`.\n", "{}", flag.combined());
    // `import` starts a new state in the database: its first version.
    let imported = roster_pg(
        &ws,
        Some(&sandbox),
        &db.url("imported"),
        &["import", "--all", "--write", "imported.yaml"],
    );
    assert_eq!(imported.code(), 0, "{}", imported.combined());
    assert_eq!(
        db.value("SELECT string_agg(serial || ' ' || operation, ',') FROM roster.versions WHERE name = 'imported'"),
        Some("1 import".into())
    );
    let everything = [plan.combined(), applied.combined(), ws.read("plan.json")].join("\n");
    assert!(!everything.contains(&db.password()), "{everything}");
    assert!(everything.contains(&db.url_without_password("team")), "{everything}");
}

/// `state history`, `pull` and `push` give the same answers on both backends for the same
/// cases, and moving a state from a file to PostgreSQL and back is one push each.
#[test]
fn state_commands_behave_alike_on_both_backends_and_a_state_moves_with_one_push_each() {
    let Some(db) = Database::new("state") else { return };
    let ws = Workspace::new();
    let state = |lineage: &str, serial: u64, chat: &str| {
        format!("{{\"version\": 1, \"lineage\": \"{lineage}\", \"serial\": {serial}, \"chats\": {{\"{chat}\": {{\"members\": [\"+15550001\", \"+15550002\", \"+15550003\"]}}}}}}\n")
    };
    ws.write("a3.json", state("aaaa", 3, "c1"));
    ws.write("a5.json", state("aaaa", 5, "c2"));
    ws.write("a4.json", state("aaaa", 4, "c3"));
    ws.write("b9.json", state("bbbb", 9, "c4"));
    ws.write("torn.json", "{\"version\": 1, \"lineage\": \"aaaa\", \"ser");
    let steps: &[&[&str]] = &[
        &["state", "pull"],
        &["state", "push", "torn.json"],
        &["state", "push", "a3.json"],
        &["state", "push", "a3.json"],
        &["state", "push", "a5.json"],
        &["state", "push", "a4.json"],
        &["state", "push", "b9.json"],
        &["state", "pull", "--serial", "3"],
        &["state", "pull", "--serial", "4"],
        &["state", "push", "b9.json", "--force"],
        &["state", "pull"],
    ];
    let mut outputs = Vec::new();
    for (backend, location) in [("file", "moved.state.json".to_owned()), ("postgres", db.url("moved"))] {
        let mut text = String::new();
        for args in steps {
            let run = roster_pg(&ws, None, &location, args);
            text.push_str(&format!(
                "$ roster {}\n{}\n",
                args.join(" "),
                db.filter(&run.combined())
            ));
        }
        let history = roster_pg(&ws, None, &location, &["state", "history", "--format", "json"]);
        let history: serde_json::Value = serde_json::from_str(&history.stdout()).unwrap();
        let serials: Vec<u64> = history["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["serial"].as_u64().unwrap())
            .collect();
        // A file keeps the state and its backup; PostgreSQL every serial.
        let expected: &[u64] = if backend == "file" { &[6, 5] } else { &[6, 5, 3] };
        assert_eq!(serials, expected, "{backend}");
        outputs.push((
            backend,
            text.replace("moved.state.json", "[STATE]")
                .replace("[SERVER]/[DB]?name=moved", "[STATE]"),
        ));
    }
    // Same cases, same answers, but for the kept serials listed when one is missing.
    let file = outputs[0].1.replace("(kept: 6, 5)", "(kept: …)");
    let postgres = outputs[1].1.replace("(kept: 6, 5, 3)", "(kept: …)");
    let postgres = postgres.replace("postgres://roster@[STATE]", "[STATE]");
    similar_asserts(&file, &postgres);
    insta::assert_snapshot!(file);

    // From the file to PostgreSQL and back: one push each, the same state at the end.
    ws.write("roster.state.json", state("cccc", 12, "c9"));
    let there = roster_pg(&ws, None, &db.url("moved-in"), &["state", "push", "roster.state.json"]);
    assert_eq!(there.code(), 0, "{}", there.combined());
    let pulled = roster_pg(&ws, None, &db.url("moved-in"), &["state", "pull"]);
    ws.write("pulled.json", pulled.stdout());
    let back = roster_pg(&ws, None, "back.state.json", &["state", "push", "pulled.json"]);
    assert_eq!(back.code(), 0, "{}", back.combined());
    let original: serde_json::Value = serde_json::from_str(&ws.read("roster.state.json")).unwrap();
    let returned: serde_json::Value = serde_json::from_str(&ws.read("back.state.json")).unwrap();
    assert_eq!(original, returned, "lineage and serial kept both ways");
}

/// A state with keys of the team's own, names and icons moves through both backends unchanged,
/// and so does one written before keys existed.
#[test]
fn keys_names_and_icons_survive_both_backends_as_do_states_from_before() {
    let Some(db) = Database::new("keys") else { return };
    let ws = Workspace::new();
    let old = "{\"version\":1,\"lineage\":\"kkkk\",\"serial\":2,\"chats\":{\"550e8400-e29b-41d4-a716-446655440000\":{\"members\":[\"+15550001\",\"+15550002\",\"+15550003\"]}}}";
    let new = "{\"version\":1,\"lineage\":\"kkkk\",\"serial\":3,\"chats\":{\"550e8400-e29b-41d4-a716-446655440000\":{\"key\":\"sales-west\",\"members\":[\"+15550001\",\"+15550002\",\"+15550003\"],\"display_name\":\"Sales West\",\"icon\":\"https://example.com/s.png\"}}}";
    for (name, text) in [("old", old), ("new", new)] {
        ws.write(&format!("{name}.json"), text);
        for location in [format!("{name}.state.json"), db.url(name)] {
            let pushed = roster_pg(&ws, None, &location, &["state", "push", &format!("{name}.json")]);
            assert_eq!(pushed.code(), 0, "{}", pushed.combined());
            let pulled = roster_pg(&ws, None, &location, &["state", "pull"]);
            let sent: serde_json::Value = serde_json::from_str(text).unwrap();
            let back: serde_json::Value = serde_json::from_str(&pulled.stdout()).unwrap();
            assert_eq!(sent, back, "{name} through {location}");
        }
    }
}

/// Two texts are equal; on failure both are shown whole.
fn similar_asserts(file: &str, postgres: &str) {
    assert!(
        file == postgres,
        "the backends differ:\n--- file\n{file}\n--- postgres\n{postgres}"
    );
}

/// A journal row that does not parse is refused as a corrupt journal line is: the row named,
/// the reason in the message, and what to do as the hint, on a line of its own and last;
/// nothing is changed.
#[test]
fn a_corrupt_journal_row_is_refused_naming_the_row_with_the_hint_last() {
    let Some(db) = Database::new("corrupt") else { return };
    let ws = Workspace::new();
    let url = db.url("team");
    scenario_in(&ws, &url, 45, 2);
    db.admin(
        "INSERT INTO roster.journal (name, record) VALUES
         ('team', '{\"type\":\"begin\",\"lineage\":\"l\",\"serial\":1}'),
         ('team', '{\"type\":\"accep')",
    );
    let run = roster_pg(&ws, None, &url, &["plan"]);
    assert_eq!(run.code(), 1, "{}", run.combined());
    insta::assert_snapshot!(db.filter(&run.combined()));
    assert_eq!(db.value("SELECT count(*) FROM roster.journal"), Some("2".into()));
}

/// Runs that find no schema create it exactly once, however many start at once.
#[test]
fn many_first_runs_at_once_create_the_schema_once() {
    let Some(db) = Database::new("schema") else { return };
    let ws = Workspace::new();
    let children: Vec<Child> = (0..6)
        .map(|i| {
            Command::new(env!("CARGO_BIN_EXE_roster"))
                .args(["state", "history"])
                .current_dir(ws.path())
                .env("ROSTER_STATE", db.url(&format!("s{i}")))
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let (code, text) = finish(child);
        assert_eq!(code, Some(0), "{text}");
        assert!(text.contains("No state yet"), "{text}");
    }
    assert_eq!(db.value("SELECT count(*) FROM roster.migrations"), Some("1".into()));
    assert_eq!(
        db.value("SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'roster'"),
        Some("journal,locks,migrations,states,versions".into())
    );
}

/// A role without CREATE on the database is told the SQL an administrator runs; after that
/// SQL (the README's), it uses the backend, its password read from a password file.
#[test]
fn a_role_without_create_uses_the_schema_an_administrator_made() {
    let Some(db) = Database::new("role") else { return };
    let role = format!("{}_ci", db.name);
    db.admin(&format!("CREATE ROLE {role} LOGIN PASSWORD 'ci-secret-42'"));
    let ws = Workspace::new();
    let passfile = ws.write(
        "pgpass",
        format!("127.0.0.1:{}:{}:{role}:ci-secret-42\n", db.port(), db.name),
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&passfile, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let url = format!("postgres://{role}@127.0.0.1:{}/{}?name=ci", db.port(), db.name);
    let env = [
        ("ROSTER_STATE", url.as_str()),
        ("PGPASSFILE", passfile.to_str().unwrap()),
    ];
    let refused = ws.roster_with(&["state", "history"], &env);
    assert_eq!(refused.code(), 1, "{}", refused.combined());
    insta::assert_snapshot!(db.filter(&refused.combined().replace(&role, "[ROLE]")));
    // The README's SQL, as an administrator.
    db.admin(&format!("CREATE SCHEMA roster AUTHORIZATION {role}"));
    ws.write(
        "s.json",
        "{\"version\": 1, \"lineage\": \"l\", \"serial\": 1, \"chats\": {}}",
    );
    for args in [&["state", "push", "s.json"][..], &["state", "history"]] {
        let run = ws.roster_with(args, &env);
        assert_eq!(run.code(), 0, "{}", run.combined());
    }
    assert_eq!(
        db.value("SELECT tableowner FROM pg_tables WHERE schemaname = 'roster' AND tablename = 'versions'"),
        Some(role.clone())
    );
    // A wrong password in PGPASSWORD comes first, and is never shown.
    let wrong = ws.roster_with(&["state", "history"], &[env[0], env[1], ("PGPASSWORD", "not-it-77")]);
    assert_eq!(wrong.code(), 1);
    assert!(
        wrong.stderr().contains("password authentication failed"),
        "{}",
        wrong.combined()
    );
    assert!(!wrong.combined().contains("not-it-77"), "{}", wrong.combined());
    // A role that may only read, for pull-request plans: the README's grants.
    let reader = format!("{}_pr", db.name);
    db.admin(&format!("CREATE ROLE {reader} LOGIN PASSWORD 'pr-secret-43'"));
    db.admin(&format!(
        "GRANT USAGE ON SCHEMA roster TO {reader}; GRANT SELECT ON ALL TABLES IN SCHEMA roster TO {reader}"
    ));
    let url = format!("postgres://{reader}@127.0.0.1:{}/{}?name=ci", db.port(), db.name);
    let env = [("ROSTER_STATE", url.as_str()), ("PGPASSWORD", "pr-secret-43")];
    let pulled = ws.roster_with(&["state", "pull"], &env);
    assert_eq!(pulled.code(), 0, "{}", pulled.combined());
    assert!(pulled.stdout().contains("\"lineage\": \"l\""), "{}", pulled.combined());
    let refused = ws.roster_with(&["state", "push", "s.json", "--force"], &env);
    assert_eq!(refused.code(), 1, "{}", refused.combined());
    assert!(refused.stderr().contains("permission denied"), "{}", refused.combined());
    db.admin("DROP SCHEMA roster CASCADE");
    db.admin(&format!("DROP OWNED BY {reader}; DROP ROLE {reader}; DROP ROLE {role}"));
}

/// `verify-full` checks the server's certificate against `sslrootcert` (and fails without the
/// right authority); `require` encrypts without checking. The server's `pg_stat_ssl` shows it.
#[test]
fn tls_verify_full_checks_the_certificate_and_require_encrypts() {
    let Some(db) = Database::new("tls") else { return };
    let Ok(ca) = std::env::var("ROSTER_TEST_POSTGRES_CA") else {
        panic!("ROSTER_TEST_POSTGRES_CA is not set: `.ci/postgres` exports it with the server")
    };
    let ws = Workspace::new();
    let base = db.url("tls");
    for (mode, ok) in [
        (
            format!("&sslmode=verify-full&sslrootcert={ca}&application_name=roster-tls"),
            true,
        ),
        ("&sslmode=require&application_name=roster-tls".to_owned(), true),
        ("&sslmode=verify-full".to_owned(), false),
    ] {
        let run = roster_pg(&ws, None, &format!("{base}{mode}"), &["state", "history"]);
        if ok {
            assert_eq!(run.code(), 0, "{mode}: {}", run.combined());
        } else {
            assert_eq!(run.code(), 1, "{mode}: {}", run.combined());
            assert!(
                run.stderr().contains("invalid peer certificate: UnknownIssuer"),
                "{}",
                run.combined()
            );
            assert!(
                run.stderr().contains("hint: check `sslmode` and `sslrootcert`"),
                "{}",
                run.combined()
            );
        }
    }
    // While a run holds its connection open (waiting for a lock), the server says it is TLS.
    db.admin("INSERT INTO roster.locks VALUES ('tls', 'held', 'apply', 'x', 'y', 1, 'now', now() + interval '1 hour')");
    ws.write(
        "s.json",
        "{\"version\": 1, \"lineage\": \"l\", \"serial\": 1, \"chats\": {}}",
    );
    let url = format!("{base}&sslmode=verify-full&sslrootcert={ca}&application_name=roster-tls");
    let mut child = Command::new(env!("CARGO_BIN_EXE_roster"))
        .args(["state", "push", "s.json", "--lock-timeout", "60"])
        .current_dir(ws.path())
        .env("ROSTER_STATE", &url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let ssl = "SELECT bool_and(s.ssl)::text FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'roster-tls' AND a.datname = current_database()";
    wait_until("roster's connection", || db.value(ssl).is_some());
    assert_eq!(db.value(ssl), Some("true".into()));
    db.admin("DELETE FROM roster.locks");
    assert!(child.wait().unwrap().success());
}

/// A server that cannot be reached at the start: exit 1 before any call to Linq, and the
/// message shows the URL without its password.
#[test]
fn an_unreachable_database_fails_before_any_call() {
    let Some(db) = Database::new("unreachable") else { return };
    let scenario = Scenario::random(5, 3);
    let sandbox = Sandbox::spawn(scenario.seed(), slow(0));
    let ws = Workspace::new();
    scenario.write(&ws);
    // A port nothing listens on: taken, then let go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://roster:{}@127.0.0.1:{port}/roster?name=x", db.password());
    let run = roster_pg(&ws, Some(&sandbox), &url, &["apply", "--auto-approve"]);
    assert_eq!(run.code(), 1, "{}", run.combined());
    assert!(sandbox.calls().is_empty(), "no call to Linq: {:?}", sandbox.calls());
    assert!(!run.combined().contains(&db.password()));
    insta::assert_snapshot!(run.combined().replace(&port.to_string(), "[PORT]"));
}

/// The connection lost mid-apply (the server ends roster's backend): no new call starts, the run
/// exits 1 saying how to resume, the lock is released over a fresh connection, and the re-run
/// settles the calls in flight and converges without repeating one.
#[test]
fn a_connection_lost_during_apply_stops_new_calls_and_the_rerun_converges() {
    let Some(db) = Database::new("lost") else { return };
    let ws = Workspace::new();
    let url = format!("{}&application_name=roster-lost", db.url("lost"));
    let scenario = scenario_in(&ws, &url, 11, 6);
    let sandbox = Sandbox::spawn(scenario.seed(), slow(60));
    let apply = spawn_pg_apply(&ws, &sandbox, &url, &["--parallelism", "1"]);
    wait_until("a change accepted", || accepted(&sandbox));
    let ended = db.value(
        "SELECT count(pg_terminate_backend(pid))::text FROM pg_stat_activity WHERE application_name = 'roster-lost' AND datname = current_database()",
    );
    assert_eq!(ended, Some("1".into()));
    let sent_at_loss = changes_answered(&sandbox);
    let (code, text) = finish(apply);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("the connection to the database was lost"), "{text}");
    assert!(
        text.contains("run the command again, and it settles the calls in flight"),
        "{text}"
    );
    assert!(!text.contains("\\n"), "one line, no escaped line break: {text}");
    // At most the one call in flight went out after the loss.
    let sent = changes_answered(&sandbox);
    assert!(
        sent <= sent_at_loss + 1,
        "{sent} calls sent, {sent_at_loss} at the loss"
    );
    assert_eq!(
        db.value("SELECT count(*) FROM roster.locks"),
        Some("0".into()),
        "released"
    );
    assert_ne!(
        db.value("SELECT count(*) FROM roster.journal"),
        Some("0".into()),
        "journal kept"
    );

    let rerun = roster_pg(
        &ws,
        Some(&sandbox),
        &url,
        &["apply", "--auto-approve", "--settle-timeout", "1"],
    );
    assert_eq!(rerun.code(), 0, "{}", rerun.combined());
    assert!(
        rerun.stderr().contains("Settled the journal of an interrupted run"),
        "{}",
        rerun.combined()
    );
    scenario.assert_converged(&sandbox);
    assert_no_change_accepted_twice(&sandbox);
    assert_eq!(db.value("SELECT count(*) FROM roster.journal"), Some("0".into()));
}

/// Two applies from two processes: the second fails at once naming the holder; with
/// `--lock-timeout` it waits for the first and then finds nothing left to do.
#[test]
fn of_two_applies_one_runs_and_the_other_fails_naming_the_holder_or_waits() {
    let Some(db) = Database::new("two") else { return };
    let ws = Workspace::new();
    let url = db.url("two");
    let scenario = scenario_in(&ws, &url, 12, 4);
    let sandbox = Sandbox::spawn(scenario.seed(), slow(40));
    let first = spawn_pg_apply(&ws, &sandbox, &url, &["--parallelism", "1"]);
    wait_until("the lock taken", || {
        db.value("SELECT count(*) FROM roster.locks") == Some("1".into())
    });
    let second = roster_pg(&ws, Some(&sandbox), &url, &["apply", "--auto-approve"]);
    assert_eq!(second.code(), 1, "{}", second.combined());
    let id = db.value("SELECT id FROM roster.locks").unwrap();
    let shown = db.filter(&second.stderr());
    assert!(shown.contains("state is locked by `apply` (tester@"), "{shown}");
    // The holder runs on this host: wait for it, never break its lock.
    assert!(shown.contains("wait for it with `--lock-timeout SECONDS`"), "{shown}");
    assert!(!shown.contains(&format!("roster force-unlock {id}")), "{shown}");
    let waiting = roster_pg(
        &ws,
        Some(&sandbox),
        &url,
        &["apply", "--auto-approve", "--lock-timeout", "60"],
    );
    let (code, text) = finish(first);
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(waiting.code(), 0, "{}", waiting.combined());
    assert!(
        waiting
            .stderr()
            .contains("Waiting up to 60s for the state lock held by `apply`"),
        "{}",
        waiting.combined()
    );
    assert!(waiting.stdout().contains("No changes"), "{}", waiting.combined());
    scenario.assert_converged(&sandbox);
}

/// `kill -9` mid-apply leaves the lock row: the next run waits out the lease and takes the lock
/// over with a note, or `force-unlock` clears it at once; either way the journal is settled
/// and the run converges without repeating an accepted call.
#[test]
fn after_kill_9_the_lease_or_force_unlock_lets_the_next_run_settle_and_converge() {
    let Some(db) = Database::new("kill") else { return };
    for (round, lease) in [(0, "1"), (1, "600")] {
        let ws = Workspace::new();
        let url = format!("{}&lease={lease}", db.url(&format!("kill{round}")));
        let scenario = scenario_in(&ws, &url, 20 + round, 6);
        let sandbox = Sandbox::spawn(scenario.seed(), slow(60));
        let mut apply = spawn_pg_apply(&ws, &sandbox, &url, &["--parallelism", "1"]);
        wait_until("a change accepted", || accepted(&sandbox));
        apply.kill().unwrap(); // SIGKILL
        apply.wait().unwrap();
        let holder = db
            .value(&format!("SELECT id FROM roster.locks WHERE name = 'kill{round}'"))
            .unwrap();
        let rerun = if round == 0 {
            // The lease (1 s) runs out while this run waits for the lock.
            roster_pg(
                &ws,
                Some(&sandbox),
                &url,
                &[
                    "apply",
                    "--auto-approve",
                    "--settle-timeout",
                    "1",
                    "--lock-timeout",
                    "60",
                ],
            )
        } else {
            let locked = roster_pg(&ws, Some(&sandbox), &url, &["apply", "--auto-approve"]);
            assert_eq!(locked.code(), 1, "{}", locked.combined());
            let unlock = roster_pg(&ws, None, &url, &["force-unlock", &holder]);
            assert_eq!(unlock.code(), 0, "{}", unlock.combined());
            roster_pg(
                &ws,
                Some(&sandbox),
                &url,
                &["apply", "--auto-approve", "--settle-timeout", "1"],
            )
        };
        assert_eq!(rerun.code(), 0, "{}", rerun.combined());
        if round == 0 {
            let note = format!("note: broke the stale lock `{holder}` of `apply`");
            assert!(rerun.stderr().contains(&note), "{}", rerun.combined());
            assert!(rerun.stderr().contains("its lease expired"), "{}", rerun.combined());
        }
        assert!(rerun.stderr().contains("Settled the journal"), "{}", rerun.combined());
        scenario.assert_converged(&sandbox);
        assert_no_change_accepted_twice(&sandbox);
    }
}

/// Fencing: a run whose lock was cleared by `force-unlock` while it worked, and then taken by
/// another run, cannot write: its next journal record is refused, so it makes no further call,
/// and its state is not saved. Once the other run is done, the next run settles and converges.
#[test]
fn a_run_whose_lock_was_broken_cannot_write() {
    let Some(db) = Database::new("fence") else { return };
    let ws = Workspace::new();
    let url = db.url("fence");
    let scenario = scenario_in(&ws, &url, 13, 6);
    let sandbox = Sandbox::spawn(scenario.seed(), slow(80));
    let apply = spawn_pg_apply(&ws, &sandbox, &url, &["--parallelism", "1"]);
    wait_until("a change accepted", || accepted(&sandbox));
    let id = db.value("SELECT id FROM roster.locks").unwrap();
    let unlock = roster_pg(&ws, None, &url, &["force-unlock", &id]);
    assert_eq!(unlock.code(), 0, "{}", unlock.combined());
    // Another run takes the lock while the first still runs.
    db.admin(
        "INSERT INTO roster.locks VALUES ('fence', 'other', 'apply', 'x', 'y', 1, 'now', now() + interval '1 hour')",
    );
    let sent_at_break = changes_answered(&sandbox);
    let (code, text) = finish(apply);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("cannot record progress, so no further calls are made"),
        "{text}"
    );
    assert!(
        text.contains(&format!("this run no longer holds the state lock `{id}`")),
        "{text}"
    );
    let sent = changes_answered(&sandbox);
    assert!(
        sent <= sent_at_break + 1,
        "{sent} calls sent, {sent_at_break} when the lock was broken"
    );
    // The fenced run wrote no version, and the other run's lock stands.
    assert_eq!(db.value("SELECT max(serial) FROM roster.versions"), Some("1".into()));
    assert_eq!(db.value("SELECT id FROM roster.locks"), Some("other".into()));
    db.admin("DELETE FROM roster.locks");
    let rerun = roster_pg(
        &ws,
        Some(&sandbox),
        &url,
        &["apply", "--auto-approve", "--settle-timeout", "1"],
    );
    assert_eq!(rerun.code(), 0, "{}", rerun.combined());
    scenario.assert_converged(&sandbox);
    assert_no_change_accepted_twice(&sandbox);
}

/// A run that takes longer than its lease keeps the lock by renewing it: with a one-second lease,
/// an apply of several seconds converges and writes its state.
#[test]
fn a_run_longer_than_its_lease_keeps_the_lock_by_renewing_it() {
    let Some(db) = Database::new("renew") else { return };
    let ws = Workspace::new();
    let url = format!("{}&lease=1", db.url("renew"));
    let scenario = scenario_in(&ws, &url, 14, 3);
    let sandbox = Sandbox::spawn(scenario.seed(), slow(120));
    let run = roster_pg(
        &ws,
        Some(&sandbox),
        &url,
        &["apply", "--auto-approve", "--parallelism", "1"],
    );
    assert_eq!(run.code(), 0, "{}", run.combined());
    // The premise of the test, from the sandbox's record (a slower run only spans more): the
    // run held the lock across more than two leases of calls.
    let calls = sandbox.calls();
    let span = calls.last().unwrap().at - calls.first().unwrap().arrived;
    assert!(
        span > Duration::from_secs(2),
        "the apply was too quick to need a renewal"
    );
    scenario.assert_converged(&sandbox);
    assert_eq!(db.value("SELECT max(serial) FROM roster.versions"), Some("2".into()));
}

/// Fencing on the serial: a run that holds the lock but read a serial that is no longer the
/// stored one (written behind its back) cannot save over it.
#[test]
fn a_save_from_a_serial_no_longer_current_is_refused() {
    use roster::state::{LockInfo, LockWait, PostgresStore, StateStore};
    let Some(db) = Database::new("serial") else { return };
    let ws = Workspace::new();
    ws.write(
        "s.json",
        "{\"version\": 1, \"lineage\": \"l\", \"serial\": 1, \"chats\": {}}",
    );
    let pushed = roster_pg(&ws, None, &db.url("serial"), &["state", "push", "s.json"]);
    assert_eq!(pushed.code(), 0, "{}", pushed.combined());
    let store = PostgresStore::connect(&db.url("serial"), "tester", &Default::default()).unwrap();
    let info = LockInfo {
        id: "mine".into(),
        operation: "apply".into(),
        who: "tester".into(),
        host: "here".into(),
        pid: 1,
        since: "now".into(),
    };
    let lock = store.lock(info, &LockWait::timeout(Duration::ZERO)).unwrap();
    let mut state = store.load().unwrap().unwrap();
    // Written behind the lock's back, as a run whose lock was broken might have.
    db.admin("UPDATE roster.states SET serial = 7");
    let error = format!("{:#}", store.save(&mut state).unwrap_err());
    assert!(
        error.contains("it read serial 1, and the stored serial is now 7; nothing was written"),
        "{error}"
    );
    assert_eq!(state.serial, 1, "the serial in memory is put back");
    assert_eq!(db.value("SELECT count(*) FROM roster.versions"), Some("1".into()));
    // Other writes of a run holding the lock go through.
    store
        .append_journal(&[roster::state::JournalRecord::Failed { id: 1 }])
        .unwrap();
    assert_eq!(store.read_journal().unwrap().len(), 1);
    drop(lock);
    assert_eq!(db.value("SELECT count(*) FROM roster.locks"), Some("0".into()));
}

/// A create's intent is a committed journal row before the create goes out: `kill -9` at the
/// instant after the sandbox made the chat and before it answered, with the state in
/// PostgreSQL and a sandbox that ignores idempotency keys, and the next run finds the chat
/// and sends nothing.
#[test]
fn a_create_killed_after_the_chat_was_made_is_found_from_its_journal_row() {
    use crate::create::{write_config, KEY, LINE, MEMBERS, TOKEN};
    let Some(db) = Database::new("create") else { return };
    let url = format!("{}&lease=1", db.url("create"));
    let seed = linq_sandbox::Seed {
        token: TOKEN.into(),
        me: LINE.into(),
        chats: Vec::new(),
        handle_services: Default::default(),
    };
    let sandbox = Sandbox::spawn(
        seed,
        Options {
            idempotency: linq_sandbox::Idempotency::Ignore,
            ..Options::default()
        },
    );
    let ws = Workspace::new();
    write_config(&ws, KEY, LINE, &MEMBERS);
    sandbox.hold_creates();
    let mut apply = spawn_pg_apply(&ws, &sandbox, &url, &[]);
    let held = sandbox.wait_for_held_creates(1, crate::common::PATIENCE);
    apply.kill().unwrap(); // SIGKILL
    apply.wait().unwrap();
    assert!(held, "the create never reached the sandbox");
    sandbox.release_creates();
    let rows = db.value("SELECT count(*) FROM roster.journal WHERE record LIKE '{\"type\":\"create\"%'");
    assert_eq!(rows.as_deref(), Some("1"), "the intent is a journal row");
    let rerun = roster_pg(
        &ws,
        Some(&sandbox),
        &url,
        &[
            "apply",
            "--auto-approve",
            "--settle-timeout",
            "1",
            "--lock-timeout",
            "60",
        ],
    );
    assert_eq!(rerun.code(), 0, "{}", rerun.combined());
    assert!(rerun.stderr().contains("of 1 create, 1 found"), "{}", rerun.combined());
    assert_eq!(sandbox.chat_ids().len(), 1, "one chat");
    assert_eq!(sandbox.messages().len(), 1, "one message");
    let journal = db.value("SELECT count(*) FROM roster.journal");
    assert_eq!(journal.as_deref(), Some("0"), "settled and cleared");
    let pulled = roster_pg(&ws, None, &url, &["state", "pull"]);
    let state: serde_json::Value = serde_json::from_str(&pulled.stdout()).unwrap();
    let chat = &state["chats"][&sandbox.chat_ids()[0]];
    assert_eq!(chat["key"], KEY, "{state}");
}

/// A create the search cannot settle stays a journal row through every write of the state:
/// the rows are replaced in one transaction, never cleared first.
#[test]
fn a_create_not_settled_stays_a_journal_row_across_runs() {
    use crate::create::{write_config, KEY, LINE, MEMBERS, TOKEN};
    let Some(db) = Database::new("unsettled") else { return };
    let url = db.url("unsettled");
    let seed = linq_sandbox::Seed {
        token: TOKEN.into(),
        me: LINE.into(),
        chats: Vec::new(),
        handle_services: Default::default(),
    };
    let sandbox = Sandbox::spawn(seed, Options::default());
    // Another team makes a chat of the same line and members first: ours is then ambiguous.
    let other = Workspace::new();
    write_config(&other, "other-team", LINE, &MEMBERS);
    crate::common::expect_exit(&other, &sandbox, 0, &["apply", "--auto-approve"]);
    let ws = Workspace::new();
    write_config(&ws, KEY, LINE, &MEMBERS);
    sandbox.fail_next_creates(linq_sandbox::CreateFault::Error, 1);
    let open = "SELECT count(*) FROM roster.journal WHERE record LIKE '{\"type\":\"create\"%'";
    for run in 0..2 {
        let apply = roster_pg(&ws, Some(&sandbox), &url, &["apply", "--auto-approve"]);
        assert_eq!(apply.code(), 1, "run {run}\n{}", apply.combined());
        assert!(apply.stdout().contains("create not settled"), "{}", apply.combined());
        assert_eq!(db.value(open).as_deref(), Some("1"), "run {run}: still open");
    }
    assert_eq!(sandbox.chat_ids().len(), 2, "the other team's and ours, no third");
}

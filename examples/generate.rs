//! Generates a large config and a state that differs from it, for benchmarks.
//!
//! `cargo run --release --example generate -- OUT_DIR [CHATS] [MEMBERS] [CHANGED_SHARE]`
//! writes `OUT_DIR/config/*.yaml` (1,000 chats a file, some members as people aliases) and
//! `OUT_DIR/roster.state.json`, in which about CHANGED_SHARE (default 0.05) of the memberships
//! hold another handle, so a plan has about that share of adds and of removes.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

/// splitmix64: a small, fixed-seed generator, so every run writes the same files.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(out) = args.first().map(PathBuf::from) else {
        eprintln!("usage: generate OUT_DIR [CHATS] [MEMBERS] [CHANGED_SHARE]");
        std::process::exit(1);
    };
    let chats: usize = args.get(1).map_or(10_000, |a| a.parse().expect("CHATS is a number"));
    let members: usize = args.get(2).map_or(20, |a| a.parse().expect("MEMBERS is a number"));
    let share: f64 = args
        .get(3)
        .map_or(0.05, |a| a.parse().expect("CHANGED_SHARE is a number"));
    let mut rng = Rng(0x5EED);
    let people = 1_000;
    let phone = |n: u64| format!("+1205{:07}", n % 10_000_000);

    std::fs::create_dir_all(out.join("config"))?;
    let mut people_yaml = String::from("version: 1\nsettings:\n  max_removal_ratio: 0.5\npeople:\n");
    for p in 0..people {
        let _ = writeln!(people_yaml, "  person-{p}: \"{}\"", phone(9_000_000 + p));
    }
    std::fs::write(out.join("config/people.yaml"), people_yaml)?;

    let mut state_chats = BTreeMap::new();
    for file in 0..chats.div_ceil(1_000) {
        let mut yaml = String::from("version: 1\nchats:\n");
        for c in (file * 1_000)..((file + 1) * 1_000).min(chats) {
            let id = format!("00000000-0000-4000-8000-{c:012}");
            let _ = writeln!(yaml, "  {id}:\n    name: Chat {c}\n    members:");
            let mut written_handles = Vec::with_capacity(members);
            let mut current = Vec::with_capacity(members);
            for m in 0..members {
                let literal = phone((c * members + m) as u64);
                let (written, canonical) = if rng.chance(0.1) {
                    let p = rng.next() % people;
                    (format!("person-{p}"), phone(9_000_000 + p))
                } else {
                    (format!("\"{literal}\""), literal.clone())
                };
                // Aliases may repeat within a chat: write the chat's own number instead, so
                // the generated config stays valid.
                let (written, canonical) = if written_handles.contains(&canonical) {
                    (format!("\"{literal}\""), literal)
                } else {
                    (written, canonical)
                };
                let _ = writeln!(yaml, "      - {written}");
                written_handles.push(canonical.clone());
                current.push(if rng.chance(share) {
                    phone(5_000_000 + rng.next() % 4_000_000)
                } else {
                    canonical
                });
            }
            current.sort();
            current.dedup();
            state_chats.insert(id, serde_json::json!({ "members": current }));
        }
        std::fs::write(out.join(format!("config/chats-{file:03}.yaml")), yaml)?;
    }
    let state = serde_json::json!({
        "version": 1,
        "lineage": "00000000-0000-4000-8000-000000000000",
        "serial": 1,
        "chats": state_chats,
    });
    std::fs::write(out.join("roster.state.json"), serde_json::to_vec_pretty(&state)?)?;
    eprintln!("wrote {} chats x {members} members to {}", chats, out.display());
    Ok(())
}

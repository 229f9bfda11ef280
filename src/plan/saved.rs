//! Saved plans (`roster plan --out FILE`): the plan plus what it was made from, sealed by a
//! checksum, so `roster apply FILE` applies exactly what was reviewed or refuses.
//!
//! The checksum is unkeyed: it catches damage and careless edits, not a deliberate one. So
//! `apply` trusts no step of the file: it re-derives the plan from the config and the state the
//! file names, with the options the file records (its `--target`s and `--exclude`s resolved
//! again), and refuses unless the selection and every chat and step are the same. The floor,
//! the cap, protected members and the removal guards then hold for a saved plan exactly as for
//! a fresh one.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::select::{select, SelectErrors};
use super::{ChatPlan, ChatRef, Plan, PlanErrors, PlanOptions, StateRef, Step};
use crate::config::Desired;
use crate::hint::Hint;
use crate::state::{PendingTimeout, State, StateLocation};

/// A plan as written to disk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedPlan {
    #[serde(flatten)]
    pub plan: Plan,
    /// The roster version that made it.
    pub roster_version: String,
    /// `Desired::digest` of the config it was made from.
    pub config_digest: String,
    /// The config paths it was made from, as given (relative to where `plan` ran).
    pub config_paths: Vec<PathBuf>,
    /// Where the state it was made from is: a file, or a PostgreSQL URL without its password
    /// (`state_path` in the file, as before PostgreSQL).
    #[serde(rename = "state_path")]
    pub state: StateLocation,
    /// The `--target` chat ids of a plan saved before the plan recorded its selection
    /// (`plan.selection`); read so that such a file still applies, never written.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
    /// It was made with `--allow-mass-removal`; `apply` re-derives it with the same.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_mass_removal: bool,
    /// It was made with `--allow-mass-create`; `apply` re-derives it with the same.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_mass_create: bool,
    /// Hex SHA-256 of this document with an empty `checksum`; detects edits and corruption.
    pub checksum: String,
}

/// Why a saved plan cannot be applied.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SavedPlanError {
    #[error("plan file is not a roster plan: {0}")]
    Unreadable(String),
    #[error("plan file has been modified or damaged since it was saved (checksum mismatch)")]
    Checksum,
    #[error("plan format version `{0}` is not supported by this roster")]
    Version(String),
    #[error("plan is stale: re-run plan ({0})")]
    Stale(String),
    /// A chat or a step differs from the plan derived from the config and the state: the first
    /// difference, named by chat and step.
    #[error("it does not match what roster derives from its config and state ({0}); nothing was sent")]
    Differs(String),
    /// No plan can be derived from the config and the state at all.
    #[error("it does not match what roster derives from its config and state, from which no plan can be made ({}); nothing was sent", one_line(&.0.0))]
    Underivable(PlanErrors),
    /// Its `--target`s and `--exclude`s no longer resolve against the config and the state.
    #[error("its `--target`s and `--exclude`s no longer resolve against its config and state ({}); nothing was sent", one_line(&.0.0))]
    Unselectable(SelectErrors),
}

impl Hint for SavedPlanError {
    fn hint(&self) -> Option<String> {
        match self {
            SavedPlanError::Differs(_) | SavedPlanError::Underivable(_) | SavedPlanError::Unselectable(_) => {
                Some("re-run `roster plan --out FILE` and review the new plan".to_owned())
            }
            SavedPlanError::Unreadable(_)
            | SavedPlanError::Checksum
            | SavedPlanError::Version(_)
            | SavedPlanError::Stale(_) => None,
        }
    }
}

fn one_line<E: ToString>(errors: &[E]) -> String {
    errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

impl SavedPlan {
    /// Seals `plan`, made with `options`, with the config digest and paths and the state it was
    /// made from.
    pub fn new(
        plan: Plan,
        options: &PlanOptions,
        config_digest: String,
        config_paths: Vec<PathBuf>,
        state: StateLocation,
    ) -> SavedPlan {
        let mut saved = SavedPlan {
            plan,
            roster_version: env!("CARGO_PKG_VERSION").to_owned(),
            config_digest,
            config_paths,
            state,
            targets: Vec::new(),
            allow_mass_removal: options.allow_mass_removal,
            allow_mass_create: options.allow_mass_create,
            checksum: String::new(),
        };
        saved.checksum = saved.compute_checksum();
        saved
    }

    fn compute_checksum(&self) -> String {
        let unsealed = SavedPlan {
            checksum: String::new(),
            ..self.clone()
        };
        let bytes = serde_json::to_vec(&unsealed).expect("a plan always serializes");
        hex(&Sha256::digest(bytes))
    }

    /// The document as written to disk: pretty JSON, trailing newline.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a plan always serializes");
        text.push('\n');
        text
    }

    /// Parses a saved plan and checks its checksum and format version.
    pub fn from_json(bytes: &[u8]) -> Result<SavedPlan, SavedPlanError> {
        let saved: SavedPlan = serde_json::from_slice(bytes).map_err(|e| SavedPlanError::Unreadable(e.to_string()))?;
        if saved.plan.format_version != super::FORMAT_VERSION {
            return Err(SavedPlanError::Version(saved.plan.format_version));
        }
        if saved.compute_checksum() != saved.checksum {
            return Err(SavedPlanError::Checksum);
        }
        Ok(saved)
    }

    /// Refuses the plan unless the config and the state are still what it was made from.
    pub fn check_fresh(&self, config_digest: &str, state: &StateRef) -> Result<(), SavedPlanError> {
        if self.plan.state.lineage != state.lineage {
            return Err(SavedPlanError::Stale(format!(
                "the state has lineage `{}`, the plan was made from `{}`",
                state.lineage, self.plan.state.lineage
            )));
        }
        if self.plan.state.serial != state.serial {
            return Err(SavedPlanError::Stale(format!(
                "the state is at serial {}, the plan was made at serial {}",
                state.serial, self.plan.state.serial
            )));
        }
        if self.config_digest != config_digest {
            return Err(SavedPlanError::Stale(
                "the config has changed since the plan was made".to_owned(),
            ));
        }
        Ok(())
    }

    /// Re-derives the plan from `desired` and `state` (both already checked fresh) with the
    /// options it was made with, its selectors resolved again (`real_path` as for a fresh
    /// plan), and refuses it unless the selection and every chat and step are the same.
    /// Pending changes are marked overdue per `pending`, which changes no step.
    pub fn check_derived(
        &self,
        desired: &Desired,
        state: &State,
        pending: PendingTimeout,
        real_path: &dyn Fn(&Path) -> Option<PathBuf>,
    ) -> Result<(), SavedPlanError> {
        let recorded = &self.plan.selection;
        // A file from before selections were recorded names its targets, chat ids, apart.
        let legacy = recorded.is_everything() && !self.targets.is_empty();
        let targets = if legacy {
            self.targets.clone()
        } else {
            recorded.given_targets()
        };
        let selection = select(&targets, &recorded.given_excludes(), Some(desired), state, real_path)
            .map_err(SavedPlanError::Unselectable)?;
        if !legacy && selection != *recorded {
            return Err(SavedPlanError::Differs(selection_difference(recorded, &selection)));
        }
        let options = PlanOptions {
            selection,
            allow_mass_removal: self.allow_mass_removal,
            allow_mass_create: self.allow_mass_create,
            pending,
        };
        let derived = super::plan(desired, state, &options).map_err(SavedPlanError::Underivable)?;
        match first_difference(&self.plan, &derived) {
            Some(difference) => Err(SavedPlanError::Differs(difference)),
            None => Ok(()),
        }
    }
}

/// How the file's selection differs from the one its selectors resolve to now: the first
/// selector whose chats differ.
fn selection_difference(file: &super::Selection, ours: &super::Selection) -> String {
    let lists = [
        ("target", &file.targets, &ours.targets),
        ("exclude", &file.excludes, &ours.excludes),
    ];
    for (flag, file, ours) in lists {
        for (a, b) in file.iter().zip(ours) {
            if a.chats != b.chats {
                return format!(
                    "{flag} `{}`: the file says it selects {}, roster resolves it to {}",
                    a.given,
                    chats_text(&a.chats),
                    chats_text(&b.chats)
                );
            }
        }
    }
    "its selection differs from what roster resolves".to_owned()
}

fn chats_text(chats: &[String]) -> String {
    match chats {
        [] => "no chat".to_owned(),
        [one] => format!("`{one}`"),
        many => format!("{} chats", many.len()),
    }
}

/// The first way the saved plan differs from the derived one, naming the chat and the step;
/// `None` when they agree. Pending changes are not compared: they change no call.
fn first_difference(saved: &Plan, derived: &Plan) -> Option<String> {
    let chats = saved.chats.len().max(derived.chats.len());
    for i in 0..chats {
        let difference = match (saved.chats.get(i), derived.chats.get(i)) {
            (Some(file), Some(ours)) if file == ours => continue,
            (Some(file), Some(ours)) if file.id == ours.id => chat_difference(file, ours),
            // Chats are sorted by id: the one that sorts first is the one the other plan lacks.
            (Some(file), Some(ours)) if file.id < ours.id => extra_chat(file),
            (Some(_), Some(ours)) | (None, Some(ours)) => missing_chat(ours),
            (Some(file), None) => extra_chat(file),
            (None, None) => continue,
        };
        return Some(difference);
    }
    (saved.summary != derived.summary).then(|| "its summary differs from what roster derives".to_owned())
}

fn chat_label(chat: &ChatPlan) -> String {
    let chat = ChatRef {
        id: chat.id.clone(),
        name: chat.name.clone(),
    };
    format!("chat {chat}")
}

fn extra_chat(file: &ChatPlan) -> String {
    format!(
        "{}: the file has it with {}, roster derives nothing to do",
        chat_label(file),
        match file.steps.first() {
            Some(step) => format!("step 1 `{}`", step_text(step)),
            None => format!("action `{}`", action_text(file)),
        }
    )
}

fn missing_chat(ours: &ChatPlan) -> String {
    format!(
        "{}: the file leaves it out, roster derives {}",
        chat_label(ours),
        match ours.steps.first() {
            Some(step) => format!("step 1 `{}`", step_text(step)),
            None => format!("action `{}`", action_text(ours)),
        }
    )
}

fn chat_difference(file: &ChatPlan, ours: &ChatPlan) -> String {
    let label = chat_label(file);
    let steps = file.steps.len().max(ours.steps.len());
    for j in 0..steps {
        let n = j + 1;
        match (file.steps.get(j), ours.steps.get(j)) {
            (Some(a), Some(b)) if a == b => {}
            (Some(a), Some(b)) => {
                return format!(
                    "{label}, step {n}: the file has `{}`, roster derives `{}`",
                    step_text(a),
                    step_text(b)
                )
            }
            (Some(a), None) => {
                return format!(
                    "{label}, step {n}: the file has `{}`, roster derives no such step",
                    step_text(a)
                )
            }
            (None, Some(b)) => {
                return format!(
                    "{label}, step {n}: the file lacks `{}`, which roster derives",
                    step_text(b)
                )
            }
            (None, None) => {}
        }
    }
    let field = if file.action != ours.action {
        return format!(
            "{label}: the file has action `{}`, roster derives `{}`",
            action_text(file),
            action_text(ours)
        );
    } else if file.before != ours.before {
        "`before`"
    } else if file.after != ours.after {
        "`after`"
    } else if file.left != ours.left {
        "`left`"
    } else {
        "name"
    };
    format!("{label}: its {field} differs from what roster derives")
}

fn step_text(step: &Step) -> String {
    let Some((op, handle)) = step.change() else {
        return match step {
            Step::Create => "create".to_owned(),
            Step::Name { value } => format!("name {}", crate::escape::Escaped(value)),
            Step::Icon { value } => format!("icon {}", crate::escape::Escaped(value)),
            _ => "wait".to_owned(),
        };
    };
    match step.person() {
        Some(person) => format!("{} {handle} ({person})", op.verb()),
        None => format!("{} {handle}", op.verb()),
    }
}

fn action_text(chat: &ChatPlan) -> &'static str {
    match chat.action {
        super::Action::Update => "update",
        super::Action::Forget => "forget",
        super::Action::Unknown => "unknown",
        super::Action::Create => "create",
    }
}

/// Lower-case hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handle::Handle;
    use crate::plan::{Action, Summary};

    fn chat(id: &str, steps: Vec<Step>) -> ChatPlan {
        ChatPlan {
            id: id.to_owned(),
            key: id.to_owned(),
            create: None,
            rekey: None,
            likely_rename_of: None,
            name: Some("Sales".into()),
            action: Action::Update,
            before: Some(Default::default()),
            after: Some(Default::default()),
            left: Vec::new(),
            steps,
        }
    }

    fn plan(chats: Vec<ChatPlan>) -> Plan {
        Plan {
            format_version: "1".into(),
            state: StateRef {
                lineage: "l".into(),
                serial: 1,
            },
            selection: Default::default(),
            chats,
            pending: Vec::new(),
            summary: Summary::default(),
        }
    }

    fn add(handle: &str, person: Option<&str>) -> Step {
        Step::Add {
            handle: Handle::parse(handle).unwrap(),
            person: person.map(str::to_owned),
        }
    }

    #[test]
    fn a_plan_listing_pending_changes_keeps_its_seal_and_one_without_seals_as_before() {
        use crate::clock::Timestamp;
        use crate::op::Op;
        use crate::plan::PendingChat;
        use crate::state::PendingChange;

        let mut with = plan(vec![chat("b", vec![add("+15550000001", None)])]);
        with.pending.push(PendingChat {
            id: "b".into(),
            name: None,
            changes: vec![PendingChange {
                op: Op::Add,
                handle: Handle::parse("+15550000002").unwrap(),
                // Finer than the millisecond the file keeps.
                accepted_at: Some(Timestamp::from(
                    std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_nanos(1_767_605_400_123_456_789),
                )),
                overdue: false,
            }],
        });
        let options = PlanOptions::default();
        let saved = SavedPlan::new(with, &options, "d".into(), Vec::new(), "s".into());
        let read = SavedPlan::from_json(saved.to_json().as_bytes()).expect("the seal holds");
        assert_eq!(read.plan.pending[0].changes[0].handle.as_str(), "+15550000002");

        let without = SavedPlan::new(plan(Vec::new()), &options, "d".into(), Vec::new(), "s".into());
        let json = without.to_json();
        for absent in ["pending", "targets", "allow_mass_removal"] {
            assert!(
                !json.contains(absent),
                "{absent} is left out when empty, as files before it: {json}"
            );
        }
    }

    #[test]
    fn the_first_difference_names_the_chat_and_the_step() {
        let ours = plan(vec![chat("b", vec![add("+15550000001", Some("ann"))])]);
        assert_eq!(first_difference(&ours, &ours.clone()), None);
        let cases = [
            (
                plan(Vec::new()),
                "chat `b` (Sales): the file leaves it out, roster derives step 1 `add +15550000001 (ann)`",
            ),
            (
                plan(vec![chat("a", Vec::new()), ours.chats[0].clone()]),
                "chat `a` (Sales): the file has it with action `update`, roster derives nothing to do",
            ),
            (
                plan(vec![chat("b", vec![add("+15550000001", Some("bob"))])]),
                "chat `b` (Sales), step 1: the file has `add +15550000001 (bob)`, roster derives `add +15550000001 (ann)`",
            ),
            (
                plan(vec![chat("b", Vec::new())]),
                "chat `b` (Sales), step 1: the file lacks `add +15550000001 (ann)`, which roster derives",
            ),
            (
                plan(vec![ChatPlan {
                    after: None,
                    ..ours.chats[0].clone()
                }]),
                "chat `b` (Sales): its `after` differs from what roster derives",
            ),
            (
                Plan {
                    summary: Summary {
                        add: 7,
                        ..Summary::default()
                    },
                    ..ours.clone()
                },
                "its summary differs from what roster derives",
            ),
        ];
        for (file, difference) in cases {
            assert_eq!(first_difference(&file, &ours).as_deref(), Some(difference));
        }
    }
}

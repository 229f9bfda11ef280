//! [`plan`]: diff every chat in scope, order its changes, and check the guards over the whole
//! plan, collecting every error before refusing.

use crate::config::{Desired, DesiredChat};
use crate::handle::Handle;
use crate::members::Members;
use crate::state::{ChatState, State};

use super::bind::{bind, Binding};
use super::error::{ChatRef, PlanError, PlanErrors};
use super::order::{schedule, Limits, Round};
use super::{Action, ChatPlan, CreatePlan, PendingChat, Plan, PlanOptions, StateRef, Step, Summary, FORMAT_VERSION};

/// The mass-removal guard applies only from this many current memberships on, so that small
/// setups can still move a member or two.
pub const MASS_REMOVAL_MIN_MEMBERSHIPS: usize = 10;

/// Plans the calls that take the chats in `state` to `desired`: for each chat, exactly its adds
/// and removes, ordered so that the floor and the cap hold at every step.
///
/// Only the chats `options.selection` includes are planned.
///
/// Refuses with every problem at once: chats with no safe order, removed protected handles,
/// and, without `allow_mass_removal`, more removals than the removal guards allow.
pub fn plan(desired: &Desired, state: &State, options: &PlanOptions) -> Result<Plan, PlanErrors> {
    let mut errors = Vec::new();
    let bindings = bind(desired, state);

    let mut chats = Vec::with_capacity(desired.chats.len() + bindings.unclaimed.len());
    let mut pending = Vec::new();
    // Current memberships of the managed chats in scope (in config and state): the base of the
    // mass-removal share. Forgotten chats are no longer managed and make no call.
    let mut memberships = 0;
    let mut removals_by_chat = Vec::new();
    for (key, wanted) in &desired.chats {
        if !options.selection.includes(key) {
            continue;
        }
        match bindings.keys[key.as_str()] {
            Binding::Known { id, chat: known, rekey } => {
                memberships += known.members.len();
                if !known.pending.is_empty() {
                    pending.push(PendingChat {
                        id: id.to_owned(),
                        name: wanted.name.clone().or_else(|| known.display_name.clone()),
                        changes: known.pending.list(&options.pending),
                    });
                }
                let mut findings = Findings {
                    errors: &mut errors,
                    removals_by_chat: &mut removals_by_chat,
                };
                let at = Bound { key, id, rekey };
                chats.extend(diff_chat(&at, wanted, known, desired, &mut findings));
            }
            Binding::Unknown { id } => chats.push(unknown(key, id, wanted)),
            // Refused before planning (`check_bindings`); shown as unknown if planned anyway.
            Binding::Unbound => chats.push(unknown(key, key, wanted)),
            Binding::Create => chats.push(to_create(key, wanted, desired)),
        }
    }
    for &(id, known) in &bindings.unclaimed {
        let key = known.key_or(id);
        if !options.selection.includes(key) {
            continue;
        }
        chats.push(ChatPlan {
            key: key.to_owned(),
            name: known.display_name.clone(),
            before: Some(known.members.clone()),
            ..ChatPlan::new(id, Action::Forget)
        });
    }
    // Usually sorted already (the config's chats come by key; forgotten ones are few): a stable
    // sort would still allocate a scratch buffer of half the plan (~9 MB at 100,000 chats).
    if !chats.is_sorted_by(|a, b| a.key <= b.key) {
        chats.sort_by(|a, b| a.key.cmp(&b.key));
    }
    note_likely_renames(&mut chats);

    if !options.allow_mass_removal {
        removal_guards(desired, memberships, removals_by_chat, &mut errors);
    }
    if !options.allow_mass_create {
        create_guard(desired, &chats, &mut errors);
    }
    if !errors.is_empty() {
        return Err(PlanErrors(errors));
    }
    let summary = summarize(&chats);
    Ok(Plan {
        format_version: FORMAT_VERSION.to_owned(),
        state: StateRef {
            lineage: state.lineage.clone(),
            serial: state.serial,
        },
        selection: options.selection.clone(),
        chats,
        pending,
        summary,
    })
}

/// A config chat whose membership the state does not know.
fn unknown(key: &str, id: &str, wanted: &DesiredChat) -> ChatPlan {
    ChatPlan {
        key: key.to_owned(),
        name: wanted.name.clone(),
        ..ChatPlan::new(id, Action::Unknown)
    }
}

/// A chat to create: the create, then its name and icon once it exists.
fn to_create(key: &str, wanted: &DesiredChat, desired: &Desired) -> ChatPlan {
    let create = wanted.create.as_ref().map(|create| CreatePlan {
        from: create.from.clone(),
        message: create.message.clone(),
        service: wanted.service,
    });
    let mut steps = vec![Step::Create];
    steps.extend(looks(wanted, KnownName::None, None, desired));
    ChatPlan {
        key: key.to_owned(),
        name: wanted.name.clone(),
        create,
        after: Some(wanted.members.clone()),
        steps,
        ..ChatPlan::new("", Action::Create)
    }
}

/// What the state knows of a chat's display name.
#[derive(Clone, Copy)]
enum KnownName<'a> {
    /// Nothing: never read nor set. Like a membership the state does not know, it is read
    /// first (`refresh`, `plan --refresh`, `import`) rather than overwritten blind.
    Unknown,
    /// A chat about to be created: it has no name yet.
    None,
    /// The name last set or read.
    Is(&'a str),
}

/// The name and icon steps of a chat whose state records `name` and `icon`: each only where
/// the config asks for another (a name only with `manage_names`). Linq returns no icon, so the
/// icon last set is all there is to compare with.
fn looks(wanted: &DesiredChat, name: KnownName<'_>, icon: Option<&str>, desired: &Desired) -> Vec<Step> {
    let mut steps = Vec::new();
    if let Some(value) = wanted.name.as_deref().filter(|_| desired.settings.manage_names) {
        let differs = match name {
            KnownName::Unknown => false,
            KnownName::None => true,
            KnownName::Is(known) => known != value,
        };
        if differs {
            steps.push(Step::Name {
                value: value.to_owned(),
            });
        }
    }
    if let Some(value) = wanted.icon.as_deref() {
        if icon != Some(value) {
            steps.push(Step::Icon {
                value: value.to_owned(),
            });
        }
    }
    steps
}

/// Names, on each chat to create, a chat being forgotten with the same members: most likely
/// one chat whose key was renamed without `previously`, which would create a second chat.
fn note_likely_renames(chats: &mut [ChatPlan]) {
    if !chats.iter().any(|chat| chat.action == Action::Create) {
        return;
    }
    let mut forgotten: std::collections::HashMap<&[Handle], &str> = std::collections::HashMap::new();
    for chat in chats.iter().filter(|chat| chat.action == Action::Forget) {
        if let Some(before) = &chat.before {
            forgotten.entry(&before[..]).or_insert(chat.key.as_str());
        }
    }
    let found: Vec<(usize, String)> = (chats.iter().enumerate())
        .filter(|(_, chat)| chat.action == Action::Create)
        .filter_map(|(at, chat)| Some((at, (*forgotten.get(chat.after.as_deref()?)?).to_owned())))
        .collect();
    for (at, old) in found {
        chats[at].likely_rename_of = Some(old);
    }
}

/// `settings.max_creates` over the plan.
fn create_guard(desired: &Desired, chats: &[ChatPlan], errors: &mut Vec<PlanError>) {
    let keys: Vec<String> = (chats.iter())
        .filter(|chat| chat.action == Action::Create)
        .map(|chat| chat.key.clone())
        .collect();
    if keys.len() > desired.settings.max_creates {
        errors.push(PlanError::MassCreate {
            creates: keys.len(),
            limit: desired.settings.max_creates,
            keys,
        });
    }
}

/// The removal guards over the whole plan: each chat's `max_removals`, the share of
/// memberships (`max_removal_ratio`, from [`MASS_REMOVAL_MIN_MEMBERSHIPS`] on) and the number
/// of removals (`settings.max_removals`). `removals_by_chat` holds the chats in scope that
/// remove anyone.
fn removal_guards(
    desired: &Desired,
    memberships: usize,
    mut removals_by_chat: Vec<(ChatRef, usize)>,
    errors: &mut Vec<PlanError>,
) {
    for (chat, removals) in &removals_by_chat {
        let limit = desired.chats.get(&chat.id).and_then(|wanted| wanted.max_removals);
        if let Some(limit) = limit.filter(|limit| removals > limit) {
            errors.push(PlanError::ChatRemovals {
                chat: chat.clone(),
                removals: *removals,
                limit,
            });
        }
    }
    let removals: usize = removals_by_chat.iter().map(|(_, count)| count).sum();
    let ratio = desired.settings.max_removal_ratio;
    let over_ratio = memberships >= MASS_REMOVAL_MIN_MEMBERSHIPS && removals as f64 / memberships as f64 > ratio;
    let over_count = desired.settings.max_removals.filter(|limit| removals > *limit);
    if !over_ratio && over_count.is_none() {
        return;
    }
    removals_by_chat.sort_by(|(a, x), (b, y)| y.cmp(x).then_with(|| a.id.cmp(&b.id)));
    if over_ratio {
        errors.push(PlanError::MassRemoval {
            removals,
            memberships,
            limit: ratio,
            by_chat: removals_by_chat.clone(),
        });
    }
    if let Some(limit) = over_count {
        errors.push(PlanError::TooManyRemovals {
            removals,
            limit,
            by_chat: removals_by_chat,
        });
    }
}

/// What chats report besides their own plan, for the errors and the whole-plan guards.
struct Findings<'a> {
    errors: &'a mut Vec<PlanError>,
    removals_by_chat: &'a mut Vec<(ChatRef, usize)>,
}

/// A chat of both config and state: its key, its id, and the key the state knew it under when
/// that changes.
struct Bound<'a> {
    key: &'a str,
    id: &'a str,
    rekey: Option<&'a str>,
}

/// Plans one chat that is in both config and state; `None` when it has nothing to do or no
/// valid order (then an error is in `findings`).
fn diff_chat(
    at: &Bound<'_>,
    wanted: &DesiredChat,
    known: &ChatState,
    desired: &Desired,
    findings: &mut Findings<'_>,
) -> Option<ChatPlan> {
    let current = &known.members;
    let (mut adds, removes) = changes(current, &wanted.members);
    let left = if desired.settings.readd_left {
        Vec::new()
    } else {
        keep_out_left(&mut adds, &known.left)
    };
    let name = known.display_name.as_deref().map_or(KnownName::Unknown, KnownName::Is);
    let looks = looks(wanted, name, known.icon.as_deref(), desired);
    if adds.is_empty() && removes.is_empty() && left.is_empty() && looks.is_empty() && at.rekey.is_none() {
        return None;
    }
    let chat_ref = ChatRef {
        id: at.key.to_owned(),
        name: wanted.name.clone().or_else(|| known.display_name.clone()),
    };
    if !removes.is_empty() {
        check_removals(&chat_ref, &removes, wanted, desired, findings);
    }

    let limits = Limits {
        floor: desired.settings.min_members,
        cap: wanted.max_members,
    };
    let rounds = match schedule(current.len(), adds.len(), removes.len(), limits) {
        Ok(rounds) => rounds,
        Err(reason) => {
            findings.errors.push(PlanError::NoValidOrder { chat: chat_ref, reason });
            return None;
        }
    };
    let mut steps = steps(&adds, &removes, &rounds, desired);
    steps.extend(looks);

    // `left` is usually empty: then `after` is the config's set itself, shared rather than
    // copied (at 100,000 chats the copies were ~30 MB of the peak). Both are sorted.
    let after = match left.is_empty() {
        true => wanted.members.clone(),
        false => (wanted.members.iter())
            .filter(|handle| left.binary_search(handle).is_err())
            .cloned()
            .collect(),
    };
    Some(ChatPlan {
        key: chat_ref.id,
        name: chat_ref.name,
        rekey: at.rekey.map(str::to_owned),
        before: Some(current.clone()),
        after: Some(after),
        left: left.into_iter().cloned().collect(),
        steps,
        ..ChatPlan::new(at.id, Action::Update)
    })
}

/// Takes out of `adds` the handles that left the chat themselves (`known_left`), and returns
/// them: they stay out unless `readd_left` is set. Both stay sorted.
fn keep_out_left<'a>(adds: &mut Vec<&'a Handle>, known_left: &Members) -> Vec<&'a Handle> {
    let mut left = Vec::new();
    if !known_left.is_empty() {
        adds.retain(|&handle| {
            let stays_out = known_left.contains(handle);
            if stays_out {
                left.push(handle);
            }
            !stays_out
        });
    }
    left
}

/// Counts a chat's removals for the whole-plan guards, and refuses those of protected handles.
fn check_removals(
    chat: &ChatRef,
    removes: &[&Handle],
    wanted: &DesiredChat,
    desired: &Desired,
    findings: &mut Findings<'_>,
) {
    findings.removals_by_chat.push((chat.clone(), removes.len()));
    for &handle in removes {
        if wanted.protected.contains(handle) || desired.settings.protected.contains(handle) {
            findings.errors.push(PlanError::ProtectedRemoval {
                chat: chat.clone(),
                handle: handle.clone(),
                person: desired.names.get(handle).cloned(),
            });
        }
    }
}

/// The steps of `rounds`: each round's adds, then its removes, a `wait` between rounds.
fn steps(adds: &[&Handle], removes: &[&Handle], rounds: &[Round], desired: &Desired) -> Vec<Step> {
    let person = |handle: &Handle| desired.names.get(handle).cloned();
    let mut steps = Vec::with_capacity(adds.len() + removes.len() + rounds.len());
    let (mut next_add, mut next_remove) = (adds.iter(), removes.iter());
    for (i, round) in rounds.iter().enumerate() {
        if i > 0 {
            steps.push(Step::Wait);
        }
        for &handle in next_add.by_ref().take(round.adds) {
            steps.push(Step::Add {
                handle: handle.clone(),
                person: person(handle),
            });
        }
        for &handle in next_remove.by_ref().take(round.removes) {
            steps.push(Step::Remove {
                handle: handle.clone(),
                person: person(handle),
            });
        }
    }
    steps
}

/// `(wanted - current, current - wanted)`, both sorted, in one walk over the two sorted sets
/// (the planner's hot loop: most chats have no change at all).
fn changes<'a>(current: &'a Members, wanted: &'a Members) -> (Vec<&'a Handle>, Vec<&'a Handle>) {
    use std::cmp::Ordering;
    let (mut adds, mut removes) = (Vec::new(), Vec::new());
    let (mut have, mut want) = (current.iter().peekable(), wanted.iter().peekable());
    loop {
        match (have.peek(), want.peek()) {
            (None, None) => break,
            (Some(_), None) => removes.extend(have.by_ref()),
            (None, Some(_)) => adds.extend(want.by_ref()),
            (Some(&a), Some(&b)) => match a.cmp(b) {
                Ordering::Less => removes.extend(have.next()),
                Ordering::Greater => adds.extend(want.next()),
                Ordering::Equal => {
                    have.next();
                    want.next();
                }
            },
        }
    }
    (adds, removes)
}

fn summarize(chats: &[ChatPlan]) -> Summary {
    let mut summary = Summary::default();
    for chat in chats {
        match chat.action {
            Action::Update if !chat.steps.is_empty() => summary.chats_changed += 1,
            Action::Update => {}
            Action::Forget => summary.forget += 1,
            Action::Unknown => summary.unknown += 1,
            Action::Create => {}
        }
        summary.rekey += usize::from(chat.rekey.is_some());
        for step in &chat.steps {
            match step {
                Step::Add { .. } => summary.add += 1,
                Step::Remove { .. } => summary.remove += 1,
                Step::Wait => summary.wait += 1,
                Step::Create => summary.create += 1,
                Step::Name { .. } => summary.name += 1,
                Step::Icon { .. } => summary.icon += 1,
            }
        }
    }
    summary
}

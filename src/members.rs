//! A chat's members: a set of handles held as one sorted, shared slice.
//!
//! A config and a state of a large team hold a set for every chat, millions of handles in all.
//! A `BTreeSet` of a chat's 20 members takes about twice their size in nodes and slack; a
//! sorted slice takes their size, and chats are small enough (Linq allows a few dozen members)
//! that a change which rebuilds it costs nothing worth counting. The slice is shared (`Arc`):
//! a plan's `before` of a chat is the state's set, and a clone only counts a reference.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::handle::Handle;

/// A set of handles, sorted as their text, each once; as a slice, its members in order.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Members(Arc<[Handle]>);

impl Members {
    pub fn new() -> Members {
        Members::default()
    }

    /// The set of `handles` when they are sorted and each once already (as roster writes them),
    /// without a sort; otherwise sorted and deduplicated.
    pub fn from_vec(handles: Vec<Handle>) -> Members {
        Members::from_vec_or(handles, None)
    }

    /// [`Members::from_vec`], but when the set is `same` (say the one a state recorded), a share
    /// of `same` instead of a copy: a large config's chats mostly hold what the state holds.
    pub fn from_vec_or(mut handles: Vec<Handle>, same: Option<&Members>) -> Members {
        if !handles.windows(2).all(|w| w[0] < w[1]) {
            handles.sort_unstable();
            handles.dedup();
        }
        match same {
            Some(same) if same[..] == handles[..] => same.clone(),
            _ => Members(handles.into()),
        }
    }

    pub fn contains(&self, handle: &Handle) -> bool {
        self.0.binary_search(handle).is_ok()
    }

    /// Adds `handle`; false when it was a member already.
    pub fn insert(&mut self, handle: Handle) -> bool {
        match self.0.binary_search(&handle) {
            Ok(_) => false,
            Err(at) => {
                let mut handles = self.0.to_vec();
                handles.insert(at, handle);
                self.0 = handles.into();
                true
            }
        }
    }

    /// Removes `handle`; false when it was not a member.
    pub fn remove(&mut self, handle: &Handle) -> bool {
        match self.0.binary_search(handle) {
            Ok(at) => {
                let mut handles = self.0.to_vec();
                handles.remove(at);
                self.0 = handles.into();
                true
            }
            Err(_) => false,
        }
    }

    /// Keeps the members `keep` says yes to.
    pub fn retain(&mut self, keep: impl FnMut(&Handle) -> bool) {
        let mut handles = self.0.to_vec();
        handles.retain(keep);
        self.0 = handles.into();
    }

    /// True when no handle is in both.
    pub fn is_disjoint(&self, other: &Members) -> bool {
        !self.0.iter().any(|handle| other.contains(handle))
    }

    /// The members not in `other`, in order.
    pub fn difference<'a>(&'a self, other: &'a Members) -> impl Iterator<Item = &'a Handle> + 'a {
        self.0.iter().filter(move |handle| !other.contains(handle))
    }
}

impl Deref for Members {
    type Target = [Handle];

    fn deref(&self) -> &[Handle] {
        &self.0
    }
}

impl Extend<Handle> for Members {
    fn extend<I: IntoIterator<Item = Handle>>(&mut self, handles: I) {
        let mut all = self.0.to_vec();
        all.extend(handles);
        *self = Members::from_vec(all);
    }
}

impl FromIterator<Handle> for Members {
    fn from_iter<I: IntoIterator<Item = Handle>>(handles: I) -> Members {
        Members::from_vec(handles.into_iter().collect())
    }
}

impl<const N: usize> From<[Handle; N]> for Members {
    fn from(handles: [Handle; N]) -> Members {
        Members::from_vec(handles.into())
    }
}

impl<'a> IntoIterator for &'a Members {
    type Item = &'a Handle;
    type IntoIter = std::slice::Iter<'a, Handle>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// The slice may be shared, so its handles are cloned out (which never allocates for phones).
impl IntoIterator for Members {
    type Item = Handle;
    type IntoIter = std::vec::IntoIter<Handle>;

    #[allow(clippy::unnecessary_to_owned)] // the iterator must own what it yields
    fn into_iter(self) -> Self::IntoIter {
        self.0.to_vec().into_iter()
    }
}

impl fmt::Debug for Members {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.iter()).finish()
    }
}

impl Serialize for Members {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter())
    }
}

/// Read as a list, in one pass when it is sorted (as roster writes them).
impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::<Handle>::deserialize(deserializer).map(Members::from_vec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(text: &str) -> Handle {
        Handle::parse(text).unwrap()
    }

    #[test]
    fn a_set_is_sorted_and_holds_each_handle_once_however_it_is_built() {
        let built: Members = [
            h("+15550000003"),
            h("b@example.com"),
            h("+15550000001"),
            h("+15550000003"),
        ]
        .into();
        let texts: Vec<&str> = built.iter().map(Handle::as_str).collect();
        assert_eq!(texts, ["+15550000001", "+15550000003", "b@example.com"]);
        let mut grown = Members::new();
        for handle in [
            h("b@example.com"),
            h("+15550000003"),
            h("+15550000001"),
            h("+15550000003"),
        ] {
            grown.insert(handle);
        }
        assert_eq!(grown, built);
        let read: Members = serde_json::from_str(r#"["b@example.com", "+15550000003", "+15550000001"]"#).unwrap();
        assert_eq!(read, built);
        assert_eq!(
            serde_json::to_string(&read).unwrap(),
            r#"["+15550000001","+15550000003","b@example.com"]"#
        );
    }

    #[test]
    fn insert_and_remove_say_whether_the_set_changed() {
        let mut set: Members = [h("+15550000001"), h("+15550000005")].into();
        assert!(set.insert(h("+15550000003")));
        assert!(!set.insert(h("+15550000003")));
        assert!(set.contains(&h("+15550000003")));
        assert!(set.remove(&h("+15550000001")));
        assert!(!set.remove(&h("+15550000001")));
        assert!(!set.contains(&h("+15550000001")));
        let others: Members = [h("+15550000005")].into();
        assert_eq!(set.difference(&others).collect::<Vec<_>>(), [&h("+15550000003")]);
        assert_eq!(set.len(), 2);
    }
}

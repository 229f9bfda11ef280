//! Each `event_id` handled once: Linq delivers at least once (a retry after a lost answer, a
//! duplicate), so the ids already taken are remembered, the oldest forgotten first once
//! [`Seen`] holds its capacity. Memory stays bounded whatever is sent; an id forgotten and
//! delivered again costs one more read of its chat, which is harmless (an event is a hint).

use std::collections::{HashSet, VecDeque};

/// The last `capacity` event ids taken.
#[derive(Debug)]
pub struct Seen {
    ids: HashSet<String>,
    order: VecDeque<String>,
    capacity: usize,
}

impl Seen {
    pub fn new(capacity: usize) -> Seen {
        Seen {
            ids: HashSet::with_capacity(capacity.min(1 << 16)),
            order: VecDeque::with_capacity(capacity.min(1 << 16)),
            capacity: capacity.max(1),
        }
    }

    /// True when `id` was taken before.
    pub fn contains(&self, id: &str) -> bool {
        self.ids.contains(id)
    }

    /// Remembers `id`, forgetting the oldest beyond the capacity.
    pub fn insert(&mut self, id: &str) {
        if !self.ids.insert(id.to_owned()) {
            return;
        }
        self.order.push_back(id.to_owned());
        while self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.ids.remove(&old);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_remembered_up_to_the_capacity_oldest_forgotten_first() {
        let mut seen = Seen::new(2);
        seen.insert("a");
        seen.insert("a");
        seen.insert("b");
        assert!(seen.contains("a") && seen.contains("b"));
        seen.insert("c");
        assert!(!seen.contains("a") && seen.contains("b") && seen.contains("c"));
        assert_eq!(seen.len(), 2);
    }
}

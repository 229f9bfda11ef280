//! Finds the `line:column` of places in a YAML file, for errors found after deserialization.
//!
//! `serde_yaml` reports positions only in its own errors, so on the error path (and only there)
//! the offending file is read again with an event parser, and every place asked for is looked
//! up in one pass. A place is a path of mapping keys and list indexes, like
//! `chats.<3rd entry>.members[2]`, or a key of the mapping that starts at a known position.

use std::borrow::Cow;
use std::collections::HashMap;

use saphyr_parser::{Event, Parser};

/// A 1-based line and column.
pub(crate) type Pos = (usize, usize);

/// One step of a path into a YAML document.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Seg {
    /// The entry of a mapping whose key is this text (the first such entry).
    Key(Cow<'static, str>),
    /// The n-th entry (0-based) of a mapping, in document order, whatever its key.
    Entry(usize),
    /// The n-th item (0-based) of a list.
    Index(usize),
}

impl Seg {
    pub(crate) const fn key(key: &'static str) -> Seg {
        Seg::Key(Cow::Borrowed(key))
    }
}

/// Which position of a mapping entry is wanted: its key's or its value's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    Key,
    Value,
}

/// A handle on a place asked for, to read its position after [`Locator::resolve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Target(usize);

/// Collects the places wanted in one file, then finds them all in a single parse.
#[derive(Debug)]
pub(crate) struct Locator {
    /// A trie of the paths asked for; node 0 is the document's root.
    nodes: Vec<Node>,
    queries: Vec<KeyQuery>,
    targets: Vec<TargetKind>,
}

#[derive(Debug, Default)]
struct Node {
    parent: Option<usize>,
    children: HashMap<Seg, usize>,
}

#[derive(Debug)]
struct KeyQuery {
    mapping_at: Pos,
    key: String,
    nth: usize,
}

#[derive(Debug, Clone, Copy)]
enum TargetKind {
    Path { node: usize, part: Part },
    KeyIn { query: usize, part: Part, fallback: Pos },
    FirstAlias,
    SecondDocument,
}

impl Locator {
    pub(crate) fn new() -> Locator {
        Locator {
            nodes: vec![Node::default()],
            queries: Vec::new(),
            targets: Vec::new(),
        }
    }

    /// Asks for the position of the node at `path`, or of its key when `part` is `Key`.
    pub(crate) fn path(&mut self, path: &[Seg], part: Part) -> Target {
        let mut node = 0;
        for seg in path {
            node = match self.nodes[node].children.get(seg) {
                Some(&child) => child,
                None => {
                    let child = self.nodes.len();
                    self.nodes.push(Node {
                        parent: Some(node),
                        children: HashMap::new(),
                    });
                    self.nodes[node].children.insert(seg.clone(), child);
                    child
                }
            };
        }
        self.push(TargetKind::Path { node, part })
    }

    /// Asks for the `nth` (0-based) entry with key `key` of the mapping that starts at
    /// `mapping_at`; `fallback` is used when it cannot be found.
    pub(crate) fn key_in(&mut self, mapping_at: Pos, key: &str, nth: usize, part: Part) -> Target {
        self.queries.push(KeyQuery {
            mapping_at,
            key: key.to_owned(),
            nth,
        });
        let query = self.queries.len() - 1;
        self.push(TargetKind::KeyIn {
            query,
            part,
            fallback: mapping_at,
        })
    }

    /// Asks for the position of the first alias (`*name`) in the file.
    pub(crate) fn first_alias(&mut self) -> Target {
        self.push(TargetKind::FirstAlias)
    }

    /// Asks for the position where the file's second YAML document starts.
    pub(crate) fn second_document(&mut self) -> Target {
        self.push(TargetKind::SecondDocument)
    }

    fn push(&mut self, kind: TargetKind) -> Target {
        self.targets.push(kind);
        Target(self.targets.len() - 1)
    }

    /// Parses `text` once and finds every place asked for.
    ///
    /// A place that is not in the file as written (behind an alias, or past a point the event
    /// parser could not read) gets the position of its nearest ancestor that was found.
    pub(crate) fn resolve(self, text: &str) -> Located {
        let mut walk = Walk {
            key_pos: vec![None; self.nodes.len()],
            value_pos: vec![None; self.nodes.len()],
            query_seen: vec![0; self.queries.len()],
            query_key: vec![None; self.queries.len()],
            query_value: vec![None; self.queries.len()],
            first_alias: None,
            documents: Vec::new(),
            frames: Vec::new(),
            locator: &self,
        };
        walk.run(text);
        let positions = self
            .targets
            .iter()
            .map(|target| match *target {
                TargetKind::Path { node, part } => {
                    let mut node = Some(node);
                    let mut part = part;
                    while let Some(n) = node {
                        let found = match part {
                            Part::Key => walk.key_pos[n].or(walk.value_pos[n]),
                            Part::Value => walk.value_pos[n].or(walk.key_pos[n]),
                        };
                        if found.is_some() {
                            return found;
                        }
                        node = self.nodes[n].parent;
                        part = Part::Key;
                    }
                    None
                }
                TargetKind::KeyIn { query, part, fallback } => {
                    let found = match part {
                        Part::Key => walk.query_key[query],
                        Part::Value => walk.query_value[query].or(walk.query_key[query]),
                    };
                    Some(found.unwrap_or(fallback))
                }
                TargetKind::FirstAlias => walk.first_alias,
                TargetKind::SecondDocument => walk.documents.get(1).copied(),
            })
            .collect();
        Located { positions }
    }
}

/// The positions found by [`Locator::resolve`].
#[derive(Debug)]
pub(crate) struct Located {
    positions: Vec<Option<Pos>>,
}

impl Located {
    pub(crate) fn get(&self, target: Target) -> Option<Pos> {
        self.positions[target.0]
    }
}

/// The state of one pass over the events of a file.
struct Walk<'l> {
    locator: &'l Locator,
    key_pos: Vec<Option<Pos>>,
    value_pos: Vec<Option<Pos>>,
    query_seen: Vec<usize>,
    query_key: Vec<Option<Pos>>,
    query_value: Vec<Option<Pos>>,
    first_alias: Option<Pos>,
    documents: Vec<Pos>,
    frames: Vec<Frame>,
}

/// An open mapping or list, with the trie node it matches (if any path goes through it).
enum Frame {
    Mapping {
        start: Pos,
        node: Option<usize>,
        entries: usize,
        in_value: bool,
        /// The trie node of the current entry, once its key has been read.
        child: Option<usize>,
        /// The key query the current entry answers, if any.
        query: Option<usize>,
    },
    List {
        node: Option<usize>,
        index: usize,
    },
}

impl Walk<'_> {
    fn run(&mut self, text: &str) {
        let mut root_seen = false;
        for event in Parser::new_from_str(text) {
            let Ok((event, span)) = event else { return };
            let pos = (span.start.line(), span.start.col() + 1);
            match event {
                Event::DocumentStart(_) => {
                    if self.documents.len() < 2 {
                        self.documents.push(pos);
                    }
                }
                Event::Scalar(value, ..) => {
                    self.node_start(pos, Some(&value), root_seen);
                    root_seen = true;
                    self.node_end();
                }
                Event::Alias(_) => {
                    self.first_alias.get_or_insert(pos);
                    self.node_start(pos, None, root_seen);
                    root_seen = true;
                    self.node_end();
                }
                Event::MappingStart(..) => {
                    let node = self.node_start(pos, None, root_seen);
                    root_seen = true;
                    self.frames.push(Frame::Mapping {
                        start: pos,
                        node,
                        entries: 0,
                        in_value: false,
                        child: None,
                        query: None,
                    });
                }
                Event::SequenceStart(..) => {
                    let node = self.node_start(pos, None, root_seen);
                    root_seen = true;
                    self.frames.push(Frame::List { node, index: 0 });
                }
                Event::MappingEnd | Event::SequenceEnd => {
                    self.frames.pop();
                    self.node_end();
                }
                Event::DocumentEnd | Event::StreamStart | Event::StreamEnd | Event::Nothing => {}
            }
        }
    }

    /// Records a node starting at `pos`; returns the trie node it matches.
    fn node_start(&mut self, pos: Pos, scalar: Option<&str>, root_seen: bool) -> Option<usize> {
        let nodes = &self.locator.nodes;
        match self.frames.last_mut() {
            None => {
                if root_seen {
                    return None;
                }
                self.value_pos[0].get_or_insert(pos);
                Some(0)
            }
            Some(Frame::List { node, index }) => {
                let child = node.and_then(|n| nodes[n].children.get(&Seg::Index(*index)).copied());
                if let Some(child) = child {
                    self.value_pos[child] = Some(pos);
                }
                child
            }
            Some(Frame::Mapping {
                start,
                node,
                entries,
                in_value,
                child,
                query,
            }) => {
                if *in_value {
                    if let Some(child) = *child {
                        self.value_pos[child] = Some(pos);
                    }
                    if let Some(query) = *query {
                        self.query_value[query] = Some(pos);
                    }
                    return *child;
                }
                // A key: find the trie node of this entry, by key text or by index.
                *child = node.and_then(|n| {
                    let children = &nodes[n].children;
                    if children.is_empty() {
                        return None;
                    }
                    let by_key = scalar.and_then(|key| children.get(&Seg::Key(Cow::Owned(key.to_owned()))));
                    by_key.or_else(|| children.get(&Seg::Entry(*entries))).copied()
                });
                if let Some(c) = *child {
                    // The first entry with a key wins, as with serde.
                    self.key_pos[c].get_or_insert(pos);
                }
                *query = None;
                if let Some(key) = scalar {
                    for (i, q) in self.locator.queries.iter().enumerate() {
                        if q.mapping_at == *start && q.key == key {
                            if self.query_seen[i] == q.nth {
                                self.query_key[i] = Some(pos);
                                *query = Some(i);
                            }
                            self.query_seen[i] += 1;
                        }
                    }
                }
                // A complex key (a mapping or list) matches no path.
                None
            }
        }
    }

    /// Moves the enclosing container past the node that just ended.
    fn node_end(&mut self) {
        match self.frames.last_mut() {
            None => {}
            Some(Frame::List { index, .. }) => *index += 1,
            Some(Frame::Mapping {
                entries,
                in_value,
                child,
                query,
                ..
            }) => {
                if *in_value {
                    *entries += 1;
                    *child = None;
                    *query = None;
                }
                *in_value = !*in_value;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "\
version: 1
people:
  alice: \"+12052499136\"
  bob: bob@example.com
  alice: \"+1\"
chats:
  abc:
    name: Sales
    members: [alice, bob]
  def:
    members:
      - alice
      - \"+12055550123\"
";

    #[test]
    fn finds_keys_values_and_list_items() {
        let mut locator = Locator::new();
        let bob = locator.path(&[Seg::key("people"), Seg::Entry(1)], Part::Key);
        let second_alice = locator.path(&[Seg::key("people"), Seg::Entry(2)], Part::Value);
        let def = locator.path(&[Seg::key("chats"), Seg::Entry(1)], Part::Key);
        let abc_bob = locator.path(
            &[Seg::key("chats"), Seg::Entry(0), Seg::key("members"), Seg::Index(1)],
            Part::Value,
        );
        let def_literal = locator.path(
            &[Seg::key("chats"), Seg::Entry(1), Seg::key("members"), Seg::Index(1)],
            Part::Value,
        );
        let members_key = locator.path(&[Seg::key("chats"), Seg::Entry(1), Seg::key("members")], Part::Key);
        let located = locator.resolve(DOC);
        assert_eq!(located.get(bob), Some((4, 3)));
        assert_eq!(located.get(second_alice), Some((5, 10)));
        assert_eq!(located.get(def), Some((10, 3)));
        assert_eq!(located.get(abc_bob), Some((9, 22)));
        assert_eq!(located.get(def_literal), Some((13, 9)));
        assert_eq!(located.get(members_key), Some((11, 5)));
    }

    #[test]
    fn a_missing_place_falls_back_to_its_nearest_ancestor() {
        let mut locator = Locator::new();
        let beyond = locator.path(
            &[Seg::key("chats"), Seg::Entry(0), Seg::key("members"), Seg::Index(7)],
            Part::Value,
        );
        let located = locator.resolve(DOC);
        assert_eq!(located.get(beyond), Some((9, 5)));
    }

    #[test]
    fn finds_the_nth_key_of_a_mapping_at_a_position() {
        let mut locator = Locator::new();
        let second = locator.key_in((3, 3), "alice", 1, Part::Key);
        let value = locator.key_in((1, 1), "version", 0, Part::Value);
        let absent = locator.key_in((1, 1), "nothing", 0, Part::Key);
        let located = locator.resolve(DOC);
        assert_eq!(located.get(second), Some((5, 3)));
        assert_eq!(located.get(value), Some((1, 10)));
        assert_eq!(located.get(absent), Some((1, 1)));
    }

    #[test]
    fn finds_aliases_and_documents() {
        let mut locator = Locator::new();
        let alias = locator.first_alias();
        let second = locator.second_document();
        let located = locator.resolve("a: &x [1]\nb: *x\n---\nc: 1\n");
        assert_eq!(located.get(alias), Some((2, 4)));
        assert_eq!(located.get(second), Some((3, 1)));
    }
}

//! ENI interning: `eni-0abc...` strings become dense `u32` ids.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::record::EniId;

/// Maps interface ids to dense [`EniId`]s and back. Ids are given in first-seen order.
///
/// The interner grows with the number of distinct interfaces in the input; readers cap it (see
/// the reader's `max_enis`) so that hostile input cannot grow it without limit.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Interner {
    names: Vec<String>,
    #[serde(skip)]
    index: HashMap<Box<[u8]>, EniId>,
}

impl Interner {
    /// An empty interner.
    pub fn new() -> Self {
        Self::default()
    }

    /// The id of `name`, interning it if new.
    pub fn intern(&mut self, name: &[u8]) -> EniId {
        if let Some(&id) = self.index.get(name) {
            return id;
        }
        let id = self.names.len() as EniId;
        self.names.push(String::from_utf8_lossy(name).into_owned());
        self.index.insert(name.into(), id);
        id
    }

    /// The id of `name` if it was interned.
    pub fn get(&self, name: &[u8]) -> Option<EniId> {
        self.index.get(name).copied()
    }

    /// The name behind `id`, or `"?"` for an id this interner never gave.
    pub fn name(&self, id: EniId) -> &str {
        self.names.get(id as usize).map_or("?", String::as_str)
    }

    /// Number of interned interfaces.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// True when nothing is interned.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// All names, indexed by id.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Rebuilds the lookup index if it is out of date (a deserialized interner has none); cheap
    /// otherwise. Readers call it before interning into an interner they were given.
    pub fn ensure_index(&mut self) {
        if self.index.len() != self.names.len() {
            self.rebuild_index();
        }
    }

    /// Rebuilds the lookup index after deserialization.
    pub fn rebuild_index(&mut self) {
        self.index = self
            .names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_bytes().into(), i as EniId))
            .collect();
    }
}

//! Indexes of server transactions by keys the transactions hold themselves.
//!
//! A completed transaction stays for up to 64*T1 (Timers J and L): at 1,000
//! calls/s some 64,000 of them. Maps from a key to an id would keep a second
//! copy of each key (100-160 bytes, three indexes); these tables keep only
//! the key's hash and the id, and compare candidates against the key stored
//! in the transaction.

use super::ServerTxId;
use hashbrown::hash_table::{Entry, HashTable};
use hashbrown::DefaultHashBuilder;
use std::hash::{BuildHasher, Hash};

/// The hasher shared by a layer's indexes (seeded per process).
#[derive(Default)]
pub(crate) struct Hasher(DefaultHashBuilder);

impl Hasher {
    pub fn hash<K: Hash>(&self, key: &K) -> u64 {
        self.0.hash_one(key)
    }
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hasher")
    }
}

/// Server transaction ids by the hash of a key; `matches(id)` tells whether
/// transaction `id` holds the key looked for.
#[derive(Debug, Default)]
pub(crate) struct Index {
    table: HashTable<(u64, ServerTxId)>,
}

impl Index {
    /// The transaction whose key has `hash` and for which `matches` holds.
    pub fn get(
        &self,
        hash: u64,
        mut matches: impl FnMut(ServerTxId) -> bool,
    ) -> Option<ServerTxId> {
        self.table
            .find(hash, |&(h, id)| h == hash && matches(id))
            .map(|&(_, id)| id)
    }

    /// Indexes `id` unless a transaction for which `matches` holds already
    /// is (the first one stays).
    pub fn insert_first(
        &mut self,
        hash: u64,
        id: ServerTxId,
        matches: impl FnMut(ServerTxId) -> bool,
    ) {
        self.insert(hash, id, matches, false);
    }

    /// Indexes `id`, replacing a transaction for which `matches` holds.
    pub fn insert_last(
        &mut self,
        hash: u64,
        id: ServerTxId,
        matches: impl FnMut(ServerTxId) -> bool,
    ) {
        self.insert(hash, id, matches, true);
    }

    fn insert(
        &mut self,
        hash: u64,
        id: ServerTxId,
        mut matches: impl FnMut(ServerTxId) -> bool,
        replace: bool,
    ) {
        match self
            .table
            .entry(hash, |&(h, old)| h == hash && matches(old), |&(h, _)| h)
        {
            Entry::Occupied(mut o) if replace => o.get_mut().1 = id,
            Entry::Occupied(_) => {}
            Entry::Vacant(v) => {
                v.insert((hash, id));
            }
        }
    }

    /// Removes `id` from under `hash`, if it is there.
    pub fn remove(&mut self, hash: u64, id: ServerTxId) {
        if let Ok(entry) = self.table.find_entry(hash, |&(h, x)| h == hash && x == id) {
            entry.remove();
        }
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }
}

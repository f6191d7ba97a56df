//! One window's remote addresses: an open-addressing table of 64-bit address keys
//! ([`crate::features::distinct::addr_key`]) whose slots hold what the window needs of a peer
//! (egress bytes, direction and private flags), so that a record touches one slot.
//!
//! # The order the history sees
//!
//! When an ENI's peer history switches from its exact set to its Bloom filter (see
//! `crate::features::history`), the window's peers are inserted one by one, and the history's
//! insert count depends on their order. That order used to be the iteration order of a std
//! `HashMap` (hashbrown) keyed by the same pre-mixed keys, and the table keeps it: it records
//! its keys in first-seen order and the bucket count such a map would have had (a reused
//! accumulator kept its map's buckets), and [`PeerTable::legacy_order`] replays hashbrown's
//! insertion (SSE2 groups of 16 control bytes, triangular probing, growth at 7/8 load) to list
//! the keys in that map's iteration order. Only that rare switch pays for it; a test checks the
//! replay against `std::collections::HashMap`.
//!
//! # Bounds
//!
//! At most `PEER_MAP_CAP` (1,024) peers are tracked by the accumulator: the table stays at most
//! half full, so at most 2,048 slots of 24 bytes (48 KiB) plus 8 KiB of first-seen order.

use serde::{Deserialize, Serialize};

/// [`PeerVal::flags`]: seen on egress.
pub const PEER_OUT: u8 = 1;
/// [`PeerVal::flags`]: seen on ingress.
pub const PEER_IN: u8 = 2;
/// [`PeerVal::flags`]: a private address (`crate::features::accum::is_private`).
pub const PEER_PRIVATE: u8 = 4;

/// What a window keeps per peer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerVal {
    /// Egress bytes to the peer (saturating).
    pub out_bytes: u64,
    /// [`PEER_OUT`], [`PEER_IN`], [`PEER_PRIVATE`].
    pub flags: u8,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Slot {
    /// 0: empty (the key 0 itself lives in [`PeerTable::zero`]).
    key: u64,
    val: PeerVal,
}

/// The peers of one open window (see the module docs).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[repr(C)]
pub struct PeerTable {
    slots: Vec<Slot>,
    len: u32,
    zero: Option<PeerVal>,
    /// Keys in first-seen order.
    order: Vec<u64>,
    /// Buckets the replaced hashbrown map had when this window opened, and has now.
    hb_start: usize,
    hb_now: usize,
}

const INITIAL_SLOTS: usize = 32;
/// Slots a cleared table keeps for reuse (12 KiB); bigger tables are dropped.
pub const KEEP_SLOTS: usize = 512;
/// hashbrown's SSE2 group width.
const GROUP: usize = 16;

#[inline]
fn slot_of(key: u64, mask: usize) -> usize {
    // Keys are mixed already; the high bits are as good as any and unrelated to hashbrown's.
    (key >> 40) as usize & mask
}

/// hashbrown's `bucket_mask_to_capacity`.
fn hb_capacity(buckets: usize) -> usize {
    if buckets < 8 {
        buckets.saturating_sub(1)
    } else {
        buckets / 8 * 7
    }
}

/// hashbrown's `capacity_to_buckets`.
fn hb_buckets_for(cap: usize) -> usize {
    if cap < 4 {
        4
    } else if cap < 8 {
        8
    } else {
        (cap.saturating_mul(8) / 7).next_power_of_two()
    }
}

impl PeerTable {
    /// Peers held.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// True when no peer is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The peer's entry.
    #[inline]
    pub fn get_mut(&mut self, key: u64) -> Option<&mut PeerVal> {
        if key == 0 {
            return self.zero.as_mut();
        }
        let mask = self.slots.len().wrapping_sub(1);
        let mut i = slot_of(key, mask);
        for _ in 0..self.slots.len() {
            let s = self.slots.get(i)?;
            if s.key == key {
                return self.slots.get_mut(i).map(|s| &mut s.val);
            }
            if s.key == 0 {
                return None;
            }
            i = (i + 1) & mask;
        }
        None
    }

    /// The peer's entry, read-only.
    pub fn get(&self, key: u64) -> Option<&PeerVal> {
        if key == 0 {
            return self.zero.as_ref();
        }
        let mask = self.slots.len().wrapping_sub(1);
        let mut i = slot_of(key, mask);
        for _ in 0..self.slots.len() {
            let s = self.slots.get(i)?;
            if s.key == key {
                return Some(&s.val);
            }
            if s.key == 0 {
                return None;
            }
            i = (i + 1) & mask;
        }
        None
    }

    /// Adds a peer known to be absent.
    pub fn insert_new(&mut self, key: u64, val: PeerVal) {
        if self.len as usize == hb_capacity(self.hb_now) {
            self.hb_now = hb_buckets_for(hb_capacity(self.hb_now) + 1);
        }
        self.order.push(key);
        self.len += 1;
        if key == 0 {
            self.zero = Some(val);
            return;
        }
        if (self.len as usize) * 2 > self.slots.len() {
            let n = (self.slots.len() * 2).max(INITIAL_SLOTS);
            let old = std::mem::replace(&mut self.slots, vec![Slot::default(); n]);
            for s in old.into_iter().filter(|s| s.key != 0) {
                self.place(s);
            }
        }
        self.place(Slot { key, val });
    }

    fn place(&mut self, slot: Slot) {
        let mask = self.slots.len().wrapping_sub(1);
        let mut i = slot_of(slot.key, mask);
        for _ in 0..self.slots.len() {
            match self.slots.get_mut(i) {
                Some(s) if s.key == 0 => {
                    *s = slot;
                    return;
                }
                Some(_) => i = (i + 1) & mask,
                None => return,
            }
        }
    }

    /// Every peer, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &PeerVal)> + '_ {
        self.zero.iter().map(|v| (0, v)).chain(
            self.slots
                .iter()
                .filter(|s| s.key != 0)
                .map(|s| (s.key, &s.val)),
        )
    }

    /// The keys in the iteration order of the std `HashMap` this table replaced (see the
    /// module docs).
    pub fn legacy_order(&self) -> Vec<u64> {
        let mut buckets = self.hb_start;
        let mut ctrl: Vec<Option<u64>> = vec![None; buckets];
        for (items, &k) in self.order.iter().enumerate() {
            if items == hb_capacity(buckets) {
                buckets = hb_buckets_for(hb_capacity(buckets) + 1);
                let mut grown = vec![None; buckets];
                for old in ctrl.iter().flatten() {
                    hb_place(&mut grown, *old);
                }
                ctrl = grown;
            }
            hb_place(&mut ctrl, k);
        }
        ctrl.into_iter().flatten().collect()
    }

    /// Buckets the replaced map would hold now (its `capacity()` decides reuse).
    pub fn legacy_capacity(&self) -> usize {
        hb_capacity(self.hb_now)
    }

    /// The replaced map's bucket count now.
    pub fn legacy_buckets(&self) -> usize {
        self.hb_now
    }

    /// Starts an empty table as if the replaced map had `buckets` buckets (a reused map keeps
    /// its buckets); ignored unless the table is empty.
    pub fn set_legacy_buckets(&mut self, buckets: usize) {
        if self.len == 0 {
            self.hb_start = buckets;
            self.hb_now = buckets;
        }
    }

    /// Forgets every peer, keeping the allocations up to [`KEEP_SLOTS`] slots.
    pub fn clear(&mut self) {
        if self.slots.len() > KEEP_SLOTS {
            self.slots = Vec::new();
            self.order = Vec::new();
        } else if self.len > 0 {
            self.slots.fill(Slot::default());
        }
        self.len = 0;
        self.zero = None;
        self.order.clear();
        self.hb_start = self.hb_now;
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot>() + self.order.capacity() * 8
    }
}

/// hashbrown's `find_insert_slot` on a table without deletions: the group of 16 control bytes
/// at the probe position (the control array mirrors its first 16 bytes after the end; tables
/// smaller than a group have empty filler bytes up to 16), the first empty byte, triangular
/// probing by groups; in tables smaller than a group, a hit on filler falls back to the first
/// empty bucket.
fn hb_place(ctrl: &mut [Option<u64>], key: u64) {
    let buckets = ctrl.len();
    if buckets == 0 {
        return;
    }
    let mask = buckets - 1;
    let full = |i: usize| -> bool {
        if i < buckets {
            ctrl.get(i).is_some_and(Option::is_some)
        } else if buckets >= GROUP {
            ctrl.get(i - buckets).is_some_and(Option::is_some)
        } else if i < GROUP {
            false
        } else {
            ctrl.get(i - GROUP).is_some_and(Option::is_some)
        }
    };
    let mut pos = key as usize & mask;
    let mut stride = 0usize;
    for _ in 0..=buckets {
        if let Some(b) = (0..GROUP).find(|&b| !full(pos + b)) {
            let mut index = (pos + b) & mask;
            if full(index) {
                index = (0..GROUP).find(|&b| !full(b)).unwrap_or(0) & mask;
            }
            if let Some(slot) = ctrl.get_mut(index) {
                *slot = Some(key);
            }
            return;
        }
        stride += GROUP;
        pos = (pos + stride) & mask;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::distinct::{mix64, PreMixed};
    use proptest::prelude::*;
    use std::collections::HashMap;

    proptest! {
        #[test]
        fn legacy_order_is_std_hashmap_order(
            windows in proptest::collection::vec(
                (1usize..700, proptest::collection::vec(0u64..3000, 0..700)),
                1..6,
            ),
            spread in 0u64..3,
        ) {
            let mut map: HashMap<u64, (), PreMixed> = HashMap::default();
            let mut t = PeerTable::default();
            for (n, keys) in &windows {
                let mut seen = std::collections::HashSet::new();
                for &k in keys.iter().take(*n) {
                    // Mixed keys as in use; unmixed ones cluster, filling whole groups and
                    // exercising the probe sequence.
                    let key = match spread {
                        0 => mix64(k),
                        1 => k + 1,
                        _ => (k + 1) * 64,
                    };
                    if seen.insert(key) {
                        map.insert(key, ());
                        t.insert_new(key, PeerVal::default());
                    }
                    prop_assert!(t.get(key).is_some());
                }
                prop_assert_eq!(t.len(), map.len());
                prop_assert_eq!(t.legacy_capacity(), map.capacity());
                let std_order: Vec<u64> = map.keys().copied().collect();
                prop_assert_eq!(t.legacy_order(), std_order);
                map.clear();
                t.clear();
            }
        }
    }

    #[test]
    fn zero_key_is_a_peer() {
        let mut t = PeerTable::default();
        assert!(t.get(0).is_none());
        t.insert_new(
            0,
            PeerVal {
                out_bytes: 5,
                flags: PEER_OUT,
            },
        );
        t.insert_new(7, PeerVal::default());
        assert_eq!(t.get(0).map(|v| v.out_bytes), Some(5));
        assert_eq!(t.iter().count(), 2);
        assert_eq!(t.len(), 2);
    }
}

//! One window's remote addresses: an open-addressing table of 64-bit address keys
//! ([`crate::features::distinct::addr_key`]) whose slots hold what the window needs of a peer
//! (egress bytes, direction and private flags), so that a record touches one slot.
//!
//! Nothing computed from the table depends on its slot order: the window's features are
//! counts and sums over its peers, and its new peers reach the ENI's history sorted by key (see
//! `WindowAcc::finish`), so the result does not depend on which emptied table a window reuses
//! nor on the order other ENIs' windows open and close in. A key's home slot grows with the
//! key, so a walk over the slots meets the keys nearly sorted and closing a window sorts them
//! as it walks ([`PeerTable::scan_for_close`], which also counts the flags: a key out of place
//! takes insertion-sort steps, and after a few moves per key the walk gives up and sorts at the
//! end). Closing proper uses [`PeerTable::drain_for_close`], which also empties the table and
//! finds the occupied slots through a bit mask per 64 slots (no mispredicted branch per slot),
//! putting the keys in order after the walk. A table loaded from a checkpoint written with
//! another home-slot function is placed again on load.
//!
//! The table grows once more than three quarters of its slots would be taken (`LOAD_NUM` /
//! `LOAD_DEN`; it was half): closing reads every slot of a cold table, and a window's table is
//! reused from the pool at the size it last grew to, so the fill decides how many lines a close
//! waits for. On the peer benchmark (≈ 32 peers a window) 96 % of closing tables had 128 slots
//! (48 lines) at half; at three quarters they keep 64 (24 lines), and `WindowAcc::add` took
//! fewer instructions (fewer regrowths) despite the longer probes.
//!
//! # Bounds
//!
//! At most `PEER_MAP_CAP` (1,024) peers are tracked by the accumulator: the table stays at most
//! three quarters full, so at most 2,048 slots of 24 bytes (48 KiB).

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
#[serde(from = "RawPeerTable")]
#[repr(C)]
pub struct PeerTable {
    slots: Vec<Slot>,
    len: u32,
    zero: Option<PeerVal>,
}

/// A [`PeerTable`] as stored (in checkpoints): the same fields, its slots checked on load.
#[derive(Deserialize)]
struct RawPeerTable {
    slots: Vec<Slot>,
    len: u32,
    zero: Option<PeerVal>,
}

impl From<RawPeerTable> for PeerTable {
    fn from(r: RawPeerTable) -> Self {
        let t = PeerTable {
            slots: r.slots,
            len: r.len,
            zero: r.zero,
        };
        let n = t.slots.len();
        let placed = (n == 0 || n.is_power_of_two())
            && t.slots
                .iter()
                .enumerate()
                .all(|(i, s)| s.key == 0 || t.find(s.key) == Some(i));
        if placed {
            return t;
        }
        // Written with another home-slot function (an older version): place the keys again.
        let mut fresh = PeerTable {
            slots: vec![Slot::default(); t.slots.len().next_power_of_two().max(INITIAL_SLOTS)],
            len: t.len,
            zero: t.zero,
        };
        for s in t.slots.into_iter().filter(|s| s.key != 0) {
            fresh.place(s);
        }
        fresh
    }
}

const INITIAL_SLOTS: usize = 32;
/// The table grows when more than `LOAD_NUM / LOAD_DEN` of its slots would be taken.
const LOAD_NUM: usize = 3;
/// See [`LOAD_NUM`].
const LOAD_DEN: usize = 4;
/// Slots a cleared table keeps for reuse (12 KiB); bigger tables are dropped.
pub const KEEP_SLOTS: usize = 512;

/// A key's home slot in a table of `len` slots: `key · len / 2^64`, so that home slots ascend
/// with the keys and a walk over the slots meets the keys nearly in order (see
/// [`PeerTable::scan_for_close`]). Keys are mixed already, so their high bits spread evenly.
#[inline]
fn slot_of(key: u64, len: usize) -> usize {
    ((u128::from(key) * len as u128) >> 64) as usize
}

/// One insertion-sort step: moves `k`, the key at `keys[i]`, back past the larger keys before
/// it (shifting them up one), and returns its new place.
#[inline(always)]
fn insert_back(keys: &mut [u64], i: usize, k: u64) -> usize {
    let mut j = i;
    while j > 0 {
        match keys.get(j - 1) {
            Some(&prev) if prev > k => {
                if let Some(slot) = keys.get_mut(j) {
                    *slot = prev;
                }
                j -= 1;
            }
            _ => break,
        }
    }
    if let Some(slot) = keys.get_mut(j) {
        *slot = k;
    }
    j
}

/// A window's peers as closing reads them (see [`PeerTable::scan_for_close`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeerScan {
    /// Peers with [`PEER_OUT`].
    pub out: usize,
    /// Peers with [`PEER_IN`].
    pub inbound: usize,
    /// Peers with [`PEER_PRIVATE`].
    pub private: usize,
    /// The largest [`PeerVal::out_bytes`] (0 without peers).
    pub top_out_bytes: u64,
}

/// One 21-bit field of [`spread`]'s word.
const FIELD: u64 = (1 << 21) - 1;

/// A peer's three flags (`flags & 7` as index) as 1s in three 21-bit fields (bits 0, 21 and
/// 42), so that one addition counts all three. A table holds at most a few thousand peers, far
/// below 2^21.
const SPREAD: [u64; 8] = {
    let mut t = [0u64; 8];
    let mut f = 0;
    while f < 8 {
        t[f] = (f as u64 & 1) | ((f as u64 >> 1) & 1) << 21 | ((f as u64 >> 2) & 1) << 42;
        f += 1;
    }
    t
};

/// The walk behind [`PeerTable::scan_for_close`] and [`PeerTable::drain_for_close`]:
/// `$slots` iterates the table's slots, `$zero` is the key-0 peer, `$n` the peers in all. The
/// keys are
/// written into `$keys` sized to `$n` beforehand, by index (no `push` and its capacity check
/// per key); a key out of order, or beyond `$n` (a table whose count is off), takes
/// [`place_key`]. (Skipping empty slots two at a time, through `chunks_exact`, cost more than
/// it saved.)
macro_rules! scan_slots {
    ($slots:expr, $zero:expr, $n:expr, $keys:expr) => {{
        let keys: &mut Vec<u64> = $keys;
        keys.clear();
        // One allocation at most (the buffer is kept, but a fresh accumulator's would grow
        // key by key, a few hundred instructions a doubling).
        keys.resize($n, 0);
        let mut w = 0usize;
        // Flag counts packed in one word, 21 bits each (out, in, private); see `SPREAD`.
        let mut packed = 0u64;
        let mut top = 0u64;
        let mut last = 0u64;
        let mut budget = $n * 4 + 64;
        let mut in_order = true;
        if let Some(v) = $zero {
            packed += SPREAD[usize::from(v.flags & 7)];
            top = v.out_bytes;
            place_key(keys, &mut w, 0, &mut budget, &mut in_order);
        }
        for slot in $slots {
            let k = slot.key;
            if k != 0 {
                packed += SPREAD[usize::from(slot.val.flags & 7)];
                top = top.max(slot.val.out_bytes);
                match keys.get_mut(w) {
                    Some(d) if k >= last => {
                        *d = k;
                        w += 1;
                        last = k;
                    }
                    _ => {
                        place_key(keys, &mut w, k, &mut budget, &mut in_order);
                        last = last.max(k);
                    }
                }
            }
        }
        keys.truncate(w);
        if !in_order {
            keys.sort_unstable();
        }
        PeerScan {
            out: (packed & FIELD) as usize,
            inbound: ((packed >> 21) & FIELD) as usize,
            private: ((packed >> 42) & FIELD) as usize,
            top_out_bytes: top,
        }
    }};
}

/// Writes `k` at `keys[*w]` (appending when `keys` has no room left), and while `in_order`
/// moves it back to its place among the sorted `keys[..*w]`, charging the moves to `budget`;
/// once the budget is spent, `in_order` turns false and keys stay where written (the caller
/// then sorts at the end). Out of line: the walk rarely needs it.
#[inline(never)]
fn place_key(keys: &mut Vec<u64>, w: &mut usize, k: u64, budget: &mut usize, in_order: &mut bool) {
    let i = *w;
    match keys.get_mut(i) {
        Some(d) => *d = k,
        None => {
            keys.truncate(i);
            keys.push(k);
        }
    }
    *w = i + 1;
    if !*in_order {
        return;
    }
    let j = insert_back(keys, i, k);
    match budget.checked_sub(i - j) {
        Some(b) => *budget = b,
        None => *in_order = false,
    }
}

/// Sorts `keys`, which are nearly sorted and sorted below `from`: insertion-sort steps while
/// they stay few (at most `4n + 64` moves in all, the budget [`PeerTable::scan_for_close`] also
/// uses), then a full sort. Out of line: [`PeerTable::drain_for_close`] calls it only when some
/// key came out of order.
#[inline(never)]
fn sort_nearly_sorted(keys: &mut [u64], from: usize) {
    let mut budget = keys.len() * 4 + 64;
    for i in from.max(1)..keys.len() {
        let (Some(&prev), Some(&k)) = (keys.get(i - 1), keys.get(i)) else {
            break;
        };
        if k >= prev {
            continue;
        }
        let j = insert_back(keys, i, k);
        match budget.checked_sub(i - j) {
            Some(b) => budget = b,
            None => {
                keys.sort_unstable();
                return;
            }
        }
    }
}

/// Keeps a key [`PeerTable::drain_for_close`] has no room for. Out of line: never called
/// while a table's count is right.
#[cold]
#[inline(never)]
fn spill_key(spill: &mut Vec<u64>, k: u64) {
    spill.push(k);
}

/// Asks the CPU to bring the cache line at `p` into its caches: a hint only (no load is made
/// and nothing is dereferenced, so a stale or wrong pointer costs a wasted fetch, never a wrong
/// result). A no-op off x86-64.
#[inline(always)]
pub(crate) fn prefetch_ptr<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `_mm_prefetch` is a hint that never faults nor dereferences its argument (any
    // address is allowed), and SSE is part of the x86-64 baseline.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Prefetches the lines of `s`, at most `max_lines` of them (from the start; see
/// [`prefetch_ptr`]).
#[inline]
pub(crate) fn prefetch_slice<T>(s: &[T], max_lines: usize) {
    let p = s.as_ptr().cast::<u8>();
    let bytes = std::mem::size_of_val(s).min(max_lines * 64);
    for off in (0..bytes).step_by(64) {
        prefetch_ptr(p.wrapping_add(off));
    }
}

/// Puts `slot` in the first empty slot (per `empty`) from `home` on, wrapping around: the insert
/// of an open-addressing table with linear probing (`slots.len()` a power of two, never full).
pub(crate) fn place_linear<T>(slots: &mut [T], home: usize, slot: T, empty: impl Fn(&T) -> bool) {
    let mask = slots.len().wrapping_sub(1);
    let mut i = home & mask;
    for _ in 0..slots.len() {
        match slots.get_mut(i) {
            Some(s) if empty(s) => {
                *s = slot;
                return;
            }
            Some(_) => i = (i + 1) & mask,
            None => return,
        }
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

    /// The slot holding `key` (not 0), by linear probing from its home slot.
    #[inline]
    fn find(&self, key: u64) -> Option<usize> {
        let mask = self.slots.len().wrapping_sub(1);
        let mut i = slot_of(key, self.slots.len());
        for _ in 0..self.slots.len() {
            let s = self.slots.get(i)?;
            if s.key == key {
                return Some(i);
            }
            if s.key == 0 {
                return None;
            }
            i = (i + 1) & mask;
        }
        None
    }

    /// The peer's entry, or where an absent key would go: `Err(Some(slot))`, the empty slot
    /// its probe ended on (what [`Self::insert_vacant`] takes), `Err(None)` when there is none
    /// to give (the key 0, an empty table). One probe serves the lookup and the insert.
    #[inline]
    pub fn get_mut_or_vacant(&mut self, key: u64) -> Result<&mut PeerVal, Option<usize>> {
        if key == 0 {
            return self.zero.as_mut().ok_or(None);
        }
        let mask = self.slots.len().wrapping_sub(1);
        let mut i = slot_of(key, self.slots.len());
        let mut left = self.slots.len();
        let found = loop {
            // All the way round (never: the table is at most three quarters full): no slot to give,
            // and `insert_vacant` probes afresh.
            if left == 0 {
                return Err(None);
            }
            left -= 1;
            match self.slots.get(i) {
                Some(s) if s.key == key => break i,
                Some(s) if s.key == 0 => return Err(Some(i)),
                Some(_) => i = (i + 1) & mask,
                None => return Err(None),
            }
        };
        self.slots.get_mut(found).map(|s| &mut s.val).ok_or(None)
    }

    /// [`Self::insert_new`] of a key [`Self::get_mut_or_vacant`] just found absent, given the
    /// slot it returned (the table unchanged since): the same table as `insert_new`, without
    /// probing again unless the table grows.
    #[inline]
    pub fn insert_vacant(&mut self, vacant: Option<usize>, key: u64, val: PeerVal) {
        let fits = (self.len as usize + 1) * LOAD_DEN <= self.slots.len() * LOAD_NUM;
        match vacant {
            Some(i) if key != 0 && fits => {
                if let Some(s) = self.slots.get_mut(i) {
                    if s.key == 0 {
                        *s = Slot { key, val };
                        self.len += 1;
                        return;
                    }
                }
                self.insert_new(key, val);
            }
            _ => self.insert_new(key, val),
        }
    }

    /// The peer's entry.
    #[inline]
    pub fn get_mut(&mut self, key: u64) -> Option<&mut PeerVal> {
        if key == 0 {
            return self.zero.as_mut();
        }
        let i = self.find(key)?;
        self.slots.get_mut(i).map(|s| &mut s.val)
    }

    /// Prefetches the slot where a lookup of `key` starts (see `prefetch_ptr`): the window
    /// stage calls it a few records ahead, since the slot is a cache miss per record otherwise.
    /// No test for the key 0 (held apart) nor an empty table: the hint then fetches a line
    /// no lookup needs (`slot_of` of an empty table is 0, the dangling start of no
    /// allocation), which costs less than the tests on every call.
    #[inline]
    pub fn prefetch(&self, key: u64) {
        let p = self
            .slots
            .as_ptr()
            .wrapping_add(slot_of(key, self.slots.len()));
        prefetch_ptr(p);
        // A probe often runs on (absent keys: 2.5 slots on average at half full, more
        // when fuller), and two 24-byte slots on may be the next line.
        prefetch_ptr(p.wrapping_add(2));
    }

    /// Prefetches the table's slots (up to `max_lines` cache lines), e.g. before the window
    /// closes and reads them all.
    #[inline]
    pub fn prefetch_all(&self, max_lines: usize) {
        prefetch_slice(&self.slots, max_lines);
    }

    /// The peer's entry, read-only.
    pub fn get(&self, key: u64) -> Option<&PeerVal> {
        if key == 0 {
            return self.zero.as_ref();
        }
        let i = self.find(key)?;
        self.slots.get(i).map(|s| &s.val)
    }

    /// Adds a peer known to be absent.
    pub fn insert_new(&mut self, key: u64, val: PeerVal) {
        self.len += 1;
        if key == 0 {
            self.zero = Some(val);
            return;
        }
        if (self.len as usize) * LOAD_DEN > self.slots.len() * LOAD_NUM {
            let n = (self.slots.len() * 2).max(INITIAL_SLOTS);
            let old = std::mem::replace(&mut self.slots, vec![Slot::default(); n]);
            for s in old.into_iter().filter(|s| s.key != 0) {
                self.place(s);
            }
        }
        self.place(Slot { key, val });
    }

    fn place(&mut self, slot: Slot) {
        let home = slot_of(slot.key, self.slots.len());
        place_linear(&mut self.slots, home, slot, |s| s.key == 0);
    }

    /// Every peer, nearly in key order (see [`PeerTable::scan_for_close`]; the key 0 first).
    pub fn iter(&self) -> impl Iterator<Item = (u64, &PeerVal)> + '_ {
        self.zero.iter().map(|v| (0, v)).chain(
            self.slots
                .iter()
                .filter(|s| s.key != 0)
                .map(|s| (s.key, &s.val)),
        )
    }

    /// What closing a window needs of its peers, in one walk over the slots: appends every key
    /// to `keys` (cleared first) in ascending order, and returns the peers' flag counts and
    /// their largest egress bytes. The same as [`Self::iter`] with the counts summed and the
    /// keys sorted, with no iterator adapters in the loop; the keys are sorted as they come
    /// (a walk meets them nearly in order, see `slot_of`): a key below the last
    /// one is moved back into place, and past a few moves per key the rest are appended and
    /// sorted once at the end.
    pub fn scan_for_close(&self, keys: &mut Vec<u64>) -> PeerScan {
        scan_slots!(
            self.slots.iter(),
            self.zero.as_ref(),
            self.len().min(self.slots.len() + 1),
            keys
        )
    }

    /// [`Self::scan_for_close`] that also empties the table as it goes (as [`Self::clear`]
    /// does, keeping the allocation): only the occupied slots are written, so the clear that
    /// follows a close need not fill every slot.
    ///
    /// Without a branch per slot on whether it is occupied (at a third full, that branch was
    /// mispredicted about once per peer, ~34 times a window): the occupied slots of each run
    /// of 64 are first marked in a bit mask (a few instructions a slot, no branch), and then
    /// visited by the mask's set bits, a loop whose exit is the only unpredictable branch. A
    /// key below one before it is only noted; the keys are put in order after the walk
    /// (`sort_nearly_sorted`, from the first such key), so the loop holds no call.
    pub fn drain_for_close(&mut self, keys: &mut Vec<u64>) -> PeerScan {
        // (The count bounded by the slots: a checkpoint's table may claim more.)
        let n = self.len().min(self.slots.len() + 1);
        let zero = self.zero.take();
        self.len = 0;
        keys.clear();
        keys.resize(n, 0);
        // Keys past `n` (a table whose count is off, from a checkpoint).
        let mut spill = Vec::new();
        let mut w = 0usize;
        let mut packed = 0u64;
        let mut top = 0u64;
        let mut last = 0u64;
        // Where the first key below one before it went (`usize::MAX`: none).
        let mut first_bad = usize::MAX;
        let dst = keys.as_mut_slice();
        if let Some(v) = zero {
            packed += SPREAD[usize::from(v.flags & 7)];
            top = v.out_bytes;
            // The key 0: first in order.
            match dst.first_mut() {
                Some(d) => {
                    *d = 0;
                    w = 1;
                }
                None => spill_key(&mut spill, 0),
            }
        }
        for group in self.slots.chunks_mut(64) {
            for i in occupied(group, |s| s.key != 0) {
                let Some(slot) = group.get_mut(i) else {
                    break;
                };
                let Slot { key: k, val } = *slot;
                *slot = Slot::default();
                packed += SPREAD[usize::from(val.flags & 7)];
                top = top.max(val.out_bytes);
                if (k < last) & (first_bad == usize::MAX) {
                    first_bad = w;
                }
                last = last.max(k);
                match dst.get_mut(w) {
                    Some(d) => {
                        *d = k;
                        w += 1;
                    }
                    None => spill_key(&mut spill, k),
                }
            }
        }
        keys.truncate(w);
        if !spill.is_empty() {
            keys.append(&mut spill);
            keys.sort_unstable();
        } else if first_bad != usize::MAX {
            sort_nearly_sorted(keys, first_bad);
        }
        PeerScan {
            out: (packed & FIELD) as usize,
            inbound: ((packed >> 21) & FIELD) as usize,
            private: ((packed >> 42) & FIELD) as usize,
            top_out_bytes: top,
        }
    }

    /// Forgets every peer, keeping the allocations up to [`KEEP_SLOTS`] slots.
    pub fn clear(&mut self) {
        if self.slots.len() > KEEP_SLOTS {
            self.slots = Vec::new();
        } else if self.len > 0 {
            self.slots.fill(Slot::default());
        }
        self.len = 0;
        self.zero = None;
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot>()
    }
}

/// The places of a group's (at most 64) occupied entries, in order: marked in a bit mask
/// first and then visited by its set bits, so a walk over a table a third to three quarters
/// full has no branch per slot on whether it is occupied (one that mispredicts about once per
/// entry). Used by the closing walks of the peer and port tables.
#[inline(always)]
pub(crate) fn occupied<T>(group: &[T], is_used: impl Fn(&T) -> bool) -> SetBits {
    SetBits(
        group
            .iter()
            .take(64)
            .rev()
            .fold(0u64, |m, s| (m << 1) | u64::from(is_used(s))),
    )
}

/// The set bits of a word, lowest first (see [`occupied`]).
pub(crate) struct SetBits(u64);

impl Iterator for SetBits {
    type Item = usize;
    #[inline(always)]
    fn next(&mut self) -> Option<usize> {
        if self.0 == 0 {
            return None;
        }
        let i = self.0.trailing_zeros() as usize;
        self.0 &= self.0 - 1;
        Some(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_from_another_home_function_is_placed_again() {
        // Slots laid out as a different home function would (keys in reverse slot order).
        let keys: Vec<u64> = (1..=40u64)
            .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
            .collect();
        let mut slots = vec![Slot::default(); 128];
        for (i, &k) in keys.iter().enumerate() {
            slots[127 - i] = Slot {
                key: k,
                val: PeerVal {
                    out_bytes: k % 7,
                    flags: PEER_IN,
                },
            };
        }
        let t = PeerTable::from(RawPeerTable {
            slots,
            len: 40,
            zero: None,
        });
        for &k in &keys {
            assert_eq!(t.get(k).map(|v| v.out_bytes), Some(k % 7));
        }
        assert_eq!(t.iter().count(), 40);
        // A table this version wrote loads unchanged.
        let again = PeerTable::from(RawPeerTable {
            slots: t.slots.clone(),
            len: t.len,
            zero: t.zero,
        });
        assert_eq!(again, t);
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

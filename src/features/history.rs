//! Per-ENI history: which ports and peers an ENI has used before, and which address is its own.
//!
//! This state outlives windows: training builds it, the model carries it, backtests and streams
//! continue it. It is bounded against hostile input (random ports, random peers):
//!
//! | part | exact while | then | worst-case bytes | false positives |
//! |---|---|---|---|---|
//! | ports out, ports in ([`PortHistory`]) | ≤ 512 ports (sorted `u16`s, ≤ 1 KiB) | a 65,536-bit bitmap | 8 KiB each | none (exact always) |
//! | peers ([`PeerHistory`]) | ≤ 2,048 addresses (sorted 64-bit keys, ≤ 16 KiB) | Bloom filter, 2^17 bits, 4 hashes | 16 KiB | see below |
//! | own address ([`AddrLearner`]) | 4 candidate addresses (Misra–Gries), inline | — | 64 B inline (+ 64 B once an IPv6 address is held) | — |
//!
//! So one ENI's history never exceeds about 33 KiB (plus a few dozen bytes of bookkeeping), and
//! a typical ENI (tens of ports, hundreds of peers) holds a few KiB; `heap_bytes` measures it.
//!
//! Bloom false-positive rate (a never-seen peer reported as seen, so `new_peers` undercounts),
//! `(1 - e^(-4n/2^17))^4` for `n` distinct peers inserted: n = 2,048: 0.001 %; 5,000: 0.05 %;
//! 10,000: 0.5 %; 20,000: 4.4 %; 50,000: 38 %. [`PeerHistory::false_positive_rate`] estimates it
//! from the filter's fill. An ENI that talks to tens of thousands of distinct addresses (a NAT
//! gateway, a public web server) saturates the filter: its `new_peers` then means little and
//! models should lean on its other features.

use std::net::{IpAddr, Ipv4Addr};

use serde::{Deserialize, Serialize};

/// Ports kept as a sorted list up to this many, then as an exact bitmap.
pub const PORT_LIST_MAX: usize = 512;
/// Peer keys kept exactly up to this many, then in the Bloom filter.
pub const PEER_EXACT_MAX: usize = 2048;
/// Bloom filter size in bits (a power of two).
pub const BLOOM_BITS: usize = 1 << 17;
/// Bloom filter hash functions.
pub const BLOOM_HASHES: u32 = 4;
/// Candidate slots of the own-address learner.
pub const LEARNER_SLOTS: usize = 4;

/// Ports seen before, exact: a short sorted list, then a bitmap of all 65,536 ports.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PortHistory {
    list: Vec<u16>,
    bitmap: Option<Vec<u64>>,
}

impl PortHistory {
    /// True when `port` was inserted before.
    pub fn contains(&self, port: u16) -> bool {
        match &self.bitmap {
            Some(bits) => bits
                .get(usize::from(port) / 64)
                .is_some_and(|w| w & (1 << (port % 64)) != 0),
            None => self.list.binary_search(&port).is_ok(),
        }
    }

    /// Inserts `port`; returns true when it was not there.
    #[inline]
    pub fn insert(&mut self, port: u16) -> bool {
        // Inline: the window's ports are mostly in the list already (one search, no call).
        if self.bitmap.is_none() {
            match self.list.binary_search(&port) {
                Ok(_) => return false,
                Err(i) => return self.insert_at(i, port),
            }
        }
        self.insert_in_bitmap(port)
    }

    /// [`Self::insert`] of a port absent from the list, at its place `i`.
    #[inline(never)]
    fn insert_at(&mut self, i: usize, port: u16) -> bool {
        self.list.insert(i, port);
        if self.list.len() > PORT_LIST_MAX {
            let mut bits = vec![0u64; 1024];
            for &p in &self.list {
                if let Some(w) = bits.get_mut(usize::from(p) / 64) {
                    *w |= 1 << (p % 64);
                }
            }
            self.list = Vec::new();
            self.bitmap = Some(bits);
        }
        true
    }

    /// [`Self::insert`] once the ports are in the bitmap.
    #[inline(never)]
    fn insert_in_bitmap(&mut self, port: u16) -> bool {
        let Some(bits) = &mut self.bitmap else {
            return false;
        };
        let Some(w) = bits.get_mut(usize::from(port) / 64) else {
            return false;
        };
        let was = *w & (1 << (port % 64)) != 0;
        *w |= 1 << (port % 64);
        !was
    }

    /// Forgets every port, keeping the list's allocation (the bitmap is dropped).
    pub fn clear(&mut self) {
        self.list.clear();
        self.bitmap = None;
    }

    /// The ports held, ascending.
    pub fn ports(&self) -> impl Iterator<Item = u16> + '_ {
        let list = self.list.iter().copied();
        let bits = self.bitmap.iter().flat_map(|words| {
            words.iter().enumerate().flat_map(|(i, &w)| {
                (0..64u16)
                    .filter(move |b| w & (1 << b) != 0)
                    .map(move |b| (i as u16) * 64 + b)
            })
        });
        list.chain(bits)
    }

    /// Number of ports held.
    pub fn len(&self) -> usize {
        match &self.bitmap {
            Some(bits) => bits.iter().map(|w| w.count_ones() as usize).sum(),
            None => self.list.len(),
        }
    }

    /// True when no port is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.list.capacity() * 2 + self.bitmap.as_ref().map_or(0, |b| b.capacity() * 8)
    }
}

/// Peers (remote addresses, by [`crate::features::distinct::addr_key`]) seen before: exact up to
/// [`PEER_EXACT_MAX`], then a fixed-size Bloom filter (see the module table for its error).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PeerHistory {
    exact: Vec<u64>,
    bloom: Option<Vec<u64>>,
    inserted: u64,
}

impl PeerHistory {
    fn bloom_bits(key: u64) -> impl Iterator<Item = usize> {
        // Double hashing (Kirsch–Mitzenmacher): k indexes from two halves of one 64-bit key.
        let h1 = key as u32 as usize;
        let h2 = ((key >> 32) as usize) | 1;
        (0..BLOOM_HASHES as usize)
            .map(move |i| h1.wrapping_add(i.wrapping_mul(h2)) & (BLOOM_BITS - 1))
    }

    /// True when the key was inserted before (or, once the filter is in use, a false positive).
    pub fn contains(&self, key: u64) -> bool {
        match &self.bloom {
            Some(bits) => Self::bloom_bits(key)
                .all(|b| bits.get(b / 64).is_some_and(|w| w & (1 << (b % 64)) != 0)),
            None => self.exact.binary_search(&key).is_ok(),
        }
    }

    /// Keeps only the keys never inserted (`!self.contains(k)`), given sorted keys: one pass
    /// over the exact set instead of a binary search per key (the set is up to 16 KiB, cold
    /// when a window closes), noting in `at`, for each key kept, its place in the exact set
    /// (how many of the set's keys are below it) for [`Self::insert_new_at`], which then need
    /// not search again. `at` is cleared first, and left empty when the set is filtered.
    ///
    /// The set is cold (an ENI's windows close minutes apart), so its lines are prefetched
    /// first, letting their misses overlap instead of paying them one after another: the Bloom
    /// words of every key, or the exact set's lines (all of them when the keys are dense enough
    /// to touch most lines anyway, else those around each key's expected place: keys are
    /// uniformly mixed, so a key's place in `n` sorted keys is about `key * n / 2^64`).
    pub fn retain_unseen_sorted_at(&self, keys: &mut Vec<u64>, at: &mut Vec<u32>) {
        at.clear();
        if let Some(bits) = &self.bloom {
            for &k in keys.iter() {
                for b in Self::bloom_bits(k) {
                    super::peers::prefetch_ptr(bits.as_ptr().wrapping_add(b / 64));
                }
            }
            keys.retain(|&k| !self.contains(k));
            return;
        }
        let ex = self.exact.as_slice();
        const PER_LINE: usize = 64 / std::mem::size_of::<u64>();
        if keys.len() * 4 >= ex.len() / PER_LINE {
            for i in (0..ex.len()).step_by(PER_LINE) {
                super::peers::prefetch_ptr(ex.as_ptr().wrapping_add(i));
            }
        } else {
            for &k in keys.iter() {
                let at = ((u128::from(k) * ex.len() as u128) >> 64) as usize;
                for i in [at.saturating_sub(PER_LINE), at, at + PER_LINE] {
                    if i < ex.len() {
                        super::peers::prefetch_ptr(ex.as_ptr().wrapping_add(i));
                    }
                }
            }
        }
        at.reserve_exact(keys.len());
        // How far apart the keys' places are decides the search: at most a few set keys (a
        // set of tens against tens of keys, the usual case) one key at a time, up to a few
        // cache lines a line at a time, sparser keys by galloping.
        let close = ex.len() <= 4 * keys.len();
        let dense = ex.len() <= 16 * keys.len();
        let mut lo = 0usize;
        let mut kept = 0usize;
        for r in 0..keys.len() {
            let Some(&k) = keys.get(r) else { break };
            lo = if close {
                lower_bound_stepping(ex, lo, k)
            } else if dense {
                lower_bound_by_lines(ex, lo, k)
            } else {
                lower_bound_galloping(ex, lo, k)
            };
            if ex.get(lo) != Some(&k) {
                if let Some(d) = keys.get_mut(kept) {
                    *d = k;
                }
                kept += 1;
                at.push(lo as u32);
            }
        }
        keys.truncate(kept);
    }

    /// Inserts a key.
    pub fn insert(&mut self, key: u64) {
        if let Some(bits) = &mut self.bloom {
            for b in Self::bloom_bits(key) {
                if let Some(w) = bits.get_mut(b / 64) {
                    *w |= 1 << (b % 64);
                }
            }
            self.inserted = self.inserted.saturating_add(1);
            return;
        }
        if let Err(i) = self.exact.binary_search(&key) {
            self.exact.insert(i, key);
            self.inserted = self.inserted.saturating_add(1);
            if self.exact.len() > PEER_EXACT_MAX {
                let keys = std::mem::take(&mut self.exact);
                self.bloom = Some(vec![0u64; BLOOM_BITS / 64]);
                self.inserted = 0;
                for k in keys {
                    self.insert(k);
                }
            }
        }
    }

    /// Inserts ascending keys known to be absent (`!self.contains(k)` for each, no
    /// duplicates) whose places in the exact set are `at` (from
    /// [`Self::retain_unseen_sorted_at`] on this set as it is now), in one merge instead of one
    /// sorted-vector insert each. Returns false, inserting nothing, when the set is filtered,
    /// would switch to the filter, or `at` does not match `keys` (the caller then uses
    /// [`Self::insert`] one by one, which handles the switch).
    pub fn insert_new_at(&mut self, keys: &[u64], at: &[u32]) -> bool {
        if self.bloom.is_some()
            || self.exact.len() + keys.len() > PEER_EXACT_MAX
            || at.len() != keys.len()
        {
            return false;
        }
        if keys.is_empty() {
            return true;
        }
        // Merge from the back in place: the vector grows once, and the old keys above each new
        // key move up in one block (its place known already), not one by one.
        let old = self.exact.len();
        self.exact.resize(old + keys.len(), 0);
        let (mut hi, mut w) = (old, old + keys.len());
        for (&k, &p) in keys.iter().zip(at).rev() {
            // Places ascend with the keys; `min` keeps a wrong one from reaching past `hi`.
            let p = (p as usize).min(hi);
            let run = hi - p;
            w -= run;
            // (Adjacent new keys leave no run between them: no call for nothing.)
            if run > 0 {
                self.exact.copy_within(p..hi, w);
            }
            w -= 1;
            if let Some(d) = self.exact.get_mut(w) {
                *d = k;
            }
            hi = p;
        }
        self.inserted = self.inserted.saturating_add(keys.len() as u64);
        true
    }

    /// True once the Bloom filter is in use (answers may be false positives).
    pub fn is_filtered(&self) -> bool {
        self.bloom.is_some()
    }

    /// Estimated false-positive rate of [`Self::contains`]: 0 while exact, else (fill)^k.
    pub fn false_positive_rate(&self) -> f64 {
        match &self.bloom {
            None => 0.0,
            Some(bits) => {
                let set: u32 = bits.iter().map(|w| w.count_ones()).sum();
                (f64::from(set) / BLOOM_BITS as f64).powi(BLOOM_HASHES as i32)
            }
        }
    }

    /// Keys inserted (exactly counted while exact; insert calls once filtered).
    pub fn inserted(&self) -> u64 {
        self.inserted
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.exact.capacity() * 8 + self.bloom.as_ref().map_or(0, |b| b.capacity() * 8)
    }
}

/// The number of keys of sorted `ex` below `k`, given that the first `lo` are: one key at a
/// time. Cheap when the answer is a key or two past `lo`.
#[inline]
fn lower_bound_stepping(ex: &[u64], mut lo: usize, k: u64) -> usize {
    while ex.get(lo).is_some_and(|&x| x < k) {
        lo += 1;
    }
    lo
}

/// The number of keys of sorted `ex` below `k`, given that the first `lo` are: steps over
/// eight keys (a cache line) at a time while the line's last key is below `k`, then finds the
/// place within the line in three branch-free halvings. Cheap when the answer is a few lines
/// past `lo`.
#[inline]
fn lower_bound_by_lines(ex: &[u64], mut lo: usize, k: u64) -> usize {
    while let Some(line) = ex.get(lo..lo + 8) {
        let Ok(c) = <&[u64; 8]>::try_from(line) else {
            break;
        };
        if c[7] < k {
            lo += 8;
            continue;
        }
        // The place is in 0..=7 (`c[7]` is not below `k`).
        let mut b = usize::from(c[3] < k) * 4;
        b += usize::from(c.get(b + 1).is_some_and(|&x| x < k)) * 2;
        b += usize::from(c.get(b).is_some_and(|&x| x < k));
        return lo + b;
    }
    // Fewer than eight keys left.
    lo + ex
        .get(lo..)
        .map_or(0, |t| t.iter().take_while(|&&x| x < k).count())
}

/// [`lower_bound_by_lines`] by galloping: doubling steps from `lo`, then a binary search in
/// the last step. Cheap when the answer may be far past `lo`.
#[inline]
fn lower_bound_galloping(ex: &[u64], lo: usize, k: u64) -> usize {
    let rest = ex.get(lo..).unwrap_or(&[]);
    let mut bound = 1usize;
    while bound < rest.len() && rest.get(bound - 1).is_some_and(|&x| x < k) {
        bound *= 2;
    }
    let start = bound / 2;
    let end = bound.min(rest.len());
    lo + start
        + rest
            .get(start..end)
            .map_or(0, |r| r.partition_point(|&x| x < k))
}

/// Bit `i` set when `v[i] == a`: the learner's four IPv4 slots compared with one SSE2 compare
/// (every x86_64 CPU has SSE2, and rustc's x86_64 targets enable it).
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline(always)]
fn eq_mask4(v: &[u32; LEARNER_SLOTS], a: u32) -> u8 {
    use std::arch::x86_64::{
        __m128i, _mm_castsi128_ps, _mm_cmpeq_epi32, _mm_loadu_si128, _mm_movemask_ps,
        _mm_set1_epi32,
    };
    const _: () = assert!(
        std::mem::size_of::<[u32; LEARNER_SLOTS]>() == std::mem::size_of::<__m128i>(),
        "eq_mask4 loads the four slots as one vector"
    );
    // SAFETY: `_mm_loadu_si128` reads 16 bytes at `v`, which is 16 bytes long (asserted
    // above) and borrowed for the call; it needs no alignment. The other intrinsics only
    // compute on values. They need SSE and SSE2, which the `cfg` above requires to be enabled
    // for the whole build.
    let m = unsafe {
        let x = _mm_loadu_si128(v.as_ptr().cast::<__m128i>());
        _mm_movemask_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(
            x,
            _mm_set1_epi32(a as i32),
        )))
    };
    m as u8
}

/// [`eq_mask4`] slot by slot: the reference, and what other targets use.
#[cfg(any(test, not(all(target_arch = "x86_64", target_feature = "sse2"))))]
#[inline(always)]
fn eq_mask4_plain(v: &[u32; LEARNER_SLOTS], a: u32) -> u8 {
    let mut m = 0u8;
    for (i, &x) in v.iter().enumerate() {
        m |= u8::from(x == a) << i;
    }
    m
}

#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
#[inline(always)]
fn eq_mask4(v: &[u32; LEARNER_SLOTS], a: u32) -> u8 {
    eq_mask4_plain(v, a)
}

/// Learns an ENI's own address from its records when `flow-direction` is absent: every record
/// has the ENI's address on one side, so that address is the majority element of the stream of
/// (srcaddr, dstaddr) values. Misra–Gries with [`LEARNER_SLOTS`] counters keeps every address
/// whose share exceeds 1/5, so the own address (share ≈ 1/2) is never lost.
///
/// It runs twice per record, so its slots live inline (one cache line: IPv4 addresses as `u32`,
/// IPv6 ones in a side box allocated on the first IPv6 address). The window stage's usual case
/// (two IPv4 addresses, IPv4 slots) has its own path: the four slots compared with one SSE2
/// compare on x86_64 (`eq_mask4`), and a full learner decremented without the address enum
/// (`decrement_v4`); property tests hold it to the plain path. It serializes as the list of
/// (address, count) slots in slot order, the shape model files hold.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(try_from = "LearnerSlots", into = "LearnerSlots")]
pub struct AddrLearner {
    counts: [u64; LEARNER_SLOTS],
    v4: [u32; LEARNER_SLOTS],
    /// Bit `i` set: slot `i` holds an IPv6 address, in `v6[i]`.
    v6_mask: u8,
    len: u8,
    v6: Option<Box<[u128; LEARNER_SLOTS]>>,
}

/// The serialized form of an [`AddrLearner`]: its occupied slots in order.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct LearnerSlots {
    slots: Vec<(IpAddr, u64)>,
}

impl From<AddrLearner> for LearnerSlots {
    fn from(l: AddrLearner) -> Self {
        LearnerSlots {
            slots: l.slots().collect(),
        }
    }
}

impl TryFrom<LearnerSlots> for AddrLearner {
    type Error = String;
    fn try_from(s: LearnerSlots) -> Result<Self, String> {
        if s.slots.len() > LEARNER_SLOTS {
            return Err(format!(
                "own-address learner: {} slots, at most {LEARNER_SLOTS}",
                s.slots.len()
            ));
        }
        let mut l = AddrLearner::default();
        for (addr, count) in s.slots {
            l.push(addr, count);
        }
        Ok(l)
    }
}

impl PartialEq for AddrLearner {
    fn eq(&self, other: &Self) -> bool {
        self.slots().eq(other.slots())
    }
}

impl AddrLearner {
    /// The occupied slots, in order.
    fn slots(&self) -> impl Iterator<Item = (IpAddr, u64)> + '_ {
        (0..usize::from(self.len)).map(move |i| (self.addr_at(i), self.counts[i % LEARNER_SLOTS]))
    }

    fn addr_at(&self, i: usize) -> IpAddr {
        let i = i % LEARNER_SLOTS;
        if self.v6_mask & (1 << i) != 0 {
            let v = self.v6.as_ref().map_or(0, |b| b[i]);
            IpAddr::V6(v.into())
        } else {
            IpAddr::V4(self.v4[i].into())
        }
    }

    /// The slot holding `addr`.
    #[inline]
    fn find(&self, addr: &IpAddr) -> Option<usize> {
        let n = usize::from(self.len).min(LEARNER_SLOTS);
        match addr {
            IpAddr::V4(a) => {
                // All four slots compared at once, branch-free; unused slots masked off.
                let a = u32::from(*a);
                let mut m = 0u8;
                for (i, &x) in self.v4.iter().enumerate() {
                    m |= u8::from(x == a) << i;
                }
                m &= !self.v6_mask & ((1u16 << n) - 1) as u8;
                (m != 0).then(|| m.trailing_zeros() as usize)
            }
            IpAddr::V6(a) => {
                let a = u128::from(*a);
                let v6 = self.v6.as_deref()?;
                (0..n).find(|&i| self.v6_mask & (1 << i) != 0 && v6[i] == a)
            }
        }
    }

    /// Appends a slot (the caller checked there is room).
    #[inline]
    fn push(&mut self, addr: IpAddr, count: u64) {
        let i = usize::from(self.len);
        if i >= LEARNER_SLOTS {
            return;
        }
        self.set(i, addr, count);
        self.len += 1;
    }

    #[inline]
    fn set(&mut self, i: usize, addr: IpAddr, count: u64) {
        let i = i % LEARNER_SLOTS;
        self.counts[i] = count;
        match addr {
            IpAddr::V4(a) => {
                self.v4[i] = u32::from(a);
                self.v6_mask &= !(1 << i);
            }
            IpAddr::V6(a) => {
                self.v4[i] = 0;
                self.v6_mask |= 1 << i;
                self.v6.get_or_insert_with(|| Box::new([0; LEARNER_SLOTS]))[i] = u128::from(a);
            }
        }
    }

    /// Counts one address.
    #[inline]
    pub fn observe(&mut self, addr: IpAddr) {
        self.observe_ref(&addr);
    }

    /// [`Self::observe`] by reference: the window stage passes the address where the record
    /// holds it (copying the 17-byte enum out first cost a store-forwarding stall per record).
    #[inline]
    pub fn observe_ref(&mut self, addr: &IpAddr) {
        if let Some(i) = self.find(addr) {
            let c = &mut self.counts[i % LEARNER_SLOTS];
            *c = c.saturating_add(1);
        } else {
            self.observe_absent(addr);
        }
    }

    /// Counts one record's two addresses and returns their counts after, exactly
    /// `observe_ref(src); observe_ref(dst); (count_ref(src), count_ref(dst))` but with two
    /// slot lookups instead of four (the window stage does this for every record without
    /// `flow-direction`).
    #[inline]
    pub fn observe_pair(&mut self, src: &IpAddr, dst: &IpAddr) -> (u64, u64) {
        match self.try_observe_pair_v4(src, dst) {
            Some(counts) => counts,
            None => self.observe_pair_any(src, dst),
        }
    }

    /// [`Self::observe_pair`] when both addresses are IPv4 and so is every slot (the usual
    /// case, see `observe_pair_v4`); `None`, having changed nothing, otherwise.
    #[inline]
    pub fn try_observe_pair_v4(&mut self, src: &IpAddr, dst: &IpAddr) -> Option<(u64, u64)> {
        match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => self.try_observe_pair_ipv4(*s, *d),
            _ => None,
        }
    }

    /// [`Self::try_observe_pair_v4`] of two IPv4 addresses (the window stage matches the
    /// record's address variants itself): `None`, having changed nothing, when a slot holds
    /// an IPv6 address.
    #[inline]
    pub fn try_observe_pair_ipv4(&mut self, src: Ipv4Addr, dst: Ipv4Addr) -> Option<(u64, u64)> {
        (self.v6_mask == 0).then(|| self.observe_pair_v4(u32::from(src), u32::from(dst)))
    }

    /// [`Self::observe_pair`] of two IPv4 addresses `s`, `d` when every slot holds an IPv4
    /// address (the usual case): both addresses' slots found in
    /// one pass over the four slots, without the address enum. Same slots, counts and result
    /// as [`Self::observe_pair_any`] (a proptest checks it).
    #[inline]
    fn observe_pair_v4(&mut self, s: u32, d: u32) -> (u64, u64) {
        // The occupied slots' bits (`len` is at most `LEARNER_SLOTS`, 4: every write checks).
        const HELD: [u8; 8] = [0, 1, 3, 7, 15, 15, 15, 15];
        const _: () = assert!(LEARNER_SLOTS == 4, "HELD is written for four slots");
        let held = |l: &Self| HELD[usize::from(l.len) & 7];
        let valid = held(self);
        let mask = |l: &Self, a: u32| eq_mask4(&l.v4, a) & valid;
        // Slots keep their order and the own address never leaves, so slot 0 nearly always
        // holds it, and it is one end of nearly every record: when slot 0 holds `s` (or `d`),
        // that end's lowest slot is 0 and only the other end needs the four-slot compare.
        // Only the lowest set bit of each mask is read below.
        let first = self.v4[0];
        let (ms, mut md) = if valid & 1 != 0 && (first == s || first == d) {
            let s_first = first == s;
            let m = mask(self, if s_first { d } else { s });
            if s_first {
                (1, m)
            } else {
                (m, 1)
            }
        } else {
            (mask(self, s), mask(self, d))
        };
        let i = if ms != 0 {
            let i = ms.trailing_zeros() as usize % LEARNER_SLOTS;
            self.counts[i] = self.counts[i].saturating_add(1);
            Some(i)
        } else if usize::from(self.len) < LEARNER_SLOTS {
            let i = usize::from(self.len) % LEARNER_SLOTS;
            self.counts[i] = 1;
            self.v4[i] = s;
            self.len += 1;
            // `d` equal to `s` is held now, in the new slot.
            md |= u8::from(d == s) << i;
            Some(i)
        } else {
            // Every count dropped by one; `s` is not kept and slots may have moved: look `d`
            // up again (the slots are still all IPv4).
            self.decrement_v4();
            md = eq_mask4(&self.v4, d) & held(self);
            None
        };
        let j = (md != 0).then(|| md.trailing_zeros() as usize);
        self.observe_dst(
            i,
            j,
            s == d,
            |l| {
                let j = usize::from(l.len) % LEARNER_SLOTS;
                l.counts[j] = 1;
                l.v4[j] = d;
                l.len += 1;
            },
            // Four IPv4 slots: `d` is absent, the slots are full (checked there).
            Self::decrement_v4,
        )
    }

    /// [`Self::observe_pair`] for any addresses and slots (the plain path). Not inlined: it
    /// would make the callers' frames larger for a path that is rare (IPv6).
    #[inline(never)]
    fn observe_pair_any(&mut self, src: &IpAddr, dst: &IpAddr) -> (u64, u64) {
        let i = match self.find(src) {
            Some(i) => {
                let c = &mut self.counts[i % LEARNER_SLOTS];
                *c = c.saturating_add(1);
                Some(i)
            }
            None if usize::from(self.len) < LEARNER_SLOTS => {
                let i = usize::from(self.len);
                self.push(*src, 1);
                Some(i)
            }
            None => {
                // Every count dropped by one; `src` is not kept (slots may have moved).
                self.observe_absent(src);
                None
            }
        };
        let j = self.find(dst);
        self.observe_dst(
            i,
            j,
            src == dst,
            |l| l.push(*dst, 1),
            |l| l.observe_absent(dst),
        )
    }

    /// The second half of [`Self::observe_pair`], shared by its two paths: counts `dst` (held
    /// in slot `j`, or not) once `src` was counted (in slot `i`, or not kept), and returns both
    /// counts; `push_dst` appends `dst` in a new slot when there is room, `absent_dst` is
    /// [`Self::observe_absent`] of `dst` when there is none. `same`: `src == dst`.
    #[inline(always)]
    fn observe_dst(
        &mut self,
        i: Option<usize>,
        j: Option<usize>,
        same: bool,
        push_dst: impl FnOnce(&mut Self),
        absent_dst: impl FnOnce(&mut Self),
    ) -> (u64, u64) {
        let count_src = |l: &Self| i.map_or(0, |i| l.counts[i % LEARNER_SLOTS]);
        if let Some(j) = j {
            // Counts only grow here: no slot moves.
            let j = j % LEARNER_SLOTS;
            self.counts[j] = self.counts[j].saturating_add(1);
            (count_src(self), self.counts[j])
        } else if usize::from(self.len) < LEARNER_SLOTS {
            push_dst(self);
            // `src` not kept but equal to `dst`: it is back, with `dst`'s count.
            let cs = if i.is_none() && same {
                1
            } else {
                count_src(self)
            };
            (cs, 1)
        } else {
            // Every count drops by one (a slot reaching zero leaves): `src`'s count is its
            // count less one, `dst` is not kept.
            let src_after = i.map_or(0, |i| self.counts[i % LEARNER_SLOTS].wrapping_sub(1));
            absent_dst(self);
            (src_after, 0)
        }
    }

    /// [`Self::observe`] for an address known not to be held.
    fn observe_absent(&mut self, addr: &IpAddr) {
        if usize::from(self.len) < LEARNER_SLOTS || self.v6_mask != 0 {
            self.observe_absent_other(addr);
        } else {
            self.decrement_v4();
        }
    }

    /// [`Self::observe_absent`] when the four slots are held, all by IPv4 addresses (the
    /// usual case, which needs no address): every count drops by one, slots reaching zero
    /// leave and the others keep their order. Small enough to need no saved registers.
    #[inline(never)]
    fn decrement_v4(&mut self) {
        debug_assert!(usize::from(self.len) == LEARNER_SLOTS && self.v6_mask == 0);
        {
            // IPv4 slots only (the usual case): the loop below without its address enum.
            if self.counts[0] > 1 && self.counts[1..] == [1; LEARNER_SLOTS - 1] {
                // The usual state of an ENI with many one-off peers: its own address, then
                // three remotes seen once, which all leave (the loop's result, directly).
                self.counts = [self.counts[0] - 1, 0, 0, 0];
                self.v4 = [self.v4[0], 0, 0, 0];
                self.len = 1;
                self.v6 = None;
                return;
            }
            let mut w = 0usize;
            for r in 0..LEARNER_SLOTS {
                let c = self.counts[r].wrapping_sub(1);
                if c > 0 {
                    self.counts[w % LEARNER_SLOTS] = c;
                    self.v4[w % LEARNER_SLOTS] = self.v4[r];
                    w += 1;
                }
            }
            for i in w..LEARNER_SLOTS {
                self.counts[i] = 0;
                self.v4[i] = 0;
            }
            self.len = w as u8;
            self.v6 = None;
        }
    }

    /// [`Self::observe_absent`] when a slot is free or holds an IPv6 address.
    #[inline(never)]
    fn observe_absent_other(&mut self, addr: &IpAddr) {
        if usize::from(self.len) < LEARNER_SLOTS {
            self.push(*addr, 1);
        } else {
            // Every count drops by one; slots reaching zero leave, the others keep their order.
            // (Counts read from a file may be 0: they wrap, as the list form always did.)
            let mut w = 0usize;
            for r in 0..usize::from(self.len).min(LEARNER_SLOTS) {
                let c = self.counts[r].wrapping_sub(1);
                if c > 0 {
                    let a = self.addr_at(r);
                    self.set(w, a, c);
                    w += 1;
                }
            }
            for i in w..LEARNER_SLOTS {
                self.counts[i] = 0;
                self.v4[i] = 0;
                self.v6_mask &= !(1 << i);
            }
            self.len = w as u8;
            if self.v6_mask == 0 {
                self.v6 = None;
            }
        }
    }

    /// The IPv4 address in the first slot, if any. Slots keep their order and the own
    /// address never leaves, so once the first decrement has removed the early remote
    /// addresses this is nearly always the ENI's own address: the window stage uses it to
    /// guess a record's direction for prefetching (a hint only; decisions use the counts).
    #[inline]
    pub fn first_v4(&self) -> Option<u32> {
        (self.len > 0 && self.v6_mask & 1 == 0).then_some(self.v4[0])
    }

    /// The (under-)count of `addr`.
    #[inline]
    pub fn count(&self, addr: IpAddr) -> u64 {
        self.count_ref(&addr)
    }

    /// [`Self::count`] by reference (see [`Self::observe_ref`]).
    #[inline]
    pub fn count_ref(&self, addr: &IpAddr) -> u64 {
        self.find(addr)
            .map_or(0, |i| self.counts[i % LEARNER_SLOTS])
    }

    /// The address with the highest count, if any (ties: the lower address).
    pub fn leader(&self) -> Option<IpAddr> {
        self.slots()
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
            .map(|s| s.0)
    }

    /// Heap bytes held (the IPv6 side box, when any slot holds an IPv6 address).
    pub fn heap_bytes(&self) -> usize {
        self.v6
            .as_ref()
            .map_or(0, |_| std::mem::size_of::<[u128; LEARNER_SLOTS]>())
    }
}

/// Everything one ENI carries from window to window (and from training into scoring).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EniHistory {
    /// Remote ports used on egress.
    pub ports_out: PortHistory,
    /// Local ports that received ingress.
    pub ports_in: PortHistory,
    /// Remote addresses, both directions.
    pub peers: PeerHistory,
    /// The ENI's own address, for records without `flow-direction`.
    pub own_addr: AddrLearner,
    /// Windows closed into this history.
    pub windows: u64,
}

impl EniHistory {
    /// Prefetches what closing a window reads of the history (the exact peer set and the port
    /// lists; not the Bloom filter or bitmaps, where only a few words are read), up to
    /// `max_lines` cache lines each. A hint: it changes no state.
    #[inline]
    pub fn prefetch_for_close(&self, max_lines: usize) {
        use super::peers::prefetch_slice;
        if self.peers.bloom.is_none() {
            prefetch_slice(&self.peers.exact, max_lines);
        }
        for ports in [&self.ports_out, &self.ports_in] {
            if ports.bitmap.is_none() {
                prefetch_slice(&ports.list, max_lines);
            }
        }
    }

    /// Heap bytes held (the "bytes per ENI" the docs state), excluding the struct itself.
    pub fn heap_bytes(&self) -> usize {
        self.ports_out.heap_bytes()
            + self.ports_in.heap_bytes()
            + self.peers.heap_bytes()
            + self.own_addr.heap_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::distinct::mix64;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn port_history_is_exact(ports in proptest::collection::vec(any::<u16>(), 0..2000)) {
            let mut h = PortHistory::default();
            let mut truth = std::collections::BTreeSet::new();
            for &p in &ports {
                prop_assert_eq!(h.insert(p), truth.insert(p));
            }
            prop_assert_eq!(h.len(), truth.len());
            for p in (0..=u16::MAX).step_by(97) {
                prop_assert_eq!(h.contains(p), truth.contains(&p));
            }
        }
    }

    proptest! {
        #[test]
        fn batch_insert_equals_one_by_one(
            first in proptest::collection::vec(0u64..5_000, 0..1500),
            second in proptest::collection::vec(0u64..5_000, 0..1500),
        ) {
            let mut a = PeerHistory::default();
            let mut b = PeerHistory::default();
            for &k in &first {
                a.insert(mix64(k));
                b.insert(mix64(k));
            }
            let mut fresh: Vec<u64> = second.iter().map(|&k| mix64(k)).collect();
            fresh.sort_unstable();
            fresh.dedup();
            fresh.retain(|&k| !b.contains(k));
            for &k in &fresh {
                a.insert(k);
            }
            let at: Vec<u32> = fresh
                .iter()
                .map(|&k| b.exact.partition_point(|&x| x < k) as u32)
                .collect();
            let merged = b.insert_new_at(&fresh, &at);
            if !merged {
                prop_assert!(b.is_filtered() || b.exact.len() + fresh.len() > PEER_EXACT_MAX);
                for &k in &fresh {
                    b.insert(k);
                }
            }
            prop_assert_eq!(&a.exact, &b.exact);
            prop_assert_eq!(a.inserted, b.inserted);
            prop_assert_eq!(a.is_filtered(), b.is_filtered());
        }
    }

    proptest! {
        #[test]
        fn retain_unseen_equals_contains(
            held in proptest::collection::vec(0u64..4_000, 0..2500),
            asked in proptest::collection::vec(0u64..4_000, 0..300),
        ) {
            let mut h = PeerHistory::default();
            for &k in &held {
                h.insert(mix64(k));
            }
            let mut keys: Vec<u64> = asked.iter().map(|&k| mix64(k)).collect();
            keys.sort_unstable();
            keys.dedup();
            let want: Vec<u64> = keys.iter().copied().filter(|&k| !h.contains(k)).collect();
            h.retain_unseen_sorted_at(&mut keys, &mut Vec::new());
            prop_assert_eq!(keys, want);
        }

        /// Both place searches against `partition_point`, from any start at or below the
        /// answer.
        #[test]
        fn lower_bounds_equal_partition_point(
            set in proptest::collection::vec(0u64..500, 0..100),
            k in 0u64..520,
            from in 0usize..100,
        ) {
            let mut set = set;
            set.sort_unstable();
            set.dedup();
            let want = set.partition_point(|&x| x < k);
            let lo = from.min(want);
            prop_assert_eq!(lower_bound_stepping(&set, lo, k), want);
            prop_assert_eq!(lower_bound_by_lines(&set, lo, k), want);
            prop_assert_eq!(lower_bound_galloping(&set, lo, k), want);
        }

        /// The window's path: the check noting places, then the merge at those places,
        /// against `contains` and one-by-one inserts (exact, at the switch, and filtered).
        #[test]
        fn retain_at_then_insert_at_equals_one_by_one(
            held in proptest::collection::vec(0u64..4_000, 0..2500),
            asked in proptest::collection::vec(0u64..4_000, 0..300),
        ) {
            let mut plain = PeerHistory::default();
            for &k in &held {
                plain.insert(mix64(k));
            }
            let mut fast = plain.clone();
            let mut keys: Vec<u64> = asked.iter().map(|&k| mix64(k)).collect();
            keys.sort_unstable();
            keys.dedup();
            let want: Vec<u64> = keys.iter().copied().filter(|&k| !plain.contains(k)).collect();
            for &k in &want {
                plain.insert(k);
            }
            let mut at = vec![7u32; 3];
            fast.retain_unseen_sorted_at(&mut keys, &mut at);
            prop_assert_eq!(&keys, &want);
            if !fast.insert_new_at(&keys, &at) {
                prop_assert!(fast.is_filtered() || fast.exact.len() + keys.len() > PEER_EXACT_MAX);
                for &k in &keys {
                    fast.insert(k);
                }
            }
            prop_assert_eq!(&fast, &plain);
        }
    }

    #[test]
    fn peer_history_has_no_false_negatives_and_bounded_fpr() {
        let mut h = PeerHistory::default();
        for i in 0..10_000u64 {
            h.insert(mix64(i));
        }
        assert!(h.is_filtered());
        assert!((0..10_000u64).all(|i| h.contains(mix64(i))));
        let fp = (10_000..110_000u64)
            .filter(|&i| h.contains(mix64(i)))
            .count();
        let rate = fp as f64 / 100_000.0;
        // Theory: 0.5 % at 10,000 keys; allow sampling noise.
        assert!(rate < 0.01, "false-positive rate {rate}");
        assert!((h.false_positive_rate() - rate).abs() < 0.005);
        assert!(h.heap_bytes() <= BLOOM_BITS / 8 + 64);
    }

    #[test]
    fn peer_history_is_exact_below_the_switch() {
        let mut h = PeerHistory::default();
        for i in 0..PEER_EXACT_MAX as u64 {
            h.insert(mix64(i));
        }
        assert!(!h.is_filtered());
        assert!(
            (PEER_EXACT_MAX as u64..PEER_EXACT_MAX as u64 + 50_000).all(|i| !h.contains(mix64(i)))
        );
    }

    proptest! {
        #[test]
        fn learner_is_misra_gries_over_a_list(
            stream in proptest::collection::vec((0u8..10, any::<bool>()), 0..400),
        ) {
            // The list form the learner replaced: slots in order, decrement-all on a miss.
            let mut want: Vec<(IpAddr, u64)> = Vec::new();
            let mut l = AddrLearner::default();
            for (i, v6) in stream {
                let a = if v6 && i % 3 == 0 {
                    IpAddr::from(std::net::Ipv6Addr::from(u128::from(i) + 1))
                } else {
                    IpAddr::from(std::net::Ipv4Addr::from(u32::from(i)))
                };
                l.observe(a);
                if let Some(s) = want.iter_mut().find(|s| s.0 == a) {
                    s.1 = s.1.saturating_add(1);
                } else if want.len() < LEARNER_SLOTS {
                    want.push((a, 1));
                } else {
                    want = want
                        .into_iter()
                        .filter_map(|(x, c)| (c > 1).then_some((x, c - 1)))
                        .collect();
                }
                prop_assert_eq!(l.slots().collect::<Vec<_>>(), want.clone());
                prop_assert_eq!(l.v6.is_some(), l.v6_mask != 0);
                for j in 0u8..10 {
                    for b in [
                        IpAddr::from(std::net::Ipv4Addr::from(u32::from(j))),
                        IpAddr::from(std::net::Ipv6Addr::from(u128::from(j) + 1)),
                    ] {
                        let c = want.iter().find(|s| s.0 == b).map_or(0, |s| s.1);
                        prop_assert_eq!(l.count(b), c);
                    }
                }
            }
        }
    }

    proptest! {
        /// `observe_pair` is two observations then two counts, from any state (counts read
        /// from a file may be zero), for IPv4 and IPv6, equal or different addresses.
        #[test]
        fn learner_observe_pair_equals_two_observes_and_two_counts(
            start in proptest::collection::vec((0u8..8, 0u64..3), 0..=LEARNER_SLOTS),
            stream in proptest::collection::vec((0u8..8, 0u8..8, any::<bool>()), 0..300),
        ) {
            let addr = |i: u8, v6: bool| {
                if v6 && i.is_multiple_of(2) {
                    IpAddr::from(std::net::Ipv6Addr::from(u128::from(i) + 1))
                } else {
                    IpAddr::from(std::net::Ipv4Addr::from(u32::from(i)))
                }
            };
            let mut slots: Vec<(IpAddr, u64)> = Vec::new();
            for (i, c) in start {
                let a = addr(i, i % 3 == 0);
                if !slots.iter().any(|s| s.0 == a) {
                    slots.push((a, c));
                }
            }
            let mut one = AddrLearner::try_from(LearnerSlots { slots }).expect("valid slots");
            let mut two = one.clone();
            for (x, y, v6) in stream {
                let (src, dst) = (addr(x, v6), addr(y, !v6));
                let got = one.observe_pair(&src, &dst);
                two.observe_ref(&src);
                two.observe_ref(&dst);
                prop_assert_eq!(got, (two.count_ref(&src), two.count_ref(&dst)));
                prop_assert_eq!(one.slots().collect::<Vec<_>>(), two.slots().collect::<Vec<_>>());
            }
        }
    }

    proptest! {
        /// The SSE2 slot compare against the slot-by-slot one, with repeated and edge values.
        #[test]
        fn learner_eq_mask4_equals_plain(
            v in proptest::array::uniform4(prop_oneof![0u32..4, Just(u32::MAX), Just(1u32 << 31), any::<u32>()]),
            a in prop_oneof![0u32..4, Just(u32::MAX), Just(1u32 << 31), any::<u32>()],
        ) {
            prop_assert_eq!(eq_mask4(&v, a), eq_mask4_plain(&v, a));
        }

        /// The IPv4 fast path of `observe_pair` (every slot IPv4) against the plain path, from
        /// any IPv4 state (counts read from a file may be zero), equal or different addresses.
        #[test]
        fn learner_observe_pair_v4_equals_plain(
            start in proptest::collection::vec((0u32..6, 0u64..3), 0..=LEARNER_SLOTS),
            stream in proptest::collection::vec((0u32..6, 0u32..6), 0..300),
        ) {
            let addr = |i: u32| IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            let mut slots: Vec<(IpAddr, u64)> = Vec::new();
            for (i, c) in start {
                if !slots.iter().any(|s| s.0 == addr(i)) {
                    slots.push((addr(i), c));
                }
            }
            let mut fast = AddrLearner::try_from(LearnerSlots { slots }).expect("valid slots");
            let mut plain = fast.clone();
            for (x, y) in stream {
                let (src, dst) = (addr(x), addr(y));
                prop_assert_eq!(fast.v6_mask, 0);
                let got = fast.observe_pair(&src, &dst);
                let want = plain.observe_pair_any(&src, &dst);
                prop_assert_eq!(got, want);
                prop_assert_eq!(fast.slots().collect::<Vec<_>>(), plain.slots().collect::<Vec<_>>());
                prop_assert_eq!((fast.v4, fast.counts, fast.len), (plain.v4, plain.counts, plain.len));
                prop_assert_eq!(fast.v6.is_some(), plain.v6.is_some());
            }
        }
    }

    #[test]
    fn learner_keeps_the_address_present_in_every_record() {
        let own: IpAddr = "10.0.0.5".parse().unwrap();
        let mut l = AddrLearner::default();
        for i in 0..1000u32 {
            let peer = IpAddr::from(std::net::Ipv4Addr::from(0x0a01_0000 + i));
            if i % 2 == 0 {
                l.observe(own);
                l.observe(peer);
            } else {
                l.observe(peer);
                l.observe(own);
            }
        }
        assert_eq!(l.leader(), Some(own));
        assert!(l.count(own) > 500);
    }
}

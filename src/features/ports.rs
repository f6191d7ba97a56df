//! One window's ports: the exact set of (port, direction) pairs seen, and which of them have a
//! counter row, in one structure so that a record touches one cache line for both.
//!
//! A record's port is looked up once per record, for every open window of every ENI, so this is
//! an open-addressing table of 8-byte slots (key and record count) instead of a sorted port list
//! plus a hash map of rows. Rows go to the first [`PORT_STATS_CAP`] (port, direction) pairs a
//! window sees plus every [`WATCHED_PORTS`] one (the rule the evidence documents); ports without
//! a row are only members of the set.
//!
//! # Bounds
//!
//! The table holds every distinct pair up to [`TABLE_MAX`] (≤ 1,024 slots, 8 KiB); beyond that
//! the set moves to two 65,536-bit bitmaps (16 KiB) and the table keeps only the rows (at most
//! `PORT_STATS_CAP + 2 * WATCHED_PORTS.len()` = 288). So at most 24 KiB per window, however
//! many ports its records use.

use serde::{Deserialize, Serialize};

use super::evidence::WATCHED_PORTS;
use super::peers::occupied;

/// (port, direction) rows per window, besides the watched ports.
pub const PORT_STATS_CAP: usize = 256;
/// Distinct (port, direction) pairs kept in the table before the set moves to bitmaps.
pub const TABLE_MAX: usize = 512;

/// Slot key bits: port in bits 0..16, direction in bit 16, then these flags, then the row index.
const DIR_BIT: u32 = 1 << 16;
const OCCUPIED: u32 = 1 << 17;
const ROW: u32 = 1 << 18;
const ROW_SHIFT: u32 = 19;
const INITIAL_SLOTS: usize = 16;
const BITMAP_WORDS: usize = 1024;

/// What [`WindowPorts::add`] found for a record's port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortHit {
    /// The pair has a row (its record count was incremented): the row's index, in creation
    /// order.
    Row(usize),
    /// The pair is in the set without a row.
    Untracked,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Slot {
    key: u32,
    flows: u32,
}

/// A row as listed at close.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortRowRef {
    /// The port.
    pub port: u16,
    /// 0 egress, 1 ingress.
    pub dir: usize,
    /// Records (saturating).
    pub flows: u32,
    /// The row's index, in creation order.
    pub row: usize,
}

/// The ports of one open window (see the module docs).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[repr(C)]
pub struct WindowPorts {
    slots: Vec<Slot>,
    /// Occupied slots.
    used: u32,
    /// Rows given so far.
    rows: u32,
    /// Distinct ports per direction (egress, ingress).
    distinct: [u32; 2],
    /// Once more than [`TABLE_MAX`] pairs: membership, egress words then ingress words. The
    /// table then holds the rows only.
    bitmap: Option<Vec<u64>>,
}

fn slot_of(key: u32, mask: usize) -> usize {
    // Fibonacci hashing of (port, direction): ports cluster (1024, 1025, ...), the product
    // spreads them; the high bits are the best mixed.
    ((key & 0x1_ffff).wrapping_mul(0x9e37_79b1) >> 16) as usize & mask
}

fn is_watched(port: u16) -> bool {
    WATCHED_PORTS.contains(&port)
}

impl WindowPorts {
    /// Prefetches the slot where [`Self::add`]`(port, d)` starts (a hint, see
    /// `crate::features::peers::prefetch_ptr`).
    #[inline]
    pub fn prefetch(&self, port: u16, d: usize) {
        let pk = u32::from(port) | if d == 0 { 0 } else { DIR_BIT };
        let mask = self.slots.len().wrapping_sub(1);
        if !self.slots.is_empty() {
            super::peers::prefetch_ptr(self.slots.as_ptr().wrapping_add(slot_of(pk, mask)));
        }
    }

    /// Prefetches the table's slots (up to `max_lines` cache lines), e.g. before the window
    /// closes and reads them all.
    #[inline]
    pub fn prefetch_all(&self, max_lines: usize) {
        super::peers::prefetch_slice(&self.slots, max_lines);
    }

    /// Counts one record on `port` in direction `d` (0 egress, 1 ingress).
    #[inline]
    pub fn add(&mut self, port: u16, d: usize) -> PortHit {
        let pk = u32::from(port) | if d == 0 { 0 } else { DIR_BIT };
        if self.slots.is_empty() {
            self.slots = vec![Slot::default(); INITIAL_SLOTS];
        }
        let mask = self.slots.len() - 1;
        let mut i = slot_of(pk, mask);
        loop {
            let Some(s) = self.slots.get_mut(i) else {
                return PortHit::Untracked;
            };
            if s.key == 0 {
                break;
            }
            if s.key & 0x1_ffff == pk {
                if s.key & ROW == 0 {
                    return PortHit::Untracked;
                }
                s.flows = s.flows.saturating_add(1);
                return PortHit::Row((s.key >> ROW_SHIFT) as usize);
            }
            i = (i + 1) & mask;
        }
        self.add_absent(pk, port, d)
    }

    /// The pair is not in the table: a new member (table or bitmap), or a bitmap member without
    /// a row.
    #[cold]
    fn add_absent(&mut self, pk: u32, port: u16, d: usize) -> PortHit {
        if let Some(bits) = &mut self.bitmap {
            let b = d * BITMAP_WORDS * 64 + usize::from(port);
            let Some(w) = bits.get_mut(b / 64) else {
                return PortHit::Untracked;
            };
            if *w & (1 << (b % 64)) != 0 {
                return PortHit::Untracked;
            }
            *w |= 1 << (b % 64);
            if let Some(c) = self.distinct.get_mut(d) {
                *c += 1;
            }
            if (self.rows as usize) < PORT_STATS_CAP || is_watched(port) {
                return self.insert(pk, true);
            }
            return PortHit::Untracked;
        }
        if self.used as usize >= TABLE_MAX {
            self.move_to_bitmap();
            return self.add_absent(pk, port, d);
        }
        if let Some(c) = self.distinct.get_mut(d) {
            *c += 1;
        }
        let row = (self.rows as usize) < PORT_STATS_CAP || is_watched(port);
        self.insert(pk, row)
    }

    /// Inserts an absent pair, growing the table to keep it at most half full.
    fn insert(&mut self, pk: u32, row: bool) -> PortHit {
        if (self.used as usize + 1) * 2 > self.slots.len() {
            self.grow(self.slots.len().max(INITIAL_SLOTS / 2) * 2);
        }
        let mut key = pk | OCCUPIED;
        let mut flows = 0;
        let hit = if row {
            let r = self.rows;
            self.rows += 1;
            key |= ROW | (r << ROW_SHIFT);
            flows = 1;
            PortHit::Row(r as usize)
        } else {
            PortHit::Untracked
        };
        self.place(Slot { key, flows });
        self.used += 1;
        hit
    }

    fn place(&mut self, slot: Slot) {
        let home = slot_of(slot.key, self.slots.len().wrapping_sub(1));
        super::peers::place_linear(&mut self.slots, home, slot, |s| s.key == 0);
    }

    fn grow(&mut self, n: usize) {
        let old = std::mem::replace(&mut self.slots, vec![Slot::default(); n]);
        for s in old.into_iter().filter(|s| s.key != 0) {
            self.place(s);
        }
    }

    /// More than [`TABLE_MAX`] pairs: membership moves to the bitmaps, the table keeps the rows.
    fn move_to_bitmap(&mut self) {
        let mut bits = vec![0u64; 2 * BITMAP_WORDS];
        let old = std::mem::take(&mut self.slots);
        self.slots = vec![Slot::default(); old.len()];
        self.used = 0;
        for s in old.into_iter().filter(|s| s.key != 0) {
            let d = usize::from(s.key & DIR_BIT != 0);
            let b = d * BITMAP_WORDS * 64 + (s.key & 0xffff) as usize;
            if let Some(w) = bits.get_mut(b / 64) {
                *w |= 1 << (b % 64);
            }
            if s.key & ROW != 0 {
                self.place(s);
                self.used += 1;
            }
        }
        self.bitmap = Some(bits);
    }

    /// Distinct ports in direction `d`.
    pub fn len(&self, d: usize) -> usize {
        self.distinct.get(d).map_or(0, |&c| c as usize)
    }

    /// Rows given (both directions).
    pub fn rows(&self) -> usize {
        self.rows as usize
    }

    /// The distinct ports of direction `d`, in no particular order.
    pub fn ports(&self, d: usize) -> impl Iterator<Item = u16> + '_ {
        let table = self
            .bitmap
            .is_none()
            .then_some(self.slots.iter())
            .into_iter()
            .flatten()
            .filter(move |s| s.key != 0 && usize::from(s.key & DIR_BIT != 0) == d)
            .map(|s| (s.key & 0xffff) as u16);
        let words = self
            .bitmap
            .as_deref()
            .and_then(|b| b.get(d * BITMAP_WORDS..(d + 1) * BITMAP_WORDS))
            .unwrap_or(&[]);
        let bits = words.iter().enumerate().flat_map(|(i, &w)| {
            let mut w = w;
            std::iter::from_fn(move || {
                if w == 0 {
                    return None;
                }
                let b = w.trailing_zeros();
                w &= w - 1;
                Some((i as u16) * 64 + b as u16)
            })
        });
        table.chain(bits)
    }

    /// The distinct ports of both directions as (port, direction), in no particular order
    /// across directions; each direction's ports come in [`Self::ports`]'s order. One walk
    /// over the table instead of one per direction.
    pub fn ports_both(&self) -> impl Iterator<Item = (u16, usize)> + '_ {
        let table = self
            .bitmap
            .is_none()
            .then_some(self.slots.iter())
            .into_iter()
            .flatten()
            .filter(|s| s.key != 0)
            .map(|s| ((s.key & 0xffff) as u16, usize::from(s.key & DIR_BIT != 0)));
        let bits = self
            .bitmap
            .is_some()
            .then(|| {
                self.ports(0)
                    .map(|p| (p, 0))
                    .chain(self.ports(1).map(|p| (p, 1)))
            })
            .into_iter()
            .flatten();
        table.chain(bits)
    }

    /// Calls `f(port, direction)` for every distinct pair, in [`Self::ports_both`]'s order: while
    /// the set is the table, a plain loop over its slots (no iterator adapters).
    #[inline]
    pub fn for_each_port(&self, f: impl FnMut(u16, usize)) {
        self.for_each_port_and_egress_row(f, |_| {});
    }

    /// [`Self::for_each_port`] and [`Self::for_each_egress_row`] in one walk over the table
    /// (each in its own order; the two interleave).
    #[inline]
    pub fn for_each_port_and_egress_row(
        &self,
        mut f: impl FnMut(u16, usize),
        mut g: impl FnMut(u32),
    ) {
        if self.bitmap.is_some() {
            self.for_each_port_bitmap(&mut f);
            self.for_each_egress_row(g);
            return;
        }
        // The occupied slots, in slot order, without a branch per slot (`occupied`).
        for group in self.slots.chunks(64) {
            for i in occupied(group, |s| s.key != 0) {
                let Some(s) = group.get(i) else {
                    break;
                };
                f((s.key & 0xffff) as u16, usize::from(s.key & DIR_BIT != 0));
                if s.key & (ROW | DIR_BIT) == ROW {
                    g(s.flows);
                }
            }
        }
    }

    /// [`Self::for_each_port`] once the set is in the bitmaps. Out of line (and `f` by
    /// reference), so that the table's loop is the one place `f` is inlined.
    #[cold]
    #[inline(never)]
    fn for_each_port_bitmap(&self, f: &mut dyn FnMut(u16, usize)) {
        for (p, d) in self.ports_both() {
            f(p, d);
        }
    }

    /// Calls `f(flows)` for every egress row, in [`Self::row_refs`]' order: a plain loop over
    /// the table's slots.
    #[inline]
    pub fn for_each_egress_row(&self, mut f: impl FnMut(u32)) {
        for s in &self.slots {
            if s.key & (ROW | DIR_BIT) == ROW {
                f(s.flows);
            }
        }
    }

    /// Every row, in no particular order.
    pub fn row_refs(&self) -> impl Iterator<Item = PortRowRef> + '_ {
        self.slots
            .iter()
            .filter(|s| s.key & ROW != 0)
            .map(|s| PortRowRef {
                port: (s.key & 0xffff) as u16,
                dir: usize::from(s.key & DIR_BIT != 0),
                flows: s.flows,
                row: (s.key >> ROW_SHIFT) as usize,
            })
    }

    /// Forgets every port, keeping the table's allocation (up to 1,024 slots).
    pub fn clear(&mut self) {
        if self.slots.len() > 2 * TABLE_MAX {
            self.slots = Vec::new();
        } else {
            self.slots.fill(Slot::default());
        }
        self.used = 0;
        self.rows = 0;
        self.distinct = [0; 2];
        self.bitmap = None;
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot>()
            + self.bitmap.as_ref().map_or(0, |b| b.capacity() * 8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::{BTreeMap, BTreeSet};

    /// The rule the structure replaces: a set per direction plus a capped map of rows.
    #[derive(Default)]
    struct Reference {
        sets: [BTreeSet<u16>; 2],
        rows: BTreeMap<(u16, usize), (usize, u32)>,
    }

    impl Reference {
        fn add(&mut self, port: u16, d: usize) -> PortHit {
            self.sets[d].insert(port);
            let n = self.rows.len();
            if let Some((r, f)) = self.rows.get_mut(&(port, d)) {
                *f += 1;
                return PortHit::Row(*r);
            }
            if n >= PORT_STATS_CAP && !is_watched(port) {
                return PortHit::Untracked;
            }
            self.rows.insert((port, d), (n, 1));
            PortHit::Row(n)
        }
    }

    proptest! {
        #[test]
        fn same_as_sets_and_capped_rows(
            recs in proptest::collection::vec((0u16..1500, 0usize..2), 0..4000),
            wide in proptest::collection::vec((any::<u16>(), 0usize..2), 0..800),
        ) {
            let mut p = WindowPorts::default();
            let mut r = Reference::default();
            for &(port, d) in recs.iter().chain(&wide) {
                let port = if port % 7 == 0 { WATCHED_PORTS[usize::from(port) % 16] } else { port };
                prop_assert_eq!(p.add(port, d), r.add(port, d));
            }
            for d in 0..2 {
                prop_assert_eq!(p.len(d), r.sets[d].len());
                let got: BTreeSet<u16> = p.ports(d).collect();
                prop_assert_eq!(&got, &r.sets[d]);
                prop_assert_eq!(p.ports(d).count(), r.sets[d].len());
                // The one-walk listing: each direction's ports, in `ports(d)`'s order.
                let both: Vec<u16> =
                    p.ports_both().filter(|&(_, x)| x == d).map(|(q, _)| q).collect();
                let one: Vec<u16> = p.ports(d).collect();
                prop_assert_eq!(both, one);
            }
            prop_assert_eq!(p.ports_both().count(), p.len(0) + p.len(1));
            let rows: BTreeMap<(u16, usize), (usize, u32)> =
                p.row_refs().map(|x| ((x.port, x.dir), (x.row, x.flows))).collect();
            prop_assert_eq!(rows, r.rows);
            prop_assert!(p.heap_bytes() <= 24 * 1024 + 64);
            p.clear();
            prop_assert_eq!(p.len(0) + p.len(1) + p.rows(), 0);
            prop_assert_eq!(p.ports(0).count(), 0);
        }
    }
}

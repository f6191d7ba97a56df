//! ENI interning: `eni-0abc...` strings become dense `u32` ids.
//!
//! The lookup runs once per record, so it has its own small hash table instead of std's
//! `HashMap<Box<[u8]>, u32>` (SipHash plus a `memcmp` call per probe cost more than the rest of
//! a v2 line's parse): open addressing with linear probing over 32-byte slots that hold the id,
//! the high half of its name's hash and, for names of up to 23 bytes, the name itself as three
//! zero-padded words with its length in the top byte, so a lookup of such a name compares
//! three words of the one slot the hash points at (session 11: before, the slot held only the
//! id and the hash's tag, and the name's key was compared in a second table after a tag match
//! and a bounds check: 613.4 M to 605.9 M instructions on the one-thread peer benchmark,
//! about 15 a line); and a keyed multiply-fold hash
//! (foldhash's construction: two folded multiplications over overlapping words for names of 17 to
//! 32 bytes, AWS's being 21) with a random key per interner, so crafted names cannot be made to
//! collide without knowing it. Longer names are compared with their `String` after a tag match,
//! word by word up to 32 bytes, no `memcmp`.

use std::hash::{BuildHasher, Hasher};

use serde::{Deserialize, Serialize};

use super::record::EniId;

/// Maps interface ids to dense [`EniId`]s and back. Ids are given in first-seen order.
///
/// The interner grows with the number of distinct interfaces in the input; readers cap it (see
/// the reader's `max_enis`) so that hostile input cannot grow it without limit. Memory: each
/// name's bytes plus at most about 290 bytes per name (the `String`, its hash, four to eight
/// 32-byte table slots).
///
/// Names are stored as text: a name that is not UTF-8 is stored, and looked up, in its lossy
/// form (U+FFFD for invalid bytes), so interning it twice gives one id.
///
/// Deserializing rebuilds the lookup index, so a loaded interner is ready to use.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(from = "InternerNames")]
pub struct Interner {
    names: Vec<String>,
    #[serde(skip)]
    index: Index,
}

/// The serialized form of an [`Interner`]: its names (the same shape `Interner` serializes to).
#[derive(Deserialize)]
struct InternerNames {
    names: Vec<String>,
}

impl From<InternerNames> for Interner {
    fn from(n: InternerNames) -> Self {
        let mut interner = Interner {
            names: n.names,
            index: Index::default(),
        };
        interner.rebuild_index();
        interner
    }
}

/// The lookup table: rebuilt from `names` after deserialization (see
/// [`Interner::ensure_index`]).
#[derive(Clone, Debug, Default)]
struct Index {
    /// The table (see [`Slot`]). The length is a power of two (or 0), at most a quarter full:
    /// a lookup then rarely probes a second slot (at half full nearly half of them did, with a
    /// mispredicted branch each).
    slots: Vec<Slot>,
    /// The hash of each id's name (to place it again when the table grows).
    hashes: Vec<u64>,
    key: HashKey,
}

/// A table slot, 32 bytes and 32-byte aligned (one cache line holds it whole): word 0 holds
/// `id + 1` in the low 32 bits and the high 32 bits of the name's hash above (0: empty);
/// words 1 to 3 the name's [`Key`] words, the length word folded into the top byte of word 3
/// (see [`Slot::words`]), so a name of up to [`INLINE`] bytes is found by comparing three
/// words of the slot the hash points at, with no second table or bounds check to go through
/// (session 11). A longer name has only its length class in word 3 and is compared with its
/// `String` after a tag match.
#[derive(Clone, Copy, Debug, Default)]
#[repr(align(32))]
struct Slot([u64; 4]);

/// The top byte of word 3 of a longer name's slot (see [`Slot::words`]).
const LONG: u64 = 0xff << 56;

impl Slot {
    /// The three words a name's slot holds after word 0, from its [`Key`]: its padded words,
    /// with `0x40 | length`, or'ed with `0x80` when the name has a byte that is not
    /// ASCII-graphic, in the top byte of the last one (that byte is the name's 24th, which
    /// a name of at most [`INLINE`] = 23 bytes does not have); [`LONG`] for a longer name.
    /// Never all zero (an occupied slot's word 3 is not), and equal exactly for equal keys.
    #[inline(always)]
    fn words(key: &Key) -> [u64; 3] {
        let len = key[0] & !ODD;
        if len > INLINE as u64 {
            return [0, 0, LONG];
        }
        let class = 0x40 | len | (key[0] >> 56 & 0x80);
        [key[1], key[2], key[3] | class << 56]
    }
}

/// The hash key: random per interner (from std's `RandomState`), so crafted names cannot be made
/// to collide without knowing it. Ids never depend on it. The words the hash mixes in with each
/// multiplication are derived from it once, here.
#[derive(Clone, Copy, Debug)]
struct HashKey {
    k: u64,
    /// `k ^ K2`.
    k2: u64,
    /// `k.rotate_left(23) ^ K3`.
    k3: u64,
    /// `k ^ K4`.
    k4: u64,
    /// `k.rotate_left(32) ^ K2`.
    kf: u64,
    /// `k ^ 21 * K1`: the first word mixed into the hash of an AWS-length (21-byte) name.
    k21: u64,
}

const K1: u64 = 0x9e37_79b9_7f4a_7c15;
const K2: u64 = 0x85eb_ca6b_c2b2_ae35;
const K3: u64 = 0xc2b2_ae3d_27d4_eb4f;
const K4: u64 = 0x1656_67b1_9e37_79f9;

impl Default for HashKey {
    fn default() -> Self {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(0x243f_6a88_85a3_08d3);
        let k = h.finish() | 1;
        HashKey {
            k,
            k2: k ^ K2,
            k3: k.rotate_left(23) ^ K3,
            k4: k ^ K4,
            kf: k.rotate_left(32) ^ K2,
            k21: k ^ 21u64.wrapping_mul(K1),
        }
    }
}

#[inline]
fn fold_mul(a: u64, b: u64) -> u64 {
    let full = u128::from(a) * u128::from(b);
    (full as u64) ^ ((full >> 64) as u64)
}

/// The little-endian word of `b[at..at + 8]` (the caller keeps it in bounds).
#[inline(always)]
fn word(b: &[u8], at: usize) -> u64 {
    b.get(at..)
        .and_then(<[u8]>::first_chunk::<8>)
        .map_or(0, |w| u64::from_le_bytes(*w))
}

/// Up to eight bytes as a word: the first four and the last four (overlapping for 4..=8
/// bytes), or the first, middle and last byte below four. With the length mixed in by the
/// caller, different short names give different inputs.
#[inline(always)]
fn short_word(b: &[u8]) -> u64 {
    let n = b.len();
    let half = |at: usize| {
        b.get(at..)
            .and_then(<[u8]>::first_chunk::<4>)
            .map_or(0, |w| u64::from(u32::from_le_bytes(*w)))
    };
    if n >= 4 {
        half(0) | half(n - 4) << 32
    } else if n > 0 {
        let byte = |i: usize| u64::from(b.get(i).copied().unwrap_or(0));
        byte(0) | byte(n / 2) << 8 | byte(n - 1) << 16
    } else {
        0
    }
}

impl HashKey {
    /// A keyed multiply-fold hash (the construction of foldhash): names of up to 32 bytes
    /// (AWS's are 21) take one to three folded multiplications over overlapping words, with
    /// no loop and no copy; longer names fold 16 bytes at a time. Names of 17 to 32 bytes
    /// skip the final folding: their two independent folded products already mix every
    /// word with the key.
    #[inline(always)]
    fn hash(self, bytes: &[u8]) -> u64 {
        let k = self.k;
        let n = bytes.len();
        // (The same value for AWS's length, taken from the key: when the length is known
        // where this is inlined, the choice folds away.)
        let acc = if n == 21 {
            self.k21
        } else {
            k ^ (n as u64).wrapping_mul(K1)
        };
        if (17..=32).contains(&n) {
            let a = fold_mul(acc ^ word(bytes, 0), word(bytes, 8) ^ self.k2);
            let b = fold_mul(word(bytes, n - 16) ^ self.k3, word(bytes, n - 8) ^ self.k4);
            return a ^ b;
        }
        let acc = if n <= 8 {
            fold_mul(acc ^ short_word(bytes), self.k2)
        } else if n <= 16 {
            fold_mul(acc ^ word(bytes, 0), word(bytes, n - 8) ^ self.k2)
        } else {
            self.hash_long(acc, bytes)
        };
        fold_mul(acc, self.kf)
    }

    /// The rest of [`HashKey::hash`] for names over 32 bytes (kept out of the inlined path).
    #[inline(never)]
    fn hash_long(self, mut acc: u64, bytes: &[u8]) -> u64 {
        let n = bytes.len();
        let mut chunks = bytes.chunks_exact(16);
        for c in &mut chunks {
            acc = fold_mul(acc ^ word(c, 0), word(c, 8) ^ self.k2);
        }
        // The last 16 bytes again (overlapping the chunks): the tail is covered.
        fold_mul(
            acc ^ word(bytes, n.saturating_sub(16)) ^ K3,
            word(bytes, n.saturating_sub(8)) ^ self.k.rotate_left(23) ^ K4,
        )
    }
}

/// Byte equality without a `memcmp` call for names of up to 32 bytes: overlapping words.
#[inline]
fn same(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if (8..=16).contains(&n) {
        return word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8);
    }
    if (17..=32).contains(&n) {
        return (word(a, 0) ^ word(b, 0))
            | (word(a, 8) ^ word(b, 8))
            | (word(a, n - 16) ^ word(b, n - 16))
            | (word(a, n - 8) ^ word(b, n - 8))
            == 0;
    }
    a == b
}

/// Longest name compared by its [`Key`] in the table's slot (AWS's are 21 bytes).
pub(super) const INLINE: usize = 23;

/// A name of at most [`INLINE`] bytes as its length and three little-endian words, zero padded:
/// equal keys exactly for equal names. The length word also carries [`ODD`] when the name has
/// a byte that is not ASCII-graphic (a space, a control, non-ASCII), so a key built from
/// bytes alone, without the flag, matches only names of graphic bytes (see
/// [`Interner::get_inline`]). Longer names get their length and zeros (their bytes are
/// compared in `names`).
pub(super) type Key = [u64; 4];

/// The flag in a [`Key`]'s length word of a name with a byte that is not ASCII-graphic.
const ODD: u64 = 1 << 63;

/// The [`Key`] of `name`.
fn key_of(name: &[u8]) -> Key {
    let mut padded = [0u8; 24];
    if let Some(head) = padded.get_mut(..name.len()) {
        head.copy_from_slice(name);
    }
    let odd = if name.iter().all(u8::is_ascii_graphic) {
        0
    } else {
        ODD
    };
    [
        name.len() as u64 | odd,
        word(&padded, 0),
        word(&padded, 8),
        word(&padded, 16),
    ]
}

/// The high half of a slot: the hash's high 32 bits, compared before any name.
const TAG: u64 = !0xffff_ffff;

impl Index {
    /// The id of `name` (whose hash is `h`), looking names up in `names`.
    #[inline]
    fn find(&self, names: &[String], name: &[u8], h: u64) -> Option<EniId> {
        if name.len() <= INLINE {
            return self.find_key(&key_of(name), h);
        }
        self.probe(h, |s| {
            let id = (s[0] as EniId).wrapping_sub(1);
            s[3] == LONG
                && (s[0] ^ h) & TAG == 0
                && names
                    .get(id as usize)
                    .is_some_and(|n| same(n.as_bytes(), name))
        })
    }

    /// The id of the name of at most [`INLINE`] bytes whose key is `key` and hash `h`.
    #[inline(always)]
    fn find_key(&self, key: &Key, h: u64) -> Option<EniId> {
        let w = Slot::words(key);
        // Word by word (an array comparison went through the stack); no tag: the words
        // decide, and an empty slot's are zero.
        self.probe(h, |s| (s[1] ^ w[0]) | (s[2] ^ w[1]) | (s[3] ^ w[2]) == 0)
    }

    /// Linear probing from `h`: the id of the first slot for which `is` holds, `None` at the
    /// first empty slot. `is` never holds for an empty slot.
    #[inline(always)]
    fn probe(&self, h: u64, is: impl Fn(&[u64; 4]) -> bool) -> Option<EniId> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut i = h as usize & mask;
        loop {
            let s = &self.slots.get(i)?.0;
            if is(s) {
                return Some((s[0] as EniId).wrapping_sub(1));
            }
            if s[0] == 0 {
                return None;
            }
            i = (i + 1) & mask;
        }
    }

    /// Adds `id` named `name` with hash `h` (the name is known to be absent).
    fn insert(&mut self, id: EniId, name: &[u8], h: u64) {
        self.hashes.push(h);
        let [a, b, c] = Slot::words(&if name.len() <= INLINE {
            key_of(name)
        } else {
            [name.len() as u64, 0, 0, 0]
        });
        let slot = Slot([(h & TAG) | u64::from(id + 1), a, b, c]);
        if (self.hashes.len()) * 4 > self.slots.len() {
            self.grow();
        }
        self.place(slot, h);
    }

    /// Puts `slot` at the first empty slot from `h`.
    fn place(&mut self, slot: Slot, h: u64) {
        let mask = self.slots.len() - 1;
        let mut i = h as usize & mask;
        while self.slots.get(i).is_some_and(|s| s.0[0] != 0) {
            i = (i + 1) & mask;
        }
        if let Some(s) = self.slots.get_mut(i) {
            *s = slot;
        }
    }

    /// Resizes the table to the power of two at or above four slots per id (at least 16
    /// slots) and places every slot again.
    fn grow(&mut self) {
        let size = (self.hashes.len() * 4).next_power_of_two().max(16);
        let old = std::mem::replace(&mut self.slots, vec![Slot::default(); size]);
        for s in old {
            let id = (s.0[0] as EniId).wrapping_sub(1);
            if let Some(&h) = self.hashes.get(id as usize) {
                self.place(s, h);
            }
        }
    }
}

impl Interner {
    /// An empty interner.
    pub fn new() -> Self {
        Self::default()
    }

    /// The id of `name`, interning it if new.
    pub fn intern(&mut self, name: &[u8]) -> EniId {
        let text = String::from_utf8_lossy(name);
        let h = self.index.key.hash(text.as_bytes());
        if let Some(id) = self.index.find(&self.names, text.as_bytes(), h) {
            return id;
        }
        let id = self.names.len() as EniId;
        self.index.insert(id, text.as_bytes(), h);
        self.names.push(text.into_owned());
        id
    }

    /// The id of `name` if it was interned.
    #[inline]
    pub fn get(&self, name: &[u8]) -> Option<EniId> {
        let h = self.index.key.hash(name);
        self.index.find(&self.names, name, h)
    }

    /// [`Interner::get`] for a name of at most [`INLINE`] bytes whose [`Key`] the caller
    /// already has (from words it loaded anyway): `key` must be `name`'s key without the
    /// [`ODD`] flag. So a name with a byte that is not ASCII-graphic is never found here
    /// (its stored key has the flag): a hit is a known name of graphic bytes only, which
    /// the caller need not check for separators.
    #[inline(always)]
    pub(super) fn get_inline(&self, name: &[u8], key: &Key) -> Option<EniId> {
        debug_assert!(name.len() <= INLINE && key_of(name)[0] & !ODD == key[0]);
        debug_assert!(key_of(name)[1..] == key[1..]);
        let h = self.index.key.hash(name);
        self.index.find_key(key, h)
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
        if self.index.hashes.len() != self.names.len() {
            self.rebuild_index();
        }
    }

    /// Rebuilds the lookup index after deserialization.
    pub fn rebuild_index(&mut self) {
        let key = self.index.key;
        let mut index = Index {
            key,
            ..Index::default()
        };
        for (id, name) in self.names.iter().enumerate() {
            index.insert(id as EniId, name.as_bytes(), key.hash(name.as_bytes()));
        }
        self.index = index;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_dense_in_first_seen_order_and_stable() {
        let mut i = Interner::new();
        let names: Vec<String> = (0..1000).map(|k| format!("eni-{k:017x}")).collect();
        for (k, n) in names.iter().enumerate() {
            assert_eq!(i.intern(n.as_bytes()), k as EniId);
        }
        for (k, n) in names.iter().enumerate().rev() {
            assert_eq!(i.intern(n.as_bytes()), k as EniId);
            assert_eq!(i.get(n.as_bytes()), Some(k as EniId));
            assert_eq!(i.name(k as EniId), n);
        }
        assert_eq!(i.len(), 1000);
        assert_eq!(i.get(b"eni-missing"), None);
        assert_eq!(i.get(b""), None);
        assert_eq!(i.name(5000), "?");
    }

    #[test]
    fn names_of_every_length_and_zero_padding_stay_apart() {
        let mut i = Interner::new();
        let mut names: Vec<Vec<u8>> = Vec::new();
        for n in 0..=40usize {
            names.push((0..n).map(|k| b'a' + (k % 26) as u8).collect());
            // The same bytes and a trailing NUL: equal padded words, another length.
            let mut z = names[names.len() - 1].clone();
            z.push(0);
            names.push(z);
        }
        let ids: Vec<EniId> = names.iter().map(|n| i.intern(n)).collect();
        assert_eq!(ids, (0..names.len() as EniId).collect::<Vec<_>>());
        for (n, &id) in names.iter().zip(&ids) {
            assert_eq!(i.get(n), Some(id));
            if n.len() <= INLINE {
                // The byte-only key (no flag) finds graphic names only.
                let mut key = key_of(n);
                key[0] &= !ODD;
                let graphic = n.iter().all(u8::is_ascii_graphic);
                assert_eq!(i.get_inline(n, &key), graphic.then_some(id));
            }
        }
        assert_eq!(i.get(b"zzz"), None);
        assert_eq!(i.get_inline(b"zzz", &key_of(b"zzz")), None);
    }

    #[test]
    fn inline_lookups_never_find_names_with_separators() {
        let mut i = Interner::new();
        for n in [&b"eni-aaaa bbbbbbbbbbbb"[..], b"eni-aaaa\tbbbbbbbbbbbb"] {
            let id = i.intern(n);
            assert_eq!(i.get(n), Some(id));
            let mut key = key_of(n);
            assert_eq!(key[0] & ODD, ODD);
            key[0] &= !ODD;
            assert_eq!(i.get_inline(n, &key), None);
        }
    }

    #[test]
    fn survives_serde_and_lossy_names() {
        let mut i = Interner::new();
        let a = i.intern(b"eni-a");
        let bad = i.intern(b"eni-\xff");
        assert_eq!(i.intern(b"eni-\xff"), bad);
        assert_eq!(i.name(bad), "eni-\u{fffd}");
        let json = serde_json::to_string(&i).unwrap();
        let mut back: Interner = serde_json::from_str(&json).unwrap();
        assert_eq!(back.get(b"eni-a"), Some(a));
        back.ensure_index();
        assert_eq!(back.get(b"eni-a"), Some(a));
        assert_eq!(
            back.get(b"eni-\xff"),
            None,
            "raw invalid bytes are not the stored name"
        );
        assert_eq!(back.intern(b"eni-b"), 2);
        assert_eq!(back.names(), ["eni-a", "eni-\u{fffd}", "eni-b"]);
    }

    /// A name from a small alphabet (so names repeat and share words) with separators,
    /// NULs and non-UTF-8 bytes, of any length up to 40 (around AWS's 21 and the inline
    /// limit most often).
    fn name_strategy() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        let byte = prop::sample::select(vec![b'a', b'b', b'0', b'-', b' ', b'\t', 0, 0xff]);
        let len = prop_oneof![
            3 => 19usize..=25,
            1 => 0usize..=40,
        ];
        len.prop_flat_map(move |n| prop::collection::vec(byte.clone(), n))
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
        /// Every lookup against a plain map of the stored (lossy) names: `intern`, `get` and
        /// `get_inline` (which finds graphic names only), across table growth.
        #[test]
        fn lookups_equal_a_plain_map(
            ops in proptest::collection::vec((0u8..3, name_strategy()), 1..400),
        ) {
            let mut i = Interner::new();
            let mut plain: std::collections::HashMap<Vec<u8>, EniId> = Default::default();
            for (op, name) in &ops {
                match op {
                    0 => {
                        let stored = String::from_utf8_lossy(name).into_owned().into_bytes();
                        let next = plain.len() as EniId;
                        let want = *plain.entry(stored).or_insert(next);
                        proptest::prop_assert_eq!(i.intern(name), want);
                    }
                    1 => proptest::prop_assert_eq!(i.get(name), plain.get(name).copied()),
                    _ => {
                        if name.len() <= INLINE {
                            let mut key = key_of(name);
                            key[0] &= !ODD;
                            let want = plain
                                .get(name)
                                .copied()
                                .filter(|_| name.iter().all(u8::is_ascii_graphic));
                            proptest::prop_assert_eq!(i.get_inline(name, &key), want);
                        }
                    }
                }
            }
            for (name, &id) in &plain {
                proptest::prop_assert_eq!(i.get(name), Some(id));
            }
        }
    }
}

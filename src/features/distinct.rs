//! Distinct counting: exact up to a cap, then a HyperLogLog sketch; plus the hashing it rests on.
//!
//! Everything here hashes with fixed functions (splitmix64), never `RandomState`, so that two runs
//! over the same records give the same estimates.

use std::hash::{BuildHasherDefault, Hasher};
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// splitmix64's finalizer: a fast, well-mixed 64-bit hash of a 64-bit value.
pub fn mix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A 64-bit key for an address: distinct addresses collide with probability about 2^-64 per
/// pair, which the exact sets below accept as exact.
pub fn addr_key(addr: IpAddr) -> u64 {
    match addr {
        IpAddr::V4(a) => mix64(u64::from(u32::from(a)) | (1 << 40)),
        IpAddr::V6(a) => {
            let v = u128::from(a);
            mix64((v >> 64) as u64 ^ mix64(v as u64 ^ (2 << 40)))
        }
    }
}

/// A hasher for keys that are already mixed 64-bit values (see [`mix64`]): it passes them
/// through, which is both fast and well distributed. Other input is folded with FxHash's step.
#[derive(Clone, Copy, Debug, Default)]
pub struct PreMixedHasher(u64);

impl Hasher for PreMixedHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x517c_c1b7_2722_0a95);
        }
    }
    fn write_u64(&mut self, x: u64) {
        // Keys are mixed already; a second `write` (rare: tuple keys) still mixes.
        self.0 = if self.0 == 0 { x } else { mix64(self.0 ^ x) };
    }
}

/// `BuildHasher` for [`PreMixedHasher`]: deterministic, no per-process seed.
pub type PreMixed = BuildHasherDefault<PreMixedHasher>;

/// A HyperLogLog sketch with `2^precision` one-byte registers (Flajolet et al. 2007, with the
/// linear-counting correction for small cardinalities; 64-bit hashes need no large-range
/// correction). Standard error is about `1.04 / sqrt(2^precision)`: 1.6 % at precision 12,
/// 6.5 % at precision 8.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hll {
    precision: u8,
    registers: Vec<u8>,
}

impl Hll {
    /// A sketch with `2^precision` registers; `precision` is clamped to 4..=16.
    pub fn new(precision: u8) -> Self {
        let precision = precision.clamp(4, 16);
        Self {
            precision,
            registers: vec![0; 1 << precision],
        }
    }

    /// Adds an item given its 64-bit key (any well-mixed hash; it is mixed again here).
    pub fn insert(&mut self, key: u64) {
        let h = mix64(key ^ 0x5bd1_e995);
        let p = u32::from(self.precision);
        let idx = (h >> (64 - p)) as usize;
        // The rank of the remaining bits; a sentinel bit caps it at 64 - p + 1.
        let rest = (h << p) | (1 << (p - 1));
        let rank = rest.leading_zeros() as u8 + 1;
        if let Some(r) = self.registers.get_mut(idx) {
            if rank > *r {
                *r = rank;
            }
        }
    }

    /// The estimated number of distinct items inserted.
    pub fn estimate(&self) -> f64 {
        let m = self.registers.len() as f64;
        if m == 0.0 {
            return 0.0;
        }
        let mut sum = 0.0;
        let mut zeros = 0usize;
        for &r in &self.registers {
            sum += (-f64::from(r)).exp2();
            if r == 0 {
                zeros += 1;
            }
        }
        let alpha = match self.registers.len() {
            16 => 0.673,
            32 => 0.697,
            64 => 0.709,
            _ => 0.7213 / (1.0 + 1.079 / m),
        };
        let raw = alpha * m * m / sum;
        if raw <= 2.5 * m && zeros > 0 {
            m * (m / zeros as f64).ln()
        } else {
            raw
        }
    }

    /// Merges another sketch of the same precision (register-wise max); other precisions are
    /// ignored and reported as `false`.
    pub fn merge(&mut self, other: &Hll) -> bool {
        if other.precision != self.precision {
            return false;
        }
        for (a, &b) in self.registers.iter_mut().zip(&other.registers) {
            *a = (*a).max(b);
        }
        true
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.registers.capacity()
    }
}

/// Counts distinct items: exact (a small set of 64-bit keys) while fewer than `cap` items were
/// seen, then a [`Hll`] of the given precision that has absorbed every key seen so far.
///
/// Memory: at most `8 * cap` bytes, then `2^precision` bytes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DistinctCounter {
    cap: u32,
    precision: u8,
    exact: Vec<u64>,
    sketch: Option<Box<Hll>>,
}

impl DistinctCounter {
    /// A counter exact up to `cap` distinct items (linear search: keep `cap` small, ≤ 64).
    pub fn new(cap: u32, precision: u8) -> Self {
        Self {
            cap,
            precision,
            exact: Vec::new(),
            sketch: None,
        }
    }

    /// Adds an item by key; returns true when the counter knows it is new (always false once
    /// sketched, since a sketch cannot tell).
    pub fn insert(&mut self, key: u64) -> bool {
        if let Some(s) = &mut self.sketch {
            s.insert(key);
            return false;
        }
        if self.exact.contains(&key) {
            return false;
        }
        if self.exact.len() < self.cap as usize {
            self.exact.push(key);
            return true;
        }
        let mut s = Box::new(Hll::new(self.precision));
        for &k in &self.exact {
            s.insert(k);
        }
        s.insert(key);
        self.exact = Vec::new();
        self.sketch = Some(s);
        false
    }

    /// The count: exact while not sketched.
    pub fn count(&self) -> f64 {
        match &self.sketch {
            Some(s) => s.estimate().round(),
            None => self.exact.len() as f64,
        }
    }

    /// True while the count is exact.
    pub fn is_exact(&self) -> bool {
        self.sketch.is_none()
    }

    /// The exact keys, or `None` once sketched.
    pub fn keys(&self) -> Option<&[u64]> {
        self.sketch.is_none().then_some(self.exact.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hll_error_is_within_four_standard_errors() {
        for &n in &[10u64, 100, 1_000, 10_000, 100_000] {
            let mut h = Hll::new(12);
            for i in 0..n {
                h.insert(mix64(i));
            }
            let est = h.estimate();
            let tol = 4.0 * 1.04 / 64.0 * n as f64 + 1.0;
            assert!((est - n as f64).abs() <= tol, "n={n} est={est} tol={tol}");
        }
    }

    #[test]
    fn hll_merge_equals_union() {
        let mut a = Hll::new(10);
        let mut b = Hll::new(10);
        let mut u = Hll::new(10);
        for i in 0..5_000u64 {
            if i % 3 == 0 {
                a.insert(i);
            } else {
                b.insert(i);
            }
            u.insert(i);
        }
        assert!(a.merge(&b));
        assert_eq!(a, u);
        assert!(!a.merge(&Hll::new(8)));
    }

    #[test]
    fn addr_keys_separate_v4_and_v6() {
        let v4: IpAddr = "10.0.0.1".parse().unwrap();
        let v6: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_ne!(addr_key(v4), addr_key(v6));
    }

    proptest! {
        #[test]
        fn distinct_is_exact_below_the_cap(items in proptest::collection::vec(0u64..200, 0..300)) {
            let mut c = DistinctCounter::new(64, 8);
            let mut truth = std::collections::HashSet::new();
            for &i in &items {
                let was_new = truth.insert(i);
                let said_new = c.insert(mix64(i));
                if c.is_exact() {
                    prop_assert_eq!(was_new, said_new);
                }
            }
            if truth.len() <= 64 {
                prop_assert!(c.is_exact());
                prop_assert_eq!(c.count(), truth.len() as f64);
            } else {
                prop_assert!(!c.is_exact());
                let err = (c.count() - truth.len() as f64).abs() / truth.len() as f64;
                prop_assert!(err < 0.35, "estimate {} truth {}", c.count(), truth.len());
            }
        }
    }
}

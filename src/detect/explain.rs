//! Explanations: the features that deviate most, with observed value, expected value and spread
//! in the units a person knows (counts, bytes), e.g. `fan_out 412 vs 8 ± 3 (z=+135)`.
//!
//! Fixed size (the top [`TOP_K`] features, plain numbers): building one costs no allocation;
//! text is produced only when printed or serialized.

use std::fmt;

use serde::ser::{SerializeSeq, SerializeStruct};
use serde::Serialize;

use crate::features::{FEATURE_NAMES, LOG_SCALED};

/// Features named per explanation.
pub const TOP_K: usize = 3;

/// One feature's deviation. The expectation is kept in model space (`mean`, `sd`) and turned
/// into raw units only when asked ([`Contribution::expected`], [`Contribution::spread`]): the
/// scoring hot path does no `exp`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Contribution {
    /// Column in [`FEATURE_NAMES`].
    pub feature: u8,
    /// Observed value, raw units.
    pub observed: f64,
    /// Expected value, model space (`ln(1 + x)` for log-scaled features).
    pub mean: f64,
    /// Standard deviation, model space.
    pub sd: f64,
    /// Deviation in standard deviations of the model space.
    pub z: f64,
}

impl Contribution {
    /// The feature's name.
    pub fn name(&self) -> &'static str {
        FEATURE_NAMES
            .get(usize::from(self.feature))
            .copied()
            .unwrap_or("?")
    }

    fn raw_units(&self, x: f64) -> f64 {
        if LOG_SCALED
            .get(usize::from(self.feature))
            .copied()
            .unwrap_or(false)
        {
            // Counts and volumes are never negative; a baseline (or a seasonal offset) can put
            // the model-space mean below zero, which would print as `vs -0.22`.
            x.exp_m1().max(0.0)
        } else {
            x
        }
    }

    /// Expected value, raw units.
    pub fn expected(&self) -> f64 {
        self.raw_units(self.mean)
    }

    /// Typical deviation (half the raw width of mean ± one sd), raw units.
    pub fn spread(&self) -> f64 {
        (self.raw_units(self.mean + self.sd) - self.raw_units(self.mean - self.sd)) / 2.0
    }
}

impl fmt::Display for Contribution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ", self.name())?;
        num(f, self.observed)?;
        f.write_str(" vs ")?;
        num(f, self.expected())?;
        f.write_str(" ± ")?;
        num(f, self.spread())?;
        write!(f, " (z={:+.1})", self.z)
    }
}

/// Compact numbers: integers for large values, 2 decimals for small ones.
fn num(f: &mut fmt::Formatter<'_>, x: f64) -> fmt::Result {
    if x.abs() >= 100.0 {
        write!(f, "{x:.0}")
    } else if x.abs() >= 10.0 {
        write!(f, "{x:.1}")
    } else {
        write!(f, "{x:.2}")
    }
}

/// The top features of a verdict, largest |z| first.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Explanation {
    /// The first `len` entries are used.
    pub top: [Contribution; TOP_K],
    /// Entries used.
    pub len: u8,
}

impl Explanation {
    /// Offers one feature; keeps it if its |z| ranks in the top [`TOP_K`]. Ties keep the
    /// earlier column, so the result does not depend on anything but the values.
    pub fn offer(&mut self, c: Contribution) {
        let len = usize::from(self.len);
        let mut pos = len;
        while pos > 0 && self.top.get(pos - 1).is_some_and(|p| c.z.abs() > p.z.abs()) {
            pos -= 1;
        }
        if pos >= TOP_K {
            return;
        }
        let end = len.min(TOP_K - 1);
        let mut i = end;
        while i > pos {
            self.top.swap(i, i - 1);
            i -= 1;
        }
        if let Some(slot) = self.top.get_mut(pos) {
            *slot = c;
        }
        self.len = (len + 1).min(TOP_K) as u8;
    }

    /// The kept contributions.
    pub fn items(&self) -> &[Contribution] {
        self.top.get(..usize::from(self.len)).unwrap_or(&[])
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, c) in self.items().iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

impl Serialize for Contribution {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Contribution", 6)?;
        st.serialize_field("feature", self.name())?;
        st.serialize_field("observed", &self.observed)?;
        st.serialize_field("expected", &self.expected())?;
        st.serialize_field("spread", &self.spread())?;
        st.serialize_field("z", &self.z)?;
        st.serialize_field("text", &self.to_string())?;
        st.end()
    }
}

impl Serialize for Explanation {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let items = self.items();
        let mut seq = s.serialize_seq(Some(items.len()))?;
        for c in items {
            seq.serialize_element(c)?;
        }
        seq.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(feature: u8, z: f64) -> Contribution {
        Contribution {
            feature,
            z,
            ..Contribution::default()
        }
    }

    #[test]
    fn keeps_the_largest_abs_z_in_order() {
        let mut e = Explanation::default();
        for (i, z) in [1.0, -7.0, 3.0, 0.5, 9.0, -2.0].into_iter().enumerate() {
            e.offer(c(i as u8, z));
        }
        let zs: Vec<f64> = e.items().iter().map(|c| c.z).collect();
        assert_eq!(zs, vec![9.0, -7.0, 3.0]);
    }

    #[test]
    fn formats_like_the_design() {
        // skipdata (column 21) is log-scaled: mean ln(9) is an expected 8.
        let c = Contribution {
            feature: 14,
            observed: 0.9,
            mean: 0.1,
            sd: 0.05,
            z: 16.0,
        };
        assert_eq!(
            c.to_string(),
            "reject_ratio_in 0.90 vs 0.10 ± 0.05 (z=+16.0)"
        );
        let c = Contribution {
            feature: 7,
            observed: 412.0,
            mean: 9f64.ln(),
            sd: 0.1,
            z: 135.0,
        };
        assert_eq!(c.name(), "fan_out");
        assert!((c.expected() - 8.0).abs() < 1e-9);
        assert!(
            c.to_string().starts_with("fan_out 412 vs 8.00 ± 0.9"),
            "{c}"
        );
    }
}

#[cfg(test)]
mod raw_unit_tests {
    use super::*;
    use crate::features::Feature;

    #[test]
    fn counts_never_expect_a_negative_value() {
        let c = Contribution {
            feature: Feature::PacketsIn as u8,
            observed: 38.0,
            mean: -0.25,
            sd: 0.04,
            z: 14.3,
        };
        assert_eq!(c.expected(), 0.0);
        assert!(c.spread() >= 0.0);
        assert!(c.to_string().contains("vs 0.00"), "{c}");
    }
}

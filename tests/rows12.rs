//! `sort_closed` / `closed_order` (one-word keys: start offset, name bits after the shared
//! prefix, index; ties by name; wide keys when the starts spread too far) against a plain sort
//! of the windows by (window start, ENI name, id).

use flowvigil::features::{WindowFeatures, NUM_FEATURES};
use flowvigil::flowlog::{EniId, Interner};
use flowvigil::window::{closed_order, sort_closed};
use proptest::prelude::*;

fn window(eni: EniId, start: u64, tag: usize) -> WindowFeatures {
    let mut values = [0.0; NUM_FEATURES];
    values[0] = tag as f64;
    WindowFeatures {
        eni,
        window_start: start,
        values,
        evidence: Default::default(),
    }
}

fn plain_sorted(ws: &[WindowFeatures], names: &Interner) -> Vec<WindowFeatures> {
    let mut v = ws.to_vec();
    v.sort_by(|a, b| {
        (a.window_start, names.name(a.eni), a.eni).cmp(&(b.window_start, names.name(b.eni), b.eni))
    });
    v
}

/// Names from a few shapes: shared long prefixes, ends inside and past 16 bytes, zero bytes,
/// typical `eni-` ids.
fn name_of(shape: u8, tail: &[u8]) -> String {
    let head = [
        "",
        "eni-0",
        "eni-0123456789a",
        "eni-0123456789abcdef",
        "eni-0123456789abcdef0123456789",
    ][usize::from(shape % 5)];
    let tail: String = tail
        .iter()
        .map(|&c| ['\0', 'a', 'b', '0', 'f', '9'][usize::from(c % 6)])
        .collect();
    format!("{head}{tail}")
}

fn check(ws: &mut Vec<WindowFeatures>, names: &Interner) -> Result<(), TestCaseError> {
    let want = plain_sorted(ws, names);
    let mut order = Vec::new();
    closed_order(ws, names, &mut order);
    let by_order: Vec<WindowFeatures> = order.iter().map(|&i| ws[i].clone()).collect();
    prop_assert_eq!(&by_order, &want);
    sort_closed(ws, names);
    prop_assert_eq!(&*ws, &want);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// Starts close together (the one-word keys), spread over any `u64` (the wide keys) or in
    /// between; many windows (more index bits, fewer name bits) and few.
    #[test]
    fn closed_order_is_the_plain_order(
        names_in in proptest::collection::vec((0u8..5, proptest::collection::vec(0u8..6, 0..14)), 1..40),
        picks in proptest::collection::vec((0usize..40, 0u64..8), 0..400),
        base in any::<u64>(),
        spread in prop_oneof![Just(0u32), Just(300), 1u32..u32::MAX],
        wide in any::<bool>(),
    ) {
        let mut names = Interner::new();
        let ids: Vec<EniId> = names_in
            .iter()
            .map(|(shape, tail)| names.intern(name_of(*shape, tail).as_bytes()))
            .collect();
        let mut seen = std::collections::HashSet::new();
        let mut ws = Vec::new();
        for (tag, (e, k)) in picks.into_iter().enumerate() {
            let eni = ids[e % ids.len()];
            let start = if wide {
                base.wrapping_mul(k + 1) ^ k
            } else {
                base.saturating_sub(8 * u64::from(spread)) + k * u64::from(spread)
            };
            // (start, ENI) is unique among closed windows.
            if !seen.insert((start, eni)) {
                continue;
            }
            ws.push(window(eni, start, tag));
        }
        check(&mut ws, &names)?;
    }
}

#[test]
fn closed_order_small_and_many() {
    let mut names = Interner::new();
    let ids: Vec<EniId> = (0..500)
        .map(|i| {
            names.intern(format!("eni-{:017x}", (i as u64).wrapping_mul(0x9e37_79b9)).as_bytes())
        })
        .collect();
    for n in [0usize, 1, 2, 3, 100, 5000] {
        let mut ws: Vec<WindowFeatures> = (0..n)
            .map(|i| {
                window(
                    ids[i % ids.len()],
                    1_735_689_300 + 300 * (i / ids.len()) as u64,
                    i,
                )
            })
            .rev()
            .collect();
        check(&mut ws, &names).unwrap();
    }
}

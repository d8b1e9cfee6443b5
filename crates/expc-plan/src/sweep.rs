//! Points of sweeps: product, zip, and random draws that are the same on every machine.

use expc_check::ir;
use expc_check::value::{Distribution, Value};

/// The value of one axis at one point of a sweep.
pub fn value(sweep: &ir::Sweep, point: u64, axis: usize) -> Value {
    let Some(a) = sweep.axes.get(axis) else {
        return Value::None;
    };
    match sweep.strategy {
        ir::Strategy::Product => {
            // The last axis varies fastest.
            let mut stride = 1u64;
            for later in &sweep.axes[axis + 1..] {
                stride = stride.saturating_mul(len(later));
            }
            let n = len(a).max(1);
            let i = (point / stride.max(1)) % n;
            list(a).get(i as usize).cloned().unwrap_or(Value::None)
        }
        ir::Strategy::Zip | ir::Strategy::List | ir::Strategy::Rows | ir::Strategy::Produced => {
            list(a).get(point as usize).cloned().unwrap_or(Value::None)
        }
        _ => draw(
            sweep.seed.unwrap_or(0),
            point,
            axis as u64,
            a.values.as_ref(),
        ),
    }
}

/// Every value of one point, by axis.
pub fn point(sweep: &ir::Sweep, point: u64) -> Vec<(String, Value)> {
    (0..sweep.axes.len())
        .map(|a| (sweep.axes[a].name.clone(), value(sweep, point, a)))
        .collect()
}

fn list(a: &ir::Axis) -> &[Value] {
    a.values.as_ref().and_then(Value::as_list).unwrap_or(&[])
}

fn len(a: &ir::Axis) -> u64 {
    list(a).len() as u64
}

/// SplitMix64: a small generator whose output is fixed by its definition, so a seed gives
/// the same points on every machine and in every version of expc.
fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A uniform float in [0, 1) for (seed, point, axis).
fn unit(seed: i64, point: u64, axis: u64) -> f64 {
    let h = splitmix(splitmix(splitmix(seed as u64) ^ point) ^ axis);
    (h >> 11) as f64 / (1u64 << 53) as f64
}

fn draw(seed: i64, point: u64, axis: u64, dist: Option<&Value>) -> Value {
    let u = unit(seed, point, axis);
    match dist {
        Some(Value::Distribution(Distribution::Uniform(lo, hi))) => {
            Value::Float(lo + (hi - lo) * u)
        }
        Some(Value::Distribution(Distribution::LogUniform(lo, hi))) => {
            Value::Float((lo.ln() + (hi.ln() - lo.ln()) * u).exp())
        }
        Some(Value::Distribution(Distribution::Choice(items))) if !items.is_empty() => {
            let i = ((u * items.len() as f64) as usize).min(items.len() - 1);
            items[i].clone()
        }
        _ => Value::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generator_is_fixed() {
        // Values pinned so that a change of the generator cannot go unnoticed: it would
        // change the points of every random sweep ever planned.
        assert_eq!(splitmix(0), 0xe220_a839_7b1d_cdaf);
        assert_eq!(splitmix(1), 0x910a_2dec_8902_5cc1);
        let u = unit(7, 3, 0);
        assert!((0.0..1.0).contains(&u));
        assert_eq!(unit(7, 3, 0), unit(7, 3, 0));
        assert_ne!(unit(7, 3, 0), unit(7, 4, 0));
    }
}

//! Unit quantities: memory sizes and durations, read exactly.
//!
//! A memory size is stored in bytes, a duration in milliseconds, both as integers: `1.5GiB`
//! is exactly 1,610,612,736 bytes and `2h30m` exactly 9,000,000 ms. A literal that does not
//! come to a whole number of bytes or milliseconds is rejected rather than rounded.

use std::fmt;

use expc_diagnostics::Code;

/// The dimension of a quantity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dimension {
    Memory,
    Duration,
}

/// An exact quantity: bytes for memory, milliseconds for durations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Quantity {
    pub dimension: Dimension,
    pub amount: u64,
}

const MEMORY_UNITS: &[(&str, u64)] = &[
    ("B", 1),
    ("KB", 1_000),
    ("MB", 1_000_000),
    ("GB", 1_000_000_000),
    ("TB", 1_000_000_000_000),
    ("PB", 1_000_000_000_000_000),
    ("KiB", 1 << 10),
    ("MiB", 1 << 20),
    ("GiB", 1 << 30),
    ("TiB", 1 << 40),
    ("PiB", 1 << 50),
];

/// Duration units, largest first: a compound duration must use them in this order.
const DURATION_UNITS: &[(&str, u64)] = &[
    ("w", 7 * 24 * 3_600_000),
    ("d", 24 * 3_600_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

/// Every unit name, for suggestions.
pub fn unit_names() -> impl Iterator<Item = &'static str> {
    MEMORY_UNITS
        .iter()
        .chain(DURATION_UNITS)
        .map(|(name, _)| *name)
}

/// Why a quantity literal was rejected; `range` is relative to the literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuantityError {
    pub code: Code,
    pub message: String,
    pub help: Option<String>,
    pub range: std::ops::Range<usize>,
}

/// Reads a quantity literal such as `32GiB`, `1.5h` or `2h30m`.
pub fn parse(literal: &str) -> Result<Quantity, QuantityError> {
    let mut total: u128 = 0;
    let mut dimension = None;
    let mut last_duration_rank: Option<usize> = None;
    let mut pos = 0;
    let bytes = literal.as_bytes();
    let mut parts = 0;
    while pos < bytes.len() {
        let num_start = pos;
        while pos < bytes.len()
            && (bytes[pos].is_ascii_digit() || bytes[pos] == b'_' || bytes[pos] == b'.')
        {
            pos += 1;
        }
        let unit_start = pos;
        while pos < bytes.len() && bytes[pos].is_ascii_alphabetic() {
            pos += 1;
        }
        let number = &literal[num_start..unit_start];
        let unit = &literal[unit_start..pos];
        parts += 1;
        let (dim, factor, rank) =
            if let Some(&(_, f)) = MEMORY_UNITS.iter().find(|(u, _)| *u == unit) {
                (Dimension::Memory, f, None)
            } else if let Some(rank) = DURATION_UNITS.iter().position(|(u, _)| *u == unit) {
                (Dimension::Duration, DURATION_UNITS[rank].1, Some(rank))
            } else {
                return Err(QuantityError {
                    code: Code::UNKNOWN_UNIT,
                    message: format!("unknown unit `{unit}`"),
                    help: Some(unit_help(unit)),
                    range: unit_start..pos,
                });
            };
        match dimension {
            None => dimension = Some(dim),
            Some(previous) if previous != dim || dim == Dimension::Memory => {
                return Err(QuantityError {
                    code: Code::MALFORMED_QUANTITY,
                    message: format!(
                        "`{literal}` combines several units, which only durations may do"
                    ),
                    help: Some("write a memory size with one unit, such as `1536MiB`".into()),
                    range: 0..literal.len(),
                });
            }
            Some(_) => {}
        }
        if let (Some(rank), Some(last)) = (rank, last_duration_rank) {
            if rank <= last {
                return Err(QuantityError {
                    code: Code::MALFORMED_QUANTITY,
                    message: format!("the units of `{literal}` are out of order or repeated"),
                    help: Some("write compound durations from the largest unit to the smallest, each once, as in `1d2h30m`".into()),
                    range: 0..literal.len(),
                });
            }
        }
        last_duration_rank = rank.or(last_duration_rank);
        if parts > 1 && number.contains('.') {
            return Err(QuantityError {
                code: Code::MALFORMED_QUANTITY,
                message: format!("`{literal}` mixes a fraction into a compound duration"),
                help: Some("use whole numbers in compound durations, such as `1h30m`".into()),
                range: num_start..unit_start,
            });
        }
        let value = exact_product(number, factor).ok_or_else(|| QuantityError {
            code: Code::MALFORMED_QUANTITY,
            message: match dim {
                Dimension::Memory => format!("`{number}{unit}` is not a whole number of bytes"),
                Dimension::Duration => {
                    format!("`{number}{unit}` is not a whole number of milliseconds")
                }
            },
            help: Some("use a smaller unit, such as `1536MiB` for `1.5GiB`".into()),
            range: num_start..pos,
        })?;
        total += value;
        if total > u64::MAX as u128 {
            return Err(QuantityError {
                code: Code::NUMBER_OUT_OF_RANGE,
                message: format!("`{literal}` is too large"),
                help: None,
                range: 0..literal.len(),
            });
        }
    }
    Ok(Quantity {
        dimension: dimension.unwrap_or(Dimension::Memory),
        amount: total as u64,
    })
}

/// `number × factor` when it is a whole number; `number` is decimal with optional `_`s.
fn exact_product(number: &str, factor: u64) -> Option<u128> {
    let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
    // At most 30 digits, so the mantissa cannot overflow.
    let mut digits = 0;
    let mut mantissa: u128 = 0;
    for b in int_part.bytes().chain(frac_part.bytes()) {
        if b == b'_' {
            continue;
        }
        if !b.is_ascii_digit() {
            return None;
        }
        digits += 1;
        if digits > 30 {
            return None;
        }
        mantissa = mantissa * 10 + u128::from(b - b'0');
    }
    if digits == 0 {
        return None;
    }
    let scale = 10u128.checked_pow(frac_part.len() as u32)?;
    let product = mantissa.checked_mul(factor as u128)?;
    (product % scale == 0).then_some(product / scale)
}

fn unit_help(unit: &str) -> String {
    let lower = unit.to_ascii_lowercase();
    let memory: Vec<_> = MEMORY_UNITS
        .iter()
        .map(|(u, _)| *u)
        .filter(|u| {
            u.to_ascii_lowercase() == lower
                || u.to_ascii_lowercase() == format!("{}ib", lower.trim_end_matches('b'))
        })
        .collect();
    if !memory.is_empty() {
        let list: Vec<String> = memory.iter().map(|u| format!("`{u}`")).collect();
        return format!(
            "did you mean {}? units are case-sensitive",
            list.join(" or ")
        );
    }
    let durations: &[(&str, &str)] = &[
        ("min", "m"),
        ("mins", "m"),
        ("minute", "m"),
        ("minutes", "m"),
        ("sec", "s"),
        ("secs", "s"),
        ("second", "s"),
        ("seconds", "s"),
        ("hr", "h"),
        ("hrs", "h"),
        ("hour", "h"),
        ("hours", "h"),
        ("day", "d"),
        ("days", "d"),
        ("week", "w"),
        ("weeks", "w"),
        ("H", "h"),
        ("S", "s"),
        ("D", "d"),
    ];
    if let Some((_, u)) = durations
        .iter()
        .find(|(alias, _)| *alias == unit || alias.eq_ignore_ascii_case(unit))
    {
        return format!("did you mean `{u}`?");
    }
    "memory units: B KB MB GB TB PB KiB MiB GiB TiB PiB; durations: w d h m s ms".into()
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.dimension {
            Dimension::Memory => {
                for (unit, factor) in MEMORY_UNITS.iter().rev() {
                    if self.amount >= *factor && self.amount % factor == 0 {
                        return write!(f, "{}{unit}", self.amount / factor);
                    }
                }
                write!(f, "{}B", self.amount)
            }
            Dimension::Duration => {
                if self.amount == 0 {
                    return f.write_str("0s");
                }
                let mut rest = self.amount;
                for (unit, factor) in DURATION_UNITS {
                    if rest >= *factor {
                        write!(f, "{}{unit}", rest / factor)?;
                        rest %= factor;
                    }
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> (Dimension, u64) {
        let q = parse(s).unwrap();
        (q.dimension, q.amount)
    }

    #[test]
    fn exact_conversions() {
        assert_eq!(ok("32GiB"), (Dimension::Memory, 32 << 30));
        assert_eq!(ok("1.5GiB"), (Dimension::Memory, 1_610_612_736));
        assert_eq!(ok("2GB"), (Dimension::Memory, 2_000_000_000));
        assert_eq!(ok("2h30m"), (Dimension::Duration, 9_000_000));
        assert_eq!(ok("1.5h"), (Dimension::Duration, 5_400_000));
        assert_eq!(ok("90s"), (Dimension::Duration, 90_000));
        assert_eq!(ok("1d12h"), (Dimension::Duration, 36 * 3_600_000));
    }

    #[test]
    fn rejects_what_cannot_be_exact() {
        assert_eq!(parse("0.5B").unwrap_err().code, Code::MALFORMED_QUANTITY);
        assert_eq!(parse("30m2h").unwrap_err().code, Code::MALFORMED_QUANTITY);
        assert_eq!(
            parse("1GiB512MiB").unwrap_err().code,
            Code::MALFORMED_QUANTITY
        );
        let e = parse("16Gb").unwrap_err();
        assert_eq!(e.code, Code::UNKNOWN_UNIT);
        assert!(e.help.unwrap().contains("`GB` or `GiB`"));
        assert_eq!(
            parse("99999999PiB").unwrap_err().code,
            Code::NUMBER_OUT_OF_RANGE
        );
        assert_eq!(
            parse("10mins").unwrap_err().help.unwrap(),
            "did you mean `m`?"
        );
    }

    #[test]
    fn display_is_canonical() {
        assert_eq!(parse("1536MiB").unwrap().to_string(), "1536MiB");
        assert_eq!(parse("2048MiB").unwrap().to_string(), "2GiB");
        assert_eq!(parse("150m").unwrap().to_string(), "2h30m");
    }
}

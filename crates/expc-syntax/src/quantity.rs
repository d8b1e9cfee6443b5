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

/// The memory units, smallest first within each base (for completion and hovers).
pub fn memory_unit_names() -> impl Iterator<Item = &'static str> {
    MEMORY_UNITS.iter().map(|(name, _)| *name)
}

/// The duration units, smallest first (for completion and hovers).
pub fn duration_unit_names() -> impl Iterator<Item = &'static str> {
    DURATION_UNITS.iter().rev().map(|(name, _)| *name)
}

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
        let (dim, factor, rank) = if let Some(f) = memory_factor(unit) {
            (Dimension::Memory, f, None)
        } else if let Some(rank) = duration_rank(unit) {
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

/// The factor of a memory unit of [`MEMORY_UNITS`]: a `match`, which compiles to a switch
/// on the length, where a search of the list compared each unit in turn (this is asked of
/// every quantity, twice: by the lexer and by the parser).
fn memory_factor(unit: &str) -> Option<u64> {
    Some(match unit {
        "B" => 1,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        "PB" => 1_000_000_000_000_000,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        "PiB" => 1 << 50,
        _ => return None,
    })
}

/// The index of a duration unit in [`DURATION_UNITS`].
fn duration_rank(unit: &str) -> Option<usize> {
    Some(match unit {
        "w" => 0,
        "d" => 1,
        "h" => 2,
        "m" => 3,
        "s" => 4,
        "ms" => 5,
        _ => return None,
    })
}

/// `number × factor` when it is a whole number; `number` is decimal with optional `_`s.
fn exact_product(number: &str, factor: u64) -> Option<u128> {
    let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
    if frac_part.is_empty() && int_part.len() <= 19 {
        // A whole number of at most 19 digits fits a `u64`, and its product with a `u64`
        // a `u128`: no wide division, which is most of the cost of the general case.
        let mut mantissa: u64 = 0;
        let mut digits = 0;
        for b in int_part.bytes() {
            if b == b'_' {
                continue;
            }
            if !b.is_ascii_digit() {
                return None;
            }
            digits += 1;
            mantissa = mantissa * 10 + u64::from(b - b'0');
        }
        return (digits > 0).then(|| u128::from(mantissa) * u128::from(factor));
    }
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

    /// The `match`es agree with the unit lists.
    #[test]
    fn unit_matches_agree_with_the_lists() {
        for (rank, (unit, factor)) in DURATION_UNITS.iter().enumerate() {
            assert_eq!(duration_rank(unit), Some(rank), "{unit}");
            assert_eq!(memory_factor(unit), None, "{unit}");
            assert_eq!(DURATION_UNITS[rank].1, *factor);
        }
        for (unit, factor) in MEMORY_UNITS {
            assert_eq!(memory_factor(unit), Some(*factor), "{unit}");
            assert_eq!(duration_rank(unit), None, "{unit}");
        }
        for unit in ["", "b", "kib", "Gib", "M", "H", "min", "mss"] {
            assert_eq!(
                (memory_factor(unit), duration_rank(unit)),
                (None, None),
                "{unit}"
            );
        }
    }

    /// The whole-number shortcut of `exact_product` agrees with the general case.
    #[test]
    fn whole_numbers_take_the_shortcut_exactly() {
        for (number, factor) in [
            ("0", 1u64),
            ("1_000", 1 << 30),
            ("18446744073709551615", 1 << 50),
            ("9999999999999999999", 1_000_000_000_000_000),
            ("12345678901234567890", 1),
            ("1__2", 60_000),
        ] {
            let general = exact_product(&format!("{number}.0"), factor);
            assert_eq!(
                exact_product(number, factor),
                general,
                "{number} × {factor}"
            );
        }
        assert_eq!(exact_product("_", 1), None);
        assert_eq!(exact_product("1a", 1), None);
    }

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

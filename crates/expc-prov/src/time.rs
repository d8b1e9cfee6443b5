//! Timestamps as the store keeps them: UTC, RFC 3339, milliseconds.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `2026-12-01T23:05:12.345Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, day) = civil(days as i64);
    let ms = u64::from(d.subsec_millis());
    if !(0..10_000).contains(&y) {
        return format!(
            "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{ms:03}Z",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60,
        );
    }
    // Written digit by digit (not through `format!`): a run records two times per instance.
    let mut out = String::with_capacity(24);
    for (sep, n, width) in [
        (None, y as u64, 4),
        (Some('-'), u64::from(m), 2),
        (Some('-'), u64::from(day), 2),
        (Some('T'), rem / 3600, 2),
        (Some(':'), rem % 3600 / 60, 2),
        (Some(':'), rem % 60, 2),
        (Some('.'), ms, 3),
    ] {
        out.extend(sep);
        for i in (0..width).rev() {
            out.push(char::from(b'0' + (n / 10u64.pow(i) % 10) as u8));
        }
    }
    out.push('Z');
    out
}

/// `20261201T230512Z`, for run ids.
pub fn compact(t: SystemTime) -> String {
    let s = rfc3339(t);
    let mut out: String = s[..19].chars().filter(|c| *c != '-' && *c != ':').collect();
    out.push('Z');
    out
}

/// Milliseconds between two stored timestamps, when both parse.
pub fn millis_between(start: &str, end: &str) -> Option<i64> {
    Some(parse_ms(end)? - parse_ms(start)?)
}

/// Milliseconds since the epoch of a stored timestamp.
pub fn parse_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[10] != b'T' {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (n(0..4)?, n(5..7)?, n(8..10)?);
    let (hh, mm, ss) = (n(11..13)?, n(14..16)?, n(17..19)?);
    let ms = if b.get(19) == Some(&b'.') {
        n(20..23).unwrap_or(0)
    } else {
        0
    };
    Some(((days_from_civil(y, m, d) * 86_400 + hh * 3600 + mm * 60 + ss) * 1000) + ms)
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_back() {
        let t = UNIX_EPOCH + Duration::from_millis(1_796_166_312_345);
        let s = rfc3339(t);
        assert_eq!(s, "2026-12-01T23:05:12.345Z");
        assert_eq!(parse_ms(&s), Some(1_796_166_312_345));
        assert_eq!(compact(t), "20261201T230512Z");
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        // Digit by digit, as `format!` would write it.
        for ms in (0..4_000_000_000_000u64).step_by(97_003_117_019) {
            let d = Duration::from_millis(ms);
            let (y, m, day) = civil((d.as_secs() / 86_400) as i64);
            let rem = d.as_secs() % 86_400;
            let expected = format!(
                "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
                rem / 3600,
                rem % 3600 / 60,
                rem % 60,
                d.subsec_millis()
            );
            assert_eq!(rfc3339(UNIX_EPOCH + d), expected);
            assert_eq!(parse_ms(&expected), Some(ms as i64));
        }
        for days in [0i64, 59, 60, 365, 11_016, 20_000, 30_000] {
            let (y, m, d) = civil(days);
            assert_eq!(days_from_civil(y, m as i64, d as i64), days);
        }
    }
}

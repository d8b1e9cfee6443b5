//! Kubernetes resource quantities from expc's typed units, exactly: a quantity is never
//! rounded, so what the cluster reserves is what the spec says.

/// Memory in bytes as a quantity: the largest binary suffix that divides it (`2GiB` is
/// `2Gi`), else the largest decimal one (`1500MB` is `1500M`), else plain bytes.
pub fn memory(bytes: u64) -> String {
    const UNITS: [(u64, &str); 8] = [
        (1 << 50, "Pi"),
        (1 << 40, "Ti"),
        (1 << 30, "Gi"),
        (1 << 20, "Mi"),
        (1 << 10, "Ki"),
        (1_000_000_000_000, "T"),
        (1_000_000_000, "G"),
        (1_000_000, "M"),
    ];
    if bytes == 0 {
        return "0".into();
    }
    for (size, suffix) in UNITS {
        if bytes % size == 0 {
            return format!("{}{suffix}", bytes / size);
        }
    }
    if bytes % 1000 == 0 {
        return format!("{}k", bytes / 1000);
    }
    bytes.to_string()
}

/// CPUs as a quantity: whole CPUs as a number (`2`), else millicores (`0.5` is `500m`).
/// `None` when the amount is not positive or not a whole number of millicores, which no
/// quantity can say exactly.
pub fn cpu(cpus: f64) -> Option<String> {
    if !cpus.is_finite() || cpus <= 0.0 || cpus > 1e12 {
        return None;
    }
    let milli = (cpus * 1000.0).round();
    if (milli - cpus * 1000.0).abs() > 1e-6 * milli.max(1.0) || milli < 1.0 {
        return None;
    }
    let milli = milli as u64;
    Some(if milli % 1000 == 0 {
        (milli / 1000).to_string()
    } else {
        format!("{milli}m")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_exact() {
        assert_eq!(memory(2 << 30), "2Gi");
        assert_eq!(memory(16 << 30), "16Gi");
        assert_eq!(memory(1536 << 20), "1536Mi");
        assert_eq!(memory(1_500_000_000), "1500M");
        assert_eq!(memory(3 << 10), "3Ki");
        assert_eq!(memory(1000), "1k");
        assert_eq!(memory(1001), "1001");
        assert_eq!(memory(1 << 40), "1Ti");
    }

    #[test]
    fn cpu_is_exact() {
        assert_eq!(cpu(2.0).as_deref(), Some("2"));
        assert_eq!(cpu(0.5).as_deref(), Some("500m"));
        assert_eq!(cpu(2.5).as_deref(), Some("2500m"));
        assert_eq!(cpu(0.001).as_deref(), Some("1m"));
        assert_eq!(cpu(0.0005), None);
        assert_eq!(cpu(0.0), None);
        assert_eq!(cpu(-1.0), None);
        assert_eq!(cpu(f64::NAN), None);
    }
}

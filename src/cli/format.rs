//! Numbers for people: energies with a unit, counts with a suffix.

/// An energy in pJ with a unit by magnitude.
pub fn fmt_energy(pj: f64) -> String {
    if pj == 0.0 {
        return "0".into();
    }
    let a = pj.abs();
    let (v, u) = if a >= 1e9 {
        (pj / 1e9, "mJ")
    } else if a >= 1e6 {
        (pj / 1e6, "uJ")
    } else if a >= 1e3 {
        (pj / 1e3, "nJ")
    } else {
        (pj, "pJ")
    };
    // Three significant digits.
    let digits = if v.abs() >= 100.0 {
        0
    } else if v.abs() >= 10.0 {
        1
    } else {
        2
    };
    format!("{v:.digits$}{u}")
}

/// A count with k/M/G suffix.
pub fn fmt_count(n: f64) -> String {
    let a = n.abs();
    if a >= 1e9 {
        format!("{:.2}G", n / 1e9)
    } else if a >= 1e6 {
        format!("{:.2}M", n / 1e6)
    } else if a >= 1e3 {
        format!("{:.1}k", n / 1e3)
    } else {
        format!("{n:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_by_magnitude() {
        assert_eq!(fmt_energy(12.0), "12.0pJ");
        assert_eq!(fmt_energy(5.3e9), "5.30mJ");
        assert_eq!(fmt_energy(2.5e4), "25.0nJ");
        assert_eq!(fmt_count(70287104.0), "70.29M");
        assert_eq!(fmt_count(3744.0), "3.7k");
        assert_eq!(fmt_count(12.0), "12");
    }
}

//! Text forms of DICOM values that every writer of DICOM files needs.

/// A decimal string of at most 16 characters, as the DS value representation requires.
pub fn decimal_string(v: f64) -> String {
    for precision in (0..=6).rev() {
        let mut s = format!("{v:.precision$}");
        if s.contains('.') {
            s = s.trim_end_matches('0').trim_end_matches('.').to_string();
        }
        if s == "-0" {
            s = "0".to_string();
        }
        if s.len() <= 16 {
            return s;
        }
    }
    format!("{v:.0}")
}

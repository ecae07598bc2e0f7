//! Personal data in logs: phone numbers are never written in full. Wrap them in [`Pii`] and
//! format that instead; it keeps a leading `+` and country code hint and the last four
//! digits, enough to tell calls apart, not enough to dial.

use std::fmt;

/// A phone number (or any identifier) that must be masked whenever it is displayed.
#[derive(Clone, Copy)]
pub struct Pii<'a>(pub &'a str);

impl fmt::Display for Pii<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        let digits = s.chars().filter(char::is_ascii_digit).count();
        if digits <= 4 {
            return f.write_str(&"*".repeat(s.chars().count()));
        }
        let keep_head: usize = if s.starts_with('+') { 3 } else { 0 };
        let keep_tail = 4;
        let mut seen = 0;
        for c in s.chars() {
            if c.is_ascii_digit() {
                let visible = seen < keep_head.saturating_sub(1) || seen >= digits - keep_tail;
                if visible {
                    write!(f, "{c}")?;
                } else {
                    f.write_str("*")?;
                }
                seen += 1;
            } else {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Pii<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pii({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_all_but_country_code_and_tail() {
        assert_eq!(Pii("+8613800138000").to_string(), "+86*******8000");
        assert_eq!(Pii("13800138000").to_string(), "*******8000");
        assert_eq!(Pii("1000").to_string(), "****");
        assert_eq!(format!("{:?}", Pii("+14155550123")), "Pii(+14*****0123)");
    }
}

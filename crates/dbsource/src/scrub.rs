//! [`Secrets`]: the strings (password, full URL with credentials) that must never leave this
//! crate in an error text, and the one function that removes them.

/// Secret strings of one source; [`Secrets::scrub`] replaces each with `********`.
#[derive(Clone, Default)]
pub(crate) struct Secrets {
    values: Vec<String>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secrets({} hidden)", self.values.len())
    }
}

impl Secrets {
    /// Remembers `value` as secret (empty values are ignored).
    pub fn add(&mut self, value: &str) {
        if !value.is_empty() && !self.values.iter().any(|v| v == value) {
            self.values.push(value.to_owned());
            // Longest first, so a URL is replaced whole before the password inside it.
            self.values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        }
    }

    /// `text` with every secret replaced by `********`.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for value in &self.values {
            if out.contains(value.as_str()) {
                out = out.replace(value.as_str(), "********");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubs_longest_first_and_ignores_empty() {
        let mut s = Secrets::default();
        s.add("");
        s.add("pw");
        s.add("postgres://u:pw@h/db");
        assert_eq!(
            s.scrub("bad postgres://u:pw@h/db and pw"),
            "bad ******** and ********"
        );
        assert_eq!(s.scrub("nothing"), "nothing");
    }
}

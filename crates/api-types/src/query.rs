//! Query-string values as ASP.NET binds them: booleans case-insensitive (`true`, `True`,
//! `FALSE`), `1`/`0` rejected; keys matched case-insensitively (`Dump` and `dump`).

/// Parses a query boolean the way ASP.NET does. `None` when it is not a boolean.
pub fn parse_bool(text: &str) -> Option<bool> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("true") {
        Some(true)
    } else if t.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans() {
        for t in ["true", "True", "TRUE", " true "] {
            assert_eq!(parse_bool(t), Some(true));
        }
        for f in ["false", "False"] {
            assert_eq!(parse_bool(f), Some(false));
        }
        for bad in ["1", "0", "yes", ""] {
            assert_eq!(parse_bool(bad), None);
        }
    }
}

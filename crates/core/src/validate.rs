//! Parse-don't-validate for user-supplied names: e-mails, portal aliases, titles, passwords.
//! Each function returns the normalised value or `CoreError::Invalid` with a message fit for
//! the client.

use crate::error::{CoreError, CoreResult};

fn invalid<T>(msg: impl Into<String>) -> CoreResult<T> {
    Err(CoreError::Invalid(msg.into()))
}

/// A trimmed, lower-cased e-mail address of plausible shape.
pub fn email(raw: Option<&str>) -> CoreResult<String> {
    let e = raw.unwrap_or("").trim().to_lowercase();
    if e.is_empty() {
        return invalid("Email is required");
    }
    let ok = e.len() <= 255
        && e.chars().all(|c| !c.is_whitespace() && !c.is_control())
        && matches!(e.split_once('@'), Some((l, d)) if !l.is_empty() && d.contains('.') && !d.starts_with('.') && !d.ends_with('.') && !d.contains('@'));
    if !ok {
        return invalid("Incorrect email");
    }
    Ok(e)
}

/// A password of 8 to 120 characters.
pub fn password(raw: Option<&str>) -> CoreResult<String> {
    let p = raw.unwrap_or("");
    let n = p.chars().count();
    if n < 8 {
        return invalid("Password must be at least 8 characters long");
    }
    if n > 120 {
        return invalid("Password must be at most 120 characters long");
    }
    Ok(p.to_string())
}

/// A person's first or last name: trimmed, 1 to 255 characters, no control characters.
pub fn person_name(raw: Option<&str>, field: &str) -> CoreResult<String> {
    let n = raw.unwrap_or("").trim();
    if n.is_empty() {
        return invalid(format!("{field} is required"));
    }
    if n.chars().count() > 255 || n.chars().any(char::is_control) {
        return invalid(format!("Incorrect {field}"));
    }
    Ok(n.to_string())
}

/// A portal alias: 3 to 63 of `[a-z0-9-]`, not starting or ending with `-` (a DNS label).
pub fn alias(raw: Option<&str>) -> CoreResult<String> {
    let a = raw.unwrap_or("").trim().to_lowercase();
    let ok = (3..=63).contains(&a.len())
        && a.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !a.starts_with('-')
        && !a.ends_with('-');
    if !ok {
        return invalid(
            "Portal name must be 3 to 63 characters of latin letters, digits and hyphens",
        );
    }
    Ok(a)
}

/// A room, folder or file title: trimmed, 1 to 170 characters, none of `/ \ : * ? " < > |`,
/// no control characters, and not `.` or `..`. Titles never become paths, but refusing these
/// keeps what users see equal to what an export writes.
pub fn title(raw: Option<&str>) -> CoreResult<String> {
    let t = raw.unwrap_or("").trim();
    if t.is_empty() {
        return invalid("Title is required");
    }
    if t.chars().count() > 170 {
        return invalid("Title must be at most 170 characters long");
    }
    if t == "." || t == ".." {
        return invalid("Title may not be '.' or '..'");
    }
    if let Some(c) = t
        .chars()
        .find(|c| c.is_control() || "/\\:*?\"<>|".contains(*c))
    {
        return invalid(format!("Title contains a forbidden character {c:?}"));
    }
    Ok(t.to_string())
}

/// An API key name: trimmed, 1 to 30 characters.
pub fn key_name(raw: Option<&str>) -> CoreResult<String> {
    let n = raw.unwrap_or("").trim();
    if n.is_empty() {
        return invalid("Name is required");
    }
    if n.chars().count() > 30 || n.chars().any(char::is_control) {
        return invalid("Name must be 1 to 30 characters long");
    }
    Ok(n.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles() {
        assert_eq!(title(Some("  Отчёты 2026 ")).unwrap(), "Отчёты 2026");
        for bad in ["", "  ", "..", "../etc", "a/b", "a\\b", "x\u{0}y", "a:b"] {
            assert!(title(Some(bad)).is_err(), "{bad:?}");
        }
        assert!(title(Some(&"x".repeat(171))).is_err());
    }

    #[test]
    fn emails_and_aliases() {
        assert_eq!(email(Some(" A@B.org ")).unwrap(), "a@b.org");
        for bad in ["", "a", "a@b", "@b.c", "a b@c.d", "a@b@c.d"] {
            assert!(email(Some(bad)).is_err(), "{bad:?}");
        }
        assert_eq!(alias(Some("My-Portal")).unwrap(), "my-portal");
        for bad in ["ab", "-ab", "a_b", "x.y", "ab-"] {
            assert!(alias(Some(bad)).is_err(), "{bad:?}");
        }
        assert!(password(Some("short")).is_err());
        assert!(key_name(Some(&"k".repeat(31))).is_err());
    }
}

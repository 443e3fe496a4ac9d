//! PostgreSQL version numbers: parsing `pg_dump --version` and `server_version_num`, and the
//! rule that a `pg_dump` must be at least as new (major version) as the server it dumps.

use crate::error::{DbError, Result};

/// A PostgreSQL major version, as `server_version_num` counts it without the minor part:
/// 150000 for 15, 90600 for 9.6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct PgMajor(pub u32);

impl PgMajor {
    /// From `server_version_num` (`150020` → 15, `90624` → 9.6).
    pub fn from_num(num: u32) -> Self {
        if num >= 100_000 {
            PgMajor(num / 10_000 * 10_000)
        } else {
            PgMajor(num / 100 * 100)
        }
    }

    /// From the first `N.N[.N]` in a `--version` line such as
    /// `pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)`, or `17beta1`.
    pub fn from_version_text(text: &str) -> Option<Self> {
        let after = text.split_once(')').map_or(text, |(_, rest)| rest);
        let start = after.find(|c: char| c.is_ascii_digit())?;
        let mut parts = after[start..]
            .split(|c: char| !c.is_ascii_digit())
            .take(2)
            .map(|p| p.parse::<u32>().ok());
        let first = parts.next()??;
        if first >= 10 {
            Some(PgMajor(first * 10_000))
        } else {
            let second = parts.next().flatten().unwrap_or(0);
            Some(PgMajor(first * 10_000 + second * 100))
        }
    }

    /// The major version as people write it: 15, or 9 for 9.x.
    pub fn major(self) -> u32 {
        self.0 / 10_000
    }
}

/// Refuses a `pg_dump` whose major version is below the server's.
///
/// # Errors
/// [`DbError::ToolTooOld`], or [`DbError::Unexpected`] when the tool's version cannot be read.
pub(crate) fn check_pg_dump(tool_line: &str, server_version: &str, server_num: u32) -> Result<()> {
    let tool = PgMajor::from_version_text(tool_line)
        .ok_or_else(|| DbError::unexpected("pg_dump --version", tool_line))?;
    let server = PgMajor::from_num(server_num);
    if tool < server {
        return Err(DbError::ToolTooOld {
            tool: "pg_dump".to_owned(),
            tool_version: tool_line.to_owned(),
            server_version: server_version.to_owned(),
            server_major: server.major(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tool_lines() {
        let cases = [
            (
                "pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)",
                150_000,
            ),
            ("pg_dump (PostgreSQL) 9.6.24", 90_600),
            ("pg_dump (PostgreSQL) 17beta1", 170_000),
            ("pg_dump (PostgreSQL) 10.1", 100_000),
        ];
        for (line, want) in cases {
            assert_eq!(
                PgMajor::from_version_text(line),
                Some(PgMajor(want)),
                "{line}"
            );
        }
        assert_eq!(PgMajor::from_version_text("pg_dump (PostgreSQL) dev"), None);
    }

    #[test]
    fn server_numbers_drop_the_minor() {
        assert_eq!(PgMajor::from_num(150_020), PgMajor(150_000));
        assert_eq!(PgMajor::from_num(90_624), PgMajor(90_600));
        assert_eq!(PgMajor::from_num(160_000).major(), 16);
    }

    #[test]
    fn older_tool_is_refused_newer_or_equal_is_fine() {
        let ok = |tool: &str, num| check_pg_dump(tool, "x", num).is_ok();
        assert!(ok("pg_dump (PostgreSQL) 15.1", 150_020));
        assert!(ok("pg_dump (PostgreSQL) 17.0", 150_020));
        assert!(ok("pg_dump (PostgreSQL) 10.0", 90_624));
        assert!(!ok("pg_dump (PostgreSQL) 9.6.24", 100_001));
        assert!(!ok("pg_dump (PostgreSQL) 9.5.1", 90_600));
        let err = check_pg_dump("pg_dump (PostgreSQL) 14.9", "16.2", 160_002)
            .expect_err("too old")
            .to_string();
        assert!(err.contains("older than the server (16.2)"), "{err}");
        assert!(err.contains("version 16 or newer"), "{err}");
        assert!(check_pg_dump("garbage", "15", 150_000).is_err());
    }
}

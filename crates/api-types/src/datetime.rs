//! DocSpace date-times on the wire: ISO 8601 with seven fractional digits and an offset
//! (`2026-03-01T02:15:00.0000000+00:00`), as .NET writes them. Reading accepts any RFC 3339
//! value, `+0000` offsets (what the Python SDK sends) and plain dates.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

/// Formats a UTC instant the way DocSpace does.
pub fn format(t: DateTime<Utc>) -> String {
    let ticks = t.timestamp_subsec_nanos() / 100;
    format!("{}.{ticks:07}+00:00", t.format("%Y-%m-%dT%H:%M:%S"))
}

/// .NET's `DateTime.MinValue` (`0001-01-01T00:00:00`): what upstream sends for "never".
pub fn dotnet_min_value() -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(1, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Parses what DocSpace clients send for a date-time query or body value.
///
/// Returns `None` when the text is none of the accepted forms.
pub fn parse(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%dT%H:%M:%S%z",
        "%Y-%m-%d %H:%M:%S%.f%z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(text, fmt) {
            return Some(t.with_timezone(&Utc));
        }
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, fmt) {
            return Some(t.and_utc());
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

/// serde adapter: `#[serde(with = "dsbackup_api_types::datetime::wire")]`.
pub mod wire {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format(*t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        super::parse(&text).ok_or_else(|| serde::de::Error::custom("invalid date-time"))
    }
}

/// serde adapter for optional date-times (left out when `None`).
pub mod wire_opt {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&super::format(*t)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(text) => super::parse(&text)
                .map(Some)
                .ok_or_else(|| serde::de::Error::custom("invalid date-time")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn formats_like_dotnet() {
        let t = Utc.with_ymd_and_hms(2026, 3, 1, 2, 15, 0).unwrap();
        assert_eq!(format(t), "2026-03-01T02:15:00.0000000+00:00");
    }

    #[test]
    fn parses_client_forms() {
        let t = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(parse("2024-01-01T00:00:00.000000+0000"), Some(t));
        assert_eq!(parse("2024-01-01T00:00:00Z"), Some(t));
        assert_eq!(parse("2024-01-01"), Some(t));
        assert_eq!(parse("2024-01-01T03:00:00+03:00"), Some(t));
        assert_eq!(parse("yesterday"), None);
    }
}

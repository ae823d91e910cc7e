//! Timestamps on the wire: RFC 3339, UTC, millisecond precision.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

/// Format as `2024-01-10T10:00:00.000Z`.
pub fn rfc3339_ms(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        ))
        .expect("a UTC timestamp formats")
}

/// Parse any RFC 3339 timestamp (any offset), truncated to milliseconds.
pub fn parse_rfc3339(s: &str) -> Option<OffsetDateTime> {
    let t = OffsetDateTime::parse(s, &Rfc3339).ok()?;
    let ms = t.unix_timestamp_nanos() / 1_000_000;
    OffsetDateTime::from_unix_timestamp_nanos(ms * 1_000_000).ok()
}

/// Format Unix milliseconds (a stored time) as [`rfc3339_ms`] does; an
/// instant out of range reads as the epoch (stored times are data).
pub fn rfc3339_from_ms(ms: i64) -> String {
    rfc3339_ms(
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH),
    )
}

/// An instant in Unix milliseconds.
pub fn unix_ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// Now, in Unix milliseconds.
pub fn now_ms() -> i64 {
    unix_ms(OffsetDateTime::now_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_with_millis_in_utc() {
        let t = parse_rfc3339("2025-12-31T23:59:59.123456+02:00").unwrap();
        assert_eq!(rfc3339_ms(t), "2025-12-31T21:59:59.123Z");
        assert!(parse_rfc3339("tomorrow").is_none());
    }
}

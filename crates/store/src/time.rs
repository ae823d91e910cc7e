//! Time, one way for the whole gateway: Unix milliseconds in the database
//! and in upstream/portal documents, [`OffsetDateTime`] in records, and
//! RFC 3339 with millisecond precision (`2024-01-10T10:00:00.000Z`) on the
//! wire. The gateway's `timefmt` re-exports these.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

/// `t` as Unix milliseconds (sub-millisecond precision is dropped).
pub fn unix_ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// Unix milliseconds as a time; an instant out of range reads as the
/// epoch (stored times are data, not trusted to be in range).
pub fn from_unix_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Now, in Unix milliseconds.
pub fn now_unix_ms() -> i64 {
    unix_ms(OffsetDateTime::now_utc())
}

/// Now, truncated to milliseconds (what the store can hold), so a value
/// returned at creation equals the value read back later.
pub fn now() -> OffsetDateTime {
    from_unix_ms(now_unix_ms())
}

/// Format as `2024-01-10T10:00:00.000Z` (UTC, always three fraction digits).
pub fn rfc3339_ms(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        ))
        .expect("a UTC timestamp formats")
}

/// Format Unix milliseconds (a stored time) as [`rfc3339_ms`] does; an
/// instant out of range reads as the epoch.
pub fn rfc3339_from_ms(ms: i64) -> String {
    rfc3339_ms(from_unix_ms(ms))
}

/// Parse any RFC 3339 timestamp (any offset), truncated to milliseconds;
/// `None` when `s` is not RFC 3339.
pub fn parse_rfc3339(s: &str) -> Option<OffsetDateTime> {
    let t = OffsetDateTime::parse(s, &Rfc3339).ok()?;
    let ms = t.unix_timestamp_nanos() / 1_000_000;
    OffsetDateTime::from_unix_timestamp_nanos(ms * 1_000_000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_with_millis_in_utc() {
        let t = parse_rfc3339("2025-12-31T23:59:59.123456+02:00").unwrap();
        assert_eq!(rfc3339_ms(t), "2025-12-31T21:59:59.123Z");
        assert!(parse_rfc3339("tomorrow").is_none());
        assert_eq!(from_unix_ms(unix_ms(t)), t);
        assert_eq!(rfc3339_from_ms(i64::MAX), "1970-01-01T00:00:00.000Z");
    }
}

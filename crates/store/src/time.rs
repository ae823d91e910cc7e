//! Time as the store keeps it: Unix milliseconds in the database,
//! [`OffsetDateTime`] in records.

use time::OffsetDateTime;

/// `t` as Unix milliseconds (sub-millisecond precision is dropped).
pub(crate) fn to_ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// Unix milliseconds as a time; out of range reads as the epoch.
pub(crate) fn from_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Now, truncated to milliseconds (what the store can hold), so a value
/// returned at creation equals the value read back later.
pub(crate) fn now_ms() -> OffsetDateTime {
    from_ms(to_ms(OffsetDateTime::now_utc()))
}

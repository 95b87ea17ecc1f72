//! Turning what people type into the backoffice's forms into domain values, and
//! back: dates in the user's time zone, amounts, and per-field error messages.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::links::FieldError;

/// Errors keyed by field name, for showing each next to its field.
#[derive(Debug, Default)]
pub struct FieldErrors(HashMap<String, String>);

impl FieldErrors {
    pub fn from_list(errors: &[FieldError]) -> FieldErrors {
        let mut map = HashMap::new();
        for e in errors {
            map.entry(e.field.clone())
                .or_insert_with(|| e.title.clone());
        }
        FieldErrors(map)
    }

    pub fn get(&self, field: &str) -> Option<&str> {
        self.0.get(field).map(String::as_str)
    }

    /// The error of `field` or of anything inside it (`taxes/0/amount` is inside
    /// `taxes/0` and `taxes`); the first by field name, so the choice is stable.
    pub fn first_under(&self, field: &str) -> Option<&str> {
        let inside = format!("{field}/");
        self.0
            .iter()
            .filter(|(k, _)| *k == field || k.starts_with(&inside))
            .min_by(|a, b| a.0.cmp(b.0))
            .map(|(_, v)| v.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A `datetime-local` value (`2026-12-01T10:00`) read in `tz`, as RFC 3339 UTC.
/// Values that already carry an offset pass through; anything unreadable is
/// returned as typed, for the validator to report.
pub fn local_to_utc(text: &str, tz: Tz) -> String {
    let text = text.trim();
    if DateTime::parse_from_rfc3339(text).is_ok() {
        return text.to_string();
    }
    let parsed = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S"));
    match parsed
        .ok()
        .and_then(|naive| tz.from_local_datetime(&naive).earliest())
    {
        Some(t) => t
            .with_timezone(&Utc)
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        None => text.to_string(),
    }
}

/// A time as a `datetime-local` value in `tz`.
pub fn utc_to_local_input(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%Y-%m-%dT%H:%M").to_string()
}

/// A time for people, in their time zone.
pub fn display_time(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string()
}

/// The first instant of a `YYYY-MM-DD` day in `tz` (or an RFC 3339 time as is).
pub fn day_start(text: &str, tz: Tz) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text.trim()) {
        return Some(t.with_timezone(&Utc));
    }
    let day = NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok()?;
    tz.from_local_datetime(&day.and_hms_opt(0, 0, 0)?)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

/// The last instant of a `YYYY-MM-DD` day in `tz`, so "to" includes that day.
pub fn day_end(text: &str, tz: Tz) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text.trim()) {
        return Some(t.with_timezone(&Utc));
    }
    let day = NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok()?;
    let next = tz
        .from_local_datetime(&day.succ_opt()?.and_hms_opt(0, 0, 0)?)
        .earliest()?;
    Some(next.with_timezone(&Utc) - chrono::Duration::milliseconds(1))
}

/// A CSV field, quoted when needed. A leading `=`, `+`, `-` or `@` is neutralised
/// so that a spreadsheet never runs a formula someone typed into a description.
pub fn csv_field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@']) {
        format!("'{value}")
    } else {
        value.to_string()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_times_are_read_in_the_users_zone() {
        let madrid: Tz = "Europe/Madrid".parse().unwrap();
        assert_eq!(
            local_to_utc("2026-07-01T10:00", madrid),
            "2026-07-01T08:00:00.000Z"
        );
        assert_eq!(
            local_to_utc("2026-12-01T10:00", madrid),
            "2026-12-01T09:00:00.000Z"
        );
        assert_eq!(
            local_to_utc("2026-12-01T10:00:00Z", madrid),
            "2026-12-01T10:00:00Z"
        );
        assert_eq!(local_to_utc("soon", madrid), "soon");
        let t = DateTime::parse_from_rfc3339("2026-12-01T09:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(utc_to_local_input(t, madrid), "2026-12-01T10:00");
    }

    #[test]
    fn day_ranges_cover_whole_days() {
        let utc = Tz::UTC;
        assert_eq!(
            day_start("2026-01-02", utc).unwrap().to_rfc3339(),
            "2026-01-02T00:00:00+00:00"
        );
        assert_eq!(
            day_end("2026-01-02", utc)
                .unwrap()
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "2026-01-02T23:59:59.999Z"
        );
        assert!(day_start("2 Jan", utc).is_none());
    }

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
    }
}

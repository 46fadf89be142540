//! Dates and times: the ISO 8601 cells a time column holds ([`parse_time`]), the calendar
//! periods that cut time windows ([`Every`]), and the calendar features a time column
//! becomes as a model input ([`TimeEncoder`]).
//!
//! A moment is a count of microseconds since 1970-01-01T00:00:00 UTC (`i64`). A date is its
//! midnight UTC; a timestamp without an offset is read as UTC; one with an offset is moved
//! to UTC. Calendar arithmetic is proleptic Gregorian (Howard Hinnant's `days_from_civil`).

use serde::{Deserialize, Serialize};

/// Microseconds in a second, a minute, an hour and a day.
const SECOND: i64 = 1_000_000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// Days from 1970-01-01 to `year-month-day` (negative before it).
pub(crate) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((month + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The `(year, month, day)` of day `days` after 1970-01-01.
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Whether `year` has a 29 February.
fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// Days in `month` of `year`.
fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `n` ASCII digits at the start of `b`, as a number.
fn digits(b: &[u8], n: usize) -> Option<u32> {
    let d = b.get(..n)?;
    d.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

/// Parses an ISO 8601 date or timestamp (the cell trimmed): `2026-12-01`, or a date, `T` (or
/// one space), `HH:MM` with optional `:SS` and a fraction of a second (`.` or `,`, up to 9
/// digits; microseconds kept), then optionally `Z` or an offset `±HH:MM` / `±HHMM` / `±HH`.
/// Four-digit years, real calendar days (29 February in leap years only), hours 00-23.
/// Returns microseconds since 1970-01-01T00:00:00 UTC, or `None` for anything else.
pub fn parse_time(cell: &str) -> Option<i64> {
    let b = cell.trim().as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (year, month, day) = (digits(b, 4)?, digits(&b[5..], 2)?, digits(&b[8..], 2)?);
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(i64::from(year), month) {
        return None;
    }
    let date = days_from_civil(i64::from(year), month, day) * DAY;
    let rest = &b[10..];
    if rest.is_empty() {
        return Some(date);
    }
    if !matches!(rest[0], b'T' | b't' | b' ') {
        return None;
    }
    let (clock, rest) = parse_clock(&rest[1..])?;
    let offset = parse_offset(rest)?;
    Some(date + clock - offset)
}

/// `HH:MM[:SS[.fff]]` at the start of `b`: the microseconds into the day, and what follows.
fn parse_clock(b: &[u8]) -> Option<(i64, &[u8])> {
    let (hour, minute) = (digits(b, 2)?, digits(b.get(3..)?, 2)?);
    if b[2] != b':' || hour > 23 || minute > 59 {
        return None;
    }
    let mut micros = i64::from(hour) * HOUR + i64::from(minute) * MINUTE;
    let mut rest = &b[5..];
    if rest.first() == Some(&b':') {
        let second = digits(&rest[1..], 2)?;
        if second > 59 {
            return None;
        }
        micros += i64::from(second) * SECOND;
        rest = &rest[3..];
        if matches!(rest.first(), Some(b'.' | b',')) {
            let n = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
            if n == 0 || n > 9 {
                return None;
            }
            let kept = n.min(6);
            let frac = i64::from(digits(&rest[1..], kept)?);
            micros += frac * 10i64.pow((6 - kept) as u32);
            rest = &rest[1 + n..];
        }
    }
    Some((micros, rest))
}

/// A time zone suffix: nothing or `Z` (UTC), `±HH:MM`, `±HHMM` or `±HH`; its offset from UTC
/// in microseconds. `None` for anything else.
fn parse_offset(b: &[u8]) -> Option<i64> {
    let sign = match b.first() {
        None => return Some(0),
        Some(b'Z' | b'z') if b.len() == 1 => return Some(0),
        Some(b'+') => 1,
        Some(b'-') => -1,
        _ => return None,
    };
    let b = &b[1..];
    let (hours, minutes) = match b.len() {
        2 => (digits(b, 2)?, 0),
        4 => (digits(b, 2)?, digits(&b[2..], 2)?),
        5 if b[2] == b':' => (digits(b, 2)?, digits(&b[3..], 2)?),
        _ => return None,
    };
    if hours > 23 || minutes > 59 {
        return None;
    }
    Some(sign * (i64::from(hours) * HOUR + i64::from(minutes) * MINUTE))
}

/// A moment as messages write it: `2026-12-01` at midnight UTC, else
/// `2026-12-01T13:05:09Z` (with a fraction of a second when it has one).
pub fn format_time(micros: i64) -> String {
    let days = micros.div_euclid(DAY);
    let (y, m, d) = civil_from_days(days);
    let in_day = micros.rem_euclid(DAY);
    if in_day == 0 {
        return format!("{y:04}-{m:02}-{d:02}");
    }
    let (h, mi, s, us) = (
        in_day / HOUR,
        in_day % HOUR / MINUTE,
        in_day % MINUTE / SECOND,
        in_day % SECOND,
    );
    if us == 0 {
        format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
    } else {
        format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{us:06}Z")
    }
}

/// The length of a time window (`window.every`): `N` hours, days or calendar months. Periods
/// are in UTC. Hours count from midnight 1970-01-01; days from Monday 1969-12-29, so that
/// `7d` windows are weeks from Monday; months from January 1970 (`3mo`: quarters, `12mo`:
/// years).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Every {
    /// `Nh`
    Hours(u32),
    /// `Nd`
    Days(u32),
    /// `Nmo`
    Months(u32),
}

/// Days from Monday 1969-12-29, the first day of day periods, to 1970-01-01.
const MONDAY_OFFSET: i64 = 3;

impl Every {
    /// Parses `"1h"`, `"6h"`, `"1d"`, `"7d"`, `"1mo"`, `"3mo"`: a count from 1 to 10,000
    /// and a unit. The error says what was expected.
    pub fn parse(s: &str) -> Result<Every, String> {
        let unit_at = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (count, unit) = s.split_at(unit_at);
        let expected = "expected a count and a unit: \"1h\", \"6h\", \"1d\", \"7d\", \"1mo\" (h = hours, d = days, mo = calendar months)";
        let n: u32 = match count.parse() {
            Ok(n) if (1..=10_000).contains(&n) => n,
            Ok(_) => return Err(format!("is {s:?}; the count must be between 1 and 10000")),
            Err(_) => return Err(format!("is {s:?}; {expected}")),
        };
        match unit {
            "h" => Ok(Every::Hours(n)),
            "d" => Ok(Every::Days(n)),
            "mo" => Ok(Every::Months(n)),
            _ => Err(format!("is {s:?}; {expected}")),
        }
    }

    /// How many windows of `every` this length spans, rounded up: both in hours or days,
    /// or both in months; `None` when one is in months and the other not.
    pub fn windows_of(self, every: Every) -> Option<usize> {
        let hours = |e: Every| match e {
            Every::Hours(n) => Some(u64::from(n)),
            Every::Days(n) => Some(24 * u64::from(n)),
            Every::Months(_) => None,
        };
        let (wait, window) = match (self, every) {
            (Every::Months(a), Every::Months(b)) => (u64::from(a), u64::from(b)),
            _ => (hours(self)?, hours(every)?),
        };
        Some(wait.div_ceil(window) as usize)
    }

    /// `micros` plus this length (months added on the calendar: 31 January plus `1mo` is the
    /// last day of February, at the same time of day).
    pub fn after(self, micros: i64) -> i64 {
        match self {
            Every::Hours(n) => micros + HOUR * i64::from(n),
            Every::Days(n) => micros + DAY * i64::from(n),
            Every::Months(n) => {
                let (days, in_day) = (micros.div_euclid(DAY), micros.rem_euclid(DAY));
                let (y, m, d) = civil_from_days(days);
                let months = y * 12 + i64::from(m) - 1 + i64::from(n);
                let (y, m) = (months.div_euclid(12), months.rem_euclid(12) as u32 + 1);
                days_from_civil(y, m, d.min(days_in_month(y, m))) * DAY + in_day
            }
        }
    }

    /// As written in a config: `1d`, `6h`, `1mo`.
    pub fn name(self) -> String {
        match self {
            Every::Hours(n) => format!("{n}h"),
            Every::Days(n) => format!("{n}d"),
            Every::Months(n) => format!("{n}mo"),
        }
    }

    /// The period `micros` falls in: a number that grows by one from each period to the
    /// next (periods without rows included).
    pub fn period_of(self, micros: i64) -> i64 {
        match self {
            Every::Hours(n) => micros.div_euclid(HOUR * i64::from(n)),
            Every::Days(n) => (micros.div_euclid(DAY) + MONDAY_OFFSET).div_euclid(i64::from(n)),
            Every::Months(n) => {
                let (y, m, _) = civil_from_days(micros.div_euclid(DAY));
                ((y - 1970) * 12 + i64::from(m) - 1).div_euclid(i64::from(n))
            }
        }
    }

    /// The first moment of `period`.
    pub fn period_start(self, period: i64) -> i64 {
        match self {
            Every::Hours(n) => period * HOUR * i64::from(n),
            Every::Days(n) => (period * i64::from(n) - MONDAY_OFFSET) * DAY,
            Every::Months(n) => {
                let months = period * i64::from(n);
                let (y, m) = (
                    1970 + months.div_euclid(12),
                    months.rem_euclid(12) as u32 + 1,
                );
                days_from_civil(y, m, 1) * DAY
            }
        }
    }

    /// How windows name `period`, by its first moment: `2026-12-01T13` (hours), `2026-12-01`
    /// (days: for `7d` the week's Monday), `2026-12` (months).
    pub fn label(self, period: i64) -> String {
        let start = self.period_start(period);
        let (y, m, d) = civil_from_days(start.div_euclid(DAY));
        match self {
            Every::Hours(_) => format!("{y:04}-{m:02}-{d:02}T{:02}", start.rem_euclid(DAY) / HOUR),
            Every::Days(_) => format!("{y:04}-{m:02}-{d:02}"),
            Every::Months(_) => format!("{y:04}-{m:02}"),
        }
    }

    /// What one period is called in messages: `hour`, `6-hour period`, `day`, `week`,
    /// `month`.
    pub fn noun(self) -> String {
        match self {
            Every::Hours(1) => "hour".into(),
            Every::Days(1) => "day".into(),
            Every::Days(7) => "week".into(),
            Every::Months(1) => "month".into(),
            other => format!("{}-long period", other.name()),
        }
    }
}

/// A calendar feature of a time column: a pair of model inputs (sine and cosine of a
/// cycle), or the elapsed time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CalendarPart {
    /// The time of day, as an angle over 24 hours (`hour_sin`, `hour_cos`).
    Hour,
    /// The day of the week, Monday = 0, as an angle over 7 days (`weekday_sin`,
    /// `weekday_cos`).
    Weekday,
    /// The day of the year, 1 January = 0, as an angle over the year's 365 or 366 days
    /// (`yearday_sin`, `yearday_cos`).
    YearDay,
    /// Days since the column's first value in the stream, clipped to the range of the
    /// initial windows (`elapsed_days`).
    Elapsed,
}

impl CalendarPart {
    /// The model inputs it gives, by suffix.
    pub fn suffixes(self) -> &'static [&'static str] {
        match self {
            CalendarPart::Hour => &["hour_sin", "hour_cos"],
            CalendarPart::Weekday => &["weekday_sin", "weekday_cos"],
            CalendarPart::YearDay => &["yearday_sin", "yearday_cos"],
            CalendarPart::Elapsed => &["elapsed_days"],
        }
    }
}

/// How a time column becomes model inputs: its calendar features, computed from each cell
/// the same way in a run, in `predict` and `eval`. Part of a checkpoint's preprocessing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimeEncoder {
    /// The column's name.
    pub column: String,
    /// Its calendar features, in input order.
    pub parts: Vec<CalendarPart>,
    /// The first value of the column in the stream (microseconds since 1970, UTC): elapsed
    /// time counts from it.
    pub origin: i64,
    /// The elapsed days the initial windows spanned, `[low, high]`: later values are clipped
    /// to it.
    pub elapsed_range: [f64; 2],
}

impl TimeEncoder {
    /// The encoder of the column `column` whose values in the initial windows ranged over
    /// `low..=high` (microseconds), the first being `origin`, and which showed a time of day
    /// other than midnight (`clock`). A cycle becomes a feature only when the initial
    /// windows cover it whole: the time of day when they span a day and the column has
    /// times of day, the day of the week when they span a week, the day of the year when
    /// they span a year. A model cannot learn from part of a cycle what the rest of it does,
    /// and the rest would enter as values it never saw (measured:
    /// docs/configuration.md#time-columns-and-windows-by-time).
    pub fn new(column: &str, origin: i64, low: i64, high: i64, clock: bool) -> TimeEncoder {
        let span = high - low;
        let mut parts = Vec::new();
        if clock && span >= DAY {
            parts.push(CalendarPart::Hour);
        }
        if span >= 7 * DAY {
            parts.push(CalendarPart::Weekday);
        }
        if span >= 365 * DAY {
            parts.push(CalendarPart::YearDay);
        }
        let days = |t: i64| (t - origin) as f64 / DAY as f64;
        TimeEncoder {
            column: column.to_string(),
            parts,
            origin,
            elapsed_range: [days(low), days(high)],
        }
    }

    /// Model inputs it gives.
    pub fn width(&self) -> usize {
        self.parts.iter().map(|p| p.suffixes().len()).sum()
    }

    /// Its inputs' names: `ts:hour_sin`, `ts:hour_cos`, ...
    pub fn feature_names(&self) -> Vec<String> {
        self.parts
            .iter()
            .flat_map(|p| p.suffixes().iter())
            .map(|s| format!("{}:{s}", self.column))
            .collect()
    }

    /// Writes the calendar features of `micros` (or NaN for each, a missing cell, when
    /// `None`) into `out` ([`TimeEncoder::width`] values).
    pub fn encode(&self, micros: Option<i64>, out: &mut [f32]) {
        let Some(t) = micros else {
            out.iter_mut().for_each(|x| *x = f32::NAN);
            return;
        };
        let days = t.div_euclid(DAY);
        let in_day = t.rem_euclid(DAY) as f64 / DAY as f64;
        let (year, _, _) = civil_from_days(days);
        let cycle = |x: f64| {
            let a = std::f64::consts::TAU * x;
            [libm::sin(a) as f32, libm::cos(a) as f32]
        };
        let mut at = 0;
        for part in &self.parts {
            let values: &[f32] = match part {
                CalendarPart::Hour => &cycle(in_day),
                CalendarPart::Weekday => &cycle((days + MONDAY_OFFSET).rem_euclid(7) as f64 / 7.0),
                CalendarPart::YearDay => {
                    let len = if is_leap(year) { 366.0 } else { 365.0 };
                    &cycle((days - days_from_civil(year, 1, 1)) as f64 / len)
                }
                CalendarPart::Elapsed => {
                    let [low, high] = self.elapsed_range;
                    let e = (t - self.origin) as f64 / DAY as f64;
                    &[e.clamp(low, high) as f32]
                }
            };
            out[at..at + values.len()].copy_from_slice(values);
            at += values.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> i64 {
        parse_time(s).unwrap_or_else(|| panic!("{s} parses"))
    }

    #[test]
    fn civil_days_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        for days in -800_000..800_000 {
            let (y, m, d) = civil_from_days(days);
            assert!(d >= 1 && d <= days_in_month(y, m), "{days}");
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn dates_and_timestamps_parse() {
        assert_eq!(t("1970-01-01"), 0);
        assert_eq!(t("1970-01-01T00:00:01"), SECOND);
        assert_eq!(t("2026-12-01"), days_from_civil(2026, 12, 1) * DAY);
        let base = t("2026-12-01T13:05:09");
        assert_eq!(base, t("2026-12-01") + 13 * HOUR + 5 * MINUTE + 9 * SECOND);
        assert_eq!(t("2026-12-01 13:05:09"), base);
        assert_eq!(t("2026-12-01T13:05:09Z"), base);
        assert_eq!(t(" 2026-12-01t13:05:09z "), base);
        assert_eq!(t("2026-12-01T13:05:09.5"), base + 500_000);
        assert_eq!(t("2026-12-01T13:05:09,123456789"), base + 123_456);
        assert_eq!(t("2026-12-01T13:05"), base - 9 * SECOND);
        // Offsets move the moment to UTC.
        assert_eq!(t("2026-12-01T15:05:09+02:00"), base);
        assert_eq!(t("2026-12-01T08:35:09-0430"), base);
        assert_eq!(t("2026-12-02T01:05:09+12"), base);
        // Across a day, a month and a year boundary.
        assert_eq!(t("2027-01-01T00:30:00+01:00"), t("2026-12-31T23:30:00"));
        // Leap years.
        assert!(parse_time("2024-02-29").is_some());
        assert!(parse_time("2000-02-29").is_some());
        for bad in [
            "2026-02-29",
            "1900-02-29",
            "2026-13-01",
            "2026-00-10",
            "2026-04-31",
            "2026-12-1",
            "26-12-01",
            "2026/12/01",
            "2026-12-01T24:00:00",
            "2026-12-01T12:60",
            "2026-12-01T12:00:61",
            "2026-12-01T12",
            "2026-12-01T12:00:00.",
            "2026-12-01T12:00:00+2:00",
            "2026-12-01T12:00:00 UTC",
            "2026-12-01X",
            "20261201",
            "1.5",
            "",
            "yesterday",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn times_format_for_messages() {
        assert_eq!(format_time(t("2026-12-01")), "2026-12-01");
        assert_eq!(
            format_time(t("2026-12-01T15:05:09+02:00")),
            "2026-12-01T13:05:09Z"
        );
        assert_eq!(
            format_time(t("1969-12-31T23:59:59.25")),
            "1969-12-31T23:59:59.250000Z"
        );
    }

    #[test]
    fn every_parses() {
        assert_eq!(Every::parse("1h"), Ok(Every::Hours(1)));
        assert_eq!(Every::parse("7d"), Ok(Every::Days(7)));
        assert_eq!(Every::parse("1mo"), Ok(Every::Months(1)));
        assert_eq!(Every::parse("12mo"), Ok(Every::Months(12)));
        for bad in [
            "", "d", "0d", "1", "1w", "1 d", "-1d", "1.5d", "1m", "99999d",
        ] {
            assert!(Every::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Every::Days(7).name(), "7d");
        assert_eq!(Every::Months(3).name(), "3mo");
    }

    #[test]
    fn periods_and_labels() {
        let day = Every::Days(1);
        assert_eq!(
            day.label(day.period_of(t("2026-12-01T23:59:59"))),
            "2026-12-01"
        );
        assert_eq!(
            day.period_of(t("2026-12-02")) - day.period_of(t("2026-12-01T23:59:59")),
            1
        );
        // Offsets: 01:00 at +02:00 is the previous UTC day.
        assert_eq!(
            day.label(day.period_of(t("2026-12-02T01:00:00+02:00"))),
            "2026-12-01"
        );
        // Weeks run Monday to Sunday: 2026-11-30 is a Monday.
        let week = Every::Days(7);
        for d in ["2026-11-30", "2026-12-03", "2026-12-06T23:59:59"] {
            assert_eq!(week.label(week.period_of(t(d))), "2026-11-30", "{d}");
        }
        assert_eq!(week.label(week.period_of(t("2026-12-07"))), "2026-12-07");
        assert_eq!(week.label(week.period_of(t("1970-01-01"))), "1969-12-29");
        // Months, across a leap February and a year.
        let month = Every::Months(1);
        assert_eq!(
            month.label(month.period_of(t("2024-02-29T23:00:00"))),
            "2024-02"
        );
        assert_eq!(month.label(month.period_of(t("2024-03-01"))), "2024-03");
        assert_eq!(
            month.period_of(t("2027-01-01")) - month.period_of(t("2026-12-31T23:59:59")),
            1
        );
        assert_eq!(month.label(month.period_of(t("1969-12-15"))), "1969-12");
        let quarter = Every::Months(3);
        assert_eq!(quarter.label(quarter.period_of(t("2026-12-31"))), "2026-10");
        // Hours.
        let hour = Every::Hours(1);
        assert_eq!(
            hour.label(hour.period_of(t("2026-12-01T13:59:59"))),
            "2026-12-01T13"
        );
        let six = Every::Hours(6);
        assert_eq!(
            six.label(six.period_of(t("2026-12-01T13:59:59"))),
            "2026-12-01T12"
        );
        // Each period's start lies in it, and the next period starts where it ends.
        for every in [hour, six, day, Every::Days(3), week, month, quarter] {
            for p in -30..30 {
                assert_eq!(every.period_of(every.period_start(p)), p, "{every:?} {p}");
                assert_eq!(every.period_of(every.period_start(p + 1) - 1), p);
            }
        }
    }

    #[test]
    fn calendar_features() {
        let origin = t("2026-01-01");
        // Initial windows over ten days: the hour and the weekday, not the day of the year.
        let ten = TimeEncoder::new("ts", origin, origin, t("2026-01-11"), true);
        assert_eq!(ten.parts, [CalendarPart::Hour, CalendarPart::Weekday]);
        let half_day = TimeEncoder::new("ts", origin, origin, t("2026-01-01T12:00"), true);
        assert_eq!(half_day.width(), 0);
        let enc = TimeEncoder::new("ts", origin, origin, t("2027-01-01"), true);
        assert_eq!(
            enc.feature_names(),
            [
                "ts:hour_sin",
                "ts:hour_cos",
                "ts:weekday_sin",
                "ts:weekday_cos",
                "ts:yearday_sin",
                "ts:yearday_cos"
            ]
        );
        let mut out = vec![0.0; enc.width()];
        // Thursday 2026-01-01 at 06:00: a quarter of the day, weekday 3 of 7, day 0.
        enc.encode(Some(t("2026-01-01T06:00:00")), &mut out);
        let close = |a: f32, b: f64| (f64::from(a) - b).abs() < 1e-6;
        assert!(close(out[0], 1.0) && close(out[1], 0.0), "{out:?}");
        let w = std::f64::consts::TAU * 3.0 / 7.0;
        assert!(close(out[2], w.sin()) && close(out[3], w.cos()), "{out:?}");
        assert!(close(out[4], 0.0) && close(out[5], 1.0), "{out:?}");
        enc.encode(None, &mut out);
        assert!(out.iter().all(|x| x.is_nan()));
        // Elapsed days are clipped to the initial range.
        let elapsed = TimeEncoder {
            parts: vec![CalendarPart::Elapsed],
            ..enc.clone()
        };
        let mut one = [0.0];
        elapsed.encode(Some(t("2026-01-03T12:00:00")), &mut one);
        assert_eq!(one[0], 2.5);
        elapsed.encode(Some(t("2028-01-01")), &mut one);
        assert_eq!(one[0], 365.0);
        // A date column gets no hour.
        let dates = TimeEncoder::new("d", origin, origin, t("2027-01-01"), false);
        assert_eq!(dates.width(), 4);
    }
}

//! Windows by time and time columns (issue 25, part A): `data.time` with `window.every`
//! cuts one window per calendar period with rows, each labelled by its period wherever
//! windows are shown; a column of dates is read as time (calendar features), never as a
//! category; rows out of time order and cells that are not dates are refused (exit 2) and
//! change nothing.

use serde_json::Value;

use crate::common::{Sandbox, assert_fails, ids};

/// Microseconds since 1970 of midnight UTC, 2026-12-01.
const START_DAY: i64 = 20_788;

/// `YYYY-MM-DD` of day `day` after 2026-12-01.
pub(crate) fn date(day: i64) -> String {
    // Civil from days (Howard Hinnant), enough for a test.
    let z = START_DAY + day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Rows on day `day` of the stream (0 = 2026-12-01): none on every 7th day from day 3 and
/// on days 20 and 21, else 12 to 60 rows at irregular times. `ts,x0,x1,label`, label 1 iff
/// `x0 + x1 <= 9` (8 from day 30: a concept drift).
pub(crate) fn rows_of_day(day: i64) -> String {
    if day % 7 == 3 || day == 20 || day == 21 {
        return String::new();
    }
    let n = 12 + (day * 37 % 49);
    let mut text = String::new();
    let mut state = (day as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let mut second = 0;
    for _ in 0..n {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        second += 1 + (state >> 33) % (86_000 / n as u64);
        let (x0, x1) = ((state >> 20) % 1000, (state >> 40) % 1000);
        let (x0, x1) = (x0 as f64 / 100.0, x1 as f64 / 100.0);
        let theta = if day < 30 { 9.0 } else { 8.0 };
        let (h, m, s) = (second / 3600, second % 3600 / 60, second % 60);
        text.push_str(&format!(
            "{}T{h:02}:{m:02}:{s:02}Z,{x0},{x1},{}\n",
            date(day),
            u8::from(x0 + x1 <= theta)
        ));
    }
    text
}

/// The stream of days `days`, with a header, and a row at midnight of day `close` that closes
/// the last day (the last period of a file waits for a later row).
fn stream(days: std::ops::Range<i64>, close: Option<i64>) -> String {
    let mut text = String::from("ts,x0,x1,label\n");
    for day in days {
        text.push_str(&rows_of_day(day));
    }
    if let Some(day) = close {
        text.push_str(&format!("{}T00:00:00Z,1.0,1.0,1\n", date(day)));
    }
    text
}

fn config() -> &'static str {
    "[run]\nname = \"daily\"\n\n[data]\ncsv = \"t.csv\"\ntarget = \"label\"\ntime = \"ts\"\n\n\
     [window]\nevery = \"1d\"\n\n[model]\nhidden = [8]\n\n[train]\nepochs = 2\n"
}

/// The days of `0..60` with rows.
fn days_with_rows() -> Vec<i64> {
    (0..60).filter(|&d| !rows_of_day(d).is_empty()).collect()
}

#[test]
fn one_window_per_day_with_rows_labelled_by_date_and_stable_ids() {
    let sb = Sandbox::new();
    sb.write("t.csv", &stream(0..60, Some(60)));
    sb.write("t.toml", config());
    let out = sb.ok(&["run", "--config", "t.toml"]);
    let days = days_with_rows();
    assert_eq!(days.len(), 60 - 11, "the fixture's empty days");
    let log = sb.log("daily");
    assert_eq!(log.len(), days.len(), "one window per day with rows");
    for (m, day) in log.iter().zip(&days) {
        assert_eq!(m["extra"]["period"], date(*day), "{m}");
    }
    // `run` says how it cut the windows, labels each line, and counts the empty days.
    assert!(out.contains("windows by day of \"ts\""), "{out}");
    assert!(
        out.contains(&format!("window    1 ({})", date(days[1]))),
        "{out}"
    );
    assert!(out.contains("11 days without rows skipped"), "{out}");
    assert!(
        out.contains(&format!("1 row of {}, the last day, waits", date(60))),
        "{out}"
    );
    // `log`, `show` and `tree` name the periods too.
    let text = sb.ok(&["log", "--run", "daily"]);
    assert!(text.contains(&format!("({})", date(days[5]))), "{text}");
    let show = sb.ok(&["show", "daily@5"]);
    assert!(
        show.contains(&format!("window     5 (period {})", date(days[5]))),
        "{show}"
    );
    let tree = sb.ok(&["tree"]);
    assert!(
        tree.contains(&format!("window 2 ({})", date(days[2]))),
        "{tree}"
    );

    // The same config into a fresh store: the same ids.
    let again = Sandbox::new();
    again.write("t.csv", &stream(0..60, Some(60)));
    again.write("t.toml", config());
    again.ok(&["run", "--config", "t.toml"]);
    assert_eq!(ids(&again.log("daily")), ids(&log));

    // Resume: the first 30 days (the last of them waits), then the rest appended.
    let resumed = Sandbox::new();
    resumed.write("t.csv", &stream(0..30, None));
    resumed.write("t.toml", config());
    resumed.ok(&["run", "--config", "t.toml"]);
    let first = ids(&resumed.log("daily"));
    let before_30 = days.iter().filter(|&&d| d < 30).count();
    assert_eq!(first.len(), before_30 - 1, "the last day of the file waits");
    resumed.write("t.csv", &stream(0..60, Some(60)));
    let more = resumed.ok(&["run", "--config", "t.toml"]);
    assert!(more.contains("resuming run 'daily'"), "{more}");
    assert_eq!(
        ids(&resumed.log("daily")),
        ids(&log),
        "earlier ids unchanged"
    );
}

#[test]
fn a_row_out_of_time_order_is_exit_2_and_changes_nothing() {
    let sb = Sandbox::new();
    let mut text = stream(0..10, None);
    text.push_str(&format!("{}T12:00:00+01:00,1,1,1\n", date(2)));
    let rows = text.lines().count() as u64;
    sb.write("t.csv", &text);
    sb.write("t.toml", config());
    let out = sb.relearn(&["run", "--config", "t.toml"]);
    assert_fails(&out, 2, &format!("row {rows}, column \"ts\""));
    assert_fails(&out, 2, &format!("{}T11:00:00Z is before", date(2)));
    assert_fails(&out, 2, &format!("the time of row {}", rows - 1));
    assert!(!sb.store().join("manifests").exists(), "no store written");
}

#[test]
fn a_cell_that_is_not_a_date_is_exit_2_and_changes_nothing() {
    let sb = Sandbox::new();
    sb.write("t.csv", &stream(0..10, None));
    sb.write("t.toml", config());
    sb.ok(&["run", "--config", "t.toml"]);
    let before = sb.snapshot();
    let mut text = stream(0..10, None);
    text.push_str("2026-12-32T01:00:00Z,1,1,1\n");
    let rows = text.lines().count();
    sb.write("t.csv", &text);
    let out = sb.relearn(&["run", "--config", "t.toml"]);
    assert_fails(&out, 2, "t.csv");
    assert_fails(
        &out,
        2,
        &format!("row {rows}, column \"ts\": \"2026-12-32T01:00:00Z\""),
    );
    assert_fails(&out, 2, "is not a date or time");
    assert_eq!(sb.snapshot(), before, "the store is unchanged");
}

/// `signup,x,y`: a date column that is a feature, 400 rows over two months, windows of 100.
fn signups(extra: &str) -> String {
    let mut text = String::from("signup,x,y\n");
    for i in 0..400i64 {
        let day = i * 60 / 400;
        let x = (i * 7919 % 1000) as f64 / 100.0;
        text.push_str(&format!("{},{x},{}\n", date(day), u8::from(x > 5.0)));
    }
    text.push_str(extra);
    text
}

#[test]
fn a_date_column_is_read_as_time_not_one_hot_encoded() {
    let sb = Sandbox::new();
    sb.write("s.csv", &signups(""));
    sb.write(
        "s.toml",
        "[run]\nname = \"s\"\n[data]\ncsv = \"s.csv\"\ntarget = \"y\"\n[window]\nsize = 100\n\
         [model]\nhidden = [8]\n[train]\nepochs = 2\n",
    );
    let out = sb.ok(&["run", "--config", "s.toml"]);
    assert!(
        out.contains("\"signup\" read as time (calendar features weekday_sin"),
        "{out}"
    );
    let log = sb.log("s");
    assert_eq!(log.len(), 4);
    assert!(
        log[0]["extra"].get("period").is_none(),
        "row windows have no period"
    );
    // The checkpoint's preprocessing: calendar features, no one-hot column.
    let object = log[3]["parts"]["preprocessor"]["object"].as_str().unwrap();
    let path = sb
        .store()
        .join("objects")
        .join(&object[..2])
        .join(&object[2..]);
    let pre: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    assert!(pre.get("encoders").is_none(), "{pre}");
    assert_eq!(pre["time"][0]["column"], "signup", "{pre}");
    let names: Vec<&str> = pre["feature_names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    // Dates (no time of day) over 15 days in the initial window (no year): the weekday.
    assert_eq!(names, ["x", "signup:weekday_sin", "signup:weekday_cos"]);
    let show = sb.ok(&["show", "s"]);
    assert!(
        show.contains(
            "time       \"signup\" read as time (calendar features weekday_sin, weekday_cos)"
        ),
        "{show}"
    );
    // `predict` and `eval` read the date column the same way.
    sb.ok(&["predict", "s", "--csv", "s.csv"]);
    sb.ok(&["eval", "s", "--csv", "s.csv"]);
    // A later cell that is not a date: exit 2 naming file, row and column; nothing changes.
    let before = sb.snapshot();
    sb.write("s.csv", &signups("2027-02-30,1,0\n"));
    let out = sb.relearn(&["run", "--config", "s.toml"]);
    assert_fails(
        &out,
        2,
        "s.csv: row 402, column \"signup\": \"2027-02-30\" is not a date",
    );
    assert_eq!(sb.snapshot(), before);
}

#[test]
fn compare_names_windows_by_time_by_their_periods() {
    let sb = Sandbox::new();
    sb.write("t.csv", &stream(0..12, Some(12)));
    sb.write("t.toml", config());
    let out = sb.ok(&["compare", "--config", "t.toml", "--out", "cmp"]);
    let days: Vec<i64> = (0..12).filter(|&d| !rows_of_day(d).is_empty()).collect();
    assert!(
        out.contains("windows by time (one per 1d with rows)"),
        "{out}"
    );
    assert!(out.contains("window  period"), "{out}");
    assert!(out.contains(&format!("     1  {}", date(days[1]))), "{out}");
    let text = std::fs::read_to_string(sb.path("cmp/compare.json")).unwrap();
    let report: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(report["stream"]["every"], "1d");
    let rows = report["modes"]["stateful"]["windows"].as_array().unwrap();
    assert_eq!(rows[0]["period"], date(days[1]), "{}", rows[0]);
    // Pooled figures weigh each day by its rows.
    let samples: Vec<u64> = days
        .iter()
        .map(|&d| rows_of_day(d).lines().count() as u64)
        .collect();
    assert_eq!(
        report["stream"]["window_samples"],
        serde_json::json!(samples)
    );
    assert!(sb.path("cmp/compare.svg").exists());
}

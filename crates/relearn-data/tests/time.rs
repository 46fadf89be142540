//! Time columns and windows by time: calendar features, one window per calendar period, rows
//! in time order, and the errors that name the file, row and column.

use std::path::{Path, PathBuf};

use relearn_data::{
    CalendarPart, ColumnKind, CsvSource, DataError, Every, Preprocessor, Scaling, Stream,
    StreamSource, Task, Windowing, read_csv_rows,
};
use tempfile::TempDir;

fn file(text: &str) -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.csv");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

fn source(path: &Path, time: Option<&str>, every: Option<Every>) -> CsvSource {
    CsvSource {
        path: path.to_path_buf(),
        target: "y".into(),
        features: Vec::new(),
        task: Task::Classification,
        task_given: true,
        missing: relearn_data::DEFAULT_MISSING.map(str::to_string).to_vec(),
        columns: Default::default(),
        max_categories: relearn_data::DEFAULT_MAX_CATEGORIES,
        hash_buckets: relearn_data::DEFAULT_HASH_BUCKETS,
        delimiter: b',',
        time: time.map(str::to_string),
        every,
        id: None,
        labels: None,
    }
}

/// Rows `ts,x,y` on the days of `days` (offsets from 2026-12-01), `per_day[i]` rows on the
/// i-th, at hours 0, 1, 2, ...
fn rows_on(days: &[(i64, usize)]) -> String {
    let mut text = String::from("ts,x,y\n");
    for &(day, n) in days {
        let date = relearn_data::format_time(
            relearn_data::parse_time("2026-12-01").unwrap() + day * 86_400_000_000,
        );
        for h in 0..n {
            text.push_str(&format!(
                "{date}T{h:02}:30:00Z,{},{}\n",
                day + h as i64,
                h % 2
            ));
        }
    }
    text
}

#[test]
fn one_window_per_day_with_rows() {
    // Days 0, 1, 3 (2 empty), 4, 7 (5, 6 empty); day 7 waits for a later row.
    let (_dir, path) = file(&rows_on(&[(0, 4), (1, 3), (3, 5), (4, 2), (7, 3)]));
    let src = source(&path, Some("ts"), Some(Every::Days(1)));
    let stream = Stream::open(&StreamSource::Csv(src), 1000, 1).unwrap();
    assert_eq!(stream.n_windows(), 4);
    let info = stream.info();
    assert_eq!(info.empty_periods, 3);
    assert_eq!(info.trailing_rows, 3);
    assert_eq!(info.waiting_period.as_deref(), Some("2026-12-08"));
    assert_eq!(info.feature_names, ["x"], "data.time is not a feature");
    let note = info.dropped_rows_note().unwrap();
    assert!(note.contains("3 days without rows skipped"), "{note}");
    assert!(
        note.contains("3 rows of 2026-12-08, the last day, wait"),
        "{note}"
    );
    let windows: Vec<_> = stream.windows().unwrap().map(Result::unwrap).collect();
    let labels: Vec<_> = windows.iter().map(|w| w.period.clone().unwrap()).collect();
    assert_eq!(
        labels,
        ["2026-12-01", "2026-12-02", "2026-12-04", "2026-12-05"]
    );
    let sizes: Vec<_> = windows.iter().map(|w| w.batch.len()).collect();
    assert_eq!(sizes, [4, 3, 5, 2]);
    assert_eq!(windows[2].span, 7..12);
    let Windowing::Time { .. } = stream.windowing() else {
        panic!("windows by time")
    };
    // Resuming reads from a window's first sample.
    let third = stream.windows_from(2).unwrap().next().unwrap().unwrap();
    assert_eq!(third.batch, windows[2].batch);
    // Weeks from Monday: 2026-11-30 is a Monday, 2026-12-07 the next.
    let src = source(&path, Some("ts"), Some(Every::Days(7)));
    let err = Stream::open(&StreamSource::Csv(src), 1000, 1).unwrap_err();
    assert!(
        matches!(err, DataError::TooFewPeriods { periods: 2, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("2 week(s)"), "{err}");
}

#[test]
fn the_initial_windows_are_periods() {
    let (_dir, path) = file(&rows_on(&[(0, 2), (1, 2), (2, 2), (3, 2)]));
    let src = source(&path, Some("ts"), Some(Every::Days(1)));
    let stream = Stream::open(&StreamSource::Csv(src), 1, 2).unwrap();
    assert_eq!(stream.n_windows(), 3);
    assert_eq!(stream.initial_windows(), 2);
}

#[test]
fn rows_out_of_time_order_name_both_rows() {
    let text = "ts,x,y\n2026-12-01T10:00:00,1,0\n2026-12-01T11:00:00,1,1\n2026-12-02,2,1\n2026-12-01T23:00:00+02:00,3,0\n";
    let (_dir, path) = file(text);
    let src = source(&path, Some("ts"), Some(Every::Days(1)));
    let err = Stream::open(&StreamSource::Csv(src), 1, 1).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(
            err,
            DataError::OutOfOrder {
                row: 5,
                previous_row: 4,
                ..
            }
        ),
        "{msg}"
    );
    assert!(
        msg.contains("2026-12-01T21:00:00Z is before 2026-12-02"),
        "{msg}"
    );
    assert!(
        msg.contains("column \"ts\"") && msg.contains("t.csv"),
        "{msg}"
    );
    // Without window.every, data.time still orders the rows.
    let src = source(&path, Some("ts"), None);
    let err = Stream::open(&StreamSource::Csv(src), 2, 1).unwrap_err();
    assert!(matches!(err, DataError::OutOfOrder { row: 5, .. }), "{err}");
}

#[test]
fn a_bad_time_names_file_row_and_column() {
    let mut text = rows_on(&[(0, 3), (1, 3), (2, 3)]);
    text.push_str("2026-12-03T25:00:00,1,1\n");
    let (_dir, path) = file(&text);
    let src = source(&path, Some("ts"), Some(Every::Days(1)));
    let err = Stream::open(&StreamSource::Csv(src), 1, 1).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, DataError::NotATime { row: 11, .. }), "{msg}");
    assert!(
        msg.contains("column \"ts\"") && msg.contains("2026-12-03T25:00:00"),
        "{msg}"
    );
    assert_eq!(err.exit_code(), 2);
}

/// `d,x,y`: a date column `d`, every day of December 2026 and January 2027.
fn dated(extra_last: &str) -> String {
    let mut text = String::from("d,x,y\n");
    let start = relearn_data::parse_time("2026-12-01").unwrap();
    for day in 0..62 {
        let date = relearn_data::format_time(start + day * 86_400_000_000);
        text.push_str(&format!("{date},{day},{}\n", day % 2));
    }
    text.push_str(extra_last);
    text
}

#[test]
fn a_date_column_becomes_calendar_features_not_a_category() {
    let (_dir, path) = file(&dated(""));
    let src = source(&path, None, None);
    let stream = Stream::open(&StreamSource::Csv(src), 10, 1).unwrap();
    let info = stream.info();
    assert!(info.categorical.is_empty(), "{:?}", info.categorical);
    assert_eq!(info.time.len(), 1);
    assert_eq!(info.time[0].column, "d");
    // A date has no time of day, and ten days are no year: the weekday only.
    assert_eq!(info.time[0].parts, [CalendarPart::Weekday]);
    assert_eq!(info.feature_names, ["x", "d:weekday_sin", "d:weekday_cos"]);
    let note = info.time_note().unwrap();
    assert!(note.contains("\"d\" read as time"), "{note}");
    // The preprocessing carries the encoder, and a file read against it for `predict`
    // gives the same raw features as the stream.
    let mut pre = Preprocessor::new(info, Scaling::Running);
    let first = stream.windows().unwrap().next().unwrap().unwrap();
    pre.fit(&first.batch);
    let pre = Preprocessor::from_bytes(&pre.to_bytes()).unwrap();
    assert_eq!(pre.plain_feature_names(), ["x"]);
    let (batch, _, _) = read_csv_rows(&path, &pre, Some("y")).unwrap();
    assert_eq!(batch.row(3), first.batch.row(3));
    // A later cell that is not a date: exit 2 naming the file, row and column.
    let (_dir, path) = file(&dated("someday,1,0\n"));
    let err = Stream::open(&StreamSource::Csv(source(&path, None, None)), 10, 1).unwrap_err();
    assert!(matches!(err, DataError::NotATime { row: 64, .. }), "{err}");
    assert!(err.to_string().contains("column \"d\""), "{err}");
    // The same cell in a file to score.
    let err = read_csv_rows(&path, &pre, Some("y")).unwrap_err();
    assert!(matches!(err, DataError::NotATime { row: 64, .. }), "{err}");
}

#[test]
fn declared_time_columns_and_categorical_overrides() {
    let (_dir, path) = file(&dated(""));
    let mut src = source(&path, None, None);
    src.columns.insert("d".into(), ColumnKind::Categorical);
    let stream = Stream::open(&StreamSource::Csv(src.clone()), 10, 1).unwrap();
    assert!(stream.info().time.is_empty());
    assert_eq!(stream.info().categorical.len(), 1);
    // Declared a time: every cell must be one, in the initial windows too.
    let (_dir, path) = file("d,x,y\nsoon,1,0\n2026-12-02,2,1\n2026-12-03,3,0\n");
    let mut src = source(&path, None, None);
    src.columns.insert("d".into(), ColumnKind::Time);
    let err = Stream::open(&StreamSource::Csv(src), 1, 1).unwrap_err();
    assert!(matches!(err, DataError::NotATime { row: 2, .. }), "{err}");
    assert!(err.to_string().contains("declares it \"time\""), "{err}");
}

#[test]
fn data_time_is_not_a_feature() {
    let (_dir, path) = file(&dated(""));
    let mut src = source(&path, Some("d"), None);
    src.features = vec!["d".into(), "x".into()];
    let err = Stream::open(&StreamSource::Csv(src), 10, 1).unwrap_err();
    assert!(matches!(err, DataError::TimeColumn { .. }), "{err}");
    let mut src = source(&path, Some("nope"), None);
    src.features = Vec::new();
    let err = Stream::open(&StreamSource::Csv(src), 10, 1).unwrap_err();
    assert!(
        err.to_string().contains("data.time column \"nope\""),
        "{err}"
    );
}

#[test]
fn rows_sent_to_a_server_read_times_as_a_file_does() {
    // Timestamps over two weeks with times of day: hour and weekday features.
    let mut text = String::from("ts,x,y\n");
    for i in 0..60 {
        text.push_str(&format!(
            "2026-12-{:02}T{:02}:15:00+01:00,{i},{}\n",
            1 + i / 4,
            (i * 5) % 24,
            i % 2
        ));
    }
    let (_dir, path) = file(&text);
    let stream = Stream::open(&StreamSource::Csv(source(&path, None, None)), 30, 1).unwrap();
    assert_eq!(
        stream.info().time[0].parts,
        [CalendarPart::Hour, CalendarPart::Weekday]
    );
    let mut pre = Preprocessor::new(stream.info(), Scaling::Running);
    let window = stream.windows().unwrap().next().unwrap().unwrap();
    pre.fit(&window.batch);
    let (from_file, _, _) = read_csv_rows(&path, &pre, None).unwrap();
    let header = ["y", "ts", "x"];
    let reader = relearn_data::RowReader::new(&pre, &header).unwrap();
    let mut from_rows = reader.batch(2);
    use relearn_data::Cell::{Missing, Text};
    reader
        .push(
            &mut from_rows,
            0,
            &[Text("0"), Text("2026-12-01T00:15:00+01:00"), Text("0")],
        )
        .unwrap();
    reader
        .push(&mut from_rows, 1, &[Missing, Missing, Text("1")])
        .unwrap();
    assert_eq!(from_rows.row(0), from_file.row(0));
    assert!(from_rows.row(1)[1..].iter().all(|x| x.is_nan()));
    let err = reader
        .push(&mut from_rows, 2, &[Missing, Text("noon"), Text("1")])
        .unwrap_err();
    assert!(err.to_string().contains("row 2, column \"ts\""), "{err}");
    assert!(
        err.to_string().contains("reads this column as time"),
        "{err}"
    );
}

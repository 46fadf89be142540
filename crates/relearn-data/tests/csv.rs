//! CSV streams: validation errors, class order, column selection, windows.

use std::path::{Path, PathBuf};

use relearn_data::{
    Batch, CsvSource, DataError, Preprocessor, Scaling, Stream, StreamSource, Task,
    read_labelled_csv,
};

/// A temporary folder holding `name` with `bytes`.
fn file_bytes(name: &str, bytes: &[u8]) -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    (dir, path)
}

/// [`class`] without `data.task` written (the stream may refuse a numeric target).
fn guessed(path: &Path) -> StreamSource {
    let StreamSource::Csv(mut src) = class(path) else {
        unreachable!()
    };
    src.task_given = false;
    StreamSource::Csv(src)
}
use tempfile::TempDir;

/// A temporary folder holding `name` with `text`.
fn file(name: &str, text: &str) -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

fn csv(path: &Path, target: &str, features: &[&str], task: Task) -> StreamSource {
    StreamSource::Csv(CsvSource {
        path: path.to_path_buf(),
        target: target.to_string(),
        features: features.iter().map(|s| s.to_string()).collect(),
        task,
        task_given: true,
        missing: relearn_data::DEFAULT_MISSING.map(str::to_string).to_vec(),
        columns: Default::default(),
        max_categories: relearn_data::DEFAULT_MAX_CATEGORIES,
        hash_buckets: relearn_data::DEFAULT_HASH_BUCKETS,
        delimiter: relearn_data::DEFAULT_DELIMITER,
        time: None,
        every: None,
        id: None,
        labels: None,
    })
}

fn class(path: &Path) -> StreamSource {
    csv(path, "y", &[], Task::Classification)
}

/// Opens `text` as a classification stream with target `y` and returns the error message.
fn open_err(text: &str, window: usize, initial: usize) -> (String, String, DataError) {
    let (_dir, path) = file("data.csv", text);
    let e = Stream::open(&class(&path), window, initial).expect_err("expected an error");
    (e.to_string(), path.display().to_string(), e)
}

/// `n` rows `i,2i,label` where the label cycles through `labels`.
fn rows(n: usize, labels: &[&str]) -> String {
    let mut s = String::from("a,b,y\n");
    for i in 0..n {
        s.push_str(&format!("{i},{},{}\n", 2 * i, labels[i % labels.len()]));
    }
    s
}

fn read_all(stream: &Stream) -> Vec<Batch> {
    stream
        .windows()
        .unwrap()
        .map(|w| w.unwrap().batch)
        .collect()
}

#[test]
fn missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.csv");
    let e = Stream::open(&class(&path), 2, 1).unwrap_err();
    assert!(matches!(e, DataError::NotFound { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.starts_with(&format!("{}: no such file", path.display())),
        "{msg}"
    );
    assert_eq!(e.exit_code(), 2);
}

#[test]
fn empty_file() {
    for text in ["", "\n", "\n\n"] {
        let (msg, path, e) = open_err(text, 2, 1);
        assert!(matches!(e, DataError::Empty { .. }), "{text:?}: {e:?}");
        assert_eq!(
            msg,
            format!(
                "{path}: the file is empty (expected a header row naming the columns, then one row per sample)"
            )
        );
    }
}

#[test]
fn header_only() {
    let (msg, path, e) = open_err("a,b,y\n", 2, 1);
    assert!(matches!(e, DataError::NoRows { .. }), "{e:?}");
    assert!(
        msg.starts_with(&format!(
            "{path}: the file has a header row but no data rows"
        )),
        "{msg}"
    );
}

#[test]
fn ragged_row() {
    let (msg, path, _) = open_err("a,b,y\n1,2,0\n3,4,1\n5,6\n7,8,1\n", 2, 1);
    assert_eq!(
        msg,
        format!(
            "{path}: row 4 has 2 fields but the header has 3 (every row needs one value per column: check for missing or extra commas)"
        )
    );
    let (msg, _, _) = open_err("a,b,y\n1,2,0,9\n", 2, 1);
    assert!(
        msg.contains("row 2 has 4 fields but the header has 3"),
        "{msg}"
    );
}

#[test]
fn non_numeric_cell() {
    // Numbers in the initial window (one row), then text: the column is numeric.
    let (msg, path, e) = open_err("a,b,y\n1,2,0\n3,abc,1\n", 1, 1);
    assert_eq!(
        msg,
        format!(
            "{path}: row 3, column \"b\": \"abc\" is not a number (every non-missing cell of this column in the initial windows is a number, so it is numeric; if it holds categories, declare it under [data.columns] as \"categorical\")"
        )
    );
    assert!(e.is_user_error());
    // Text in the initial windows: the column is categorical, and numbers later are
    // categories too.
    let (_dir, path) = file("data.csv", "a,b,y\n1,abc,0\n3,2,1\n5,abc,0\n6,x,1\n");
    let stream = Stream::open(&class(&path), 2, 1).unwrap();
    assert_eq!(stream.info().feature_names, vec!["a"]);
    assert_eq!(stream.info().categorical[0].name, "b");
    assert_eq!(
        stream.info().categorical[0].slots,
        4,
        "twice the initial values"
    );
    let w: Vec<_> = stream.windows().unwrap().map(Result::unwrap).collect();
    assert_eq!(w[0].batch.categories, vec!["abc", "2"]);
    assert_eq!(w[1].batch.categories, vec!["abc", "x"]);
}

#[test]
fn nan_and_infinite_cells() {
    // `NaN` is one of data.missing's spellings: a missing cell. The others are errors.
    for (cell, row) in [("nan", 3), ("inf", 3), ("-infinity", 3), ("1e39", 3)] {
        let text = format!("a,b,y\n1,2,0\n3,{cell},1\n");
        let (msg, path, e) = open_err(&text, 1, 1);
        assert!(matches!(e, DataError::NotFinite { .. }), "{cell}: {e:?}");
        assert!(
            msg.starts_with(&format!(
                "{path}: row {row}, column \"b\": \"{cell}\" is not a finite number"
            )),
            "{msg}"
        );
        // The message says what is true of this cell: NaN is missing when data.missing
        // lists its spelling (`NaN` is), infinity is refused.
        if cell == "nan" {
            assert!(msg.contains("listed in data.missing"), "{msg}");
            assert!(!msg.contains("infinite"), "{msg}");
        } else {
            assert!(msg.contains("infinite values"), "{msg}");
            assert!(!msg.contains("NaN"), "{msg}");
        }
    }
}

#[test]
fn empty_cell() {
    // A blank feature cell is a missing value: read as NaN, for the preprocessor to impute.
    let (_dir, path) = file("data.csv", "a,b,y\n1,,0\n3,4,1\n5,NaN,0\n7,8,1\n");
    let stream = Stream::open(&class(&path), 2, 1).unwrap();
    assert_eq!(
        stream.info().indicators,
        vec![1],
        "b is missing in the initial window"
    );
    let w: Vec<_> = stream.windows().unwrap().map(Result::unwrap).collect();
    assert!(w[0].batch.features[1].is_nan() && w[1].batch.features[1].is_nan());
    assert_eq!(w[0].batch.features[2..], [3.0, 4.0]);
    // An empty target is a missing one (`data.missing` has "" by default): the row is
    // skipped. Without "" among the missing spellings it is an empty cell again.
    let text = "a,b,y\n1,2,0\n3,4,\n5,6,1\n7,8,NA\n9,9,0\n2,2,1\n";
    let (_dir, path) = file("data.csv", text);
    let stream = Stream::open(&class(&path), 2, 1).unwrap();
    assert_eq!(stream.info().n_samples, 4, "labelled rows only");
    let windows: Vec<_> = stream.windows().unwrap().map(Result::unwrap).collect();
    assert_eq!(
        windows.iter().map(|w| w.skipped).collect::<Vec<_>>(),
        [1, 1]
    );
    assert_eq!(windows[1].batch.row(0), [9.0, 9.0]);
    let StreamSource::Csv(mut strict) = class(&path) else {
        unreachable!()
    };
    strict.missing.clear();
    let e = Stream::open(&StreamSource::Csv(strict), 2, 1).unwrap_err();
    assert!(
        e.to_string()
            .contains("row 3, column \"y\": the cell is empty"),
        "{e}"
    );
}

#[test]
fn unknown_target_lists_columns() {
    let (_dir, path) = file("d.csv", &rows(10, &["0", "1"]));
    let e = Stream::open(&csv(&path, "label", &[], Task::Classification), 2, 1).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}: target column \"label\" not found in the header (available columns: a, b, y)",
            path.display()
        )
    );
}

#[test]
fn unknown_feature_lists_columns() {
    let (_dir, path) = file("d.csv", &rows(10, &["0", "1"]));
    let e = Stream::open(&csv(&path, "y", &["a", "zz"], Task::Classification), 2, 1).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}: feature column \"zz\" not found in the header (available columns: a, b, y)",
            path.display()
        )
    );
}

#[test]
fn target_listed_as_feature_and_duplicates() {
    let (_dir, path) = file("d.csv", &rows(10, &["0", "1"]));
    let e = Stream::open(&csv(&path, "y", &["a", "y"], Task::Classification), 2, 1).unwrap_err();
    assert!(matches!(e, DataError::TargetIsFeature { .. }), "{e:?}");
    assert!(e.to_string().contains("column \"y\" is the target"), "{e}");
    let e = Stream::open(&csv(&path, "y", &["a", "a"], Task::Classification), 2, 1).unwrap_err();
    assert!(matches!(e, DataError::DuplicateFeature { .. }), "{e:?}");
    let (_dir2, dup) = file("dup.csv", "a,a,y\n1,2,0\n3,4,1\n5,6,1\n");
    let e = Stream::open(&class(&dup), 1, 1).unwrap_err();
    assert!(
        e.to_string()
            .contains("column \"a\" appears more than once"),
        "{e}"
    );
    let (_dir3, only) = file("only.csv", "y\n0\n1\n");
    let e = Stream::open(&class(&only), 1, 1).unwrap_err();
    assert!(matches!(e, DataError::NoFeatures { .. }), "{e:?}");
}

#[test]
fn late_new_label() {
    // Windows of 2, 2 initial windows: rows 2..=5 are initial; row 7 brings "c", whose class
    // id follows the initial ones.
    let text = "a,b,y\n1,1,b\n2,2,a\n3,3,a\n4,4,b\n5,5,b\n6,6,c\n7,7,a\n8,8,b\n9,9,a\n";
    let (_dir, path) = file("d.csv", text);
    let s = Stream::open(&class(&path), 2, 2).unwrap();
    assert_eq!(s.info().classes, vec!["a", "b"]);
    assert_eq!(s.info().later_classes, vec!["c"]);
    let w: Vec<_> = s.windows().unwrap().map(Result::unwrap).collect();
    assert_eq!(w[2].batch.targets, vec![1.0, 2.0]);
    // The same file with the label in the initial windows sorts it with the others.
    let s = Stream::open(&class(&path), 3, 2).unwrap();
    assert_eq!(s.info().classes, vec!["a", "b", "c"]);
    assert!(s.info().later_classes.is_empty());
}

#[test]
fn single_class_in_initial_windows() {
    // A later label is reported as the initial windows' single class: that is the cause.
    let (msg, _, e) = open_err("a,b,y\n1,1,x\n2,2,x\n3,3,z\n4,4,x\n", 2, 1);
    assert!(matches!(e, DataError::SingleClass { .. }), "{e:?}: {msg}");
    let (msg, path, e) = open_err("a,b,y\n1,1,x\n2,2,x\n3,3,x\n4,4,x\n", 2, 1);
    assert!(matches!(e, DataError::SingleClass { .. }), "{e:?}");
    assert!(
        msg.starts_with(&format!("csv:{path}: the initial windows (the first 2 samples) contain only one class, \"x\", in column \"y\"")),
        "{msg}"
    );
}

#[test]
fn too_short_for_windows() {
    let (msg, path, e) = open_err(&rows(5, &["0", "1"]), 2, 2);
    assert!(
        matches!(
            e,
            DataError::TooShort {
                samples: 5,
                needed: 6,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(
        msg,
        format!(
            "csv:{path}: the stream has 5 samples but window.size = 2 with window.initial = 2 needs at least 6 (2 initial window(s) plus one update window); lower window.size or window.initial, or use a longer stream"
        )
    );
    let (_dir, path) = file("d.csv", &rows(6, &["0", "1"]));
    assert_eq!(Stream::open(&class(&path), 2, 2).unwrap().n_windows(), 3);
}

#[test]
fn zero_window_size_or_initial() {
    let (msg, _, _) = open_err(&rows(6, &["0", "1"]), 0, 1);
    assert!(msg.starts_with("window.size: must be at least 1"), "{msg}");
    let (msg, _, _) = open_err(&rows(6, &["0", "1"]), 2, 0);
    assert!(
        msg.starts_with("window.initial: must be at least 1"),
        "{msg}"
    );
}

#[test]
fn regression_target_must_be_numeric() {
    let (_dir, path) = file("r.csv", "a,y\n1,0.5\n2,high\n");
    let e = Stream::open(&csv(&path, "y", &[], Task::Regression), 1, 1).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}: row 3, column \"y\": \"high\" is not a number (a regression target must be a finite number)",
            path.display()
        )
    );
    let (_dir, path) = file("r.csv", "a,y\n1,0.5\n2,1.5\n3,-2\n");
    let s = Stream::open(&csv(&path, "y", &[], Task::Regression), 1, 1).unwrap();
    assert!(s.info().classes.is_empty());
    assert_eq!(s.info().n_outputs(), 1);
    let targets: Vec<f32> = read_all(&s).into_iter().flat_map(|b| b.targets).collect();
    assert_eq!(targets, vec![0.5, 1.5, -2.0]);
}

#[test]
fn classes_sort_numerically_or_lexicographically() {
    let (_dir, path) = file("d.csv", &rows(8, &["10", "2", "0", "1"]));
    let s = Stream::open(&class(&path), 4, 1).unwrap();
    assert_eq!(s.info().classes, vec!["0", "1", "2", "10"]);
    assert_eq!(s.info().n_outputs(), 4);
    let targets: Vec<f32> = read_all(&s).into_iter().flat_map(|b| b.targets).collect();
    assert_eq!(targets, vec![3.0, 2.0, 0.0, 1.0, 3.0, 2.0, 0.0, 1.0]);

    let (_dir, path) = file("d.csv", &rows(6, &["up", "Down", "10"]));
    let s = Stream::open(&class(&path), 3, 1).unwrap();
    assert_eq!(s.info().classes, vec!["10", "Down", "up"]);
}

#[test]
fn feature_subset_and_reorder() {
    let text = "c,y,a,b\n1,0,2,3\n4,1,5,6\n7,0,8,9\n";
    let (_dir, path) = file("d.csv", text);
    let s = Stream::open(&csv(&path, "y", &["b", "c"], Task::Classification), 1, 2).unwrap();
    assert_eq!(s.info().feature_names, vec!["b", "c"]);
    let b = read_all(&s);
    assert_eq!(b[0].features, vec![3.0, 1.0]);
    assert_eq!(b[2].features, vec![9.0, 7.0]);
    // Empty features: every column but the target, in file order.
    let s = Stream::open(&csv(&path, "y", &[], Task::Classification), 1, 2).unwrap();
    assert_eq!(s.info().feature_names, vec!["c", "a", "b"]);
    assert_eq!(read_all(&s)[1].features, vec![4.0, 5.0, 6.0]);
}

#[test]
fn windows_content_and_partial_window_dropped() {
    let (_dir, path) = file("d.csv", &rows(11, &["0", "1", "1"]));
    let s = Stream::open(&class(&path), 3, 1).unwrap();
    assert_eq!(s.info().n_samples, 11);
    assert_eq!(s.n_windows(), 3);
    assert_eq!(s.window_size(), 3);
    assert_eq!(s.info().source, format!("csv:{}", path.display()));
    assert!(s.info().drift_points.is_empty());
    let windows: Vec<_> = s.windows().unwrap().map(Result::unwrap).collect();
    assert_eq!(windows.len(), 3);
    for (t, w) in windows.iter().enumerate() {
        assert_eq!(w.index, t);
        assert_eq!(w.batch.len(), 3);
        assert_eq!(w.batch.n_features, 2);
        for r in 0..3 {
            let i = (3 * t + r) as f32;
            assert_eq!(w.batch.row(r), &[i, 2.0 * i]);
            let label = [0.0, 1.0, 1.0][(3 * t + r) % 3];
            assert_eq!(w.batch.targets[r], label);
        }
    }
    // Resuming from a window gives the same windows as reading through.
    let from: Vec<_> = s.windows_from(1).unwrap().map(Result::unwrap).collect();
    assert_eq!(from, windows[1..]);
    assert_eq!(s.windows_from(7).unwrap().count(), 0);
}

#[test]
fn bom_quotes_whitespace_and_blank_lines() {
    let text = "\u{feff}\"a\", b ,y\r\n 1 ,\"2.5\",yes\r\n\r\n3,4, no\r\n5,6,yes";
    let (_dir, path) = file("d.csv", text);
    let s = Stream::open(&class(&path), 1, 2).unwrap();
    assert_eq!(s.info().feature_names, vec!["a", "b"]);
    assert_eq!(s.info().classes, vec!["no", "yes"]);
    let b = read_all(&s);
    assert_eq!(b[0].features, vec![1.0, 2.5]);
    assert_eq!(b[1].targets, vec![0.0]);
}

#[test]
fn row_numbers_count_blank_lines_and_line_ends() {
    let (msg, _, _) = open_err("a,b,y\n1,2,0\n\n\n3,x,1\n", 1, 1);
    assert!(msg.contains("row 5, column \"b\""), "{msg}");
    let (msg, _, _) = open_err("a,b,y\r\n1,2,0\r\n\r\n3,x,1\r\n", 1, 1);
    assert!(msg.contains("row 4, column \"b\""), "{msg}");
    // A quoted cell spanning two lines: the next record starts on line 4.
    let (msg, _, _) = open_err("a,b,y\n1,\"2\n\",0\n3,4,1,5\n", 1, 1);
    assert!(msg.contains("row 4 has 4 fields"), "{msg}");
}

#[test]
fn a_file_changed_after_open_is_reported() {
    let (_dir, path) = file("d.csv", &rows(6, &["0", "1"]));
    let s = Stream::open(&class(&path), 2, 1).unwrap();
    std::fs::write(&path, rows(4, &["0", "1"])).unwrap();
    let e = s.windows().err().expect("changed file");
    assert!(matches!(e, DataError::Changed { .. }), "{e:?}");
    assert!(!e.is_user_error());
    assert_eq!(e.exit_code(), 1);
}

#[test]
fn labelled_csv_for_eval_and_predict() {
    let (_dir, train) = file("train.csv", "a,b,y\n1,2,cat\n3,4,dog\n5,6,cat\n");
    let s = Stream::open(&class(&train), 1, 2).unwrap();
    let pre = Preprocessor::new(s.info(), Scaling::Running);

    // Other column order, an extra column.
    let (_d2, eval) = file("eval.csv", "extra,y,b,a\nq,dog,20,10\nr,cat,40,30\n");
    let (batch, raw) = read_labelled_csv(&eval, &pre, Some("y")).unwrap();
    assert_eq!(batch.features, vec![10.0, 20.0, 30.0, 40.0]);
    assert_eq!(batch.targets, vec![1.0, 0.0]);
    assert_eq!(raw, vec!["dog", "cat"]);

    // Predict: no target.
    let (batch, raw) = read_labelled_csv(&eval, &pre, None).unwrap();
    assert_eq!(batch.len(), 2);
    assert_eq!(batch.targets, vec![0.0, 0.0]);
    assert!(raw.is_empty());

    let (_d3, missing) = file("m.csv", "b,y\n1,cat\n");
    let e = read_labelled_csv(&missing, &pre, Some("y")).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}: missing feature column(s) \"a\" that the checkpoint was trained on (available columns: b, y; the file needs every feature column, in any order)",
            missing.display()
        )
    );

    let (_d4, unknown) = file("u.csv", "a,b,y\n1,2,cat\n1,2,bird\n");
    let e = read_labelled_csv(&unknown, &pre, Some("y")).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}: row 3, column \"y\": class label \"bird\" is not one the checkpoint was trained on (known labels: \"cat\", \"dog\")",
            unknown.display()
        )
    );

    let e = read_labelled_csv(&eval, &pre, Some("label")).unwrap_err();
    assert!(
        e.to_string().contains("target column \"label\" not found"),
        "{e}"
    );
    let (_d5, bad) = file("bad.csv", "a,b\n1,oops\n");
    let e = read_labelled_csv(&bad, &pre, None).unwrap_err();
    assert!(
        e.to_string()
            .contains("row 2, column \"b\": \"oops\" is not a number"),
        "{e}"
    );
    let (_d6, empty) = file("e.csv", "a,b,y\n");
    assert!(matches!(
        read_labelled_csv(&empty, &pre, None),
        Err(DataError::NoRows { .. })
    ));
}

#[test]
fn fixture_file_reads() {
    let text = include_str!("fixtures/small.csv");
    let (_dir, path) = file("small.csv", text);
    let s = Stream::open(&csv(&path, "class", &[], Task::Classification), 4, 1).unwrap();
    assert_eq!(
        s.info().feature_names,
        vec!["period", "nswprice", "nswdemand"]
    );
    assert_eq!(s.info().classes, vec!["DOWN", "UP"]);
    assert_eq!(s.n_windows(), 3);
    let n: usize = read_all(&s).iter().map(Batch::len).sum();
    assert_eq!(n, 12);
}

#[test]
fn a_latin1_file_is_refused_naming_row_column_and_the_fix() {
    // `É` and `È` in latin-1 are the single bytes 0xC9 and 0xC8: not UTF-8.
    let mut text = b"a,code,y\n".to_vec();
    for i in 0..8 {
        let code: &[u8] = match i {
            5 => b"\xc9T\xc9",
            6 => b"HIV\xc8R",
            _ => b"ETE",
        };
        text.extend_from_slice(format!("{i},").as_bytes());
        text.extend_from_slice(code);
        text.extend_from_slice(format!(",{}\n", i % 2).as_bytes());
    }
    let (_dir, path) = file_bytes("latin.csv", &text);
    let e = Stream::open(&class(&path), 2, 1).unwrap_err();
    assert!(matches!(e, DataError::NotUtf8 { .. }), "{e:?}");
    assert_eq!(e.exit_code(), 2);
    let msg = e.to_string();
    for needle in [
        &format!("{}: row 7, column \"code\"", path.display()),
        "\\xc9T\\xc9",
        "byte 0xC9 at byte 0",
        "not UTF-8",
        "iconv -f latin1 -t utf-8",
    ] {
        assert!(msg.contains(needle), "{needle:?} not in {msg}");
    }
    // The same file re-encoded reads, and its two codes stay two categories.
    let utf8 = String::from_utf8(
        text.iter()
            .flat_map(|&b| {
                let mut buf = [0u8; 4];
                (b as char).encode_utf8(&mut buf).as_bytes().to_vec()
            })
            .collect(),
    )
    .unwrap();
    assert!(utf8.contains("ÉTÉ") && utf8.contains("HIVÈR"));
    let (_dir, path) = file("utf8.csv", &utf8);
    let s = Stream::open(&class(&path), 2, 1).unwrap();
    let cats: Vec<String> = read_all(&s)
        .into_iter()
        .flat_map(|b| b.categories)
        .collect();
    assert_eq!(cats[5], "ÉTÉ");
    assert_eq!(cats[6], "HIVÈR");

    // A header name and a class label are checked the same way.
    let (_dir, path) = file_bytes("h.csv", b"a,b\xe9,y\n1,2,0\n3,4,1\n5,6,0\n");
    let msg = Stream::open(&class(&path), 1, 1).unwrap_err().to_string();
    assert!(msg.contains("row 1, header column 2"), "{msg}");
    let (_dir, path) = file_bytes("l.csv", b"a,y\n1,oui\n2,non\n3,d\xe9j\xe0\n");
    let msg = Stream::open(&class(&path), 2, 1).unwrap_err().to_string();
    assert!(msg.contains("row 4, column \"y\""), "{msg}");
    // `eval` and `predict` read files through the same check.
    let (_dir, good) = file("g.csv", "a,y\n1,oui\n2,non\n3,oui\n4,non\n");
    let s = Stream::open(&class(&good), 2, 1).unwrap();
    let pre = Preprocessor::new(s.info(), Scaling::Running);
    let e = read_labelled_csv(&path, &pre, Some("y")).unwrap_err();
    assert!(matches!(e, DataError::NotUtf8 { row: 4, .. }), "{e:?}");
}

#[test]
fn another_delimiter_gets_a_hint_and_data_delimiter_reads_it() {
    for (delimiter, toml) in [
        ('\t', "data.delimiter = \"\\t\""),
        (';', "data.delimiter = \";\""),
    ] {
        let text = rows(8, &["0", "1"]).replace(',', &delimiter.to_string());
        let (_dir, path) = file("d.csv", &text);
        let e = Stream::open(&class(&path), 2, 1).unwrap_err();
        assert!(matches!(e, DataError::Delimiter { .. }), "{e:?}");
        assert_eq!(e.exit_code(), 2);
        let msg = e.to_string();
        assert!(msg.contains("single column"), "{msg}");
        assert!(msg.contains(toml), "{toml:?} not in {msg}");
        // With data.delimiter the file reads as its comma-separated twin does.
        let StreamSource::Csv(mut src) = class(&path) else {
            unreachable!()
        };
        src.delimiter = delimiter as u8;
        let s = Stream::open(&StreamSource::Csv(src), 2, 1).unwrap();
        let (_dir2, comma) = file("c.csv", &rows(8, &["0", "1"]));
        let twin = Stream::open(&class(&comma), 2, 1).unwrap();
        assert_eq!(s.info().feature_names, vec!["a", "b"]);
        assert_eq!(read_all(&s), read_all(&twin));
        // `eval` and `predict` find the delimiter from the file's first line.
        let pre = Preprocessor::new(s.info(), Scaling::Running);
        let (batch, raw) = read_labelled_csv(&path, &pre, Some("y")).unwrap();
        assert_eq!(batch.len(), 8);
        assert_eq!(raw[..2], ["0", "1"]);
    }
}

#[test]
fn a_numeric_target_without_data_task_is_refused_not_guessed() {
    // 30 distinct integers in the initial windows: not taken for 30 classes.
    let text = "a,cnt\n".to_string()
        + &(0..60)
            .map(|i| format!("{i},{}\n", (i * 7) % 30))
            .collect::<String>();
    let (_dir, path) = file("d.csv", &text);
    let StreamSource::Csv(mut src) = guessed(&path) else {
        unreachable!()
    };
    src.target = "cnt".to_string();
    let e = Stream::open(&StreamSource::Csv(src), 30, 1).unwrap_err();
    assert!(
        matches!(e, DataError::TaskNotSet { distinct: 30, .. }),
        "{e:?}"
    );
    assert_eq!(e.exit_code(), 2);
    let msg = e.to_string();
    for needle in [
        "data.task is not set and target \"cnt\" looks numeric (30 distinct values in the initial windows)",
        "set data.task = \"regression\" or \"classification\"",
    ] {
        assert!(msg.contains(needle), "{needle:?} not in {msg}");
    }
    // Said explicitly, either task reads it.
    Stream::open(&csv(&path, "cnt", &[], Task::Classification), 30, 1).unwrap();
    Stream::open(&csv(&path, "cnt", &[], Task::Regression), 30, 1).unwrap();
    // A value that is not an integer is numeric however few the values.
    let (_dir, path) = file("f.csv", &rows(8, &["0.5", "1.5"]));
    let msg = Stream::open(&guessed(&path), 2, 1).unwrap_err().to_string();
    assert!(msg.contains("\"0.5\" is not an integer"), "{msg}");
    // Few integer values (0/1, 1..7) or text labels stay classes.
    for labels in [
        &["0", "1"][..],
        &["1", "2", "3", "4", "5", "6", "7"],
        &["up", "down"],
    ] {
        let (_dir, path) = file("c.csv", &rows(28, labels));
        let s = Stream::open(&guessed(&path), 14, 1).unwrap();
        assert_eq!(s.info().classes.len(), labels.len());
    }
}

#[test]
fn numeric_labels_are_one_class_per_value() {
    // pandas writes `1.0` when an int column holds a blank; `01` and `1` are the same value.
    let (_dir, path) = file("d.csv", &rows(8, &["1", "0", "1.0", "01", "0.0", "2"]));
    let s = Stream::open(&class(&path), 4, 1).unwrap();
    assert_eq!(
        s.info().classes,
        vec!["0", "1"],
        "named by the first spelling"
    );
    assert_eq!(s.info().later_classes, vec!["2"]);
    let targets: Vec<f32> = read_all(&s).into_iter().flat_map(|b| b.targets).collect();
    assert_eq!(targets, vec![1.0, 0.0, 1.0, 1.0, 0.0, 2.0, 1.0, 0.0]);
    // A later spelling of a later class is that class too.
    let (_dir, path) = file(
        "e.csv",
        &rows(8, &["0", "1", "0", "1", "3.0", "3", "1.00", "0"]),
    );
    let s = Stream::open(&class(&path), 4, 1).unwrap();
    assert_eq!(s.info().classes, vec!["0", "1"]);
    assert_eq!(s.info().later_classes, vec!["3.0"]);
    let targets: Vec<f32> = read_all(&s).into_iter().flat_map(|b| b.targets).collect();
    assert_eq!(targets, vec![0.0, 1.0, 0.0, 1.0, 2.0, 2.0, 1.0, 0.0]);
    // One value under two spellings is one class: a single class is refused.
    let (_dir, path) = file("f.csv", &rows(8, &["1", "1.0"]));
    let e = Stream::open(&class(&path), 4, 1).unwrap_err();
    assert!(matches!(e, DataError::SingleClass { .. }), "{e:?}");
    // Text labels are compared as text, as before.
    let (_dir, path) = file("g.csv", &rows(8, &["a", "1", "1.0"]));
    let s = Stream::open(&class(&path), 4, 1).unwrap();
    assert_eq!(s.info().classes, vec!["1", "1.0", "a"]);
    // eval maps another spelling of a class to it.
    let (_dir, path) = file("h.csv", &rows(4, &["0", "1"]));
    let s = Stream::open(&class(&path), 2, 1).unwrap();
    let pre = Preprocessor::new(s.info(), Scaling::Running);
    let (_dir, eval) = file("eval.csv", "a,b,y\n1,2,1.0\n3,4,00\n");
    let (batch, raw) = read_labelled_csv(&eval, &pre, Some("y")).unwrap();
    assert_eq!(batch.targets, vec![1.0, 0.0]);
    assert_eq!(raw, vec!["1.0", "00"]);
}

#[test]
fn skipped_and_trailing_rows_are_counted() {
    // 11 labelled rows and 3 with a blank target; windows of 3: 2 rows after the last
    // full window.
    let mut text = rows(11, &["0", "1"]);
    text.push_str("20,40,\n21,42,NA\n");
    text = text.replacen("4,8,0\n", "4,8,0\n9,9,\n", 1);
    let (_dir, path) = file("d.csv", &text);
    let s = Stream::open(&class(&path), 3, 1).unwrap();
    assert_eq!(s.n_windows(), 3);
    assert_eq!(s.skipped_rows(), 3);
    assert_eq!(s.trailing_rows(), 2);
    assert_eq!(
        s.info().dropped_rows_note().unwrap(),
        "3 rows skipped (blank target) so far; 2 rows after the last full window wait for more rows"
    );
    // A stream that uses every row has nothing to say.
    let (_dir, path) = file("e.csv", &rows(9, &["0", "1"]));
    let s = Stream::open(&class(&path), 3, 1).unwrap();
    assert_eq!((s.skipped_rows(), s.trailing_rows()), (0, 0));
    assert_eq!(s.info().dropped_rows_note(), None);
}

#[test]
fn an_encoded_window_too_large_for_memory_is_refused_naming_the_keys() {
    // Ten text columns of 40 values each, hashed into data.hash_buckets = 65536 inputs:
    // 655,680 inputs x 40,000 rows x 4 bytes = 98 GiB, far more than a quarter of any
    // machine this runs on. Refused at open, before anything is allocated.
    let mut text = String::from("c0,c1,c2,c3,c4,c5,c6,c7,c8,c9,y\n");
    for i in 0..40_000 {
        for c in 0..10 {
            text.push_str(&format!("v{},", (i + c) % 40));
        }
        text.push_str(&format!("{}\n", i % 2));
    }
    let (_dir, path) = file("wide.csv", &text);
    let StreamSource::Csv(mut src) = class(&path) else {
        unreachable!()
    };
    src.hash_buckets = relearn_data::MAX_CATEGORY_INPUTS;
    let e = Stream::open(&StreamSource::Csv(src.clone()), 20_000, 1).unwrap_err();
    assert!(
        matches!(
            e,
            DataError::Config {
                key: "data.hash_buckets",
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(e.exit_code(), 2);
    let msg = e.to_string();
    for needle in [
        "655680 model inputs per row",
        "40000 rows",
        "GiB",
        "data.hash_buckets (now 65536",
        "data.max_categories",
    ] {
        assert!(msg.contains(needle), "{needle:?} not in {msg}");
    }
    // With the default buckets the same table opens.
    src.hash_buckets = relearn_data::DEFAULT_HASH_BUCKETS;
    Stream::open(&StreamSource::Csv(src), 20_000, 1).unwrap();
}

/// A folder of five files whose boundaries fall inside windows of 4: blank targets at the
/// end and start of files, a file with a header only, a file of blank targets only.
fn folder_with_awkward_boundaries() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut n = 0;
    let mut rows = |labelled: usize| -> String {
        (0..labelled)
            .map(|_| {
                n += 1;
                format!("{n},{}\n", n % 2)
            })
            .collect()
    };
    let files = [
        format!("x,y\n{}9,\n9,NA\n", rows(7)),
        "x,y\n".to_string(),
        "x,y\n9,\n9,\n9,\n".to_string(),
        format!("x,y\n9,\n9,\n{}9,\n", rows(9)),
        format!("x,y\n{}", rows(11)),
    ];
    for (i, text) in files.iter().enumerate() {
        std::fs::write(dir.path().join(format!("part-{i}.csv")), text).unwrap();
    }
    dir
}

#[test]
fn windows_read_from_any_window_of_a_folder_match_those_read_from_the_start() {
    let dir = folder_with_awkward_boundaries();
    let stream = Stream::open(&class(dir.path()), 4, 1).unwrap();
    assert_eq!(stream.info().n_samples, 27);
    assert_eq!(stream.info().skipped_rows, 8);
    let files: Vec<(String, usize)> = stream
        .files()
        .into_iter()
        .map(|f| (f.name, f.samples))
        .collect();
    let names = ["part-0", "part-1", "part-2", "part-3", "part-4"];
    let expected: Vec<(String, usize)> = names
        .iter()
        .map(|n| n.to_string())
        .zip([7, 0, 0, 9, 11])
        .collect();
    assert_eq!(files, expected);
    let all: Vec<_> = stream.windows().unwrap().map(Result::unwrap).collect();
    assert_eq!(all.len(), 6);
    // Every blank target is counted once, in the window read when it was passed.
    let skipped: usize = all.iter().map(|w| w.skipped).sum();
    assert_eq!(
        skipped,
        8,
        "{:?}",
        all.iter().map(|w| w.skipped).collect::<Vec<_>>()
    );
    for k in 0..all.len() {
        let from: Vec<_> = stream
            .windows_from(k)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(from, all[k..], "from window {k}");
    }
}

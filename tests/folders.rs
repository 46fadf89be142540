//! A folder of files as one stream (issue 25): `data.path` as a partitioned folder or a
//! glob, read in name order; a new file is new data on the next `run`; a file already
//! trained on that changes or goes away is refused naming it; a file with other columns is
//! exit 2 naming the file and the column.

use crate::common::{Sandbox, assert_fails, ids};
use crate::time_windows::{date, rows_of_day};

/// The config of a daily run over the folder `events`.
fn config(path: &str) -> String {
    format!(
        "[run]\nname = \"daily\"\n\n[data]\npath = \"{path}\"\ntarget = \"label\"\ntime = \"ts\"\n\n\
         [window]\nevery = \"1d\"\n\n[model]\nhidden = [8]\n\n[train]\nepochs = 2\n"
    )
}

/// Writes day `day`'s rows (if it has any) as `events/date=YYYY-MM-DD/part-0.csv`.
fn write_day(sb: &Sandbox, day: i64) {
    let rows = rows_of_day(day);
    if rows.is_empty() {
        return;
    }
    let folder = sb.path(&format!("events/date={}", date(day)));
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("part-0.csv"), format!("ts,x0,x1,label\n{rows}")).unwrap();
}

/// The days of `days` with rows.
fn days_with_rows(days: std::ops::Range<i64>) -> Vec<i64> {
    days.filter(|&d| !rows_of_day(d).is_empty()).collect()
}

#[test]
fn a_partition_folder_gains_a_file_and_the_run_resumes_with_one_more_window() {
    let sb = Sandbox::new();
    for day in 0..15 {
        write_day(&sb, day);
    }
    sb.write("t.toml", &config("events"));
    let out = sb.ok(&["run", "--config", "t.toml"]);
    let days = days_with_rows(0..15);
    let log = sb.log("daily");
    // One window per day with rows, the last day waiting for a later row.
    assert_eq!(log.len(), days.len() - 1, "{out}");
    for (m, day) in log.iter().zip(&days) {
        assert_eq!(m["extra"]["period"], date(*day), "{m}");
        let files = &m["extra"]["data"]["files"];
        assert_eq!(files[0], format!("date={}/part-0", date(*day)), "{m}");
    }
    // The next day's file: one more window, the earlier ids unchanged.
    let next = days_with_rows(15..30)[0];
    write_day(&sb, next);
    let more = sb.ok(&["run", "--config", "t.toml"]);
    assert!(more.contains("resuming run 'daily'"), "{more}");
    let after = ids(&sb.log("daily"));
    assert_eq!(after.len(), log.len() + 1, "{more}");
    assert_eq!(after[..log.len()], ids(&log)[..]);

    // A glob over the same files gives the same ids.
    let globbed = Sandbox::new();
    for day in days.iter().copied().chain([next]) {
        write_day(&globbed, day);
    }
    globbed.write("t.toml", &config("events/date=*/part-*.csv"));
    globbed.ok(&["run", "--config", "t.toml"]);
    assert_eq!(ids(&globbed.log("daily")), after);
}

#[test]
fn a_changed_or_removed_file_already_trained_on_is_refused_naming_it() {
    let sb = Sandbox::new();
    for day in 0..10 {
        write_day(&sb, day);
    }
    sb.write("t.toml", &config("events"));
    sb.ok(&["run", "--config", "t.toml"]);
    let before = sb.snapshot();
    let second = date(days_with_rows(0..10)[1]);
    let file = sb.path(&format!("events/date={second}/part-0.csv"));
    let original = std::fs::read_to_string(&file).unwrap();

    // One cell of an old file edited.
    let edited = original.replacen(",1\n", ",0\n", 1);
    assert_ne!(edited, original);
    std::fs::write(&file, &edited).unwrap();
    let out = sb.relearn(&["run", "--config", "t.toml"]);
    assert_fails(&out, 2, "changed");
    assert_fails(&out, 2, &format!("\"date={second}/part-0\", which changed"));
    assert_eq!(sb.snapshot(), before, "nothing changed");

    // The old file removed.
    std::fs::remove_file(&file).unwrap();
    let out = sb.relearn(&["run", "--config", "t.toml"]);
    assert_fails(
        &out,
        2,
        &format!("\"date={second}/part-0\" is no longer there"),
    );
    assert_eq!(sb.snapshot(), before, "nothing changed");
}

#[test]
fn a_file_with_other_columns_is_exit_2_naming_file_and_column() {
    let sb = Sandbox::new();
    for day in 0..6 {
        write_day(&sb, day);
    }
    let day = date(days_with_rows(0..6)[2]);
    let file = sb.path(&format!("events/date={day}/part-0.csv"));
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replacen("ts,x0,x1,label", "ts,x0,x2,label", 1)).unwrap();
    sb.write("t.toml", &config("events"));
    let out = sb.relearn(&["run", "--config", "t.toml"]);
    assert_fails(&out, 2, &format!("date={day}/part-0.csv"));
    assert_fails(&out, 2, "column 3 is \"x2\" where \"x1\" was expected");
    assert!(!sb.store().join("manifests").exists(), "no store written");

    // An empty folder names itself.
    let empty = Sandbox::new();
    std::fs::create_dir_all(empty.path("events")).unwrap();
    empty.write("t.toml", &config("events"));
    let out = empty.relearn(&["run", "--config", "t.toml"]);
    assert_fails(&out, 2, "events: no data files");
}

#[test]
fn partition_folders_are_columns_and_can_cut_the_windows() {
    // No time column in the files: the `date=` folders give it.
    let sb = Sandbox::new();
    for day in 0..12 {
        let rows = rows_of_day(day);
        if rows.is_empty() {
            continue;
        }
        let rows: String = rows
            .lines()
            .map(|l| format!("{}\n", l.split_once(',').unwrap().1))
            .collect();
        let folder = sb.path(&format!("events/date={}", date(day)));
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join("part-0.csv"), format!("x0,x1,label\n{rows}")).unwrap();
    }
    sb.write(
        "t.toml",
        &config("events").replace("time = \"ts\"", "time = \"date\""),
    );
    let out = sb.ok(&["run", "--config", "t.toml"]);
    assert!(out.contains("windows by day of \"date\""), "{out}");
    let log = sb.log("daily");
    let days = days_with_rows(0..12);
    assert_eq!(log.len(), days.len() - 1);
    assert_eq!(log[3]["extra"]["period"], date(days[3]));
}

/// Writes rows `ts,x0,x1,label` (CSV text without the header) as a Parquet file: `ts` a UTC
/// timestamp in microseconds, `x0` and `x1` doubles, `label` a string; two row groups.
fn write_parquet(path: &std::path::Path, rows: &str) {
    use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int64Type};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::parser::parse_message_type;
    use std::sync::Arc;
    let schema = "message m {
        required int64 ts (TIMESTAMP(MICROS,true));
        required double x0; required double x1; required binary label (STRING);
    }";
    let schema = Arc::new(parse_message_type(schema).unwrap());
    let file = std::fs::File::create(path).unwrap();
    let props = Arc::new(WriterProperties::builder().build());
    let mut writer = SerializedFileWriter::new(file, schema, props).unwrap();
    let lines: Vec<Vec<&str>> = rows.lines().map(|l| l.split(',').collect()).collect();
    for group in lines.chunks(lines.len().div_ceil(2).max(1)) {
        let mut row_group = writer.next_row_group().unwrap();
        let mut index = 0;
        while let Some(mut column) = row_group.next_column().unwrap() {
            match index {
                0 => {
                    let ts: Vec<i64> = group.iter().map(|l| micros_of(l[0])).collect();
                    column
                        .typed::<Int64Type>()
                        .write_batch(&ts, None, None)
                        .unwrap();
                }
                1 | 2 => {
                    let x: Vec<f64> = group.iter().map(|l| l[index].parse().unwrap()).collect();
                    column
                        .typed::<DoubleType>()
                        .write_batch(&x, None, None)
                        .unwrap();
                }
                _ => {
                    let y: Vec<ByteArray> = group.iter().map(|l| ByteArray::from(l[3])).collect();
                    column
                        .typed::<ByteArrayType>()
                        .write_batch(&y, None, None)
                        .unwrap();
                }
            }
            column.close().unwrap();
            index += 1;
        }
        row_group.close().unwrap();
    }
    writer.close().unwrap();
}

/// Microseconds since 1970 of `YYYY-MM-DDTHH:MM:SSZ`.
fn micros_of(ts: &str) -> i64 {
    let n = |a: usize, b: usize| ts[a..b].parse::<i64>().unwrap();
    let (y, m, d) = (n(0, 4), n(5, 7), n(8, 10));
    // Days from civil (Howard Hinnant).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    ((days * 24 + n(11, 13)) * 3600 + n(14, 16) * 60 + n(17, 19)) * 1_000_000
}

#[test]
fn a_parquet_folder_and_the_same_data_as_csv_give_identical_ids() {
    let csv = Sandbox::new();
    let parquet = Sandbox::new();
    for day in 0..12 {
        write_day(&csv, day);
        let rows = rows_of_day(day);
        if rows.is_empty() {
            continue;
        }
        let folder = parquet.path(&format!("events/date={}", date(day)));
        std::fs::create_dir_all(&folder).unwrap();
        write_parquet(&folder.join("part-0.parquet"), &rows);
    }
    for sb in [&csv, &parquet] {
        sb.write("t.toml", &config("events"));
        sb.ok(&["run", "--config", "t.toml"]);
    }
    let from_csv = ids(&csv.log("daily"));
    assert_eq!(from_csv.len(), days_with_rows(0..12).len() - 1);
    assert_eq!(ids(&parquet.log("daily")), from_csv);

    // predict reads the Parquet folder too, as it reads its CSV twin.
    let of = |sb: &Sandbox| sb.ok(&["predict", "daily", "--csv", "events", "--json"]);
    assert_eq!(of(&parquet), of(&csv));

    // A Parquet file cut short (still being written) is exit 2 naming it.
    let last = days_with_rows(12..20)[0];
    let folder = parquet.path(&format!("events/date={}", date(last)));
    std::fs::create_dir_all(&folder).unwrap();
    let path = folder.join("part-0.parquet");
    write_parquet(&path, &rows_of_day(last));
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 100]).unwrap();
    let before = parquet.snapshot();
    let out = parquet.relearn(&["run", "--config", "t.toml"]);
    assert_fails(&out, 2, &format!("date={}/part-0.parquet", date(last)));
    assert_eq!(parquet.snapshot(), before, "nothing changed");
}

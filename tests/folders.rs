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

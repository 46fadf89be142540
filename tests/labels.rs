//! Labels that arrive later, in production (issue 25): `data.labels` joined to the feature
//! rows by `data.id`, each window trained once its labels are in (`window.label_delay` as a
//! duration after its day), and the production loop end to end: serve with a log, labels
//! arrive, `run`, gate, promotion, the server swapping to the new checkpoint.

use std::time::{Duration, Instant};

use crate::common::{Sandbox, Server, assert_fails, ids};
use crate::time_windows::date;

/// Rows of day `day`: `n` events, three an hour from 01:00, with ids `e<day>-<i>` and `x0 + x1 <= 9`
/// as the truth (`1`/`0`).
fn events(day: i64, n: usize) -> Vec<(String, String, f64, f64, u8)> {
    (0..n)
        .map(|i| {
            let x0 = ((day * 31 + i as i64 * 17) % 100) as f64 / 10.0;
            let x1 = ((day * 7 + i as i64 * 29) % 100) as f64 / 10.0;
            let ts = format!("{}T{:02}:{:02}:00Z", date(day), 1 + i / 3, i % 3 * 20);
            (format!("e{day}-{i}"), ts, x0, x1, u8::from(x0 + x1 <= 9.0))
        })
        .collect()
}

/// Writes day `day`'s feature file `events/date=D/part-0.csv` (`event_id,ts,x0,x1`, no
/// label).
fn write_events(sb: &Sandbox, day: i64, n: usize) {
    let folder = sb.path(&format!("events/date={}", date(day)));
    std::fs::create_dir_all(&folder).unwrap();
    let mut text = String::from("event_id,ts,x0,x1\n");
    for (id, ts, x0, x1, _) in events(day, n) {
        text.push_str(&format!("{id},{ts},{x0},{x1}\n"));
    }
    std::fs::write(folder.join("part-0.csv"), text).unwrap();
}

/// Writes the labels of day `day`'s events as `labels/<name>.csv` (`event_id,label,ts`),
/// each known `after` days after its event, except every 10th row's, known `late` days
/// after.
fn write_labels(sb: &Sandbox, name: &str, day: i64, n: usize, after: i64, late: i64) {
    std::fs::create_dir_all(sb.path("labels")).unwrap();
    let mut text = String::from("event_id,label,ts\n");
    for (i, (id, _, _, _, y)) in events(day, n).into_iter().enumerate() {
        let wait = if i % 10 == 9 { late } else { after };
        text.push_str(&format!(
            "{id},{y},{}T{:02}:30:00Z\n",
            date(day + wait),
            1 + i % 22
        ));
    }
    sb.write(&format!("labels/{name}.csv"), &text);
}

fn config() -> String {
    "[run]\nname = \"prod\"\n\n[data]\npath = \"events\"\nid = \"event_id\"\nlabels = \"labels\"\n\
     target = \"label\"\ntime = \"ts\"\n\n[window]\nevery = \"1d\"\nlabel_delay = \"3d\"\n\n\
     [model]\nhidden = [8]\n\n[train]\nepochs = 3\n"
        .to_string()
}

#[test]
fn labels_join_by_id_and_a_window_waits_until_its_labels_are_in() {
    let sb = Sandbox::new();
    for day in 0..10 {
        write_events(&sb, day, 40);
        // Labels a day later; every 10th one 5 days later, after its window closed
        // (3 days after the day).
        write_labels(&sb, &format!("day-{day}"), day, 40, 1, 5);
    }
    // Two labels for events that do not exist.
    sb.write(
        "labels/stray.csv",
        "event_id,label,ts\nnope-1,1,2026-12-02\nnope-2,0,2026-12-03\n",
    );
    sb.write("t.toml", &config());
    let out = sb.ok(&["run", "--config", "t.toml"]);
    // The labels reach day 14 (the late ones of day 9): a day closes 3 days after it
    // ends, so days 0 to 10 could close, and the rows end on day 9.
    let log = sb.log("prod");
    assert_eq!(log.len(), 10, "{out}");
    for (m, day) in log.iter().zip(0..) {
        assert_eq!(m["extra"]["period"], date(day), "{m}");
    }
    // Each window trained on its 36 rows whose label came in time; 4 came late.
    for m in &log[1..] {
        assert_eq!(m["samples_skipped"], 4, "{m}");
    }
    assert!(out.contains("402 labels read"), "{out}");
    assert!(
        out.contains("360 joined to rows by their window's close"),
        "{out}"
    );
    assert!(out.contains("40 came later"), "{out}");
    assert!(out.contains("2 ids name no row"), "{out}");

    // Only the first 5 days' labels: days 0 to 4 have labelled rows, and close by day 9,
    // which the labels reach (the late ones of day 4); the other days' rows wait.
    let partial = Sandbox::new();
    for day in 0..10 {
        write_events(&partial, day, 40);
    }
    for day in 0..5 {
        write_labels(&partial, &format!("day-{day}"), day, 40, 1, 5);
    }
    partial.write("t.toml", &config());
    let out = partial.ok(&["run", "--config", "t.toml"]);
    let first = ids(&partial.log("prod"));
    assert_eq!(first.len(), 5, "{out}");
    assert_eq!(first[..], ids(&log)[..5]);
    // The other labels arrive: the run resumes to the ids of the run that had them all.
    for day in 5..10 {
        write_labels(&partial, &format!("day-{day}"), day, 40, 1, 5);
    }
    partial.write(
        "labels/stray.csv",
        "event_id,label,ts\nnope-1,1,2026-12-02\nnope-2,0,2026-12-03\n",
    );
    let more = partial.ok(&["run", "--config", "t.toml"]);
    assert!(more.contains("resuming run 'prod'"), "{more}");
    assert_eq!(ids(&partial.log("prod")), ids(&log));
}

#[test]
fn a_repeated_id_is_exit_2_naming_both_rows_and_changes_nothing() {
    let sb = Sandbox::new();
    for day in 0..6 {
        write_events(&sb, day, 10);
        write_labels(&sb, &format!("day-{day}"), day, 10, 1, 1);
    }
    let file = sb.path(&format!("events/date={}/part-0.csv", date(3)));
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replacen("e3-4,", "e3-2,", 1)).unwrap();
    sb.write("t.toml", &config());
    let out = sb.relearn(&["run", "--config", "t.toml"]);
    assert_fails(
        &out,
        2,
        &format!("date={}/part-0.csv: row 6, column \"event_id\"", date(3)),
    );
    assert_fails(&out, 2, "id \"e3-2\" is already the id of row 4 of");
    assert!(!sb.store().join("manifests").exists(), "no store written");

    // A label given twice.
    std::fs::write(&file, text).unwrap();
    let labels = sb.path("labels/day-2.csv");
    let mut text = std::fs::read_to_string(&labels).unwrap();
    text.push_str("e2-0,1,2026-12-04\n");
    std::fs::write(&labels, text).unwrap();
    let out = sb.relearn(&["run", "--config", "t.toml"]);
    assert_fails(
        &out,
        2,
        "day-2.csv: row 12, column \"event_id\": id \"e2-0\"",
    );
    assert_fails(&out, 2, "every label needs its own id");
}

/// `POST /v1/predict` with day `day`'s first `n` events as CSV: the answer's model id.
fn serve_day(server: &Server, day: i64, n: usize) -> String {
    let mut body = String::from("event_id,ts,x0,x1\n");
    for (id, ts, x0, x1, _) in events(day, n) {
        body.push_str(&format!("{id},{ts},{x0},{x1}\n"));
    }
    let answer = server.predict("text/csv", &body);
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.json()["id"].as_str().unwrap().to_string()
}

/// The log, joined with the labels that came, scores the model that really served day 6
/// (`served`, on its 40 rows; the run's data.id and target name the columns).
fn assert_the_log_scores_the_model_that_served(sb: &Sandbox, served: &str) {
    let args = [
        "shadow-report",
        "--run",
        "prod",
        "--labels",
        "labels",
        "--json",
    ];
    let report: serde_json::Value = serde_json::from_str(&sb.ok(&args)).unwrap();
    let scores = report["scores"].as_array().unwrap();
    assert_eq!(scores.len(), 1, "{report}");
    assert_eq!(scores[0]["model"], served);
    assert_eq!(scores[0]["labelled"], 40);
    assert_eq!(scores[0]["metric"], "accuracy");
}

#[test]
fn the_production_loop_serve_log_labels_run_gate_promote_swap() {
    let sb = Sandbox::new();
    for day in 0..6 {
        write_events(&sb, day, 40);
        write_labels(&sb, &format!("day-{day}"), day, 40, 1, 1);
    }
    // The `date=` partition folders are a column too: left out of the features here, as
    // requests do not carry it.
    let gated = format!(
        "{}\n[gate]\nrequire = [\"accuracy>=0.5\"]\n",
        config().replace(
            "time = \"ts\"\n",
            "time = \"ts\"\ncolumns = { date = \"ignore\" }\n"
        )
    );
    sb.write("t.toml", &gated);
    let out = sb.ok(&["run", "--config", "t.toml"]);
    // The labels reach day 6 (those of day 5): days 0 to 2 close (3 days after they end);
    // the rows of days 3 to 5 wait.
    assert_eq!(sb.log("prod").len(), 3, "{out}");
    assert!(
        out.contains(&format!("from {} on wait for their day's labels", date(3))),
        "{out}"
    );
    let first_head = sb.head("prod").expect("a head");

    // Serve; day 6's events are predicted (and logged, with their ids) as they happen.
    let server = Server::start(
        &sb,
        // The run's data.id names the logged rows: no --id-column needed.
        &["--run", "prod", "--poll-ms", "20"],
    );
    assert_eq!(serve_day(&server, 6, 40), first_head);
    let logged = std::fs::read_dir(sb.store().join("predictions/prod"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect::<String>();
    assert!(logged.contains("\"e6-39\""), "{logged}");

    // The day's events land as a file, and the next days'; day 6's labels come two days
    // later, and the labels of the days after bring the labels' clock to day 10, when day
    // 6 closes.
    for day in 6..11 {
        write_events(&sb, day, 40);
    }
    write_labels(&sb, "day-6", 6, 40, 2, 2);
    for day in 7..10 {
        write_labels(&sb, &format!("day-{day}"), day, 40, 1, 1);
    }
    let out = sb.ok(&["run", "--config", "t.toml"]);
    assert!(out.contains("resuming run 'prod'"), "{out}");
    let new_head = sb.head("prod").expect("a head");
    assert_ne!(
        new_head, first_head,
        "day 6's window was trained and promoted: {out}"
    );
    let log = sb.log("prod");
    let last = log.last().unwrap();
    assert_eq!(last["extra"]["period"], date(6), "{last}");
    assert_eq!(last["id"], new_head.as_str());

    assert_the_log_scores_the_model_that_served(&sb, &first_head);

    // The server swaps to it without a restart.
    let start = Instant::now();
    while serve_day(&server, 9, 5) != new_head {
        assert!(start.elapsed() < Duration::from_secs(30), "no swap");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(server.stop(), Some(0));
}

//! `relearn serve`: started on a free loopback port and talked to over HTTP. It answers
//! what `predict` answers, follows the run's ref (a promotion, a rollback) without a failed
//! request, never serves a damaged checkpoint, refuses bad input with a 4xx that names what
//! and where while the store stays byte-identical, keeps every acknowledged prediction in
//! its log through `kill -9`, and keeps a failing or slow shadow off the served answer.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{HttpAnswer, Sandbox, Server, assert_fails, http};

const COLORS: [&str; 3] = ["red", "green", "blue"];

/// Rows `from..to` of the served table: an id, a numeric feature with blanks, a category
/// with blanks, and a yes/no label that depends on both.
fn table_rows(from: usize, to: usize) -> String {
    let mut text = String::new();
    for i in from..to {
        let x = ((i * 37) % 100) as f64 / 10.0 - 5.0;
        let color = COLORS[(i * 7) % 3];
        let y = if x + if color == "red" { 2.0 } else { -1.0 } > 0.0 {
            "yes"
        } else {
            "no"
        };
        let x = if i % 11 == 0 {
            String::new()
        } else {
            x.to_string()
        };
        let color = if i % 13 == 0 { "" } else { color };
        text.push_str(&format!("r{i},{x},{color},{y}\n"));
    }
    text
}

/// A sandbox with run `t` trained on 300 rows (3 windows of 100: a head at window 2).
fn trained() -> Sandbox {
    let sb = Sandbox::new();
    sb.write(
        "table.csv",
        &format!("id,x,color,y\n{}", table_rows(0, 300)),
    );
    sb.write(
        "t.toml",
        r#"[run]
name = "t"
mode = "stateful"
seed = 3

[data]
csv = "table.csv"
target = "y"

[data.columns]
id = "ignore"

[window]
size = 100
initial = 1

[model]
hidden = [8]

[train]
epochs = 2
batch_size = 16
"#,
    );
    sb.ok(&["run", "--config", "t.toml"]);
    sb
}

/// Request rows with what a production table holds: blanks, an unseen category, a null.
const REQUEST_CSV: &str =
    "id,x,color\nq1,1.5,red\nq2,,green\nq3,-3.25,purple\nq4,0.1,\nq5,4,blue\n";

fn request_json() -> String {
    json!({"rows": [
        {"id": "q1", "x": 1.5, "color": "red"},
        {"id": "q2", "x": null, "color": "green"},
        {"id": "q3", "x": -3.25, "color": "purple"},
        {"id": "q4", "x": 0.1, "color": ""},
        {"id": "q5", "x": 4, "color": "blue"},
    ]})
    .to_string()
}

/// `predict REF --json` on the request rows.
fn predicted(sb: &Sandbox, reference: &str) -> Value {
    sb.write("request.csv", REQUEST_CSV);
    let out = sb.ok(&["predict", reference, "--csv", "request.csv", "--json"]);
    serde_json::from_str(&out).unwrap()
}

/// Sends the JSON request until the answer comes from `id` (the server polls the ref every
/// 20 ms), failing after 30 s.
fn wait_for_model(server: &Server, id: &str) {
    let start = Instant::now();
    loop {
        let answer = server.predict("application/json", &request_json());
        assert_eq!(answer.status, 200, "{}", answer.body);
        if answer.json()["id"] == id {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the server still answers with {} instead of {id}",
            answer.json()["id"]
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Requests sent without pause on another thread until stopped: every answer's status and
/// model id.
struct Load {
    stop: Arc<AtomicBool>,
    answers: Arc<Mutex<Vec<(u16, String)>>>,
    thread: std::thread::JoinHandle<()>,
}

impl Load {
    fn start(addr: &str) -> Load {
        let (stop, answers) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(Mutex::new(Vec::new())),
        );
        let (addr, stop2, answers2) = (addr.to_string(), stop.clone(), answers.clone());
        let thread = std::thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                let body = request_json();
                let a = http(
                    &addr,
                    "POST",
                    "/v1/predict",
                    &[("Content-Type", "application/json")],
                    body.as_bytes(),
                )
                .expect("the server answers");
                let id = if a.status == 200 {
                    a.json()["id"].as_str().unwrap().to_string()
                } else {
                    a.body
                };
                answers2.lock().unwrap().push((a.status, id));
            }
        });
        Load {
            stop,
            answers,
            thread,
        }
    }

    fn finish(self) -> Vec<(u16, String)> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap();
        Arc::try_unwrap(self.answers).unwrap().into_inner().unwrap()
    }
}

#[test]
fn serves_what_predict_gives_and_follows_promotions_and_rollbacks() {
    let sb = trained();
    let first = sb.head("t").unwrap();
    let server = Server::start(&sb, &["--run", "t", "--poll-ms", "20", "--id-column", "id"]);
    assert_eq!(server.get("/healthz").status, 200);
    assert_eq!(server.get("/readyz").status, 200);
    assert_answers_as_predict_does(&sb, &server, &first);

    // A promotion (a second `run` on a grown table) under load: no failed request, and the
    // answers switch to the new head.
    let load = Load::start(&server.addr);
    let mut csv = std::fs::read_to_string(sb.path("table.csv")).unwrap();
    csv.push_str(&table_rows(300, 400));
    std::fs::write(sb.path("table.csv"), csv).unwrap();
    sb.ok(&["run", "--config", "t.toml"]);
    let second = sb.head("t").unwrap();
    assert_ne!(second, first);
    wait_for_model(&server, &second);
    let answer = server.predict("application/json", &request_json());
    assert_eq!(
        answer.json()["predictions"],
        predicted(&sb, &second)["predictions"]
    );

    // A rollback moves the ref back: the answers follow.
    sb.ok(&["rollback", "t", &first]);
    wait_for_model(&server, &first);
    let answers = load.finish();
    assert!(
        answers.len() > 3,
        "too few requests under load: {answers:?}"
    );
    for (status, id) in &answers {
        assert_eq!(*status, 200, "a request failed during the swaps: {id}");
        assert!(id == &first || id == &second, "answered by {id}");
    }
    assert_a_damaged_checkpoint_is_never_served(&sb, &server, &first, &second);
    let metrics = server.get("/metrics").body;
    assert!(metrics.contains("relearn_model_swaps_total 2"), "{metrics}");
    assert!(
        metrics.contains(&format!("relearn_model_info{{id=\"{first}\",run=\"t\"}} 1")),
        "{metrics}"
    );
    assert_eq!(server.stop(), Some(0));
}

/// The request, as JSON and as CSV, gets what `predict --json` gives for the same rows,
/// from checkpoint `first`, with the request id echoed and `GET /v1/model` describing it.
fn assert_answers_as_predict_does(sb: &Sandbox, server: &Server, first: &str) {
    let expected = predicted(sb, "t");
    for (content_type, body) in [
        ("application/json", request_json()),
        ("text/csv", REQUEST_CSV.to_string()),
    ] {
        let answer = server.predict(content_type, &body);
        assert_eq!(answer.status, 200, "{}", answer.body);
        let doc = answer.json();
        assert_eq!(doc["id"], first);
        assert_eq!(
            doc["predictions"], expected["predictions"],
            "{content_type}"
        );
        assert_eq!(answer.header("x-relearn-model"), Some(first));
        assert!(
            answer
                .header("x-request-id")
                .is_some_and(|id| id == doc["request_id"])
        );
    }
    let echoed = http(
        &server.addr,
        "POST",
        "/v1/predict",
        &[("X-Request-Id", "abc-123")],
        request_json().as_bytes(),
    )
    .unwrap();
    assert_eq!(echoed.header("x-request-id"), Some("abc-123"));
    let model = server.get("/v1/model").json();
    assert_eq!(
        (
            model["id"].as_str(),
            model["run"].as_str(),
            model["window"].as_u64()
        ),
        (Some(first), Some("t"), Some(2))
    );
}

/// Points the run's ref at `second` after damaging its weights: the server keeps serving
/// `first`, counts the failure, and says why.
fn assert_a_damaged_checkpoint_is_never_served(
    sb: &Sandbox,
    server: &Server,
    first: &str,
    second: &str,
) {
    damage_weights(sb, second, |bytes| {
        let n = bytes.len();
        bytes[n / 2] ^= 0xff;
    });
    std::fs::write(sb.store().join("refs/runs/t"), format!("{second}\n")).unwrap();
    let start = Instant::now();
    while !server
        .get("/metrics")
        .body
        .contains("relearn_model_swap_failures_total 1")
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no swap failure counted"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    for _ in 0..5 {
        let answer = server.predict("application/json", &request_json());
        assert_eq!(
            (answer.status, answer.json()["id"].as_str()),
            (200, Some(first))
        );
    }
    let stderr = server.stderr.lock().unwrap().clone();
    assert!(stderr.contains("cannot be served"), "{stderr}");
}

/// Bad requests with a fixed body: what each is, its Content-Type and body, the status,
/// and what the message must say.
const BAD_BODIES: &[(&str, &str, &str, u16, &str)] = &[
    (
        "malformed JSON",
        JSON,
        "{\"rows\": [",
        400,
        "malformed JSON at line 1",
    ),
    (
        "no rows field",
        JSON,
        "{\"data\": []}",
        400,
        "no \"rows\" field",
    ),
    ("empty rows", JSON, "{\"rows\": []}", 422, "no rows"),
    (
        "missing column",
        JSON,
        r#"{"rows": [{"x": 1}]}"#,
        422,
        "missing feature column \"color\"",
    ),
    (
        "unknown column",
        JSON,
        r#"{"rows": [{"x": 1, "color": "red", "size": 3}]}"#,
        422,
        "unknown column \"size\"",
    ),
    (
        "wrong type",
        JSON,
        r#"{"rows": [{"x": 1, "color": "red"}, {"x": "abc", "color": "red"}]}"#,
        422,
        "row 1, column \"x\": \"abc\" is not a number",
    ),
    (
        "a list as a cell",
        JSON,
        r#"{"rows": [{"x": [1], "color": "red"}]}"#,
        422,
        "row 0, column \"x\": a list",
    ),
    (
        "ragged CSV",
        "text/csv",
        "x,color\n1,red\n2\n",
        422,
        "row 1 (line 3) has 1 cells",
    ),
    (
        "CSV bad number",
        "text/csv",
        "x,color\n1e99,red\n",
        422,
        "row 0, column \"x\": \"1e99\" is infinite",
    ),
    (
        "unsupported type",
        "text/xml",
        "<rows/>",
        415,
        "unsupported Content-Type",
    ),
];

const JSON: &str = "application/json";

/// A bad request: what it is, its headers and body, the status and what the message says.
type BadRequest = (
    String,
    Vec<(&'static str, &'static str)>,
    String,
    u16,
    &'static str,
);

fn bad_requests() -> Vec<BadRequest> {
    let mut all: Vec<_> = BAD_BODIES
        .iter()
        .map(|&(what, content_type, body, status, says)| {
            (
                what.to_string(),
                vec![("Content-Type", content_type)],
                body.to_string(),
                status,
                says,
            )
        })
        .collect();
    let many_rows = json!({"rows": vec![json!({"x": 1, "color": "red"}); 60]}).to_string();
    all.push((
        "too many rows".into(),
        vec![("Content-Type", JSON)],
        many_rows,
        413,
        "more than 50 rows",
    ));
    let large = format!("x,color\n{}", "1,red\n".repeat(2000));
    all.push((
        "body too large".into(),
        vec![("Content-Type", "text/csv")],
        large,
        413,
        "over 4096 bytes",
    ));
    all.push((
        "bad request id".into(),
        vec![("X-Request-Id", "has space")],
        request_json(),
        400,
        "X-Request-Id",
    ));
    all
}

#[test]
fn bad_input_gets_a_4xx_naming_what_and_where_and_changes_nothing() {
    let sb = trained();
    let server = Server::start(
        &sb,
        &[
            "--run",
            "t",
            "--max-rows",
            "50",
            "--max-body-bytes",
            "4096",
            "--id-column",
            "id",
        ],
    );
    let before = sb.snapshot();
    for (what, headers, body, status, says) in bad_requests() {
        let answer = http(
            &server.addr,
            "POST",
            "/v1/predict",
            &headers,
            body.as_bytes(),
        )
        .unwrap();
        assert_eq!(answer.status, status, "{what}: {}", answer.body);
        let message = answer.json()["error"]["message"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(message.contains(says), "{what}: {message:?} lacks {says:?}");
    }
    assert_eq!(server.get("/nowhere").status, 404);
    // Not a byte of the store changed, the prediction log's file included.
    assert!(before == sb.snapshot(), "the store changed");
    // The server is still up and right, and logs a good request.
    assert_eq!(
        server.predict("application/json", &request_json()).status,
        200
    );
    let metrics = server.get("/metrics").body;
    assert!(
        metrics.contains("relearn_http_requests_total{route=\"/v1/predict\",status=\"422\"} 7"),
        "{metrics}"
    );
    assert_eq!(server.stop(), Some(0));
    let logged = log_lines(&sb.store().join("predictions/t"));
    assert_eq!(logged.len(), 5, "{logged:?}");
}

#[test]
fn startup_on_a_missing_run_or_a_damaged_store_exits_2() {
    let sb = trained();
    let out = sb.relearn(&["serve", "--run", "nope", "--addr", "127.0.0.1:0"]);
    assert_fails(&out, 2, "run \"nope\" has no checkpoint");
    let out = crate::common::relearn(
        &[
            "serve",
            "--run",
            "t",
            "--store",
            "no-such-store",
            "--addr",
            "127.0.0.1:0",
        ],
        sb.dir.path(),
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        crate::common::stderr(&out)
    );
    // An address in use: refused before anything is written.
    let first = Server::start(&sb, &["--run", "t"]);
    let logs = || {
        std::fs::read_dir(sb.store().join("predictions/t"))
            .unwrap()
            .count()
    };
    let before = logs();
    let out = sb.relearn(&["serve", "--run", "t", "--addr", &first.addr]);
    assert_fails(&out, 2, &format!("cannot listen on {}", first.addr));
    assert_eq!(logs(), before, "a refused start made a log file");
    assert_eq!(first.stop(), Some(0));
    // The head's weights damaged.
    damage_weights(&sb, &sb.head("t").unwrap(), |bytes| {
        *bytes = b"damaged".to_vec()
    });
    let out = sb.relearn(&["serve", "--run", "t", "--addr", "127.0.0.1:0"]);
    assert_fails(&out, 2, "cannot serve run \"t\"");
}

/// Rewrites the weights object of checkpoint `id` with `damage` (objects are read-only).
fn damage_weights(sb: &Sandbox, id: &str, damage: impl FnOnce(&mut Vec<u8>)) {
    let manifest: Value = serde_json::from_str(&sb.ok(&["show", id, "--json"])).unwrap();
    let object = manifest["parts"]["model"]["object"].as_str().unwrap();
    let path = sb
        .store()
        .join("objects")
        .join(&object[..2])
        .join(&object[2..]);
    let mut bytes = std::fs::read(&path).unwrap();
    damage(&mut bytes);
    let mut perms = std::fs::metadata(&path).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&path, perms).unwrap();
    std::fs::write(&path, bytes).unwrap();
}

/// Every row of every complete record of every log file in `dir`, one object a row:
/// `{"request_id", "row", "id", "time", "model", "prediction"}` (or `shadow_model` and
/// `shadow_prediction`).
fn log_lines(dir: &Path) -> Vec<Value> {
    let mut rows = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let complete = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
        for line in complete.lines() {
            let record: Value = serde_json::from_str(line).unwrap();
            rows.extend(rows_of(&record));
        }
    }
    rows
}

/// One request's record as one object a row.
fn rows_of(record: &Value) -> Vec<Value> {
    let (model, predictions) = match record.get("model") {
        Some(_) => ("model", "predictions"),
        None => ("shadow_model", "shadow_predictions"),
    };
    let prediction = predictions.trim_end_matches('s');
    let list = record[predictions]
        .as_array()
        .expect("a list of predictions");
    list.iter()
        .enumerate()
        .map(|(row, p)| {
            let mut one = json!({
                "request_id": record["request_id"],
                "row": row,
                "id": record["ids"].get(row).cloned().unwrap_or(Value::Null),
                "time": record["time"],
            });
            one[model] = record[model].clone();
            one[prediction] = p.clone();
            one
        })
        .collect()
}

#[test]
fn every_acknowledged_prediction_is_in_the_log_after_kill_9() {
    kill_9_under_load(&[]);
}

#[test]
fn with_group_commit_and_fsync_too() {
    kill_9_under_load(&["--log-sync", "fsync"]);
}

/// Four clients send requests until 200 are acknowledged, then the server (started with
/// `flags`) is killed: every acknowledged request's rows must be in the log.
fn kill_9_under_load(flags: &[&str]) {
    let sb = trained();
    let server = Server::start(&sb, &[&["--run", "t", "--id-column", "id"], flags].concat());
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|c| {
            let (addr, acknowledged, stop) =
                (server.addr.clone(), acknowledged.clone(), stop.clone());
            std::thread::spawn(move || {
                for k in 0.. {
                    let id = format!("c{c}-{k}");
                    let body = request_json();
                    match http(
                        &addr,
                        "POST",
                        "/v1/predict",
                        &[("X-Request-Id", &id)],
                        body.as_bytes(),
                    ) {
                        Ok(HttpAnswer { status: 200, .. }) => acknowledged.lock().unwrap().push(id),
                        _ if stop.load(Ordering::Relaxed) => return,
                        Ok(a) => panic!("{id}: {} {}", a.status, a.body),
                        Err(_) => return,
                    }
                }
            })
        })
        .collect();
    // Until enough predictions were acknowledged, then SIGKILL with requests in flight.
    let start = Instant::now();
    while acknowledged.lock().unwrap().len() < 200 && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut server = server;
    stop.store(true, Ordering::Relaxed);
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    for c in clients {
        c.join().unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() >= 200,
        "only {} acknowledged",
        acknowledged.len()
    );
    let mut logged: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
    for line in log_lines(&sb.store().join("predictions/t")) {
        let id = line["request_id"].as_str().unwrap().to_string();
        logged
            .entry(id)
            .or_default()
            .insert(line["row"].as_u64().unwrap());
        assert!(
            line["model"].is_string() && line["prediction"].is_string() && line["time"].is_string(),
            "{line}"
        );
    }
    for id in &acknowledged {
        assert_eq!(
            logged.get(id).map(BTreeSet::len),
            Some(5),
            "acknowledged request {id} is not wholly in the log"
        );
    }
    let rows: Vec<String> = log_lines(&sb.store().join("predictions/t"))
        .iter()
        .take(5)
        .map(|l| l["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(rows, ["q1", "q2", "q3", "q4", "q5"]);
}

/// A second run on a table with other columns: as a shadow, it fails on every request.
fn other_run(sb: &Sandbox) {
    sb.write(
        "other.toml",
        &crate::common::sea_config("other", "stateful", ""),
    );
    sb.ok(&["run", "--config", "other.toml"]);
}

/// Sends `n` requests one after the other, each checked against `expected`.
fn send_checked(server: &Server, n: usize, expected: &Value) {
    for _ in 0..n {
        let answer = server.predict("application/json", &request_json());
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(answer.json()["predictions"], expected["predictions"]);
    }
}

/// The count of a metric line starting with `name`.
fn metric(server: &Server, name: &str) -> f64 {
    let text = server.get("/metrics").body;
    text.lines()
        .find_map(|l| {
            l.strip_prefix(name)
                .map(|v| v.trim().parse::<f64>().unwrap())
        })
        .unwrap_or(0.0)
}

/// Waits (30 s at most) until metric `name` is at least 1: shadow jobs finish after the
/// answers they shadow.
fn wait_for_metric(server: &Server, name: &str) {
    let start = Instant::now();
    while metric(server, name) < 1.0 {
        assert!(start.elapsed() < Duration::from_secs(30), "{name} stays 0");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `relearn_shadow_requests_total{outcome="..."}`.
fn outcome(o: &str) -> String {
    format!("relearn_shadow_requests_total{{outcome=\"{o}\"}}")
}

/// Serves run `t` with challenger `shadow` (every request sampled) and `extra` flags.
fn shadowed_server(sb: &Sandbox, shadow: &str, extra: &[&str]) -> Server {
    let args = [
        &[
            "--run",
            "t",
            "--shadow",
            shadow,
            "--shadow-fraction",
            "1",
            "--id-column",
            "id",
        ],
        extra,
    ]
    .concat();
    Server::start(sb, &args)
}

#[test]
fn a_failing_or_slow_shadow_never_touches_the_served_answer() {
    let sb = trained();
    other_run(&sb);
    let expected = predicted(&sb, "t");

    // Failing: the challenger lacks the request's columns.
    let server = shadowed_server(&sb, "other", &[]);
    send_checked(&server, 20, &expected);
    wait_for_metric(&server, &outcome("error"));
    assert_eq!(metric(&server, &outcome("answered")), 0.0);
    assert_eq!(server.stop(), Some(0));

    // Slow: no answer within its timeout (0 ms), so none is logged.
    let server = shadowed_server(
        &sb,
        "t~1",
        &["--shadow-timeout-ms", "0", "--log-dir", "slow-log"],
    );
    send_checked(&server, 20, &expected);
    wait_for_metric(&server, &outcome("timeout"));
    assert_eq!(server.stop(), Some(0));
    let slow = log_lines(&sb.path("slow-log"));
    assert_eq!(slow.len(), 100);
    assert!(slow.iter().all(|l| l.get("shadow_model").is_none()));

    // In time: both predictions logged under the same request id and row, and reported.
    let server = shadowed_server(&sb, "t~1", &[]);
    send_checked(&server, 20, &expected);
    wait_for_metric(&server, &outcome("answered"));
    // Stopping waits for a shadow job still running, so the log may hold more than the
    // metric said a moment ago: the log is what is checked.
    assert_eq!(server.stop(), Some(0));
    let shadowed = assert_both_predictions_are_logged(&sb);
    assert!(shadowed >= 5, "the shadow never answered");
    assert_the_report_scores_both_on_the_same_rows(&sb, shadowed, &expected);
}

/// Every challenger record is beside the served record of its request and row; returns
/// how many rows the challenger answered.
fn assert_both_predictions_are_logged(sb: &Sandbox) -> usize {
    let lines = log_lines(&sb.store().join("predictions/t"));
    let key = |l: &Value| {
        (
            l["request_id"].as_str().unwrap().to_string(),
            l["row"].as_u64().unwrap(),
        )
    };
    let served: BTreeSet<(String, u64)> = lines
        .iter()
        .filter(|l| l["model"].is_string())
        .map(key)
        .collect();
    let shadow: Vec<&Value> = lines
        .iter()
        .filter(|l| l["shadow_model"].is_string())
        .collect();
    assert_eq!(shadow.len() % 5, 0, "a request's shadow record is whole");
    let challenger: Value = serde_json::from_str(&sb.ok(&["show", "t~1", "--json"])).unwrap();
    for l in &shadow {
        assert!(served.contains(&key(l)), "{l}");
        assert_eq!(l["shadow_model"], challenger["id"]);
        assert!(l["shadow_prediction"].is_string());
    }
    shadow.len()
}

/// `shadow-report` counts the `shadowed` rows and, once labels arrive, scores both models
/// on them (the served model's accuracy known from `expected`).
fn assert_the_report_scores_both_on_the_same_rows(sb: &Sandbox, shadowed: usize, expected: &Value) {
    let report: Value =
        serde_json::from_str(&sb.ok(&["shadow-report", "--run", "t", "--json"])).unwrap();
    assert_eq!(report["pairs"][0]["rows"].as_u64(), Some(shadowed as u64));
    sb.write("labels.csv", "id,y\nq1,yes\nq2,no\nq3,no\nq4,yes\nq5,yes\n");
    let with_labels = [
        "shadow-report",
        "--run",
        "t",
        "--labels",
        "labels.csv",
        "--label-column",
        "y",
    ];
    let report: Value =
        serde_json::from_str(&sb.ok(&[&with_labels[..], &["--json"]].concat())).unwrap();
    let pair = &report["pairs"][0];
    assert_eq!(pair["labelled"].as_u64(), Some(shadowed as u64));
    assert_eq!(pair["metric"], "accuracy");
    let labels = ["yes", "no", "no", "yes", "yes"];
    let predictions = expected["predictions"].as_array().unwrap();
    let hits = predictions
        .iter()
        .zip(labels)
        .filter(|(p, y)| p["prediction"] == *y)
        .count();
    assert_eq!(pair["model_score"].as_f64(), Some(hits as f64 / 5.0));
    assert!(pair["shadow_score"].is_f64());
    let text = sb.ok(&with_labels);
    assert!(
        text.contains("agreement:") && text.contains("labelled rows, accuracy"),
        "{text}"
    );
}

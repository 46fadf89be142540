//! Helpers shared by the end-to-end tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// A temporary folder holding configs, CSVs and a store.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn store(&self) -> PathBuf {
        self.path("store")
    }

    /// Writes a file into the sandbox and returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).expect("write fixture");
        p
    }

    /// `relearn ARGS --store <sandbox store>`, to run in the sandbox (see [`command`]).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = command(args, self.dir.path());
        cmd.arg("--store").arg(self.store());
        cmd
    }

    /// Runs `relearn ARGS --store <sandbox store>`.
    pub fn relearn(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run relearn")
    }

    /// Runs a command that must succeed, returning stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.relearn(args);
        assert!(
            out.status.success(),
            "relearn {args:?} failed ({:?}):\nstdout: {}\nstderr: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    /// The run's latest checkpoint, from its ref file (`None` if the run has none).
    pub fn head(&self, run: &str) -> Option<String> {
        let text = std::fs::read_to_string(self.store().join("refs/runs").join(run)).ok()?;
        Some(text.trim().to_string())
    }

    /// `log --json` of a run, parsed.
    pub fn log(&self, run: &str) -> Vec<Value> {
        let out = self.ok(&["log", "--run", run, "--json"]);
        serde_json::from_str::<Vec<Value>>(&out).expect("log --json is a JSON array")
    }

    /// A listing of every file under the store with its size and contents hash, to show a
    /// command changed nothing.
    pub fn snapshot(&self) -> Vec<(PathBuf, Vec<u8>)> {
        snapshot(&self.store())
    }
}

/// The binary with `args`, to run in `cwd`, without the caller's `RUST_LOG`.
pub fn command(args: &[&str], cwd: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_relearn"));
    cmd.args(args).current_dir(cwd).env_remove("RUST_LOG");
    cmd
}

/// Runs the binary with `args` in `cwd`.
pub fn relearn(args: &[&str], cwd: &Path) -> Output {
    command(args, cwd).output().expect("run relearn")
}

/// Every file and folder below `root`, sorted (an empty list if `root` does not exist).
pub fn entries_under(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p.clone());
            }
            found.push(p);
        }
    }
    found.sort();
    found
}

/// Every file under `root` with its bytes, sorted by path.
pub fn snapshot(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    entries_under(root)
        .into_iter()
        .filter(|p| !p.is_dir())
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect()
}

/// The store's temporary files and folders, relative to `root`: anything under `tmp/`, or
/// with a `.tmp-` name anywhere.
pub fn temp_files(root: &Path) -> Vec<PathBuf> {
    entries_under(root)
        .into_iter()
        .map(|p| p.strip_prefix(root).unwrap().to_path_buf())
        .filter(|rel| {
            let mut parts = rel.iter().map(|c| c.to_string_lossy());
            let first_is_tmp = rel.starts_with("tmp") && rel != Path::new("tmp");
            first_is_tmp || parts.any(|c| c.starts_with(".tmp-"))
        })
        .collect()
}

/// A small, fast SEA config: 8 windows of 250 samples, a small model.
pub fn sea_config(name: &str, mode: &str, extra: &str) -> String {
    format!(
        r#"[run]
name = "{name}"
mode = "{mode}"
seed = 7

[data]
generator = "sea"
samples = 2000
drift_points = [1000]

[window]
size = 250
initial = 1

[model]
hidden = [16]

[train]
epochs = 3
batch_size = 32
{extra}"#
    )
}

/// The ids of `log --json` checkpoints, in order.
pub fn ids(log: &[Value]) -> Vec<String> {
    log.iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect()
}

/// Asserts that a command failed with exit code `code` and said `says` on stderr.
#[track_caller]
pub fn assert_fails(out: &Output, code: i32, says: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "{err}");
    assert!(err.contains(says), "stderr lacks {says:?}: {err}");
}

/// stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// An HTTP answer: status, headers (lower-case names) and body.
#[derive(Debug)]
pub struct HttpAnswer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpAnswer {
    /// The value of header `name` (lower case), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// One HTTP/1.1 request over a new loopback connection (`Connection: close`): the server
/// is really talked to, as a client would.
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<HttpAnswer> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(60)))?;
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;
    // A server may answer (413, say) and close before reading a large body: what it
    // answered is still read below.
    let _ = stream.write_all(body);
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let Some((head, rest)) = text.split_once("\r\n\r\n") else {
        return Err(std::io::Error::other(format!("no HTTP answer: {text:?}")));
    };
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line: {head:?}")))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_string()
    };
    Ok(HttpAnswer {
        status,
        headers,
        body,
    })
}

/// A chunked body's content.
fn dechunk(mut rest: &str) -> String {
    let mut body = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        body.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    body
}

/// A `relearn serve` process on a free loopback port; killed when dropped.
pub struct Server {
    pub child: std::process::Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// Everything it wrote to stderr, as it comes.
    pub stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Server {
    /// Starts `relearn serve ARGS --addr 127.0.0.1:0 --store <sandbox store>` and waits for
    /// its `listening on` line.
    pub fn start(sb: &Sandbox, args: &[&str]) -> Server {
        use std::io::BufRead;
        let mut cmd = sb.command(&[&["serve", "--addr", "127.0.0.1:0"], args].concat());
        cmd.stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().expect("start relearn serve");
        let mut reader = std::io::BufReader::new(child.stderr.take().unwrap());
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let mut addr = None;
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            stderr.lock().unwrap().push_str(&line);
            if let Some(a) = line.trim().strip_prefix("listening on http://") {
                addr = Some(a.to_string());
                break;
            }
            line.clear();
        }
        let Some(addr) = addr else {
            let status = child.wait().unwrap();
            panic!(
                "relearn serve did not start ({status}): {}",
                stderr.lock().unwrap()
            );
        };
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 {
                sink.lock().unwrap().push_str(&line);
                line.clear();
            }
        });
        Server {
            child,
            addr,
            stderr,
        }
    }

    /// `POST /v1/predict` with `body` of `content_type`.
    pub fn predict(&self, content_type: &str, body: &str) -> HttpAnswer {
        http(
            &self.addr,
            "POST",
            "/v1/predict",
            &[("Content-Type", content_type)],
            body.as_bytes(),
        )
        .expect("the server answers")
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> HttpAnswer {
        http(&self.addr, "GET", path, &[], b"").expect("the server answers")
    }

    /// Stops it with SIGTERM and returns its exit code.
    pub fn stop(mut self) -> Option<i32> {
        send_signal(self.child.id(), "TERM");
        let status = self.child.wait().expect("wait for relearn serve");
        status.code()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `signal` (a `kill -s` name) to process `pid`.
pub fn send_signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args(["-s", signal, &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -s {signal} {pid} failed");
}

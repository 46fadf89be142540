//! Small file-system helpers: atomic writes, directory syncs, temp names, hashing, names and
//! timestamps.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use crate::error::{Result, StoreError};

/// Prefix of every temporary file the store writes next to its target.
pub(crate) const TEMP_PREFIX: &str = ".tmp-";

/// Longest run or tag name.
pub const MAX_NAME_LEN: usize = 100;

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Environment variable of the crash-test hook, see [`crash_point`].
pub(crate) const CRASH_AT_ENV: &str = "RELEARN_CRASH_AT";

/// Test hook for the crash-safety tests: with `RELEARN_CRASH_AT=<point>[:<n>]` in the
/// environment, the process aborts (`std::process::abort`: no destructors, no flushing, like
/// `kill -9`) the `n`-th time (default: the first) it reaches the named point. Without the
/// variable it only reads an initialised `OnceLock`. It is compiled into every build so that tests
/// crash the real binary. Points: `write:partial` (a temp file half written),
/// `write:synced` (a temp file complete and synced, not yet renamed), `write:renamed`
/// (renamed, folder not yet synced), `commit:objects` (a checkpoint's objects written, no
/// manifest yet), `commit:manifest` (manifest written, run ref not yet moved), `commit:ref`
/// (ref moved), `cleanup` (while removing stale temp files), `move-head:record` (a
/// rollback recorded in `logs/<run>`, the run ref not yet moved).
pub(crate) fn crash_point(point: &str) {
    static TARGET: OnceLock<Option<(String, u64)>> = OnceLock::new();
    static HITS: AtomicU64 = AtomicU64::new(0);
    let target = TARGET.get_or_init(|| {
        let spec = std::env::var(CRASH_AT_ENV).ok()?;
        match spec.rsplit_once(':') {
            Some((name, n)) if n.parse::<u64>().is_ok() => {
                Some((name.to_string(), n.parse().unwrap_or(1)))
            }
            _ => Some((spec, 1)),
        }
    });
    if let Some((name, n)) = target
        && name == point
        && HITS.fetch_add(1, Ordering::Relaxed) + 1 == *n
    {
        eprintln!("{CRASH_AT_ENV}: aborting at {point} (hit {n})");
        std::process::abort();
    }
}

/// True for names the store uses for temporary files (never a checkpoint, object or ref).
pub(crate) fn is_temp_name(name: &str) -> bool {
    name.starts_with(TEMP_PREFIX)
}

/// Writes `bytes` to `target` atomically: a temp file in the same folder, `write_all`,
/// `sync_all`, rename onto the target, then sync the folder. With `read_only` the file is
/// made read-only (0o444 on Unix) before the rename.
pub(crate) fn write_atomic(target: &Path, bytes: &[u8], read_only: bool) -> Result<()> {
    let dir = target
        .parent()
        .expect("store paths always have a parent folder");
    stage(target, bytes, read_only)?.rename()?;
    sync_dir(dir)
}

/// A temp file written and synced next to its target, not yet renamed onto it. Dropped
/// without [`Staged::rename`], it removes its temp file (a crash leaves it for the start-up
/// cleanup, which every reader already ignores).
#[must_use = "a staged file is removed unless renamed"]
pub(crate) struct Staged {
    temp: PathBuf,
    target: PathBuf,
    renamed: bool,
}

impl Staged {
    /// The folder the file lands in.
    pub(crate) fn dir(&self) -> &Path {
        self.target
            .parent()
            .expect("store paths always have a parent folder")
    }

    /// Renames the temp file onto its target. The rename is durable once its folder is
    /// synced ([`sync_dirs`]).
    pub(crate) fn rename(mut self) -> Result<()> {
        fs::rename(&self.temp, &self.target)
            .map_err(|e| StoreError::io("rename into place", &self.target, e))?;
        self.renamed = true;
        crash_point("write:renamed");
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.renamed {
            let _ = fs::remove_file(&self.temp);
        }
    }
}

/// Writes `bytes` to a new temp file next to `target` and syncs it (see [`write_atomic`]).
pub(crate) fn stage(target: &Path, bytes: &[u8], read_only: bool) -> Result<Staged> {
    let dir = target
        .parent()
        .expect("store paths always have a parent folder");
    let file_name = target
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("file");
    let temp = dir.join(format!(
        "{TEMP_PREFIX}{}-{}-{file_name}",
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    // Made before the file exists, so a failed write removes its partial temp file.
    let staged = Staged {
        temp,
        target: target.to_path_buf(),
        renamed: false,
    };
    write_temp(&staged.temp, bytes, read_only)?;
    Ok(staged)
}

/// [`stage`] of several files at once, each on its own thread: their `sync_all`s overlap,
/// so the file system can make them durable in one journal commit instead of one after the
/// other. On an error every file staged so far is removed again.
pub(crate) fn stage_all(files: &[(PathBuf, &[u8], bool)]) -> Result<Vec<Staged>> {
    let results = each_on_a_thread(files, |(target, bytes, read_only)| {
        stage(target, bytes, *read_only)
    });
    // The first error wins; dropping the other `Staged`s removes their temp files.
    results.into_iter().collect()
}

/// Syncs each distinct folder of `dirs` (see [`sync_dir`]), concurrently when there are
/// several.
pub(crate) fn sync_dirs<'a>(dirs: impl IntoIterator<Item = &'a Path>) -> Result<()> {
    let mut unique: Vec<&Path> = dirs.into_iter().collect();
    unique.sort();
    unique.dedup();
    each_on_a_thread(&unique, |dir| sync_dir(dir))
        .into_iter()
        .collect()
}

/// `f` of every item, each on a thread of its own (for calls that mostly wait on the disk,
/// so that the waits overlap; a single item runs on this thread); the results in the order
/// of `items`.
fn each_on_a_thread<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    if items.len() <= 1 {
        return items.iter().map(f).collect();
    }
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .iter()
            .map(|item| scope.spawn(move || f(item)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a file system thread panicked"))
            .collect()
    })
}

fn write_temp(temp: &Path, bytes: &[u8], read_only: bool) -> Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(temp)
        .map_err(|e| StoreError::io("create", temp, e))?;
    let (first, rest) = bytes.split_at(bytes.len() / 2);
    file.write_all(first)
        .map_err(|e| StoreError::io("write", temp, e))?;
    crash_point("write:partial");
    file.write_all(rest)
        .map_err(|e| StoreError::io("write", temp, e))?;
    if read_only {
        file.set_permissions(read_only_permissions(&file, temp)?)
            .map_err(|e| StoreError::io("set permissions of", temp, e))?;
    }
    file.sync_all()
        .map_err(|e| StoreError::io("sync", temp, e))?;
    drop(file);
    crash_point("write:synced");
    Ok(())
}

#[cfg(unix)]
fn read_only_permissions(_file: &File, _path: &Path) -> Result<fs::Permissions> {
    use std::os::unix::fs::PermissionsExt;
    Ok(fs::Permissions::from_mode(0o444))
}

#[cfg(not(unix))]
fn read_only_permissions(file: &File, path: &Path) -> Result<fs::Permissions> {
    let mut permissions = file
        .metadata()
        .map_err(|e| StoreError::io("stat", path, e))?
        .permissions();
    permissions.set_readonly(true);
    Ok(permissions)
}

/// Makes a rename or removal in `dir` durable.
#[cfg(unix)]
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io("sync folder", dir, e))
}

/// Makes a rename or removal in `dir` durable (a no-op where folders cannot be synced).
#[cfg(not(unix))]
pub(crate) fn sync_dir(_dir: &Path) -> Result<()> {
    Ok(())
}

/// Creates `dir` and its parents if missing.
pub(crate) fn ensure_dir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(|e| StoreError::io("create folder", dir, e))
}

/// The names of the entries in `dir`, sorted; an empty list if `dir` does not exist.
/// Entries whose names are not UTF-8 are skipped (the store never writes such names).
pub(crate) fn list_dir(dir: &Path) -> Result<Vec<String>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::io("list", dir, e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| StoreError::io("list", dir, e))?;
        if let Ok(name) = entry.file_name().into_string() {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// The text of the file at `path`, or `None` when there is no such file.
pub(crate) fn read_text_if_exists(path: &Path) -> Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StoreError::io("read", path, e)),
    }
}

/// Removes `path`, treating "already gone" as success. Returns whether it existed.
pub(crate) fn remove_file_if_exists(path: &Path) -> Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(StoreError::io("remove", path, e)),
    }
}

/// The sha256 of `bytes`, lowercase hex.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The sha256 (lowercase hex) and size of a file's content, read in chunks.
pub(crate) fn sha256_file(path: &Path) -> io::Result<(String, u64)> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((hex::encode(hasher.finalize()), total))
}

/// True if `s` is exactly 64 lowercase hex digits.
pub fn is_full_id(s: &str) -> bool {
    s.len() == 64 && is_lower_hex(s)
}

/// True if `s` is non-empty and all lowercase hex digits.
pub(crate) fn is_lower_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Checks a run or tag name: non-empty, at most 100 characters of `[A-Za-z0-9._-]`, not
/// starting with '.'. `kind` ("run", "tag") appears in the error message.
pub fn validate_name(kind: &'static str, name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        Some("it is empty")
    } else if name.len() > MAX_NAME_LEN {
        Some("it is longer than 100 characters")
    } else if name.starts_with('.') {
        Some("it starts with '.'")
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        Some("only letters, digits, '.', '_' and '-' are allowed")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(StoreError::InvalidName {
            kind,
            name: name.to_string(),
            reason,
        }),
        None => Ok(()),
    }
}

/// The current time as RFC 3339 UTC with milliseconds, e.g. `2026-11-27T14:03:12.345Z`.
pub fn now_rfc3339() -> String {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format_rfc3339(since_epoch.as_secs(), since_epoch.subsec_millis())
}

/// Formats seconds since the Unix epoch (plus milliseconds) as RFC 3339 UTC.
pub(crate) fn format_rfc3339(secs: u64, millis: u32) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Howard Hinnant's civil-from-days: days since 1970-01-01 to (year, month, day).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_dates() {
        assert_eq!(format_rfc3339(0, 0), "1970-01-01T00:00:00.000Z");
        // 2000-02-29T12:34:56Z (leap day)
        assert_eq!(format_rfc3339(951_827_696, 7), "2000-02-29T12:34:56.007Z");
        // 2026-11-27T14:03:12Z
        assert_eq!(
            format_rfc3339(1_795_788_192, 345),
            "2026-11-27T14:03:12.345Z"
        );
        // 2100-03-01T00:00:00Z (2100 is not a leap year)
        assert_eq!(format_rfc3339(4_107_542_400, 0), "2100-03-01T00:00:00.000Z");
    }

    #[test]
    fn now_is_well_formed() {
        let now = now_rfc3339();
        assert_eq!(now.len(), 24, "{now}");
        assert!(now.ends_with('Z') && now.as_bytes()[10] == b'T', "{now}");
        assert!(now.as_str() > "2024-01-01");
    }

    #[test]
    fn staged_files_appear_only_when_renamed_and_vanish_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        let files = [
            (a.clone(), &b"one"[..], false),
            (b.clone(), &b"two"[..], true),
        ];
        let mut staged = stage_all(&files).unwrap();
        assert!(
            !a.exists() && !b.exists(),
            "staged files are not visible yet"
        );
        assert_eq!(list_dir(dir.path()).unwrap().len(), 2, "two temp files");
        let second = staged.pop().unwrap();
        staged.pop().unwrap().rename().unwrap();
        drop(second);
        sync_dirs([dir.path(), dir.path()]).unwrap();
        assert_eq!(fs::read(&a).unwrap(), b"one");
        assert_eq!(
            list_dir(dir.path()).unwrap(),
            ["a"],
            "the dropped file left nothing"
        );
    }

    #[test]
    fn a_failed_stage_all_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let ok = dir.path().join("ok");
        let missing = dir.path().join("no-such-folder/x");
        let files = [
            (ok.clone(), &b"one"[..], false),
            (missing, &b"two"[..], false),
        ];
        assert!(stage_all(&files).is_err());
        assert!(
            list_dir(dir.path()).unwrap().is_empty(),
            "{:?}",
            list_dir(dir.path())
        );
    }

    #[test]
    fn names() {
        for ok in ["a", "sea-stateful", "A.b_c-9", &"x".repeat(100)] {
            validate_name("run", ok).unwrap();
        }
        for bad in [
            "",
            ".hidden",
            "a/b",
            "a b",
            "a~1",
            "a@2",
            "ü",
            &"x".repeat(101),
        ] {
            let err = validate_name("tag", bad).unwrap_err();
            assert!(err.is_user_error());
            assert!(err.to_string().contains("invalid tag name"), "{err}");
        }
    }

    #[test]
    fn hex_checks() {
        assert!(is_full_id(&"0a".repeat(32)));
        assert!(!is_full_id(&"0A".repeat(32)));
        assert!(!is_full_id(&"0a".repeat(31)));
        assert!(is_lower_hex("abc123"));
        assert!(!is_lower_hex(""));
        assert!(!is_lower_hex("abg"));
    }
}

//! The files commands write (`--out`): where a path really leads (through symlinks), the
//! refusals of a path that cannot be written as a file, and the atomic write itself. Shared
//! by `export`, `generate` and `compare`.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::exit::UsageError;

/// Refuses an output path that `write_atomic` could not write, before any work is done
/// (bad input, exit code 2): see [`output_target`].
pub fn check_output_path(path: &Path) -> anyhow::Result<()> {
    output_target(path).map(drop)
}

/// The file that writing `path` writes: `path` itself, or, when it is a symlink, the file
/// it points at (chains followed, a relative target read from the link's folder; a dangling
/// link gives the path of the file it would point at). The symlink stays: the new file is
/// renamed onto the target.
///
/// Bad input (exit code 2): a target that exists and is not a regular file (a folder, a
/// FIFO, a device, a socket: writing one is not writing a file, and renaming onto it would
/// replace the special file), a target whose folder does not exist, a symlink loop.
pub fn output_target(path: &Path) -> anyhow::Result<PathBuf> {
    // As the kernel's limit on links followed in one lookup.
    const MAX_LINKS: usize = 40;
    let mut target = path.to_path_buf();
    for _ in 0..=MAX_LINKS {
        let meta = match std::fs::symlink_metadata(&target) {
            Ok(meta) => meta,
            // A new file (or a dangling link's target): its folder must exist.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let dir = parent_dir(&target);
                if !dir.is_dir() {
                    return Err(UsageError(format!(
                        "cannot write {}: folder {} does not exist",
                        describe_target(path, &target),
                        dir.display()
                    ))
                    .into());
                }
                return Ok(target);
            }
            Err(e) => {
                return Err(anyhow::Error::new(e)
                    .context(format!("cannot write {}", describe_target(path, &target))));
            }
        };
        if meta.file_type().is_symlink() {
            let link = std::fs::read_link(&target)
                .with_context(|| format!("cannot read symlink {}", target.display()))?;
            target = parent_dir(&target).join(link);
            continue;
        }
        if meta.is_file() {
            return Ok(target);
        }
        return Err(UsageError(format!(
            "--out {} is {}, not a regular file; give the path of a file to write (it is \
             written to a temporary file, then renamed onto that path)",
            describe_target(path, &target),
            kind_of(&meta.file_type())
        ))
        .into());
    }
    Err(UsageError(format!(
        "--out {}: too many levels of symlinks (more than {MAX_LINKS}; a loop?)",
        path.display()
    ))
    .into())
}

/// `path`, and what it points at when that is another path.
fn describe_target(path: &Path, target: &Path) -> String {
    if path == target {
        path.display().to_string()
    } else {
        format!("{} (a symlink to {})", path.display(), target.display())
    }
}

/// What a file that is not a regular file or a symlink is, in words.
fn kind_of(kind: &std::fs::FileType) -> &'static str {
    if kind.is_dir() {
        return "a folder";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if kind.is_char_device() {
            return "a character device";
        }
        if kind.is_block_device() {
            return "a block device";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    "a special file"
}

/// The folder `path` is in; `.` when it names none (a bare file name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Writes `path` atomically: `fill` writes a temporary file in the folder of the file
/// `path` names (through symlinks: see [`output_target`], whose refusals apply), which is
/// synced and renamed onto it, and the folder synced. A symlink stays a symlink, pointing at
/// the new content. On error nothing is left behind.
pub fn write_atomic(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let target = output_target(path)?;
    let dir = parent_dir(&target);
    let context = || format!("cannot write {}", describe_target(path, &target));
    let mut tmp = tempfile::Builder::new()
        .prefix(".relearn-tmp-")
        .tempfile_in(dir)
        .with_context(context)?;
    {
        let mut w = io::BufWriter::new(tmp.as_file_mut());
        fill(&mut w).with_context(context)?;
        w.flush().with_context(context)?;
    }
    // tempfile creates files readable by the owner only; an export is an ordinary file.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let perms = std::fs::Permissions::from_mode(0o644);
        tmp.as_file().set_permissions(perms).with_context(context)?;
    }
    tmp.as_file().sync_all().with_context(context)?;
    tmp.persist(&target)
        .map_err(|e| e.error)
        .with_context(context)?;
    // Make the rename durable too (best effort: not every platform can sync a folder).
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

//! `--csv FILE` of `eval` and `predict`: a file, or `-` for stdin.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::exit::{UsageError, WorkFailed};

/// `--csv FILE` of `eval` and `predict`: a file, or `-` for stdin, which is first copied to
/// a temporary file (removed when done) so that it is read as a file is, and messages name
/// it `stdin`.
pub struct CsvInput {
    path: PathBuf,
    stdin: Option<tempfile::NamedTempFile>,
}

impl CsvInput {
    /// Opens `--csv`: `-` copies stdin.
    pub fn open(arg: &Path) -> anyhow::Result<CsvInput> {
        if arg.as_os_str() != "-" {
            return Ok(CsvInput {
                path: arg.to_path_buf(),
                stdin: None,
            });
        }
        let mut tmp = tempfile::Builder::new()
            .prefix(".relearn-stdin-")
            .suffix(".csv")
            .tempfile()
            .context("cannot make a temporary file to hold stdin")?;
        std::io::copy(&mut std::io::stdin().lock(), tmp.as_file_mut())
            .context("cannot read the CSV from stdin")?;
        Ok(CsvInput {
            path: tmp.path().to_path_buf(),
            stdin: Some(tmp),
        })
    }

    /// The input as messages name it: the path, or `stdin`.
    pub fn name(&self) -> String {
        match self.stdin {
            Some(_) => "stdin".to_string(),
            None => self.path.display().to_string(),
        }
    }

    /// Runs `read` on the file; for stdin, its errors name `stdin` instead of the temporary
    /// file (with the same exit code).
    pub fn within<T>(&self, read: impl FnOnce(&Path) -> anyhow::Result<T>) -> anyhow::Result<T> {
        let result = read(&self.path);
        match (&self.stdin, result) {
            (Some(_), Err(e)) => {
                let message = format!("{e:#}").replace(&self.path.display().to_string(), "stdin");
                Err(match crate::exit::is_user_error(&e) {
                    true => UsageError(message).into(),
                    false => WorkFailed(message).into(),
                })
            }
            (_, result) => result,
        }
    }
}

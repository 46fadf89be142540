//! Exit codes (SPEC): 0 success, 1 the work failed, 2 bad usage or bad input.

use std::process::ExitCode;

use relearn_data::DataError;
use relearn_store::StoreError;
use relearn_train::inference::InferenceError;
use relearn_train::{ConfigError, TrainError};

/// An error that is the user's input, raised by the CLI itself.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Exit code 1: the work failed (a corrupt store found, training diverged).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct WorkFailed(pub String);

/// 2 when any error in the chain is the user's input, else 1.
pub fn code_for(err: &anyhow::Error) -> ExitCode {
    if is_user_error(err) {
        ExitCode::from(2)
    } else {
        ExitCode::from(1)
    }
}

pub fn is_user_error(err: &anyhow::Error) -> bool {
    for cause in err.chain() {
        if cause.is::<UsageError>() || cause.is::<ConfigError>() {
            return true;
        }
        if let Some(e) = cause.downcast_ref::<relearn_serve::ServeError>() {
            return e.is_user_error();
        }
        if let Some(e) = cause.downcast_ref::<relearn_serve::report::ReportError>() {
            return e.is_user_error();
        }
        if let Some(e) = cause.downcast_ref::<InferenceError>() {
            return e.is_user_error();
        }
        if let Some(e) = cause.downcast_ref::<DataError>() {
            return e.is_user_error();
        }
        if let Some(e) = cause.downcast_ref::<TrainError>() {
            return e.is_user_error();
        }
        if let Some(e) = cause.downcast_ref::<StoreError>() {
            return e.is_user_error();
        }
        if cause.is::<WorkFailed>() {
            return false;
        }
    }
    false
}

//! End-to-end tests of the `relearn` binary: each test runs the real executable against a
//! temporary store.

mod common;

mod anchor;
mod bad_input;
#[cfg(unix)]
mod cli_output;
mod compare;
mod concurrency;
mod crash;
mod docs;
#[cfg(unix)]
mod failures;
mod folders;
mod gate;
mod golden;
mod import;
mod inspect;
mod label_delay;
mod labels;
mod lineage;
mod one_build;
mod out_of_range;
mod policies;
mod real_tables;
mod reliability;
mod resume;
mod serve;
mod structure;
mod threads;
mod time_windows;
mod trees;

//! exec: run a command with one seed, written nowhere on disk.

use crate::cli::{ExecArgs, Global};
use crate::failure::Failure;

pub fn run(_global: &Global, _args: ExecArgs) -> Result<(), Failure> {
    Err(Failure::new("exec is not built yet"))
}

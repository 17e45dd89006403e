//! import: existing user seeds into the vault.

use crate::cli::{Global, ImportArgs};
use crate::failure::Failure;

pub fn run(_global: &Global, _args: ImportArgs) -> Result<(), Failure> {
    Err(Failure::new("not built yet"))
}

//! Changing keys and who can read them: rotate, remove, passwd, recipients, verify.

use crate::cli::{Global, PasswdArgs, RecipientsCommand, RemoveArgs, RotateArgs, VerifyArgs};
use crate::failure::Failure;

pub fn rotate(_global: &Global, _args: RotateArgs) -> Result<(), Failure> {
    Err(Failure::new("not built yet"))
}

pub fn remove(_global: &Global, _args: RemoveArgs) -> Result<(), Failure> {
    Err(Failure::new("not built yet"))
}

pub fn passwd(_global: &Global, _args: PasswdArgs) -> Result<(), Failure> {
    Err(Failure::new("not built yet"))
}

pub fn recipients(_global: &Global, _command: RecipientsCommand) -> Result<(), Failure> {
    Err(Failure::new("not built yet"))
}

pub fn verify(_global: &Global, _args: VerifyArgs) -> Result<(), Failure> {
    Err(Failure::new("not built yet"))
}

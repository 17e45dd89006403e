//! nkvault: an age-encrypted vault for the NKEY user keys of a NATS deployment.
//!
//! This binary talks to the person at the keyboard: it parses the command
//! line, asks for passphrases, prints results and reports failures. The vault
//! itself lives in the `nkvault-vault` library.
//!
//! Exit status: 0 on success (also when a reader closes the pipe early),
//! 1 when the command failed, 2 when the command line does not parse.

mod cli;
mod commands;
mod exec;
mod failure;
mod hardening;
mod import;
mod lifecycle;
mod passphrase;
mod render_conf;
mod view;

use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::Parser;

use crate::failure::EXIT_USAGE;

fn main() -> ExitCode {
    hardening::harden();
    // An empty NKVAULT_* variable means "not set", as most tools read their
    // variables; clap would otherwise report a missing value for a flag the
    // user never typed.
    for var in [
        "NKVAULT_VAULT",
        "NKVAULT_PASSPHRASE_FILE",
        "NKVAULT_IDENTITY",
        "NKVAULT_NEW_PASSPHRASE_FILE",
        "NKVAULT_NATS_SERVER",
    ] {
        if std::env::var_os(var).is_some_and(|value| value.is_empty()) {
            std::env::remove_var(var);
        }
    }
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return usage_error(error),
    };
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) if failure.status == 0 => ExitCode::SUCCESS,
        Err(failure) => {
            failure.report();
            ExitCode::from(failure.status)
        }
    }
}

/// clap's own messages, with the shared `nkvault: ` prefix on errors.
fn usage_error(error: clap::Error) -> ExitCode {
    match error.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = error.print();
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = error.print();
            ExitCode::from(EXIT_USAGE)
        }
        _ => {
            // The message quotes what was typed: escape its control
            // characters, as every other message does, but keep clap's lines.
            let rendered = error
                .render()
                .to_string()
                .split('\n')
                .map(failure::sanitize)
                .collect::<Vec<_>>()
                .join("\n");
            failure::to_stderr(&format!("nkvault: {rendered}"));
            ExitCode::from(EXIT_USAGE)
        }
    }
}

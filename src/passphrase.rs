//! Where a passphrase comes from: a file named on the command line or in the
//! environment, or the terminal. Never an argument, never standard input.

use std::fs::OpenOptions;
use std::path::Path;

use nkvault_vault::Passphrase;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::failure::Failure;

/// Whether the passphrase is new (asked twice on a terminal) or opens a vault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ask {
    Unlock,
    New,
}

const NO_TERMINAL_HINT: &str =
    "pass --passphrase-file FILE (or set NKVAULT_PASSPHRASE_FILE) to read it from a file";

/// Reads the passphrase from `file` if given, else from the terminal.
pub fn read(file: Option<&Path>, ask: Ask) -> Result<Passphrase, Failure> {
    let passphrase = match file {
        Some(path) => from_file(path)?,
        None => from_terminal(ask)?,
    };
    if passphrase.is_empty() && ask == Ask::New {
        return Err(Failure::new("the passphrase is empty")
            .hint("an empty passphrase protects nothing; choose a long one"));
    }
    Ok(passphrase)
}

/// The first line of the file, one trailing `\n` (or `\r\n`) removed.
fn from_file(path: &Path) -> Result<Passphrase, Failure> {
    let bytes = Zeroizing::new(std::fs::read(path).map_err(|e| {
        Failure::new(format!(
            "cannot read passphrase file {}: {e}",
            path.display()
        ))
    })?);
    let line = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let text = std::str::from_utf8(line).map_err(|_| {
        Failure::new(format!(
            "passphrase file {} is not UTF-8 text",
            path.display()
        ))
    })?;
    Ok(Passphrase::new(text.to_owned()))
}

fn from_terminal(ask: Ask) -> Result<Passphrase, Failure> {
    // rpassword reads /dev/tty; check first that there is one, so that a
    // script without a terminal fails at once instead of waiting.
    if OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .is_err()
    {
        return Err(Failure::new("no terminal to ask the passphrase on").hint(NO_TERMINAL_HINT));
    }
    let prompt = |text: &str| {
        rpassword::prompt_password(text)
            .map(Zeroizing::new)
            .map_err(|e| {
                Failure::new(format!("cannot read the passphrase: {e}")).hint(NO_TERMINAL_HINT)
            })
    };
    match ask {
        Ask::Unlock => {
            let mut first = prompt("Passphrase: ")?;
            Ok(Passphrase::new(std::mem::take(&mut *first)))
        }
        Ask::New => {
            let mut first = prompt("New passphrase: ")?;
            let again = prompt("Same passphrase again: ")?;
            if !bool::from(first.as_bytes().ct_eq(again.as_bytes())) {
                return Err(Failure::new(
                    "the two passphrases differ; nothing was changed",
                ));
            }
            Ok(Passphrase::new(std::mem::take(&mut *first)))
        }
    }
}

//! Where a passphrase comes from: a file named on the command line or in the
//! environment, or the terminal. Never an argument, never standard input.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use nkvault_vault::Passphrase;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::failure::{warn, Failure};

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

/// The longest first line read from a passphrase file. The file is read no
/// further than that, so `/dev/zero` or a huge file cannot eat the memory.
const MAX_PASSPHRASE_LINE: usize = 64 * 1024;

/// The first line of the file, one trailing `\n` (or `\r\n`) removed.
fn from_file(path: &Path) -> Result<Passphrase, Failure> {
    let cannot_read = |e: std::io::Error| {
        Failure::new(format!(
            "cannot read passphrase file {}: {e}",
            path.display()
        ))
    };
    // Room for the longest line and its newline, allocated once so that no
    // copy of the passphrase is left behind by a reallocation.
    let mut bytes = Zeroizing::new(Vec::with_capacity(MAX_PASSPHRASE_LINE + 2));
    let file = File::open(path).map_err(cannot_read)?;
    if let Ok(meta) = file.metadata() {
        let mode = meta.permissions().mode() & 0o777;
        if meta.is_file() && mode & 0o077 != 0 {
            warn(&format!(
                "passphrase file {} can be read by others (mode {mode:o}); chmod 600 it",
                path.display()
            ));
        }
    }
    file.take(MAX_PASSPHRASE_LINE as u64 + 2)
        .read_to_end(&mut bytes)
        .map_err(cannot_read)?;
    let line = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.len() > MAX_PASSPHRASE_LINE {
        return Err(Failure::new(format!(
            "the first line of passphrase file {} is longer than 64 KiB",
            path.display()
        ))
        .hint(
            "the passphrase is the first line of the file; check that the file is the right one",
        ));
    }
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

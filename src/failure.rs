//! How a failed command is shown: one `nkvault: error: …` line, maybe a hint,
//! and the exit status.

use std::io::{self, Write};

/// Exit status of a command that failed on its input or environment.
pub const EXIT_FAILURE: u8 = 1;
/// Exit status of a command line that does not parse.
pub const EXIT_USAGE: u8 = 2;

/// A failed command, ready to be reported.
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub hint: Option<String>,
    pub status: u8,
}

impl Failure {
    pub fn new(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            hint: None,
            status: EXIT_FAILURE,
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Prints the failure on stderr, control characters escaped so that a
    /// hostile file name cannot drive the terminal.
    pub fn report(&self) {
        let mut text = format!("nkvault: error: {}\n", sanitize(&self.message));
        if let Some(hint) = &self.hint {
            text.push_str(&format!("nkvault: hint: {}\n", sanitize(hint)));
        }
        to_stderr(&text);
    }
}

impl From<nkvault_vault::Error> for Failure {
    fn from(error: nkvault_vault::Error) -> Self {
        Failure {
            hint: error.hint(),
            message: error.to_string(),
            status: EXIT_FAILURE,
        }
    }
}

impl Failure {
    /// For a command whose change is saved before its output is printed: a
    /// failure to print must say the change is done, or a script would retry
    /// it (and rotate twice, or find its names taken).
    pub fn after_saving(self, done: &str, hint: &str) -> Failure {
        if self.status == 0 {
            return self;
        }
        Failure::new(format!("{done}, but {}", self.message)).hint(hint)
    }
}

/// Writing to stdout failed. A closed pipe (`nkvault list | head -1`) is not an
/// error worth a message; the caller exits quietly on it.
pub fn stdout_error(error: io::Error) -> Failure {
    if error.kind() == io::ErrorKind::BrokenPipe {
        Failure {
            message: String::new(),
            hint: None,
            status: 0,
        }
    } else {
        Failure::new(format!("cannot write to standard output: {error}"))
    }
}

/// Prints a warning on stderr with the shared prefix.
pub fn warn(message: &str) {
    to_stderr(&format!("nkvault: warning: {}\n", sanitize(message)));
}

/// Prints a note (what was done) on stderr with the shared prefix.
pub fn note(message: &str) {
    to_stderr(&format!("nkvault: {}\n", sanitize(message)));
}

/// Writes to stderr and ignores a failure: `eprintln!` panics when stderr is
/// a full disk or a closed pipe, and there is nowhere left to report that.
pub fn to_stderr(text: &str) {
    let _ = io::stderr().lock().write_all(text.as_bytes());
}

/// Escapes control characters, and hides every word that looks like a seed
/// or an age secret key: a secret typed where an argument belongs (`import
/// node1 SU…`) is quoted back by the argument parser, and must not reach a
/// terminal's scrollback or a CI log. Public keys (`U…`, `age1…`) stay.
pub fn sanitize(text: &str) -> String {
    nkvault_vault::redact_secrets(text)
        .chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_never_quoted() {
        let seed = "SUAOIZ425OJJYJXVBCU7T3T2PGTQGLY46VXSNU2O5QCDISXIHWFIIKRXKE";
        let text = sanitize(&format!(
            "unexpected argument '{seed}' found; also {} and AGE-SECRET-KEY-1QQQ",
            seed.to_lowercase()
        ));
        assert!(!text.to_ascii_uppercase().contains("SUAOIZ"), "{text}");
        assert!(!text.contains("AGE-SECRET-KEY-1QQQ"), "{text}");
        let public = "UAI3WZCY42TPJHVGCEPACJBKPOR4F57Y4MPXBGQ3HKV7KBFQ6JB3UCOO";
        assert_eq!(
            sanitize(&format!("key {public}: ok")),
            format!("key {public}: ok")
        );
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(sanitize("a\u{1b}[31mb\n"), "a\\u{1b}[31mb\\n");
    }
}

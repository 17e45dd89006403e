//! Wrappers for secrets: wiped on drop, never shown by `Debug`.

use std::fmt;

use zeroize::Zeroizing;

/// An NKEY seed (`SU…`) in memory.
///
/// The text is wiped when the value is dropped, and `Debug` prints only
/// `Seed([redacted])`, so a seed cannot end up in a log line by accident.
#[derive(Clone)]
pub struct Seed(Zeroizing<String>);

impl Seed {
    pub(crate) fn from_zeroizing(text: Zeroizing<String>) -> Self {
        Seed(text)
    }

    /// The seed text, for the one place that must write it out.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Seed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Seed([redacted])")
    }
}

/// A passphrase, wiped on drop and redacted in `Debug`.
pub struct Passphrase(age::secrecy::SecretString);

impl Passphrase {
    /// Takes ownership of `text`; the caller's copy is moved, not cloned.
    pub fn new(text: String) -> Self {
        Passphrase(age::secrecy::SecretString::from(text))
    }

    /// True when the passphrase has no characters.
    pub fn is_empty(&self) -> bool {
        use age::secrecy::ExposeSecret;
        self.0.expose_secret().is_empty()
    }

    pub(crate) fn to_secret(&self) -> age::secrecy::SecretString {
        use age::secrecy::ExposeSecret;
        age::secrecy::SecretString::from(self.0.expose_secret().to_owned())
    }
}

impl fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Passphrase([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let seed = Seed::from_zeroizing(Zeroizing::new("SUSECRET".to_owned()));
        let passphrase = Passphrase::new("hunter2".to_owned());
        let shown = format!("{seed:?} {passphrase:?}");
        assert!(
            !shown.contains("SUSECRET") && !shown.contains("hunter2"),
            "{shown}"
        );
    }
}

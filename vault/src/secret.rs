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

    /// Whether two passphrases are the same, compared in constant time.
    pub fn same_as(&self, other: &Passphrase) -> bool {
        use age::secrecy::ExposeSecret;
        use subtle::ConstantTimeEq;
        let (a, b) = (self.0.expose_secret(), other.0.expose_secret());
        a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
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

/// The length of an NKEY seed in text (`S`, type, 56 more base32 characters).
const SEED_LEN: usize = 58;

/// Whether `text` holds something that looks like a secret: an NKEY seed
/// (also with other characters stuck to it, or in lower case) or an age
/// secret key. Public keys (`U…`, `age1…`) do not count.
pub fn looks_like_secret(text: &str) -> bool {
    words(text).any(|(_, word)| word_is_secret(word))
}

/// `text` with every word that looks like a secret replaced by a note, for
/// messages that quote what the user typed.
pub fn redact_secrets(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (at, word) in words(text) {
        if word_is_secret(word) {
            out.push_str(&text[last..at]);
            out.push_str("[not shown: it looks like a secret]");
            last = at + word.len();
        }
    }
    out.push_str(&text[last..]);
    out
}

/// The runs of ASCII letters, digits and `-` in `text`, with their offsets.
fn words(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut runs = Vec::new();
    let mut start = None;
    for (at, c) in text.char_indices() {
        let in_word = c.is_ascii_alphanumeric() || c == '-';
        match (in_word, start) {
            (true, None) => start = Some(at),
            (false, Some(from)) => {
                runs.push((from, &text[from..at]));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(from) = start {
        runs.push((from, &text[from..]));
    }
    runs.into_iter()
}

fn word_is_secret(word: &str) -> bool {
    let upper = word.to_ascii_uppercase();
    if upper.contains("AGE-SECRET-KEY") || upper.contains("AGE-PLUGIN-") {
        return true;
    }
    if nkeys::from_public_key(word).is_ok() {
        return false;
    }
    // A seed, maybe with characters stuck to either end: an `S` and at least
    // the rest of a seed's length in base32 (a seed is 58 characters; allow
    // one lost at the end).
    let bytes = upper.as_bytes();
    let is_base32 = |b: &u8| matches!(b, b'A'..=b'Z' | b'2'..=b'7');
    bytes
        .windows(SEED_LEN - 1)
        .any(|window| window[0] == b'S' && window.iter().all(is_base32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_found_in_any_case_and_with_characters_stuck_on() {
        let seed = "SUAOIZ425OJJYJXVBCU7T3T2PGTQGLY46VXSNU2O5QCDISXIHWFIIKRXKE";
        for text in [
            seed.to_owned(),
            seed.to_lowercase(),
            format!("x{seed}"),
            format!("{seed}9"),
            format!("name={seed}."),
            "AGE-SECRET-KEY1JJ2AGNLJ".to_owned(),
            "age-secret-key-1qqq".to_owned(),
        ] {
            assert!(looks_like_secret(&text), "{text}");
            let shown = redact_secrets(&format!("before '{text}' after"));
            assert!(
                shown.starts_with("before '")
                    && shown.ends_with("' after")
                    && shown.contains("[not shown: it looks like a secret]")
                    && !shown.to_ascii_uppercase().contains("SUAOIZ425")
                    && !shown.to_ascii_uppercase().contains("KEY1JJ2")
                    && !shown.to_ascii_uppercase().contains("KEY-1QQQ"),
                "{shown}"
            );
        }
        for text in [
            "UAI3WZCY42TPJHVGCEPACJBKPOR4F57Y4MPXBGQ3HKV7KBFQ6JB3UCOO",
            "age156tjd9nd2qvv60gckv49zgap0xm300j0gkkjn7y9r9jl9gk5epaqw9d0ag",
            "SERVERSTAGING1",
            "node1 at /etc/ctrl/node1.seed",
        ] {
            assert!(!looks_like_secret(text), "{text}");
            assert_eq!(redact_secrets(text), text);
        }
    }

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

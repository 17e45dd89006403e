//! Entry names: what an operator calls a key, such as `node1` or `github`.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The longest name accepted, in bytes.
pub const MAX_NAME_LEN: usize = 64;

/// A validated entry name.
///
/// Names end up in `# name` comments of nats-server.conf, in file names and in
/// shell scripts, so they are kept to a small alphabet: ASCII letters, digits,
/// `.`, `_` and `-`, starting with a letter or a digit.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Name(String);

impl Name {
    /// Checks `name` against the naming rules.
    pub fn new(name: &str) -> Result<Self> {
        let reason = if name.is_empty() {
            Some("it is empty")
        } else if name.len() > MAX_NAME_LEN {
            Some("it is longer than 64 characters")
        } else if name.contains('/') {
            Some("it contains '/'")
        } else if name.chars().any(char::is_whitespace) {
            Some("it contains white space")
        } else if name.chars().any(char::is_control) {
            Some("it contains a control character")
        } else if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            Some("it contains a character other than letters, digits, '.', '_' and '-'")
        } else if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            Some("it does not start with a letter or digit")
        } else {
            None
        };
        // A seed pasted where a name belongs would be stored in the clear,
        // rendered into nats-server.conf and printed by `list`.
        if crate::secret::looks_like_secret(name) {
            return Err(Error::InvalidName {
                name: "[not shown]".to_owned(),
                reason: "it looks like a seed or a secret key, which never goes on the \
                         command line",
            });
        }
        match reason {
            Some(reason) => Err(Error::InvalidName {
                name: name.to_owned(),
                reason,
            }),
            None => Ok(Name(name.to_owned())),
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Name::new(&text).map_err(serde::de::Error::custom)
    }
}

/// The existing name closest to `wanted`, if one is close enough to be a likely typo.
pub fn nearest<'a>(wanted: &str, names: impl Iterator<Item = &'a str>) -> Option<String> {
    // The distance is at least the difference in length: a name whose length
    // is too far off is passed over before the quadratic comparison, so a
    // huge argument costs nothing against a big vault.
    let wanted_len = wanted.chars().count();
    names
        .filter(|name| wanted_len.abs_diff(name.len()) <= 2.max(name.len() / 3))
        .map(|name| (strsim::damerau_levenshtein(wanted, name), name))
        .filter(|(distance, name)| *distance <= 2.max(name.len() / 3))
        .min()
        .map(|(_, name)| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names() {
        for name in ["node1", "github", "ctrl-eu.7", "A_b", "9", &"x".repeat(64)] {
            assert_eq!(Name::new(name).unwrap().as_str(), name);
        }
    }

    #[test]
    fn refuses_each_kind_of_bad_name() {
        let cases = [
            ("", "empty"),
            (&*"x".repeat(65), "longer"),
            ("a/b", "'/'"),
            ("a b", "white space"),
            ("a\u{7}b", "control"),
            ("né", "other than"),
            ("-flag", "start"),
            (".hidden", "start"),
        ];
        for (name, expected) in cases {
            let err = Name::new(name).unwrap_err().to_string();
            assert!(err.contains(expected), "{name:?}: {err}");
        }
    }

    #[test]
    fn suggests_only_close_names() {
        let names = ["node1", "node2", "github"];
        assert_eq!(nearest("nod1", names.into_iter()), Some("node1".to_owned()));
        assert_eq!(
            nearest("gihtub", names.into_iter()),
            Some("github".to_owned())
        );
        assert_eq!(nearest("database", names.into_iter()), None);
    }
}

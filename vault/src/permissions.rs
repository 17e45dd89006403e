//! The permissions model: which subjects a user key may publish and subscribe to.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A NATS subject or wildcard pattern, as used in a permission list.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Subject(String);

impl Subject {
    /// Checks `text` against the subject rules nats-server applies to permissions.
    ///
    /// Tokens are separated by `.` and none may be empty; `*` must be a whole
    /// token; `>` must be the whole last token. White space, control characters,
    /// `"` and `\` are refused because the subject is written double-quoted
    /// into nats-server.conf.
    pub fn new(text: &str) -> Result<Self> {
        let reason = if text.is_empty() {
            Some("it is empty")
        } else if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            Some("it contains white space or a control character")
        } else if text.chars().any(is_invisible) {
            Some("it contains an invisible or text-direction character")
        } else if text.contains(['"', '\\']) {
            Some("it contains a quote or a backslash")
        } else if text.split('.').any(str::is_empty) {
            Some("it has an empty token (a leading, trailing or doubled '.')")
        } else {
            let tokens: Vec<&str> = text.split('.').collect();
            let last = tokens.len() - 1;
            tokens.iter().enumerate().find_map(|(i, token)| {
                if token.contains('>') && (*token != ">" || i != last) {
                    Some("'>' must be the whole last token")
                } else if token.contains('*') && *token != "*" {
                    Some("'*' must be a whole token")
                } else {
                    None
                }
            })
        };
        match reason {
            Some(reason) => Err(Error::InvalidSubject {
                subject: text.to_owned(),
                reason,
            }),
            None => Ok(Subject(text.to_owned())),
        }
    }

    /// The subject as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn everything() -> Self {
        Subject(">".to_owned())
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Subject {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Subject::new(&text).map_err(serde::de::Error::custom)
    }
}

/// Characters that change how a subject looks without being seen: zero-width
/// characters, text-direction controls and the byte-order mark. A subject with
/// one reads like another subject in a terminal or a review, so that a deny
/// rule can look right and match nothing.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{ad}'
            | '\u{34f}'
            | '\u{61c}'
            | '\u{115f}'
            | '\u{1160}'
            | '\u{17b4}'
            | '\u{17b5}'
            | '\u{180b}'..='\u{180f}'
            | '\u{200b}'..='\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{206f}'
            | '\u{3164}'
            | '\u{fe00}'..='\u{fe0f}'
            | '\u{feff}'
            | '\u{ffa0}'
            | '\u{fff0}'..='\u{fffb}'
            | '\u{e0000}'..='\u{e0fff}'
    )
}

/// What one user key may do.
///
/// Each direction has an allow list and a deny list, as in nats-server. An
/// empty allow list is never stored: a direction the operator did not restrict
/// allows `>`, so the rendered config always says what it means.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Permissions {
    /// Subjects the key may publish to.
    pub publish: Vec<Subject>,
    /// Subjects the key may subscribe to.
    pub subscribe: Vec<Subject>,
    /// Subjects the key may not publish to, even where `publish` allows them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny_publish: Vec<Subject>,
    /// Subjects the key may not subscribe to, even where `subscribe` allows them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny_subscribe: Vec<Subject>,
    /// Whether the key may publish to the reply subject of a request it received.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_responses: bool,
}

impl Permissions {
    /// Publish and subscribe to everything: what the manual `nk` flow gave every key.
    pub fn everything() -> Self {
        Permissions {
            publish: vec![Subject::everything()],
            subscribe: vec![Subject::everything()],
            deny_publish: Vec::new(),
            deny_subscribe: Vec::new(),
            allow_responses: false,
        }
    }

    /// Builds permissions from the command-line options; a direction with no
    /// allow option allows `>`. Duplicates are dropped, order is kept.
    pub fn from_options(
        publish: &[String],
        subscribe: &[String],
        deny_publish: &[String],
        deny_subscribe: &[String],
        allow_responses: bool,
    ) -> Result<Self> {
        let list = |texts: &[String], default_everything: bool| -> Result<Vec<Subject>> {
            let mut subjects: Vec<Subject> = Vec::new();
            for text in texts {
                let subject = Subject::new(text)?;
                if !subjects.contains(&subject) {
                    subjects.push(subject);
                }
            }
            if subjects.is_empty() && default_everything {
                subjects.push(Subject::everything());
            }
            Ok(subjects)
        };
        Ok(Permissions {
            publish: list(publish, true)?,
            subscribe: list(subscribe, true)?,
            deny_publish: list(deny_publish, false)?,
            deny_subscribe: list(deny_subscribe, false)?,
            allow_responses,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_nats_subjects_and_wildcards() {
        for text in [
            ">",
            "*",
            "a",
            "a.b.c",
            "a.*.c",
            "a.>",
            "$JS.API.>",
            "_INBOX.>",
            "ü.x",
        ] {
            assert_eq!(Subject::new(text).unwrap().as_str(), text);
        }
    }

    #[test]
    fn refuses_malformed_subjects() {
        for text in [
            "", "a b", "a..b", ".a", "a.", "a.>.b", "a>", "a*", "x\"y", "x\\y", "a\n",
        ] {
            assert!(Subject::new(text).is_err(), "{text:?} was accepted");
        }
        for text in [
            "admin\u{200b}.>",
            "\u{202e}ci.x",
            "\u{feff}a",
            "a\u{2066}.b",
        ] {
            let err = Subject::new(text).unwrap_err().to_string();
            assert!(err.contains("invisible"), "{text:?}: {err}");
        }
    }

    #[test]
    fn an_unrestricted_direction_allows_everything() {
        let permissions =
            Permissions::from_options(&["ctrl.>".into()], &[], &[], &["ctrl.secret".into()], true)
                .unwrap();
        assert_eq!(permissions.publish, vec![Subject::new("ctrl.>").unwrap()]);
        assert_eq!(permissions.subscribe, vec![Subject::everything()]);
        assert_eq!(
            permissions.deny_subscribe,
            vec![Subject::new("ctrl.secret").unwrap()]
        );
        assert!(permissions.allow_responses);
    }

    #[test]
    fn repeated_subjects_are_kept_once() {
        let publish = ["a".to_owned(), "b".to_owned(), "a".to_owned()];
        let permissions = Permissions::from_options(&publish, &[], &[], &[], false).unwrap();
        assert_eq!(permissions.publish.len(), 2);
    }
}

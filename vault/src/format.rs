//! The vault file: TOML, public parts in the clear, each seed an age ciphertext.
//!
//! ```toml
//! format = 1
//! mode = "passphrase"
//! recipients = ["age1…"]
//!
//! [passphrase]
//! work_factor = 18
//! identity = """-----BEGIN AGE ENCRYPTED FILE-----…"""
//!
//! [[entry]]
//! name = "node1"
//! type = "user"
//! public_key = "UAI3…"
//! created = "2026-12-03T16:30:00Z"
//! seed = """-----BEGIN AGE ENCRYPTED FILE-----…"""
//!
//! [entry.permissions]
//! publish = [">"]
//! subscribe = [">"]
//!
//! [entry.previous]            # only during `rotate --overlap`
//! public_key = "UBB…"
//! rotated = "2026-12-04T09:00:00Z"
//! ```
//!
//! Entries are kept sorted by name, so that the file and the rendered config
//! change in one place when a key is added.

use std::collections::HashSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::keys::PublicKey;
use crate::name::Name;
use crate::permissions::Permissions;

/// The format number this library reads and writes.
pub const FORMAT: u32 = 1;

const HEADER: &str = "\
# nkvault vault: public parts in the clear, every seed encrypted with age.
# Change it with nkvault; an entry edited by hand is refused on export.
";

/// How the seeds of a vault are unlocked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Seeds are encrypted to the vault's own identity, which a passphrase protects.
    Passphrase,
    /// Seeds are encrypted to age recipients; their identity files unlock them.
    Recipients,
}

/// The kind of NKEY an entry holds. Only user keys belong in `authorization.users`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyType {
    /// A user key (`U…`, seed `SU…`).
    User,
}

/// One key of the vault.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// What the operator calls the key.
    pub name: Name,
    /// The kind of key.
    #[serde(rename = "type")]
    pub key_type: KeyType,
    /// The public key, as it goes into nats-server.conf.
    pub public_key: PublicKey,
    /// When the key was made, RFC 3339 in UTC.
    pub created: String,
    /// The armored age ciphertext of the seed record.
    pub(crate) seed: String,
    /// What the key may publish and subscribe to.
    pub permissions: Permissions,
    /// During a rotation with overlap: the key being replaced, still accepted
    /// by the server until the rotation is finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<PreviousKey>,
}

/// The old key of an entry in the middle of a rotation. Only its public key
/// is kept: the node that still uses it has its own copy of the seed, and
/// nothing would ever need to decrypt it again.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreviousKey {
    /// The old public key, rendered beside the new one.
    pub public_key: PublicKey,
    /// When the rotation started, RFC 3339 in UTC.
    pub rotated: String,
}

/// The vault's own identity, encrypted with the passphrase (passphrase mode only).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PassphraseIdentity {
    pub work_factor: u8,
    pub identity: String,
}

/// The whole file, as serialized.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct VaultFile {
    pub format: u32,
    pub mode: Mode,
    pub recipients: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passphrase: Option<PassphraseIdentity>,
    #[serde(default, rename = "entry")]
    pub entries: Vec<Entry>,
}

#[derive(Deserialize)]
struct FormatProbe {
    format: Option<u32>,
}

impl VaultFile {
    /// Parses and checks a vault file's text.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let corrupt = |reason: String| Error::VaultCorrupt {
            path: path.to_owned(),
            reason,
        };
        let file: VaultFile = match toml::from_str(text) {
            Ok(file) => file,
            Err(e) => {
                // A newer format may not parse as this one: say so rather than "corrupt".
                if let Ok(FormatProbe {
                    format: Some(found),
                }) = toml::from_str(text)
                {
                    if found > FORMAT {
                        return Err(too_new(path, found));
                    }
                }
                return Err(corrupt(one_line(&e.to_string())));
            }
        };
        if file.format > FORMAT {
            return Err(too_new(path, file.format));
        }
        if file.format != FORMAT {
            return Err(corrupt(format!("unknown format {}", file.format)));
        }
        file.check().map_err(corrupt)?;
        Ok(file)
    }

    /// The rules serde cannot express.
    fn check(&self) -> Result<(), String> {
        for recipient in &self.recipients {
            crate::crypto::parse_recipient(recipient).map_err(|e| e.to_string())?;
        }
        match (self.mode, &self.passphrase) {
            (Mode::Passphrase, None) => return Err("passphrase mode without [passphrase]".into()),
            (Mode::Passphrase, Some(_)) if self.recipients.len() != 1 => {
                return Err("passphrase mode needs exactly one recipient".into())
            }
            (Mode::Passphrase, Some(p)) if !crate::WORK_FACTORS.contains(&p.work_factor) => {
                return Err(format!("work factor {} is out of range", p.work_factor))
            }
            (Mode::Recipients, Some(_)) => {
                return Err("recipients mode with a [passphrase] table".into())
            }
            (Mode::Recipients, None) if self.recipients.is_empty() => {
                return Err("recipients mode with no recipients".into())
            }
            _ => {}
        }
        if !self.entries.is_sorted_by(|a, b| a.name < b.name) {
            return Err("entries are not sorted by name, or a name repeats".into());
        }
        let mut keys = HashSet::with_capacity(self.entries.len());
        for entry in &self.entries {
            let name = entry.name.as_str();
            if humantime::parse_rfc3339(&entry.created).is_err() {
                return Err(format!(
                    "entry {name:?}: created is not an RFC 3339 time in UTC"
                ));
            }
            // nats-server reads an empty allow list as "allow everything",
            // the opposite of what it looks like; nkvault never writes one.
            let permissions = &entry.permissions;
            for (direction, allow) in [
                ("publish", &permissions.publish),
                ("subscribe", &permissions.subscribe),
            ] {
                if allow.is_empty() {
                    return Err(format!(
                        "entry {name:?}: {direction} is an empty list, which nats-server \
                         reads as allowing everything"
                    ));
                }
            }
            if !keys.insert(entry.public_key.as_str()) {
                return Err(format!("public key of {name:?} is used twice"));
            }
            if let Some(previous) = &entry.previous {
                if humantime::parse_rfc3339(&previous.rotated).is_err() {
                    return Err(format!(
                        "entry {name:?}: previous.rotated is not an RFC 3339 time in UTC"
                    ));
                }
                if !keys.insert(previous.public_key.as_str()) {
                    return Err(format!("previous public key of {name:?} is used twice"));
                }
            }
        }
        Ok(())
    }

    /// The file's text.
    pub fn to_text(&self) -> String {
        let body = toml::to_string(self).expect("the vault model always serializes");
        let mut text = String::with_capacity(HEADER.len() + body.len());
        text.push_str(HEADER);
        text.push_str(&body);
        text
    }
}

fn too_new(path: &Path, found: u32) -> Error {
    Error::VaultTooNew {
        path: path.to_owned(),
        found,
        supported: FORMAT,
    }
}

/// Parser messages span several lines (a snippet with a caret); keep the first
/// and the line number, which is what a one-line error has room for.
fn one_line(message: &str) -> String {
    let mut lines = message.lines().filter(|line| !line.trim().is_empty());
    let first = lines.next().unwrap_or("unreadable").trim();
    let last = message.lines().last().unwrap_or("").trim();
    if last.is_empty() || last == first {
        first.to_owned()
    } else {
        format!("{first} ({last})")
    }
}

//! The one error type of the library, with a hint for the person at the keyboard.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong in the vault library.
///
/// `Display` says what failed; [`Error::hint`] says, separately, what to try
/// next. No variant ever carries a seed, a passphrase or an identity.
#[derive(Debug, Error)]
pub enum Error {
    /// There is no vault file at the path.
    #[error("no vault at {}", .0.display())]
    VaultMissing(PathBuf),

    /// `init` was asked to make a vault where a file already exists.
    #[error("{} already exists", .0.display())]
    VaultExists(PathBuf),

    /// The vault file could not be parsed, or breaks a rule of the format.
    #[error("{} is not a valid vault: {reason}", path.display())]
    VaultCorrupt {
        /// The vault file.
        path: PathBuf,
        /// What is wrong, with a line number where the parser gave one.
        reason: String,
    },

    /// The vault was written by a newer nkvault.
    #[error("{} uses vault format {found}; this nkvault reads format {supported}", path.display())]
    VaultTooNew {
        /// The vault file.
        path: PathBuf,
        /// The format number found in the file.
        found: u32,
        /// The format number this library writes.
        supported: u32,
    },

    /// An entry name breaks the naming rules.
    #[error("invalid name {name:?}: {reason}")]
    InvalidName {
        /// The rejected name, shown escaped.
        name: String,
        /// Which rule it breaks.
        reason: &'static str,
    },

    /// A name already in the vault.
    #[error("an entry named {0:?} already exists")]
    DuplicateName(String),

    /// A name given twice in one command.
    #[error("the name {0:?} is given twice; nothing was added")]
    RepeatedName(String),

    /// No entry has the name.
    #[error("no entry named {name:?}")]
    UnknownName {
        /// The name asked for.
        name: String,
        /// The nearest existing name, if one is close.
        suggestion: Option<String>,
    },

    /// A subject in a permission option is not a valid NATS subject.
    #[error("invalid subject {subject:?}: {reason}")]
    InvalidSubject {
        /// The rejected subject, shown escaped.
        subject: String,
        /// Which rule it breaks.
        reason: &'static str,
    },

    /// An age recipient string did not parse.
    #[error("invalid recipient {0}: expected an age X25519 recipient (age1…)")]
    InvalidRecipient(
        /// The string, quoted, or where it was when it is not shown.
        String,
    ),

    /// A recipients mode vault needs at least one recipient.
    #[error("no recipients given")]
    NoRecipients,

    /// The passphrase given is empty.
    #[error("the passphrase is empty")]
    EmptyPassphrase,

    /// The scrypt work factor is outside the range every age implementation accepts.
    #[error("work factor {0} is out of range ({min}..={max})", min = crate::MIN_WORK_FACTOR, max = crate::MAX_WORK_FACTOR)]
    WorkFactorOutOfRange(u8),

    /// The passphrase does not open the vault's identity.
    #[error("wrong passphrase for {}", .0.display())]
    WrongPassphrase(PathBuf),

    /// None of the identities given can decrypt an entry.
    #[error("none of the identities given can decrypt entry {0:?}")]
    NoMatchingIdentity(String),

    /// The command needs identities (recipients mode) but none were given.
    #[error("this vault is in recipients mode and no identity was given")]
    IdentityRequired,

    /// An identity file could not be read or parsed.
    #[error("cannot use identity file {}: {reason}", path.display())]
    InvalidIdentityFile {
        /// The identity file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// An entry's ciphertext is damaged or not an age file we can read.
    #[error("entry {name:?} cannot be decrypted: {reason}")]
    EntryCorrupt {
        /// The entry.
        name: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The name or public key in the clear part does not match what the ciphertext binds.
    #[error("entry {name:?} does not match its encrypted seed: {what}")]
    BindingMismatch {
        /// The entry, as named in the clear part.
        name: String,
        /// Which field differs.
        what: &'static str,
    },

    /// An output path is refused before anything is written.
    #[error("refusing to write {}: {reason}", path.display())]
    OutputRefused {
        /// The output path.
        path: PathBuf,
        /// Why.
        reason: &'static str,
    },

    /// A seed given to import is not one user seed.
    #[error("cannot import {what}: {problem}")]
    InvalidSeed {
        /// Where the seed came from ("seed file X", "standard input").
        what: String,
        /// What is wrong with it; never the seed itself.
        problem: crate::SeedFileProblem,
    },

    /// An imported key is already in the vault.
    #[error("the key for {name:?} is already in the vault, as {holder:?}")]
    KeyInVault {
        /// The name it was to be imported under.
        name: String,
        /// The entry (or the other imported name) that holds it.
        holder: String,
    },

    /// Two seeds given to one import are the same key.
    #[error("{first:?} and {second:?} are the same key; nothing was imported")]
    RepeatedKey {
        /// The first name given for it.
        first: String,
        /// The second.
        second: String,
    },

    /// `rotate --overlap` on an entry whose previous rotation is not finished.
    #[error("{0:?} is already in a rotation with overlap")]
    RotationInProgress(String),

    /// `rotate --finish` on an entry with no rotation to finish.
    #[error("{0:?} has no rotation to finish")]
    NoRotation(String),

    /// A passphrase-mode command on a recipients-mode vault.
    #[error("this vault is in recipients mode: it has no passphrase")]
    NotPassphraseMode,

    /// A recipients-mode command on a passphrase-mode vault.
    #[error("this vault is in passphrase mode: its only recipient is its own identity")]
    NotRecipientsMode,

    /// A change that would leave no recipient.
    #[error("that would leave the vault with no recipient; nothing was changed")]
    LastRecipient,

    /// A recipient to add is already one.
    #[error("{0} is already a recipient; nothing was changed")]
    AlreadyRecipient(String),

    /// A recipient to remove is not one.
    #[error("{0} is not a recipient of this vault; nothing was changed")]
    NotRecipient(String),

    /// A vault opened for one entry was to be saved (a bug in the caller).
    #[error("internal error: a vault opened for one entry cannot be saved")]
    PartialVault,

    /// An I/O error, with the path it concerns.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done, such as "cannot write".
        action: &'static str,
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

impl Error {
    /// What to try next, when there is something useful to say.
    pub fn hint(&self) -> Option<String> {
        let hint = match self {
            Error::VaultMissing(_) => {
                "run `nkvault init` to make one, or point --vault (or NKVAULT_VAULT) at yours"
                    .to_owned()
            }
            Error::VaultExists(_) => {
                "nkvault never overwrites a vault; choose another path with --vault".to_owned()
            }
            Error::VaultCorrupt { .. } => {
                "the vault was changed outside nkvault or cut short; restore it from git or \
                 a backup"
                    .to_owned()
            }
            Error::VaultTooNew { .. } => "upgrade nkvault to read this vault".to_owned(),
            Error::InvalidName { .. } => {
                "names are 1 to 64 characters: letters, digits, '.', '_' and '-', starting \
                 with a letter or digit"
                    .to_owned()
            }
            Error::DuplicateName(name) => {
                format!("pick another name, or see the existing entry with `nkvault show {name}`")
            }
            Error::RepeatedName(_) => "give each new name once".to_owned(),
            Error::UnknownName { suggestion, .. } => match suggestion {
                Some(near) => format!("did you mean {near:?}? `nkvault list` shows every entry"),
                None => "`nkvault list` shows every entry".to_owned(),
            },
            Error::InvalidSubject { .. } => {
                "subjects are dot-separated tokens; '*' matches one token, '>' the rest \
                 (last token only)"
                    .to_owned()
            }
            Error::InvalidRecipient(_) => {
                "make a key pair with `age-keygen` and pass its public key (age1…)".to_owned()
            }
            Error::NoRecipients => "pass -r age1… or -R FILE".to_owned(),
            Error::WrongPassphrase(_) => {
                "check --passphrase-file (or NKVAULT_PASSPHRASE_FILE); its first line is the \
                 passphrase"
                    .to_owned()
            }
            Error::NoMatchingIdentity(_) => {
                "pass the identity file of one of the vault's recipients with -i".to_owned()
            }
            Error::IdentityRequired => {
                "pass your age identity file with -i FILE (or NKVAULT_IDENTITY)".to_owned()
            }
            Error::EntryCorrupt { .. } => {
                "the entry's ciphertext was changed outside nkvault or cut short; restore the \
                 vault from git or a backup"
                    .to_owned()
            }
            Error::BindingMismatch { .. } => {
                "the clear part of the vault was edited by hand; restore it from git or a \
                 backup"
                    .to_owned()
            }
            Error::OutputRefused { reason, .. } => {
                let hint = match *reason {
                    "it already exists" => "pass --force to replace it",
                    "its directory does not exist" => "create the directory first (mkdir -p)",
                    "it is a symbolic link" => {
                        "name the file the link points to, or remove the link"
                    }
                    "it is the vault itself" => "name another file for the output",
                    _ => "name a regular file in an existing directory",
                };
                hint.to_owned()
            }
            Error::InvalidIdentityFile { .. } => {
                "an identity file holds age secret keys, one per line, as `age-keygen -o FILE` writes \
                 them"
                    .to_owned()
            }
            Error::InvalidSeed { .. } => {
                "a seed file holds one user seed (SU…) and at most one trailing newline, as \
                 `nk -gen user` writes it"
                    .to_owned()
            }
            Error::KeyInVault { holder, .. } => {
                format!("it is already stored; `nkvault show {holder}` shows it")
            }
            Error::RepeatedKey { .. } => {
                "the same seed is in two files; keep one of them".to_owned()
            }
            Error::RotationInProgress(name) => format!(
                "finish it first with `nkvault rotate {name} --finish`, or rotate without \
                 --overlap to drop both old keys at once"
            ),
            Error::NoRotation(name) => {
                format!("start one with `nkvault rotate {name} --overlap`")
            }
            Error::NotPassphraseMode => {
                "recipients-mode vaults are unlocked with -i; change who can read it with \
                 `nkvault recipients`"
                    .to_owned()
            }
            Error::NotRecipientsMode => {
                "change the passphrase with `nkvault passwd`; to share a vault, make one with \
                 `nkvault init -r age1…` and import the seeds"
                    .to_owned()
            }
            Error::LastRecipient => "add the new recipient before removing the old one".to_owned(),
            Error::AlreadyRecipient(_) | Error::NotRecipient(_) => {
                "`nkvault recipients list` shows the recipients".to_owned()
            }
            _ => return None,
        };
        Some(hint)
    }

    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

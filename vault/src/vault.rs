//! The vault: open it, add keys, unlock it, take one seed out.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use rayon::prelude::*;

use crate::crypto;
use crate::error::{Error, Result};
use crate::format::{Entry, KeyType, Mode, PassphraseIdentity, PreviousKey, VaultFile, FORMAT};
use crate::keys::{generate_user, PublicKey};
use crate::name::{nearest, Name};
use crate::permissions::Permissions;
use crate::render::{render, RenderOptions};
use crate::secret::{Passphrase, Seed};
use crate::store::{self, Replace, VaultLock};

/// The vault file's mode bits: readable and writable by its owner only.
pub const VAULT_MODE: u32 = 0o600;

/// How a new vault protects its seeds.
#[derive(Debug)]
pub enum Protection {
    /// The vault's own identity, encrypted with this passphrase at this work factor.
    Passphrase {
        /// The passphrase; never empty.
        passphrase: Passphrase,
        /// log2 of the scrypt cost, within [`crate::WORK_FACTORS`].
        work_factor: u8,
    },
    /// These age recipients (`age1…`).
    Recipients(Vec<age::x25519::Recipient>),
}

/// A vault read from disk. Changes stay in memory until [`Vault::save`].
#[derive(Debug)]
pub struct Vault {
    path: PathBuf,
    file: VaultFile,
    /// Opened with [`Vault::open_entry`]: one entry only, never saved.
    partial: bool,
}

/// The identities that decrypt a vault's seeds, after one unlock.
pub struct Unlocked {
    identities: Vec<Box<dyn age::Identity>>,
    /// The vault's own identity, in passphrase mode.
    own: Option<age::x25519::Identity>,
    /// The identity files they came from, in recipients mode.
    files: Vec<PathBuf>,
}

impl Unlocked {
    /// Where each worker thread gets its own copy of the identities: age's
    /// boxed identities cannot be shared between threads.
    fn source(&self) -> IdentitySource<'_> {
        IdentitySource {
            own: self.own.as_ref(),
            files: &self.files,
        }
    }
}

#[derive(Clone, Copy)]
struct IdentitySource<'a> {
    own: Option<&'a age::x25519::Identity>,
    files: &'a [PathBuf],
}

impl IdentitySource<'_> {
    fn for_thread(self) -> Result<Vec<Box<dyn age::Identity>>> {
        if let Some(own) = self.own {
            return Ok(vec![Box::new(own.clone())]);
        }
        let mut identities = Vec::new();
        for file in self.files {
            identities.extend(crypto::read_identity_file(file)?);
        }
        Ok(identities)
    }
}

/// What [`Vault::rotate`] did.
#[derive(Clone, Debug)]
pub struct Rotation {
    /// The new public key of the entry.
    pub public_key: PublicKey,
    /// The old key, still accepted until [`Vault::finish_rotation`] (overlap only).
    pub previous: Option<PublicKey>,
    /// Keys no longer in the vault: the server refuses them once it reloads.
    pub dropped: Vec<PublicKey>,
}

/// An entry that failed [`Vault::verify`], and why.
#[derive(Debug)]
pub struct EntryProblem {
    /// The entry's name.
    pub name: String,
    /// What is wrong with it.
    pub error: Error,
}

impl std::fmt::Debug for Unlocked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Unlocked([redacted])")
    }
}

impl Vault {
    /// Makes a new vault at `path`; fails if any file is there already.
    pub fn create(path: &Path, protection: Protection) -> Result<Vault> {
        if std::fs::symlink_metadata(path).is_ok() {
            return Err(Error::VaultExists(path.to_owned()));
        }
        let (mode, recipients, passphrase) = match protection {
            Protection::Passphrase {
                passphrase,
                work_factor,
            } => {
                if passphrase.is_empty() {
                    return Err(Error::EmptyPassphrase);
                }
                if !crate::WORK_FACTORS.contains(&work_factor) {
                    return Err(Error::WorkFactorOutOfRange(work_factor));
                }
                let identity = age::x25519::Identity::generate();
                let sealed = PassphraseIdentity {
                    work_factor,
                    identity: crypto::seal_identity(&identity, &passphrase, work_factor),
                };
                let recipient = identity.to_public().to_string();
                (Mode::Passphrase, vec![recipient], Some(sealed))
            }
            Protection::Recipients(recipients) => {
                if recipients.is_empty() {
                    return Err(Error::NoRecipients);
                }
                let mut texts: Vec<String> = recipients.iter().map(|r| r.to_string()).collect();
                texts.sort();
                texts.dedup();
                (Mode::Recipients, texts, None)
            }
        };
        let vault = Vault {
            path: path.to_owned(),
            file: VaultFile {
                format: FORMAT,
                mode,
                recipients,
                passphrase,
                entries: Vec::new(),
            },
            partial: false,
        };
        let text = vault.file.to_text();
        store::write_atomic(path, text.as_bytes(), VAULT_MODE, Replace::Never).map_err(
            |e| match e {
                Error::OutputRefused { .. } => Error::VaultExists(path.to_owned()),
                other => other,
            },
        )?;
        Ok(vault)
    }

    /// Reads and checks the vault at `path`.
    pub fn open(path: &Path) -> Result<Vault> {
        let file = VaultFile::read(&mut store::open_regular(path)?, path)?;
        Ok(Vault {
            path: path.to_owned(),
            file,
            partial: false,
        })
    }

    /// Reads the vault's header and the one entry called `name`, for a
    /// command that needs nothing else (show, export, exec): on a vault of
    /// 100,000 entries it parses a few dozen of them instead of all. The
    /// result holds that entry only and cannot be saved. A vault not laid out
    /// as nkvault writes it is read whole, with the same result.
    pub fn open_entry(path: &Path, name: &str) -> Result<Vault> {
        let bytes = store::read(path)?;
        match VaultFile::read_one(&bytes, name, path) {
            Some(file) => Ok(Vault {
                path: path.to_owned(),
                file: file?,
                partial: true,
            }),
            None => {
                drop(bytes);
                Vault::open(path)
            }
        }
    }

    /// Runs `change` on the vault with the directory locked, and saves the
    /// result atomically if it succeeds. Two writers never lose each other's keys.
    pub fn update<T>(path: &Path, change: impl FnOnce(&mut Vault) -> Result<T>) -> Result<T> {
        // A missing vault (or directory) is reported as such, not as a failure
        // to lock its directory; the vault itself is read once, under the lock.
        if matches!(std::fs::metadata(path), Err(e) if e.kind() == std::io::ErrorKind::NotFound) {
            return Err(Error::VaultMissing(path.to_owned()));
        }
        let target = through_links(path);
        let _lock = VaultLock::acquire(&target)?;
        store::remove_stale_temp_files(&target);
        let mut vault = Vault::open(path)?;
        let result = change(&mut vault)?;
        vault.save()?;
        Ok(result)
    }

    /// Writes the vault back to its path, atomically, mode 0600.
    pub fn save(&self) -> Result<()> {
        if self.partial {
            return Err(Error::PartialVault);
        }
        let target = through_links(&self.path);
        store::PendingWrite::start(&target, VAULT_MODE, Replace::Atomically)?
            .finish_with(|out| self.file.write_to(out))
    }

    /// The vault's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How the vault is unlocked.
    pub fn mode(&self) -> Mode {
        self.file.mode
    }

    /// The recipients every seed is encrypted to.
    pub fn recipients(&self) -> &[String] {
        &self.file.recipients
    }

    /// The scrypt work factor, in passphrase mode.
    pub fn work_factor(&self) -> Option<u8> {
        self.file.passphrase.as_ref().map(|p| p.work_factor)
    }

    /// Every entry, sorted by name.
    pub fn entries(&self) -> &[Entry] {
        &self.file.entries
    }

    /// The entry called `name`; an error suggests the nearest name if there is none.
    pub fn entry(&self, name: &str) -> Result<&Entry> {
        Ok(&self.file.entries[self.index_of(name)?])
    }

    /// Generates a user key for each name, encrypted to the vault's recipients,
    /// with the same permissions for all. Needs no unlock. Returns the public
    /// keys in the order of `names`. Nothing changes if any name is taken.
    pub fn add_users(
        &mut self,
        names: &[Name],
        permissions: &Permissions,
    ) -> Result<Vec<PublicKey>> {
        self.check_new_names(names.iter())?;
        let recipients = self.parsed_recipients();
        // Key generation and encryption are most of the work: every core takes part.
        let made = names
            .par_iter()
            .map(|name| {
                let (public_key, seed) = generate_user();
                let sealed =
                    crypto::seal_seed(&dyn_recipients(&recipients), name, &public_key, &seed);
                (name.clone(), public_key, sealed)
            })
            .collect();
        Ok(self.insert_new(made, permissions))
    }

    /// Stores existing user seeds under new names, encrypted like generated
    /// ones. Needs no unlock. Nothing changes if any name is taken or any key
    /// is already in the vault (under any name, or as a key being rotated out).
    pub fn import_users(
        &mut self,
        seeds: Vec<(Name, Seed)>,
        permissions: &Permissions,
    ) -> Result<Vec<PublicKey>> {
        let mut checked = Vec::with_capacity(seeds.len());
        for (name, seed) in seeds {
            let public_key = crate::keys::public_key_of_user_seed(seed.expose()).map_err(|_| {
                Error::InvalidSeed {
                    what: format!("the seed for {name}"),
                    problem: crate::SeedFileProblem::Malformed,
                }
            })?;
            checked.push((name, public_key, seed));
        }
        self.check_new_names(checked.iter().map(|(name, _, _)| name))?;
        let mut known: std::collections::HashMap<&str, String> = self
            .file
            .entries
            .iter()
            .flat_map(|entry| {
                let previous = entry.previous.as_ref().map(|p| p.public_key.as_str());
                std::iter::once(entry.public_key.as_str())
                    .chain(previous)
                    .map(move |key| (key, entry.name.to_string()))
            })
            .collect();
        let mut given: std::collections::HashMap<&str, &Name> = std::collections::HashMap::new();
        for (name, public_key, _) in &checked {
            if let Some(holder) = known.remove(public_key.as_str()) {
                return Err(Error::KeyInVault {
                    name: name.to_string(),
                    holder,
                });
            }
            if let Some(first) = given.insert(public_key.as_str(), name) {
                return Err(Error::RepeatedKey {
                    first: first.to_string(),
                    second: name.to_string(),
                });
            }
        }

        let recipients = self.parsed_recipients();
        let made = checked
            .par_iter()
            .map(|(name, public_key, seed)| {
                let sealed =
                    crypto::seal_seed(&dyn_recipients(&recipients), name, public_key, seed);
                (name.clone(), public_key.clone(), sealed)
            })
            .collect();
        Ok(self.insert_new(made, permissions))
    }

    /// Refuses a name given twice, or one the vault has already.
    fn check_new_names<'a>(&self, names: impl Iterator<Item = &'a Name>) -> Result<()> {
        let mut sorted: Vec<&Name> = names.collect();
        sorted.sort();
        if let Some(pair) = sorted.windows(2).find(|pair| pair[0] == pair[1]) {
            return Err(Error::RepeatedName(pair[0].to_string()));
        }
        if let Some(taken) = sorted.iter().find(|name| self.entry(name.as_str()).is_ok()) {
            return Err(Error::DuplicateName(taken.to_string()));
        }
        Ok(())
    }

    /// Adds new entries (name, public key, sealed seed), made now, with the
    /// same permissions; returns their public keys in the order given.
    fn insert_new(
        &mut self,
        made: Vec<(Name, PublicKey, String)>,
        permissions: &Permissions,
    ) -> Vec<PublicKey> {
        let created = now();
        let mut public_keys = Vec::with_capacity(made.len());
        for (name, public_key, sealed) in made {
            public_keys.push(public_key.clone());
            self.file.entries.push(Entry {
                name,
                key_type: KeyType::User,
                public_key,
                created: created.clone(),
                seed: sealed,
                permissions: permissions.clone(),
                previous: None,
            });
        }
        self.file.entries.sort_by(|a, b| a.name.cmp(&b.name));
        public_keys
    }

    /// Gives the entry `name` a new key. With `overlap`, the old public key
    /// stays (rendered as the entry's previous key) until
    /// [`Vault::finish_rotation`]; without it, the old key is dropped at once,
    /// together with any previous key of an unfinished overlap. Needs no unlock.
    pub fn rotate(&mut self, name: &str, overlap: bool) -> Result<Rotation> {
        let index = self.index_of(name)?;
        let recipients = self.parsed_recipients();
        let recipients: Vec<&dyn age::Recipient> = recipients
            .iter()
            .map(|r| r as &dyn age::Recipient)
            .collect();
        let entry = &mut self.file.entries[index];
        if overlap && entry.previous.is_some() {
            return Err(Error::RotationInProgress(entry.name.to_string()));
        }
        let (public_key, seed) = generate_user();
        let sealed = crypto::seal_seed(&recipients, &entry.name, &public_key, &seed);
        let old = std::mem::replace(&mut entry.public_key, public_key.clone());
        entry.seed = sealed;
        entry.created = now();
        if overlap {
            entry.previous = Some(PreviousKey {
                public_key: old.clone(),
                rotated: entry.created.clone(),
            });
            return Ok(Rotation {
                public_key,
                previous: Some(old),
                dropped: Vec::new(),
            });
        }
        let mut dropped = vec![old];
        dropped.extend(entry.previous.take().map(|p| p.public_key));
        Ok(Rotation {
            public_key,
            previous: None,
            dropped,
        })
    }

    /// Ends the overlap of a rotation: the previous key of `name` leaves the
    /// vault, and the config rendered from it. Returns that key.
    pub fn finish_rotation(&mut self, name: &str) -> Result<PublicKey> {
        let index = self.index_of(name)?;
        let entry = &mut self.file.entries[index];
        entry
            .previous
            .take()
            .map(|previous| previous.public_key)
            .ok_or_else(|| Error::NoRotation(entry.name.to_string()))
    }

    /// Removes the entries called `names`, all or none. Returns them.
    pub fn remove(&mut self, names: &[&str]) -> Result<Vec<Entry>> {
        let mut indexes = names
            .iter()
            .map(|name| self.index_of(name))
            .collect::<Result<Vec<_>>>()?;
        indexes.sort_unstable();
        indexes.dedup();
        let mut removed = Vec::with_capacity(indexes.len());
        for index in indexes.into_iter().rev() {
            removed.push(self.file.entries.remove(index));
        }
        removed.reverse();
        Ok(removed)
    }

    /// Protects the vault's own identity with a new passphrase (and work
    /// factor, if given). The seeds are untouched: they are encrypted to the
    /// identity, not to the passphrase.
    pub fn change_passphrase(
        &mut self,
        unlocked: &Unlocked,
        new: &Passphrase,
        work_factor: Option<u8>,
    ) -> Result<()> {
        let own = unlocked.own.as_ref().ok_or(Error::NotPassphraseMode)?;
        let Some(sealed) = self.file.passphrase.as_mut() else {
            return Err(Error::NotPassphraseMode);
        };
        if self.file.recipients.first() != Some(&own.to_public().to_string()) {
            return Err(Error::VaultCorrupt {
                path: self.path.clone(),
                reason: "its identity changed while the passphrase was read".to_owned(),
            });
        }
        if new.is_empty() {
            return Err(Error::EmptyPassphrase);
        }
        let work_factor = work_factor.unwrap_or(sealed.work_factor);
        if !crate::WORK_FACTORS.contains(&work_factor) {
            return Err(Error::WorkFactorOutOfRange(work_factor));
        }
        *sealed = PassphraseIdentity {
            work_factor,
            identity: crypto::seal_identity(own, new, work_factor),
        };
        Ok(())
    }

    /// Re-encrypts every seed to `recipients` (recipients mode). Every seed is
    /// decrypted and checked first; if any fails, nothing changes.
    pub fn set_recipients(
        &mut self,
        unlocked: &Unlocked,
        recipients: Vec<age::x25519::Recipient>,
    ) -> Result<()> {
        if self.file.mode != Mode::Recipients {
            return Err(Error::NotRecipientsMode);
        }
        if recipients.is_empty() {
            return Err(Error::LastRecipient);
        }
        let source = unlocked.source();
        let sealed: Vec<String> = self
            .file
            .entries
            .par_iter()
            .map_init(
                || source.for_thread(),
                |identities, entry| {
                    let identities = identities.as_ref().map_err(|_| Error::IdentityRequired)?;
                    let seed = self.open_seed(identities, entry)?;
                    Ok(crypto::seal_seed(
                        &dyn_recipients(&recipients),
                        &entry.name,
                        &entry.public_key,
                        &seed,
                    ))
                },
            )
            .collect::<Result<_>>()?;
        for (entry, seed) in self.file.entries.iter_mut().zip(sealed) {
            entry.seed = seed;
        }
        let mut texts: Vec<String> = recipients.iter().map(|r| r.to_string()).collect();
        texts.sort();
        texts.dedup();
        self.file.recipients = texts;
        Ok(())
    }

    /// Decrypts every entry and checks it: the record is bound to the entry's
    /// name and public key, its seed is a user seed and derives that key.
    /// Returns every entry that fails, in order; empty means all is well.
    pub fn verify(&self, unlocked: &Unlocked) -> Vec<EntryProblem> {
        let source = unlocked.source();
        let problems: Vec<Option<EntryProblem>> = self
            .file
            .entries
            .par_iter()
            .map_init(
                || source.for_thread(),
                |identities, entry| {
                    let result = match identities {
                        Ok(identities) => self.open_seed(identities, entry).map(drop),
                        Err(_) => source.for_thread().map(drop),
                    };
                    result.err().map(|error| EntryProblem {
                        name: entry.name.to_string(),
                        error,
                    })
                },
            )
            .collect();
        problems.into_iter().flatten().collect()
    }

    fn index_of(&self, name: &str) -> Result<usize> {
        self.file
            .entries
            .binary_search_by(|entry| entry.name.as_str().cmp(name))
            .map_err(|_| Error::UnknownName {
                name: name.to_owned(),
                suggestion: nearest(name, self.file.entries.iter().map(|e| e.name.as_str())),
            })
    }

    fn parsed_recipients(&self) -> Vec<age::x25519::Recipient> {
        self.file
            .recipients
            .iter()
            .map(|text| crypto::parse_recipient(text).expect("checked when the vault was read"))
            .collect()
    }

    /// Unlocks a passphrase-mode vault: the one scrypt of a command.
    pub fn unlock_with_passphrase(&self, passphrase: &Passphrase) -> Result<Unlocked> {
        let sealed = self
            .file
            .passphrase
            .as_ref()
            .ok_or(Error::IdentityRequired)?;
        let identity = crypto::open_identity(&sealed.identity, passphrase, &self.path)?;
        // The recipient in the clear is what `add` encrypts new seeds to. If it
        // is not this identity's, someone edited it, and seeds added since
        // went to them: say so now rather than hand out anything.
        if self.file.recipients.first() != Some(&identity.to_public().to_string()) {
            return Err(Error::VaultCorrupt {
                path: self.path.clone(),
                reason: "its recipient is not the public key of its own identity (the \
                         recipients line was edited; keys added since are encrypted to \
                         someone else)"
                    .to_owned(),
            });
        }
        Ok(Unlocked {
            identities: vec![Box::new(identity.clone())],
            own: Some(identity),
            files: Vec::new(),
        })
    }

    /// Unlocks a recipients-mode vault with the identities of age identity files.
    pub fn unlock_with_identity_files(&self, files: &[PathBuf]) -> Result<Unlocked> {
        if files.is_empty() {
            return Err(Error::IdentityRequired);
        }
        let mut identities = Vec::new();
        for file in files {
            identities.extend(crypto::read_identity_file(file)?);
        }
        Ok(Unlocked {
            identities,
            own: None,
            files: files.to_vec(),
        })
    }

    /// Decrypts the seed of `name`, checking that it belongs to that entry.
    pub fn seed(&self, unlocked: &Unlocked, name: &str) -> Result<Seed> {
        self.open_seed(&unlocked.identities, self.entry(name)?)
    }

    fn open_seed(&self, identities: &[Box<dyn age::Identity>], entry: &Entry) -> Result<Seed> {
        let identities: Vec<&dyn age::Identity> = identities.iter().map(|i| i.as_ref()).collect();
        crypto::open_seed(&entry.seed, &identities, &entry.name, &entry.public_key).map_err(|e| {
            match (self.file.mode, e) {
                // The vault's own identity is the only key of a passphrase
                // vault: a seed it cannot open was encrypted to another key,
                // and no -i option would help.
                (Mode::Passphrase, Error::NoMatchingIdentity(name)) => Error::EntryCorrupt {
                    name,
                    reason: "it is encrypted to another key than the vault's identity \
                             (the recipients line was edited)"
                        .to_owned(),
                },
                (_, e) => e,
            }
        })
    }

    /// The armored age ciphertext of an entry's seed record, for the stock `age` tool.
    pub fn sealed_seed(&self, name: &str) -> Result<&str> {
        Ok(&self.entry(name)?.seed)
    }

    /// nats-server.conf for every entry.
    pub fn render(&self, options: RenderOptions) -> String {
        render(&self.file.entries, options)
    }
}

/// The recipients as age's encryptor takes them.
fn dyn_recipients(recipients: &[age::x25519::Recipient]) -> Vec<&dyn age::Recipient> {
    recipients
        .iter()
        .map(|r| r as &dyn age::Recipient)
        .collect()
}

/// The current time as the vault writes it: RFC 3339 in UTC, to the second.
fn now() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

/// Where a vault reached through a symbolic link really lives. The rename of an
/// atomic write replaces whatever is at the path, so writing to the link itself
/// would turn it into a copy and leave the real vault without the change.
fn through_links(path: &Path) -> PathBuf {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned())
        }
        _ => path.to_owned(),
    }
}

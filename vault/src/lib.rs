//! The nkvault vault: NKEY user keys of a NATS deployment, each seed encrypted
//! with age, the public parts in the clear.
//!
//! The library owns everything that has to be right: the file format, key
//! generation, encryption and the binding of a seed to its entry, the
//! permissions model, rendering nats-server.conf, and atomic, locked writes.
//! The `nkvault` binary only talks to the person at the keyboard.
//!
//! ```
//! use nkvault_vault::{Name, Passphrase, Permissions, Protection, RenderOptions, Vault};
//!
//! # fn main() -> Result<(), nkvault_vault::Error> {
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("nkvault.toml");
//! let passphrase = Passphrase::new("correct horse battery staple".to_owned());
//! Vault::create(&path, Protection::Passphrase { passphrase, work_factor: 10 })?;
//!
//! // Adding needs no secret: the seed is encrypted to the vault's recipient.
//! let node1 = Name::new("node1")?;
//! Vault::update(&path, |vault| vault.add_users(&[node1], &Permissions::everything()))?;
//!
//! // Rendering needs no secret either.
//! let vault = Vault::open(&path)?;
//! assert!(vault.render(RenderOptions::default()).contains("# node1"));
//!
//! // Taking a seed out costs one scrypt.
//! let unlocked = vault.unlock_with_passphrase(&Passphrase::new(
//!     "correct horse battery staple".to_owned(),
//! ))?;
//! assert!(vault.seed(&unlocked, "node1")?.expose().starts_with("SU"));
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod crypto;
mod error;
mod format;
mod keys;
mod name;
mod permissions;
mod render;
mod secret;
mod store;
mod vault;

pub use crypto::{parse_recipient, read_recipients_file};
pub use error::{Error, Result};
pub use format::{Entry, KeyType, Mode, PreviousKey, FORMAT};
pub use keys::{public_key_of_user_seed, read_user_seed, PublicKey, SeedFileProblem, SeedProblem};
pub use name::{Name, MAX_NAME_LEN};
pub use permissions::{Permissions, Subject};
pub use render::{RenderOptions, DEFAULT_PORT};
pub use secret::{looks_like_secret, redact_secrets, Passphrase, Seed};
pub use store::{check_output_path, write_atomic, PendingWrite, Replace};
pub use vault::{EntryProblem, Protection, Rotation, Unlocked, Vault, VAULT_MODE};

/// The scrypt work factor of a new vault: what every age implementation accepts.
pub const DEFAULT_WORK_FACTOR: u8 = 18;
/// The smallest work factor accepted (fast, for tests and throwaway vaults).
pub const MIN_WORK_FACTOR: u8 = 10;
/// The largest work factor accepted, and the most the decryption will run.
pub const MAX_WORK_FACTOR: u8 = 22;
/// Every work factor accepted.
pub const WORK_FACTORS: std::ops::RangeInclusive<u8> = MIN_WORK_FACTOR..=MAX_WORK_FACTOR;

//! age encryption of seeds and of the vault's own identity.
//!
//! Every seed is its own armored age v1 file, so the stock `age` tool can
//! decrypt it with the right identity. The plaintext binds the seed to the
//! entry's name and public key:
//!
//! ```text
//! nkvault-seed v1
//! name node1
//! public-key UAI3…
//! seed SUAO…
//! ```
//!
//! so a ciphertext moved to another entry, or an entry whose clear part was
//! edited, is refused on decryption instead of handing out the wrong seed.

use std::io::{Read, Write};
use std::path::Path;

use age::armor::{ArmoredReader, ArmoredWriter, Format};
use age::secrecy::ExposeSecret;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::keys::{public_key_of_user_seed, PublicKey, SeedProblem};
use crate::name::Name;
use crate::secret::{Passphrase, Seed};

const BINDING_HEADER: &str = "nkvault-seed v1";

/// Parses an age X25519 recipient (`age1…`).
pub fn parse_recipient(text: &str) -> Result<age::x25519::Recipient> {
    text.trim()
        .parse::<age::x25519::Recipient>()
        .map_err(|_| Error::InvalidRecipient(shown(text)))
}

/// How an error names a string that is not a recipient: quoted, unless it
/// looks like a secret pasted in the wrong place (an age secret key or an
/// NKEY seed), which never reaches standard error.
fn shown(text: &str) -> String {
    let text = text.trim();
    let upper = text.to_ascii_uppercase();
    let secret_key = upper.contains("AGE-SECRET-KEY-") || upper.contains("AGE-PLUGIN-");
    let seed_like = text
        .split(|c: char| !c.is_ascii_alphanumeric())
        .any(|word| {
            word.len() >= 16
                && word.starts_with('S')
                && word.chars().all(|c| matches!(c, 'A'..='Z' | '2'..='7'))
        });
    if secret_key || seed_like {
        "(not shown: it looks like a secret key)".to_owned()
    } else {
        format!("{text:?}")
    }
}

/// The most a recipients file may hold; more is not a list of recipients.
const MAX_RECIPIENTS_FILE: u64 = 4 << 20;

/// Reads the recipients of a recipients file: one per line, `#` comments and
/// blank lines ignored, as `age -R` reads them.
///
/// A line that is not a recipient is named by its number, and shown only if it
/// starts with `age1`: a file given by mistake (an identity file, a seed, a
/// passphrase file) must not be copied to standard error.
pub fn read_recipients_file(path: &Path) -> Result<Vec<age::x25519::Recipient>> {
    let cannot_read = |e| Error::io("cannot read recipients file", path, e);
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(MAX_RECIPIENTS_FILE + 1).read_to_end(&mut bytes))
        .map_err(cannot_read)?;
    if bytes.len() as u64 > MAX_RECIPIENTS_FILE {
        return Err(cannot_read(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "it is larger than 4 MiB",
        )));
    }
    let text = String::from_utf8(bytes).map_err(|_| {
        cannot_read(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "it is not UTF-8 text",
        ))
    })?;
    let recipients = text
        .lines()
        .enumerate()
        .map(|(i, line)| (i + 1, line.trim()))
        .filter(|(_, line)| !line.is_empty() && !line.starts_with('#'))
        .map(|(number, line)| {
            line.parse::<age::x25519::Recipient>().map_err(|_| {
                let what = if line.starts_with("age1")
                    && line.chars().all(|c| c.is_ascii_alphanumeric())
                {
                    format!("{line:?} on line {number} of {}", path.display())
                } else {
                    format!("on line {number} of {} (not shown)", path.display())
                };
                Error::InvalidRecipient(what)
            })
        })
        .collect::<Result<Vec<_>>>()?;
    if recipients.is_empty() {
        return Err(cannot_read(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "it lists no recipient (age1…)",
        )));
    }
    Ok(recipients)
}

/// Reads the identities of an age identity file (`AGE-SECRET-KEY-1…` lines).
pub fn read_identity_file(path: &Path) -> Result<Vec<Box<dyn age::Identity>>> {
    let invalid = |reason: String| Error::InvalidIdentityFile {
        path: path.to_owned(),
        reason,
    };
    let file = age::IdentityFile::from_file(path.to_string_lossy().into_owned())
        .map_err(|e| invalid(e.to_string()))?;
    let identities = file.into_identities().map_err(|e| invalid(e.to_string()))?;
    if identities.is_empty() {
        return Err(invalid("it holds no identity".to_owned()));
    }
    Ok(identities)
}

/// Encrypts `plaintext` to `recipients` as an ASCII-armored age file.
fn encrypt(recipients: &[&dyn age::Recipient], plaintext: &[u8]) -> String {
    // Encrypting into memory cannot fail: the only errors age reports here
    // come from the writer (a Vec) or from mixing scrypt with other recipients,
    // which this module never does.
    let encryptor = age::Encryptor::with_recipients(recipients.iter().copied())
        .expect("recipients are never empty and never mix scrypt with others");
    let armor = ArmoredWriter::wrap_output(Vec::new(), Format::AsciiArmor).expect("in memory");
    let mut writer = encryptor.wrap_output(armor).expect("in memory");
    writer.write_all(plaintext).expect("in memory");
    let bytes = writer
        .finish()
        .and_then(|armor| armor.finish())
        .expect("in memory");
    let mut text = String::from_utf8(bytes).expect("armor is ASCII");
    // The armor writer grows its buffer well past the ~0.7 KB it fills; a
    // vault of 100,000 seeds would keep ~60 MB of that slack until saved.
    text.shrink_to_fit();
    text
}

/// Decrypts an armored age file into a buffer that is wiped on drop.
fn decrypt(
    armored: &str,
    identities: &[&dyn age::Identity],
) -> Result<Zeroizing<Vec<u8>>, age::DecryptError> {
    let decryptor = age::Decryptor::new(ArmoredReader::new(armored.as_bytes()))?;
    let mut reader = decryptor.decrypt(identities.iter().copied())?;
    let mut plaintext = Zeroizing::new(Vec::with_capacity(256));
    reader.read_to_end(&mut plaintext)?;
    Ok(plaintext)
}

/// Encrypts a seed, bound to its name and public key, to `recipients`.
pub(crate) fn seal_seed(
    recipients: &[&dyn age::Recipient],
    name: &Name,
    public_key: &PublicKey,
    seed: &Seed,
) -> String {
    let plaintext = Zeroizing::new(format!(
        "{BINDING_HEADER}\nname {name}\npublic-key {public_key}\nseed {}\n",
        seed.expose()
    ));
    encrypt(recipients, plaintext.as_bytes())
}

/// Decrypts an entry's seed and checks that it belongs to `name` and `public_key`.
pub(crate) fn open_seed(
    armored: &str,
    identities: &[&dyn age::Identity],
    name: &Name,
    public_key: &PublicKey,
) -> Result<Seed> {
    let corrupt = |reason: &str| Error::EntryCorrupt {
        name: name.to_string(),
        reason: reason.to_owned(),
    };
    let mismatch = |what| Error::BindingMismatch {
        name: name.to_string(),
        what,
    };

    let plaintext = decrypt(armored, identities).map_err(|e| match e {
        age::DecryptError::NoMatchingKeys => Error::NoMatchingIdentity(name.to_string()),
        // age's messages can span lines ("…\nHave you tried upgrading…"):
        // the first says what is wrong.
        other => corrupt(other.to_string().lines().next().unwrap_or("unreadable")),
    })?;
    let text = std::str::from_utf8(&plaintext).map_err(|_| corrupt("the plaintext is not text"))?;
    let mut lines = text.strip_suffix('\n').unwrap_or(text).split('\n');
    if lines.next() != Some(BINDING_HEADER) {
        return Err(corrupt("the plaintext is not an nkvault seed record"));
    }
    let mut field = |key: &str| {
        lines
            .next()
            .and_then(|line| line.strip_prefix(key))
            .and_then(|rest| rest.strip_prefix(' '))
    };
    let (Some(bound_name), Some(bound_key), Some(seed_text)) =
        (field("name"), field("public-key"), field("seed"))
    else {
        return Err(corrupt("the seed record is malformed"));
    };
    if lines.next().is_some() {
        return Err(corrupt("the seed record has extra lines"));
    }

    if bound_name != name.as_str() {
        return Err(mismatch("the encrypted record belongs to another name"));
    }
    if bound_key != public_key.as_str() {
        return Err(mismatch(
            "the encrypted record belongs to another public key",
        ));
    }
    match public_key_of_user_seed(seed_text) {
        Ok(derived) if derived == *public_key => {}
        Ok(_) => return Err(mismatch("the seed does not derive the public key")),
        Err(SeedProblem::NotUser) => return Err(corrupt("the seed is not a user seed")),
        Err(SeedProblem::Malformed) => return Err(corrupt("the seed is malformed")),
    }
    Ok(Seed::from_zeroizing(Zeroizing::new(seed_text.to_owned())))
}

/// Encrypts the vault's own X25519 identity with a passphrase (age scrypt).
pub(crate) fn seal_identity(
    identity: &age::x25519::Identity,
    passphrase: &Passphrase,
    work_factor: u8,
) -> String {
    let mut recipient = age::scrypt::Recipient::new(passphrase.to_secret());
    recipient.set_work_factor(work_factor);
    let secret = identity.to_string();
    encrypt(&[&recipient], secret.expose_secret().as_bytes())
}

/// Decrypts the vault's identity: the one scrypt a command runs.
pub(crate) fn open_identity(
    armored: &str,
    passphrase: &Passphrase,
    vault: &Path,
) -> Result<age::x25519::Identity> {
    let corrupt = |reason: String| Error::VaultCorrupt {
        path: vault.to_owned(),
        reason: format!("the passphrase-protected identity: {reason}"),
    };
    let mut scrypt = age::scrypt::Identity::new(passphrase.to_secret());
    scrypt.set_max_work_factor(crate::MAX_WORK_FACTOR);
    let plaintext = decrypt(armored, &[&scrypt]).map_err(|e| match e {
        age::DecryptError::NoMatchingKeys | age::DecryptError::DecryptionFailed => {
            Error::WrongPassphrase(vault.to_owned())
        }
        other => corrupt(other.to_string()),
    })?;
    let text = std::str::from_utf8(&plaintext).map_err(|_| corrupt("not text".to_owned()))?;
    text.trim()
        .parse::<age::x25519::Identity>()
        .map_err(|_| corrupt("not an age identity".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::generate_user;

    fn entry() -> (Name, PublicKey, Seed) {
        let (public_key, seed) = generate_user();
        (Name::new("node1").unwrap(), public_key, seed)
    }

    #[test]
    fn seed_round_trips() {
        let identity = age::x25519::Identity::generate();
        let (name, public_key, seed) = entry();
        let armored = seal_seed(&[&identity.to_public()], &name, &public_key, &seed);
        assert!(armored.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"));
        assert!(!armored.contains(seed.expose()));
        let opened = open_seed(&armored, &[&identity], &name, &public_key).unwrap();
        assert_eq!(opened.expose(), seed.expose());
    }

    #[test]
    fn binding_refuses_another_name_or_key() {
        let identity = age::x25519::Identity::generate();
        let (name, public_key, seed) = entry();
        let armored = seal_seed(&[&identity.to_public()], &name, &public_key, &seed);

        let other_name = Name::new("node2").unwrap();
        let err = open_seed(&armored, &[&identity], &other_name, &public_key).unwrap_err();
        assert!(err.to_string().contains("belongs to another name"), "{err}");

        let (other_key, _) = generate_user();
        let err = open_seed(&armored, &[&identity], &name, &other_key).unwrap_err();
        assert!(
            err.to_string().contains("belongs to another public key"),
            "{err}"
        );
    }

    #[test]
    fn binding_refuses_a_seed_that_does_not_derive_the_key() {
        // A record written by someone holding the vault's recipient, naming the
        // right entry and key but carrying another seed.
        let identity = age::x25519::Identity::generate();
        let (name, public_key, _) = entry();
        let (_, foreign_seed) = generate_user();
        let armored = seal_seed(&[&identity.to_public()], &name, &public_key, &foreign_seed);
        let err = open_seed(&armored, &[&identity], &name, &public_key).unwrap_err();
        assert!(err.to_string().contains("does not derive"), "{err}");
    }

    #[test]
    fn wrong_identity_is_reported_as_such() {
        let identity = age::x25519::Identity::generate();
        let stranger = age::x25519::Identity::generate();
        let (name, public_key, seed) = entry();
        let armored = seal_seed(&[&identity.to_public()], &name, &public_key, &seed);
        let err = open_seed(&armored, &[&stranger], &name, &public_key).unwrap_err();
        assert!(matches!(err, Error::NoMatchingIdentity(_)), "{err}");
    }

    #[test]
    fn identity_round_trips_and_refuses_a_wrong_passphrase() {
        let identity = age::x25519::Identity::generate();
        let armored = seal_identity(&identity, &Passphrase::new("right".into()), 10);
        let vault = Path::new("v.toml");
        let opened = open_identity(&armored, &Passphrase::new("right".into()), vault).unwrap();
        assert_eq!(
            opened.to_public().to_string(),
            identity.to_public().to_string()
        );
        let result = open_identity(&armored, &Passphrase::new("wrong".into()), vault);
        assert!(matches!(result, Err(Error::WrongPassphrase(_))));
    }
}

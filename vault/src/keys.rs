//! NKEY user keys: generating them and checking the ones read back.

use std::fmt;

use nkeys::{KeyPair, KeyPairType};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::secret::Seed;

/// The public half of an NKEY user key: 56 characters starting with `U`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct PublicKey(String);

impl PublicKey {
    /// Accepts only a well-formed public user key with a valid checksum.
    pub fn parse_user(text: &str) -> Result<Self, &'static str> {
        if !text.starts_with('U') {
            return Err("it is not a public user key (those start with 'U')");
        }
        // The encoding only: length, base32, checksum and type prefix, as
        // nats-server's own check does. Decompressing the curve point as well
        // (what `KeyPair::from_public_key` does) costs ~20 µs a key, most of
        // the time to read a large vault, and a key that passed these checks
        // but not that one is caught on export: its seed cannot derive it.
        match nkeys::from_public_key(text) {
            Ok((prefix, _)) if KeyPairType::from(prefix) == KeyPairType::User => {
                Ok(PublicKey(text.to_owned()))
            }
            Ok(_) => Err("it is not a public user key"),
            Err(_) => Err("it is not a valid NKEY (bad length, character or checksum)"),
        }
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        PublicKey::parse_user(&text)
            .map_err(|why| serde::de::Error::custom(format!("public key {text:?}: {why}")))
    }
}

/// Generates a new user key pair from the operating system's random source.
pub fn generate_user() -> (PublicKey, Seed) {
    let pair = KeyPair::new_user();
    let seed = pair
        .seed()
        .expect("a freshly generated key pair always has a seed");
    (
        PublicKey(pair.public_key()),
        Seed::from_zeroizing(Zeroizing::new(seed)),
    )
}

/// Why a seed read back is not a usable user seed. Never carries the seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedProblem {
    /// Wrong length, alphabet or checksum.
    Malformed,
    /// A valid seed of another key type (account, operator, …).
    NotUser,
}

/// Checks that `text` is a user seed and derives its public key.
pub fn public_key_of_user_seed(text: &str) -> Result<PublicKey, SeedProblem> {
    let pair = KeyPair::from_seed(text).map_err(|_| SeedProblem::Malformed)?;
    if pair.key_pair_type() != KeyPairType::User || !text.starts_with("SU") {
        return Err(SeedProblem::NotUser);
    }
    Ok(PublicKey(pair.public_key()))
}

/// Why the contents of a seed file (or of standard input) are not one user
/// seed. The messages never quote the input: it may be a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedFileProblem {
    /// Nothing, or only a newline.
    Empty,
    /// Spaces, tabs or other whitespace around the seed.
    Whitespace,
    /// More than the one trailing newline a seed file may end with.
    ExtraLines,
    /// Bytes that are neither the seed nor its newline (NUL, non-ASCII, …).
    StrayBytes,
    /// A public key where the seed should be.
    PublicKey,
    /// A valid seed of another type: the type's name.
    NotUser(&'static str),
    /// Wrong length, alphabet or checksum.
    Malformed,
}

impl fmt::Display for SeedFileProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SeedFileProblem::Empty => f.write_str("it is empty"),
            SeedFileProblem::Whitespace => f.write_str("it has whitespace around the seed"),
            SeedFileProblem::ExtraLines => {
                f.write_str("it has more than the seed and one trailing newline")
            }
            SeedFileProblem::StrayBytes => {
                f.write_str("it holds characters that cannot be in a seed")
            }
            SeedFileProblem::PublicKey => f.write_str("it holds a public key, not a seed"),
            SeedFileProblem::NotUser(kind) => write!(
                f,
                "it holds {kind} seed; only user seeds (SU…) belong in the vault"
            ),
            SeedFileProblem::Malformed => {
                f.write_str("it is not a valid seed (bad length, character or checksum)")
            }
        }
    }
}

/// Reads a user seed from the bytes of a seed file: exactly the seed, then at
/// most one `\n` or `\r\n`, as `nk -gen user` and nsc write them. Returns the
/// public key it derives and the seed. Nothing else is accepted: a file with
/// stray whitespace may not be the file the operator thinks it is.
pub fn read_user_seed(bytes: &[u8]) -> Result<(PublicKey, Seed), SeedFileProblem> {
    let body = bytes
        .strip_suffix(b"\r\n")
        .or_else(|| bytes.strip_suffix(b"\n"))
        .unwrap_or(bytes);
    if body.is_empty() {
        return Err(SeedFileProblem::Empty);
    }
    if body.contains(&b'\n') {
        return Err(SeedFileProblem::ExtraLines);
    }
    if body.iter().any(|b| b.is_ascii_whitespace()) {
        return Err(SeedFileProblem::Whitespace);
    }
    if !body.iter().all(u8::is_ascii_alphanumeric) {
        return Err(SeedFileProblem::StrayBytes);
    }
    let text = Zeroizing::new(String::from_utf8_lossy(body).into_owned());
    if KeyPair::from_public_key(&text).is_ok() {
        return Err(SeedFileProblem::PublicKey);
    }
    let pair = KeyPair::from_seed(&text).map_err(|_| SeedFileProblem::Malformed)?;
    if pair.key_pair_type() != KeyPairType::User || !text.starts_with("SU") {
        return Err(SeedFileProblem::NotUser(article_and_type(
            pair.key_pair_type(),
        )));
    }
    Ok((PublicKey(pair.public_key()), Seed::from_zeroizing(text)))
}

fn article_and_type(kind: KeyPairType) -> &'static str {
    match kind {
        KeyPairType::Operator => "an operator",
        KeyPairType::Account => "an account",
        KeyPairType::Server => "a server",
        KeyPairType::Cluster => "a cluster",
        KeyPairType::Module => "a module",
        KeyPairType::Curve => "a curve (xkey)",
        KeyPairType::Service => "a service",
        KeyPairType::User => "a user",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_seed_derives_its_public_key() {
        let (public, seed) = generate_user();
        assert!(seed.expose().starts_with("SU") && seed.expose().len() == 58);
        assert!(public.as_str().starts_with('U') && public.as_str().len() == 56);
        assert_eq!(public_key_of_user_seed(seed.expose()).unwrap(), public);
    }

    #[test]
    fn seed_files_take_one_trailing_newline_at_most() {
        let seed = "SUAOIZ425OJJYJXVBCU7T3T2PGTQGLY46VXSNU2O5QCDISXIHWFIIKRXKE";
        for ok in [seed.to_owned(), format!("{seed}\n"), format!("{seed}\r\n")] {
            assert!(read_user_seed(ok.as_bytes()).is_ok(), "{ok:?}");
        }
        let cases: [(String, SeedFileProblem); 6] = [
            (String::new(), SeedFileProblem::Empty),
            (format!("{seed}\n\n"), SeedFileProblem::ExtraLines),
            (format!(" {seed}"), SeedFileProblem::Whitespace),
            (format!("{seed}\0"), SeedFileProblem::StrayBytes),
            (
                "UAI3WZCY42TPJHVGCEPACJBKPOR4F57Y4MPXBGQ3HKV7KBFQ6JB3UCOO".to_owned(),
                SeedFileProblem::PublicKey,
            ),
            (
                "SAAD7LGOE4HBPZUTURKRNMM5EKEVTFSTUIPS6U2F6JPWZEI6EJDSNUBQXQ".to_owned(),
                SeedFileProblem::NotUser("an account"),
            ),
        ];
        for (input, problem) in cases {
            assert_eq!(
                read_user_seed(input.as_bytes()).unwrap_err(),
                problem,
                "{input:?}"
            );
        }
    }

    #[test]
    fn reference_vectors_agree_with_nk() {
        // Pairs made by the reference Go `nk` tool (shared/fixtures/nkeys/vectors.tsv).
        let seed = "SUAOIZ425OJJYJXVBCU7T3T2PGTQGLY46VXSNU2O5QCDISXIHWFIIKRXKE";
        let public = "UAI3WZCY42TPJHVGCEPACJBKPOR4F57Y4MPXBGQ3HKV7KBFQ6JB3UCOO";
        assert_eq!(public_key_of_user_seed(seed).unwrap().as_str(), public);
        assert!(PublicKey::parse_user(public).is_ok());
    }

    #[test]
    fn refuses_other_types_and_bad_checksums() {
        let account_seed = "SAAD7LGOE4HBPZUTURKRNMM5EKEVTFSTUIPS6U2F6JPWZEI6EJDSNUBQXQ";
        assert_eq!(
            public_key_of_user_seed(account_seed),
            Err(SeedProblem::NotUser)
        );
        let bad_checksum = "SUAOIZ425OJJYJXVBCU7T3T2PGTQGLY46VXSNU2O5QCDISXIHWFIIKRXKA";
        assert_eq!(
            public_key_of_user_seed(bad_checksum),
            Err(SeedProblem::Malformed)
        );
        assert!(
            PublicKey::parse_user("UAI3WZCY42TPJHVGCEPACJBKPOR4F57Y4MPXBGQ3HKV7KBFQ6JB3UCOA")
                .is_err()
        );
        assert!(
            PublicKey::parse_user("AAI3WZCY42TPJHVGCEPACJBKPOR4F57Y4MPXBGQ3HKV7KBFQ6JB3UCOO")
                .is_err()
        );
    }
}

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
        match KeyPair::from_public_key(text) {
            Ok(pair) if pair.key_pair_type() == KeyPairType::User => Ok(PublicKey(text.to_owned())),
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

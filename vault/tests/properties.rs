//! Properties of the vault format and rendering, over generated names and
//! permissions, through the library's public API.

use std::path::Path;

use nkvault_vault::{
    Error, Name, Passphrase, Permissions, Protection, RenderOptions, Subject, Vault,
};
use proptest::prelude::*;

fn passphrase() -> Passphrase {
    Passphrase::new("property tests".to_owned())
}

fn new_vault(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("nkvault.toml");
    Vault::create(
        &path,
        Protection::Passphrase {
            passphrase: passphrase(),
            work_factor: 10,
        },
    )
    .unwrap();
    path
}

fn name_strategy() -> impl Strategy<Value = String> {
    "[a-z0-9][a-z0-9._-]{0,20}"
}

fn subject_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(">".to_owned()),
        "[a-z]{1,6}(\\.[a-z*]{1,6}){0,3}".prop_filter("'*' is a whole token", |s| s
            .split('.')
            .all(|t| t == "*" || !t.contains('*'))),
        "[a-z]{1,6}\\.>",
    ]
}

fn permissions_strategy() -> impl Strategy<Value = Permissions> {
    let list = || proptest::collection::vec(subject_strategy(), 0..3);
    (list(), list(), list(), list(), any::<bool>()).prop_map(|(p, s, dp, ds, r)| {
        Permissions::from_options(&p, &s, &dp, &ds, r).expect("generated subjects are valid")
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Reading a vault and writing it back changes no byte, and rendering it
    /// twice gives the same config: the file diffs only where the fleet changed.
    #[test]
    fn vault_round_trips_and_renders_deterministically(
        names in proptest::collection::btree_set(name_strategy(), 1..6),
        permissions in permissions_strategy(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = new_vault(dir.path());
        let names: Vec<Name> = names.iter().map(|n| Name::new(n).unwrap()).collect();
        Vault::update(&path, |vault| vault.add_users(&names, &permissions)).unwrap();

        let written = std::fs::read(&path).unwrap();
        let vault = Vault::open(&path).unwrap();
        vault.save().unwrap();
        prop_assert_eq!(std::fs::read(&path).unwrap(), written);

        let reopened = Vault::open(&path).unwrap();
        let options = RenderOptions::default();
        prop_assert_eq!(vault.render(options), reopened.render(options));
        for entry in reopened.entries() {
            prop_assert_eq!(&entry.permissions, &permissions);
        }
        let listed: Vec<&str> = reopened.entries().iter().map(|e| e.name.as_str()).collect();
        let mut sorted = listed.clone();
        sorted.sort();
        prop_assert_eq!(listed, sorted);
    }

    /// Any name the rules accept survives the file; anything else is refused
    /// before it reaches the file.
    #[test]
    fn names_are_accepted_exactly_by_the_rules(text in "\\PC{0,70}") {
        let valid = !text.is_empty()
            && text.len() <= 64
            && text.starts_with(|c: char| c.is_ascii_alphanumeric())
            && text.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        prop_assert_eq!(Name::new(&text).is_ok(), valid);
    }

    /// A subject that passes validation is one nats-server can take double-quoted.
    #[test]
    fn accepted_subjects_are_safe_to_quote(text in "\\PC{0,30}") {
        if let Ok(subject) = Subject::new(&text) {
            prop_assert!(!subject.as_str().contains(['"', '\\', ' ', '\n']));
            prop_assert!(!subject.as_str().split('.').any(str::is_empty));
        }
    }
}

#[test]
fn every_seed_decrypts_to_its_own_entry() {
    let dir = tempfile::tempdir().unwrap();
    let path = new_vault(dir.path());
    let names: Vec<Name> = ["c", "a", "b"]
        .iter()
        .map(|n| Name::new(n).unwrap())
        .collect();
    let keys = Vault::update(&path, |vault| {
        vault.add_users(&names, &Permissions::everything())
    })
    .unwrap();

    let vault = Vault::open(&path).unwrap();
    let unlocked = vault.unlock_with_passphrase(&passphrase()).unwrap();
    for (name, key) in names.iter().zip(&keys) {
        let seed = vault.seed(&unlocked, name.as_str()).unwrap();
        let derived = nkvault_vault::public_key_of_user_seed(seed.expose()).unwrap();
        assert_eq!(&derived, key);
    }
}

#[test]
fn a_failed_batch_add_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = new_vault(dir.path());
    let first = [Name::new("node1").unwrap()];
    Vault::update(&path, |vault| {
        vault.add_users(&first, &Permissions::everything())
    })
    .unwrap();
    let before = std::fs::read(&path).unwrap();

    let batch = [Name::new("node2").unwrap(), Name::new("node1").unwrap()];
    let err = Vault::update(&path, |vault| {
        vault.add_users(&batch, &Permissions::everything())
    })
    .unwrap_err();
    assert!(
        matches!(err, Error::DuplicateName(ref name) if name == "node1"),
        "{err}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

//! The lifecycle commands on a real terminal: nkvault under a pseudo-terminal
//! (rexpect). `remove` asks before it removes, `import NAME` asks for the
//! seed without echoing it, `passwd` asks the old passphrase then the new one
//! twice.

mod common;

use common::pty::{answer_hidden, finish, spawn};
use common::{Scratch, PASSPHRASE};
use rexpect::session::PtySession;

/// The new passphrase typed in these tests; distinct from the file's.
const TYPED: &str = "typed on the keyboard 7";

/// Waits for the confirmation question, then sends `keys` as typed.
fn answer_question(session: &mut PtySession, question: &str, keys: &str) {
    session
        .exp_string(question)
        .unwrap_or_else(|e| panic!("no {question:?} question: {e}"));
    session.send(keys).unwrap();
    session.flush().unwrap();
}

/// The names in `list --json`.
fn names(scratch: &Scratch) -> Vec<String> {
    let output = scratch.nkvault().args(["list", "--json"]).output().unwrap();
    assert!(output.status.success(), "{}", common::stderr(&output));
    let list: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    list.as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_owned())
        .collect()
}

fn vault_with_two() -> Scratch {
    let scratch = Scratch::new();
    scratch.init();
    scratch.add(&["node1", "node2"]);
    scratch
}

const REMOVE_NODE1: &str = "Remove \"node1\" from the vault?";

// ---------------------------------------------------------------------------
// remove
// ---------------------------------------------------------------------------

#[test]
fn remove_answered_no_removes_nothing() {
    let scratch = vault_with_two();
    let before = scratch.snapshot();
    let mut session = spawn(&scratch, &["remove", "node1"]);
    answer_question(&mut session, REMOVE_NODE1, "n");
    let (rest, status) = finish(session);
    assert_eq!(status, 1, "{rest}");
    assert!(
        rest.contains("nkvault: error: not confirmed; nothing was removed"),
        "{rest}"
    );
    assert!(!rest.contains("panicked"), "{rest}");
    assert_eq!(scratch.snapshot(), before);
    assert_eq!(names(&scratch), ["node1", "node2"]);
}

#[test]
fn remove_answered_with_enter_defaults_to_no() {
    let scratch = vault_with_two();
    let before = scratch.snapshot();
    let mut session = spawn(&scratch, &["remove", "node1", "node2"]);
    answer_question(
        &mut session,
        "Remove 2 entries (node1, node2) from the vault?",
        "\r",
    );
    let (rest, status) = finish(session);
    assert_eq!(status, 1, "{rest}");
    assert!(
        rest.contains("not confirmed; nothing was removed"),
        "{rest}"
    );
    assert_eq!(scratch.snapshot(), before);
    assert_eq!(names(&scratch), ["node1", "node2"]);
}

#[test]
fn remove_answered_yes_removes() {
    let scratch = vault_with_two();
    let mut session = spawn(&scratch, &["remove", "node1"]);
    answer_question(&mut session, REMOVE_NODE1, "y");
    let (rest, status) = finish(session);
    assert_eq!(status, 0, "{rest}");
    assert!(rest.contains("removed node1 (U"), "{rest}");
    assert_eq!(names(&scratch), ["node2"]);
}

#[test]
fn remove_of_an_unknown_name_asks_nothing() {
    let scratch = vault_with_two();
    let before = scratch.snapshot();
    let session = spawn(&scratch, &["remove", "node1", "nodeX"]);
    let (rest, status) = finish(session);
    assert_eq!(status, 1, "{rest}");
    assert!(rest.contains("no entry named \"nodeX\""), "{rest}");
    assert!(!rest.contains("Remove "), "asked anyway: {rest}");
    assert_eq!(scratch.snapshot(), before);
}

// ---------------------------------------------------------------------------
// import
// ---------------------------------------------------------------------------

#[test]
fn import_asks_for_the_seed_and_never_echoes_it() {
    let scratch = Scratch::new();
    scratch.init();
    let pair = nkeys::KeyPair::new_user();
    let seed = pair.seed().unwrap();

    let mut session = spawn(&scratch, &["import", "node1"]);
    answer_hidden(&mut session, "Seed for node1 (input hidden):", &seed);
    let (rest, status) = finish(session);
    assert_eq!(status, 0, "{rest}");
    assert!(rest.contains(&pair.public_key()), "{rest}");
    assert!(!rest.contains(&seed), "the seed was echoed: {rest}");
    assert!(!rest.contains("still on disk"), "{rest}");
    assert_eq!(scratch.seed("node1"), seed);
}

#[test]
fn import_of_a_typed_bad_seed_fails_without_showing_it() {
    let scratch = Scratch::new();
    scratch.init();
    let before = scratch.snapshot();
    // An account seed typed where a user seed was asked for.
    let typed = nkeys::KeyPair::new_account().seed().unwrap();
    let mut session = spawn(&scratch, &["import", "node1"]);
    answer_hidden(&mut session, "Seed for node1 (input hidden):", &typed);
    let (rest, status) = finish(session);
    assert_eq!(status, 1, "{rest}");
    assert!(
        rest.contains(
            "nkvault: error: cannot import the seed on standard input: it holds an account seed"
        ),
        "{rest}"
    );
    assert!(!rest.contains(&typed), "the seed was shown: {rest}");
    assert_eq!(scratch.snapshot(), before);
}

// ---------------------------------------------------------------------------
// passwd
// ---------------------------------------------------------------------------

#[test]
fn passwd_asks_the_old_passphrase_then_the_new_one_twice() {
    let scratch = vault_with_two();
    let seed = scratch.seed("node1");

    let mut session = spawn(&scratch, &["passwd"]);
    answer_hidden(&mut session, "Passphrase:", PASSPHRASE);
    answer_hidden(&mut session, "New passphrase:", TYPED);
    answer_hidden(&mut session, "Same passphrase again:", TYPED);
    let (rest, status) = finish(session);
    assert_eq!(status, 0, "{rest}");
    assert!(
        rest.contains("changed the passphrase of nkvault.toml"),
        "{rest}"
    );
    assert!(
        !rest.contains(PASSPHRASE) && !rest.contains(TYPED),
        "a passphrase was echoed: {rest}"
    );

    // The typed passphrase is the vault's now; the old one is not.
    let old = scratch
        .with_passphrase()
        .args(["export-env", "node1"])
        .output()
        .unwrap();
    assert_eq!(old.status.code(), Some(1));
    assert!(common::stderr(&old).contains("wrong passphrase"));
    common::write_private(&scratch.path("pass"), format!("{TYPED}\n"));
    assert_eq!(scratch.seed("node1"), seed);
}

#[test]
fn passwd_with_two_different_new_passphrases_changes_nothing() {
    let scratch = vault_with_two();
    let before = scratch.snapshot();
    let mut session = spawn(&scratch, &["passwd"]);
    answer_hidden(&mut session, "Passphrase:", PASSPHRASE);
    answer_hidden(&mut session, "New passphrase:", TYPED);
    answer_hidden(&mut session, "Same passphrase again:", "something else");
    let (rest, status) = finish(session);
    assert_eq!(status, 1, "{rest}");
    assert!(
        rest.contains("nkvault: error: the two passphrases differ; nothing was changed"),
        "{rest}"
    );
    assert!(!rest.contains(TYPED) && !rest.contains("something else"));
    assert_eq!(scratch.snapshot(), before);
    assert_eq!(scratch.files(), ["nkvault.toml", "pass"]);
    // The old passphrase still opens it.
    assert!(scratch.seed("node1").starts_with("SU"));
}

#[test]
fn passwd_with_a_wrong_typed_old_passphrase_asks_no_new_one() {
    let scratch = vault_with_two();
    let before = scratch.snapshot();
    let mut session = spawn(&scratch, &["passwd"]);
    answer_hidden(&mut session, "Passphrase:", TYPED);
    let (rest, status) = finish(session);
    assert_eq!(status, 1, "{rest}");
    assert!(
        rest.contains("nkvault: error: wrong passphrase for nkvault.toml"),
        "{rest}"
    );
    assert!(!rest.contains("New passphrase"), "{rest}");
    assert_eq!(scratch.snapshot(), before);
}

//! Passphrases typed on a real terminal: nkvault under a pseudo-terminal
//! (rexpect), asked twice for a new vault, once to export, never echoed.

mod common;

use common::pty::{answer_hidden as answer, echo_on, finish, spawn, spawn_program};
use common::{Scratch, PASSPHRASE};

/// What nkvault is typed at in these tests; distinct from the file's passphrase.
const TYPED: &str = "typed on the keyboard 7";

#[test]
fn the_pty_echoes_what_is_typed_unless_the_program_turns_it_off() {
    // Guards the other tests: they would prove nothing on a terminal that
    // never echoes. The shell reads nothing after `ready`, so whatever shows
    // up is the line discipline's echo.
    let scratch = Scratch::new();
    let mut session = spawn_program(&scratch, "sh", &["-c", "echo ready; sleep 5"]);
    session.exp_string("ready").unwrap();
    assert!(echo_on(&session), "the test terminal does not echo");
    session.send_line("visible-probe").unwrap();
    session.exp_string("visible-probe").unwrap();
}

#[test]
fn init_asks_twice_and_never_echoes() {
    let scratch = Scratch::new();
    let mut session = spawn(&scratch, &["init", "--work-factor", "10"]);
    answer(&mut session, "New passphrase:", TYPED);
    answer(&mut session, "Same passphrase again:", TYPED);
    let (rest, status) = finish(session);
    assert_eq!(status, 0, "{rest}");
    assert!(rest.contains("created nkvault.toml"), "{rest}");
    assert!(!rest.contains(TYPED), "the passphrase was echoed: {rest}");
    assert!(scratch.vault().is_file());

    // The typed passphrase is the vault's: it opens it from a file too.
    scratch.add(&["node1"]);
    common::write_private(&scratch.path("pass"), format!("{TYPED}\n"));
    assert!(scratch.seed("node1").starts_with("SU"));
}

#[test]
fn init_with_two_different_passphrases_makes_no_vault() {
    let scratch = Scratch::new();
    let mut session = spawn(&scratch, &["init", "--work-factor", "10"]);
    answer(&mut session, "New passphrase:", TYPED);
    answer(&mut session, "Same passphrase again:", "something else");
    let (rest, status) = finish(session);
    assert_eq!(status, 1, "{rest}");
    assert!(
        rest.contains("nkvault: error: the two passphrases differ; nothing was changed"),
        "{rest}"
    );
    assert!(
        !rest.contains(TYPED) && !rest.contains("something else"),
        "{rest}"
    );
    assert!(!rest.contains("panicked"), "{rest}");
    assert_eq!(scratch.files(), ["pass"], "a file was left behind");
}

#[test]
fn init_with_an_empty_passphrase_is_refused() {
    let scratch = Scratch::new();
    let mut session = spawn(&scratch, &["init", "--work-factor", "10"]);
    answer(&mut session, "New passphrase:", "");
    answer(&mut session, "Same passphrase again:", "");
    let (rest, status) = finish(session);
    assert_eq!(status, 1, "{rest}");
    assert!(
        rest.contains("nkvault: error: the passphrase is empty"),
        "{rest}"
    );
    assert!(rest.contains("nkvault: hint: "), "{rest}");
    assert_eq!(scratch.files(), ["pass"], "a file was left behind");
}

#[test]
fn export_env_asks_once_and_prints_the_seed() {
    let scratch = Scratch::new();
    scratch.init();
    scratch.add(&["node1"]);
    let expected = scratch.seed("node1");

    let mut session = spawn(&scratch, &["export-env", "node1"]);
    answer(&mut session, "Passphrase:", PASSPHRASE);
    let (rest, status) = finish(session);
    assert_eq!(status, 0, "{rest}");
    assert!(rest.contains(&format!("NKEY_SEED={expected}")), "{rest}");
    assert!(
        !rest.contains(PASSPHRASE),
        "the passphrase was echoed: {rest}"
    );
    assert!(
        !rest.contains("Same passphrase"),
        "asked twice to unlock: {rest}"
    );
}

#[test]
fn export_file_asks_on_the_terminal_and_writes_the_file() {
    let scratch = Scratch::new();
    scratch.init();
    scratch.add(&["node1"]);
    let expected = scratch.seed("node1");

    let mut session = spawn(&scratch, &["export-file", "node1", "-o", "seed.txt"]);
    answer(&mut session, "Passphrase:", PASSPHRASE);
    let (rest, status) = finish(session);
    assert_eq!(status, 0, "{rest}");
    assert!(
        !rest.contains(&expected),
        "the seed went to the terminal: {rest}"
    );
    assert!(!rest.contains(PASSPHRASE), "{rest}");
    assert_eq!(
        std::fs::read_to_string(scratch.path("seed.txt")).unwrap(),
        format!("{expected}\n")
    );
}

#[test]
fn export_env_with_a_wrong_typed_passphrase_fails() {
    let scratch = Scratch::new();
    scratch.init();
    scratch.add(&["node1"]);
    let before = scratch.snapshot();

    let mut session = spawn(&scratch, &["export-env", "node1"]);
    answer(&mut session, "Passphrase:", TYPED);
    let (rest, status) = finish(session);
    assert_eq!(status, 1, "{rest}");
    assert!(
        rest.contains("nkvault: error: wrong passphrase for nkvault.toml"),
        "{rest}"
    );
    assert!(
        !rest.contains("NKEY_SEED") && !rest.contains("SU"),
        "{rest}"
    );
    assert!(!rest.contains(TYPED), "the passphrase was echoed: {rest}");
    assert_eq!(scratch.snapshot(), before);
    assert_eq!(scratch.files(), ["nkvault.toml", "pass"]);
}

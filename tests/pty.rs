//! Passphrases typed on a real terminal: nkvault under a pseudo-terminal
//! (rexpect), asked twice for a new vault, once to export, never echoed.

mod common;

use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};

use common::{Scratch, BIN, PASSPHRASE};
use rexpect::process::WaitStatus;
use rexpect::session::{spawn_command, PtySession};

/// What nkvault is typed at in these tests; distinct from the file's passphrase.
const TYPED: &str = "typed on the keyboard 7";

/// nkvault under a new pseudo-terminal, in the scratch directory.
///
/// rexpect turns the terminal's echo off before starting the child; it is
/// turned back on here, as on a real terminal, so that only nkvault itself can
/// keep a passphrase from being echoed.
fn spawn(scratch: &Scratch, args: &[&str]) -> PtySession {
    spawn_program(scratch, BIN, args)
}

fn spawn_program(scratch: &Scratch, program: &str, args: &[&str]) -> PtySession {
    let mut command = std::process::Command::new(program);
    command
        .current_dir(scratch.dir.path())
        .args(args)
        .env("TERM", "dumb");
    for var in [
        "NKVAULT_VAULT",
        "NKVAULT_PASSPHRASE_FILE",
        "NKVAULT_IDENTITY",
    ] {
        command.env_remove(var);
    }
    // SAFETY: tcgetattr and tcsetattr are async-signal-safe; the termios value
    // lives on the child's stack.
    unsafe {
        command.pre_exec(|| {
            let mut termios: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut termios) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            termios.c_lflag |= libc::ECHO;
            if libc::tcsetattr(0, libc::TCSANOW, &termios) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    spawn_command(command, Some(20_000)).expect("nkvault under a pty")
}

/// Whether the terminal echoes what is typed, read from the master side.
fn echo_on(session: &PtySession) -> bool {
    let handle = session.process().get_file_handle().unwrap();
    // SAFETY: a zeroed termios is a valid value for tcgetattr to fill in.
    let mut termios: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: the descriptor is open for the duration of the call.
    let rc = unsafe { libc::tcgetattr(handle.as_raw_fd(), &mut termios) };
    assert_eq!(rc, 0, "tcgetattr: {}", std::io::Error::last_os_error());
    termios.c_lflag & libc::ECHO != 0
}

/// Waits for `prompt`, then for nkvault to turn the echo off, then types `text`.
fn answer(session: &mut PtySession, prompt: &str, text: &str) {
    session
        .exp_string(prompt)
        .unwrap_or_else(|e| panic!("no {prompt:?} prompt: {e}"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while echo_on(session) {
        assert!(
            Instant::now() < deadline,
            "the echo stayed on at {prompt:?}: the passphrase would be shown"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    session.send_line(text).unwrap();
}

/// Everything printed until the end, and the exit status.
fn finish(mut session: PtySession) -> (String, i32) {
    let rest = session.exp_eof().expect("nkvault to finish");
    let status = match session.process().wait().unwrap() {
        WaitStatus::Exited(_, code) => code,
        other => panic!("nkvault did not exit normally: {other:?}"),
    };
    (rest, status)
}

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

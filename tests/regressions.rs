//! One regression test per fix of the attack on the new commands (commit
//! 4fab6f8): seed-like names, secrets with characters stuck on, exec's
//! environment, interpreted variables, FIFOs and non-UTF-8 names in
//! `import --dir`, `--reload` of a process that only looks like nats-server,
//! output failures after a saved change, repeated keys and recipients,
//! multi-line age errors in `verify`, the identity-file hint, and `passwd`
//! with the same passphrase. Each test fails on the code before the fix.

mod common;

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use common::tools::nats_servers;
use common::{keygen, stderr, stdout, write_private, Scratch};
use serde_json::Value;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// Runs a command that must succeed; returns its output.
fn ok(command: &mut Command) -> Output {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "status {:?}, stderr: {}",
        output.status,
        stderr(&output)
    );
    assert!(!stderr(&output).contains("panicked"), "{}", stderr(&output));
    output
}

/// A fresh user seed, as `nk -gen user` makes one.
fn new_seed() -> String {
    let seed = nkeys::KeyPair::new_user().seed().unwrap();
    assert!(seed.starts_with("SU") && seed.len() == 58, "{seed}");
    seed
}

/// The public key a seed derives.
fn key_of(seed: &str) -> String {
    nkeys::KeyPair::from_seed(seed).unwrap().public_key()
}

/// Panics if `text` shows any 16 characters in a row of `secret`, in any
/// case: a secret with characters stuck on, or cut, is still that secret.
fn assert_not_shown(text: &str, secret: &str, what: &str) {
    let text = text.to_ascii_uppercase();
    let secret = secret.to_ascii_uppercase();
    let secret = secret.as_bytes();
    for window in secret.windows(16) {
        let window = std::str::from_utf8(window).unwrap();
        assert!(
            !text.contains(window),
            "{what}: {window:?} was shown: {text}"
        );
    }
}

/// A passphrase-mode vault with `names` in it.
fn vault_with(names: &[&str]) -> Scratch {
    let scratch = Scratch::new();
    scratch.init();
    scratch.add(names);
    scratch
}

/// `list --json`, parsed.
fn list_json(scratch: &Scratch) -> Value {
    let output = ok(scratch.nkvault().args(["list", "--json"]));
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The names and public keys `list --json` shows, in order.
fn listed(scratch: &Scratch) -> Vec<(String, String)> {
    list_json(scratch)
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_owned(),
                e["public_key"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The names `list --json` shows, in order.
fn listed_names(scratch: &Scratch) -> Vec<String> {
    listed(scratch).into_iter().map(|(name, _)| name).collect()
}

/// The AGE-SECRET-KEY-1… line of an identity file made by [`keygen`].
fn secret_key_of(scratch: &Scratch, file: &str) -> String {
    fs::read_to_string(scratch.path(file))
        .unwrap()
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-1"))
        .unwrap()
        .to_owned()
}

/// A recipients-mode vault for the identity `me.key` (made here), with
/// entries `names`; the recipient.
fn recipients_vault(names: &[&str]) -> (Scratch, String) {
    let scratch = Scratch::new();
    let recipient = keygen(&scratch, "me.key");
    ok(scratch.nkvault().args(["init", "-r", &recipient]));
    if !names.is_empty() {
        scratch.add(names);
    }
    (scratch, recipient)
}

/// `recipients list --json`, the recipients.
fn recipients_of(scratch: &Scratch) -> Vec<String> {
    let output = ok(scratch.nkvault().args(["recipients", "list", "--json"]));
    let listed: Value = serde_json::from_slice(&output.stdout).unwrap();
    listed["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect()
}

/// A seed file `file` in the scratch directory, mode 0600.
fn seed_file(scratch: &Scratch, file: &str, seed: &str) {
    write_private(&scratch.path(file), format!("{seed}\n"));
}

/// Makes the directory `dir` in the scratch directory.
fn seed_dir(scratch: &Scratch, dir: &str) -> std::path::PathBuf {
    let path = scratch.path(dir);
    fs::create_dir(&path).unwrap();
    path
}

/// A child process that is killed if the test ends before it did.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Waits for `child` at most `limit`; kills it and panics if it is still
/// running then. Returns its status, stdout and stderr.
fn wait_with_deadline(child: Child, limit: Duration, what: &str) -> (Option<i32>, String, String) {
    let mut child = KillOnDrop(child);
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.0.kill();
            let _ = child.0.wait();
            panic!("{what} still ran after {limit:?}: killed");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut out = String::new();
    let mut err = String::new();
    if let Some(mut pipe) = child.0.stdout.take() {
        std::io::Read::read_to_string(&mut pipe, &mut out).unwrap();
    }
    if let Some(mut pipe) = child.0.stderr.take() {
        std::io::Read::read_to_string(&mut pipe, &mut err).unwrap();
    }
    (status.code(), out, err)
}

/// nkvault `args` in the scratch directory with standard output on
/// /dev/full, so that every write to it fails with ENOSPC.
fn run_into_dev_full(scratch: &Scratch, args: &[&str]) -> (Option<i32>, String) {
    let full = fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let output = scratch
        .std_nkvault()
        .args(args)
        .stdin(Stdio::null())
        .stdout(full)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    (output.status.code(), stderr(&output))
}

// ---------------------------------------------------------------------------
// 1. A seed where a name belongs
// ---------------------------------------------------------------------------

#[test]
fn a_seed_given_as_a_name_is_refused_and_never_shown() {
    let scratch = vault_with(&["node1"]);
    let seed = new_seed();
    seed_file(&scratch, "other.nk", &new_seed());
    for name in [seed.clone(), seed.to_lowercase()] {
        let adds = scratch.fails(
            scratch.with_passphrase().args(["add", &name]),
            1,
            "invalid name",
        );
        let imports = scratch.fails(
            scratch
                .with_passphrase()
                .args(["import", &name, "--from-file", "other.nk"]),
            1,
            "invalid name",
        );
        for output in [adds, imports] {
            let err = stderr(&output);
            assert!(err.contains("looks like a seed"), "{err}");
            assert_not_shown(&err, &seed, "stderr");
            assert_not_shown(&stdout(&output), &seed, "stdout");
        }
    }
    assert_eq!(listed_names(&scratch), ["node1"]);
}

// ---------------------------------------------------------------------------
// 2. Secrets with characters stuck on
// ---------------------------------------------------------------------------

#[test]
fn secrets_with_characters_stuck_on_are_never_quoted_back() {
    let scratch = vault_with(&["node1"]);
    let seed = new_seed();
    for (args, status) in [
        (vec!["rotate".to_owned(), format!("x{seed}")], 1),
        (vec!["show".to_owned(), format!("{seed}x")], 1),
        (vec!["show".to_owned(), format!("{seed}-9")], 1),
    ] {
        let output = scratch.with_passphrase().args(&args).output().unwrap();
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(status), "{args:?}: {err}");
        assert!(err.starts_with("nkvault: error: "), "{args:?}: {err}");
        assert_not_shown(&err, &seed, &format!("{args:?}"));
        assert_not_shown(&stdout(&output), &seed, &format!("{args:?}"));
    }
    assert_eq!(listed_names(&scratch), ["node1"]);

    let (scratch, _) = recipients_vault(&["node1"]);
    keygen(&scratch, "other.key");
    let secret = secret_key_of(&scratch, "other.key");
    // The `-` after KEY lost: a secret key all the same.
    let mangled = secret.replacen("AGE-SECRET-KEY-1", "AGE-SECRET-KEY1", 1);
    let payload = &secret["AGE-SECRET-KEY-1".len()..];
    for (recipient, secret) in [
        (format!("{seed}9"), seed.as_str()),
        (format!("{}9", seed.to_lowercase()), seed.as_str()),
        (mangled.clone(), payload),
        (mangled.to_lowercase(), payload),
    ] {
        let output = scratch.fails(
            scratch
                .nkvault()
                .args(["-i", "me.key", "recipients", "add", "-r", &recipient]),
            1,
            "invalid recipient",
        );
        assert_not_shown(&stderr(&output), secret, &recipient);
        assert!(
            !stderr(&output)
                .to_ascii_uppercase()
                .contains("AGE-SECRET-KEY"),
            "{}",
            stderr(&output)
        );
    }
}

// ---------------------------------------------------------------------------
// 3. exec keeps the unlock settings to itself
// ---------------------------------------------------------------------------

/// Checks the output of `exec NAME -- env`: NKEY_SEED_FILE is set, none of
/// nkvault's unlock settings is.
fn assert_env_without_unlock_settings(output: &Output) {
    let out = stdout(output);
    assert!(
        out.lines().any(|l| l.starts_with("NKEY_SEED_FILE=")),
        "no NKEY_SEED_FILE: {out}"
    );
    for var in [
        "NKVAULT_PASSPHRASE_FILE",
        "NKVAULT_IDENTITY",
        "NKVAULT_NEW_PASSPHRASE_FILE",
    ] {
        assert!(
            !out.lines().any(|l| l.starts_with(&format!("{var}="))),
            "{var} reached the command: {out}"
        );
    }
}

#[test]
fn exec_does_not_pass_the_unlock_settings_on() {
    let scratch = vault_with(&["node1"]);
    let output = ok(scratch
        .nkvault()
        .env("NKVAULT_PASSPHRASE_FILE", "pass")
        .env("NKVAULT_NEW_PASSPHRASE_FILE", "pass")
        .args(["exec", "node1", "--", "env"]));
    assert_env_without_unlock_settings(&output);

    let (scratch, _) = recipients_vault(&["node1"]);
    let output = ok(scratch
        .nkvault()
        .env("NKVAULT_IDENTITY", "me.key")
        .args(["exec", "node1", "--", "env"]));
    assert_env_without_unlock_settings(&output);
}

// ---------------------------------------------------------------------------
// 4. --var refuses variables that shells and interpreters read
// ---------------------------------------------------------------------------

#[test]
fn var_refuses_interpreted_variables_before_any_passphrase_is_read() {
    let scratch = vault_with(&["node1"]);
    // A passphrase read would fail with 1, "cannot read passphrase file".
    let missing = ["--passphrase-file", "no-such-file"];
    for var in [
        "BASH_ENV",
        "ENV",
        "LD_PRELOAD",
        "PATH",
        "PYTHONSTARTUP",
        "NODE_OPTIONS",
    ] {
        for args in [
            vec!["exec", "node1", "--var", var, "--", "env"],
            vec!["exec", "node1", "--env", "--var", var, "--", "env"],
            vec!["export-env", "node1", "--var", var],
        ] {
            let output = scratch.fails(
                scratch.nkvault().args(missing).args(&args),
                2,
                "read by shells",
            );
            let err = stderr(&output);
            assert!(!err.contains("passphrase file"), "{args:?}: {err}");
            assert!(output.stdout.is_empty(), "{args:?}: {}", stdout(&output));
        }
    }

    // A variable of one's own still works.
    let seed = scratch.seed("node1");
    let output = ok(scratch
        .with_passphrase()
        .args(["export-env", "node1", "--var", "CTRL_SEED"]));
    assert_eq!(stdout(&output), format!("CTRL_SEED={seed}\n"));
    let output = ok(scratch.with_passphrase().args([
        "exec",
        "node1",
        "--env",
        "--var",
        "CTRL_SEED",
        "--",
        "env",
    ]));
    assert!(
        stdout(&output)
            .lines()
            .any(|l| l == format!("CTRL_SEED={seed}")),
        "no CTRL_SEED in the environment"
    );
}

// ---------------------------------------------------------------------------
// 5. import --dir and a FIFO
// ---------------------------------------------------------------------------

#[test]
fn import_dir_skips_a_fifo_instead_of_hanging() {
    let scratch = vault_with(&["node1"]);
    let dir = seed_dir(&scratch, "seeds");
    let seed = new_seed();
    write_private(&dir.join("a.nk"), format!("{seed}\n"));
    let fifo = std::ffi::CString::new(dir.join("x.nk").as_os_str().as_bytes()).unwrap();
    // SAFETY: mkfifo reads a NUL-terminated path that outlives the call.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);

    let child = scratch
        .std_nkvault()
        .args(["import", "--dir", "seeds"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (status, out, err) = wait_with_deadline(child, Duration::from_secs(10), "import --dir");
    assert_eq!(status, Some(0), "stderr: {err}");
    assert!(
        err.contains("skipped seeds/x.nk: not a regular file"),
        "{err}"
    );
    assert!(out.contains(&key_of(&seed)), "{out}");
    let names = listed(&scratch);
    assert!(
        names.contains(&("a".to_owned(), key_of(&seed))),
        "{names:?}"
    );
    assert_eq!(names.len(), 2, "{names:?}");
}

// ---------------------------------------------------------------------------
// 6. --reload signals only nats-server
// ---------------------------------------------------------------------------

#[cfg(target_os = "linux")]
#[test]
fn reload_does_not_signal_a_process_whose_name_only_contains_nats() {
    let server = nats_servers().remove(0);
    let scratch = vault_with(&["node1"]);
    // Copied by a child process: this test process never holds the file open
    // for writing while another thread forks, which would make running it
    // fail with "text file busy".
    let copied = std::process::Command::new("cp")
        .arg("/bin/sleep")
        .arg(scratch.path("natsish"))
        .status()
        .unwrap();
    assert!(copied.success());
    let natsish = KillOnDrop(
        std::process::Command::new(scratch.path("natsish"))
            .arg("1000")
            .spawn()
            .unwrap(),
    );
    let pid = natsish.0.id();
    // The kernel names the process after the file a moment after the spawn
    // returns; until then it has the name of this test's thread.
    let deadline = Instant::now() + Duration::from_secs(10);
    while fs::read_to_string(format!("/proc/{pid}/comm")).unwrap() != "natsish\n" {
        assert!(
            Instant::now() < deadline,
            "process {pid} is not named natsish"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    fs::write(scratch.path("natsish.pid"), format!("{pid}\n")).unwrap();
    fs::write(scratch.path("out.conf"), "").unwrap();

    let output = scratch.fails(
        scratch
            .nkvault()
            .args(["render-conf", "-o", "out.conf", "--reload", "natsish.pid"])
            .arg("--nats-server")
            .arg(&server.path),
        1,
        &format!(
            "nkvault: error: wrote out.conf, but could not ask the server to reload: \
             process {pid} is \"natsish\", not nats-server; it was not signalled"
        ),
    );
    assert!(stderr(&output).contains("nkvault: hint: "));
    assert!(
        fs::read_to_string(scratch.path("out.conf"))
            .unwrap()
            .contains("nkey:"),
        "the config was not written"
    );
    // A SIGHUP would have ended it by now.
    std::thread::sleep(Duration::from_millis(200));
    let mut natsish = natsish;
    assert!(
        natsish.0.try_wait().unwrap().is_none(),
        "natsish was signalled"
    );
}

// ---------------------------------------------------------------------------
// 7. The change is saved when printing it fails
// ---------------------------------------------------------------------------

#[test]
fn rotate_and_import_say_the_change_is_saved_when_stdout_fails() {
    let scratch = vault_with(&["node1"]);
    let before = listed(&scratch);
    let (status, err) =
        run_into_dev_full(&scratch, &["--passphrase-file", "pass", "rotate", "node1"]);
    assert_eq!(status, Some(1), "{err}");
    assert!(
        err.contains(
            "nkvault: error: rotated node1 in nkvault.toml, but cannot write to standard output"
        ),
        "{err}"
    );
    assert!(
        err.contains("nkvault: hint: the new key is saved; `nkvault show node1` shows it"),
        "{err}"
    );
    let after = listed(&scratch);
    assert_eq!(after.len(), 1);
    assert_ne!(after[0].1, before[0].1, "node1 was not rotated");
    assert_eq!(key_of(&scratch.seed("node1")), after[0].1);

    let seed = new_seed();
    seed_file(&scratch, "n2.nk", &seed);
    let (status, err) = run_into_dev_full(
        &scratch,
        &[
            "--passphrase-file",
            "pass",
            "import",
            "n2",
            "--from-file",
            "n2.nk",
        ],
    );
    assert_eq!(status, Some(1), "{err}");
    assert!(
        err.contains(
            "nkvault: error: imported 1 seed(s) into nkvault.toml, but cannot write to standard output"
        ),
        "{err}"
    );
    assert!(
        err.contains("nkvault: hint: the keys are saved; `nkvault list` shows them"),
        "{err}"
    );
    assert_not_shown(&err, &seed, "stderr");
    assert!(listed(&scratch).contains(&("n2".to_owned(), key_of(&seed))));
}

// ---------------------------------------------------------------------------
// 8. import --dir and a file name that is not UTF-8
// ---------------------------------------------------------------------------

#[test]
fn import_dir_refuses_a_file_name_that_is_not_utf8() {
    let scratch = vault_with(&["node1"]);
    let dir = seed_dir(&scratch, "seeds");
    write_private(&dir.join("a.nk"), format!("{}\n", new_seed()));
    write_private(
        &dir.join(OsStr::from_bytes(b"\xff\xfe.nk")),
        format!("{}\n", new_seed()),
    );
    for prefix in [&[][..], &["--prefix", "imported-"]] {
        scratch.fails(
            scratch
                .with_passphrase()
                .args(["import", "--dir", "seeds"])
                .args(prefix),
            1,
            "file name is not UTF-8",
        );
    }
    assert_eq!(listed_names(&scratch), ["node1"]);
}

// ---------------------------------------------------------------------------
// 9. Repeated keys and repeated recipients
// ---------------------------------------------------------------------------

#[test]
fn import_dir_with_one_seed_in_two_files_names_both_and_imports_nothing() {
    let scratch = vault_with(&["node1"]);
    let dir = seed_dir(&scratch, "seeds");
    let seed = new_seed();
    write_private(&dir.join("a.nk"), format!("{seed}\n"));
    write_private(&dir.join("b.nk"), format!("{seed}\n"));
    let output = scratch.fails(
        scratch.with_passphrase().args(["import", "--dir", "seeds"]),
        1,
        "\"a\" and \"b\" are the same key; nothing was imported",
    );
    assert_not_shown(&stderr(&output), &seed, "stderr");
    assert_eq!(listed_names(&scratch), ["node1"]);
}

#[test]
fn recipients_file_listing_a_recipient_twice_adds_it_once() {
    let (scratch, me) = recipients_vault(&["node1"]);
    let other = keygen(&scratch, "other.key");
    fs::write(
        scratch.path("team.txt"),
        format!("# the team\n{other}\n{other}\n"),
    )
    .unwrap();
    ok(scratch
        .nkvault()
        .args(["-i", "me.key", "recipients", "add", "-R", "team.txt"]));
    let mut expected = vec![me, other];
    expected.sort();
    let mut recipients = recipients_of(&scratch);
    recipients.sort();
    assert_eq!(recipients, expected);
    // The new recipient reads the seed.
    ok(scratch
        .nkvault()
        .args(["-i", "other.key", "export-env", "node1"]));
}

// ---------------------------------------------------------------------------
// 10. verify prints one line per failed entry
// ---------------------------------------------------------------------------

/// base64 of "age-encryption.org/v1", which starts every armored age file.
const AGE_MAGIC_V1: &str = "YWdlLWVuY3J5cHRpb24ub3JnL3Yx";
/// base64 of "age-encryption.org/v2": a version age does not know.
const AGE_MAGIC_V2: &str = "YWdlLWVuY3J5cHRpb24ub3JnL3Yy";

#[test]
fn verify_prints_one_line_for_an_entry_age_cannot_read() {
    let scratch = vault_with(&["node1", "node2"]);
    let text = fs::read_to_string(scratch.vault()).unwrap();
    let entry = text.find("\nname = \"node1\"\n").unwrap();
    let armor = "-----BEGIN AGE ENCRYPTED FILE-----\n";
    let line = entry + text[entry..].find(armor).unwrap() + armor.len();
    assert!(
        text[line..].starts_with(AGE_MAGIC_V1),
        "{}",
        &text[line..line + 64]
    );
    // age answers an unknown version with two lines: "Unknown age format."
    // and "Have you tried upgrading to the latest version?".
    let edited = format!(
        "{}{AGE_MAGIC_V2}{}",
        &text[..line],
        &text[line + AGE_MAGIC_V1.len()..]
    );
    write_private(&scratch.vault(), edited);

    let output = scratch.fails(
        scratch.with_passphrase().arg("verify"),
        1,
        "1 of 2 entries failed verification: node1",
    );
    let out = stdout(&output);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "{out}");
    assert!(lines[0].starts_with("FAILED  node1: "), "{out}");
    assert!(lines[0].contains("Unknown age format"), "{out}");
}

// ---------------------------------------------------------------------------
// 11. The hint for an identity file that holds a public key
// ---------------------------------------------------------------------------

#[test]
fn identity_file_hint_is_readable_for_a_file_holding_a_public_key() {
    let (scratch, recipient) = recipients_vault(&["node1"]);
    fs::write(scratch.path("public.txt"), format!("{recipient}\n")).unwrap();
    let output = scratch.fails(
        scratch
            .nkvault()
            .args(["-i", "public.txt", "export-env", "node1"]),
        1,
        "public.txt",
    );
    let err = stderr(&output);
    assert!(
        err.contains("nkvault: hint: an identity file holds age secret keys, one per line"),
        "{err}"
    );
    assert!(!err.contains("[not shown"), "{err}");
    assert!(output.stdout.is_empty());
}

// ---------------------------------------------------------------------------
// 12. passwd with the passphrase the vault already has
// ---------------------------------------------------------------------------

#[test]
fn passwd_refuses_the_same_passphrase_unless_the_work_factor_changes() {
    let scratch = vault_with(&["node1"]);
    let seed = scratch.seed("node1");
    let output = scratch.fails(
        scratch
            .with_passphrase()
            .args(["passwd", "--new-passphrase-file", "pass"]),
        1,
        "already has",
    );
    assert!(stderr(&output).contains("--work-factor"));
    assert!(fs::read_to_string(scratch.vault())
        .unwrap()
        .contains("\nwork_factor = 10\n"));

    let output = ok(scratch.with_passphrase().args([
        "passwd",
        "--new-passphrase-file",
        "pass",
        "--work-factor",
        "11",
    ]));
    assert!(
        stderr(&output).contains("scrypt work factor 11"),
        "{}",
        stderr(&output)
    );
    let text = fs::read_to_string(scratch.vault()).unwrap();
    assert!(text.contains("\nwork_factor = 11\n"), "{text}");
    assert_eq!(scratch.seed("node1"), seed);
}

//! Hostile input found by attacking the built binary: each test asserts the
//! behaviour of DESIGN.md ("What bad input gets") for a case that once broke
//! it. Secrets never reach stderr, no input hangs or eats the memory, a full
//! stderr is no panic, and a vault edited by hand into something misleading is
//! refused.

mod common;

use std::fs::{self, OpenOptions};
use std::process::Stdio;
use std::time::Duration;

use common::{stderr, Scratch};

/// A user seed from the reference vectors (public test data, not a secret of
/// anyone's), standing in for a seed file given in the wrong place.
const SEED: &str = "SUAOIZ425OJJYJXVBCU7T3T2PGTQGLY46VXSNU2O5QCDISXIHWFIIKRXKE";

/// An age secret key as `age-keygen` writes it; only its shape matters here.
const AGE_SECRET: &str =
    "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX";

/// Long enough for any failure to be reported, short enough to catch a hang.
const PATIENCE: Duration = Duration::from_secs(20);

fn edit_vault(scratch: &Scratch, from: &str, to: &str) {
    let text = fs::read_to_string(scratch.vault()).unwrap();
    assert!(text.contains(from), "{from:?} is not in the vault");
    fs::write(scratch.vault(), text.replacen(from, to, 1)).unwrap();
}

fn dev_full() -> Stdio {
    Stdio::from(
        OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("/dev/full"),
    )
}

fn mkfifo(scratch: &Scratch, name: &str) {
    let path =
        std::ffi::CString::new(scratch.path(name).into_os_string().into_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo touches nothing else.
    assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0);
}

#[test]
fn a_secret_given_as_a_recipient_is_never_echoed() {
    // Regression: `init -R me.key` (the identity file instead of the
    // recipients file) printed the AGE-SECRET-KEY line on stderr; a seed file
    // or a passphrase file given to -R printed the seed or the passphrase.
    let scratch = Scratch::new();
    fs::write(
        scratch.path("me.key"),
        format!("# created: 2026-12-03T16:00:00Z\n# public key: age1xyz\n{AGE_SECRET}\n"),
    )
    .unwrap();
    fs::write(scratch.path("node1.seed"), format!("{SEED}\n")).unwrap();
    let cases = [
        ("me.key", AGE_SECRET),
        ("node1.seed", SEED),
        ("pass", common::PASSPHRASE),
    ];
    for (file, secret) in cases {
        let output = scratch.fails(
            scratch.nkvault().args(["init", "-R", file]),
            1,
            "invalid recipient on line",
        );
        let err = stderr(&output);
        assert!(err.contains(file), "the file is named: {err}");
        assert!(!err.contains(secret), "secret on stderr: {err}");
        assert!(err.contains("hint: "), "{err}");
    }
    for secret in [AGE_SECRET, SEED] {
        let output = scratch.fails(
            scratch.nkvault().args(["init", "-r", secret]),
            1,
            "invalid recipient",
        );
        assert!(!stderr(&output).contains(secret), "{}", stderr(&output));
    }
}

#[test]
fn a_passphrase_file_without_end_is_refused_at_once() {
    // Regression: the whole file was read to find its first line, so
    // `--passphrase-file /dev/zero` grew until the memory ran out.
    let scratch = Scratch::new();
    scratch.init();
    scratch.add(&["node1"]);
    let output = scratch.fails(
        scratch
            .nkvault()
            .args(["--passphrase-file", "/dev/zero", "export-env", "node1"])
            .timeout(PATIENCE),
        1,
        "the first line of passphrase file /dev/zero is longer than 64 KiB",
    );
    assert!(output.stdout.is_empty());
    // A short first line followed by much more is still a passphrase file.
    let mut text = format!("{}\n", common::PASSPHRASE);
    text.push_str(&"x".repeat(4 << 20));
    common::write_private(&scratch.path("big-pass"), text);
    let output = scratch
        .nkvault()
        .args(["--passphrase-file", "big-pass", "export-env", "node1"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn a_vault_that_is_not_a_regular_file_is_refused_at_once() {
    // Regression: `--vault /dev/zero` ate the memory and `--vault FIFO` waited
    // forever for a writer.
    let scratch = Scratch::new();
    scratch.init();
    mkfifo(&scratch, "pipe");
    for vault in ["/dev/zero", "/dev/urandom", "pipe"] {
        for args in [&["list"][..], &["add", "node1"], &["render-conf"]] {
            scratch.fails(
                scratch
                    .nkvault()
                    .args(["--vault", vault])
                    .args(args)
                    .timeout(PATIENCE),
                1,
                &format!("cannot read {vault}: it is not a regular file"),
            );
        }
    }
    scratch.fails(
        scratch.nkvault().args(["--vault", ".", "list"]),
        1,
        "cannot read .: is a directory",
    );
}

#[test]
fn a_recipients_file_without_end_is_refused_at_once() {
    // Regression: `init -R /dev/zero` grew until the memory ran out.
    let scratch = Scratch::new();
    scratch.fails(
        scratch
            .nkvault()
            .args(["init", "-R", "/dev/zero"])
            .timeout(PATIENCE),
        1,
        "cannot read recipients file /dev/zero: it is larger than 4 MiB",
    );
}

#[test]
fn a_full_stderr_is_no_panic() {
    // Regression: eprintln! panicked when stderr could not be written, so a
    // failure exited 101 instead of 1, and a success (the file written) 101
    // instead of 0.
    let scratch = Scratch::new();
    scratch.init();
    scratch.add(&["node1"]);
    let status = |args: &[&str]| {
        scratch
            .std_nkvault()
            .args(["--passphrase-file", "pass"])
            .args(args)
            .stderr(dev_full())
            .stdout(Stdio::null())
            .output()
            .unwrap()
            .status
            .code()
    };
    assert_eq!(status(&["show", "nope"]), Some(1));
    assert_eq!(status(&["no-such-command"]), Some(2));
    assert_eq!(status(&["render-conf", "-o", "conf"]), Some(0));
    assert_eq!(status(&["export-file", "node1", "-o", "seed"]), Some(0));
    assert!(scratch.path("conf").is_file() && scratch.path("seed").is_file());
}

#[test]
fn an_empty_allow_list_in_the_vault_is_refused() {
    // Regression: `publish = []`, written by hand to take publishing away,
    // showed as "publish allow: -" but rendered `allow: []`, which nats-server
    // reads as allowing every subject.
    for direction in ["publish", "subscribe"] {
        let scratch = Scratch::new();
        scratch.init();
        scratch.add(&["node1"]);
        edit_vault(
            &scratch,
            &format!("{direction} = [\">\"]"),
            &format!("{direction} = []"),
        );
        for args in [&["list"][..], &["show", "node1"], &["render-conf"]] {
            let output = scratch.fails(
                scratch.nkvault().args(args),
                1,
                &format!("entry \"node1\": {direction} is an empty list"),
            );
            assert!(stderr(&output).contains("hint: "));
        }
        scratch.fails(scratch.nkvault().args(["add", "node2"]), 1, "empty list");
    }
}

#[test]
fn a_created_time_edited_into_terminal_escapes_is_refused() {
    // Regression: `created` was any string, and `show` copied it to the
    // terminal, escape sequences and all.
    let scratch = Scratch::new();
    scratch.init();
    scratch.add(&["node1"]);
    let text = fs::read_to_string(scratch.vault()).unwrap();
    let start = text.find("created = \"").unwrap() + "created = \"".len();
    let end = start + text[start..].find('"').unwrap();
    let edited = format!("{}\\u001b]0;owned\\u0007{}", &text[..start], &text[end..]);
    fs::write(scratch.vault(), edited).unwrap();
    for args in [&["show", "node1"][..], &["list", "--json"]] {
        let output = scratch.fails(
            scratch.nkvault().args(args),
            1,
            "entry \"node1\": created is not an RFC 3339 time",
        );
        assert!(output.stdout.is_empty());
    }
}

#[test]
fn invisible_characters_in_subjects_are_refused() {
    // Regression: a zero-width space made `admin​.>` look like `admin.>` in
    // `list`, `show` and the rendered config while denying nothing; a
    // right-to-left override reordered what the terminal showed.
    let scratch = Scratch::new();
    scratch.init();
    for subject in ["admin\u{200b}.>", "\u{202e}ci.x", "ci.\u{feff}x"] {
        for option in ["--publish", "--deny-publish", "--deny-subscribe"] {
            scratch.fails(
                scratch.nkvault().args(["add", "node1", option, subject]),
                1,
                "invisible or text-direction character",
            );
        }
    }
    scratch.add(&["node1"]);
    edit_vault(&scratch, "publish = [\">\"]", "publish = [\"a\u{200d}.>\"]");
    scratch.fails(
        scratch.nkvault().arg("render-conf"),
        1,
        "invisible or text-direction character",
    );
}

#[test]
fn a_cut_seed_ciphertext_says_what_to_do() {
    // The export of an entry whose ciphertext was cut short fails with a hint,
    // as every other damaged-vault error does.
    let scratch = Scratch::new();
    scratch.init();
    scratch.add(&["node1"]);
    let text = fs::read_to_string(scratch.vault()).unwrap();
    let start = text.find("seed = \"\"\"").unwrap();
    let end = start + text[start..].find("-----END").unwrap();
    let cut = format!("{}{}", &text[..(start + end) / 2], &text[end..]);
    fs::write(scratch.vault(), cut).unwrap();
    let output = scratch.fails(
        scratch.with_passphrase().args(["export-env", "node1"]),
        1,
        "entry \"node1\" cannot be decrypted",
    );
    assert!(
        stderr(&output).contains("hint: ") && stderr(&output).contains("restore"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_passphrase_vault_seed_for_another_key_does_not_ask_for_an_identity() {
    // Regression: a seed encrypted to another key than the vault's identity
    // said "pass the identity file … with -i", an option that means nothing
    // to a passphrase vault.
    let scratch = Scratch::new();
    scratch.init();
    scratch.add(&["node1"]);
    scratch
        .with_passphrase()
        .args(["--vault", "other.toml", "init", "--work-factor", "10"])
        .assert()
        .success();
    scratch
        .nkvault()
        .args(["--vault", "other.toml", "add", "node1"])
        .assert()
        .success();
    let seed_block = |path| {
        let text = fs::read_to_string(path).unwrap();
        let start = text.find("seed = \"\"\"").unwrap();
        let end = start
            + text[start..]
                .find("-----END AGE ENCRYPTED FILE-----")
                .unwrap();
        text[start..end].to_owned()
    };
    let ours = seed_block(scratch.vault());
    let theirs = seed_block(scratch.path("other.toml"));
    edit_vault(&scratch, &ours, &theirs);
    let output = scratch.fails(
        scratch.with_passphrase().args(["export-env", "node1"]),
        1,
        "entry \"node1\" cannot be decrypted: it is encrypted to another key than the \
         vault's identity",
    );
    assert!(!stderr(&output).contains("-i"), "{}", stderr(&output));
    assert!(output.stdout.is_empty());
}

#[test]
fn a_passphrase_vault_whose_recipient_was_edited_is_refused_on_unlock() {
    // Keys added after the recipients line was swapped are encrypted to the
    // swapper. The unlock sees the vault's real identity and refuses.
    let scratch = Scratch::new();
    scratch.init();
    scratch
        .with_passphrase()
        .args(["--vault", "other.toml", "init", "--work-factor", "10"])
        .assert()
        .success();
    let recipient = |path| {
        let text = fs::read_to_string(path).unwrap();
        let start = text.find("age1").unwrap();
        let end = start + text[start..].find('"').unwrap();
        text[start..end].to_owned()
    };
    let ours = recipient(scratch.vault());
    let theirs = recipient(scratch.path("other.toml"));
    edit_vault(&scratch, &ours, &theirs);
    scratch.add(&["node1"]);
    let output = scratch.fails(
        scratch.with_passphrase().args(["export-env", "node1"]),
        1,
        "its recipient is not the public key of its own identity",
    );
    assert!(
        stderr(&output).contains("restore it from git"),
        "{}",
        stderr(&output)
    );
    assert!(output.stdout.is_empty());
}

#[test]
fn a_usage_error_escapes_the_control_characters_it_quotes() {
    // Regression: clap's messages quote the bad value as typed and strip
    // escape sequences, but not a carriage return, which let an argument
    // overwrite the error line on the terminal; every other message escapes.
    let scratch = Scratch::new();
    scratch.init();
    let output = scratch.fails(
        scratch
            .nkvault()
            .args(["export-env", "node1", "--var", "A\rnkvault: all good"]),
        2,
        "invalid value 'A\\rnkvault: all good' for '--var <VAR>'",
    );
    assert!(!output.stderr.contains(&b'\r'), "{}", stderr(&output));
}

#[test]
fn add_that_cannot_print_says_the_keys_were_added() {
    // Regression: `add` with a full standard output exited 1 with only
    // "cannot write to standard output", although the keys were saved; a
    // script that retried found the names taken.
    let scratch = Scratch::new();
    scratch.init();
    let output = scratch
        .std_nkvault()
        .args(["add", "node1", "node2"])
        .stdout(dev_full())
        .output()
        .unwrap();
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(
        err.starts_with(
            "nkvault: error: added 2 key(s) to nkvault.toml, but cannot write to standard output"
        ),
        "{err}"
    );
    assert!(err.contains("hint: the keys are saved"), "{err}");
    let listed = scratch.nkvault().arg("list").output().unwrap();
    assert!(common::stdout(&listed).contains("node2"));
}

#[test]
fn a_huge_unknown_name_against_a_big_vault_is_answered_at_once() {
    // Regression: the "did you mean" suggestion compared the whole argument
    // with every name, quadratic in its length: a 100,000-character name
    // against 10,000 entries took half a minute.
    let scratch = Scratch::new();
    scratch.init();
    let names: Vec<String> = (0..10_000).map(|i| format!("n{i}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    scratch.add(&names);
    let huge = "n".repeat(100_000);
    let started = std::time::Instant::now();
    scratch.fails(
        scratch.nkvault().args(["show", &huge]).timeout(PATIENCE),
        1,
        "no entry named",
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

//! The command-line contract, through the built binary: every command's
//! success path, every bad input of DESIGN.md ("What bad input gets"), and the
//! rule that a seed never lands anywhere but the file `export-file` wrote.

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use common::{detach_from_terminal, stderr, stdout, write_private, Scratch, BIN, PASSPHRASE};
use serde_json::Value;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// Like `Scratch::nkvault`, but the child runs with `umask` set first.
fn with_umask(scratch: &Scratch, umask: libc::mode_t) -> Command {
    let mut command = scratch.std_nkvault();
    // SAFETY: umask is async-signal-safe and touches no memory of the parent.
    unsafe {
        command.pre_exec(move || {
            libc::umask(umask);
            Ok(())
        });
    }
    Command::from_std(command)
}

/// Runs a command that must succeed; returns its output.
fn ok(command: &mut Command) -> Output {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "status {:?}, stderr: {}",
        output.status,
        stderr(&output)
    );
    output
}

fn mode_of(path: &Path) -> u32 {
    fs::metadata(path).unwrap().mode() & 0o777
}

/// A vault with `node1` and `node2`.
fn vault_with_two() -> (Scratch, Vec<String>) {
    let scratch = Scratch::new();
    scratch.init();
    let keys = scratch.add(&["node1", "node2"]);
    (scratch, keys)
}

/// The vault's text with every occurrence of `from` replaced by `to`.
fn edit_vault(scratch: &Scratch, from: &str, to: &str) {
    let text = fs::read_to_string(scratch.vault()).unwrap();
    assert!(text.contains(from), "{from:?} not in the vault");
    fs::write(scratch.vault(), text.replacen(from, to, 1)).unwrap();
}

/// The byte ranges of the `seed = """…"""` values of the vault, in order.
fn seed_blocks(text: &str) -> Vec<(usize, usize)> {
    let open = "seed = \"\"\"";
    let mut blocks = Vec::new();
    let mut from = 0;
    while let Some(at) = text[from..].find(open) {
        let start = from + at + open.len();
        let end = start + text[start..].find("\"\"\"").unwrap();
        blocks.push((start, end));
        from = end + 3;
    }
    blocks
}

/// An age identity file made by the stock `age-keygen`; returns its path and
/// its recipient (`age1…`).
fn age_identity(scratch: &Scratch, file: &str) -> (PathBuf, String) {
    let keygen = Path::new("/usr/bin/age-keygen");
    assert!(
        keygen.exists(),
        "these tests need the stock age tools: install them with `apt-get install age`"
    );
    let path = scratch.path(file);
    let made = std::process::Command::new(keygen)
        .arg("-o")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "age-keygen failed: {}",
        stderr(&made)
    );
    let public = std::process::Command::new(keygen)
        .arg("-y")
        .arg(&path)
        .output()
        .unwrap();
    assert!(public.status.success(), "age-keygen -y failed");
    let recipient = stdout(&public).trim().to_owned();
    assert!(recipient.starts_with("age1"), "{recipient}");
    (path, recipient)
}

fn is_seed_like(text: &str) -> bool {
    text.starts_with("SU") && text.len() == 58
}

// ---------------------------------------------------------------------------
// Success paths
// ---------------------------------------------------------------------------

#[test]
fn init_makes_a_0600_passphrase_vault_even_with_umask_000() {
    let scratch = Scratch::new();
    let output = ok(with_umask(&scratch, 0o000).args([
        "--passphrase-file",
        "pass",
        "init",
        "--work-factor",
        "10",
    ]));
    assert!(output.stdout.is_empty());
    let err = stderr(&output);
    assert!(err.contains("created nkvault.toml"), "{err}");
    assert!(err.contains("passphrase mode"), "{err}");
    assert_eq!(mode_of(&scratch.vault()), 0o600);
    assert_eq!(scratch.files(), ["nkvault.toml", "pass"]);
    let text = fs::read_to_string(scratch.vault()).unwrap();
    assert!(text.contains("format = 1") && text.contains("work_factor = 10"));
    assert!(!text.contains(PASSPHRASE), "the passphrase is in the vault");
}

#[test]
fn vault_and_passphrase_file_come_from_the_environment() {
    let scratch = Scratch::new();
    fs::create_dir(scratch.path("sub")).unwrap();
    ok(scratch
        .nkvault()
        .env("NKVAULT_VAULT", "sub/fleet.toml")
        .env("NKVAULT_PASSPHRASE_FILE", "pass")
        .args(["init", "--work-factor", "10"]));
    assert!(scratch.path("sub/fleet.toml").is_file());
    ok(scratch
        .nkvault()
        .args(["--vault", "sub/fleet.toml", "add", "node1"]));
    let output = ok(scratch
        .nkvault()
        .env("NKVAULT_VAULT", "sub/fleet.toml")
        .env("NKVAULT_PASSPHRASE_FILE", "pass")
        .args(["export-env", "node1"]));
    assert!(stdout(&output).starts_with("NKEY_SEED=SU"));
}

#[test]
fn passphrase_file_first_line_only_and_one_line_ending_stripped() {
    let scratch = Scratch::new();
    scratch.init();
    scratch.add(&["node1"]);
    for (file, contents) in [
        ("crlf", format!("{PASSPHRASE}\r\n")),
        ("bare", PASSPHRASE.to_owned()),
        ("more", format!("{PASSPHRASE}\nsecond line\n")),
    ] {
        write_private(&scratch.path(file), contents);
        let output = ok(scratch
            .nkvault()
            .args(["--passphrase-file", file, "export-env", "node1"]));
        assert!(stdout(&output).starts_with("NKEY_SEED=SU"), "{file}");
    }
    // Only one newline is stripped: a trailing space is part of the passphrase.
    write_private(&scratch.path("space"), format!("{PASSPHRASE} \n"));
    scratch.fails(
        scratch
            .nkvault()
            .args(["--passphrase-file", "space", "export-env", "node1"]),
        1,
        "wrong passphrase",
    );
}

#[test]
fn add_prints_one_public_key_per_name_in_order() {
    let scratch = Scratch::new();
    scratch.init();
    let output = ok(scratch.nkvault().args(["add", "zeta", "alpha", "mid"]));
    let printed = stdout(&output);
    let keys: Vec<&str> = printed.lines().collect();
    assert_eq!(keys.len(), 3);
    for key in &keys {
        assert!(key.starts_with('U') && key.len() == 56, "{key}");
        assert!(nkeys::KeyPair::from_public_key(key).is_ok(), "{key}");
    }
    // In the order given on the command line, whatever the vault's order.
    let listed: Value =
        serde_json::from_slice(&ok(scratch.nkvault().args(["list", "--json"])).stdout).unwrap();
    let key_of = |name: &str| {
        listed
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .unwrap()["public_key"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(keys, [key_of("zeta"), key_of("alpha"), key_of("mid")]);
}

#[test]
fn add_json_prints_names_and_keys() {
    let scratch = Scratch::new();
    scratch.init();
    let output = ok(scratch.nkvault().args(["add", "--json", "a1", "b2"]));
    let added: Value = serde_json::from_slice(&output.stdout).unwrap();
    let added = added.as_array().unwrap();
    assert_eq!(added.len(), 2);
    assert_eq!(added[0]["name"], "a1");
    assert_eq!(added[1]["name"], "b2");
    assert!(added[0]["public_key"].as_str().unwrap().starts_with('U'));
}

#[test]
fn add_many_names_is_one_vault_write_with_all_of_them() {
    let scratch = Scratch::new();
    scratch.init();
    let before = fs::metadata(scratch.vault()).unwrap().ino();
    let names = ["n1", "n2", "n3", "n4", "n5"];

    // Count the renames onto the vault: every write of the vault is one.
    let trace_dir = tempfile::tempdir().unwrap();
    let trace = trace_dir.path().join("trace");
    let strace = std::process::Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=rename,renameat,renameat2", "-o"])
        .arg(&trace)
        .arg("true")
        .output();
    assert!(
        matches!(strace, Ok(ref o) if o.status.success()),
        "strace cannot run here ({strace:?}); install it: apt-get install -y strace \
         (scripts/install-test-deps does)"
    );
    let mut command = std::process::Command::new("strace");
    command
        .current_dir(scratch.dir.path())
        .args(["-f", "-qq", "-e", "trace=rename,renameat,renameat2", "-o"])
        .arg(&trace)
        .arg(BIN)
        .arg("add")
        .args(names);
    detach_from_terminal(&mut command);
    let output = ok(&mut Command::from_std(command));
    let log = fs::read_to_string(&trace).unwrap();
    let writes = log
        .lines()
        .filter(|line| line.contains("\"nkvault.toml\"") && line.contains("= 0"))
        .count();
    assert_eq!(writes, 1, "vault writes:\n{log}");

    assert_eq!(stdout(&output).lines().count(), names.len());
    assert_ne!(fs::metadata(scratch.vault()).unwrap().ino(), before);
    let listed: Value =
        serde_json::from_slice(&ok(scratch.nkvault().args(["list", "--json"])).stdout).unwrap();
    let listed = listed.as_array().unwrap();
    let got: Vec<&str> = listed.iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(got, names);
    // One write: one creation time for all of them.
    assert!(listed.iter().all(|e| e["created"] == listed[0]["created"]));
    assert_eq!(scratch.files(), ["nkvault.toml", "pass"]);
}

#[test]
fn add_needs_no_unlock_and_no_terminal() {
    let scratch = Scratch::new();
    scratch.init();
    // nkvault() has no terminal and no passphrase source.
    let output = ok(scratch.nkvault().args(["add", "node1"]));
    assert_eq!(stdout(&output).lines().count(), 1);
}

#[test]
fn list_text_and_json() {
    let (scratch, keys) = vault_with_two();
    let text = stdout(&ok(scratch.nkvault().arg("list")));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with("NAME") && lines[0].contains("PUBLIC KEY"));
    assert!(lines[1].starts_with("node1") && lines[1].contains(&keys[0]));
    assert!(lines[2].starts_with("node2") && lines[2].contains(&keys[1]));
    assert!(lines[1].contains("pub >") && lines[1].contains("sub >"));

    let json: Value =
        serde_json::from_slice(&ok(scratch.nkvault().args(["list", "--json"])).stdout).unwrap();
    let entries = json.as_array().unwrap();
    assert_eq!(entries.len(), 2);
    for (entry, (name, key)) in entries.iter().zip(["node1", "node2"].iter().zip(&keys)) {
        assert_eq!(entry["name"], *name);
        assert_eq!(entry["type"], "user");
        assert_eq!(entry["public_key"], key.as_str());
        assert!(entry["created"].as_str().unwrap().ends_with('Z'));
        assert_eq!(entry["permissions"]["publish"], serde_json::json!([">"]));
        assert_eq!(entry["permissions"]["subscribe"], serde_json::json!([">"]));
        assert!(entry.get("seed").is_none(), "the ciphertext is listed");
    }
}

#[test]
fn list_of_an_empty_vault() {
    let scratch = Scratch::new();
    scratch.init();
    let output = ok(scratch.nkvault().arg("list"));
    assert!(output.stdout.is_empty());
    assert!(
        stderr(&output).contains("nkvault add"),
        "{}",
        stderr(&output)
    );
    let output = ok(scratch.nkvault().args(["list", "--json"]));
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json, serde_json::json!([]));
}

#[test]
fn show_text_and_json_with_permissions() {
    let scratch = Scratch::new();
    scratch.init();
    let keys = ok(scratch.nkvault().args([
        "add",
        "github",
        "--publish",
        "ci.>",
        "--publish",
        "ci.>",
        "--subscribe",
        "_INBOX.>",
        "--deny-publish",
        "ci.secret",
        "--deny-subscribe",
        "ci.*.private",
        "--allow-responses",
    ]));
    let key = stdout(&keys).trim().to_owned();

    let text = stdout(&ok(scratch.nkvault().args(["show", "github"])));
    for expected in [
        "name:             github\n".to_owned(),
        "type:             user\n".to_owned(),
        format!("public key:       {key}\n"),
        "publish allow:    ci.>\n".to_owned(),
        "publish deny:     ci.secret\n".to_owned(),
        "subscribe allow:  _INBOX.>\n".to_owned(),
        "subscribe deny:   ci.*.private\n".to_owned(),
        "allow responses:  yes\n".to_owned(),
    ] {
        assert!(text.contains(&expected), "{expected:?} not in:\n{text}");
    }

    let json: Value =
        serde_json::from_slice(&ok(scratch.nkvault().args(["show", "github", "--json"])).stdout)
            .unwrap();
    assert_eq!(json["name"], "github");
    assert_eq!(json["type"], "user");
    assert_eq!(json["public_key"], key.as_str());
    let p = &json["permissions"];
    assert_eq!(p["publish"], serde_json::json!(["ci.>"]));
    assert_eq!(p["subscribe"], serde_json::json!(["_INBOX.>"]));
    assert_eq!(p["deny_publish"], serde_json::json!(["ci.secret"]));
    assert_eq!(p["deny_subscribe"], serde_json::json!(["ci.*.private"]));
    assert_eq!(p["allow_responses"], true);
    assert!(
        !String::from_utf8_lossy(&ok(scratch.nkvault().args(["show", "github"])).stdout)
            .contains("AGE ENCRYPTED")
    );
}

#[test]
fn render_conf_to_stdout_and_file_is_deterministic() {
    let (scratch, keys) = vault_with_two();
    let first = ok(scratch.nkvault().arg("render-conf")).stdout;
    let second = ok(scratch.nkvault().arg("render-conf")).stdout;
    assert_eq!(first, second, "two renders differ");
    let text = String::from_utf8(first.clone()).unwrap();
    assert!(text.contains("port: 4222\n"), "{text}");
    assert!(text.contains("# node1") && text.contains("# node2"));
    for key in &keys {
        assert!(text.contains(&format!("nkey: \"{key}\"")), "{text}");
    }
    assert!(text.contains("publish: { allow: [\">\"] }"), "{text}");
    assert!(!text.contains("timeout"), "{text}");

    ok(with_umask(&scratch, 0o077).args(["render-conf", "-o", "nats-server.conf"]));
    assert_eq!(fs::read(scratch.path("nats-server.conf")).unwrap(), first);
    assert_eq!(mode_of(&scratch.path("nats-server.conf")), 0o644);
    // -o replaces an existing config (it holds public keys only).
    fs::write(scratch.path("nats-server.conf"), "old").unwrap();
    ok(scratch
        .nkvault()
        .args(["render-conf", "--output", "nats-server.conf"]));
    assert_eq!(fs::read(scratch.path("nats-server.conf")).unwrap(), first);
    assert_eq!(
        scratch.files(),
        ["nats-server.conf", "nkvault.toml", "pass"]
    );
}

#[test]
fn render_conf_fragment_has_no_port_and_port_changes_the_port() {
    let (scratch, keys) = vault_with_two();
    let fragment = stdout(&ok(scratch.nkvault().args(["render-conf", "--fragment"])));
    assert!(!fragment.contains("port"), "{fragment}");
    assert!(fragment.contains("authorization {"), "{fragment}");
    assert!(fragment.contains(&keys[0]) && fragment.contains(&keys[1]));
    assert_eq!(
        fragment,
        stdout(&ok(scratch.nkvault().args(["render-conf", "--fragment"])))
    );

    let other = stdout(&ok(scratch.nkvault().args([
        "render-conf",
        "--port",
        "14222",
    ])));
    assert!(other.contains("port: 14222\n"), "{other}");
    assert!(!other.contains("port: 4222\n"), "{other}");
}

#[test]
fn render_conf_of_an_empty_vault_warns() {
    let scratch = Scratch::new();
    scratch.init();
    let output = ok(scratch.nkvault().arg("render-conf"));
    assert!(stderr(&output).contains("nkvault: warning: "));
    assert!(stdout(&output).contains("users: [\n  ]"));
}

#[test]
fn export_env_prints_one_line_and_var_renames_it() {
    let (scratch, keys) = vault_with_two();
    let output = ok(scratch.with_passphrase().args(["export-env", "node1"]));
    let line = stdout(&output);
    let seed = line
        .strip_prefix("NKEY_SEED=")
        .and_then(|rest| rest.strip_suffix('\n'))
        .unwrap_or_else(|| panic!("not NKEY_SEED=…\\n"));
    assert!(is_seed_like(seed) && !seed.contains('\n'));
    let pair = nkeys::KeyPair::from_seed(seed).unwrap();
    assert_eq!(pair.public_key(), keys[0]);
    assert!(output.stderr.is_empty(), "{}", stderr(&output));

    let output =
        ok(scratch
            .with_passphrase()
            .args(["export-env", "node2", "--var", "CTRL_NKEY_SEED"]));
    let line = stdout(&output);
    let seed = line
        .strip_prefix("CTRL_NKEY_SEED=")
        .unwrap()
        .strip_suffix('\n')
        .unwrap();
    assert_eq!(
        nkeys::KeyPair::from_seed(seed).unwrap().public_key(),
        keys[1]
    );
    ok(scratch
        .with_passphrase()
        .args(["export-env", "node2", "--var", "_x9"]));
}

#[test]
fn export_file_is_mode_0600_whatever_the_umask() {
    let (scratch, keys) = vault_with_two();
    for (umask, file) in [(0o000, "seed0.txt"), (0o022, "seed22.txt")] {
        let output = ok(with_umask(&scratch, umask).args([
            "--passphrase-file",
            "pass",
            "export-file",
            "node1",
            "-o",
            file,
        ]));
        assert!(output.stdout.is_empty());
        assert!(stderr(&output).contains("mode 0600"), "{}", stderr(&output));
        let path = scratch.path(file);
        assert_eq!(mode_of(&path), 0o600, "umask {umask:o}");
        let contents = fs::read_to_string(&path).unwrap();
        let seed = contents.strip_suffix('\n').unwrap();
        assert!(is_seed_like(seed), "exactly SU…\\n");
        assert_eq!(
            nkeys::KeyPair::from_seed(seed).unwrap().public_key(),
            keys[0]
        );
    }
    // No temporary file left next to them.
    assert_eq!(
        scratch.files(),
        ["nkvault.toml", "pass", "seed0.txt", "seed22.txt"]
    );
}

#[test]
fn export_file_force_replaces_an_existing_file_atomically() {
    let (scratch, _) = vault_with_two();
    let path = scratch.path("seed.txt");
    fs::write(&path, "old contents\n").unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    let inode = fs::metadata(&path).unwrap().ino();
    ok(scratch
        .with_passphrase()
        .args(["export-file", "node2", "-o", "seed.txt", "--force"]));
    let meta = fs::metadata(&path).unwrap();
    // A new file renamed over the old one, not the old one rewritten in place.
    assert_ne!(meta.ino(), inode, "the file was rewritten in place");
    assert_eq!(meta.mode() & 0o777, 0o600);
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        format!("{}\n", scratch.seed("node2"))
    );
    assert_eq!(scratch.files(), ["nkvault.toml", "pass", "seed.txt"]);
}

#[test]
fn export_file_dash_writes_to_stdout() {
    let (scratch, _) = vault_with_two();
    let output = ok(scratch
        .with_passphrase()
        .args(["export-file", "node1", "-o", "-"]));
    assert_eq!(stdout(&output), format!("{}\n", scratch.seed("node1")));
    assert!(output.stderr.is_empty(), "{}", stderr(&output));
    assert_eq!(scratch.files(), ["nkvault.toml", "pass"]);
}

#[test]
fn recipients_mode_init_with_r_and_big_r_and_export_with_identity() {
    let scratch = Scratch::new();
    let (id1, r1) = age_identity(&scratch, "alice.key");
    let (id2, r2) = age_identity(&scratch, "bob.key");
    fs::write(scratch.path("team.txt"), format!("# the team\n\n{r2}\n")).unwrap();
    let output = ok(scratch
        .nkvault()
        .args(["init", "-r", &r1, "-R", "team.txt"]));
    let err = stderr(&output);
    assert!(err.contains("recipients mode, 2 recipient(s)"), "{err}");
    assert_eq!(mode_of(&scratch.vault()), 0o600);
    let text = fs::read_to_string(scratch.vault()).unwrap();
    assert!(text.contains(&r1) && text.contains(&r2));
    assert!(!text.contains("[passphrase]"));

    let keys = scratch.add(&["node1"]);
    // Each identity alone opens it, from -i or from NKVAULT_IDENTITY.
    for id in [&id1, &id2] {
        let output = ok(scratch
            .nkvault()
            .arg("-i")
            .arg(id)
            .args(["export-env", "node1"]));
        let seed = stdout(&output)
            .strip_prefix("NKEY_SEED=")
            .unwrap()
            .trim_end()
            .to_owned();
        assert_eq!(
            nkeys::KeyPair::from_seed(&seed).unwrap().public_key(),
            keys[0]
        );
    }
    let output = ok(scratch
        .nkvault()
        .env("NKVAULT_IDENTITY", "alice.key")
        .args(["export-file", "node1", "-o", "seed.txt"]));
    assert!(stderr(&output).contains("mode 0600"));
    assert_eq!(mode_of(&scratch.path("seed.txt")), 0o600);
    // A wrong identity given first is passed over when a right one follows.
    let (stranger, _) = age_identity(&scratch, "stranger.key");
    ok(scratch
        .nkvault()
        .arg("-i")
        .arg(&stranger)
        .arg("-i")
        .arg(&id2)
        .args(["export-env", "node1"]));

    // A recipients-only vault from -R alone.
    ok(scratch
        .nkvault()
        .args(["--vault", "team.toml", "init", "-R", "team.txt"]));
    let text = fs::read_to_string(scratch.path("team.toml")).unwrap();
    assert!(text.contains(&r2) && !text.contains(&r1));
}

#[test]
fn completions_print_a_script() {
    let scratch = Scratch::new();
    let bash = stdout(&ok(scratch.nkvault().args(["completions", "bash"])));
    assert!(bash.contains("_nkvault()"), "{bash}");
    assert!(bash.contains("complete ") && bash.contains("export-file"));
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let script = ok(scratch.nkvault().args(["completions", shell])).stdout;
        assert!(!script.is_empty(), "{shell}");
    }
    assert_eq!(scratch.files(), ["pass"]);
}

#[test]
fn help_and_version_exit_zero() {
    let scratch = Scratch::new();
    let help = stdout(&ok(scratch.nkvault().arg("--help")));
    assert!(help.contains("--passphrase-file") && help.contains("Examples:"));
    let version = stdout(&ok(scratch.nkvault().arg("--version")));
    assert!(version.starts_with("nkvault "), "{version}");
}

#[test]
fn add_through_a_symlinked_vault_updates_the_real_vault() {
    // Regression: the atomic rename replaced the link with a copy of the vault,
    // so the key went into the copy and the real vault never got it.
    let scratch = Scratch::new();
    scratch.init();
    fs::create_dir(scratch.path("repo")).unwrap();
    fs::rename(scratch.vault(), scratch.path("repo/fleet.toml")).unwrap();
    std::os::unix::fs::symlink("repo/fleet.toml", scratch.vault()).unwrap();

    let keys = scratch.add(&["node1"]);
    let link = fs::symlink_metadata(scratch.vault()).unwrap();
    assert!(link.file_type().is_symlink(), "the link was replaced");
    let real = fs::read_to_string(scratch.path("repo/fleet.toml")).unwrap();
    assert!(
        real.contains(&keys[0]),
        "the real vault did not get the key"
    );
    assert_eq!(mode_of(&scratch.path("repo/fleet.toml")), 0o600);
    assert_eq!(fs::read_dir(scratch.path("repo")).unwrap().count(), 1);
    assert!(scratch.seed("node1").starts_with("SU"));
}

// ---------------------------------------------------------------------------
// Bad input: passphrases and terminals
// ---------------------------------------------------------------------------

#[test]
fn wrong_passphrase_is_refused() {
    let (scratch, _) = vault_with_two();
    write_private(&scratch.path("wrong"), "not the passphrase\n");
    let output = scratch.fails(
        scratch
            .nkvault()
            .args(["--passphrase-file", "wrong", "export-env", "node1"]),
        1,
        "wrong passphrase for nkvault.toml",
    );
    assert!(output.stdout.is_empty());
    assert!(stderr(&output).contains("hint: check --passphrase-file"));
    scratch.fails(
        scratch.nkvault().args([
            "--passphrase-file",
            "wrong",
            "export-file",
            "node1",
            "-o",
            "seed.txt",
        ]),
        1,
        "wrong passphrase",
    );
    // An empty passphrase file opens nothing either.
    write_private(&scratch.path("empty"), "");
    scratch.fails(
        scratch
            .nkvault()
            .args(["--passphrase-file", "empty", "export-env", "node1"]),
        1,
        "wrong passphrase",
    );
}

#[test]
fn no_terminal_and_no_passphrase_source_fails_at_once() {
    let (scratch, _) = vault_with_two();
    let cases: [&[&str]; 3] = [
        &["export-env", "node1"],
        &["export-file", "node1", "-o", "seed.txt"],
        &["--vault", "new.toml", "init", "--work-factor", "10"],
    ];
    for args in cases {
        let started = Instant::now();
        let output = scratch.fails(
            scratch
                .nkvault()
                .args(args)
                .timeout(Duration::from_secs(20)),
            1,
            "no terminal to ask the passphrase on",
        );
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{args:?} waited {:?}",
            started.elapsed()
        );
        let err = stderr(&output);
        assert!(
            err.contains("nkvault: hint: ") && err.contains("--passphrase-file"),
            "{err}"
        );
        assert!(err.contains("NKVAULT_PASSPHRASE_FILE"), "{err}");
        assert!(output.stdout.is_empty());
    }
}

#[test]
fn missing_passphrase_file_is_named() {
    let (scratch, _) = vault_with_two();
    scratch.fails(
        scratch
            .nkvault()
            .args(["--passphrase-file", "nope.txt", "export-env", "node1"]),
        1,
        "cannot read passphrase file nope.txt",
    );
    scratch.fails(
        scratch.nkvault().args([
            "--passphrase-file",
            "nope.txt",
            "--vault",
            "new.toml",
            "init",
        ]),
        1,
        "cannot read passphrase file nope.txt",
    );
}

#[test]
fn init_refuses_an_empty_passphrase_file() {
    let scratch = Scratch::new();
    for (file, contents) in [("empty", ""), ("newline", "\n"), ("crlf", "\r\n")] {
        write_private(&scratch.path(file), contents);
        let output = scratch.fails(
            scratch
                .nkvault()
                .args(["--passphrase-file", file, "init", "--work-factor", "10"]),
            1,
            "the passphrase is empty",
        );
        assert!(stderr(&output).contains("hint: "), "{}", stderr(&output));
        assert!(!scratch.vault().exists());
    }
}

#[test]
fn non_utf8_passphrase_file_is_refused() {
    let (scratch, _) = vault_with_two();
    write_private(&scratch.path("bin"), b"\xff\xfe\n");
    scratch.fails(
        scratch
            .nkvault()
            .args(["--passphrase-file", "bin", "export-env", "node1"]),
        1,
        "is not UTF-8 text",
    );
}

// ---------------------------------------------------------------------------
// Bad input: the vault file
// ---------------------------------------------------------------------------

#[test]
fn missing_vault_points_to_init() {
    let scratch = Scratch::new();
    let cases: [&[&str]; 6] = [
        &["list"],
        &["show", "node1"],
        &["add", "node1"],
        &["render-conf", "-o", "nats.conf"],
        &["export-env", "node1"],
        &["export-file", "node1", "-o", "seed.txt"],
    ];
    for args in cases {
        let output = scratch.fails(
            scratch.with_passphrase().args(args),
            1,
            "no vault at nkvault.toml",
        );
        assert!(
            stderr(&output).contains("hint: run `nkvault init`"),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    scratch.fails(
        scratch.nkvault().args(["--vault", "other.toml", "list"]),
        1,
        "no vault at other.toml",
    );
}

/// Every command that reads the vault, for the corrupt-vault cases.
const READERS: [&[&str]; 6] = [
    &["list"],
    &["show", "node1"],
    &["add", "node3"],
    &["render-conf"],
    &["export-env", "node1"],
    &["export-file", "node1", "-o", "seed.txt"],
];

fn every_reader_fails(scratch: &Scratch, message: &str, hint: &str) {
    for args in READERS {
        let output = scratch.fails(scratch.with_passphrase().args(args), 1, message);
        assert!(output.stdout.is_empty(), "{args:?}");
        assert!(
            stderr(&output).contains(hint),
            "{args:?}: {}",
            stderr(&output)
        );
    }
}

#[test]
fn truncated_vault_is_refused() {
    let (scratch, _) = vault_with_two();
    let bytes = fs::read(scratch.vault()).unwrap();
    fs::write(scratch.vault(), &bytes[..bytes.len() / 2]).unwrap();
    every_reader_fails(
        &scratch,
        "nkvault.toml is not a valid vault",
        "restore it from git or a backup",
    );
    // Cut inside the header lines too.
    fs::write(scratch.vault(), &bytes[..100]).unwrap();
    every_reader_fails(&scratch, "is not a valid vault", "cut short");
}

#[test]
fn corrupt_vault_is_refused() {
    let (scratch, _) = vault_with_two();
    fs::write(scratch.vault(), "this is = not [ a vault\n").unwrap();
    every_reader_fails(&scratch, "is not a valid vault", "restore it");
    fs::write(scratch.vault(), "").unwrap();
    every_reader_fails(&scratch, "is not a valid vault", "restore it");
    fs::write(scratch.vault(), b"\x00\xff\xfegarbage\x80\x81\n").unwrap();
    every_reader_fails(
        &scratch,
        "is not a valid vault: it is not UTF-8 text",
        "restore it",
    );
}

#[test]
fn vault_of_a_newer_format_asks_for_an_upgrade() {
    let (scratch, _) = vault_with_two();
    let text = fs::read_to_string(scratch.vault()).unwrap();
    fs::write(scratch.vault(), text.replace("format = 1", "format = 2")).unwrap();
    every_reader_fails(
        &scratch,
        "uses vault format 2; this nkvault reads format 1",
        "upgrade nkvault",
    );
    // A newer format that does not even parse as this one.
    fs::write(
        scratch.vault(),
        "format = 2\nmode = \"quantum\"\n[new_things]\nx = 1\n",
    )
    .unwrap();
    every_reader_fails(&scratch, "uses vault format 2", "upgrade nkvault");
}

#[test]
fn entry_with_an_edited_public_key_is_refused_on_export() {
    let (scratch, keys) = vault_with_two();
    let forged = nkeys::KeyPair::new_user().public_key();
    edit_vault(&scratch, &keys[0], &forged);
    // The clear part still reads: it is only a different valid key.
    assert!(stdout(&ok(scratch.nkvault().args(["show", "node1"]))).contains(&forged));
    for args in [
        &["export-env", "node1"][..],
        &["export-file", "node1", "-o", "seed.txt"],
        &["export-file", "node1", "-o", "-"],
    ] {
        let output = scratch.fails(
            scratch.with_passphrase().args(args),
            1,
            "entry \"node1\" does not match its encrypted seed: the encrypted record belongs to another public key",
        );
        assert!(output.stdout.is_empty(), "a seed was printed");
        assert!(stderr(&output).contains("edited by hand"));
    }
    // The other entry is untouched and still exports.
    ok(scratch.with_passphrase().args(["export-env", "node2"]));
}

#[test]
fn entry_with_an_edited_name_is_refused_on_export() {
    let (scratch, _) = vault_with_two();
    edit_vault(&scratch, "name = \"node1\"", "name = \"node0\"");
    let output = scratch.fails(
        scratch.with_passphrase().args(["export-env", "node0"]),
        1,
        "entry \"node0\" does not match its encrypted seed: the encrypted record belongs to another name",
    );
    assert!(output.stdout.is_empty());
}

#[test]
fn seed_ciphertexts_swapped_between_entries_are_refused() {
    let (scratch, _) = vault_with_two();
    let text = fs::read_to_string(scratch.vault()).unwrap();
    let blocks = seed_blocks(&text);
    assert_eq!(blocks.len(), 2);
    let (a, b) = (blocks[0], blocks[1]);
    let swapped = format!(
        "{}{}{}{}{}",
        &text[..a.0],
        &text[b.0..b.1],
        &text[a.1..b.0],
        &text[a.0..a.1],
        &text[b.1..]
    );
    assert_ne!(swapped, text);
    fs::write(scratch.vault(), swapped).unwrap();
    for name in ["node1", "node2"] {
        let output = scratch.fails(
            scratch.with_passphrase().args(["export-env", name]),
            1,
            &format!("entry \"{name}\" does not match its encrypted seed"),
        );
        assert!(output.stdout.is_empty(), "a seed was handed out");
        scratch.fails(
            scratch
                .with_passphrase()
                .args(["export-file", name, "-o", "seed.txt"]),
            1,
            "does not match its encrypted seed",
        );
    }
}

#[test]
fn vault_with_a_repeated_public_key_is_refused() {
    let (scratch, keys) = vault_with_two();
    edit_vault(&scratch, &keys[1], &keys[0]);
    // Every command that reads all entries sees the repeated key.
    for args in [
        &["list"][..],
        &["add", "node3"],
        &["render-conf"],
        &["verify"],
    ] {
        let output = scratch.fails(scratch.with_passphrase().args(args), 1, "is used twice");
        assert!(output.stdout.is_empty(), "{args:?}");
        assert!(stderr(&output).contains("restore it"), "{args:?}");
    }
    // export reads only the header and its own entry (so that it stays fast
    // on a vault of 100,000): the edited entry is refused by its binding ...
    scratch.fails(
        scratch.with_passphrase().args(["export-env", "node2"]),
        1,
        "does not match its encrypted seed",
    );
    // ... and the intact one is still its own seed, checked the same way.
    let seed = scratch.seed("node1");
    let derived = nkeys::KeyPair::from_seed(&seed).unwrap().public_key();
    assert_eq!(derived, keys[0]);
}

// ---------------------------------------------------------------------------
// Bad input: names, subjects, options
// ---------------------------------------------------------------------------

#[test]
fn duplicate_name_already_in_the_vault_adds_nothing() {
    let (scratch, _) = vault_with_two();
    let output = scratch.fails(
        scratch.nkvault().args(["add", "node3", "node1"]),
        1,
        "an entry named \"node1\" already exists",
    );
    assert!(output.stdout.is_empty());
    assert!(stderr(&output).contains("hint: "));
    scratch.fails(
        scratch.with_passphrase().args(["show", "node3"]),
        1,
        "no entry named \"node3\"",
    );
}

#[test]
fn add_refuses_a_name_given_twice_with_its_own_message() {
    // Regression: this used to say the entry "already exists", which it did not.
    let scratch = Scratch::new();
    scratch.init();
    let output = scratch.fails(
        scratch.nkvault().args(["add", "a1", "b2", "a1"]),
        1,
        "the name \"a1\" is given twice; nothing was added",
    );
    assert!(
        !stderr(&output).contains("already exists"),
        "{}",
        stderr(&output)
    );
    assert!(output.stdout.is_empty());
    let json: Value =
        serde_json::from_slice(&ok(scratch.nkvault().args(["list", "--json"])).stdout).unwrap();
    assert_eq!(json, serde_json::json!([]));
}

#[test]
fn invalid_names_are_refused_with_the_rule() {
    let scratch = Scratch::new();
    scratch.init();
    let long = "x".repeat(65);
    let cases: [(&str, &str); 9] = [
        ("", "it is empty"),
        (&long, "longer than 64 characters"),
        ("a/b", "contains '/'"),
        ("a b", "contains white space"),
        ("a\tb", "contains white space"),
        ("a\u{7}b", "contains a control character"),
        ("né", "other than letters"),
        ("-flag", "does not start with a letter or digit"),
        (".hidden", "does not start with a letter or digit"),
    ];
    for (name, reason) in cases {
        let output = scratch.fails(
            scratch.nkvault().args(["add", "good", "--", name]),
            1,
            reason,
        );
        let err = stderr(&output);
        assert!(err.contains("invalid name"), "{err}");
        assert!(err.contains("hint: names are 1 to 64 characters"), "{err}");
        // The control character is escaped, never sent to the terminal raw.
        assert!(!err.contains('\u{7}'), "{err:?}");
    }
    // 64 characters is fine.
    ok(scratch.nkvault().args(["add", &"x".repeat(64)]));
}

#[test]
fn a_leading_dash_name_without_the_separator_is_a_usage_error() {
    let scratch = Scratch::new();
    scratch.init();
    scratch.fails(
        scratch.nkvault().args(["add", "-flag"]),
        2,
        "unexpected argument",
    );
}

#[test]
fn unknown_name_suggests_the_nearest() {
    let (scratch, _) = vault_with_two();
    let cases: [&[&str]; 4] = [
        &["show", "nod1"],
        &["show", "nod1", "--json"],
        &["export-env", "nod1"],
        &["export-file", "nod1", "-o", "seed.txt"],
    ];
    for args in cases {
        let output = scratch.fails(
            scratch.with_passphrase().args(args),
            1,
            "no entry named \"nod1\"",
        );
        assert!(
            stderr(&output).contains("hint: did you mean \"node1\"?"),
            "{}",
            stderr(&output)
        );
    }
    // Nothing close: no suggestion, still a pointer to `list`.
    let output = scratch.fails(
        scratch.with_passphrase().args(["show", "database"]),
        1,
        "no entry named \"database\"",
    );
    assert!(!stderr(&output).contains("did you mean"));
    assert!(stderr(&output).contains("nkvault list"));
}

#[test]
fn unknown_name_is_reported_before_any_unlock() {
    // No passphrase source and no terminal: the name is still checked first.
    let (scratch, _) = vault_with_two();
    scratch.fails(
        scratch.nkvault().args(["export-env", "nod1"]),
        1,
        "no entry named \"nod1\"",
    );
}

#[test]
fn invalid_subjects_are_refused() {
    let (scratch, _) = vault_with_two();
    let cases = [
        ("--publish", "a..b", "empty token"),
        ("--publish", "", "it is empty"),
        ("--publish", "a.>.b", "'>' must be the whole last token"),
        ("--subscribe", "a*", "'*' must be a whole token"),
        ("--deny-publish", "a b", "white space"),
        ("--deny-subscribe", "x\"y", "quote or a backslash"),
    ];
    for (option, subject, reason) in cases {
        let output = scratch.fails(
            scratch.nkvault().args(["add", "node3", option, subject]),
            1,
            reason,
        );
        let err = stderr(&output);
        assert!(err.contains("invalid subject"), "{err}");
        assert!(err.contains("hint: subjects are dot-separated"), "{err}");
    }
}

#[test]
fn invalid_var_is_a_usage_error() {
    let (scratch, _) = vault_with_two();
    for var in ["1X", "A-B", "", "A B", "NKEY_SEED=x"] {
        scratch.fails(
            scratch
                .with_passphrase()
                .args(["export-env", "node1", "--var", var]),
            2,
            "a variable name is a letter or '_'",
        );
    }
}

#[test]
fn work_factor_out_of_range_is_a_usage_error() {
    let scratch = Scratch::new();
    for factor in ["9", "23", "0", "255", "x"] {
        scratch.fails(
            scratch
                .with_passphrase()
                .args(["init", "--work-factor", factor]),
            2,
            "--work-factor",
        );
    }
    let output = scratch.fails(
        scratch
            .with_passphrase()
            .args(["init", "--work-factor", "9"]),
        2,
        "9 is not in 10..=22",
    );
    assert!(output.stdout.is_empty());
    scratch.fails(
        scratch
            .with_passphrase()
            .args(["init", "--work-factor", "23"]),
        2,
        "23 is not in 10..=22",
    );
}

#[test]
fn usage_errors_exit_2_with_the_prefix() {
    let (scratch, _) = vault_with_two();
    let cases: [(&[&str], &str); 6] = [
        (&["frobnicate"], "unrecognized subcommand"),
        (&["add"], "required"),
        (&["export-file", "node1"], "--output"),
        (&["render-conf", "--port", "70000"], "--port"),
        (
            &["render-conf", "--fragment", "--port", "1"],
            "cannot be used with",
        ),
        (&["completions", "tcsh"], "invalid value"),
    ];
    for (args, message) in cases {
        scratch.fails(scratch.nkvault().args(args), 2, message);
    }
}

#[test]
fn work_factor_with_recipients_is_a_usage_error() {
    // The work factor protects a passphrase; a recipients vault has none, so
    // the option would be silently ignored.
    let scratch = Scratch::new();
    let recipient = "age13uvwva9aslguxju5s8q2za2ru5v23jp66xs0wjx9dd97lj0m9ulq9pr8qj";
    let output = scratch.fails(
        scratch
            .nkvault()
            .args(["init", "-r", recipient, "--work-factor", "12"]),
        2,
        "cannot be used with",
    );
    assert!(!scratch.vault().exists(), "{}", stderr(&output));
}

#[test]
fn empty_environment_variables_count_as_unset() {
    let (scratch, keys) = vault_with_two();
    let listed = ok(scratch.nkvault().env("NKVAULT_VAULT", "").arg("list"));
    assert!(stdout(&listed).contains(&keys[0]));

    // An empty passphrase-file variable is no passphrase source at all: the
    // terminal is asked, and there is none.
    scratch.fails(
        scratch
            .nkvault()
            .env("NKVAULT_PASSPHRASE_FILE", "")
            .env("NKVAULT_IDENTITY", "")
            .args(["export-env", "node1"]),
        1,
        "no terminal to ask the passphrase on",
    );
}

// ---------------------------------------------------------------------------
// Bad input: init
// ---------------------------------------------------------------------------

#[test]
fn init_never_overwrites_a_vault_or_any_file() {
    let (scratch, _) = vault_with_two();
    let output = scratch.fails(
        scratch
            .with_passphrase()
            .args(["init", "--work-factor", "10"]),
        1,
        "nkvault.toml already exists",
    );
    assert!(stderr(&output).contains("hint: nkvault never overwrites"));
    // Not even in recipients mode.
    let (_, recipient) = age_identity(&scratch, "id.key");
    scratch.fails(
        scratch.nkvault().args(["init", "-r", &recipient]),
        1,
        "nkvault.toml already exists",
    );

    fs::write(scratch.path("notes.txt"), "my notes\n").unwrap();
    scratch.fails(
        scratch
            .with_passphrase()
            .args(["--vault", "notes.txt", "init", "--work-factor", "10"]),
        1,
        "notes.txt already exists",
    );
    assert_eq!(
        fs::read_to_string(scratch.path("notes.txt")).unwrap(),
        "my notes\n"
    );

    // A dangling symlink is a file too: init does not write through it.
    std::os::unix::fs::symlink("elsewhere.toml", scratch.path("link.toml")).unwrap();
    scratch.fails(
        scratch
            .with_passphrase()
            .args(["--vault", "link.toml", "init", "--work-factor", "10"]),
        1,
        "link.toml already exists",
    );
    assert!(!scratch.path("elsewhere.toml").exists());
}

#[test]
fn init_refuses_a_garbage_recipient() {
    let scratch = Scratch::new();
    for recipient in ["garbage", "age1notreally", "AGE-SECRET-KEY-1XYZ", ""] {
        let output = scratch.fails(
            scratch.nkvault().args(["init", "-r", recipient]),
            1,
            "invalid recipient",
        );
        assert!(stderr(&output).contains("hint: make a key pair with `age-keygen`"));
    }
    fs::write(scratch.path("team.txt"), "age1garbage\n").unwrap();
    scratch.fails(
        scratch.nkvault().args(["init", "-R", "team.txt"]),
        1,
        "invalid recipient \"age1garbage\"",
    );
    // A good recipient does not rescue a bad one.
    let (_, good) = age_identity(&scratch, "id.key");
    scratch.fails(
        scratch
            .nkvault()
            .args(["init", "-r", &good, "-r", "garbage"]),
        1,
        "invalid recipient \"garbage\"",
    );
}

#[test]
fn init_recipients_file_missing_or_empty_is_named() {
    // Regression: a missing file said only "cannot read FILE", and an empty one
    // "no recipients given" although a file was given.
    let scratch = Scratch::new();
    scratch.fails(
        scratch.nkvault().args(["init", "-R", "team.txt"]),
        1,
        "cannot read recipients file team.txt",
    );
    fs::write(scratch.path("team.txt"), "# nobody yet\n\n").unwrap();
    scratch.fails(
        scratch.nkvault().args(["init", "-R", "team.txt"]),
        1,
        "recipients file team.txt: it lists no recipient",
    );
}

// ---------------------------------------------------------------------------
// Bad input: recipients mode unlock
// ---------------------------------------------------------------------------

#[test]
fn recipients_mode_wrong_missing_or_bad_identity() {
    let scratch = Scratch::new();
    let (_, recipient) = age_identity(&scratch, "alice.key");
    let (stranger, _) = age_identity(&scratch, "stranger.key");
    ok(scratch.nkvault().args(["init", "-r", &recipient]));
    scratch.add(&["node1"]);

    let output = scratch.fails(
        scratch
            .nkvault()
            .arg("-i")
            .arg(&stranger)
            .args(["export-env", "node1"]),
        1,
        "none of the identities given can decrypt entry \"node1\"",
    );
    assert!(output.stdout.is_empty());
    assert!(stderr(&output).contains("hint: pass the identity file of one of the vault's"));
    scratch.fails(
        scratch
            .nkvault()
            .arg("-i")
            .arg(&stranger)
            .args(["export-file", "node1", "-o", "seed.txt"]),
        1,
        "none of the identities given can decrypt",
    );

    let output = scratch.fails(
        scratch.nkvault().args(["export-env", "node1"]),
        1,
        "this vault is in recipients mode and no identity was given",
    );
    assert!(stderr(&output).contains("-i FILE"));
    // A passphrase file is no substitute.
    scratch.fails(
        scratch.with_passphrase().args(["export-env", "node1"]),
        1,
        "no identity was given",
    );
    scratch.fails(
        scratch
            .nkvault()
            .args(["-i", "nope.key", "export-env", "node1"]),
        1,
        "cannot use identity file nope.key",
    );
    scratch.fails(
        scratch
            .nkvault()
            .args(["-i", "pass", "export-env", "node1"]),
        1,
        "cannot use identity file pass",
    );
}

// ---------------------------------------------------------------------------
// Bad input: output paths
// ---------------------------------------------------------------------------

#[test]
fn export_file_refuses_unsafe_outputs_before_unlocking() {
    let (scratch, _) = vault_with_two();
    fs::create_dir(scratch.path("dir")).unwrap();
    std::os::unix::fs::symlink("target.txt", scratch.path("link")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", scratch.path("abs-link")).unwrap();
    fs::write(scratch.path("existing.txt"), "keep me\n").unwrap();
    fs::hard_link(scratch.vault(), scratch.path("hardlink.toml")).unwrap();

    let cases: [(&str, bool, &str); 13] = [
        (
            "link",
            false,
            "refusing to write link: it is a symbolic link",
        ),
        ("link", true, "it is a symbolic link"),
        ("abs-link", true, "it is a symbolic link"),
        ("dir", false, "refusing to write dir: it is a directory"),
        ("dir", true, "it is a directory"),
        ("nkvault.toml", false, "it is the vault itself"),
        ("nkvault.toml", true, "it is the vault itself"),
        ("./dir/../nkvault.toml", true, "it is the vault itself"),
        ("hardlink.toml", true, "it is the vault itself"),
        (
            "existing.txt",
            false,
            "refusing to write existing.txt: it already exists",
        ),
        ("missing/seed.txt", false, "its directory does not exist"),
        (
            "existing.txt/seed.txt",
            false,
            "its parent is not a directory",
        ),
        ("new/", false, "it ends with '/', so it names a directory"),
    ];
    for (output_path, force, message) in cases {
        // No passphrase source and no terminal: a refused path must be refused
        // before the unlock is even attempted.
        let mut command = scratch.nkvault();
        command.args(["export-file", "node1", "-o", output_path]);
        if force {
            command.arg("--force");
        }
        scratch.fails(&mut command, 1, message);
    }
    let output = scratch.fails(
        scratch
            .with_passphrase()
            .args(["export-file", "node1", "-o", "existing.txt"]),
        1,
        "it already exists",
    );
    assert!(stderr(&output).contains("hint: pass --force to replace it"));
    assert_eq!(
        fs::read_to_string(scratch.path("existing.txt")).unwrap(),
        "keep me\n"
    );
    assert!(!scratch.path("target.txt").exists());
    assert_eq!(fs::read_dir(scratch.path("dir")).unwrap().count(), 0);
    assert!(!scratch.path("missing").exists());
}

#[test]
fn output_path_ending_in_a_slash_is_refused_before_unlocking() {
    // Regression: `-o new/` passed the checks, decrypted the seed, then failed
    // to write with a bare "Not a directory".
    let (scratch, _) = vault_with_two();
    fs::create_dir(scratch.path("dir")).unwrap();
    for output_path in ["new/", "dir/", "nkvault.toml/"] {
        scratch.fails(
            scratch
                .with_passphrase()
                .args(["export-file", "node1", "-o", output_path]),
            1,
            &format!("refusing to write {output_path}: it ends with '/', so it names a directory"),
        );
        scratch.fails(
            scratch.nkvault().args(["render-conf", "-o", output_path]),
            1,
            "so it names a directory",
        );
    }
    assert!(!scratch.path("new").exists());
    assert_eq!(fs::read_dir(scratch.path("dir")).unwrap().count(), 0);
}

#[test]
fn render_conf_refuses_unsafe_outputs() {
    let (scratch, _) = vault_with_two();
    fs::create_dir(scratch.path("dir")).unwrap();
    std::os::unix::fs::symlink("target.conf", scratch.path("link")).unwrap();
    let cases = [
        ("link", "refusing to write link: it is a symbolic link"),
        ("dir", "refusing to write dir: it is a directory"),
        (
            "nkvault.toml",
            "refusing to write nkvault.toml: it is the vault itself",
        ),
        ("./nkvault.toml", "it is the vault itself"),
        ("missing/nats.conf", "its directory does not exist"),
        ("dir/", "it ends with '/', so it names a directory"),
        ("new/", "it ends with '/', so it names a directory"),
    ];
    for (output_path, message) in cases {
        scratch.fails(
            scratch.nkvault().args(["render-conf", "-o", output_path]),
            1,
            message,
        );
    }
    assert!(!scratch.path("target.conf").exists());
    assert_eq!(fs::read_dir(scratch.path("dir")).unwrap().count(), 0);
}

// ---------------------------------------------------------------------------
// Secrets
// ---------------------------------------------------------------------------

/// Every regular file under `dir`, recursively, with its bytes.
fn all_files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let meta = fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            files.extend(all_files(&path));
        } else if meta.is_file() {
            files.push((path.clone(), fs::read(&path).unwrap()));
        }
    }
    files
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

#[test]
fn seeds_land_only_in_the_file_export_file_wrote() {
    let scratch = Scratch::new();
    let mut stderrs: Vec<(String, Vec<u8>)> = Vec::new();
    let mut run = |label: &str, command: &mut Command, success: bool| -> Output {
        let output = command.output().unwrap();
        assert_eq!(
            output.status.success(),
            success,
            "{label}: {}",
            stderr(&output)
        );
        stderrs.push((label.to_owned(), output.stderr.clone()));
        output
    };

    run(
        "init",
        scratch
            .with_passphrase()
            .args(["init", "--work-factor", "10"]),
        true,
    );
    run(
        "add",
        scratch.nkvault().args(["add", "node1", "node2"]),
        true,
    );
    run(
        "add json",
        scratch.nkvault().args(["add", "--json", "github"]),
        true,
    );
    run("list", scratch.nkvault().args(["list", "--json"]), true);
    run("show", scratch.nkvault().args(["show", "node1"]), true);
    run(
        "render",
        scratch.nkvault().args(["render-conf", "-o", "nats.conf"]),
        true,
    );

    let mut seeds = Vec::new();
    for name in ["node1", "node2", "github"] {
        let output = run(
            "export-env",
            scratch.with_passphrase().args(["export-env", name]),
            true,
        );
        let seed = stdout(&output)
            .strip_prefix("NKEY_SEED=")
            .unwrap()
            .trim_end()
            .to_owned();
        assert!(is_seed_like(&seed));
        seeds.push(seed);
    }
    let output = run(
        "export-file -",
        scratch
            .with_passphrase()
            .args(["export-file", "github", "-o", "-"]),
        true,
    );
    assert_eq!(stdout(&output), format!("{}\n", seeds[2]));
    fs::create_dir(scratch.path("node")).unwrap();
    run(
        "export-file",
        scratch
            .with_passphrase()
            .args(["export-file", "node1", "-o", "node/seed.txt"]),
        true,
    );
    run(
        "export-file force",
        scratch
            .with_passphrase()
            .args(["export-file", "node1", "-o", "node/seed.txt", "--force"]),
        true,
    );
    // Failures after an unlock must not leak either.
    write_private(&scratch.path("wrong"), "nope\n");
    run(
        "wrong passphrase",
        scratch
            .nkvault()
            .args(["--passphrase-file", "wrong", "export-env", "node2"]),
        false,
    );
    run(
        "existing",
        scratch
            .with_passphrase()
            .args(["export-file", "node2", "-o", "node/seed.txt"]),
        false,
    );
    run(
        "render again",
        scratch.nkvault().args(["render-conf"]),
        true,
    );

    for (label, err) in &stderrs {
        for seed in &seeds {
            assert!(!contains(err, seed), "{label}: a seed on stderr");
        }
        assert!(
            !contains(err, "SU"),
            "{label}: {}",
            String::from_utf8_lossy(err)
        );
        assert!(
            !contains(err, PASSPHRASE),
            "{label}: the passphrase on stderr"
        );
    }
    let files = all_files(scratch.dir.path());
    for (path, bytes) in &files {
        let relative = path.strip_prefix(scratch.dir.path()).unwrap();
        for (i, seed) in seeds.iter().enumerate() {
            let expected = i == 0 && relative == Path::new("node/seed.txt");
            assert_eq!(
                contains(bytes, seed),
                expected,
                "seed {i} in {}",
                relative.display()
            );
        }
        // No seed of any entry in a form other than the exported file.
        if relative != Path::new("node/seed.txt") {
            assert!(
                !String::from_utf8_lossy(bytes)
                    .split(|c: char| !c.is_ascii_alphanumeric())
                    .any(|token| is_seed_like(token) && nkeys::KeyPair::from_seed(token).is_ok()),
                "something seed-like in {}",
                relative.display()
            );
        }
        if relative != Path::new("pass") {
            assert!(
                !contains(bytes, PASSPHRASE),
                "passphrase in {}",
                relative.display()
            );
        }
    }
    let mut names: Vec<String> = files
        .iter()
        .map(|(p, _)| {
            p.strip_prefix(scratch.dir.path())
                .unwrap()
                .display()
                .to_string()
        })
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "nats.conf",
            "nkvault.toml",
            "node/seed.txt",
            "pass",
            "wrong"
        ]
    );
}

// ---------------------------------------------------------------------------
// What a newcomer ran into (regressions)
// ---------------------------------------------------------------------------

#[test]
fn render_conf_dash_is_standard_output() {
    let (scratch, keys) = vault_with_two();
    let output = ok(scratch.nkvault().args(["render-conf", "-o", "-"]));
    assert!(stdout(&output).contains(&keys[0]));
    assert!(!scratch.path("-").exists(), "a file named '-' was written");
}

#[test]
fn a_passphrase_file_others_can_read_gets_a_warning() {
    let (scratch, _) = vault_with_two();
    fs::set_permissions(scratch.path("pass"), fs::Permissions::from_mode(0o644)).unwrap();
    let output = ok(scratch.with_passphrase().args(["export-env", "node1"]));
    let err = stderr(&output);
    assert!(
        err.starts_with("nkvault: warning: passphrase file pass can be read by others (mode 644)"),
        "{err}"
    );
    assert!(stdout(&output).starts_with("NKEY_SEED=SU"));
}

/// export-env with its standard output sent to `file`; returns stderr.
fn export_env_into(scratch: &Scratch, file: &Path) -> String {
    let out = fs::OpenOptions::new().append(true).open(file).unwrap();
    let output = scratch
        .std_nkvault()
        .args(["--passphrase-file", "pass", "export-env", "node1"])
        .stdout(out)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    stderr(&output)
}

#[test]
fn a_seed_sent_to_a_file_others_can_read_gets_a_warning() {
    let (scratch, _) = vault_with_two();
    let open = scratch.path("open.env");
    fs::write(&open, "").unwrap();
    fs::set_permissions(&open, fs::Permissions::from_mode(0o644)).unwrap();
    let err = export_env_into(&scratch, &open);
    assert!(err.contains("others can read (mode 644)"), "{err}");
    assert!(fs::read_to_string(&open)
        .unwrap()
        .starts_with("NKEY_SEED=SU"));

    let private = scratch.path("private.env");
    write_private(&private, "");
    assert_eq!(export_env_into(&scratch, &private), "");
}

#[test]
fn export_file_to_a_directory_that_takes_no_file_fails_before_the_unlock() {
    // /proc takes no new file, even for root. No passphrase source is given:
    // had nkvault unlocked first, the error would be about the terminal.
    let (scratch, _) = vault_with_two();
    scratch.fails(
        scratch
            .nkvault()
            .args(["export-file", "node1", "-o", "/proc/nkvault-test.seed"]),
        1,
        "cannot write /proc/nkvault-test.seed",
    );
}

#[test]
fn an_identity_on_a_passphrase_vault_is_named_as_unused() {
    let (scratch, _) = vault_with_two();
    let output = ok(scratch
        .with_passphrase()
        .args(["-i", "nothing.key", "export-env", "node1"]));
    assert!(
        stderr(&output).contains("-i is not used: this vault is unlocked with its passphrase"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn refused_outputs_say_what_to_do() {
    let (scratch, _) = vault_with_two();
    fs::write(scratch.path("taken.seed"), "keep\n").unwrap();
    std::os::unix::fs::symlink("taken.seed", scratch.path("link.seed")).unwrap();
    let cases = [
        ("missing/node1.seed", "mkdir -p"),
        ("taken.seed", "--force"),
        ("link.seed", "the link points to"),
        ("nkvault.toml", "another file"),
    ];
    for (path, hint) in cases {
        let output = scratch.fails(
            scratch.nkvault().args(["export-file", "node1", "-o", path]),
            1,
            "refusing to write",
        );
        let err = stderr(&output);
        assert!(
            err.contains("nkvault: hint: ") && err.contains(hint),
            "{path}: {err}"
        );
    }
}

#[test]
fn port_zero_is_a_usage_error() {
    let (scratch, _) = vault_with_two();
    scratch.fails(
        scratch.nkvault().args(["render-conf", "--port", "0"]),
        2,
        "--port",
    );
}

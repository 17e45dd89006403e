//! The lifecycle commands through the built binary: rotate, remove, import,
//! passwd, recipients and verify. Each success path is checked by what the
//! other commands see afterwards (list, show, render-conf, export-env, the
//! stock `age`); each bad input by `Scratch::fails` (message, exit status,
//! vault bytes and directory listing unchanged).
//!
//! The prompts on a real terminal are in `lifecycle_pty.rs`.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use common::tools::age;
use common::{fixtures, keygen, stderr, stdout, write_private, Scratch, PASSPHRASE};
use nkvault_vault::public_key_of_user_seed;
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

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(output)))
}

/// `list --json`, parsed.
fn list_json(scratch: &Scratch) -> Value {
    json(&ok(scratch.nkvault().args(["list", "--json"])))
}

/// The names in `list --json`, in order.
fn listed_names(scratch: &Scratch) -> Vec<String> {
    list_json(scratch)
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_owned())
        .collect()
}

/// The public key `list --json` shows for `name`, and its previous key.
fn listed_keys(scratch: &Scratch, name: &str) -> (String, Option<String>) {
    let list = list_json(scratch);
    let entry = list
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("{name} not in {list}"));
    (
        entry["public_key"].as_str().unwrap().to_owned(),
        entry["previous_public_key"].as_str().map(str::to_owned),
    )
}

/// `render-conf` to standard output; needs no secret.
fn render(scratch: &Scratch) -> String {
    stdout(&ok(scratch.nkvault().arg("render-conf")))
}

/// The `nkey:` values of a rendered config, in order.
fn rendered_keys(conf: &str) -> Vec<String> {
    conf.lines()
        .filter_map(|line| line.trim().strip_prefix("nkey: \""))
        .map(|rest| rest.trim_end_matches('"').to_owned())
        .collect()
}

/// A well-formed public user key with a valid checksum.
fn assert_user_key(key: &str) {
    assert!(key.starts_with('U') && key.len() == 56, "{key:?}");
    let pair = nkeys::KeyPair::from_public_key(key).unwrap_or_else(|e| panic!("{key}: {e}"));
    assert_eq!(pair.key_pair_type(), nkeys::KeyPairType::User, "{key}");
}

/// The public key a seed derives.
fn key_of(seed: &str) -> String {
    public_key_of_user_seed(seed).unwrap().as_str().to_owned()
}

/// A vault with `node1` and `node2`; their keys.
fn vault_with_two() -> (Scratch, Vec<String>) {
    let scratch = Scratch::new();
    scratch.init();
    let keys = scratch.add(&["node1", "node2"]);
    (scratch, keys)
}

/// Puts back vault bytes saved with `snapshot`, mode 0600.
fn restore(scratch: &Scratch, bytes: &[u8]) {
    write_private(&scratch.vault(), bytes);
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

/// The texts of the `seed = """…"""` values of the vault, in order.
fn seed_texts(text: &str) -> Vec<String> {
    seed_blocks(text)
        .into_iter()
        .map(|(a, b)| text[a..b].to_owned())
        .collect()
}

/// The armored age ciphertext of `name`'s seed: the seed block that follows
/// `name = "NAME"` in the vault text, as the stock `age` reads it.
fn seed_ciphertext(vault: &str, name: &str) -> String {
    let at = vault
        .find(&format!("\nname = \"{name}\"\n"))
        .unwrap_or_else(|| panic!("no entry {name} in:\n{vault}"));
    let (start, end) = seed_blocks(vault)
        .into_iter()
        .find(|(start, _)| *start > at)
        .unwrap();
    let armored = vault[start..end].trim_start_matches('\n').to_owned();
    assert!(
        armored.starts_with("-----BEGIN AGE ENCRYPTED FILE-----\n")
            && armored.ends_with("-----END AGE ENCRYPTED FILE-----\n"),
        "not an armored age file: {armored}"
    );
    armored
}

/// Swaps the text of the seed ciphertexts number `i` and `j` (0-based).
fn swap_seeds(text: &str, i: usize, j: usize) -> String {
    let blocks = seed_blocks(text);
    let (a, b) = (blocks[i.min(j)], blocks[i.max(j)]);
    format!(
        "{}{}{}{}{}",
        &text[..a.0],
        &text[b.0..b.1],
        &text[a.1..b.0],
        &text[a.0..a.1],
        &text[b.1..]
    )
}

/// `nkvault -i IDENTITY export-env NAME`: the seed alone.
fn seed_with(scratch: &Scratch, identity: &str, name: &str) -> String {
    let output = ok(scratch.nkvault().args(["-i", identity, "export-env", name]));
    stdout(&output)
        .strip_prefix("NKEY_SEED=")
        .and_then(|rest| rest.strip_suffix('\n'))
        .expect("NKEY_SEED=SU…\\n")
        .to_owned()
}

/// `recipients list --json`, the recipients.
fn recipients_of(scratch: &Scratch) -> Vec<String> {
    let listed = json(&ok(scratch.nkvault().args([
        "recipients",
        "list",
        "--json",
    ])));
    listed["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect()
}

/// The stock `age -d -i IDENTITY` on `name`'s ciphertext in the vault.
fn age_decrypt(scratch: &Scratch, identity: &str, name: &str) -> Output {
    let vault = fs::read_to_string(scratch.vault()).unwrap();
    let file = scratch.path(&format!("{name}.age"));
    fs::write(&file, seed_ciphertext(&vault, name)).unwrap();
    let output = std::process::Command::new(age())
        .current_dir(scratch.dir.path())
        .args(["-d", "-i", identity])
        .arg(&file)
        .output()
        .unwrap();
    fs::remove_file(&file).unwrap();
    output
}

/// A recipients-mode vault for the identities `files` (made here), with
/// entries `names`. Returns the recipients, in the order of `files`.
fn recipients_vault(scratch: &Scratch, files: &[&str], names: &[&str]) -> Vec<String> {
    let recipients: Vec<String> = files.iter().map(|f| keygen(scratch, f)).collect();
    let mut init = scratch.nkvault();
    init.arg("init");
    for recipient in &recipients {
        init.args(["-r", recipient]);
    }
    ok(&mut init);
    if !names.is_empty() {
        scratch.add(names);
    }
    recipients
}

/// The fixture `tests/fixtures/nkeys/seed-inputs.json`: the public key of
/// the accepted inputs, and (case, input, accept) for each.
fn seed_inputs() -> (String, Vec<(String, String, bool)>) {
    let text = fs::read_to_string(fixtures().join("nkeys/seed-inputs.json")).unwrap();
    let fixture: Value = serde_json::from_str(&text).unwrap();
    let public_key = fixture["public_key"].as_str().unwrap().to_owned();
    let cases: Vec<(String, String, bool)> = fixture["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["case"].as_str().unwrap().to_owned(),
                c["input"].as_str().unwrap().to_owned(),
                c["accept"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(cases.len(), 20, "the fixture has twenty cases");
    (public_key, cases)
}

/// Checks that no piece of `input` that could be (part of) a seed is in `text`.
fn assert_input_not_shown(text: &str, input: &str, case: &str) {
    for word in input.split(|c: char| c.is_whitespace() || c == '\0') {
        if word.len() >= 8 {
            assert!(
                !text.contains(word),
                "{case}: the input {word:?} was shown: {text}"
            );
        }
    }
}

/// Copies a fixture directory into the scratch directory, each file mode
/// `mode` (the fixtures are read-only, nsc writes 0600).
fn copy_tree(from: &Path, to: &Path, mode: u32) {
    fs::create_dir_all(to).unwrap();
    for item in fs::read_dir(from).unwrap() {
        let item = item.unwrap();
        let target = to.join(item.file_name());
        if item.file_type().unwrap().is_dir() {
            copy_tree(&item.path(), &target, mode);
        } else {
            fs::copy(item.path(), &target).unwrap();
            fs::set_permissions(&target, fs::Permissions::from_mode(mode)).unwrap();
        }
    }
}

/// The user seed files of the nsc keystore fixture: (public key, seed).
fn nsc_user_seeds() -> Vec<(String, String)> {
    let users = fixtures().join("nsc-keystore/keys/U");
    let mut found = Vec::new();
    for bucket in fs::read_dir(users).unwrap() {
        for file in fs::read_dir(bucket.unwrap().path()).unwrap() {
            let path: PathBuf = file.unwrap().path();
            let public = path.file_stem().unwrap().to_str().unwrap().to_owned();
            let seed = fs::read_to_string(&path).unwrap();
            found.push((public, seed));
        }
    }
    found.sort();
    assert_eq!(found.len(), 3, "the fixture has three user seeds");
    found
}

/// expected.tsv of the nk-files fixture: (file, public key).
fn nk_files_expected() -> Vec<(String, String)> {
    let text = fs::read_to_string(fixtures().join("nk-files/expected.tsv")).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (file, key) = l.split_once('\t').unwrap();
            (file.to_owned(), key.to_owned())
        })
        .collect()
}

const FIXTURE_SEED: &str = "SUAOIZ425OJJYJXVBCU7T3T2PGTQGLY46VXSNU2O5QCDISXIHWFIIKRXKE";
const FIXTURE_KEY: &str = "UAI3WZCY42TPJHVGCEPACJBKPOR4F57Y4MPXBGQ3HKV7KBFQ6JB3UCOO";
const ACCOUNT_SEED: &str = "SAAD7LGOE4HBPZUTURKRNMM5EKEVTFSTUIPS6U2F6JPWZEI6EJDSNUBQXQ";

// ---------------------------------------------------------------------------
// rotate
// ---------------------------------------------------------------------------

#[test]
fn rotate_prints_a_new_key_and_the_old_seed_is_gone() {
    let (scratch, keys) = vault_with_two();
    let old_seed = scratch.seed("node1");

    // No passphrase source, no terminal: rotate needs no unlock.
    let output = ok(scratch.nkvault().args(["rotate", "node1"]));
    let printed = stdout(&output);
    let new_key = printed.trim_end().to_owned();
    assert_eq!(printed, format!("{new_key}\n"), "one line: {printed:?}");
    assert_user_key(&new_key);
    assert_ne!(new_key, keys[0]);
    let err = stderr(&output);
    assert!(
        err.contains(&format!("the old key {} is", keys[0])),
        "{err}"
    );

    let new_seed = scratch.seed("node1");
    assert_ne!(new_seed, old_seed);
    assert_eq!(key_of(&new_seed), new_key);
    // node2 is untouched.
    assert_eq!(key_of(&scratch.seed("node2")), keys[1]);

    let conf = render(&scratch);
    assert_eq!(rendered_keys(&conf), [new_key.clone(), keys[1].clone()]);
    assert!(!conf.contains(&keys[0]), "{conf}");
    assert!(!conf.contains("previous key"), "{conf}");
    assert_eq!(listed_keys(&scratch, "node1"), (new_key, None));
    ok(scratch.with_passphrase().arg("verify"));
}

#[test]
fn rotate_with_overlap_keeps_the_previous_key_until_finish() {
    let (scratch, keys) = vault_with_two();
    let old = keys[0].clone();

    let output = ok(scratch.nkvault().args(["rotate", "node1", "--overlap"]));
    let new = stdout(&output).trim_end().to_owned();
    assert_user_key(&new);
    assert_ne!(new, old);
    assert!(stderr(&output).contains("rotate node1 --finish"));
    // The vault hands out the new seed.
    assert_eq!(key_of(&scratch.seed("node1")), new);

    // The config accepts both, the previous one under its comment.
    let conf = render(&scratch);
    assert_eq!(
        rendered_keys(&conf),
        [new.clone(), old.clone(), keys[1].clone()]
    );
    let comment = "    # node1: previous key, accepted until `nkvault rotate node1 --finish`\n";
    let at = conf.find(comment).unwrap_or_else(|| panic!("{conf}"));
    let after = &conf[at + comment.len()..];
    assert!(
        after.starts_with(&format!("    {{\n      nkey: \"{old}\"\n")),
        "the previous key is not right under its comment:\n{conf}"
    );

    // list, list --json, show and show --json name the previous key.
    assert_eq!(
        listed_keys(&scratch, "node1"),
        (new.clone(), Some(old.clone()))
    );
    assert_eq!(listed_keys(&scratch, "node2"), (keys[1].clone(), None));
    let table = stdout(&ok(scratch.nkvault().arg("list")));
    let line = table
        .lines()
        .find(|l| l.starts_with("node1 (previous)"))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(line.contains(&old), "{table}");
    let shown = stdout(&ok(scratch.nkvault().args(["show", "node1"])));
    assert!(
        shown.contains(&format!("previous key:     {old}")),
        "{shown}"
    );
    let shown = json(&ok(scratch.nkvault().args(["show", "node1", "--json"])));
    assert_eq!(shown["previous_public_key"], old.as_str());
    assert_eq!(shown["public_key"], new.as_str());

    // --finish drops it.
    let output = ok(scratch.nkvault().args(["rotate", "node1", "--finish"]));
    assert!(output.stdout.is_empty(), "{}", stdout(&output));
    assert!(stderr(&output).contains(&old), "{}", stderr(&output));
    let conf = render(&scratch);
    assert_eq!(rendered_keys(&conf), [new.clone(), keys[1].clone()]);
    assert!(!conf.contains("previous key"), "{conf}");
    assert_eq!(listed_keys(&scratch, "node1"), (new.clone(), None));
    let shown = stdout(&ok(scratch.nkvault().args(["show", "node1"])));
    assert!(!shown.contains("previous key"), "{shown}");
    assert_eq!(key_of(&scratch.seed("node1")), new);
}

#[test]
fn rotate_json_reports_new_previous_and_dropped_keys() {
    let (scratch, keys) = vault_with_two();

    let overlap = json(&ok(scratch.nkvault().args([
        "rotate",
        "node1",
        "--overlap",
        "--json",
    ])));
    let second = overlap["public_key"].as_str().unwrap().to_owned();
    assert_user_key(&second);
    assert_eq!(overlap["name"], "node1");
    assert_eq!(overlap["previous_public_key"], keys[0].as_str());
    assert_eq!(overlap["dropped"], serde_json::json!([]));

    let finish = json(&ok(scratch
        .nkvault()
        .args(["rotate", "node1", "--finish", "--json"])));
    assert_eq!(finish["public_key"], second.as_str());
    assert_eq!(finish["previous_public_key"], Value::Null);
    assert_eq!(finish["dropped"], serde_json::json!([keys[0]]));

    let plain = json(&ok(scratch.nkvault().args(["rotate", "node2", "--json"])));
    let third = plain["public_key"].as_str().unwrap();
    assert_user_key(third);
    assert_ne!(third, keys[1]);
    assert_eq!(plain["previous_public_key"], Value::Null);
    assert_eq!(plain["dropped"], serde_json::json!([keys[1]]));
    assert_eq!(listed_keys(&scratch, "node2"), (third.to_owned(), None));
}

#[test]
fn rotate_without_overlap_during_an_overlap_drops_both_old_keys() {
    let (scratch, keys) = vault_with_two();
    let second = stdout(&ok(scratch.nkvault().args([
        "rotate",
        "node1",
        "--overlap",
    ])))
    .trim_end()
    .to_owned();
    let output = ok(scratch.nkvault().args(["rotate", "node1", "--json"]));
    let rotated = json(&output);
    let third = rotated["public_key"].as_str().unwrap().to_owned();
    assert_eq!(
        rotated["dropped"],
        serde_json::json!([second.clone(), keys[0].clone()])
    );
    assert_eq!(
        rendered_keys(&render(&scratch)),
        [third.clone(), keys[1].clone()]
    );
    assert_eq!(listed_keys(&scratch, "node1"), (third.clone(), None));
    assert_eq!(key_of(&scratch.seed("node1")), third);
}

#[test]
fn rotate_bad_inputs_change_nothing() {
    let (scratch, _) = vault_with_two();

    let output = scratch.fails(
        scratch.nkvault().args(["rotate", "nod1"]),
        1,
        "no entry named \"nod1\"",
    );
    assert!(
        stderr(&output).contains("hint: did you mean \"node1\"?"),
        "{}",
        stderr(&output)
    );

    scratch.fails(
        scratch.nkvault().args(["rotate", "node1", "--finish"]),
        1,
        "\"node1\" has no rotation to finish",
    );

    ok(scratch.nkvault().args(["rotate", "node1", "--overlap"]));
    let output = scratch.fails(
        scratch.nkvault().args(["rotate", "node1", "--overlap"]),
        1,
        "\"node1\" is already in a rotation with overlap",
    );
    assert!(
        stderr(&output).contains("hint: finish it first with `nkvault rotate node1 --finish`"),
        "{}",
        stderr(&output)
    );

    for args in [
        ["rotate", "node1", "--overlap", "--finish"],
        ["rotate", "node1", "--finish", "--overlap"],
    ] {
        let output = scratch.fails(scratch.nkvault().args(args), 2, "cannot be used with");
        assert!(output.stdout.is_empty());
    }
    scratch.fails(scratch.nkvault().arg("rotate"), 2, "required");

    let output = scratch.fails(
        scratch
            .nkvault()
            .args(["--vault", "missing.toml", "rotate", "node1"]),
        1,
        "no vault at missing.toml",
    );
    assert!(stderr(&output).contains("nkvault init"));
    scratch.fails(
        scratch
            .nkvault()
            .args(["--vault", "missing.toml", "rotate", "node1", "--finish"]),
        1,
        "no vault at missing.toml",
    );
}

// ---------------------------------------------------------------------------
// remove
// ---------------------------------------------------------------------------

#[test]
fn remove_yes_removes_every_name_given() {
    let scratch = Scratch::new();
    scratch.init();
    let keys = scratch.add(&["node1", "node2", "node3"]);

    let output = ok(scratch
        .nkvault()
        .args(["remove", "node1", "node3", "--yes"]));
    assert!(output.stdout.is_empty());
    let err = stderr(&output);
    assert!(
        err.contains(&format!("removed node1 ({})", keys[0])),
        "{err}"
    );
    assert!(
        err.contains(&format!("removed node3 ({})", keys[2])),
        "{err}"
    );

    assert_eq!(listed_names(&scratch), ["node2"]);
    let conf = render(&scratch);
    assert_eq!(rendered_keys(&conf), [keys[1].clone()]);
    assert!(
        !conf.contains("# node1") && !conf.contains("# node3"),
        "{conf}"
    );
    for gone in ["node1", "node3"] {
        let output = scratch.fails(
            scratch.with_passphrase().args(["export-env", gone]),
            1,
            &format!("no entry named \"{gone}\""),
        );
        assert!(output.stdout.is_empty());
    }
    assert_eq!(key_of(&scratch.seed("node2")), keys[1]);

    // -y is the short form; an entry in a rotation goes with its previous key.
    ok(scratch.nkvault().args(["rotate", "node2", "--overlap"]));
    ok(scratch.nkvault().args(["remove", "-y", "node2"]));
    assert!(listed_names(&scratch).is_empty());
    assert!(rendered_keys(&render(&scratch)).is_empty());
}

#[test]
fn remove_without_yes_and_without_a_terminal_removes_nothing() {
    let (scratch, _) = vault_with_two();
    let output = scratch.fails(
        scratch.nkvault().args(["remove", "node1"]),
        1,
        "no terminal to confirm the removal on",
    );
    assert!(
        stderr(&output).contains("hint: pass --yes"),
        "{}",
        stderr(&output)
    );
    assert_eq!(listed_names(&scratch), ["node1", "node2"]);
}

#[test]
fn remove_is_all_or_nothing() {
    let (scratch, _) = vault_with_two();
    for args in [
        &["remove", "node1", "nodeX", "--yes"][..],
        &["remove", "nodeX", "node2", "--yes"],
        &["remove", "node1", "node2", "nodeX", "--yes"],
        // The unknown name is found before anyone would be asked.
        &["remove", "node1", "nodeX"],
    ] {
        let output = scratch.fails(scratch.nkvault().args(args), 1, "no entry named \"nodeX\"");
        assert!(
            stderr(&output).contains("did you mean \"node1\"")
                || stderr(&output).contains("did you mean \"node2\""),
            "{}",
            stderr(&output)
        );
    }
    assert_eq!(listed_names(&scratch), ["node1", "node2"]);

    scratch.fails(scratch.nkvault().args(["remove", "--yes"]), 2, "required");
    scratch.fails(
        scratch
            .nkvault()
            .args(["--vault", "missing.toml", "remove", "node1", "--yes"]),
        1,
        "no vault at missing.toml",
    );
}

// ---------------------------------------------------------------------------
// import
// ---------------------------------------------------------------------------

#[test]
fn import_every_fixture_input_from_stdin_and_from_a_file() {
    let (public_key, cases) = seed_inputs();
    assert_eq!(public_key, FIXTURE_KEY);
    let scratch = Scratch::new();
    scratch.init();
    scratch.add(&["existing"]);
    let pristine = scratch.snapshot();
    let mut accepted = 0;

    for (case, input, accept) in &cases {
        for from_file in [false, true] {
            let how = if from_file { "--from-file" } else { "stdin" };
            let mut command = scratch.nkvault();
            command.args(["import", "imported"]);
            if from_file {
                write_private(&scratch.path("input.seed"), input);
                command.args(["--from-file", "input.seed"]);
            } else {
                command.write_stdin(input.as_bytes());
            }

            if *accept {
                let output = ok(&mut command);
                assert_eq!(stdout(&output), format!("{public_key}\n"), "{case} ({how})");
                let err = stderr(&output);
                assert!(err.contains("imported 1 seed(s)"), "{case} ({how}): {err}");
                assert_input_not_shown(&err, input, case);
                assert_eq!(
                    listed_keys(&scratch, "imported"),
                    (public_key.clone(), None),
                    "{case} ({how})"
                );
                // The seed comes back exactly, without the line ending it came with.
                assert_eq!(scratch.seed("imported"), FIXTURE_SEED, "{case} ({how})");
                restore(&scratch, &pristine);
                accepted += 1;
            } else {
                let output = scratch.fails(&mut command, 1, "nkvault: error: cannot import ");
                assert!(output.stdout.is_empty(), "{case} ({how})");
                let err = stderr(&output);
                let source = if from_file {
                    "cannot import seed file input.seed: "
                } else {
                    "cannot import the seed on standard input: "
                };
                assert!(err.contains(source), "{case} ({how}): {err}");
                assert_input_not_shown(&err, input, case);
                assert_eq!(scratch.snapshot(), pristine);
            }
            if from_file {
                fs::remove_file(scratch.path("input.seed")).unwrap();
            }
        }
    }
    assert_eq!(accepted, 6, "three accepted inputs, two ways each");
    assert_eq!(listed_names(&scratch), ["existing"]);
}

#[test]
fn import_refuses_bad_seeds_with_the_reason() {
    let scratch = Scratch::new();
    scratch.init();
    let checksum = format!("{}A\n", &FIXTURE_SEED[..57]);
    let cases: [(&str, String, &str); 4] = [
        (
            "bad checksum",
            checksum,
            "it is not a valid seed (bad length, character or checksum)",
        ),
        (
            "account seed",
            format!("{ACCOUNT_SEED}\n"),
            "it holds an account seed; only user seeds (SU…) belong in the vault",
        ),
        (
            "public key",
            format!("{FIXTURE_KEY}\n"),
            "it holds a public key, not a seed",
        ),
        (
            "stray whitespace",
            format!("{FIXTURE_SEED} \n"),
            "it has whitespace around the seed",
        ),
    ];
    for (case, input, reason) in cases {
        let output = scratch.fails(
            scratch
                .nkvault()
                .args(["import", "node1"])
                .write_stdin(input.as_bytes()),
            1,
            reason,
        );
        assert!(
            stderr(&output).contains("nkvault: hint: a seed file holds one user seed"),
            "{case}: {}",
            stderr(&output)
        );
        assert_input_not_shown(&stderr(&output), &input, case);

        write_private(&scratch.path("bad.seed"), &input);
        let output = scratch.fails(
            scratch
                .nkvault()
                .args(["import", "node1", "--from-file", "bad.seed"]),
            1,
            &format!("cannot import seed file bad.seed: {reason}"),
        );
        assert_input_not_shown(&stderr(&output), &input, case);
        fs::remove_file(scratch.path("bad.seed")).unwrap();
    }
    assert!(listed_names(&scratch).is_empty());
}

#[test]
fn import_bad_sources_and_names_change_nothing() {
    let scratch = Scratch::new();
    scratch.init();
    write_private(&scratch.path("node1.seed"), format!("{FIXTURE_SEED}\n"));
    fs::create_dir(scratch.path("seeds")).unwrap();

    scratch.fails(
        scratch
            .nkvault()
            .args(["import", "node1", "--from-file", "missing.seed"]),
        1,
        "cannot read seed file missing.seed",
    );
    let output = scratch.fails(
        scratch
            .nkvault()
            .args(["import", "node1", "--from-file", "seeds"]),
        1,
        "seed file seeds is a directory",
    );
    assert!(stderr(&output).contains("--dir"), "{}", stderr(&output));

    for bad in ["bad name", "a/b", "", "-x", &"n".repeat(65)] {
        let mut command = scratch.nkvault();
        command.args(["import", "--from-file", "node1.seed", "--", bad]);
        let output = scratch.fails(&mut command, 1, "invalid name");
        assert_input_not_shown(&stderr(&output), FIXTURE_SEED, bad);
        // From stdin too; the seed is never the reason.
        let mut command = scratch.nkvault();
        command
            .args(["import", "--", bad])
            .write_stdin(format!("{FIXTURE_SEED}\n"));
        scratch.fails(&mut command, 1, "invalid name");
    }

    // Usage errors: no NAME and no --dir, both, --prefix without --dir, a
    // seed as an argument. None reads standard input.
    for (args, message) in [
        (&["import"][..], "required"),
        (
            &["import", "node1", "--dir", "seeds"],
            "cannot be used with",
        ),
        (
            &["import", "--dir", "seeds", "--from-file", "node1.seed"],
            "cannot be used with",
        ),
        (&["import", "--prefix", "x-"], "required"),
        (
            &["import", "node1", "--prefix", "x-"],
            "--prefix is only used with --dir",
        ),
        (
            &[
                "import",
                "node1",
                "--from-file",
                "node1.seed",
                "--prefix",
                "x-",
            ],
            "--prefix is only used with --dir",
        ),
        (&["import", "node1", FIXTURE_SEED], "unexpected argument"),
    ] {
        let output = scratch.fails(
            scratch
                .nkvault()
                .args(args)
                .write_stdin(format!("{FIXTURE_SEED}\n")),
            2,
            message,
        );
        // A seed typed on the command line is refused without being quoted
        // back: stderr ends up in terminals' scrollback and CI logs.
        assert!(
            !stderr(&output).contains(FIXTURE_SEED),
            "{}",
            stderr(&output)
        );
    }

    scratch.fails(
        scratch
            .nkvault()
            .args(["--vault", "missing.toml", "import", "node1"])
            .write_stdin(format!("{FIXTURE_SEED}\n")),
        1,
        "no vault at missing.toml",
    );
    assert!(listed_names(&scratch).is_empty());
}

#[test]
fn import_refuses_a_taken_name_and_a_key_already_in_the_vault() {
    let scratch = Scratch::new();
    scratch.init();
    let added = scratch.add(&["node2"]).pop().unwrap();
    let output = ok(scratch
        .nkvault()
        .args(["import", "node1"])
        .write_stdin(format!("{FIXTURE_SEED}\n")));
    assert_eq!(stdout(&output), format!("{FIXTURE_KEY}\n"));

    // The name is taken (with another seed).
    let other = nkeys::KeyPair::new_user().seed().unwrap();
    scratch.fails(
        scratch
            .nkvault()
            .args(["import", "node2"])
            .write_stdin(format!("{other}\n")),
        1,
        "an entry named \"node2\" already exists",
    );
    // The key is there under another name.
    let output = scratch.fails(
        scratch
            .nkvault()
            .args(["import", "copy"])
            .write_stdin(format!("{FIXTURE_SEED}\n")),
        1,
        "the key for \"copy\" is already in the vault, as \"node1\"",
    );
    assert!(stderr(&output).contains("nkvault show node1"));

    // A key being rotated out is still in the vault (and in the config).
    let node2_seed = scratch.seed("node2");
    ok(scratch.nkvault().args(["rotate", "node2", "--overlap"]));
    scratch.fails(
        scratch
            .nkvault()
            .args(["import", "again"])
            .write_stdin(format!("{node2_seed}\n")),
        1,
        "the key for \"again\" is already in the vault, as \"node2\"",
    );
    assert_eq!(listed_names(&scratch), ["node1", "node2"]);
    assert_eq!(listed_keys(&scratch, "node2").1, Some(added));
}

#[test]
fn import_warns_about_the_plaintext_file_but_not_for_stdin() {
    let scratch = Scratch::new();
    scratch.init();
    let seed = nkeys::KeyPair::new_user().seed().unwrap();
    let other = nkeys::KeyPair::new_user().seed().unwrap();

    let output = ok(scratch
        .nkvault()
        .args(["import", "piped"])
        .write_stdin(format!("{seed}\n")));
    let err = stderr(&output);
    assert!(!err.contains("warning"), "{err}");
    assert!(!err.contains("still on disk"), "{err}");

    write_private(&scratch.path("other.seed"), format!("{other}\n"));
    let output =
        ok(scratch
            .nkvault()
            .args(["import", "filed", "--from-file", "other.seed", "--json"]));
    let err = stderr(&output);
    assert!(
        err.contains("warning: the plaintext seed file(s) are still on disk: other.seed"),
        "{err}"
    );
    assert!(err.contains("shred -u"), "{err}");
    // A private file gets no warning about its mode.
    assert!(!err.contains("could be read by others"), "{err}");
    let imported = json(&output);
    assert_eq!(
        imported,
        serde_json::json!([{"name": "filed", "public_key": key_of(&other)}])
    );
    // The file is left where it was, unchanged: deleting it is the user's call.
    assert_eq!(
        fs::read_to_string(scratch.path("other.seed")).unwrap(),
        format!("{other}\n")
    );
    assert_eq!(scratch.seed("piped"), seed);
    assert_eq!(scratch.seed("filed"), other);
}

#[test]
fn import_warns_when_others_can_read_the_seed_file() {
    let scratch = Scratch::new();
    scratch.init();
    for (name, mode) in [("group", 0o640), ("world", 0o644), ("readonly", 0o444)] {
        let seed = nkeys::KeyPair::new_user().seed().unwrap();
        let file = scratch.path(&format!("{name}.seed"));
        fs::write(&file, format!("{seed}\n")).unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(mode)).unwrap();
        let output = ok(scratch
            .nkvault()
            .args(["import", name, "--from-file"])
            .arg(&file));
        let err = stderr(&output);
        assert!(
            err.contains(&format!("could be read by others (mode {mode:o})")),
            "{name}: {err}"
        );
        assert!(err.contains("rotate the key"), "{err}");
        assert_input_not_shown(&err, &seed, name);
        assert_eq!(scratch.seed(name), seed);
    }
}

#[test]
fn import_dir_of_an_nsc_keystore_takes_the_three_user_keys() {
    let scratch = Scratch::new();
    scratch.init();
    copy_tree(
        &fixtures().join("nsc-keystore"),
        &scratch.path("nsc"),
        0o600,
    );
    let output = ok(scratch
        .nkvault()
        .args(["import", "--dir", "nsc", "--prefix", "nsc-"]));
    let users = nsc_user_seeds();

    // One public key per line, the user keys only.
    let printed: Vec<String> = stdout(&output).lines().map(str::to_owned).collect();
    let expected_keys: Vec<String> = users.iter().map(|(k, _)| k.clone()).collect();
    assert_eq!(printed, expected_keys);

    let err = stderr(&output);
    assert!(err.contains("imported 3 seed(s)"), "{err}");
    assert!(
        err.contains("skipped nsc/keys/A/") && err.contains("it holds an account seed"),
        "{err}"
    );
    assert!(
        err.contains("skipped nsc/keys/O/") && err.contains("it holds an operator seed"),
        "{err}"
    );
    assert!(err.contains("still on disk"), "{err}");
    assert!(!err.contains("could be read by others"), "{err}");

    let expected_names: Vec<String> = users.iter().map(|(k, _)| format!("nsc-{k}")).collect();
    assert_eq!(listed_names(&scratch), expected_names);
    for (public, seed) in &users {
        let name = format!("nsc-{public}");
        assert_eq!(listed_keys(&scratch, &name), (public.clone(), None));
        assert_eq!(&scratch.seed(&name), seed, "{name}");
    }
    // The account and operator are nowhere.
    let conf = render(&scratch);
    assert_eq!(rendered_keys(&conf), expected_keys);
}

#[test]
fn import_dir_of_nk_files_names_entries_after_the_files() {
    let scratch = Scratch::new();
    scratch.init();
    copy_tree(&fixtures().join("nk-files"), &scratch.path("seeds"), 0o600);
    let output = ok(scratch.nkvault().args(["import", "--dir", "seeds"]));
    let expected = nk_files_expected();
    assert_eq!(expected.len(), 2);
    let err = stderr(&output);
    assert!(err.contains("imported 2 seed(s)"), "{err}");
    assert!(
        err.contains("still on disk: seeds/node1.seed, seeds/node2.seed"),
        "{err}"
    );
    // expected.tsv is not a seed file: ignored, not even a note.
    assert!(!err.contains("expected.tsv"), "{err}");

    assert_eq!(listed_names(&scratch), ["node1", "node2"]);
    for (file, public) in &expected {
        let name = file.strip_suffix(".seed").unwrap();
        assert_eq!(listed_keys(&scratch, name), (public.clone(), None));
        let text = fs::read_to_string(fixtures().join("nk-files").join(file)).unwrap();
        assert_eq!(scratch.seed(name), text.trim_end_matches('\n'), "{file}");
    }
}

#[test]
fn import_dir_warns_about_seed_files_others_can_read() {
    let scratch = Scratch::new();
    scratch.init();
    // As people keep `nk -gen user` output under the usual umask 022.
    copy_tree(&fixtures().join("nk-files"), &scratch.path("seeds"), 0o644);
    let output = ok(scratch.nkvault().args(["import", "--dir", "seeds"]));
    let err = stderr(&output);
    for file in ["seeds/node1.seed", "seeds/node2.seed"] {
        assert!(
            err.contains(&format!(
                "warning: {file} could be read by others (mode 644)"
            )),
            "{err}"
        );
    }
    // Only seed files are read, so only they are warned about.
    assert!(!err.contains("expected.tsv"), "{err}");
    assert_eq!(listed_names(&scratch), ["node1", "node2"]);
}

#[test]
fn import_dir_with_a_bad_file_or_no_seed_file_imports_nothing() {
    let scratch = Scratch::new();
    scratch.init();
    copy_tree(&fixtures().join("nk-files"), &scratch.path("seeds"), 0o600);
    write_private(&scratch.path("seeds/broken.nk"), "NOTASEED\n");
    let output = scratch.fails(
        scratch.nkvault().args(["import", "--dir", "seeds"]),
        1,
        "cannot import seed file seeds/broken.nk: it is not a valid seed",
    );
    assert!(stderr(&output).contains("nothing was imported"));
    assert!(listed_names(&scratch).is_empty());

    // The two good files alone import; then the same directory again finds
    // every name taken.
    fs::remove_file(scratch.path("seeds/broken.nk")).unwrap();
    ok(scratch.nkvault().args(["import", "--dir", "seeds"]));
    scratch.fails(
        scratch.nkvault().args(["import", "--dir", "seeds"]),
        1,
        "an entry named \"node1\" already exists",
    );
    // Under another prefix, the keys are taken.
    scratch.fails(
        scratch
            .nkvault()
            .args(["import", "--dir", "seeds", "--prefix", "x-"]),
        1,
        "is already in the vault, as \"node1\"",
    );
    // A prefix that makes an invalid name.
    scratch.fails(
        scratch
            .nkvault()
            .args(["import", "--dir", "seeds", "--prefix", "a b"]),
        1,
        "invalid name",
    );

    fs::create_dir(scratch.path("empty")).unwrap();
    fs::write(scratch.path("empty/README.txt"), "no seeds here\n").unwrap();
    let output = scratch.fails(
        scratch.nkvault().args(["import", "--dir", "empty"]),
        1,
        "no user seed file (*.nk, *.seed) under empty",
    );
    assert!(stderr(&output).contains("hint: "));

    // Only seeds of other types: nothing to import either.
    fs::create_dir(scratch.path("accounts")).unwrap();
    write_private(&scratch.path("accounts/a.nk"), ACCOUNT_SEED);
    // (The note on the skipped file comes before the error.)
    let before = scratch.snapshot();
    let output = scratch
        .nkvault()
        .args(["import", "--dir", "accounts"])
        .output()
        .unwrap();
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(
        err.starts_with("nkvault: skipped accounts/a.nk: it holds an account seed"),
        "{err}"
    );
    assert!(
        err.contains(
            "nkvault: error: no user seed file (*.nk, *.seed) under accounts \
             (1 other file(s) skipped)"
        ),
        "{err}"
    );
    assert!(!err.contains(ACCOUNT_SEED), "{err}");
    assert_eq!(scratch.snapshot(), before);

    scratch.fails(
        scratch.nkvault().args(["import", "--dir", "missing"]),
        1,
        "cannot read directory missing",
    );
    scratch.fails(
        scratch
            .nkvault()
            .args(["import", "--dir", "seeds/node1.seed"]),
        1,
        "is not a directory",
    );
    assert_eq!(listed_names(&scratch), ["node1", "node2"]);
}

// ---------------------------------------------------------------------------
// passwd
// ---------------------------------------------------------------------------

const NEW_PASSPHRASE: &str = "a new and longer passphrase";

/// The vault text without its `[passphrase]` table.
fn without_passphrase_table(text: &str) -> String {
    let start = text.find("[passphrase]\n").expect("a [passphrase] table");
    let end = start
        + text[start..]
            .find("\n[[entry]]\n")
            .map(|i| i + 1)
            .unwrap_or(text.len() - start);
    format!("{}{}", &text[..start], &text[end..])
}

#[test]
fn passwd_changes_only_the_passphrase_table() {
    let (scratch, keys) = vault_with_two();
    let seeds = [scratch.seed("node1"), scratch.seed("node2")];
    let before = fs::read_to_string(scratch.vault()).unwrap();
    write_private(&scratch.path("new"), format!("{NEW_PASSPHRASE}\n"));

    let output = ok(scratch
        .with_passphrase()
        .args(["passwd", "--new-passphrase-file", "new"]));
    assert!(output.stdout.is_empty());
    let err = stderr(&output);
    assert!(
        err.contains("changed the passphrase of nkvault.toml (scrypt work factor 10)"),
        "{err}"
    );
    assert!(!err.contains(NEW_PASSPHRASE) && !err.contains(PASSPHRASE));

    let after = fs::read_to_string(scratch.vault()).unwrap();
    assert_ne!(after, before);
    assert!(!after.contains(NEW_PASSPHRASE));
    // Every seed ciphertext, and everything but [passphrase], is the same.
    assert_eq!(seed_texts(&after), seed_texts(&before));
    assert_eq!(seed_texts(&after).len(), 2);
    assert_eq!(
        without_passphrase_table(&after),
        without_passphrase_table(&before)
    );
    assert!(after.contains("work_factor = 10"), "{after}");

    // The new passphrase opens it, to the same seeds; the old one does not.
    for (name, seed) in ["node1", "node2"].iter().zip(&seeds) {
        let output = ok(scratch
            .nkvault()
            .args(["--passphrase-file", "new", "export-env", name]));
        assert_eq!(stdout(&output), format!("NKEY_SEED={seed}\n"));
    }
    scratch.fails(
        scratch.with_passphrase().args(["export-env", "node1"]),
        1,
        "wrong passphrase for nkvault.toml",
    );
    assert_eq!(key_of(&seeds[0]), keys[0]);
}

#[test]
fn passwd_work_factor_changes_the_work_factor_line() {
    let (scratch, _) = vault_with_two();
    let seed = scratch.seed("node1");
    // The same passphrase at another work factor.
    let output = ok(scratch.with_passphrase().args([
        "passwd",
        "--new-passphrase-file",
        "pass",
        "--work-factor",
        "11",
    ]));
    assert!(stderr(&output).contains("scrypt work factor 11"));
    let text = fs::read_to_string(scratch.vault()).unwrap();
    assert!(text.contains("\nwork_factor = 11\n"), "{text}");
    assert!(!text.contains("work_factor = 10"), "{text}");
    assert_eq!(scratch.seed("node1"), seed);

    // The new passphrase keeps the work factor last set.
    write_private(&scratch.path("new"), format!("{NEW_PASSPHRASE}\n"));
    ok(scratch
        .with_passphrase()
        .args(["passwd", "--new-passphrase-file", "new"]));
    let text = fs::read_to_string(scratch.vault()).unwrap();
    assert!(text.contains("\nwork_factor = 11\n"), "{text}");

    for bad in ["9", "23", "x"] {
        scratch.fails(
            scratch.nkvault().args([
                "--passphrase-file",
                "new",
                "passwd",
                "--new-passphrase-file",
                "pass",
                "--work-factor",
                bad,
            ]),
            2,
            "--work-factor",
        );
    }
}

#[test]
fn passwd_with_a_wrong_old_passphrase_never_reads_the_new_one() {
    let (scratch, _) = vault_with_two();
    write_private(&scratch.path("wrong"), "not the passphrase\n");
    let output = scratch.fails(
        scratch.nkvault().args([
            "--passphrase-file",
            "wrong",
            "passwd",
            "--new-passphrase-file",
            "does-not-exist",
        ]),
        1,
        "wrong passphrase for nkvault.toml",
    );
    // Had the new passphrase been read, the missing file would be the error.
    assert!(
        !stderr(&output).contains("does-not-exist"),
        "{}",
        stderr(&output)
    );
    // Without any old passphrase source and no terminal: at once, with a hint.
    let output = scratch.fails(
        scratch
            .nkvault()
            .args(["passwd", "--new-passphrase-file", "does-not-exist"]),
        1,
        "no terminal to ask the passphrase on",
    );
    assert!(stderr(&output).contains("--passphrase-file"));
    ok(scratch.with_passphrase().args(["export-env", "node1"]));
}

#[test]
fn passwd_refuses_a_bad_new_passphrase_and_recipients_vaults() {
    let (scratch, _) = vault_with_two();
    write_private(&scratch.path("empty"), "");
    write_private(&scratch.path("newline"), "\n");
    for file in ["empty", "newline"] {
        scratch.fails(
            scratch
                .with_passphrase()
                .args(["passwd", "--new-passphrase-file", file]),
            1,
            "the passphrase is empty",
        );
    }
    scratch.fails(
        scratch
            .with_passphrase()
            .args(["passwd", "--new-passphrase-file", "does-not-exist"]),
        1,
        "cannot read passphrase file does-not-exist",
    );
    // No terminal for the new one.
    scratch.fails(
        scratch.with_passphrase().arg("passwd"),
        1,
        "no terminal to ask the passphrase on",
    );
    ok(scratch.with_passphrase().args(["export-env", "node1"]));

    let scratch = Scratch::new();
    recipients_vault(&scratch, &["me.key"], &["node1"]);
    write_private(&scratch.path("new"), format!("{NEW_PASSPHRASE}\n"));
    let output = scratch.fails(
        scratch
            .with_passphrase()
            .args(["-i", "me.key", "passwd", "--new-passphrase-file", "new"]),
        1,
        "this vault is in recipients mode: it has no passphrase",
    );
    assert!(stderr(&output).contains("nkvault recipients"));
    scratch.fails(
        scratch
            .nkvault()
            .args(["--vault", "missing.toml", "passwd"]),
        1,
        "no vault at missing.toml",
    );
}

// ---------------------------------------------------------------------------
// recipients
// ---------------------------------------------------------------------------

#[test]
fn recipients_list_text_and_json() {
    let scratch = Scratch::new();
    let mut recipients = recipients_vault(&scratch, &["a.key", "b.key"], &[]);
    recipients.sort();
    let output = ok(scratch.nkvault().args(["recipients", "list"]));
    assert_eq!(stdout(&output), format!("{}\n", recipients.join("\n")));
    let listed = json(&ok(scratch.nkvault().args([
        "recipients",
        "list",
        "--json",
    ])));
    assert_eq!(
        listed,
        serde_json::json!({"mode": "recipients", "recipients": recipients})
    );

    // A passphrase vault: its own identity, said to be so.
    let scratch = Scratch::new();
    scratch.init();
    let output = ok(scratch.nkvault().args(["recipients", "list"]));
    let own = stdout(&output);
    assert!(own.starts_with("age1") && own.lines().count() == 1, "{own}");
    assert!(stderr(&output).contains("passphrase mode"));
    let listed = json(&ok(scratch.nkvault().args([
        "recipients",
        "list",
        "--json",
    ])));
    assert_eq!(listed["mode"], "passphrase");
    assert_eq!(listed["recipients"], serde_json::json!([own.trim_end()]));
}

#[test]
fn recipients_add_lets_the_new_identity_read_every_seed() {
    let scratch = Scratch::new();
    let mine = recipients_vault(&scratch, &["me.key"], &["node1", "node2"]).remove(0);
    let seeds: Vec<String> = ["node1", "node2"]
        .iter()
        .map(|n| seed_with(&scratch, "me.key", n))
        .collect();
    let teammate = keygen(&scratch, "teammate.key");
    let third = keygen(&scratch, "third.key");
    // Not yet a recipient.
    scratch.fails(
        scratch
            .nkvault()
            .args(["-i", "teammate.key", "export-env", "node1"]),
        1,
        "none of the identities given can decrypt entry \"node1\"",
    );

    let output = ok(scratch
        .nkvault()
        .args(["-i", "me.key", "recipients", "add", "-r", &teammate]));
    let err = stderr(&output);
    assert!(
        err.contains("re-encrypted 2 seed(s) to 2 recipient(s)"),
        "{err}"
    );
    assert!(!err.contains("warning"), "{err}");
    let mut expected = vec![mine.clone(), teammate.clone()];
    expected.sort();
    assert_eq!(recipients_of(&scratch), expected);

    let keys: Vec<String> = seeds.iter().map(|s| key_of(s)).collect();
    for ((name, seed), key) in ["node1", "node2"].iter().zip(&seeds).zip(&keys) {
        assert_eq!(&seed_with(&scratch, "teammate.key", name), seed);
        assert_eq!(&seed_with(&scratch, "me.key", name), seed);
        // The stock age decrypts the entry with the new identity.
        let decrypted = age_decrypt(&scratch, "teammate.key", name);
        assert!(decrypted.status.success(), "age: {}", stderr(&decrypted));
        assert_eq!(
            stdout(&decrypted),
            format!("nkvault-seed v1\nname {name}\npublic-key {key}\nseed {seed}\n")
        );
    }

    // From a recipients file, as `age-keygen -y` prints them.
    fs::write(scratch.path("more.txt"), format!("# third\n{third}\n")).unwrap();
    ok(scratch
        .nkvault()
        .args(["-i", "teammate.key", "recipients", "add", "-R", "more.txt"]));
    assert_eq!(recipients_of(&scratch).len(), 3);
    assert_eq!(seed_with(&scratch, "third.key", "node2"), seeds[1]);
    ok(scratch.nkvault().args(["-i", "third.key", "verify"]));
}

#[test]
fn recipients_remove_locks_the_removed_identity_out() {
    let scratch = Scratch::new();
    let recipients = recipients_vault(&scratch, &["me.key", "former.key"], &["node1", "node2"]);
    let seed = seed_with(&scratch, "former.key", "node1");

    let output =
        ok(scratch
            .nkvault()
            .args(["-i", "me.key", "recipients", "remove", "-r", &recipients[1]]));
    let err = stderr(&output);
    assert!(
        err.contains("re-encrypted 2 seed(s) to 1 recipient(s)"),
        "{err}"
    );
    assert!(
        err.contains("warning: removed recipients can still decrypt older copies"),
        "{err}"
    );
    assert!(err.contains("nkvault rotate"), "{err}");
    assert!(!err.contains("no longer a recipient"), "{err}");
    assert_eq!(recipients_of(&scratch), [recipients[0].clone()]);

    for name in ["node1", "node2"] {
        let output = scratch.fails(
            scratch
                .nkvault()
                .args(["-i", "former.key", "export-env", name]),
            1,
            &format!("none of the identities given can decrypt entry \"{name}\""),
        );
        assert!(output.stdout.is_empty());
        let refused = age_decrypt(&scratch, "former.key", name);
        assert!(!refused.status.success() && refused.stdout.is_empty());
    }
    assert_eq!(seed_with(&scratch, "me.key", "node1"), seed);
}

#[test]
fn recipients_remove_of_ones_own_recipient_warns_that_it_is_locked_out() {
    let scratch = Scratch::new();
    let recipients = recipients_vault(&scratch, &["me.key", "other.key"], &["node1"]);
    let seed = seed_with(&scratch, "me.key", "node1");
    let output =
        ok(scratch
            .nkvault()
            .args(["-i", "me.key", "recipients", "remove", "-r", &recipients[0]]));
    assert!(
        stderr(&output).contains("the identity given with -i is no longer a recipient"),
        "{}",
        stderr(&output)
    );
    assert_eq!(seed_with(&scratch, "other.key", "node1"), seed);
}

#[test]
fn recipients_bad_inputs_change_nothing() {
    let scratch = Scratch::new();
    let recipients = recipients_vault(&scratch, &["me.key", "b.key"], &["node1"]);
    let outsider = keygen(&scratch, "outsider.key");
    let me = ["-i", "me.key", "recipients"];

    let output = scratch.fails(
        scratch.nkvault().args(me).args(["add", "-r", "age1bogus"]),
        1,
        "invalid recipient \"age1bogus\"",
    );
    assert!(stderr(&output).contains("age-keygen"));
    // A secret pasted by mistake is not echoed back.
    let secret = fs::read_to_string(scratch.path("outsider.key")).unwrap();
    let secret = secret
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .unwrap()
        .to_owned();
    let output = scratch.fails(
        scratch.nkvault().args(me).args(["add", "-r", &secret]),
        1,
        "invalid recipient",
    );
    assert!(!stderr(&output).contains(&secret));

    scratch.fails(
        scratch
            .nkvault()
            .args(me)
            .args(["add", "-r", &recipients[1]]),
        1,
        "is already a recipient; nothing was changed",
    );
    scratch.fails(
        scratch.nkvault().args(me).args(["remove", "-r", &outsider]),
        1,
        "is not a recipient of this vault; nothing was changed",
    );
    scratch.fails(
        scratch
            .nkvault()
            .args(me)
            .args(["remove", "-r", &recipients[0], "-r", &recipients[1]]),
        1,
        "that would leave the vault with no recipient",
    );
    // All or nothing: one bad recipient among good ones.
    scratch.fails(
        scratch
            .nkvault()
            .args(me)
            .args(["add", "-r", &outsider, "-r", &recipients[0]]),
        1,
        "is already a recipient",
    );
    let output = scratch.fails(
        scratch
            .nkvault()
            .args(["recipients", "add", "-r", &outsider]),
        1,
        "no identity was given",
    );
    assert!(stderr(&output).contains("-i FILE"));
    scratch.fails(
        scratch
            .nkvault()
            .args(["-i", "outsider.key", "recipients", "add", "-r", &outsider]),
        1,
        "none of the identities given can decrypt entry \"node1\"",
    );
    scratch.fails(
        scratch
            .nkvault()
            .args(["-i", "missing.key", "recipients", "add", "-r", &outsider]),
        1,
        "cannot use identity file missing.key",
    );
    for sub in ["add", "remove"] {
        let output = scratch.fails(scratch.nkvault().args(me).arg(sub), 2, "no recipient given");
        assert!(stderr(&output).contains("-r age1"));
    }
    let output = scratch.nkvault().arg("recipients").output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let mut sorted = recipients.clone();
    sorted.sort();
    assert_eq!(recipients_of(&scratch), sorted);

    // A passphrase vault has no recipients to change.
    let scratch = Scratch::new();
    scratch.init();
    scratch.add(&["node1"]);
    let recipient = keygen(&scratch, "me.key");
    for sub in ["add", "remove"] {
        let output = scratch.fails(
            scratch
                .with_passphrase()
                .args(["-i", "me.key", "recipients", sub, "-r", &recipient]),
            1,
            "this vault is in passphrase mode",
        );
        assert!(stderr(&output).contains("nkvault passwd"));
    }
}

// ---------------------------------------------------------------------------
// verify
// ---------------------------------------------------------------------------

#[test]
fn verify_passes_on_a_good_vault() {
    let (scratch, _) = vault_with_two();
    ok(scratch.nkvault().args(["rotate", "node2", "--overlap"]));
    ok(scratch
        .nkvault()
        .args(["import", "imported"])
        .write_stdin(format!("{FIXTURE_SEED}\n")));
    let output = ok(scratch.with_passphrase().arg("verify"));
    let out = stdout(&output);
    assert!(out.starts_with("3 entries verified"), "{out}");
    assert!(!out.contains("FAILED"), "{out}");
    let report = json(&ok(scratch.with_passphrase().args(["verify", "--json"])));
    assert_eq!(
        report,
        serde_json::json!({"entries": 3, "ok": true, "failed": []})
    );

    // Recipients mode, with an identity.
    let scratch = Scratch::new();
    recipients_vault(&scratch, &["me.key"], &["node1"]);
    let output = ok(scratch.nkvault().args(["-i", "me.key", "verify"]));
    assert!(stdout(&output).starts_with("1 entries verified"));
}

#[test]
fn verify_names_every_entry_whose_ciphertext_was_swapped() {
    let scratch = Scratch::new();
    scratch.init();
    scratch.add(&["node1", "node2", "node3"]);
    let text = fs::read_to_string(scratch.vault()).unwrap();
    // node1 and node3 swap ciphertexts; node2 stays intact.
    let swapped = swap_seeds(&text, 0, 2);
    assert_ne!(swapped, text);
    write_private(&scratch.vault(), swapped);

    let output = scratch.fails(
        scratch.with_passphrase().arg("verify"),
        1,
        "2 of 3 entries failed verification: node1, node3",
    );
    let out = stdout(&output);
    for name in ["node1", "node3"] {
        assert!(
            out.contains(&format!("FAILED  {name}: entry \"{name}\" does not match")),
            "{out}"
        );
    }
    assert!(!out.contains("node2"), "{out}");
    assert!(!out.contains("SU"), "a seed was printed: {out}");
    assert!(stderr(&output).contains("hint: restore the vault"));

    let output = scratch.fails(
        scratch.with_passphrase().args(["verify", "--json"]),
        1,
        "2 of 3 entries failed verification",
    );
    let report = json(&output);
    assert_eq!(report["ok"], false);
    assert_eq!(report["entries"], 3);
    let failed: Vec<&str> = report["failed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["node1", "node3"]);
    for problem in report["failed"].as_array().unwrap() {
        assert!(
            problem["error"]
                .as_str()
                .unwrap()
                .contains("does not match its encrypted seed"),
            "{problem}"
        );
    }
}

#[test]
fn verify_names_an_entry_whose_public_key_was_edited() {
    let (scratch, keys) = vault_with_two();
    let other = nkeys::KeyPair::new_user().public_key();
    let text = fs::read_to_string(scratch.vault()).unwrap();
    let edited = text.replacen(&keys[1], &other, 1);
    assert_ne!(edited, text);
    write_private(&scratch.vault(), edited);
    // The clear parts still read: list shows the edited key.
    assert_eq!(listed_keys(&scratch, "node2").0, other);

    let output = scratch.fails(
        scratch.with_passphrase().arg("verify"),
        1,
        "1 of 2 entries failed verification: node2",
    );
    assert!(
        stdout(&output)
            .contains("FAILED  node2: entry \"node2\" does not match its encrypted seed"),
        "{}",
        stdout(&output)
    );
    let report = json(&scratch.fails(
        scratch.with_passphrase().args(["verify", "--json"]),
        1,
        "node2",
    ));
    assert_eq!(report["ok"], false);
    assert_eq!(report["failed"][0]["name"], "node2");
    assert_eq!(report["failed"].as_array().unwrap().len(), 1);
}

#[test]
fn verify_with_a_wrong_passphrase_or_identity_is_an_error() {
    let (scratch, _) = vault_with_two();
    write_private(&scratch.path("wrong"), "not the passphrase\n");
    for json_flag in [&[][..], &["--json"]] {
        let output = scratch.fails(
            scratch
                .nkvault()
                .args(["--passphrase-file", "wrong", "verify"])
                .args(json_flag),
            1,
            "wrong passphrase for nkvault.toml",
        );
        assert!(output.stdout.is_empty(), "{}", stdout(&output));
    }
    scratch.fails(
        scratch.nkvault().arg("verify"),
        1,
        "no terminal to ask the passphrase on",
    );
    scratch.fails(
        scratch
            .with_passphrase()
            .args(["--vault", "missing.toml", "verify"]),
        1,
        "no vault at missing.toml",
    );

    // Recipients mode: no identity, or one that is no recipient.
    let scratch = Scratch::new();
    recipients_vault(&scratch, &["me.key"], &["node1", "node2"]);
    keygen(&scratch, "outsider.key");
    scratch.fails(scratch.nkvault().arg("verify"), 1, "no identity was given");
    let output = scratch.fails(
        scratch.nkvault().args(["-i", "outsider.key", "verify"]),
        1,
        "none of the identities given can decrypt",
    );
    assert!(
        !stderr(&output).contains("restore the vault"),
        "a wrong identity is not a damaged vault: {}",
        stderr(&output)
    );
}

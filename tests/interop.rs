//! Interoperability with the reference tools: the stock `age` decrypts the
//! seeds of a recipients-mode vault, the Go `nk` reads the seed files nkvault
//! writes, and the library derives the same public keys as `nk` from the
//! fixtures made with it.
//!
//! Where `age` and `nk` are looked for: `tests/common/tools.rs`. A missing
//! tool fails these tests; they are never skipped.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::tools::{age, nk};
use common::{fixtures, keygen, stderr, stdout, Scratch};
use nkvault_vault::{public_key_of_user_seed, SeedProblem};

/// Runs a reference tool in `dir`; it must succeed. Returns its stdout.
fn run_ok(program: &Path, dir: &Path, args: &[&str]) -> String {
    let output = run(program, dir, args);
    assert!(
        output.status.success(),
        "{} {args:?} failed: {}",
        program.display(),
        stderr(&output)
    );
    stdout(&output)
}

fn run(program: &Path, dir: &Path, args: &[&str]) -> Output {
    Command::new(program)
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()))
}

/// The armored age ciphertext of entry `name`'s seed, taken from the vault
/// text without a TOML parser: in the `[[entry]]` table whose `name` is
/// `name`, the lines between `seed = """` and the closing `"""` (TOML drops
/// the newline right after the opening quotes).
fn seed_ciphertext(vault: &str, name: &str) -> String {
    let wanted_name = format!("name = \"{name}\"");
    let mut found = Vec::new();
    let mut in_entry = false;
    let mut entry_matches = false;
    let mut capture: Option<Vec<&str>> = None;
    for line in vault.lines() {
        if let Some(lines) = capture.as_mut() {
            if line == "\"\"\"" {
                if in_entry && entry_matches {
                    found.push(lines.join("\n") + "\n");
                }
                capture = None;
            } else {
                lines.push(line);
            }
            continue;
        }
        if line.starts_with('[') {
            // `[[entry]]` starts an entry; its sub-tables
            // (`[entry.permissions]`) belong to it; any other table ends it.
            if line == "[[entry]]" {
                in_entry = true;
                entry_matches = false;
            } else if !line.starts_with("[entry.") {
                in_entry = false;
            }
        } else if in_entry && line == wanted_name {
            entry_matches = true;
        } else if line == "seed = \"\"\"" {
            capture = Some(Vec::new());
        }
    }
    assert!(
        capture.is_none(),
        "an unterminated seed string in the vault:\n{vault}"
    );
    assert_eq!(found.len(), 1, "expected one seed for {name} in:\n{vault}");
    let armored = found.pop().unwrap();
    assert!(
        armored.starts_with("-----BEGIN AGE ENCRYPTED FILE-----\n")
            && armored.ends_with("-----END AGE ENCRYPTED FILE-----\n")
            && !armored.contains('\\'),
        "not a plain armored age file: {armored}"
    );
    armored
}

/// `nkvault -i IDENTITY export-env NAME`, the seed alone.
fn seed_with_identity(scratch: &Scratch, identity: &str, name: &str) -> String {
    let output = scratch
        .nkvault()
        .args(["-i", identity, "export-env", name])
        .output()
        .unwrap();
    assert!(output.status.success(), "export-env: {}", stderr(&output));
    stdout(&output)
        .strip_prefix("NKEY_SEED=")
        .and_then(|rest| rest.strip_suffix('\n'))
        .expect("NKEY_SEED=SU…\\n")
        .to_owned()
}

/// The public key `nk -inkey FILE -pubout` prints for a seed file.
fn nk_public_key(dir: &Path, seed_file: &str) -> String {
    run_ok(&nk(), dir, &["-inkey", seed_file, "-pubout"])
        .trim()
        .to_owned()
}

#[test]
fn recipients_vault_seeds_decrypt_with_stock_age() {
    let scratch = Scratch::new();
    let mine = keygen(&scratch, "key.txt");
    let teammate = keygen(&scratch, "teammate.txt");
    keygen(&scratch, "outsider.txt");
    // The recipients file as `age-keygen -y` prints it.
    std::fs::write(scratch.path("recipients.txt"), format!("{mine}\n")).unwrap();
    scratch
        .nkvault()
        .args(["init", "-R", "recipients.txt", "-r", &teammate])
        .assert()
        .success();
    let keys = scratch.add(&["github", "node1"]);
    let vault = std::fs::read_to_string(scratch.vault()).unwrap();
    assert!(vault.contains("mode = \"recipients\""), "{vault}");

    for (name, public_key) in ["github", "node1"].into_iter().zip(&keys) {
        let seed = seed_with_identity(&scratch, "key.txt", name);
        assert_eq!(
            public_key_of_user_seed(&seed).unwrap().as_str(),
            public_key,
            "the exported seed of {name} is not the key add printed"
        );
        let expected =
            format!("nkvault-seed v1\nname {name}\npublic-key {public_key}\nseed {seed}\n");

        let file = format!("{name}.age");
        std::fs::write(scratch.path(&file), seed_ciphertext(&vault, name)).unwrap();
        for identity in ["key.txt", "teammate.txt"] {
            let plaintext = run_ok(&age(), scratch.dir.path(), &["-d", "-i", identity, &file]);
            assert_eq!(plaintext, expected, "age -d -i {identity} {file}");
        }
        assert_eq!(seed_with_identity(&scratch, "teammate.txt", name), seed);

        let refused = run(
            &age(),
            scratch.dir.path(),
            &["-d", "-i", "outsider.txt", &file],
        );
        assert!(
            !refused.status.success() && refused.stdout.is_empty(),
            "age decrypted {file} with an identity that is no recipient"
        );
    }
}

#[test]
fn nk_reads_the_seed_file_export_file_writes() {
    let scratch = Scratch::new();
    scratch.init();
    let added = scratch.add(&["node1"]).pop().unwrap();
    scratch
        .with_passphrase()
        .args(["export-file", "node1", "-o", "seed.txt"])
        .assert()
        .success();

    let show = scratch
        .nkvault()
        .args(["show", "node1", "--json"])
        .output()
        .unwrap();
    assert!(show.status.success(), "{}", stderr(&show));
    let show: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(show["public_key"].as_str(), Some(added.as_str()));

    assert_eq!(nk_public_key(scratch.dir.path(), "seed.txt"), added);

    // The file is a working private key: nk signs with it, and the signature
    // verifies against the public key from the vault.
    std::fs::write(scratch.path("message"), "deploy node1").unwrap();
    std::fs::write(scratch.path("public.txt"), format!("{added}\n")).unwrap();
    let signature = run_ok(
        &nk(),
        scratch.dir.path(),
        &["-sign", "message", "-inkey", "seed.txt"],
    );
    std::fs::write(scratch.path("message.sig"), signature.trim()).unwrap();
    let verified = run_ok(
        &nk(),
        scratch.dir.path(),
        &[
            "-verify",
            "message",
            "-sigfile",
            "message.sig",
            "-pubin",
            "public.txt",
        ],
    );
    assert!(verified.to_lowercase().contains("verified"), "{verified}");

    // `-o -` gives the same bytes on standard output.
    let piped = scratch
        .with_passphrase()
        .args(["export-file", "node1", "-o", "-"])
        .output()
        .unwrap();
    assert!(piped.status.success(), "{}", stderr(&piped));
    assert_eq!(
        piped.stdout,
        std::fs::read(scratch.path("seed.txt")).unwrap()
    );
}

#[test]
fn fixture_vectors_agree_with_nk_and_the_library() {
    let vectors = std::fs::read_to_string(fixtures().join("nkeys/vectors.tsv")).unwrap();
    let scratch = Scratch::new();
    let mut users = 0;
    let mut others = 0;
    for (i, line) in vectors
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .enumerate()
    {
        let fields: Vec<&str> = line.split('\t').collect();
        let [kind, seed, public] = fields[..] else {
            panic!("a vector line is not type<TAB>seed<TAB>public key: {line:?}");
        };

        // The fixture and nk agree, for every type.
        let file = format!("vector-{i}.seed");
        std::fs::write(scratch.path(&file), format!("{seed}\n")).unwrap();
        assert_eq!(
            nk_public_key(scratch.dir.path(), &file),
            public,
            "{kind} vector {i}"
        );

        // The library derives user keys and refuses every other type.
        if kind == "user" {
            users += 1;
            assert_eq!(
                public_key_of_user_seed(seed).map(|k| k.as_str().to_owned()),
                Ok(public.to_owned()),
                "user vector {i}"
            );
        } else {
            others += 1;
            assert_eq!(
                public_key_of_user_seed(seed),
                Err(SeedProblem::NotUser),
                "{kind} vector {i}"
            );
        }
    }
    assert!(
        users >= 3 && others >= 12,
        "{users} user and {others} other vectors"
    );
}

#[test]
fn nk_seed_files_agree_with_nk_and_the_library() {
    let dir = fixtures().join("nk-files");
    let expected = std::fs::read_to_string(dir.join("expected.tsv")).unwrap();
    let mut checked = 0;
    for line in expected
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (file, public) = line.split_once('\t').expect("file<TAB>public key");
        assert_eq!(nk_public_key(&dir, file), public, "nk on {file}");
        // Read like an agent reads NKEY_SEED_FILE: one trailing newline off.
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        let seed = text.strip_suffix('\n').unwrap_or(&text);
        assert_eq!(
            public_key_of_user_seed(seed).unwrap().as_str(),
            public,
            "{file}"
        );
        checked += 1;
    }
    assert_eq!(checked, 2);
}

#[test]
fn seeds_nk_generates_derive_the_same_public_key_in_the_library() {
    let scratch = Scratch::new();
    for _ in 0..5 {
        let printed = run_ok(&nk(), scratch.dir.path(), &["-gen", "user", "-pubout"]);
        let mut lines = printed.lines();
        let (Some(seed), Some(public), None) = (lines.next(), lines.next(), lines.next()) else {
            panic!("nk -gen user -pubout printed {printed:?}");
        };
        assert_eq!(public_key_of_user_seed(seed).unwrap().as_str(), public);
    }
}

/// `nkvault --passphrase-file pass ARGS…`, which must succeed; its stdout.
fn nkvault_ok(scratch: &Scratch, args: &[&str]) -> Vec<u8> {
    let output = scratch.with_passphrase().args(args).output().unwrap();
    assert!(
        output.status.success(),
        "nkvault {args:?} failed: {}",
        stderr(&output)
    );
    output.stdout
}

#[test]
fn seeds_nk_generates_import_and_export_byte_identical() {
    let scratch = Scratch::new();
    scratch.init();
    for (i, through_file) in [false, true].into_iter().enumerate() {
        // The seed file exactly as `nk -gen user > FILE` leaves it.
        let generated = run_ok(&nk(), scratch.dir.path(), &["-gen", "user"]);
        let seed = generated
            .strip_suffix('\n')
            .expect("nk ends the seed with a newline");
        assert!(seed.starts_with("SU") && seed.len() == 58, "{generated:?}");
        let file = format!("nk-{i}.seed");
        common::write_private(&scratch.path(&file), &generated);
        let public = nk_public_key(scratch.dir.path(), &file);

        let name = format!("nk{i}");
        let mut import = scratch.nkvault();
        import.args(["import", &name]);
        if through_file {
            import.args(["--from-file", &file]);
        } else {
            import.write_stdin(generated.as_bytes());
        }
        let output = import.output().unwrap();
        assert!(output.status.success(), "import: {}", stderr(&output));
        assert_eq!(stdout(&output), format!("{public}\n"), "the key nk derives");

        assert_eq!(
            nkvault_ok(&scratch, &["export-env", &name]),
            format!("NKEY_SEED={seed}\n").as_bytes()
        );
        // export-file gives back the very bytes nk wrote.
        assert_eq!(
            nkvault_ok(&scratch, &["export-file", &name, "-o", "-"]),
            generated.as_bytes()
        );
    }
}

#[test]
fn nk_derives_the_key_rotate_printed_from_the_exported_seed() {
    let scratch = Scratch::new();
    scratch.init();
    let old = scratch.add(&["node1"]).pop().unwrap();
    for overlap in [true, false] {
        let mut rotate = scratch.nkvault();
        rotate.args(["rotate", "node1"]);
        if overlap {
            rotate.arg("--overlap");
        }
        let output = rotate.output().unwrap();
        assert!(output.status.success(), "rotate: {}", stderr(&output));
        let printed = stdout(&output).trim_end().to_owned();
        assert_ne!(printed, old);

        let file = format!("rotated-{overlap}.seed");
        nkvault_ok(&scratch, &["export-file", "node1", "-o", &file]);
        assert_eq!(nk_public_key(scratch.dir.path(), &file), printed);
    }
}

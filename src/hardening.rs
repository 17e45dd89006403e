//! Process hardening, applied first thing in `main` for every command, before
//! any passphrase, identity or seed is read into memory.
//!
//! - The soft `RLIMIT_CORE` goes to 0 (the hard limit is kept, so a command
//!   that nkvault runs can get the original back): a crash leaves no core
//!   file with a decrypted seed in it.
//! - The process is made non-dumpable (`PR_SET_DUMPABLE` 0): no core dump
//!   through a `core_pattern` pipe either, and processes of the same user can
//!   no longer ptrace it or read `/proc/PID/mem`.
//! - `SIGXFSZ` is caught and does nothing: past a file-size limit
//!   (`ulimit -f`), `write()` fails with `EFBIG` and nkvault reports an error
//!   instead of being killed halfway through a write.
//!
//! `exec` hands the command the original core limit back with
//! [`restore_for_exec`]. The other two reset themselves on `execve`: the
//! dumpable flag is set again for the new program, and a signal that is
//! caught (not ignored) returns to its default action.

use std::sync::atomic::AtomicBool;
use std::sync::OnceLock;

use rustix::process::{getrlimit, set_dumpable_behavior, setrlimit, DumpableBehavior, Resource};

use crate::failure::warn;

/// The core limit nkvault started with, for the command `exec` runs.
static ORIGINAL_CORE_LIMIT: OnceLock<rustix::process::Rlimit> = OnceLock::new();

/// Set by the `SIGXFSZ` handler; nobody reads it. Catching the signal is the
/// point: the `write()` that passed the limit then fails with `EFBIG`. A
/// caught signal, unlike an ignored one, is back to its default action in a
/// program nkvault execs, so nothing has to be restored for `exec`.
static FILE_SIZE_LIMIT_HIT: AtomicBool = AtomicBool::new(false);

/// Applies the hardening. A step that fails is reported as a warning and the
/// command goes on: none of them can fail on a Linux kernel that runs nkvault
/// at all, short of a sandbox that forbids the system call.
pub fn harden() {
    let core = getrlimit(Resource::Core);
    let _ = ORIGINAL_CORE_LIMIT.set(core);
    // Lowering the soft limit below the hard one is always allowed.
    let no_core = rustix::process::Rlimit {
        current: Some(0),
        maximum: core.maximum,
    };
    if let Err(error) = setrlimit(Resource::Core, no_core) {
        warn(&format!(
            "cannot turn off core dumps (RLIMIT_CORE): {error}"
        ));
    }
    if let Err(error) = set_dumpable_behavior(DumpableBehavior::NotDumpable) {
        warn(&format!(
            "cannot make the process non-dumpable (PR_SET_DUMPABLE): {error}"
        ));
    }
    if let Err(error) =
        signal_hook::flag::register(signal_hook::consts::SIGXFSZ, &FILE_SIZE_LIMIT_HIT)
    {
        warn(&format!("cannot catch SIGXFSZ: {error}"));
    }
}

/// Just before `execve`: gives back the soft core limit nkvault started with,
/// which the command inherits. Call it only once no plaintext secret is left
/// in memory.
pub fn restore_for_exec() {
    if let Some(core) = ORIGINAL_CORE_LIMIT.get() {
        // Raising the soft limit back to a value it had is always allowed; if
        // it failed all the same, the command merely makes no core dumps.
        let _ = setrlimit(Resource::Core, *core);
    }
}

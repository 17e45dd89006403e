//! Durability, measured through the built binary (DESIGN.md, "Safety of
//! writes"): concurrent writers serialize on the lock, a writer killed at any
//! moment leaves the old vault or the new one, and a write that cannot be
//! completed (a file-size limit, a full disk) fails with a clear error and
//! changes nothing.
//!
//! Each test prints its figures (`cargo test --test durability -- --nocapture`)
//! and carries them in its assertion messages, so a plain `cargo test` that
//! fails shows them too. The tests run one at a time: the crash test times its
//! kills against a measured command duration, which the others would disturb.

mod common;

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::{Barrier, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use common::{fixtures, stderr, stdout, write_private, Scratch};
use serde_json::Value;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// Held by every test of this file for its whole run.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> MutexGuard<'static, ()> {
    // A test that failed poisons the lock; the others still run.
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The vault as `list --json` shows it: name → (public key, previous key).
type State = BTreeMap<String, (String, Option<String>)>;

/// `list --json`, which must succeed and parse.
fn state(scratch: &Scratch, context: &dyn fmt::Display) -> State {
    let output = scratch.nkvault().args(["list", "--json"]).output().unwrap();
    assert!(
        output.status.success(),
        "list --json failed ({context}): {}",
        stderr(&output)
    );
    let entries: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "list --json printed no JSON ({context}): {e}: {}",
            stdout(&output)
        )
    });
    entries
        .as_array()
        .unwrap_or_else(|| panic!("list --json is not an array ({context})"))
        .iter()
        .map(|entry| {
            let text = |field: &str| entry[field].as_str().map(str::to_owned);
            let name = text("name").expect("every entry has a name");
            let key = text("public_key").expect("every entry has a public key");
            (name, (key, text("previous_public_key")))
        })
        .collect()
}

/// `verify --json` (one unlock, every entry decrypted), which must pass;
/// returns the number of entries verified.
fn verify(scratch: &Scratch, context: &dyn fmt::Display) -> usize {
    let output = scratch
        .with_passphrase()
        .args(["verify", "--json"])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    assert!(
        output.status.success() && report["ok"] == Value::Bool(true),
        "verify failed ({context}): status {:?}, stdout {}, stderr {}",
        output.status,
        stdout(&output),
        stderr(&output)
    );
    report["entries"]
        .as_u64()
        .unwrap_or_else(|| panic!("verify --json gave no entry count ({context})")) as usize
}

/// The seed of `name` from `export-env` must derive the public key the vault lists.
fn assert_exportable(scratch: &Scratch, name: &str, listed: &State, context: &dyn fmt::Display) {
    let seed = scratch.seed(name);
    let derived = nkeys::KeyPair::from_seed(&seed)
        .unwrap_or_else(|e| panic!("the seed of {name} does not parse ({context}): {e}"))
        .public_key();
    assert_eq!(
        derived, listed[name].0,
        "the exported seed of {name} is not the listed key's ({context})"
    );
}

/// The largest number of the `spans` that were under way at the same moment.
fn peak_overlap(spans: &[(Instant, Instant)]) -> usize {
    let mut events: Vec<(Instant, i32)> = spans
        .iter()
        .flat_map(|&(start, end)| [(start, 1), (end, -1)])
        .collect();
    // At equal instants an end comes before a start.
    events.sort();
    let (mut now, mut peak) = (0i32, 0i32);
    for (_, step) in events {
        now += step;
        peak = peak.max(now);
    }
    peak as usize
}

/// A command run by a writer thread, with its output and when it ran.
struct Ran {
    what: String,
    output: Output,
    span: (Instant, Instant),
}

/// Longer than any single command takes, even on a busy machine: a command
/// that waits this long for the lock has hung.
const DEADLINE: Duration = Duration::from_secs(60);

fn run(what: String, mut command: Command) -> Ran {
    let start = Instant::now();
    let output = command
        .timeout(DEADLINE)
        .output()
        .unwrap_or_else(|e| panic!("{what} did not finish: {e}"));
    Ran {
        what,
        output,
        span: (start, Instant::now()),
    }
}

/// Runs each writer's commands in its own thread, all started at once.
/// Returns every command's record, writer by writer, and the wall time.
fn run_writers(writers: Vec<Vec<(String, Command)>>) -> (Vec<Vec<Ran>>, Duration) {
    let barrier = Barrier::new(writers.len());
    let started = Instant::now();
    let ran = std::thread::scope(|scope| {
        let threads: Vec<_> = writers
            .into_iter()
            .map(|commands| {
                let barrier = &barrier;
                scope.spawn(move || {
                    barrier.wait();
                    commands
                        .into_iter()
                        .map(|(what, command)| run(what, command))
                        .collect::<Vec<Ran>>()
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|thread| thread.join().expect("a writer thread panicked"))
            .collect::<Vec<_>>()
    });
    (ran, started.elapsed())
}

// ---------------------------------------------------------------------------
// Locking: concurrent writers serialize
// ---------------------------------------------------------------------------

#[test]
fn four_writers_adding_25_keys_each_at_once_keep_all_100() {
    let _serial = one_at_a_time();
    const WRITERS: usize = 4;
    const ADDS: usize = 25;
    let scratch = Scratch::new();
    scratch.init();

    let writers = (0..WRITERS)
        .map(|w| {
            (0..ADDS)
                .map(|i| {
                    let name = format!("w{w}-{i}");
                    let mut command = scratch.nkvault();
                    command.args(["add", &name]);
                    (name, command)
                })
                .collect()
        })
        .collect();
    let (ran, wall) = run_writers(writers);
    let all: Vec<&Ran> = ran.iter().flatten().collect();
    let spans: Vec<_> = all.iter().map(|r| r.span).collect();
    let peak = peak_overlap(&spans);

    let listed = state(&scratch, &"after the concurrent adds");
    let verified = verify(&scratch, &"after the concurrent adds");
    let figures = format!(
        "{WRITERS} writers x {ADDS} adds each, started together: {} keys listed, {verified} \
         verified, peak {peak} add processes alive at once, wall time {wall:.2?}",
        listed.len()
    );
    eprintln!("locking: {figures}");

    for r in &all {
        assert!(
            r.output.status.success(),
            "add {} failed ({figures}): {}",
            r.what,
            stderr(&r.output)
        );
    }
    assert!(
        peak >= 2,
        "the writers never overlapped, so nothing was tested ({figures})"
    );
    let lost: Vec<&str> = all
        .iter()
        .map(|r| r.what.as_str())
        .filter(|name| !listed.contains_key(*name))
        .collect();
    assert!(
        lost.is_empty(),
        "{} keys were lost ({figures}): {lost:?}",
        lost.len()
    );
    assert_eq!(
        listed.len(),
        WRITERS * ADDS,
        "entries appeared that nobody added ({figures}): {:?}",
        listed.keys().collect::<Vec<_>>()
    );
    assert_eq!(verified, WRITERS * ADDS, "{figures}");
    // The key each add printed is the one that stayed: no write replaced another's.
    for r in &all {
        let printed = stdout(&r.output);
        assert_eq!(
            printed.trim_end(),
            listed[&r.what].0,
            "the key {} printed is not in the vault ({figures})",
            r.what
        );
    }
    for w in 0..WRITERS {
        let name = format!("w{w}-{}", (w * 7 + 3) % ADDS);
        assert_exportable(&scratch, &name, &listed, &figures);
    }
}

#[test]
fn concurrent_add_rotate_and_remove_on_distinct_names_all_land() {
    let _serial = one_at_a_time();
    let scratch = Scratch::new();
    scratch.init();
    let kept: Vec<String> = (0..10).map(|i| format!("k{i}")).collect();
    let rotated: Vec<String> = (0..10).map(|i| format!("r{i}")).collect();
    let removed: Vec<String> = (0..10).map(|i| format!("d{i}")).collect();
    let all_names: Vec<&str> = kept
        .iter()
        .chain(&rotated)
        .chain(&removed)
        .map(String::as_str)
        .collect();
    scratch.add(&all_names);
    let before = state(&scratch, &"before the mixed writers");

    let command = |args: &[&str]| {
        let mut command = scratch.nkvault();
        command.args(args);
        command
    };
    let adder = |prefix: &str| -> Vec<(String, Command)> {
        (0..20)
            .map(|i| {
                let name = format!("{prefix}{i}");
                let c = command(&["add", &name]);
                (format!("add {name}"), c)
            })
            .collect()
    };
    // Even entries rotate with an overlap, then finish it; odd ones at once.
    let rotator: Vec<(String, Command)> = rotated
        .iter()
        .enumerate()
        .flat_map(|(i, name)| {
            if i % 2 == 0 {
                vec![
                    (
                        format!("rotate {name} --overlap"),
                        command(&["rotate", name, "--overlap"]),
                    ),
                    (
                        format!("rotate {name} --finish"),
                        command(&["rotate", name, "--finish"]),
                    ),
                ]
            } else {
                vec![(format!("rotate {name}"), command(&["rotate", name]))]
            }
        })
        .collect();
    let remover: Vec<(String, Command)> = removed
        .iter()
        .map(|name| {
            (
                format!("remove {name}"),
                command(&["remove", name, "--yes"]),
            )
        })
        .collect();
    let (ran, wall) = run_writers(vec![adder("a"), adder("b"), rotator, remover]);
    let all: Vec<&Ran> = ran.iter().flatten().collect();
    let spans: Vec<_> = all.iter().map(|r| r.span).collect();
    let peak = peak_overlap(&spans);

    let after = state(&scratch, &"after the mixed writers");
    let verified = verify(&scratch, &"after the mixed writers");
    let figures = format!(
        "4 writers (20 adds, 20 adds, 15 rotations of 10 entries, 10 removals) = {} commands: \
         {} entries listed, {verified} verified, peak {peak} processes alive at once, wall time \
         {wall:.2?}",
        all.len(),
        after.len()
    );
    eprintln!("locking, mixed: {figures}");

    for r in &all {
        assert!(
            r.output.status.success(),
            "{} failed ({figures}): {}",
            r.what,
            stderr(&r.output)
        );
    }
    assert!(
        peak >= 2,
        "the writers never overlapped, so nothing was tested ({figures})"
    );

    let mut expected: State = kept
        .iter()
        .map(|name| (name.clone(), before[name].clone()))
        .collect();
    for r in &all {
        let printed = stdout(&r.output).trim_end().to_owned();
        let mut words = r.what.split(' ');
        match (words.next(), words.next()) {
            (Some("add"), Some(name)) => {
                expected.insert(name.to_owned(), (printed, None));
            }
            // `--finish` prints nothing; the overlap left the key it printed.
            (Some("rotate"), Some(name)) if !r.what.ends_with("--finish") => {
                assert_ne!(printed, before[name].0, "{name} kept its key ({figures})");
                expected.insert(name.to_owned(), (printed, None));
            }
            _ => {}
        }
    }
    assert_eq!(
        after, expected,
        "the vault is not the sum of every change ({figures})"
    );
    assert_eq!(verified, expected.len(), "{figures}");
    for name in ["a0", "b19", "r0", "r1", "k5"] {
        assert_exportable(&scratch, name, &after, &figures);
    }
}

// ---------------------------------------------------------------------------
// Crash: SIGKILL at many moments of a write
// ---------------------------------------------------------------------------

/// One change a killed writer was making.
#[derive(Clone, Debug)]
enum Op {
    Add(String),
    Rotate(String),
    Remove(String),
}

impl Op {
    /// The change for run `run`, on the vault `state`: add, rotate and remove
    /// in turn, on names spread over the vault.
    fn for_run(run: usize, state: &State) -> Op {
        let nth = |step: usize| state.keys().nth(run * step % state.len()).unwrap().clone();
        match run % 3 {
            0 => Op::Add(format!("new{run}")),
            1 => Op::Rotate(nth(37)),
            _ => Op::Remove(nth(53)),
        }
    }

    fn args(&self) -> Vec<&str> {
        match self {
            Op::Add(name) => vec!["add", name],
            Op::Rotate(name) => vec!["rotate", name],
            Op::Remove(name) => vec!["remove", name, "--yes"],
        }
    }

    /// Whether `after` is `before` with this change made, and nothing else.
    fn made(&self, before: &State, after: &State) -> bool {
        match self {
            Op::Add(name) => {
                let mut without = after.clone();
                let added = without.remove(name);
                !before.contains_key(name) && matches!(added, Some((_, None))) && without == *before
            }
            Op::Rotate(name) => {
                before.keys().eq(after.keys())
                    && after.iter().all(|(n, entry)| {
                        if n == name {
                            entry.0 != before[n].0 && entry.1.is_none()
                        } else {
                            *entry == before[n]
                        }
                    })
            }
            Op::Remove(name) => {
                let mut expected = before.clone();
                expected.remove(name).is_some() && expected == *after
            }
        }
    }
}

/// What the kills left, counted as they happen.
#[derive(Default)]
struct Tally {
    runs: usize,
    /// Killed, and the vault is the one before the command.
    old_killed: usize,
    /// Of those, how many left a temporary file: killed inside the write.
    old_with_temp: usize,
    /// Killed, and the vault is the one after the command (past the rename).
    new_killed: usize,
    /// Exited (successfully) before the kill; the vault is the one after.
    exited: usize,
    /// Stray `.nkvault-*.tmp` files found (and deleted) after a kill.
    stray_temps: usize,
    stray_temp_max_bytes: u64,
    vault_entries: usize,
    duration_initial: Duration,
    duration_min: Duration,
    duration_max: Duration,
    calibrations: usize,
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} runs on a vault of ~{} entries: {} killed leaving the old state ({} of them \
             inside the write, a temp file left), {} killed after the rename leaving the new \
             state, {} had exited before the kill; {} stray .nkvault-*.tmp files (largest {} \
             bytes); uninterrupted command {:.1?} at first, {:.1?}..{:.1?} over {} \
             calibrations; kills spread over [0, 1.1 x that]",
            self.runs,
            self.vault_entries,
            self.old_killed,
            self.old_with_temp,
            self.new_killed,
            self.exited,
            self.stray_temps,
            self.stray_temp_max_bytes,
            self.duration_initial,
            self.duration_min,
            self.duration_max,
            self.calibrations
        )
    }
}

/// The changing command, started with its output discarded but for stderr.
fn spawn(scratch: &Scratch, op: &Op) -> std::process::Child {
    scratch
        .std_nkvault()
        .args(op.args())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Runs `op` to completion; returns how long it took from its start.
fn uninterrupted(scratch: &Scratch, op: &Op, state: &mut State, tally: &Tally) -> Duration {
    let mut child = spawn(scratch, op);
    let started = Instant::now();
    // Polled, so that a writer stuck on a lock a killed one left fails the
    // test instead of hanging it.
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > DEADLINE {
            child.kill().unwrap();
            panic!("{op:?} still runs after {DEADLINE:?}: a lock left behind? ({tally})");
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    let took = started.elapsed();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{op:?} failed ({tally}): {}",
        stderr(&output)
    );
    let after = self::state(scratch, tally);
    assert!(op.made(state, &after), "{op:?} did not land ({tally})");
    *state = after;
    took
}

/// Removes the temporary files a killed writer left; fails on anything else
/// unexpected in the directory, and on a vault that is missing or empty.
/// Returns the number and largest size of the temporary files.
fn sweep_directory(scratch: &Scratch, context: &dyn fmt::Display) -> (usize, u64) {
    let (mut count, mut largest) = (0, 0);
    for name in scratch.files() {
        if name == "nkvault.toml" || name == "pass" {
            continue;
        }
        assert!(
            name.starts_with(".nkvault-") && name.ends_with(".tmp"),
            "unexpected file {name:?} in the vault's directory ({context})"
        );
        let path = scratch.path(&name);
        let meta = fs::metadata(&path).unwrap();
        assert_eq!(
            meta.permissions().mode() & 0o777,
            0o600,
            "the stray {name} is not mode 0600 ({context})"
        );
        count += 1;
        largest = largest.max(meta.len());
        fs::remove_file(&path).unwrap();
    }
    let vault = fs::symlink_metadata(scratch.vault())
        .unwrap_or_else(|e| panic!("the vault is gone ({context}): {e}"));
    assert!(
        vault.is_file() && vault.len() > 0,
        "the vault is not a non-empty file ({context}): {vault:?}"
    );
    assert_eq!(
        vault.permissions().mode() & 0o777,
        0o600,
        "the vault is not mode 0600 ({context})"
    );
    (count, largest)
}

#[test]
fn a_writer_killed_at_200_moments_leaves_the_old_vault_or_the_new_one() {
    let _serial = one_at_a_time();
    const RUNS: usize = 200;
    /// Entries in the vault: enough that a command spends some milliseconds
    /// reading and writing it, few enough that 200 `verify`s stay quick.
    const ENTRIES: usize = 200;
    /// A calibration run (uninterrupted) every this many kills.
    const CALIBRATE_EVERY: usize = 20;
    let test_started = Instant::now();
    let scratch = Scratch::new();
    scratch.init();
    let names: Vec<String> = (0..ENTRIES).map(|i| format!("e{i:04}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    scratch.add(&names);
    let mut tally = Tally::default();
    let mut baseline = state(&scratch, &tally);

    // How long an uninterrupted command takes, from its start to its end:
    // the median of the latest few, measured again as the test goes, so the
    // kills stay spread across the command if the machine gets busier.
    let mut durations: Vec<Duration> = Vec::new();
    let median = |durations: &[Duration]| {
        let mut latest: Vec<Duration> = durations.iter().rev().take(7).copied().collect();
        latest.sort();
        latest[latest.len() / 2]
    };
    for i in 0..6 {
        let op = Op::for_run(RUNS + i, &baseline);
        durations.push(uninterrupted(&scratch, &op, &mut baseline, &tally));
    }
    tally.duration_initial = median(&durations);
    tally.duration_min = tally.duration_initial;
    tally.duration_max = tally.duration_initial;

    for run in 0..RUNS {
        if run > 0 && run % CALIBRATE_EVERY == 0 {
            let op = Op::for_run(RUNS + 6 + run, &baseline);
            durations.push(uninterrupted(&scratch, &op, &mut baseline, &tally));
            tally.calibrations += 1;
            let d = median(&durations);
            tally.duration_min = tally.duration_min.min(d);
            tally.duration_max = tally.duration_max.max(d);
        }
        let duration = median(&durations);
        // A deterministic spread: run i kills at fraction (73 i mod 200)/200
        // of 1.1 x the duration, so every part of the command is hit, and
        // early and late kills alternate through the test.
        let fraction = (run * 73 % RUNS) as f64 / RUNS as f64;
        let delay = duration.mul_f64(1.1 * fraction);
        let op = Op::for_run(run, &baseline);

        let mut child = spawn(&scratch, &op);
        let started = Instant::now();
        if let Some(rest) = delay.checked_sub(started.elapsed()) {
            std::thread::sleep(rest);
        }
        // SIGKILL; the child is not reaped yet, so this cannot hit another process.
        child.kill().unwrap();
        let output = child.wait_with_output().unwrap();
        tally.runs += 1;
        tally.vault_entries = baseline.len();
        let context = format!("run {run}, {op:?} killed after {delay:.1?}; so far {tally}");

        let killed = output.status.signal() == Some(libc::SIGKILL);
        assert!(
            killed || output.status.success(),
            "{op:?} failed on its own ({context}): {:?}: {}",
            output.status,
            stderr(&output)
        );
        let (temps, largest) = sweep_directory(&scratch, &context);
        tally.stray_temps += temps;
        tally.stray_temp_max_bytes = tally.stray_temp_max_bytes.max(largest);

        let after = state(&scratch, &context);
        let verified = verify(&scratch, &context);
        assert_eq!(verified, after.len(), "{context}");
        if after == baseline {
            assert!(
                killed,
                "{op:?} exited successfully but the vault does not hold its change ({context})"
            );
            tally.old_killed += 1;
            tally.old_with_temp += usize::from(temps > 0);
        } else {
            assert!(
                op.made(&baseline, &after),
                "the vault is neither the state before {op:?} nor the state after it \
                 ({context}); before: {} entries, after: {} entries",
                baseline.len(),
                after.len()
            );
            if killed {
                tally.new_killed += 1;
            } else {
                tally.exited += 1;
            }
            baseline = after;
        }
    }

    eprintln!("crash: {tally}; test time {:.1?}", test_started.elapsed());
    assert!(tally.runs >= 200, "{tally}");
    assert!(
        tally.old_killed >= 3,
        "too few kills left the old state: they did not land early in the command ({tally})"
    );
    assert!(
        tally.new_killed + tally.exited >= 3,
        "too few runs left the new state: the kills did not reach the end of the command \
         ({tally})"
    );
    assert!(
        tally.old_with_temp + tally.new_killed >= 3,
        "too few kills landed between the temporary file's creation and the end of the \
         command: the write itself was barely tested ({tally})"
    );
}

// ---------------------------------------------------------------------------
// Write errors: a file-size limit, a full disk
// ---------------------------------------------------------------------------

/// nkvault with a soft `RLIMIT_FSIZE` of `limit` bytes (`ulimit -f`): a write
/// past it fails with EFBIG and raises SIGXFSZ, which nkvault must survive.
/// The signal's default action (terminate) is set first, so that a test run
/// from a shell that ignores it cannot hide a nkvault that does not.
fn with_file_size_limit(scratch: &Scratch, limit: u64) -> std::process::Command {
    let mut command = scratch.std_nkvault();
    // SAFETY: signal and setrlimit are async-signal-safe and touch no memory
    // of the parent.
    unsafe {
        command.pre_exec(move || {
            if libc::signal(libc::SIGXFSZ, libc::SIG_DFL) == libc::SIG_ERR {
                return Err(std::io::Error::last_os_error());
            }
            let rlimit = libc::rlimit {
                rlim_cur: limit as libc::rlim_t,
                rlim_max: libc::RLIM_INFINITY,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &rlimit) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command
}

/// Runs a command whose write must fail: it exits 1 with `nkvault: error:
/// cannot write …` and `reason`, and leaves the vault byte for byte as it
/// was and the directory listing unchanged (no output, no temporary file).
/// Returns the error line, for the figures.
fn refused_write(
    scratch: &Scratch,
    mut command: Command,
    what: &str,
    reason: &str,
    figures: &str,
) -> String {
    let vault_before = scratch.snapshot();
    let files_before = scratch.files();
    let output = command.output().unwrap();
    let err = stderr(&output);
    let files_after = scratch.files();
    assert_ne!(
        output.status.signal(),
        Some(libc::SIGXFSZ),
        "{what}: nkvault was killed by SIGXFSZ at the file-size limit instead of failing \
         with an error: it must catch or ignore SIGXFSZ (src/hardening.rs) ({figures}); \
         files before {files_before:?}, after {files_after:?}"
    );
    assert_eq!(
        output.status.code(),
        Some(1),
        "{what} ({figures}): status {:?}, stderr: {err}",
        output.status
    );
    assert!(
        err.starts_with("nkvault: error: cannot write "),
        "{what} ({figures}): stderr: {err}"
    );
    assert!(
        err.contains(reason),
        "{what}: expected {reason:?} in stderr ({figures}): {err}"
    );
    assert!(!err.contains("panicked"), "{what}: stderr: {err}");
    assert!(
        scratch.snapshot() == vault_before,
        "{what} changed the vault ({figures})"
    );
    assert_eq!(
        files_after, files_before,
        "{what}: files appeared or vanished ({figures})"
    );
    err.lines().next().unwrap_or_default().to_owned()
}

fn vault_size(scratch: &Scratch) -> u64 {
    fs::metadata(scratch.vault()).unwrap().len()
}

/// The seed of the reference tools' fixture node2.seed (a user seed).
fn fixture_seed() -> Vec<u8> {
    fs::read(fixtures().join("nk-files/node2.seed")).unwrap()
}

#[test]
fn writes_past_a_file_size_limit_fail_cleanly_and_change_nothing() {
    let _serial = one_at_a_time();
    let scratch = Scratch::new();
    scratch.init();
    let names: Vec<String> = (0..20).map(|i| format!("node{i}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    scratch.add(&names);
    let size = vault_size(&scratch);
    // Smaller than any vault these commands write, larger than nothing.
    let vault_limit = size / 2;
    // Smaller than a seed file (59 bytes) or a rendered config.
    let output_limit = 16;

    type Case = (&'static str, Vec<&'static str>, Option<Vec<u8>>, u64);
    let cases: Vec<Case> = vec![
        ("add", vec!["add", "big"], None, vault_limit),
        ("rotate", vec!["rotate", "node1"], None, vault_limit),
        (
            "remove",
            vec!["remove", "node2", "--yes"],
            None,
            vault_limit,
        ),
        (
            "import",
            vec!["import", "imported"],
            Some(fixture_seed()),
            vault_limit,
        ),
        (
            "export-file",
            vec![
                "--passphrase-file",
                "pass",
                "export-file",
                "node3",
                "-o",
                "node3.seed",
            ],
            None,
            output_limit,
        ),
        (
            "render-conf",
            vec!["render-conf", "-o", "nats-server.conf"],
            None,
            output_limit,
        ),
    ];
    let mut lines = Vec::new();
    for (what, args, input, limit) in cases {
        let figures = format!("limit {limit} bytes, vault {size} bytes");
        let mut command = Command::from_std(with_file_size_limit(&scratch, limit));
        command.args(&args);
        if let Some(input) = &input {
            command.write_stdin(input.clone());
        }
        let error = refused_write(&scratch, command, what, "File too large", &figures);
        let line = format!("{what}: {figures}: {error}");
        eprintln!("file-size limit: {line}");
        lines.push(line.clone());

        // Without the limit the same command succeeds: the limit, and only
        // the limit, stopped it, and the file it writes is past the limit.
        let mut command = scratch.nkvault();
        command.args(&args);
        if let Some(input) = input {
            command.write_stdin(input);
        }
        let output = command.output().unwrap();
        assert!(
            output.status.success(),
            "{what} without the limit failed ({line}): {}",
            stderr(&output)
        );
        let written = match what {
            "export-file" => fs::metadata(scratch.path("node3.seed")).unwrap().len(),
            "render-conf" => fs::metadata(scratch.path("nats-server.conf"))
                .unwrap()
                .len(),
            _ => vault_size(&scratch),
        };
        assert!(
            written > limit,
            "{what} wrote {written} bytes, within the limit ({line})"
        );
    }
    let all = lines.join("; ");
    let listed = state(&scratch, &all);
    assert_eq!(verify(&scratch, &all), listed.len(), "{all}");
}

/// The user named the vault (or the output file); a failed write names that
/// file, not the random temporary file the bytes were going to, which is gone
/// by the time the message is read. `store::without_temp_path` means to do
/// exactly this, but only for the errors of `PendingWrite::start`.
///
/// Guards a bug found by this file: `PendingWrite::finish` wrote with
/// `NamedTempFile`'s own `Write`, which appends ` at path
/// "DIR/./.nkvault-XXXXXX.tmp"` to the OS error; it now writes through the
/// `File`, which keeps the error as it is.
#[test]
fn a_failed_write_names_the_users_file_not_the_temporary_one() {
    let _serial = one_at_a_time();
    let scratch = Scratch::new();
    scratch.init();
    scratch.add(&["node1", "node2", "node3"]);
    let size = vault_size(&scratch);
    let cases: [(&str, Vec<&str>, u64); 2] = [
        ("add", vec!["add", "node4"], size / 2),
        (
            "export-file",
            vec![
                "--passphrase-file",
                "pass",
                "export-file",
                "node1",
                "-o",
                "node1.seed",
            ],
            16,
        ),
    ];
    for (what, args, limit) in cases {
        let figures = format!("limit {limit} bytes, vault {size} bytes");
        let mut command = Command::from_std(with_file_size_limit(&scratch, limit));
        command.args(&args);
        let error = refused_write(&scratch, command, what, "File too large", &figures);
        eprintln!("error message: {what}: {figures}: {error}");
        assert!(
            !error.contains(".nkvault-") && !error.contains(".tmp"),
            "{what}: the error names the temporary file, which no longer exists, besides \
             the user's ({figures}): {error}"
        );
    }
}

/// A tmpfs mounted over a directory, unmounted on drop (a failing test too).
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        let output = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .unwrap_or_else(|e| panic!("cannot run mount to make a small tmpfs: {e}"));
        // SAFETY: geteuid has no preconditions.
        let euid = unsafe { libc::geteuid() };
        assert!(
            output.status.success(),
            "this test fills a {size} tmpfs and needs root or CAP_SYS_ADMIN to mount it \
             (running as uid {euid}): mount failed: {}",
            stderr(&output)
        );
        Tmpfs {
            dir: dir.to_owned(),
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = std::process::Command::new("umount")
            .arg(&self.dir)
            .status()
            .is_ok_and(|status| status.success());
        if !unmounted {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(&self.dir)
                .status();
        }
    }
}

/// The bytes an unprivileged writer can still put on the file system of `dir`.
fn free_bytes(dir: &Path) -> u64 {
    let path = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: statvfs writes only into `stats`, which is big enough.
    let mut stats: libc::statvfs = unsafe { std::mem::zeroed() };
    let status = unsafe { libc::statvfs(path.as_ptr(), &mut stats) };
    assert_eq!(status, 0, "statvfs: {}", std::io::Error::last_os_error());
    stats.f_bavail as u64 * stats.f_frsize as u64
}

/// Fills the file system of `filler` with it, then frees `leave` bytes
/// (whole pages). Returns the free bytes left.
fn fill(filler: &Path, leave: u64) -> u64 {
    const PAGE: u64 = 4096;
    let mut file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(filler)
        .unwrap();
    let page = vec![0xa5u8; PAGE as usize];
    loop {
        match file.write(&page) {
            Ok(n) if n == page.len() => {}
            Ok(_) => break,
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
            Err(e) => panic!("filling {}: {e}", filler.display()),
        }
    }
    let len = file.metadata().unwrap().len();
    file.set_len((len / PAGE * PAGE).saturating_sub(leave))
        .unwrap();
    free_bytes(filler.parent().unwrap())
}

#[test]
fn a_full_disk_fails_the_write_cleanly_and_changes_nothing() {
    let _serial = one_at_a_time();
    const SIZE: &str = "64k";
    let scratch = Scratch::new();
    // Dropped before `scratch` (locals drop in reverse order): unmounted first.
    let _tmpfs = Tmpfs::mount(scratch.dir.path(), SIZE);
    write_private(&scratch.path("pass"), format!("{}\n", common::PASSPHRASE));
    scratch.init();
    scratch.add(&[
        "node1", "node2", "node3", "node4", "node5", "node6", "node7",
    ]);
    let size = vault_size(&scratch);

    // One page left: less than any vault these commands write.
    let free = fill(&scratch.path("filler"), 4096);
    let figures = format!("tmpfs size={SIZE}, vault {size} bytes, {free} bytes free");
    assert!(
        free < size,
        "the disk was not filled enough to refuse a vault ({figures})"
    );
    let mut lines = Vec::new();
    type Change = (&'static str, Vec<&'static str>, Option<Vec<u8>>);
    let commands: [Change; 4] = [
        ("add", vec!["add", "node8"], None),
        ("rotate", vec!["rotate", "node1"], None),
        ("remove", vec!["remove", "node2", "--yes"], None),
        ("import", vec!["import", "imported"], Some(fixture_seed())),
    ];
    for (what, args, input) in commands {
        let mut command = scratch.nkvault();
        command.args(&args);
        if let Some(input) = input {
            command.write_stdin(input);
        }
        let error = refused_write(&scratch, command, what, "No space left on device", &figures);
        let line = format!("{what}: {figures}: {error}");
        eprintln!("full disk: {line}");
        lines.push(line);
    }

    // Nothing left at all: a seed file or a config cannot be written either.
    let free = fill(&scratch.path("filler"), 0);
    let figures = format!("tmpfs size={SIZE}, vault {size} bytes, {free} bytes free");
    let outputs: [(&str, Vec<&str>); 2] = [
        (
            "export-file",
            vec![
                "--passphrase-file",
                "pass",
                "export-file",
                "node3",
                "-o",
                "node3.seed",
            ],
        ),
        ("render-conf", vec!["render-conf", "-o", "nats-server.conf"]),
    ];
    for (what, args) in outputs {
        let mut command = scratch.nkvault();
        command.args(&args);
        let error = refused_write(&scratch, command, what, "No space left on device", &figures);
        let line = format!("{what}: {figures}: {error}");
        eprintln!("full disk: {line}");
        lines.push(line);
    }

    // With room again, the vault takes the change and is intact.
    let all = lines.join("; ");
    fs::remove_file(scratch.path("filler")).unwrap();
    scratch.add(&["node8"]);
    let listed = state(&scratch, &all);
    assert_eq!(listed.len(), 8, "{all}");
    assert_eq!(verify(&scratch, &all), 8, "{all}");
}

/// A writer killed between creating its temporary file and the rename leaves
/// a full copy of the vault beside it. The next writer, holding the lock,
/// removes those of the vault (no other writer can own them) and nothing else.
#[test]
fn the_next_writer_removes_the_temporary_files_a_killed_writer_left() {
    let _serial = one_at_a_time();
    let scratch = Scratch::new();
    scratch.init();
    scratch.add(&["node1"]);
    let stale = scratch.path(".nkvault-nkvault.toml-Ab3dEf.tmp");
    let other_output = scratch.path(".nkvault-node1.seed-Ab3dEf.tmp");
    let not_ours = scratch.path(".nkvault-nkvault.toml-notes.txt");
    for file in [&stale, &other_output, &not_ours] {
        common::write_private(file, "left behind");
    }
    scratch.add(&["node2"]);
    assert!(
        !stale.exists(),
        "the vault's stale temporary file is still there"
    );
    assert!(
        other_output.exists() && not_ours.exists(),
        "a file that is not the vault's temporary file was removed: {:?}",
        scratch.files()
    );
}

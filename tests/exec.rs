//! `nkvault exec NAME -- COMMAND`: the seed in a sealed memfd (or in the
//! environment), nkvault replaced by the command, and the hardening every
//! nkvault process gets (no core dumps, not dumpable, SIGXFSZ caught) and
//! that the command does not inherit.

mod common;

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// How long a test waits for something that takes milliseconds.
const DEADLINE: Duration = Duration::from_secs(30);

/// SIGXFSZ is signal 25: bit 24 of the masks in /proc/PID/status.
const SIGXFSZ_BIT: u64 = 1 << (libc::SIGXFSZ - 1);

/// A soft core limit the tests set before nkvault starts, so that nkvault's
/// 0 and the original are told apart.
const TEST_CORE_LIMIT: u64 = 4096;

/// A scratch vault with node1 in it, and node1's seed.
fn vault_with_node1() -> (Scratch, String) {
    let s = Scratch::new();
    s.init();
    s.add(&["node1"]);
    let seed = s.seed("node1");
    assert!(seed.starts_with("SU") && seed.len() == 58, "seed: {seed}");
    (s, seed)
}

/// `nkvault --passphrase-file pass exec ARGS…`
fn exec(s: &Scratch, args: &[&str]) -> assert_cmd::Command {
    let mut command = s.with_passphrase();
    command.arg("exec").args(args);
    command
}

/// Runs `command`, checks that stderr holds no seed and that the vault was
/// not written, and returns the output.
fn run(s: &Scratch, seed: &str, mut command: assert_cmd::Command) -> Output {
    let before = s.snapshot();
    let output = command.output().unwrap();
    assert_no_seed_in_stderr(&output, seed);
    assert_eq!(s.snapshot(), before, "exec wrote the vault");
    output
}

fn assert_no_seed_in_stderr(output: &Output, seed: &str) {
    let err = stderr(output);
    assert!(!err.contains(seed), "the seed is in stderr: {err}");
    assert!(!err.contains("panicked"), "stderr: {err}");
}

fn assert_success(output: &Output) {
    assert!(
        output.status.success(),
        "status {:?}, stderr: {}",
        output.status,
        stderr(output)
    );
}

/// Polls `done` until it holds; panics at the deadline with `what`.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A child process that is killed if the test ends before it did.
struct Running(Child);

impl Running {
    fn pid(&self) -> u32 {
        self.0.id()
    }

    /// Panics if the process ended, with its stderr.
    fn assert_running(&mut self) {
        if let Some(status) = self.0.try_wait().unwrap() {
            let mut err = String::new();
            if let Some(mut pipe) = self.0.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut pipe, &mut err);
            }
            panic!("the process ended early ({status:?}): {err}");
        }
    }

    /// Waits for the process to end, within the deadline.
    fn wait(mut self) -> (ExitStatus, String, String) {
        let mut status = None;
        wait_until("the process to end", || {
            status = self.0.try_wait().unwrap();
            status.is_some()
        });
        let mut out = String::new();
        let mut err = String::new();
        if let Some(mut pipe) = self.0.stdout.take() {
            std::io::Read::read_to_string(&mut pipe, &mut out).unwrap();
        }
        if let Some(mut pipe) = self.0.stderr.take() {
            std::io::Read::read_to_string(&mut pipe, &mut err).unwrap();
        }
        (status.unwrap(), out, err)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Sets the soft core limit of the child to [`TEST_CORE_LIMIT`] before it
/// runs nkvault (the hard limit is raised to it if it is lower: that needs
/// root, and the spawn fails loudly otherwise).
fn with_core_limit(command: &mut std::process::Command) {
    // SAFETY: getrlimit and setrlimit are async-signal-safe system calls on
    // a local struct; nothing of the parent's memory is touched.
    unsafe {
        command.pre_exec(|| {
            let mut limit = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            if libc::getrlimit(libc::RLIMIT_CORE, &mut limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            limit.rlim_cur = TEST_CORE_LIMIT as libc::rlim_t;
            if limit.rlim_max != libc::RLIM_INFINITY && limit.rlim_max < limit.rlim_cur {
                limit.rlim_max = limit.rlim_cur;
            }
            if libc::setrlimit(libc::RLIMIT_CORE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// The soft core limit in a /proc/PID/limits text.
fn soft_core_limit(limits: &str) -> String {
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max core file size"))
        .unwrap_or_else(|| panic!("no core limit in: {limits}"));
    line.split_whitespace().nth(4).unwrap().to_owned()
}

/// A signal mask line (`SigIgn`, `SigCgt`, `SigBlk`) of a /proc/PID/status text.
fn signal_mask(status: &str, field: &str) -> u64 {
    let line = status
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in: {status}"));
    u64::from_str_radix(line.trim(), 16).unwrap()
}

#[test]
fn the_seed_is_in_a_memfd_that_reads_again_and_again() {
    let (s, seed) = vault_with_node1();
    // The path, the file read twice through it, the descriptor itself read
    // directly, what the descriptor is, and whether NKEY_SEED is set.
    let script = r#"
        printf '%s\n' "$NKEY_SEED_FILE"
        cat "$NKEY_SEED_FILE"
        cat "$NKEY_SEED_FILE"
        n=${NKEY_SEED_FILE#/dev/fd/}
        eval "cat <&$n"
        readlink "/proc/self/fd/$n"
        printf '%s\n' "${NKEY_SEED-unset}"
    "#;
    let output = run(&s, &seed, exec(&s, &["node1", "--", "sh", "-c", script]));
    assert_success(&output);
    let out = stdout(&output);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 6, "stdout: {out}");

    let fd = lines[0]
        .strip_prefix("/dev/fd/")
        .unwrap_or_else(|| panic!("NKEY_SEED_FILE is not /dev/fd/N: {out}"));
    let fd: u32 = fd.parse().unwrap();
    assert!(fd > 2, "the seed took a standard stream: {fd}");
    // The same bytes as export-file writes: the seed and one newline, each
    // time the file is read.
    let expected = format!("{seed}\n{seed}\n{seed}\n");
    assert!(
        out.strip_prefix(&format!("{}\n", lines[0]))
            .unwrap()
            .starts_with(&expected),
        "stdout: {out}"
    );
    assert!(
        lines[4].starts_with("/memfd:"),
        "the seed file is not a memfd: {}",
        lines[4]
    );
    assert_eq!(lines[5], "unset", "NKEY_SEED is set as well");
    // Nothing appeared in the working directory.
    assert_eq!(s.files(), ["nkvault.toml", "pass"]);
}

#[test]
fn the_memfd_cannot_be_changed() {
    let (s, seed) = vault_with_node1();
    let script = r#"
        (printf 'SUFORGED\n' >> "$NKEY_SEED_FILE") 2>/dev/null; echo "append $?"
        (true > "$NKEY_SEED_FILE") 2>/dev/null; echo "truncate $?"
        cat "$NKEY_SEED_FILE"
    "#;
    let output = run(&s, &seed, exec(&s, &["node1", "--", "sh", "-c", script]));
    assert_success(&output);
    let out = stdout(&output);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "stdout: {out}");
    assert_ne!(lines[0], "append 0", "the memfd took a write");
    assert_ne!(lines[1], "truncate 0", "the memfd was truncated");
    assert_eq!(lines[2], seed);
}

#[test]
fn env_puts_the_seed_in_nkey_seed() {
    let (s, seed) = vault_with_node1();
    let output = run(
        &s,
        &seed,
        exec(
            &s,
            &[
                "node1",
                "--env",
                "--",
                "sh",
                "-c",
                r#"printf '%s|%s' "$NKEY_SEED" "${NKEY_SEED_FILE-unset}""#,
            ],
        ),
    );
    assert_success(&output);
    assert_eq!(stdout(&output), format!("{seed}|unset"));
}

#[test]
fn var_renames_the_variable_in_both_modes() {
    let (s, seed) = vault_with_node1();

    let output = run(
        &s,
        &seed,
        exec(
            &s,
            &[
                "node1",
                "--var",
                "CTRL_SEED_FILE",
                "--",
                "sh",
                "-c",
                r#"cat "$CTRL_SEED_FILE"; printf '%s\n' "${NKEY_SEED_FILE-unset}""#,
            ],
        ),
    );
    assert_success(&output);
    assert_eq!(stdout(&output), format!("{seed}\nunset\n"));

    let output = run(
        &s,
        &seed,
        exec(
            &s,
            &[
                "node1",
                "--env",
                "--var",
                "CTRL_SEED",
                "--",
                "sh",
                "-c",
                r#"printf '%s|%s' "$CTRL_SEED" "${NKEY_SEED-unset}""#,
            ],
        ),
    );
    assert_success(&output);
    assert_eq!(stdout(&output), format!("{seed}|unset"));
}

#[test]
fn a_stale_seed_variable_does_not_reach_the_command() {
    let (s, seed) = vault_with_node1();
    let stale = "SUSTALESTALESTALE";

    let mut command = exec(
        &s,
        &[
            "node1",
            "--",
            "sh",
            "-c",
            r#"printf '%s|' "${NKEY_SEED-unset}"; cat "$NKEY_SEED_FILE""#,
        ],
    );
    command.env("NKEY_SEED", stale);
    let output = run(&s, &seed, command);
    assert_success(&output);
    assert_eq!(stdout(&output), format!("unset|{seed}\n"));
    let err = stderr(&output);
    assert!(
        err.contains("nkvault: warning: NKEY_SEED is set"),
        "stderr: {err}"
    );
    assert!(!err.contains(stale), "stderr: {err}");

    let mut command = exec(
        &s,
        &[
            "node1",
            "--env",
            "--",
            "sh",
            "-c",
            r#"printf '%s|%s' "${NKEY_SEED_FILE-unset}" "$NKEY_SEED""#,
        ],
    );
    command.env("NKEY_SEED_FILE", "/etc/stale.seed");
    let output = run(&s, &seed, command);
    assert_success(&output);
    assert_eq!(stdout(&output), format!("unset|{seed}"));
    assert!(
        stderr(&output).contains("nkvault: warning: NKEY_SEED_FILE is set"),
        "stderr: {}",
        stderr(&output)
    );
}

#[test]
fn the_exit_status_is_the_commands() {
    let (s, seed) = vault_with_node1();
    let output = run(&s, &seed, exec(&s, &["node1", "--", "sh", "-c", "exit 7"]));
    assert_eq!(output.status.code(), Some(7), "stderr: {}", stderr(&output));
    assert_eq!(stderr(&output), "");
}

#[test]
fn the_command_takes_over_nkvaults_process() {
    let (s, seed) = vault_with_node1();
    let child = s
        .std_nkvault()
        .args(["--passphrase-file", "pass", "exec", "node1", "--"])
        .args(["sh", "-c", "echo $$"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (status, out, err) = Running(child).wait();
    assert!(status.success(), "{status:?}: {err}");
    assert!(!err.contains(&seed), "stderr: {err}");
    assert_eq!(out.trim(), pid.to_string(), "the command has another PID");
}

#[test]
fn a_signal_to_nkvaults_pid_reaches_the_command() {
    let (s, seed) = vault_with_node1();
    let script = r#"
        trap 'echo got-term > marker; exit 0' TERM
        echo $$ > ready.tmp && mv ready.tmp ready
        while :; do sleep 0.05; done
    "#;
    let mut running = Running(
        s.std_nkvault()
            .args(["--passphrase-file", "pass", "exec", "node1", "--"])
            .args(["sh", "-c", script])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let ready = s.path("ready");
    wait_until("the command to start", || {
        running.assert_running();
        ready.exists()
    });
    assert_eq!(
        std::fs::read_to_string(&ready).unwrap().trim(),
        running.pid().to_string()
    );
    assert!(!s.path("marker").exists());

    // SAFETY: kill has no memory effects; the PID is our own running child.
    let sent = unsafe { libc::kill(running.pid() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(sent, 0);
    let (status, _, err) = running.wait();
    assert_eq!(status.code(), Some(0), "{status:?}: {err}");
    assert!(!err.contains(&seed), "stderr: {err}");
    assert_eq!(
        std::fs::read_to_string(s.path("marker")).unwrap(),
        "got-term\n"
    );
}

#[test]
fn a_command_killed_by_a_signal_shows_as_killed() {
    let (s, seed) = vault_with_node1();
    let output = run(
        &s,
        &seed,
        exec(&s, &["node1", "--", "sh", "-c", "kill -USR1 $$; sleep 5"]),
    );
    assert_eq!(
        output.status.signal(),
        Some(libc::SIGUSR1),
        "{:?}, stderr: {}",
        output.status,
        stderr(&output)
    );
}

#[test]
fn an_unknown_command_fails_with_127_and_costs_no_passphrase() {
    let (s, _) = vault_with_node1();
    // No passphrase source: had nkvault asked for one, it would fail on that.
    let output = s.fails(
        s.nkvault()
            .args(["exec", "node1", "--", "nkvault-no-such-command", "arg"]),
        127,
        "nkvault: error: cannot run nkvault-no-such-command: not found",
    );
    assert!(
        stderr(&output).contains("nkvault: hint: check the command name and PATH"),
        "stderr: {}",
        stderr(&output)
    );

    s.fails(
        s.nkvault().args(["exec", "node1", "--", "./missing"]),
        127,
        "cannot run ./missing: not found",
    );
}

#[test]
fn a_command_that_cannot_run_fails_with_126() {
    let (s, seed) = vault_with_node1();
    // Found, but not executable: execve itself fails, after the unlock.
    write_private(&s.path("script"), "#!/bin/sh\ntouch marker\n");
    let output = s.fails(
        &mut exec(&s, &["node1", "--", "./script"]),
        126,
        "cannot run ./script: permission denied",
    );
    assert_no_seed_in_stderr(&output, &seed);
    assert!(!s.path("marker").exists());
}

#[test]
fn an_unknown_name_names_the_nearest_and_asks_no_passphrase() {
    let (s, _) = vault_with_node1();
    let output = s.fails(
        s.nkvault()
            .args(["exec", "node2", "--", "sh", "-c", "touch marker"]),
        1,
        "no entry named \"node2\"",
    );
    assert!(
        stderr(&output).contains("\"node1\""),
        "stderr: {}",
        stderr(&output)
    );
    assert!(!s.path("marker").exists());
}

#[test]
fn a_wrong_passphrase_runs_nothing() {
    let (s, _) = vault_with_node1();
    write_private(&s.path("wrong"), "not the passphrase\n");
    s.fails(
        s.nkvault().args([
            "--passphrase-file",
            "wrong",
            "exec",
            "node1",
            "--",
            "sh",
            "-c",
            "touch marker",
        ]),
        1,
        "wrong passphrase",
    );
    assert!(!s.path("marker").exists());
}

#[test]
fn the_command_gets_the_original_core_limit() {
    let (s, seed) = vault_with_node1();
    let mut command = s.std_nkvault();
    with_core_limit(&mut command);
    command.args([
        "--passphrase-file",
        "pass",
        "exec",
        "node1",
        "--",
        "cat",
        "/proc/self/limits",
    ]);
    let output = command.output().unwrap();
    assert_success(&output);
    assert_no_seed_in_stderr(&output, &seed);
    assert_eq!(
        soft_core_limit(&stdout(&output)),
        TEST_CORE_LIMIT.to_string()
    );
}

#[test]
fn sigxfsz_is_not_ignored_in_the_command() {
    let (s, seed) = vault_with_node1();
    let output = run(
        &s,
        &seed,
        exec(&s, &["node1", "--", "cat", "/proc/self/status"]),
    );
    assert_success(&output);
    let status = stdout(&output);
    for field in ["SigIgn", "SigBlk", "SigCgt"] {
        assert_eq!(
            signal_mask(&status, field) & SIGXFSZ_BIT,
            0,
            "SIGXFSZ is in {field} of the command"
        );
    }
}

/// A FIFO in the scratch directory, for a passphrase that nkvault waits for.
fn fifo(s: &Scratch) -> PathBuf {
    let path = s.path("fifo");
    let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: mkfifo reads a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    path
}

/// Writes the passphrase into the FIFO once nkvault has it open for reading.
fn send_passphrase(running: &mut Running, fifo: &Path) {
    let mut writer = None;
    wait_until("nkvault to open the passphrase FIFO", || {
        running.assert_running();
        // Without a reader, a non-blocking open for writing fails (ENXIO)
        // rather than hanging the test.
        writer = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(fifo)
            .ok();
        writer.is_some()
    });
    writer
        .unwrap()
        .write_all(format!("{PASSPHRASE}\n").as_bytes())
        .unwrap();
}

/// Whether /proc/PID is nkvault's own program yet (not the test's fork
/// before execve).
fn is_nkvault(pid: u32) -> bool {
    // comm, unlike exe, can be read without ptrace access to the process.
    std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|comm| comm == "nkvault\n")
}

#[test]
fn nkvault_runs_without_core_dumps_and_catches_sigxfsz() {
    let (s, seed) = vault_with_node1();
    let fifo = fifo(&s);
    let mut command = s.std_nkvault();
    with_core_limit(&mut command);
    command
        .args(["--passphrase-file", "fifo", "export-env", "node1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut running = Running(command.spawn().unwrap());
    let pid = running.pid();

    // nkvault hardens itself first thing, then waits on the FIFO.
    wait_until("nkvault's soft core limit to be 0", || {
        running.assert_running();
        is_nkvault(pid)
            && std::fs::read_to_string(format!("/proc/{pid}/limits"))
                .is_ok_and(|limits| soft_core_limit(&limits) == "0")
    });
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert_ne!(
        (signal_mask(&status, "SigCgt") | signal_mask(&status, "SigIgn")) & SIGXFSZ_BIT,
        0,
        "nkvault neither catches nor ignores SIGXFSZ"
    );

    send_passphrase(&mut running, &fifo);
    let (status, out, err) = running.wait();
    assert!(status.success(), "{status:?}: {err}");
    assert_eq!(out, format!("NKEY_SEED={seed}\n"));
    assert!(!err.contains(&seed), "stderr: {err}");
}

/// A user that is not the one running the tests, for a process whose
/// /proc/PID entries are owned by root only when it is not dumpable.
const NOBODY: u32 = 65534;

#[test]
fn nkvault_is_not_dumpable() {
    let (s, seed) = vault_with_node1();
    let fifo = fifo(&s);
    let mut command = s.std_nkvault();
    let as_root = std::fs::metadata("/proc/self").unwrap().uid() == 0;
    if as_root {
        // Root's processes show root as the owner either way: run nkvault as
        // nobody, in a scratch directory that nobody owns.
        for name in ["", "nkvault.toml", "pass", "fifo"] {
            std::os::unix::fs::chown(s.path(name), Some(NOBODY), Some(NOBODY)).unwrap();
        }
        // std drops the supplementary groups too.
        command.uid(NOBODY).gid(NOBODY);
    }
    command
        .args(["--passphrase-file", "fifo", "export-env", "node1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut running = Running(command.spawn().unwrap());
    let pid = running.pid();

    // A dumpable process's /proc/PID files belong to its user; those of a
    // process that is not dumpable belong to root. Checked after execve
    // (is_nkvault first), since setuid itself clears the flag until then.
    wait_until("nkvault's /proc entries to belong to root", || {
        running.assert_running();
        is_nkvault(pid)
            && std::fs::metadata(format!("/proc/{pid}/status")).is_ok_and(|meta| meta.uid() == 0)
    });
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(
        uid_line.split_whitespace().nth(1) != Some("0"),
        "nkvault runs as root: {uid_line}"
    );

    send_passphrase(&mut running, &fifo);
    let (status, out, err) = running.wait();
    assert!(status.success(), "{status:?}: {err}");
    assert_eq!(out, format!("NKEY_SEED={seed}\n"));
}

#[test]
fn a_file_size_limit_is_an_error_not_a_kill() {
    let (s, seed) = vault_with_node1();
    let mut command = s.std_nkvault();
    // SAFETY: getrlimit and setrlimit are async-signal-safe system calls on
    // a local struct.
    unsafe {
        command.pre_exec(|| {
            let mut limit = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            if libc::getrlimit(libc::RLIMIT_FSIZE, &mut limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // Less than the 59 bytes of a seed file.
            limit.rlim_cur = 16;
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let before = s.snapshot();
    let output = command
        .args([
            "--passphrase-file",
            "pass",
            "export-file",
            "node1",
            "-o",
            "node1.seed",
        ])
        .output()
        .unwrap();
    let err = stderr(&output);
    assert_eq!(output.status.signal(), None, "killed: {:?}", output.status);
    assert_eq!(output.status.code(), Some(1), "stderr: {err}");
    assert!(err.starts_with("nkvault: error: "), "stderr: {err}");
    assert!(!err.contains(&seed), "stderr: {err}");
    assert_eq!(s.snapshot(), before);
    assert!(
        !s.path("node1.seed").exists(),
        "a partial seed file was left"
    );
}

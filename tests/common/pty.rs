//! A program under a pseudo-terminal (rexpect), as a person at a terminal
//! runs it: for the prompts that must not echo a secret.

use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};

use rexpect::process::WaitStatus;
use rexpect::session::{spawn_command, PtySession};

use super::{Scratch, BIN, NKVAULT_VARS};

/// nkvault under a new pseudo-terminal, in the scratch directory.
pub fn spawn(scratch: &Scratch, args: &[&str]) -> PtySession {
    spawn_program(scratch, BIN, args)
}

/// `program` under a new pseudo-terminal, in the scratch directory.
///
/// rexpect turns the terminal's echo off before starting the child; it is
/// turned back on here, as on a real terminal, so that only the program
/// itself can keep what is typed from being shown.
pub fn spawn_program(scratch: &Scratch, program: &str, args: &[&str]) -> PtySession {
    let mut command = std::process::Command::new(program);
    command
        .current_dir(scratch.dir.path())
        .args(args)
        .env("TERM", "dumb");
    for var in NKVAULT_VARS {
        command.env_remove(var);
    }
    // SAFETY: tcgetattr and tcsetattr are async-signal-safe; the termios value
    // lives on the child's stack.
    unsafe {
        command.pre_exec(|| {
            let mut termios: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut termios) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            termios.c_lflag |= libc::ECHO;
            if libc::tcsetattr(0, libc::TCSANOW, &termios) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    spawn_command(command, Some(20_000)).expect("a program under a pty")
}

/// Whether the terminal echoes what is typed, read from the master side.
pub fn echo_on(session: &PtySession) -> bool {
    let handle = session.process().get_file_handle().unwrap();
    // SAFETY: a zeroed termios is a valid value for tcgetattr to fill in.
    let mut termios: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: the descriptor is open for the duration of the call.
    let rc = unsafe { libc::tcgetattr(handle.as_raw_fd(), &mut termios) };
    assert_eq!(rc, 0, "tcgetattr: {}", std::io::Error::last_os_error());
    termios.c_lflag & libc::ECHO != 0
}

/// Waits for `prompt`, then for the program to turn the echo off, then types
/// `text` and Enter.
pub fn answer_hidden(session: &mut PtySession, prompt: &str, text: &str) {
    session
        .exp_string(prompt)
        .unwrap_or_else(|e| panic!("no {prompt:?} prompt: {e}"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while echo_on(session) {
        assert!(
            Instant::now() < deadline,
            "the echo stayed on at {prompt:?}: the secret would be shown"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    session.send_line(text).unwrap();
}

/// Everything printed until the end, and the exit status.
pub fn finish(mut session: PtySession) -> (String, i32) {
    let rest = session.exp_eof().expect("the program to finish");
    let status = match session.process().wait().unwrap() {
        WaitStatus::Exited(_, code) => code,
        other => panic!("the program did not exit normally: {other:?}"),
    };
    (rest, status)
}

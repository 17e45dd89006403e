//! `render-conf --check` and `--reload`: the rendered config is checked by
//! nats-server before it replaces anything, and a running server is asked to
//! reload it.
//!
//! The real servers (Debian's 2.9 and the current release, see
//! `tests/common/tools.rs`) show that a vault's config passes and that a
//! reload lets a new key in. A server that rejects a config cannot be had
//! from a real vault (nkvault renders only what both servers accept), so a
//! small fake `nats-server` script plays that part.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::nats::{self, connect, connect_ok, round_trip, RunningServer};
use common::tools::{nats_servers, NatsServerBin};
use common::*;

/// The line a fake server prints for `--version`, and the version nkvault
/// shows from it.
const FAKE_VERSION: &str = "nats-server: v2.99.0-fake";

/// A scratch vault holding `node1`.
fn vault_with_node1() -> Scratch {
    let scratch = Scratch::new();
    scratch.init();
    scratch.add(&["node1"]);
    scratch
}

/// `render-conf ARGS…` without --check, which must succeed; its stdout.
fn render_plain(scratch: &Scratch, args: &[&str]) -> Vec<u8> {
    let output = scratch
        .nkvault()
        .arg("render-conf")
        .args(args)
        .output()
        .unwrap();
    assert!(output.status.success(), "render-conf: {}", stderr(&output));
    output.stdout
}

/// `render-conf ARGS… --nats-server SERVER` as a command, not yet run.
fn render_with(scratch: &Scratch, server: &Path, args: &[&str]) -> assert_cmd::Command {
    let mut command = scratch.nkvault();
    command
        .arg("render-conf")
        .args(args)
        .arg("--nats-server")
        .arg(server);
    command
}

/// Runs `command`, which must succeed; returns its stderr.
fn succeeds(command: &mut assert_cmd::Command) -> String {
    let output = command.output().unwrap();
    let err = stderr(&output);
    assert!(output.status.success(), "stderr: {err}");
    err
}

/// The version nkvault reports for `server`: `2.9.10` from
/// `nats-server: v2.9.10`.
fn short_version(server: &NatsServerBin) -> &str {
    let version = server.version.trim_start_matches("nats-server:").trim();
    version.strip_prefix('v').unwrap_or(version)
}

/// No temporary file of nkvault's is left in the scratch directory.
fn assert_no_temp_file(scratch: &Scratch) {
    let files = scratch.files();
    assert!(
        !files.iter().any(|name| name.starts_with(".nkvault-")),
        "a temporary file was left behind: {files:?}"
    );
}

/// A shell script standing in for nats-server: `body` handles the arguments.
/// Written by a child shell, so that this multi-threaded test process never
/// holds the file open for writing while another thread forks (which would
/// make running the script fail with "text file busy").
fn fake_server(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    let script = format!("#!/bin/sh\n{body}\n");
    let status = std::process::Command::new("/bin/sh")
        .args(["-c", "printf '%s' \"$1\" > \"$2\" && chmod 755 \"$2\""])
        .args(["sh", &script])
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success(), "cannot write the fake server {name}");
    path
}

/// A fake nats-server that rejects every config the way the real one rejects
/// a bad key: it keeps a copy of what it checked in `side/checked.conf` and
/// names the file it was given in its message.
fn rejecting_server(side: &Path) -> PathBuf {
    let body = format!(
        r#"case "$1" in
  --version) echo "{FAKE_VERSION}" ;;
  -t) cp "$3" "{side}/checked.conf"
      echo "nats-server: $3:4:7: Not a valid public nkey for a user" >&2
      echo >&2
      exit 1 ;;
  *) echo "unexpected: $*" >&2; exit 3 ;;
esac"#,
        side = side.display()
    );
    fake_server(side, "rejecting-nats-server", &body)
}

/// A fake nats-server that accepts every config and logs its calls to
/// `side/calls`; `--signal` succeeds if `signal_ok`, else fails as the real
/// server does when no server runs.
fn logging_server(side: &Path, name: &str, signal_ok: bool) -> PathBuf {
    let signal = if signal_ok {
        "exit 0"
    } else {
        r#"echo "nats-server: no nats-server processes running" >&2; exit 1"#
    };
    let body = format!(
        r#"echo "$*" >> "{side}/calls"
case "$1" in
  --version) echo "{FAKE_VERSION}" ;;
  -t) echo "nats-server: configuration file $3 is valid" >&2 ;;
  --signal) {signal} ;;
  *) exit 3 ;;
esac"#,
        side = side.display()
    );
    fake_server(side, name, &body)
}

fn calls(side: &Path) -> String {
    std::fs::read_to_string(side.join("calls")).unwrap_or_default()
}

#[test]
fn check_accepts_the_full_config_and_the_fragment_on_both_servers() {
    let scratch = vault_with_node1();
    scratch.add(&["github"]);
    let full = render_plain(&scratch, &[]);
    let fragment = render_plain(&scratch, &["--fragment"]);
    for server in nats_servers() {
        let version = short_version(&server);
        let err = succeeds(&mut render_with(
            &scratch,
            &server.path,
            &["--check", "-o", "nats-server.conf"],
        ));
        assert!(
            err.contains(&format!(
                "nkvault: nats-server {version} accepts nats-server.conf\n"
            )),
            "[{}] {err}",
            server.label
        );
        assert!(err.contains("wrote nats-server.conf with 2 user key(s)"));
        let written = scratch.path("nats-server.conf");
        assert_eq!(std::fs::read(&written).unwrap(), full, "[{}]", server.label);
        let mode = std::fs::metadata(&written).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644, "[{}]", server.label);

        // The fragment alone, with no main config around it, passes -t.
        let err = succeeds(&mut render_with(
            &scratch,
            &server.path,
            &["--check", "--fragment", "-o", "auth.conf"],
        ));
        assert!(
            err.contains(&format!("nats-server {version} accepts auth.conf")),
            "[{}] {err}",
            server.label
        );
        assert_eq!(std::fs::read(scratch.path("auth.conf")).unwrap(), fragment);
        nats::check_config(&server, &scratch.path("auth.conf"));

        // Without -o: checked in the temporary directory, then printed.
        let output = render_with(&scratch, &server.path, &["--check"])
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
        assert_eq!(output.stdout, full, "[{}]", server.label);
        assert!(
            stderr(&output).contains("accepts the rendered config"),
            "{}",
            stderr(&output)
        );
        assert_no_temp_file(&scratch);
    }
}

#[test]
fn rejected_config_never_replaces_a_good_one() {
    let scratch = vault_with_node1();
    std::fs::write(
        scratch.path("nats-server.conf"),
        render_plain(&scratch, &[]),
    )
    .unwrap();
    let good = std::fs::read(scratch.path("nats-server.conf")).unwrap();
    let node2 = scratch.add(&["node2"]).remove(0);
    let side = tempfile::tempdir().unwrap();
    let fake = rejecting_server(side.path());

    for extra in [&[][..], &["--reload", "nats.pid"][..]] {
        let mut args = vec!["--check", "-o", "nats-server.conf"];
        args.extend_from_slice(extra);
        let output = scratch.fails(
            &mut render_with(&scratch, &fake, &args),
            1,
            "nkvault: error: nats-server rejects the rendered config: \
             nats-server.conf:4:7: Not a valid public nkey for a user\n",
        );
        let err = stderr(&output);
        assert!(
            err.contains("nkvault: hint: nats-server.conf is unchanged"),
            "{err}"
        );
        assert!(
            !err.contains(".nkvault-"),
            "the temporary name leaked: {err}"
        );
        assert!(!err.contains("wrote"), "{err}");
        assert_eq!(
            std::fs::read(scratch.path("nats-server.conf")).unwrap(),
            good,
            "the good config was replaced"
        );
        // The server was shown the new config, node2 included.
        let checked = std::fs::read_to_string(side.path().join("checked.conf")).unwrap();
        assert!(checked.contains(&node2), "{checked}");
        std::fs::remove_file(side.path().join("checked.conf")).unwrap();
    }

    // To standard output: nothing is printed.
    let output = scratch.fails(
        &mut render_with(&scratch, &fake, &["--check"]),
        1,
        "nats-server rejects the rendered config: the rendered config:4:7: Not a valid",
    );
    assert!(output.stdout.is_empty(), "{}", stdout(&output));
    assert!(stderr(&output).contains("nkvault: hint: nothing was printed"));

    // A control: the real servers accept this very vault's config.
    for server in nats_servers() {
        succeeds(&mut render_with(
            &scratch,
            &server.path,
            &["--check", "-o", "nats-server.conf"],
        ));
        let text = std::fs::read_to_string(scratch.path("nats-server.conf")).unwrap();
        assert!(text.contains(&node2), "[{}] {text}", server.label);
    }
    assert_no_temp_file(&scratch);
}

#[test]
fn missing_server_is_a_clear_error_and_changes_nothing() {
    let scratch = vault_with_node1();
    std::fs::write(scratch.path("nats-server.conf"), "port: 4222\n").unwrap();
    let missing = scratch.path("no-such-dir/nats-server");
    for extra in [&["--check"][..], &["--reload", "1"][..], &["--reload"][..]] {
        let mut args = vec!["-o", "nats-server.conf"];
        args.extend_from_slice(extra);
        let output = scratch.fails(
            &mut render_with(&scratch, &missing, &args),
            1,
            &format!(
                "nats-server not found: {} does not exist",
                missing.display()
            ),
        );
        assert!(
            stderr(&output).contains("apt-get install nats-server"),
            "{}",
            stderr(&output)
        );
    }
    scratch.fails(
        &mut render_with(&scratch, &scratch.path("pass"), &["--check"]),
        1,
        "pass is not an executable file",
    );
    scratch.fails(
        &mut render_with(
            &scratch,
            Path::new("no-such-nats-server"),
            &["--check", "-o", "nats-server.conf"],
        ),
        1,
        "nats-server not found: no-such-nats-server is not on PATH",
    );
    assert_eq!(
        std::fs::read_to_string(scratch.path("nats-server.conf")).unwrap(),
        "port: 4222\n"
    );
}

#[test]
fn server_is_looked_for_on_path_then_in_usr_sbin() {
    let scratch = vault_with_node1();
    let side = tempfile::tempdir().unwrap();
    let bin = side.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    logging_server(side.path(), "bin/nats-server", true);

    // NKVAULT_NATS_SERVER empty means "not set", as for the other variables.
    let err = succeeds(
        scratch
            .nkvault()
            .args(["render-conf", "--check", "-o", "nats-server.conf"])
            .env("NKVAULT_NATS_SERVER", "")
            .env("PATH", &bin),
    );
    assert!(
        err.contains("nats-server 2.99.0-fake accepts nats-server.conf"),
        "{err}"
    );
    assert!(
        calls(side.path()).contains("-t -c"),
        "{}",
        calls(side.path())
    );

    // The variable, when set, wins over PATH.
    let empty = side.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let other = logging_server(side.path(), "other-nats-server", true);
    let err = succeeds(
        scratch
            .nkvault()
            .args(["render-conf", "--check", "-o", "nats-server.conf"])
            .env("NKVAULT_NATS_SERVER", &other)
            .env("PATH", &empty),
    );
    assert!(err.contains("2.99.0-fake accepts"), "{err}");

    // Off PATH: Debian's /usr/sbin/nats-server, where Debian installs it.
    let mut command = scratch.nkvault();
    command
        .args(["render-conf", "--check", "-o", "nats-server.conf"])
        .env_remove("NKVAULT_NATS_SERVER")
        .env("PATH", &empty);
    let debian = Path::new("/usr/sbin/nats-server");
    if debian.is_file() {
        let err = succeeds(&mut command);
        assert!(err.contains("accepts nats-server.conf"), "{err}");
    } else {
        let output = scratch.fails(
            &mut command,
            1,
            "nats-server not found: it is neither on PATH nor at /usr/sbin/nats-server",
        );
        assert!(stderr(&output).contains("apt-get install nats-server"));
    }
}

/// Waits (bounded) until `seed` connects to `running`, then makes a round trip.
fn connects_after_reload(running: &RunningServer, seed: &str, who: &str) {
    nats::run(async {
        let deadline = Instant::now() + nats::WAIT;
        loop {
            match connect(&running.url(), seed).await {
                Ok((client, _)) => {
                    round_trip(&client, "reload.check", "in", &running.label).await;
                    break;
                }
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!(
                    "[{}] {who} still refused after the reload: {e}\n{}",
                    running.label,
                    running.log()
                ),
            }
        }
    });
}

fn refused_before_reload(running: &RunningServer, seed: &str, who: &str) {
    nats::run(async {
        assert!(
            connect(&running.url(), seed).await.is_err(),
            "[{}] {who} connected before the reload",
            running.label
        );
    });
}

#[test]
fn reload_with_a_pid_file_lets_a_new_key_in_on_both_servers() {
    for server in nats_servers() {
        // The server's own config includes the fragment nkvault renders and
        // writes its pid file, as a packaged server does.
        let scratch = vault_with_node1();
        std::fs::write(
            scratch.path("auth.conf"),
            render_plain(&scratch, &["--fragment"]),
        )
        .unwrap();
        let pid_file = scratch.path("nats.pid");
        let main = |_port: u16| {
            let path = scratch.path("main.conf");
            let text = format!(
                "pid_file: \"{}\"\ninclude \"auth.conf\"\n",
                pid_file.display()
            );
            std::fs::write(&path, text).unwrap();
            path
        };
        let running = RunningServer::start(&server, scratch.dir.path(), main);
        let deadline = Instant::now() + nats::WAIT;
        while std::fs::read_to_string(&pid_file)
            .ok()
            .map(|pid| pid.trim().to_owned())
            != Some(running.pid().to_string())
        {
            assert!(
                Instant::now() < deadline,
                "[{}] no pid file {}",
                running.label,
                pid_file.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }

        scratch.add(&["node2"]);
        let seed1 = scratch.seed("node1");
        let seed2 = scratch.seed("node2");
        refused_before_reload(&running, &seed2, "node2");

        let err = succeeds(&mut render_with(
            &scratch,
            &server.path,
            &["--fragment", "-o", "auth.conf", "--reload", "nats.pid"],
        ));
        assert!(
            err.contains(&format!(
                "nkvault: asked nats-server (pid {}, from nats.pid) to reload auth.conf",
                running.pid()
            )),
            "[{}] {err}",
            running.label
        );
        assert!(err.contains("accepts auth.conf"), "{err}");
        connects_after_reload(&running, &seed2, "node2");
        nats::run(async {
            connect_ok(&running.url(), &seed1, "node1 after the reload").await;
        });
        assert_no_temp_file(&scratch);
    }
}

#[test]
fn reload_with_a_pid_lets_a_new_key_in_on_both_servers() {
    for server in nats_servers() {
        let scratch = vault_with_node1();
        let full_config = |port: u16| {
            let path = scratch.path("nats-server.conf");
            let text = render_plain(&scratch, &["--port", &port.to_string()]);
            std::fs::write(&path, text).unwrap();
            path
        };
        let running = RunningServer::start(&server, scratch.dir.path(), full_config);
        scratch.add(&["node2"]);
        let seed2 = scratch.seed("node2");
        refused_before_reload(&running, &seed2, "node2");

        let pid = running.pid().to_string();
        let port = running.port.to_string();
        let err = succeeds(&mut render_with(
            &scratch,
            &server.path,
            &["--port", &port, "-o", "nats-server.conf", "--reload", &pid],
        ));
        assert!(
            err.contains(&format!(
                "nkvault: asked nats-server (pid {pid}) to reload nats-server.conf"
            )),
            "[{}] {err}",
            running.label
        );
        connects_after_reload(&running, &seed2, "node2");
    }
}

#[test]
fn reload_failures_say_the_config_was_written() {
    let server = nats_servers().remove(0);
    let scratch = vault_with_node1();
    let old = render_plain(&scratch, &[]);
    scratch.add(&["node2"]);
    let new = render_plain(&scratch, &[]);
    assert_ne!(old, new);

    std::fs::write(scratch.path("bad.pid"), "SUNOTAPID\n").unwrap();
    // A process that has exited and been reaped: its PID names nothing.
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    gone.wait().unwrap();
    let gone = gone.id().to_string();
    std::fs::write(scratch.path("stale.pid"), format!("{gone}\n")).unwrap();
    std::fs::create_dir(scratch.path("dir.pid")).unwrap();

    let cases: Vec<(&str, String)> = vec![
        ("missing.pid", "pid file missing.pid does not exist".into()),
        (
            "bad.pid",
            "pid file bad.pid does not hold a process id".into(),
        ),
        ("dir.pid", "pid file dir.pid is not a regular file".into()),
        (
            "stale.pid",
            format!("no process {gone} is running (from pid file stale.pid)"),
        ),
        (gone.as_str(), format!("no process {gone} is running")),
    ];
    for (target, reason) in &cases {
        std::fs::write(scratch.path("nats-server.conf"), &old).unwrap();
        let output = scratch.fails(
            &mut render_with(
                &scratch,
                &server.path,
                &["-o", "nats-server.conf", "--reload", target],
            ),
            1,
            &format!(
                "nkvault: error: wrote nats-server.conf, but could not ask the server \
                 to reload: {reason}\n"
            ),
        );
        let err = stderr(&output);
        assert!(err.contains("nkvault: hint: "), "{err}");
        assert!(!err.contains("SUNOTAPID"), "the pid file was quoted: {err}");
        assert_eq!(
            std::fs::read(scratch.path("nats-server.conf")).unwrap(),
            new,
            "--reload {target}: the config was not written"
        );
    }
}

/// SIGHUP terminates most programs: a PID (from a stale pid file, say) that
/// names something other than nats-server is not signalled.
#[cfg(target_os = "linux")]
#[test]
fn reload_refuses_to_signal_a_process_that_is_not_nats_server() {
    let server = nats_servers().remove(0);
    let scratch = vault_with_node1();
    let mut sleeper = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .unwrap();
    let pid = sleeper.id().to_string();
    std::fs::write(scratch.path("nats.pid"), &pid).unwrap();
    std::fs::write(scratch.path("nats-server.conf"), "").unwrap();
    for target in [pid.as_str(), "nats.pid"] {
        scratch.fails(
            &mut render_with(
                &scratch,
                &server.path,
                &["-o", "nats-server.conf", "--reload", target],
            ),
            1,
            &format!(
                "wrote nats-server.conf, but could not ask the server to reload: \
                 process {pid} is \"sleep\", not nats-server; it was not signalled"
            ),
        );
    }
    let alive = sleeper.try_wait().unwrap().is_none();
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    assert!(alive, "the sleep process was signalled");
}

#[test]
fn reload_alone_runs_nats_server_signal_reload() {
    let scratch = vault_with_node1();
    let side = tempfile::tempdir().unwrap();
    let fake = logging_server(side.path(), "nats-server", true);
    let err = succeeds(&mut render_with(
        &scratch,
        &fake,
        &["-o", "nats-server.conf", "--reload"],
    ));
    assert!(
        err.contains(
            "nkvault: asked the running nats-server to reload nats-server.conf \
             (nats-server --signal reload)"
        ),
        "{err}"
    );
    let log = calls(side.path());
    let lines: Vec<&str> = log.lines().collect();
    assert!(lines[0].starts_with("-t -c "), "{log}");
    assert_eq!(lines.last(), Some(&"--signal reload"), "{log}");

    // The server finds none (or several): the config is written all the same.
    let failing = logging_server(side.path(), "failing-nats-server", false);
    scratch.add(&["node2"]);
    scratch.fails(
        &mut render_with(&scratch, &failing, &["-o", "nats-server.conf", "--reload"]),
        1,
        "nkvault: error: wrote nats-server.conf, but could not ask the server to reload: \
         no nats-server processes running\n",
    );
    assert_eq!(
        std::fs::read(scratch.path("nats-server.conf")).unwrap(),
        render_plain(&scratch, &[])
    );
}

#[test]
fn reload_needs_a_file_and_a_process_id() {
    let scratch = vault_with_node1();
    std::fs::write(scratch.path("nats-server.conf"), "port: 4222\n").unwrap();
    let side = tempfile::tempdir().unwrap();
    let fake = logging_server(side.path(), "nats-server", true);
    let output = scratch.fails(
        &mut render_with(&scratch, &fake, &["-o", "-", "--reload", "1234"]),
        1,
        "--reload needs a config file: -o - writes to standard output",
    );
    assert!(output.stdout.is_empty());
    scratch.fails(
        &mut render_with(&scratch, &fake, &["--reload", "1234"]),
        2,
        "--output",
    );
    scratch.fails(
        &mut render_with(
            &scratch,
            &fake,
            &["-o", "nats-server.conf", "--reload", "0"],
        ),
        1,
        "--reload 0: not a process id; nothing was written",
    );
    assert_eq!(
        std::fs::read_to_string(scratch.path("nats-server.conf")).unwrap(),
        "port: 4222\n"
    );
    assert_eq!(calls(side.path()), "", "the server was run");
}

/// A newcomer's server ran on port 4333; the runbook's `render-conf -o …
/// --reload` rendered port 4222, the server refused to reload ("config reload
/// not supported for Port") and kept the old keys, and nkvault said all was
/// well. A port change is now refused with --reload and warned about without.
#[test]
fn a_render_that_would_change_the_port_is_refused_with_reload() {
    let scratch = vault_with_node1();
    render_plain(&scratch, &["-o", "nats-server.conf", "--port", "4333"]);
    let before = std::fs::read(scratch.path("nats-server.conf")).unwrap();

    let output = scratch.fails(
        scratch
            .nkvault()
            .args(["render-conf", "-o", "nats-server.conf", "--reload", "12345"]),
        1,
        "nats-server.conf sets port 4333 and this render sets port 4222",
    );
    assert!(
        stderr(&output).contains("pass --port 4333"),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        std::fs::read(scratch.path("nats-server.conf")).unwrap(),
        before
    );

    // Without --reload the file is written, with a warning.
    let output = scratch
        .nkvault()
        .args(["render-conf", "-o", "nats-server.conf"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("warning: nats-server.conf sets port 4333"),
        "{}",
        stderr(&output)
    );
    // The same port, or a fragment (which has none), says nothing.
    for args in [&["--port", "4222"][..], &["--fragment"]] {
        let output = scratch
            .nkvault()
            .args(["render-conf", "-o", "nats-server.conf"])
            .args(args)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
        assert!(
            !stderr(&output).contains("port"),
            "{args:?}: {}",
            stderr(&output)
        );
    }
}

//! render-conf: the server config from the public keys, checked and reloaded on request.
//!
//! `--check` writes the rendered text to a temporary file beside the output,
//! runs `nats-server -t -c TEMP` on it, and renames that very file over the
//! output only if the server accepts it: a config the server rejects never
//! replaces a good one. Without `-o`, the temporary file is in the system's
//! temporary directory and the text is printed only once it is accepted.
//!
//! `--reload [PIDFILE|PID]` implies `--check`; once the file is in place it
//! sends SIGHUP (nats-server's reload signal) to the PID, or to the PID read
//! from the pid file, or, given no value, runs `nats-server --signal reload`,
//! which finds the one running server itself.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nkvault_vault::{check_output_path, write_atomic, RenderOptions, Replace, Vault};

use crate::cli::{Global, RenderArgs};
use crate::commands::print;
use crate::failure::{note, warn, Failure};

/// Mode bits of a rendered nats-server.conf: it holds public keys only.
const CONF_MODE: u32 = 0o644;

/// Where Debian installs nats-server: off a normal user's PATH.
const DEBIAN_NATS_SERVER: &str = "/usr/sbin/nats-server";

const INSTALL_HINT: &str = "install it (apt-get install nats-server, or a release from \
     https://github.com/nats-io/nats-server/releases), or name the binary with \
     --nats-server PATH (or NKVAULT_NATS_SERVER)";

/// How long nats-server may take for `-t`, `--version` or `--signal`.
const SERVER_TIMEOUT: Duration = Duration::from_secs(30);

/// How much of nats-server's output is kept, and how many of its lines and
/// characters per line end up in a message.
const MAX_OUTPUT: usize = 64 * 1024;
const MAX_LINES: usize = 5;
const MAX_LINE_CHARS: usize = 300;

pub fn run(global: &Global, args: RenderArgs) -> Result<(), Failure> {
    let vault = Vault::open(&global.vault)?;
    // `-o -` is standard output, as for export-file.
    let output = args.output.filter(|path| path != Path::new("-"));
    let reload = args.reload.as_deref().map(Reload::parse).transpose()?;
    if reload.is_some() && output.is_none() {
        return Err(Failure::new(
            "--reload needs a config file: -o - writes to standard output, which no server reads",
        )
        .hint("name the file the running nats-server reads: -o /etc/nats/nats-server.conf"));
    }
    if let Some(output) = &output {
        check_output_path(output, vault.path(), Replace::Atomically)?;
        if !args.fragment {
            check_port_kept(output, args.port, reload.is_some())?;
        }
    }
    let server = if args.check || reload.is_some() {
        Some(NatsServer::find(args.nats_server.as_deref())?)
    } else {
        None
    };
    if vault.entries().is_empty() {
        warn("the vault has no entries: the server will accept no client");
    }
    let options = RenderOptions {
        port: args.port,
        fragment: args.fragment,
    };
    let text = vault.render(options);
    let users = vault.entries().len();
    match (&output, &server) {
        (Some(output), None) => {
            write_atomic(output, text.as_bytes(), CONF_MODE, Replace::Atomically)?;
            note(&format!(
                "wrote {} with {users} user key(s)",
                output.display()
            ));
            Ok(())
        }
        (Some(output), Some(server)) => {
            // The notes wait for the reload: a failed command's stderr starts
            // with its error, which then says what was written.
            let accepted = write_checked(server, output, &text)?;
            let reloaded = match &reload {
                Some(reload) => Some(reload.send(server, output)?),
                None => None,
            };
            note(&accepted);
            note(&format!(
                "wrote {} with {users} user key(s)",
                output.display()
            ));
            if let Some(reloaded) = reloaded {
                note(&reloaded);
            }
            Ok(())
        }
        (None, None) => print(text.as_bytes()),
        (None, Some(server)) => {
            let accepted = check_for_stdout(server, &text)?;
            note(&accepted);
            print(text.as_bytes())
        }
    }
}

/// The vault does not store the port, so each render names it (4222 unless
/// told). nats-server cannot change its port on a reload: it logs an error and
/// keeps the old config, new keys and all, while SIGHUP reports nothing back.
/// So a render that would change the port of the file it replaces is refused
/// with --reload, and warned about without.
fn check_port_kept(output: &Path, port: u16, reload: bool) -> Result<(), Failure> {
    let Ok(file) = fs::File::open(output) else {
        return Ok(());
    };
    let mut head = String::new();
    // The port line is near the top of a rendered config; 4 KiB is plenty.
    let _ = file.take(4096).read_to_string(&mut head);
    let Some(old) = head
        .lines()
        .find_map(|line| line.strip_prefix("port: ")?.trim().parse::<u16>().ok())
    else {
        return Ok(());
    };
    if old == port {
        return Ok(());
    }
    let message = format!(
        "{} sets port {old} and this render sets port {port}; nats-server cannot change \
         its port on a reload",
        output.display()
    );
    let hint = format!(
        "pass --port {old} to keep the port (the vault does not store it); to move the \
         server to port {port}, render and then restart it"
    );
    if reload {
        return Err(Failure::new(format!("{message}; nothing was written")).hint(hint));
    }
    warn(&format!("{message}: {hint}"));
    Ok(())
}

/// Writes `text` to a temporary file beside `output`, has `server` check it,
/// and renames it over `output` only if the server accepts it. A dropped
/// temporary file removes itself, so a rejected config leaves nothing behind.
/// Returns the note that says which server accepted it.
fn write_checked(server: &NatsServer, output: &Path, text: &str) -> Result<String, Failure> {
    let cannot_write = |e: std::io::Error| {
        Failure::new(format!("cannot write {}: {e}", output.display()))
            .hint("name a file in a directory you can write to")
    };
    let mut temp = tempfile::Builder::new()
        .prefix(".nkvault-")
        .suffix(".tmp")
        .tempfile_in(parent_dir(output))
        .map_err(|e| cannot_write(std::io::Error::from(e.kind())))?;
    temp.as_file()
        .set_permissions(fs::Permissions::from_mode(CONF_MODE))
        .map_err(cannot_write)?;
    temp.write_all(text.as_bytes()).map_err(cannot_write)?;
    temp.as_file().sync_all().map_err(cannot_write)?;

    let shown = output.display().to_string();
    let accepted = server.check(temp.path(), &shown).map_err(|failure| {
        failure.hint(format!(
            "{shown} is unchanged. Check that --nats-server (or NKVAULT_NATS_SERVER) names \
             the nats-server that runs this config; if it does, a vault it rejects is a \
             bug in nkvault worth reporting"
        ))
    })?;

    temp.persist(output).map_err(|e| cannot_write(e.error))?;
    File::open(parent_dir(output))
        .and_then(|dir| dir.sync_all())
        .map_err(cannot_write)?;
    Ok(accepted)
}

/// `--check` without `-o`: the text is checked in the system's temporary
/// directory; the caller prints it only if the server accepts it.
fn check_for_stdout(server: &NatsServer, text: &str) -> Result<String, Failure> {
    let cannot_check = |e: std::io::Error| {
        Failure::new(format!(
            "cannot write a temporary file to check the config: {e}"
        ))
        .hint("set TMPDIR to a writable directory, or use -o FILE")
    };
    let mut temp = tempfile::Builder::new()
        .prefix(".nkvault-")
        .suffix(".conf")
        .tempfile()
        .map_err(cannot_check)?;
    temp.write_all(text.as_bytes()).map_err(cannot_check)?;
    temp.flush().map_err(cannot_check)?;
    server
        .check(temp.path(), "the rendered config")
        .map_err(|failure| failure.hint("nothing was printed"))
}

/// The directory that holds `path`; `.` for a bare file name.
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// The nats-server binary that checks the config and sends the reload.
struct NatsServer {
    path: PathBuf,
}

impl NatsServer {
    /// `--nats-server` (or NKVAULT_NATS_SERVER), else `nats-server` on PATH,
    /// else Debian's /usr/sbin/nats-server. A name without a `/` is looked up
    /// on PATH, as a shell would.
    fn find(explicit: Option<&Path>) -> Result<Self, Failure> {
        let found = match explicit.filter(|path| !path.as_os_str().is_empty()) {
            Some(path) if path.as_os_str().as_encoded_bytes().contains(&b'/') => {
                if is_executable(path) {
                    Some(path.to_owned())
                } else {
                    let why = if path.exists() {
                        "is not an executable file"
                    } else {
                        "does not exist"
                    };
                    return Err(Failure::new(format!(
                        "nats-server not found: {} {why}",
                        path.display()
                    ))
                    .hint(INSTALL_HINT));
                }
            }
            Some(name) => on_path(name),
            None => on_path(Path::new("nats-server")).or_else(|| {
                let debian = Path::new(DEBIAN_NATS_SERVER);
                is_executable(debian).then(|| debian.to_owned())
            }),
        };
        match found {
            Some(path) => Ok(NatsServer { path }),
            None => {
                let looked = match explicit.filter(|path| !path.as_os_str().is_empty()) {
                    Some(name) => format!("{} is not on PATH", name.display()),
                    None => format!("it is neither on PATH nor at {DEBIAN_NATS_SERVER}"),
                };
                Err(Failure::new(format!("nats-server not found: {looked}")).hint(INSTALL_HINT))
            }
        }
    }

    /// `nats-server -t -c FILE`; returns the note that says it accepts the
    /// file, named `shown`. On a rejection the failure quotes the server,
    /// with `FILE` shown as `shown` there too.
    fn check(&self, file: &Path, shown: &str) -> Result<String, Failure> {
        let mut command = Command::new(&self.path);
        command.arg("-t").arg("-c").arg(file);
        let (status, said) = self.run(command, "-t")?;
        if status.success() {
            let who = match self.version() {
                Some(version) => format!("nats-server {version}"),
                None => "nats-server".to_owned(),
            };
            return Ok(format!("{who} accepts {shown}"));
        }
        let said = relevant_lines(&said, Some((file, shown)))
            .unwrap_or_else(|| format!("it exited with {} and said nothing", describe(status)));
        Err(Failure::new(format!(
            "nats-server rejects the rendered config: {said}"
        )))
    }

    /// The version `nats-server --version` prints, such as `2.9.10`, if it
    /// prints one.
    fn version(&self) -> Option<String> {
        let mut command = Command::new(&self.path);
        command.arg("--version");
        let (status, said) = self.run(command, "--version").ok()?;
        let line = said.lines().next()?.trim();
        let version = line.strip_prefix("nats-server:")?.trim();
        let version = version.strip_prefix('v').unwrap_or(version);
        let plausible = !version.is_empty()
            && version.len() <= 40
            && version
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-+".contains(c));
        (status.success() && plausible).then(|| version.to_owned())
    }

    /// Runs `command` (this server with some arguments), bounded by
    /// [`SERVER_TIMEOUT`]; returns its status and what it wrote on stdout and
    /// stderr together.
    fn run(&self, mut command: Command, what: &str) -> Result<(ExitStatus, String), Failure> {
        let cannot_run = |e: std::io::Error| {
            Failure::new(format!("cannot run {} {what}: {e}", self.path.display()))
                .hint(INSTALL_HINT)
        };
        let (mut reader, writer) = std::io::pipe().map_err(cannot_run)?;
        command
            .stdin(Stdio::null())
            .stdout(writer.try_clone().map_err(cannot_run)?)
            .stderr(writer);
        let spawned = command.spawn();
        // The command holds the pipe's write ends: drop them, so that the
        // reader sees the end of the output once the server has exited.
        drop(command);
        let mut child = spawned.map_err(cannot_run)?;

        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            let mut kept = Vec::new();
            let mut chunk = [0u8; 4096];
            // Read to the end, keeping the start: a server that talks a lot
            // must not block on a full pipe.
            while let Ok(n @ 1..) = reader.read(&mut chunk) {
                let room = MAX_OUTPUT.saturating_sub(kept.len());
                kept.extend_from_slice(&chunk[..n.min(room)]);
            }
            let _ = sender.send(kept);
        });

        let deadline = Instant::now() + SERVER_TIMEOUT;
        let status = loop {
            if let Some(status) = child.try_wait().map_err(cannot_run)? {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Failure::new(format!(
                    "{} {what} did not finish within {} seconds; it was stopped",
                    self.path.display(),
                    SERVER_TIMEOUT.as_secs()
                ))
                .hint("check that --nats-server names a nats-server binary"));
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        // A child of the server could keep the pipe open: wait a little only.
        let said = receiver
            .recv_timeout(Duration::from_secs(1))
            .unwrap_or_default();
        Ok((status, String::from_utf8_lossy(&said).into_owned()))
    }
}

/// The lines of nats-server's output worth quoting: without blank lines and
/// the `nats-server: ` prefix, at most [`MAX_LINES`], each cut at
/// [`MAX_LINE_CHARS`], joined with `; `. The temporary file's name, when
/// given, is replaced by the name the user knows. `None` if nothing is left.
fn relevant_lines(output: &str, temp: Option<(&Path, &str)>) -> Option<String> {
    let replacements: Vec<(String, &str)> = match temp {
        Some((file, shown)) => {
            let mut names = Vec::new();
            if let Ok(absolute) = fs::canonicalize(file) {
                names.push(absolute.display().to_string());
            }
            names.push(file.display().to_string());
            if let Some(name) = file.file_name() {
                names.push(name.to_string_lossy().into_owned());
            }
            names.into_iter().map(|name| (name, shown)).collect()
        }
        None => Vec::new(),
    };
    let lines: Vec<String> = output
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .take(MAX_LINES)
        .map(|line| {
            let line = line.strip_prefix("nats-server:").unwrap_or(line).trim();
            let mut line = line.to_owned();
            for (name, shown) in &replacements {
                line = line.replace(name.as_str(), shown);
            }
            if line.chars().count() > MAX_LINE_CHARS {
                line = line.chars().take(MAX_LINE_CHARS).collect::<String>() + "…";
            }
            line
        })
        .collect();
    (!lines.is_empty()).then(|| lines.join("; "))
}

fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("status {code}"),
        (None, Some(signal)) => format!("signal {signal}"),
        (None, None) => status.to_string(),
    }
}

fn on_path(name: &Path) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Which running server `--reload` asks to reload.
enum Reload {
    /// `--reload` alone: `nats-server --signal reload` finds the server.
    Any,
    /// `--reload 1234`.
    Pid(i32),
    /// `--reload /var/run/nats.pid`: the PID is read from the file.
    PidFile(PathBuf),
}

impl Reload {
    /// A value of digits only is a PID (write `./1234` for a pid file of
    /// that name); anything else names a pid file.
    fn parse(value: &str) -> Result<Self, Failure> {
        if value.is_empty() {
            return Ok(Reload::Any);
        }
        if !value.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(Reload::PidFile(PathBuf::from(value)));
        }
        match value.parse::<i32>() {
            Ok(pid) if pid > 0 => Ok(Reload::Pid(pid)),
            _ => Err(Failure::new(format!(
                "--reload {value}: not a process id; nothing was written"
            ))
            .hint("give the PID of the running nats-server, or its pid file")),
        }
    }

    /// Asks the server to reload `output`, which is already written; returns
    /// the note that says so.
    fn send(&self, server: &NatsServer, output: &Path) -> Result<String, Failure> {
        let failed = |reason: String, hint: &str| {
            Failure::new(format!(
                "wrote {}, but could not ask the server to reload: {reason}",
                output.display()
            ))
            .hint(format!(
                "{hint}; the new config takes effect at the next reload \
                 (nats-server --signal reload=PID) or restart"
            ))
        };
        match self {
            Reload::Any => {
                let mut command = Command::new(&server.path);
                command.args(["--signal", "reload"]);
                let (status, said) = server
                    .run(command, "--signal reload")
                    .map_err(|failure| failed(failure.message, "check --nats-server"))?;
                if !status.success() {
                    let said = relevant_lines(&said, None).unwrap_or_else(|| {
                        format!(
                            "{} --signal reload exited with {}",
                            server.path.display(),
                            describe(status)
                        )
                    });
                    return Err(failed(
                        said,
                        "with several servers, or none it can find, name the server's \
                         pid file or PID: --reload /var/run/nats-server.pid",
                    ));
                }
                Ok(format!(
                    "asked the running nats-server to reload {} (nats-server --signal reload)",
                    output.display()
                ))
            }
            Reload::Pid(pid) => {
                signal_reload(*pid).map_err(|reason| failed(reason, "check the PID"))?;
                Ok(format!(
                    "asked nats-server (pid {pid}) to reload {}",
                    output.display()
                ))
            }
            Reload::PidFile(file) => {
                const PID_FILE_HINT: &str = "nats-server writes its pid file when started \
                     with -P FILE or pid_file in its config; --reload alone lets \
                     `nats-server --signal reload` find a single running server";
                let pid = read_pid_file(file).map_err(|reason| failed(reason, PID_FILE_HINT))?;
                signal_reload(pid).map_err(|reason| {
                    failed(
                        format!("{reason} (from pid file {})", file.display()),
                        "is the pid file stale? nats-server may have stopped or restarted",
                    )
                })?;
                Ok(format!(
                    "asked nats-server (pid {pid}, from {}) to reload {}",
                    file.display(),
                    output.display()
                ))
            }
        }
    }
}

/// The PID in a pid file: decimal digits, maybe surrounded by whitespace.
/// The content is never quoted in a message (the file could be anything).
fn read_pid_file(file: &Path) -> Result<i32, String> {
    let shown = file.display();
    let meta = fs::metadata(file).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!("pid file {shown} does not exist"),
        _ => format!("cannot read pid file {shown}: {e}"),
    })?;
    // A FIFO would block the open, a device could be endless.
    if !meta.is_file() {
        return Err(format!("pid file {shown} is not a regular file"));
    }
    let mut bytes = Vec::new();
    File::open(file)
        .and_then(|f| f.take(4096).read_to_end(&mut bytes))
        .map_err(|e| format!("cannot read pid file {shown}: {e}"))?;
    let pid = std::str::from_utf8(&bytes)
        .ok()
        .map(str::trim)
        .filter(|text| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|text| text.parse::<i32>().ok())
        .filter(|pid| *pid > 0);
    pid.ok_or_else(|| format!("pid file {shown} does not hold a process id"))
}

/// Sends SIGHUP, nats-server's reload signal, to `pid`. Where /proc tells
/// what the process is, a process that is not a nats-server is refused: to
/// most programs SIGHUP means "terminate", and a stale pid file can name a
/// process that has nothing to do with NATS.
fn signal_reload(pid: i32) -> Result<(), String> {
    use rustix::io::Errno;
    use rustix::process::{kill_process, Pid, Signal};

    let target = Pid::from_raw(pid).ok_or_else(|| format!("{pid} is not a process id"))?;
    match fs::read_to_string(format!("/proc/{pid}/comm")) {
        Ok(comm) if comm.trim_end_matches('\n') == "nats-server" => {}
        Ok(comm) => {
            return Err(format!(
                "process {pid} is {:?}, not nats-server; it was not signalled",
                comm.trim_end_matches('\n')
            ))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!("no process {pid} is running"))
        }
        Err(e) => {
            return Err(format!(
                "cannot tell what process {pid} is ({e}); it was not signalled"
            ))
        }
    }
    kill_process(target, Signal::HUP).map_err(|e| match e {
        Errno::SRCH => format!("no process {pid} is running"),
        Errno::PERM => format!(
            "not allowed to signal process {pid}: run nkvault as the user that runs \
             nats-server, or as root"
        ),
        e => format!("cannot signal process {pid}: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reload_values_are_pids_or_pid_files() {
        assert!(matches!(Reload::parse(""), Ok(Reload::Any)));
        assert!(matches!(Reload::parse("1234"), Ok(Reload::Pid(1234))));
        assert!(matches!(Reload::parse("./1234"), Ok(Reload::PidFile(_))));
        assert!(matches!(Reload::parse("nats.pid"), Ok(Reload::PidFile(_))));
        assert!(Reload::parse("0").is_err());
        assert!(Reload::parse("99999999999").is_err());
    }

    #[test]
    fn server_output_is_trimmed_and_names_the_users_file() {
        let temp = Path::new("dir/.nkvault-AbC123.tmp");
        let said =
            "nats-server: dir/.nkvault-AbC123.tmp:4:7: Not a valid public nkey for a user\n\n";
        assert_eq!(
            relevant_lines(said, Some((temp, "dir/nats-server.conf"))).unwrap(),
            "dir/nats-server.conf:4:7: Not a valid public nkey for a user"
        );
        assert_eq!(relevant_lines("\n \n", None), None);
        let long = "x".repeat(1000) + "\n" + &"line\n".repeat(20);
        let quoted = relevant_lines(&long, None).unwrap();
        assert_eq!(quoted.matches("; ").count(), MAX_LINES - 1);
        assert!(quoted.chars().count() < MAX_LINE_CHARS + MAX_LINES * 10);
    }
}

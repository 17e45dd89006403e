//! A real nats-server for the end-to-end tests, and the client side of them.
//!
//! Which binaries are run, and where they are looked for, is in
//! [`super::tools`]. Every wait here is bounded; the server is killed when its
//! guard is dropped, also when a test panics.

use std::fs::File;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::{Client, ConnectError, ConnectOptions, Message, Subscriber};
use futures_util::StreamExt;

use super::tools::NatsServerBin;

/// How long a server may take to accept connections, and a client to get a
/// message or an error it waits for.
pub const WAIT: Duration = Duration::from_secs(10);

/// `nats-server -t -c FILE`: panics, with the server's words, unless the file
/// is valid for this server.
pub fn check_config(server: &NatsServerBin, config: &Path) {
    let output = check_config_output(server, config);
    assert!(
        output.status.success(),
        "[{} {}] nats-server -t -c {} refused the config:\n{}\n--- config ---\n{}",
        server.label,
        server.version,
        config.display(),
        String::from_utf8_lossy(&output.stderr),
        std::fs::read_to_string(config).unwrap_or_default()
    );
}

/// `nats-server -t -c FILE`, whatever its outcome.
pub fn check_config_output(server: &NatsServerBin, config: &Path) -> std::process::Output {
    let dir = config.parent().expect("a config file in a directory");
    Command::new(&server.path)
        .current_dir(dir)
        .arg("-t")
        .arg("-c")
        .arg(config)
        .stdin(Stdio::null())
        .output()
        .expect("nats-server runs")
}

/// A running nats-server on a loopback port; killed on drop.
pub struct RunningServer {
    child: Child,
    pub port: u16,
    pub label: String,
    log: PathBuf,
}

impl RunningServer {
    /// Starts `server` in `dir` on a free loopback port. `config` is called
    /// with the port and returns the config file to run; the server is also
    /// given `-a 127.0.0.1 -p PORT`, so a config with another port still
    /// listens only where the test expects. Returns once the port accepts
    /// connections. If another process took the port in between, tries again
    /// with a new one (three attempts).
    pub fn start(server: &NatsServerBin, dir: &Path, config: impl Fn(u16) -> PathBuf) -> Self {
        let label = format!("{} {}", server.label, server.version);
        for attempt in 1..=3 {
            let port = free_port();
            let config_path = config(port);
            let log = dir.join(format!("nats-server-{}-{attempt}.log", server.label));
            let out = File::create(&log).expect("the server log");
            let child = Command::new(&server.path)
                .current_dir(dir)
                .arg("-c")
                .arg(&config_path)
                .args(["-a", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(out.try_clone().unwrap())
                .stderr(out)
                .spawn()
                .unwrap_or_else(|e| panic!("[{label}] cannot start nats-server: {e}"));
            let mut running = RunningServer {
                child,
                port,
                label: label.clone(),
                log,
            };
            match running.wait_until_ready() {
                Ok(()) => return running,
                Err(log) if log.contains("address already in use") && attempt < 3 => continue,
                Err(log) => panic!(
                    "[{label}] nats-server did not come up with {}:\n{log}",
                    config_path.display()
                ),
            }
        }
        unreachable!("the last attempt either returns or panics")
    }

    fn wait_until_ready(&mut self) -> Result<(), String> {
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("exited with {status}\n{}", self.log()));
            }
            if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        Err(format!(
            "no connection accepted within {WAIT:?}\n{}",
            self.log()
        ))
    }

    /// The client URL.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The process id, for `nats-server --signal reload=PID`.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the server logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nobody listens on right now (the kernel's pick for 127.0.0.1:0).
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}

/// Runs a client scenario on a fresh runtime, bounded by one minute.
pub fn run<F: Future>(scenario: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(async {
            tokio::time::timeout(Duration::from_secs(60), scenario)
                .await
                .expect("the scenario finished within a minute")
        })
}

/// What the client's event callback saw (server errors, disconnects), as text.
#[derive(Clone, Default)]
pub struct Events(Arc<Mutex<Vec<String>>>);

impl Events {
    pub fn all(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    /// Waits (bounded by [`WAIT`]) for an event whose text contains every one
    /// of `needles`, compared without regard to case.
    pub async fn wait_for(&self, needles: &[&str]) -> Option<String> {
        let needles: Vec<String> = needles.iter().map(|n| n.to_lowercase()).collect();
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            let found = self.all().into_iter().find(|event| {
                let event = event.to_lowercase();
                needles.iter().all(|needle| event.contains(needle))
            });
            if found.is_some() {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }
}

/// Connects to `url` authenticating with the NKEY `seed`, as an agent does.
pub async fn connect(url: &str, seed: &str) -> Result<(Client, Events), ConnectError> {
    let events = Events::default();
    let sink = events.clone();
    let client = ConnectOptions::with_nkey(seed.to_owned())
        .name("nkvault-e2e")
        .connection_timeout(Duration::from_secs(5))
        .event_callback(move |event| {
            let sink = sink.clone();
            async move { sink.0.lock().unwrap().push(event.to_string()) }
        })
        .connect(url)
        .await?;
    Ok((client, events))
}

/// Like [`connect`], but the connection must succeed.
pub async fn connect_ok(url: &str, seed: &str, who: &str) -> (Client, Events) {
    connect(url, seed)
        .await
        .unwrap_or_else(|e| panic!("{who} could not connect to {url}: {e}"))
}

/// The next message of `subscriber`, or `None` after `within`.
pub async fn next_within(subscriber: &mut Subscriber, within: Duration) -> Option<Message> {
    tokio::time::timeout(within, subscriber.next())
        .await
        .ok()
        .flatten()
}

/// Returns once the server has processed everything `client` sent before.
///
/// async-nats's `flush` only empties the socket buffer; it does not wait for
/// the server. So after `subscribe` and `flush`, a message that another client
/// publishes can still reach the server before the subscription does. A
/// message this client sends to `probe` and receives back closes that race:
/// the server handles one connection's operations in order. `probe` must be a
/// subject the client may publish and subscribe to; a wider subscription of the
/// same client sees the probe too.
pub async fn settle(client: &Client, probe: &str) {
    let mut echo = client
        .subscribe(probe.to_owned())
        .await
        .expect("subscribe to the probe");
    client
        .publish(probe.to_owned(), "settle".into())
        .await
        .expect("publish the probe");
    client.flush().await.expect("flush the probe");
    next_within(&mut echo, WAIT)
        .await
        .unwrap_or_else(|| panic!("the probe on {probe} did not come back"));
    echo.unsubscribe()
        .await
        .expect("unsubscribe from the probe");
}

/// Subscribes to `subject`, publishes `payload` to it and expects it back:
/// the round trip an agent makes. Panics with `who` in the message otherwise.
pub async fn round_trip(client: &Client, subject: &str, payload: &str, who: &str) {
    let mut subscriber = client
        .subscribe(subject.to_owned())
        .await
        .unwrap_or_else(|e| panic!("{who}: subscribe {subject}: {e}"));
    client.flush().await.expect("flush after subscribe");
    client
        .publish(subject.to_owned(), payload.to_owned().into())
        .await
        .unwrap_or_else(|e| panic!("{who}: publish {subject}: {e}"));
    client.flush().await.expect("flush after publish");
    let message = next_within(&mut subscriber, WAIT)
        .await
        .unwrap_or_else(|| panic!("{who}: no message on {subject} within {WAIT:?}"));
    assert_eq!(message.subject.as_str(), subject, "{who}");
    assert_eq!(&message.payload[..], payload.as_bytes(), "{who}");
}

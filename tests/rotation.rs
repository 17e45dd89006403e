//! Key rotation against real nats-servers (the Debian 2.9 build and the current
//! release): `rotate --overlap` lets a running node move to a new seed with no
//! moment where the server refuses it, and a rotation without `--overlap`
//! cuts a connected node off at the reload, which is why the overlap exists.
//!
//! The node is modelled on the ctrl agent: it authenticates with the seed it
//! reads from its `NKEY_SEED_FILE` on every (re)connect (an async-nats auth
//! callback that reads the file and signs the server's nonce), and it makes
//! request/reply round trips the whole time, each failure recorded with its
//! moment. The server is reloaded the way an operator does it, with
//! `render-conf --reload PID`, and every wait for the reload to take effect is
//! a bounded poll (the server logs "Reloaded server configuration" once it
//! has applied the new users and re-checked the connected clients).
//!
//! Where the servers are looked for: `tests/common/tools.rs`. A missing
//! server fails these tests; they are never skipped.

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::connection::State;
use async_nats::{Auth, AuthError, Client, ConnectErrorKind, ConnectOptions};
use futures_util::StreamExt;
use tokio::runtime::Runtime;

use common::nats::{self, connect, round_trip, RunningServer, WAIT};
use common::tools::{nats_servers, NatsServerBin};
use common::{stderr, stdout, Scratch};

/// How long one request may wait for its reply before it counts as a failure.
const ROUND_TRIP_TIMEOUT: Duration = Duration::from_secs(2);

/// The pause between two round trips of a node.
const PACE: Duration = Duration::from_millis(5);

/// The line nats-server logs once a reload is applied, on 2.9 and on the
/// current release alike.
const RELOADED: &str = "Reloaded server configuration";

/// Something that happened at a moment, counted from the start of the run.
#[derive(Clone, Debug)]
struct Stamped {
    at: Duration,
    what: String,
}

impl std::fmt::Display for Stamped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:>7.3}s {}", self.at.as_secs_f64(), self.what)
    }
}

/// What a node's tasks share with the test.
#[derive(Default)]
struct NodeState {
    round_trips: AtomicU64,
    failures: Mutex<Vec<Stamped>>,
    /// The client's events: connected, disconnected, server and client errors.
    events: Mutex<Vec<Stamped>>,
    /// The public key the node signed the nonce with, at each (re)connect.
    presented: Mutex<Vec<Stamped>>,
    /// Set by the test: reconnect (re-reading the seed file) between two round
    /// trips, as an agent that is told to pick up its new seed.
    reconnect_requested: AtomicBool,
    reconnects_done: AtomicU64,
    /// How long each requested reconnect took, until connected again.
    reconnect_times: Mutex<Vec<Duration>>,
    stop: AtomicBool,
}

/// A node that behaves like the ctrl agent: it reads its seed from a file on
/// every (re)connect, and it keeps making request/reply round trips.
struct Node {
    name: &'static str,
    client: Client,
    state: Arc<NodeState>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Node {
    /// Connects with the seed in `seed_file` and starts the round trips on
    /// `rot.NAME` (the responder echoes them).
    fn start(rt: &Runtime, url: &str, name: &'static str, seed_file: &Path, t0: Instant) -> Node {
        let state = Arc::new(NodeState::default());
        let options = agent_options(seed_file, state.clone(), t0);
        let client = rt
            .block_on(async {
                tokio::time::timeout(WAIT, options.name(name).connect(url.to_owned())).await
            })
            .unwrap_or_else(|_| panic!("{name}: no connection within {WAIT:?}"))
            .unwrap_or_else(|e| panic!("{name} could not connect to {url}: {e}"));
        let task = rt.spawn(round_trips(client.clone(), name, state.clone(), t0));
        Node {
            name,
            client,
            state,
            task: Some(task),
        }
    }

    fn round_trips(&self) -> u64 {
        self.state.round_trips.load(Ordering::SeqCst)
    }

    fn failures(&self) -> Vec<Stamped> {
        self.state.failures.lock().unwrap().clone()
    }

    fn events(&self) -> Vec<Stamped> {
        self.state.events.lock().unwrap().clone()
    }

    fn presented(&self) -> Vec<String> {
        let presented = self.state.presented.lock().unwrap();
        presented.iter().map(|p| p.what.clone()).collect()
    }

    fn connected(&self) -> bool {
        self.client.connection_state() == State::Connected
    }

    /// Everything the node saw, for a failure message.
    fn report(&self) -> String {
        let lines = |title: &str, items: Vec<Stamped>| {
            let mut text = format!("  {title}:\n");
            for item in items {
                text.push_str(&format!("    {item}\n"));
            }
            text
        };
        format!(
            "{}: {} round trips\n{}{}{}",
            self.name,
            self.round_trips(),
            lines("failures", self.failures()),
            lines("events", self.events()),
            lines(
                "keys presented",
                self.state.presented.lock().unwrap().clone()
            ),
        )
    }

    /// Waits (bounded) until the node has made `more` further successful
    /// round trips: proof that it works at this point of the sequence.
    fn wait_round_trips(&self, more: u64) {
        let target = self.round_trips() + more;
        let deadline = Instant::now() + WAIT;
        while self.round_trips() < target {
            assert!(
                Instant::now() < deadline,
                "{} made fewer than {more} round trips in {WAIT:?}\n{}",
                self.name,
                self.report()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Asks the node to reconnect between two round trips, re-reading its
    /// seed file, and waits until it has; returns how long that took.
    fn reconnect(&self) -> Duration {
        let before = self.state.reconnects_done.load(Ordering::SeqCst);
        self.state.reconnect_requested.store(true, Ordering::SeqCst);
        let deadline = Instant::now() + WAIT * 2;
        while self.state.reconnects_done.load(Ordering::SeqCst) == before {
            assert!(
                Instant::now() < deadline,
                "{} did not reconnect\n{}",
                self.name,
                self.report()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        *self.state.reconnect_times.lock().unwrap().last().unwrap()
    }

    /// Stops the round trips; returns once the last one has finished.
    fn stop(&mut self, rt: &Runtime) {
        self.state.stop.store(true, Ordering::SeqCst);
        if let Some(task) = self.task.take() {
            rt.block_on(async { tokio::time::timeout(WAIT, task).await })
                .expect("the round-trip loop stops")
                .expect("the round-trip loop did not panic");
        }
    }
}

/// The options of a ctrl-like agent: the seed is read from `seed_file` at
/// every (re)connect, exactly as the agent re-reads `NKEY_SEED_FILE`; a lost
/// connection is retried every 100 ms to 1 s, without end.
fn agent_options(seed_file: &Path, state: Arc<NodeState>, t0: Instant) -> ConnectOptions {
    let file = seed_file.to_owned();
    let keys = state.clone();
    ConnectOptions::with_auth_callback(move |nonce: Vec<u8>| {
        let file = file.clone();
        let keys = keys.clone();
        async move {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| AuthError::new(format!("{}: {e}", file.display())))?;
            let seed = text.strip_suffix('\n').unwrap_or(&text);
            let seed = seed.strip_suffix('\r').unwrap_or(seed);
            let pair = nkeys::KeyPair::from_seed(seed).map_err(AuthError::new)?;
            let signature = pair.sign(&nonce).map_err(AuthError::new)?;
            keys.presented.lock().unwrap().push(Stamped {
                at: t0.elapsed(),
                what: pair.public_key(),
            });
            let mut auth = Auth::new();
            auth.nkey = Some(pair.public_key());
            auth.signature = Some(signature);
            Ok(auth)
        }
    })
    .connection_timeout(Duration::from_secs(5))
    .reconnect_delay_callback(|attempts| {
        if attempts <= 1 {
            Duration::ZERO
        } else {
            Duration::from_millis(100 * attempts.min(10) as u64)
        }
    })
    .event_callback(move |event| {
        let state = state.clone();
        async move {
            state.events.lock().unwrap().push(Stamped {
                at: t0.elapsed(),
                what: event.to_string(),
            });
        }
    })
}

/// The node's work: request, check the echo, pause, again, until stopped.
/// A reconnect the test asks for happens between two round trips, and the
/// next request waits until the node is connected again.
async fn round_trips(client: Client, name: &'static str, state: Arc<NodeState>, t0: Instant) {
    let subject = format!("rot.{name}");
    let fail = |what: String| {
        state.failures.lock().unwrap().push(Stamped {
            at: t0.elapsed(),
            what,
        });
    };
    let mut n: u64 = 0;
    while !state.stop.load(Ordering::SeqCst) {
        if state.reconnect_requested.swap(false, Ordering::SeqCst) {
            let started = Instant::now();
            let connects = client.statistics().connects.load(Ordering::SeqCst);
            if let Err(e) = client.force_reconnect().await {
                fail(format!("force_reconnect: {e}"));
            }
            let deadline = started + WAIT;
            while client.statistics().connects.load(Ordering::SeqCst) == connects
                || client.connection_state() != State::Connected
            {
                if Instant::now() > deadline {
                    fail(format!("not connected again {WAIT:?} after the reconnect"));
                    break;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            state
                .reconnect_times
                .lock()
                .unwrap()
                .push(started.elapsed());
            state.reconnects_done.fetch_add(1, Ordering::SeqCst);
        }
        n += 1;
        let payload = format!("{name} #{n}");
        let reply = tokio::time::timeout(
            ROUND_TRIP_TIMEOUT,
            client.request(subject.clone(), payload.clone().into()),
        )
        .await;
        match reply {
            Ok(Ok(reply)) if reply.payload == payload.as_bytes() => {
                state.round_trips.fetch_add(1, Ordering::SeqCst);
            }
            Ok(Ok(reply)) => fail(format!(
                "round trip {n}: wrong reply {:?}",
                String::from_utf8_lossy(&reply.payload)
            )),
            Ok(Err(e)) => fail(format!("round trip {n}: {e}")),
            Err(_) => fail(format!(
                "round trip {n}: no reply in {ROUND_TRIP_TIMEOUT:?}"
            )),
        }
        tokio::time::sleep(PACE).await;
    }
}

/// Connects with `seed` and answers every request on `rot.>` with its
/// payload. The key is never rotated: it stands for the rest of the fleet.
fn start_responder(rt: &Runtime, url: &str, seed: &str) -> Client {
    rt.block_on(async {
        let (client, _) = nats::connect_ok(url, seed, "responder").await;
        let mut requests = client.subscribe("rot.>").await.expect("subscribe rot.>");
        nats::settle(&client, "settle.responder").await;
        let answering = client.clone();
        tokio::spawn(async move {
            while let Some(request) = requests.next().await {
                if let Some(reply) = request.reply {
                    let _ = answering.publish(reply, request.payload).await;
                }
            }
        });
        client
    })
}

/// A passphrase vault holding `names`, in a fresh scratch directory.
fn vault_with(names: &[&str]) -> Scratch {
    let scratch = Scratch::new();
    scratch.init();
    assert_eq!(scratch.add(names).len(), names.len());
    scratch
}

/// `nkvault rotate NAME ARGS…`; returns what it printed (the new U key, or
/// nothing for `--finish`).
fn rotate(scratch: &Scratch, name: &str, args: &[&str]) -> String {
    let output = scratch
        .nkvault()
        .args(["rotate", name])
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "rotate {name} {args:?}: {}",
        stderr(&output)
    );
    stdout(&output).trim().to_owned()
}

/// `nkvault export-file NAME -o NAME.seed [--force]`: the seed where the node
/// reads it. Returns the file.
fn export_seed_file(scratch: &Scratch, name: &str, force: bool) -> PathBuf {
    let file = format!("{name}.seed");
    let mut command = scratch.with_passphrase();
    command.args(["export-file", name, "-o", &file]);
    if force {
        command.arg("--force");
    }
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "export-file {name}: {}",
        stderr(&output)
    );
    scratch.path(&file)
}

/// The seed in a seed file, read as the agent reads it.
fn read_seed(file: &Path) -> String {
    let text = std::fs::read_to_string(file).unwrap();
    text.strip_suffix('\n').unwrap_or(&text).to_owned()
}

fn public_key(seed: &str) -> String {
    nkeys::KeyPair::from_seed(seed).unwrap().public_key()
}

/// `nkvault render-conf -o nats-server.conf --port PORT`: the initial config.
fn render(scratch: &Scratch, port: u16) -> PathBuf {
    let output = scratch
        .nkvault()
        .args(["render-conf", "-o", "nats-server.conf"])
        .args(["--port", &port.to_string()])
        .output()
        .unwrap();
    assert!(output.status.success(), "render-conf: {}", stderr(&output));
    scratch.path("nats-server.conf")
}

/// What an operator types after a rotation:
/// `nkvault render-conf -o nats-server.conf --reload PID` (with the server
/// binary under test doing the `-t` check). Returns how many reloads the server
/// had applied before, for [`wait_for_reload`], and how long the command took.
fn render_and_reload(
    scratch: &Scratch,
    server: &NatsServerBin,
    running: &RunningServer,
) -> (usize, Duration) {
    let before = reloads(running);
    let started = Instant::now();
    let output = scratch
        .nkvault()
        .args(["render-conf", "-o", "nats-server.conf"])
        .args(["--port", &running.port.to_string()])
        .args(["--reload", &running.pid().to_string()])
        .arg("--nats-server")
        .arg(&server.path)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "[{}] render-conf --reload: {}",
        running.label,
        stderr(&output)
    );
    (before, started.elapsed())
}

/// How many reloads the server has applied so far, from its log.
fn reloads(running: &RunningServer) -> usize {
    running.log().matches(RELOADED).count()
}

/// Waits (bounded) until the server has applied a reload after `before`:
/// from then on it has the new users and has re-checked every connection.
fn wait_for_reload(running: &RunningServer, before: usize) -> Duration {
    let started = Instant::now();
    while reloads(running) <= before {
        assert!(
            started.elapsed() < WAIT,
            "[{}] the server did not apply the reload within {WAIT:?}:\n{}",
            running.label,
            running.log()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    started.elapsed()
}

/// Polls (bounded) until a new connection with `seed` is accepted, then makes
/// one round trip on it; returns how long the polling took.
fn connect_until_accepted(
    rt: &Runtime,
    running: &RunningServer,
    seed: &str,
    who: &str,
) -> Duration {
    let url = running.url();
    rt.block_on(async {
        let started = Instant::now();
        loop {
            match connect(&url, seed).await {
                Ok((client, _)) => {
                    let elapsed = started.elapsed();
                    round_trip(&client, "rot.check", who, who).await;
                    return elapsed;
                }
                Err(e) if started.elapsed() < WAIT => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err(e) => panic!(
                    "[{}] {who}: still refused {WAIT:?} after the reload: {e}\n{}",
                    running.label,
                    running.log()
                ),
            }
        }
    })
}

/// Polls (bounded) until a new connection with `seed` is refused with an
/// authorization violation; returns how long the polling took.
fn connect_until_refused(rt: &Runtime, running: &RunningServer, seed: &str, who: &str) -> Duration {
    let url = running.url();
    rt.block_on(async {
        let started = Instant::now();
        loop {
            match connect(&url, seed).await {
                Err(e) => {
                    assert_eq!(
                        e.kind(),
                        ConnectErrorKind::AuthorizationViolation,
                        "[{}] {who}: {e}",
                        running.label
                    );
                    return started.elapsed();
                }
                Ok(_) if started.elapsed() < WAIT => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Ok(_) => panic!(
                    "[{}] {who}: still accepted {WAIT:?} after the reload\n{}",
                    running.label,
                    running.log()
                ),
            }
        }
    })
}

/// A connection with `seed` must be accepted now, with no retry.
fn accepted_now(rt: &Runtime, running: &RunningServer, seed: &str, who: &str) {
    let url = running.url();
    rt.block_on(async {
        let (client, _) = nats::connect_ok(&url, seed, who).await;
        round_trip(&client, "rot.check", who, who).await;
    });
}

/// A connection with `seed` must be refused now, as an authorization
/// violation, with no retry.
fn refused_now(rt: &Runtime, running: &RunningServer, seed: &str, who: &str) {
    let url = running.url();
    rt.block_on(async {
        match connect(&url, seed).await {
            Ok(_) => panic!("[{}] {who} connected", running.label),
            Err(e) => assert_eq!(
                e.kind(),
                ConnectErrorKind::AuthorizationViolation,
                "[{}] {who}: {e}",
                running.label
            ),
        }
    });
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn ms(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}

fn count(events: &[Stamped], needle: &str) -> usize {
    events.iter().filter(|e| e.what.contains(needle)).count()
}

/// The sequence: rotate --overlap, render, reload; the node picks up
/// its new seed; finish, render, reload; the old seed is refused. node1 makes
/// round trips through all of it and never fails once; node2, whose key is
/// not touched, is never disturbed either.
#[test]
fn overlap_rotation_never_refuses_the_connected_node_on_both_servers() {
    for server in nats_servers() {
        overlap_rotation(&server);
    }
}

fn overlap_rotation(server: &NatsServerBin) {
    let label = format!("{} {}", server.label, server.version);
    let t0 = Instant::now();
    let scratch = vault_with(&["node1", "node2", "responder"]);
    let node1_file = export_seed_file(&scratch, "node1", false);
    let node2_file = export_seed_file(&scratch, "node2", false);
    let old_seed = read_seed(&node1_file);
    let old_key = public_key(&old_seed);
    let running = RunningServer::start(server, scratch.dir.path(), |port| render(&scratch, port));
    let rt = runtime();
    let url = running.url();

    // 1. The fleet runs: node1 and node2 connected with their seeds, making
    //    round trips answered by a third key.
    let step = Instant::now();
    let _responder = start_responder(&rt, &url, &scratch.seed("responder"));
    let mut node1 = Node::start(&rt, &url, "node1", &node1_file, t0);
    let mut node2 = Node::start(&rt, &url, "node2", &node2_file, t0);
    node1.wait_round_trips(20);
    node2.wait_round_trips(20);
    eprintln!(
        "[{label}] step 1 start: {} ({} round trips so far)",
        ms(step.elapsed()),
        node1.round_trips()
    );

    // 2. rotate --overlap, render, reload: both keys are accepted.
    let step = Instant::now();
    let new_key = rotate(&scratch, "node1", &["--overlap"]);
    let rotate_took = step.elapsed();
    assert!(
        new_key.starts_with('U') && new_key.len() == 56 && new_key != old_key,
        "rotate --overlap printed {new_key:?}"
    );
    let config = std::fs::read_to_string(scratch.path("nats-server.conf")).unwrap();
    assert!(
        !config.contains(&new_key),
        "the config changed before render-conf"
    );
    let (before, render_took) = render_and_reload(&scratch, server, &running);
    let applied_after = wait_for_reload(&running, before);
    let config = std::fs::read_to_string(scratch.path("nats-server.conf")).unwrap();
    assert!(
        config.contains(&new_key) && config.contains(&old_key),
        "the overlap config lacks a key:\n{config}"
    );
    assert!(config.contains("# node1: previous key"), "{config}");
    let new_seed = scratch.seed("node1");
    assert_eq!(public_key(&new_seed), new_key);
    let accepted_after = connect_until_accepted(&rt, &running, &new_seed, "node1 new seed");
    node1.wait_round_trips(20);
    assert!(
        node1.connected(),
        "[{label}] the reload dropped node1\n{}",
        node1.report()
    );
    assert_eq!(
        count(&node1.events(), "disconnected"),
        0,
        "{}",
        node1.report()
    );
    assert!(node1.failures().is_empty(), "[{label}] {}", node1.report());
    accepted_now(
        &rt,
        &running,
        &old_seed,
        "node1 old seed during the overlap",
    );
    accepted_now(
        &rt,
        &running,
        &new_seed,
        "node1 new seed during the overlap",
    );
    eprintln!(
        "[{label}] step 2 rotate --overlap + render-conf --reload: {} (rotate {}, render-conf \
         --reload {}, server logged the reload {} after that, new seed accepted {} later); \
         old and new seed both accepted; node1 {} round trips, {} failures",
        ms(step.elapsed()),
        ms(rotate_took),
        ms(render_took),
        ms(applied_after),
        ms(accepted_after),
        node1.round_trips(),
        node1.failures().len()
    );

    // 3. The node switches: its seed file gets the new seed, and it reconnects
    //    (what a restart of the agent does too), reading the file again.
    let step = Instant::now();
    export_seed_file(&scratch, "node1", true);
    assert_eq!(read_seed(&node1_file), new_seed);
    let reconnect_took = node1.reconnect();
    node1.wait_round_trips(20);
    assert_eq!(
        node1.presented(),
        [old_key.clone(), new_key.clone()],
        "[{label}] node1 signed with other keys than old, then new\n{}",
        node1.report()
    );
    assert!(node1.failures().is_empty(), "[{label}] {}", node1.report());
    eprintln!(
        "[{label}] step 3 export-file --force + reconnect: {} (reconnect with the new seed {}); \
         node1 {} round trips, {} failures",
        ms(step.elapsed()),
        ms(reconnect_took),
        node1.round_trips(),
        node1.failures().len()
    );

    // 4. finish, render, reload: the old seed is refused, node1 stays.
    let step = Instant::now();
    rotate(&scratch, "node1", &["--finish"]);
    let (before, render_took) = render_and_reload(&scratch, server, &running);
    let applied_after = wait_for_reload(&running, before);
    let config = std::fs::read_to_string(scratch.path("nats-server.conf")).unwrap();
    assert!(
        config.contains(&new_key) && !config.contains(&old_key),
        "after --finish the config still has the old key or lost the new one:\n{config}"
    );
    let refused_after = connect_until_refused(&rt, &running, &old_seed, "node1 old seed");
    refused_now(&rt, &running, &old_seed, "node1 old seed after --finish");
    accepted_now(&rt, &running, &new_seed, "node1 new seed after --finish");
    node1.wait_round_trips(50);
    assert!(node1.connected(), "[{label}] {}", node1.report());
    eprintln!(
        "[{label}] step 4 rotate --finish + render-conf --reload: {} (render-conf --reload {}, \
         server logged the reload {} after that, old seed refused {} later); node1 {} round \
         trips, {} failures",
        ms(step.elapsed()),
        ms(render_took),
        ms(applied_after),
        ms(refused_after),
        node1.round_trips(),
        node1.failures().len()
    );

    node1.stop(&rt);
    node2.stop(&rt);
    let events = node1.events();
    eprintln!(
        "[{label}] node1: {} round trips, {} failures, {} disconnects (the switch), keys \
         presented {:?}; node2 (untouched): {} round trips, {} failures, {} disconnects; \
         whole run {}",
        node1.round_trips(),
        node1.failures().len(),
        count(&events, "disconnected"),
        node1.presented(),
        node2.round_trips(),
        node2.failures().len(),
        count(&node2.events(), "disconnected"),
        ms(t0.elapsed())
    );
    assert!(node1.failures().is_empty(), "[{label}] {}", node1.report());
    // One disconnect, the switch the node made itself; the server never
    // closed it and never answered it with an error.
    assert_eq!(count(&events, "disconnected"), 1, "{}", node1.report());
    assert!(
        !events
            .iter()
            .any(|e| e.what.contains("violation") || e.what.contains("error")),
        "[{label}] {}",
        node1.report()
    );
    assert_eq!(node1.presented(), [old_key, new_key], "{}", node1.report());
    assert!(node2.failures().is_empty(), "[{label}] {}", node2.report());
    assert!(
        node2.events().iter().all(|e| e.what == "connected"),
        "{}",
        node2.report()
    );
}

/// The control: `rotate` without `--overlap` while the node is connected with
/// its old seed. The reload closes the node's connection at once and refuses
/// the old seed; the node is down until it has the new seed.
#[test]
fn rotation_without_overlap_cuts_the_connected_node_off_on_both_servers() {
    for server in nats_servers() {
        rotation_without_overlap(&server);
    }
}

fn rotation_without_overlap(server: &NatsServerBin) {
    let label = format!("{} {}", server.label, server.version);
    let t0 = Instant::now();
    let scratch = vault_with(&["node1", "node2", "responder"]);
    let node2_file = export_seed_file(&scratch, "node2", false);
    let old_seed = read_seed(&node2_file);
    let old_key = public_key(&old_seed);
    let running = RunningServer::start(server, scratch.dir.path(), |port| render(&scratch, port));
    let rt = runtime();
    let url = running.url();
    let _responder = start_responder(&rt, &url, &scratch.seed("responder"));
    let mut node2 = Node::start(&rt, &url, "node2", &node2_file, t0);
    node2.wait_round_trips(20);

    let step = Instant::now();
    let new_key = rotate(&scratch, "node2", &[]);
    assert!(
        new_key.starts_with('U') && new_key != old_key,
        "{new_key:?}"
    );
    let reload_started = t0.elapsed();
    let (before, render_took) = render_and_reload(&scratch, server, &running);
    let applied_after = wait_for_reload(&running, before);
    let config = std::fs::read_to_string(scratch.path("nats-server.conf")).unwrap();
    assert!(
        config.contains(&new_key) && !config.contains(&old_key),
        "{config}"
    );
    let refused_after = connect_until_refused(&rt, &running, &old_seed, "node2 old seed");

    // The reload closed node2's live connection, and its reconnects with the
    // old seed (still in its file) are refused as authorization violations.
    let deadline = Instant::now() + WAIT;
    while count(&node2.events(), "disconnected") == 0 || node2.failures().is_empty() {
        assert!(
            Instant::now() < deadline,
            "[{label}] node2 was not cut off by the reload\n{}",
            node2.report()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let events = node2.events();
    assert!(
        events
            .iter()
            .any(|e| e.what.contains("authorization violation")),
        "[{label}] no authorization violation\n{}",
        node2.report()
    );
    assert!(!node2.connected(), "[{label}] {}", node2.report());
    let cut_off = events
        .iter()
        .find(|e| e.what == "disconnected")
        .map(|e| e.at)
        .unwrap();
    assert!(
        cut_off >= reload_started,
        "[{label}] node2 was cut off before the reload\n{}",
        node2.report()
    );
    let new_seed = scratch.seed("node2");
    accepted_now(&rt, &running, &new_seed, "node2 new seed");
    refused_now(&rt, &running, &old_seed, "node2 old seed");
    eprintln!(
        "[{label}] control: rotate (no overlap) + render-conf --reload ({}, server logged the \
         reload {} after that, old seed refused {} later); node2's live connection closed {} \
         after render-conf --reload started; node2 events: {}",
        ms(render_took),
        ms(applied_after),
        ms(refused_after),
        ms(cut_off - reload_started),
        events
            .iter()
            .map(|e| e.what.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );

    // Back only once its file holds the new seed: its own reconnect loop
    // reads it.
    let failures_while_down = node2.failures().len();
    export_seed_file(&scratch, "node2", true);
    let written = t0.elapsed();
    node2.wait_round_trips(20);
    node2.stop(&rt);
    let first_ok_after = node2
        .events()
        .iter()
        .rev()
        .find(|e| e.what == "connected")
        .map(|e| e.at)
        .unwrap();
    eprintln!(
        "[{label}] control: node2 down {} (from the cut-off to its reconnect with the new seed, \
         {} after the seed file was written), {} failed round trips while down; step {}",
        ms(first_ok_after.saturating_sub(cut_off)),
        ms(first_ok_after.saturating_sub(written)),
        failures_while_down,
        ms(step.elapsed())
    );
    assert!(failures_while_down > 0, "{}", node2.report());
    assert_eq!(
        node2.presented().last().map(String::as_str),
        Some(new_key.as_str())
    );
}

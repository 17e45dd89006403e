//! End to end against real nats-servers: the config nkvault renders is
//! accepted by both the server Debian ships (2.9) and the current release, and
//! the seeds it exports authenticate, with the permissions the vault gave.
//!
//! Where the servers are looked for: `tests/common/tools.rs`. A missing
//! server fails these tests; they are never skipped.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use async_nats::ConnectErrorKind;
use common::nats::{
    self, check_config, connect, connect_ok, next_within, round_trip, RunningServer,
};
use common::tools::{nats_servers, NatsServerBin};
use common::{stderr, Scratch};

/// A passphrase vault holding `github` and `node1` with the default
/// permissions (everything allowed).
fn vault_with_github_and_node1() -> (Scratch, Vec<String>) {
    let scratch = Scratch::new();
    scratch.init();
    let keys = scratch.add(&["github", "node1"]);
    assert_eq!(keys.len(), 2);
    (scratch, keys)
}

/// `nkvault render-conf ARGS… -o FILE` in the scratch directory; returns FILE.
fn render(scratch: &Scratch, file: &str, args: &[&str]) -> PathBuf {
    let output = scratch
        .nkvault()
        .arg("render-conf")
        .args(args)
        .args(["-o", file])
        .output()
        .unwrap();
    assert!(output.status.success(), "render-conf: {}", stderr(&output));
    scratch.path(file)
}

/// Renders the full config for `port`, for [`RunningServer::start`].
fn full_config(scratch: &Scratch) -> impl Fn(u16) -> PathBuf + '_ {
    move |port| render(scratch, "nats-server.conf", &["--port", &port.to_string()])
}

/// The seed `export-file` writes, read the way an agent reads
/// `NKEY_SEED_FILE`: the whole file, one trailing newline trimmed.
fn seed_from_file(scratch: &Scratch, name: &str) -> String {
    let file = format!("{name}.seed");
    scratch
        .with_passphrase()
        .args(["export-file", name, "-o", &file])
        .assert()
        .success();
    let text = std::fs::read_to_string(scratch.path(&file)).unwrap();
    let seed = text.strip_suffix('\n').unwrap_or(&text);
    assert!(
        seed.len() == 58 && seed.starts_with("SU") && !seed.contains(char::is_whitespace),
        "the seed file holds more than `SU…\\n`: {text:?}"
    );
    seed.to_owned()
}

fn for_each_server(mut test: impl FnMut(&NatsServerBin)) {
    for server in nats_servers() {
        println!("--- {} ({})", server.label, server.version);
        test(&server);
    }
}

#[test]
fn rendered_full_config_passes_check_on_both_servers() {
    let (scratch, keys) = vault_with_github_and_node1();
    let config = render(&scratch, "nats-server.conf", &[]);
    let text = std::fs::read_to_string(&config).unwrap();
    for key in &keys {
        assert!(text.contains(&format!("nkey: \"{key}\"")), "{text}");
    }
    assert!(text.contains("port: 4222"), "{text}");
    assert_eq!(
        text.matches(r#"publish: { allow: [">"] }"#).count(),
        2,
        "default permissions allow everything: {text}"
    );

    // A control: -t really checks the users, so a pass above means something.
    let bad = text.replace(
        keys[0].as_str(),
        "ABPYQXTYULXKRGUUVT4FQAOOBWDA4YJIEPUQGPYZLWTDF4VIN2WNI2LS",
    );
    std::fs::write(scratch.path("bad.conf"), bad).unwrap();

    for_each_server(|server| {
        check_config(server, &config);
        let refused = nats::check_config_output(server, &scratch.path("bad.conf"));
        assert!(
            !refused.status.success() && stderr(&refused).contains("nkey"),
            "[{}] an account key among the users passed -t: {}",
            server.label,
            stderr(&refused)
        );
    });
}

#[test]
fn fragment_included_from_a_main_config_passes_check_on_both_servers() {
    let (scratch, keys) = vault_with_github_and_node1();
    let fragment = render(&scratch, "auth.conf", &["--fragment"]);
    let text = std::fs::read_to_string(&fragment).unwrap();
    assert!(!text.contains("port"), "a fragment carries no port: {text}");
    assert!(text.contains(&keys[1]), "{text}");
    std::fs::write(
        scratch.path("main.conf"),
        "port: 4222\ninclude \"auth.conf\"\n",
    )
    .unwrap();
    for_each_server(|server| check_config(server, &scratch.path("main.conf")));
}

#[test]
fn denies_and_allow_responses_pass_check_on_both_servers() {
    let scratch = Scratch::new();
    scratch.init();
    scratch.add(&["node1"]);
    scratch
        .nkvault()
        .args([
            "add",
            "ctrl1",
            "--publish",
            "ctrl.>",
            "--publish",
            "$JS.API.>",
        ])
        .args(["--deny-subscribe", "secret.>", "--allow-responses"])
        .assert()
        .success();
    scratch
        .nkvault()
        .args([
            "add",
            "github",
            "--subscribe",
            "ci.>",
            "--deny-publish",
            "ci.admin.*",
        ])
        .assert()
        .success();
    let config = render(&scratch, "nats-server.conf", &[]);
    let text = std::fs::read_to_string(&config).unwrap();
    for wanted in [
        r#"deny: ["secret.>"]"#,
        r#"deny: ["ci.admin.*"]"#,
        r#""$JS.API.>""#,
        "allow_responses: true",
    ] {
        assert!(text.contains(wanted), "{wanted} missing from:\n{text}");
    }
    render(&scratch, "auth.conf", &["--fragment"]);
    std::fs::write(
        scratch.path("main.conf"),
        "port: 4222\ninclude \"auth.conf\"\n",
    )
    .unwrap();
    for_each_server(|server| {
        check_config(server, &config);
        check_config(server, &scratch.path("main.conf"));
    });
}

#[test]
fn seed_from_export_env_connects_publishes_and_receives() {
    let (scratch, _) = vault_with_github_and_node1();
    let seed = scratch.seed("node1");
    for_each_server(|server| {
        let running = RunningServer::start(server, scratch.dir.path(), full_config(&scratch));
        nats::run(async {
            let (client, events) = connect_ok(&running.url(), &seed, "node1 (export-env)").await;
            round_trip(&client, "e2e.env", "hello from node1", &running.label).await;
            assert!(
                !events.all().iter().any(|e| e.contains("error")),
                "[{}] {:?}",
                running.label,
                events.all()
            );
        });
    });
}

#[test]
fn seed_from_export_file_connects_and_talks_to_another_key() {
    let (scratch, _) = vault_with_github_and_node1();
    let file_seed = seed_from_file(&scratch, "github");
    let env_seed = scratch.seed("node1");
    for_each_server(|server| {
        let running = RunningServer::start(server, scratch.dir.path(), full_config(&scratch));
        nats::run(async {
            let url = running.url();
            let (github, _) = connect_ok(&url, &file_seed, "github (export-file)").await;
            let (node1, _) = connect_ok(&url, &env_seed, "node1 (export-env)").await;
            round_trip(&github, "e2e.file", "hello from github", &running.label).await;

            // One key to the other: node1 listens, github publishes.
            let mut inbox = node1.subscribe("ctrl.node1").await.unwrap();
            nats::settle(&node1, "settle.node1").await;
            github.publish("ctrl.node1", "job 1".into()).await.unwrap();
            github.flush().await.unwrap();
            let message = next_within(&mut inbox, nats::WAIT)
                .await
                .unwrap_or_else(|| panic!("[{}] node1 got nothing from github", running.label));
            assert_eq!(&message.payload[..], b"job 1");
        });
    });
}

#[test]
fn fragment_included_from_a_main_config_authenticates() {
    let (scratch, _) = vault_with_github_and_node1();
    let seed = scratch.seed("github");
    render(&scratch, "auth.conf", &["--fragment"]);
    let main = |_port: u16| {
        let path = scratch.path("main.conf");
        std::fs::write(&path, "port: 4222\ninclude \"auth.conf\"\n").unwrap();
        path
    };
    for_each_server(|server| {
        let running = RunningServer::start(server, scratch.dir.path(), main);
        nats::run(async {
            let (client, _) = connect_ok(&running.url(), &seed, "github").await;
            round_trip(&client, "e2e.include", "included", &running.label).await;
        });
    });
}

#[test]
fn key_not_in_the_vault_is_refused() {
    let (scratch, _) = vault_with_github_and_node1();
    let stranger = nkeys::KeyPair::new_user().seed().unwrap();
    for_each_server(|server| {
        let running = RunningServer::start(server, scratch.dir.path(), full_config(&scratch));
        nats::run(async {
            let refused = connect(&running.url(), &stranger).await;
            let error = match refused {
                Ok(_) => panic!("[{}] a key not in the vault connected", running.label),
                Err(error) => error,
            };
            assert_eq!(
                error.kind(),
                ConnectErrorKind::AuthorizationViolation,
                "[{}] {error}",
                running.label
            );
        });
        // The server still serves the vault's keys.
        let seed = scratch.seed("node1");
        nats::run(async {
            connect_ok(&running.url(), &seed, "node1 after the refusal").await;
        });
    });
}

#[test]
fn permissions_from_the_vault_are_enforced() {
    let scratch = Scratch::new();
    scratch.init();
    scratch.add(&["node1"]);
    scratch
        .nkvault()
        .args([
            "add",
            "ctrl1",
            "--publish",
            "ctrl.>",
            "--deny-subscribe",
            "secret.>",
        ])
        .assert()
        .success();
    let observer_seed = scratch.seed("node1");
    let limited_seed = scratch.seed("ctrl1");
    for_each_server(|server| {
        let running = RunningServer::start(server, scratch.dir.path(), full_config(&scratch));
        let label = running.label.clone();
        nats::run(async {
            let url = running.url();
            let (observer, _) = connect_ok(&url, &observer_seed, "node1").await;
            let (limited, events) = connect_ok(&url, &limited_seed, "ctrl1").await;

            // Publishing: ctrl.x passes, other.x does not. The observer's
            // subscription to everything is settled on the server first, so
            // that what it does not receive was really refused.
            let mut everything = observer.subscribe(">").await.unwrap();
            nats::settle(&observer, "settle.observer").await;
            let probe = next_within(&mut everything, nats::WAIT).await.unwrap();
            assert_eq!(probe.subject.as_str(), "settle.observer", "[{label}]");
            limited.publish("ctrl.x", "allowed".into()).await.unwrap();
            limited.flush().await.unwrap();
            let first = next_within(&mut everything, nats::WAIT).await;
            let first = first.unwrap_or_else(|| {
                panic!(
                    "[{label}] ctrl1 could not publish to ctrl.x: {:?}",
                    events.all()
                )
            });
            assert_eq!(first.subject.as_str(), "ctrl.x", "[{label}]");

            limited.publish("other.x", "denied".into()).await.unwrap();
            limited.flush().await.unwrap();
            let violation = events
                .wait_for(&["permissions violation", "publish", "other.x"])
                .await;
            assert!(
                violation.is_some(),
                "[{label}] no publish violation reported: {:?}",
                events.all()
            );
            // Had other.x gone through, the observer would get it before this.
            limited.publish("ctrl.after", "sync".into()).await.unwrap();
            limited.flush().await.unwrap();
            let next = next_within(&mut everything, nats::WAIT).await;
            let next = next.unwrap_or_else(|| {
                panic!(
                    "[{label}] ctrl1 could not publish to ctrl.after: {:?}",
                    events.all()
                )
            });
            assert_eq!(
                next.subject.as_str(),
                "ctrl.after",
                "[{label}] ctrl1 published to other.x"
            );

            // Subscribing: secret.> is refused, ctrl.sync is not. The
            // observer publishes secret.a before ctrl.sync; once ctrl.sync has
            // arrived, secret.a would have too.
            let mut secret = limited.subscribe("secret.>").await.unwrap();
            let mut sync = limited.subscribe("ctrl.sync").await.unwrap();
            nats::settle(&limited, "ctrl.settle").await;
            let violation = events
                .wait_for(&["permissions violation", "subscription", "secret.>"])
                .await;
            assert!(
                violation.is_some(),
                "[{label}] no subscription violation reported: {:?}",
                events.all()
            );
            observer
                .publish("secret.a", "classified".into())
                .await
                .unwrap();
            observer.publish("ctrl.sync", "sync".into()).await.unwrap();
            observer.flush().await.unwrap();
            assert!(
                next_within(&mut sync, nats::WAIT).await.is_some(),
                "[{label}] ctrl1 got nothing on ctrl.sync"
            );
            assert!(
                next_within(&mut secret, Duration::from_millis(300))
                    .await
                    .is_none(),
                "[{label}] ctrl1 received a message on secret.>"
            );
        });
    });
}

#[test]
fn added_key_connects_after_render_and_reload() {
    let (scratch, _) = vault_with_github_and_node1();
    for_each_server(|server| {
        let running = RunningServer::start(server, scratch.dir.path(), full_config(&scratch));
        let name = format!("late-{}", server.label);
        scratch.add(&[&name]);
        let seed = scratch.seed(&name);
        nats::run(async {
            let refused = connect(&running.url(), &seed).await;
            assert!(
                refused.is_err(),
                "[{}] {name} connected before the reload",
                running.label
            );
        });

        render(
            &scratch,
            "nats-server.conf",
            &["--port", &running.port.to_string()],
        );
        let reload = std::process::Command::new(&server.path)
            .arg("--signal")
            .arg(format!("reload={}", running.pid()))
            .output()
            .unwrap();
        assert!(
            reload.status.success(),
            "[{}] reload: {}",
            running.label,
            stderr(&reload)
        );

        // The reload is asynchronous: retry, bounded, until the new key is in.
        nats::run(async {
            let deadline = std::time::Instant::now() + nats::WAIT;
            loop {
                match connect(&running.url(), &seed).await {
                    Ok((client, _)) => {
                        round_trip(&client, "e2e.reload", "in", &running.label).await;
                        break;
                    }
                    Err(_) if std::time::Instant::now() < deadline => {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Err(e) => panic!(
                        "[{}] {name} still refused after the reload: {e}\n{}",
                        running.label,
                        running.log()
                    ),
                }
            }
        });
    });
}

//! Library-level figures for vaults of N entries, without process start-up:
//! reading and checking a whole vault (`open`), reading the header and one
//! entry (`open_entry`, what show and export-env do), rendering
//! nats-server.conf (`render`), finding one entry (`entry`), taking one seed
//! out in recipients mode (`export`: open_entry + identity file + one X25519
//! decryption; `export_full` the same after a whole `open`), generating N keys
//! into an empty vault in memory (`add_users`), writing the vault back (`save`:
//! TOML, temporary file, fsync, rename) and decrypting every entry (`verify`,
//! up to 1,000 entries).
//!
//! Run: `cargo bench -p nkvault-vault --bench library`. Sizes come from
//! `NKVAULT_BENCH_SIZES` (default `10,1000,10000`); `add_users` stops at 10,000
//! names (one iteration of 100,000 takes seconds). When `NKVAULT_BENCH_VAULTS`
//! names a directory holding `recipients-N.toml` and `identity.txt` (as
//! `scripts/bench` makes them), those vaults are used instead of new ones.
//! Nothing here asserts a timing.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput};
use nkvault_vault::{Name, Permissions, Protection, RenderOptions, Vault};

struct Fixture {
    _dir: tempfile::TempDir,
    vault: PathBuf,
    empty: PathBuf,
    identity: PathBuf,
}

fn sizes() -> Vec<usize> {
    std::env::var("NKVAULT_BENCH_SIZES")
        .unwrap_or_else(|_| "10,1000,10000".to_owned())
        .split(',')
        .filter_map(|size| size.trim().parse().ok())
        .collect()
}

fn names(n: usize, prefix: &str) -> Vec<Name> {
    (0..n)
        .map(|i| Name::new(&format!("{prefix}{i:07}")).unwrap())
        .collect()
}

/// A recipients-mode vault of `n` entries, its empty twin and its identity file.
fn fixture(n: usize) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let identity_file = dir.path().join("identity.txt");
    let vault = dir.path().join(format!("recipients-{n}.toml"));
    let empty = dir.path().join("empty.toml");

    let given = std::env::var_os("NKVAULT_BENCH_VAULTS").map(PathBuf::from);
    if let Some(given) = given.filter(|d| d.join(format!("recipients-{n}.toml")).exists()) {
        std::fs::copy(given.join(format!("recipients-{n}.toml")), &vault).unwrap();
        std::fs::copy(given.join("identity.txt"), &identity_file).unwrap();
        let identities = Vault::open(&vault)
            .unwrap()
            .recipients()
            .iter()
            .map(|r| nkvault_vault::parse_recipient(r).unwrap())
            .collect();
        Vault::create(&empty, Protection::Recipients(identities)).unwrap();
    } else {
        let identity = age::x25519::Identity::generate();
        use age::secrecy::ExposeSecret;
        std::fs::write(
            &identity_file,
            format!("{}\n", identity.to_string().expose_secret()),
        )
        .unwrap();
        let recipients = || Protection::Recipients(vec![identity.to_public()]);
        Vault::create(&vault, recipients()).unwrap();
        Vault::create(&empty, recipients()).unwrap();
        let names = names(n, "k");
        Vault::update(&vault, |v| v.add_users(&names, &Permissions::everything())).unwrap();
    }
    Fixture {
        _dir: dir,
        vault,
        empty,
        identity: identity_file,
    }
}

fn configure(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    n: usize,
) {
    if n >= 10_000 {
        group.sample_size(10);
        group.warm_up_time(Duration::from_millis(500));
    }
}

fn library(c: &mut Criterion) {
    for n in sizes() {
        let fixture = fixture(n);
        let path: &Path = &fixture.vault;
        let vault = Vault::open(path).unwrap();
        let middle = vault.entries()[n / 2].name.as_str().to_owned();

        let mut group = c.benchmark_group("library");
        configure(&mut group, n);
        group.throughput(Throughput::Elements(n as u64));

        group.bench_with_input(BenchmarkId::new("open", n), &n, |b, _| {
            b.iter(|| black_box(Vault::open(path).unwrap()))
        });
        group.bench_with_input(BenchmarkId::new("open_entry", n), &n, |b, _| {
            b.iter(|| black_box(Vault::open_entry(path, &middle).unwrap()))
        });
        group.bench_with_input(BenchmarkId::new("render", n), &n, |b, _| {
            b.iter(|| black_box(vault.render(RenderOptions::default())))
        });
        group.bench_with_input(BenchmarkId::new("entry", n), &n, |b, _| {
            b.iter(|| black_box(vault.entry(&middle).unwrap()))
        });
        let identities = vec![fixture.identity.clone()];
        group.bench_with_input(BenchmarkId::new("export", n), &n, |b, _| {
            b.iter(|| {
                let vault = Vault::open_entry(path, &middle).unwrap();
                let unlocked = vault.unlock_with_identity_files(&identities).unwrap();
                black_box(vault.seed(&unlocked, &middle).unwrap())
            })
        });
        group.bench_with_input(BenchmarkId::new("export_full", n), &n, |b, _| {
            b.iter(|| {
                let vault = Vault::open(path).unwrap();
                let unlocked = vault.unlock_with_identity_files(&identities).unwrap();
                black_box(vault.seed(&unlocked, &middle).unwrap())
            })
        });
        if n <= 1_000 {
            let unlocked = vault.unlock_with_identity_files(&identities).unwrap();
            group.bench_with_input(BenchmarkId::new("verify", n), &n, |b, _| {
                b.iter(|| assert!(vault.verify(&unlocked).is_empty()))
            });
        }
        group.bench_with_input(BenchmarkId::new("save", n), &n, |b, _| {
            b.iter(|| vault.save().unwrap())
        });
        if n <= 10_000 {
            let new_names = names(n, "n");
            let permissions = Permissions::everything();
            group.bench_with_input(BenchmarkId::new("add_users", n), &n, |b, _| {
                b.iter_batched(
                    || Vault::open(&fixture.empty).unwrap(),
                    |mut empty| {
                        black_box(empty.add_users(&new_names, &permissions).unwrap());
                        empty
                    },
                    BatchSize::PerIteration,
                )
            });
        }
        group.finish();
    }
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    library(&mut criterion);
    criterion.final_summary();
}

//! The in-process floor of nkvault, and the cost of one scrypt.
//!
//! `floor/key_and_seal` is what one `nkvault add` cannot avoid per key, done
//! with the same crates the vault uses: generate an NKEY user key pair
//! (`nkeys::KeyPair::new_user`) and age-encrypt one seed record, shaped like
//! nkvault's (header, name, public key, seed), to one X25519 recipient,
//! ASCII-armored. No vault, no TOML, no I/O. `keypair` and `seal` split it in
//! two so a reader can see where the floor goes.
//!
//! `scrypt/unwrap` decrypts a one-line armored age file (an age identity)
//! encrypted with a passphrase at the vault's default work factor: the one
//! scrypt a passphrase-mode `export-env` runs. `scripts/bench` compares it with
//! the difference between a passphrase-mode and a recipients-mode export.
//!
//! Run: `cargo bench -p nkvault-vault --bench floor` (or `scripts/bench`, which
//! runs it for BENCHMARKS.md). Nothing here asserts a timing.
//! `NKVAULT_BENCH_WORK_FACTOR` changes the work factor (default 18).

use std::hint::black_box;
use std::io::{Read, Write};
use std::time::Duration;

use age::armor::{ArmoredReader, ArmoredWriter, Format};
use age::secrecy::{ExposeSecret, SecretString};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// Encrypts `plaintext` to `recipients` as an armored age file, as
/// `nkvault_vault`'s own (private) `crypto::encrypt` does.
fn encrypt(recipients: &[&dyn age::Recipient], plaintext: &[u8]) -> String {
    let encryptor = age::Encryptor::with_recipients(recipients.iter().copied()).unwrap();
    let armor = ArmoredWriter::wrap_output(Vec::new(), Format::AsciiArmor).unwrap();
    let mut writer = encryptor.wrap_output(armor).unwrap();
    writer.write_all(plaintext).unwrap();
    let bytes = writer.finish().and_then(|armor| armor.finish()).unwrap();
    String::from_utf8(bytes).unwrap()
}

/// The seed record nkvault encrypts: same fields, same size.
fn seal(recipient: &age::x25519::Recipient, name: &str, public_key: &str, seed: &str) -> String {
    let record = format!("nkvault-seed v1\nname {name}\npublic-key {public_key}\nseed {seed}\n");
    encrypt(&[recipient], record.as_bytes())
}

fn floor(c: &mut Criterion) {
    let identity = age::x25519::Identity::generate();
    let recipient = identity.to_public();
    let sample = nkeys::KeyPair::new_user();
    let (sample_public, sample_seed) = (sample.public_key(), sample.seed().unwrap());

    let mut group = c.benchmark_group("floor");
    group.throughput(Throughput::Elements(1));
    group.bench_function("key_and_seal", |b| {
        b.iter(|| {
            let pair = nkeys::KeyPair::new_user();
            let seed = pair.seed().unwrap();
            let public_key = pair.public_key();
            black_box(seal(&recipient, "k0000001", &public_key, &seed))
        })
    });
    group.bench_function("keypair", |b| {
        b.iter(|| {
            let pair = nkeys::KeyPair::new_user();
            black_box((pair.public_key(), pair.seed().unwrap()))
        })
    });
    group.bench_function("seal", |b| {
        b.iter(|| black_box(seal(&recipient, "k0000001", &sample_public, &sample_seed)))
    });

    // The other half of a recipients-mode export: one X25519 decryption.
    let sealed = seal(&recipient, "k0000001", &sample_public, &sample_seed);
    group.bench_function("open", |b| {
        b.iter(|| {
            let decryptor =
                age::Decryptor::new(ArmoredReader::new(black_box(sealed.as_bytes()))).unwrap();
            let mut reader = decryptor
                .decrypt(std::iter::once(&identity as &dyn age::Identity))
                .unwrap();
            let mut plaintext = Vec::with_capacity(256);
            reader.read_to_end(&mut plaintext).unwrap();
            black_box(plaintext)
        })
    });
    group.finish();
}

fn scrypt(c: &mut Criterion) {
    let work_factor: u8 = std::env::var("NKVAULT_BENCH_WORK_FACTOR")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(18);
    let passphrase = "correct horse battery staple";
    let mut recipient = age::scrypt::Recipient::new(SecretString::from(passphrase.to_owned()));
    recipient.set_work_factor(work_factor);
    let secret = age::x25519::Identity::generate().to_string();
    let armored = encrypt(&[&recipient], secret.expose_secret().as_bytes());

    let mut group = c.benchmark_group("scrypt");
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.bench_function(format!("unwrap_wf{work_factor}"), |b| {
        b.iter(|| {
            let mut identity =
                age::scrypt::Identity::new(SecretString::from(passphrase.to_owned()));
            identity.set_max_work_factor(22);
            let decryptor = age::Decryptor::new(ArmoredReader::new(armored.as_bytes())).unwrap();
            let mut reader = decryptor
                .decrypt(std::iter::once(&identity as &dyn age::Identity))
                .unwrap();
            let mut plaintext = Vec::new();
            reader.read_to_end(&mut plaintext).unwrap();
            black_box(plaintext)
        })
    });
    group.finish();
}

criterion_group!(benches, floor, scrypt);
criterion_main!(benches);

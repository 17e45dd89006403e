//! The vault file: TOML, public parts in the clear, each seed an age ciphertext.
//!
//! ```toml
//! format = 1
//! mode = "passphrase"
//! recipients = ["age1…"]
//!
//! [passphrase]
//! work_factor = 18
//! identity = """-----BEGIN AGE ENCRYPTED FILE-----…"""
//!
//! [[entry]]
//! name = "node1"
//! type = "user"
//! public_key = "UAI3…"
//! created = "2026-12-03T16:30:00Z"
//! seed = """-----BEGIN AGE ENCRYPTED FILE-----…"""
//!
//! [entry.permissions]
//! publish = [">"]
//! subscribe = [">"]
//!
//! [entry.previous]            # only during `rotate --overlap`
//! public_key = "UBB…"
//! rotated = "2026-12-04T09:00:00Z"
//! ```
//!
//! Entries are kept sorted by name, so that the file and the rendered config
//! change in one place when a key is added.

use std::collections::HashSet;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::keys::PublicKey;
use crate::name::Name;
use crate::permissions::Permissions;

/// The format number this library reads and writes.
pub const FORMAT: u32 = 1;

const HEADER: &str = "\
# nkvault vault: public parts in the clear, every seed encrypted with age.
# Change it with nkvault; an entry edited by hand is refused on export.
";

/// How the seeds of a vault are unlocked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Seeds are encrypted to the vault's own identity, which a passphrase protects.
    Passphrase,
    /// Seeds are encrypted to age recipients; their identity files unlock them.
    Recipients,
}

/// The kind of NKEY an entry holds. Only user keys belong in `authorization.users`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyType {
    /// A user key (`U…`, seed `SU…`).
    User,
}

/// One key of the vault.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// What the operator calls the key.
    pub name: Name,
    /// The kind of key.
    #[serde(rename = "type")]
    pub key_type: KeyType,
    /// The public key, as it goes into nats-server.conf.
    pub public_key: PublicKey,
    /// When the key was made, RFC 3339 in UTC.
    pub created: String,
    /// The armored age ciphertext of the seed record.
    pub(crate) seed: String,
    /// What the key may publish and subscribe to.
    pub permissions: Permissions,
    /// During a rotation with overlap: the key being replaced, still accepted
    /// by the server until the rotation is finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<PreviousKey>,
}

/// The old key of an entry in the middle of a rotation. Only its public key
/// is kept: the node that still uses it has its own copy of the seed, and
/// nothing would ever need to decrypt it again.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreviousKey {
    /// The old public key, rendered beside the new one.
    pub public_key: PublicKey,
    /// When the rotation started, RFC 3339 in UTC.
    pub rotated: String,
}

/// The vault's own identity, encrypted with the passphrase (passphrase mode only).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PassphraseIdentity {
    pub work_factor: u8,
    pub identity: String,
}

/// The whole file, as serialized.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct VaultFile {
    pub format: u32,
    pub mode: Mode,
    pub recipients: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passphrase: Option<PassphraseIdentity>,
    #[serde(default, rename = "entry")]
    pub entries: Vec<Entry>,
}

#[derive(Deserialize)]
struct FormatProbe {
    format: Option<u32>,
}

/// One `[[entry]]` table and what belongs to it, parsed on its own.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryChunk {
    entry: Vec<Entry>,
}

/// The line that starts every entry of a vault nkvault wrote.
const ENTRY_HEADER: &[u8] = b"\n[[entry]]\n";

/// Entries a thread parses at least; fewer are not worth handing out.
const ENTRIES_PER_THREAD: usize = 256;

/// How much of a vault is read at a time (about 4,000 entries).
const READ_BLOCK: usize = 4 << 20;

impl VaultFile {
    /// Parses and checks a vault file's text.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let corrupt = |reason: String| Error::VaultCorrupt {
            path: path.to_owned(),
            reason,
        };
        let file: VaultFile = match toml::from_str(text) {
            Ok(file) => file,
            Err(e) => {
                // A newer format may not parse as this one: say so rather than "corrupt".
                if let Ok(FormatProbe {
                    format: Some(found),
                }) = toml::from_str(text)
                {
                    if found > FORMAT {
                        return Err(too_new(path, found));
                    }
                }
                return Err(corrupt(one_line(&e.to_string())));
            }
        };
        file.validate(path)
    }

    /// Reads and checks a vault from an open file, a block at a time: the
    /// header, then each entry as a document of its own, parsed on every
    /// core. Memory stays near the size of the entries read, not the file
    /// plus a parse tree of all of it. If the pieces do not parse on their own
    /// (a hand-edited layout, a damaged file), the whole file is read again
    /// and parsed as one document, which also gives an error its line number.
    pub fn read(file: &mut File, path: &Path) -> Result<Self> {
        let cannot_read = |e| Error::io("cannot read", path, e);
        if let Some(vault) = Self::read_in_chunks(file, READ_BLOCK).map_err(cannot_read)? {
            return vault.validate(path);
        }
        file.seek(SeekFrom::Start(0)).map_err(cannot_read)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(cannot_read)?;
        let text = std::str::from_utf8(&bytes).map_err(|_| Error::VaultCorrupt {
            path: path.to_owned(),
            reason: "it is not UTF-8 text".to_owned(),
        })?;
        Self::parse(text, path)
    }

    /// The header and the one entry called `name`, found by a binary search
    /// over the entries, which are sorted by name: about log2(n) of them are
    /// parsed, not all. The last entry is parsed too, so a file cut short is
    /// noticed. `None` when the entry is not found this way or the file is
    /// not laid out as nkvault writes it; the caller then reads all of it.
    pub fn read_one(bytes: &[u8], name: &str, path: &Path) -> Option<Result<Self>> {
        let first = memchr::memmem::find(bytes, ENTRY_HEADER)?;
        let mut file = parse_header(&bytes[..first + 1])?;
        let mut starts: Vec<usize> = memchr::memmem::find_iter(&bytes[first..], ENTRY_HEADER)
            .map(|at| first + at + 1)
            .collect();
        starts.push(bytes.len());
        let count = starts.len() - 1;
        let entry_at = |i: usize| -> Option<Entry> {
            let text = std::str::from_utf8(&bytes[starts[i]..starts[i + 1]]).ok()?;
            let mut entries = toml::from_str::<EntryChunk>(text).ok()?.entry;
            (entries.len() == 1).then(|| entries.pop()).flatten()
        };
        entry_at(count - 1)?;
        let (mut low, mut high) = (0, count);
        let found = loop {
            if low >= high {
                return None;
            }
            let middle = low + (high - low) / 2;
            let entry = entry_at(middle)?;
            match entry.name.as_str().cmp(name) {
                std::cmp::Ordering::Less => low = middle + 1,
                std::cmp::Ordering::Greater => high = middle,
                std::cmp::Ordering::Equal => break (middle, entry),
            }
        };
        // Its neighbours are in order: the name is there once.
        let (index, entry) = found;
        if index > 0 && entry_at(index - 1)?.name >= entry.name {
            return None;
        }
        if index + 1 < count && entry_at(index + 1)?.name <= entry.name {
            return None;
        }
        file.entries.push(entry);
        Some(file.validate(path))
    }

    /// `None` when the file is not laid out as nkvault writes it.
    fn read_in_chunks(file: &mut impl Read, block: usize) -> std::io::Result<Option<Self>> {
        let mut buf: Vec<u8> = Vec::with_capacity(block + block / 4);
        let mut vault: Option<VaultFile> = None;
        loop {
            let read = (&mut *file).take(block as u64).read_to_end(&mut buf)?;
            let at_end = read < block;
            if vault.is_none() {
                let Some(first) = memchr::memmem::find(&buf, ENTRY_HEADER) else {
                    if !at_end {
                        continue;
                    }
                    // A vault with no entry: the header is all of it.
                    return Ok(parse_header(&buf));
                };
                let Some(header) = parse_header(&buf[..first + 1]) else {
                    return Ok(None);
                };
                vault = Some(header);
                buf.drain(..first + 1);
            }
            // `buf` starts with an `[[entry]]` line; every other start is
            // found after a newline. The last piece may be cut by the block.
            let mut starts = vec![0];
            starts.extend(memchr::memmem::find_iter(&buf, ENTRY_HEADER).map(|at| at + 1));
            if at_end {
                starts.push(buf.len());
            }
            let complete = starts.len() - 1;
            let pieces: Vec<&[u8]> = starts
                .windows(2)
                .take(complete)
                .map(|pair| &buf[pair[0]..pair[1]])
                .collect();
            let Some(entries) = parse_entries(&pieces) else {
                return Ok(None);
            };
            let entries_so_far = &mut vault.as_mut().expect("set above").entries;
            entries_so_far.extend(entries);
            if at_end {
                return Ok(vault);
            }
            let consumed = starts[complete];
            buf.drain(..consumed);
        }
    }

    /// The format number and the rules serde cannot express.
    fn validate(self, path: &Path) -> Result<Self> {
        let corrupt = |reason: String| Error::VaultCorrupt {
            path: path.to_owned(),
            reason,
        };
        if self.format > FORMAT {
            return Err(too_new(path, self.format));
        }
        if self.format != FORMAT {
            return Err(corrupt(format!("unknown format {}", self.format)));
        }
        self.check().map_err(corrupt)?;
        Ok(self)
    }

    /// The rules serde cannot express.
    fn check(&self) -> Result<(), String> {
        for recipient in &self.recipients {
            crate::crypto::parse_recipient(recipient).map_err(|e| e.to_string())?;
        }
        match (self.mode, &self.passphrase) {
            (Mode::Passphrase, None) => return Err("passphrase mode without [passphrase]".into()),
            (Mode::Passphrase, Some(_)) if self.recipients.len() != 1 => {
                return Err("passphrase mode needs exactly one recipient".into())
            }
            (Mode::Passphrase, Some(p)) if !crate::WORK_FACTORS.contains(&p.work_factor) => {
                return Err(format!("work factor {} is out of range", p.work_factor))
            }
            (Mode::Recipients, Some(_)) => {
                return Err("recipients mode with a [passphrase] table".into())
            }
            (Mode::Recipients, None) if self.recipients.is_empty() => {
                return Err("recipients mode with no recipients".into())
            }
            _ => {}
        }
        if !self.entries.is_sorted_by(|a, b| a.name < b.name) {
            return Err("entries are not sorted by name, or a name repeats".into());
        }
        let mut keys = HashSet::with_capacity(self.entries.len());
        for entry in &self.entries {
            let name = entry.name.as_str();
            if humantime::parse_rfc3339(&entry.created).is_err() {
                return Err(format!(
                    "entry {name:?}: created is not an RFC 3339 time in UTC"
                ));
            }
            // nats-server reads an empty allow list as "allow everything",
            // the opposite of what it looks like; nkvault never writes one.
            let permissions = &entry.permissions;
            for (direction, allow) in [
                ("publish", &permissions.publish),
                ("subscribe", &permissions.subscribe),
            ] {
                if allow.is_empty() {
                    return Err(format!(
                        "entry {name:?}: {direction} is an empty list, which nats-server \
                         reads as allowing everything"
                    ));
                }
            }
            if !keys.insert(entry.public_key.as_str()) {
                return Err(format!("public key of {name:?} is used twice"));
            }
            if let Some(previous) = &entry.previous {
                if humantime::parse_rfc3339(&previous.rotated).is_err() {
                    return Err(format!(
                        "entry {name:?}: previous.rotated is not an RFC 3339 time in UTC"
                    ));
                }
                if !keys.insert(previous.public_key.as_str()) {
                    return Err(format!("previous public key of {name:?} is used twice"));
                }
            }
        }
        Ok(())
    }

    /// The file's text.
    pub fn to_text(&self) -> String {
        let mut text = Vec::with_capacity(1024 + self.entries.len() * 1024);
        self.write_to(&mut text)
            .expect("writing to memory cannot fail");
        String::from_utf8(text).expect("TOML is UTF-8")
    }

    /// Writes the file's text to `out`, one entry at a time, so that saving a
    /// large vault never holds a second copy of it in memory.
    pub fn write_to(&self, out: &mut dyn Write) -> std::io::Result<()> {
        #[derive(Serialize)]
        struct Header<'a> {
            format: u32,
            mode: Mode,
            recipients: &'a [String],
            #[serde(skip_serializing_if = "Option::is_none")]
            passphrase: &'a Option<PassphraseIdentity>,
        }
        #[derive(Serialize)]
        struct OneEntry<'a> {
            entry: [&'a Entry; 1],
        }
        let header = Header {
            format: self.format,
            mode: self.mode,
            recipients: &self.recipients,
            passphrase: &self.passphrase,
        };
        out.write_all(HEADER.as_bytes())?;
        out.write_all(serialized(&header).as_bytes())?;
        for entry in &self.entries {
            out.write_all(b"\n")?;
            out.write_all(serialized(&OneEntry { entry: [entry] }).as_bytes())?;
        }
        Ok(())
    }
}

fn serialized(value: &impl Serialize) -> String {
    toml::to_string(value).expect("the vault model always serializes")
}

/// The header of a vault read in pieces: `None` unless it parses, is of this
/// format and holds no entry itself (then the whole file is parsed instead).
fn parse_header(bytes: &[u8]) -> Option<VaultFile> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Header {
        format: u32,
        mode: Mode,
        recipients: Vec<String>,
        #[serde(default)]
        passphrase: Option<PassphraseIdentity>,
        #[serde(default, rename = "entry")]
        entries: Option<Vec<Entry>>,
    }
    let header: Header = toml::from_str(std::str::from_utf8(bytes).ok()?).ok()?;
    if header.format != FORMAT || header.entries.is_some_and(|e| !e.is_empty()) {
        return None;
    }
    Some(VaultFile {
        format: header.format,
        mode: header.mode,
        recipients: header.recipients,
        passphrase: header.passphrase,
        entries: Vec::new(),
    })
}

/// Parses each piece (an `[[entry]]` table and its sub-tables) as a document
/// of its own, the pieces shared out over the cores; `None` if any fails.
fn parse_entries(pieces: &[&[u8]]) -> Option<Vec<Entry>> {
    let parsed: Vec<Vec<Entry>> = pieces
        .par_iter()
        .with_min_len(ENTRIES_PER_THREAD)
        .map(|piece| {
            let text = std::str::from_utf8(piece).ok()?;
            Some(toml::from_str::<EntryChunk>(text).ok()?.entry)
        })
        .collect::<Option<_>>()?;
    Some(parsed.into_iter().flatten().collect())
}

fn too_new(path: &Path, found: u32) -> Error {
    Error::VaultTooNew {
        path: path.to_owned(),
        found,
        supported: FORMAT,
    }
}

/// Parser messages span several lines (a snippet with a caret); keep the first
/// and the line number, which is what a one-line error has room for.
fn one_line(message: &str) -> String {
    let mut lines = message.lines().filter(|line| !line.trim().is_empty());
    let first = lines.next().unwrap_or("unreadable").trim();
    let last = message.lines().last().unwrap_or("").trim();
    if last.is_empty() || last == first {
        first.to_owned()
    } else {
        format!("{first} ({last})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::generate_user;
    use crate::permissions::Permissions;

    fn vault_with(count: usize) -> VaultFile {
        let identity = age::x25519::Identity::generate();
        let recipient = identity.to_public();
        let mut entries: Vec<Entry> = (0..count)
            .map(|i| {
                let name = Name::new(&format!("node{i:04}")).unwrap();
                let (public_key, seed) = generate_user();
                let mut permissions = Permissions::everything();
                if i % 3 == 0 {
                    permissions = Permissions::from_options(
                        &[format!("ctrl.{i}.>")],
                        &[],
                        &[],
                        &["secret.>".to_owned()],
                        i % 2 == 0,
                    )
                    .unwrap();
                }
                let previous = (i % 5 == 0).then(|| PreviousKey {
                    public_key: generate_user().0,
                    rotated: "2026-12-03T18:00:00Z".to_owned(),
                });
                Entry {
                    seed: crate::crypto::seal_seed(&[&recipient], &name, &public_key, &seed),
                    name,
                    key_type: KeyType::User,
                    public_key,
                    created: "2026-12-03T17:00:00Z".to_owned(),
                    permissions,
                    previous,
                }
            })
            .collect();
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        VaultFile {
            format: FORMAT,
            mode: Mode::Recipients,
            recipients: vec![recipient.to_string()],
            passphrase: None,
            entries,
        }
    }

    /// The same entries, compared by what they serialize to.
    fn same(a: &VaultFile, b: &VaultFile) -> bool {
        a.to_text() == b.to_text()
    }

    #[test]
    fn reading_in_pieces_gives_what_parsing_the_whole_gives() {
        let path = Path::new("v.toml");
        for count in [0, 1, 2, 7, 40] {
            let vault = vault_with(count);
            let text = vault.to_text();
            let whole = VaultFile::parse(&text, path).unwrap();
            assert!(
                same(&whole, &vault),
                "{count} entries: the text does not round-trip"
            );
            // Blocks that cut entries, lines and the `[[entry]]` line itself.
            for block in [1, 5, 11, 64, 1000, 1 << 20] {
                let pieces = VaultFile::read_in_chunks(&mut text.as_bytes(), block)
                    .unwrap()
                    .unwrap_or_else(|| panic!("{count} entries, block {block}: not read"));
                assert!(same(&pieces, &whole), "{count} entries, block {block}");
            }
        }
    }

    #[test]
    fn a_layout_nkvault_does_not_write_is_read_whole() {
        let path = Path::new("v.toml");
        let text = vault_with(3).to_text();
        // The header's table after the entries: valid TOML, not our layout.
        let moved = text.replacen("format = 1\n", "", 1) + "format = 1\n";
        assert!(VaultFile::read_in_chunks(&mut moved.as_bytes(), 64)
            .unwrap()
            .is_none());
        // An `[[entry]]` line inside a string: the pieces do not parse alone.
        let inside = text.replacen(
            "-----END AGE ENCRYPTED FILE-----",
            "-----END AGE ENCRYPTED FILE-----\n[[entry]]",
            1,
        );
        assert!(VaultFile::read_in_chunks(&mut inside.as_bytes(), 64)
            .unwrap()
            .is_none());
        // The legacy `entry = []` of an empty vault is still read.
        let legacy = format!("{}entry = []\n", vault_with(0).to_text());
        let read = VaultFile::read_in_chunks(&mut legacy.as_bytes(), 64).unwrap();
        assert!(read.is_some_and(|v| v.entries.is_empty()));
        assert!(VaultFile::parse(&legacy, path).is_ok());
    }

    #[test]
    fn one_entry_is_found_by_binary_search_or_not_at_all() {
        let path = Path::new("v.toml");
        let vault = vault_with(40);
        let text = vault.to_text();
        for entry in &vault.entries {
            let one = VaultFile::read_one(text.as_bytes(), entry.name.as_str(), path)
                .unwrap()
                .unwrap();
            assert_eq!(one.entries.len(), 1);
            assert_eq!(one.entries[0].public_key, entry.public_key);
            assert_eq!(one.entries[0].seed, entry.seed);
        }
        assert!(VaultFile::read_one(text.as_bytes(), "node9999", path).is_none());
        // Cut short: the last entry does not parse, so the caller reads all.
        let cut = &text.as_bytes()[..text.len() - 40];
        assert!(VaultFile::read_one(cut, "node0001", path).is_none());
        // A name that repeats (next to itself, as sorting puts it) is not
        // taken from the binary search.
        let first = text.find("[[entry]]").unwrap();
        let second = text.find("\n[[entry]]\nname = \"node0001\"").unwrap() + 1;
        let doubled = format!(
            "{}{}{}",
            &text[..second],
            &text[first..second],
            &text[second..]
        );
        assert!(VaultFile::read_one(doubled.as_bytes(), "node0000", path).is_none());
        assert!(VaultFile::read_one(doubled.as_bytes(), "node0002", path).is_some());
    }
}

//! Writing files safely: atomically, with the right mode, and one writer at a time.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use crate::error::{Error, Result};

/// Whether a write may replace an existing file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Replace {
    /// Fail if the path exists.
    Never,
    /// Replace an existing file atomically.
    Atomically,
}

/// The directory that holds `path`; `.` for a bare file name.
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// Writes `contents` to `path` so that readers see the old file or the new
/// one, never a mix, and a failure leaves no file behind.
///
/// The bytes go to a temporary file in the same directory, created with
/// `mode` (whatever the umask), flushed to disk and renamed over `path`; then
/// the directory is flushed so the rename itself survives a crash.
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32, replace: Replace) -> Result<()> {
    PendingWrite::start(path, mode, replace)?.finish(contents)
}

/// An atomic write whose temporary file exists but holds nothing yet.
///
/// Starting the write first proves that the directory takes a new file before
/// anything is decrypted for it: a seed export to a read-only directory fails
/// before the passphrase is asked. Dropped unfinished, it removes its file.
#[derive(Debug)]
pub struct PendingWrite {
    temp: tempfile::NamedTempFile,
    path: std::path::PathBuf,
    replace: Replace,
}

impl PendingWrite {
    /// Creates the temporary file beside `path`, with `mode`.
    pub fn start(path: &Path, mode: u32, replace: Replace) -> Result<Self> {
        let cannot_write = |e| Error::io("cannot write", path, e);
        let temp = tempfile::Builder::new()
            .prefix(&temp_prefix(path))
            .suffix(TEMP_SUFFIX)
            .tempfile_in(parent_dir(path))
            .map_err(|e| cannot_write(without_temp_path(e)))?;
        temp.as_file()
            .set_permissions(fs::Permissions::from_mode(mode))
            .map_err(cannot_write)?;
        Ok(PendingWrite {
            temp,
            path: path.to_owned(),
            replace,
        })
    }

    /// Writes `contents`, flushes, and renames the file into place.
    pub fn finish(self, contents: &[u8]) -> Result<()> {
        self.finish_with(|out| out.write_all(contents))
    }

    /// Lets `write` fill the file through a buffer, then flushes and renames
    /// it into place.
    pub fn finish_with(
        mut self,
        write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
    ) -> Result<()> {
        let path = self.path.clone();
        let path = path.as_path();
        let cannot_write = |e| Error::io("cannot write", path, e);
        // Through the File itself: NamedTempFile's own Write appends the
        // temporary path to its errors, and the user named another file.
        let mut out = std::io::BufWriter::with_capacity(1 << 16, self.temp.as_file_mut());
        write(&mut out).map_err(cannot_write)?;
        out.flush().map_err(cannot_write)?;
        drop(out);
        self.temp.as_file().sync_all().map_err(cannot_write)?;

        match self.replace {
            Replace::Atomically => self
                .temp
                .persist(path)
                .map(drop)
                .map_err(|e| cannot_write(e.error)),
            Replace::Never => self.temp.persist_noclobber(path).map(drop).map_err(|e| {
                if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                    Error::OutputRefused {
                        path: path.to_owned(),
                        reason: "it already exists",
                    }
                } else {
                    cannot_write(e.error)
                }
            }),
        }?;
        // The new file is in place: a failure now must not read as "nothing
        // was written", or a retry would find its own change.
        sync_dir(parent_dir(path))
            .map_err(|e| Error::io("wrote, but cannot flush to disk the directory of", path, e))
    }
}

const TEMP_SUFFIX: &str = ".tmp";

/// Temporary files are named `.nkvault-<file name>-XXXXXX.tmp` after the file
/// they will replace, so that the leftovers of a killed writer of one file can
/// be told apart from a write to another file that is still going on.
fn temp_prefix(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!(".nkvault-{name}-")
}

/// Removes the temporary files a killed writer of `path` left beside it, and
/// returns how many. Call it only while holding the [`VaultLock`] of `path`:
/// every writer of the vault holds it, so no such file belongs to a write in
/// progress. They hold ciphertext only, but a full copy of an older vault
/// (with keys since rotated or removed) must not linger to be committed.
pub fn remove_stale_temp_files(path: &Path) -> usize {
    let prefix = temp_prefix(path);
    let Ok(listing) = fs::read_dir(parent_dir(path)) else {
        return 0;
    };
    listing
        .filter_map(|item| item.ok())
        .filter(|item| {
            let name = item.file_name();
            let name = name.to_string_lossy();
            // The random part tempfile adds is six characters.
            name.len() == prefix.len() + 6 + TEMP_SUFFIX.len()
                && name.starts_with(&prefix)
                && name.ends_with(TEMP_SUFFIX)
                && item.file_type().is_ok_and(|t| t.is_file())
        })
        .filter(|item| fs::remove_file(item.path()).is_ok())
        .count()
}

/// tempfile names its own random path in errors; the user named another one,
/// and that is the one the message shows. The kind ("permission denied", "no
/// storage space") says what went wrong.
fn without_temp_path(error: std::io::Error) -> std::io::Error {
    match error.kind() {
        std::io::ErrorKind::Other => error,
        kind => std::io::Error::from(kind),
    }
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// An exclusive lock on the directory that holds a vault, released on drop.
///
/// The lock is taken on the directory rather than on the vault file because
/// the vault file is replaced by rename on every write; locking the directory
/// also leaves no lock file behind to be committed by mistake.
#[derive(Debug)]
pub struct VaultLock {
    _dir: File,
}

impl VaultLock {
    /// Blocks until no other nkvault process writes to the vault's directory.
    pub fn acquire(vault: &Path) -> Result<Self> {
        let dir = parent_dir(vault);
        let handle = File::open(dir).map_err(|e| Error::io("cannot open directory", dir, e))?;
        handle
            .lock()
            .map_err(|e| Error::io("cannot lock directory", dir, e))?;
        Ok(VaultLock { _dir: handle })
    }
}

/// Checks that a seed may be written to `path`, before anything is decrypted.
///
/// Refused: a symbolic link (it could point anywhere), a directory, anything
/// that is not a regular file, the vault itself, and an existing file unless
/// `replace` allows it. A missing parent directory is reported here too, so
/// that no secret is decrypted for a write that cannot happen.
pub fn check_output_path(path: &Path, vault: &Path, replace: Replace) -> Result<()> {
    let refuse = |reason| {
        Err(Error::OutputRefused {
            path: path.to_owned(),
            reason,
        })
    };
    if path.as_os_str().as_encoded_bytes().ends_with(b"/") {
        return refuse("it ends with '/', so it names a directory");
    }
    let dir = parent_dir(path);
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => return refuse("its parent is not a directory"),
        Err(_) => return refuse("its directory does not exist"),
    }

    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("cannot inspect", path, e)),
    };
    if meta.file_type().is_symlink() {
        return refuse("it is a symbolic link");
    }
    if meta.is_dir() {
        return refuse("it is a directory");
    }
    if !meta.is_file() {
        return refuse("it is not a regular file");
    }
    if is_same_file(&meta, vault) {
        return refuse("it is the vault itself");
    }
    if replace == Replace::Never {
        return refuse("it already exists");
    }
    Ok(())
}

fn is_same_file(meta: &fs::Metadata, other: &Path) -> bool {
    fs::metadata(other).is_ok_and(|o| o.dev() == meta.dev() && o.ino() == meta.ino())
}

/// Reads a vault file, naming it in the error.
///
/// Only a regular file is read: a FIFO would block forever and a device such
/// as `/dev/zero` would fill the memory. The type is checked before opening
/// (opening a FIFO blocks) and again on the open file.
/// Opens `path` for reading, if it is a regular file: a directory, a FIFO
/// (which would block) or a device (`/dev/zero`, endless) is refused.
pub fn open_regular(path: &Path) -> Result<File> {
    let cannot_read = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::NotFound => Error::VaultMissing(path.to_owned()),
        _ => Error::io("cannot read", path, e),
    };
    let not_regular = || {
        cannot_read(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "it is not a regular file",
        ))
    };
    let regular = |meta: fs::Metadata| {
        if meta.is_dir() {
            Err(cannot_read(std::io::Error::from(
                std::io::ErrorKind::IsADirectory,
            )))
        } else if meta.is_file() {
            Ok(())
        } else {
            Err(not_regular())
        }
    };
    regular(fs::metadata(path).map_err(cannot_read)?)?;
    let file = File::open(path).map_err(cannot_read)?;
    regular(file.metadata().map_err(cannot_read)?)?;
    Ok(file)
}

/// Reads the whole of a regular file.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    let mut file = open_regular(path)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .map_err(|e| Error::io("cannot read", path, e))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_sets_the_mode_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        write_atomic(&path, b"one", 0o600, Replace::Never).unwrap();
        write_atomic(&path, b"two", 0o600, Replace::Atomically).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn no_clobber_write_refuses_an_existing_file_and_keeps_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        fs::write(&path, b"keep").unwrap();
        let err = write_atomic(&path, b"new", 0o600, Replace::Never).unwrap_err();
        assert!(err.to_string().contains("already exists"), "{err}");
        assert_eq!(fs::read(&path).unwrap(), b"keep");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn output_checks_refuse_links_directories_and_the_vault() {
        let dir = tempfile::tempdir().unwrap();
        let vault = dir.path().join("vault.toml");
        fs::write(&vault, b"").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink("/etc/passwd", &link).unwrap();
        let cases = [
            (link.as_path(), "symbolic link"),
            (dir.path(), "directory"),
            (vault.as_path(), "vault itself"),
        ];
        for (path, expected) in cases {
            let err = check_output_path(path, &vault, Replace::Atomically).unwrap_err();
            assert!(
                err.to_string().contains(expected),
                "{}: {err}",
                path.display()
            );
        }
        let missing_dir = dir.path().join("nope/seed");
        assert!(check_output_path(&missing_dir, &vault, Replace::Never).is_err());
    }
}

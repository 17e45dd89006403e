//! import: existing user seeds into the vault, from standard input, a seed
//! file, or a directory of them (files of `nk -gen user`, an nsc keystore).

use std::fs::File;
use std::io::{IsTerminal, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nkvault_vault::{read_user_seed, Error, Name, Seed, SeedFileProblem, Vault};
use zeroize::Zeroizing;

use crate::cli::{Global, ImportArgs};
use crate::failure::{note, warn, Failure, EXIT_USAGE};

/// The most read from one seed file or from standard input. A seed file is
/// 60 bytes at most; anything much longer is not one, and is not read whole.
const MAX_SEED_FILE: u64 = 4096;

/// The extensions of seed files in a directory import: nk and nsc write
/// `.nk`, people keeping `nk -gen user` output often use `.seed`.
const SEED_EXTENSIONS: [&str; 2] = ["nk", "seed"];

/// One seed to import, and the file it came from (none for standard input).
struct Found {
    name: Name,
    seed: Seed,
    file: Option<PathBuf>,
}

pub fn run(global: &Global, args: ImportArgs) -> Result<(), Failure> {
    // clap lets `requires = "dir"` pass when an argument that conflicts with
    // --dir (NAME) is given: without this, `import NAME --prefix P` would
    // ignore P silently.
    if args.dir.is_none() && !args.prefix.is_empty() {
        let mut failure = Failure::new("--prefix is only used with --dir")
            .hint("name the entry with NAME, or import a directory with --dir DIR --prefix PREFIX");
        failure.status = EXIT_USAGE;
        return Err(failure);
    }
    let permissions = args.permissions.to_permissions()?;
    // A missing or unreadable vault is reported before any seed is read.
    Vault::open(&global.vault)?;

    let found = match (&args.dir, &args.name) {
        (Some(dir), _) => from_directory(dir, &args.prefix)?,
        (None, Some(name)) => {
            let name = Name::new(name)?;
            let seed = match &args.from_file {
                Some(path) => from_file(path)?,
                None => from_stdin(&name)?,
            };
            vec![Found {
                name,
                seed,
                file: args.from_file.clone(),
            }]
        }
        (None, None) => unreachable!("clap requires NAME unless --dir is given"),
    };

    let files: Vec<PathBuf> = found.iter().filter_map(|f| f.file.clone()).collect();
    let names: Vec<Name> = found.iter().map(|f| f.name.clone()).collect();
    let seeds: Vec<(Name, Seed)> = found.into_iter().map(|f| (f.name, f.seed)).collect();
    let public_keys = Vault::update(&global.vault, |vault| {
        vault.import_users(seeds, &permissions)
    })?;

    note(&format!(
        "imported {} seed(s) into {}",
        public_keys.len(),
        global.vault.display()
    ));
    if !files.is_empty() {
        let shown: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        warn(&format!(
            "the plaintext seed file(s) are still on disk: {}; once the vault is committed \
             and backed up, delete them (shred -u FILE)",
            shown.join(", ")
        ));
    }
    crate::view::print_new_keys(&names, &public_keys, args.json).map_err(|failure| {
        failure.after_saving(
            &format!(
                "imported {} seed(s) into {}",
                public_keys.len(),
                global.vault.display()
            ),
            "the keys are saved; `nkvault list` shows them",
        )
    })
}

/// Reads at most [`MAX_SEED_FILE`] + 1 bytes into a buffer wiped on drop.
fn read_limited(reader: impl Read) -> std::io::Result<Zeroizing<Vec<u8>>> {
    let mut bytes = Zeroizing::new(Vec::with_capacity(MAX_SEED_FILE as usize + 1));
    reader.take(MAX_SEED_FILE + 1).read_to_end(&mut bytes)?;
    Ok(bytes)
}

fn parse(bytes: &[u8], what: impl Fn() -> String) -> Result<Seed, Error> {
    if bytes.len() as u64 > MAX_SEED_FILE {
        return Err(Error::InvalidSeed {
            what: what(),
            problem: SeedFileProblem::ExtraLines,
        });
    }
    read_user_seed(bytes)
        .map(|(_, seed)| seed)
        .map_err(|problem| Error::InvalidSeed {
            what: what(),
            problem,
        })
}

fn from_file(path: &Path) -> Result<Seed, Failure> {
    let what = || format!("seed file {}", path.display());
    let file = File::open(path)
        .map_err(|e| Failure::new(format!("cannot read seed file {}: {e}", path.display())))?;
    let meta = file
        .metadata()
        .map_err(|e| Failure::new(format!("cannot read seed file {}: {e}", path.display())))?;
    if meta.is_dir() {
        return Err(
            Failure::new(format!("seed file {} is a directory", path.display()))
                .hint("to import every seed file in a directory, pass --dir DIR"),
        );
    }
    let bytes = read_limited(file)
        .map_err(|e| Failure::new(format!("cannot read seed file {}: {e}", path.display())))?;
    let seed = parse(&bytes, what)?;
    warn_if_readable_by_others(path, &meta);
    Ok(seed)
}

fn from_stdin(name: &Name) -> Result<Seed, Failure> {
    let what = || "the seed on standard input".to_owned();
    if std::io::stdin().is_terminal() {
        // Typed or pasted: hidden, and the line has no newline left to strip.
        let typed = rpassword::prompt_password(format!("Seed for {name} (input hidden): "))
            .map(Zeroizing::new)
            .map_err(|e| Failure::new(format!("cannot read the seed: {e}")))?;
        return Ok(parse(typed.as_bytes(), what)?);
    }
    let bytes = read_limited(std::io::stdin().lock())
        .map_err(|e| Failure::new(format!("cannot read standard input: {e}")))?;
    Ok(parse(&bytes, what)?)
}

/// A seed file others can read may have been read: say so, once it is safe.
fn warn_if_readable_by_others(path: &Path, meta: &std::fs::Metadata) {
    let mode = meta.permissions().mode() & 0o777;
    if meta.is_file() && mode & 0o077 != 0 {
        warn(&format!(
            "{} could be read by others (mode {mode:o}); if anyone else can log in here, \
             rotate the key after importing it",
            path.display()
        ));
    }
}

/// Every `*.nk` and `*.seed` file under `dir`, in path order. User seeds are
/// imported as PREFIX + the file name without its extension (an nsc keystore
/// names files by public key, so those entries are named by key); seeds of
/// other types are skipped with a note; any other problem stops the import
/// before anything is written.
fn from_directory(dir: &Path, prefix: &str) -> Result<Vec<Found>, Failure> {
    let meta = std::fs::metadata(dir)
        .map_err(|e| Failure::new(format!("cannot read directory {}: {e}", dir.display())))?;
    if !meta.is_dir() {
        return Err(
            Failure::new(format!("{} is not a directory", dir.display()))
                .hint("to import one seed file, pass NAME --from-file FILE"),
        );
    }
    let mut found = Vec::new();
    let mut skipped = 0;
    for item in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let item = item
            .map_err(|e| Failure::new(format!("cannot read directory {}: {e}", dir.display())))?;
        let path = item.path();
        let is_seed_file = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| SEED_EXTENSIONS.contains(&e));
        if !is_seed_file || item.file_type().is_dir() {
            continue;
        }
        if item.file_type().is_symlink() {
            note(&format!("skipped {}: a symbolic link", path.display()));
            skipped += 1;
            continue;
        }
        // A FIFO or a device would block the open or never end.
        if !item.file_type().is_file() {
            note(&format!("skipped {}: not a regular file", path.display()));
            skipped += 1;
            continue;
        }
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
            return Err(Failure::new(format!(
                "cannot name the entry for {}: its file name is not UTF-8",
                path.display()
            ))
            .hint("rename the file; nothing was imported"));
        };
        let name = Name::new(&format!("{prefix}{stem}")).map_err(|e| {
            Failure::new(format!("cannot name the entry for {}: {e}", path.display())).hint(
                "rename the file, or choose another --prefix; names are 1 to 64 letters, \
                 digits, '.', '_' and '-'",
            )
        })?;
        let file = File::open(path)
            .map_err(|e| Failure::new(format!("cannot read {}: {e}", path.display())))?;
        let meta = file
            .metadata()
            .map_err(|e| Failure::new(format!("cannot read {}: {e}", path.display())))?;
        let bytes = read_limited(file)
            .map_err(|e| Failure::new(format!("cannot read {}: {e}", path.display())))?;
        let what = || format!("seed file {}", path.display());
        match parse(&bytes, what) {
            Ok(seed) => {
                warn_if_readable_by_others(path, &meta);
                found.push(Found {
                    name,
                    seed,
                    file: Some(path.to_owned()),
                })
            }
            Err(Error::InvalidSeed {
                problem: SeedFileProblem::NotUser(kind),
                ..
            }) => {
                note(&format!(
                    "skipped {}: it holds {kind} seed, and nkvault holds user keys",
                    path.display()
                ));
                skipped += 1;
            }
            Err(other) => {
                return Err(Failure::from(other)
                    .hint("nothing was imported; move the file out of the directory, or fix it"))
            }
        }
    }
    if found.is_empty() {
        return Err(Failure::new(format!(
            "no user seed file (*.nk, *.seed) under {}{}",
            dir.display(),
            if skipped > 0 {
                format!(" ({skipped} other file(s) skipped)")
            } else {
                String::new()
            }
        ))
        .hint("nk and nsc write seed files ending in .nk"));
    }
    Ok(found)
}

//! What each command does: objects built from the parsed command line, the
//! library called, the result printed.

use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use clap::CommandFactory;
use nkvault_vault::{
    check_output_path, Mode, Name, PendingWrite, Protection, Replace, Unlocked, Vault,
};
use zeroize::Zeroizing;

use crate::cli::{
    AddArgs, Cli, Command, CompletionsArgs, ExportEnvArgs, ExportFileArgs, Global, InitArgs,
};
use crate::failure::{note, stdout_error, warn, Failure};
use crate::passphrase::{self, Ask};
use crate::{lifecycle, view};

/// Mode bits of an exported seed file, whatever the umask.
const SEED_FILE_MODE: u32 = 0o600;

pub fn run(cli: Cli) -> Result<(), Failure> {
    let global = &cli.global;
    match cli.command {
        Command::Init(args) => init(global, args),
        Command::Add(args) => add(global, args),
        Command::List(args) => view::list(&Vault::open(&global.vault)?, args.json),
        Command::Show(args) => view::show(
            &Vault::open_entry(&global.vault, &args.name)?,
            &args.name,
            args.json,
        ),
        Command::RenderConf(args) => crate::render_conf::run(global, args),
        Command::ExportEnv(args) => export_env(global, args),
        Command::ExportFile(args) => export_file(global, args),
        Command::Rotate(args) => lifecycle::rotate(global, args),
        Command::Remove(args) => lifecycle::remove(global, args),
        Command::Import(args) => crate::import::run(global, args),
        Command::Passwd(args) => lifecycle::passwd(global, args),
        Command::Recipients(command) => lifecycle::recipients(global, command),
        Command::Verify(args) => lifecycle::verify(global, args),
        Command::Exec(args) => crate::exec::run(global, args),
        Command::Completions(args) => completions(args),
    }
}

/// Writes `bytes` to standard output in one go.
pub fn print(bytes: &[u8]) -> Result<(), Failure> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(bytes)
        .and_then(|()| stdout.flush())
        .map_err(stdout_error)
}

fn init(global: &Global, args: InitArgs) -> Result<(), Failure> {
    let path = &global.vault;
    if std::fs::symlink_metadata(path).is_ok() {
        return Err(nkvault_vault::Error::VaultExists(path.clone()).into());
    }

    let recipients_mode = !args.recipients.is_empty() || !args.recipients_files.is_empty();
    let protection = if recipients_mode {
        let mut recipients = Vec::new();
        for text in &args.recipients {
            recipients.push(nkvault_vault::parse_recipient(text)?);
        }
        for file in &args.recipients_files {
            recipients.extend(nkvault_vault::read_recipients_file(file)?);
        }
        Protection::Recipients(recipients)
    } else {
        Protection::Passphrase {
            passphrase: passphrase::read(global.passphrase_file.as_deref(), Ask::New)?,
            work_factor: args.work_factor,
        }
    };

    let vault = Vault::create(path, protection)?;
    match vault.mode() {
        Mode::Passphrase => note(&format!(
            "created {} (passphrase mode, scrypt work factor {})",
            path.display(),
            args.work_factor
        )),
        Mode::Recipients => note(&format!(
            "created {} (recipients mode, {} recipient(s); unlock with -i FILE)",
            path.display(),
            vault.recipients().len()
        )),
    }
    Ok(())
}

fn add(global: &Global, args: AddArgs) -> Result<(), Failure> {
    let names = args
        .names
        .iter()
        .map(|name| Name::new(name))
        .collect::<Result<Vec<_>, _>>()?;
    let permissions = args.permissions.to_permissions()?;

    let public_keys = Vault::update(&global.vault, |vault| vault.add_users(&names, &permissions))?;

    let printed = view::print_new_keys(&names, &public_keys, args.json);
    // The keys are in the vault by now: a failure to print them must say so,
    // or a script would retry and find the names taken.
    printed.map_err(|failure| {
        failure.after_saving(
            &format!(
                "added {} key(s) to {}",
                public_keys.len(),
                global.vault.display()
            ),
            "the keys are saved; `nkvault list` shows them",
        )
    })
}

fn export_env(global: &Global, args: ExportEnvArgs) -> Result<(), Failure> {
    let vault = Vault::open_entry(&global.vault, &args.name)?;
    vault.entry(&args.name)?;
    let unlocked = unlock(&vault, global)?;
    let seed = vault.seed(&unlocked, &args.name)?;
    let line = Zeroizing::new(format!("{}={}\n", args.var, seed.expose()));
    warn_if_stdout_is_readable_by_others();
    print(line.as_bytes())
}

fn export_file(global: &Global, args: ExportFileArgs) -> Result<(), Failure> {
    let vault = Vault::open_entry(&global.vault, &args.name)?;
    vault.entry(&args.name)?;
    let to_stdout = args.output == Path::new("-");
    let replace = if args.force {
        Replace::Atomically
    } else {
        Replace::Never
    };
    // Every check on the output path comes before the unlock, so that a
    // refused path costs no passphrase and decrypts nothing.
    // Starting the write (its empty temporary file) also proves that the
    // directory takes a new file.
    let pending = if to_stdout {
        None
    } else {
        check_output_path(&args.output, vault.path(), replace)?;
        Some(PendingWrite::start(&args.output, SEED_FILE_MODE, replace)?)
    };

    let unlocked = unlock(&vault, global)?;
    let seed = vault.seed(&unlocked, &args.name)?;
    let contents = Zeroizing::new(format!("{}\n", seed.expose()));
    let Some(pending) = pending else {
        warn_if_stdout_is_readable_by_others();
        return print(contents.as_bytes());
    };
    pending.finish(contents.as_bytes())?;
    note(&format!(
        "wrote the seed of {} to {} (mode 0600)",
        args.name,
        args.output.display()
    ));
    Ok(())
}

/// A seed goes to standard output only where the user sent it; if that is a
/// file others can read (a `.env` made under the usual umask 022), say so.
fn warn_if_stdout_is_readable_by_others() {
    let Ok(fd) = std::io::stdout().as_fd().try_clone_to_owned() else {
        return;
    };
    if let Ok(meta) = std::fs::File::from(fd).metadata() {
        let mode = meta.permissions().mode() & 0o777;
        if meta.is_file() && mode & 0o077 != 0 {
            warn(&format!(
                "the seed goes to a file that others can read (mode {mode:o}); \
                 chmod 600 it, and create such files under `umask 077`"
            ));
        }
    }
}

/// The one unlock of a command: one scrypt in passphrase mode, the identity
/// files in recipients mode.
pub fn unlock(vault: &Vault, global: &Global) -> Result<Unlocked, Failure> {
    match vault.mode() {
        Mode::Passphrase => {
            if !global.identities.is_empty() {
                warn("-i is not used: this vault is unlocked with its passphrase");
            }
            let passphrase = passphrase::read(global.passphrase_file.as_deref(), Ask::Unlock)?;
            Ok(vault.unlock_with_passphrase(&passphrase)?)
        }
        Mode::Recipients => Ok(vault.unlock_with_identity_files(&global.identities)?),
    }
}

fn completions(args: CompletionsArgs) -> Result<(), Failure> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "nkvault", &mut script);
    print(&script)
}

//! Changing keys and who can read them: rotate, remove, passwd, recipients,
//! verify. Each reads the vault under its lock and writes it back atomically.

use std::io::IsTerminal;

use nkvault_vault::{Error, Mode, Vault};
use serde::Serialize;

use crate::cli::{
    Global, PasswdArgs, RecipientsChange, RecipientsCommand, RemoveArgs, RotateArgs, VerifyArgs,
};
use crate::commands::{print, unlock};
use crate::failure::{note, warn, Failure, EXIT_USAGE};
use crate::passphrase::{self, Ask};
use crate::view::print_json;

pub fn rotate(global: &Global, args: RotateArgs) -> Result<(), Failure> {
    #[derive(Serialize)]
    struct Rotated<'a> {
        name: &'a str,
        public_key: &'a str,
        previous_public_key: Option<&'a str>,
        dropped: Vec<&'a str>,
    }
    let name = &args.name;
    if args.finish {
        let dropped = Vault::update(&global.vault, |vault| vault.finish_rotation(name))?;
        let current = Vault::open(&global.vault)?.entry(name)?.public_key.clone();
        note(&format!(
            "{name}: the previous key {dropped} is removed; render the config and reload \
             the server to refuse it"
        ));
        return if args.json {
            print_json(&Rotated {
                name,
                public_key: current.as_str(),
                previous_public_key: None,
                dropped: vec![dropped.as_str()],
            })
        } else {
            Ok(())
        };
    }

    let rotation = Vault::update(&global.vault, |vault| vault.rotate(name, args.overlap))?;
    match &rotation.previous {
        Some(previous) => note(&format!(
            "{name}: new key; the server accepts the previous key {previous} as well until \
             `nkvault rotate {name} --finish`. Next: render-conf and reload the server, give \
             {name} its new seed, then finish"
        )),
        None => note(&format!(
            "{name}: new key; {} dropped: render-conf and reload the server, then give {name} \
             its new seed (it is refused until then)",
            keys_list(&rotation.dropped)
        )),
    }
    let printed = if args.json {
        print_json(&Rotated {
            name,
            public_key: rotation.public_key.as_str(),
            previous_public_key: rotation.previous.as_ref().map(|k| k.as_str()),
            dropped: rotation.dropped.iter().map(|k| k.as_str()).collect(),
        })
    } else {
        print(format!("{}\n", rotation.public_key).as_bytes())
    };
    printed.map_err(|failure| {
        failure.after_saving(
            &format!("rotated {name} in {}", global.vault.display()),
            &format!("the new key is saved; `nkvault show {name}` shows it"),
        )
    })
}

fn keys_list(keys: &[nkvault_vault::PublicKey]) -> String {
    let keys: Vec<&str> = keys.iter().map(|k| k.as_str()).collect();
    match keys.as_slice() {
        [one] => format!("the old key {one} is"),
        many => format!("the old keys {} are", many.join(" and ")),
    }
}

pub fn remove(global: &Global, args: RemoveArgs) -> Result<(), Failure> {
    let names: Vec<&str> = args.names.iter().map(String::as_str).collect();
    // Every name is checked before anyone is asked anything.
    let vault = Vault::open(&global.vault)?;
    for name in &names {
        vault.entry(name)?;
    }
    if !args.yes {
        confirm_removal(&names)?;
    }
    let removed = Vault::update(&global.vault, |vault| vault.remove(&names))?;
    for entry in &removed {
        note(&format!(
            "removed {} ({}); render the config and reload the server to refuse its key",
            entry.name, entry.public_key
        ));
    }
    Ok(())
}

/// Asks on the terminal; without one, the user must say `--yes`.
fn confirm_removal(names: &[&str]) -> Result<(), Failure> {
    let hint = "pass --yes to remove without asking";
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return Err(Failure::new("no terminal to confirm the removal on").hint(hint));
    }
    let what = match names {
        [one] => format!("{one:?}"),
        many => format!("{} entries ({})", many.len(), many.join(", ")),
    };
    let answer = dialoguer::Confirm::new()
        .with_prompt(format!(
            "Remove {what} from the vault? Its key cannot be brought back"
        ))
        .default(false)
        .interact_opt()
        .map_err(|e| Failure::new(format!("cannot ask for confirmation: {e}")).hint(hint))?;
    if answer == Some(true) {
        Ok(())
    } else {
        Err(Failure::new("not confirmed; nothing was removed"))
    }
}

pub fn passwd(global: &Global, args: PasswdArgs) -> Result<(), Failure> {
    let vault = Vault::open(&global.vault)?;
    if vault.mode() != Mode::Passphrase {
        return Err(Error::NotPassphraseMode.into());
    }
    // The old passphrase is checked before the new one is asked for.
    if !global.identities.is_empty() {
        warn("-i is not used: this vault is unlocked with its passphrase");
    }
    let old = passphrase::read(global.passphrase_file.as_deref(), Ask::Unlock)?;
    let unlocked = vault.unlock_with_passphrase(&old)?;
    let new = passphrase::read(args.new_passphrase_file.as_deref(), Ask::New)?;
    if args.work_factor.is_none() && new.same_as(&old) {
        return Err(Failure::new(
            "the new passphrase is the one the vault already has; nothing was changed",
        )
        .hint("choose another passphrase, or pass --work-factor to change only the work factor"));
    }
    let work_factor = Vault::update(&global.vault, |vault| {
        vault.change_passphrase(&unlocked, &new, args.work_factor)?;
        Ok(vault.work_factor())
    })?;
    note(&format!(
        "changed the passphrase of {} (scrypt work factor {})",
        global.vault.display(),
        work_factor.unwrap_or_default()
    ));
    note(
        "older copies of the vault (backups, git history) still open with the old \
         passphrase; if it leaked, see SECURITY.md",
    );
    Ok(())
}

pub fn recipients(global: &Global, command: RecipientsCommand) -> Result<(), Failure> {
    match command {
        RecipientsCommand::List(args) => {
            let vault = Vault::open(&global.vault)?;
            if args.json {
                #[derive(Serialize)]
                struct Recipients<'a> {
                    mode: Mode,
                    recipients: &'a [String],
                }
                return print_json(&Recipients {
                    mode: vault.mode(),
                    recipients: vault.recipients(),
                });
            }
            if vault.mode() == Mode::Passphrase {
                note("passphrase mode: the one recipient is the vault's own identity");
            }
            let mut out = vault.recipients().join("\n");
            out.push('\n');
            print(out.as_bytes())
        }
        RecipientsCommand::Add(change) => change_recipients(global, change, true),
        RecipientsCommand::Remove(change) => change_recipients(global, change, false),
    }
}

fn change_recipients(global: &Global, change: RecipientsChange, add: bool) -> Result<(), Failure> {
    let mut given = Vec::new();
    for text in &change.recipients {
        given.push(nkvault_vault::parse_recipient(text)?);
    }
    for file in &change.recipients_files {
        given.extend(nkvault_vault::read_recipients_file(file)?);
    }
    given.sort_by_key(|r| r.to_string());
    given.dedup_by_key(|r| r.to_string());
    if given.is_empty() {
        let mut failure = Failure::new("no recipient given").hint("pass -r age1… or -R FILE");
        failure.status = EXIT_USAGE;
        return Err(failure);
    }
    let vault = Vault::open(&global.vault)?;
    if vault.mode() != Mode::Recipients {
        return Err(Error::NotRecipientsMode.into());
    }
    if global.identities.is_empty() {
        return Err(Error::IdentityRequired.into());
    }

    let (count, still_readable) = Vault::update(&global.vault, |vault| {
        let mut set: Vec<String> = vault.recipients().to_vec();
        for recipient in &given {
            let text = recipient.to_string();
            let present = set.contains(&text);
            match (add, present) {
                (true, true) => return Err(Error::AlreadyRecipient(text)),
                (false, false) => return Err(Error::NotRecipient(text)),
                (true, false) => set.push(text),
                (false, true) => set.retain(|r| *r != text),
            }
        }
        let parsed = set
            .iter()
            .map(|text| nkvault_vault::parse_recipient(text))
            .collect::<Result<Vec<_>, _>>()?;
        let unlocked = vault.unlock_with_identity_files(&global.identities)?;
        vault.set_recipients(&unlocked, parsed)?;
        // Whether the identities that did this can still read what they wrote.
        let still_readable = match vault.entries().first() {
            Some(entry) => !matches!(
                vault.seed(&unlocked, entry.name.as_str()),
                Err(Error::NoMatchingIdentity(_))
            ),
            None => true,
        };
        Ok((vault.recipients().len(), still_readable))
    })?;

    let entries = Vault::open(&global.vault)?.entries().len();
    note(&format!(
        "re-encrypted {entries} seed(s) to {count} recipient(s)"
    ));
    if !add {
        warn(
            "removed recipients can still decrypt older copies of the vault (backups, git \
             history): rotate the keys they could read with `nkvault rotate NAME`",
        );
    }
    if !still_readable {
        warn("the identity given with -i is no longer a recipient: it cannot decrypt the vault");
    }
    Ok(())
}

pub fn verify(global: &Global, args: VerifyArgs) -> Result<(), Failure> {
    #[derive(Serialize)]
    struct Problem {
        name: String,
        error: String,
    }
    #[derive(Serialize)]
    struct Report {
        entries: usize,
        ok: bool,
        failed: Vec<Problem>,
    }
    let vault = Vault::open(&global.vault)?;
    let unlocked = unlock(&vault, global)?;
    let problems = vault.verify(&unlocked);
    let total = vault.entries().len();
    // Identities that open no entry at all are the wrong identities, not a
    // damaged vault: say that, rather than "restore it from a backup".
    if total > 0
        && problems.len() == total
        && problems
            .iter()
            .all(|p| matches!(p.error, Error::NoMatchingIdentity(_)))
    {
        let first = problems.into_iter().next().expect("total > 0");
        return Err(first.error.into());
    }
    let report = Report {
        entries: total,
        ok: problems.is_empty(),
        failed: problems
            .into_iter()
            .map(|p| Problem {
                name: p.name,
                error: p.error.to_string(),
            })
            .collect(),
    };
    if args.json {
        print_json(&report)?;
    } else {
        let mut out = String::new();
        for problem in &report.failed {
            out.push_str(&format!(
                "FAILED  {}: {}\n",
                problem.name,
                crate::failure::sanitize(&problem.error)
            ));
        }
        if report.ok {
            out.push_str(&format!(
                "{total} entries verified: each decrypts, is bound to its name and public \
                 key, and holds a user seed that derives that key\n"
            ));
        }
        print(out.as_bytes())?;
    }
    if report.ok {
        return Ok(());
    }
    let names: Vec<&str> = report.failed.iter().map(|p| p.name.as_str()).collect();
    Err(Failure::new(format!(
        "{} of {total} entries failed verification: {}",
        names.len(),
        names.join(", ")
    ))
    .hint(
        "restore the vault from git or a backup; a key that cannot be restored can be \
         replaced with `nkvault rotate NAME`",
    ))
}

//! Showing entries: the human table and the JSON that scripts parse. Public
//! parts only; nothing here touches a secret.

use nkvault_vault::{Entry, Name, Permissions, PublicKey, Subject, Vault};
use serde::Serialize;

use crate::commands::print;
use crate::failure::{note, stdout_error, Failure};

/// An entry as JSON: every public field, never the ciphertext. Every key is
/// always present, empty lists and `false` included, so a script never has to
/// guess the shape.
#[derive(Serialize)]
struct EntryJson<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    key_type: &'static str,
    public_key: &'a str,
    created: &'a str,
    permissions: PermissionsJson<'a>,
    /// The key being rotated out, or null.
    previous_public_key: Option<&'a str>,
}

#[derive(Serialize)]
struct PermissionsJson<'a> {
    publish: &'a [Subject],
    subscribe: &'a [Subject],
    deny_publish: &'a [Subject],
    deny_subscribe: &'a [Subject],
    allow_responses: bool,
}

impl<'a> From<&'a Permissions> for PermissionsJson<'a> {
    fn from(p: &'a Permissions) -> Self {
        PermissionsJson {
            publish: &p.publish,
            subscribe: &p.subscribe,
            deny_publish: &p.deny_publish,
            deny_subscribe: &p.deny_subscribe,
            allow_responses: p.allow_responses,
        }
    }
}

impl<'a> From<&'a Entry> for EntryJson<'a> {
    fn from(entry: &'a Entry) -> Self {
        EntryJson {
            name: entry.name.as_str(),
            key_type: "user",
            public_key: entry.public_key.as_str(),
            created: &entry.created,
            permissions: PermissionsJson::from(&entry.permissions),
            previous_public_key: entry.previous.as_ref().map(|p| p.public_key.as_str()),
        }
    }
}

/// Writes `value` as pretty JSON to standard output as it is serialized, so
/// that `list --json` of a large vault never holds the whole text in memory.
pub fn print_json(value: &impl Serialize) -> Result<(), Failure> {
    use std::io::Write;
    let stdout = std::io::stdout().lock();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout);
    serde_json::to_writer_pretty(&mut out, value)
        .map_err(std::io::Error::from)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush())
        .map_err(stdout_error)
}

pub fn list(vault: &Vault, json: bool) -> Result<(), Failure> {
    if json {
        let entries: Vec<EntryJson> = vault.entries().iter().map(EntryJson::from).collect();
        return print_json(&entries);
    }
    if vault.entries().is_empty() {
        note("the vault has no entries; add one with `nkvault add NAME`");
        return Ok(());
    }
    let width = vault
        .entries()
        .iter()
        .map(|e| e.name.as_str().len() + if e.previous.is_some() { 11 } else { 0 })
        .max()
        .unwrap_or(0)
        .max(4);
    let mut out = String::with_capacity(vault.entries().len() * 120);
    out.push_str(&format!(
        "{:<width$}  {:<56}  PERMISSIONS\n",
        "NAME", "PUBLIC KEY"
    ));
    for entry in vault.entries() {
        out.push_str(&format!(
            "{:<width$}  {}  {}\n",
            entry.name.as_str(),
            entry.public_key,
            summary(&entry.permissions)
        ));
        if let Some(previous) = &entry.previous {
            out.push_str(&format!(
                "{:<width$}  {}  until `nkvault rotate {} --finish`\n",
                format!("{} (previous)", entry.name),
                previous.public_key,
                entry.name
            ));
        }
    }
    print(out.as_bytes())
}

pub fn show(vault: &Vault, name: &str, json: bool) -> Result<(), Failure> {
    let entry = vault.entry(name)?;
    if json {
        return print_json(&EntryJson::from(entry));
    }
    let p = &entry.permissions;
    let mut out = String::new();
    out.push_str(&format!("name:             {}\n", entry.name));
    out.push_str("type:             user\n");
    out.push_str(&format!("public key:       {}\n", entry.public_key));
    out.push_str(&format!("created:          {}\n", entry.created));
    if let Some(previous) = &entry.previous {
        out.push_str(&format!(
            "previous key:     {} (accepted until `nkvault rotate {} --finish`; rotated {})\n",
            previous.public_key, entry.name, previous.rotated
        ));
    }
    out.push_str(&format!("publish allow:    {}\n", subjects(&p.publish)));
    out.push_str(&format!(
        "publish deny:     {}\n",
        subjects(&p.deny_publish)
    ));
    out.push_str(&format!("subscribe allow:  {}\n", subjects(&p.subscribe)));
    out.push_str(&format!(
        "subscribe deny:   {}\n",
        subjects(&p.deny_subscribe)
    ));
    let responses = if p.allow_responses { "yes" } else { "no" };
    out.push_str(&format!("allow responses:  {responses}\n"));
    print(out.as_bytes())
}

/// The keys `add` or `import` stored: one public key a line, or with `json`
/// `[{"name", "public_key"}]`.
pub fn print_new_keys(
    names: &[Name],
    public_keys: &[PublicKey],
    json: bool,
) -> Result<(), Failure> {
    if !json {
        let mut out = String::with_capacity(public_keys.len() * 57);
        for key in public_keys {
            out.push_str(key.as_str());
            out.push('\n');
        }
        return print(out.as_bytes());
    }
    #[derive(Serialize)]
    struct NewKey<'a> {
        name: &'a str,
        public_key: &'a str,
    }
    let list: Vec<NewKey> = names
        .iter()
        .zip(public_keys)
        .map(|(name, key)| NewKey {
            name: name.as_str(),
            public_key: key.as_str(),
        })
        .collect();
    print_json(&list)
}

fn subjects(list: &[Subject]) -> String {
    if list.is_empty() {
        return "-".to_owned();
    }
    list.iter()
        .map(Subject::as_str)
        .collect::<Vec<_>>()
        .join(" ")
}

/// One column for the table: `pub > sub >`, deny lists after a `!`.
fn summary(p: &Permissions) -> String {
    let mut text = format!("pub {}", subjects(&p.publish));
    if !p.deny_publish.is_empty() {
        text.push_str(&format!(" !{}", subjects(&p.deny_publish)));
    }
    text.push_str(&format!("  sub {}", subjects(&p.subscribe)));
    if !p.deny_subscribe.is_empty() {
        text.push_str(&format!(" !{}", subjects(&p.deny_subscribe)));
    }
    if p.allow_responses {
        text.push_str("  +responses");
    }
    text
}

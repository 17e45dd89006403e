//! Rendering nats-server.conf from the public parts of the vault.
//!
//! The output follows what nats-server 2.9 and the current release both
//! accept: subjects and keys double-quoted, permissions written inline for each
//! user (a variable of the main file would not be visible in an `include`d
//! fragment, and an unused one is an error), no `authorization.timeout` (2.9
//! ignores a `"30s"` string, and the server's default is sound).

use std::fmt::Write;

use crate::format::Entry;
use crate::keys::PublicKey;
use crate::permissions::{Permissions, Subject};

/// The port nats-server listens on unless told otherwise.
pub const DEFAULT_PORT: u16 = 4222;

/// What to render.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RenderOptions {
    /// The client port of the full config.
    pub port: u16,
    /// Only the self-contained `authorization { … }` block, for an `include`.
    pub fragment: bool,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            port: DEFAULT_PORT,
            fragment: false,
        }
    }
}

/// Renders the config for `entries`. The same entries give the same bytes.
pub fn render(entries: &[Entry], options: RenderOptions) -> String {
    let mut out = String::with_capacity(256 + entries.len() * 200);
    out.push_str("# Rendered by nkvault from the public keys of the vault.\n");
    out.push_str("# Do not edit: change the vault and run `nkvault render-conf` again.\n");
    if !options.fragment {
        let _ = write!(out, "\nport: {}\n\n", options.port);
    }
    out.push_str("authorization {\n  users: [\n");
    for entry in entries {
        let _ = writeln!(out, "    # {}", entry.name);
        write_user(&mut out, &entry.public_key, &entry.permissions);
        if let Some(previous) = &entry.previous {
            let _ = writeln!(
                out,
                "    # {name}: previous key, accepted until `nkvault rotate {name} --finish`",
                name = entry.name
            );
            write_user(&mut out, &previous.public_key, &entry.permissions);
        }
    }
    out.push_str("  ]\n}\n");
    out
}

fn write_user(out: &mut String, public_key: &PublicKey, permissions: &Permissions) {
    out.push_str("    {\n");
    let _ = writeln!(out, "      nkey: \"{public_key}\"");
    write_permissions(out, permissions);
    out.push_str("    }\n");
}

fn write_permissions(out: &mut String, permissions: &Permissions) {
    out.push_str("      permissions: {\n");
    write_direction(
        out,
        "publish",
        &permissions.publish,
        &permissions.deny_publish,
    );
    write_direction(
        out,
        "subscribe",
        &permissions.subscribe,
        &permissions.deny_subscribe,
    );
    if permissions.allow_responses {
        out.push_str("        allow_responses: true\n");
    }
    out.push_str("      }\n");
}

fn write_direction(out: &mut String, direction: &str, allow: &[Subject], deny: &[Subject]) {
    let _ = write!(out, "        {direction}: {{ allow: ");
    write_list(out, allow);
    if !deny.is_empty() {
        out.push_str(", deny: ");
        write_list(out, deny);
    }
    out.push_str(" }\n");
}

fn write_list(out: &mut String, subjects: &[Subject]) {
    out.push('[');
    for (i, subject) in subjects.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "\"{subject}\"");
    }
    out.push(']');
}

//! render-conf: the server config from the public keys, checked and reloaded on request.

use std::path::Path;

use nkvault_vault::{check_output_path, write_atomic, RenderOptions, Replace, Vault};

use crate::cli::{Global, RenderArgs};
use crate::commands::print;
use crate::failure::{note, warn, Failure};

/// Mode bits of a rendered nats-server.conf: it holds public keys only.
const CONF_MODE: u32 = 0o644;

pub fn run(global: &Global, args: RenderArgs) -> Result<(), Failure> {
    let vault = Vault::open(&global.vault)?;
    // `-o -` is standard output, as for export-file.
    let output = args.output.filter(|path| path != Path::new("-"));
    if let Some(output) = &output {
        check_output_path(output, vault.path(), Replace::Atomically)?;
    }
    if vault.entries().is_empty() {
        warn("the vault has no entries: the server will accept no client");
    }
    let options = RenderOptions {
        port: args.port,
        fragment: args.fragment,
    };
    let text = vault.render(options);
    match &output {
        Some(output) => {
            write_atomic(output, text.as_bytes(), CONF_MODE, Replace::Atomically)?;
            let users = vault.entries().len();
            note(&format!(
                "wrote {} with {users} user key(s)",
                output.display()
            ));
            Ok(())
        }
        None => print(text.as_bytes()),
    }
}

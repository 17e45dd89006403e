//! What the user typed: the command line, as clap parses it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

const EXAMPLES: &str = "\
Examples:
  nkvault init                                # make nkvault.toml, asks a passphrase twice
  nkvault add node1 node2                     # one user key each; prints the U… keys
  nkvault add ci-runner --publish 'ci.>' --subscribe 'ci.>' --allow-responses
  nkvault render-conf -o nats-server.conf     # needs no passphrase
  (umask 077; nkvault export-env node1 > .env)  # NKEY_SEED=SU…
  nkvault export-file node1 -o node1.seed     # the seed alone, mode 0600

Without a terminal, name a passphrase file: --passphrase-file FILE or NKVAULT_PASSPHRASE_FILE.";

/// An age-encrypted vault for the NKEY user keys of a NATS deployment.
///
/// Seeds are generated inside the vault and never written in plaintext;
/// nats-server.conf is rendered from the public keys alone; one seed at a time
/// is handed to the one node that needs it.
#[derive(Debug, Parser)]
#[command(name = "nkvault", version, after_help = EXAMPLES, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,

    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// The vault file
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        env = "NKVAULT_VAULT",
        value_name = "PATH",
        default_value = "nkvault.toml"
    )]
    pub vault: PathBuf,

    /// Read the passphrase from the first line of FILE instead of the terminal
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        env = "NKVAULT_PASSPHRASE_FILE",
        value_name = "PATH"
    )]
    pub passphrase_file: Option<PathBuf>,

    /// An age identity file that unlocks a recipients-mode vault (repeatable)
    #[arg(
        short = 'i',
        long = "identity",
        global = true,
        help_heading = "Global options",
        env = "NKVAULT_IDENTITY",
        value_name = "FILE"
    )]
    pub identities: Vec<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Make a new vault (passphrase mode unless recipients are given)
    #[command(after_help = "Examples:\n  \
        nkvault init\n  \
        nkvault init --passphrase-file pass.txt --work-factor 20\n  \
        nkvault init -r age1… -R team.txt    # recipients mode: unlock with -i")]
    Init(InitArgs),

    /// Generate a user key for each NAME inside the vault; print each public key
    #[command(
        after_help = "Without permission options a key may publish and subscribe to \
        everything.\nA direction given only deny options allows everything else.\n\n\
        Examples:\n  nkvault add node1 node2 node3\n  \
        nkvault add ci-runner --publish 'ci.>' --subscribe 'ci.>' --allow-responses"
    )]
    Add(AddArgs),

    /// List every entry: names, public keys, permissions (needs no secret)
    List(ListArgs),

    /// Show one entry, public parts only (needs no secret)
    Show(ShowArgs),

    /// Render nats-server.conf from the public keys (needs no secret)
    #[command(
        name = "render-conf",
        after_help = "Examples:\n  \
        nkvault render-conf -o nats-server.conf\n  \
        nkvault render-conf --fragment -o auth.conf   # include it from your own config"
    )]
    RenderConf(RenderArgs),

    /// Print NKEY_SEED=SU… for one entry, for a .env file
    #[command(
        name = "export-env",
        after_help = "Examples:\n  \
        (umask 077; nkvault export-env node1 > .env)\n  \
        nkvault export-env node1 --var CTRL_SEED >> .env"
    )]
    ExportEnv(ExportEnvArgs),

    /// Write one entry's seed to a file created mode 0600
    #[command(
        name = "export-file",
        after_help = "Examples:\n  \
        nkvault export-file node1 -o /etc/ctrl/node1.seed\n  \
        nkvault export-file node1 -o - | ssh node1 'umask 077; cat > /etc/ctrl/node1.seed'"
    )]
    ExportFile(ExportFileArgs),

    /// Print a shell completion script
    #[command(
        after_help = "Example:\n  nkvault completions bash > /etc/bash_completion.d/nkvault"
    )]
    Completions(CompletionsArgs),
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Encrypt seeds to this age recipient instead of a passphrase (repeatable)
    #[arg(short = 'r', long = "recipient", value_name = "RECIPIENT")]
    pub recipients: Vec<String>,

    /// Encrypt seeds to the recipients listed in FILE (repeatable)
    #[arg(short = 'R', long = "recipients-file", value_name = "FILE")]
    pub recipients_files: Vec<PathBuf>,

    /// log2 of the scrypt cost that protects the passphrase
    #[arg(
        long,
        value_name = "N",
        conflicts_with_all = ["recipients", "recipients_files"],
        default_value_t = nkvault_vault::DEFAULT_WORK_FACTOR,
        value_parser = clap::value_parser!(u8).range(
            nkvault_vault::MIN_WORK_FACTOR as i64..=nkvault_vault::MAX_WORK_FACTOR as i64
        ),
    )]
    pub work_factor: u8,
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// Names of the new entries
    #[arg(required = true, value_name = "NAME")]
    pub names: Vec<String>,

    #[command(flatten)]
    pub permissions: PermissionArgs,

    /// Print the new entries as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PermissionArgs {
    /// Allow publishing to SUBJECT (repeatable)
    #[arg(long = "publish", value_name = "SUBJECT")]
    pub publish: Vec<String>,

    /// Allow subscribing to SUBJECT (repeatable)
    #[arg(long = "subscribe", value_name = "SUBJECT")]
    pub subscribe: Vec<String>,

    /// Deny publishing to SUBJECT (repeatable)
    #[arg(long = "deny-publish", value_name = "SUBJECT")]
    pub deny_publish: Vec<String>,

    /// Deny subscribing to SUBJECT (repeatable)
    #[arg(long = "deny-subscribe", value_name = "SUBJECT")]
    pub deny_subscribe: Vec<String>,

    /// Allow replying to requests received, whatever the publish permissions
    #[arg(long)]
    pub allow_responses: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print JSON instead of a table
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The entry
    pub name: String,

    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Write to FILE (atomically) instead of standard output; - is standard output
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// The client port nats-server listens on
    #[arg(
        long,
        value_name = "N",
        default_value_t = nkvault_vault::DEFAULT_PORT,
        value_parser = clap::value_parser!(u16).range(1..)
    )]
    pub port: u16,

    /// Only the `authorization { … }` block, self-contained, for an include
    #[arg(long, conflicts_with = "port")]
    pub fragment: bool,
}

#[derive(Debug, Args)]
pub struct ExportEnvArgs {
    /// The entry
    pub name: String,

    /// The variable to set
    #[arg(long, value_name = "VAR", default_value = "NKEY_SEED", value_parser = parse_var)]
    pub var: String,
}

#[derive(Debug, Args)]
pub struct ExportFileArgs {
    /// The entry
    pub name: String,

    /// The file to write, or - for standard output
    #[arg(short = 'o', long = "output", value_name = "FILE", required = true)]
    pub output: PathBuf,

    /// Replace FILE if it exists (atomically)
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell
    pub shell: clap_complete::Shell,
}

/// A shell variable name: a letter or `_`, then letters, digits and `_`.
fn parse_var(text: &str) -> Result<String, String> {
    let mut chars = text.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(text.to_owned())
    } else {
        Err("a variable name is a letter or '_' followed by letters, digits and '_'".to_owned())
    }
}

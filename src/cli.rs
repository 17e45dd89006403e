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
  nkvault exec node1 -- ctrl-agent            # the seed in a memfd, on no disk
  nkvault rotate node1 --overlap              # a new key; the old one is accepted until --finish
  nkvault import node1 --from-file node1.seed # an existing seed into the vault

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

    /// Give NAME a new key; with --overlap the old one stays accepted until --finish
    #[command(
        after_help = "A rotation without downtime (see the README's runbook):\n  \
        nkvault rotate node1 --overlap                  # the server will accept both keys\n  \
        nkvault render-conf -o nats-server.conf --reload /var/run/nats-server.pid\n  \
        nkvault export-file node1 -o /etc/ctrl/node1.seed --force\n  \
        systemctl restart ctrl-node1                    # the node starts with its new seed\n  \
        nkvault rotate node1 --finish                   # the old key is dropped\n  \
        nkvault render-conf -o nats-server.conf --reload /var/run/nats-server.pid"
    )]
    Rotate(RotateArgs),

    /// Remove entries and their keys from the vault
    #[command(after_help = "Examples:\n  \
        nkvault remove node7            # asks for confirmation on a terminal\n  \
        nkvault remove node7 node8 --yes")]
    Remove(RemoveArgs),

    /// Bring existing user seeds into the vault (from stdin, a file or a directory)
    #[command(
        after_help = "The seed is read from standard input (hidden, on a terminal) or \
        from --from-file; never from the command line.\n\n\
        Examples:\n  \
        nkvault import node1 --from-file node1.seed\n  \
        nkvault import node1 < node1.seed\n  \
        nkvault import --dir ~/.local/share/nats/nsc/keys --prefix nsc-\n  \
        nkvault import --dir seeds/      # seeds/node1.nk becomes entry node1"
    )]
    Import(ImportArgs),

    /// Change the passphrase of a passphrase-mode vault
    #[command(after_help = "Examples:\n  \
        nkvault passwd                  # asks the old passphrase, then the new one twice\n  \
        nkvault passwd --passphrase-file old.txt --new-passphrase-file new.txt")]
    Passwd(PasswdArgs),

    /// List or change who can decrypt a recipients-mode vault
    #[command(subcommand)]
    Recipients(RecipientsCommand),

    /// Decrypt every entry and check that it is intact and bound to its name
    Verify(VerifyArgs),

    /// Run COMMAND with the seed of NAME, written nowhere on disk
    #[command(
        after_help = "By default the seed is in an in-memory file (memfd) that COMMAND \
        inherits, named by NKEY_SEED_FILE=/dev/fd/N; it can be read again on every \
        reconnect. --env puts the seed itself in NKEY_SEED instead.\n\
        nkvault replaces itself with COMMAND: its exit status and signals are COMMAND's.\n\n\
        Examples:\n  \
        nkvault exec node1 -- ctrl-agent --server nats://nats:4222\n  \
        nkvault exec node1 --env --var CTRL_SEED -- ./agent"
    )]
    Exec(ExecArgs),

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

impl PermissionArgs {
    /// The permissions these options ask for, subjects checked.
    pub fn to_permissions(&self) -> Result<nkvault_vault::Permissions, nkvault_vault::Error> {
        nkvault_vault::Permissions::from_options(
            &self.publish,
            &self.subscribe,
            &self.deny_publish,
            &self.deny_subscribe,
            self.allow_responses,
        )
    }
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

    /// Run `nats-server -t` on the result; a config it rejects replaces nothing
    #[arg(long)]
    pub check: bool,

    /// After writing, ask the running server to reload (implies --check); give
    /// its PID or pid file, or nothing to let `nats-server --signal` find it
    #[arg(long, value_name = "PIDFILE|PID", num_args = 0..=1, default_missing_value = "", requires = "output")]
    pub reload: Option<String>,

    /// The nats-server binary used by --check and --reload (default: nats-server
    /// on PATH, else /usr/sbin/nats-server)
    // An empty value (NKVAULT_NATS_SERVER= in a script) means the default, as
    // the other NKVAULT_* variables do; clap's PathBuf parser would refuse it.
    #[arg(
        long,
        value_name = "PATH",
        env = "NKVAULT_NATS_SERVER",
        value_parser = clap::builder::TypedValueParser::map(
            clap::builder::OsStringValueParser::new(),
            PathBuf::from
        )
    )]
    pub nats_server: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RotateArgs {
    /// The entry
    pub name: String,

    /// Keep accepting the old key until `rotate NAME --finish`
    #[arg(long, conflicts_with = "finish")]
    pub overlap: bool,

    /// End an overlap: drop the old key from the vault and the config
    #[arg(long)]
    pub finish: bool,

    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// The entries to remove
    #[arg(required = true, value_name = "NAME")]
    pub names: Vec<String>,

    /// Do not ask for confirmation (needed without a terminal)
    #[arg(short = 'y', long)]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The name of the new entry
    #[arg(required_unless_present = "dir", conflicts_with = "dir")]
    pub name: Option<String>,

    /// Read the seed from FILE instead of standard input
    #[arg(long, value_name = "FILE")]
    pub from_file: Option<PathBuf>,

    /// Import every *.nk and *.seed file under DIR (nk files, an nsc keystore)
    #[arg(long, value_name = "DIR", conflicts_with = "from_file")]
    pub dir: Option<PathBuf>,

    /// With --dir: put PREFIX before each name
    #[arg(long, value_name = "PREFIX", requires = "dir", default_value = "")]
    pub prefix: String,

    #[command(flatten)]
    pub permissions: PermissionArgs,

    /// Print the new entries as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PasswdArgs {
    /// Read the new passphrase from the first line of FILE instead of the terminal
    #[arg(long, value_name = "PATH", env = "NKVAULT_NEW_PASSPHRASE_FILE")]
    pub new_passphrase_file: Option<PathBuf>,

    /// A new scrypt work factor (log2 of the cost); the current one if not given
    #[arg(
        long,
        value_name = "N",
        value_parser = clap::value_parser!(u8).range(
            nkvault_vault::MIN_WORK_FACTOR as i64..=nkvault_vault::MAX_WORK_FACTOR as i64
        ),
    )]
    pub work_factor: Option<u8>,
}

#[derive(Debug, Subcommand)]
pub enum RecipientsCommand {
    /// Print the recipients every seed is encrypted to
    List(RecipientsListArgs),

    /// Encrypt every seed to more recipients (one unlock with -i)
    #[command(after_help = "Example:\n  nkvault -i me.key recipients add -r age1teammate…")]
    Add(RecipientsChange),

    /// Stop encrypting seeds to recipients (one unlock with -i)
    #[command(
        after_help = "Removed recipients can still read old copies of the vault \
        (backups, git history): rotate the keys they could read.\n\n\
        Example:\n  nkvault -i me.key recipients remove -r age1former…"
    )]
    Remove(RecipientsChange),
}

#[derive(Debug, Args)]
pub struct RecipientsListArgs {
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RecipientsChange {
    /// An age recipient (age1…) (repeatable)
    #[arg(short = 'r', long = "recipient", value_name = "RECIPIENT")]
    pub recipients: Vec<String>,

    /// The recipients listed in FILE (repeatable)
    #[arg(short = 'R', long = "recipients-file", value_name = "FILE")]
    pub recipients_files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// The entry whose seed COMMAND gets
    pub name: String,

    /// Put the seed itself in the environment (NKEY_SEED) instead of a memfd
    #[arg(long)]
    pub env: bool,

    /// The variable to set (default NKEY_SEED_FILE, or NKEY_SEED with --env)
    #[arg(long, value_name = "VAR", value_parser = parse_var)]
    pub var: Option<String>,

    /// The command and its arguments
    #[arg(required = true, last = true, value_name = "COMMAND")]
    pub command: Vec<std::ffi::OsString>,
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

/// Variables that a shell, the dynamic loader or an interpreter reads as
/// code, paths or options: a seed put there is run, searched or printed in an
/// error message (`BASH_ENV=SU…` makes bash try to source a file of that name).
const INTERPRETED_VARS: [&str; 14] = [
    "PATH",
    "HOME",
    "SHELL",
    "IFS",
    "ENV",
    "CDPATH",
    "PS1",
    "PS2",
    "PS4",
    "SHELLOPTS",
    "BASHOPTS",
    "GLOBIGNORE",
    "TMPDIR",
    "HOSTALIASES",
];
const INTERPRETED_PREFIXES: [&str; 12] = [
    "LD_", "DYLD_", "BASH_", "GCONV_", "GLIBC_", "MALLOC_", "LOCPATH", "NLSPATH", "PYTHON", "PERL",
    "RUBY", "NODE_",
];

/// A shell variable name: a letter or `_`, then letters, digits and `_`; not
/// one that a shell or the dynamic loader interprets.
fn parse_var(text: &str) -> Result<String, String> {
    let mut chars = text.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(
            "a variable name is a letter or '_' followed by letters, digits and '_'".to_owned(),
        );
    }
    let upper = text.to_ascii_uppercase();
    if INTERPRETED_VARS.contains(&upper.as_str())
        || INTERPRETED_PREFIXES.iter().any(|p| upper.starts_with(p))
        || upper.ends_with("_OPTIONS")
    {
        return Err(format!(
            "{text} is read by shells, the dynamic loader or interpreters; a seed there \
             could be run or printed. Name a variable of your own, such as CTRL_SEED"
        ));
    }
    Ok(text.to_owned())
}

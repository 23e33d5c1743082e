//! The command line: nginx's own flags (`-t`, `-T`, `-c`, `-p`, `-g`, `-e`, `-s`, `-v`, `-V`,
//! `-q`) so scripts written for nginx keep working, plus ngxr's subcommands.

use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::defaults;

#[derive(Debug, Parser)]
#[command(
    name = "ngxr",
    version,
    about = "Serves an existing nginx.conf: reverse proxy, WebSocket tunnels, load balancing",
    args_conflicts_with_subcommands = true,
    disable_version_flag = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub nginx: NginxFlags,
}

/// The flags nginx takes, with nginx's meanings.
#[derive(Debug, Clone, Default, Args)]
pub struct NginxFlags {
    /// Configuration file (nginx: -c)
    #[arg(short = 'c', value_name = "FILE")]
    pub conf: Option<PathBuf>,
    /// Prefix path: relative log, pid and temp paths start here (nginx: -p)
    #[arg(short = 'p', value_name = "PREFIX")]
    pub prefix: Option<PathBuf>,
    /// Global directives added to the configuration (nginx: -g)
    #[arg(short = 'g', value_name = "DIRECTIVES")]
    pub globals: Option<String>,
    /// Error log file used before the configuration is read (nginx: -e)
    #[arg(short = 'e', value_name = "FILE")]
    pub error_log: Option<PathBuf>,
    /// Test the configuration and exit (nginx: -t)
    #[arg(short = 't')]
    pub test: bool,
    /// Test the configuration, dump it and exit (nginx: -T)
    #[arg(short = 'T')]
    pub test_dump: bool,
    /// Suppress non-error messages while testing (nginx: -q)
    #[arg(short = 'q')]
    pub quiet: bool,
    /// Send a signal to the running master: stop, quit, reopen, reload (nginx: -s)
    #[arg(short = 's', value_name = "SIGNAL")]
    pub signal: Option<String>,
    /// Show version and exit (nginx: -v)
    #[arg(short = 'v')]
    pub version: bool,
    /// Show version and configure options and exit (nginx: -V)
    #[arg(short = 'V')]
    pub version_configure: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Lint a configuration: every error and warning, with spans and fixes
    Check(CheckArgs),
    /// Print the configuration as crossplane-style JSON
    Dump(DumpArgs),
    /// Show how a request would be routed and what would be sent upstream
    Explain(ExplainArgs),
    /// Start two WebSocket echo backends and a proxy for them, and make one round trip
    Demo(DemoArgs),
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    #[default]
    Human,
    Json,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[arg(short = 'c', value_name = "FILE")]
    pub conf: Option<PathBuf>,
    #[arg(short = 'p', value_name = "PREFIX")]
    pub prefix: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct DumpArgs {
    #[arg(short = 'c', value_name = "FILE")]
    pub conf: Option<PathBuf>,
    #[arg(short = 'p', value_name = "PREFIX")]
    pub prefix: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    #[arg(short = 'c', value_name = "FILE")]
    pub conf: Option<PathBuf>,
    #[arg(short = 'p', value_name = "PREFIX")]
    pub prefix: Option<PathBuf>,
    /// The listen socket the request arrives on (default: the first one)
    #[arg(long, value_name = "ADDR:PORT|unix:PATH")]
    pub listen: Option<String>,
    /// Client address ($remote_addr; `unix:` for a unix-domain socket's client)
    #[arg(long, default_value = "127.0.0.1")]
    pub remote_addr: String,
    /// Request header, `Name: value`; repeatable
    #[arg(short = 'H', value_name = "HEADER")]
    pub headers: Vec<String>,
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// The request line, e.g. 'GET /chat/room?x=1'
    pub request: String,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Exit after the round trip instead of serving until Ctrl-C
    #[arg(long)]
    pub once: bool,
}

/// Where the configuration is and what relative paths are relative to.
#[derive(Debug, Clone)]
pub struct Paths {
    /// nginx's prefix (`-p`): relative log, pid and temp paths.
    pub prefix: PathBuf,
    /// The main configuration file, absolute.
    pub conf: PathBuf,
    /// The directory of `conf`: relative includes and certificate paths.
    pub conf_prefix: PathBuf,
}

impl Paths {
    /// nginx's `ngx_process_options`, with one deliberate difference: a relative `-c` is taken
    /// from the current directory unless `-p` is given (nginx takes it from its compiled prefix).
    pub fn resolve(prefix: Option<&Path>, conf: Option<&Path>) -> Paths {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
        let prefix = match prefix {
            Some(p) => absolute(&cwd, p),
            None => PathBuf::from(defaults::PREFIX),
        };
        let conf = match conf {
            Some(c) if c.is_absolute() => c.to_path_buf(),
            Some(c) if prefix_given(&prefix) => prefix.join(c),
            Some(c) => cwd.join(c),
            None => PathBuf::from(defaults::CONF_PATH),
        };
        let conf_prefix = conf
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("/"));
        Paths {
            prefix,
            conf,
            conf_prefix,
        }
    }
}

fn prefix_given(prefix: &Path) -> bool {
    prefix != Path::new(defaults::PREFIX)
}

fn absolute(cwd: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        cwd.join(p)
    }
}

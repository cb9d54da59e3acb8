//! runc-compatible command line: global flags and one argument struct per command.
//!
//! Flags and defaults follow runc (see `../shared/reference/runc-cli-contract.md`), because
//! containerd-shim-runc-v2, conmon, CRI-O and runtime-tools build these command lines verbatim.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Default state directory. podman passes no `--root`, so every call must derive the same one.
pub const DEFAULT_ROOT: &str = "/run/runw";

#[derive(Parser, Debug)]
#[command(
    name = "runw",
    about = "runw: a runc-compatible OCI runtime that runs Linux and WebAssembly containers",
    disable_version_flag = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOpts,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Args, Debug, Clone)]
pub struct GlobalOpts {
    /// Root directory for the storage of container state
    #[arg(long, global = true, default_value = DEFAULT_ROOT)]
    pub root: PathBuf,

    /// Log file (default: stderr)
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,

    /// Log format
    #[arg(long = "log-format", global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Enable debug logging
    #[arg(long, global = true)]
    pub debug: bool,

    /// Use systemd to manage cgroups (cgroupsPath is then slice:prefix:name)
    #[arg(long = "systemd-cgroup", global = true)]
    pub systemd_cgroup: bool,

    /// Rootless mode: true, false or auto (before the command, as runc takes it)
    #[arg(long, value_enum, default_value_t = Rootless::Auto)]
    pub rootless: Rootless,

    /// Print the version, the OCI spec version and the Wasm engines compiled in
    #[arg(short = 'v', long)]
    pub version: bool,

    /// Engine for Wasm containers (default: the first compiled in; per container: annotation
    /// io.github.runw.wasm.engine)
    #[arg(
        long = "wasm-engine",
        global = true,
        env = "RUNW_WASM_ENGINE",
        value_enum
    )]
    pub wasm_engine: Option<crate::wasm::EngineKind>,

    /// Run an entrypoint that starts with the Wasm magic bytes as Wasm even without a Wasm
    /// annotation (false: only annotated containers are Wasm)
    #[arg(
        long = "wasm-autodetect",
        global = true,
        env = "RUNW_WASM_AUTODETECT",
        default_value_t = true,
        action = clap::ArgAction::Set,
        value_name = "BOOL"
    )]
    pub wasm_autodetect: bool,

    /// Directory of the compiled Wasm code cache
    #[arg(
        long = "wasm-cache",
        global = true,
        env = "RUNW_WASM_CACHE",
        default_value = crate::wasm::cache::DEFAULT_DIR,
        value_name = "DIR"
    )]
    pub wasm_cache: PathBuf,

    /// Size bound of the Wasm code cache (e.g. 512M, 2G; 0 disables the cache)
    #[arg(
        long = "wasm-cache-size",
        global = true,
        env = "RUNW_WASM_CACHE_SIZE",
        default_value = "1G",
        value_name = "SIZE"
    )]
    pub wasm_cache_size: String,

    /// Compile Wasm modules at every create instead of using the cache
    #[arg(long = "no-wasm-cache", global = true, env = "RUNW_NO_WASM_CACHE")]
    pub no_wasm_cache: bool,

    /// Largest Wasm module runw reads and compiles (e.g. 64M)
    #[arg(
        long = "wasm-max-module-size",
        global = true,
        env = "RUNW_WASM_MAX_MODULE_SIZE",
        default_value = "128M",
        value_name = "SIZE"
    )]
    pub wasm_max_module_size: String,

    /// Memory bound of compiling one Wasm module (its data segment, e.g. 1G)
    #[arg(
        long = "wasm-compile-memory",
        global = true,
        env = "RUNW_WASM_COMPILE_MEMORY",
        default_value = "2G",
        value_name = "SIZE"
    )]
    pub wasm_compile_memory: String,

    /// Time bound of compiling one Wasm module, in seconds
    #[arg(
        long = "wasm-compile-timeout",
        global = true,
        env = "RUNW_WASM_COMPILE_TIMEOUT",
        default_value_t = 60.0,
        value_name = "SECONDS"
    )]
    pub wasm_compile_timeout: f64,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rootless {
    True,
    False,
    Auto,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a new specification file (config.json)
    Spec(SpecArgs),
    /// Create a container
    Create(CreateArgs),
    /// Start the user process of a created container
    Start(IdArgs),
    /// Create and start a container, wait for it and exit with its status
    Run(RunArgs),
    /// Output the state of a container
    State(IdArgs),
    /// List containers
    List(ListArgs),
    /// Send a signal to the container's init process
    Kill(KillArgs),
    /// Delete a container and the resources it holds
    Delete(DeleteArgs),
    /// Execute a new process inside a running container
    Exec(ExecArgs),
    /// List the processes running inside a container
    Ps(PsArgs),
    /// Suspend all processes inside a container
    Pause(IdArgs),
    /// Resume all processes of a paused container
    Resume(IdArgs),
    /// Update the resource constraints of a container
    Update(UpdateArgs),
    /// Display container events and resource statistics
    Events(EventsArgs),
    /// Show the features the runtime supports (OCI features JSON)
    Features,
    /// Print the shell completion script for bash, zsh or fish
    Completion(CompletionArgs),
    /// Write one man page per command (section 8) into a directory
    Man(ManArgs),
}

impl Command {
    /// Commands that clone a process which enters the container. Those must run from a
    /// binary the container cannot overwrite (see `seal.rs`).
    pub fn enters_container(&self) -> bool {
        matches!(
            self,
            Command::Create(_) | Command::Run(_) | Command::Exec(_)
        )
    }
}

#[derive(Args, Debug)]
pub struct CompletionArgs {
    /// Shell to complete for: bash, zsh or fish
    // A plain string, so that an unknown shell gets runw's one-line error, not clap's usage
    // text; the names are still offered as completions and listed in --help.
    #[arg(value_name = "SHELL", value_parser = ShellName)]
    pub shell: String,
}

/// Shells `runw completion` writes scripts for.
pub const SHELLS: [&str; 3] = ["bash", "zsh", "fish"];

/// Accepts any shell name (the command rejects unknown ones) but lists [`SHELLS`] as the
/// possible values, for --help and the completion scripts.
#[derive(Clone)]
struct ShellName;

impl clap::builder::TypedValueParser for ShellName {
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<String, clap::Error> {
        clap::builder::StringValueParser::new().parse_ref(cmd, arg, value)
    }

    fn possible_values(
        &self,
    ) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        Some(Box::new(
            SHELLS.iter().map(|s| clap::builder::PossibleValue::new(*s)),
        ))
    }
}

#[derive(Args, Debug)]
pub struct ManArgs {
    /// Directory to write runw.8, runw-create.8, ... into (created if missing)
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

#[derive(Args, Debug)]
pub struct IdArgs {
    pub container_id: String,
}

#[derive(Args, Debug)]
pub struct SpecArgs {
    /// Path to the bundle directory
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    /// Generate a configuration for a rootless container
    #[arg(long)]
    pub rootless: bool,
}

#[derive(Args, Debug, Clone)]
pub struct CreateArgs {
    /// Path to the bundle directory
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    /// Unix socket that receives the master end of the console's pseudoterminal
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// File to write the container's init process id to
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Do not use pivot_root to jail the process in the rootfs
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Do not create a new session keyring (accepted for runc compatibility)
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    /// Pass N additional file descriptors (3..3+N) to the container
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: i32,
    pub container_id: String,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub create: CreateArgs,
    /// Detach from the container's process
    #[arg(short, long)]
    pub detach: bool,
    /// Do not delete the container after it exits
    #[arg(long)]
    pub keep: bool,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// Output format: table or json
    #[arg(short, long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Display only container ids
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Table,
    Json,
}

#[derive(Args, Debug)]
pub struct KillArgs {
    /// Send the signal to all processes in the container
    #[arg(short, long)]
    pub all: bool,
    pub container_id: String,
    /// Signal name (KILL, SIGKILL, RTMIN+3) or number (1-64)
    #[arg(default_value = "SIGTERM", allow_negative_numbers = true)]
    pub signal: String,
}

#[derive(Args, Debug)]
pub struct DeleteArgs {
    /// Kill the container first if it is still running
    #[arg(short, long)]
    pub force: bool,
    pub container_id: String,
}

#[derive(Args, Debug)]
pub struct ExecArgs {
    /// Unix socket that receives the master end of the console's pseudoterminal
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Current working directory in the container
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// Set an environment variable (KEY=VALUE)
    #[arg(short, long)]
    pub env: Vec<String>,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    pub tty: bool,
    /// UID[:GID] to run the process as
    #[arg(short, long)]
    pub user: Option<String>,
    /// Additional group ids
    #[arg(short = 'g', long = "additional-gids")]
    pub additional_gids: Vec<u32>,
    /// Path to a process.json (an OCI Process) to run
    #[arg(short, long)]
    pub process: Option<PathBuf>,
    /// Detach from the process
    #[arg(short, long)]
    pub detach: bool,
    /// File to write the process id to
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// SELinux process label (accepted for runc compatibility)
    #[arg(long = "process-label")]
    pub process_label: Option<String>,
    /// AppArmor profile for the process
    #[arg(long)]
    pub apparmor: Option<String>,
    /// Set no_new_privs for the process
    #[arg(long = "no-new-privs")]
    pub no_new_privs: bool,
    /// Add a capability to the bounding set
    #[arg(short, long)]
    pub cap: Vec<String>,
    /// Pass N additional file descriptors to the process
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: i32,
    /// Allow exec into a paused container
    #[arg(long = "ignore-paused")]
    pub ignore_paused: bool,
    /// Run the process in a sub-cgroup of the container
    #[arg(long)]
    pub cgroup: Option<String>,
    pub container_id: String,
    /// Command and arguments (ignored with --process)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct PsArgs {
    /// Output format: table or json
    #[arg(short, long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    pub container_id: String,
    /// Options passed to ps(1) for the table format (default: -ef)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct UpdateArgs {
    /// LinuxResources JSON file to apply, or - for stdin
    #[arg(short, long)]
    pub resources: Option<PathBuf>,
    /// Memory limit (bytes, or with k/m/g suffix; -1 for unlimited)
    #[arg(short, long, allow_hyphen_values = true)]
    pub memory: Option<String>,
    /// Total memory+swap limit (-1 for unlimited)
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation", allow_hyphen_values = true)]
    pub memory_reservation: Option<String>,
    /// CPU shares (relative weight)
    #[arg(long = "cpu-shares")]
    pub cpu_shares: Option<u64>,
    /// CPU CFS quota in microseconds (-1 for unlimited)
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CPU CFS period in microseconds
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<u64>,
    /// CPUs allowed (e.g. 0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes allowed (e.g. 0-3, 0,1)
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Maximum number of pids (-1 for unlimited)
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Block IO weight (10-1000)
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    pub container_id: String,
}

#[derive(Args, Debug)]
pub struct EventsArgs {
    /// Interval between stats events (Go duration syntax: 5s, 500ms, 1m)
    #[arg(long, default_value = "5s")]
    pub interval: String,
    /// Print one stats event and exit
    #[arg(long)]
    pub stats: bool,
    pub container_id: String,
}

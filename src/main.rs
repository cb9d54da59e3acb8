//! runw: a runc-compatible OCI runtime that runs Linux and WebAssembly containers.

use clap::Parser;

use runw::cli::Cli;
use runw::{attach_warmup, commands, executor, logging, seal, signal};

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            // runc exits 1 on usage errors; help is not an error.
            std::process::exit(if err.use_stderr() { 1 } else { 0 });
        }
    };
    if cli.global.version {
        print!("{}", version_text());
        return;
    }
    let Some(command) = cli.command else {
        use clap::CommandFactory;
        let _ = Cli::command().print_help();
        return;
    };
    if let Err(err) = logging::init(&cli.global) {
        logging::report_error(&format!("{err:#}"));
        std::process::exit(1);
    }
    signal::die_of_sigpipe_on_closed_stdio();
    if command.enters_container() {
        attach_warmup::start();
        if let Err(err) = seal::ensure_sealed() {
            logging::report_error(&format!("{err:#}"));
            std::process::exit(1);
        }
        attach_warmup::forget_env();
    }
    match commands::dispatch(command, &cli.global) {
        Ok(code) => std::process::exit(code),
        Err(err) => {
            logging::report_error(&error_message(&err));
            // runc: 255 when exec fails (its process never ran), 1 for everything else.
            let failed_exec = err.downcast_ref::<commands::ExecFailed>().is_some();
            std::process::exit(if failed_exec { 255 } else { 1 });
        }
    }
}

/// The whole cause chain on one line. Some libcontainer messages name youki, whose library it
/// is ("cannot use console socket if youki will not detach"); to runw's users they are runw's.
fn error_message(err: &anyhow::Error) -> String {
    // libcontainer passes an exec'd process's error through a fixed-size buffer: drop the
    // NUL bytes it leaves in the text.
    format!("{err:#}")
        .replace("youki", "runw")
        .replace('\0', "")
}

fn version_text() -> String {
    format!(
        "runw version {}\ncommit: {}\nspec: {}\nlibcontainer: 0.7.0\nwasm engines: {}\n",
        env!("CARGO_PKG_VERSION"),
        env!("RUNW_COMMIT"),
        oci_spec::runtime::VERSION,
        executor::wasm_engines().join(", "),
    )
}

//! One module per command, as in youki's liboci-cli. Each returns the process exit code.

use anyhow::Result;

use crate::cli::{Command, GlobalOpts};

mod create;
mod delete;
mod docs;
mod events;
pub mod exec;
mod features;
mod kill;
mod list;
mod pause;
mod ps;
mod run;
mod spec;
mod start;
mod state;
pub mod update;
mod wait;

pub use exec::ExecFailed;

pub fn dispatch(command: Command, global: &GlobalOpts) -> Result<i32> {
    match command {
        Command::Spec(args) => spec::spec(&args),
        Command::Create(args) => create::create(&args, global),
        Command::Start(args) => start::start(&args.container_id, global),
        Command::Run(args) => run::run(&args, global),
        Command::State(args) => state::state(&args.container_id, global),
        Command::List(args) => list::list(&args, global),
        Command::Kill(args) => kill::kill(&args, global),
        Command::Delete(args) => delete::delete(&args, global),
        Command::Exec(args) => exec::exec(&args, global),
        Command::Ps(args) => ps::ps(&args, global),
        Command::Pause(args) => pause::pause(&args.container_id, global),
        Command::Resume(args) => pause::resume(&args.container_id, global),
        Command::Update(args) => update::update(&args, global),
        Command::Events(args) => events::events(&args, global),
        Command::Features => features::features(),
        Command::Completion(args) => docs::completion(&args.shell),
        Command::Man(args) => docs::man(&args.dir),
    }
}

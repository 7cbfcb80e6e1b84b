//! `oauth-apps completions SHELL` and `oauth-apps man`: the command line's
//! own description, as a shell completion script (clap_complete) and as
//! manual pages in roff (clap_mangen), so they never drift from `--help`.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, CommandFactory as _};

use super::Cli;

#[derive(Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

#[derive(Args)]
pub struct ManArgs {
    /// Write a page per command (oauth-apps.1, oauth-apps-serve.1,
    /// oauth-apps-members-set.1, ...) into this folder instead of printing
    /// the page of `oauth-apps`.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

/// Prints the completion script: `oauth-apps completions bash >
/// ~/.local/share/bash-completion/completions/oauth-apps`.
pub fn completions(args: &CompletionsArgs) -> anyhow::Result<()> {
    let mut command = Cli::command();
    clap_complete::generate(
        args.shell,
        &mut command,
        "oauth-apps",
        &mut std::io::stdout(),
    );
    Ok(())
}

/// Prints the page of `oauth-apps` (`oauth-apps man | man -l -`), or writes
/// every command's page into `--dir`.
pub fn man(args: &ManArgs) -> anyhow::Result<()> {
    let command = Cli::command();
    match &args.dir {
        None => {
            let mut out = std::io::stdout().lock();
            match clap_mangen::Man::new(command).render(&mut out) {
                // `oauth-apps man | head`: the reader had enough.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                other => other?,
            }
        }
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            clap_mangen::generate_to(command, dir)
                .with_context(|| format!("writing manual pages into {}", dir.display()))?;
        }
    }
    Ok(())
}

/// The page of `oauth-apps`, as `man` prints it.
#[cfg(test)]
fn page() -> String {
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut out)
        .unwrap();
    String::from_utf8(out).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_command(command: &clap::Command, path: &str, out: &mut Vec<(String, clap::Command)>) {
        for sub in command.get_subcommands() {
            let name = format!("{path} {}", sub.get_name());
            out.push((name.clone(), sub.clone()));
            every_command(sub, &name, out);
        }
    }

    #[test]
    fn every_flag_and_command_is_described() {
        let mut commands = vec![("oauth-apps".to_owned(), Cli::command())];
        every_command(&Cli::command(), "oauth-apps", &mut commands);
        for (name, command) in &commands {
            if name != "oauth-apps" {
                assert!(command.get_about().is_some(), "`{name}` has no description");
            }
            for arg in command.get_arguments() {
                let id = arg.get_id().as_str();
                if arg.is_hide_set() || id == "help" || id == "version" {
                    continue;
                }
                assert!(
                    arg.get_help().is_some(),
                    "`{name}` --{id} has no description"
                );
            }
        }
    }

    #[test]
    fn the_manual_page_names_every_command() {
        let page = page();
        for sub in Cli::command().get_subcommands() {
            assert!(page.contains(sub.get_name()), "{} missing", sub.get_name());
        }
        assert!(page.contains(".TH oauth-apps"), "{page}");
    }

    #[test]
    fn the_role_values_are_listed() {
        let command = Cli::command();
        let set = command
            .find_subcommand("members")
            .and_then(|m| m.find_subcommand("set"))
            .unwrap();
        let role = set.get_arguments().find(|a| a.get_id() == "role").unwrap();
        let values: Vec<String> = role
            .get_possible_values()
            .iter()
            .map(|v| v.get_name().to_owned())
            .collect();
        assert_eq!(values, ["owner", "admin", "member"]);
    }
}

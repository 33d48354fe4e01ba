//! Command-line flags for every setting, generated from [`SETTINGS`](super::settings::SETTINGS).

use clap::{Arg, ArgMatches, Args, Command, FromArgMatches};

use super::settings::{Layer, SETTINGS};

/// The flag layer: `--kebab-case` for every setting.
#[derive(Debug, Default, Clone)]
pub struct Flags(pub Layer);

impl FromArgMatches for Flags {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut flags = Self::default();
        flags.update_from_arg_matches(matches)?;
        Ok(flags)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        for d in SETTINGS {
            if let Some(v) = matches.get_one::<String>(d.key) {
                self.0.set(d.key, v.clone());
            }
        }
        Ok(())
    }
}

impl Args for Flags {
    fn augment_args(cmd: Command) -> Command {
        SETTINGS.iter().fold(cmd, |cmd, d| {
            let default = d
                .default
                .map(|v| format!(" [default: {v:?}]"))
                .unwrap_or_default();
            cmd.arg(
                Arg::new(d.key)
                    .long(d.flag)
                    .value_name("VALUE")
                    .help(format!("{}{default} [env: {}]", d.help, d.env)),
            )
        })
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

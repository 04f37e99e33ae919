//! The command line around [`Settings`]: the subcommands, the log format, and parsing that
//! takes every flag before or after a subcommand (`corecast check --shards 4`).

use crate::config::Settings;

impl Settings {
    /// The command line: every flag also works after a subcommand (`corecast check --shards 4`).
    pub fn cli() -> clap::Command {
        <Settings as clap::CommandFactory>::command().mut_args(|a| a.global(true))
    }

    /// Settings from the process's arguments and `CORECAST_*` environment.
    pub fn from_args() -> Result<Settings, clap::Error> {
        Self::from_args_of(std::env::args_os())
    }

    /// Settings from `args` (the first one is the program name) and the environment.
    pub fn from_args_of<I, T>(args: I) -> Result<Settings, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let matches = Self::cli().try_get_matches_from(args)?;
        <Settings as clap::FromArgMatches>::from_arg_matches(&matches)
    }
}

/// Subcommands; without one, `corecast` starts the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Subcommand)]
pub enum Command {
    /// Check this host's limits against the current settings, say what to raise and how, and
    /// exit non-zero when the server would refuse to start.
    Check,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line (timestamp, level, target, message and fields).
    Json,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn settings(args: &[&str]) -> Settings {
        let mut argv = vec!["corecast"];
        argv.extend_from_slice(args);
        Settings::try_parse_from(argv).unwrap()
    }

    #[test]
    fn flags_work_before_and_after_the_check_subcommand() {
        let s = Settings::from_args_of(["corecast", "--max-connections", "7"]).unwrap();
        assert_eq!((s.command, s.max_connections), (None, 7));
        let s = Settings::from_args_of(["corecast", "check", "--max-connections", "7"]).unwrap();
        assert_eq!((s.command, s.max_connections), (Some(Command::Check), 7));
        let s = Settings::from_args_of(["corecast", "--shards", "3", "check"]).unwrap();
        assert_eq!(
            (s.command, s.shards, s.port),
            (Some(Command::Check), Some(3), 6001)
        );
        let err = Settings::from_args_of(["corecast", "check", "--port", "x"]).unwrap_err();
        assert!(err.to_string().contains("--port"), "{err}");
    }

    #[test]
    fn log_format_is_text_json_or_refused() {
        assert_eq!(settings(&[]).log_format, LogFormat::Text);
        assert_eq!(
            settings(&["--log-format", "json"]).log_format,
            LogFormat::Json
        );
        let err = Settings::try_parse_from(["corecast", "--log-format", "xml"]).unwrap_err();
        assert!(err.to_string().contains("log-format"), "{err}");
    }
}

//! The sensor's TOML configuration, its defaults, and the commented default file
//! printed by `trawl sensor --print-default-config`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::protocol::Protocol;

/// Why a configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The config file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The TOML is malformed or has unknown keys.
    #[error("{path}: line {line}: {message}")]
    Parse {
        /// The config file.
        path: PathBuf,
        /// 1-based line of the problem.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A value is out of range or names an unknown protocol.
    #[error("config: {0}")]
    Invalid(String),
}

/// Settings of one protocol after defaults and overrides are applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolSettings {
    /// Listen on this protocol.
    pub enabled: bool,
    /// TCP port.
    pub port: u16,
    /// Greeting / server string.
    pub banner: String,
    /// Longest silence from the client before hanging up.
    pub idle_timeout: Duration,
    /// Longest session, whatever happens.
    pub session_timeout: Duration,
    /// Login attempts per session before hanging up.
    pub max_attempts: u32,
    /// Server name used in greetings and prompts.
    pub hostname: String,
}

/// Per-protocol overrides (`[protocols.<name>]`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProtocolOverrides {
    /// Listen on this protocol (default true).
    pub enabled: Option<bool>,
    /// TCP port (default: standard + 10000, or standard with `standard_ports`).
    pub port: Option<u16>,
    /// Greeting / server string.
    pub banner: Option<String>,
    /// Idle timeout in seconds.
    pub idle_timeout_secs: Option<u64>,
    /// Whole-session timeout in seconds.
    pub session_timeout_secs: Option<u64>,
    /// Login attempts per session.
    pub max_attempts: Option<u32>,
    /// The protocol's own options (`[protocols.<name>.options]`), checked by the
    /// protocol's [`Protocol::prepare`].
    #[serde(default)]
    pub options: toml::Table,
}

/// `[tls]`: certificate used by https, pop3s, imaps, smtps and STARTTLS.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct TlsSettings {
    /// PEM certificate chain; with `key`, used instead of the generated one.
    pub cert: Option<PathBuf>,
    /// PEM private key matching `cert`.
    pub key: Option<PathBuf>,
    /// Common name of the generated self-signed certificate (also a DNS SAN).
    pub subject: String,
    /// Organisation of the generated certificate (empty: none).
    pub organization: String,
}

impl Default for TlsSettings {
    fn default() -> Self {
        TlsSettings {
            cert: None,
            key: None,
            subject: DEFAULT_HOSTNAME.into(),
            organization: String::new(),
        }
    }
}

/// `[sinks]`: outputs.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct SinkSettings {
    /// Prefix CSV cells starting with `= + - @` with `'` (spreadsheet safety).
    pub neutralise_formulas: bool,
    /// Events buffered per sink before senders wait (back-pressure).
    pub channel_capacity: usize,
    /// Most events written per transaction / flush.
    pub batch_size: usize,
}

impl Default for SinkSettings {
    fn default() -> Self {
        SinkSettings {
            neutralise_formulas: false,
            channel_capacity: 65_536,
            batch_size: 1024,
        }
    }
}

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SensorConfig {
    /// Address every listener binds to.
    pub bind: IpAddr,
    /// Directory for outputs and the generated certificate.
    pub data_dir: PathBuf,
    /// Server name used in greetings.
    pub hostname: String,
    /// Concurrent connections across all protocols; extra ones are accepted and closed.
    pub max_connections: usize,
    /// Longest line kept from a client, in bytes.
    pub max_line_bytes: usize,
    /// Default idle timeout (seconds).
    pub idle_timeout_secs: u64,
    /// Default whole-session timeout (seconds).
    pub session_timeout_secs: u64,
    /// Use the standard ports (21, 23, 80, ...) instead of standard + 10000.
    pub standard_ports: bool,
    /// After binding, switch to this user (when started as root).
    pub run_as_user: Option<String>,
    /// A listener that fails to bind stops the sensor.
    pub strict: bool,
    /// Certificate settings.
    pub tls: TlsSettings,
    /// Output settings.
    pub sinks: SinkSettings,
    /// Per-protocol overrides.
    pub protocols: BTreeMap<String, ProtocolOverrides>,
}

const DEFAULT_HOSTNAME: &str = "mail.example.com";

impl Default for SensorConfig {
    fn default() -> Self {
        SensorConfig {
            bind: IpAddr::from([127, 0, 0, 1]),
            data_dir: PathBuf::from("./trawl-data"),
            hostname: DEFAULT_HOSTNAME.into(),
            max_connections: 50_000,
            max_line_bytes: 8192,
            idle_timeout_secs: 60,
            session_timeout_secs: 300,
            standard_ports: false,
            run_as_user: None,
            strict: false,
            tls: TlsSettings::default(),
            sinks: SinkSettings::default(),
            protocols: BTreeMap::new(),
        }
    }
}

impl SensorConfig {
    /// Reads and validates a TOML file.
    pub fn load(path: &std::path::Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses TOML text (`path` only names it in errors).
    pub fn parse(text: &str, path: &std::path::Path) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|err| {
            let line = err.span().map_or(1, |span| line_of(text, span.start));
            ConfigError::Parse {
                path: path.to_owned(),
                line,
                message: err.message().to_owned(),
            }
        })
    }

    /// Checks values and protocol names against the registry.
    pub fn validate(&self, protocols: &[Box<dyn Protocol>]) -> Result<(), ConfigError> {
        for name in self.protocols.keys() {
            if !protocols.iter().any(|protocol| protocol.name() == name) {
                return Err(ConfigError::Invalid(format!(
                    "unknown protocol [protocols.{name}] (known: {})",
                    names(protocols)
                )));
            }
        }
        if self.max_connections == 0
            || self.max_line_bytes < 64
            || self.idle_timeout_secs == 0
            || self.session_timeout_secs == 0
        {
            return Err(ConfigError::Invalid(
                "max_connections, idle_timeout_secs and session_timeout_secs must be > 0, max_line_bytes >= 64".into(),
            ));
        }
        Ok(())
    }

    /// Disables every protocol not named in `names` (`--only`); unknown names are errors.
    pub fn restrict_to(
        &mut self,
        names: &[String],
        protocols: &[Box<dyn Protocol>],
    ) -> Result<(), ConfigError> {
        for name in names {
            if !protocols.iter().any(|protocol| protocol.name() == name) {
                return Err(ConfigError::Invalid(format!(
                    "--only: unknown protocol {name:?} (known: {})",
                    self::names(protocols)
                )));
            }
        }
        for protocol in protocols {
            if !names.iter().any(|name| name == protocol.name()) {
                self.protocols
                    .entry(protocol.name().to_owned())
                    .or_default()
                    .enabled = Some(false);
            }
        }
        Ok(())
    }

    /// Settings for one protocol: its defaults, the global defaults, then overrides.
    pub fn settings_for(&self, protocol: &dyn Protocol) -> ProtocolSettings {
        let overrides = self
            .protocols
            .get(protocol.name())
            .cloned()
            .unwrap_or_default();
        let default_port = if self.standard_ports {
            protocol.standard_port()
        } else {
            protocol.default_port()
        };
        ProtocolSettings {
            enabled: overrides.enabled.unwrap_or(true),
            port: overrides.port.unwrap_or(default_port),
            banner: overrides
                .banner
                .unwrap_or_else(|| protocol.default_banner().to_owned()),
            idle_timeout: Duration::from_secs(
                overrides
                    .idle_timeout_secs
                    .unwrap_or(self.idle_timeout_secs),
            ),
            session_timeout: Duration::from_secs(
                overrides
                    .session_timeout_secs
                    .unwrap_or(self.session_timeout_secs),
            ),
            max_attempts: overrides
                .max_attempts
                .unwrap_or(protocol.default_max_attempts()),
            hostname: self.hostname.clone(),
        }
    }
}

fn names(protocols: &[Box<dyn Protocol>]) -> String {
    protocols
        .iter()
        .map(|protocol| protocol.name())
        .collect::<Vec<_>>()
        .join(", ")
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()
        .iter()
        .take(offset)
        .filter(|&&byte| byte == b'\n')
        .count()
        + 1
}

const DEFAULT_CONFIG_HEAD: &str = include_str!("default-config.toml");

/// The fully commented default configuration (`--print-default-config`).
pub fn default_config_text(protocols: &[Box<dyn Protocol>]) -> String {
    let defaults = SensorConfig::default();
    let mut text = String::from(DEFAULT_CONFIG_HEAD);
    for protocol in protocols {
        let settings = defaults.settings_for(protocol.as_ref());
        let tls = if protocol.implicit_tls() {
            " (TLS from the first byte)"
        } else {
            ""
        };
        let _ = writeln!(
            text,
            "\n# {}{tls}: standard port {}.",
            protocol.name(),
            protocol.standard_port()
        );
        let _ = writeln!(text, "[protocols.{}]", protocol.name());
        let _ = writeln!(text, "enabled = true");
        let standard = protocol.standard_port();
        let _ = writeln!(
            text,
            "# port = {}    # default: {standard} + 10000, or {standard} with standard_ports = true",
            settings.port
        );
        let _ = writeln!(text, "banner = {}", toml_string(&settings.banner));
        let _ = writeln!(text, "max_attempts = {}", settings.max_attempts);
        let _ = writeln!(
            text,
            "# idle_timeout_secs = {}    # default: the global idle_timeout_secs",
            settings.idle_timeout.as_secs()
        );
        let _ = writeln!(
            text,
            "# session_timeout_secs = {}    # default: the global session_timeout_secs",
            settings.session_timeout.as_secs()
        );
        let options = protocol.default_options();
        if !options.is_empty() {
            let _ = writeln!(text, "[protocols.{}.options]", protocol.name());
            text.push_str(options.trim_end());
            text.push('\n');
        }
    }
    text
}

impl SensorConfig {
    /// The protocol's own options table (empty when not configured).
    pub fn options_for(&self, protocol: &dyn Protocol) -> toml::Table {
        self.protocols
            .get(protocol.name())
            .map(|overrides| overrides.options.clone())
            .unwrap_or_default()
    }
}

fn toml_string(value: &str) -> String {
    toml::Value::String(value.to_owned()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_text_parses_back_to_the_defaults() {
        let protocols = crate::protocols::all();
        let text = default_config_text(&protocols);
        let parsed = SensorConfig::parse(&text, std::path::Path::new("default.toml"));
        let parsed = match parsed {
            Ok(parsed) => parsed,
            Err(err) => panic!("{err}"),
        };
        assert!(parsed.validate(&protocols).is_ok());
        let defaults = SensorConfig::default();
        for protocol in &protocols {
            assert_eq!(
                parsed.settings_for(protocol.as_ref()),
                defaults.settings_for(protocol.as_ref())
            );
        }
        assert_eq!(parsed.bind, defaults.bind);
        assert_eq!(parsed.tls, defaults.tls);
        assert_eq!(parsed.sinks, defaults.sinks);
    }

    #[test]
    fn protocol_options_reach_prepare_and_unknown_ones_are_refused() {
        let text = "[protocols.ftp.options]\nwordlist = \"/x\"\n";
        let parsed = SensorConfig::parse(text, std::path::Path::new("o.toml"));
        let Ok(parsed) = parsed else {
            panic!("options table not accepted");
        };
        let ftp = crate::protocols::ftp::Ftp;
        let options = parsed.options_for(&ftp);
        assert_eq!(options.get("wordlist").and_then(|v| v.as_str()), Some("/x"));
        let settings = parsed.settings_for(&ftp);
        let env = crate::protocol::PrepareEnv {
            data_dir: std::path::Path::new("."),
            settings: &settings,
            options: &options,
        };
        let err = ftp.prepare(&env).err().unwrap_or_default();
        assert!(err.contains("wordlist"), "{err}");
    }

    #[test]
    fn errors_carry_line_numbers_and_unknown_keys_are_refused() {
        let text = "bind = \"127.0.0.1\"\n\n[protocols.ftp]\nprot = 21\n";
        let err = SensorConfig::parse(text, std::path::Path::new("x.toml"))
            .err()
            .map(|e| e.to_string());
        let err = err.unwrap_or_default();
        assert!(err.starts_with("x.toml: line 4:"), "{err}");
    }

    #[test]
    fn unknown_protocols_are_refused() {
        let config = SensorConfig::parse(
            "[protocols.gopher]\nport = 1\n",
            std::path::Path::new("x.toml"),
        );
        let config = config.unwrap_or_default();
        assert!(config.validate(&crate::protocols::all()).is_err());
    }

    #[test]
    fn editing_globals_in_the_printed_default_takes_effect() {
        let protocols = crate::protocols::all();
        let text = default_config_text(&protocols)
            .replace("standard_ports = false", "standard_ports = true")
            .replace("idle_timeout_secs = 60\n", "idle_timeout_secs = 7\n");
        let parsed = SensorConfig::parse(&text, std::path::Path::new("edited.toml"));
        let parsed = parsed.unwrap_or_default();
        let ftp = protocols.iter().find(|p| p.name() == "ftp");
        let settings = ftp.map(|p| parsed.settings_for(p.as_ref()));
        assert_eq!(settings.as_ref().map(|s| s.port), Some(21));
        assert_eq!(settings.map(|s| s.idle_timeout.as_secs()), Some(7));
    }

    #[test]
    fn standard_ports_mode_uses_standard_ports() {
        let config = SensorConfig {
            standard_ports: true,
            ..SensorConfig::default()
        };
        let protocols = crate::protocols::all();
        let ftp = protocols
            .iter()
            .find(|p| p.name() == "ftp")
            .map(|p| config.settings_for(p.as_ref()).port);
        assert_eq!(ftp, Some(21));
    }
}

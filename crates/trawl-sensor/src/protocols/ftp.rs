//! FTP (RFC 959) login dialog, answering like vsftpd 3.0.3 without TLS: USER/PASS
//! (any number of tries up to `max_attempts`, 530 each), SYST, FEAT, OPTS UTF8, NOOP,
//! QUIT; AUTH TLS/SSL and everything else before login get vsftpd's
//! `530 Please login with USER and PASS.` Commands other than USER/PASS are kept in
//! `auxiliary_data.commands` (first 32; a client fingerprint).

use serde_json::Value;
use trawl_event::{Credential, EndReason, Mechanism, display_bytes};

use crate::conn::{Conn, ConnError};
use crate::protocol::{BoxFuture, Protocol};
use crate::session::SessionCtx;

/// FTP on 10021.
pub struct Ftp;

impl Protocol for Ftp {
    fn name(&self) -> &'static str {
        "ftp"
    }
    fn default_port(&self) -> u16 {
        10021
    }
    fn default_banner(&self) -> &'static str {
        "(vsFTPd 3.0.3)"
    }
    /// vsftpd's `max_login_fails` default.
    fn default_max_attempts(&self) -> u32 {
        3
    }
    fn serve<'a>(
        &'a self,
        conn: &'a mut Conn,
        ctx: &'a mut SessionCtx,
    ) -> BoxFuture<'a, Result<(), ConnError>> {
        Box::pin(serve(conn, ctx))
    }
}

const FEATURES: &str = "211-Features:\r\n EPRT\r\n EPSV\r\n MDTM\r\n PASV\r\n REST STREAM\r\n SIZE\r\n TVFS\r\n UTF8\r\n211 End\r\n";
const LOGIN_FIRST: &str = "530 Please login with USER and PASS.\r\n";

async fn serve(conn: &mut Conn, ctx: &mut SessionCtx) -> Result<(), ConnError> {
    let greeting = format!("220 {}\r\n", ctx.settings().banner);
    conn.write_all(greeting.as_bytes()).await?;
    let mut user: Option<Vec<u8>> = None;
    while let Some(line) = conn.read_line().await? {
        let (verb, argument) = split_command(&line);
        if !matches!(verb.as_str(), "USER" | "PASS" | "") {
            ctx.push_aux("commands", Value::from(display_bytes(&line)));
        }
        let reply = match verb.as_str() {
            "USER" => {
                user = Some(argument.to_vec());
                "331 Please specify the password.\r\n"
            }
            "PASS" => match user.take() {
                None => "503 Login with USER first.\r\n",
                Some(name) => {
                    ctx.record_auth(Credential::new(name, argument, Mechanism::UserPass))
                        .await;
                    if ctx.attempts_exhausted() {
                        conn.write_all(b"530 Login incorrect.\r\n").await?;
                        ctx.set_end_reason(EndReason::MaxAttempts);
                        return Ok(());
                    }
                    "530 Login incorrect.\r\n"
                }
            },
            "SYST" => "215 UNIX Type: L8\r\n",
            "FEAT" => FEATURES,
            "NOOP" => "200 NOOP ok.\r\n",
            "OPTS" if argument.eq_ignore_ascii_case(b"UTF8 ON") => "200 Always in UTF8 mode.\r\n",
            "OPTS" => "501 Option not understood.\r\n",
            "QUIT" => {
                conn.write_all(b"221 Goodbye.\r\n").await?;
                return Ok(());
            }
            "" => continue,
            _ => LOGIN_FIRST,
        };
        conn.write_all(reply.as_bytes()).await?;
    }
    Ok(())
}

/// Splits `VERB argument` at the first space; the verb is upper-cased (ASCII, at most
/// 16 bytes kept), the argument is kept byte for byte.
pub(crate) fn split_command(line: &[u8]) -> (String, &[u8]) {
    let (verb, argument) = match memchr::memchr(b' ', line) {
        Some(space) => (
            line.get(..space).unwrap_or_default(),
            line.get(space + 1..).unwrap_or_default(),
        ),
        None => (line, &[][..]),
    };
    let verb = verb
        .iter()
        .take(16)
        .map(|byte| byte.to_ascii_uppercase() as char)
        .collect();
    (verb, argument)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_split_at_first_space_keeping_argument_bytes() {
        assert_eq!(
            split_command(b"user root"),
            ("USER".to_owned(), &b"root"[..])
        );
        assert_eq!(
            split_command(b"PASS a b\xff"),
            ("PASS".to_owned(), &b"a b\xff"[..])
        );
        assert_eq!(split_command(b"QUIT"), ("QUIT".to_owned(), &b""[..]));
        assert_eq!(split_command(b""), (String::new(), &b""[..]));
    }
}

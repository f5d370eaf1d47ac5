//! `ceiling`: the cheapest possible server for the flood's dialogs (ftp, pop3). It
//! answers USER and PASS with fixed replies, logs nothing, keeps no state and closes
//! after `--per-conn` refusals, so a flood against it measures what the machine, its
//! loopback TCP stack and the generator can do at all: the upper bound for any
//! honeypot's logins/s on this machine. The benchmark prints it beside both honeypots.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use crate::dialog::Proto;

/// Options of `ceiling`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Dialog to answer (ftp or pop3).
    #[arg(value_enum)]
    proto: Proto,
    /// Port to listen on (127.0.0.1 only).
    port: u16,
    /// Refusals per connection before closing (like the honeypots' max attempts).
    #[arg(long, default_value_t = 3)]
    per_conn: u64,
    /// Stop after this many seconds.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
}

/// Runs the server for `--seconds`, then reports the refusals sent.
pub async fn run(args: Args) -> anyhow::Result<serde_json::Value> {
    let (greeting, user_reply, refusal): (&[u8], &[u8], &[u8]) = match args.proto {
        Proto::Ftp => (
            b"220 (vsFTPd 3.0.3)\r\n",
            b"331 Please specify the password.\r\n",
            b"530 Login incorrect.\r\n",
        ),
        Proto::Pop3 => (
            b"+OK Dovecot ready.\r\n",
            b"+OK\r\n",
            b"-ERR [AUTH] Authentication failed.\r\n",
        ),
        other => anyhow::bail!("ceiling answers ftp and pop3 only, not {other:?}"),
    };
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], args.port))).await?;
    let refused = Arc::new(AtomicU64::new(0));
    let serve = async {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let refused = Arc::clone(&refused);
            let per_conn = args.per_conn;
            tokio::spawn(async move {
                let replies = (greeting, user_reply, refusal);
                let _ = answer(stream, replies, per_conn, &refused).await;
            });
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(args.seconds), serve).await;
    Ok(serde_json::json!({
        "server": "ceiling",
        "proto": format!("{:?}", args.proto).to_lowercase(),
        "refused": refused.load(Ordering::Relaxed),
    }))
}

async fn answer(
    stream: TcpStream,
    (greeting, user_reply, refusal): (&[u8], &[u8], &[u8]),
    per_conn: u64,
    refused: &AtomicU64,
) -> std::io::Result<()> {
    let mut stream = BufReader::new(stream);
    stream.get_mut().write_all(greeting).await?;
    let mut line = Vec::with_capacity(256);
    let mut count = 0;
    while count < per_conn {
        line.clear();
        if (&mut stream)
            .take(4096)
            .read_until(b'\n', &mut line)
            .await?
            == 0
        {
            break;
        }
        let verb = line.get(..4).unwrap_or_default().to_ascii_uppercase();
        let reply = if verb == b"PASS" {
            count += 1;
            refused.fetch_add(1, Ordering::Relaxed);
            refusal
        } else {
            user_reply
        };
        stream.get_mut().write_all(reply).await?;
    }
    Ok(())
}

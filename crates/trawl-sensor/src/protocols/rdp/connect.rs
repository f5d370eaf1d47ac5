//! The RDP connection sequence under TLS security (MS-RDPBCGR 1.3.1.1), run only as far
//! as the Client Info PDU: MCS Connect Initial → Connect Response, Erect Domain, Attach
//! User → Confirm, Channel Joins → Confirms, then the Client Info PDU on the I/O channel,
//! whose credentials are recorded; the answer is a "bad password" logon error and a
//! Disconnect Provider Ultimatum.

use serde_json::{Value, json};
use trawl_event::{Credential, EndReason, Mechanism, display_bytes};

use super::info::{self, ClientInfo, INFO_AUTOLOGON, SecurityPdu};
use super::mcs::{self, ClientData, DomainPdu};
use super::read_tpkt;
use crate::conn::{Conn, ConnError};
use crate::session::SessionCtx;

/// Largest TPKT accepted in the connection sequence (a Connect Initial with every
/// client data block is ~1 KiB, a Client Info PDU with long strings ~2.5 KiB).
const MAX_SEQUENCE_TPKT: usize = 16 * 1024;
/// Smallest TPKT carrying an MCS PDU (Attach User Request: 4 + 3 + 1 bytes).
const MIN_SEQUENCE_TPKT: usize = 8;
/// Most domain PDUs read before the Client Info PDU (erect, attach, 33 joins, slack).
const MAX_SEQUENCE_PDUS: usize = 64;

/// Runs the sequence after the TLS handshake; `requested` is the client's
/// `requestedProtocols`, echoed in the Server Core Data.
pub(super) async fn tls_security(
    conn: &mut Conn,
    ctx: &mut SessionCtx,
    requested: u32,
) -> Result<(), ConnError> {
    let Some(initial) = read_mcs(conn).await? else {
        return Ok(());
    };
    let Some(client) = mcs::parse_connect_initial(&initial) else {
        ctx.set_end_reason(EndReason::ProtocolError);
        return Ok(());
    };
    ctx.set_aux("rdp_client", client_aux(&client));
    let channels = client.channels.len();
    conn.write_all(&mcs::connect_response(requested, channels))
        .await?;
    let user = mcs::user_id(channels);
    for _ in 0..MAX_SEQUENCE_PDUS {
        let Some(pdu) = read_mcs(conn).await? else {
            return Ok(());
        };
        match mcs::parse_domain_pdu(&pdu) {
            Some(DomainPdu::ErectDomain) => {}
            Some(DomainPdu::AttachUser) => conn.write_all(&mcs::attach_user_confirm(user)).await?,
            Some(DomainPdu::ChannelJoin { channel }) => {
                conn.write_all(&mcs::channel_join_confirm(user, channel))
                    .await?;
            }
            Some(DomainPdu::SendData { data, .. }) => match info::parse_security_pdu(data) {
                Some(SecurityPdu::Info(info)) => return refuse_logon(conn, ctx, info).await,
                Some(SecurityPdu::Other) => {}
                Some(SecurityPdu::EncryptedInfo) | None => break,
            },
            Some(DomainPdu::DisconnectUltimatum) => return Ok(()),
            Some(DomainPdu::Other(_)) | None => break,
        }
    }
    ctx.set_end_reason(EndReason::ProtocolError);
    Ok(())
}

/// One TPKT carrying an X.224 Data TPDU; its MCS payload.
async fn read_mcs(conn: &mut Conn) -> Result<Option<Vec<u8>>, ConnError> {
    let Some(tpkt) = read_tpkt(conn, MIN_SEQUENCE_TPKT, MAX_SEQUENCE_TPKT).await? else {
        return Ok(None);
    };
    match mcs::x224_data(&tpkt) {
        Some(payload) => Ok(Some(payload.to_vec())),
        None => Err(ConnError::Protocol("RDP: not an X.224 data TPDU".into())),
    }
}

/// Records the Client Info PDU (when it names a user or carries a password) and ends
/// the session the way a refused logon does.
async fn refuse_logon(
    conn: &mut Conn,
    ctx: &mut SessionCtx,
    info: ClientInfo,
) -> Result<(), ConnError> {
    ctx.set_aux("rdp_logon", logon_aux(&info));
    if !info.user.is_empty() || !info.password.is_empty() {
        let credential = Credential::new(info.user, info.password, Mechanism::RdpClientInfo);
        ctx.record_auth(credential).await;
    }
    conn.write_all(&info::logon_failure()).await?;
    ctx.set_end_reason(EndReason::MaxAttempts);
    Ok(())
}

fn client_aux(client: &ClientData) -> Value {
    let core = client.core.as_ref().map(|core| {
        json!({
            "client_name": core.client_name,
            "client_build": core.client_build,
            "rdp_version": format!("{:#010x}", core.version),
            "keyboard_layout": format!("{:#010x}", core.keyboard_layout),
            "keyboard_type": core.keyboard_type,
            "desktop": format!("{}x{}", core.desktop_width, core.desktop_height),
            "server_selected_protocol": core.server_selected_protocol,
        })
    });
    json!({ "core": core, "channels": client.channels })
}

fn logon_aux(info: &ClientInfo) -> Value {
    let text = |bytes: &[u8]| (!bytes.is_empty()).then(|| display_bytes(bytes));
    json!({
        "domain": display_bytes(&info.domain),
        "autologon": info.flags & INFO_AUTOLOGON != 0,
        "flags": format!("{:#010x}", info.flags),
        "code_page": info.code_page,
        "alternate_shell": text(&info.alternate_shell),
        "working_dir": text(&info.working_dir),
        "client_address": info.client_address.as_deref().map(display_bytes),
        "client_dir": info.client_dir.as_deref().map(display_bytes),
    })
}

//! The SMSC of `parley bench outbound --via smpp`: an in-process SMPP 3.4 server on loopback,
//! framed and decoded with rusmpp's codec, that binds anyone and answers every submit_sm with a
//! submit_sm_resp at once (ESME_ROK and a fresh message id). It counts what it accepted and, from
//! the text (`... at <millis>`), how long each message waited since it was queued; a text without
//! that time (a campaign's) is noted by its destination and arrival time instead, for the bench
//! to match with the queueing times it reads from the database.
//!
//! Answers are written without a flush per PDU: they are flushed when no further PDU is waiting
//! in the read buffer, so a full window is answered with one write, as a real SMSC under load
//! would.

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::{SinkExt, StreamExt};
use parley_core::{Clock, SystemClock};
use rusmpp::pdus::{BindReceiverResp, BindTransceiverResp, BindTransmitterResp, SubmitSmResp};
use rusmpp::tokio_codec::CommandCodec;
use rusmpp::types::COctetString;
use rusmpp::{Command, CommandStatus, Pdu};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio_util::codec::Framed;

/// What the SMSC saw.
#[derive(Debug, Default)]
pub struct SmscStats {
    pub submitted: AtomicUsize,
    /// Milliseconds from a message's queueing (in its text) to its submit_sm.
    pub waits: Mutex<Vec<u64>>,
    /// Messages without a queueing time: the destination's digits and the arrival (millis).
    pub arrivals: Mutex<Vec<(u64, i64)>>,
}

/// A running SMSC: where to bind, and its counters.
#[derive(Debug)]
pub struct Smsc {
    pub addr: SocketAddr,
    pub stats: Arc<SmscStats>,
}

/// Starts the SMSC on a free loopback port.
pub async fn start() -> std::io::Result<Smsc> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let stats = Arc::new(SmscStats::default());
    let shared = stats.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            tokio::spawn(session(stream, shared.clone()));
        }
    });
    Ok(Smsc { addr, stats })
}

fn c_string<const MIN: usize, const MAX: usize>(s: &str) -> COctetString<MIN, MAX> {
    COctetString::from_str(s).unwrap_or_default()
}

/// The queueing time the bench writes at the end of each text (`... at <millis>`); the GSM
/// 7-bit default alphabet keeps ASCII letters, digits and space at their ASCII values.
fn queued_at(short_message: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(short_message).ok()?;
    text.rsplit(" at ").next()?.trim().parse().ok()
}

async fn session(stream: TcpStream, stats: Arc<SmscStats>) {
    let mut framed = Framed::new(stream, CommandCodec::new());
    let mut next_id: u64 = 0;
    let mut waits = Vec::new();
    let mut arrivals = Vec::new();
    while let Some(read) = framed.next().await {
        let Ok(command) = read else {
            break;
        };
        let seq = command.sequence_number();
        let (answer, last) = match command.pdu() {
            Some(Pdu::BindTransceiver(_)) => (
                Pdu::BindTransceiverResp(BindTransceiverResp::new(c_string("bench-smsc"), None)),
                false,
            ),
            Some(Pdu::BindTransmitter(_)) => (
                Pdu::BindTransmitterResp(BindTransmitterResp::new(c_string("bench-smsc"), None)),
                false,
            ),
            Some(Pdu::BindReceiver(_)) => (
                Pdu::BindReceiverResp(BindReceiverResp::new(c_string("bench-smsc"), None)),
                false,
            ),
            Some(Pdu::SubmitSm(submit)) => {
                stats.submitted.fetch_add(1, Ordering::Relaxed);
                let now = SystemClock.now().millis();
                if let Some(t) = queued_at(submit.short_message().as_ref()) {
                    waits.push(u64::try_from(now - t).unwrap_or(0));
                } else if let Some(to) = crate::bench_outbound::digits(&String::from_utf8_lossy(
                    submit.destination_addr.as_ref(),
                )) {
                    arrivals.push((to, now));
                }
                next_id += 1;
                (
                    Pdu::SubmitSmResp(SubmitSmResp::new(
                        c_string(&format!("{next_id:x}")),
                        Vec::new(),
                    )),
                    false,
                )
            }
            Some(Pdu::EnquireLink) => (Pdu::EnquireLinkResp, false),
            Some(Pdu::Unbind) => (Pdu::UnbindResp, true),
            // Answers the client sends back (deliver_sm_resp) need no answer.
            Some(Pdu::DeliverSmResp(_) | Pdu::EnquireLinkResp) => continue,
            _ => (Pdu::GenericNack, false),
        };
        if framed
            .feed(Command::new(CommandStatus::EsmeRok, seq, answer))
            .await
            .is_err()
        {
            break;
        }
        if (last || framed.read_buffer().is_empty())
            && SinkExt::<Command>::flush(&mut framed).await.is_err()
        {
            break;
        }
        if waits.len() >= 1024 {
            stats.waits.lock().await.append(&mut waits);
        }
        if arrivals.len() >= 1024 {
            stats.arrivals.lock().await.append(&mut arrivals);
        }
        if last {
            break;
        }
    }
    stats.waits.lock().await.append(&mut waits);
    stats.arrivals.lock().await.append(&mut arrivals);
}

use parley_smpp::{CommandStatus, LinkState, SmppClient, SmppError};
use serde_json::json;

use crate::harness::Smsc;

#[tokio::test]
async fn binds_as_transceiver_with_smpp_3_4() {
    let mut smsc = Smsc::start(json!({})).await;
    let (client, _inbound) = SmppClient::connect(smsc.client_config())
        .await
        .expect("bind");
    assert_eq!(client.link_state(), LinkState::Bound);
    let bind = smsc.wait_for(|e| e["ev"] == "bind_transceiver").await;
    assert_eq!(bind["system_id"], "parley");
    assert_eq!(bind["password"], "secret");
    assert_eq!(bind["system_type"], "parley");
    assert_eq!(bind["interface_version"], 0x34);
    assert_eq!(bind["accepted"], true);

    client.close().await;
    assert_eq!(client.link_state(), LinkState::Closed);
    smsc.wait_for(|e| e["ev"] == "unbind").await;
}

#[tokio::test]
async fn wrong_password_is_a_typed_bind_error() {
    let mut smsc = Smsc::start(json!({})).await;
    let mut config = smsc.client_config();
    config.password = "wrong".into();
    let err = SmppClient::connect(config)
        .await
        .expect_err("bind must fail");
    match err {
        SmppError::BindRejected { status } => {
            assert_eq!(status, CommandStatus::ESME_RINVPASWD);
            assert!(!status.is_transient());
        }
        other => panic!("expected BindRejected, got {other:?}"),
    }
    let bind = smsc.wait_for(|e| e["ev"] == "bind_transceiver").await;
    assert_eq!(bind["accepted"], false);
}

#[tokio::test]
async fn invalid_config_is_refused_before_connecting() {
    let smsc = Smsc::start(json!({})).await;
    let mut config = smsc.client_config();
    config.password = "far-too-long-password".into();
    assert!(matches!(
        SmppClient::connect(config).await,
        Err(SmppError::InvalidConfig(_))
    ));
    let mut config = smsc.client_config();
    config.window = 0;
    assert!(matches!(
        SmppClient::connect(config).await,
        Err(SmppError::InvalidConfig(_))
    ));
    assert_eq!(smsc.count(|e| e["ev"] == "connect"), 0);
}

#[tokio::test]
async fn unreachable_smsc_is_a_connect_error() {
    // Bind a port, then free it: nothing listens there.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let config = parley_smpp::SmppConfig::new("127.0.0.1", port, "parley", "secret");
    assert!(matches!(
        SmppClient::connect(config).await,
        Err(SmppError::Connect(_))
    ));
}

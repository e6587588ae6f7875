//! SMPP 3.4 `command_status` values (submit_sm_resp, bind_transceiver_resp) mapped to the error
//! catalogue. The raw status is always kept beside the code on the entry (`provider_error`).
//!
//! | command_status | SMPP name | catalogue |
//! |---|---|---|
//! | 0x01 | ESME_RINVMSGLEN | 3004 body too large |
//! | 0x104 | ESME_RINVDCS | 3001 content rejected |
//! | 0x0A, 0x48, 0x49 | ESME_RINVSRCADR, ESME_RINVSRCTON, ESME_RINVSRCNPI | 1002 source invalid |
//! | 0x0B, 0x50, 0x51 | ESME_RINVDSTADR, ESME_RINVDSTTON, ESME_RINVDSTNPI | 2001 destination invalid |
//! | 0x08, 0x14, 0x58, 0x64 | ESME_RSYSERR, ESME_RMSGQFUL, ESME_RTHROTTLED, ESME_RX_T_APPN (transient) | 0001 service unavailable |
//! | 0x04, 0x0D, 0x0E, 0x0F, 0x53 | ESME_RINVBNDSTS, ESME_RBINDFAIL, ESME_RINVPASWD, ESME_RINVSYSID, ESME_RINVSYSTYP | 0003 service misconfigured |
//! | 0x45, 0xFE, 0xFF and every other value | ESME_RSUBMITFAIL, ESME_RDELIVERYFAILURE, ESME_RUNKNOWNERR, ... | 0002 service error |

use parley_core::ErrorCode;

/// The catalogue code for an SMPP `command_status` (see the module's table).
pub const fn error_code_for_command_status(status: u32) -> ErrorCode {
    match status {
        0x01 => ErrorCode::BodyTooLarge,
        0x104 => ErrorCode::ContentRejected,
        0x0A | 0x48 | 0x49 => ErrorCode::SourceInvalid,
        0x0B | 0x50 | 0x51 => ErrorCode::DestinationInvalid,
        0x08 | 0x14 | 0x58 | 0x64 => ErrorCode::ServiceUnavailable,
        0x04 | 0x0D | 0x0E | 0x0F | 0x53 => ErrorCode::ServiceMisconfigured,
        _ => ErrorCode::ServiceError,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_statuses_map_to_the_catalogue() {
        assert_eq!(
            error_code_for_command_status(0x0B),
            ErrorCode::DestinationInvalid
        );
        assert_eq!(
            error_code_for_command_status(0x0A),
            ErrorCode::SourceInvalid
        );
        assert_eq!(error_code_for_command_status(0x01), ErrorCode::BodyTooLarge);
        assert_eq!(
            error_code_for_command_status(0x58),
            ErrorCode::ServiceUnavailable
        );
        assert_eq!(
            error_code_for_command_status(0x0E),
            ErrorCode::ServiceMisconfigured
        );
        assert_eq!(error_code_for_command_status(0x45), ErrorCode::ServiceError);
        assert_eq!(
            error_code_for_command_status(0x401),
            ErrorCode::ServiceError
        );
    }
}

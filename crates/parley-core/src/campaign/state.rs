//! A campaign's life: `draft` (editable) -> `scheduled` (waits for its start time) or `sending`
//! -> `paused` <-> `sending` -> `completed`; `cancelled` from any state before `completed`.
//! Only a draft is edited; a scheduled campaign goes back to draft when unscheduled.

use crate::campaign::CampaignState;

crate::wire_enum! {
    /// What a person (or the scheduler) asks of a campaign.
    pub enum CampaignAction: "campaign action" {
        /// Start now (draft, or scheduled ahead of its time).
        Start = "start",
        /// Start at the schedule's time (draft).
        Schedule = "schedule",
        /// Back to draft (scheduled).
        Unschedule = "unschedule",
        Pause = "pause",
        Resume = "resume",
        Cancel = "cancel",
        /// Every recipient was expanded and every message settled.
        Complete = "complete",
    }
}

/// Why an action does not apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a {state} campaign cannot {action}")]
pub struct IllegalAction {
    pub state: CampaignState,
    pub action: CampaignAction,
}

/// The state after `action`, or why not.
pub fn apply(state: CampaignState, action: CampaignAction) -> Result<CampaignState, IllegalAction> {
    let _ = (state, action);
    todo!()
}

/// Whether the campaign's content, audience and senders may still change.
pub fn editable(state: CampaignState) -> bool {
    state == CampaignState::Draft
}

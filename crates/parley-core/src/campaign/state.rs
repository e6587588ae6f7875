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
    use CampaignAction as A;
    use CampaignState as S;
    match (state, action) {
        (S::Draft | S::Scheduled, A::Start) | (S::Paused, A::Resume) => Ok(S::Sending),
        (S::Draft, A::Schedule) => Ok(S::Scheduled),
        (S::Scheduled, A::Unschedule) => Ok(S::Draft),
        (S::Sending, A::Pause) => Ok(S::Paused),
        (S::Sending, A::Complete) => Ok(S::Completed),
        (S::Draft | S::Scheduled | S::Sending | S::Paused, A::Cancel) => Ok(S::Cancelled),
        _ => Err(IllegalAction { state, action }),
    }
}

/// Whether the campaign's content, audience and senders may still change.
pub fn editable(state: CampaignState) -> bool {
    state == CampaignState::Draft
}

#[cfg(test)]
mod tests {
    use super::*;
    use CampaignAction as A;
    use CampaignState as S;

    #[test]
    fn the_whole_table() {
        let legal = [
            (S::Draft, A::Start, S::Sending),
            (S::Draft, A::Schedule, S::Scheduled),
            (S::Scheduled, A::Start, S::Sending),
            (S::Scheduled, A::Unschedule, S::Draft),
            (S::Sending, A::Pause, S::Paused),
            (S::Paused, A::Resume, S::Sending),
            (S::Sending, A::Complete, S::Completed),
            (S::Draft, A::Cancel, S::Cancelled),
            (S::Scheduled, A::Cancel, S::Cancelled),
            (S::Sending, A::Cancel, S::Cancelled),
            (S::Paused, A::Cancel, S::Cancelled),
        ];
        for state in S::ALL {
            for action in A::ALL {
                let expected = legal
                    .iter()
                    .find(|(s, a, _)| s == state && a == action)
                    .map(|(_, _, to)| *to);
                match expected {
                    Some(to) => assert_eq!(apply(*state, *action), Ok(to), "{state} {action}"),
                    None => assert_eq!(
                        apply(*state, *action),
                        Err(IllegalAction {
                            state: *state,
                            action: *action
                        }),
                        "{state} {action}"
                    ),
                }
            }
        }
    }

    #[test]
    fn finished_campaigns_stay_finished_and_only_drafts_change() {
        for action in A::ALL {
            assert!(apply(S::Completed, *action).is_err());
            assert!(apply(S::Cancelled, *action).is_err());
        }
        for state in S::ALL {
            assert_eq!(editable(*state), *state == S::Draft);
        }
        assert_eq!(
            IllegalAction {
                state: S::Completed,
                action: A::Pause
            }
            .to_string(),
            "a completed campaign cannot pause"
        );
    }
}

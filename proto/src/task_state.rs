//! Facts about task states that every component needs the same way.

use crate::v1::TaskState;

impl TaskState {
    /// Terminal states are final: no update follows, and the task's resources are free again.
    /// UNREACHABLE and UNKNOWN are not terminal — with PARTITION_AWARE the task may come back
    /// RUNNING — and neither is KILLING.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskState::TaskFinished
                | TaskState::TaskFailed
                | TaskState::TaskKilled
                | TaskState::TaskError
                | TaskState::TaskLost
                | TaskState::TaskDropped
                | TaskState::TaskGone
                | TaskState::TaskGoneByOperator
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_final_states_are_terminal() {
        let terminal: Vec<&str> = (0..=13)
            .filter_map(|n| TaskState::try_from(n).ok())
            .filter(|s| s.is_terminal())
            .map(|s| s.as_str_name())
            .collect();
        assert_eq!(
            terminal,
            [
                "TASK_FINISHED",
                "TASK_FAILED",
                "TASK_KILLED",
                "TASK_LOST",
                "TASK_ERROR",
                "TASK_DROPPED",
                "TASK_GONE",
                "TASK_GONE_BY_OPERATOR"
            ]
        );
    }
}

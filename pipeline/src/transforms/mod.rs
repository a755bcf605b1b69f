//! The stream-processing steps, each a pure function or state machine; [`crate::processor`]
//! chains them.

pub mod aggregate;
pub mod geofence;
pub mod merge;
pub mod predict;
pub mod track;

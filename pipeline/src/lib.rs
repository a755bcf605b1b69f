//! The car-tracking pipeline (work in progress).

//! ZooKeeper building blocks for the cartrack scheduler (being written).

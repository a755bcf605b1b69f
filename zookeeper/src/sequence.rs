//! Ordering of sequential znodes (`<prefix>NNNNNNNNNN`): the pure part shared by master
//! detection (lowest `json.info_` = leading master) and election (lowest `leader_` leads).

/// The sequence number of child `name` if it is `<prefix><digits>`.
pub fn sequence_of(name: &str, prefix: &str) -> Option<i64> {
    let digits = name.strip_prefix(prefix)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The child with the lowest sequence number among those named `<prefix><digits>`.
pub fn lowest<'a>(children: &'a [String], prefix: &str) -> Option<&'a str> {
    children
        .iter()
        .filter_map(|name| sequence_of(name, prefix).map(|seq| (seq, name.as_str())))
        .min()
        .map(|(_, name)| name)
}

/// Where `mine` stands among the sequential children.
#[derive(Debug, PartialEq, Eq)]
pub enum Position<'a> {
    /// `mine` has the lowest sequence number.
    First,
    /// `mine` waits behind this child (the next lower one): watch only it, no herd effect.
    Behind(&'a str),
    /// `mine` is not among the children (deleted, or our session expired).
    Missing,
}

/// Finds `mine`'s position among `children` named `<prefix><digits>`.
pub fn position<'a>(children: &'a [String], prefix: &str, mine: &str) -> Position<'a> {
    let Some(my_seq) = sequence_of(mine, prefix) else {
        return Position::Missing;
    };
    if !children.iter().any(|c| c == mine) {
        return Position::Missing;
    }
    children
        .iter()
        .filter_map(|name| sequence_of(name, prefix).map(|seq| (seq, name.as_str())))
        .filter(|(seq, _)| *seq < my_seq)
        .max()
        .map_or(Position::First, |(_, name)| Position::Behind(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn sequence_needs_prefix_and_digits() {
        assert_eq!(sequence_of("json.info_0000000012", "json.info_"), Some(12));
        assert_eq!(sequence_of("info_0000000012", "json.info_"), None);
        assert_eq!(sequence_of("json.info_", "json.info_"), None);
        assert_eq!(sequence_of("json.info_12a", "json.info_"), None);
        assert_eq!(sequence_of("json.info_-1", "json.info_"), None);
    }

    #[test]
    fn lowest_ignores_other_children_and_compares_numbers() {
        let children = names(&[
            "log_replicas",
            "json.info_0000000010",
            "info_0000000001",
            "json.info_0000000009",
        ]);
        assert_eq!(
            lowest(&children, "json.info_"),
            Some("json.info_0000000009")
        );
        assert_eq!(lowest(&names(&["log_replicas"]), "json.info_"), None);
        // Past 2^31 ZooKeeper prints 19 digits; numbers, not strings, decide.
        let wide = names(&["leader_2147483648000000000", "leader_0000000099"]);
        assert_eq!(lowest(&wide, "leader_"), Some("leader_0000000099"));
    }

    #[test]
    fn position_watches_only_the_next_lower() {
        let children = names(&[
            "leader_0000000003",
            "leader_0000000001",
            "leader_0000000007",
            "other",
        ]);
        assert_eq!(
            position(&children, "leader_", "leader_0000000001"),
            Position::First
        );
        assert_eq!(
            position(&children, "leader_", "leader_0000000007"),
            Position::Behind("leader_0000000003")
        );
        assert_eq!(
            position(&children, "leader_", "leader_0000000005"),
            Position::Missing
        );
    }
}

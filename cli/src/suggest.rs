//! "Did you mean": the closest known name to a typo, by Jaro-Winkler similarity.

/// Below this similarity a suggestion would confuse more than help.
const MIN_SIMILARITY: f64 = 0.7;

/// The known name closest to `typed`, when one is close enough to be a likely typo.
pub fn closest<'a>(typed: &str, known: &'a [String]) -> Option<&'a str> {
    known
        .iter()
        .map(|name| (strsim::jaro_winkler(typed, name), name))
        .filter(|(score, _)| *score >= MIN_SIMILARITY)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, name)| name.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn suggests_the_closest_group() {
        let groups = names(&["ingester", "processor", "indexer"]);
        assert_eq!(closest("procesor", &groups), Some("processor"));
        assert_eq!(closest("indexr", &groups), Some("indexer"));
        assert_eq!(closest("ingestor", &groups), Some("ingester"));
    }

    #[test]
    fn suggests_nothing_for_unrelated_names() {
        assert_eq!(closest("zzz", &names(&["ingester", "processor"])), None);
        assert_eq!(closest("anything", &[]), None);
    }

    #[test]
    fn suggests_slots_by_index() {
        let slots = names(&["processor-0", "processor-1", "indexer-0"]);
        assert_eq!(closest("procesor-1", &slots), Some("processor-1"));
    }
}

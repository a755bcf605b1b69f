//! Natural order for names with numbers in them, so `processor-2` comes before `processor-10`
//! and `agent-9` before `agent-10`, as an operator reads them.

use std::cmp::Ordering;

/// Compares `a` and `b` piece by piece: runs of ASCII digits by their value (then by length,
/// so `07` and `7` stay distinct and ordered), everything else character by character.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a, b);
    loop {
        match (a.chars().next(), b.chars().next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let (x_digits, x_rest) = split_digits(a);
                let (y_digits, y_rest) = split_digits(b);
                let order = compare_numbers(x_digits, y_digits);
                if order != Ordering::Equal {
                    return order;
                }
                (a, b) = (x_rest, y_rest);
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(&y);
                }
                (a, b) = (&a[x.len_utf8()..], &b[y.len_utf8()..]);
            }
        }
    }
}

fn split_digits(s: &str) -> (&str, &str) {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    s.split_at(end)
}

/// Compares two digit runs by value without parsing, so any length works.
fn compare_numbers(x: &str, y: &str) -> Ordering {
    let x_value = x.trim_start_matches('0');
    let y_value = y.trim_start_matches('0');
    x_value
        .len()
        .cmp(&y_value.len())
        .then_with(|| x_value.cmp(y_value))
        .then_with(|| x.len().cmp(&y.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(names: &[&str]) -> Vec<String> {
        let mut names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        names.sort_by(|a, b| natural_cmp(a, b));
        names
    }

    #[test]
    fn numbers_sort_by_value() {
        assert_eq!(
            sorted(&[
                "processor-10-main",
                "processor-2-main",
                "processor-1-main",
                "indexer-0-main",
                "processor-100-main",
            ]),
            [
                "indexer-0-main",
                "processor-1-main",
                "processor-2-main",
                "processor-10-main",
                "processor-100-main",
            ]
        );
    }

    #[test]
    fn text_and_leading_zeros_still_decide() {
        assert_eq!(
            sorted(&["b", "a10", "a9b", "a9a"]),
            ["a9a", "a9b", "a10", "b"]
        );
        assert_eq!(natural_cmp("v07", "v7"), Ordering::Greater);
        assert_eq!(natural_cmp("v007", "v8"), Ordering::Less);
        assert_eq!(natural_cmp("slot-2", "slot-2"), Ordering::Equal);
        assert_eq!(natural_cmp("slot", "slot-1"), Ordering::Less);
        // Longer than any integer type.
        assert_eq!(
            natural_cmp("n-123456789012345678901234567890", "n-99"),
            Ordering::Greater
        );
        assert_eq!(natural_cmp("é2", "é10"), Ordering::Less);
    }
}

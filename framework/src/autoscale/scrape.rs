//! Reading the load out of a pod's Prometheus text (`/metrics`), pure.

/// The sum of every sample of the metrics whose name ends with `suffix` (labels ignored),
/// or `None` when the text has none. Lines that do not parse are skipped: a pod's other
/// metrics are not ours to judge.
pub fn sum_by_suffix(text: &str, suffix: &str) -> Option<f64> {
    let mut sum = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let name_end = line.find(['{', ' ']).unwrap_or(line.len());
        if !line[..name_end].ends_with(suffix) {
            continue;
        }
        // After the labels (which may hold spaces inside quotes), the value is the first
        // field; a timestamp may follow.
        let rest = match line[name_end..].strip_prefix('{') {
            Some(labels) => labels.rfind('}').map(|end| &labels[end + 1..]),
            None => Some(&line[name_end..]),
        };
        let value = rest
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|value| value.parse::<f64>().ok())
            .filter(|value| value.is_finite());
        if let Some(value) = value {
            *sum.get_or_insert(0.0) += value;
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_every_labelled_sample_of_the_metric_and_nothing_else() {
        let text = "# HELP cartrack_process_consumer_lag_records Records not read yet\n\
            # TYPE cartrack_process_consumer_lag_records gauge\n\
            cartrack_process_consumer_lag_records{topic=\"cartrack.positions\"} 1200\n\
            cartrack_process_consumer_lag_records{topic=\"a b}\"} 34.5 1700000000000\n\
            cartrack_process_records_in_total{source=\"cartrack.positions\"} 99\n\
            other_consumer_lag_records_total 7\n";
        assert_eq!(sum_by_suffix(text, "_consumer_lag_records"), Some(1234.5));
        assert_eq!(sum_by_suffix(text, "_records_in_total"), Some(99.0));
    }

    #[test]
    fn a_missing_metric_is_none_not_zero() {
        assert_eq!(sum_by_suffix("up 1\n", "_consumer_lag_records"), None);
        assert_eq!(
            sum_by_suffix("x_consumer_lag_records NaN\n", "_consumer_lag_records"),
            None
        );
    }
}

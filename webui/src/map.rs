//! `GET /v1/map`: the fleet as one view, merged from every running processor's
//! `/v1/snapshot`. Processors split the vehicles by Kafka partition, so a vehicle normally
//! appears once; during a rebalance two processors may both report it, and the newest fix wins.

use std::collections::HashMap;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::natural::natural_cmp;

/// A processor slower than this is left out of one refresh rather than stalling the page.
const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(2);

/// The merged fleet.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MapView {
    /// Newest `generated_at_ms` among the snapshots.
    pub generated_at_ms: i64,
    /// One entry per vehicle (the processor's JSON: id, location, speed, predictions...).
    pub vehicles: Vec<Value>,
    /// One entry per tile: its newest closed window.
    pub tiles: Vec<Value>,
    /// Which processors answered.
    pub sources: Vec<SourceStatus>,
}

/// One processor's answer, for the page's footer and for debugging an empty map.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceStatus {
    /// The snapshot URL.
    pub url: String,
    /// None when it answered; else why not.
    pub error: Option<String>,
}

/// Merges snapshots: per vehicle the newest `timestamp_ms`, per tile the newest
/// `window_end_ms`; output in natural order of id for stable drawing.
pub fn merge(snapshots: &[Value]) -> MapView {
    let mut vehicles: HashMap<String, &Value> = HashMap::new();
    let mut tiles: HashMap<String, &Value> = HashMap::new();
    let mut generated_at_ms = 0;
    for snapshot in snapshots {
        generated_at_ms = generated_at_ms.max(int(snapshot, "generated_at_ms"));
        keep_newest(
            &mut vehicles,
            snapshot,
            "vehicles",
            "vehicle_id",
            "timestamp_ms",
        );
        keep_newest(&mut tiles, snapshot, "tiles", "tile", "window_end_ms");
    }
    MapView {
        generated_at_ms,
        vehicles: sorted(vehicles),
        tiles: sorted(tiles),
        sources: Vec::new(),
    }
}

fn keep_newest<'a>(
    into: &mut HashMap<String, &'a Value>,
    snapshot: &'a Value,
    list: &str,
    id_key: &str,
    time_key: &str,
) {
    let items = snapshot.get(list).and_then(Value::as_array);
    for item in items.into_iter().flatten() {
        let Some(id) = item.get(id_key).and_then(Value::as_str) else {
            continue;
        };
        let newer = into
            .get(id)
            .is_none_or(|seen| int(item, time_key) > int(seen, time_key));
        if newer {
            into.insert(id.to_string(), item);
        }
    }
}

fn sorted(items: HashMap<String, &Value>) -> Vec<Value> {
    let mut items: Vec<(String, &Value)> = items.into_iter().collect();
    items.sort_by(|a, b| natural_cmp(&a.0, &b.0));
    items.into_iter().map(|(_, v)| v.clone()).collect()
}

fn int(value: &Value, key: &str) -> i64 {
    value.get(key).and_then(Value::as_i64).unwrap_or(0)
}

/// Fetches `<endpoint>/v1/snapshot` from every processor at once and merges what answered.
pub async fn fetch(http: &reqwest::Client, endpoints: &[String]) -> MapView {
    let requests = endpoints.iter().map(|endpoint| async move {
        let url = format!("{}/v1/snapshot", endpoint.trim_end_matches('/'));
        let answer = async {
            http.get(&url)
                .timeout(SNAPSHOT_TIMEOUT)
                .send()
                .await?
                .error_for_status()?
                .json::<Value>()
                .await
        }
        .await;
        (url, answer)
    });
    let answers = futures::future::join_all(requests).await;
    let mut snapshots = Vec::new();
    let mut sources = Vec::new();
    for (url, answer) in answers {
        match answer {
            Ok(snapshot) => {
                snapshots.push(snapshot);
                sources.push(SourceStatus { url, error: None });
            }
            Err(err) => {
                tracing::debug!(%url, error = %err, "processor snapshot unavailable");
                sources.push(SourceStatus {
                    url,
                    error: Some(err.to_string()),
                });
            }
        }
    }
    MapView {
        sources,
        ..merge(&snapshots)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vehicle(id: &str, ts: i64, lat: f64) -> Value {
        json!({"vehicle_id": id, "timestamp_ms": ts, "location": {"lat": lat, "lon": -73.98}})
    }

    #[test]
    fn merge_keeps_the_newest_fix_per_vehicle_and_window_per_tile() {
        let a = json!({"generated_at_ms": 10, "vehicles": [vehicle("v2", 5, 40.70), vehicle("v1", 9, 40.71)],
                       "tiles": [{"tile": "dr5ru7", "window_end_ms": 100, "vehicles": 3}]});
        let b = json!({"generated_at_ms": 12, "vehicles": [vehicle("v1", 7, 40.99)],
                       "tiles": [{"tile": "dr5ru7", "window_end_ms": 110, "vehicles": 4}]});
        let view = merge(&[a, b]);
        assert_eq!(view.generated_at_ms, 12);
        assert_eq!(
            view.vehicles,
            vec![vehicle("v1", 9, 40.71), vehicle("v2", 5, 40.70)]
        );
        assert_eq!(view.tiles.len(), 1);
        assert_eq!(view.tiles[0]["vehicles"], 4);
    }

    #[test]
    fn merge_skips_entries_without_ids() {
        let view = merge(&[json!({"vehicles": [{"timestamp_ms": 1}], "tiles": "oops"})]);
        assert!(view.vehicles.is_empty() && view.tiles.is_empty());
    }

    #[tokio::test]
    async fn fetch_reports_processors_that_do_not_answer() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let dead = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let view = fetch(&reqwest::Client::new(), std::slice::from_ref(&dead)).await;
        assert!(view.vehicles.is_empty());
        assert_eq!(view.sources.len(), 1);
        assert_eq!(view.sources[0].url, format!("{dead}/v1/snapshot"));
        assert!(view.sources[0].error.is_some());
    }
}

//! Geofences: named polygons whose entries and exits raise alerts (a depot, an airport queue,
//! a congestion-charge zone).

use serde::Deserialize;

use crate::geo::polygon_contains;
use crate::model::{Alert, Crossing, GeoPoint};

/// The most geofences one processor checks: membership is kept as a 64-bit set per vehicle.
pub const MAX_GEOFENCES: usize = 64;

/// The geofences file, as written by a user (TOML).
///
/// ```toml
/// [[geofence]]
/// name = "midtown"
/// polygon = [[-73.99, 40.75], [-73.97, 40.75], [-73.97, 40.76], [-73.99, 40.76]]
/// ```
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeofencesFile {
    /// The fences, each a name and a ring of `[lon, lat]` pairs (GeoJSON order).
    #[serde(default)]
    pub geofence: Vec<GeofenceConfig>,
}

/// One fence as written by a user.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeofenceConfig {
    /// Unique name; appears in alerts.
    pub name: String,
    /// Vertices as `[lon, lat]`, at least three; the closing edge is implied.
    pub polygon: Vec<[f64; 2]>,
}

/// What is wrong with a geofences file, and how to fix it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GeofenceError {
    /// The file is not valid TOML of the expected shape.
    #[error("geofences: {0}; expected [[geofence]] tables with `name` and `polygon = [[lon, lat], ...]`")]
    Parse(String),
    /// Too many fences for the per-vehicle membership set.
    #[error("geofences: {count} fences given but at most {MAX_GEOFENCES} are supported; merge some or split them across processors")]
    TooMany {
        /// How many were given.
        count: usize,
    },
    /// A fence has an empty or repeated name.
    #[error("geofence #{index}: the name {name:?} is empty or used twice; give every fence a unique name")]
    BadName {
        /// Position in the file, from 1.
        index: usize,
        /// The offending name.
        name: String,
    },
    /// A polygon has fewer than three vertices.
    #[error("geofence {name:?}: a polygon needs at least 3 [lon, lat] vertices, got {count}")]
    TooFewVertices {
        /// The fence.
        name: String,
        /// How many vertices it had.
        count: usize,
    },
    /// A vertex is outside the WGS84 range (often lat and lon swapped).
    #[error("geofence {name:?}: vertex [{lon}, {lat}] is out of range; vertices are [lon, lat] with lon in [-180, 180] and lat in [-90, 90]")]
    VertexOutOfRange {
        /// The fence.
        name: String,
        /// The vertex's longitude.
        lon: f64,
        /// The vertex's latitude.
        lat: f64,
    },
}

#[derive(Debug, Clone, PartialEq)]
struct Geofence {
    name: String,
    ring: Vec<GeoPoint>,
}

/// A validated set of geofences, ready to test positions against.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Geofences {
    fences: Vec<Geofence>,
}

/// Which fences a vehicle is inside, one bit per fence.
pub type Membership = u64;

impl Geofences {
    /// Parses and validates a geofences TOML document.
    pub fn from_toml(text: &str) -> Result<Self, GeofenceError> {
        let file: GeofencesFile =
            toml::from_str(text).map_err(|err| GeofenceError::Parse(err.message().to_owned()))?;
        Self::validate(file)
    }

    /// Checks a parsed file and turns it into fences.
    pub fn validate(file: GeofencesFile) -> Result<Self, GeofenceError> {
        if file.geofence.len() > MAX_GEOFENCES {
            return Err(GeofenceError::TooMany {
                count: file.geofence.len(),
            });
        }
        let mut fences: Vec<Geofence> = Vec::with_capacity(file.geofence.len());
        for (index, config) in file.geofence.into_iter().enumerate() {
            let name = config.name;
            if name.trim().is_empty() || fences.iter().any(|fence| fence.name == name) {
                return Err(GeofenceError::BadName {
                    index: index + 1,
                    name,
                });
            }
            if config.polygon.len() < 3 {
                return Err(GeofenceError::TooFewVertices {
                    name,
                    count: config.polygon.len(),
                });
            }
            let mut ring = Vec::with_capacity(config.polygon.len());
            for [lon, lat] in config.polygon {
                if !(-180.0..=180.0).contains(&lon) || !(-90.0..=90.0).contains(&lat) {
                    return Err(GeofenceError::VertexOutOfRange { name, lon, lat });
                }
                ring.push(GeoPoint { lat, lon });
            }
            fences.push(Geofence { name, ring });
        }
        Ok(Self { fences })
    }

    /// Which fences contain `point`.
    pub fn membership(&self, point: GeoPoint) -> Membership {
        self.fences
            .iter()
            .enumerate()
            .filter(|(_, fence)| polygon_contains(&fence.ring, point))
            .fold(0, |set, (index, _)| set | 1 << index)
    }

    /// Appends an alert for every fence whose membership differs between `before` and `after`,
    /// for the fix of `vehicle_id` at `point` and `timestamp_ms`.
    pub fn crossings(
        &self,
        before: Membership,
        after: Membership,
        vehicle_id: &str,
        point: GeoPoint,
        timestamp_ms: i64,
        out: &mut Vec<Alert>,
    ) {
        let mut changed = before ^ after;
        while changed != 0 {
            let index = changed.trailing_zeros() as usize;
            changed &= changed - 1;
            out.push(Alert {
                vehicle_id: vehicle_id.to_owned(),
                geofence: self.fences[index].name.clone(),
                crossing: if after & (1 << index) != 0 {
                    Crossing::Enter
                } else {
                    Crossing::Exit
                },
                timestamp_ms,
                location: point,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIDTOWN: &str = r#"
        [[geofence]]
        name = "midtown"
        polygon = [[-73.99, 40.75], [-73.97, 40.75], [-73.97, 40.76], [-73.99, 40.76]]

        [[geofence]]
        name = "east"
        polygon = [[-73.98, 40.70], [-73.90, 40.70], [-73.90, 40.80], [-73.98, 40.80]]
    "#;

    fn p(lat: f64, lon: f64) -> GeoPoint {
        GeoPoint { lat, lon }
    }

    #[test]
    fn membership_and_crossings() {
        let fences = Geofences::from_toml(MIDTOWN).unwrap();
        let outside = fences.membership(p(40.70, -74.00));
        let both = fences.membership(p(40.755, -73.975));
        let east_only = fences.membership(p(40.72, -73.95));
        assert_eq!((outside, both, east_only), (0, 0b11, 0b10));

        let mut alerts = Vec::new();
        fences.crossings(outside, both, "v1", p(40.755, -73.975), 5, &mut alerts);
        fences.crossings(both, east_only, "v1", p(40.72, -73.95), 9, &mut alerts);
        let summary: Vec<_> = alerts
            .iter()
            .map(|a| (a.geofence.as_str(), a.crossing, a.timestamp_ms))
            .collect();
        assert_eq!(
            summary,
            [
                ("midtown", Crossing::Enter, 5),
                ("east", Crossing::Enter, 5),
                ("midtown", Crossing::Exit, 9)
            ]
        );
        assert_eq!(alerts[2].document_id(), "v1-midtown-exit-9");
    }

    #[test]
    fn validation_names_the_problem() {
        let err = |text: &str| Geofences::from_toml(text).unwrap_err().to_string();
        assert!(
            err("[[geofence]]\nname = \"a\"\npolygon = [[0.0, 0.0], [1.0, 1.0]]")
                .contains("at least 3")
        );
        assert!(err(
            "[[geofence]]\nname = \"a\"\npolygon = [[0.0, 0.0], [1.0, 1.0], [40.0, -200.0]]"
        )
        .contains("[lon, lat]"));
        assert!(
            err("[[geofence]]\nname = \"\"\npolygon = [[0.0, 0.0], [1.0, 1.0], [1.0, 0.0]]")
                .contains("unique")
        );
        assert!(err("[[geofence]]\nnam = \"a\"").contains("nam"));
        assert_eq!(Geofences::from_toml("").unwrap(), Geofences::default());
    }
}

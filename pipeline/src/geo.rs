//! Spherical geometry on WGS84 coordinates: the few formulas tracking and prediction need.
//!
//! A sphere (not the ellipsoid) is accurate to about 0.5 %, far below GPS noise at city scale,
//! and keeps every function a handful of floating-point operations.

use crate::model::GeoPoint;

/// Mean Earth radius in metres (IUGG), the usual choice for haversine.
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// Geohash length of a traffic tile: about 1.2 km x 0.6 km, a few city blocks.
pub const TILE_PRECISION: usize = 6;

/// Great-circle distance in metres between two points (haversine formula, stable for the short
/// distances between consecutive fixes).
pub fn haversine_m(from: GeoPoint, to: GeoPoint) -> f64 {
    let (lat1, lat2) = (from.lat.to_radians(), to.lat.to_radians());
    let d_lat = lat2 - lat1;
    let d_lon = (to.lon - from.lon).to_radians();
    let a = (d_lat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (d_lon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * a.sqrt().asin()
}

/// Initial bearing in degrees clockwise from north, in `[0, 360)`, of the great circle from
/// `from` to `to`.
pub fn initial_bearing_deg(from: GeoPoint, to: GeoPoint) -> f64 {
    let (lat1, lat2) = (from.lat.to_radians(), to.lat.to_radians());
    let d_lon = (to.lon - from.lon).to_radians();
    let y = d_lon.sin() * lat2.cos();
    let x = lat1.cos() * lat2.sin() - lat1.sin() * lat2.cos() * d_lon.cos();
    y.atan2(x).to_degrees().rem_euclid(360.0)
}

/// The point reached by travelling `distance_m` from `from` along the great circle that starts
/// at `bearing_deg`: the core of dead reckoning.
pub fn destination(from: GeoPoint, bearing_deg: f64, distance_m: f64) -> GeoPoint {
    if distance_m == 0.0 {
        return from; // A stopped vehicle: no trigonometry needed.
    }
    Course::new(from, bearing_deg).at(distance_m)
}

/// A great circle from a point at a bearing, with the trigonometry of both computed once for
/// any number of [`destination`]s along it (the same operations, so the same results).
#[derive(Debug, Clone, Copy)]
pub struct Course {
    from: GeoPoint,
    lat_sin: f64,
    lat_cos: f64,
    bearing_sin: f64,
    bearing_cos: f64,
}

impl Course {
    /// The course from `from` at `bearing_deg`.
    pub fn new(from: GeoPoint, bearing_deg: f64) -> Self {
        let lat1 = from.lat.to_radians();
        let bearing = bearing_deg.to_radians();
        Self {
            from,
            lat_sin: lat1.sin(),
            lat_cos: lat1.cos(),
            bearing_sin: bearing.sin(),
            bearing_cos: bearing.cos(),
        }
    }

    /// The point `distance_m` along the course: [`destination`].
    pub fn at(&self, distance_m: f64) -> GeoPoint {
        if distance_m == 0.0 {
            return self.from;
        }
        let angular = distance_m / EARTH_RADIUS_M;
        let lon1 = self.from.lon.to_radians();
        let lat2 =
            (self.lat_sin * angular.cos() + self.lat_cos * angular.sin() * self.bearing_cos).asin();
        let lon2 = lon1
            + (self.bearing_sin * angular.sin() * self.lat_cos)
                .atan2(angular.cos() - self.lat_sin * lat2.sin());
        GeoPoint {
            lat: lat2.to_degrees(),
            lon: wrap_lon(lon2.to_degrees()),
        }
    }
}

/// A longitude in degrees, brought into `[-180, 180]` across the antimeridian; one inside is
/// returned as it is, so ordinary results stay bit-exact.
pub(crate) fn wrap_lon(lon: f64) -> f64 {
    if (-180.0..=180.0).contains(&lon) {
        lon
    } else {
        (lon + 540.0).rem_euclid(360.0) - 180.0
    }
}

/// The geohash tile of a point. Valid coordinates always encode; `None` only for points outside
/// the WGS84 range, which validation rejects before they get here.
pub fn tile_of(point: GeoPoint) -> Option<Tile> {
    if !(-90.0..=90.0).contains(&point.lat) || !(-180.0..=180.0).contains(&point.lon) {
        return None;
    }
    // The geohash crate's encoding (its bits are the significands of the coordinates scaled
    // into [1, 2)), into an inline array: a tile is computed for every position, so it
    // allocates nothing.
    let lat = ((point.lat * (1.0 / 180.0) + 1.5).to_bits() >> 20) as u32;
    let lon = ((point.lon * (1.0 / 360.0) + 1.5).to_bits() >> 20) as u32;
    let mut bits = spread(lat) | (spread(lon) << 1);
    let mut code = [0u8; TILE_PRECISION];
    for byte in &mut code {
        *byte = GEOHASH_BASE32[(bits >> 59) as usize & 0x1f];
        bits <<= 5;
    }
    Some(Tile(code))
}

/// A geohash tile id, [`TILE_PRECISION`] characters of the geohash alphabet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tile([u8; TILE_PRECISION]);

impl std::ops::Deref for Tile {
    type Target = str;

    fn deref(&self) -> &str {
        // SAFETY: a tile is only made by `tile_of`, of bytes of `GEOHASH_BASE32`, which are
        // ASCII. (Checking was a call per use, several per position.)
        unsafe { std::str::from_utf8_unchecked(&self.0) }
    }
}

const GEOHASH_BASE32: [u8; 32] = *b"0123456789bcdefghjkmnpqrstuvwxyz";

/// The bits of `x` at the even positions of a `u64`.
fn spread(x: u32) -> u64 {
    let mut x = u64::from(x);
    x = (x | (x << 16)) & 0x0000_ffff_0000_ffff;
    x = (x | (x << 8)) & 0x00ff_00ff_00ff_00ff;
    x = (x | (x << 4)) & 0x0f0f_0f0f_0f0f_0f0f;
    x = (x | (x << 2)) & 0x3333_3333_3333_3333;
    (x | (x << 1)) & 0x5555_5555_5555_5555
}

/// The centre of a geohash tile, so tile documents can be drawn on a map.
pub fn tile_centre(tile: &str) -> Option<GeoPoint> {
    geohash::decode(tile).ok().map(|(centre, _, _)| GeoPoint {
        lat: centre.y,
        lon: centre.x,
    })
}

/// A flat east/north frame in metres around a reference point: linear filters need straight
/// axes, and at city scale the equirectangular projection's error is negligible.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LocalFrame {
    origin: GeoPoint,
    metres_per_degree_lon: f64,
}

/// Metres per degree of latitude on the mean sphere.
const METRES_PER_DEGREE_LAT: f64 = EARTH_RADIUS_M * std::f64::consts::PI / 180.0;

impl LocalFrame {
    /// A frame centred on `origin`.
    pub fn new(origin: GeoPoint) -> Self {
        Self {
            origin,
            metres_per_degree_lon: METRES_PER_DEGREE_LAT * origin.lat.to_radians().cos(),
        }
    }

    /// `(east, north)` metres of `point` from the origin.
    pub fn to_local(&self, point: GeoPoint) -> (f64, f64) {
        (
            (point.lon - self.origin.lon) * self.metres_per_degree_lon,
            (point.lat - self.origin.lat) * METRES_PER_DEGREE_LAT,
        )
    }

    /// The point `(east, north)` metres from the origin.
    pub fn to_geo(&self, east: f64, north: f64) -> GeoPoint {
        GeoPoint {
            lat: self.origin.lat + north / METRES_PER_DEGREE_LAT,
            lon: self.origin.lon + east / self.metres_per_degree_lon,
        }
    }
}

/// Whether `point` lies inside the simple polygon `ring` (vertices in order, closing edge
/// implied), by ray casting. Treating lon/lat as planar is exact enough for city-sized fences.
pub fn polygon_contains(ring: &[GeoPoint], point: GeoPoint) -> bool {
    let mut inside = false;
    let mut previous = match ring.last() {
        Some(last) => *last,
        None => return false,
    };
    for &vertex in ring {
        let crosses = (vertex.lat > point.lat) != (previous.lat > point.lat);
        if crosses {
            let lon_at_lat = vertex.lon
                + (point.lat - vertex.lat) / (previous.lat - vertex.lat)
                    * (previous.lon - vertex.lon);
            if point.lon < lon_at_lat {
                inside = !inside;
            }
        }
        previous = vertex;
    }
    inside
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(lat: f64, lon: f64) -> GeoPoint {
        GeoPoint { lat, lon }
    }

    fn assert_close(actual: f64, expected: f64, tolerance: f64) {
        assert!(
            (actual - expected).abs() <= tolerance,
            "{actual} is not within {tolerance} of {expected}"
        );
    }

    #[test]
    fn haversine_matches_known_distances() {
        // One degree of latitude on the mean sphere.
        assert_close(haversine_m(p(0.0, 0.0), p(1.0, 0.0)), 111_195.08, 0.1);
        // Paris to London, the classic check value on R = 6371 km: 343.5 km.
        assert_close(
            haversine_m(p(48.8566, 2.3522), p(51.5074, -0.1278)),
            343_556.0,
            200.0,
        );
        // Empire State Building to Times Square: about 1.1 km.
        assert_close(
            haversine_m(p(40.7484, -73.9857), p(40.7580, -73.9855)),
            1_067.6,
            2.0,
        );
        assert_eq!(haversine_m(p(40.0, -73.0), p(40.0, -73.0)), 0.0);
    }

    #[test]
    fn bearing_matches_compass_points_and_known_routes() {
        assert_close(initial_bearing_deg(p(0.0, 0.0), p(1.0, 0.0)), 0.0, 1e-9);
        assert_close(initial_bearing_deg(p(0.0, 0.0), p(0.0, 1.0)), 90.0, 1e-9);
        assert_close(initial_bearing_deg(p(1.0, 0.0), p(0.0, 0.0)), 180.0, 1e-9);
        assert_close(initial_bearing_deg(p(0.0, 1.0), p(0.0, 0.0)), 270.0, 1e-9);
        // Paris to London: 330.0 degrees (initial bearing).
        assert_close(
            initial_bearing_deg(p(48.8566, 2.3522), p(51.5074, -0.1278)),
            330.0,
            0.2,
        );
    }

    #[test]
    fn destination_inverts_distance_and_bearing() {
        let start = p(40.75, -73.98);
        let end = destination(start, 60.0, 500.0);
        assert_close(haversine_m(start, end), 500.0, 1e-6);
        assert_close(initial_bearing_deg(start, end), 60.0, 1e-6);
        assert_eq!(destination(start, 123.0, 0.0), start);
        // Wraps across the antimeridian.
        assert_close(destination(p(0.0, 179.9), 90.0, 22_239.0).lon, -179.9, 1e-3);
    }

    #[test]
    fn tiles_are_the_geohash_crates() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(6);
        let edges = [-180.0, -90.0, -45.0, 0.0, 45.0, 90.0, 180.0, -0.0, 1e-300];
        let points = (0..200_000)
            .map(|_| {
                p(
                    rng.random_range(-90.0..=90.0),
                    rng.random_range(-180.0..=180.0),
                )
            })
            .chain(edges.iter().flat_map(|&lat| edges.map(|lon| p(lat, lon))));
        for point in points {
            let expected = geohash::encode(
                geohash::Coord {
                    x: point.lon,
                    y: point.lat,
                },
                TILE_PRECISION,
            )
            .ok();
            assert_eq!(tile_of(point).as_deref(), expected.as_deref(), "{point:?}");
        }
    }

    #[test]
    fn geohash_tiles_match_reference_values() {
        // Reference values from the original geohash.org encoder.
        assert_eq!(tile_of(p(57.64911, 10.40744)).as_deref(), Some("u4pruy"));
        assert_eq!(tile_of(p(40.7484, -73.9857)).as_deref(), Some("dr5ru6"));
        let centre = tile_centre("u4pruy").unwrap();
        assert_eq!(tile_of(centre).as_deref(), Some("u4pruy"));
        assert!(tile_of(p(91.0, 0.0)).is_none());
    }

    #[test]
    fn local_frame_round_trips_and_measures_metres() {
        let frame = LocalFrame::new(p(40.75, -73.98));
        let point = destination(p(40.75, -73.98), 90.0, 1000.0);
        let (east, north) = frame.to_local(point);
        assert_close(east, 1000.0, 1.0);
        assert_close(north, 0.0, 1.0);
        let back = frame.to_geo(east, north);
        assert_close(back.lat, point.lat, 1e-12);
        assert_close(back.lon, point.lon, 1e-12);
    }

    #[test]
    fn polygon_contains_points_inside_only() {
        let square = [p(0.0, 0.0), p(0.0, 1.0), p(1.0, 1.0), p(1.0, 0.0)];
        assert!(polygon_contains(&square, p(0.5, 0.5)));
        assert!(!polygon_contains(&square, p(1.5, 0.5)));
        assert!(!polygon_contains(&square, p(0.5, -0.1)));
        assert!(!polygon_contains(&[], p(0.5, 0.5)));
        // A concave "U": the notch is outside.
        let u = [
            p(0.0, 0.0),
            p(0.0, 3.0),
            p(3.0, 3.0),
            p(3.0, 2.0),
            p(1.0, 2.0),
            p(1.0, 1.0),
            p(3.0, 1.0),
            p(3.0, 0.0),
        ];
        assert!(!polygon_contains(&u, p(2.0, 1.5)));
        assert!(polygon_contains(&u, p(2.0, 0.5)));
    }
}

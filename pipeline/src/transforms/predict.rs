//! Short-term position prediction, by several models so their errors can be compared.

use crate::geo::{Course, LocalFrame};
use crate::model::GeoPoint;

/// The two straight-line predictions from `from` along the vehicle's heading.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StraightOn {
    /// On at its own speed: the baseline every other model must beat.
    pub dead_reckoning: GeoPoint,
    /// On at the speed traffic in its tile currently moves (its own where the tile has none): a
    /// car waiting at a light will move on with the traffic, one speeding into a jam will slow
    /// down.
    pub tile_speed: GeoPoint,
}

/// Both straight-line predictions `horizon_s` ahead. They run along the same great circle, so
/// its trigonometry is computed once.
pub fn straight_on(
    from: GeoPoint,
    own_speed_mps: f64,
    heading_deg: f64,
    tile_mean_speed_mps: Option<f64>,
    horizon_s: f64,
) -> StraightOn {
    let own_m = own_speed_mps * horizon_s;
    let traffic_m = tile_mean_speed_mps.unwrap_or(own_speed_mps) * horizon_s;
    if own_m == 0.0 && traffic_m == 0.0 {
        return StraightOn {
            dead_reckoning: from,
            tile_speed: from,
        };
    }
    let course = Course::new(from, heading_deg);
    let dead_reckoning = course.at(own_m);
    StraightOn {
        dead_reckoning,
        tile_speed: if traffic_m == own_m {
            dead_reckoning
        } else {
            course.at(traffic_m)
        },
    }
}

/// Noise assumptions of the Kalman filter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KalmanConfig {
    /// Variance of the unmodelled acceleration, (m/s²)²: how hard city traffic brakes and
    /// accelerates.
    pub acceleration_variance: f64,
    /// Variance of a GPS fix along each axis, m².
    pub measurement_variance: f64,
}

impl Default for KalmanConfig {
    fn default() -> Self {
        Self {
            acceleration_variance: 1.0,
            measurement_variance: 25.0,
        }
    }
}

/// A constant-velocity Kalman filter on one flat axis: position and velocity with their 2x2
/// covariance.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
struct Axis {
    position: f64,
    velocity: f64,
    covariance: [[f64; 2]; 2],
}

/// The velocity variance assumed before a second fix shows how fast the vehicle goes, (m/s)².
const INITIAL_VELOCITY_VARIANCE: f64 = 100.0;

impl Axis {
    fn new(position: f64, config: &KalmanConfig) -> Self {
        Self {
            position,
            velocity: 0.0,
            covariance: [
                [config.measurement_variance, 0.0],
                [0.0, INITIAL_VELOCITY_VARIANCE],
            ],
        }
    }

    fn step(&mut self, dt: f64, measured: f64, config: &KalmanConfig) {
        // Predict: x = F x, P = F P F' + Q with F = [[1, dt], [0, 1]].
        let [[p00, p01], [p10, p11]] = self.covariance;
        let q = config.acceleration_variance;
        self.position += self.velocity * dt;
        let p00 = p00 + dt * (p01 + p10) + dt * dt * p11 + q * dt.powi(4) / 4.0;
        let p01 = p01 + dt * p11 + q * dt.powi(3) / 2.0;
        let p10 = p10 + dt * p11 + q * dt.powi(3) / 2.0;
        let p11 = p11 + q * dt * dt;
        // Update with the measured position (H = [1, 0]).
        let innovation = measured - self.position;
        let innovation_variance = p00 + config.measurement_variance;
        let (gain_position, gain_velocity) = (p00 / innovation_variance, p10 / innovation_variance);
        self.position += gain_position * innovation;
        self.velocity += gain_velocity * innovation;
        self.covariance = [
            [(1.0 - gain_position) * p00, (1.0 - gain_position) * p01],
            [p10 - gain_velocity * p00, p11 - gain_velocity * p01],
        ];
    }
}

/// A vehicle's Kalman filter: smooths GPS noise out of the velocity estimate, so its
/// extrapolation does not swing with every jittery fix the way dead reckoning does.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Kalman {
    frame: LocalFrame,
    east: Axis,
    north: Axis,
    last_ms: i64,
}

impl Kalman {
    /// A filter started at the vehicle's first fix.
    pub fn new(first: GeoPoint, timestamp_ms: i64, config: &KalmanConfig) -> Self {
        Self {
            frame: LocalFrame::new(first),
            east: Axis::new(0.0, config),
            north: Axis::new(0.0, config),
            last_ms: timestamp_ms,
        }
    }

    /// Folds in a newer fix; older or equal timestamps are ignored.
    pub fn observe(&mut self, point: GeoPoint, timestamp_ms: i64, config: &KalmanConfig) {
        if timestamp_ms <= self.last_ms {
            return;
        }
        let dt = (timestamp_ms - self.last_ms) as f64 / 1000.0;
        let (east, north) = self.frame.to_local(point);
        self.east.step(dt, east, config);
        self.north.step(dt, north, config);
        self.last_ms = timestamp_ms;
    }

    /// Where the filter expects the vehicle `horizon_s` after its last fix.
    pub fn predict(&self, horizon_s: f64) -> GeoPoint {
        self.frame.to_geo(
            self.east.position + self.east.velocity * horizon_s,
            self.north.position + self.north.velocity * horizon_s,
        )
    }

    /// The filtered speed, m/s.
    pub fn speed_mps(&self) -> f64 {
        self.east.velocity.hypot(self.north.velocity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geo::{destination, haversine_m, wrap_lon, EARTH_RADIUS_M};

    const START: GeoPoint = GeoPoint {
        lat: 40.75,
        lon: -73.98,
    };

    #[test]
    fn dead_reckoning_goes_straight_at_constant_speed() {
        // 10 m/s due east for 30 s: 300 m east.
        let ahead = straight_on(START, 10.0, 90.0, None, 30.0).dead_reckoning;
        assert!((haversine_m(START, ahead) - 300.0).abs() < 1e-6);
        assert!((ahead.lat - START.lat).abs() < 1e-6);
        assert!(ahead.lon > START.lon);
        assert_eq!(
            straight_on(START, 0.0, 90.0, None, 30.0).dead_reckoning,
            START
        );
    }

    #[test]
    fn tile_speed_uses_traffic_speed_when_known() {
        let with_traffic = straight_on(START, 0.0, 0.0, Some(5.0), 30.0);
        assert!((haversine_m(START, with_traffic.tile_speed) - 150.0).abs() < 1e-6);
        assert_eq!(with_traffic.dead_reckoning, START);
        assert_eq!(straight_on(START, 0.0, 0.0, None, 30.0).tile_speed, START);
    }

    #[test]
    fn both_are_the_destinations_at_their_speeds_bit_for_bit() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        for _ in 0..100_000 {
            let from = GeoPoint {
                lat: rng.random_range(-89.0..89.0),
                lon: rng.random_range(-180.0..=180.0),
            };
            let own = rng.random_range(0.0..60.0);
            let heading = rng.random_range(0.0..360.0);
            let traffic = match rng.random_range(0..3) {
                0 => None,
                1 => Some(own),
                _ => Some(rng.random_range(0.0..40.0)),
            };
            let both = straight_on(from, own, heading, traffic, 30.0);
            // The destination formula as written out for one distance, trigonometry and all.
            let along = |speed: f64| {
                if speed == 0.0 {
                    return from;
                }
                let angular = speed * 30.0 / EARTH_RADIUS_M;
                let (lat1, bearing) = (from.lat.to_radians(), heading.to_radians());
                let lat2 = (lat1.sin() * angular.cos()
                    + lat1.cos() * angular.sin() * bearing.cos())
                .asin();
                let lon2 = from.lon.to_radians()
                    + (bearing.sin() * angular.sin() * lat1.cos())
                        .atan2(angular.cos() - lat1.sin() * lat2.sin());
                GeoPoint {
                    lat: lat2.to_degrees(),
                    lon: wrap_lon(lon2.to_degrees()),
                }
            };
            assert_eq!(both.dead_reckoning, along(own));
            assert_eq!(both.tile_speed, along(traffic.unwrap_or(own)));
        }
    }

    #[test]
    fn kalman_learns_a_constant_velocity_and_extrapolates_it() {
        let config = KalmanConfig::default();
        let mut filter = Kalman::new(START, 0, &config);
        // 12 m/s heading 30 degrees, one fix a second, with +-3 m alternating noise.
        for second in 1..=60 {
            let truth = destination(START, 30.0, 12.0 * second as f64);
            let noise = if second % 2 == 0 { 3.0 } else { -3.0 };
            filter.observe(destination(truth, 120.0, noise), second * 1000, &config);
        }
        assert!(
            (filter.speed_mps() - 12.0).abs() < 0.3,
            "{}",
            filter.speed_mps()
        );
        let truth_ahead = destination(START, 30.0, 12.0 * 90.0);
        let error_m = haversine_m(filter.predict(30.0), truth_ahead);
        assert!(error_m < 15.0, "prediction is {error_m} m off");
    }

    #[test]
    fn kalman_ignores_stale_fixes() {
        let config = KalmanConfig::default();
        let mut filter = Kalman::new(START, 1_000, &config);
        let before = filter;
        filter.observe(destination(START, 0.0, 500.0), 1_000, &config);
        assert_eq!(filter, before);
    }
}

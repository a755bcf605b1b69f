//! Short-term position prediction, by several models so their errors can be compared.

use crate::geo::{destination, LocalFrame};
use crate::model::GeoPoint;

/// Straight on at constant speed and heading: the baseline every other model must beat.
pub fn dead_reckoning(
    from: GeoPoint,
    speed_mps: f64,
    heading_deg: f64,
    horizon_s: f64,
) -> GeoPoint {
    destination(from, heading_deg, speed_mps * horizon_s)
}

/// Straight on at the speed traffic in the vehicle's tile currently moves: a car waiting at a
/// light will move on with the traffic, one speeding into a jam will slow down.
pub fn tile_speed(
    from: GeoPoint,
    own_speed_mps: f64,
    heading_deg: f64,
    tile_mean_speed_mps: Option<f64>,
    horizon_s: f64,
) -> GeoPoint {
    dead_reckoning(
        from,
        tile_mean_speed_mps.unwrap_or(own_speed_mps),
        heading_deg,
        horizon_s,
    )
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
    use crate::geo::haversine_m;

    const START: GeoPoint = GeoPoint {
        lat: 40.75,
        lon: -73.98,
    };

    #[test]
    fn dead_reckoning_goes_straight_at_constant_speed() {
        // 10 m/s due east for 30 s: 300 m east.
        let ahead = dead_reckoning(START, 10.0, 90.0, 30.0);
        assert!((haversine_m(START, ahead) - 300.0).abs() < 1e-6);
        assert!((ahead.lat - START.lat).abs() < 1e-6);
        assert!(ahead.lon > START.lon);
        assert_eq!(dead_reckoning(START, 0.0, 90.0, 30.0), START);
    }

    #[test]
    fn tile_speed_uses_traffic_speed_when_known() {
        let with_traffic = tile_speed(START, 0.0, 0.0, Some(5.0), 30.0);
        assert!((haversine_m(START, with_traffic) - 150.0).abs() < 1e-6);
        assert_eq!(tile_speed(START, 0.0, 0.0, None, 30.0), START);
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

//! Per-vehicle kinematics: speed, heading and stopped/moving from consecutive fixes, for devices
//! that report only where they are.

use crate::geo::{haversine_m, initial_bearing_deg};
use crate::model::{GeoPoint, Motion, Position};

/// Tuning for motion detection.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackConfig {
    /// Below this speed (m/s) a vehicle counts as stopped; GPS jitter alone moves a parked car
    /// by a few metres between fixes, so this is not zero.
    pub stopped_below_mps: f64,
    /// Moves shorter than this (m) are jitter: they keep the previous heading.
    pub min_heading_move_m: f64,
    /// A move implying more than this speed (m/s) is a GPS jump, not driving: the fix is
    /// taken as the new position, but the previous speed and heading are kept.
    pub max_derived_speed_mps: f64,
}

impl Default for TrackConfig {
    fn default() -> Self {
        Self {
            stopped_below_mps: 0.5,
            min_heading_move_m: 2.0,
            max_derived_speed_mps: 70.0,
        }
    }
}

/// What is known about a vehicle after its latest fix.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Kinematics {
    /// Time of the fix, ms since the epoch.
    pub timestamp_ms: i64,
    /// Where it was.
    pub location: GeoPoint,
    /// Metres per second.
    pub speed_mps: f64,
    /// Degrees clockwise from north.
    pub heading_deg: f64,
    /// Stopped or moving.
    pub motion: Motion,
}

/// Why a fix did not advance a vehicle's track.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Stale {
    /// Not newer than the fix already applied: a duplicate (e.g. a redelivery after a restart)
    /// or an out-of-order fix, which would otherwise yield a nonsense speed.
    #[error("the fix is not newer than the vehicle's last fix")]
    NotNewer,
}

/// The vehicle's kinematics after `position`, given its `previous` ones (if any).
///
/// Reported speed and heading win over derived ones: devices measure them by Doppler, which is
/// far more precise than differencing two noisy fixes.
pub fn advance(
    previous: Option<&Kinematics>,
    position: &Position,
    config: &TrackConfig,
) -> Result<Kinematics, Stale> {
    let location = GeoPoint {
        lat: position.lat,
        lon: position.lon,
    };
    if previous.is_some_and(|previous| position.timestamp_ms <= previous.timestamp_ms) {
        return Err(Stale::NotNewer);
    }
    let (speed_mps, heading_deg) = match (position.speed_mps, position.heading_deg) {
        // Most devices report both: the trigonometry of deriving them is skipped.
        (Some(speed), Some(heading)) => (f64::from(speed), f64::from(heading)),
        (speed, heading) => {
            let (derived_speed, derived_heading) =
                derive(previous, location, position.timestamp_ms, config);
            (
                speed.map_or(derived_speed, f64::from),
                heading.map_or(derived_heading, f64::from),
            )
        }
    };
    let motion = if speed_mps < config.stopped_below_mps {
        Motion::Stopped
    } else {
        Motion::Moving
    };
    Ok(Kinematics {
        timestamp_ms: position.timestamp_ms,
        location,
        speed_mps,
        heading_deg,
        motion,
    })
}

/// Speed and heading from the move since `previous` (zero for a vehicle's first fix), which is
/// older than `timestamp_ms`.
fn derive(
    previous: Option<&Kinematics>,
    location: GeoPoint,
    timestamp_ms: i64,
    config: &TrackConfig,
) -> (f64, f64) {
    let Some(previous) = previous else {
        return (0.0, 0.0);
    };
    let elapsed_s = (timestamp_ms - previous.timestamp_ms) as f64 / 1000.0;
    let distance_m = haversine_m(previous.location, location);
    let speed = distance_m / elapsed_s;
    if speed > config.max_derived_speed_mps {
        (previous.speed_mps, previous.heading_deg)
    } else if distance_m >= config.min_heading_move_m {
        (speed, initial_bearing_deg(previous.location, location))
    } else {
        (speed, previous.heading_deg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geo::destination;

    fn fix(timestamp_ms: i64, point: GeoPoint) -> Position {
        Position {
            vehicle_id: "v".into(),
            timestamp_ms,
            lat: point.lat,
            lon: point.lon,
            ..Default::default()
        }
    }

    const START: GeoPoint = GeoPoint {
        lat: 40.75,
        lon: -73.98,
    };

    #[test]
    fn first_fix_is_stopped_with_no_speed() {
        let first = advance(None, &fix(1_000, START), &TrackConfig::default()).unwrap();
        assert_eq!(first.speed_mps, 0.0);
        assert_eq!(first.motion, Motion::Stopped);
    }

    #[test]
    fn derives_speed_and_heading_from_consecutive_fixes() {
        let config = TrackConfig::default();
        let first = advance(None, &fix(0, START), &config).unwrap();
        // 150 m north-east in 10 s: 15 m/s at 45 degrees.
        let second = advance(
            Some(&first),
            &fix(10_000, destination(START, 45.0, 150.0)),
            &config,
        )
        .unwrap();
        assert!(
            (second.speed_mps - 15.0).abs() < 1e-6,
            "{}",
            second.speed_mps
        );
        assert!(
            (second.heading_deg - 45.0).abs() < 1e-6,
            "{}",
            second.heading_deg
        );
        assert_eq!(second.motion, Motion::Moving);
    }

    #[test]
    fn jitter_keeps_heading_and_counts_as_stopped() {
        let config = TrackConfig::default();
        let first = advance(None, &fix(0, START), &config).unwrap();
        let moving = advance(
            Some(&first),
            &fix(10_000, destination(START, 270.0, 100.0)),
            &config,
        )
        .unwrap();
        let parked_at = destination(START, 270.0, 100.0);
        let jitter = advance(
            Some(&moving),
            &fix(20_000, destination(parked_at, 10.0, 1.0)),
            &config,
        )
        .unwrap();
        assert!((jitter.heading_deg - 270.0).abs() < 1e-6);
        assert_eq!(jitter.motion, Motion::Stopped);
    }

    #[test]
    fn a_gps_jump_moves_the_vehicle_but_keeps_its_speed_and_heading() {
        let config = TrackConfig::default();
        let first = advance(None, &fix(0, START), &config).unwrap();
        let second = advance(
            Some(&first),
            &fix(10_000, destination(START, 90.0, 100.0)),
            &config,
        )
        .unwrap();
        let jumped_to = destination(START, 0.0, 5_000.0);
        let jump = advance(Some(&second), &fix(11_000, jumped_to), &config).unwrap();
        assert_eq!(jump.location, jumped_to);
        assert!((jump.speed_mps - 10.0).abs() < 1e-6, "{}", jump.speed_mps);
        assert!(
            (jump.heading_deg - 90.0).abs() < 1e-6,
            "{}",
            jump.heading_deg
        );
    }

    #[test]
    fn reported_speed_and_heading_win() {
        let config = TrackConfig::default();
        let first = advance(None, &fix(0, START), &config).unwrap();
        let mut reported = fix(1_000, START);
        reported.speed_mps = Some(7.5);
        reported.heading_deg = Some(180.0);
        let next = advance(Some(&first), &reported, &config).unwrap();
        assert_eq!((next.speed_mps, next.heading_deg), (7.5, 180.0));
        assert_eq!(next.motion, Motion::Moving);
    }

    #[test]
    fn what_is_not_reported_is_derived() {
        let config = TrackConfig::default();
        let first = advance(None, &fix(0, START), &config).unwrap();
        // 150 m north-east in 10 s.
        let mut only_speed = fix(10_000, destination(START, 45.0, 150.0));
        only_speed.speed_mps = Some(12.5);
        let next = advance(Some(&first), &only_speed, &config).unwrap();
        assert_eq!(next.speed_mps, 12.5);
        assert!(
            (next.heading_deg - 45.0).abs() < 1e-6,
            "{}",
            next.heading_deg
        );
        let mut only_heading = only_speed.clone();
        only_heading.speed_mps = None;
        only_heading.heading_deg = Some(30.0);
        let next = advance(Some(&first), &only_heading, &config).unwrap();
        assert!((next.speed_mps - 15.0).abs() < 1e-6, "{}", next.speed_mps);
        assert_eq!(next.heading_deg, 30.0);
    }

    #[test]
    fn duplicate_and_out_of_order_fixes_are_stale() {
        let config = TrackConfig::default();
        let latest = advance(None, &fix(5_000, START), &config).unwrap();
        assert_eq!(
            advance(Some(&latest), &fix(5_000, START), &config),
            Err(Stale::NotNewer)
        );
        assert_eq!(
            advance(Some(&latest), &fix(4_000, START), &config),
            Err(Stale::NotNewer)
        );
    }
}

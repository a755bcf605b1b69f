//! Admission control for positions: every source checks each record here before producing it,
//! so one bad device or corrupt line costs a counted reject, never the stream.

use crate::model::Position;

/// Why a record was turned away; the label is the `reason` of the rejects metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum Reject {
    /// The line or body could not be parsed at all.
    #[error("the record is malformed")]
    Malformed,
    /// A CSV line had the wrong number of columns for its schema.
    #[error("the record has the wrong number of fields")]
    FieldCount,
    /// A timestamp field could not be read as a date-time or epoch number.
    #[error("the timestamp is not a date-time or epoch number")]
    BadTimestamp,
    /// No vehicle id, so the fix cannot be attributed or keyed.
    #[error("the vehicle id is empty")]
    MissingVehicleId,
    /// A coordinate, speed or heading was NaN or infinite.
    #[error("a number is not finite")]
    NotFinite,
    /// Latitude outside [-90, 90].
    #[error("the latitude is outside [-90, 90]")]
    LatitudeOutOfRange,
    /// Longitude outside [-180, 180].
    #[error("the longitude is outside [-180, 180]")]
    LongitudeOutOfRange,
    /// Exactly (0, 0): what broken GPS units report when they have no fix.
    #[error("the position is (0, 0), a GPS unit without a fix")]
    NullIsland,
    /// Too far in the future for clock skew to explain.
    #[error("the timestamp is in the future")]
    FromTheFuture,
    /// Too old to be live data.
    #[error("the timestamp is too old")]
    TooOld,
    /// Negative, or faster than any road vehicle.
    #[error("the speed is negative or implausibly high")]
    SpeedOutOfRange,
    /// Heading outside [0, 360].
    #[error("the heading is outside [0, 360]")]
    HeadingOutOfRange,
    /// The device key that sent it may not send this vehicle's positions.
    #[error("the device key may not send this vehicle id (see its vehicle_prefixes)")]
    VehicleNotAllowed,
}

impl Reject {
    /// Every reason, so metrics can show zero counts before the first reject.
    pub const ALL: [Reject; 13] = [
        Reject::Malformed,
        Reject::FieldCount,
        Reject::BadTimestamp,
        Reject::MissingVehicleId,
        Reject::NotFinite,
        Reject::LatitudeOutOfRange,
        Reject::LongitudeOutOfRange,
        Reject::NullIsland,
        Reject::FromTheFuture,
        Reject::TooOld,
        Reject::SpeedOutOfRange,
        Reject::HeadingOutOfRange,
        Reject::VehicleNotAllowed,
    ];

    /// A stable snake_case label for metrics and logs.
    pub fn label(self) -> &'static str {
        match self {
            Reject::Malformed => "malformed",
            Reject::FieldCount => "field_count",
            Reject::BadTimestamp => "bad_timestamp",
            Reject::MissingVehicleId => "missing_vehicle_id",
            Reject::NotFinite => "not_finite",
            Reject::LatitudeOutOfRange => "latitude_out_of_range",
            Reject::LongitudeOutOfRange => "longitude_out_of_range",
            Reject::NullIsland => "null_island",
            Reject::FromTheFuture => "from_the_future",
            Reject::TooOld => "too_old",
            Reject::SpeedOutOfRange => "speed_out_of_range",
            Reject::HeadingOutOfRange => "heading_out_of_range",
            Reject::VehicleNotAllowed => "vehicle_not_allowed",
        }
    }
}

/// The bounds a position must respect, relative to the time it is checked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// How far ahead of the checker's clock a timestamp may be (device clock skew).
    pub max_future_ms: i64,
    /// How far behind the checker's clock a timestamp may be (buffered devices, replays).
    pub max_age_ms: i64,
    /// The fastest plausible ground speed, m/s.
    pub max_speed_mps: f32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_future_ms: 60_000,
            max_age_ms: 7 * 24 * 3_600_000,
            max_speed_mps: 100.0,
        }
    }
}

/// Checks one position against `limits` at time `now_ms`.
pub fn validate(position: &Position, limits: &Limits, now_ms: i64) -> Result<(), Reject> {
    if position.vehicle_id.trim().is_empty() {
        return Err(Reject::MissingVehicleId);
    }
    let optional_finite = |value: Option<f32>| value.is_none_or(f32::is_finite);
    if !position.lat.is_finite()
        || !position.lon.is_finite()
        || !optional_finite(position.speed_mps)
        || !optional_finite(position.heading_deg)
    {
        return Err(Reject::NotFinite);
    }
    if !(-90.0..=90.0).contains(&position.lat) {
        return Err(Reject::LatitudeOutOfRange);
    }
    if !(-180.0..=180.0).contains(&position.lon) {
        return Err(Reject::LongitudeOutOfRange);
    }
    if position.lat == 0.0 && position.lon == 0.0 {
        return Err(Reject::NullIsland);
    }
    if position.timestamp_ms > now_ms.saturating_add(limits.max_future_ms) {
        return Err(Reject::FromTheFuture);
    }
    if position.timestamp_ms < now_ms.saturating_sub(limits.max_age_ms) {
        return Err(Reject::TooOld);
    }
    if position
        .speed_mps
        .is_some_and(|speed| !(0.0..=limits.max_speed_mps).contains(&speed))
    {
        return Err(Reject::SpeedOutOfRange);
    }
    if position
        .heading_deg
        .is_some_and(|heading| !(0.0..=360.0).contains(&heading))
    {
        return Err(Reject::HeadingOutOfRange);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000_000;

    fn valid() -> Position {
        Position {
            vehicle_id: "v1".into(),
            timestamp_ms: NOW,
            lat: 40.75,
            lon: -73.98,
            speed_mps: Some(10.0),
            heading_deg: Some(90.0),
            attributes: Default::default(),
        }
    }

    fn check(edit: impl FnOnce(&mut Position)) -> Result<(), Reject> {
        let mut position = valid();
        edit(&mut position);
        validate(&position, &Limits::default(), NOW)
    }

    #[test]
    fn accepts_a_plausible_fix() {
        assert_eq!(check(|_| {}), Ok(()));
    }

    #[test]
    fn rejects_each_kind_of_bad_fix_with_its_reason() {
        assert_eq!(
            check(|p| p.vehicle_id = " ".into()),
            Err(Reject::MissingVehicleId)
        );
        assert_eq!(check(|p| p.lat = f64::NAN), Err(Reject::NotFinite));
        assert_eq!(
            check(|p| p.speed_mps = Some(f32::INFINITY)),
            Err(Reject::NotFinite)
        );
        assert_eq!(check(|p| p.lat = 90.5), Err(Reject::LatitudeOutOfRange));
        assert_eq!(check(|p| p.lon = -180.5), Err(Reject::LongitudeOutOfRange));
        assert_eq!(
            check(|p| (p.lat, p.lon) = (0.0, 0.0)),
            Err(Reject::NullIsland)
        );
        assert_eq!(
            check(|p| p.timestamp_ms = NOW + 61_000),
            Err(Reject::FromTheFuture)
        );
        assert_eq!(check(|p| p.timestamp_ms = 0), Err(Reject::TooOld));
        assert_eq!(
            check(|p| p.speed_mps = Some(-1.0)),
            Err(Reject::SpeedOutOfRange)
        );
        assert_eq!(
            check(|p| p.speed_mps = Some(150.0)),
            Err(Reject::SpeedOutOfRange)
        );
        assert_eq!(
            check(|p| p.heading_deg = Some(361.0)),
            Err(Reject::HeadingOutOfRange)
        );
    }

    #[test]
    fn labels_are_unique() {
        let labels: std::collections::HashSet<_> = Reject::ALL.iter().map(|r| r.label()).collect();
        assert_eq!(labels.len(), Reject::ALL.len());
    }
}

//! A simulated fleet: vehicles driving a Manhattan-style street grid inside a city box, with
//! free-flow speeds, red lights, parking stops and congestion that differs from one part of the
//! city to another and drifts over time.
//!
//! Seeded and stepped by the caller with explicit time deltas, so the same seed and steps give
//! the same fixes: tests and benchmarks can rely on it.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::geo::{tile_of, LocalFrame};
use crate::model::{GeoPoint, Position};

/// A latitude/longitude rectangle the fleet stays inside.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CityBox {
    /// Southern edge, degrees.
    pub south: f64,
    /// Western edge, degrees.
    pub west: f64,
    /// Northern edge, degrees.
    pub north: f64,
    /// Eastern edge, degrees.
    pub east: f64,
}

impl CityBox {
    /// Manhattan from the Battery to about 110th Street.
    pub const MANHATTAN: CityBox = CityBox {
        south: 40.700,
        west: -74.020,
        north: 40.800,
        east: -73.930,
    };
}

/// Why a city box is unusable, and how to fix it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CityBoxError {
    /// Not four comma-separated numbers.
    #[error("--city {0:?}: expected four numbers `south,west,north,east` in degrees, e.g. `40.70,-74.02,40.80,-73.93`")]
    Syntax(String),
    /// Edges out of order or out of range, or a box too small for a street grid.
    #[error("--city {0:?}: need -90 <= south < north <= 90, -180 <= west < east <= 180, and at least 500 m each way")]
    Shape(String),
}

impl std::str::FromStr for CityBox {
    type Err = CityBoxError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let numbers: Vec<f64> = text
            .split(',')
            .map(|part| part.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .map_err(|_| CityBoxError::Syntax(text.to_owned()))?;
        let [south, west, north, east] = numbers[..] else {
            return Err(CityBoxError::Syntax(text.to_owned()));
        };
        let city = CityBox {
            south,
            west,
            north,
            east,
        };
        let (width, height) = city.size_m();
        let ordered = -90.0 <= south && south < north && north <= 90.0;
        let ordered = ordered && -180.0 <= west && west < east && east <= 180.0;
        if !ordered || width < 500.0 || height < 500.0 {
            return Err(CityBoxError::Shape(text.to_owned()));
        }
        Ok(city)
    }
}

impl CityBox {
    fn south_west(&self) -> GeoPoint {
        GeoPoint {
            lat: self.south,
            lon: self.west,
        }
    }

    /// Width (east-west) and height (north-south) in metres.
    fn size_m(&self) -> (f64, f64) {
        LocalFrame::new(self.south_west()).to_local(GeoPoint {
            lat: self.north,
            lon: self.east,
        })
    }
}

/// The fleet's shape and behaviour.
#[derive(Debug, Clone, PartialEq)]
pub struct SimulatorConfig {
    /// How many vehicles.
    pub vehicles: u32,
    /// Seed of every random choice.
    pub seed: u64,
    /// Where they drive.
    pub city: CityBox,
    /// Distance between avenues (north-south roads), m; Manhattan's is about 250.
    pub avenue_spacing_m: f64,
    /// Distance between streets (east-west roads), m; Manhattan's is about 80.
    pub street_spacing_m: f64,
    /// Speed on an empty road, m/s (11 m/s is 40 km/h, 25 mph).
    pub free_flow_mps: f64,
    /// Standard GPS error added to every fix, m.
    pub gps_noise_m: f64,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        Self {
            vehicles: 50,
            seed: 7,
            city: CityBox::MANHATTAN,
            avenue_spacing_m: 250.0,
            street_spacing_m: 80.0,
            free_flow_mps: 11.0,
            gps_noise_m: 1.5,
        }
    }
}

/// Period over which each cell's congestion swings, s.
const CONGESTION_PERIOD_S: f64 = 900.0;
/// Chance of meeting a red light at an intersection.
const RED_LIGHT_PROBABILITY: f64 = 0.25;
/// Chance of stopping to park (a delivery, a pick-up) at an intersection.
const PARKING_PROBABILITY: f64 = 0.02;

#[derive(Debug, Clone, Copy, PartialEq)]
struct Vehicle {
    /// Position in the city's local frame, m.
    east: f64,
    north: f64,
    /// The intersection being driven to, as grid indices.
    target: (i32, i32),
    /// Seconds left standing still.
    waiting_s: f64,
    /// Current speed, m/s (0 while waiting).
    speed_mps: f64,
    /// Direction of travel, degrees clockwise from north.
    heading_deg: f64,
}

/// The simulated fleet.
#[derive(Debug, Clone)]
pub struct Fleet {
    config: SimulatorConfig,
    frame: LocalFrame,
    /// Intersections along each axis: avenues (east) and streets (north).
    grid: (i32, i32),
    rng: StdRng,
    vehicles: Vec<Vehicle>,
    ids: Vec<String>,
    /// Simulated seconds since the start.
    clock_s: f64,
}

impl Fleet {
    /// A fleet with every vehicle at a random intersection.
    pub fn new(config: SimulatorConfig) -> Self {
        let frame = LocalFrame::new(config.city.south_west());
        let (width, height) = config.city.size_m();
        let grid = (
            ((width / config.avenue_spacing_m) as i32).max(1),
            ((height / config.street_spacing_m) as i32).max(1),
        );
        let mut rng = StdRng::seed_from_u64(config.seed);
        let mut vehicles = Vec::with_capacity(config.vehicles as usize);
        for _ in 0..config.vehicles {
            let at = (rng.random_range(0..=grid.0), rng.random_range(0..=grid.1));
            let mut vehicle = Vehicle {
                east: f64::from(at.0) * config.avenue_spacing_m,
                north: f64::from(at.1) * config.street_spacing_m,
                target: at,
                waiting_s: 0.0,
                speed_mps: 0.0,
                heading_deg: 0.0,
            };
            choose_next(&mut vehicle, grid, &mut rng);
            vehicles.push(vehicle);
        }
        let ids = (0..config.vehicles)
            .map(|n| format!("sim-{n:05}"))
            .collect();
        Self {
            config,
            frame,
            grid,
            rng,
            vehicles,
            ids,
            clock_s: 0.0,
        }
    }

    /// Advances every vehicle by `dt_s` simulated seconds.
    pub fn step(&mut self, dt_s: f64) {
        self.clock_s += dt_s;
        for index in 0..self.vehicles.len() {
            let mut vehicle = self.vehicles[index];
            let mut budget_s = dt_s;
            while budget_s > 0.0 {
                if vehicle.waiting_s > 0.0 {
                    let waited = vehicle.waiting_s.min(budget_s);
                    vehicle.waiting_s -= waited;
                    budget_s -= waited;
                    vehicle.speed_mps = 0.0;
                    continue;
                }
                let speed =
                    self.config.free_flow_mps * self.congestion(vehicle.east, vehicle.north);
                let (target_east, target_north) = self.intersection(vehicle.target);
                let (to_east, to_north) =
                    (target_east - vehicle.east, target_north - vehicle.north);
                let remaining_m = to_east.hypot(to_north);
                let reachable_m = speed * budget_s;
                vehicle.speed_mps = speed;
                if reachable_m < remaining_m {
                    vehicle.east += to_east / remaining_m * reachable_m;
                    vehicle.north += to_north / remaining_m * reachable_m;
                    break;
                }
                budget_s -= remaining_m / speed;
                (vehicle.east, vehicle.north) = (target_east, target_north);
                if self.rng.random_bool(PARKING_PROBABILITY) {
                    vehicle.waiting_s = self.rng.random_range(30.0..120.0);
                } else if self.rng.random_bool(RED_LIGHT_PROBABILITY) {
                    vehicle.waiting_s = self.rng.random_range(5.0..35.0);
                }
                choose_next(&mut vehicle, self.grid, &mut self.rng);
            }
            self.vehicles[index] = vehicle;
        }
    }

    /// Appends one fix per vehicle, stamped `now_ms`.
    pub fn positions(&mut self, now_ms: i64, out: &mut Vec<Position>) {
        for (vehicle, id) in self.vehicles.iter().zip(&self.ids) {
            let noise = self.config.gps_noise_m;
            let east = vehicle.east + self.rng.random_range(-noise..=noise);
            let north = vehicle.north + self.rng.random_range(-noise..=noise);
            let point = self.frame.to_geo(east, north);
            let moving = vehicle.speed_mps > 0.0;
            out.push(Position {
                vehicle_id: id.clone(),
                timestamp_ms: now_ms,
                lat: point.lat,
                lon: point.lon,
                speed_mps: Some(vehicle.speed_mps as f32),
                heading_deg: moving.then_some(vehicle.heading_deg as f32),
                attributes: Default::default(),
            });
        }
    }

    fn intersection(&self, (avenue, street): (i32, i32)) -> (f64, f64) {
        (
            f64::from(avenue) * self.config.avenue_spacing_m,
            f64::from(street) * self.config.street_spacing_m,
        )
    }

    /// The fraction of free-flow speed traffic moves at here and now, in [0.15, 1]: a fixed
    /// level per map tile (the same geohash tiles `process` aggregates, from the seed) that
    /// swings with a per-tile phase.
    fn congestion(&self, east: f64, north: f64) -> f64 {
        let tile = tile_of(self.frame.to_geo(east, north));
        let tile = tile.as_deref().unwrap_or_default();
        let hash = tile.bytes().fold(self.config.seed, |hash, byte| {
            splitmix64(hash ^ u64::from(byte))
        });
        let level = 0.3 + 0.7 * (hash & 0xffff) as f64 / 65_535.0;
        let phase = (hash >> 16 & 0xffff) as f64 / 65_535.0 * std::f64::consts::TAU;
        let swing = (self.clock_s / CONGESTION_PERIOD_S * std::f64::consts::TAU + phase).sin();
        (level * (0.8 + 0.2 * swing)).max(0.15)
    }
}

/// Picks the next intersection: mostly straight on, sometimes a turn, never off the grid.
fn choose_next(vehicle: &mut Vehicle, grid: (i32, i32), rng: &mut StdRng) {
    const DIRECTIONS: [(i32, i32, f64); 4] =
        [(0, 1, 0.0), (1, 0, 90.0), (0, -1, 180.0), (-1, 0, 270.0)];
    let (avenue, street) = vehicle.target;
    let on_grid = |(d_avenue, d_street, _): &(i32, i32, f64)| {
        (0..=grid.0).contains(&(avenue + d_avenue)) && (0..=grid.1).contains(&(street + d_street))
    };
    let straight = DIRECTIONS
        .iter()
        .find(|(_, _, heading)| (heading - vehicle.heading_deg).abs() < 1.0)
        .filter(|direction| on_grid(direction));
    let direction = match straight {
        Some(direction) if rng.random_bool(0.7) => *direction,
        _ => {
            let options: Vec<_> = DIRECTIONS.iter().filter(|d| on_grid(d)).collect();
            *options[rng.random_range(0..options.len())] // ok: every grid point has a neighbour
        }
    };
    vehicle.target = (avenue + direction.0, street + direction.1);
    vehicle.heading_deg = direction.2;
}

/// A strong 64-bit mix, so neighbouring cells get unrelated congestion.
fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(config: SimulatorConfig, steps: usize) -> Vec<Position> {
        let mut fleet = Fleet::new(config);
        let mut out = Vec::new();
        for step in 0..steps {
            fleet.step(1.0);
            fleet.positions(step as i64 * 1000, &mut out);
        }
        out
    }

    #[test]
    fn same_seed_same_fixes_other_seed_other_fixes() {
        let config = SimulatorConfig {
            vehicles: 5,
            ..SimulatorConfig::default()
        };
        let other = SimulatorConfig {
            seed: 8,
            ..config.clone()
        };
        assert_eq!(run(config.clone(), 30), run(config.clone(), 30));
        assert_ne!(run(config, 30), run(other, 30));
    }

    #[test]
    fn vehicles_stay_in_the_city_at_city_speeds_and_sometimes_stop() {
        let city = CityBox::MANHATTAN;
        let fixes = run(SimulatorConfig::default(), 300);
        assert_eq!(fixes.len(), 50 * 300);
        let margin = 0.0001; // GPS noise may step a metre or two outside.
        assert!(fixes.iter().all(|p| {
            (city.south - margin..=city.north + margin).contains(&p.lat)
                && (city.west - margin..=city.east + margin).contains(&p.lon)
        }));
        let speeds: Vec<f32> = fixes.iter().filter_map(|p| p.speed_mps).collect();
        assert!(speeds.iter().all(|&s| (0.0..=11.0).contains(&s)));
        let stopped = speeds.iter().filter(|&&s| s == 0.0).count();
        assert!(stopped > fixes.len() / 20, "only {stopped} stopped fixes");
        assert!(stopped < fixes.len() / 2, "{stopped} stopped fixes");
    }

    #[test]
    fn congestion_differs_between_tiles_and_not_within_one() {
        let fleet = Fleet::new(SimulatorConfig::default());
        // Tiles are about 1.2 km wide (east-west) at precision 6.
        let levels: Vec<f64> = (0..6)
            .map(|tile| fleet.congestion(tile as f64 * 1_300.0, 0.0))
            .collect();
        assert_eq!(fleet.congestion(10.0, 10.0), fleet.congestion(20.0, 20.0));
        let (min, max) = levels
            .iter()
            .fold((f64::MAX, f64::MIN), |(lo, hi), &l| (lo.min(l), hi.max(l)));
        assert!(max - min > 0.1, "{levels:?}");
        assert!(levels.iter().all(|l| (0.15..=1.0).contains(l)));
    }

    #[test]
    fn city_box_parsing_explains_mistakes() {
        let city: CityBox = "40.70,-74.02,40.80,-73.93".parse().unwrap();
        assert_eq!(city, CityBox::MANHATTAN);
        assert!(matches!(
            "40.7,-74.0".parse::<CityBox>(),
            Err(CityBoxError::Syntax(_))
        ));
        assert!(matches!(
            "40.8,-74.02,40.7,-73.93".parse::<CityBox>(),
            Err(CityBoxError::Shape(_))
        ));
    }
}

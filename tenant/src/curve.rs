//! The load curve: points of (time offset, tasks) read from a TOML file and checked once, at
//! start. Step interpolation: the demand is the `tasks` of the last point at or before the
//! curve time (0 before the first point), so demand is always a whole number of tasks.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// The most tasks one point may ask for: a load generator on a dev cluster, not a benchmark
/// of the master.
pub const MAX_TASKS: i64 = 10_000;

/// A time offset as the file writes it: seconds, or `"H:MM"` / `"H:MM:SS"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Offset {
    Seconds(f64),
    Clock(String),
}

impl fmt::Display for Offset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Offset::Seconds(s) => write!(f, "{s}"),
            Offset::Clock(c) => write!(f, "\"{c}\""),
        }
    }
}

impl Offset {
    /// The offset, or why it is not one.
    fn duration(&self) -> Result<Duration, String> {
        match self {
            Offset::Seconds(s) if s.is_finite() && *s >= 0.0 && *s < 1e12 => {
                Ok(Duration::from_secs_f64(*s))
            }
            Offset::Seconds(s) => Err(format!("{s} is not a number of seconds from 0 up")),
            Offset::Clock(text) => parse_clock(text)
                .ok_or_else(|| format!("\"{text}\" is not H:MM or H:MM:SS (e.g. \"06:30\")")),
        }
    }
}

/// `H:MM` or `H:MM:SS`; hours may pass 23 (`"24:00"` ends a day, `"36:00"` is a day and a half).
fn parse_clock(text: &str) -> Option<Duration> {
    let parts: Vec<&str> = text.trim().split(':').collect();
    if !(2..=3).contains(&parts.len()) {
        return None;
    }
    let number = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let hours = number(parts[0])?;
    let minutes = number(parts[1]).filter(|m| *m < 60 && parts[1].len() == 2)?;
    let seconds = match parts.get(2) {
        Some(s) => number(s).filter(|v| *v < 60 && s.len() == 2)?,
        None => 0,
    };
    Some(Duration::from_secs(
        hours.checked_mul(3600)? + minutes * 60 + seconds,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CurveFile {
    end: Option<Offset>,
    #[serde(default)]
    repeat: bool,
    task_cpus: Option<f64>,
    task_mem: Option<f64>,
    #[serde(default, rename = "point")]
    points: Vec<PointFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PointFile {
    at: Offset,
    tasks: i64,
}

/// One point: from `at` on, `tasks` tasks are wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Point {
    /// Curve time from the start.
    pub at: Duration,
    /// Tasks wanted from then on.
    pub tasks: u32,
}

/// A checked curve.
#[derive(Debug, Clone, PartialEq)]
pub struct Curve {
    points: Vec<Point>,
    end: Duration,
    repeat: bool,
    /// `task_cpus` of the file, if set.
    pub task_cpus: Option<f64>,
    /// `task_mem` of the file (MB), if set.
    pub task_mem: Option<f64>,
}

/// Why a curve file was refused; each names the place and the fix.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CurveError {
    /// Not TOML, or a key the format does not have.
    #[error("not a curve file: {0}")]
    Syntax(String),
    /// No `[[point]]`.
    #[error("no points: add at least one `[[point]]` with `at` and `tasks`, e.g. [[point]] at = \"00:00\" tasks = 2")]
    NoPoints,
    /// A point's `at` is not an offset.
    #[error("point {index}: at = {at}: {reason}")]
    BadOffset {
        /// 1-based, in file order.
        index: usize,
        /// As written.
        at: String,
        /// Why.
        reason: String,
    },
    /// A point's `at` is not after the one before.
    #[error("point {index} (at = {at}) is not after point {previous} (at = {previous_at}): list the points in time order, each at a later time")]
    NotSorted {
        /// 1-based.
        index: usize,
        /// As written.
        at: String,
        /// The point before it.
        previous: usize,
        /// Its `at` as written.
        previous_at: String,
    },
    /// A point's `tasks` is negative or too large.
    #[error(
        "point {index} (at = {at}): tasks = {tasks}: give a whole number from 0 to {MAX_TASKS}"
    )]
    BadTasks {
        /// 1-based.
        index: usize,
        /// As written.
        at: String,
        /// As written.
        tasks: i64,
    },
    /// `end` is not an offset, or comes before the last point.
    #[error("end = {end}: {reason}")]
    BadEnd {
        /// As written.
        end: String,
        /// Why and what to do.
        reason: String,
    },
    /// `repeat = true` without an `end` (the period).
    #[error("repeat = true needs `end`, the length of one period (e.g. end = \"24:00\"), after the last point")]
    RepeatWithoutEnd,
    /// `task_cpus` or `task_mem` is not a positive number.
    #[error("{key} = {value}: give a number above 0 (e.g. {example})")]
    BadTaskSize {
        /// `task_cpus` or `task_mem`.
        key: &'static str,
        /// As written.
        value: f64,
        /// A sensible value.
        example: &'static str,
    },
}

/// A curve file that could not be read or was refused.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file cannot be read.
    #[error("cannot read --curve {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file was read but refused.
    #[error("--curve {path}: {source}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Why.
        source: CurveError,
    },
}

/// Reads and checks the curve file at `path`.
pub fn load(path: &Path) -> Result<Curve, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    Curve::parse(&text).map_err(|source| LoadError::Invalid {
        path: path.to_path_buf(),
        source,
    })
}

impl Curve {
    /// Parses and checks a curve file's text.
    pub fn parse(text: &str) -> Result<Curve, CurveError> {
        let file: CurveFile =
            toml::from_str(text).map_err(|e| CurveError::Syntax(e.message().to_string()))?;
        if file.points.is_empty() {
            return Err(CurveError::NoPoints);
        }
        let mut points: Vec<Point> = Vec::with_capacity(file.points.len());
        for (i, p) in file.points.iter().enumerate() {
            let index = i + 1;
            let at = p.at.duration().map_err(|reason| CurveError::BadOffset {
                index,
                at: p.at.to_string(),
                reason,
            })?;
            if let Some(previous) = points.last() {
                if at <= previous.at {
                    return Err(CurveError::NotSorted {
                        index,
                        at: p.at.to_string(),
                        previous: i,
                        previous_at: file.points[i - 1].at.to_string(),
                    });
                }
            }
            let tasks = u32::try_from(p.tasks)
                .ok()
                .filter(|t| i64::from(*t) <= MAX_TASKS)
                .ok_or_else(|| CurveError::BadTasks {
                    index,
                    at: p.at.to_string(),
                    tasks: p.tasks,
                })?;
            points.push(Point { at, tasks });
        }
        let last = points[points.len() - 1].at;
        let end = match &file.end {
            None if file.repeat => return Err(CurveError::RepeatWithoutEnd),
            None => last,
            Some(end) => {
                let bad = |reason: String| CurveError::BadEnd {
                    end: end.to_string(),
                    reason,
                };
                let at = end.duration().map_err(bad)?;
                if file.repeat && at <= last {
                    return Err(bad(format!(
                        "with repeat = true it must be after the last point (point {}): set it to the length of one period",
                        points.len()
                    )));
                }
                if at < last {
                    return Err(bad(format!(
                        "the curve would end before its last point (point {}): move `end` after it or remove that point",
                        points.len()
                    )));
                }
                at
            }
        };
        for (key, value, example) in [
            ("task_cpus", file.task_cpus, "0.1"),
            ("task_mem", file.task_mem, "32"),
        ] {
            if let Some(v) = value.filter(|v| !(v.is_finite() && *v > 0.0)) {
                return Err(CurveError::BadTaskSize {
                    key,
                    value: v,
                    example,
                });
            }
        }
        Ok(Curve {
            points,
            end,
            repeat: file.repeat,
            task_cpus: file.task_cpus,
            task_mem: file.task_mem,
        })
    }

    /// The points, in time order.
    pub fn points(&self) -> &[Point] {
        &self.points
    }

    /// Where the curve ends (one period when it repeats).
    pub fn end(&self) -> Duration {
        self.end
    }

    /// Whether the curve starts again at its end.
    pub fn repeats(&self) -> bool {
        self.repeat
    }

    /// Tasks wanted at curve time `t`; `None` once a curve that does not repeat has ended.
    pub fn demand_at(&self, t: Duration) -> Option<u32> {
        let t = if self.repeat {
            // `end` is above 0 when repeating (it is after the last point).
            Duration::from_nanos(
                u64::try_from(t.as_nanos() % self.end.as_nanos().max(1)).unwrap_or(0),
            )
        } else if t >= self.end {
            return None;
        } else {
            t
        };
        Some(
            self.points
                .iter()
                .take_while(|p| p.at <= t)
                .last()
                .map_or(0, |p| p.tasks),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn step_interpolation_holds_each_point_until_the_next() {
        let curve = Curve::parse(
            r#"
            [[point]]
            at = 10
            tasks = 4
            [[point]]
            at = "00:01:00"
            tasks = 1
            [[point]]
            at = 120.5
            tasks = 0
            "#,
        )
        .expect("valid");
        assert_eq!(
            curve.demand_at(secs(0)),
            Some(0),
            "0 before the first point"
        );
        assert_eq!(curve.demand_at(secs(10)), Some(4));
        assert_eq!(curve.demand_at(secs(59)), Some(4));
        assert_eq!(curve.demand_at(secs(60)), Some(1));
        assert_eq!(curve.demand_at(secs(120)), Some(1));
        assert_eq!(curve.end(), Duration::from_secs_f64(120.5));
        assert_eq!(curve.demand_at(Duration::from_secs_f64(120.5)), None);
        assert!(!curve.repeats());
    }

    #[test]
    fn a_repeating_curve_starts_again_at_its_end() {
        let curve = Curve::parse(
            r#"
            repeat = true
            end = "24:00"
            task_cpus = 0.5
            task_mem = 64
            [[point]]
            at = "00:00"
            tasks = 8
            [[point]]
            at = "08:00"
            tasks = 2
            "#,
        )
        .expect("valid");
        let hours = |h: u64| secs(h * 3600);
        assert_eq!(curve.demand_at(hours(7)), Some(8));
        assert_eq!(curve.demand_at(hours(23)), Some(2));
        assert_eq!(curve.demand_at(hours(24)), Some(8));
        assert_eq!(curve.demand_at(hours(24 + 9)), Some(2));
        assert_eq!((curve.task_cpus, curve.task_mem), (Some(0.5), Some(64.0)));
    }

    #[test]
    fn refusals_name_the_point_and_the_fix() {
        let cases = [
            ("", "no points"),
            (
                "[[point]]\nat = 5\ntasks = 1\n[[point]]\nat = 5\ntasks = 2",
                "point 2 (at = 5) is not after point 1 (at = 5): list the points in time order",
            ),
            (
                "[[point]]\nat = 0\ntasks = -1",
                "point 1 (at = 0): tasks = -1: give a whole number from 0 to 10000",
            ),
            (
                "[[point]]\nat = 0\ntasks = 10001",
                "point 1 (at = 0): tasks = 10001",
            ),
            (
                "[[point]]\nat = \"6:3\"\ntasks = 1",
                "point 1: at = \"6:3\": \"6:3\" is not H:MM or H:MM:SS",
            ),
            (
                "[[point]]\nat = -4\ntasks = 1",
                "point 1: at = -4: -4 is not",
            ),
            (
                "repeat = true\n[[point]]\nat = 0\ntasks = 1",
                "repeat = true needs `end`",
            ),
            (
                "repeat = true\nend = 10\n[[point]]\nat = 10\ntasks = 1",
                "end = 10: with repeat = true it must be after the last point (point 1)",
            ),
            (
                "end = 5\n[[point]]\nat = 10\ntasks = 1",
                "end = 5: the curve would end before its last point (point 1)",
            ),
            (
                "task_cpus = 0\n[[point]]\nat = 0\ntasks = 1",
                "task_cpus = 0: give a number above 0",
            ),
            ("[[point]]\nat = 0\ntask = 1", "not a curve file"),
            ("[[points]]\nat = 0\ntasks = 1", "not a curve file"),
        ];
        for (text, expected) in cases {
            let error = Curve::parse(text).expect_err(text).to_string();
            assert!(error.contains(expected), "{text:?}: {error}");
        }
    }

    #[test]
    fn clock_offsets_allow_hours_past_a_day() {
        assert_eq!(parse_clock("36:00"), Some(secs(36 * 3600)));
        assert_eq!(parse_clock("0:00:30"), Some(secs(30)));
        assert_eq!(parse_clock("1:60"), None);
        assert_eq!(parse_clock("1"), None);
        assert_eq!(parse_clock("a:00"), None);
    }

    #[test]
    fn the_example_day_is_valid() {
        let text = include_str!("../examples/day.toml");
        let curve = Curve::parse(text).expect("examples/day.toml is valid");
        assert!(curve.repeats());
        assert_eq!(curve.end(), secs(24 * 3600));
        let night = curve.demand_at(secs(2 * 3600)).expect("demand");
        let noon = curve.demand_at(secs(12 * 3600)).expect("demand");
        assert!(night > 0 && noon > 0 && night != noon, "{night} {noon}");
    }
}

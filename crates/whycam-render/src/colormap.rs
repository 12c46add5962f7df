//! Colour maps that give matplotlib's colours.
//!
//! matplotlib turns a value into a colour through a table of 256 entries: `x` picks entry
//! `floor(x · 256)` (clamped to 0..=255). whycam does the same with the same tables:
//! - viridis, magma, inferno: the 256 colours matplotlib lists, as the colorous crate ships
//!   them (ported from d3-scale-chromatic, which took them from matplotlib);
//! - turbo: colorous only has a polynomial approximation of it, off matplotlib's table by up to
//!   32/255, so `turbo.rs` carries matplotlib's own table (Google's, Apache-2.0);
//! - jet, bwr: matplotlib's segment data (`_cm.py`), sampled at `i / 255` as matplotlib
//!   samples it;
//! - gray: `i / 255`.
//!
//! `tests/colormaps.rs` checks every map against matplotlib at 264 points.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

/// A colour map from `[0, 1]` to RGB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Colormap {
    /// matplotlib's `jet` (what pytorch-grad-cam's `show_cam_on_image` uses, via OpenCV).
    #[default]
    Jet,
    /// Google's turbo: a rainbow like jet, but perceptually smoother.
    Turbo,
    /// Black through purple and orange to light yellow.
    Magma,
    /// Black through purple and orange to yellow.
    Inferno,
    /// Dark blue through green to yellow; matplotlib's default.
    Viridis,
    /// Black to white.
    Gray,
    /// Diverging blue-white-red; for signed maps, with zero in the middle.
    Bwr,
}

/// A colour table of 256 entries.
type Table = [[u8; 3]; 256];

/// `(x, value)` control points of one channel, interpolated linearly.
type Segments = &'static [(f64, f64)];

const JET: [Segments; 3] = [
    &[
        (0.0, 0.0),
        (0.35, 0.0),
        (0.66, 1.0),
        (0.89, 1.0),
        (1.0, 0.5),
    ],
    &[
        (0.0, 0.0),
        (0.125, 0.0),
        (0.375, 1.0),
        (0.64, 1.0),
        (0.91, 0.0),
        (1.0, 0.0),
    ],
    &[
        (0.0, 0.5),
        (0.11, 1.0),
        (0.34, 1.0),
        (0.65, 0.0),
        (1.0, 0.0),
    ],
];

/// matplotlib's `bwr`: blue (0, 0, 1) to white to red (1, 0, 0).
const BWR: [Segments; 3] = [
    &[(0.0, 0.0), (0.5, 1.0), (1.0, 1.0)],
    &[(0.0, 0.0), (0.5, 1.0), (1.0, 0.0)],
    &[(0.0, 1.0), (0.5, 1.0), (1.0, 0.0)],
];

impl Colormap {
    /// Every colour map, in the order `--help` lists them.
    pub const ALL: [Colormap; 7] = [
        Colormap::Jet,
        Colormap::Turbo,
        Colormap::Magma,
        Colormap::Inferno,
        Colormap::Viridis,
        Colormap::Gray,
        Colormap::Bwr,
    ];

    /// The name accepted by [`FromStr`] (matplotlib's).
    pub fn name(self) -> &'static str {
        match self {
            Colormap::Jet => "jet",
            Colormap::Turbo => "turbo",
            Colormap::Magma => "magma",
            Colormap::Inferno => "inferno",
            Colormap::Viridis => "viridis",
            Colormap::Gray => "gray",
            Colormap::Bwr => "bwr",
        }
    }

    /// Whether the map is diverging: its middle stands for zero of a signed map.
    pub fn is_diverging(self) -> bool {
        self == Colormap::Bwr
    }

    /// The colour of `value`, as matplotlib's `cmap(value)` gives it (values outside `[0, 1]`
    /// take the end colours; NaN counts as 0).
    pub fn rgb(self, value: f32) -> [u8; 3] {
        let index = if value.is_nan() || value <= 0.0 {
            0
        } else {
            ((value * 256.0) as usize).min(255)
        };
        self.table()[index]
    }

    fn table(self) -> &'static Table {
        static TABLES: [OnceLock<Table>; 7] = [const { OnceLock::new() }; 7];
        let slot = Colormap::ALL
            .iter()
            .position(|&c| c == self)
            .expect("every map is in ALL");
        TABLES[slot].get_or_init(|| build_table(self))
    }
}

fn build_table(map: Colormap) -> Table {
    let from_colorous = |g: colorous::Gradient| {
        std::array::from_fn(|i| {
            let c = g.eval_rational(i, 256);
            [c.r, c.g, c.b]
        })
    };
    let from_segments = |s: &[Segments; 3]| {
        std::array::from_fn(|i| s.map(|channel| to_u8(interpolate(channel, i as f64 / 255.0))))
    };
    match map {
        Colormap::Jet => from_segments(&JET),
        Colormap::Bwr => from_segments(&BWR),
        Colormap::Turbo => crate::turbo::TABLE.map(|rgb| rgb.map(to_u8)),
        Colormap::Magma => from_colorous(colorous::MAGMA),
        Colormap::Inferno => from_colorous(colorous::INFERNO),
        Colormap::Viridis => from_colorous(colorous::VIRIDIS),
        Colormap::Gray => std::array::from_fn(|i| [i as u8; 3]),
    }
}

fn to_u8(v: f64) -> u8 {
    (v.clamp(0.0, 1.0) * 255.0).round() as u8
}

fn interpolate(segments: Segments, x: f64) -> f64 {
    for pair in segments.windows(2) {
        let ((x0, y0), (x1, y1)) = (pair[0], pair[1]);
        if x <= x1 {
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0);
        }
    }
    segments.last().map_or(0.0, |s| s.1)
}

impl fmt::Display for Colormap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Colormap {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        Colormap::ALL
            .into_iter()
            .find(|c| c.name() == wanted || (wanted == "grey" && *c == Colormap::Gray))
            .ok_or_else(|| {
                format!(
                    "unknown colour map \"{s}\"; known: {}",
                    Colormap::ALL.map(Colormap::name).join(", ")
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_list_the_known() {
        for map in Colormap::ALL {
            assert_eq!(map.name().parse::<Colormap>().unwrap(), map);
        }
        assert_eq!("Grey".parse::<Colormap>().unwrap(), Colormap::Gray);
        assert!("nope".parse::<Colormap>().unwrap_err().contains("viridis"));
    }

    #[test]
    fn ends_nan_and_diverging_middle() {
        assert_eq!(Colormap::Jet.rgb(0.0), [0, 0, 128]);
        assert_eq!(Colormap::Jet.rgb(1.0), [128, 0, 0]);
        assert_eq!(Colormap::Gray.rgb(2.0), [255; 3]);
        assert_eq!(Colormap::Gray.rgb(f32::NAN), [0; 3]);
        assert!(Colormap::Bwr.is_diverging() && !Colormap::Jet.is_diverging());
        // 0.5 picks entry 128, just right of white.
        assert_eq!(Colormap::Bwr.rgb(0.5), [255, 254, 254]);
    }
}

//! Colour maps, defined as matplotlib defines them (`_cm.py` segment data).

use std::fmt;
use std::str::FromStr;

/// A colour map from `[0, 1]` to RGB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Colormap {
    /// matplotlib's `jet` (what pytorch-grad-cam's `show_cam_on_image` uses, via OpenCV).
    #[default]
    Jet,
    /// Black to white.
    Gray,
}

/// `(x, value)` control points of one channel, interpolated linearly.
type Segments = &'static [(f32, f32)];

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

impl Colormap {
    /// Every colour map, in the order `--help` lists them.
    pub const ALL: [Colormap; 2] = [Colormap::Jet, Colormap::Gray];

    /// The name accepted by [`FromStr`].
    pub fn name(self) -> &'static str {
        match self {
            Colormap::Jet => "jet",
            Colormap::Gray => "gray",
        }
    }

    /// The colour of `value` (clamped to `[0, 1]`; NaN counts as 0).
    pub fn rgb(self, value: f32) -> [u8; 3] {
        let v = if value.is_nan() {
            0.0
        } else {
            value.clamp(0.0, 1.0)
        };
        let channel = |c: f32| (c * 255.0).round() as u8;
        match self {
            Colormap::Jet => JET.map(|s| channel(interpolate(s, v))),
            Colormap::Gray => [channel(v); 3],
        }
    }
}

fn interpolate(segments: Segments, x: f32) -> f32 {
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
    fn jet_matches_matplotlib_ends_and_middle() {
        // matplotlib: cm.jet(0.0) = (0, 0, 0.5), cm.jet(1.0) = (0.5, 0, 0), cm.jet(0.5) ≈ (0.49, 1, 0.48).
        assert_eq!(Colormap::Jet.rgb(0.0), [0, 0, 128]);
        assert_eq!(Colormap::Jet.rgb(1.0), [128, 0, 0]);
        let mid = Colormap::Jet.rgb(0.5);
        assert!(mid[1] == 255 && (120..=130).contains(&mid[0]) && (118..=128).contains(&mid[2]));
        assert_eq!(Colormap::Gray.rgb(2.0), [255; 3]);
        assert_eq!("Grey".parse::<Colormap>().unwrap(), Colormap::Gray);
        assert!("nope".parse::<Colormap>().unwrap_err().contains("jet"));
    }
}

//! Borrowed views of the explained input and of its map, checked once on construction.

use crate::{EvalError, Result};

/// One input image, channels × height × width, row-major, in the model's normalised space.
#[derive(Debug, Clone, Copy)]
pub struct Chw<'a> {
    data: &'a [f32],
    channels: usize,
    height: usize,
    width: usize,
}

impl<'a> Chw<'a> {
    /// Wraps `data` as `[channels, height, width]`; the length must match and every value be
    /// finite.
    pub fn new(data: &'a [f32], [channels, height, width]: [usize; 3]) -> Result<Self> {
        check(data, "input", [channels, height, width])?;
        Ok(Self {
            data,
            channels,
            height,
            width,
        })
    }

    /// The values, row-major CHW.
    pub fn data(&self) -> &'a [f32] {
        self.data
    }

    /// Number of channels.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Pixels per channel.
    pub fn plane(&self) -> usize {
        self.height * self.width
    }
}

/// A saliency map, height × width, row-major, in [0, 1] (the peers' maps after upsampling and
/// min-max scaling; see [`crate::upsample_and_scale`]).
#[derive(Debug, Clone, Copy)]
pub struct Map<'a> {
    data: &'a [f32],
    height: usize,
    width: usize,
}

impl<'a> Map<'a> {
    /// Wraps `data` as `[height, width]`; the length must match and every value be finite.
    /// Values are not clamped: a metric ranks or multiplies by them as given.
    pub fn new(data: &'a [f32], [height, width]: [usize; 2]) -> Result<Self> {
        check(data, "map", [1, height, width])?;
        Ok(Self {
            data,
            height,
            width,
        })
    }

    /// The values, row-major.
    pub fn data(&self) -> &'a [f32] {
        self.data
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Checks that the map covers `input` pixel for pixel.
    pub(crate) fn check_covers(&self, input: &Chw<'_>) -> Result<()> {
        if (self.height, self.width) != (input.height(), input.width()) {
            return Err(EvalError::Shape {
                what: "map",
                expected: format!("{}×{} (the input's size)", input.height(), input.width()),
                got: format!("{}×{}", self.height, self.width),
            });
        }
        Ok(())
    }
}

fn check(data: &[f32], what: &'static str, [c, h, w]: [usize; 3]) -> Result<()> {
    let expected = c.checked_mul(h).and_then(|n| n.checked_mul(w));
    if h == 0 || w == 0 || c == 0 || expected != Some(data.len()) {
        return Err(EvalError::Shape {
            what,
            expected: if what == "map" {
                format!("{h}×{w} values, none of them 0")
            } else {
                format!("{c}×{h}×{w} values, none of them 0")
            },
            got: format!("{} values", data.len()),
        });
    }
    if let Some((index, &value)) = data.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(EvalError::NotFinite { what, index, value });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_and_values_are_checked() {
        assert!(Chw::new(&[0.0; 12], [3, 2, 2]).is_ok());
        assert!(matches!(
            Chw::new(&[0.0; 11], [3, 2, 2]),
            Err(EvalError::Shape { what: "input", .. })
        ));
        assert!(matches!(
            Map::new(&[], [0, 0]),
            Err(EvalError::Shape { what: "map", .. })
        ));
        let err = Map::new(&[0.0, f32::NAN], [1, 2]).unwrap_err();
        assert!(
            matches!(err, EvalError::NotFinite { index: 1, .. }),
            "{err}"
        );
        let input = [0.0; 12];
        let input = Chw::new(&input, [3, 2, 2]).unwrap();
        let map = [0.0; 6];
        assert!(
            Map::new(&map, [2, 3])
                .unwrap()
                .check_covers(&input)
                .is_err()
        );
        assert!(
            Map::new(&map[..4], [2, 2])
                .unwrap()
                .check_covers(&input)
                .is_ok()
        );
    }
}

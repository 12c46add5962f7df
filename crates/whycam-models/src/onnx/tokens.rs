//! Transformer layers as CAM targets: a value that is a token sequence `[N, prefix + h·w, C]`
//! (ViT, DeiT: class and distillation tokens first) or a channels-last grid `[N, h, w, C]`
//! (Swin) is presented to the explanation pipeline as a map `[N, C, h, w]`, as
//! pytorch-grad-cam's `reshape_transform` does (`tensor[:, 1:, :].reshape(n, h, w, c)`, then
//! channels first). A replacement map is put back into the layer's layout, the prefix tokens
//! (which the map does not cover) taken from the trace.

use super::value::Float;
use burn::prelude::*;

/// How a layer's value is laid out, and so how it becomes a `[N, C, h, w]` map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerLayout {
    /// Already a map `[N, C, h, w]`.
    Map,
    /// Tokens `[N, prefix + h·w, C]`; the `prefix` leading tokens are dropped.
    Tokens {
        /// Leading tokens outside the grid (1 for ViT's class token).
        prefix: usize,
        /// The patch grid `(h, w)`.
        grid: (usize, usize),
    },
    /// Channels last, `[N, h, w, C]` (Swin, ConvNeXt's inner layers).
    ChannelsLast,
    /// Tokens `[N, length, C]` whose grid is unknown: `length` is neither a square plus one
    /// nor a square and no (fitting) `--tokens-grid` was given. Refused as a target.
    UnknownGrid {
        /// The number of tokens.
        length: usize,
    },
}

/// `n`'s integer square root, when `n` is a perfect square.
fn exact_sqrt(n: usize) -> Option<usize> {
    let r = (n as f64).sqrt().round() as usize;
    (r * r == n).then_some(r)
}

impl LayerLayout {
    /// The most leading tokens (class, distillation, register tokens) a `--tokens-grid` may
    /// leave outside its grid.
    pub const MAX_PREFIX: usize = 16;

    /// The layout of a token sequence of `length` tokens: on the grid given, when it fits with
    /// at most [`MAX_PREFIX`](Self::MAX_PREFIX) leading tokens; else a square grid after one class token, or a
    /// square grid of all of them.
    pub fn of_tokens(length: usize, grid: Option<(usize, usize)>) -> LayerLayout {
        if let Some((h, w)) = grid {
            let cells = h.saturating_mul(w);
            return if cells >= 1 && length >= cells && length - cells <= Self::MAX_PREFIX {
                LayerLayout::Tokens {
                    prefix: length - cells,
                    grid: (h, w),
                }
            } else {
                LayerLayout::UnknownGrid { length }
            };
        }
        let square = |prefix: usize| {
            exact_sqrt(length.checked_sub(prefix)?)
                .filter(|&s| s >= 2)
                .map(|s| LayerLayout::Tokens {
                    prefix,
                    grid: (s, s),
                })
        };
        square(1)
            .or_else(|| square(0))
            .unwrap_or(LayerLayout::UnknownGrid { length })
    }

    /// Whether the layer is a transformer's (anything but a plain map).
    pub fn is_tokens(self) -> bool {
        !matches!(self, LayerLayout::Map)
    }

    /// The map shape `[N, C, h, w]` of a value of shape `dims` (`None`: not presentable).
    pub fn map_shape(self, dims: &[usize]) -> Option<[usize; 4]> {
        match (self, dims) {
            (LayerLayout::Map, &[n, c, h, w]) => Some([n, c, h, w]),
            (LayerLayout::ChannelsLast, &[n, h, w, c]) => Some([n, c, h, w]),
            (LayerLayout::Tokens { prefix, grid }, &[n, l, c]) if l == prefix + grid.0 * grid.1 => {
                Some([n, c, grid.0, grid.1])
            }
            _ => None,
        }
    }

    /// The value as a map `[N, C, h, w]`.
    pub fn to_map(self, value: &Float) -> Result<Tensor<4>, String> {
        let dims = value.dims();
        let Some([n, c, h, w]) = self.map_shape(&dims) else {
            if let LayerLayout::UnknownGrid { length } = self {
                return Err(format!(
                    "its {length} tokens have no known grid; pass --tokens-grid HxW"
                ));
            }
            return Err(format!(
                "a value of shape {dims:?} is not laid out as {self:?}"
            ));
        };
        Ok(match self {
            LayerLayout::Map => value.tensor::<4>(),
            LayerLayout::ChannelsLast => value.tensor::<4>().permute([0, 3, 1, 2]),
            LayerLayout::Tokens { prefix, .. } => value
                .tensor::<3>()
                .narrow(1, prefix, h * w)
                .reshape([n, h, w, c])
                .permute([0, 3, 1, 2]),
            LayerLayout::UnknownGrid { .. } => unreachable!("no map shape"),
        })
    }

    /// The leading tokens of a token value (`None` when there are none to keep).
    pub fn prefix_tokens(self, value: &Float) -> Option<Float> {
        match self {
            LayerLayout::Tokens { prefix, .. } if prefix > 0 && value.rank == 3 => {
                Some(Float::from_tensor(value.tensor::<3>().narrow(1, 0, prefix)))
            }
            _ => None,
        }
    }

    /// A map `[N, C, h, w]` back in the layer's layout, after `prefix` tokens `[N, p, C]`
    /// (zeros when none are given).
    pub fn from_map(self, map: Tensor<4>, prefix: Option<Float>) -> Result<Float, String> {
        let [n, c, h, w] = map.dims();
        Ok(match self {
            LayerLayout::Map => Float::from_tensor(map),
            LayerLayout::ChannelsLast => Float::from_tensor(map.permute([0, 2, 3, 1])),
            LayerLayout::Tokens { prefix: p, grid } => {
                if grid != (h, w) {
                    return Err(format!(
                        "a {h}x{w} map for a {}x{} token grid",
                        grid.0, grid.1
                    ));
                }
                let patches: Tensor<3> = map.permute([0, 2, 3, 1]).reshape([n, h * w, c]);
                if p == 0 {
                    return Ok(Float::from_tensor(patches));
                }
                let lead = match prefix {
                    Some(f) if f.dims() == [n, p, c] => f.tensor::<3>(),
                    Some(f) => {
                        return Err(format!(
                            "prefix tokens {:?} for a [{n}, {p}, {c}] prefix",
                            f.dims()
                        ));
                    }
                    None => Tensor::zeros([n, p, c], &patches.device()),
                };
                Float::from_tensor(Tensor::cat(vec![lead, patches], 1))
            }
            LayerLayout::UnknownGrid { length } => {
                return Err(format!("{length} tokens on no known grid"));
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grids_are_inferred_from_the_token_count() {
        assert_eq!(
            LayerLayout::of_tokens(197, None),
            LayerLayout::Tokens {
                prefix: 1,
                grid: (14, 14)
            }
        );
        assert_eq!(
            LayerLayout::of_tokens(49, None),
            LayerLayout::Tokens {
                prefix: 0,
                grid: (7, 7)
            }
        );
        assert_eq!(
            LayerLayout::of_tokens(198, None),
            LayerLayout::UnknownGrid { length: 198 }
        );
        assert_eq!(
            LayerLayout::of_tokens(198, Some((14, 14))),
            LayerLayout::Tokens {
                prefix: 2,
                grid: (14, 14)
            }
        );
        assert_eq!(
            LayerLayout::of_tokens(197, Some((7, 28))),
            LayerLayout::Tokens {
                prefix: 1,
                grid: (7, 28)
            }
        );
        assert_eq!(
            LayerLayout::of_tokens(197, Some((7, 7))),
            LayerLayout::UnknownGrid { length: 197 },
            "148 leading tokens are not a prefix"
        );
        assert_eq!(
            LayerLayout::of_tokens(10, Some((4, 4))),
            LayerLayout::UnknownGrid { length: 10 }
        );
    }

    #[test]
    fn tokens_round_trip_through_the_map() {
        let device = Device::default();
        // [1, 1 + 2·3, 2]: token t, channel c holds 10 t + c.
        let data: Vec<f32> = (0..7)
            .flat_map(|t| (0..2).map(move |c| (10 * t + c) as f32))
            .collect();
        let tokens = Float::from_vec(data.clone(), &[1, 7, 2], &device);
        let layout = LayerLayout::Tokens {
            prefix: 1,
            grid: (2, 3),
        };
        let map = layout.to_map(&tokens).unwrap();
        assert_eq!(map.dims(), [1, 2, 2, 3]);
        let values = map.clone().into_data().try_to_vec::<f32>().unwrap();
        // Channel 1, row 1, column 0 is patch 3, token 4: 41.
        assert_eq!(values[6 + 3], 41.0);
        assert_eq!(values[0], 10.0, "the class token is dropped");
        let back = layout.from_map(map, layout.prefix_tokens(&tokens)).unwrap();
        assert_eq!(back.dims(), [1, 7, 2]);
        assert_eq!(back.to_vec(), data);
        let channels_last =
            Float::from_vec((0..12).map(|v| v as f32).collect(), &[1, 2, 3, 2], &device);
        let map = LayerLayout::ChannelsLast.to_map(&channels_last).unwrap();
        assert_eq!(map.dims(), [1, 2, 2, 3]);
        let back = LayerLayout::ChannelsLast.from_map(map, None).unwrap();
        assert_eq!(back.to_vec(), channels_last.to_vec());
    }
}

//! 3x3 convolutions with stride 1 by Winograd's minimal filtering F(2x2, 3x3) (Lavin and Gray,
//! "Fast Algorithms for Convolutional Neural Networks", CVPR 2016), as NNPACK and oneDNN
//! compute these layers on CPUs.
//!
//! Each 2x2 block of outputs ("tile") is `Aᵀ [Σ_c (G g Gᵀ) ⊙ (Bᵀ d B)] A` for the 4x4 input
//! patch `d` under it: per tile 16 products per input channel where the direct convolution
//! needs 36, and the sum over the input channels is 16 GEMMs (one per position `ξ` of the 4x4
//! transformed patch), `M[ξ] = U[ξ] · V[ξ]` with `U[ξ]` the `[c_out, c_in]` transformed
//! filters and `V[ξ]` the `[c_in, tiles]` transformed patches. Each task takes a run of whole
//! rows of tiles (about 1 MiB of transformed patches) of one image. The transforms use only
//! the coefficients 1 and ½, so the result equals the direct convolution up to float32
//! rounding (tested against an f64 direct sum here and burn's convolution in `conv::tests`).
//!
//! Measured against the GEMM kernel on ResNet's shapes (2 threads, AVX2): 56x56 with 64
//! channels 1.2x as fast at batch 1 and 1.2-1.5x at batch 8, 28x28 with 128 channels 1.0-1.3x
//! and 1.4-1.9x (`tests::timing`).

use crate::kernels::{Conv2dShape, Epilogue, Output};
use rayon::prelude::*;
use std::cell::RefCell;

/// Fewest input and output channels worth the transforms (the stems' 3 inputs are not).
const MIN_CHANNELS: usize = 16;
/// Fewest tiles per image worth the transforms: a 20x20 output. The transformed filters are
/// `16·c_out·c_in` floats, made at each call, and at batch 1 a 14x14 output (ResNet's third
/// stage, 49 tiles) leaves GEMMs of 14 tiles per core: 0.65-1.0x the GEMM kernel's speed
/// there (1.3x at batch 8, but the choice cannot depend on the batch).
const MIN_TILES: usize = 100;
/// Transformed patches per task at most: `16·c_in·tiles` floats (1 MiB).
const BLOCK_BUDGET: usize = 1 << 18;
/// Tiles per task at most.
const MAX_TILES: usize = 128;

/// Whether `s` is a convolution [`conv2d`] computes, and faster than the GEMM kernel.
pub(crate) fn suits(s: &Conv2dShape) -> bool {
    s.kernel == [3, 3]
        && s.stride == [1, 1]
        && s.dilation == [1, 1]
        && s.groups == 1
        && s.c_in >= MIN_CHANNELS
        && s.c_out >= MIN_CHANNELS
        && Grid::of(s).tiles() >= MIN_TILES
}

thread_local! {
    /// Each thread's transformed patches, products and row buffers, kept between calls.
    static BUFFERS: RefCell<Buffers> = const {
        RefCell::new(Buffers {
            patches: Vec::new(),
            products: Vec::new(),
            rows: Vec::new(),
        })
    };
}

struct Buffers {
    patches: Vec<f32>,
    products: Vec<f32>,
    /// Scratch rows of the transforms.
    rows: Vec<f32>,
}

/// `conv2d(x, w, bias)` for a shape that [`suits`], into `out` (NCHW).
pub(crate) fn conv2d(
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    s: &Conv2dShape,
    epilogue: Epilogue,
    out: &mut [std::mem::MaybeUninit<f32>],
) {
    let threads = rayon::current_num_threads().max(1);
    let (c, k) = (s.c_in, s.c_out);
    let grid = Grid::of(s);
    let filters = transform_filters(w, c, k);
    // Each task takes whole rows of tiles, about `BLOCK_BUDGET / (16·c)` tiles (at most 128),
    // and an image has at least two tasks per core. Chosen from one image's shape (never the
    // batch), so that an image's values do not depend on the batch it is in.
    let target = (BLOCK_BUDGET / (16 * c.max(k))).clamp(16, MAX_TILES);
    let rows_per_task = (target / grid.wide)
        .max(1)
        .min(grid.high.div_ceil(2 * threads));
    let tasks_per_image = grid.high.div_ceil(rows_per_task);
    let in_len = c * s.in_plane();
    let output = Output::new(out);
    (0..s.batch * tasks_per_image)
        .into_par_iter()
        .for_each(|task| {
            let (b, first) = (
                task / tasks_per_image,
                (task % tasks_per_image) * rows_per_task,
            );
            let tile_rows = first..(first + rows_per_task).min(grid.high);
            let n = tile_rows.len() * grid.wide;
            BUFFERS.with_borrow_mut(|buffers| {
                let Buffers {
                    patches,
                    products,
                    rows,
                } = buffers;
                patches.resize(16 * c * n, 0.0);
                products.resize(16 * k * n, 0.0);
                rows.resize(2 * (grid.wide + 1), 0.0);
                let image = &x[b * in_len..(b + 1) * in_len];
                transform_patches(image, s, &grid, tile_rows.clone(), patches, rows);
                for xi in 0..16 {
                    // SAFETY: `products[xi]` is `[k, n]`, `filters[xi]` `[k, c]` and
                    // `patches[xi]` `[c, n]`, all row-major and inside their buffers.
                    unsafe {
                        gemm::gemm(
                            k,
                            n,
                            c,
                            products.as_mut_ptr().add(xi * k * n),
                            1,
                            n as isize,
                            false,
                            filters.as_ptr().add(xi * k * c),
                            1,
                            c as isize,
                            patches.as_ptr().add(xi * c * n),
                            1,
                            n as isize,
                            0.0f32,
                            1.0f32,
                            false,
                            false,
                            false,
                            gemm::Parallelism::None,
                        );
                    }
                }
                let task = Task {
                    s,
                    grid: &grid,
                    image: b,
                    tile_rows,
                };
                write_tiles(products, bias, &task, epilogue, output, rows);
            });
        });
}

/// The tiles of an output plane: `high` rows of `wide` 2x2 tiles.
struct Grid {
    high: usize,
    wide: usize,
}

impl Grid {
    fn of(s: &Conv2dShape) -> Self {
        Self {
            high: s.out[0].div_ceil(2),
            wide: s.out[1].div_ceil(2),
        }
    }

    fn tiles(&self) -> usize {
        self.high * self.wide
    }
}

/// The rows of tiles of one image that one task computes.
struct Task<'a> {
    s: &'a Conv2dShape,
    grid: &'a Grid,
    image: usize,
    tile_rows: std::ops::Range<usize>,
}

/// `G g Gᵀ` of every 3x3 filter, as `[ξ][c_out][c_in]` (`G = [1 0 0; ½ ½ ½; ½ -½ ½; 0 0 1]`).
fn transform_filters(w: &[f32], c: usize, k: usize) -> Vec<f32> {
    let mut u = vec![0.0f32; 16 * k * c];
    for (filter_index, g) in w.chunks_exact(9).enumerate() {
        let (o, i) = (filter_index / c, filter_index % c);
        // G g: 4 rows of 3.
        let mut gg = [[0.0f32; 3]; 4];
        for j in 0..3 {
            let (g0, g1, g2) = (g[j], g[3 + j], g[6 + j]);
            gg[0][j] = g0;
            gg[1][j] = 0.5 * (g0 + g1 + g2);
            gg[2][j] = 0.5 * (g0 - g1 + g2);
            gg[3][j] = g2;
        }
        for (r, row) in gg.iter().enumerate() {
            let [g0, g1, g2] = *row;
            let values = [g0, 0.5 * (g0 + g1 + g2), 0.5 * (g0 - g1 + g2), g2];
            for (q, v) in values.into_iter().enumerate() {
                u[((r * 4 + q) * k + o) * c + i] = v;
            }
        }
    }
    u
}

/// `Bᵀ d B` of the 4x4 input patch `d` of each tile, for every channel, as `[ξ][c_in][tile]`
/// (`Bᵀ = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]`). Tile `(ty, tx)`'s patch starts at input
/// row `2·ty - pad_top` and column `2·tx - pad_left`; outside the image it is zero. A row of
/// tiles at a time: each of its 4 input rows is split into even and odd columns (`e`, `o`),
/// so that `d B`'s four columns are `e[t] - e[t+1]`, `o[t] + e[t+1]`, `e[t+1] - o[t]` and
/// `o[t] - o[t+1]`, loops over contiguous tiles.
fn transform_patches(
    image: &[f32],
    s: &Conv2dShape,
    grid: &Grid,
    tile_rows: std::ops::Range<usize>,
    patches: &mut [f32],
    scratch: &mut [f32],
) {
    let [h, w] = s.size;
    let [pt, pl] = s.pad;
    let (c, wide) = (s.c_in, grid.wide);
    let n = tile_rows.len() * wide;
    let (even, rest) = scratch.split_at_mut(wide + 1);
    let odd = &mut rest[..wide + 1];
    let mut columns = [[[0.0f32; MAX_ROW]; 4]; 4];
    for ci in 0..c {
        let plane = &image[ci * h * w..(ci + 1) * h * w];
        for (r, ty) in tile_rows.clone().enumerate() {
            let mut t0 = 0;
            while t0 < wide {
                let len = MAX_ROW.min(wide - t0);
                for (i, cols) in columns.iter_mut().enumerate() {
                    let y = (2 * ty + i).checked_sub(pt).filter(|&y| y < h);
                    let input = y.map(|y| &plane[y * w..(y + 1) * w]);
                    // Columns 2·t0 - pl .. 2·(t0 + len) + 2 - pl of the padded row.
                    for t in 0..=len {
                        let column = |q: usize| {
                            let x = (2 * (t0 + t) + q).checked_sub(pl)?;
                            input.and_then(|row| row.get(x)).copied()
                        };
                        even[t] = column(0).unwrap_or(0.0);
                        odd[t] = column(1).unwrap_or(0.0);
                    }
                    let [c0, c1, c2, c3] = cols;
                    for t in 0..len {
                        c0[t] = even[t] - even[t + 1];
                        c1[t] = odd[t] + even[t + 1];
                        c2[t] = even[t + 1] - odd[t];
                        c3[t] = odd[t] - odd[t + 1];
                    }
                }
                // Bᵀ (d B): combine the four rows.
                let [d0, d1, d2, d3] = &columns;
                for q in 0..4 {
                    let at = |xi: usize| (xi * c + ci) * n + r * wide + t0;
                    let combos: [(usize, &[f32; MAX_ROW], &[f32; MAX_ROW], f32); 4] = [
                        (q, &d0[q], &d2[q], -1.0),
                        (4 + q, &d1[q], &d2[q], 1.0),
                        (8 + q, &d2[q], &d1[q], -1.0),
                        (12 + q, &d1[q], &d3[q], -1.0),
                    ];
                    for (xi, a, b, sign) in combos {
                        let dst = &mut patches[at(xi)..at(xi) + len];
                        for ((d, &a), &b) in dst.iter_mut().zip(a).zip(b) {
                            *d = a + sign * b;
                        }
                    }
                }
                t0 += len;
            }
        }
    }
}

/// Tiles per pass of the transforms' row loops (their scratch rows stay in registers or the
/// first-level cache).
const MAX_ROW: usize = 32;

/// `Aᵀ m A` of each tile's 16 products (`Aᵀ = [1 1 1 0; 0 1 -1 -1]`) plus the bias, through
/// the epilogue, into the task's image of the output: the tile's 2x2 outputs that lie inside
/// it. A row of tiles at a time, as [`transform_patches`].
fn write_tiles(
    products: &[f32],
    bias: Option<&[f32]>,
    task: &Task<'_>,
    epilogue: Epilogue,
    output: Output,
    scratch: &mut [f32],
) {
    let s = task.s;
    let [oh, ow] = s.out;
    let wide = task.grid.wide;
    let (k, n) = (s.c_out, task.tile_rows.len() * wide);
    let (left, rest) = scratch.split_at_mut(wide);
    let right = &mut rest[..wide];
    for o in 0..k {
        let start = bias.map_or(0.0, |bias| bias[o]);
        let plane = (task.image * k + o) * s.out_plane();
        for (r, ty) in task.tile_rows.clone().enumerate() {
            let m: [&[f32]; 16] =
                std::array::from_fn(|xi| &products[(xi * k + o) * n + r * wide..][..wide]);
            for i in 0..2 {
                let y = 2 * ty + i;
                if y >= oh {
                    break;
                }
                // Row i of Aᵀ m: m[j] + m[4 + j] + m[8 + j], or m[4 + j] - m[8 + j] - m[12 + j]
                // (a sign of ±1 changes no rounding), then its two columns.
                let (first, sign) = if i == 0 { (0, 1.0f32) } else { (4, -1.0) };
                for t in 0..wide {
                    let am: [f32; 4] = std::array::from_fn(|j| {
                        m[first + j][t] + sign * m[first + 4 + j][t] + sign * m[first + 8 + j][t]
                    });
                    left[t] = am[0] + am[1] + am[2] + start;
                    right[t] = am[1] - am[2] - am[3] + start;
                }
                for t in 0..wide {
                    let x = 2 * t;
                    // SAFETY: outputs (y, x) and (y, x + 1) of plane (image, o) lie in this
                    // task's rows of tiles, which no other task writes.
                    unsafe {
                        let at = plane + y * ow + x;
                        *output.at(at) = epilogue.value_at(left[t], at);
                        if x + 1 < ow {
                            *output.at(at + 1) = epilogue.value_at(right[t], at + 1);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::tests::{values, written};

    fn shape(batch: usize, c: usize, k: usize, size: [usize; 2], pad: [usize; 2]) -> Conv2dShape {
        Conv2dShape {
            batch,
            c_in: c,
            size,
            c_out: k,
            kernel: [3, 3],
            stride: [1, 1],
            dilation: [1, 1],
            pad,
            groups: 1,
            // Padding `pad` before and after.
            out: [size[0] + 2 * pad[0] - 2, size[1] + 2 * pad[1] - 2],
        }
    }

    /// The direct sum in f64.
    fn naive(x: &[f32], w: &[f32], bias: &[f32], s: &Conv2dShape) -> Vec<f64> {
        let [h, wd] = s.size;
        let [oh, ow] = s.out;
        let mut out = vec![0.0f64; s.output_len()];
        for b in 0..s.batch {
            for o in 0..s.c_out {
                for y in 0..oh {
                    for xo in 0..ow {
                        let mut sum = f64::from(bias[o]);
                        for c in 0..s.c_in {
                            for i in 0..3 {
                                for j in 0..3 {
                                    let (Some(iy), Some(ix)) = (
                                        (y + i).checked_sub(s.pad[0]).filter(|&v| v < h),
                                        (xo + j).checked_sub(s.pad[1]).filter(|&v| v < wd),
                                    ) else {
                                        continue;
                                    };
                                    sum += f64::from(x[((b * s.c_in + c) * h + iy) * wd + ix])
                                        * f64::from(w[((o * s.c_in + c) * 3 + i) * 3 + j]);
                                }
                            }
                        }
                        out[((b * s.c_out + o) * oh + y) * ow + xo] = sum;
                    }
                }
            }
        }
        out
    }

    #[test]
    fn tiles_equal_the_direct_sum() {
        // Odd and even output sizes (a last row or column of half tiles), no padding, blocks
        // that end inside a row, and a rectified epilogue.
        for (s, rectify) in [
            (shape(2, 16, 24, [21, 19], [1, 1]), None),
            (shape(1, 20, 16, [24, 23], [0, 0]), Some(f32::INFINITY)),
            (shape(1, 64, 32, [28, 28], [1, 1]), Some(6.0)),
        ] {
            assert!(suits(&s), "{s:?}");
            let x = values(s.batch * s.c_in * s.size[0] * s.size[1], 1);
            let w = values(s.c_out * s.c_in * 9, 2);
            let bias = values(s.c_out, 3);
            let out = written(s.output_len(), |o| {
                conv2d(&x, &w, Some(&bias), &s, Epilogue::rectified(rectify), o)
            });
            let expected = naive(&x, &w, &bias, &s);
            // Each output sums 9·c_in products of values below 1.
            let bound = 1e-6 * (9 * s.c_in) as f64;
            for (i, (&got, &want)) in out.iter().zip(&expected).enumerate() {
                let want = match rectify {
                    Some(high) => want.clamp(0.0, f64::from(high)),
                    None => want,
                };
                assert!(
                    (f64::from(got) - want).abs() <= bound,
                    "{s:?} output {i}: {got} against {want}"
                );
            }
        }
    }

    #[test]
    fn an_image_has_the_same_values_alone_and_in_a_batch() {
        let s = shape(3, 32, 32, [20, 21], [1, 1]);
        let image_len = s.c_in * s.size[0] * s.size[1];
        let x = values(s.batch * image_len, 4);
        let w = values(s.c_out * s.c_in * 9, 5);
        let e = Epilogue::rectified(None);
        let batch = written(s.output_len(), |o| conv2d(&x, &w, None, &s, e, o));
        let one = Conv2dShape { batch: 1, ..s };
        let out_len = one.output_len();
        for b in 0..s.batch {
            let image = &x[b * image_len..(b + 1) * image_len];
            let alone = written(out_len, |o| conv2d(image, &w, None, &one, e, o));
            assert_eq!(alone, batch[b * out_len..(b + 1) * out_len], "image {b}");
        }
    }

    #[test]
    fn small_planes_and_few_channels_stay_on_the_gemm_kernel() {
        assert!(!suits(&shape(8, 512, 512, [7, 7], [1, 1])));
        assert!(!suits(&shape(1, 3, 64, [224, 224], [1, 1])));
        assert!(!suits(&shape(1, 256, 256, [14, 14], [1, 1])));
        assert!(suits(&shape(1, 128, 128, [28, 28], [1, 1])));
        let strided = Conv2dShape {
            stride: [2, 2],
            out: [28, 28],
            ..shape(1, 64, 64, [56, 56], [1, 1])
        };
        assert!(!suits(&strided));
    }

    /// Time against the GEMM kernel on ResNet's shapes:
    /// `cargo test --release -p whycam-models --lib winograd::tests::timing -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn timing() {
        for (batch, c, size) in [
            (1, 64, 56),
            (8, 64, 56),
            (1, 128, 28),
            (8, 128, 28),
            (1, 256, 14),
            (8, 256, 14),
            (8, 512, 7),
        ] {
            let s = shape(batch, c, c, [size, size], [1, 1]);
            let x = values(batch * c * size * size, 1);
            let w = values(c * c * 9, 2);
            let e = Epilogue::rectified(None);
            let time = |f: &dyn Fn(&mut [std::mem::MaybeUninit<f32>])| {
                let mut o = Vec::with_capacity(s.output_len());
                let o = &mut o.spare_capacity_mut()[..s.output_len()];
                f(o);
                let t = std::time::Instant::now();
                for _ in 0..10 {
                    f(o);
                }
                t.elapsed().as_secs_f64() * 1e3 / 10.0
            };
            let wino = time(&|o| conv2d(&x, &w, None, &s, e, o));
            let gemm = time(&|o| crate::kernels::dense(&x, &w, None, &s, e, o));
            println!(
                "b{batch} c{c} {size}x{size}: winograd {wino:.2} ms, gemm {gemm:.2} ms ({:.2}x)",
                gemm / wino
            );
        }
    }
}

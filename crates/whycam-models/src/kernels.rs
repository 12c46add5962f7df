//! Forward convolution kernels on contiguous NCHW `f32` buffers, used by [`crate::conv`] in
//! place of burn-flex's `conv2d` for the shapes CNN classifiers are made of.
//!
//! burn-flex 0.22 converts every input of a dense convolution to NHWC on one thread, builds
//! the im2col matrix in NHWC order, scatters each tile's result back to NCHW, and splits
//! the work over the batch and 512-pixel tiles only, so at batch 1 the small planes of a
//! network's last stages (7x7 = 49 pixels) run on one core, as do 1x1 convolutions below its
//! GEMM threshold. Here:
//!
//! - **dense and grouped** convolutions are one GEMM per (image, group, tile of output
//!   pixels), `out[M, tile] = W[M, K] · col[K, tile]` with `W` read in its own
//!   `[C_out, C_in/groups·kh·kw]` layout and the result written in place into the NCHW
//!   output (no transposes). The column matrix is built straight from NCHW rows (a shifted
//!   copy per kernel tap), or is the input itself for a 1x1 convolution with stride 1. When
//!   there are fewer tiles than cores, the output channels are split over the cores instead.
//! - **depthwise** convolutions (`groups = C_in = C_out`) are direct, in register tiles of
//!   4x8 outputs over a zero-padded copy of each plane ([`crate::depthwise`]).
//! - **dense 3x3 with stride 1** on outputs of 20x20 or more go to [`crate::winograd`].
//!
//! The bias is added to each tile while it is in cache. The GEMM is the `gemm` crate's (the
//! one burn-flex and faer use), which picks AVX-512, AVX2+FMA or scalar code at run time.
//! Results equal burn's up to the order of floating-point additions.

use rayon::prelude::*;
use std::cell::RefCell;
use std::mem::MaybeUninit;

/// The shape of one 2-D convolution over an NCHW input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Conv2dShape {
    pub batch: usize,
    pub c_in: usize,
    /// Input rows and columns.
    pub size: [usize; 2],
    pub c_out: usize,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub dilation: [usize; 2],
    /// Zero rows and columns before the input (the padding after only sets `out`).
    pub pad: [usize; 2],
    pub groups: usize,
    /// Output rows and columns.
    pub out: [usize; 2],
}

impl Conv2dShape {
    pub(crate) fn out_plane(&self) -> usize {
        self.out[0] * self.out[1]
    }

    pub(crate) fn in_plane(&self) -> usize {
        self.size[0] * self.size[1]
    }

    /// Length of the output buffer.
    pub fn output_len(&self) -> usize {
        self.batch * self.c_out * self.out_plane()
    }

    pub(crate) fn is_depthwise(&self) -> bool {
        self.groups == self.c_in && self.c_out == self.c_in && self.groups > 1
    }
}

/// `conv2d(x, w, bias)` into a new NCHW buffer. `x`, `w` and `bias` must have the lengths
/// `shape` implies (checked by the caller).
/// The epilogue's residual (the output's length; not for depthwise shapes, which panic) is
/// added to each output, and with `rectify = Some(high)` each output is then clamped to
/// `[0, high]` as it is written (NaN passes, as in PyTorch's ReLU).
///
/// The buffer is not zeroed first: every kernel writes each output exactly once (zero-filling
/// the outputs was 7% of an Integrated Gradients run, a pass over memory the kernels then
/// wrote again).
pub(crate) fn conv2d(
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    shape: &Conv2dShape,
    epilogue: Epilogue,
) -> Vec<f32> {
    let len = shape.output_len();
    let mut out = Vec::with_capacity(len);
    conv2d_into(
        x,
        w,
        bias,
        shape,
        epilogue,
        &mut out.spare_capacity_mut()[..len],
    );
    // SAFETY: each of the three kernels writes every one of the `len` outputs
    // (`tests::every_output_is_written` runs each on a buffer of NaN).
    unsafe { out.set_len(len) };
    out
}

/// [`conv2d`] into `out` (`shape.output_len()` floats, written once each, never read).
fn conv2d_into(
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    shape: &Conv2dShape,
    epilogue: Epilogue,
    out: &mut [MaybeUninit<f32>],
) {
    if out.is_empty() {
        return;
    }
    assert!(
        epilogue
            .residual
            .is_none_or(|r| r.len() == out.len() && !shape.is_depthwise()),
        "a residual must have the output's length, and depthwise kernels take none"
    );
    if shape.is_depthwise() {
        crate::depthwise::conv2d(x, w, bias, shape, epilogue, out);
    } else if crate::winograd::suits(shape) {
        crate::winograd::conv2d(x, w, bias, shape, epilogue, out);
    } else {
        dense(x, w, bias, shape, epilogue, out);
    }
}

/// What a kernel does to its outputs as it writes them, after the bias: add a residual
/// branch, then clamp, in the order of the separate operations they replace
/// (`clamp((conv + bias) + residual)`), so the values are the same.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Epilogue<'a> {
    /// Clamp to `[0, high]`.
    pub(crate) rectify: Option<f32>,
    /// Added to each output before the clamp: a residual connection's other branch, laid
    /// out as the output (dense and Winograd kernels only; see [`conv2d`]).
    pub(crate) residual: Option<&'a [f32]>,
}

impl Epilogue<'_> {
    /// The clamp alone (or nothing).
    pub(crate) fn rectified(rectify: Option<f32>) -> Self {
        Epilogue {
            rectify,
            residual: None,
        }
    }

    /// One output value (its bias already added) as the kernel writes it, without the
    /// residual.
    #[inline(always)]
    pub(crate) fn value(self, v: f32) -> f32 {
        match self.rectify {
            Some(high) => crate::activation::clamp_value(v, 0.0, high),
            None => v,
        }
    }

    /// Output `index` of the buffer (its bias already added) as the kernel writes it.
    #[inline(always)]
    pub(crate) fn value_at(self, v: f32, index: usize) -> f32 {
        self.value(match self.residual {
            Some(residual) => v + residual[index],
            None => v,
        })
    }

    /// Whether [`Self::apply`] changes anything with no bias.
    fn any(self) -> bool {
        self.rectify.is_some() || self.residual.is_some()
    }

    /// Adds `bias` (when given) and the residual to each value of `row`, outputs `start..` of
    /// the buffer, and rectifies it.
    fn apply(self, row: &mut [f32], bias: Option<f32>, start: usize) {
        let clamp = crate::activation::clamp_value;
        if let Some(residual) = self.residual {
            // The bias and the clamp are the same for the whole row: the compiler takes
            // their matches out of the loop.
            let residual = &residual[start..start + row.len()];
            for (v, &r) in row.iter_mut().zip(residual) {
                let biased = bias.map_or(*v, |b| *v + b);
                *v = self.value(biased + r);
            }
            return;
        }
        match (bias, self.rectify) {
            (None, None) => {}
            (Some(b), None) => row.iter_mut().for_each(|v| *v += b),
            (None, Some(high)) => row.iter_mut().for_each(|v| *v = clamp(*v, 0.0, high)),
            (Some(b), Some(high)) => row.iter_mut().for_each(|v| *v = clamp(*v + b, 0.0, high)),
        }
    }
}

/// `a · b + bias` for row-major `a` (`[m, k]`) and `b` (`[k, n]`) and a bias per column,
/// into a new row-major `[m, n]` buffer: a Linear layer over pixels or tokens (ConvNeXt's
/// blocks, transformers), the bias added by the GEMM itself (it accumulates onto rows that
/// start as the bias). With a small `b` (up to 1 MiB) the rows go in tiles over the cores,
/// each tile's output written while it is in cache (one GEMM over all rows of ConvNeXt's
/// first stage at batch 8 wrote a 38 MB output and took twice as long); with fewer tiles
/// than cores (a late stage at batch 1: 49 pixels) the columns are split instead, each core
/// packing only its share of `b` (the `gemm` crate's own threading packed all of it on each
/// core: 2-3x as long there); otherwise the `gemm` crate splits the work itself. Every path
/// sums each output in the same order, so a row's values do not depend on how many rows come
/// with it, as long as `k <= 512` or `n > 64`: the `gemm` crate's depth blocking depends on
/// `k` alone except for products of at most 64 rows and 64 columns (which the column split
/// never makes).
pub(crate) fn matmul(
    a: &[f32],
    b: &[f32],
    bias: Option<&[f32]>,
    [m, k, n]: [usize; 3],
) -> Vec<f32> {
    let mut out = Vec::with_capacity(m * n);
    if m == 0 || n == 0 {
        return out;
    }
    let threads = rayon::current_num_threads().max(1);
    let output = Output::new(&mut out.spare_capacity_mut()[..m * n]);
    // Rows `rows` times columns `columns` of `b`, onto the bias when there is one (the GEMM
    // then reads the block it writes; without a bias it only writes it).
    // SAFETY: the ranges lie inside `0..m` and `0..n`; the call writes that block of the
    // output only, and reads rows `rows` of `a` (`m·k` floats) and columns `columns` of `b`
    // (`k·n` floats).
    let product = |rows: std::ops::Range<usize>,
                   columns: std::ops::Range<usize>,
                   parallelism: gemm::Parallelism| unsafe {
        if let Some(bias) = bias {
            for r in rows.clone() {
                std::ptr::copy_nonoverlapping(
                    bias[columns.clone()].as_ptr(),
                    output.at(r * n + columns.start),
                    columns.len(),
                );
            }
        }
        gemm::gemm(
            rows.len(),
            columns.len(),
            k,
            output.at(rows.start * n + columns.start),
            1,
            n as isize,
            bias.is_some(),
            a.as_ptr().add(rows.start * k),
            1,
            k as isize,
            b.as_ptr().add(columns.start),
            1,
            n as isize,
            1.0f32,
            1.0f32,
            false,
            false,
            false,
            parallelism,
        );
    };
    // Tiles of rows whose output block stays in the second-level cache while the bias is
    // written and the GEMM accumulates onto it, when `b` is small enough to be packed again
    // for every tile; a product with few rows splits its columns; any other is one GEMM on
    // every core.
    let tile = (LINEAR_TILE / n).max(MIN_TILE);
    let tiles = m.div_ceil(tile);
    if threads == 1 || (tiles >= 2 * threads && k * n <= 4 * LINEAR_TILE) {
        (0..tiles).into_par_iter().for_each(|t| {
            product(
                t * tile..((t + 1) * tile).min(m),
                0..n,
                gemm::Parallelism::None,
            );
        });
    } else if tiles < 2 * threads && n >= 2 * MIN_TILE * threads {
        let per = n.div_ceil(threads);
        (0..threads).into_par_iter().for_each(|t| {
            let columns = (t * per).min(n)..((t + 1) * per).min(n);
            if !columns.is_empty() {
                product(0..m, columns, gemm::Parallelism::None);
            }
        });
    } else {
        product(0..m, 0..n, gemm::Parallelism::Rayon(threads));
    }
    // SAFETY: the blocks above cover all `m` rows and `n` columns, each written once.
    unsafe { out.set_len(m * n) };
    out
}

/// Output floats per row tile of [`matmul`] (256 KiB).
const LINEAR_TILE: usize = 1 << 16;

/// [`matmul`] of untracked f32 Flex tensors: `a` with any leading axes and `k` columns (its
/// rows all multiplied by `b`), `b` holding `k·n` values (its own leading axes all 1) and
/// `bias` `n`, as a `[rows, n]` tensor. `None` for tracked tensors, other dtypes or lengths
/// that do not match (burn's matmul then runs).
pub(crate) fn matmul_tensors<const D: usize>(
    a: &burn::tensor::Tensor<D>,
    b: &burn::tensor::Tensor<D>,
    bias: Option<&burn::tensor::Tensor<D>>,
) -> Option<burn::tensor::Tensor<2>> {
    use burn_flex::{Flex, FlexTensor};
    let host = |t: &burn::tensor::Tensor<D>| -> Option<FlexTensor> {
        if t.is_autodiff() || t.dtype() != burn::tensor::DType::F32 {
            return None;
        }
        Some(t.clone().try_into_primitive::<Flex>().ok()?.to_contiguous())
    };
    let (ha, hb) = (host(a)?, host(b)?);
    let hbias = match bias {
        Some(t) => Some(host(t)?),
        None => None,
    };
    let (da, db) = (a.dims(), b.dims());
    let (k, n) = (da[D - 1], db[D - 1]);
    let (xs, ws) = (ha.as_slice::<f32>()?, hb.as_slice::<f32>()?);
    let bs = match &hbias {
        Some(t) => Some(t.as_slice::<f32>()?),
        None => None,
    };
    if k == 0 || xs.len() % k != 0 || ws.len() != k * n || bs.is_some_and(|b| b.len() != n) {
        return None;
    }
    let rows = xs.len() / k;
    let out = matmul(xs, ws, bs, [rows, k, n]);
    let data = burn::tensor::TensorData::new(out, [rows, n]);
    Some(burn::tensor::Tensor::from_primitive::<Flex>(
        FlexTensor::from_data(data),
    ))
}

/// The output buffer, shared by tasks that write disjoint parts of it.
#[derive(Clone, Copy)]
pub(crate) struct Output(*mut f32);

// SAFETY: every task writes a set of (row, column) ranges of the output that no other task
// writes (see `dense`), and the buffer outlives the parallel loop that holds the pointer.
unsafe impl Send for Output {}
unsafe impl Sync for Output {}

impl Output {
    /// The whole of `out`, to be written in disjoint parts by parallel tasks (its values
    /// need not be initialised: the kernels write before they read).
    pub(crate) fn new(out: &mut [MaybeUninit<f32>]) -> Self {
        Self(out.as_mut_ptr().cast())
    }

    /// The pointer to float `i` (a method, so that closures capture the `Sync` wrapper).
    ///
    /// # Safety
    /// `i` must lie inside the buffer.
    pub(crate) unsafe fn at(self, i: usize) -> *mut f32 {
        // SAFETY: the caller guarantees `i` is in bounds.
        unsafe { self.0.add(i) }
    }

    /// The `len` floats from `start`.
    ///
    /// # Safety
    /// The range must lie inside the buffer, be written already, and no other live reference
    /// may overlap it.
    unsafe fn row<'a>(self, start: usize, len: usize) -> &'a mut [f32] {
        // SAFETY: the caller guarantees the range is in bounds and unaliased.
        unsafe { std::slice::from_raw_parts_mut(self.0.add(start), len) }
    }
}

thread_local! {
    /// Each thread's column-matrix buffer, kept between calls.
    static COLUMNS: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Column-matrix tiles hold at most this many floats (1 MiB, a core's L2 on current CPUs).
const COLUMN_BUDGET: usize = 1 << 18;
/// Narrowest tile of output pixels worth a GEMM call of its own.
const MIN_TILE: usize = 64;
/// Fewest output channels per task when channels are split over the cores.
const MIN_ROWS: usize = 32;

/// Dense and grouped convolution: GEMMs over tiles of output pixels.
pub(crate) fn dense(
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    s: &Conv2dShape,
    epilogue: Epilogue,
    out: &mut [MaybeUninit<f32>],
) {
    let threads = rayon::current_num_threads().max(1);
    let p = s.out_plane();
    let c_in_g = s.c_in / s.groups;
    let m = s.c_out / s.groups;
    let k = c_in_g * s.kernel[0] * s.kernel[1];
    // A 1x1 convolution with stride 1 and no padding reads its input as the column matrix.
    let direct = s.kernel == [1, 1] && s.stride == [1, 1] && s.pad == [0, 0] && s.out == s.size;
    // Tiles and the split over output channels are chosen from one image's shape, never the
    // batch size, so that an image's values do not depend on the batch it is in (the GEMM's
    // blocking, and so its order of additions, follows the sizes it is given).
    let units = s.batch * s.groups;
    let mut tile = p;
    if s.groups < 2 * threads {
        tile = p.div_ceil((2 * threads).div_ceil(s.groups)).max(MIN_TILE);
    }
    if !direct {
        tile = tile.min((COLUMN_BUDGET / k).max(MIN_TILE));
    }
    let tile = tile.min(p);
    let tiles = p.div_ceil(tile);
    let tasks = units * tiles;
    let per_image = s.groups * tiles;
    let taps = valid_columns(s);
    let output = Output::new(out);
    let job = |task: usize, rows: std::ops::Range<usize>, columns: &[f32], rhs_rs: usize| {
        let (unit, t) = (task / tiles, task % tiles);
        let (b, g) = (unit / s.groups, unit % s.groups);
        let p0 = t * tile;
        let width = tile.min(p - p0);
        let first = (b * s.c_out + g * m + rows.start) * p + p0;
        // SAFETY: `first` addresses rows `rows` of group `g` of image `b`, columns
        // `p0..p0 + width`, inside `out`; `w` holds `C_out·K` floats and `columns` holds
        // `K` rows of at least `width` floats `rhs_rs` apart. No other task writes these
        // rows and columns.
        unsafe {
            gemm::gemm(
                rows.len(),
                width,
                k,
                output.0.add(first),
                1,
                p as isize,
                false,
                w.as_ptr().add((g * m + rows.start) * k),
                1,
                k as isize,
                columns.as_ptr(),
                1,
                rhs_rs as isize,
                0.0f32,
                1.0f32,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
        if bias.is_some() || epilogue.any() {
            for r in rows {
                let start = (b * s.c_out + g * m + r) * p + p0;
                // SAFETY: row `r` of this task's block, as above, which the GEMM has written.
                let row = unsafe { output.row(start, width) };
                epilogue.apply(row, bias.map(|bias| bias[g * m + r]), start);
            }
        }
    };
    let input_of = |task: usize| {
        let (unit, t) = (task / tiles, task % tiles);
        let (b, g) = (unit / s.groups, unit % s.groups);
        (b * s.c_in + g * c_in_g) * s.in_plane() + t * tile
    };
    let fill = |task: usize, columns: &mut Vec<f32>| {
        let (unit, t) = (task / tiles, task % tiles);
        let (b, g) = (unit / s.groups, unit % s.groups);
        let p0 = t * tile;
        let width = tile.min(p - p0);
        columns.resize(k * width, 0.0);
        let first = (b * s.c_in + g * c_in_g) * s.in_plane();
        im2col(
            &x[first..first + c_in_g * s.in_plane()],
            s,
            c_in_g,
            &taps,
            p0..p0 + width,
            columns,
        );
        width
    };
    if per_image >= threads || m < 2 * MIN_ROWS {
        (0..tasks).into_par_iter().for_each(|task| {
            if direct {
                job(task, 0..m, &x[input_of(task)..], p);
            } else {
                COLUMNS.with_borrow_mut(|columns| {
                    let width = fill(task, columns);
                    job(task, 0..m, columns, width);
                });
            }
        });
    } else {
        // Fewer tiles than cores: each tile's output channels are split over the cores.
        let blocks = (2 * threads).div_ceil(per_image).min(m / MIN_ROWS).max(1);
        let per_block = m.div_ceil(blocks);
        let mut buffer = Vec::new();
        for task in 0..tasks {
            let (columns, width): (&[f32], usize) = if direct {
                (&x[input_of(task)..], p)
            } else {
                let width = fill(task, &mut buffer);
                (&buffer, width)
            };
            (0..m.div_ceil(per_block))
                .into_par_iter()
                .for_each(|block| {
                    let rows = block * per_block..((block + 1) * per_block).min(m);
                    job(task, rows, columns, width);
                });
        }
    }
}

/// The column matrix of output pixels `pixels` for one image and group: row
/// `(ci·kh + i)·kw + j` holds, for each pixel, the input value under kernel tap `(i, j)` of
/// channel `ci` (zero in the padding). `x` holds the group's `c_in_g` input planes; `taps` are
/// [`valid_columns`] of `s`.
fn im2col(
    x: &[f32],
    s: &Conv2dShape,
    c_in_g: usize,
    taps: &[(usize, usize, usize)],
    pixels: std::ops::Range<usize>,
    columns: &mut [f32],
) {
    let [h, w] = s.size;
    let [kh, kw] = s.kernel;
    let [sh, sw] = s.stride;
    let dh = s.dilation[0];
    let pt = s.pad[0];
    let ow_n = s.out[1];
    let width = pixels.len();
    for ci in 0..c_in_g {
        let plane = &x[ci * h * w..(ci + 1) * h * w];
        for i in 0..kh {
            for (j, &(lo, hi, start)) in taps.iter().enumerate() {
                let row_index = (ci * kh + i) * kw + j;
                let dst = &mut columns[row_index * width..(row_index + 1) * width];
                let mut p = pixels.start;
                while p < pixels.end {
                    let (oh, a) = (p / ow_n, p % ow_n);
                    let b = ow_n.min(a + (pixels.end - p));
                    let seg = &mut dst[p - pixels.start..p - pixels.start + (b - a)];
                    let ih = (oh * sh + i * dh).checked_sub(pt).filter(|&r| r < h);
                    match ih {
                        None => seg.fill(0.0),
                        Some(ih) => {
                            let row = &plane[ih * w..(ih + 1) * w];
                            // Output columns lo..hi read input columns start + (o - lo)·sw.
                            let va = a.max(lo).min(b);
                            let vb = b.min(hi).max(va);
                            seg[..va - a].fill(0.0);
                            seg[vb - a..].fill(0.0);
                            let from = start + (va - lo) * sw;
                            let inner = &mut seg[va - a..vb - a];
                            if inner.is_empty() {
                                // No input column under this tap in this segment.
                            } else if sw == 1 {
                                inner.copy_from_slice(&row[from..from + inner.len()]);
                            } else {
                                for (d, &v) in inner.iter_mut().zip(row[from..].iter().step_by(sw))
                                {
                                    *d = v;
                                }
                            }
                        }
                    }
                    p += b - a;
                }
            }
        }
    }
}

/// For each kernel column `j`: the output columns `lo..hi` whose input column
/// `o·sw + j·dw - pl` is inside the image, and the input column of `lo`.
pub(crate) fn valid_columns(s: &Conv2dShape) -> Vec<(usize, usize, usize)> {
    let w = s.size[1];
    let (sw, dw, pl, ow_n) = (s.stride[1], s.dilation[1], s.pad[1], s.out[1]);
    (0..s.kernel[1])
        .map(|j| {
            let shift = j * dw;
            let lo = pl.saturating_sub(shift).div_ceil(sw).min(ow_n);
            let hi = (w + pl)
                .saturating_sub(shift)
                .div_ceil(sw)
                .min(ow_n)
                .max(lo);
            (lo, hi, (lo * sw + shift).saturating_sub(pl))
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Values in [-1, 1) from a fixed linear congruential sequence.
    pub(crate) fn values(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(747_796_405).wrapping_add(2_891_336_453);
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(747_796_405).wrapping_add(2_891_336_453);
                (s >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
            })
            .collect()
    }

    /// What a kernel writes into a buffer of NaN: a float it does not write stays NaN.
    pub(crate) fn written(len: usize, kernel: impl FnOnce(&mut [MaybeUninit<f32>])) -> Vec<f32> {
        let mut out = vec![MaybeUninit::new(f32::NAN); len];
        kernel(&mut out);
        // SAFETY: every float was initialised (NaN) before the kernel ran, and the kernels
        // write only initialised floats.
        out.into_iter()
            .map(|v| unsafe { v.assume_init() })
            .collect()
    }

    /// Shapes that take every kernel and path: 1x1 read in place and strided, the stem's
    /// 7x7 over 3 channels, grouped, the split over output channels (few pixels, many
    /// channels), dilated, asymmetric padding, a plane smaller than the kernel, Winograd's
    /// odd sizes (the 10th and 11th), depthwise with whole and partial vectors per row, strided
    /// (the last four).
    fn shapes() -> Vec<Conv2dShape> {
        #[allow(clippy::too_many_arguments)]
        fn shape(
            batch: usize,
            c_in: usize,
            c_out: usize,
            groups: usize,
            size: [usize; 2],
            k: [usize; 2],
            stride: usize,
            dilation: usize,
            pad: [(usize, usize); 2],
        ) -> Conv2dShape {
            let out =
                |i: usize| (size[i] + pad[i].0 + pad[i].1 - dilation * (k[i] - 1) - 1) / stride + 1;
            Conv2dShape {
                batch,
                c_in,
                size,
                c_out,
                kernel: k,
                stride: [stride; 2],
                dilation: [dilation; 2],
                pad: [pad[0].0, pad[1].0],
                groups,
                out: [out(0), out(1)],
            }
        }
        let (none, one, three) = ([(0, 0); 2], [(1, 1); 2], [(3, 3); 2]);
        let shapes = vec![
            shape(2, 16, 24, 1, [9, 11], [1, 1], 1, 1, none),
            shape(1, 16, 24, 1, [9, 11], [1, 1], 2, 1, none),
            shape(2, 3, 16, 1, [23, 20], [7, 7], 2, 1, three),
            shape(1, 8, 16, 4, [10, 9], [3, 3], 1, 1, one),
            shape(1, 256, 512, 1, [3, 3], [1, 1], 1, 1, none),
            shape(1, 64, 96, 1, [7, 7], [3, 3], 1, 1, one),
            shape(1, 8, 8, 1, [12, 12], [3, 3], 1, 2, [(2, 2); 2]),
            shape(1, 4, 4, 1, [5, 5], [5, 5], 3, 1, [(2, 1), (0, 2)]),
            shape(1, 4, 6, 1, [2, 3], [3, 3], 1, 1, one),
            shape(2, 32, 32, 1, [21, 20], [3, 3], 1, 1, one),
            shape(1, 32, 40, 1, [22, 23], [3, 3], 1, 1, none),
            shape(2, 6, 6, 6, [9, 10], [3, 3], 1, 1, one),
            shape(1, 6, 6, 6, [16, 16], [3, 3], 1, 1, one),
            shape(1, 6, 6, 6, [12, 11], [5, 5], 2, 1, [(1, 2), (1, 2)]),
            shape(1, 12, 12, 12, [7, 7], [7, 7], 1, 1, three),
        ];
        assert!(crate::winograd::suits(&shapes[9]) && crate::winograd::suits(&shapes[10]));
        assert!(shapes[11..].iter().all(Conv2dShape::is_depthwise));
        shapes
    }

    /// A shape's input, weights and bias.
    fn operands(s: &Conv2dShape) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let x = values(s.batch * s.c_in * s.in_plane(), 1);
        let w = values(s.c_out * s.c_in / s.groups * s.kernel[0] * s.kernel[1], 2);
        (x, w, values(s.c_out, 3))
    }

    /// Every kernel and path writes every output, with and without the epilogue.
    #[test]
    fn every_output_is_written() {
        for s in shapes() {
            let (x, w, bias) = operands(&s);
            let residual = values(s.output_len(), 4);
            let residual = (!s.is_depthwise()).then_some(&residual[..]);
            for rectify in [None, Some(6.0)] {
                for residual in [None, residual] {
                    let epilogue = Epilogue { rectify, residual };
                    let out = written(s.output_len(), |o| {
                        conv2d_into(&x, &w, Some(&bias), &s, epilogue, o)
                    });
                    let missing = out.iter().filter(|v| v.is_nan()).count();
                    let what = format!("{s:?} {rectify:?} residual {}", residual.is_some());
                    assert_eq!(missing, 0, "{what}: outputs not written");
                }
            }
        }
    }

    /// The residual in the epilogue of the dense and Winograd kernels gives exactly the
    /// values of the separate addition and clamp, bias or none.
    #[test]
    fn the_residual_epilogue_equals_the_separate_operations() {
        for s in shapes().into_iter().filter(|s| !s.is_depthwise()) {
            let (x, w, bias) = operands(&s);
            // Scaled so that some sums pass 6.
            let residual: Vec<f32> = values(s.output_len(), 4).iter().map(|v| 8.0 * v).collect();
            for bias in [None, Some(&bias[..])] {
                let plain = conv2d(&x, &w, bias, &s, Epilogue::rectified(None));
                for rectify in [None, Some(6.0), Some(f32::INFINITY)] {
                    let epilogue = Epilogue {
                        rectify,
                        residual: Some(&residual),
                    };
                    let fused = conv2d(&x, &w, bias, &s, epilogue);
                    let want: Vec<f32> = plain
                        .iter()
                        .zip(&residual)
                        .map(|(&v, &r)| Epilogue::rectified(rectify).value(v + r))
                        .collect();
                    assert_eq!(fused, want, "{s:?} {rectify:?} bias {}", bias.is_some());
                }
            }
        }
    }

    /// `a · b + bias` in f64.
    fn naive(a: &[f32], b: &[f32], bias: Option<&[f32]>, [m, k, n]: [usize; 3]) -> Vec<f64> {
        let mut out = vec![0.0f64; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut sum = bias.map_or(0.0, |b| f64::from(b[j]));
                for l in 0..k {
                    sum += f64::from(a[i * k + l]) * f64::from(b[l * n + j]);
                }
                out[i * n + j] = sum;
            }
        }
        out
    }

    /// Few rows (columns split over the cores), many rows (the GEMM's own threads), a small
    /// product (one thread), with and without a bias, odd sizes everywhere.
    #[test]
    fn matmul_matches_a_plain_sum_on_every_path() {
        for [m, k, n] in [
            [5, 70, 301],
            [49, 768, 200],
            [300, 200, 150],
            [3, 7, 5],
            [1, 1, 1],
        ] {
            let a = values(m * k, 1);
            let b = values(k * n, 2);
            let bias = values(n, 3);
            for bias in [None, Some(bias.as_slice())] {
                let ours = matmul(&a, &b, bias, [m, k, n]);
                let want = naive(&a, &b, bias, [m, k, n]);
                for (i, (x, y)) in ours.iter().zip(&want).enumerate() {
                    let bound = 1e-5 * (k as f64).sqrt().max(1.0);
                    assert!(
                        (f64::from(*x) - y).abs() <= bound,
                        "{m}x{k}x{n} [{i}]: {x} vs {y}"
                    );
                }
            }
        }
        assert!(matmul(&[], &[], None, [0, 3, 4]).is_empty());
    }

    /// A row's values do not depend on how many rows are multiplied with it (an image's logits
    /// do not depend on its batch), whichever path each size takes.
    #[test]
    fn matmul_rows_are_the_same_alone_and_in_a_batch() {
        let [k, n] = [768, 3072];
        let a = values(392 * k, 4);
        let b = values(k * n, 5);
        let bias = values(n, 6);
        let batch = matmul(&a, &b, Some(&bias), [392, k, n]);
        let alone = matmul(&a[..49 * k], &b, Some(&bias), [49, k, n]);
        assert_eq!(alone, batch[..49 * n]);
    }
}

//! Depthwise convolutions (`groups = C_in = C_out`: MobileNet, EfficientNet, ConvNeXt's 7x7)
//! on NCHW planes, in tiles of 4 output rows by 8 output columns.
//!
//! Each input plane is copied into a zero-padded buffer, de-interleaved by column for a
//! strided kernel, so that every tap of every tile reads 8 contiguous floats and no branch
//! handles the padding. A tile keeps its 4 rows of 8 sums in vector registers across the
//! kernel's `kh·kw` taps: one load and one fused multiply-add per tap and row, the tap's
//! weight broadcast once; rows past the output's end and columns past its width are computed
//! into the padding and not written. Each sum starts from the bias and adds the taps row by
//! row, with fused multiply-adds on AVX2 CPUs (written with
//! `std::arch` intrinsics: the compiler's auto-vectorised loops of the same shape spilled
//! their 5x5 accumulators to the stack one float at a time) and plain ones elsewhere.
//!
//! This replaced three kernels, on every depthwise shape of the default model, MobileNetV3
//! and ConvNeXt (measured on this project's 2-core AMD EPYC, 2 threads, see
//! `tests::timing`): burn-flex's for stride-1 3x3 and 5x5 (2-4 GMAC/s on 7x7 and 14x14 planes,
//! whose rows are too short for its vectors), whycam's row kernel for strided ones (each tap
//! added into memory), and its channels-last kernel for 7x7 (a transposed copy in and out).

use crate::kernels::{Conv2dShape, Epilogue};
use rayon::prelude::*;
use std::cell::RefCell;
use std::mem::MaybeUninit;

thread_local! {
    /// Each thread's padded input plane (and staged output plane).
    static PLANE: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Output rows that [`conv2d`] sums together: independent accumulators, so that the
/// multiply-adds of one tap do not wait for each other.
const TILE_ROWS: usize = 4;
/// Output columns per accumulator: one AVX2 vector.
const TILE_LANES: usize = 8;

/// Where [`conv2d`] keeps one zero-padded input plane: `rows` padded rows, each
/// split into `stride` phases of `phase_len` columns (columns `p, p + stride, ...` of the
/// padded row in phase `p`), so that every tap of a strided kernel reads contiguous columns.
/// Sized for whole tiles: rows and columns past the output's read zeros.
#[derive(Debug, Clone, Copy)]
struct PaddedPlane {
    rows: usize,
    phase_len: usize,
}

impl PaddedPlane {
    fn of(s: &Conv2dShape) -> Self {
        let [oh, ow] = s.out;
        let [kh, kw] = s.kernel;
        let rows =
            (oh.next_multiple_of(TILE_ROWS) - 1) * s.stride[0] + (kh - 1) * s.dilation[0] + 1;
        let phase_len = ow.next_multiple_of(TILE_LANES) + (kw - 1) * s.dilation[1] / s.stride[1];
        Self { rows, phase_len }
    }

    /// Where each kernel column's taps start in a padded row: the phase, then the place in it.
    fn columns(&self, s: &Conv2dShape) -> Vec<usize> {
        let (sw, dw) = (s.stride[1], s.dilation[1]);
        (0..s.kernel[1])
            .map(|j| (j * dw) % sw * self.phase_len + (j * dw) / sw)
            .collect()
    }

    fn len(&self, s: &Conv2dShape) -> usize {
        self.rows * s.stride[1] * self.phase_len
    }

    /// Copies one input plane into `padded` (whose other cells stay as they are: zero).
    fn fill(&self, s: &Conv2dShape, src: &[f32], padded: &mut [f32]) {
        let [h, w] = s.size;
        let [pt, pl] = s.pad;
        let sw = s.stride[1];
        if w == 0 {
            return; // an empty input (padding alone makes the output): all zeros
        }
        for (iy, row) in src.chunks_exact(w).take(h).enumerate() {
            let py = iy + pt;
            if py >= self.rows {
                break;
            }
            let line = &mut padded[py * sw * self.phase_len..(py + 1) * sw * self.phase_len];
            if sw == 1 {
                let n = w.min(self.phase_len.saturating_sub(pl));
                line[pl..pl + n].copy_from_slice(&row[..n]);
                continue;
            }
            if sw == 2 {
                // Input column ix lands at padded column ix + pl: phase (ix + pl) % 2, place
                // (ix + pl) / 2. After the first column when pl is odd, the columns go in pairs
                // (1.5-1.9x the speed of the strided copy below on a 112x112 plane).
                let (even, odd) = line.split_at_mut(self.phase_len);
                let head = pl % 2;
                if let (1, Some(d), Some(&v)) = (head, odd.get_mut(pl / 2), row.first()) {
                    *d = v;
                }
                let at = ((pl + head) / 2).min(self.phase_len);
                let rest = &row[head.min(w)..];
                for ((e, o), pair) in even[at..]
                    .iter_mut()
                    .zip(&mut odd[at..])
                    .zip(rest.chunks_exact(2))
                {
                    *e = pair[0];
                    *o = pair[1];
                }
                if let (1, Some(d), [.., v]) =
                    (rest.len() % 2, even.get_mut(at + rest.len() / 2), rest)
                {
                    *d = *v;
                }
                continue;
            }
            // Padded column px = ix + pl goes to phase px % sw, place px / sw.
            for phase in 0..sw {
                let first = (phase + sw - pl % sw) % sw; // the first ix with px ≡ phase
                let at = (first + pl) / sw;
                let dst = &mut line[phase * self.phase_len..(phase + 1) * self.phase_len];
                for (d, &v) in dst[at.min(self.phase_len)..]
                    .iter_mut()
                    .zip(row[first.min(w)..].iter().step_by(sw))
                {
                    *d = v;
                }
            }
        }
    }
}

/// `out = conv2d(x, w) + bias` for a depthwise convolution (`groups = C_in = C_out`), the
/// epilogue applied as each output is written; the planes are split over the cores, several
/// to a task when they are small.
pub(crate) fn conv2d(
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    s: &Conv2dShape,
    epilogue: Epilogue,
    out: &mut [MaybeUninit<f32>],
) {
    if out.is_empty() {
        return;
    }
    let c = s.c_in;
    let (in_plane, out_plane) = (s.in_plane(), s.out_plane());
    let taps = s.kernel[0] * s.kernel[1];
    let padded = PaddedPlane::of(s);
    let columns = padded.columns(s);
    let planes = s.batch * c;
    // Several planes per task when they are small: a 7x7 plane is a few hundred cycles.
    let per_task = (planes / (rayon::current_num_threads().max(1) * 16))
        .min((1 << 14) / (out_plane * taps).max(1))
        .max(1);
    out.par_chunks_mut(out_plane * per_task)
        .enumerate()
        .for_each(|(task, dst)| {
            let mut buffer = PLANE.take();
            for (k, dst) in dst.chunks_exact_mut(out_plane).enumerate() {
                let plane = task * per_task + k;
                let channel = plane % c;
                let tiles = TiledPlane {
                    padded: &[],
                    kernel: &w[channel * taps..(channel + 1) * taps],
                    bias: bias.map_or(0.0, |b| b[channel]),
                    s,
                    phase_len: padded.phase_len,
                    columns: &columns,
                    epilogue,
                };
                let src = &x[plane * in_plane..(plane + 1) * in_plane];
                tiles.plane(padded, src, &mut buffer, k == 0, dst, |t, d| t.run(d));
            }
            PLANE.set(buffer);
        });
}

/// One plane of [`conv2d`]: its padded input, kernel and bias, and where each
/// kernel column's taps start in a padded row.
struct TiledPlane<'a> {
    padded: &'a [f32],
    kernel: &'a [f32],
    bias: f32,
    s: &'a Conv2dShape,
    phase_len: usize,
    columns: &'a [usize],
    epilogue: Epilogue<'a>,
}

impl TiledPlane<'_> {
    /// One output plane into `dst` from its input plane `src`, by `tiles` (`run`, or a given
    /// path in the tests): `src` copied into the padded plane at the start of `buffer` (zeroed
    /// first when `fresh`; later planes of the same shape overwrite the same cells), the
    /// tiles written straight into `dst` when its rows are whole vectors, else into the rest
    /// of `buffer` and copied.
    fn plane(
        &self,
        padded: PaddedPlane,
        src: &[f32],
        buffer: &mut Vec<f32>,
        fresh: bool,
        dst: &mut [MaybeUninit<f32>],
        tiles: impl Fn(&TiledPlane, &mut [MaybeUninit<f32>]),
    ) {
        let s = self.s;
        let (len, width) = (padded.len(s), self.width());
        let staged = if width == s.out[1] {
            0
        } else {
            s.out[0] * width
        };
        if fresh {
            buffer.clear();
            buffer.resize(len + staged, 0.0);
        }
        let (input, rows) = buffer.split_at_mut(len);
        padded.fill(s, src, input);
        let this = TiledPlane {
            padded: input,
            ..*self
        };
        if staged == 0 {
            tiles(&this, dst);
            return;
        }
        // SAFETY: `MaybeUninit<f32>` has the layout of `f32`, and the tiles write only
        // initialised floats, so `rows` stays initialised.
        let staging = unsafe { &mut *(std::ptr::from_mut(rows) as *mut [MaybeUninit<f32>]) };
        tiles(&this, staging);
        for (d, r) in dst.chunks_exact_mut(s.out[1]).zip(rows.chunks_exact(width)) {
            d.write_copy_of_slice(&r[..s.out[1]]);
        }
    }

    /// Floats between two padded rows.
    fn row_len(&self) -> usize {
        self.s.stride[1] * self.phase_len
    }

    /// Output rows of whole vectors: `dst`'s row length.
    fn width(&self) -> usize {
        self.s.out[1].next_multiple_of(TILE_LANES)
    }

    /// Checks that every tile's reads stay inside `padded` and its writes inside `dst`.
    fn check(&self, dst: &[MaybeUninit<f32>]) {
        let s = self.s;
        let [oh, _] = s.out;
        let [kh, kw] = s.kernel;
        // The farthest float a tile reads: its last row's last tap, at the last tile.
        let last_line = ((oh.next_multiple_of(TILE_ROWS) - 1) * s.stride[0]
            + (kh - 1) * s.dilation[0])
            * self.row_len();
        let last_column = self.width() - TILE_LANES + self.columns.iter().max().unwrap_or(&0);
        assert!(
            last_line + last_column + TILE_LANES <= self.padded.len()
                && self.kernel.len() == kh * kw
                && self.columns.len() == kw
                && dst.len() >= oh * self.width()
        );
    }

    /// Writes the output plane into `dst` (rows of [`Self::width`]).
    fn run(&self, dst: &mut [MaybeUninit<f32>]) {
        self.check(dst);
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU has AVX2 and FMA; `check` bounds every read and write.
            unsafe {
                match self.s.kernel {
                    [3, 3] => self.avx2::<3, 3>(dst),
                    [5, 5] => self.avx2::<5, 5>(dst),
                    [7, 7] => self.avx2::<7, 7>(dst),
                    _ => self.avx2::<0, 0>(dst),
                }
            }
            return;
        }
        self.portable(dst);
    }

    /// The tiles with AVX2 and FMA, for a `KH`x`KW` kernel (0: the shape's). Sums in the
    /// same order as [`Self::portable`] with fused multiply-adds.
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA, and [`Self::check`] passed for `dst`.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn avx2<const KH: usize, const KW: usize>(&self, dst: &mut [MaybeUninit<f32>]) {
        use std::arch::x86_64::*;
        let s = self.s;
        let [oh, ow] = s.out;
        let kh = if KH > 0 { KH } else { s.kernel[0] };
        let kw = if KW > 0 { KW } else { s.kernel[1] };
        let [sh, dh] = [s.stride[0], s.dilation[0]];
        let (row_len, width) = (self.row_len(), self.width());
        let row_step = sh * row_len;
        let (zero, high) = (
            _mm256_setzero_ps(),
            self.epilogue.rectify.map(|h| _mm256_set1_ps(h)),
        );
        let base = self.padded.as_ptr();
        let out = dst.as_mut_ptr().cast::<f32>();
        for oy in (0..oh).step_by(TILE_ROWS) {
            for ox in (0..ow).step_by(TILE_LANES) {
                let mut acc = [_mm256_set1_ps(self.bias); TILE_ROWS];
                for i in 0..kh {
                    for (&weight, &column) in self.kernel[i * kw..][..kw].iter().zip(self.columns) {
                        let wv = _mm256_set1_ps(weight);
                        let at = (oy * sh + i * dh) * row_len + ox + column;
                        for (r, acc) in acc.iter_mut().enumerate() {
                            // SAFETY: 8 floats from `at + r·row_step`, at most the farthest
                            // read that `check` bounds by `padded.len()`.
                            let input = unsafe { _mm256_loadu_ps(base.add(at + r * row_step)) };
                            *acc = _mm256_fmadd_ps(input, wv, *acc);
                        }
                    }
                }
                for (r, &acc) in acc.iter().enumerate().take(oh - oy) {
                    // max(0, v) then min(high, v) keep a NaN, as `clamp_value` does.
                    let v = match high {
                        Some(high) => _mm256_min_ps(high, _mm256_max_ps(zero, acc)),
                        None => acc,
                    };
                    // SAFETY: row oy + r < oh, columns ox..ox + 8 <= width: inside `dst`
                    // (`check`).
                    unsafe { _mm256_storeu_ps(out.add((oy + r) * width + ox), v) };
                }
            }
        }
    }

    /// The tiles in plain Rust, for CPUs without AVX2 and FMA.
    fn portable(&self, dst: &mut [MaybeUninit<f32>]) {
        let s = self.s;
        let [oh, ow] = s.out;
        let [kh, kw] = s.kernel;
        let [sh, dh] = [s.stride[0], s.dilation[0]];
        let (row_len, width) = (self.row_len(), self.width());
        for oy in (0..oh).step_by(TILE_ROWS) {
            for ox in (0..ow).step_by(TILE_LANES) {
                let mut acc = [[self.bias; TILE_LANES]; TILE_ROWS];
                for i in 0..kh {
                    for j in 0..kw {
                        let wv = self.kernel[i * kw + j];
                        for (r, acc) in acc.iter_mut().enumerate() {
                            let at = ((oy + r) * sh + i * dh) * row_len + ox + self.columns[j];
                            for (a, &v) in acc.iter_mut().zip(&self.padded[at..at + TILE_LANES]) {
                                *a += wv * v;
                            }
                        }
                    }
                }
                for (r, acc) in acc.iter().enumerate().take(oh - oy) {
                    let row = &mut dst[(oy + r) * width + ox..][..TILE_LANES];
                    for (d, &v) in row.iter_mut().zip(acc) {
                        d.write(self.epilogue.value(v));
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

    fn shape(
        batch: usize,
        c: usize,
        size: [usize; 2],
        kernel: [usize; 2],
        stride: usize,
        dilation: usize,
        pad: [(usize, usize); 2],
    ) -> Conv2dShape {
        let out = |i: usize| {
            (size[i] + pad[i].0 + pad[i].1 - dilation * (kernel[i] - 1) - 1) / stride + 1
        };
        Conv2dShape {
            batch,
            c_in: c,
            size,
            c_out: c,
            kernel,
            stride: [stride; 2],
            dilation: [dilation; 2],
            pad: [pad[0].0, pad[1].0],
            groups: c,
            out: [out(0), out(1)],
        }
    }

    /// The direct sum in f64.
    fn direct(x: &[f32], w: &[f32], bias: &[f32], s: &Conv2dShape) -> Vec<f64> {
        let [h, wd] = s.size;
        let [oh, ow] = s.out;
        let [kh, kw] = s.kernel;
        let mut out = Vec::with_capacity(s.output_len());
        for plane in 0..s.batch * s.c_in {
            let c = plane % s.c_in;
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut sum = f64::from(bias[c]);
                    for i in 0..kh {
                        for j in 0..kw {
                            let iy = (oy * s.stride[0] + i * s.dilation[0]).checked_sub(s.pad[0]);
                            let ix = (ox * s.stride[1] + j * s.dilation[1]).checked_sub(s.pad[1]);
                            if let (Some(iy), Some(ix)) = (iy, ix)
                                && iy < h
                                && ix < wd
                            {
                                sum += f64::from(x[(plane * h + iy) * wd + ix])
                                    * f64::from(w[(c * kh + i) * kw + j]);
                            }
                        }
                    }
                    out.push(sum);
                }
            }
        }
        out
    }

    /// Every kernel size the tiles specialise and others, strides 1-3, dilation, asymmetric
    /// and odd paddings, planes narrower than a vector and smaller than the kernel.
    fn cases() -> Vec<Conv2dShape> {
        vec![
            shape(2, 3, [7, 7], [5, 5], 1, 1, [(2, 2), (2, 2)]),
            shape(1, 4, [14, 14], [3, 3], 1, 1, [(1, 1), (1, 1)]),
            shape(1, 2, [23, 19], [7, 7], 1, 1, [(3, 3), (3, 3)]),
            shape(1, 3, [16, 17], [3, 3], 2, 1, [(0, 1), (0, 1)]),
            shape(1, 3, [17, 16], [5, 5], 2, 1, [(1, 2), (1, 2)]),
            shape(2, 2, [15, 22], [3, 5], 3, 1, [(1, 0), (2, 3)]),
            shape(1, 2, [12, 13], [3, 3], 1, 2, [(2, 2), (2, 2)]),
            shape(1, 2, [3, 2], [7, 7], 1, 1, [(3, 3), (3, 3)]),
            shape(1, 5, [9, 9], [1, 1], 1, 1, [(0, 0), (0, 0)]),
            shape(1, 2, [20, 21], [9, 9], 2, 2, [(8, 8), (8, 8)]),
            // An empty input whose padding alone makes the output.
            shape(1, 2, [3, 0], [1, 3], 1, 1, [(0, 0), (2, 2)]),
        ]
    }

    fn run(s: &Conv2dShape, rectify: Option<f32>, portable: bool) -> Vec<f32> {
        let x = values(s.batch * s.c_in * s.in_plane(), 1);
        let w: Vec<f32> = values(s.c_in * s.kernel[0] * s.kernel[1], 2);
        let bias = values(s.c_in, 3);
        let epilogue = Epilogue::rectified(rectify);
        if !portable {
            return written(s.output_len(), |out| {
                conv2d(&x, &w, Some(&bias), s, epilogue, out)
            });
        }
        // The plain-Rust tiles, one plane at a time.
        let padded = PaddedPlane::of(s);
        let columns = padded.columns(s);
        let taps = s.kernel[0] * s.kernel[1];
        let mut buffer = Vec::new();
        written(s.output_len(), |out| {
            for (plane, dst) in out.chunks_exact_mut(s.out_plane()).enumerate() {
                let c = plane % s.c_in;
                let tiles = TiledPlane {
                    padded: &[],
                    kernel: &w[c * taps..][..taps],
                    bias: bias[c],
                    s,
                    phase_len: padded.phase_len,
                    columns: &columns,
                    epilogue,
                };
                let src = &x[plane * s.in_plane()..][..s.in_plane()];
                tiles.plane(padded, src, &mut buffer, plane == 0, dst, |t, rows| {
                    t.check(rows);
                    t.portable(rows);
                });
            }
        })
    }

    #[test]
    fn both_paths_match_the_direct_sum() {
        for s in cases() {
            let x = values(s.batch * s.c_in * s.in_plane(), 1);
            let w = values(s.c_in * s.kernel[0] * s.kernel[1], 2);
            let want = direct(&x, &w, &values(s.c_in, 3), &s);
            for portable in [false, true] {
                let got = run(&s, None, portable);
                assert_eq!(got.len(), want.len());
                for (k, (&g, &e)) in got.iter().zip(&want).enumerate() {
                    assert!(
                        (f64::from(g) - e).abs() < 1e-5,
                        "{s:?} portable {portable} at {k}: {g} vs {e}"
                    );
                }
                for high in [f32::INFINITY, 0.5] {
                    let clamped = run(&s, Some(high), portable);
                    let expect: Vec<f32> = got.iter().map(|v| v.clamp(0.0, high)).collect();
                    assert_eq!(clamped, expect, "{s:?} portable {portable} high {high}");
                }
            }
        }
    }

    /// Time against burn-flex's convolution on the depthwise layers of the default model,
    /// MobileNetV3 and ConvNeXt:
    /// `cargo test --release -p whycam-models --lib depthwise::tests::timing -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn timing() {
        use burn::tensor::TensorData;
        use burn::tensor::ops::ConvOptions;
        use burn_backend::ops::ModuleOps;
        use burn_flex::{Flex, FlexTensor};
        for (batch, c, size, k, stride) in [
            (1, 1152, 7, 5, 1),
            (8, 1152, 7, 5, 1),
            (1, 672, 14, 5, 1),
            (1, 480, 14, 3, 1),
            (1, 240, 28, 5, 1),
            (1, 144, 56, 3, 1),
            (1, 32, 112, 3, 1),
            (8, 32, 112, 3, 1),
            (1, 96, 112, 3, 2),
            (8, 96, 112, 3, 2),
            (1, 144, 56, 5, 2),
            (1, 672, 14, 5, 2),
            (1, 96, 56, 7, 1),
            (8, 96, 56, 7, 1),
            (1, 768, 7, 7, 1),
        ] {
            let p = k / 2;
            let s = shape(batch, c, [size, size], [k, k], stride, 1, [(p, p), (p, p)]);
            let x = values(batch * c * size * size, 1);
            let w = values(c * k * k, 2);
            let bias = values(c, 3);
            let e = Epilogue::rectified(None);
            // The fastest of 5 rounds of 10 calls.
            let time = |f: &mut dyn FnMut()| {
                f();
                (0..5)
                    .map(|_| {
                        let t = std::time::Instant::now();
                        (0..10).for_each(|_| f());
                        t.elapsed().as_secs_f64() * 1e3 / 10.0
                    })
                    .fold(f64::MAX, f64::min)
            };
            let mut out = Vec::with_capacity(s.output_len());
            let out = &mut out.spare_capacity_mut()[..s.output_len()];
            let ours = time(&mut || conv2d(&x, &w, Some(&bias), &s, e, out));
            let tensor = |v: &[f32], dims: Vec<usize>| {
                FlexTensor::from_data(TensorData::new(v.to_vec(), dims))
            };
            let options = ConvOptions::new([stride; 2], [p; 2], [1; 2], c);
            let (xt, wt, bt) = (
                tensor(&x, vec![batch, c, size, size]),
                tensor(&w, vec![c, 1, k, k]),
                tensor(&bias, vec![c]),
            );
            let burn = time(&mut || {
                Flex::conv2d(xt.clone(), wt.clone(), Some(bt.clone()), options.clone());
            });
            let gmac = (s.output_len() * k * k) as f64 / 1e6;
            println!(
                "b{batch} c{c} {size}x{size} k{k} s{stride}: tiles {ours:.3} ms ({:.1} GMAC/s), \
                 burn-flex {burn:.3} ms ({:.1} GMAC/s), {:.2}x",
                gmac / ours,
                gmac / burn,
                burn / ours
            );
        }
    }
}

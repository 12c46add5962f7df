//! The bias-gradients of FullGrad: Srinivas, Fleuret, "Full-Gradient Representation for Neural
//! Network Visualization", NeurIPS 2019.
//!
//! While a [`BiasGradients`] scope is alive on a thread, every biased convolution and 2-D
//! BatchNorm of a network run on that thread with autodiff gets a tap on its output: an
//! identity in the forward pass whose backward step reads the gradient `g` flowing through it
//! and keeps only what FullGrad needs of it, the layer's map
//! `Σ_c minmax(|b_c · g_c|)` per image (pytorch-grad-cam 1.5.7 `fullgrad_cam.py`: each channel
//! scaled to `[0, 1)` by `scale_cam_image`, then summed over channels), at the layer's own
//! resolution. So one backward pass through the whole network yields every layer's
//! bias-gradient map, without keeping the full-size gradients of every layer alive (the
//! reference stores them all through hooks). The gradient itself passes on unchanged. Burn's
//! autodiff cannot hand out the gradient of an intermediate tensor, so the tap is a custom
//! backward step of burn-autodiff on the Flex backend, reached through burn's
//! backend-extension API, as the guided rectifier is (`guided.rs`).
//!
//! Which biases: a convolution's own bias, and a BatchNorm's effective bias
//! `β - μ γ / sqrt(σ² + ε)`. A BatchNorm folded into the convolution before it leaves the
//! folded bias on the convolution, which is the BatchNorm's effective bias when the
//! convolution had none (every torchvision and timm CNN with BatchNorm); a convolution with a
//! bias of its own *and* a BatchNorm after it counts as one layer once folded (the reference
//! counts two).

use burn::tensor::Tensor;
use burn_autodiff::Autodiff;
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::NoCheckpointing;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind, unary};
use burn_flex::{Flex, FlexTensor};
use std::cell::RefCell;
use std::sync::{Arc, Mutex, PoisonError};

/// One tapped layer's bias-gradient map, `Σ_c minmax(|b_c · g_c|)` for each image.
#[derive(Debug, Clone, PartialEq)]
pub struct BiasMap {
    /// Images (the batch size of the run).
    pub images: usize,
    /// Rows of the layer's output.
    pub height: usize,
    /// Columns of the layer's output.
    pub width: usize,
    /// `images × height × width` values, image by image.
    pub data: Vec<f32>,
}

/// The taps of one scope, in the order the forward pass reached them; `None` until the
/// backward pass has gone through the tap (and for ever if the score does not depend on it).
type Taps = Arc<Mutex<Vec<Option<BiasMap>>>>;

thread_local! {
    static SCOPE: RefCell<Option<Taps>> = const { RefCell::new(None) };
}

/// Taps the biased layers of the networks run on this thread while it lives.
#[derive(Debug)]
pub struct BiasGradients {
    taps: Taps,
    previous: Option<Taps>,
}

impl BiasGradients {
    /// Starts tapping the biased layers of this thread.
    pub fn enter() -> Self {
        let taps = Taps::default();
        let previous = SCOPE.with(|s| s.replace(Some(taps.clone())));
        BiasGradients { taps, previous }
    }

    /// How many biased layers the forward passes have gone through since
    /// [`enter`](Self::enter): zero means the network has no bias to explain with.
    pub fn layers(&self) -> usize {
        self.taps
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// The maps of every tapped layer, in forward order, once the backward pass has run.
    /// A layer the gradient never reached is `None`.
    pub fn maps(&self) -> Vec<Option<BiasMap>> {
        self.taps
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for BiasGradients {
    fn drop(&mut self) {
        SCOPE.with(|s| s.replace(self.previous.take()));
    }
}

/// Whether a [`BiasGradients`] scope is alive on this thread (its taps need each biased
/// layer's output before its activation).
pub(crate) fn tapping() -> bool {
    SCOPE.with(|s| s.borrow().is_some())
}

/// Taps `x`, the output of a layer with per-channel `bias` (channels on dimension `D - 3`),
/// when a scope is alive and `x` is tracked by autodiff; otherwise returns `x` untouched.
pub(crate) fn tap<const D: usize>(x: Tensor<D>, bias: impl FnOnce() -> Vec<f32>) -> Tensor<D> {
    let Some(taps) = SCOPE.with(|s| s.borrow().clone()) else {
        return x;
    };
    if D < 3 || !x.is_autodiff() {
        return x;
    }
    let bias = bias();
    if bias.len() != x.dims()[D - 3] {
        return x;
    }
    let Ok(output) = x.clone().without_autodiff().try_into_primitive::<Flex>() else {
        return x;
    };
    let Ok(input) = x.clone().try_into_primitive::<Autodiff<Flex>>() else {
        return x;
    };
    let slot = {
        let mut taps = taps.lock().unwrap_or_else(PoisonError::into_inner);
        taps.push(None);
        taps.len() - 1
    };
    let state = TapState {
        taps,
        slot,
        bias: bias.into(),
    };
    let result = match BiasTap
        .prepare::<NoCheckpointing>([input.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(state, output),
        OpsKind::UnTracked(prep) => prep.finish(output),
    };
    Tensor::from_primitive::<Autodiff<Flex>>(result)
}

/// The backward step: records the layer's map, passes the gradient on unchanged.
#[derive(Debug)]
struct BiasTap;

#[derive(Debug, Clone)]
struct TapState {
    taps: Taps,
    slot: usize,
    bias: Arc<[f32]>,
}

impl Backward<Flex, 1> for BiasTap {
    type State = TapState;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let state = ops.state;
        unary::<Flex, _>(ops.parents, ops.node, grads, |grad| {
            let map = bias_map(&grad, &state.bias);
            let mut taps = state.taps.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(entry) = taps.get_mut(state.slot) {
                *entry = map;
            }
            grad
        });
    }
}

/// `Σ_c minmax(|b_c · g_c|)` per image of a `[.., images, channels, height, width]` gradient,
/// in f64, where `minmax(v) = (v - min v) / (1e-7 + max v - min v)` (`scale_cam_image`).
fn bias_map(grad: &FlexTensor, bias: &[f32]) -> Option<BiasMap> {
    let dims = grad.layout().shape().to_vec();
    let d = dims.len();
    if d < 3 || dims[d - 3] != bias.len() {
        return None;
    }
    let (height, width) = (dims[d - 2], dims[d - 1]);
    let plane = height * width;
    let channels = bias.len();
    let contiguous = grad.to_contiguous();
    let values = contiguous.as_slice::<f32>()?;
    let per_image = channels * plane;
    let images = values.len().checked_div(per_image)?;
    let mut data = vec![0.0f32; images * plane];
    let mut sum = vec![0.0f64; plane];
    let mut scaled = vec![0.0f64; plane];
    for (image, out) in values
        .chunks_exact(per_image)
        .zip(data.chunks_exact_mut(plane))
    {
        sum.fill(0.0);
        for (g, &b) in image.chunks_exact(plane).zip(bias) {
            let b = f64::from(b);
            let (mut low, mut high) = (f64::INFINITY, f64::NEG_INFINITY);
            for (s, &v) in scaled.iter_mut().zip(g) {
                *s = (b * f64::from(v)).abs();
                low = low.min(*s);
                high = high.max(*s);
            }
            let scale = 1e-7 + (high - low);
            for (total, s) in sum.iter_mut().zip(&scaled) {
                *total += (s - low) / scale;
            }
        }
        for (o, s) in out.iter_mut().zip(&sum) {
            *o = *s as f32;
        }
    }
    Some(BiasMap {
        images,
        height,
        width,
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::prelude::*;

    #[test]
    fn tap_passes_the_gradient_and_records_the_layer_map() {
        let device = Device::default();
        // 1 image, 2 channels, 1 x 3.
        let x = Tensor::<4>::from_data(
            TensorData::new(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], [1, 2, 1, 3]),
            &device,
        )
        .autodiff()
        .require_grad();
        let scope = BiasGradients::enter();
        let y = tap(x.clone(), || vec![2.0, -1.0]);
        assert_eq!(scope.layers(), 1);
        let upstream = Tensor::<4>::from_data(
            TensorData::new(vec![1.0f32, -3.0, 2.0, 0.5, 0.5, 4.0], [1, 2, 1, 3]),
            &device,
        );
        let grads = (y * upstream).sum().backward();
        let g: Vec<f32> = x.grad(&grads).unwrap().into_data().try_to_vec().unwrap();
        assert_eq!(g, vec![1.0, -3.0, 2.0, 0.5, 0.5, 4.0]);
        let map = scope.maps().pop().flatten().expect("recorded");
        assert_eq!((map.images, map.height, map.width), (1, 1, 3));
        // Channel 0: |2 g| = 2, 6, 4 -> 0, 1, 0.5; channel 1: 0.5, 0.5, 4 -> 0, 0, 1.
        let expected = [
            0.0,
            4.0 / (4.0 + 1e-7),
            2.0 / (4.0 + 1e-7) + 3.5 / (3.5 + 1e-7),
        ];
        for (got, want) in map.data.iter().zip(expected) {
            assert!((f64::from(*got) - want).abs() < 1e-6, "{got} vs {want}");
        }
        drop(scope);
        // No scope: nothing is tapped.
        let again = BiasGradients::enter();
        drop(again);
        let z = tap(x, || panic!("not asked for the bias without a scope"));
        assert_eq!(z.dims(), [1, 2, 1, 3]);
    }
}

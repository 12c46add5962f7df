//! Guided back-propagation's rectifier: Springenberg, Dosovitskiy, Brox, Riedmiller, "Striving
//! for Simplicity: The All Convolutional Net", ICLR Workshops 2015.
//!
//! While a [`GuidedBackprop`] scope is alive on a thread, every ReLU and ReLU6 of a network run
//! on that thread with autodiff passes back only the positive part of the gradient, where the
//! rectifier let its input through: `dx = max(dy, 0) · [low < x < high]`
//! (pytorch-grad-cam's `GuidedBackpropReLU`, Captum's `GuidedBackprop`). The forward values
//! are unchanged. Burn's autodiff has no such operation, so this is one: a custom backward step
//! of burn-autodiff on the Flex backend, reached through burn's backend-extension API
//! (`try_into_primitive`). Any other tensor goes through the plain rectifier.
//!
//! pytorch-grad-cam and Captum replace only `torch.nn.ReLU` modules; whycam guides ReLU6 too
//! (EfficientNet-Lite and MobileNetV2 have no other rectifier), where they silently return the
//! plain gradient.

use burn::tensor::Tensor;
use burn_autodiff::Autodiff;
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::NoCheckpointing;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind, unary};
use burn_backend::ops::{ActivationOps, FloatTensorOps};
use burn_flex::{Flex, FlexTensor};
use std::cell::Cell;

thread_local! {
    /// `Some(rectifiers guided so far)` inside a scope.
    static GUIDED: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Guided back-propagation for the networks run on this thread while it lives.
#[derive(Debug)]
pub struct GuidedBackprop {
    previous: Option<usize>,
}

impl GuidedBackprop {
    /// Starts guiding the rectifiers of this thread.
    pub fn enter() -> Self {
        GuidedBackprop {
            previous: GUIDED.with(|g| g.replace(Some(0))),
        }
    }

    /// How many rectifier applications were guided since [`enter`](Self::enter): zero means the
    /// network has no ReLU on the path to its logits.
    pub fn rectifiers(&self) -> usize {
        GUIDED.with(|g| g.get().unwrap_or(0))
    }
}

impl Drop for GuidedBackprop {
    fn drop(&mut self) {
        GUIDED.with(|g| g.set(self.previous));
    }
}

/// Whether a [`GuidedBackprop`] scope is alive on this thread.
pub(crate) fn guiding() -> bool {
    GUIDED.with(|g| g.get().is_some())
}

/// The guided rectifier `min(max(x, low), high)` with `low = 0`, when a scope is alive and `x`
/// is tracked by autodiff; `None` otherwise (the caller runs the plain one).
pub(crate) fn guided_clamp<const D: usize>(x: &Tensor<D>, high: f32) -> Option<Tensor<D>> {
    if GUIDED.with(|g| g.get().is_none()) || !x.is_autodiff() {
        return None;
    }
    let plain = x.clone().without_autodiff();
    let mut mask = plain.clone().greater_elem(0.0).float();
    let output = if high.is_finite() {
        mask = mask * plain.clone().lower_elem(high).float();
        plain.clamp(0.0, high)
    } else {
        plain.clamp_min(0.0)
    };
    let mask = mask.try_into_primitive::<Flex>().ok()?;
    let output = output.try_into_primitive::<Flex>().ok()?;
    let input = x.clone().try_into_primitive::<Autodiff<Flex>>().ok()?;
    let result = match GuidedRectifier
        .prepare::<NoCheckpointing>([input.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(mask, output),
        OpsKind::UnTracked(prep) => prep.finish(output),
    };
    GUIDED.with(|g| g.set(g.get().map(|n| n + 1)));
    Some(Tensor::from_primitive::<Autodiff<Flex>>(result))
}

/// The backward step: the incoming gradient's positive part where the input was let through.
#[derive(Debug)]
struct GuidedRectifier;

impl Backward<Flex, 1> for GuidedRectifier {
    /// 1 where the rectifier let its input through, else 0.
    type State = FlexTensor;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let mask = ops.state;
        unary::<Flex, _>(ops.parents, ops.node, grads, |grad| {
            Flex::float_mul(Flex::relu(grad), mask)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::prelude::*;

    fn gradient(guided: bool, high: f32) -> Vec<f32> {
        let device = Device::default();
        let x = Tensor::<1>::from_data(TensorData::new(vec![-1.0f32, 0.5, 2.0, 7.0], [4]), &device)
            .autodiff()
            .require_grad();
        let scope = guided.then(GuidedBackprop::enter);
        let y = crate::activation::clamp(x.clone(), 0.0, high);
        if let Some(scope) = &scope {
            assert_eq!(scope.rectifiers(), 1);
        }
        // The upstream gradient has both signs.
        let upstream =
            Tensor::<1>::from_data(TensorData::new(vec![1.0f32, -2.0, 3.0, 4.0], [4]), &device);
        let grads = (y * upstream).sum().backward();
        x.grad(&grads)
            .unwrap()
            .into_data()
            .try_into_vec::<f32>()
            .unwrap()
    }

    #[test]
    fn guided_rectifiers_pass_back_only_positive_gradients_where_open() {
        assert_eq!(gradient(false, f32::INFINITY), vec![0.0, -2.0, 3.0, 4.0]);
        assert_eq!(gradient(true, f32::INFINITY), vec![0.0, 0.0, 3.0, 4.0]);
        assert_eq!(gradient(true, 6.0), vec![0.0, 0.0, 3.0, 0.0]);
        // The scope ended with the call: plain gradients again.
        assert_eq!(gradient(false, 6.0), vec![0.0, -2.0, 3.0, 0.0]);
    }
}

//! The check that whycam-cam's partial backward pass, resumed after the target layer, gives the
//! whole network's gradient.

use crate::max_abs_diff;

/// The gradient of `Σ coefficients · logits` at `layer`, from resuming the network after the
/// layer (what the explainer computes), equals the gradient of the whole network run from an
/// autodiff input with a zero probe added at the layer.
pub fn assert_resumed_gradient_is_the_full_gradient(
    model: &whycam_models::Model,
    layer: &str,
    x: &burn::prelude::Tensor<4>,
    coefficients: &burn::prelude::Tensor<2>,
) {
    use burn::prelude::*;
    let net = &*model.net;
    let index = model.layer(layer).unwrap();
    let trace = net.trace(x.clone(), &[index]).unwrap();
    let partial = whycam_cam::target_gradients(net, &trace, 0, coefficients.clone()).unwrap();

    let input = x.clone().autodiff().require_grad();
    let probe = Tensor::<4>::zeros(trace.activations[0].dims(), &x.device())
        .autodiff()
        .require_grad();
    let logits = net
        .forward_perturbed(input.clone(), index, probe.clone())
        .unwrap();
    let grads = (logits * coefficients.clone()).sum().backward();
    let full = probe.grad(&grads).expect("gradient at the layer");
    assert!(input.grad(&grads).is_some(), "the input is in the graph");

    let a: Vec<f32> = partial.into_data().try_into_vec::<f32>().unwrap();
    let b: Vec<f32> = full.into_data().try_into_vec::<f32>().unwrap();
    let scale = b.iter().map(|v| v.abs()).fold(0.0, f32::max);
    assert!(scale > 0.0, "{layer}: zero gradient");
    let diff = max_abs_diff(&a, &b);
    println!("{layer}: max |gradient difference| {diff:.2e} (max |gradient| {scale:.2e})");
    assert!(diff <= 1e-5 * scale.max(1.0), "{layer}: {diff}");
}

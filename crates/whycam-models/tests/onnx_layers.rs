//! Which values of an ONNX graph are token layers: CNN graphs have none (GroupNorm's grouping
//! reshape and other 3-D values are not tokens), and channels-last values are presented as maps.
//! The graphs under tests/data/onnx/ come from `tools/reference/export_onnx.py`.

use whycam_models::{LayerLayout, OnnxModel};
use whycam_testkit::data_dir;

/// CNN graphs get no token layers (GroupNorm's grouping reshape and other 3-D values are not
/// tokens), and ConvNeXt's channels-last block internals (permute, LayerNorm, Linear) are
/// presented channels first, as maps of the block's grid.
#[test]
fn cnn_graphs_have_no_token_layers_and_channels_last_values_are_maps() {
    for file in [
        "ops_zoo.torchscript.onnx",
        "ops_zoo.dynamo.onnx",
        "resnet18_cifar.torchscript.onnx",
        "convnext_tiny.dynamo.onnx",
    ] {
        let model = OnnxModel::load(&data_dir().join("onnx").join(file)).unwrap();
        let (infos, _) = model.layer_infos();
        let tokens: Vec<&str> = infos
            .iter()
            .filter(|l| {
                matches!(
                    l.layout,
                    LayerLayout::Tokens { .. } | LayerLayout::UnknownGrid { .. }
                )
            })
            .map(|l| l.name.as_str())
            .collect();
        assert!(tokens.is_empty(), "{file}: token layers {tokens:?}");
    }
    let model = OnnxModel::load(&data_dir().join("onnx/convnext_tiny.dynamo.onnx")).unwrap();
    let (infos, _) = model.layer_infos();
    let norm = infos
        .iter()
        .find(|l| l.name == "features.1.0.block.2")
        .expect("the first block's LayerNorm");
    assert_eq!(norm.layout, LayerLayout::ChannelsLast);
    assert_eq!(norm.value_shape, [1, 56, 56, 16]);
    assert_eq!(norm.shape, [1, 16, 56, 56]);
}

/// GELU as exported before opset 20 (`Div, Erf, Add, Mul, Mul`) is loaded as one GELU node:
/// the module's output keeps its name, the activation's inner values are gone.
#[test]
fn erf_gelu_chains_load_as_one_gelu_node() {
    let model = OnnxModel::load(&data_dir().join("onnx/convnext_tiny.torchscript.onnx")).unwrap();
    let (infos, _) = model.layer_infos();
    let gelu = infos
        .iter()
        .find(|l| l.name == "features.1.0.block.4")
        .expect("the first block's GELU");
    assert_eq!(gelu.op, "Gelu");
    let inner: Vec<&str> = infos
        .iter()
        .filter(|l| l.op == "Erf" || l.name.contains("block.4/"))
        .map(|l| l.name.as_str())
        .collect();
    assert!(inner.is_empty(), "inner values of GELU listed: {inner:?}");
}

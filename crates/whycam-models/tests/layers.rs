//! Every layer splits a network exactly: running the layers up to a layer and then
//! the rest from its output gives the whole network's logits. This is what explanation methods
//! rely on to differentiate only the part after the target layer.

use burn::prelude::*;
use burn::tensor::{Distribution, Tolerance};
use whycam_models::{Architecture, HeadSpec};

fn check_every_split(arch: Architecture, size: usize) {
    let device = Device::default();
    let net = arch.build(
        HeadSpec {
            classes: 3,
            bias: true,
        },
        &device,
    );
    let x = Tensor::<4>::random([2, 3, size, size], Distribution::Normal(0.0, 1.0), &device);
    let whole = net.forward(x.clone());
    assert_eq!(whole.dims(), [2, 3]);
    let layer_list = net.layer_list();
    for layer in 0..layer_list.len() {
        let features = net.features_at(x.clone(), layer);
        let split = net.logits_from(features, layer);
        split
            .into_data()
            .assert_approx_eq::<f32>(&whole.to_data(), Tolerance::absolute(1e-4));
    }
}

#[test]
fn resnet18_splits_at_every_stage() {
    check_every_split("resnet18".parse().unwrap(), 64);
}

#[test]
fn resnet50_splits_at_every_stage() {
    check_every_split("resnet50".parse().unwrap(), 64);
}

#[test]
fn vgg11_bn_splits_at_every_stage_even_below_7x7_features() {
    check_every_split("vgg11_bn".parse().unwrap(), 64);
}

#[test]
fn mobilenet_v2_splits_at_every_stage() {
    check_every_split(Architecture::MobileNetV2, 64);
}

#[test]
fn densenet121_splits_at_every_stage() {
    check_every_split(Architecture::DenseNet121, 64);
}

#[test]
fn efficientnet_lites_split_at_every_stage_at_odd_sizes() {
    check_every_split(Architecture::EfficientNetLite(0), 67);
    check_every_split(Architecture::EfficientNetLite(4), 45);
}

#[test]
fn pytorch_module_paths_name_the_stages() {
    let device = Device::default();
    let head = HeadSpec {
        classes: 2,
        bias: true,
    };
    let cases: [(&str, &[&str], &str); 5] = [
        (
            "resnet50",
            &["conv1", "maxpool", "layer3.5", "layer4"],
            "layer4.2",
        ),
        (
            "vgg16",
            &["features.0", "features.28", "features.29", "features"],
            "features.30",
        ),
        (
            "vgg16_bn",
            &["features.40", "features.42", "features"],
            "features.43",
        ),
        ("mobilenet_v2", &["features.17", "features"], "features.18"),
        (
            "efficientnet-lite0",
            &["_conv_stem", "_blocks.15", "_conv_head", "_bn1"],
            "features",
        ),
    ];
    for (name, layers, default) in cases {
        let arch: Architecture = name.parse().unwrap();
        let net = arch.build(head, &device);
        for layer in layers {
            assert!(
                net.layer_list().find(layer).is_some(),
                "{name} lacks {layer}"
            );
        }
        let default_name = &net.layer_list().list()[net.default_layer_index()].name;
        assert_eq!(default_name, default, "{name}");
    }
    let resnet = Architecture::ResNet(whycam_models::resnet::ResNetDepth::R34).build(head, &device);
    let layer_list = resnet.layer_list();
    assert_eq!(layer_list.find("layer3"), layer_list.find("layer3.5"));
    assert_eq!(
        layer_list.find("layer4"),
        Some(resnet.default_layer_index())
    );
    assert_eq!(
        layer_list.aliases_of(resnet.default_layer_index()),
        ["layer4"]
    );
    let vgg = Architecture::Vgg {
        depth: 19,
        batch_norm: false,
    }
    .build(head, &device);
    assert_eq!(
        vgg.layer_list().find("features"),
        vgg.layer_list().find("features.36")
    );
    let lite2 = Architecture::EfficientNetLite(2).build(head, &device);
    assert!(lite2.layer_list().find("_blocks.20").is_some());
    assert!(lite2.layer_list().find("_blocks.21").is_none());
}

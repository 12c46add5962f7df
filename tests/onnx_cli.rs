//! `whycam` on ONNX files: the format is sniffed from `--weights`, layers are listed and
//! named by module path, and every broken or unsuitable graph is refused at load time with
//! the file and the problem named.

mod support;

use onnx_ir::{GraphProto, Message, ModelProto, NodeProto, TensorProto, ValueInfoProto};
use std::path::{Path, PathBuf};
use support::{data_dir, fails_with, s, stderr, whycam};

fn fixture(name: &str) -> String {
    s(&data_dir().join("onnx").join(name))
}

fn photo(name: &str) -> String {
    s(&data_dir().join("photos224").join(name))
}

/// A float input or output `[dims]` (0 for a symbolic dimension).
fn value_info(name: &str, dims: &[i64]) -> ValueInfoProto {
    let mut v = ValueInfoProto::new();
    v.name = name.to_string();
    let t = v.type_.mut_or_insert_default().mut_tensor_type();
    t.elem_type = 1;
    let shape = t.shape.mut_or_insert_default();
    for &d in dims {
        shape.dim.push(Default::default());
        let dim = shape.dim.last_mut().expect("pushed");
        if d > 0 {
            dim.set_dim_value(d);
        } else {
            dim.set_dim_param("batch".to_string());
        }
    }
    v
}

fn tensor(name: &str, dims: &[i64], values: Vec<f32>) -> TensorProto {
    let mut t = TensorProto::new();
    t.name = name.to_string();
    t.dims = dims.to_vec();
    t.data_type = 1;
    t.float_data = values;
    t
}

fn node(op: &str, name: &str, inputs: &[&str], outputs: &[&str]) -> NodeProto {
    let mut n = NodeProto::new();
    n.op_type = op.to_string();
    n.name = name.to_string();
    n.input = inputs.iter().map(|s| s.to_string()).collect();
    n.output = outputs.iter().map(|s| s.to_string()).collect();
    n
}

/// A tiny classifier `Conv -> Relu -> GlobalAveragePool -> Flatten -> Gemm`, with `edit`
/// applied to its graph before it is written to `dir/name`.
fn tiny(dir: &Path, name: &str, edit: impl FnOnce(&mut GraphProto)) -> PathBuf {
    let mut model = ModelProto::new();
    model.ir_version = 8;
    model.opset_import.push(Default::default());
    model.opset_import[0].version = 17;
    let g = model.graph.mut_or_insert_default();
    g.input.push(value_info("image", &[0, 3, 0, 0]));
    g.output.push(value_info("logits", &[0, 2]));
    g.initializer.push(tensor(
        "conv.weight",
        &[4, 3, 3, 3],
        (0..108).map(|i| (i % 7) as f32 * 0.1 - 0.3).collect(),
    ));
    g.initializer.push(tensor(
        "fc.weight",
        &[2, 4],
        vec![1.0, -1.0, 0.5, 0.25, -0.5, 1.0, 0.0, 2.0],
    ));
    g.node.push(node(
        "Conv",
        "/conv/Conv",
        &["image", "conv.weight"],
        &["c"],
    ));
    g.node.push(node("Relu", "/relu/Relu", &["c"], &["r"]));
    g.node.push(node(
        "GlobalAveragePool",
        "/pool/GlobalAveragePool",
        &["r"],
        &["p"],
    ));
    g.node.push(node("Flatten", "/Flatten", &["p"], &["f"]));
    let mut gemm = node("Gemm", "/fc/Gemm", &["f", "fc.weight"], &["logits"]);
    gemm.attribute.push(Default::default());
    gemm.attribute[0].name = "transB".to_string();
    gemm.attribute[0].i = 1;
    g.node.push(gemm);
    edit(g);
    let path = dir.join(name);
    std::fs::write(&path, model.write_to_bytes().expect("encode")).expect("write");
    path
}

#[test]
fn a_tiny_graph_is_explained_with_every_output() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny(dir.path(), "tiny.onnx", |_| {});
    let out = whycam(&["models", &s(&model)]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        text.contains("relu") && text.contains("(default target)"),
        "{text}"
    );
    let out_dir = dir.path().join("out");
    let out = whycam(&[
        "explain",
        "--weights",
        &s(&model),
        "--method",
        "cam,gradcam",
        "--size",
        "32",
        "--save-raw",
        "--out",
        &s(&out_dir),
        &photo("chelsea.png"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let files: Vec<String> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        files
            .iter()
            .any(|f| f.ends_with(".png") && f.contains("cam")),
        "{files:?}"
    );
    assert!(files.iter().any(|f| f.ends_with(".npy")), "{files:?}");

    // --preprocess shorter keeps the whole 40x20 photo: shorter side 16, so 32x16 in, and the
    // unpadded 3x3 convolution's map is 14 rows by 30 columns.
    let wide = dir.path().join("wide.png");
    image::RgbImage::from_fn(40, 20, |x, y| {
        image::Rgb([(x * 6) as u8, (y * 12) as u8, 90])
    })
    .save(&wide)
    .unwrap();
    let out_dir = dir.path().join("shorter");
    let out = whycam(&[
        "explain",
        "--weights",
        &s(&model),
        "--preprocess",
        "shorter",
        "--size",
        "16",
        "--save-raw",
        "--out",
        &s(&out_dir),
        &s(&wide),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let bytes = std::fs::read(out_dir.join("wide.gradcam.npy")).unwrap();
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    assert_eq!(npy.shape(), [14, 30]);
    // A graph with a fixed input shape cannot take it.
    fails_with(
        &[
            "explain",
            "--weights",
            &fixture("resnet18_cifar.torchscript.onnx"),
            "--preprocess",
            "shorter",
            "--out",
            &s(&out_dir),
            &s(&wide),
        ],
        &["--preprocess shorter", "fixed"],
    );
}

#[test]
fn committed_exports_predict_and_list_their_module_paths() {
    let out = whycam(&["models", &fixture("resnet18_cifar.torchscript.onnx")]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", stderr(&out));
    let default = text
        .lines()
        .find(|l| l.contains("(default target)"))
        .unwrap_or_default();
    assert!(default.starts_with("layer4 "), "{text}");
    assert!(
        text.contains("layer3.0.conv2") && text.contains("BatchNorm"),
        "{text}"
    );

    let out = whycam(&[
        "predict",
        "--weights",
        &fixture("mobilenet_v3_large.dynamo.onnx"),
        &photo("chelsea.png"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("class "),
        "{}",
        stderr(&out)
    );
}

#[test]
fn layers_are_named_by_module_path_or_refused_with_suggestions() {
    let model = fixture("resnet18_cifar.torchscript.onnx");
    let dir = tempfile::tempdir().unwrap();
    let out_dir = s(&dir.path().join("out"));
    // bn2 is folded into conv2: its name is accepted for the convolution's output.
    let out = whycam(&[
        "explain",
        "--weights",
        &model,
        "--layer",
        "layer3.0.bn2",
        "--out",
        &out_dir,
        &photo("coffee.png"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Ablation-CAM resumes the graph after the cut with the skip branch read from the trace, on
    // a graph of fixed batch 1 (run in chunks) and two images.
    let out = whycam(&[
        "explain",
        "--weights",
        &fixture("resnet18_cifar_binary.torchscript.onnx"),
        "--method",
        "ablationcam",
        "--layer",
        "layer3.0.bn2",
        "--out",
        &out_dir,
        &photo("coffee.png"),
        &photo("chelsea.png"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    fails_with(
        &[
            "explain",
            "--weights",
            &model,
            "--layer",
            "layer4.1.relx",
            "--out",
            &out_dir,
            &photo("coffee.png"),
        ],
        &[
            "no layer \"layer4.1.relx\"",
            "layer4.1.relu",
            "whycam models",
        ],
    );
    fails_with(
        &[
            "explain",
            "--weights",
            &model,
            "--layer",
            "fc",
            "--out",
            &out_dir,
            &photo("coffee.png"),
        ],
        &["\"fc\"", "no spatial map", "layer4"],
    );
    fails_with(
        &[
            "explain",
            "--weights",
            &model,
            "--model",
            "resnet18",
            "--out",
            &out_dir,
            &photo("coffee.png"),
        ],
        &["ONNX", "drop --model"],
    );
}

#[test]
fn broken_and_unsuitable_graphs_are_refused_at_load_time() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let photo = photo("chelsea.png");
    let refuse = |model: &Path, needles: &[&str]| {
        let mut all = vec![model.file_name().unwrap().to_str().unwrap()];
        all.extend_from_slice(needles);
        fails_with(&["predict", "--weights", &s(model), &photo], &all);
    };

    let text = d.join("notes.onnx");
    std::fs::write(&text, "these are not the weights you are looking for\n").unwrap();
    refuse(&text, &["not an ONNX model"]);

    let real = std::fs::read(data_dir().join("onnx/resnet18_cifar.torchscript.onnx")).unwrap();
    let truncated = d.join("truncated.onnx");
    std::fs::write(&truncated, &real[..real.len() / 3]).unwrap();
    refuse(&truncated, &["not an ONNX model"]);

    let unsupported = tiny(d, "custom.onnx", |g| {
        g.node[1].op_type = "Celu".to_string();
        g.node[3].op_type = "NonMaxSuppression".to_string();
    });
    refuse(
        &unsupported,
        &[
            "unsupported operators",
            "Celu",
            "NonMaxSuppression",
            "/relu/Relu",
            "/Flatten",
        ],
    );

    let two = tiny(d, "two_inputs.onnx", |g| {
        g.input.push(value_info("mask", &[0, 1, 8, 8]))
    });
    refuse(&two, &["2 inputs", "image, mask"]);

    let gray = tiny(d, "gray.onnx", |g| {
        g.input[0] = value_info("image", &[0, 1, 8, 8])
    });
    refuse(&gray, &["1 channels"]);

    let flat = tiny(d, "flat.onnx", |g| {
        g.input[0] = value_info("image", &[0, 192])
    });
    refuse(&flat, &["rank 2"]);

    let nan = tiny(d, "nan.onnx", |g| g.initializer[1].float_data[3] = f32::NAN);
    refuse(&nan, &["fc.weight", "NaN"]);

    // A shape of 2^60 elements: refused, not an allocation that aborts the process.
    let huge = tiny(d, "huge.onnx", |g| {
        let mut shape = TensorProto::new();
        shape.name = "huge_shape".to_string();
        shape.dims = vec![3];
        shape.data_type = 7;
        shape.int64_data = vec![1 << 20, 1 << 20, 1 << 20];
        g.initializer.push(shape);
        g.node.insert(
            2,
            node(
                "ConstantOfShape",
                "/huge/ConstantOfShape",
                &["huge_shape"],
                &["z"],
            ),
        );
        g.node
            .insert(3, node("Add", "/huge/Add", &["r", "z"], &["r2"]));
        g.node[4].input[0] = "r2".to_string();
    });
    refuse(&huge, &["/huge/ConstantOfShape", "too large"]);

    // External data: the graph names its data file; without it, that file is named.
    let external = d.join("external");
    std::fs::create_dir(&external).unwrap();
    let source = data_dir().join("onnx/external");
    for entry in std::fs::read_dir(&source).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), external.join(entry.file_name())).unwrap();
    }
    let graph = std::fs::read_dir(&external)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "onnx"))
        .expect("an external-data graph");
    let out = whycam(&["predict", "--weights", &s(&graph), &photo]);
    assert!(out.status.success(), "{}", stderr(&out));
    for entry in std::fs::read_dir(&external).unwrap() {
        let p = entry.unwrap().path();
        if p != graph {
            std::fs::remove_file(&p).unwrap();
            let data = p.file_name().unwrap().to_string_lossy().into_owned();
            refuse(&graph, &[&data, "cannot be read"]);
        }
    }
}

#[test]
fn an_input_the_network_computes_nan_for_fails_alone() {
    // sqrt(x - 0.5) before the convolution: NaN wherever a normalised pixel is below 0.5, so
    // the photo (with dark pixels) gets NaN logits and a white image does not.
    let dir = tempfile::tempdir().unwrap();
    let model = tiny(dir.path(), "sqrt.onnx", |g| {
        g.initializer.push(tensor("half", &[1], vec![0.5]));
        g.node.insert(0, node("Sqrt", "/sqrt/Sqrt", &["d"], &["s"]));
        g.node
            .insert(0, node("Sub", "/sub/Sub", &["image", "half"], &["d"]));
        g.node[2].input[0] = "s".to_string();
    });
    let white = dir.path().join("white.png");
    image::RgbImage::from_pixel(64, 64, image::Rgb([255, 255, 255]))
        .save(&white)
        .unwrap();
    let out_dir = dir.path().join("out");
    let out = whycam(&[
        "explain",
        "--weights",
        &s(&model),
        "--size",
        "32",
        "--out",
        &s(&out_dir),
        &photo("chelsea.png"),
        &s(&white),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let message = stderr(&out);
    assert!(
        message.contains("chelsea.png") && message.contains("NaN or infinity"),
        "{message}"
    );
    let text = std::fs::read_to_string(out_dir.join("explanations.json")).unwrap();
    assert!(!text.contains("null"), "{text}");
    let summary: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(summary["images"].as_array().unwrap().len(), 1);
    assert_eq!(summary["errors"][0]["kind"], "model");
    let predict = whycam(&[
        "predict",
        "--weights",
        &s(&model),
        "--size",
        "32",
        "--json",
        &photo("chelsea.png"),
        &s(&white),
    ]);
    assert_eq!(predict.status.code(), Some(1));
    let text = String::from_utf8_lossy(&predict.stdout);
    assert!(
        !text.contains("null") && text.contains("white.png"),
        "{text}"
    );
}

/// Methods that need something the network lacks are refused once, before any image is read,
/// naming the model: FullGrad a bias, guided back-propagation a rectifier. With a bias (and a
/// ReLU) the same graph is explained.
#[test]
fn methods_the_graph_cannot_support_are_refused_up_front() {
    let dir = tempfile::tempdir().unwrap();
    let plain = tiny(dir.path(), "nobias.onnx", |_| {});
    let smooth = tiny(dir.path(), "smooth.onnx", |g| {
        g.node[1].op_type = "Sigmoid".into()
    });
    let biased = tiny(dir.path(), "biased.onnx", |g| {
        g.initializer
            .push(tensor("conv.bias", &[4], vec![0.5, -0.25, 0.1, 0.0]));
        g.node[0].input.push("conv.bias".into());
    });
    let out_dir = dir.path().join("out");
    let explain = |model: &Path, method: &str| {
        whycam(&[
            "explain",
            "--weights",
            &s(model),
            "--method",
            method,
            "--size",
            "32",
            "--out",
            &s(&out_dir),
            &photo("chelsea.png"),
            &photo("coffee.png"),
        ])
    };
    for (model, method, needle) in [
        (
            &plain,
            "fullgrad",
            "no convolution or BatchNorm with a bias",
        ),
        (&smooth, "guided-backprop", "no ReLU or ReLU6"),
        (&smooth, "guided-gradcam", "no ReLU or ReLU6"),
    ] {
        let out = explain(model, method);
        let err = stderr(&out);
        let name = model.file_name().unwrap().to_string_lossy().into_owned();
        assert!(!out.status.success(), "{method}: {err}");
        assert!(
            err.contains(&format!("{method} cannot explain {name}")) && err.contains(needle),
            "{method}: {err}"
        );
        // Said once for the run, not once per image.
        assert_eq!(err.matches(needle).count(), 1, "{err}");
        let written: Vec<_> = std::fs::read_dir(&out_dir)
            .map(|d| d.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(written.is_empty(), "{method}: {written:?}");
    }
    let out = explain(&biased, "fullgrad,guided-backprop");
    assert!(out.status.success(), "{}", stderr(&out));
}

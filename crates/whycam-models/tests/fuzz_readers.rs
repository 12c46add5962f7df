//! Mutation tests of whycam-models' readers: checkpoints (`.pth` zip + pickle, safetensors)
//! through [`WeightsFile`] and [`Model::load`], and ONNX graphs through [`OnnxModel::load`].
//! The seeds are real files: a whycam-small network saved as whycam's trainer saves it, the
//! same tensors written as `torch.save` writes a state dict, and committed ONNX exports.
//! Besides byte mutations, structural edits rewrite a tensor's shape (with data to match) or
//! an integer of the ONNX graph (dimensions, attributes) to 0, 1, -1 or huge values. A
//! reader must return `Ok` or a [`ModelError`] naming the file, never panic or allocate
//! without bound.
//!
//! The brief runs are part of the suite; the long runs are `--ignored`:
//! `WHYCAM_FUZZ_CASES=2000 cargo test --release -p whycam-models --test fuzz_readers --
//! --ignored --nocapture`.

use burn::prelude::*;
use burn_store::{BurnToPyTorchAdapter, ModuleSnapshot, SafetensorsStore};
use onnx_ir::{Message, ModelProto};
use proptest::test_runner::TestCaseError;
use std::path::{Path, PathBuf};
use whycam_models::{
    Architecture, HeadSpec, LoadOptions, Model, ModelError, OnnxModel, WeightsFile,
    WhycamSmallConfig,
};
use whycam_testkit::mutate::{CappedAlloc, Corpus, Fuzz, Outcome, check, kind};

/// Nothing read here needs more than this in one allocation: a shape that gets past a check
/// aborts the test with the size.
#[global_allocator]
static ALLOC: CappedAlloc<{ 512 << 20 }> = CappedAlloc;

/// Largest tensor data a structural edit writes.
const MAX_EDITED_BYTES: u64 = 16 << 20;

/// One tensor of a checkpoint: name, shape, float32 little-endian data.
type Tensor = (String, Vec<usize>, Vec<u8>);

/// A small whycam-small (widths 4 and 8, 3 classes) as the trainer saves it.
fn small_safetensors(dir: &Path) -> Vec<u8> {
    let device = Device::default();
    let config = WhycamSmallConfig {
        widths: vec![4, 8],
        in_channels: 3,
    };
    let head = HeadSpec {
        classes: 3,
        bias: true,
    };
    let net = Architecture::WhycamSmall
        .network(head, &config, &device)
        .expect("whycam-small");
    let path = dir.join("small.safetensors");
    let mut store = SafetensorsStore::from_file(&path)
        .with_to_adapter(BurnToPyTorchAdapter)
        .skip_enum_variants(true)
        .clear_metadata()
        .metadata("producer", "whycam")
        .metadata("format", "pt")
        .overwrite(true);
    net.save_into(&mut store).expect("save");
    let mut bytes = std::fs::read(&path).expect("saved");
    // burn initialises at random; the same values on every run keep the brief run's cases
    // (and so its outcomes) the same.
    let header = 8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    for (k, value) in bytes[header..].chunks_exact_mut(4).enumerate() {
        value.copy_from_slice(&((k % 97) as f32 / 97.0 - 0.5).to_le_bytes());
    }
    bytes
}

/// The tensors of a float32 safetensors file, sorted by name.
fn safetensors_tensors(bytes: &[u8]) -> Vec<Tensor> {
    let len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + len]).unwrap();
    let data = &bytes[8 + len..];
    let mut tensors: Vec<Tensor> = header
        .as_object()
        .unwrap()
        .iter()
        .filter(|(name, _)| *name != "__metadata__")
        .map(|(name, t)| {
            assert_eq!(t["dtype"], "F32", "{name}");
            let shape = t["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap() as usize)
                .collect();
            let [start, end] = [0, 1].map(|i| t["data_offsets"][i].as_u64().unwrap() as usize);
            (name.clone(), shape, data[start..end].to_vec())
        })
        .collect();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    tensors
}

/// A safetensors file of `tensors` in PyTorch layout.
fn write_safetensors(tensors: &[Tensor]) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    header.insert(
        "__metadata__".into(),
        serde_json::json!({ "format": "pt", "producer": "whycam" }),
    );
    let mut offset = 0;
    for (name, shape, data) in tensors {
        header.insert(
            name.clone(),
            serde_json::json!({
                "dtype": "F32",
                "shape": shape,
                "data_offsets": [offset, offset + data.len()],
            }),
        );
        offset += data.len();
    }
    let json = serde_json::to_vec(&header).unwrap();
    let mut out = (json.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&json);
    for (_, _, data) in tensors {
        out.extend_from_slice(data);
    }
    out
}

/// CRC-32 (IEEE), as zip entries carry it.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// An uncompressed zip archive of `entries`, as `torch.save` writes one.
fn zip_stored(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in entries {
        let offset = out.len() as u32;
        let crc = crc32(data);
        let fields = |out: &mut Vec<u8>| {
            out.extend_from_slice(&0u16.to_le_bytes()); // flags
            out.extend_from_slice(&0u16.to_le_bytes()); // stored
            out.extend_from_slice(&[0; 4]); // time, date
            out.extend_from_slice(&crc.to_le_bytes());
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes()); // extra
        };
        out.extend_from_slice(b"PK\x03\x04\x14\x00");
        fields(&mut out);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        central.extend_from_slice(b"PK\x01\x02\x14\x00\x14\x00");
        fields(&mut central);
        central.extend_from_slice(&[0; 6]); // comment length, disk, internal attributes
        central.extend_from_slice(&[0; 4]); // external attributes
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let start = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(b"PK\x05\x06\0\0\0\0");
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&start.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// `torch.save(state_dict)` of `tensors`: a zip of `data.pkl` (protocol 2, an
/// `OrderedDict` of `_rebuild_tensor_v2` calls on persistent storages) and `data/N`.
fn write_pth(tensors: &[Tensor]) -> Vec<u8> {
    fn unicode(p: &mut Vec<u8>, s: &str) {
        p.push(b'X');
        p.extend_from_slice(&(s.len() as u32).to_le_bytes());
        p.extend_from_slice(s.as_bytes());
    }
    fn int(p: &mut Vec<u8>, v: usize) {
        p.push(b'J');
        p.extend_from_slice(&(v as i32).to_le_bytes());
    }
    let mut p = b"\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01(".to_vec();
    for (key, (name, shape, data)) in tensors.iter().enumerate() {
        unicode(&mut p, name);
        p.extend_from_slice(b"ctorch._utils\n_rebuild_tensor_v2\n((");
        unicode(&mut p, "storage");
        p.extend_from_slice(b"ctorch\nFloatStorage\n");
        unicode(&mut p, &key.to_string());
        unicode(&mut p, "cpu");
        int(&mut p, data.len() / 4);
        p.extend_from_slice(b"tQ");
        int(&mut p, 0);
        p.push(b'(');
        for &d in shape {
            int(&mut p, d);
        }
        p.extend_from_slice(b"t(");
        let mut stride = 1;
        let mut strides = vec![0; shape.len()];
        for (s, &d) in strides.iter_mut().zip(shape).rev() {
            *s = stride;
            stride *= d;
        }
        for s in strides {
            int(&mut p, s);
        }
        p.extend_from_slice(b"t\x89ccollections\nOrderedDict\n)RtR");
    }
    p.extend_from_slice(b"u.");
    let mut entries = vec![("archive/data.pkl".to_string(), p)];
    entries.push(("archive/byteorder".into(), b"little".to_vec()));
    for (key, (_, _, data)) in tensors.iter().enumerate() {
        entries.push((format!("archive/data/{key}"), data.clone()));
    }
    entries.push(("archive/version".into(), b"3\n".to_vec()));
    zip_stored(&entries)
}

/// Sets dimension `which / tensors` (of its rank) of tensor `which % tensors` to `value`,
/// kept small enough that its data fits [`MAX_EDITED_BYTES`], and resizes its data (the
/// old values repeated) to match: the file stays valid, its shapes change.
fn edit_shapes(tensors: &mut [Tensor], edits: &[(u32, u64)]) {
    for &(which, value) in edits {
        let (which, count) = (which as usize, tensors.len());
        let (_, shape, data) = &mut tensors[which % count];
        if shape.is_empty() {
            continue;
        }
        let dim = (which / count) % shape.len();
        let others: u64 = shape
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != dim)
            .map(|(_, &d)| d.max(1) as u64)
            .product();
        let most = MAX_EDITED_BYTES / 4 / others;
        shape[dim] = (if value <= most {
            value
        } else {
            value % (most + 1)
        }) as usize;
        let bytes = shape.iter().product::<usize>() * 4;
        let old = std::mem::take(data);
        *data = old.iter().copied().cycle().take(bytes).collect();
        if old.is_empty() {
            data.resize(bytes, 0);
        }
    }
}

/// The checkpoint seeds: safetensors as saved, the same as `.pth`, and a `.pth` nested
/// under `module.` as DataParallel saves it.
fn weights_corpus(dir: &Path) -> Corpus {
    let saved = small_safetensors(dir);
    let tensors = safetensors_tensors(&saved);
    let prefixed: Vec<Tensor> = tensors
        .iter()
        .map(|(n, s, d)| (format!("module.{n}"), s.clone(), d.clone()))
        .collect();
    let mut corpus = Corpus::new();
    corpus.add("small.safetensors", saved);
    corpus.add("small.pth", write_pth(&tensors));
    corpus.add("small-module.pth", write_pth(&prefixed));
    corpus
}

/// A seed with its shapes edited, written back in its own format.
fn edit_checkpoint(seed: &[u8], edits: &[(u32, u64)]) -> Vec<u8> {
    if seed.starts_with(b"PK") {
        // The .pth seeds are edited as the safetensors seed written as .pth (odd edits).
        return seed.to_vec();
    }
    let mut tensors = safetensors_tensors(seed);
    edit_shapes(&mut tensors, edits);
    if edits.first().is_some_and(|(which, _)| which % 2 == 1) {
        write_pth(&tensors)
    } else {
        write_safetensors(&tensors)
    }
}

/// The error names the file.
fn names(error: &ModelError, file: &str) -> Result<(), TestCaseError> {
    check(error.to_string().contains(file), || {
        format!("error does not name {file}: {error}")
    })
}

/// `WeightsFile::open` (every name has a shape) and `Model::load` as whycam-small.
fn weights_reader(dir: &Path) -> impl Fn(&[u8]) -> Outcome {
    let path = dir.join("fuzzed.weights");
    move |bytes| {
        std::fs::write(&path, bytes).unwrap();
        let opened = match WeightsFile::open(&path, &[]) {
            Ok(mut file) => {
                let names = file
                    .names()
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                check(!names.is_empty(), || "no tensors".into())?;
                for name in names.iter().take(64) {
                    match file.shape(name) {
                        Ok(Some(_)) => {}
                        Ok(None) => {
                            return Err(TestCaseError::fail(format!("no shape for {name}")));
                        }
                        Err(e) => names_or_fail(&e)?,
                    }
                }
                "open"
            }
            Err(e) => {
                names(&e, "fuzzed.weights")?;
                return Ok(kind(&e));
            }
        };
        let loaded = match Model::load(Architecture::WhycamSmall, &path, LoadOptions::default()) {
            Ok(model) => {
                let net = &model.net;
                check(net.default_layer() < net.layers().list().len(), || {
                    "the default layer is not a layer".into()
                })?;
                check(net.num_classes() > 0, || "no classes".into())?;
                "ok".to_string()
            }
            Err(e) => {
                names(&e, "fuzzed.weights")?;
                kind(&e)
            }
        };
        Ok(format!("{opened}, {loaded}"))
    }
}

fn names_or_fail(e: &ModelError) -> Result<(), TestCaseError> {
    names(e, "fuzzed.weights")
}

/// Every integer field of an ONNX graph a structural edit may set: the input's dimensions,
/// initializer and constant dimensions, attribute values.
fn onnx_integers(model: &mut ModelProto, visit: &mut dyn FnMut(&mut i64)) {
    let graph = model.graph.mut_or_insert_default();
    for input in graph.input.iter_mut().chain(graph.output.iter_mut()) {
        if input.type_.is_some() && input.type_.has_tensor_type() {
            let shape = input.type_.mut_or_insert_default().mut_tensor_type();
            for d in shape.shape.mut_or_insert_default().dim.iter_mut() {
                if d.has_dim_value() {
                    let mut v = d.dim_value();
                    visit(&mut v);
                    d.set_dim_value(v);
                }
            }
        }
    }
    for t in graph.initializer.iter_mut() {
        t.dims.iter_mut().for_each(&mut *visit);
    }
    for node in graph.node.iter_mut() {
        for a in node.attribute.iter_mut() {
            visit(&mut a.i);
            a.ints.iter_mut().for_each(&mut *visit);
            if let Some(t) = a.t.as_mut() {
                t.dims.iter_mut().for_each(&mut *visit);
            }
        }
    }
}

/// Sets integer `which` (modulo their number) of the graph to `value`.
fn edit_onnx(seed: &[u8], edits: &[(u32, u64)]) -> Vec<u8> {
    let mut model = ModelProto::parse_from_bytes(seed).expect("a seed parses");
    let mut count = 0usize;
    onnx_integers(&mut model, &mut |_| count += 1);
    for &(which, value) in edits {
        let target = which as usize % count.max(1);
        let mut at = 0;
        onnx_integers(&mut model, &mut |v| {
            if at == target {
                *v = value as i64;
            }
            at += 1;
        });
    }
    model.write_to_bytes().expect("serialises")
}

fn onnx_seed(name: &str) -> Vec<u8> {
    std::fs::read(whycam_testkit::data_dir().join("onnx").join(name)).expect("onnx seed")
}

/// Small committed exports: a CIFAR ResNet-18 with a one-logit head (32 px) and the graph
/// of every op whycam runs.
fn onnx_corpus() -> Corpus {
    let mut corpus = Corpus::new();
    for name in [
        "resnet18_cifar_binary.torchscript.onnx",
        "ops_zoo.torchscript.onnx",
    ] {
        corpus.add(name, onnx_seed(name));
    }
    corpus
}

/// `OnnxModel::load`: `Ok` with a feature map to explain, or an error naming the file.
fn onnx_reader(dir: &Path) -> impl Fn(&[u8]) -> Outcome {
    let path = dir.join("fuzzed.onnx");
    move |bytes| {
        std::fs::write(&path, bytes).unwrap();
        match OnnxModel::load(&path) {
            Ok(model) => {
                let (layers, default) = model.layer_infos();
                check(default < layers.len(), || {
                    format!("default layer {default} of {}", layers.len())
                })?;
                Ok("ok".into())
            }
            Err(e) => {
                names(&e, "fuzzed.onnx")?;
                Ok(kind(&e))
            }
        }
    }
}

fn tempdir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    (dir, path)
}

#[test]
fn seeds_are_read() {
    let (_keep, dir) = tempdir();
    let corpus = weights_corpus(&dir);
    let read = weights_reader(&dir);
    for (name, bytes) in corpus.files() {
        assert_eq!(read(bytes).unwrap(), "open, ok", "{name}");
        // An edit that keeps every shape reads the same.
        let edited = edit_checkpoint(bytes, &[(1, 4)]);
        let why = || {
            std::fs::write(dir.join("edited.pth"), &edited).unwrap();
            WeightsFile::open(&dir.join("edited.pth"), &[]).err()
        };
        assert_eq!(
            read(&edited).unwrap(),
            "open, ok",
            "{name} edited: {:?}",
            why()
        );
    }
    let read = onnx_reader(&dir);
    for (name, bytes) in onnx_corpus().files() {
        assert_eq!(read(bytes).unwrap(), "ok", "{name}");
        assert_eq!(
            read(&edit_onnx(bytes, &[])).unwrap(),
            "ok",
            "{name} reserialised"
        );
    }
}

#[test]
fn weights_brief() {
    let (_keep, dir) = tempdir();
    let corpus = weights_corpus(&dir);
    Fuzz::brief("weights", 300).run_structured(
        &corpus,
        3,
        &edit_checkpoint,
        &|_| {},
        weights_reader(&dir),
    );
}

#[test]
fn onnx_brief() {
    let (_keep, dir) = tempdir();
    Fuzz::brief("onnx", 300).run_structured(
        &onnx_corpus(),
        2,
        &edit_onnx,
        &|_| {},
        onnx_reader(&dir),
    );
}

#[test]
#[ignore = "long run: WHYCAM_FUZZ_CASES cases from a random seed"]
fn weights_long() {
    let (_keep, dir) = tempdir();
    let corpus = weights_corpus(&dir);
    Fuzz::long("weights").run_structured(
        &corpus,
        3,
        &edit_checkpoint,
        &|_| {},
        weights_reader(&dir),
    );
}

#[test]
#[ignore = "long run: WHYCAM_FUZZ_CASES cases from a random seed"]
fn onnx_long() {
    let (_keep, dir) = tempdir();
    Fuzz::long("onnx").run_structured(&onnx_corpus(), 2, &edit_onnx, &|_| {}, onnx_reader(&dir));
}

/// A one-node-chain ONNX classifier on a `[1, 3, side, side]` input: `node` (fed the image
/// and, when given, one int64 or float initializer) then global average pooling and a
/// flatten to `[1, 3]` logits. The regressions below are each such a graph with one bad
/// number.
fn tiny_onnx(
    side: i64,
    node: &str,
    attributes: &[(&str, Vec<i64>, &str)],
    init: Option<(Vec<i64>, Vec<i64>)>,
) -> Vec<u8> {
    use onnx_ir::{AttributeProto, NodeProto, TensorProto, ValueInfoProto};
    let mut model = ModelProto::new();
    model.ir_version = 8;
    let graph = model.graph.mut_or_insert_default();
    let value = |name: &str, dims: &[i64]| {
        let mut v = ValueInfoProto::new();
        v.name = name.into();
        let tensor = v.type_.mut_or_insert_default().mut_tensor_type();
        tensor.elem_type = 1;
        let shape = tensor.shape.mut_or_insert_default();
        for &d in dims {
            shape.dim.push(Default::default());
            shape.dim.last_mut().unwrap().set_dim_value(d);
        }
        v
    };
    graph.input.push(value("image", &[1, 3, side, side]));
    graph.output.push(value("logits", &[1, 3]));
    let mut first = NodeProto::new();
    first.op_type = node.into();
    first.input = vec!["image".into()];
    first.output = vec!["features".into()];
    for (name, ints, text) in attributes {
        let mut a = AttributeProto::new();
        a.name = (*name).into();
        a.ints = ints.clone();
        a.s = text.as_bytes().to_vec().into();
        first.attribute.push(a);
    }
    if let Some((dims, data)) = init {
        let mut t = TensorProto::new();
        t.name = "second".into();
        t.dims = dims;
        if node == "Conv" {
            t.data_type = 1;
            t.float_data = data.iter().map(|&v| v as f32).collect();
        } else {
            t.data_type = 7;
            t.int64_data = data;
        }
        graph.initializer.push(t);
        first.input.push("second".into());
    }
    let mut pool = NodeProto::new();
    pool.op_type = "GlobalAveragePool".into();
    pool.input = vec!["features".into()];
    pool.output = vec!["pooled".into()];
    let mut flatten = NodeProto::new();
    flatten.op_type = "Flatten".into();
    flatten.input = vec!["pooled".into()];
    flatten.output = vec!["logits".into()];
    graph.node = vec![first, pool, flatten];
    model.write_to_bytes().unwrap()
}

/// Loads ONNX `bytes`: the error's text (an `Ok` is a failure of the regression).
fn onnx_error(bytes: &[u8]) -> String {
    let (_keep, dir) = tempdir();
    let path = dir.join("regression.onnx");
    std::fs::write(&path, bytes).unwrap();
    let Err(error) = OnnxModel::load(&path) else {
        panic!("a damaged graph loaded");
    };
    let error = error.to_string();
    assert!(error.contains("regression.onnx"), "{error}");
    error
}

#[test]
fn regressions_that_the_tiny_graphs_load() {
    // The regressions' graph with good numbers loads: each finding below is its one number.
    let (_keep, dir) = tempdir();
    let path = dir.join("tiny.onnx");
    let conv = tiny_onnx(
        8,
        "Conv",
        &[("pads", vec![1, 1, 1, 1], "")],
        Some((vec![3, 3, 1, 1], vec![1; 9])),
    );
    let pad = tiny_onnx(
        8,
        "Pad",
        &[("mode", vec![], "reflect")],
        Some((vec![8], vec![0, 0, 2, 2, 0, 0, 2, 2])),
    );
    for bytes in [conv, pad] {
        std::fs::write(&path, bytes).unwrap();
        OnnxModel::load(&path).unwrap();
    }
}

/// Finding (onnx brief run, first draft): a Conv's `pads` of 2^62 reached burn, which
/// padded the input first: an allocation of 8.4 EB, so the process aborted. Now the padded
/// size is checked (overflow, element limit) before the backend runs.
#[test]
fn regression_conv_pads_are_bounded() {
    let huge = 1i64 << 62;
    let bytes = tiny_onnx(
        8,
        "Conv",
        &[("pads", vec![huge, 1, huge, 1], "")],
        Some((vec![3, 3, 1, 1], vec![1; 9])),
    );
    let error = onnx_error(&bytes);
    assert!(error.contains("too large"), "{error}");
    let bytes = tiny_onnx(
        8,
        "Conv",
        &[("pads", vec![40_000; 4], "")],
        Some((vec![3, 3, 1, 1], vec![1; 9])),
    );
    assert!(onnx_error(&bytes).contains("too large"));
}

/// Finding (onnx long run, seed c013634fcb8bfc65, ops_zoo with a Pad's constant set to
/// 127): a reflect Pad wider than its input panicked in burn's `validate_padding`.
#[test]
fn regression_reflect_pad_wider_than_the_input() {
    let bytes = tiny_onnx(
        8,
        "Pad",
        &[("mode", vec![], "reflect")],
        Some((vec![8], vec![0, 0, 127, 0, 0, 0, 0, 0])),
    );
    let error = onnx_error(&bytes);
    assert!(error.contains("reflect pads"), "{error}");
    let bytes = tiny_onnx(
        8,
        "Pad",
        &[],
        Some((vec![8], vec![0, 0, 1 << 40, 0, 0, 0, 1 << 40, 0])),
    );
    assert!(onnx_error(&bytes).contains("too large"));
}

/// Finding (onnx brief run, first draft): an input of 2^40 x 2^40 px made loading allocate
/// the blank batch it runs the graph on: a 13 TB allocation and an abort.
#[test]
fn regression_input_size_is_bounded() {
    let bytes = tiny_onnx(1 << 40, "Relu", &[], None);
    let error = onnx_error(&bytes);
    assert!(error.contains("at most 4096x4096"), "{error}");
}

/// Finding (weights long run, seed aa631a4caf4d5499): a whycam-small checkpoint whose
/// `blocks.0.conv1.weight` is [5000, 3, 3, 3] (540 kB of data) built a network with a
/// 5000 x 5000 x 3 x 3 second convolution (the long run's 144,000 wide one asked for
/// 747 GB and aborted) before noticing the file has no such tensor.
#[test]
fn regression_whycam_small_width_is_bounded_by_the_file() {
    let header = concat!(
        r#"{"blocks.0.conv1.weight":{"dtype":"F32","shape":[5000,3,3,3],"#,
        r#""data_offsets":[0,540000]},"#,
        r#""head.weight":{"dtype":"F32","shape":[2,5000],"data_offsets":[540000,580000]}}"#
    )
    .as_bytes();
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header);
    bytes.resize(bytes.len() + 580_000, 0);
    let (_keep, dir) = tempdir();
    let path = dir.join("wide.safetensors");
    std::fs::write(&path, bytes).unwrap();
    let Err(error) = Model::load(Architecture::WhycamSmall, &path, LoadOptions::default()) else {
        panic!("a damaged checkpoint loaded");
    };
    let error = error.to_string();
    assert!(
        error.contains("wide.safetensors") && error.contains("blocks.0.conv2.weight is missing"),
        "{error}"
    );
}

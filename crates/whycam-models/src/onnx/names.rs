//! PyTorch module paths from the names exporters give ONNX nodes.
//!
//! * TorchScript (`dynamo=False`) names a node by the scopes of the modules it ran in, each
//!   scope by its "unqualified" name (from the last non-numeric atom of its path on):
//!   `/layer4/layer4.1/relu_1/Relu` is the second call (`_1`) of `layer4.1.relu`,
//!   `/features/features.0/features.0.0/Conv` is in `features.0.0`.
//! * dynamo (the default since torch 2.9) names nodes `node_Conv_12` and records the module
//!   paths in the node's `metadata_props` under `pkg.torch.onnx.name_scopes`, a list from the
//!   root to the innermost module.

use onnx_ir::NodeProto;
use std::collections::HashSet;

/// The metadata key of dynamo's module paths.
const NAME_SCOPES: &str = "pkg.torch.onnx.name_scopes";
/// The metadata key of the classes of those scopes; the innermost is the aten op itself.
const CLASS_HIERARCHY: &str = "pkg.torch.onnx.class_hierarchy";

/// A path's unqualified name: from its last non-numeric atom on (all of it if all numeric).
fn unqualified(path: &str) -> &str {
    let atoms: Vec<&str> = path.split('.').collect();
    match atoms
        .iter()
        .rposition(|a| !a.chars().all(|c| c.is_ascii_digit()))
    {
        Some(i) => {
            let skip: usize = atoms[..i].iter().map(|a| a.len() + 1).sum();
            &path[skip..]
        }
        None => path,
    }
}

/// The full path of scope `name` inside `parent`.
fn qualify(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        return name.to_string();
    }
    if let Some(rest) = name.strip_prefix(parent).and_then(|r| r.strip_prefix('.')) {
        // Already a full path (dynamo).
        return format!("{parent}.{rest}");
    }
    let pu = unqualified(parent);
    if let Some(rest) = name.strip_prefix(pu).and_then(|r| r.strip_prefix('.'))
        && rest
            .split('.')
            .all(|a| !a.is_empty() && a.chars().all(|c| c.is_ascii_digit()))
    {
        return format!("{parent}.{rest}");
    }
    format!("{parent}.{name}")
}

/// The module paths a node ran in, outermost first (empty for the root).
pub fn scopes(node: &NodeProto) -> Vec<String> {
    let prop = |key: &str| node.metadata_props.iter().find(|p| p.key == key);
    let raw: Vec<String> = match prop(NAME_SCOPES) {
        Some(p) => {
            let mut scopes = parse_list(&p.value);
            let classes = prop(CLASS_HIERARCHY).map(|c| parse_list(&c.value));
            match classes {
                // Keep the modules, drop the aten/prims function that made the node.
                Some(classes) if classes.len() == scopes.len() => scopes
                    .into_iter()
                    .zip(classes)
                    .filter(|(_, class)| {
                        !(class.starts_with("aten.") || class.starts_with("prims."))
                    })
                    .map(|(s, _)| s)
                    .collect(),
                _ => {
                    scopes.pop();
                    scopes
                }
            }
        }
        None if node.name.starts_with('/') => {
            let mut parts: Vec<String> = node
                .name
                .split('/')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            parts.pop(); // the op's own name
            parts
        }
        None => Vec::new(),
    };
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    for name in raw.iter().filter(|s| !s.is_empty()) {
        let parent = out.last().map_or("", String::as_str);
        let full = qualify(parent, name);
        if out.last() != Some(&full) {
            out.push(full);
        }
    }
    out
}

/// A Python or JSON list of strings (`['', 'layer1', 'layer1.0']`), or one bare string.
fn parse_list(text: &str) -> Vec<String> {
    let t = text.trim();
    let Some(inner) = t.strip_prefix('[').and_then(|s| s.strip_suffix(']')) else {
        return vec![t.to_string()];
    };
    inner
        .split(',')
        .map(|s| s.trim().trim_matches(|c| c == '\'' || c == '"').to_string())
        .collect()
}

/// Folds the scopes of repeated calls (`relu_1`, the second call of `relu`) into the module's
/// own path when the module was also called as itself: a module's output is its last call's.
pub fn merge_repeated_calls(all: &mut [Vec<String>]) {
    let known: HashSet<String> = all.iter().flatten().cloned().collect();
    for scopes in all.iter_mut() {
        for i in 0..scopes.len() {
            let path = scopes[i].clone();
            let Some((base, n)) = path.rsplit_once('_') else {
                continue;
            };
            if n.is_empty() || !n.chars().all(|c| c.is_ascii_digit()) || !known.contains(base) {
                continue;
            }
            // Rewrite this scope and its children.
            for s in scopes[i..].iter_mut() {
                if let Some(rest) = s.strip_prefix(&path) {
                    *s = format!("{base}{rest}");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(name: &str) -> NodeProto {
        NodeProto {
            name: name.to_string(),
            ..Default::default()
        }
    }

    #[test]
    fn torchscript_names_give_module_paths() {
        assert_eq!(
            scopes(&named("/layer4/layer4.1/relu_1/Relu")),
            ["layer4", "layer4.1", "layer4.1.relu_1"]
        );
        assert_eq!(
            scopes(&named("/features/features.0/features.0.0/Conv")),
            ["features", "features.0", "features.0.0"]
        );
        // fastai: Sequential(body, head) with numeric paths all the way down.
        assert_eq!(
            scopes(&named("/0/0.4/0.4.0/conv1/Conv")),
            ["0", "0.4", "0.4.0", "0.4.0.conv1"]
        );
        assert!(scopes(&named("/Flatten")).is_empty());
        assert!(scopes(&named("node_Conv_12")).is_empty());
    }

    #[test]
    fn dynamo_scopes_are_read_from_metadata() {
        let mut node = named("node_Conv_12");
        let mut prop = onnx_ir::ModelProto::new().metadata_props;
        prop.push(Default::default());
        prop[0].key = NAME_SCOPES.to_string();
        prop[0].value =
            "['', 'layer4', 'layer4.1', 'layer4.1.bn2', '_native_batch_norm_legit_no_training_9']"
                .to_string();
        prop.push(Default::default());
        prop[1].key = CLASS_HIERARCHY.to_string();
        prop[1].value =
            "['torchvision.models.resnet.ResNet', 'torch.nn.modules.container.Sequential', \
            'torchvision.models.resnet.BasicBlock', 'torch.nn.modules.batchnorm.BatchNorm2d', \
            'aten._native_batch_norm_legit_no_training.default']"
                .to_string();
        node.metadata_props = prop;
        assert_eq!(scopes(&node), ["layer4", "layer4.1", "layer4.1.bn2"]);
    }

    #[test]
    fn repeated_calls_fold_into_the_module() {
        let mut all = vec![
            vec![
                "layer1".to_string(),
                "layer1.0".into(),
                "layer1.0.relu".into(),
            ],
            vec![
                "layer1".to_string(),
                "layer1.0".into(),
                "layer1.0.relu_1".into(),
            ],
            vec!["conv_1".to_string()],
        ];
        merge_repeated_calls(&mut all);
        assert_eq!(all[1][2], "layer1.0.relu");
        assert_eq!(all[2][0], "conv_1", "no module conv: a name of its own");
    }
}

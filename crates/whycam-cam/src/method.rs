//! The list of methods, kept once: the CLI derives its choices, the pipeline its dispatch and
//! the output its file names from [`Method`], and every fact of a method (names, what it
//! needs, its default probe batch, its paper, its code) is one row of [`Method::info`].

use crate::error::CamError;
use crate::methods::{
    CamMethod, Needs, Scope, ablationcam::AblationCam, cam::Cam, eigencam::EigenCam,
    eigengradcam::EigenGradCam, fem::Fem, finercam::FinerCam, fullgrad::FullGrad, gradcam::GradCam,
    gradcam_elementwise::GradCamElementwise, gradcampp::GradCamPlusPlus,
    gradient_input::GradientInput, guided_backprop::GuidedBackpropagation,
    guided_gradcam::GuidedGradCam, hirescam::HiResCam, integrated_gradients::IntegratedGradients,
    iscam::IsCam, kpcacam::KpcaCam, layercam::LayerCam, occlusion::Occlusion, randomcam::RandomCam,
    rise::Rise, saliency::Saliency, scorecam::ScoreCam, shapleycam::ShapleyCam,
    smoothgrad::SmoothGrad, smoothgradcampp::SmoothGradCamPlusPlus, sscam::SsCam,
    xgradcam::XGradCam,
};
use std::fmt;
use std::str::FromStr;

/// A CAM method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// CAM (Zhou et al. 2016).
    Cam,
    /// Grad-CAM (Selvaraju et al. 2017).
    GradCam,
    /// Grad-CAM++ (Chattopadhyay et al. 2018).
    GradCamPlusPlus,
    /// XGrad-CAM (Fu et al. 2020).
    XGradCam,
    /// HiResCAM (Draelos, Carin 2020).
    HiResCam,
    /// pytorch-grad-cam's element-wise Grad-CAM.
    GradCamElementwise,
    /// LayerCAM (Jiang et al. 2021).
    LayerCam,
    /// Eigen-CAM (Muhammad, Yeasin 2020).
    EigenCam,
    /// EigenGrad-CAM.
    EigenGradCam,
    /// Score-CAM (Wang et al. 2020).
    ScoreCam,
    /// Ablation-CAM (Desai, Ramaswamy 2020).
    AblationCam,
    /// KPCA-CAM.
    KpcaCam,
    /// FEM.
    Fem,
    /// Finer-CAM.
    FinerCam,
    /// ShapleyCAM.
    ShapleyCam,
    /// RandomCAM.
    RandomCam,
    /// SmoothGrad-CAM++.
    SmoothGradCamPlusPlus,
    /// SS-CAM.
    SsCam,
    /// IS-CAM.
    IsCam,
    /// Saliency.
    Saliency,
    /// Gradient x Input.
    GradientInput,
    /// Integrated Gradients.
    IntegratedGradients,
    /// SmoothGrad.
    SmoothGrad,
    /// Occlusion.
    Occlusion,
    /// RISE.
    Rise,
    /// Guided back-propagation (Springenberg et al. 2015).
    GuidedBackprop,
    /// Guided Grad-CAM (Selvaraju et al. 2017).
    GuidedGradCam,
    /// FullGrad (Srinivas and Fleuret 2019).
    FullGrad,
}

impl Method {
    /// Every method, in the order `--help` lists them.
    pub const ALL: [Method; 28] = [
        Method::Cam,
        Method::GradCam,
        Method::GradCamPlusPlus,
        Method::XGradCam,
        Method::HiResCam,
        Method::GradCamElementwise,
        Method::LayerCam,
        Method::EigenCam,
        Method::EigenGradCam,
        Method::ScoreCam,
        Method::AblationCam,
        Method::KpcaCam,
        Method::Fem,
        Method::FinerCam,
        Method::ShapleyCam,
        Method::RandomCam,
        Method::SmoothGradCamPlusPlus,
        Method::SsCam,
        Method::IsCam,
        Method::Saliency,
        Method::GradientInput,
        Method::IntegratedGradients,
        Method::SmoothGrad,
        Method::Occlusion,
        Method::Rise,
        Method::GuidedBackprop,
        Method::GuidedGradCam,
        Method::FullGrad,
    ];

    /// Everything known about the method: the one table every other fact is read from.
    pub fn info(self) -> &'static MethodInfo {
        // Exhaustive on purpose: a new variant without its row does not compile.
        match self {
            Method::Cam => &MethodInfo {
                id: "cam",
                title: "CAM",
                aliases: &[],
                needs: Needs::ClassMaps,
                scope: Scope::Layer,
                default_probe_batch_size: None,
                citation: "Zhou, Khosla, Lapedriza, Oliva, Torralba, \"Learning Deep Features for \
                           Discriminative Localization\", CVPR 2016",
                implementation: &Cam,
            },
            Method::GradCam => &MethodInfo {
                id: "gradcam",
                title: "Grad-CAM",
                aliases: &["grad-cam"],
                needs: Needs::Gradients,
                scope: Scope::Layer,
                default_probe_batch_size: None,
                citation: "Selvaraju et al., \"Grad-CAM: Visual Explanations from Deep Networks \
                           via Gradient-based Localization\", ICCV 2017",
                implementation: &GradCam,
            },
            Method::GradCamPlusPlus => &MethodInfo {
                id: "gradcampp",
                title: "Grad-CAM++",
                aliases: &["gradcam++", "grad-cam++", "gradcamplusplus"],
                needs: Needs::Gradients,
                scope: Scope::Layer,
                default_probe_batch_size: None,
                citation: "Chattopadhyay, Sarkar, Howlader, Balasubramanian, \"Grad-CAM++: \
                           Improved Visual Explanations for Deep Convolutional Networks\", \
                           WACV 2018",
                implementation: &GradCamPlusPlus,
            },
            Method::XGradCam => &MethodInfo {
                id: "xgradcam",
                title: "XGrad-CAM",
                aliases: &["xgrad-cam"],
                needs: Needs::Gradients,
                scope: Scope::Layer,
                default_probe_batch_size: None,
                citation: "Fu et al., \"Axiom-based Grad-CAM: Towards Accurate Visualization and \
                           Explanation of CNNs\", BMVC 2020",
                implementation: &XGradCam,
            },
            Method::HiResCam => &MethodInfo {
                id: "hirescam",
                title: "HiResCAM",
                aliases: &["hires-cam"],
                needs: Needs::Gradients,
                scope: Scope::Layer,
                default_probe_batch_size: None,
                citation: "Draelos, Carin, \"Use HiResCAM instead of Grad-CAM for faithful \
                           explanations of convolutional neural networks\", 2020 \
                           (arXiv:2011.08891)",
                implementation: &HiResCam,
            },
            Method::GradCamElementwise => &MethodInfo {
                id: "gradcam-elementwise",
                title: "Grad-CAM element-wise",
                aliases: &["gradcamelementwise", "gradcam-ew"],
                needs: Needs::Gradients,
                scope: Scope::Layer,
                default_probe_batch_size: None,
                citation: "pytorch-grad-cam's grad_cam_elementwise.py (no paper; in the spirit of \
                           HiResCAM and LayerCAM)",
                implementation: &GradCamElementwise,
            },
            Method::LayerCam => &MethodInfo {
                id: "layercam",
                title: "LayerCAM",
                aliases: &["layer-cam"],
                needs: Needs::Gradients,
                scope: Scope::Layer,
                default_probe_batch_size: None,
                citation: "Jiang, Zhang, Hou, Cheng, Wei, \"LayerCAM: Exploring Hierarchical Class \
                           Activation Maps for Localization\", IEEE TIP 2021",
                implementation: &LayerCam,
            },
            Method::EigenCam => &MethodInfo {
                id: "eigencam",
                title: "Eigen-CAM",
                aliases: &["eigen-cam"],
                needs: Needs::Activations,
                scope: Scope::Layer,
                default_probe_batch_size: None,
                citation: "Muhammad, Yeasin, \"Eigen-CAM: Class Activation Map using Principal \
                           Components\", IJCNN 2020",
                implementation: &EigenCam,
            },
            Method::EigenGradCam => &MethodInfo {
                id: "eigengradcam",
                title: "EigenGrad-CAM",
                aliases: &["eigengrad-cam", "eigen-grad-cam"],
                needs: Needs::Gradients,
                scope: Scope::Layer,
                default_probe_batch_size: None,
                citation: "pytorch-grad-cam's eigen_grad_cam.py: Eigen-CAM (Muhammad, Yeasin, \
                           IJCNN 2020) of gradients × activations",
                implementation: &EigenGradCam,
            },
            Method::ScoreCam => &MethodInfo {
                id: "scorecam",
                title: "Score-CAM",
                aliases: &["score-cam"],
                needs: Needs::Probe,
                // Each item is a whole image through the whole network: four at a time keep
                // the activations of a 224×224 pass near the caches; 8-32 were 10-20% slower
                // on 2 cores.
                scope: Scope::Layer,
                default_probe_batch_size: Some(4),
                citation: "Wang et al., \"Score-CAM: Score-Weighted Visual Explanations for \
                           Convolutional Neural Networks\", CVPR Workshops 2020",
                implementation: &ScoreCam,
            },
            Method::AblationCam => &MethodInfo {
                id: "ablationcam",
                title: "Ablation-CAM",
                aliases: &["ablation-cam"],
                needs: Needs::Probe,
                // Each item runs only the network after the target layer.
                scope: Scope::Layer,
                default_probe_batch_size: Some(32),
                citation: "Desai, Ramaswamy, \"Ablation-CAM: Visual Explanations for Deep \
                           Convolutional Network via Gradient-free Localization\", WACV 2020",
                implementation: &AblationCam,
            },
            Method::KpcaCam => &MethodInfo {
                id: "kpcacam",
                title: "KPCA-CAM",
                aliases: &[],
                needs: Needs::Activations,
                scope: Scope::Layer,
                default_probe_batch_size: None,
                citation: "Karmani, Khan, Niazi, \"KPCA-CAM: Visual Explainability of Deep Computer Vision Models using Kernel PCA\", 2024 (arXiv:2410.00267)",
                implementation: &KpcaCam,
            },
            Method::Fem => &MethodInfo {
                id: "fem",
                title: "FEM",
                aliases: &["feature-explanation"],
                needs: Needs::Activations,
                scope: Scope::Layer,
                default_probe_batch_size: None,
                citation: "Fuad et al., \"Features understanding in 3D CNNs for actions recognition in video\", IPTA 2020",
                implementation: &Fem,
            },
            Method::FinerCam => &MethodInfo {
                id: "finercam",
                title: "Finer-CAM",
                aliases: &["finer-cam"],
                needs: Needs::Activations,
                scope: Scope::Layer,
                default_probe_batch_size: None,
                citation: "Zhang et al., \"Finer-CAM: Spotting the Difference Reveals Finer Details for Visual Explanation\", CVPR 2025 (arXiv:2501.11309)",
                implementation: &FinerCam,
            },
            Method::ShapleyCam => &MethodInfo {
                id: "shapleycam",
                title: "ShapleyCAM",
                aliases: &["shapley-cam"],
                needs: Needs::Gradients,
                scope: Scope::Layer,
                default_probe_batch_size: None,
                citation: "Cai, \"CAMs as Shapley Value-based Explainers\", 2025 (arXiv:2501.06261)",
                implementation: &ShapleyCam,
            },
            Method::RandomCam => &MethodInfo {
                id: "randomcam",
                title: "RandomCAM",
                aliases: &["random-cam"],
                needs: Needs::Activations,
                scope: Scope::Layer,
                default_probe_batch_size: None,
                citation: "pytorch-grad-cam's random_cam.py: uniform random channel weights in [-1, 1], a baseline for the metrics",
                implementation: &RandomCam,
            },
            Method::SmoothGradCamPlusPlus => &MethodInfo {
                id: "smoothgradcampp",
                title: "SmoothGrad-CAM++",
                aliases: &["smoothgradcam++", "smooth-gradcampp"],
                needs: Needs::Probe,
                scope: Scope::Layer,
                default_probe_batch_size: Some(4),
                citation: "Omeiza, Speakman, Cintas, Weldemariam, \"Smooth Grad-CAM++: An Enhanced Inference Level Visualization Technique for Deep Convolutional Neural Network Models\", 2019 (arXiv:1908.01224)",
                implementation: &SmoothGradCamPlusPlus,
            },
            Method::SsCam => &MethodInfo {
                id: "sscam",
                title: "SS-CAM",
                aliases: &["ss-cam"],
                needs: Needs::Probe,
                scope: Scope::Layer,
                default_probe_batch_size: Some(4),
                citation: "Wang et al., \"SS-CAM: Smoothed Score-CAM for Sharper Visual Feature Localization\", 2020 (arXiv:2006.14255)",
                implementation: &SsCam,
            },
            Method::IsCam => &MethodInfo {
                id: "iscam",
                title: "IS-CAM",
                aliases: &["is-cam"],
                needs: Needs::Probe,
                scope: Scope::Layer,
                default_probe_batch_size: Some(4),
                citation: "Naidu et al., \"IS-CAM: Integrated Score-CAM for axiomatic-based explanations\", 2020 (arXiv:2010.03023)",
                implementation: &IsCam,
            },
            Method::Saliency => &MethodInfo {
                id: "saliency",
                title: "Saliency",
                aliases: &["vanilla-gradient"],
                needs: Needs::Probe,
                scope: Scope::Input,
                default_probe_batch_size: Some(1),
                citation: "Simonyan, Vedaldi, Zisserman, \"Deep Inside Convolutional Networks: Visualising Image Classification Models and Saliency Maps\", ICLR Workshops 2014",
                implementation: &Saliency,
            },
            Method::GradientInput => &MethodInfo {
                id: "gradient-input",
                title: "Gradient x Input",
                aliases: &["inputxgradient", "input-x-gradient", "gradient-x-input"],
                needs: Needs::Probe,
                scope: Scope::Input,
                default_probe_batch_size: Some(1),
                citation: "Shrikumar, Greenside, Shcherbina, Kundaje, \"Not Just a Black Box: Learning Important Features Through Propagating Activation Differences\", 2016 (arXiv:1605.01713)",
                implementation: &GradientInput,
            },
            Method::IntegratedGradients => &MethodInfo {
                id: "integrated-gradients",
                title: "Integrated Gradients",
                aliases: &["ig", "integratedgradients"],
                needs: Needs::Probe,
                scope: Scope::Input,
                default_probe_batch_size: Some(10),
                citation: "Sundararajan, Taly, Yan, \"Axiomatic Attribution for Deep Networks\", ICML 2017",
                implementation: &IntegratedGradients,
            },
            Method::SmoothGrad => &MethodInfo {
                id: "smoothgrad",
                title: "SmoothGrad",
                aliases: &["smooth-grad", "noisetunnel"],
                needs: Needs::Probe,
                scope: Scope::Input,
                default_probe_batch_size: Some(5),
                citation: "Smilkov, Thorat, Kim, Viegas, Wattenberg, \"SmoothGrad: removing noise by adding noise\", 2017 (arXiv:1706.03825)",
                implementation: &SmoothGrad,
            },
            Method::Occlusion => &MethodInfo {
                id: "occlusion",
                title: "Occlusion",
                aliases: &[],
                needs: Needs::Probe,
                scope: Scope::Input,
                default_probe_batch_size: Some(16),
                citation: "Zeiler, Fergus, \"Visualizing and Understanding Convolutional Networks\", ECCV 2014",
                implementation: &Occlusion,
            },
            Method::Rise => &MethodInfo {
                id: "rise",
                title: "RISE",
                aliases: &[],
                needs: Needs::Probe,
                scope: Scope::Input,
                default_probe_batch_size: Some(16),
                citation: "Petsiuk, Das, Saenko, \"RISE: Randomized Input Sampling for Explanation of Black-box Models\", BMVC 2018",
                implementation: &Rise,
            },
            Method::FullGrad => &MethodInfo {
                id: "fullgrad",
                title: "FullGrad",
                aliases: &["full-grad"],
                needs: Needs::Probe,
                scope: Scope::Input,
                default_probe_batch_size: Some(1),
                citation: "Srinivas, Fleuret, \"Full-Gradient Representation for Neural Network Visualization\", NeurIPS 2019",
                implementation: &FullGrad,
            },
            Method::GuidedBackprop => &MethodInfo {
                id: "guided-backprop",
                title: "Guided Backpropagation",
                aliases: &["guidedbackprop", "guided-backpropagation", "gbp"],
                needs: Needs::Probe,
                scope: Scope::Input,
                default_probe_batch_size: Some(1),
                citation: "Springenberg, Dosovitskiy, Brox, Riedmiller, \"Striving for Simplicity: \
                           The All Convolutional Net\", ICLR Workshops 2015",
                implementation: &GuidedBackpropagation,
            },
            Method::GuidedGradCam => &MethodInfo {
                id: "guided-gradcam",
                title: "Guided Grad-CAM",
                aliases: &["guidedgradcam", "guided-grad-cam"],
                needs: Needs::Gradients,
                scope: Scope::Input,
                default_probe_batch_size: None,
                citation: "Selvaraju et al., \"Grad-CAM: Visual Explanations from Deep Networks \
                           via Gradient-based Localization\", ICCV 2017 (Guided Grad-CAM)",
                implementation: &GuidedGradCam,
            },
        }
    }

    /// The id used on the command line and in file names (`gradcampp`).
    pub fn id(self) -> &'static str {
        self.info().id
    }

    /// The name papers and pytorch-grad-cam use (`Grad-CAM++`).
    pub fn title(self) -> &'static str {
        self.info().title
    }

    /// Other spellings accepted on the command line.
    pub fn aliases(self) -> &'static [&'static str] {
        self.info().aliases
    }

    /// The implementation.
    pub fn implementation(self) -> &'static dyn CamMethod {
        self.info().implementation
    }

    /// The ids of [`Method::ALL`], comma-separated, for a help text or an error message.
    pub fn help_list() -> String {
        Method::ALL.map(Method::id).join(", ")
    }
}

/// [`Method::ALL`] follows the declaration order, so a variant inserted among the others
/// without its place in `ALL` does not compile.
const _: () = {
    let mut i = 0;
    while i < Method::ALL.len() {
        assert!(
            Method::ALL[i] as usize == i,
            "Method::ALL out of declaration order"
        );
        i += 1;
    }
};

/// The facts of one method, kept in one place ([`Method::info`]).
#[derive(Clone, Copy)]
#[non_exhaustive]
pub struct MethodInfo {
    /// The id used on the command line and in file names (`gradcampp`).
    pub id: &'static str,
    /// The name papers and pytorch-grad-cam use (`Grad-CAM++`).
    pub title: &'static str,
    /// Other spellings accepted on the command line.
    pub aliases: &'static [&'static str],
    /// What the pipeline must compute for it besides the activations.
    pub needs: Needs,
    /// Whether it maps a target layer or the input pixels.
    pub scope: Scope,
    /// Items per probe pass when the caller does not choose; `Some` exactly for the methods
    /// that need a probe ([`Needs::Probe`]).
    pub default_probe_batch_size: Option<usize>,
    /// The paper (or reference implementation) it follows, in one line.
    pub citation: &'static str,
    /// The implementation.
    pub implementation: &'static dyn CamMethod,
}

impl fmt::Debug for MethodInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MethodInfo")
            .field("id", &self.id)
            .field("title", &self.title)
            .field("aliases", &self.aliases)
            .field("needs", &self.needs)
            .field("scope", &self.scope)
            .field("default_probe_batch_size", &self.default_probe_batch_size)
            .field("citation", &self.citation)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl FromStr for Method {
    type Err = CamError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase().replace('_', "-");
        Method::ALL
            .into_iter()
            .find(|m| m.id() == wanted || m.aliases().contains(&wanted.as_str()))
            .ok_or_else(|| CamError::UnknownMethod {
                name: s.to_string(),
                known: Method::help_list(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_aliases_parse_back() {
        for m in Method::ALL {
            assert_eq!(m.id().parse::<Method>().unwrap(), m);
            for a in m.aliases() {
                assert_eq!(a.parse::<Method>().unwrap(), m);
            }
        }
        assert_eq!("Grad_CAM".parse::<Method>().unwrap(), Method::GradCam);
        let e = "gradcam3".parse::<Method>().unwrap_err().to_string();
        assert!(
            e.contains("gradcam3") && e.contains(&Method::help_list()),
            "{e}"
        );
    }

    #[test]
    fn the_table_is_consistent() {
        let list = Method::help_list();
        assert!(list.starts_with("cam, gradcam, gradcampp, "), "{list}");
        assert!(
            list.ends_with(", rise, guided-backprop, guided-gradcam, fullgrad"),
            "{list}"
        );
        assert_eq!(list.split(", ").count(), Method::ALL.len());
        let mut spellings: Vec<&str> = Method::ALL
            .iter()
            .flat_map(|m| std::iter::once(m.id()).chain(m.aliases().iter().copied()))
            .collect();
        let count = spellings.len();
        spellings.sort_unstable();
        spellings.dedup();
        assert_eq!(spellings.len(), count, "a spelling names two methods");
        for m in Method::ALL {
            let info = m.info();
            assert_eq!(
                info.default_probe_batch_size.is_some(),
                info.needs == Needs::Probe,
                "{m}"
            );
            assert!(
                !info.citation.is_empty() && !info.citation.contains("  "),
                "{m}"
            );
        }
        assert_eq!(Method::ScoreCam.info().default_probe_batch_size, Some(4));
        assert_eq!(
            Method::AblationCam.info().default_probe_batch_size,
            Some(32)
        );
        assert_eq!(Method::Cam.info().needs, Needs::ClassMaps);
        assert_eq!(Method::EigenCam.info().needs, Needs::Activations);
        assert_eq!(Method::GradCam.info().needs, Needs::Gradients);
    }
}

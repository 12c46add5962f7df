//! The list of methods, kept once: the CLI derives its choices, the pipeline its dispatch and
//! the output its file names from [`Method`].

use crate::error::CamError;
use crate::methods::{
    CamMethod, ablationcam::AblationCam, cam::Cam, eigencam::EigenCam, eigengradcam::EigenGradCam,
    gradcam::GradCam, gradcam_elementwise::GradCamElementwise, gradcampp::GradCamPlusPlus,
    hirescam::HiResCam, layercam::LayerCam, scorecam::ScoreCam, xgradcam::XGradCam,
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
}

impl Method {
    /// Every method, in the order `--help` lists them.
    pub const ALL: [Method; 11] = [
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
    ];

    /// The id used on the command line and in file names (`gradcampp`).
    pub fn id(self) -> &'static str {
        match self {
            Method::Cam => "cam",
            Method::GradCam => "gradcam",
            Method::GradCamPlusPlus => "gradcampp",
            Method::XGradCam => "xgradcam",
            Method::HiResCam => "hirescam",
            Method::GradCamElementwise => "gradcam-elementwise",
            Method::LayerCam => "layercam",
            Method::EigenCam => "eigencam",
            Method::EigenGradCam => "eigengradcam",
            Method::ScoreCam => "scorecam",
            Method::AblationCam => "ablationcam",
        }
    }

    /// The name papers and pytorch-grad-cam use (`Grad-CAM++`).
    pub fn title(self) -> &'static str {
        match self {
            Method::Cam => "CAM",
            Method::GradCam => "Grad-CAM",
            Method::GradCamPlusPlus => "Grad-CAM++",
            Method::XGradCam => "XGrad-CAM",
            Method::HiResCam => "HiResCAM",
            Method::GradCamElementwise => "Grad-CAM element-wise",
            Method::LayerCam => "LayerCAM",
            Method::EigenCam => "Eigen-CAM",
            Method::EigenGradCam => "EigenGrad-CAM",
            Method::ScoreCam => "Score-CAM",
            Method::AblationCam => "Ablation-CAM",
        }
    }

    /// Other spellings accepted on the command line.
    pub fn aliases(self) -> &'static [&'static str] {
        match self {
            Method::Cam => &[],
            Method::GradCam => &["grad-cam"],
            Method::GradCamPlusPlus => &["gradcam++", "grad-cam++", "gradcamplusplus"],
            Method::XGradCam => &["xgrad-cam"],
            Method::HiResCam => &["hires-cam"],
            Method::GradCamElementwise => &["gradcamelementwise", "gradcam-ew"],
            Method::LayerCam => &["layer-cam"],
            Method::EigenCam => &["eigen-cam"],
            Method::EigenGradCam => &["eigengrad-cam", "eigen-grad-cam"],
            Method::ScoreCam => &["score-cam"],
            Method::AblationCam => &["ablation-cam"],
        }
    }

    /// The implementation.
    pub fn implementation(self) -> &'static dyn CamMethod {
        match self {
            Method::Cam => &Cam,
            Method::GradCam => &GradCam,
            Method::GradCamPlusPlus => &GradCamPlusPlus,
            Method::XGradCam => &XGradCam,
            Method::HiResCam => &HiResCam,
            Method::GradCamElementwise => &GradCamElementwise,
            Method::LayerCam => &LayerCam,
            Method::EigenCam => &EigenCam,
            Method::EigenGradCam => &EigenGradCam,
            Method::ScoreCam => &ScoreCam,
            Method::AblationCam => &AblationCam,
        }
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
                known: Method::ALL.map(Method::id).join(", "),
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
        assert!(e.contains("gradcam3") && e.contains("ablationcam"), "{e}");
    }
}

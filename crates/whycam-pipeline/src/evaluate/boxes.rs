//! Object boxes for the localisation metrics (`--boxes`): a CSV of
//! `path,x0,y0,x1,y1[,label]` rows in the original image's pixels (`x0 <= x < x1`, the right
//! and bottom edges excluded, as PIL's crop), with an optional class (name or index) of the
//! object. A path holding commas is quoted. A header row starting with `path` is skipped.

use crate::error::{PipelineError, Result};
use crate::per_input::{PerInput, csv_rows};
use std::path::Path;
use whycam_data::{CropRegion, Source, find_class};
use whycam_eval::pointing::BoundingBox;

/// One object's box in the original image's pixels, and its class when given.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ObjectBox {
    pub x0: f64,
    pub y0: f64,
    pub x1: f64,
    pub y1: f64,
    pub class: Option<usize>,
}

/// Boxes by input.
#[derive(Debug, Default)]
pub struct Boxes {
    given: PerInput<ObjectBox>,
}

impl Boxes {
    /// Reads the CSV `path` (see the module's text); a malformed line, an empty box, a
    /// second box for one path or a class the model does not have is an error naming the
    /// line.
    pub fn from_csv(path: &Path, labels: &[String]) -> Result<Self> {
        let problem = |line, problem: &str| PipelineError::BoxLine {
            path: path.to_path_buf(),
            line,
            problem: problem.to_string(),
        };
        let mut boxes = Boxes::default();
        let rows = csv_rows(path, "reading boxes from", |line| {
            problem(line, "not valid CSV")
        })?;
        for (n, row) in rows.into_iter().enumerate() {
            let fields = &row.fields;
            if n == 0 && fields[0].eq_ignore_ascii_case("path") {
                continue;
            }
            if !(5..=6).contains(&fields.len()) || fields[0].is_empty() {
                return Err(problem(row.line, "expected path,x0,y0,x1,y1[,label]"));
            }
            let mut corners = [0.0f64; 4];
            for (value, text) in corners.iter_mut().zip(&fields[1..5]) {
                *value = text
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite() && *v >= 0.0)
                    .ok_or_else(|| {
                        problem(
                            row.line,
                            &format!("\"{text}\" is not a pixel coordinate (a number >= 0)"),
                        )
                    })?;
            }
            let [x0, y0, x1, y1] = corners;
            if x0 >= x1 || y0 >= y1 {
                return Err(problem(
                    row.line,
                    "the box is empty (needs x0 < x1 and y0 < y1)",
                ));
            }
            let class = match fields.get(5).filter(|l| !l.is_empty()) {
                None => None,
                Some(label) => Some(find_class(labels, label).ok_or_else(|| {
                    PipelineError::TruthUnknownLabel {
                        path: path.to_path_buf(),
                        line: row.line,
                        label: label.clone(),
                        classes: labels.len(),
                    }
                })?),
            };
            if boxes.given.contains(&fields[0]) {
                return Err(problem(
                    row.line,
                    &format!("a second box for {} (one box per image)", fields[0]),
                ));
            }
            let object = ObjectBox {
                x0,
                y0,
                x1,
                y1,
                class,
            };
            boxes.given.insert(fields[0].clone(), object);
        }
        Ok(boxes)
    }

    /// The box of `source`, if given.
    pub fn find(&self, source: &Source) -> Option<&ObjectBox> {
        self.given.find(source)
    }
}

impl ObjectBox {
    /// The box in the pixels of the network input (`width × height`) that shows `region`
    /// of an `original` image (width, height): grown outwards to whole pixels and cut to
    /// the input. An error when the box reaches outside the original image or lies wholly
    /// outside the part the network sees (a centre crop can cut an object off).
    pub fn in_input(
        &self,
        original: (u32, u32),
        region: &CropRegion,
        width: u32,
        height: u32,
    ) -> std::result::Result<BoundingBox, String> {
        let (w, h) = (f64::from(original.0), f64::from(original.1));
        if self.x1 > w || self.y1 > h {
            return Err(format!(
                "the box x {}..{}, y {}..{} reaches outside the {}x{} image",
                self.x0, self.x1, self.y0, self.y1, original.0, original.1
            ));
        }
        let scale_x = f64::from(width) / f64::from(region.width);
        let scale_y = f64::from(height) / f64::from(region.height);
        let map = |v: f64, start: f32, scale: f64, limit: u32, round: fn(f64) -> f64| {
            round((v - f64::from(start)) * scale).clamp(0.0, f64::from(limit)) as usize
        };
        let found = BoundingBox {
            x0: map(self.x0, region.x, scale_x, width, f64::floor),
            y0: map(self.y0, region.y, scale_y, height, f64::floor),
            x1: map(self.x1, region.x, scale_x, width, f64::ceil),
            y1: map(self.y1, region.y, scale_y, height, f64::ceil),
        };
        if found.x0 >= found.x1 || found.y0 >= found.y1 {
            return Err(format!(
                "the box x {}..{}, y {}..{} lies outside the part of the image the network \
                 sees (x {}..{}, y {}..{})",
                self.x0,
                self.x1,
                self.y0,
                self.y1,
                region.x,
                region.x + region.width,
                region.y,
                region.y + region.height
            ));
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> Vec<String> {
        ["cat", "dog"].map(String::from).to_vec()
    }

    #[test]
    fn rows_with_and_without_labels_and_errors_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("boxes.csv");
        std::fs::write(
            &csv,
            "path,x0,y0,x1,y1,label\nphotos/a.jpg,10,20,110,120,dog\n\"b,c.png\",0,0,5.5,7\n",
        )
        .unwrap();
        let boxes = Boxes::from_csv(&csv, &labels()).unwrap();
        let a = boxes.find(&Source::File("elsewhere/a.jpg".into())).unwrap();
        assert_eq!((a.x0, a.y1, a.class), (10.0, 120.0, Some(1)));
        let b = boxes.find(&Source::File("b,c.png".into())).unwrap();
        assert_eq!((b.x1, b.class), (5.5, None));
        for (text, needle) in [
            ("a.jpg,1,2,3\n", "boxes.csv:1: expected path,x0,y0,x1,y1"),
            ("a.jpg,1,2,3,x\n", "\"x\" is not a pixel coordinate"),
            ("a.jpg,1,2,-3,4\n", "\"-3\" is not a pixel coordinate"),
            ("a.jpg,5,2,3,4\n", "the box is empty"),
            (
                "a.jpg,1,2,3,4,zebra\n",
                "\"zebra\" is not one of the model's 2 classes",
            ),
            (
                "a.jpg,1,2,3,4\n\na.jpg,1,2,3,5\n",
                "boxes.csv:3: a second box for a.jpg",
            ),
        ] {
            std::fs::write(&csv, text).unwrap();
            let error = Boxes::from_csv(&csv, &labels()).unwrap_err().to_string();
            assert!(error.contains(needle), "{text:?}: {error}");
        }
    }

    #[test]
    fn a_box_maps_through_the_resize_and_crop() {
        // A 448x300 image, resized so its shorter side is 256, centre-cropped to 224: the
        // network sees x 34.5..418.5 of the original at 224/384 input pixels per pixel.
        let region = CropRegion {
            x: 40.25,
            y: 18.75,
            width: 367.5,
            height: 262.5,
        };
        let object = ObjectBox {
            x0: 40.25,
            y0: 100.0,
            x1: 200.0,
            y1: 300.0,
            class: None,
        };
        let found = object.in_input((448, 300), &region, 224, 160).unwrap();
        // x: (200 - 40.25) * 224 / 367.5 = 97.37 -> 98; y: (100 - 18.75) * 160 / 262.5
        // = 49.52 -> 49, and the bottom is cut to the input.
        assert_eq!((found.x0, found.y0, found.x1, found.y1), (0, 49, 98, 160));
        let outside = ObjectBox {
            x0: 0.0,
            y0: 0.0,
            x1: 40.0,
            y1: 10.0,
            class: None,
        };
        let error = outside.in_input((448, 300), &region, 224, 160).unwrap_err();
        assert!(error.contains("outside the part of the image"), "{error}");
        let too_big = ObjectBox {
            x1: 449.0,
            ..object
        };
        let error = too_big.in_input((448, 300), &region, 224, 160).unwrap_err();
        assert!(error.contains("outside the 448x300 image"), "{error}");
    }
}

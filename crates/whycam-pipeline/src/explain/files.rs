//! The file sinks of an explain run: overlays, raw arrays, signed maps, titled figures,
//! contact sheets and copies of downloaded inputs, each written into one directory.

use super::sink::{ExplainSink, ExplainedImage, FileRole, WrittenFile, with_suffix};
use super::summary::{ClassProbability, ImageSummary, RunSummary, Truth, locate};
use crate::error::{PipelineError, Result};
use crate::write;
use std::path::{Path, PathBuf};
use whycam_cam::{Method, Plane};
use whycam_data::Source;
use whycam_render::{Colormap, Heatmap, Layout, OverlayStyle, Panel, Tile, Verdict};

/// Which files an explain run writes besides each map's overlay (and a downloaded input's
/// copy, always): the command line's `--save-raw`, `--signed`, `--figure` and `--grid`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileOutputs {
    /// Raw arrays ([`RawArrays`]).
    pub raw: bool,
    /// Signed maps ([`SignedMaps`]).
    pub signed: bool,
    /// Titled figures ([`Figures`]).
    pub figure: bool,
    /// Contact sheets of this size ([`Grids`]).
    pub grid: Option<GridSize>,
}

/// The file sinks of a run into `dir`, in the order their files are recorded: overlays, raw
/// arrays, signed maps (drawn with `style`), figures, contact sheets, downloaded originals.
pub fn sinks(dir: &Path, outputs: FileOutputs, style: OverlayStyle) -> Vec<Box<dyn ExplainSink>> {
    let dir = dir.to_path_buf();
    let mut sinks: Vec<Box<dyn ExplainSink>> = vec![Box::new(Overlays { dir: dir.clone() })];
    if outputs.raw {
        sinks.push(Box::new(RawArrays { dir: dir.clone() }));
    }
    if outputs.signed {
        sinks.push(Box::new(SignedMaps {
            dir: dir.clone(),
            style,
        }));
    }
    if outputs.figure {
        sinks.push(Box::new(Figures::new(dir.clone())));
    }
    if let Some(size) = outputs.grid {
        sinks.push(Box::new(Grids::new(dir.clone(), size)));
    }
    sinks.push(Box::new(DownloadedOriginals { dir }));
    sinks
}

/// Each map's heatmap over the original image: `<name>.png`.
pub struct Overlays {
    pub dir: PathBuf,
}

impl ExplainSink for Overlays {
    fn image(&mut self, image: &ExplainedImage<'_>) -> Result<Vec<WrittenFile>> {
        let mut files = Vec::new();
        for (i, map) in image.maps.iter().enumerate() {
            let path = map.path(&self.dir, "png");
            write::png(&map.overlay, &path)?;
            files.push(WrittenFile::of_map(path, FileRole::Overlay, i));
        }
        Ok(files)
    }
}

/// Each map as float32 `.npy`, shape `(h, w)`, and beside it the map before ReLU and scaling
/// as `.signed.npy` (for CAM, its mean over positions is the class's logit).
pub struct RawArrays {
    pub dir: PathBuf,
}

impl ExplainSink for RawArrays {
    fn image(&mut self, image: &ExplainedImage<'_>) -> Result<Vec<WrittenFile>> {
        let mut files = Vec::new();
        for (i, map) in image.maps.iter().enumerate() {
            let path = map.path(&self.dir, "npy");
            write_plane(&path, map.map)?;
            files.push(WrittenFile::of_map(path, FileRole::Raw, i));
            let signed = map.path(&self.dir, "signed.npy");
            write_plane(
                &signed,
                &combined_signed(map.signed).unwrap_or_else(|| Plane::zeros(1, 1)),
            )?;
            files.push(WrittenFile::of_map(signed, FileRole::SignedRaw, i));
        }
        Ok(files)
    }
}

fn write_plane(path: &Path, plane: &Plane) -> Result<()> {
    write::npy(
        path,
        &[plane.height as u64, plane.width as u64],
        &plane.data,
    )
}

/// Each signed map (before ReLU) in bwr centred on zero over the original, with a colour
/// bar: `<name>.signed.png`.
pub struct SignedMaps {
    pub dir: PathBuf,
    pub style: OverlayStyle,
}

impl ExplainSink for SignedMaps {
    fn image(&mut self, image: &ExplainedImage<'_>) -> Result<Vec<WrittenFile>> {
        let mut files = Vec::new();
        for (i, map) in image.maps.iter().enumerate() {
            let signed = combined_signed(map.signed).unwrap_or_else(|| Plane::zeros(1, 1));
            let (unit, m) = whycam_render::centre_signed(&signed.data);
            let heatmap = Heatmap {
                height: signed.height,
                width: signed.width,
                data: &unit,
            };
            let style = OverlayStyle {
                colormap: Colormap::Bwr,
                ..self.style
            };
            let picture = whycam_render::overlay(image.original, image.region, heatmap, &style);
            let font = (picture.height() as f32 / 24.0).clamp(11.0, 28.0);
            let figure = whycam_render::with_colorbar(&picture, Colormap::Bwr, -m, m, font);
            let path = map.path(&self.dir, "signed.png");
            write::png(&figure, &path)?;
            files.push(WrittenFile::of_map(path, FileRole::Signed, i));
        }
        Ok(files)
    }
}

/// One signed map from the per-layer ones (what `.signed.npy` holds): the map itself for one
/// layer, else the mean at the finest layer's resolution; `None` without any.
pub fn combined_signed(planes: &[Plane]) -> Option<Plane> {
    let finest = planes.iter().max_by_key(|p| p.height * p.width)?;
    if planes.len() == 1 {
        return Some(finest.clone());
    }
    let (h, w) = (finest.height, finest.width);
    let mut mean = Plane::zeros(h, w);
    for plane in planes {
        for (m, v) in mean.data.iter_mut().zip(plane.resized(h, w).data) {
            *m += v / planes.len() as f32;
        }
    }
    Some(mean)
}

/// Per image and method, the panels of its targets: each heatmap with its title.
fn panels_by_method(image: &ExplainedImage<'_>, methods: &[Method]) -> Vec<Vec<Panel>> {
    let mut panels = vec![Vec::new(); methods.len()];
    for map in &image.maps {
        if let Some(slot) = methods.iter().position(|&m| m == map.method) {
            panels[slot].push(Panel {
                image: map.overlay.clone(),
                title: format!("{} prob = {:.6}", map.target.label, map.target.probability),
            });
        }
    }
    panels
}

/// A titled figure per image and method, the original beside each target's heatmap:
/// `<stem>.<method>.figure.png`.
pub struct Figures {
    pub dir: PathBuf,
    methods: Vec<Method>,
}

impl Figures {
    pub fn new(dir: PathBuf) -> Self {
        Figures {
            dir,
            methods: Vec::new(),
        }
    }
}

impl ExplainSink for Figures {
    fn begin(&mut self, run: &super::sink::RunInfo) -> Result<()> {
        self.methods = run.methods.clone();
        Ok(())
    }

    fn image(&mut self, image: &ExplainedImage<'_>) -> Result<Vec<WrittenFile>> {
        let mut files = Vec::new();
        for (method, panels) in self
            .methods
            .iter()
            .zip(panels_by_method(image, &self.methods))
        {
            let mut all = vec![Panel {
                image: image.original.clone(),
                title: whycam_data::shown_name(image.stem).into_owned(),
            }];
            all.extend(panels);
            let figure = whycam_render::side_by_side(&all, Layout::default())?;
            let path = self.dir.join(with_suffix(
                image.stem,
                &format!(".{}.figure.png", method.id()),
            ));
            write::png(&figure, &path)?;
            files.push(WrittenFile::new(path, FileRole::Figure));
        }
        Ok(files)
    }
}

/// `ROWSxCOLUMNS` of a contact sheet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GridSize {
    pub rows: u32,
    pub columns: u32,
}

impl std::str::FromStr for GridSize {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        let bad = || format!("expected ROWSxCOLUMNS such as 5x5, got \"{s}\"");
        let (r, c) = s.trim().split_once(['x', 'X']).ok_or_else(bad)?;
        let (rows, columns): (u32, u32) = (
            r.trim().parse().map_err(|_| bad())?,
            c.trim().parse().map_err(|_| bad())?,
        );
        if rows == 0 || columns == 0 || rows * columns > 400 {
            return Err(format!("a grid needs 1 to 400 tiles, got {rows}x{columns}"));
        }
        Ok(GridSize { rows, columns })
    }
}

/// Contact sheets of `rows × columns` heatmaps, one series per method, written at the end:
/// `grid.<method>.png`, then `grid.<method>.2.png`...
pub struct Grids {
    pub dir: PathBuf,
    pub size: GridSize,
    methods: Vec<Method>,
    /// Per method, one tile per image with the image's input position.
    tiles: Vec<Vec<(usize, Tile)>>,
    /// Per method, the tiles of images whose entries are not complete yet, by position.
    waiting: Vec<(usize, Vec<Tile>)>,
}

impl Grids {
    /// Side of a tile in pixels.
    pub const TILE: u32 = 192;

    pub fn new(dir: PathBuf, size: GridSize) -> Self {
        Grids {
            dir,
            size,
            methods: Vec::new(),
            tiles: Vec::new(),
            waiting: Vec::new(),
        }
    }
}

impl ExplainSink for Grids {
    fn begin(&mut self, run: &super::sink::RunInfo) -> Result<()> {
        self.methods = run.methods.clone();
        self.tiles = vec![Vec::new(); run.methods.len()];
        Ok(())
    }

    fn image(&mut self, image: &ExplainedImage<'_>) -> Result<Vec<WrittenFile>> {
        let side = Self::TILE;
        let label = tile_label(&image.prediction);
        let tiles = panels_by_method(image, &self.methods)
            .into_iter()
            .map(|panels| Tile {
                image: panels
                    .first()
                    .map(|p| whycam_render::fit_within(&p.image, side, side))
                    .unwrap_or_else(|| whycam_render::fit_within(image.original, side, side)),
                label: label.clone(),
                verdict: verdict(image.truth.as_ref()),
                note: truth_note(image.truth.as_ref()),
            })
            .collect();
        self.waiting.push((image.position, tiles));
        Ok(Vec::new())
    }

    fn recorded(&mut self, entry: &ImageSummary, position: usize, resumed: bool) -> Result<()> {
        let tiles = if resumed {
            // The overlay on disk is the lossless PNG the tile was made from.
            self.methods
                .iter()
                .map(|method| {
                    let overlay = entry
                        .explanations
                        .iter()
                        .find(|e| e.method == method.id())
                        .and_then(|e| e.file(FileRole::Overlay))
                        .ok_or_else(|| PipelineError::ResumedEntry {
                            image: entry.image.clone(),
                        })?;
                    let picture = whycam_data::load_rgb8(
                        &locate(&self.dir, overlay).unwrap_or_else(|| overlay.into()),
                        &whycam_data::DecodeLimits::default(),
                    )?;
                    Ok(Tile {
                        image: whycam_render::fit_within(&picture, Self::TILE, Self::TILE),
                        label: tile_label(&entry.prediction),
                        verdict: verdict(entry.truth.as_ref()),
                        note: truth_note(entry.truth.as_ref()),
                    })
                })
                .collect::<Result<Vec<_>>>()?
        } else {
            match self.waiting.iter().position(|(p, _)| *p == position) {
                Some(i) => self.waiting.swap_remove(i).1,
                None => return Ok(()),
            }
        };
        for (all, tile) in self.tiles.iter_mut().zip(tiles) {
            all.push((position, tile));
        }
        Ok(())
    }

    fn finish(&mut self, _summary: &RunSummary) -> Result<Vec<WrittenFile>> {
        let per_page = (self.size.rows * self.size.columns) as usize;
        let layout = Layout {
            size: Self::TILE,
            font_size: 14.0,
        };
        let mut files = Vec::new();
        for (method, tiles) in self.methods.iter().zip(&mut self.tiles) {
            // In input order, as the summary lists the images.
            tiles.sort_by_key(|(position, _)| *position);
            let tiles: Vec<Tile> = tiles.iter().map(|(_, t)| t.clone()).collect();
            for (page, chunk) in tiles.chunks(per_page).enumerate() {
                let sheet =
                    whycam_render::contact_sheet(chunk, self.size.rows, self.size.columns, layout)?;
                let name = match page {
                    0 => format!("grid.{}.png", method.id()),
                    n => format!("grid.{}.{}.png", method.id(), n + 1),
                };
                let path = self.dir.join(name);
                write::png(&sheet, &path)?;
                files.push(WrittenFile::new(path, FileRole::Grid));
            }
        }
        Ok(files)
    }
}

/// A tile's caption: the predicted class and its probability.
fn tile_label(prediction: &ClassProbability) -> String {
    format!("{}({:.2})", prediction.label, prediction.probability)
}

/// A tile's border: right, wrong, or no truth known.
fn verdict(truth: Option<&Truth>) -> Verdict {
    match truth {
        None => Verdict::Unknown,
        Some(t) if t.correct => Verdict::Right,
        Some(_) => Verdict::Wrong,
    }
}

/// Under a wrong prediction, the true class.
fn truth_note(truth: Option<&Truth>) -> Option<String> {
    truth
        .filter(|t| !t.correct)
        .map(|t| format!("true: {}", t.label))
}

/// A copy of each downloaded input beside its maps (`<stem>.original.jpg`), since it exists
/// nowhere else and the report shows it.
pub struct DownloadedOriginals {
    pub dir: PathBuf,
}

impl ExplainSink for DownloadedOriginals {
    fn image(&mut self, image: &ExplainedImage<'_>) -> Result<Vec<WrittenFile>> {
        match image.source {
            Source::Url(_) => {
                let path = self.dir.join(with_suffix(image.stem, ".original.jpg"));
                write::jpeg(image.original, &path)?;
                Ok(vec![WrittenFile::new(path, FileRole::Original)])
            }
            Source::File(_) => Ok(Vec::new()),
        }
    }
}

/// Creates the output directory.
pub fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(PipelineError::io("creating", dir))
}

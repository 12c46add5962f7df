//! Progress on stderr: the images bar (the sink of the explain, predict, dff and evaluate
//! runs), the spinner and the epoch bar, the one home of their templates.

use indicatif::{ProgressBar, ProgressStyle};
use whycam_pipeline::dff::{DffImage, DffSink};
use whycam_pipeline::evaluate::{EvaluateSink, ImageScores};
use whycam_pipeline::explain::summary::{ImageSummary, RunSummary};
use whycam_pipeline::predict::{Classified, PredictSink};
use whycam_pipeline::{ExplainSink, ExplainedImage, InputError, RunInfo, WrittenFile};

/// A bar of `done/total images` that clears itself when dropped.
pub struct Progress(ProgressBar);

impl Progress {
    /// A bar over `total` images.
    pub fn images(total: usize) -> Self {
        Progress(
            ProgressBar::new(total as u64).with_style(
                ProgressStyle::with_template("{bar:40} {pos}/{len} images {elapsed} (eta {eta})")
                    .expect("valid template"),
            ),
        )
    }

    /// A spinner with a message, for work without steps.
    pub fn spinner(message: String) -> Self {
        let bar = ProgressBar::new_spinner().with_message(message);
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        Progress(bar)
    }

    /// A bar over one epoch's `batches`, showing the epoch and the running loss.
    pub fn batches(batches: u64) -> Self {
        let bar = ProgressBar::new(batches).with_style(
            ProgressStyle::with_template(
                "epoch {prefix} [{bar:30}] {pos}/{len} batches, loss {msg} ({eta} left)",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        );
        Progress(bar)
    }

    /// Batch `done` of epoch `epoch` (from 0) of `epochs`, at `loss`.
    pub fn at_batch(&self, epoch: usize, epochs: usize, done: usize, loss: f64) {
        self.0.set_prefix(format!("{}/{epochs}", epoch + 1));
        self.0.set_position(done as u64);
        self.0.set_message(format!("{loss:.4}"));
    }

    /// One image done.
    pub fn step(&self) {
        self.0.inc(1);
    }

    /// `n` images done.
    pub fn advance(&self, n: usize) {
        self.0.inc(n as u64);
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

/// The images bar as the runs' sink: one step per input explained, classified, scored or
/// failed. Made at once when the count is known before the run, else at the run's start.
pub struct ImagesBar(Option<Progress>);

impl ImagesBar {
    /// A bar over `total` inputs.
    pub fn new(total: usize) -> Self {
        ImagesBar(Some(Progress::images(total)))
    }

    /// A bar made when the run says how many inputs it has (explain's and evaluate's
    /// `begin`, which also replace a bar made by [`ImagesBar::new`]).
    pub fn at_start() -> Self {
        ImagesBar(None)
    }

    fn step(&self) {
        self.0.as_ref().inspect(|p| p.step());
    }
}

impl ExplainSink for ImagesBar {
    fn begin(&mut self, run: &RunInfo) -> whycam_pipeline::Result<()> {
        self.0 = Some(Progress::images(run.inputs));
        Ok(())
    }

    fn image(&mut self, _: &ExplainedImage<'_>) -> whycam_pipeline::Result<Vec<WrittenFile>> {
        self.step();
        Ok(Vec::new())
    }

    fn recorded(
        &mut self,
        _: &ImageSummary,
        _: usize,
        resumed: bool,
    ) -> whycam_pipeline::Result<()> {
        if resumed {
            self.step();
        }
        Ok(())
    }

    fn error(&mut self, _: &InputError) {
        self.step();
    }

    fn finish(&mut self, _: &RunSummary) -> whycam_pipeline::Result<Vec<WrittenFile>> {
        self.0.take();
        Ok(Vec::new())
    }
}

impl PredictSink for ImagesBar {
    fn image(&mut self, _: &Classified) {
        self.step();
    }
    fn error(&mut self, _: &InputError) {
        self.step();
    }
}

impl DffSink for ImagesBar {
    fn image(&mut self, _: &DffImage) {
        self.step();
    }
    fn error(&mut self, _: &InputError) {
        self.step();
    }
}

impl EvaluateSink for ImagesBar {
    fn begin(&mut self, inputs: usize) {
        self.0 = Some(Progress::images(inputs));
    }
    fn image(&mut self, _: &ImageScores) {
        self.step();
    }
    fn error(&mut self, _: &InputError) {
        self.step();
    }
}

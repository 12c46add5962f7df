//! Scoring images a front end decoded itself (the Python module's arrays), and the report as
//! the JSON `whycam evaluate --json` prints.

use super::{EvaluateReport, EvaluateRun, EvaluateSink};
use crate::batch::Decoded;
use crate::error::{InputError, Result};

impl EvaluateRun<'_> {
    /// Scores `batches` of decoded inputs (or their failures) as [`EvaluateRun::run`] scores
    /// files: `inputs` in all, `failed` already known to fail.
    pub fn run_decoded(
        &self,
        inputs: usize,
        failed: Vec<InputError>,
        batches: impl Iterator<Item = Vec<std::result::Result<Decoded, InputError>>>,
        sink: &mut dyn EvaluateSink,
    ) -> Result<EvaluateReport> {
        self.run_batches(inputs, failed, batches, sink)
    }
}

/// `report` as `whycam evaluate --json` prints it.
pub fn report_json(report: &EvaluateReport) -> String {
    serde_json::to_string_pretty(report).expect("a report serialises")
}

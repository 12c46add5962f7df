//! Progress on stderr: the images bar, the spinner and the epoch bar, the one home of their
//! templates.

use indicatif::{ProgressBar, ProgressStyle};

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

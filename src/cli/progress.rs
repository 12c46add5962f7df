//! Progress on stderr: the one bar and the one spinner every subcommand uses.

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

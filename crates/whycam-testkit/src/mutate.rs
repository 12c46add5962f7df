//! Mutation ("fuzz") tests on stable Rust: real files as a seed corpus, mutated as
//! coverage-guided fuzzers mutate them (bit flips, overwritten bytes, truncation, inserted,
//! duplicated and removed chunks, splices of two seeds, integers of a header set to 0, 1, -1,
//! `u32::MAX` or another edge value, decimal numbers of a text header rewritten), and fed to a
//! reader through proptest, which shrinks a failure to a short list of mutations.
//!
//! cargo-fuzz needs a nightly compiler; this needs none. Each property runs twice:
//! - [`Fuzz::brief`], in the normal suite: a few cases from a fixed seed, so that every run
//!   tries the same inputs;
//! - [`Fuzz::long`], behind `--ignored`: `WHYCAM_FUZZ_CASES` cases (default 20,000) from a
//!   random seed printed on start, or `WHYCAM_FUZZ_SEED` (hex) to replay one.
//!
//! A reader that allocates without bound aborts the process rather than panicking, so a test
//! binary installs [`CappedAlloc`], which refuses any single allocation over its cap (the
//! abort then names the size), and the long run keeps the input being tried in
//! `target/tmp/fuzz/NAME.current` so that an abort leaves it behind. A brief run that aborts
//! is replayed, with that file, by its long twin: `WHYCAM_FUZZ_SEED` set to the brief seed
//! (FNV-1a of the property's name, printed by a run with `--nocapture`) tries the same cases
//! in the same order. A failure's minimal input
//! is written beside it as `NAME.minimal`. Nothing is written into the source tree.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, RngSeed, TestCaseError, TestError, TestRunner};
use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

/// Real files that mutations start from.
#[derive(Debug, Default, Clone)]
pub struct Corpus {
    files: Vec<(String, Vec<u8>)>,
}

impl Corpus {
    /// An empty corpus.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `bytes` under `name` (for messages).
    pub fn add(&mut self, name: impl Into<String>, bytes: Vec<u8>) -> &mut Self {
        assert!(!bytes.is_empty(), "an empty seed mutates into nothing");
        self.files.push((name.into(), bytes));
        self
    }

    /// The seeds, with their names.
    pub fn files(&self) -> &[(String, Vec<u8>)] {
        &self.files
    }

    /// The number of seeds.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

/// The width of an integer written by [`Mutation::Integer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Width {
    /// One byte.
    U8,
    /// Two bytes.
    U16,
    /// Four bytes.
    U32,
    /// Eight bytes.
    U64,
}

impl Width {
    fn bytes(self) -> usize {
        match self {
            Width::U8 => 1,
            Width::U16 => 2,
            Width::U32 => 4,
            Width::U64 => 8,
        }
    }
}

/// One change to a file. Positions are taken modulo the file's length, so every mutation
/// applies to every seed.
#[derive(Debug, Clone)]
pub enum Mutation {
    /// Flips bit `bit % 8` of byte `at`.
    FlipBit {
        /// Where.
        at: usize,
        /// Which bit.
        bit: u8,
    },
    /// Overwrites bytes from `at` (as far as the file goes).
    Overwrite {
        /// Where.
        at: usize,
        /// The new bytes.
        bytes: Vec<u8>,
    },
    /// Cuts the file at `at`.
    Truncate {
        /// Where.
        at: usize,
    },
    /// Inserts bytes before `at`.
    Insert {
        /// Where.
        at: usize,
        /// The new bytes.
        bytes: Vec<u8>,
    },
    /// Copies `len` bytes from `from` to before `to` (a repeated chunk).
    Duplicate {
        /// The chunk's start.
        from: usize,
        /// Its length (at most what is left of the file).
        len: usize,
        /// Where the copy goes.
        to: usize,
    },
    /// Removes `len` bytes at `at`.
    Remove {
        /// Where.
        at: usize,
        /// How many.
        len: usize,
    },
    /// Replaces the file from `at` on with seed `other` from `from` on.
    Splice {
        /// The other seed (modulo the corpus).
        other: usize,
        /// Where its tail starts.
        from: usize,
        /// Where this file's tail is cut.
        at: usize,
    },
    /// Writes `value` as an integer of `width` at `at`: a size field set to 0, 1, -1, huge.
    Integer {
        /// Where.
        at: usize,
        /// The value (truncated to `width`).
        value: u64,
        /// Its width.
        width: Width,
        /// Byte order.
        big_endian: bool,
    },
    /// Replaces the first run of ASCII digits at or after `at` (wrapping around) with
    /// `text`: a number in a text header (`.npy`, safetensors JSON, CSV) set to an edge value.
    Decimal {
        /// Where the search starts.
        at: usize,
        /// The new number.
        text: String,
    },
}

impl Mutation {
    /// Applies the mutation to `data`, taking splices from `corpus`.
    pub fn apply(&self, data: &mut Vec<u8>, corpus: &Corpus) {
        let len = data.len();
        // A position inside the file, or 0 for an empty one.
        let inside = |at: usize| if len == 0 { 0 } else { at % len };
        // A position from 0 to the end inclusive.
        let between = |at: usize| at % (len + 1);
        match self {
            Mutation::FlipBit { at, bit } => {
                if len > 0 {
                    data[inside(*at)] ^= 1 << (bit % 8);
                }
            }
            Mutation::Overwrite { at, bytes } => {
                let at = inside(*at);
                for (d, b) in data[at..].iter_mut().zip(bytes) {
                    *d = *b;
                }
            }
            Mutation::Truncate { at } => data.truncate(between(*at)),
            Mutation::Insert { at, bytes } => {
                let at = between(*at);
                data.splice(at..at, bytes.iter().copied());
            }
            Mutation::Duplicate { from, len: n, to } => {
                if len > 0 {
                    let from = inside(*from);
                    let n = (*n).min(len - from).min(1 << 16);
                    let chunk = data[from..from + n].to_vec();
                    let to = between(*to);
                    data.splice(to..to, chunk);
                }
            }
            Mutation::Remove { at, len: n } => {
                let at = between(*at);
                let end = at.saturating_add(*n).min(len);
                data.drain(at..end);
            }
            Mutation::Splice { other, from, at } => {
                let (_, donor) = &corpus.files[other % corpus.len()];
                let from = from % donor.len();
                data.truncate(between(*at));
                data.extend_from_slice(&donor[from..]);
            }
            Mutation::Integer {
                at,
                value,
                width,
                big_endian,
            } => {
                let n = width.bytes();
                let bytes = if *big_endian {
                    value.to_be_bytes()[8 - n..].to_vec()
                } else {
                    value.to_le_bytes()[..n].to_vec()
                };
                let at = inside(*at);
                for (d, b) in data[at..].iter_mut().zip(bytes) {
                    *d = b;
                }
            }
            Mutation::Decimal { at, text } => {
                if len == 0 {
                    return;
                }
                let start = inside(*at);
                let found = (start..len)
                    .chain(0..start)
                    .find(|&i| data[i].is_ascii_digit());
                if let Some(mut i) = found {
                    // From the start of that run (a `-` sign included) to its end.
                    while i > 0 && (data[i - 1].is_ascii_digit() || data[i - 1] == b'-') {
                        i -= 1;
                    }
                    let mut end = i;
                    while end < len && (data[end].is_ascii_digit() || data[end] == b'-') {
                        end += 1;
                    }
                    data.splice(i..end, text.bytes());
                }
            }
        }
    }
}

/// Integers that break size arithmetic: zero, one, sign and width boundaries, huge.
pub fn edge_value() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => prop::sample::select(vec![
            0u64,
            1,
            2,
            3,
            4,
            7,
            8,
            16,
            0x7f,
            0x80,
            0xff,
            0x100,
            0x7fff,
            0x8000,
            0xffff,
            0x1_0000,
            0x7fff_ffff,
            0x8000_0000,
            0xffff_fffe,
            0xffff_ffff,
            1 << 32,
            1 << 40,
            i64::MAX as u64,
            1 << 63,
            u64::MAX - 1,
            u64::MAX,
        ]),
        1 => any::<u64>(),
    ]
}

/// Decimal numbers that break size arithmetic, as a text header would spell them.
fn edge_decimal() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "0",
            "1",
            "-1",
            "2",
            "65535",
            "65536",
            "2147483647",
            "2147483648",
            "-2147483648",
            "4294967295",
            "4294967296",
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775808",
            "18446744073709551615",
            "18446744073709551616",
            "99999999999999999999999999",
            "",
        ])
        .prop_map(String::from),
        1 => any::<u64>().prop_map(|v| v.to_string()),
    ]
}

/// A position, mostly within the first 256 bytes (where headers are).
fn position() -> impl Strategy<Value = usize> {
    prop_oneof![3 => 0usize..256, 2 => any::<usize>()]
}

/// Any one mutation.
pub fn mutation() -> impl Strategy<Value = Mutation> {
    let bytes = || vec(any::<u8>(), 1..16);
    let width = prop::sample::select(vec![Width::U8, Width::U16, Width::U32, Width::U64]);
    prop_oneof![
        3 => (position(), any::<u8>()).prop_map(|(at, bit)| Mutation::FlipBit { at, bit }),
        2 => (position(), bytes()).prop_map(|(at, bytes)| Mutation::Overwrite { at, bytes }),
        2 => any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        1 => (position(), bytes()).prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        1 => (any::<usize>(), 1usize..512, any::<usize>())
            .prop_map(|(from, len, to)| Mutation::Duplicate { from, len, to }),
        1 => (any::<usize>(), 1usize..512).prop_map(|(at, len)| Mutation::Remove { at, len }),
        1 => (any::<usize>(), any::<usize>(), any::<usize>())
            .prop_map(|(other, from, at)| Mutation::Splice { other, from, at }),
        4 => (position(), edge_value(), width, any::<bool>()).prop_map(
            |(at, value, width, big_endian)| Mutation::Integer {
                at,
                value,
                width,
                big_endian,
            }
        ),
        2 => (position(), edge_decimal()).prop_map(|(at, text)| Mutation::Decimal { at, text }),
    ]
}

/// A target's structural editor: a seed and `(which field, new value)` pairs in, the edited
/// file out.
pub type Editor<'a> = &'a dyn Fn(&[u8], &[(u32, u64)]) -> Vec<u8>;

/// A test case: a seed, structural edits (format-specific, see [`Fuzz::run_structured`]) and
/// byte mutations applied in order.
#[derive(Debug, Clone)]
pub struct Case {
    /// The seed file (modulo the corpus).
    pub seed: usize,
    /// `(which field, new value)` pairs for the target's structural editor.
    pub edits: Vec<(u32, u64)>,
    /// Byte mutations, applied after the edits.
    pub mutations: Vec<Mutation>,
}

impl Case {
    /// The bytes this case feeds the reader.
    pub fn bytes(&self, corpus: &Corpus, edit: Editor<'_>, fixup: &dyn Fn(&mut [u8])) -> Vec<u8> {
        let (_, seed) = &corpus.files[self.seed % corpus.len()];
        let mut data = if self.edits.is_empty() {
            seed.clone()
        } else {
            edit(seed, &self.edits)
        };
        for m in &self.mutations {
            m.apply(&mut data, corpus);
        }
        fixup(&mut data);
        data
    }
}

/// Cases over `corpus`: a seed, up to `max_edits` structural edits, 1 to 6 byte mutations
/// (none at all when there are edits, half the time, so that an edited file is also read
/// intact).
pub fn case(corpus: &Corpus, max_edits: usize) -> impl Strategy<Value = Case> + use<> {
    let edits = vec((any::<u32>(), edge_value()), 0..=max_edits);
    (
        0..corpus.len(),
        edits,
        vec(mutation(), 1..=6),
        any::<bool>(),
    )
        .prop_map(|(seed, edits, mut mutations, keep)| {
            if !edits.is_empty() && !keep {
                mutations.clear();
            }
            Case {
                seed,
                edits,
                mutations,
            }
        })
}

/// What a reader made of one input: `"ok"` or the kind of error, counted per run.
pub type Outcome = Result<String, TestCaseError>;

/// How many cases, from which seed: a brief run or a long one.
#[derive(Debug, Clone)]
pub struct Fuzz {
    name: String,
    cases: u32,
    seed: u64,
    long: bool,
    abort_file: bool,
}

impl Fuzz {
    /// The brief run of the normal suite: `cases` cases from a seed fixed by `name`.
    pub fn brief(name: &str, cases: u32) -> Self {
        // FNV-1a of the name: a fixed seed per property, the same on every machine.
        let seed = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        Self {
            name: name.to_string(),
            cases,
            seed,
            long: false,
            abort_file: false,
        }
    }

    /// The long run (behind `--ignored`): `WHYCAM_FUZZ_CASES` cases (default 20,000) from
    /// `WHYCAM_FUZZ_SEED` (hex) or a random seed, printed on start.
    pub fn long(name: &str) -> Self {
        let cases = std::env::var("WHYCAM_FUZZ_CASES")
            .ok()
            .map(|v| v.parse().expect("WHYCAM_FUZZ_CASES is a number of cases"))
            .unwrap_or(20_000);
        let seed = match std::env::var("WHYCAM_FUZZ_SEED") {
            Ok(hex) => u64::from_str_radix(hex.trim_start_matches("0x"), 16)
                .expect("WHYCAM_FUZZ_SEED is a hex number"),
            Err(_) => {
                use std::hash::{BuildHasher, Hasher};
                let mut h = std::collections::hash_map::RandomState::new().build_hasher();
                h.write_u128(
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_nanos()),
                );
                h.finish()
            }
        };
        eprintln!(
            "fuzz {name}: {cases} cases from seed {seed:016x} \
             (replay: WHYCAM_FUZZ_SEED={seed:016x})"
        );
        Self {
            name: name.to_string(),
            cases,
            seed,
            long: true,
            abort_file: true,
        }
    }

    /// Does not keep the input being tried in a file: for a reader so fast that writing the
    /// file would be most of the run, and that allocates too little to abort.
    pub fn without_abort_file(mut self) -> Self {
        self.abort_file = false;
        self
    }

    /// Where this run's files go: `target/tmp/fuzz`.
    fn artifacts(&self) -> PathBuf {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/tmp/fuzz");
        let _ = std::fs::create_dir_all(&dir);
        dir
    }

    /// Feeds mutated seeds of `corpus` to `read`, which returns the outcome's kind or fails.
    pub fn run(&self, corpus: &Corpus, read: impl Fn(&[u8]) -> Outcome) {
        self.run_structured(corpus, 0, &|seed, _| seed.to_vec(), &|_| {}, read);
    }

    /// As [`Fuzz::run`], with up to `max_edits` structural edits made by `edit` (given a seed
    /// and `(which field, new value)` pairs) before the byte mutations, and `fixup` applied
    /// last (checksums recomputed, so that a mutation gets past them).
    pub fn run_structured(
        &self,
        corpus: &Corpus,
        max_edits: usize,
        edit: Editor<'_>,
        fixup: &dyn Fn(&mut [u8]),
        read: impl Fn(&[u8]) -> Outcome,
    ) {
        assert!(!corpus.is_empty(), "fuzz {}: no seeds", self.name);
        let config = Config {
            cases: self.cases,
            failure_persistence: None,
            rng_algorithm: RngAlgorithm::ChaCha,
            rng_seed: RngSeed::Fixed(self.seed),
            // A slow reader (a whole ONNX model) must not shrink for hours.
            max_shrink_time: if self.long { 600_000 } else { 120_000 },
            max_shrink_iters: 4096,
            ..Config::default()
        };
        let current = self.artifacts().join(format!("{}.current", self.name));
        let outcomes: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());
        let started = Instant::now();
        let mut runner = TestRunner::new(config);
        let result = runner.run(&case(corpus, max_edits), |case| {
            let bytes = case.bytes(corpus, edit, fixup);
            if self.abort_file {
                let _ = std::fs::write(&current, &bytes);
            }
            let outcome = read(&bytes)?;
            *outcomes.lock().unwrap().entry(outcome).or_default() += 1;
            Ok(())
        });
        let outcomes = outcomes.into_inner().unwrap();
        let tried: u64 = outcomes.values().sum();
        eprintln!(
            "fuzz {}: {tried} inputs in {:.1} s (seed {:016x}): {outcomes:?}",
            self.name,
            started.elapsed().as_secs_f64(),
            self.seed
        );
        let _ = std::fs::remove_file(&current);
        match result {
            Ok(()) => {}
            Err(TestError::Abort(why)) => panic!("fuzz {}: aborted: {why}", self.name),
            Err(TestError::Fail(why, case)) => {
                let bytes = case.bytes(corpus, edit, fixup);
                let minimal = self.artifacts().join(format!("{}.minimal", self.name));
                let _ = std::fs::write(&minimal, &bytes);
                let (name, _) = &corpus.files[case.seed % corpus.len()];
                let shown = if bytes.len() <= 512 {
                    format!("{bytes:?}")
                } else {
                    format!("{} bytes, in {}", bytes.len(), minimal.display())
                };
                panic!(
                    "fuzz {}: {why}\nseed {:016x}, from {name}: {case:?}\ninput: {shown}",
                    self.name, self.seed
                );
            }
        }
    }
}

/// Fails the case unless `condition` holds.
pub fn check(condition: bool, what: impl FnOnce() -> String) -> Result<(), TestCaseError> {
    if condition {
        Ok(())
    } else {
        Err(TestCaseError::fail(what()))
    }
}

/// The error's kind for the outcome counts: its `Debug` up to the first `{` or `(`.
pub fn kind(error: &impl std::fmt::Debug) -> String {
    let text = format!("{error:?}");
    let end = text.find([' ', '{', '(']).unwrap_or(text.len());
    text[..end].to_string()
}

/// The global allocator of a fuzz test binary: refuses (so the process aborts, naming the
/// size) any single allocation over `CAP` bytes, which a reader bounded by its limits never
/// asks for. With `WHYCAM_FUZZ_ALLOC_TRACE=1` it prints where the refused allocation came
/// from first.
///
/// ```ignore
/// #[global_allocator]
/// static ALLOC: whycam_testkit::mutate::CappedAlloc<{ 512 << 20 }> = CappedAlloc;
/// ```
pub struct CappedAlloc<const CAP: usize>;

// SAFETY: forwards to `System`, or returns null (an allocation failure) over the cap.
unsafe impl<const CAP: usize> GlobalAlloc for CappedAlloc<CAP> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > CAP {
            return refuse();
        }
        // SAFETY: the caller's contract is System's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() > CAP {
            return refuse();
        }
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > CAP {
            return refuse();
        }
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// A refused allocation: null, after the call stack when `WHYCAM_FUZZ_ALLOC_TRACE` is set
/// (capturing it allocates, but far less than the cap, so this does not recurse).
fn refuse() -> *mut u8 {
    if std::env::var_os("WHYCAM_FUZZ_ALLOC_TRACE").is_some() {
        eprintln!(
            "refused allocation at:\n{}",
            std::backtrace::Backtrace::force_capture()
        );
    }
    std::ptr::null_mut()
}

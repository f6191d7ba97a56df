//! Helpers shared by integration tests (`mod common;` in each test file that uses them).

use std::convert::Infallible;
use std::io::{self, Read};

use flowvigil::flowlog::{FlowRecord, Interner};
use flowvigil::window::RecordSource;

/// Records from memory, as a reader would give them, with the interner that names their ENIs;
/// through the trait's default `fast_records` (no batches).
pub struct VecSource {
    pub recs: Vec<FlowRecord>,
    pub pos: usize,
    pub names: Interner,
}

impl RecordSource for VecSource {
    type Error = Infallible;
    fn next_record(&mut self, rec: &mut FlowRecord) -> Result<bool, Infallible> {
        match self.recs.get(self.pos) {
            Some(r) => {
                rec.clone_from(r);
                self.pos += 1;
                Ok(true)
            }
            None => Ok(false),
        }
    }
    fn interner(&self) -> &Interner {
        &self.names
    }
}

/// A source handing out at most `steps[i]` bytes per read (cycling), so lines cross read
/// and buffer ends anywhere.
#[allow(dead_code)] // not every test file that shares this module reads through it
pub struct Choppy {
    pub data: Vec<u8>,
    pub pos: usize,
    pub steps: Vec<usize>,
    pub k: usize,
}

impl Read for Choppy {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let step = self
            .steps
            .get(self.k % self.steps.len().max(1))
            .copied()
            .unwrap_or(4096);
        self.k += 1;
        let rest = self.data.get(self.pos..).unwrap_or_default();
        let n = rest.len().min(out.len()).min(step.max(1));
        if let (Some(o), Some(r)) = (out.get_mut(..n), rest.get(..n)) {
            o.copy_from_slice(r);
        }
        self.pos += n;
        Ok(n)
    }
}

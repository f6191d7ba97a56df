//! Helpers shared by integration tests (`mod common;` in each test file that uses them).

use std::convert::Infallible;

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

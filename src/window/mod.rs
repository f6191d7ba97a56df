//! (module under construction: see src/lib.rs for what it owns)

//! Subcommands: one file each, holding its flags (`Args`) and its glue (`run`).

pub mod backtest;
pub mod common;
pub mod convert;
pub mod demo;
pub mod eval;
pub mod features;
pub mod gen;
pub mod inspect;
pub mod progress;
pub mod score;
pub mod stats;
pub mod train;
pub mod writer;

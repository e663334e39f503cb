//! Integration tests of the `zgq` index: recall, round trips, the file.

mod blocks;
mod file;
mod scan;
mod search;

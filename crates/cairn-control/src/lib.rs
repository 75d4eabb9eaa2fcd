//! cairn-control

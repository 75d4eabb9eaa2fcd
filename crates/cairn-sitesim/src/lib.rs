//! cairn-sitesim

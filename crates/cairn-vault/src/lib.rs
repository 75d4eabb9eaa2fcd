//! cairn-vault

//! attestlog client.

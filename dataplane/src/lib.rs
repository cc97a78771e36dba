//! Data plane (issue 3).

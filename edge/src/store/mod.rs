//! The edge's storage, a module per table: every SQL statement on a table is in its module.
//! Routes, the queue consumer and the services call these; they import nothing but `bind`,
//! `http` (errors, clock) and `crypto`.

pub mod assistant;
pub mod gallery;
pub mod generations;
pub mod orgs;

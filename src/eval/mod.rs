//! Compiled evaluators: what nginx decides per request, prepared once at load. (Being written.)

pub mod plan;

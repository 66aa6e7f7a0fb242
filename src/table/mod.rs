//! The table path: what the table's rows say, and what keeps them consistent. The derived
//! columns and their trigger (score), and the liveness test over a row and the sweep (liveness).

pub mod liveness;
pub mod score;

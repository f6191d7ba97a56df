//! Summary statistics of flow logs (`flowvigil stats`).

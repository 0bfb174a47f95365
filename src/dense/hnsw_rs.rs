//! The `hnsw_rs` builder (`hnsw.builder = "hnsw_rs"`), kept to cross-check the native one:
//! hnsw_rs's `parallel_insert_slice` builds the graph, which is then copied into lore's flat
//! form, so both builders share the same search and file (see the `dense` module comment).

use hnsw_rs::prelude::{Distance, Hnsw};

use super::kernel::dot;
use super::{DenseIndex, MAX_LAYER};
use crate::config::HnswConfig;

/// Cosine distance for unit vectors, `1 - dot` clamped at 0, for hnsw_rs's build.
///
/// anndists' `DistDot` asserts `dot <= 1`, which rounding breaks for a vector against itself,
/// and its scalar loop does not vectorise; this one does both right.
#[derive(Default, Clone, Copy, Debug)]
pub struct UnitCosine;

impl Distance<f32> for UnitCosine {
    fn eval(&self, a: &[f32], b: &[f32]) -> f32 {
        (1.0 - dot(a, b)).max(0.0)
    }
}

impl DenseIndex {
    pub(super) fn build_hnsw_rs(
        vectors: &[Vec<f32>],
        flat: Vec<f32>,
        dim: usize,
        cfg: &HnswConfig,
    ) -> Self {
        let hnsw: Hnsw<f32, UnitCosine> = Hnsw::new(
            cfg.m,
            vectors.len(),
            MAX_LAYER,
            cfg.ef_construction,
            UnitCosine,
        );
        let data: Vec<(&[f32], usize)> = vectors
            .iter()
            .enumerate()
            .map(|(i, v)| (v.as_slice(), i))
            .collect();
        for batch in data.chunks(4096) {
            hnsw.parallel_insert_slice(&batch.to_vec());
        }
        DenseIndex::flatten(&hnsw, dim, flat)
    }

    /// Copies hnsw_rs's graph into the flat form.
    fn flatten(hnsw: &Hnsw<f32, UnitCosine>, dim: usize, vectors: Vec<f32>) -> DenseIndex {
        let n = vectors.len() / dim.max(1);
        let mut levels = vec![0u8; n];
        let mut lists: Vec<Vec<Vec<u32>>> = vec![Vec::new(); n];
        let indexation = hnsw.get_point_indexation();
        for point in indexation {
            let id = point.get_origin_id();
            levels[id] = point.get_point_id().0;
            lists[id] = point
                .get_neighborhood_id()
                .into_iter()
                .map(|layer| layer.into_iter().map(|nb| nb.d_id as u32).collect())
                .collect();
        }
        let top = indexation.get_max_level_observed();
        let entry = indexation
            .get_layer_iterator(top as usize)
            .next()
            .map_or(0, |p| p.get_origin_id() as u32);
        let mut l0_lists = Vec::with_capacity(n);
        let mut upper = vec![Vec::new(); n];
        for (i, mut layers) in lists.into_iter().enumerate() {
            l0_lists.push(if layers.is_empty() {
                Vec::new()
            } else {
                layers.remove(0)
            });
            if levels[i] > 0 {
                layers.truncate(levels[i] as usize);
                upper[i] = layers;
            }
        }
        DenseIndex::assemble(dim, vectors, levels, &l0_lists, upper, entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_never_negative() {
        let v = vec![0.6f32, 0.8];
        assert!(UnitCosine.eval(&v, &v) >= 0.0);
    }
}

//! Per-layer statistics, as nn_dataflow's layer-stats tool reports them:
//! data sizes, MACs and the smallest buffer that still gives full reuse.

use serde::Serialize;

use crate::network::Network;

/// Sizes and work of one layer for a batch.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LayerStats {
    /// The layer's name.
    pub name: String,
    #[serde(rename = "type")]
    /// Its type, as in schedule files.
    pub type_name: &'static str,
    /// Input maps of the batch.
    pub ifmap_bytes: u64,
    /// Output maps of the batch.
    pub ofmap_bytes: u64,
    /// Weights.
    pub weight_bytes: u64,
    /// MACs (pooling and eltwise: operations) of the batch.
    pub macs: u64,
    /// The smallest buffer, in bytes, that holds one data category whole,
    /// another at one of its dimensions and the third at a point (the least
    /// of the six such arrangements).
    pub min_opt_buf_bytes: f64,
}

/// Statistics of every layer in definition order, at `word_bits` (1 to
/// 64) per element. Refused, naming the layer, where a count at `batch`
/// is not exact (see `Network::check_batch`).
pub fn layer_stats(net: &Network, batch: u64, word_bits: u64) -> Result<Vec<LayerStats>, String> {
    if !(1..=64).contains(&word_bits) {
        return Err(format!(
            "the word size must be 1 to 64 bits, not {word_bits}"
        ));
    }
    crate::options::SearchOptions::new(batch)
        .validate()
        .map_err(|e| e.to_string())?;
    net.check_batch(batch)?;
    let word_bytes = word_bits.div_ceil(8);
    Ok(net
        .layers()
        .iter()
        .map(|nl| {
            let l = &nl.layer;
            // Below 2^53 elements times 8 bytes: no overflow.
            let ifm = l.total_ifmap_size() * batch * word_bytes;
            let ofm = l.total_ofmap_size() * batch * word_bytes;
            let fil = l.total_filter_size() * word_bytes;
            let (i, o, f) = (ifm as f64, ofm as f64, fil as f64);
            let (b, ni, no) = (batch as f64, l.nifm() as f64, l.nofm() as f64);
            let min_buf = [
                f + (i + o / no) / b,
                f + (i / ni + o) / b,
                i + (o + f / ni) / no,
                i + (o / b + f) / no,
                o + (i + f / no) / ni,
                o + (i / b + f) / ni,
            ]
            .into_iter()
            .fold(f64::INFINITY, f64::min);
            LayerStats {
                name: nl.name.clone(),
                type_name: l.type_name(),
                ifmap_bytes: ifm,
                ofmap_bytes: ofm,
                weight_bytes: fil,
                macs: l.total_ops(batch),
                min_opt_buf_bytes: min_buf,
            }
        })
        .collect())
}

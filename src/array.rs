//! Row-stationary array mapping (Eyeriss, ISCA'16) of one node's share of a
//! layer onto its PE array.
//!
//! A logical PE set computes one 2D convolution (or pooling window sweep):
//! filter (window) rows by output rows. It is folded when larger than the
//! array and replicated when smaller; replicas take different input and
//! output channels. The result is a list of `NestedLoopDesc`: the remaining
//! ifm/ofm/batch loop counts and the cost of one loop body ("processing
//! pass"), which loop blocking then schedules. Every float is computed in
//! nn_dataflow's operation order so that costs agree to the last bit.

use serde::Serialize;

use crate::dims::{DataCat, DataLoops, LoopDim, MemLevel, PerCat, PerLevel, PerLoop};
use crate::hw::Dim2;
use crate::network::{Layer, LayerKind};
use crate::util::{factorize, idivc};

/// How a logical PE set is laid onto the physical array.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct PeSetMapping {
    /// Logical PE set: (filter rows, output rows).
    pub logical: Dim2,
    /// Folds of the logical set in each dimension.
    pub fold: Dim2,
    /// Replicas of the folded set in each dimension.
    pub repl: Dim2,
    /// The folded logical set.
    pub folded: Dim2,
    /// The physical PE block one pass occupies.
    pub physical: Dim2,
    /// Average fraction of the array doing useful work.
    pub utilization: f64,
}

/// One way of replicating the folded PE set over channels: the loop body
/// of the nested loop that blocking schedules, and its costs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NestedLoopDesc {
    /// Loop trip counts.
    pub loopcnt: PerLoop<u64>,
    /// Words one loop body keeps in a global buffer, per data category.
    pub usize_gbuf: PerCat<u64>,
    /// Words one loop body keeps in each register file.
    pub usize_regf: PerCat<u64>,
    /// Accesses of one loop body per level and data category.
    pub unit_access: PerLevel<PerCat<f64>>,
    /// Operations of one loop body.
    pub unit_ops: f64,
    /// Cycles of one loop body.
    pub unit_time: u64,
    #[serde(skip)]
    pub data_loops: DataLoops,
    /// Input and output channels processed side by side by the replicas.
    pub repl_ifms: u64,
    pub repl_ofms: u64,
    pub pe_set: PeSetMapping,
}

impl NestedLoopDesc {
    /// Accesses at `level` of data category `d` to touch all its data once.
    #[inline]
    pub fn total_access(&self, level: MemLevel, d: DataCat) -> f64 {
        self.unit_access[level][d] * self.data_loops.take_prod(d, &self.loopcnt) as f64
    }

    /// Operations of all loops.
    pub fn total_ops(&self) -> f64 {
        self.unit_ops * self.loopcnt.0.iter().product::<u64>() as f64
    }
}

/// Maps `layer` (one node's share, `batch` samples, a fraction `occupancy`
/// of whose ops are real work) onto `array`, listing the loop nests of each
/// channel replication choice worth considering.
pub fn row_stationary(
    layer: &Layer,
    batch: u64,
    occupancy: f64,
    array: Dim2,
) -> Vec<NestedLoopDesc> {
    let (_, hreg, _) = layer.region();
    let pe_set = fold_and_replicate(Dim2::new(hreg, layer.hofm()), array);
    let pass = UnitPass::new(layer, &pe_set);
    let make = |choice: Replication| pass.nested_loop(layer, &pe_set, occupancy, choice);
    let (nifm, nofm) = (layer.nifm(), layer.nofm());
    let mut out = Vec::new();
    match layer.kind() {
        LayerKind::Conv { .. } => {
            // Row replicas split between input and output channels; keep the
            // choices that do not increase the loop count over earlier ones.
            let mut min_cnt = u64::MAX;
            for [r1, r2] in factorize::<2>(pe_set.repl.h).iter().copied() {
                let ifms = r1.min(nifm);
                let ofms = (r2 * pe_set.repl.w).min(nofm);
                let lcnt = PerLoop([idivc(nifm, ifms), idivc(nofm, ofms), batch * pe_set.fold.w]);
                let cnt = lcnt.0.iter().product::<u64>();
                if cnt < min_cnt {
                    min_cnt = cnt;
                } else if cnt > min_cnt {
                    continue;
                }
                out.push(make(Replication {
                    lcnt,
                    ifms,
                    ofms,
                    size: ifms * ofms,
                    counts: PerCat([ifms * ofms, ifms, ofms]),
                }));
            }
        }
        _ => {
            let ofms = pe_set.repl.size().min(nofm);
            out.push(make(Replication {
                lcnt: PerLoop([1, idivc(nofm, ofms), batch * pe_set.fold.w]),
                ifms: 1,
                ofms,
                size: ofms,
                counts: PerCat([0, ofms, ofms]),
            }));
        }
    }
    out
}

/// Folds a logical PE set that does not fit the array and replicates one
/// that does; spare row replicas absorb column folds.
fn fold_and_replicate(logical: Dim2, array: Dim2) -> PeSetMapping {
    let (mut fold_h, mut fold_w, mut repl_h, mut repl_w) = (1, 1, 1, 1);
    if logical.h > array.h {
        fold_h = idivc(logical.h, array.h);
    } else {
        repl_h = array.h / logical.h;
    }
    if logical.w > array.w {
        fold_w = idivc(logical.w, array.w);
    } else {
        repl_w = array.w / logical.w;
    }
    let f_w2h = repl_h.min(fold_w);
    fold_w = idivc(fold_w, f_w2h);
    repl_h /= f_w2h;
    let fold = Dim2::new(fold_h, fold_w);
    let repl = Dim2::new(repl_h, repl_w);
    let folded = Dim2::new(idivc(logical.h, fold.h), idivc(logical.w, fold.w));
    let physical = Dim2::new(folded.h * repl.h * f_w2h, idivc(folded.w * repl.w, f_w2h));
    debug_assert!(physical.h <= array.h && physical.w <= array.w);
    // nn_dataflow asserts this is above 50% (and crashes below); here a
    // poorly used array is a legitimate, if slow, mapping.
    let utilization = (logical.size() * repl.size()) as f64 / (array.size() * fold.size()) as f64;
    PeSetMapping {
        logical,
        fold,
        repl,
        folded,
        physical,
        utilization,
    }
}

/// One unit pass of the folded PE set: all folded filter rows, one folded
/// input and output map; its accesses, storage, ops and cycles.
struct UnitPass {
    access: PerLevel<PerCat<f64>>,
    sz_gbuf: PerCat<u64>,
    sz_regf: PerCat<u64>,
    ops: f64,
    time: u64,
}

/// How replicas of the PE set split channels: the loop counts left, and
/// the replicas' input and output channels.
struct Replication {
    lcnt: PerLoop<u64>,
    ifms: u64,
    ofms: u64,
    /// Replicas working at once.
    size: u64,
    /// Copies of each category the replicas hold.
    counts: PerCat<u64>,
}

impl UnitPass {
    fn new(layer: &Layer, pe: &PeSetMapping) -> UnitPass {
        let (nreg, hreg, wreg) = layer.region();
        let (hofm, wofm) = (layer.hofm(), layer.wofm());
        let conv = layer.is_conv();
        // Vector layers take several steps on each element.
        let per_element = layer.ops_per_element();
        let ops_lpe = if conv {
            wreg * wofm
        } else {
            nreg * wreg * wofm * per_element
        };
        let (fold, folded) = (pe.fold, pe.folded);
        let fh = fold.h as f64;
        let hofm_acc = hofm as f64 / fold.w as f64;
        let hifm_acc = layer.input_rows_f(hofm_acc);
        let wifm_buf = layer.wifm();
        let wifm_acc = wifm_buf as f64;
        let hofm_buf = idivc(hofm, fold.w);
        let hifm_buf = layer.input_rows(0, hofm_buf).1;
        let ofm_acc = hofm_acc * wofm as f64;
        let ifm_acc = hifm_acc * wifm_acc;
        let ops = ofm_acc * (nreg * hreg * wreg * per_element) as f64;
        let fl = folded.size() as f64;
        let mut access = PerLevel::splat(PerCat::splat(0.0));
        let (sz_gbuf, sz_regf);
        if conv {
            // A transposed conv's output rows cycle through its phases, each
            // with its own taps: a pass holds them all, and each PE the
            // filter rows of its row's column phases.
            let taps = layer.filter_taps();
            let wfil_pe = wreg * layer.up().1;
            let fil = taps as f64;
            access[MemLevel::Dram] = PerCat([fil, ifm_acc, ofm_acc]);
            access[MemLevel::Gbuf] = PerCat([fil, ifm_acc * fh, ofm_acc * fh]);
            access[MemLevel::Itcn] = PerCat([
                wfil_pe as f64 * fl * fh,
                wifm_acc * fl * fh,
                wofm as f64 * fl * fh,
            ]);
            access[MemLevel::Regf] = PerCat::splat(ops);
            sz_gbuf = PerCat([taps, hifm_buf * wifm_buf, hofm_buf * wofm]);
            sz_regf = PerCat([wfil_pe, wreg, 1]);
        } else {
            access[MemLevel::Dram] = PerCat([0.0, ifm_acc, ofm_acc]);
            access[MemLevel::Gbuf] = PerCat([0.0, ifm_acc, ofm_acc * fh]);
            access[MemLevel::Itcn] = PerCat([0.0, wifm_acc * fl, wofm as f64 * fl * fh]);
            access[MemLevel::Regf] = PerCat([0.0, ops, ops]);
            sz_gbuf = PerCat([0, hifm_buf * wifm_buf, hofm_buf * wofm]);
            sz_regf = PerCat([0, wreg, 1]);
        }
        UnitPass {
            access,
            sz_gbuf,
            sz_regf,
            ops,
            time: fold.h * ops_lpe,
        }
    }

    /// The nested loop of one replication choice; partial channel groups
    /// count at their occupancy.
    fn nested_loop(
        &self,
        layer: &Layer,
        pe_set: &PeSetMapping,
        occupancy: f64,
        r: Replication,
    ) -> NestedLoopDesc {
        let (nifm, nofm) = (layer.nifm(), layer.nofm());
        let locc = if layer.is_conv() {
            PerLoop([
                nifm as f64 / r.ifms as f64 / r.lcnt[LoopDim::Ifm] as f64,
                nofm as f64 / r.ofms as f64 / r.lcnt[LoopDim::Ofm] as f64,
                1.0,
            ])
        } else {
            PerLoop([
                1.0,
                nofm as f64 / r.ofms as f64 / r.lcnt[LoopDim::Ofm] as f64,
                1.0,
            ])
        };
        let data_loops = layer.data_loops();
        let plocc = locc.0.iter().fold(1.0, |a, &b| a * b);
        let aocc = PerCat::from_fn(|d| data_loops.take_prod_f(d, &locc));
        let access = &self.access;
        let mut ua = PerLevel::splat(PerCat::splat(0.0));
        for m in [MemLevel::Dram, MemLevel::Gbuf] {
            ua[m] = PerCat::from_fn(|d| access[m][d] * r.counts[d] as f64 * aocc[d]);
        }
        let rsz = r.size as f64;
        ua[MemLevel::Itcn] = PerCat::from_fn(|d| access[MemLevel::Itcn][d] * rsz * aocc[d]);
        ua[MemLevel::Regf] =
            PerCat::from_fn(|d| access[MemLevel::Regf][d] * rsz * occupancy * plocc);
        NestedLoopDesc {
            loopcnt: r.lcnt,
            usize_gbuf: PerCat::from_fn(|d| self.sz_gbuf[d] * r.counts[d]),
            usize_regf: self.sz_regf,
            unit_access: ua,
            unit_ops: self.ops * rsz * occupancy * plocc,
            unit_time: self.time,
            data_loops,
            repl_ifms: r.ifms,
            repl_ofms: r.ofms,
            pe_set: *pe_set,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn active_pes(n: &NestedLoopDesc, array: Dim2) -> f64 {
        n.pe_set.utilization * array.size() as f64
    }

    /// nn_dataflow's test_map_alex_net: AlexNet conv1-5 on Eyeriss' 12x14
    /// array with batch 4.
    #[test]
    fn alexnet_on_eyeriss_chip() {
        let array = Dim2::new(12, 14);
        let convs = [
            (
                Layer::conv(3, 96, (55, 55), (11, 11), (4, 4)).unwrap(),
                1,
                14,
                154.0,
            ),
            (
                Layer::conv(48, 256, (27, 27), (5, 5), (1, 1)).unwrap(),
                1,
                27,
                135.0,
            ),
            (
                Layer::conv(256, 384, (13, 13), (3, 3), (1, 1)).unwrap(),
                4,
                13,
                156.0,
            ),
            (
                Layer::conv(192, 384, (13, 13), (3, 3), (1, 1)).unwrap(),
                4,
                13,
                156.0,
            ),
            (
                Layer::conv(192, 256, (13, 13), (3, 3), (1, 1)).unwrap(),
                4,
                13,
                156.0,
            ),
        ];
        for (layer, repl, flw, pes) in convs {
            let nlds = row_stationary(&layer, 4, 1.0, array);
            let m = nlds[0].pe_set;
            assert_eq!(m.repl.size(), repl, "{layer}");
            assert_eq!(m.folded.w, flw, "{layer}");
            // Like nn_dataflow's test: either the peak or the average count.
            let avg = active_pes(&nlds[0], array);
            assert!(
                m.physical.size() as f64 == pes || (avg - pes).abs() < 1e-9,
                "{layer}: {avg}"
            );
        }
    }

    #[test]
    fn totals_cover_the_layer() {
        let array = Dim2::new(16, 16);
        let layers = [
            Layer::conv(3, 48, (55, 55), (11, 11), (4, 4)).unwrap(),
            Layer::conv(256, 192, (13, 13), (3, 3), (1, 1)).unwrap(),
            Layer::fc(4096, 1000, (1, 1)).unwrap(),
            Layer::pool(48, (27, 27), (3, 3), (2, 2)).unwrap(),
            Layer::transposed_conv(64, 32, (28, 28), (4, 4), (2, 2), 1).unwrap(),
            Layer::resize(21, (224, 224), (2, 2), (1, 1), (8, 8)).unwrap(),
        ];
        for l in layers {
            for n in row_stationary(&l, 16, 1.0, array) {
                let ops = l.total_ops(16) as f64;
                assert!((n.total_ops() - ops).abs() <= 1.0, "{l}");
                let fil = n.total_access(MemLevel::Dram, DataCat::Fil);
                assert!((fil - l.total_filter_size() as f64).abs() <= 1.0, "{l}");
                let ofm = n.total_access(MemLevel::Dram, DataCat::Ofm);
                assert!(
                    (ofm - (l.total_ofmap_size() * 16) as f64).abs() <= 1.0,
                    "{l}"
                );
            }
        }
        // AlexNet fc3 yields four choices of equal loop count, then a better one.
        let fc3 = row_stationary(&Layer::fc(4096, 1000, (1, 1)).unwrap(), 16, 1.0, array);
        let cnts: Vec<u64> = fc3.iter().map(|n| n.loopcnt.0.iter().product()).collect();
        assert_eq!(cnts, vec![262144, 262144, 262144, 262144, 258048]);
    }

    /// A dilated 3x3 conv does the MACs of a 3x3 and reads the input
    /// window of a 5x5.
    #[test]
    fn dilation_widens_the_input_not_the_work() {
        let array = Dim2::new(14, 14);
        let conv = |k: u64| Layer::conv(64, 64, (13, 13), (k, k), (1, 1)).unwrap();
        let dilated = conv(3).dilated((2, 2)).unwrap();
        assert_eq!((dilated.hifm(), dilated.wifm()), (17, 17));
        assert_eq!(dilated.total_ops(1), conv(3).total_ops(1));
        let d = &row_stationary(&dilated, 4, 1.0, array)[0];
        let k3 = &row_stationary(&conv(3), 4, 1.0, array)[0];
        let k5 = &row_stationary(&conv(5), 4, 1.0, array)[0];
        assert_eq!(d.unit_ops, k3.unit_ops);
        assert_eq!(d.pe_set, k3.pe_set);
        assert_eq!(d.usize_gbuf[DataCat::Fil], k3.usize_gbuf[DataCat::Fil]);
        assert_eq!(d.usize_gbuf[DataCat::Ifm], k5.usize_gbuf[DataCat::Ifm]);
        assert_eq!(
            d.unit_access[MemLevel::Dram][DataCat::Ifm],
            k5.unit_access[MemLevel::Dram][DataCat::Ifm]
        );
    }

    /// A transposed conv of stride 2 and kernel 4 does, per output, the
    /// MACs of a 2x2 conv, over an input of half the rows and columns,
    /// and holds the whole 4x4 kernel; a bilinear 8x upsample reads a 29-row
    /// input for 224 outputs (the last row's neighbour is padding).
    #[test]
    fn upsampling_layers_read_a_smaller_input() {
        let array = Dim2::new(16, 16);
        let t = Layer::transposed_conv(64, 32, (28, 28), (4, 4), (2, 2), 1).unwrap();
        let k2 = Layer::conv(64, 32, (28, 28), (2, 2), (1, 1)).unwrap();
        assert_eq!((t.hifm(), t.wifm()), (15, 15));
        assert_eq!(t.total_ops(1), k2.total_ops(1));
        assert_eq!(t.total_filter_size(), 64 * 32 * 16);
        assert_eq!(t.input_rows(10, 14), (5, 8));
        let (tn, kn) = (
            &row_stationary(&t, 1, 1.0, array)[0],
            &row_stationary(&k2, 1, 1.0, array)[0],
        );
        assert_eq!(tn.unit_ops, kn.unit_ops);
        // Four phases of 2x2 taps; each PE row holds both column phases.
        assert_eq!(tn.pe_set, kn.pe_set);
        assert_eq!(tn.usize_gbuf[DataCat::Fil], 4 * kn.usize_gbuf[DataCat::Fil]);
        assert_eq!(tn.usize_regf[DataCat::Fil], 2 * kn.usize_regf[DataCat::Fil]);
        assert!(tn.usize_gbuf[DataCat::Ifm] < kn.usize_gbuf[DataCat::Ifm]);
        assert!(
            Layer::transposed_conv(64, 32, (28, 28), (3, 3), (2, 2), 1).is_err(),
            "a kernel that does not split into phases"
        );

        let r = Layer::resize(21, (224, 224), (2, 2), (1, 1), (8, 8)).unwrap();
        assert_eq!((r.hifm(), r.nifm()), (29, 21));
        assert!(r.accepts_input_size(28, 28));
        assert!(!r.accepts_input_size(27, 28) && !r.accepts_input_size(56, 28));
        assert_eq!(r.total_ops(1), 21 * 224 * 224 * 4);
        let down = Layer::resize(8, (14, 14), (1, 1), (2, 2), (1, 1)).unwrap();
        assert_eq!(down.hifm(), 27);
        assert!(down.accepts_input_size(28, 28));
    }

    /// An activation product's second operand is per sample: read once
    /// for every sample, unlike a conv's weights.
    #[test]
    fn product_operands_are_read_per_sample() {
        let array = Dim2::new(16, 16);
        let mm = Layer::matmul(12, 128, 64, 128).unwrap().group_slice();
        let fc = Layer::conv(64, 128, (1, 128), (1, 1), (1, 1)).unwrap();
        assert_eq!(mm.total_ops(4), fc.total_ops(4));
        for (l, per_sample) in [(mm, 4.0), (fc, 1.0)] {
            for n in row_stationary(&l, 4, 1.0, array) {
                let fil = n.total_access(MemLevel::Dram, DataCat::Fil);
                assert_eq!(fil, per_sample * (64 * 128) as f64, "{l}");
                assert!((n.total_ops() - l.total_ops(4) as f64).abs() <= 1.0);
            }
        }
    }

    #[test]
    fn low_utilization_still_maps() {
        // 17 output rows on 16 columns fold into a second row pass, which
        // leaves one row replica of three: 17 of 48 PEs work.
        let l = Layer::conv(1, 1, (17, 17), (1, 1), (1, 1)).unwrap();
        let nlds = row_stationary(&l, 1, 1.0, Dim2::new(3, 16));
        let u = nlds[0].pe_set.utilization;
        assert!((u - 17.0 / 48.0).abs() < 1e-12, "{u}");
    }
}

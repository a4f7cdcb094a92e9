//! The closed vocabularies of the dataflow model: data categories, the loops
//! of a layer's nested loop, and memory levels, each with a fixed-size array
//! type indexed by it (no magic indices elsewhere).

use std::ops::{Index, IndexMut};

use serde::Serialize;

/// A category of data a layer moves: weights, input or output feature maps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DataCat {
    /// Weights (filters).
    Fil,
    /// Input feature maps.
    Ifm,
    /// Output feature maps.
    Ofm,
}

impl DataCat {
    /// Every category, in index order.
    pub const ALL: [DataCat; 3] = [DataCat::Fil, DataCat::Ifm, DataCat::Ofm];
}

/// One of the three loops every layer is blocked over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LoopDim {
    /// Input channels.
    Ifm,
    /// Output channels.
    Ofm,
    /// Batch samples.
    Bat,
}

impl LoopDim {
    /// Every loop, in index order.
    pub const ALL: [LoopDim; 3] = [LoopDim::Ifm, LoopDim::Ofm, LoopDim::Bat];

    /// The loop's name in schedule files.
    pub fn name(self) -> &'static str {
        match self {
            LoopDim::Ifm => "ifm",
            LoopDim::Ofm => "ofm",
            LoopDim::Bat => "bat",
        }
    }
}

/// A level of the memory hierarchy, outermost first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MemLevel {
    /// Off-chip memory.
    Dram,
    /// The per-node global buffer.
    Gbuf,
    /// The PE array's interconnect.
    Itcn,
    /// The per-PE register file.
    Regf,
}

impl MemLevel {
    /// Every level, outermost first.
    pub const ALL: [MemLevel; 4] = [
        MemLevel::Dram,
        MemLevel::Gbuf,
        MemLevel::Itcn,
        MemLevel::Regf,
    ];
}

/// A level of loop blocking, outermost first: the loops around the global
/// buffer (run from DRAM), the loops between the buffer and the register
/// files, and the loops inside a register file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BlockLevel {
    /// Around the global buffer: blocks fetched from DRAM.
    Dram,
    /// Between the buffer and the register files.
    Gbuf,
    /// Inside a register file.
    Regf,
}

impl BlockLevel {
    /// Every level, outermost first.
    pub const ALL: [BlockLevel; 3] = [BlockLevel::Dram, BlockLevel::Gbuf, BlockLevel::Regf];
}

/// A blocking level with a loop order of its own: the two outer ones (the
/// register-file level runs its loops in one fixed order). Fetch counts
/// are kept per such level too: fetches into the level below it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderedLevel {
    /// The DRAM level.
    Dram,
    /// The buffer level.
    Gbuf,
}

impl OrderedLevel {
    /// Both, outermost first.
    pub const ALL: [OrderedLevel; 2] = [OrderedLevel::Dram, OrderedLevel::Gbuf];

    /// The same level among all blocking levels.
    pub fn level(self) -> BlockLevel {
        match self {
            OrderedLevel::Dram => BlockLevel::Dram,
            OrderedLevel::Gbuf => BlockLevel::Gbuf,
        }
    }
}

macro_rules! per_enum {
    ($(#[$doc:meta])* $name:ident, $enum:ident, $n:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
        pub struct $name<T>(pub [T; $n]);

        impl<T> Index<$enum> for $name<T> {
            type Output = T;
            #[inline]
            fn index(&self, i: $enum) -> &T {
                &self.0[i as usize]
            }
        }

        impl<T> IndexMut<$enum> for $name<T> {
            #[inline]
            fn index_mut(&mut self, i: $enum) -> &mut T {
                &mut self.0[i as usize]
            }
        }

        impl<T: Copy> $name<T> {
            /// The same value for every entry.
            pub fn splat(v: T) -> Self {
                Self([v; $n])
            }

            /// Applies `f` to each entry, keeping the index.
            pub fn map<U>(&self, mut f: impl FnMut($enum, T) -> U) -> $name<U> {
                let mut i = 0;
                $name(self.0.map(|v| {
                    let r = f($enum::ALL[i], v);
                    i += 1;
                    r
                }))
            }
        }

        impl<T: Copy> $name<T> {
            /// Builds the array from a function of the index.
            pub fn from_fn(mut f: impl FnMut($enum) -> T) -> Self {
                $name($enum::ALL.map(|e| f(e)))
            }
        }
    };
}

per_enum!(
    /// A value per data category.
    PerCat, DataCat, 3
);
per_enum!(
    /// A value per loop.
    PerLoop, LoopDim, 3
);
per_enum!(
    /// A value per memory level.
    PerLevel, MemLevel, 4
);
per_enum!(
    /// A value per blocking level.
    PerBlock, BlockLevel, 3
);
per_enum!(
    /// A value per ordered blocking level.
    PerOrdered, OrderedLevel, 2
);

impl PerCat<f64> {
    /// Left-to-right sum, the order every total in the model is taken in.
    pub fn sum(&self) -> f64 {
        self.0.iter().fold(0.0, |a, &b| a + b)
    }
}

/// The loops each data category is indexed by, in `LoopDim` order.
///
/// Conv and FC weights span (ifm, ofm), input maps (ifm, batch), output maps
/// (ofm, batch), the second operand of an activation product (ifm, ofm,
/// batch); local-region layers (pooling, eltwise) have no weights and
/// both maps span (ofm, batch).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DataLoops(pub PerCat<PerLoop<bool>>);

impl DataLoops {
    /// Conv and FC layers.
    pub const CONV: DataLoops = DataLoops(PerCat([
        PerLoop([true, true, false]),
        PerLoop([true, false, true]),
        PerLoop([false, true, true]),
    ]));
    /// Products of two activations: the second operand (in the weights'
    /// place) is per sample.
    pub const MATMUL: DataLoops = DataLoops(PerCat([
        PerLoop([true, true, true]),
        PerLoop([true, false, true]),
        PerLoop([false, true, true]),
    ]));
    /// Pooling and eltwise layers.
    pub const LOCAL_REGION: DataLoops = DataLoops(PerCat([
        PerLoop([false, false, false]),
        PerLoop([false, true, true]),
        PerLoop([false, true, true]),
    ]));

    /// Whether loop `l` indexes data category `d`.
    #[inline]
    pub fn has(&self, d: DataCat, l: LoopDim) -> bool {
        self.0[d][l]
    }

    /// Product of `v` over the loops of `d`, in loop order.
    #[inline]
    pub fn take_prod(&self, d: DataCat, v: &PerLoop<u64>) -> u64 {
        LoopDim::ALL
            .iter()
            .filter(|&&l| self.has(d, l))
            .map(|&l| v[l])
            .product()
    }

    /// Product of `v` over the loops of `d`, as floats left to right from 1.
    #[inline]
    pub fn take_prod_f(&self, d: DataCat, v: &PerLoop<f64>) -> f64 {
        LoopDim::ALL
            .iter()
            .filter(|&&l| self.has(d, l))
            .fold(1.0, |a, &l| a * v[l])
    }
}

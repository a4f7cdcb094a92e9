//! A tiny symbolic algebra for segment constraints: integers, booleans,
//! symbols, `x == true/false` tests and two-way conditionals, simplified on
//! construction exactly where sympy simplifies the same expressions in
//! nn_dataflow (so the surviving symbols, and the enumeration, are the same).

/// A symbol's index in its table.
pub type SymId = usize;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Expr {
    Int(u64),
    Bool(bool),
    Sym(SymId),
    /// `x == value` for a boolean-valued `x`.
    Eq(Box<Expr>, bool),
    /// `then` if `cond` holds, else `other`.
    Pw {
        then: Box<Expr>,
        cond: Box<Expr>,
        other: Box<Expr>,
    },
}

impl Expr {
    /// `x == v`: decided when `x` is a constant.
    pub fn eq(x: Expr, v: bool) -> Expr {
        match x {
            Expr::Bool(b) => Expr::Bool(b == v),
            x => Expr::Eq(Box::new(x), v),
        }
    }

    /// `then if cond else other`: decided on a constant condition; a
    /// conditional `then` testing the same condition keeps its first
    /// branch; equal branches merge.
    pub fn pw(then: Expr, cond: Expr, other: Expr) -> Expr {
        match cond {
            Expr::Bool(true) => return then,
            Expr::Bool(false) => return other,
            _ => {}
        }
        let then = match then {
            Expr::Pw {
                then: t, cond: c, ..
            } if *c == cond => *t,
            t => t,
        };
        if then == other {
            return then;
        }
        Expr::Pw {
            then: Box::new(then),
            cond: Box::new(cond),
            other: Box::new(other),
        }
    }

    /// Symbols the expression mentions.
    pub fn symbols(&self, out: &mut Vec<SymId>) {
        match self {
            Expr::Sym(s) if !out.contains(s) => out.push(*s),
            Expr::Eq(x, _) => x.symbols(out),
            Expr::Pw { then, cond, other } => {
                then.symbols(out);
                cond.symbols(out);
                other.symbols(out);
            }
            _ => {}
        }
    }

    /// The expression with symbols replaced by `f` where it gives a value.
    pub fn subs(&self, f: &impl Fn(SymId) -> Option<Expr>) -> Expr {
        match self {
            Expr::Sym(s) => f(*s).unwrap_or(Expr::Sym(*s)),
            Expr::Eq(x, v) => Expr::eq(x.subs(f), *v),
            Expr::Pw { then, cond, other } => Expr::pw(then.subs(f), cond.subs(f), other.subs(f)),
            e => e.clone(),
        }
    }

    /// Python truthiness of the (sympy) value: zero and false are false,
    /// anything else, symbols included, is true.
    pub fn truthy(&self) -> bool {
        !matches!(self, Expr::Int(0) | Expr::Bool(false))
    }

    /// The integer value of a fully substituted expression (0, no
    /// constraint, should a symbol remain, which segments never leave).
    pub fn as_int(&self) -> u64 {
        match self {
            Expr::Int(v) => *v,
            Expr::Bool(b) => *b as u64,
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simplifies_like_sympy() {
        let a = Expr::Sym(0);
        let (t, s) = (Expr::Sym(1), Expr::Sym(2));
        let c = Expr::eq(a.clone(), false);
        assert_eq!(Expr::eq(Expr::Bool(true), true), Expr::Bool(true));
        assert_eq!(Expr::eq(Expr::Bool(false), true), Expr::Bool(false));
        // Nested equalities stay.
        assert!(matches!(Expr::eq(c.clone(), true), Expr::Eq(..)));
        let p = Expr::pw(t.clone(), c.clone(), s.clone());
        assert!(matches!(p, Expr::Pw { .. }));
        assert_eq!(Expr::pw(t.clone(), Expr::Bool(true), s.clone()), t);
        assert_eq!(Expr::pw(t.clone(), Expr::Bool(false), s.clone()), s);
        assert_eq!(Expr::pw(t.clone(), c.clone(), t.clone()), t);
        // A conditional on the same condition collapses to its first branch.
        assert_eq!(Expr::pw(p.clone(), c.clone(), s.clone()), p);
        let f0 = |v: bool| move |i: SymId| (i == 0).then_some(Expr::Bool(v));
        assert_eq!(p.subs(&f0(false)), t);
        assert_eq!(p.subs(&f0(true)), s);
        let mut syms = Vec::new();
        p.symbols(&mut syms);
        assert_eq!(syms, [1, 0, 2]);
        // Substituting a branch keeps the conditional.
        let z = p.subs(&|i| (i == 1).then_some(Expr::Int(0)));
        assert!(matches!(z, Expr::Pw { .. }));
    }
}

//! proptest model test: random new/clone/drop/get_mut/try_unwrap/make_mut/from_ref sequences on
//! `LocalPtr` against the same sequence on `Rc`, checking after every step that counts,
//! identities and values agree and that every value is dropped exactly once, when its model
//! dies.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::{Rc, Weak};

use ms_ptr::{LocalPtr, RefCount, RefCounted};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

/// Drops seen, per value id.
type Drops = Rc<RefCell<HashMap<u32, u32>>>;

struct Tracked {
    rc: RefCount,
    id: u32,
    value: u64,
    drops: Drops,
}
ms_ptr::ref_counted!(Tracked => rc);

impl Clone for Tracked {
    fn clone(&self) -> Tracked {
        // A clone is a new value; the test gives it the id the model will know it by.
        Tracked {
            rc: self.rc.clone(),
            id: u32::MAX,
            value: self.value,
            drops: self.drops.clone(),
        }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        // A value being dropped cannot be revived.
        if self.rc.is_armed() {
            assert!(self.try_local_ptr().is_none());
        }
        *self.drops.borrow_mut().entry(self.id).or_default() += 1;
    }
}

#[derive(Debug, Clone)]
enum Op {
    New(u64, bool),
    Clone(usize),
    Drop(usize),
    GetMut(usize, u64),
    TryUnwrap(usize),
    MakeMut(usize, u64),
    FromRef(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (any::<u64>(), any::<bool>()).prop_map(|(v, c)| Op::New(v, c)),
        3 => any::<usize>().prop_map(Op::Clone),
        3 => any::<usize>().prop_map(Op::Drop),
        2 => (any::<usize>(), any::<u64>()).prop_map(|(i, v)| Op::GetMut(i, v)),
        1 => any::<usize>().prop_map(Op::TryUnwrap),
        1 => (any::<usize>(), any::<u64>()).prop_map(|(i, v)| Op::MakeMut(i, v)),
        2 => any::<usize>().prop_map(Op::FromRef),
    ]
}

/// The model of one value: its id, current value, and whether it was made by `new_counted`.
#[derive(Clone)]
struct Model {
    id: u32,
    value: u64,
    counted: bool,
}

proptest! {
    // Failures are saved beside this file (`model.proptest-regressions`) and replayed first.
    #![proptest_config(ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn behaves_like_rc(ops in vec(op(), 0..200)) {
        let drops: Drops = Rc::default();
        let next_id = std::cell::Cell::new(0u32);
        let mut all: Vec<Weak<RefCell<Model>>> = Vec::new();
        let mut live: Vec<(LocalPtr<Tracked>, Rc<RefCell<Model>>)> = Vec::new();
        let fresh = |value: u64, counted: bool, drops: &Drops, all: &mut Vec<Weak<RefCell<Model>>>| {
            let id = next_id.get();
            next_id.set(id + 1);
            let t = Tracked { rc: RefCount::new(), id, value, drops: drops.clone() };
            let p = if counted { LocalPtr::new_counted(t) } else { LocalPtr::new(t) };
            let m = Rc::new(RefCell::new(Model { id, value, counted }));
            all.push(Rc::downgrade(&m));
            (p, m)
        };
        for op in ops {
            match op {
                Op::New(value, counted) => live.push(fresh(value, counted, &drops, &mut all)),
                Op::Clone(i) if !live.is_empty() => {
                    let (p, m) = &live[i % live.len()];
                    let pair = (p.clone(), m.clone());
                    live.push(pair);
                }
                Op::Drop(i) if !live.is_empty() => drop(live.swap_remove(i % live.len())),
                Op::GetMut(i, v) if !live.is_empty() => {
                    let at = i % live.len();
                    let (p, m) = &mut live[at];
                    // A counted value never moves, so it is never handed out mutably.
                    let may = Rc::strong_count(m) == 1 && !m.borrow().counted;
                    match LocalPtr::get_mut(p) {
                        Some(t) => {
                            prop_assert!(may);
                            t.value = v;
                            m.borrow_mut().value = v;
                        }
                        None => prop_assert!(!may),
                    }
                }
                Op::TryUnwrap(i) if !live.is_empty() => {
                    let (p, m) = live.swap_remove(i % live.len());
                    let may = Rc::strong_count(&m) == 1 && !m.borrow().counted;
                    match LocalPtr::try_unwrap(p) {
                        Ok(t) => {
                            prop_assert!(may);
                            prop_assert_eq!(t.value, m.borrow().value);
                            prop_assert_eq!(t.id, m.borrow().id);
                            drop(m);
                            prop_assert_eq!(drops.borrow().get(&t.id).copied(), None);
                            drop(t);
                        }
                        Err(p) => {
                            prop_assert!(!may);
                            live.push((p, m));
                        }
                    }
                }
                Op::MakeMut(i, v) if !live.is_empty() => {
                    let at = i % live.len();
                    let (p, m) = &mut live[at];
                    let unique = Rc::strong_count(m) == 1 && !m.borrow().counted;
                    let t = LocalPtr::make_mut(p);
                    if unique {
                        prop_assert_eq!(t.id, m.borrow().id);
                    } else {
                        // Cloned into a new, plain allocation: a new value for the model too.
                        prop_assert_eq!(t.id, u32::MAX);
                        t.id = next_id.get();
                        next_id.set(t.id + 1);
                        let nm = Rc::new(RefCell::new(Model { id: t.id, value: t.value, counted: false }));
                        all.push(Rc::downgrade(&nm));
                        *m = nm;
                    }
                    t.value = v;
                    m.borrow_mut().value = v;
                }
                Op::FromRef(i) if !live.is_empty() => {
                    let (p, m) = &live[i % live.len()];
                    match LocalPtr::try_from_ref(&**p) {
                        Some(q) => {
                            prop_assert!(m.borrow().counted);
                            prop_assert!(LocalPtr::ptr_eq(p, &q));
                            let pair = (q, m.clone());
                            live.push(pair);
                        }
                        None => prop_assert!(!m.borrow().counted),
                    }
                }
                _ => {}
            }
            // Counts, identities and values agree with the model.
            for (a, (p, m)) in live.iter().enumerate() {
                prop_assert_eq!(LocalPtr::strong_count(p), Rc::strong_count(m));
                prop_assert_eq!(p.value, m.borrow().value);
                prop_assert_eq!(p.id, m.borrow().id);
                prop_assert_eq!(p.rc.is_armed(), m.borrow().counted);
                for (q, n) in live.iter().skip(a + 1) {
                    prop_assert_eq!(LocalPtr::ptr_eq(p, q), Rc::ptr_eq(m, n));
                }
            }
            // A value is dropped exactly when its model dies, and only once.
            for w in &all {
                let Some(m) = w.upgrade() else { continue };
                prop_assert_eq!(drops.borrow().get(&m.borrow().id).copied(), None);
            }
            for (&id, &n) in drops.borrow().iter() {
                prop_assert_eq!(n, 1, "value {} dropped {} times", id, n);
            }
        }
        live.clear();
        prop_assert_eq!(drops.borrow().len(), next_id.get() as usize);
        prop_assert!(drops.borrow().values().all(|&n| n == 1));
    }
}

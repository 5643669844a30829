//! proptest over random orders of set, drop, poll and take on promise/future pairs, against a
//! simple model of what each future must resolve to and when it is woken.

mod support;

use std::cell::RefCell;
use std::rc::Rc;

use ms_future::{BrokenPromise, Future, Promise, promise};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use support::Executor;

#[derive(Debug, Clone)]
enum Op {
    /// Set pair `i`'s value (if its promise is still there).
    Set(usize, u32),
    /// Drop pair `i`'s promise.
    DropPromise(usize),
    /// Spawn a task that awaits pair `i`'s future (if not already taken).
    Await(usize),
    /// Drop pair `i`'s future (if not awaited).
    DropFuture(usize),
    /// Run woken tasks.
    Run,
}

const PAIRS: usize = 4;

/// What each pair's awaiting task saw, if it finished.
type Results = Rc<RefCell<Vec<Option<Result<u32, BrokenPromise>>>>>;

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..PAIRS, any::<u32>()).prop_map(|(i, v)| Op::Set(i, v)),
        1 => (0..PAIRS).prop_map(Op::DropPromise),
        3 => (0..PAIRS).prop_map(Op::Await),
        1 => (0..PAIRS).prop_map(Op::DropFuture),
        2 => Just(Op::Run),
    ]
}

/// What the model expects pair `i`'s future to resolve to, once resolved.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    Open,
    Value(u32),
    Broken,
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_awaited_future_resolves_to_what_its_promise_said(ops in vec(op(), 0..64)) {
        let ex = Executor::default();
        let mut promises: Vec<Option<Promise<u32>>> = Vec::new();
        let mut futures: Vec<Option<Future<u32>>> = Vec::new();
        for _ in 0..PAIRS {
            let (p, f) = promise();
            promises.push(Some(p));
            futures.push(Some(f));
        }
        let mut expect = [Expect::Open; PAIRS];
        let results: Results = Rc::new(RefCell::new(vec![None; PAIRS]));
        let mut awaited = [false; PAIRS];
        for op in ops {
            match op {
                Op::Set(i, v) => {
                    if let Some(p) = promises[i].take() {
                        prop_assert_eq!(p.is_canceled(), futures[i].is_none() && !awaited[i]);
                        p.set_value(v);
                        expect[i] = Expect::Value(v);
                    }
                }
                Op::DropPromise(i) => {
                    if promises[i].take().is_some() {
                        expect[i] = Expect::Broken;
                    }
                }
                Op::Await(i) => {
                    if let Some(f) = futures[i].take() {
                        awaited[i] = true;
                        let sink = Rc::clone(&results);
                        ex.spawn(async move { sink.borrow_mut()[i] = Some(f.await) });
                    }
                }
                Op::DropFuture(i) => {
                    futures[i] = None;
                }
                Op::Run => {
                    ex.run_until_stalled();
                }
            }
        }
        // Everything still open is resolved (dropping the promises), then everyone runs.
        promises.clear();
        ex.run_until_stalled();
        for i in 0..PAIRS {
            let got = results.borrow()[i];
            if awaited[i] {
                let want = match expect[i] {
                    Expect::Value(v) => Ok(v),
                    Expect::Open | Expect::Broken => Err(BrokenPromise),
                };
                prop_assert_eq!(got, Some(want), "pair {}", i);
            } else {
                prop_assert_eq!(got, None);
            }
        }
    }
}

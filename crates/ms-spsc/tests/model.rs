//! proptest model test: random single and batch operations against a `VecDeque`, compared after
//! every operation.

#![cfg(not(loom))]

use std::collections::VecDeque;

use ms_spsc::{PopError, PushError, channel};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

#[derive(Debug, Clone)]
enum Op {
    Push(u8),
    PushSlice(Vec<u8>),
    PushIter(Vec<u8>),
    Pop,
    PopSlice(usize),
    Drain(usize),
    Peek,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => any::<u8>().prop_map(Op::Push),
        2 => vec(any::<u8>(), 0..20).prop_map(Op::PushSlice),
        1 => vec(any::<u8>(), 0..20).prop_map(Op::PushIter),
        4 => Just(Op::Pop),
        2 => (0usize..20).prop_map(Op::PopSlice),
        1 => (0usize..20).prop_map(Op::Drain),
        1 => Just(Op::Peek),
    ]
}

proptest! {
    // Failures are saved beside this file (`model.proptest-regressions`) and replayed first.
    #![proptest_config(ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn behaves_like_a_bounded_vecdeque(ops in vec(op(), 0..256), asked in 0usize..64) {
        let (mut tx, mut rx) = channel::<u8>(asked);
        let cap = tx.capacity();
        prop_assert_eq!(cap, if asked == 0 { 0 } else { asked.next_power_of_two() });
        let mut model = VecDeque::new();
        for op in ops {
            match op {
                Op::Push(v) => {
                    let got = tx.try_push(v);
                    if model.len() < cap {
                        prop_assert_eq!(got, Ok(()));
                        model.push_back(v);
                    } else {
                        prop_assert_eq!(got, Err(PushError::Full(v)));
                    }
                }
                Op::PushSlice(values) => {
                    let n = tx.push_slice(&values);
                    prop_assert_eq!(n, values.len().min(cap - model.len()));
                    model.extend(&values[..n]);
                }
                Op::PushIter(values) => {
                    let mut iter = values.iter().copied();
                    let n = tx.push_iter(iter.by_ref());
                    prop_assert_eq!(n, values.len().min(cap - model.len()));
                    prop_assert_eq!(iter.next(), values.get(n).copied(), "iterator over-advanced");
                    model.extend(&values[..n]);
                }
                Op::Pop => {
                    prop_assert_eq!(rx.try_pop().ok(), model.pop_front());
                    if model.is_empty() {
                        prop_assert_eq!(rx.try_pop(), Err(PopError::Empty));
                    }
                }
                Op::PopSlice(len) => {
                    let mut buf = vec![0; len];
                    let n = rx.pop_slice(&mut buf);
                    let expected: Vec<u8> = model.drain(..len.min(model.len())).collect();
                    prop_assert_eq!(&buf[..n], &expected[..]);
                }
                Op::Drain(take) => {
                    let got: Vec<u8> = rx.drain().take(take).collect();
                    let expected: Vec<u8> = model.drain(..take.min(model.len())).collect();
                    prop_assert_eq!(got, expected);
                }
                Op::Peek => prop_assert_eq!(rx.peek(), model.front()),
            }
            prop_assert_eq!(tx.len(), model.len());
            prop_assert_eq!(rx.len(), model.len());
            prop_assert_eq!(tx.slots(), cap - model.len());
            prop_assert_eq!(tx.is_full(), model.len() == cap);
            prop_assert_eq!(rx.is_empty(), model.is_empty());
        }
    }
}

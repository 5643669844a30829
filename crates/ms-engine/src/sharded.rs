//! [`Sharded<S>`]: one instance of a service per shard (Seastar's `sharded<S>`), and the
//! [`Service`] trait that gives it an asynchronous stop.
//!
//! # Where the instances live
//!
//! Each shard keeps its instances in a thread-local registry keyed by the `Sharded` id, a
//! number taken once from a process-wide counter. The handle itself holds only that id, so it
//! is `Copy + Send + Sync` whatever `S` is, and can be passed to other shards (in a
//! [`submit_to`](crate::submit_to) closure, say). An instance is made, used and dropped only on
//! its own shard: `start` and `stop` reach every shard through the mesh.

use std::any::Any;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

use ms_reactor::JoinError;

thread_local! {
    /// This shard's service instances, by `Sharded` id.
    static INSTANCES: RefCell<BTreeMap<u64, Rc<dyn Any>>> = const { RefCell::new(BTreeMap::new()) };
}

/// Numbers `Sharded` services; never reused.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A service run by [`Sharded`]: its [`stop`](Service::stop) runs on each shard before that
/// shard's instance is dropped. The default does nothing, so `impl Service for S {}` is
/// enough for a service with nothing to wind down.
///
/// # Examples
///
/// ```
/// use std::cell::Cell;
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use ms_engine::{Service, Sharded};
///
/// static FLUSHED: AtomicU64 = AtomicU64::new(0);
///
/// /// Counts hits on each shard; stopping flushes the count.
/// struct Counter {
///     hits: Cell<u64>,
/// }
///
/// impl Service for Counter {
///     async fn stop(&self) {
///         FLUSHED.fetch_add(self.hits.get(), Ordering::SeqCst);
///     }
/// }
///
/// ms_engine::Engine::builder().shards(2).pin(false).run(|| async {
///     if ms_engine::shard_id() == 0 {
///         let counters = Sharded::start(|_| Counter { hits: Cell::new(0) }).await.unwrap();
///         for done in counters.invoke_on_all(|c| async move { c.hits.set(3) }).await {
///             done.unwrap();
///         }
///         counters.stop().await.unwrap();
///         ms_engine::stop();
///     }
///     ms_engine::stopped().await;
/// }).unwrap();
/// assert_eq!(FLUSHED.load(Ordering::SeqCst), 6);
/// ```
pub trait Service: 'static {
    /// Winds this shard's instance down; [`Sharded::stop`] awaits it on every shard, then
    /// drops the instance there.
    fn stop(&self) -> impl Future<Output = ()> {
        std::future::ready(())
    }
}

/// One instance of `S` per shard, reached by shard.
///
/// [`start`](Self::start) makes an instance on every shard (with the shard's id) and returns
/// this handle; [`local`](Self::local) is the instance of the shard you are on;
/// [`invoke_on`](Self::invoke_on), [`invoke_on_all`](Self::invoke_on_all) and
/// [`map_reduce`](Self::map_reduce) run work with the instance of another shard, or of all;
/// [`stop`](Self::stop) stops and drops every instance, each on its own shard. `S` need not be
/// `Send`: an instance never leaves its shard. Instances that are never stopped are dropped
/// (without [`Service::stop`]) on their shard when its future returns.
///
/// # Examples
///
/// ```
/// use std::cell::Cell;
/// use ms_engine::{Service, Sharded};
///
/// /// A per-shard counter: no locks, no atomics.
/// struct Hits(Cell<u64>);
///
/// impl Service for Hits {}
///
/// ms_engine::Engine::builder().shards(2).pin(false).run(|| async {
///     if ms_engine::shard_id() == 0 {
///         let hits = Sharded::start(|_shard| Hits(Cell::new(0))).await.unwrap();
///         hits.local().0.set(5);
///         hits.invoke_on(1, |h| async move { h.0.set(h.0.get() + 2) }).await.unwrap();
///         let total = hits.map_reduce(|h| async move { h.0.get() }, 0, |a, b| a + b);
///         assert_eq!(total.await, Ok(7));
///         hits.stop().await.unwrap();
///         ms_engine::stop();
///     }
///     ms_engine::stopped().await;
/// }).unwrap();
/// ```
pub struct Sharded<S> {
    id: u64,
    _service: PhantomData<fn() -> S>,
}

impl<S: Service> Sharded<S> {
    /// Makes an instance on every shard with `make(shard_id)`, each on its own shard, and
    /// resolves once all exist.
    ///
    /// # Errors
    ///
    /// If `make` panicked on a shard: the instances made on the other shards are stopped and
    /// dropped, and the first error (in shard order) is returned.
    ///
    /// # Panics
    ///
    /// Outside an engine shard.
    pub async fn start<F>(make: F) -> Result<Self, JoinError>
    where
        F: Fn(usize) -> S + Send + Sync + Clone + 'static,
    {
        let sharded = Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            _service: PhantomData,
        };
        let id = sharded.id;
        let results = crate::invoke_on_all(move || {
            let instance: Rc<dyn Any> = Rc::new(make(crate::shard_id()));
            INSTANCES.with(|i| i.borrow_mut().insert(id, instance));
            std::future::ready(())
        })
        .await;
        if let Some(error) = results.into_iter().find_map(Result::err) {
            // Best effort: the shards that did start are stopped; the start error is the one
            // worth reporting.
            let _ = sharded.stop().await;
            return Err(error);
        }
        Ok(sharded)
    }

    /// The instance of the shard running on this thread, or `None` if there is none (outside
    /// an engine, or before [`start`](Self::start) has reached this shard, or after
    /// [`stop`](Self::stop)).
    pub fn try_local(&self) -> Option<Rc<S>> {
        let instance = INSTANCES.with(|i| i.borrow().get(&self.id).cloned())?;
        instance.downcast::<S>().ok()
    }

    /// The instance of the shard running on this thread.
    ///
    /// # Panics
    ///
    /// If this shard has no instance (see [`try_local`](Self::try_local)).
    #[track_caller]
    pub fn local(&self) -> Rc<S> {
        self.try_local().unwrap_or_else(|| {
            let here = crate::try_shard_id().map_or_else(
                || "outside the engine".to_owned(),
                |s| format!("on shard {s}"),
            );
            panic!(
                "Sharded service {} has no instance {here} (not started there, or stopped)",
                self.id
            )
        })
    }

    /// Runs `f` with shard `shard`'s instance, on that shard, and resolves with the output of
    /// the future it returns (as [`submit_to`](crate::submit_to)).
    ///
    /// # Errors
    ///
    /// [`JoinError::Panicked`] if `f` or its future panicked; [`JoinError::Cancelled`] if that
    /// shard has no instance (not started, or stopped), in which case `f` is not called.
    ///
    /// # Panics
    ///
    /// Outside an engine shard, or if `shard` is not below
    /// [`shard_count`](crate::shard_count).
    pub fn invoke_on<F, Fut, T>(
        &self,
        shard: usize,
        f: F,
    ) -> impl Future<Output = Result<T, JoinError>> + use<F, Fut, T, S>
    where
        F: FnOnce(Rc<S>) -> Fut + Send + 'static,
        Fut: Future<Output = T> + 'static,
        T: Send + 'static,
    {
        let this = *self;
        let reply = crate::submit_to(shard, move || {
            let instance = this.try_local();
            async move {
                match instance {
                    Some(instance) => Some(f(instance).await),
                    None => None,
                }
            }
        });
        async move {
            match reply.await {
                Ok(Some(output)) => Ok(output),
                Ok(None) => Err(JoinError::Cancelled),
                Err(e) => Err(e),
            }
        }
    }

    /// Runs `f` with every shard's instance, each on its own shard, and resolves with the
    /// outputs by shard (each an error as for [`invoke_on`](Self::invoke_on)).
    ///
    /// # Panics
    ///
    /// Outside an engine shard.
    pub async fn invoke_on_all<F, Fut, T>(&self, f: F) -> Vec<Result<T, JoinError>>
    where
        F: Fn(Rc<S>) -> Fut + Send + Sync + Clone + 'static,
        Fut: Future<Output = T> + 'static,
        T: Send + 'static,
    {
        let this = *self;
        crate::invoke_on_all(move || f(this.local())).await
    }

    /// Runs `mapper` with every shard's instance at once and folds the outputs into `initial`
    /// with `reducer`, in shard order (as [`map_reduce`](crate::map_reduce)).
    ///
    /// # Errors
    ///
    /// The first error in shard order, as for [`invoke_on`](Self::invoke_on).
    ///
    /// # Panics
    ///
    /// Outside an engine shard.
    pub async fn map_reduce<M, Fut, T, R, Red>(
        &self,
        mapper: M,
        initial: R,
        reducer: Red,
    ) -> Result<R, JoinError>
    where
        M: Fn(Rc<S>) -> Fut + Send + Sync + Clone + 'static,
        Fut: Future<Output = T> + 'static,
        T: Send + 'static,
        Red: FnMut(R, T) -> R,
    {
        let this = *self;
        crate::map_reduce(move || mapper(this.local()), initial, reducer).await
    }

    /// Stops the service: on every shard, takes the instance out of the registry, awaits its
    /// [`Service::stop`], and drops it there. Work still holding an `Rc` of an instance keeps
    /// it alive (on its shard) until that work ends. Stopping again does nothing.
    ///
    /// # Errors
    ///
    /// The first error in shard order if a `stop` (or a drop) panicked; the other shards are
    /// stopped all the same.
    ///
    /// # Panics
    ///
    /// Outside an engine shard.
    pub async fn stop(&self) -> Result<(), JoinError> {
        let id = self.id;
        crate::invoke_on_all(move || async move {
            let instance = INSTANCES.with(|i| i.borrow_mut().remove(&id));
            if let Some(instance) = instance.and_then(|i| i.downcast::<S>().ok()) {
                instance.stop().await;
                drop(instance);
            }
        })
        .await
        .into_iter()
        .find_map(Result::err)
        .map_or(Ok(()), Err)
    }
}

impl<S> Clone for Sharded<S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S> Copy for Sharded<S> {}

impl<S> fmt::Debug for Sharded<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sharded").field("id", &self.id).finish()
    }
}

/// Drops every instance left on this shard (its engine future has returned), outside the
/// registry's borrow: their `Drop` may use other services.
pub(crate) fn drop_all() {
    let instances = INSTANCES.with(|i| std::mem::take(&mut *i.borrow_mut()));
    drop(instances);
}

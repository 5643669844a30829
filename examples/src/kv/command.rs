//! Executing commands: each key lives on the shard its hash picks; a command runs where its
//! keys live, at once when that is this shard, otherwise through `submit_to`; multi-key
//! commands fan out and gather. Work for this shard runs before the next command is read, and
//! work for another shard is sent in order on one request lane, so pipelined commands take
//! effect in order.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::hash::BuildHasher;
use std::pin::Pin;
use std::time::{Duration, Instant};

use super::resp;
use super::store::Store;

thread_local! {
    static STORE: RefCell<Store> = RefCell::new(Store::default());
    static COMMANDS: Cell<u64> = const { Cell::new(0) };
    static CROSS_SHARD: Cell<u64> = const { Cell::new(0) };
}

/// Runs `f` on this shard's store.
pub fn with_store<T>(f: impl FnOnce(&mut Store) -> T) -> T {
    STORE.with(|store| f(&mut store.borrow_mut()))
}

/// One shard's counters, for `INFO`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShardInfo {
    /// The shard.
    pub shard: usize,
    /// Keys held (expired ones count until collected).
    pub keys: usize,
    /// Of those, keys with a deadline.
    pub expires: usize,
    /// Commands received by this shard's connections.
    pub commands: u64,
    /// Of those, commands that went (at least in part) to another shard.
    pub cross_shard: u64,
    /// Keys removed because they expired.
    pub expired: u64,
}

fn here() -> usize {
    ms_engine::try_shard_id().unwrap_or(0)
}

fn shards() -> usize {
    if ms_engine::try_shard_id().is_some() {
        ms_engine::shard_count()
    } else {
        1
    }
}

/// The shard that owns `key`: the same on every shard and in every run.
pub fn shard_of(key: &[u8], shards: usize) -> usize {
    let hash = foldhash::fast::FixedState::with_seed(0x6d73_6b76).hash_one(key);
    (hash % shards.max(1) as u64) as usize
}

/// This shard's counters.
pub fn info_here() -> ShardInfo {
    with_store(|store| info_of(store))
}

/// The counters of this shard, whose store is `store`.
fn info_of(store: &Store) -> ShardInfo {
    ShardInfo {
        shard: here(),
        keys: store.len(),
        expires: store.with_deadline(),
        commands: COMMANDS.with(Cell::get),
        cross_shard: CROSS_SHARD.with(Cell::get),
        expired: store.expired,
    }
}

/// A reply still being computed on other shards: its bytes, in order.
pub type Pending = Pin<Box<dyn Future<Output = Vec<u8>>>>;

/// What executing a command left to do.
pub enum Outcome {
    /// The reply was appended to `out`.
    Done,
    /// The reply comes later, from other shards.
    Pending(Pending),
    /// The reply was appended; close the connection after writing it (`QUIT`).
    Quit,
}

impl std::fmt::Debug for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Outcome::Done => "Done",
            Outcome::Pending(_) => "Pending",
            Outcome::Quit => "Quit",
        })
    }
}

/// Work on one shard's store: done here, or sent there.
enum Part<T> {
    Here(T),
    There(Pin<Box<dyn Future<Output = Result<T, ms_reactor::JoinError>>>>),
}

/// Runs `f` on `shard`'s store: now if it is this shard, else through the mesh.
fn on_shard<T: Send + 'static>(
    shard: usize,
    f: impl FnOnce(&mut Store) -> T + Send + 'static,
) -> Part<T> {
    if shard == here() {
        Part::Here(with_store(f))
    } else {
        Part::There(Box::pin(ms_engine::submit_to(shard, move || async move {
            with_store(f)
        })))
    }
}

/// Waits for every part; `None` for a part whose shard failed.
async fn gather<T>(parts: Vec<Part<T>>) -> Vec<Option<T>> {
    let mut results = Vec::with_capacity(parts.len());
    for part in parts {
        results.push(match part {
            Part::Here(value) => Some(value),
            Part::There(future) => future.await.ok(),
        });
    }
    results
}

const SHARD_FAILED: &str = "ERR a shard failed to run the command";

fn owned(args: &[&[u8]]) -> Vec<Vec<u8>> {
    args.iter().map(|a| a.to_vec()).collect()
}

/// Executes one command, whose words are `args` (not empty), at time `now` (keys whose
/// deadline is not after `now` are gone; callers pass one `now` per batch of commands read).
pub fn execute(args: &[&[u8]], now: Instant, out: &mut Vec<u8>) -> Outcome {
    COMMANDS.with(|c| c.set(c.get() + 1));
    let name = args[0];
    let is = |command: &str| name.eq_ignore_ascii_case(command.as_bytes());
    if let Some(command) = KeyCommand::parse(name) {
        let (min, max) = command.arity();
        if !(min..=max).contains(&args.len()) {
            return wrong_arity(out, command.name());
        }
        let shard = shard_of(args[1], shards());
        if shard == here() {
            with_store(|store| single(store, command, args, now, out));
            return Outcome::Done;
        }
        CROSS_SHARD.with(|c| c.set(c.get() + 1));
        let args = owned(args);
        let part = on_shard(shard, move |store| {
            let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
            let mut out = Vec::new();
            single(store, command, &refs, Instant::now(), &mut out);
            out
        });
        return Outcome::Pending(Box::pin(async move {
            match gather(vec![part]).await.pop().flatten() {
                Some(reply) => reply,
                None => error_bytes(SHARD_FAILED),
            }
        }));
    }
    if is("PING") {
        match args.len() {
            1 => resp::simple(out, "PONG"),
            2 => resp::bulk(out, args[1]),
            _ => return wrong_arity(out, "ping"),
        }
    } else if is("ECHO") {
        if args.len() != 2 {
            return wrong_arity(out, "echo");
        }
        resp::bulk(out, args[1]);
    } else if is("DEL") || is("EXISTS") {
        if args.len() < 2 {
            return wrong_arity(out, if is("DEL") { "del" } else { "exists" });
        }
        let delete = is("DEL");
        let keys = &args[1..];
        return count_keys(keys, delete, now, out);
    } else if is("MGET") {
        if args.len() < 2 {
            return wrong_arity(out, "mget");
        }
        return mget(&args[1..], now, out);
    } else if is("MSET") {
        if args.len() < 3 || args.len() % 2 == 0 {
            return wrong_arity(out, "mset");
        }
        return mset(&args[1..], out);
    } else if is("DBSIZE") {
        let parts = all_shards(|store| store.len() as i64);
        return Outcome::Pending(Box::pin(async move { sum_reply(gather(parts).await) }));
    } else if is("FLUSHALL") || is("FLUSHDB") {
        let parts = all_shards(|store| {
            store.clear();
            1i64
        });
        return Outcome::Pending(Box::pin(async move {
            let all = gather(parts).await;
            let mut out = Vec::new();
            if all.iter().all(Option::is_some) {
                resp::simple(&mut out, "OK");
            } else {
                resp::error(&mut out, SHARD_FAILED);
            }
            out
        }));
    } else if is("INFO") {
        let parts = all_shards(|store| info_of(store));
        return Outcome::Pending(Box::pin(async move {
            let infos: Vec<ShardInfo> = gather(parts).await.into_iter().flatten().collect();
            let mut out = Vec::new();
            resp::bulk(&mut out, info_text(&infos).as_bytes());
            out
        }));
    } else if is("COMMAND") {
        // Enough for redis-cli: no command table (it then completes no hints), a count.
        if args
            .get(1)
            .is_some_and(|a| a.eq_ignore_ascii_case(b"COUNT"))
        {
            resp::integer(out, 19);
        } else {
            resp::array(out, 0);
        }
    } else if is("CONFIG") {
        // redis-benchmark asks for `save` and `appendonly`: nothing is persisted.
        let value: Option<&[u8]> = match args.get(2).map(|p| p.to_ascii_lowercase()) {
            Some(p) if p == b"save" => Some(b""),
            Some(p) if p == b"appendonly" => Some(b"no"),
            _ => None,
        };
        match (args.get(1), value) {
            (Some(get), Some(value)) if get.eq_ignore_ascii_case(b"GET") => {
                resp::array(out, 2);
                resp::bulk(out, args[2]);
                resp::bulk(out, value);
            }
            _ => resp::array(out, 0),
        }
    } else if is("SELECT") {
        if args.get(1).is_some_and(|db| *db == b"0") {
            resp::simple(out, "OK");
        } else {
            resp::error(out, "ERR DB index is out of range");
        }
    } else if is("QUIT") {
        resp::simple(out, "OK");
        return Outcome::Quit;
    } else {
        let mut message = format!(
            "ERR unknown command '{}', with args beginning with: ",
            String::from_utf8_lossy(&name[..name.len().min(64)])
        );
        for arg in args[1..].iter().take(8) {
            message.push_str(&format!(
                "'{}' ",
                String::from_utf8_lossy(&arg[..arg.len().min(64)])
            ));
        }
        resp::error(out, message.trim_end());
    }
    Outcome::Done
}

fn wrong_arity(out: &mut Vec<u8>, command: &str) -> Outcome {
    let message = format!(
        "ERR wrong number of arguments for '{}' command",
        command.to_ascii_lowercase()
    );
    resp::error(out, &message);
    Outcome::Done
}

fn error_bytes(message: &str) -> Vec<u8> {
    let mut out = Vec::new();
    resp::error(&mut out, message);
    out
}

/// `f` on every shard.
fn all_shards<T: Send + 'static>(f: fn(&mut Store) -> T) -> Vec<Part<T>> {
    let count = shards();
    if count > 1 {
        CROSS_SHARD.with(|c| c.set(c.get() + 1));
    }
    (0..count).map(|shard| on_shard(shard, f)).collect()
}

fn sum_reply(counts: Vec<Option<i64>>) -> Vec<u8> {
    let mut out = Vec::new();
    if counts.iter().all(Option::is_some) {
        resp::integer(&mut out, counts.into_iter().flatten().sum());
    } else {
        resp::error(&mut out, SHARD_FAILED);
    }
    out
}

/// Groups `items` by the shard of `key(item)`: `(shard, indices)` in shard order.
fn by_shard<T>(items: &[T], key: impl Fn(&T) -> &[u8]) -> Vec<(usize, Vec<usize>)> {
    let count = shards();
    let mut groups: Vec<Vec<usize>> = vec![Vec::new(); count];
    for (i, item) in items.iter().enumerate() {
        groups[shard_of(key(item), count)].push(i);
    }
    groups
        .into_iter()
        .enumerate()
        .filter(|(_, g)| !g.is_empty())
        .collect()
}

fn note_cross_shard(groups: &[(usize, Vec<usize>)]) {
    if groups.iter().any(|(shard, _)| *shard != here()) {
        CROSS_SHARD.with(|c| c.set(c.get() + 1));
    }
}

/// DEL or EXISTS over several keys: the number removed or present.
fn count_keys(keys: &[&[u8]], delete: bool, now: Instant, out: &mut Vec<u8>) -> Outcome {
    let groups = by_shard(keys, |k| k);
    if groups.len() == 1 && groups[0].0 == here() {
        let n = with_store(|store| count_in(store, keys, delete, now));
        resp::integer(out, n);
        return Outcome::Done;
    }
    note_cross_shard(&groups);
    let parts: Vec<Part<i64>> = groups
        .into_iter()
        .map(|(shard, indices)| {
            let keys: Vec<Vec<u8>> = indices.iter().map(|&i| keys[i].to_vec()).collect();
            on_shard(shard, move |store| {
                let refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
                count_in(store, &refs, delete, Instant::now())
            })
        })
        .collect();
    Outcome::Pending(Box::pin(async move { sum_reply(gather(parts).await) }))
}

fn count_in(store: &mut Store, keys: &[&[u8]], delete: bool, now: Instant) -> i64 {
    keys.iter()
        .filter(|key| {
            if delete {
                store.remove(key, now)
            } else {
                store.get(key, now).is_some()
            }
        })
        .count() as i64
}

fn mget(keys: &[&[u8]], now: Instant, out: &mut Vec<u8>) -> Outcome {
    let groups = by_shard(keys, |k| k);
    let lookup = |store: &mut Store, keys: &[&[u8]], now: Instant| -> Vec<Option<Vec<u8>>> {
        keys.iter()
            .map(|key| store.get(key, now).map(|e| e.value.as_slice().to_vec()))
            .collect()
    };
    if groups.len() == 1 && groups[0].0 == here() {
        resp::array(out, keys.len());
        with_store(|store| {
            for key in keys {
                match store.get(key, now) {
                    Some(entry) => resp::bulk(out, entry.value.as_slice()),
                    None => resp::nil(out),
                }
            }
        });
        return Outcome::Done;
    }
    note_cross_shard(&groups);
    let total = keys.len();
    let mut order = Vec::new();
    let parts: Vec<Part<Vec<Option<Vec<u8>>>>> = groups
        .into_iter()
        .map(|(shard, indices)| {
            let keys: Vec<Vec<u8>> = indices.iter().map(|&i| keys[i].to_vec()).collect();
            order.push(indices);
            on_shard(shard, move |store| {
                let refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
                lookup(store, &refs, Instant::now())
            })
        })
        .collect();
    Outcome::Pending(Box::pin(async move {
        let mut values: Vec<Option<Vec<u8>>> = vec![None; total];
        for (indices, part) in order.into_iter().zip(gather(parts).await) {
            let Some(found) = part else {
                return error_bytes(SHARD_FAILED);
            };
            for (i, value) in indices.into_iter().zip(found) {
                values[i] = value;
            }
        }
        let mut out = Vec::new();
        resp::array(&mut out, total);
        for value in values {
            match value {
                Some(v) => resp::bulk(&mut out, &v),
                None => resp::nil(&mut out),
            }
        }
        out
    }))
}

fn mset(pairs: &[&[u8]], out: &mut Vec<u8>) -> Outcome {
    let pairs: Vec<(&[u8], &[u8])> = pairs.chunks(2).map(|p| (p[0], p[1])).collect();
    let groups = by_shard(&pairs, |p| p.0);
    if groups.len() == 1 && groups[0].0 == here() {
        with_store(|store| {
            for (key, value) in &pairs {
                store.set(key, value, None);
            }
        });
        resp::simple(out, "OK");
        return Outcome::Done;
    }
    note_cross_shard(&groups);
    let parts: Vec<Part<()>> = groups
        .into_iter()
        .map(|(shard, indices)| {
            let pairs: Vec<(Vec<u8>, Vec<u8>)> = indices
                .iter()
                .map(|&i| (pairs[i].0.to_vec(), pairs[i].1.to_vec()))
                .collect();
            on_shard(shard, move |store| {
                for (key, value) in &pairs {
                    store.set(key, value, None);
                }
            })
        })
        .collect();
    Outcome::Pending(Box::pin(async move {
        let mut out = Vec::new();
        if gather(parts).await.iter().all(Option::is_some) {
            resp::simple(&mut out, "OK");
        } else {
            resp::error(&mut out, SHARD_FAILED);
        }
        out
    }))
}

/// The commands on one key (its name is their second word), which run where the key lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyCommand {
    Get,
    Set,
    Incr,
    Decr,
    IncrBy,
    Expire,
    Ttl,
}

impl KeyCommand {
    const ALL: [KeyCommand; 7] = [
        KeyCommand::Get,
        KeyCommand::Set,
        KeyCommand::Incr,
        KeyCommand::Decr,
        KeyCommand::IncrBy,
        KeyCommand::Expire,
        KeyCommand::Ttl,
    ];

    /// The command named `name` (any case), if it is one of these.
    fn parse(name: &[u8]) -> Option<KeyCommand> {
        Self::ALL
            .into_iter()
            .find(|command| name.eq_ignore_ascii_case(command.name().as_bytes()))
    }

    fn name(self) -> &'static str {
        match self {
            KeyCommand::Get => "GET",
            KeyCommand::Set => "SET",
            KeyCommand::Incr => "INCR",
            KeyCommand::Decr => "DECR",
            KeyCommand::IncrBy => "INCRBY",
            KeyCommand::Expire => "EXPIRE",
            KeyCommand::Ttl => "TTL",
        }
    }

    /// The fewest and most words, the name included.
    fn arity(self) -> (usize, usize) {
        match self {
            KeyCommand::Get | KeyCommand::Incr | KeyCommand::Decr | KeyCommand::Ttl => (2, 2),
            KeyCommand::IncrBy | KeyCommand::Expire => (3, 3),
            KeyCommand::Set => (3, 16),
        }
    }
}

/// A single-key command on the store that owns its key; `args` passed its arity check.
fn single(store: &mut Store, command: KeyCommand, args: &[&[u8]], now: Instant, out: &mut Vec<u8>) {
    let key = args[1];
    match command {
        KeyCommand::Get => match store.get(key, now) {
            Some(entry) => resp::bulk(out, entry.value.as_slice()),
            None => resp::nil(out),
        },
        KeyCommand::Set => set(store, args, now, out),
        KeyCommand::Incr | KeyCommand::Decr | KeyCommand::IncrBy => {
            let by = match command {
                KeyCommand::IncrBy => match parse_i64(args[2]) {
                    Some(n) => n,
                    None => return resp::error(out, "ERR value is not an integer or out of range"),
                },
                KeyCommand::Decr => -1,
                _ => 1,
            };
            incr(store, key, by, now, out);
        }
        KeyCommand::Expire => {
            let Some(seconds) = parse_i64(args[2]) else {
                return resp::error(out, "ERR value is not an integer or out of range");
            };
            let done = if seconds <= 0 {
                store.remove(key, now)
            } else {
                let at = now.checked_add(Duration::from_secs(seconds as u64));
                store.expire(key, at, now)
            };
            resp::integer(out, i64::from(done));
        }
        KeyCommand::Ttl => {
            let ttl = match store.get(key, now) {
                None => -2,
                Some(entry) => match entry.expires {
                    None => -1,
                    Some(at) => ((at - now).as_millis() as i64 + 500) / 1000,
                },
            };
            resp::integer(out, ttl);
        }
    }
}

fn parse_i64(bytes: &[u8]) -> Option<i64> {
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

/// `SET key value [EX seconds | PX milliseconds] [NX | XX]`.
fn set(store: &mut Store, args: &[&[u8]], now: Instant, out: &mut Vec<u8>) {
    let (key, value) = (args[1], args[2]);
    let mut expires = None;
    let (mut nx, mut xx) = (false, false);
    let mut options = args[3..].iter();
    while let Some(option) = options.next() {
        let upper = option.to_ascii_uppercase();
        match upper.as_slice() {
            b"NX" if !xx => nx = true,
            b"XX" if !nx => xx = true,
            b"EX" | b"PX" if expires.is_none() => {
                let amount = options.next().and_then(|n| parse_i64(n));
                let Some(amount) = amount.filter(|&n| n > 0) else {
                    return resp::error(out, "ERR invalid expire time in 'set' command");
                };
                let millis = if upper == b"EX" {
                    amount.saturating_mul(1000)
                } else {
                    amount
                };
                expires = now.checked_add(Duration::from_millis(millis as u64));
                if expires.is_none() {
                    return resp::error(out, "ERR invalid expire time in 'set' command");
                }
            }
            _ => return resp::error(out, "ERR syntax error"),
        }
    }
    if nx || xx {
        let exists = store.get(key, now).is_some();
        if (nx && exists) || (xx && !exists) {
            return resp::nil(out);
        }
    }
    store.set(key, value, expires);
    resp::simple(out, "OK");
}

/// INCR, DECR and INCRBY: the deadline of the key is kept, as in Redis.
fn incr(store: &mut Store, key: &[u8], by: i64, now: Instant, out: &mut Vec<u8>) {
    let (current, expires) = match store.get(key, now) {
        None => (0, None),
        Some(entry) => match parse_i64(entry.value.as_slice()) {
            Some(n) => (n, entry.expires),
            None => return resp::error(out, "ERR value is not an integer or out of range"),
        },
    };
    let Some(next) = current.checked_add(by) else {
        return resp::error(out, "ERR increment or decrement would overflow");
    };
    let mut digits = Vec::with_capacity(20);
    resp::decimal(&mut digits, next);
    store.set(key, &digits, expires);
    resp::integer(out, next);
}

fn info_text(shards: &[ShardInfo]) -> String {
    let keys: usize = shards.iter().map(|s| s.keys).sum();
    let expires: usize = shards.iter().map(|s| s.expires).sum();
    let commands: u64 = shards.iter().map(|s| s.commands).sum();
    let cross: u64 = shards.iter().map(|s| s.cross_shard).sum();
    let mut text = format!(
        "# Server\r\nredis_version:7.0.0\r\nredis_mode:standalone\r\nms_kv_shards:{}\r\n\r\n\
         # Stats\r\ntotal_commands_processed:{commands}\r\ncross_shard_commands:{cross}\r\n\
         expired_keys:{}\r\n\r\n# Keyspace\r\n",
        shards.len(),
        shards.iter().map(|s| s.expired).sum::<u64>()
    );
    if keys > 0 {
        text.push_str(&format!("db0:keys={keys},expires={expires},avg_ttl=0\r\n"));
    }
    text.push_str("\r\n# Shards\r\n");
    for s in shards {
        text.push_str(&format!(
            "shard{}:keys={},expires={},commands={},cross_shard={},expired={}\r\n",
            s.shard, s.keys, s.expires, s.commands, s.cross_shard, s.expired
        ));
    }
    text
}

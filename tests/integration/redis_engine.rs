//! The Redis engine against a real redis-server: what each node reads, replays and publishes,
//! and what survives Redis stopping or crashing. (The end-to-end tests of nodes and consumers
//! are in `redis_nodes`.)

use async_tungstenite::tungstenite::Utf8Bytes;
use common::{Envelope, Format, LostRange, ServerFrame};
use futures::stream::{self, BoxStream, StreamExt};
use integration_tests::redis::{closed_port, Persistence, Redis};
use producer_server::engine::redis::{Input, RedisEngine, RedisSettings, StartError};
use producer_server::engine::Engine;
use producer_server::message::Published;
use producer_server::queue::Outgoing;
use producer_server::runtime;
use producer_server::source::counter;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long any one expected message may take.
const LIMIT: Duration = Duration::from_secs(10);

fn settings(redis: &Redis, history: usize) -> RedisSettings {
    RedisSettings {
        url: redis.url(),
        key: "prodcon".into(),
        history,
    }
}

async fn start(redis: &Redis) -> RedisEngine {
    RedisEngine::start(settings(redis, 10_000))
        .await
        .unwrap_or_else(|e| panic!("the engine starts: {e}"))
}

fn envelope(message: &Published) -> Envelope {
    match ServerFrame::decode(&message.text(Format::JsonV1)) {
        Ok(ServerFrame::Message(envelope)) => envelope,
        other => panic!("a message is an envelope, not {other:?}"),
    }
}

/// The next live message, which must come within [`LIMIT`].
async fn next(engine: &mut RedisEngine) -> Envelope {
    let message = runtime::timeout(LIMIT, engine.next(1))
        .await
        .expect("a message within the limit")
        .expect("the Redis stream never ends");
    envelope(&message)
}

/// Everything a replay of `[from, until)` gives, as the frames a consumer would read.
async fn replay(engine: &RedisEngine, from: u64, until: u64) -> Vec<ServerFrame> {
    let items: Vec<Outgoing> = runtime::timeout(LIMIT, engine.replay(from, until).collect())
        .await
        .expect("the replay ends within the limit");
    items
        .into_iter()
        .map(|item| match item {
            Outgoing::Message(message) => ServerFrame::Message(envelope(&message)),
            Outgoing::Lost(range) => ServerFrame::Lost(range),
            Outgoing::Frame(text) => panic!("a replay gives messages, not the frame {text}"),
        })
        .collect()
}

/// `lines` as a source, in batches of two.
fn texts(lines: &[&str]) -> BoxStream<'static, Vec<Utf8Bytes>> {
    let lines: Vec<Utf8Bytes> = lines.iter().map(|l| Utf8Bytes::from(*l)).collect();
    stream::iter(lines).chunks(2).boxed()
}

fn lost(first: u64, last: u64) -> ServerFrame {
    ServerFrame::Lost(LostRange { first, last })
}

fn data(frames: &[ServerFrame]) -> Vec<String> {
    frames
        .iter()
        .map(|frame| match frame {
            ServerFrame::Message(envelope) => format!("{}:{}", envelope.seq, envelope.data),
            ServerFrame::Lost(range) => format!("lost {}-{}", range.first, range.last),
        })
        .collect()
}

#[test]
fn every_node_reads_the_same_numbers_data_and_times() {
    let Some(redis) = Redis::start("redis_engine::every_node_reads", Persistence::None) else {
        return;
    };
    runtime::block_on(async {
        let mut a = start(&redis).await;
        let mut b = start(&redis).await;
        assert_eq!((a.next_seq(), b.next_seq()), (1, 1));
        a.publish(texts(&["one", "two", "three"]), Input::Stdin);
        let mut seen_by_a = Vec::new();
        for expected in 1..=3 {
            let (from_a, from_b) = (next(&mut a).await, next(&mut b).await);
            assert_eq!(from_a.seq, expected);
            assert_eq!(from_a, from_b, "nodes agree on seq, time and data");
            seen_by_a.push(ServerFrame::Message(from_a));
        }
        assert_eq!(data(&seen_by_a), ["1:one", "2:two", "3:three"]);

        // Any Redis client publishes; without a time, each node stamps it as it reads it.
        redis.cli(&["XADD", "prodcon", "0-*", "data", "from redis-cli"]);
        let (from_a, from_b) = (next(&mut a).await, next(&mut b).await);
        assert_eq!((from_a.seq, from_a.data.as_str()), (4, "from redis-cli"));
        assert_eq!((from_b.seq, from_b.data.as_str()), (4, "from redis-cli"));
        seen_by_a.push(ServerFrame::Message(from_a));

        // A node started later starts at the live edge, and replays the same history.
        let c = start(&redis).await;
        assert_eq!(c.next_seq(), 5);
        let replayed = replay(&c, 1, 5).await;
        assert_eq!(data(&replayed), data(&seen_by_a));
        assert_eq!(
            replayed[..3],
            seen_by_a[..3],
            "same time stamps as when live"
        );
    });
}

#[test]
fn replays_announce_what_the_stream_no_longer_holds() {
    let Some(redis) = Redis::start("redis_engine::replays_announce", Persistence::None) else {
        return;
    };
    runtime::block_on(async {
        let mut live = start(&redis).await;
        for n in 1..=5 {
            redis.cli(&["XADD", "prodcon", "0-*", "data", &format!("m{n}")]);
        }
        // Entry 6 has no data field: it is no message, and consumers see 6 missing.
        redis.cli(&["XADD", "prodcon", "0-*", "payload", "not data"]);
        redis.cli(&["XADD", "prodcon", "0-*", "data", "m7"]);
        redis.cli(&["XTRIM", "prodcon", "MINID", "0-3"]);

        let mut read = Vec::new();
        for _ in 0..6 {
            read.push(ServerFrame::Message(next(&mut live).await));
        }
        assert_eq!(
            data(&read),
            ["1:m1", "2:m2", "3:m3", "4:m4", "5:m5", "7:m7"]
        );
        assert_eq!(live.next_seq(), 8);

        // Trimmed numbers are announced; 6 is still held but cannot be served: missing from the
        // sequence, as it is live, not announced as history the stream no longer keeps.
        let replayed = replay(&live, 1, 8).await;
        assert_eq!(
            data(&replayed),
            ["lost 1-2", "3:m3", "4:m4", "5:m5", "7:m7"]
        );
        assert_eq!(replayed[0], lost(1, 2));
        assert_eq!(data(&replay(&live, 6, 8).await), ["7:m7"]);
        assert!(replay(&live, 6, 7).await.is_empty());
        assert!(replay(&live, 8, 8).await.is_empty());
    });
}

#[test]
fn long_replays_page_through_what_history_keeps() {
    let Some(redis) = Redis::start("redis_engine::long_replays", Persistence::None) else {
        return;
    };
    runtime::block_on(async {
        // Publishers trim to about --history: whole blocks of 100 entries go at once.
        let mut engine = RedisEngine::start(settings(&redis, 300)).await.unwrap();
        let lines: Vec<String> = (1..=1000).map(|n| n.to_string()).collect();
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        engine.publish(texts(&lines), Input::Stdin);
        // On a busy machine the follower may fall behind a publisher that trims this short, and
        // see a gap; what is under test here is the replay, once all 1000 are in.
        let mut last = 0;
        while last < 1000 {
            let seq = next(&mut engine).await.seq;
            assert!(seq > last, "{seq} after {last}");
            last = seq;
        }
        let held: u64 = redis.cli(&["XLEN", "prodcon"]).trim().parse().unwrap();
        assert!((300..1000).contains(&held), "{held} entries held");

        let replayed = replay(&engine, 1, 1001).await;
        let first_held = 1001 - held;
        assert_eq!(replayed[0], lost(1, first_held - 1));
        let numbers: Vec<u64> = replayed[1..]
            .iter()
            .map(|frame| match frame {
                ServerFrame::Message(envelope) => {
                    assert_eq!(envelope.data, envelope.seq.to_string());
                    envelope.seq
                }
                other => panic!("only messages after the lost notice, not {other:?}"),
            })
            .collect();
        assert_eq!(numbers, (first_held..=1000).collect::<Vec<_>>());
    });
}

#[test]
fn ids_not_of_the_form_0_n_are_never_renumbered() {
    let Some(redis) = Redis::start("redis_engine::ids_not_of_the_form", Persistence::None) else {
        return;
    };
    runtime::block_on(async {
        let mut engine = start(&redis).await;
        redis.cli(&["XADD", "prodcon", "0-*", "data", "good"]);
        // Someone adds with an id of their own (as XADD KEY * does, with a time).
        redis.cli(&["XADD", "prodcon", "5-0", "data", "foreign"]);
        assert_eq!(next(&mut engine).await.data, "good");
        let foreign = runtime::timeout(Duration::from_secs(1), engine.next(1)).await;
        assert!(foreign.is_none(), "the foreign entry is not served");

        // A node cannot start on such a stream: it says so rather than renumber.
        let refused = RedisEngine::start(settings(&redis, 100)).await;
        assert!(matches!(refused, Err(StartError::ForeignIds { .. })));

        // Repaired as the error says, the stream goes on from where it was.
        redis.cli(&["XDEL", "prodcon", "5-0"]);
        redis.cli(&["XSETID", "prodcon", "0-1"]);
        redis.cli(&["XADD", "prodcon", "0-*", "data", "after repair"]);
        let resumed = next(&mut engine).await;
        assert_eq!((resumed.seq, resumed.data.as_str()), (2, "after repair"));
    });
}

#[test]
fn start_fails_clearly_on_an_unreachable_redis_or_a_key_that_is_no_stream() {
    let Some(redis) = Redis::start("redis_engine::start_fails", Persistence::None) else {
        return;
    };
    runtime::block_on(async {
        let url = format!("redis://127.0.0.1:{}", closed_port());
        let began = Instant::now();
        let unreachable = RedisEngine::start(RedisSettings {
            url: url.clone(),
            key: "prodcon".into(),
            history: 100,
        })
        .await;
        match unreachable {
            Err(error @ StartError::Unreachable { .. }) => {
                let message = error.to_string();
                assert!(message.contains(&url), "{message}");
                assert!(!message.contains('\n'), "one line: {message}");
            }
            Err(other) => panic!("unreachable, not {other}"),
            Ok(_) => panic!("nothing listens there"),
        }
        assert!(began.elapsed() < LIMIT, "it does not hang");

        redis.cli(&["SET", "not-a-stream", "x"]);
        let wrong_type = RedisEngine::start(RedisSettings {
            url: redis.url(),
            key: "not-a-stream".into(),
            history: 100,
        })
        .await;
        assert!(matches!(wrong_type, Err(StartError::NotAStream { .. })));
    });
}

/// Publishes a counter every 2 ms through one engine on the Redis at `url` and reads it back
/// while `fault` runs (on a thread of its own) and for 200 messages after; asserts that message N
/// is the counter's N: nothing lost, repeated or reordered, by the publisher or the follower.
async fn counter_survives(url: String, fault: impl FnOnce() + Send + 'static) {
    let settings = RedisSettings {
        url,
        key: "prodcon".into(),
        history: 10_000,
    };
    let mut engine = RedisEngine::start(settings)
        .await
        .expect("the engine starts");
    engine.publish(
        counter::source(Duration::from_millis(2)).boxed(),
        Input::Counter,
    );
    let mut expected = 1;
    let check = |envelope: Envelope, expected: &mut u64| {
        assert_eq!(envelope.seq, *expected, "no gap, no repeat");
        assert_eq!(
            envelope.data,
            expected.to_string(),
            "published once each, in order"
        );
        *expected += 1;
    };
    for _ in 0..100 {
        check(next(&mut engine).await, &mut expected);
    }
    let fault = std::thread::spawn(fault);
    let deadline = Instant::now() + Duration::from_secs(40);
    while !fault.is_finished() {
        assert!(Instant::now() < deadline, "the fault is over in time");
        if let Some(message) = runtime::timeout(Duration::from_millis(50), engine.next(1)).await {
            check(
                envelope(&message.expect("the Redis stream never ends")),
                &mut expected,
            );
        }
    }
    fault.join().expect("the fault ran");
    let target = expected + 200;
    while expected < target {
        check(next(&mut engine).await, &mut expected);
    }
}

#[test]
fn redis_stopped_for_3_seconds_loses_and_repeats_nothing() {
    let Some(redis) = Redis::start("redis_engine::redis_stopped", Persistence::None) else {
        return;
    };
    let redis = Arc::new(redis);
    let stopped = Arc::clone(&redis);
    runtime::block_on(counter_survives(redis.url(), move || {
        stopped.signal("STOP");
        // The fault under test is a pause of this length, not a wait for something.
        std::thread::sleep(Duration::from_secs(3));
        stopped.signal("CONT");
    }));
}

#[test]
fn redis_killed_and_restarted_from_its_append_only_file_loses_and_repeats_nothing() {
    let Some(redis) = Redis::start("redis_engine::redis_killed", Persistence::AppendOnly) else {
        return;
    };
    let url = redis.url();
    let redis = Arc::new(Mutex::new(redis));
    let crashing = Arc::clone(&redis);
    runtime::block_on(counter_survives(url, move || {
        crashing.lock().unwrap().crash_and_restart();
    }));
}

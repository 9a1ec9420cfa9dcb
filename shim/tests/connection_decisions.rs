//! The link against a scripted endpoint (a ZeroMQ ROUTER in the test): what REGISTER and
//! SAMPLES carry for a real Timely job, and how DECISIONs are checked: a malformed message, a
//! decision naming an unknown operator, one beyond the worker count and a repeat are refused
//! (ERROR back to the endpoint) without disturbing the job; a valid one reaches
//! `poll_decisions` on worker 0 only, and its ACK reaches the endpoint.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use streamtune_shim::connection::{Decision, Endpoint, LinkStats, StreamTune, TunerConfig};
use streamtune_shim::proto::{
    self, Ack, AckOf, ErrorMsg, Limits, Message, OpKind, Partitioning, Register, Samples, Status,
    Welcome,
};
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::operator::Operator;
use timely::dataflow::operators::vec::Map;
use timely::dataflow::operators::{Input, Inspect, Probe};
use timely::dataflow::{InputHandleVec, ProbeHandle};

#[derive(Default)]
struct Seen {
    registers: Vec<Register>,
    samples: Vec<Samples>,
    errors: Vec<ErrorMsg>,
    decision_acks: Vec<(u64, u64)>,
}

fn send(sock: &zmq::Socket, peer: &[u8], msg: &Message) {
    sock.send_multipart([peer.to_vec(), proto::encode(msg)], 0)
        .expect("send");
}

fn decision(job: &str, seq: u64, op: Vec<u32>, p: Vec<u32>) -> Message {
    let n = op.len();
    Message::Decision(proto::Decision {
        job: job.into(),
        seq,
        epoch: 5,
        op,
        p,
        prob: vec![0.25; n],
        reason: format!("scripted {seq}"),
        policy: "script".into(),
    })
}

/// A ROUTER that answers like the endpoint and, after the first REGISTER, sends the scripted
/// decisions to the registering peer.
fn fake_endpoint(stop: Arc<AtomicBool>, seen: Arc<Mutex<Seen>>) -> (String, JoinHandle<()>) {
    let ctx = zmq::Context::new();
    let sock = ctx.socket(zmq::ROUTER).expect("router");
    sock.set_linger(0).unwrap();
    sock.bind("tcp://127.0.0.1:0").expect("bind");
    let ep = sock.get_last_endpoint().unwrap().unwrap();
    let handle = std::thread::spawn(move || {
        let _ctx = ctx;
        let mut scripted = false;
        while !stop.load(Ordering::Relaxed) {
            if sock.poll(zmq::POLLIN, 20).unwrap_or(0) == 0 {
                continue;
            }
            let Ok(frames) = sock.recv_multipart(0) else {
                continue;
            };
            let (peer, payload) = (frames[0].clone(), frames[frames.len() - 1].clone());
            let msg =
                proto::decode(&payload, &Limits::default()).expect("the shim sends valid messages");
            match msg {
                Message::Hello(h) => {
                    assert_eq!(h.versions, vec![1]);
                    let w = Welcome {
                        version: 1,
                        server: "fake".into(),
                        max_msg_bytes: proto::MAX_MSG_BYTES,
                        max_ops: proto::MAX_OPS,
                        max_edges: proto::MAX_EDGES,
                        max_rows: proto::MAX_ROWS,
                        window_ms: 1000,
                    };
                    send(&sock, &peer, &Message::Welcome(w));
                }
                Message::Register(r) => {
                    let ack = Ack {
                        of: AckOf::Register,
                        job: r.job.clone(),
                        id: r.id,
                        window: 0,
                        seq: 0,
                        epoch: 0,
                        hash: r.dag_hash().unwrap_or(0),
                    };
                    send(&sock, &peer, &Message::Ack(ack));
                    if !scripted {
                        scripted = true;
                        let work = r
                            .ops
                            .iter()
                            .find(|o| o.name == "Work")
                            .expect("Work registered")
                            .id;
                        // 1. not MessagePack at all
                        sock.send_multipart([peer.clone(), vec![0xc1]], 0).unwrap();
                        // 2. an operator the job does not have
                        send(&sock, &peer, &decision(&r.job, 1, vec![99_999], vec![1]));
                        // 3. more parallelism than workers
                        send(
                            &sock,
                            &peer,
                            &decision(&r.job, 2, vec![work], vec![r.senders + 1]),
                        );
                        // 4. valid
                        send(&sock, &peer, &decision(&r.job, 3, vec![work], vec![1]));
                        // 5. a repeat of 4
                        send(&sock, &peer, &decision(&r.job, 3, vec![work], vec![1]));
                        // 6. another job's decision
                        send(
                            &sock,
                            &peer,
                            &decision("someone-else", 4, vec![work], vec![1]),
                        );
                    }
                    seen.lock().unwrap().registers.push(r);
                }
                Message::Query(q) => {
                    let status = Status {
                        id: q.id,
                        jobs: 1,
                        job: q.job,
                        ..Default::default()
                    };
                    send(&sock, &peer, &Message::Status(status));
                }
                Message::Samples(s) => {
                    let ack = Ack {
                        of: AckOf::Samples,
                        job: s.job.clone(),
                        id: 0,
                        window: s.window,
                        seq: 0,
                        epoch: 0,
                        hash: 0,
                    };
                    if s.ack {
                        send(&sock, &peer, &Message::Ack(ack));
                    }
                    seen.lock().unwrap().samples.push(s);
                }
                Message::Ack(a) => {
                    assert_eq!(a.of, AckOf::Decision);
                    seen.lock().unwrap().decision_acks.push((a.seq, a.epoch));
                }
                Message::Error(e) => seen.lock().unwrap().errors.push(e),
                other => panic!("unexpected {other:?}"),
            }
        }
    });
    (ep, handle)
}

#[test]
fn decisions_are_checked_and_acknowledged() {
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let (ep, server) = fake_endpoint(Arc::clone(&stop), Arc::clone(&seen));
    let mut cfg = TunerConfig::new("scripted", Endpoint::Connect(ep))
        .policy("static", vec![("alpha".into(), 0.5)])
        .window(Duration::from_millis(100));
    cfg.log = Some(Arc::new(|l: &str| eprintln!("{l}")));
    let tuner = StreamTune::new(cfg);

    let guards = timely::execute(timely::Config::process(2), move |worker| {
        let link = tuner.attach(worker);
        let mut input = InputHandleVec::<u64, u64>::new();
        let probe = ProbeHandle::new();
        worker.dataflow::<u64, _, _>(|scope| {
            scope
                .input_from(&mut input)
                .map(|x| x + 1)
                .unary(Exchange::new(|x: &u64| *x), "Work", |_, _| {
                    move |input, output| {
                        input.for_each(|cap, data| {
                            output.session(&cap).give_iterator(data.drain(..));
                        })
                    }
                })
                .container::<Vec<u64>>()
                .inspect(|_| {})
                .probe_with(&probe);
        });
        let start = Instant::now();
        let mut epoch = 0u64;
        let mut got: Vec<Decision> = Vec::new();
        while start.elapsed() < Duration::from_millis(1200) {
            for i in 0..100u64 {
                input.send(i * 7 + epoch);
            }
            epoch += 1;
            input.advance_to(epoch);
            while probe.less_than(input.time()) {
                worker.step();
            }
            link.set_epoch(epoch);
            for d in link.poll_decisions() {
                link.ack(d.seq, epoch.max(d.epoch));
                got.push(d);
            }
            worker.step_or_park(Some(Duration::from_millis(2)));
        }
        link.finish();
        (worker.index(), got, link.stats())
    })
    .expect("timely starts");
    let results: Vec<(usize, Vec<Decision>, LinkStats)> = guards
        .join()
        .into_iter()
        .map(|r| r.expect("worker finishes"))
        .collect();
    stop.store(true, Ordering::Relaxed);
    server.join().expect("fake endpoint");
    let seen = seen.lock().unwrap();

    // REGISTER: the job's DAG as Timely built it.
    assert_eq!(seen.registers.len(), 1, "registered once");
    let r = &seen.registers[0];
    assert_eq!(r.job, "scripted");
    assert_eq!(r.senders, 2);
    assert_eq!(r.window_ms, 100);
    assert_eq!(r.policy, "static");
    assert_eq!(r.policy_opts, vec![("alpha".to_owned(), 0.5)]);
    let names: Vec<&str> = r.ops.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(
        names,
        ["Input", "FlatMap", "Work", "Inspect", "Probe"],
        "{r:?}"
    );
    let op = |name: &str| r.ops.iter().find(|o| o.name == name).unwrap();
    assert_eq!(op("Input").kind, OpKind::Source);
    assert_eq!(op("FlatMap").kind, OpKind::FlatMap);
    assert_eq!(op("Work").kind, OpKind::Other);
    assert_eq!(op("Probe").kind, OpKind::Sink);
    assert!(r.ops.iter().all(|o| o.p == 2 && o.p_max == 2));
    let edge = |a: &str, b: &str| {
        r.edges
            .iter()
            .find(|e| e.from == op(a).id && e.to == op(b).id)
    };
    assert_eq!(
        edge("Input", "FlatMap").unwrap().partitioning,
        Partitioning::Forward
    );
    assert_eq!(
        edge("FlatMap", "Work").unwrap().partitioning,
        Partitioning::Hash
    );
    assert_eq!(
        edge("Work", "Inspect").unwrap().partitioning,
        Partitioning::Forward
    );
    assert_eq!(
        edge("Inspect", "Probe").unwrap().partitioning,
        Partitioning::Forward
    );
    assert_eq!(r.edges.len(), 4);
    assert!(r.dag_hash().is_some());

    // SAMPLES: both senders, rows of registered operators, one instance per part.
    for sender in 0..2u32 {
        let parts: Vec<&Samples> = seen.samples.iter().filter(|s| s.sender == sender).collect();
        assert!(parts.len() >= 8, "sender {sender}: {} parts", parts.len());
        for s in &parts {
            assert_eq!(s.job, "scripted");
            assert!(s.ack && s.duration_ms >= 1 && s.duration_ms <= 100);
            assert_eq!(s.op.len(), 5);
            assert!(s.inst.iter().all(|&i| i == sender));
            assert!(s.op.iter().all(|id| r.ops.iter().any(|o| o.id == *id)));
        }
        let windows: Vec<u64> = parts.iter().map(|s| s.window).collect();
        assert!(
            windows.windows(2).all(|w| w[1] > w[0]),
            "increasing windows {windows:?}"
        );
        let recs_in: f64 = parts
            .iter()
            .map(|s| {
                let i = s.op.iter().position(|&id| id == op("Work").id).unwrap();
                s.r#in[i]
            })
            .sum();
        assert!(recs_in > 0.0);
        assert!(parts.iter().any(|s| s.epoch > 0), "epochs reported");
    }

    // Decisions: only the valid one reaches worker 0; worker 1 gets none.
    let (_, w0, s0) = results.iter().find(|r| r.0 == 0).unwrap();
    let (_, w1, _) = results.iter().find(|r| r.0 == 1).unwrap();
    assert!(w1.is_empty());
    assert_eq!(w0.len(), 1, "{w0:?}");
    let d = &w0[0];
    assert_eq!((d.seq, d.epoch), (3, 5));
    assert_eq!(d.parallelism_by_name(), vec![("Work".to_owned(), 1)]);
    assert_eq!(d.ops[0].prob, 0.25);
    assert_eq!(d.reason, "scripted 3");
    assert_eq!(s0.decisions, 1);
    assert_eq!(s0.decisions_refused, 3, "{s0:?}");
    // The refusals were reported to the endpoint, the applied one acknowledged.
    let names: Vec<&str> = seen.errors.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["EPROTO", "EGRAPH", "EVALUE"], "{:?}", seen.errors);
    assert!(seen.errors[1].message.contains("99999"));
    assert_eq!(seen.decision_acks.len(), 1);
    assert_eq!(seen.decision_acks[0].0, 3);
    assert!(seen.decision_acks[0].1 >= 5);
}

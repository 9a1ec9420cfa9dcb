//! Correctness of live rescaling: jobs run under a script of random rescale decisions produce
//! exactly the output of the same jobs without rescaling, in one process (4 workers) and in two
//! processes of 2 workers each over TCP loopback. Also the bin map's balance and minimal
//! movement.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Write;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use streamtune_shim::tuned::{BinMap, Control, Rescale, Tuned, DEFAULT_BINS};
use timely::communication::Config as CommConfig;
use timely::dataflow::operators::{Input, Inspect, Probe};
use timely::dataflow::{InputHandleVec, ProbeHandle};
use timely::worker::Worker;
use timely::{Config, WorkerConfig};

const EPOCHS: u64 = 48;
const SEED: u64 = 0x5eed_2026;

/// splitmix64: a small seeded generator, deterministic across platforms.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

type Pair = (u64, u64);
/// (epoch, key, count, sum)
type AggOut = (u64, u64, u64, u64);
/// (epoch, key, left value, right value)
type JoinOut = (u64, u64, u64, u64);

/// The records worker `worker` feeds at `epoch`: (left, right), both keyed pairs.
fn records(seed: u64, worker: usize, epoch: u64) -> (Vec<Pair>, Vec<Pair>) {
    let mut rng = Rng(seed ^ ((worker as u64) << 40) ^ (epoch << 8));
    let n_left = 20 + rng.below(40) as usize;
    let n_right = 10 + rng.below(20) as usize;
    let left = (0..n_left)
        .map(|_| {
            // skewed keys: a few hot ones
            let key = if rng.below(4) == 0 {
                rng.below(8)
            } else {
                rng.below(400)
            };
            (key, rng.below(1000))
        })
        .collect();
    let right = (0..n_right)
        .map(|_| (rng.below(400), rng.below(1000)))
        .collect();
    (left, right)
}

/// A decision entered by worker 0 while its inputs are at `at`, effective at `decision.epoch`.
#[derive(Clone, Debug)]
struct Proposal {
    at: u64,
    decision: Rescale<u64>,
}

/// At least `n` random decisions at distinct epochs, including parallelism 1 and `peers` for
/// both stateful operators, some naming one operator only, some proposed ahead of their epoch.
fn script(seed: u64, peers: usize, n: usize) -> Vec<Proposal> {
    let mut rng = Rng(seed.wrapping_mul(31) ^ 0xabcd);
    let mut epochs: Vec<u64> = Vec::new();
    while epochs.len() < n {
        let e = 2 + rng.below(EPOCHS - 6);
        if !epochs.contains(&e) {
            epochs.push(e);
        }
    }
    epochs.sort_unstable();
    epochs
        .iter()
        .enumerate()
        .map(|(i, &epoch)| {
            let pick = |rng: &mut Rng, forced: Option<usize>| {
                forced.unwrap_or_else(|| 1 + rng.below(peers as u64) as usize)
            };
            let (agg_k, join_k, route_k) = match i {
                1 => (1, peers, 1),
                3 => (peers, 1, peers),
                5 => (1, 1, 2.min(peers)),
                _ => (
                    pick(&mut rng, None),
                    pick(&mut rng, None),
                    pick(&mut rng, None),
                ),
            };
            let mut parallelism = vec![("agg".to_owned(), agg_k), ("route".to_owned(), route_k)];
            if i % 4 != 2 {
                parallelism.push(("join".to_owned(), join_k));
            }
            let lead = rng.below(3);
            Proposal {
                at: epoch.saturating_sub(lead),
                decision: Rescale {
                    seq: i as u64 + 1,
                    epoch,
                    parallelism,
                },
            }
        })
        .collect()
}

#[derive(Default, serde::Serialize, serde::Deserialize)]
struct JoinState {
    left: HashMap<u64, Vec<u64>>,
    right: HashMap<u64, Vec<u64>>,
}

/// What one worker saw of one job.
#[derive(Default, Debug)]
struct JobOutput {
    agg: Vec<AggOut>,
    join: Vec<JoinOut>,
    /// (epoch, key, worker) of records leaving the stateless tuned exchange.
    routed: Vec<(u64, u64, usize)>,
    applied: Vec<u64>,
    bins_sent: u64,
    bins_received: u64,
    final_parallelism: Vec<(String, usize)>,
}

/// Runs the test job on this worker, with the given decisions (none = static parallelism) and
/// the control input `lead` epochs ahead of the data.
fn run_job(worker: &mut Worker, proposals: &[Proposal], seed: u64, lead: u64) -> JobOutput {
    let index = worker.index();
    let peers = worker.peers();
    let mut left_in = InputHandleVec::<u64, Pair>::new();
    let mut right_in = InputHandleVec::<u64, Pair>::new();
    let probe = ProbeHandle::new();
    let agg_out = Rc::new(RefCell::new(Vec::new()));
    let join_out = Rc::new(RefCell::new(Vec::new()));
    let routed = Rc::new(RefCell::new(Vec::new()));

    let mut control = worker.dataflow::<u64, _, _>(|scope| {
        let (handle, control) = Control::new(scope);
        let left = scope.input_from(&mut left_in);
        let right = scope.input_from(&mut right_in);

        let sink = Rc::clone(&agg_out);
        left.clone()
            .tuned_unary_state(
                &control,
                "agg",
                |&(key, _): &Pair| key,
                peers,
                |&time: &u64,
                 state: &mut HashMap<u64, (u64, u64)>,
                 batch: &mut Vec<Pair>,
                 out: &mut Vec<AggOut>| {
                    let mut touched: Vec<u64> = Vec::new();
                    for (key, value) in batch.drain(..) {
                        let entry = state.entry(key).or_default();
                        entry.0 += 1;
                        entry.1 += value;
                        touched.push(key);
                    }
                    touched.sort_unstable();
                    touched.dedup();
                    for key in touched {
                        let (count, sum) = state[&key];
                        out.push((time, key, count, sum));
                    }
                },
            )
            .inspect(move |x| sink.borrow_mut().push(*x))
            .probe_with(&probe);

        let sink = Rc::clone(&join_out);
        left.clone()
            .tuned_binary_state(
                right,
                &control,
                "join",
                |&(key, _): &Pair| key,
                |&(key, _): &Pair| key,
                peers,
                |&time: &u64,
                 state: &mut JoinState,
                 lefts: &mut Vec<Pair>,
                 rights: &mut Vec<Pair>,
                 out: &mut Vec<JoinOut>| {
                    for &(key, a) in lefts.iter() {
                        for &b in state.right.get(&key).into_iter().flatten() {
                            out.push((time, key, a, b));
                        }
                        for &(k2, b) in rights.iter() {
                            if k2 == key {
                                out.push((time, key, a, b));
                            }
                        }
                    }
                    for &(key, b) in rights.iter() {
                        for &a in state.left.get(&key).into_iter().flatten() {
                            out.push((time, key, a, b));
                        }
                    }
                    for (key, a) in lefts.drain(..) {
                        state.left.entry(key).or_default().push(a);
                    }
                    for (key, b) in rights.drain(..) {
                        state.right.entry(key).or_default().push(b);
                    }
                },
            )
            .inspect(move |x| sink.borrow_mut().push(*x))
            .probe_with(&probe);

        let sink = Rc::clone(&routed);
        left.tuned_exchange(&control, "route", |&(key, _): &Pair| key, peers)
            .inspect_core(move |event| {
                if let Ok((stamp, data)) = event {
                    let time = stamp.iter().next().copied().unwrap_or_default();
                    let mut sink = sink.borrow_mut();
                    for &(key, _) in data.iter() {
                        sink.push((time, key, index));
                    }
                }
            })
            .probe_with(&probe);
        handle
    });

    let mut applied = Vec::new();
    for epoch in 0..EPOCHS {
        if control.is_controller() {
            for p in proposals
                .iter()
                .filter(|p| p.at.saturating_sub(lead) == epoch)
            {
                let proposed = control
                    .propose(p.decision.clone())
                    .expect("worker 0 proposes");
                assert_eq!(
                    proposed.epoch, p.decision.epoch,
                    "decision was early enough"
                );
                assert!(proposed.unknown.is_empty() && proposed.clamped.is_empty());
            }
        }
        let (left, right) = records(seed, index, epoch);
        for r in left {
            left_in.send(r);
        }
        for r in right {
            right_in.send(r);
        }
        left_in.advance_to(epoch + 1);
        right_in.advance_to(epoch + 1);
        control.advance_to(epoch + 1 + lead);
        // Let a few epochs overlap so migrations race with later data.
        let behind = epoch.saturating_sub(3);
        while probe.less_than(&behind) {
            worker.step();
        }
        applied.extend(control.drain_applied().into_iter().map(|a| a.seq));
    }
    drop(left_in);
    drop(right_in);
    control.close();
    while !probe.done() {
        worker.step();
    }
    applied.extend(control.drain_applied().into_iter().map(|a| a.seq));
    let status = control.status();
    let agg = agg_out.borrow().clone();
    let join = join_out.borrow().clone();
    let routed = routed.borrow().clone();
    JobOutput {
        agg,
        join,
        routed,
        applied,
        bins_sent: status.iter().map(|s| s.bins_sent).sum(),
        bins_received: status.iter().map(|s| s.bins_received).sum(),
        final_parallelism: status
            .iter()
            .map(|s| (s.name.clone(), s.parallelism))
            .collect(),
    }
}

/// Sequential reference of the two stateful jobs over all workers' records.
fn reference(seed: u64, peers: usize) -> (Vec<AggOut>, Vec<JoinOut>) {
    let mut agg_state: HashMap<u64, (u64, u64)> = HashMap::new();
    let mut lefts: HashMap<u64, Vec<u64>> = HashMap::new();
    let mut rights: HashMap<u64, Vec<u64>> = HashMap::new();
    let mut agg = Vec::new();
    let mut join = Vec::new();
    for epoch in 0..EPOCHS {
        let mut new_left = Vec::new();
        let mut new_right = Vec::new();
        for w in 0..peers {
            let (l, r) = records(seed, w, epoch);
            new_left.extend(l);
            new_right.extend(r);
        }
        let mut touched = Vec::new();
        for &(key, value) in &new_left {
            let e = agg_state.entry(key).or_default();
            e.0 += 1;
            e.1 += value;
            touched.push(key);
        }
        touched.sort_unstable();
        touched.dedup();
        for key in touched {
            let (c, s) = agg_state[&key];
            agg.push((epoch, key, c, s));
        }
        for &(key, a) in &new_left {
            for &b in rights.get(&key).into_iter().flatten() {
                join.push((epoch, key, a, b));
            }
            for &(k2, b) in &new_right {
                if k2 == key {
                    join.push((epoch, key, a, b));
                }
            }
        }
        for &(key, b) in &new_right {
            for &a in lefts.get(&key).into_iter().flatten() {
                join.push((epoch, key, a, b));
            }
        }
        for (key, a) in new_left {
            lefts.entry(key).or_default().push(a);
        }
        for (key, b) in new_right {
            rights.entry(key).or_default().push(b);
        }
    }
    agg.sort_unstable();
    join.sort_unstable();
    (agg, join)
}

/// The owner of every key of "route" at every epoch, replayed from the script with the public
/// bin map.
fn expected_route_owner(proposals: &[Proposal], peers: usize) -> impl Fn(u64, u64) -> usize {
    let mut maps = vec![(
        0u64,
        BinMap::for_operator("route", DEFAULT_BINS, peers, peers),
    )];
    for p in proposals {
        if let Some(k) = p.decision.parallelism_of("route") {
            let next = maps.last().unwrap().1.rescaled(k);
            maps.push((p.decision.epoch, next));
        }
    }
    move |epoch, key| {
        let map = &maps.iter().rev().find(|(e, _)| *e <= epoch).unwrap().1;
        map.worker_for(key)
    }
}

/// Merges per-worker outputs and checks them against the reference and the script.
fn check(
    label: &str,
    peers: usize,
    proposals: &[Proposal],
    rescaled: Vec<JobOutput>,
    unscaled: Vec<JobOutput>,
) {
    let (ref_agg, ref_join) = reference(SEED, peers);
    let merge = |outs: &[JobOutput]| {
        let mut agg: Vec<AggOut> = outs.iter().flat_map(|o| o.agg.iter().copied()).collect();
        let mut join: Vec<JoinOut> = outs.iter().flat_map(|o| o.join.iter().copied()).collect();
        agg.sort_unstable();
        join.sort_unstable();
        (agg, join)
    };
    let (agg_s, join_s) = merge(&unscaled);
    let (agg_r, join_r) = merge(&rescaled);
    assert!(!ref_agg.is_empty() && !ref_join.is_empty());
    assert_eq!(
        agg_s, ref_agg,
        "{label}: static aggregation differs from reference"
    );
    assert_eq!(
        join_s, ref_join,
        "{label}: static join differs from reference"
    );
    assert_eq!(
        agg_r.len(),
        ref_agg.len(),
        "{label}: rescaled aggregation size"
    );
    assert_eq!(agg_r, ref_agg, "{label}: rescaled aggregation differs");
    assert_eq!(join_r.len(), ref_join.len(), "{label}: rescaled join size");
    assert_eq!(join_r, ref_join, "{label}: rescaled join differs");

    // State really moved, and every worker's shipments arrived somewhere.
    let sent: u64 = rescaled.iter().map(|o| o.bins_sent).sum();
    let received: u64 = rescaled.iter().map(|o| o.bins_received).sum();
    assert!(sent > 0, "{label}: no state migrated");
    assert_eq!(sent, received, "{label}: bins sent vs received");
    assert_eq!(unscaled.iter().map(|o| o.bins_sent).sum::<u64>(), 0);

    // Every worker saw every decision applied, in order.
    let seqs: Vec<u64> = proposals.iter().map(|p| p.decision.seq).collect();
    assert_eq!(rescaled.len(), peers);
    for (w, o) in rescaled.iter().enumerate() {
        assert_eq!(o.applied, seqs, "{label}: decisions applied on worker {w}");
    }

    // Every worker ends at the script's last parallelism.
    for name in ["agg", "join", "route"] {
        let last = proposals
            .iter()
            .rev()
            .find_map(|p| p.decision.parallelism_of(name))
            .unwrap();
        for o in &rescaled {
            let k = o
                .final_parallelism
                .iter()
                .find(|(n, _)| n == name)
                .unwrap()
                .1;
            assert_eq!(k, last, "{label}: final parallelism of {name}");
        }
    }

    // The stateless exchange sent each record to the owner of its bin at its time.
    let owner = expected_route_owner(proposals, peers);
    let mut count = 0;
    for o in &rescaled {
        for &(epoch, key, worker) in &o.routed {
            assert_eq!(worker, owner(epoch, key), "{label}: key {key} at {epoch}");
            count += 1;
        }
    }
    let expected: usize = (0..EPOCHS)
        .flat_map(|e| (0..peers).map(move |w| records(SEED, w, e).0.len()))
        .sum();
    assert_eq!(count, expected, "{label}: routed record count");
    eprintln!(
        "{label}: {} aggregation rows, {} join rows, {} routed records, {} bin states migrated, \
         {} decisions",
        ref_agg.len(),
        ref_join.len(),
        count,
        sent,
        seqs.len()
    );
}

/// Runs the static and the rescaled job on one worker.
fn run_both(worker: &mut Worker, proposals: &[Proposal], lead: u64) -> (JobOutput, JobOutput) {
    let unscaled = run_job(worker, &[], SEED, 0);
    let rescaled = run_job(worker, proposals, SEED, lead);
    (rescaled, unscaled)
}

#[test]
fn rescaling_four_workers_one_process_matches_static() {
    let started = Instant::now();
    let peers = 4;
    let proposals = script(SEED, peers, 12);
    let shared = proposals.clone();
    let guards = timely::execute(Config::process(peers), move |worker| {
        run_both(worker, &shared, 0)
    })
    .expect("timely runs");
    let (rescaled, unscaled): (Vec<_>, Vec<_>) = guards
        .join()
        .into_iter()
        .map(|r| r.expect("worker finished"))
        .unzip();
    check("process(4)", peers, &proposals, rescaled, unscaled);
    eprintln!("process(4): {:?}", started.elapsed());
}

#[test]
fn rescaling_three_workers_with_control_lead_matches_static() {
    let peers = 3;
    let proposals = script(SEED ^ 3, peers, 10);
    let shared = proposals.clone();
    let guards = timely::execute(Config::process(peers), move |worker| {
        run_both(worker, &shared, 2)
    })
    .expect("timely runs");
    let (rescaled, unscaled): (Vec<_>, Vec<_>) = guards
        .join()
        .into_iter()
        .map(|r| r.expect("worker finished"))
        .unzip();
    check("process(3), lead 2", peers, &proposals, rescaled, unscaled);
}

#[test]
fn rescaling_single_worker_is_identity() {
    let proposals = script(SEED, 1, 10);
    let shared = proposals.clone();
    let guards = timely::execute(Config::thread(), move |worker| {
        run_job(worker, &shared, SEED, 0)
    })
    .unwrap();
    let out: Vec<JobOutput> = guards.join().into_iter().map(|r| r.unwrap()).collect();
    let (ref_agg, ref_join) = reference(SEED, 1);
    let mut agg = out[0].agg.clone();
    let mut join = out[0].join.clone();
    agg.sort_unstable();
    join.sort_unstable();
    assert_eq!(agg, ref_agg);
    assert_eq!(join, ref_join);
    assert_eq!(out[0].bins_sent, 0);
}

/// Encodes one worker's output as text lines for the parent test.
fn encode(tag: &str, worker: usize, out: &JobOutput, text: &mut String) {
    use std::fmt::Write as _;
    for (e, k, c, s) in &out.agg {
        writeln!(text, "{tag} agg {e} {k} {c} {s}").unwrap();
    }
    for (e, k, a, b) in &out.join {
        writeln!(text, "{tag} join {e} {k} {a} {b}").unwrap();
    }
    for (e, k, w) in &out.routed {
        writeln!(text, "{tag} routed {e} {k} {w}").unwrap();
    }
    for s in &out.applied {
        writeln!(text, "{tag} applied {worker} {s}").unwrap();
    }
    writeln!(text, "{tag} bins {} {}", out.bins_sent, out.bins_received).unwrap();
    for (name, k) in &out.final_parallelism {
        writeln!(text, "{tag} final {worker} {name} {k}").unwrap();
    }
}

fn decode(text: &str, peers: usize) -> (Vec<JobOutput>, Vec<JobOutput>) {
    let mut rescaled: Vec<JobOutput> = (0..peers).map(|_| JobOutput::default()).collect();
    let mut unscaled: Vec<JobOutput> = (0..peers).map(|_| JobOutput::default()).collect();
    // Records are attributed per worker only where the checks need it; others go to slot 0.
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 2 {
            continue;
        }
        let outs = match f[0] {
            "R" => &mut rescaled,
            "U" => &mut unscaled,
            _ => continue,
        };
        let n = |i: usize| f[i].parse::<u64>().expect("number");
        match f[1] {
            "agg" => outs[0].agg.push((n(2), n(3), n(4), n(5))),
            "join" => outs[0].join.push((n(2), n(3), n(4), n(5))),
            "routed" => outs[0].routed.push((n(2), n(3), n(4) as usize)),
            "applied" => outs[n(2) as usize].applied.push(n(3)),
            "bins" => {
                outs[0].bins_sent += n(2);
                outs[0].bins_received += n(3);
            }
            "final" => {
                let w = n(2) as usize;
                outs[w]
                    .final_parallelism
                    .push((f[3].to_owned(), n(4) as usize));
            }
            _ => {}
        }
    }
    (rescaled, unscaled)
}

fn free_port() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

/// Child side of the two-process test; does nothing unless started by the parent.
#[test]
#[ignore = "started by rescaling_two_processes_matches_static"]
fn cluster_child() {
    let (Ok(process), Ok(addresses)) = (
        std::env::var("STN_RESCALE_PROCESS"),
        std::env::var("STN_RESCALE_ADDRESSES"),
    ) else {
        return;
    };
    let process: usize = process.parse().unwrap();
    let addresses: Vec<String> = addresses.split(',').map(str::to_owned).collect();
    let peers = 2 * addresses.len();
    let proposals = script(SEED, peers, 12);
    let config = Config {
        communication: CommConfig::Cluster {
            threads: 2,
            process,
            addresses,
            report: false,
            zerocopy: false,
        },
        worker: WorkerConfig::default(),
    };
    let guards = timely::execute(config, move |worker| {
        let (rescaled, unscaled) = run_both(worker, &proposals, 0);
        let mut text = String::new();
        encode("R", worker.index(), &rescaled, &mut text);
        encode("U", worker.index(), &unscaled, &mut text);
        text
    })
    .expect("cluster starts");
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(b"\n---BEGIN---\n").unwrap();
    for text in guards.join() {
        stdout
            .write_all(text.expect("worker finished").as_bytes())
            .unwrap();
    }
    stdout.write_all(b"---END---\n").unwrap();
}

/// Reads what a finished child wrote to stderr.
fn stderr_of(child: &mut Child) -> String {
    use std::io::Read;
    let mut text = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut text);
    }
    text
}

/// Runs the two child processes once on fresh ports; their results, or why they failed.
fn run_cluster_once(exe: &std::path::Path) -> Result<String, String> {
    let (l0, p0) = free_port();
    let (l1, p1) = free_port();
    drop((l0, l1));
    let addresses = format!("127.0.0.1:{p0},127.0.0.1:{p1}");
    let mut children = Vec::new();
    for process in 0..2 {
        // A file, not a pipe, so a large output cannot block the child.
        let path = std::env::temp_dir().join(format!(
            "stn-rescale-{}-{p0}-{process}.out",
            std::process::id()
        ));
        let file = std::fs::File::create(&path).expect("child output file");
        let child = Command::new(exe)
            .args([
                "cluster_child",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("STN_RESCALE_PROCESS", process.to_string())
            .env("STN_RESCALE_ADDRESSES", &addresses)
            .stdout(Stdio::from(file))
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn child");
        children.push((child, path, None));
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut failure: Option<String> = None;
    while failure.is_none() && children.iter().any(|c| c.2.is_none()) {
        for (child, _, status) in children.iter_mut().filter(|c| c.2.is_none()) {
            if let Some(done) = child.try_wait().expect("wait for child") {
                if !done.success() {
                    failure = Some(format!("child failed: {done}\n{}", stderr_of(child)));
                }
                *status = Some(done);
            }
        }
        if Instant::now() > deadline {
            failure = Some("children timed out".to_owned());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut text = String::new();
    for (mut child, path, status) in children {
        if status.is_none() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let stdout = std::fs::read_to_string(&path).unwrap_or_default();
        let _ = std::fs::remove_file(&path);
        if failure.is_none() {
            let begin = stdout
                .find("---BEGIN---")
                .ok_or("child printed no results")?;
            let end = stdout
                .find("---END---")
                .ok_or("child did not finish results")?;
            text.push_str(&stdout[begin..end]);
        }
    }
    match failure {
        Some(why) => Err(why),
        None => Ok(text),
    }
}

#[test]
fn rescaling_two_processes_matches_static() {
    let started = Instant::now();
    let exe = std::env::current_exe().expect("test binary path");
    // An ephemeral port can be taken by someone else between probing and binding: retry then.
    let mut attempt = 0;
    let text = loop {
        attempt += 1;
        match run_cluster_once(&exe) {
            Ok(text) => break text,
            Err(why) if attempt < 3 && why.contains("in use") => continue,
            Err(why) => panic!("two-process run failed: {why}"),
        }
    };
    let peers = 4;
    let proposals = script(SEED, peers, 12);
    let (rescaled, unscaled) = decode(&text, peers);
    check("cluster 2x2", peers, &proposals, rescaled, unscaled);
    eprintln!("cluster 2x2: {:?}", started.elapsed());
}

/// Independent lower bound on the bins any balanced map with parallelism `k` must move from
/// `map`: each remaining worker keeps at most its quota, and the quotas with one extra bin go
/// best to the workers holding most.
fn min_moves(map: &BinMap, k: usize) -> usize {
    let loads = map.loads();
    let next_active = &map.rescaled(k);
    let mut kept: Vec<usize> = next_active
        .active_workers()
        .iter()
        .map(|&w| loads[w])
        .collect();
    kept.sort_unstable_by(|a, b| b.cmp(a));
    let bins = map.bins();
    let (base, extra) = (bins / k, bins % k);
    let retained: usize = kept
        .iter()
        .enumerate()
        .map(|(i, &l)| l.min(base + usize::from(i < extra)))
        .sum();
    bins - retained
}

#[test]
fn bin_map_is_balanced_deterministic_and_moves_least() {
    let mut rng = Rng(7);
    for _ in 0..200 {
        let peers = 1 + rng.below(16) as usize;
        let bins = 1 + rng.below(300) as usize;
        let offset = rng.below(peers as u64) as usize;
        let mut map = BinMap::new(bins, peers, 1 + rng.below(peers as u64) as usize, offset);
        for _ in 0..12 {
            let k = 1 + rng.below(peers as u64) as usize;
            let next = map.rescaled(k);
            assert_eq!(next, map.rescaled(k), "deterministic");
            assert_eq!(next.parallelism(), k);
            assert_eq!(next.bins(), bins);
            // Active set: a prefix of one fixed order, so shrinking keeps survivors.
            let active = next.active_workers();
            assert_eq!(active.len(), k);
            assert_eq!(
                &map.active_workers()[..k.min(map.parallelism())],
                &active[..k.min(map.parallelism())]
            );
            // Balanced, and only active workers own bins.
            let loads = next.loads();
            let owned: Vec<usize> = active.iter().map(|&w| loads[w]).collect();
            assert!(owned.iter().max().unwrap() - owned.iter().min().unwrap() <= 1);
            assert_eq!(owned.iter().sum::<usize>(), bins);
            for (bin, &w) in next.owners().iter().enumerate() {
                assert!(active.contains(&w), "bin {bin} on inactive worker {w}");
            }
            // Minimal movement.
            let moved = map.moves_to(&next).count();
            assert_eq!(
                moved,
                min_moves(&map, k),
                "peers {peers} bins {bins} {} -> {k}",
                map.parallelism()
            );
            // Shrinking moves only the bins of removed workers (when they were balanced).
            if k < map.parallelism() {
                for (bin, from, _) in map.moves_to(&next) {
                    let removed = !active.contains(&from);
                    let over = loads[from] < map.loads()[from];
                    assert!(
                        removed || over,
                        "bin {bin} moved off a surviving worker needlessly"
                    );
                }
            }
            map = next;
        }
    }
    // The default map spreads 256 bins over all workers exactly.
    let map = BinMap::for_operator("x", DEFAULT_BINS, 4, 4);
    assert_eq!(map.loads(), vec![64; 4]);
    let down = map.rescaled(1);
    assert_eq!(map.moves_to(&down).count(), 192);
    let up = down.rescaled(4);
    assert_eq!(down.moves_to(&up).count(), 192);
    assert_eq!(up.loads(), vec![64; 4]);
}

#[test]
fn control_handle_clamps_orders_and_reports() {
    let guards = timely::execute(Config::process(2), |worker| {
        let index = worker.index();
        let mut input = InputHandleVec::<u64, u64>::new();
        let probe = ProbeHandle::new();
        let total = Rc::new(RefCell::new(0u64));
        let sink = Rc::clone(&total);
        let mut control = worker.dataflow::<u64, _, _>(|scope| {
            let (handle, control) = Control::with_bins(scope, 64);
            assert_eq!(control.bins(), 64);
            scope
                .input_from(&mut input)
                .tuned_unary_state(
                    &control,
                    "agg",
                    |&k: &u64| k,
                    2,
                    |_: &u64, seen: &mut u64, keys: &mut Vec<u64>, out: &mut Vec<u64>| {
                        *seen += keys.len() as u64;
                        out.push(keys.drain(..).count() as u64);
                    },
                )
                .inspect(move |n| *sink.borrow_mut() += n)
                .probe_with(&probe);
            handle
        });
        let monitor = control.monitor();
        assert_eq!(control.operator_names(), vec!["agg".to_owned()]);
        assert_eq!(control.parallelism("agg"), Some(2));
        let decision = |seq: u64, epoch: u64, parallelism: Vec<(&str, usize)>| Rescale {
            seq,
            epoch,
            parallelism: parallelism
                .into_iter()
                .map(|(n, k)| (n.to_owned(), k))
                .collect(),
        };
        control.advance_to(5);
        if index == 0 {
            let late = control
                .propose(decision(1, 2, vec![("agg", 0), ("nope", 1)]))
                .unwrap();
            assert_eq!(late.epoch, 5, "a passed epoch moves to the control time");
            assert_eq!(late.unknown, vec!["nope".to_owned()]);
            assert_eq!(late.clamped, vec![("agg".to_owned(), 0, 1)]);
            let big = control.propose(decision(2, 7, vec![("agg", 99)])).unwrap();
            assert_eq!(big.clamped, vec![("agg".to_owned(), 99, 2)]);
            // Same epoch, entered out of order: sequence numbers decide.
            control.propose(decision(4, 8, vec![("agg", 1)])).unwrap();
            control.propose(decision(3, 8, vec![("agg", 2)])).unwrap();
        } else {
            let refused = control.propose(decision(9, 9, vec![("agg", 1)]));
            assert_eq!(
                refused,
                Err(streamtune_shim::tuned::ControlError::NotController)
            );
        }
        for epoch in 0..12u64 {
            for k in 0..50 {
                input.send(k * 7 + epoch);
            }
            input.advance_to(epoch + 1);
            control.advance_to(epoch + 1);
            while probe.less_than(input.time()) {
                worker.step();
            }
        }
        drop(input);
        control.close();
        assert!(!control.is_controller());
        assert_eq!(
            control.propose(decision(5, 20, vec![])).unwrap_err(),
            if index == 0 {
                streamtune_shim::tuned::ControlError::Closed
            } else {
                streamtune_shim::tuned::ControlError::NotController
            }
        );
        while !probe.done() {
            worker.step();
        }
        let applied: Vec<(u64, u64)> = control
            .drain_applied()
            .into_iter()
            .map(|a| (a.seq, a.epoch))
            .collect();
        let status = monitor.status();
        let total = *total.borrow();
        (applied, status, control.last_applied(), total)
    })
    .unwrap();
    let mut grand_total = 0;
    for result in guards.join() {
        let (applied, status, last, total) = result.unwrap();
        assert_eq!(applied, vec![(1, 5), (2, 7), (3, 8), (4, 8)]);
        assert_eq!(last.map(|a| a.seq), Some(4));
        assert_eq!(status.len(), 1);
        assert_eq!(status[0].parallelism, 1, "seq 4 applies after seq 3");
        assert_eq!(status[0].map_epoch, 8);
        assert_eq!(status[0].active_workers.len(), 1);
        assert_eq!(status[0].bins, 64);
        assert_eq!(status[0].queued, 0);
        assert!(status[0].processed.is_empty());
        grand_total += total;
    }
    assert_eq!(grand_total, 2 * 12 * 50, "every record counted once");
}

/// (window end, key, count, sum)
type WindowOut = (u64, u64, u64, u64);
const WINDOW: u64 = 5;

/// Tumbling windows of `WINDOW` epochs per key, closed by wake-ups, under the given decisions;
/// returns (emission time, row) for everything this worker emitted.
fn run_windows(worker: &mut Worker, proposals: &[Proposal]) -> Vec<(u64, WindowOut)> {
    let index = worker.index();
    let peers = worker.peers();
    let mut input = InputHandleVec::<u64, Pair>::new();
    let probe = ProbeHandle::new();
    let rows = Rc::new(RefCell::new(Vec::new()));
    let sink = Rc::clone(&rows);
    let mut control = worker.dataflow::<u64, _, _>(|scope| {
        let (handle, control) = Control::new(scope);
        scope
            .input_from(&mut input)
            .tuned_unary_timed(
                &control,
                "win",
                |&(key, _): &Pair| key,
                peers,
                |&time: &u64,
                 open: &mut std::collections::BTreeMap<(u64, u64), (u64, u64)>,
                 records: &mut Vec<Pair>,
                 out: &mut Vec<WindowOut>,
                 wakeups: &mut streamtune_shim::tuned::Wakeups<u64>| {
                    // Close every window that has ended, then add this epoch's records.
                    let still_open = open.split_off(&(time + 1, 0));
                    for ((end, key), (count, sum)) in std::mem::replace(open, still_open) {
                        out.push((end, key, count, sum));
                    }
                    let end = (time / WINDOW + 1) * WINDOW;
                    for (key, value) in records.drain(..) {
                        let entry = open.entry((end, key)).or_default();
                        entry.0 += 1;
                        entry.1 += value;
                        wakeups.at(end);
                    }
                },
            )
            .inspect_core(move |event| {
                if let Ok((stamp, data)) = event {
                    let time = stamp.iter().next().copied().unwrap_or_default();
                    sink.borrow_mut()
                        .extend(data.iter().map(|row: &WindowOut| (time, *row)));
                }
            })
            .probe_with(&probe);
        handle
    });
    for epoch in 0..EPOCHS {
        if control.is_controller() {
            for p in proposals.iter().filter(|p| p.at == epoch) {
                control
                    .propose(p.decision.clone())
                    .expect("worker 0 proposes");
            }
        }
        // Later epochs use fewer keys, so many bins fall idle while windows are open.
        let (left, _) = records(SEED, index, epoch);
        let limit = if epoch > EPOCHS / 2 { 50 } else { u64::MAX };
        for (key, value) in left.into_iter().filter(|r| r.0 < limit) {
            input.send((key, value));
        }
        input.advance_to(epoch + 1);
        control.advance_to(epoch + 1);
        while probe.less_than(&epoch.saturating_sub(2)) {
            worker.step();
        }
    }
    drop(input);
    control.close();
    while !probe.done() {
        worker.step();
    }
    let out = rows.borrow().clone();
    out
}

#[test]
fn timed_windows_under_rescaling_match_reference() {
    let peers = 4;
    let proposals: Vec<Proposal> = script(SEED ^ 7, peers, 12)
        .into_iter()
        .map(|mut p| {
            for (name, _) in p.decision.parallelism.iter_mut() {
                if name == "agg" {
                    *name = "win".to_owned();
                }
            }
            p
        })
        .collect();
    let shared = proposals.clone();
    let static_run = timely::execute(Config::process(peers), |worker| run_windows(worker, &[]))
        .unwrap()
        .join();
    let rescaled_run = timely::execute(Config::process(peers), move |worker| {
        run_windows(worker, &shared)
    })
    .unwrap()
    .join();
    let collect = |runs: Vec<Result<Vec<(u64, WindowOut)>, String>>| {
        let mut all: Vec<(u64, WindowOut)> = runs.into_iter().flat_map(|r| r.unwrap()).collect();
        all.sort_unstable();
        all
    };
    let (static_rows, rescaled_rows) = (collect(static_run), collect(rescaled_run));

    let mut windows: std::collections::BTreeMap<(u64, u64), (u64, u64)> = Default::default();
    for epoch in 0..EPOCHS {
        let limit = if epoch > EPOCHS / 2 { 50 } else { u64::MAX };
        for w in 0..peers {
            for (key, value) in records(SEED, w, epoch)
                .0
                .into_iter()
                .filter(|r| r.0 < limit)
            {
                let e = windows
                    .entry(((epoch / WINDOW + 1) * WINDOW, key))
                    .or_default();
                e.0 += 1;
                e.1 += value;
            }
        }
    }
    let mut reference: Vec<(u64, WindowOut)> = windows
        .into_iter()
        .map(|((end, key), (count, sum))| (end, (end, key, count, sum)))
        .collect();
    reference.sort_unstable();
    assert!(reference.len() > 1000);
    assert_eq!(
        static_rows, reference,
        "static windows (emitted at their end)"
    );
    assert_eq!(
        rescaled_rows, reference,
        "rescaled windows (emitted at their end)"
    );
}

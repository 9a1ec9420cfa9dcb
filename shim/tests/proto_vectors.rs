//! The shared protocol vectors (`proto/vectors/`, `proto/PROTOCOL.md` §9) against the Rust
//! codec: every valid vector decodes to its documented meaning (the `.json` view) and encodes
//! back byte-identical, every invalid one is refused with exactly the status its `.txt` names.
//! Plus seeded random round trips and damaged inputs, which must never panic.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use streamtune_shim::proto::{
    decode, encode, to_json, try_encode, Ack, AckOf, Decision, Edge, ErrorMsg, Hello, Limits,
    Message, OpKind, Operator, Partitioning, Query, Register, Samples, Status, StatusCode, Welcome,
    MAX_ROWS,
};

fn vectors(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../proto/vectors")
        .join(sub)
}

/// The `.msgpack` files of a vector directory, sorted, with their bytes.
fn msgpack_files(sub: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let mut paths: Vec<PathBuf> = fs::read_dir(vectors(sub))
        .expect("vector directory")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "msgpack"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let bytes = fs::read(&p).expect("vector file");
            (p, bytes)
        })
        .collect()
}

fn vector(name: &str) -> Vec<u8> {
    fs::read(vectors("valid").join(name)).expect("vector file")
}

/// The re-indentation the vector generator applies to the one-line JSON view
/// (`stn_gen_pretty_json` in `tests/tools/gen_vectors.c`).
fn pretty(json: &str) -> String {
    let mut out = String::new();
    let (mut depth, mut in_str, mut split) = (0, false, false);
    let chars: Vec<char> = json.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        i += 1;
        if in_str {
            out.push(c);
            if c == '\\' {
                if let Some(n) = next {
                    out.push(n);
                    i += 1;
                }
            } else if c == '"' {
                in_str = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_str = true;
                out.push(c);
            }
            '{' | '[' => {
                depth += 1;
                out.push(c);
                if depth == 1 {
                    out.push_str("\n  ");
                } else if depth == 2 && c == '[' && matches!(next, Some('{') | Some('[')) {
                    split = true;
                    out.push_str("\n    ");
                }
            }
            '}' | ']' => {
                if depth == 2 && c == ']' && split {
                    split = false;
                    out.push_str("\n  ]");
                } else if depth == 1 {
                    out.push_str("\n}");
                } else {
                    out.push(c);
                }
                depth -= 1;
            }
            ',' if depth == 1 || (depth == 2 && split) => {
                out.push_str(if depth == 1 { ",\n  " } else { ",\n    " });
                if next == Some(' ') {
                    i += 1;
                }
            }
            '\n' => {}
            _ => out.push(c),
        }
    }
    out.push('\n');
    out
}

#[test]
fn valid_vectors_decode_to_their_meaning_and_encode_back() {
    let files = msgpack_files("valid");
    assert!(files.len() >= 9, "only {} valid vectors", files.len());
    let mut types = BTreeSet::new();
    for (path, bytes) in &files {
        let msg = decode(bytes, &Limits::default())
            .unwrap_or_else(|e| panic!("{}: {}", path.display(), e));
        types.insert(msg.type_name());
        assert_eq!(
            &encode(&msg),
            bytes,
            "{}: re-encoding differs",
            path.display()
        );
        assert_eq!(
            try_encode(&msg, &Limits::default()).as_ref(),
            Ok(bytes),
            "{}",
            path.display()
        );
        let json = fs::read_to_string(path.with_extension("json")).expect("json file");
        assert_eq!(
            pretty(&to_json(&msg)),
            json,
            "{}: JSON view differs",
            path.display()
        );
    }
    let all = [
        "ack", "decision", "error", "hello", "query", "register", "samples", "status", "welcome",
    ];
    assert_eq!(types, all.into_iter().collect::<BTreeSet<_>>());
}

#[test]
fn invalid_vectors_fail_with_their_status() {
    let files = msgpack_files("invalid");
    assert!(files.len() >= 20, "only {} invalid vectors", files.len());
    for (path, bytes) in &files {
        let txt = fs::read_to_string(path.with_extension("txt")).expect("txt file");
        let want = txt.lines().next().unwrap_or_default();
        assert!(
            StatusCode::from_name(want).is_some_and(|s| s != StatusCode::Ok),
            "{}: '{}' is not an error status",
            path.display(),
            want
        );
        match decode(bytes, &Limits::default()) {
            Ok(m) => panic!("{}: accepted as {:?}", path.display(), m),
            Err(e) => assert_eq!(e.name(), want, "{}: {}", path.display(), e),
        }
    }
}

#[test]
fn the_full_window_vector_holds_64_operators_by_32_instances() {
    let bytes = vector("11-samples-window-64x32.msgpack");
    let Ok(Message::Samples(s)) = decode(&bytes, &Limits::default()) else {
        panic!("not a SAMPLES message");
    };
    assert_eq!(s.op.len(), 2048);
    for (i, (op, inst)) in s.op.iter().zip(&s.inst).enumerate() {
        assert_eq!((*op as usize, *inst as usize), (i / 32, i % 32));
    }
    assert!(s.busy_ms.iter().all(|b| (0.0..1000.0).contains(b)));
    let lim = Limits {
        max_rows: 2047,
        ..Limits::default()
    };
    assert_eq!(decode(&bytes, &lim).map_err(|e| e.name()), Err("ETOOBIG"));
    let lim = Limits {
        max_msg_bytes: bytes.len() as u32 - 1,
        ..Limits::default()
    };
    assert_eq!(decode(&bytes, &lim).map_err(|e| e.name()), Err("ETOOBIG"));
}

#[test]
fn ack_register_carries_the_dag_hash_of_the_register_vector() {
    let Ok(Message::Register(reg)) = decode(
        &vector("06-register-nexmark-q5-ds2.msgpack"),
        &Limits::default(),
    ) else {
        panic!("not a REGISTER");
    };
    let Ok(Message::Ack(ack)) = decode(&vector("14-ack-register.msgpack"), &Limits::default())
    else {
        panic!("not an ACK");
    };
    assert_eq!(ack.of, AckOf::Register);
    assert_eq!(reg.dag_hash(), Some(ack.hash));
    // Rates and parallelism are not part of the structure's hash; the selectivity is.
    let mut changed = reg.clone();
    changed.ops[0].rate *= 2.0;
    changed.ops[1].p = 1;
    assert_eq!(changed.dag_hash(), Some(ack.hash));
    changed.ops[2].selectivity = 0.5;
    assert_ne!(changed.dag_hash(), Some(ack.hash));
}

#[test]
fn every_strict_prefix_is_truncated() {
    let mut checked = 0;
    for (path, bytes) in msgpack_files("valid") {
        if bytes.len() > 4096 {
            continue;
        }
        for cut in 0..bytes.len() {
            let got = decode(&bytes[..cut], &Limits::default()).map_err(|e| e.name());
            assert_eq!(
                got.err(),
                Some("EPROTO"),
                "{} cut to {}",
                path.display(),
                cut
            );
            checked += 1;
        }
    }
    assert!(checked > 1000);
}

/// Minimal MessagePack writer for hand-made, non-canonical inputs.
struct Mp(Vec<u8>);

impl Mp {
    fn map(mut self, n: u8) -> Self {
        self.0.push(0x80 | n);
        self
    }
    fn arr(mut self, n: u8) -> Self {
        self.0.push(0x90 | n);
        self
    }
    fn s(mut self, s: &str) -> Self {
        self.0.push(0xa0 | s.len() as u8);
        self.0.extend_from_slice(s.as_bytes());
        self
    }
    fn raw(mut self, b: &[u8]) -> Self {
        self.0.extend_from_slice(b);
        self
    }
}

#[test]
fn lenient_forms_decode_to_the_canonical_vector() {
    // Keys out of order, unknown keys holding nil, bin, ext and nested values, integers in
    // wider and signed forms.
    let hello = Mp(Vec::new())
        .map(5)
        .s("versions")
        .arr(1)
        .raw(&[0xcf, 0, 0, 0, 0, 0, 0, 0, 1])
        .s("x")
        .map(2)
        .s("a")
        .raw(&[0x92, 0x01, 0xc0])
        .raw(&[0xc4, 0x02, 0x00, 0x01])
        .raw(&[0xd6, 0x01, 0, 0, 0, 0])
        .s("client")
        .s("timely-shim/0.1.0")
        .s("t")
        .s("hello")
        .s("v")
        .raw(&[0xd1, 0x00, 0x01]);
    let msg = decode(&hello.0, &Limits::default()).expect("lenient HELLO");
    assert_eq!(encode(&msg), vector("01-hello.msgpack"));

    // Defaults absent, float32 and integer metrics, an unknown key.
    let samples = Mp(Vec::new())
        .map(12)
        .s("v")
        .raw(&[1])
        .s("t")
        .s("samples")
        .s("job")
        .s("wc")
        .s("window")
        .raw(&[0xd0, 0])
        .s("duration_ms")
        .raw(&[0xce, 0, 0, 0x03, 0xe8])
        .s("op")
        .arr(1)
        .raw(&[0])
        .s("inst")
        .arr(1)
        .raw(&[0])
        .s("busy_ms")
        .arr(1)
        .raw(&[0xca, 0x43, 0x7a, 0, 0])
        .s("in")
        .arr(1)
        .raw(&[0xcd, 0x03, 0xe8])
        .s("out")
        .arr(1)
        .raw(&[0xd1, 0x03, 0xe8])
        .s("backlog")
        .arr(1)
        .raw(&[0])
        .s("future")
        .raw(&[0xc3]);
    let msg = decode(&samples.0, &Limits::default()).expect("lenient SAMPLES");
    assert_eq!(encode(&msg), vector("08-samples-one-row.msgpack"));

    // An empty optional job is the same as none.
    let query = Mp(Vec::new())
        .map(4)
        .s("t")
        .s("query")
        .s("v")
        .raw(&[1])
        .s("job")
        .s("")
        .s("id")
        .raw(&[9]);
    let msg = decode(&query.0, &Limits::default()).expect("lenient QUERY");
    assert_eq!(encode(&msg), vector("17-query-endpoint.msgpack"));
}

#[test]
fn rows_over_the_default_limit_are_refused() {
    for n in [MAX_ROWS as usize, MAX_ROWS as usize + 1] {
        let s = Samples {
            job: "big".into(),
            duration_ms: 1000,
            op: vec![0; n],
            inst: vec![0; n],
            busy_ms: vec![0.0; n],
            r#in: vec![0.0; n],
            out: vec![0.0; n],
            backlog: vec![0.0; n],
            ..Samples::default()
        };
        let got = decode(&encode(&Message::Samples(s)), &Limits::default()).map(|_| ());
        if n > MAX_ROWS as usize {
            assert_eq!(got.map_err(|e| e.name()), Err("ETOOBIG"));
        } else {
            assert_eq!(got, Ok(()));
        }
    }
}

#[test]
fn text_that_is_not_utf8_is_refused() {
    let mut bytes = vector("17-query-endpoint.msgpack");
    // Append a "job" key whose value is one invalid UTF-8 byte.
    bytes[0] += 1;
    bytes.extend_from_slice(&[0xa3, b'j', b'o', b'b', 0xa1, 0xff]);
    assert_eq!(
        decode(&bytes, &Limits::default()).map_err(|e| e.name()),
        Err("EFIELD")
    );
}

#[test]
fn try_encode_refuses_what_the_decoder_refuses() {
    let bad = Samples {
        job: "wc".into(),
        duration_ms: 1000,
        op: vec![0],
        inst: vec![0],
        busy_ms: vec![f64::NAN],
        r#in: vec![1.0],
        out: vec![1.0],
        backlog: vec![0.0],
        ..Samples::default()
    };
    let err = try_encode(&Message::Samples(bad.clone()), &Limits::default()).unwrap_err();
    assert_eq!(err.name(), "EVALUE");
    let ragged = Samples {
        busy_ms: vec![1.0, 2.0],
        ..bad.clone()
    };
    assert_eq!(
        try_encode(&Message::Samples(ragged), &Limits::default())
            .unwrap_err()
            .name(),
        "EFIELD"
    );
    let negative_lag = Samples {
        busy_ms: vec![1.0],
        lag_ms: Some(-3.0),
        ..bad
    };
    assert_eq!(
        try_encode(&Message::Samples(negative_lag), &Limits::default())
            .unwrap_err()
            .name(),
        "EINVAL"
    );
}

// ---- seeded random messages -----------------------------------------------------------------

/// splitmix64: small, seeded, deterministic.
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
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
    fn coin(&mut self) -> bool {
        self.next() & 1 == 1
    }
    /// An integer spread over every encoding width.
    fn int(&mut self, max: u64) -> u64 {
        let bits = self.below(65) as u32;
        let v = if bits == 64 {
            self.next()
        } else {
            self.next() & ((1u64 << bits) - 1)
        };
        v.min(max)
    }
    fn u32(&mut self) -> u32 {
        self.int(u64::from(u32::MAX)) as u32
    }
    /// A finite, non-negative number of a few shapes (integers, fractions, tiny, huge, -0).
    fn metric(&mut self) -> f64 {
        match self.below(6) {
            0 => 0.0,
            1 => self.below(100_000) as f64,
            2 => self.below(1 << 20) as f64 / 1024.0,
            3 => f64::from_bits(self.next() >> 2).min(f64::MAX),
            4 => -0.0,
            _ => (self.next() >> 11) as f64 / (1u64 << 53) as f64,
        }
    }
    fn text(&mut self, min: usize, max: usize) -> String {
        const ALPHABET: &[char] = &['a', 'z', '0', '_', '-', ' ', '"', '\\', '\t', 'é', '✓', '/'];
        let len = min + self.below((max - min + 1) as u64) as usize;
        let mut s = String::new();
        while s.len() < len {
            let c = ALPHABET[self.below(ALPHABET.len() as u64) as usize];
            if s.len() + c.len_utf8() > max {
                break;
            }
            s.push(c);
        }
        while s.len() < min {
            s.push('x');
        }
        s
    }
    fn len(&mut self) -> usize {
        match self.below(4) {
            0 => 0,
            1 => 1 + self.below(15) as usize,
            2 => 16 + self.below(300) as usize,
            _ => 1 + self.below(4) as usize,
        }
    }
}

fn random_register(rng: &mut Rng) -> Register {
    let n = 1 + rng.below(40) as usize;
    let mut ids = BTreeSet::new();
    while ids.len() < n {
        ids.insert(rng.u32());
    }
    let ids: Vec<u32> = ids.into_iter().collect();
    let ops = ids
        .iter()
        .map(|&id| {
            let p_max = 1 + rng.below(4096) as u32;
            Operator {
                id,
                name: rng.text(0, 63),
                kind: OpKind::ALL[rng.below(OpKind::ALL.len() as u64) as usize],
                stateful: rng.coin(),
                selectivity: rng.metric().max(1e-9),
                rate: rng.metric(),
                p: 1 + rng.below(u64::from(p_max)) as u32,
                p_max,
            }
        })
        .collect();
    // Edges only from a lower to a higher position: acyclic by construction.
    let mut edges = Vec::new();
    let mut pairs = BTreeSet::new();
    for _ in 0..rng.below(3 * n as u64) {
        let a = rng.below(n as u64) as usize;
        let b = rng.below(n as u64) as usize;
        if a < b && pairs.insert((a, b)) {
            edges.push(Edge {
                from: ids[a],
                to: ids[b],
                partitioning: Partitioning::ALL[rng.below(4) as usize],
            });
        }
    }
    Register {
        job: rng.text(1, 128),
        id: rng.int(u64::MAX),
        senders: 1 + rng.below(2000) as u32,
        window_ms: rng.u32(),
        policy: rng.text(1, 63),
        policy_opts: (0..rng.below(33))
            .map(|_| (rng.text(1, 63), rng.metric()))
            .collect(),
        ops,
        edges,
    }
}

fn random_message(rng: &mut Rng) -> Message {
    match rng.below(9) {
        0 => Message::Hello(Hello {
            client: rng.text(0, 1023),
            versions: (0..1 + rng.below(8)).map(|_| rng.u32()).collect(),
        }),
        1 => Message::Welcome(Welcome {
            version: rng.u32(),
            server: rng.text(0, 1023),
            max_msg_bytes: rng.u32(),
            max_ops: rng.u32(),
            max_edges: rng.u32(),
            max_rows: rng.u32(),
            window_ms: rng.u32(),
        }),
        2 => Message::Register(random_register(rng)),
        3 => {
            let n = rng.len();
            Message::Samples(Samples {
                job: rng.text(1, 128),
                window: rng.int(u64::MAX),
                epoch: rng.int(u64::MAX),
                duration_ms: rng.u32().max(1),
                sender: rng.u32(),
                ack: rng.coin(),
                lag_ms: if rng.coin() { Some(rng.metric()) } else { None },
                op: (0..n).map(|_| rng.u32()).collect(),
                inst: (0..n).map(|_| rng.u32()).collect(),
                busy_ms: (0..n).map(|_| rng.metric()).collect(),
                r#in: (0..n).map(|_| rng.metric()).collect(),
                out: (0..n).map(|_| rng.metric()).collect(),
                backlog: (0..n).map(|_| rng.metric()).collect(),
                bp_ms: if rng.coin() {
                    Some((0..n).map(|_| rng.metric()).collect())
                } else {
                    None
                },
            })
        }
        4 => {
            let n = rng.len();
            Message::Decision(Decision {
                job: rng.text(1, 128),
                seq: rng.int(u64::MAX),
                epoch: rng.int(u64::MAX),
                op: (0..n).map(|_| rng.u32()).collect(),
                p: (0..n).map(|_| rng.u32()).collect(),
                prob: (0..n)
                    .map(|_| {
                        if rng.below(5) == 0 {
                            -1.0
                        } else {
                            rng.metric().min(1.0)
                        }
                    })
                    .collect(),
                reason: rng.text(0, 1023),
                policy: rng.text(0, 63),
            })
        }
        5 => {
            let of = [AckOf::Register, AckOf::Samples, AckOf::Decision][rng.below(3) as usize];
            let mut a = Ack {
                of,
                job: rng.text(1, 128),
                id: 0,
                window: 0,
                seq: 0,
                epoch: 0,
                hash: 0,
            };
            // Only the fields of its kind travel.
            match of {
                AckOf::Register => {
                    a.id = rng.int(u64::MAX);
                    a.hash = rng.next();
                }
                AckOf::Samples => a.window = rng.int(u64::MAX),
                AckOf::Decision => {
                    a.seq = rng.int(u64::MAX);
                    a.epoch = rng.int(u64::MAX);
                }
            }
            Message::Ack(a)
        }
        6 => Message::Query(Query {
            id: rng.int(u64::MAX),
            job: rng.text(0, 128),
        }),
        7 => Message::Status(Status {
            id: rng.int(u64::MAX),
            jobs: rng.int(u64::MAX),
            windows: rng.int(u64::MAX),
            decisions: rng.int(u64::MAX),
            uptime_ms: rng.int(u64::MAX),
            job: rng.text(0, 128),
            policy: rng.text(0, 63),
            last_window: rng.int(u64::MAX),
        }),
        _ => {
            let status = StatusCode::ALL[rng.below(StatusCode::ALL.len() as u64) as usize];
            Message::Error(ErrorMsg {
                code: status.code(),
                name: status.name().into(),
                message: rng.text(0, 1023),
                id: rng.int(u64::MAX),
                job: rng.text(0, 128),
            })
        }
    }
}

#[test]
fn seeded_random_messages_round_trip() {
    let mut rng = Rng(0x5354_4e5f_7072_6f74);
    let lim = Limits {
        max_rows: MAX_ROWS,
        ..Limits::default()
    };
    let mut seen = BTreeSet::new();
    for i in 0..3000 {
        let msg = random_message(&mut rng);
        seen.insert(msg.type_name());
        let bytes = encode(&msg);
        let back =
            decode(&bytes, &lim).unwrap_or_else(|e| panic!("message {}: {}: {:?}", i, e, msg));
        assert_eq!(back, msg, "message {} changed in a round trip", i);
        assert_eq!(encode(&back), bytes);
        assert_eq!(to_json(&back), to_json(&msg));
        assert_eq!(try_encode(&msg, &lim), Ok(bytes));
    }
    assert_eq!(seen.len(), 9);
}

#[test]
fn damaged_messages_never_panic_and_what_decodes_is_canonicalised() {
    let mut rng = Rng(20_261_125);
    let mut inputs: Vec<Vec<u8>> = msgpack_files("valid")
        .into_iter()
        .map(|(_, b)| b)
        .filter(|b| b.len() <= 4096)
        .collect();
    inputs.extend(
        (0..200)
            .map(|_| encode(&random_message(&mut rng)))
            .filter(|b| b.len() <= 4096),
    );
    let (mut accepted, mut refused) = (0, 0);
    for base in &inputs {
        for _ in 0..150 {
            let mut bytes = base.clone();
            for _ in 0..1 + rng.below(3) {
                let at = rng.below(bytes.len() as u64) as usize;
                let r = rng.next();
                match r % 4 {
                    0 => bytes[at] = (r >> 8) as u8,
                    1 => bytes[at] ^= 1 << ((r >> 8) % 8),
                    2 => bytes.truncate(at.max(1)),
                    _ => bytes.insert(at, (r >> 8) as u8),
                }
            }
            match decode(&bytes, &Limits::default()) {
                Ok(msg) => {
                    accepted += 1;
                    let canonical = encode(&msg);
                    let again = decode(&canonical, &Limits::default()).expect("canonical form");
                    assert_eq!(again, msg);
                    assert_eq!(encode(&again), canonical);
                }
                Err(e) => {
                    refused += 1;
                    assert!(!e.message().is_empty());
                    assert!(e.to_string().starts_with(e.name()));
                }
            }
        }
    }
    assert!(accepted > 100, "accepted {}", accepted);
    assert!(refused > 1000, "refused {}", refused);
}

#[test]
fn status_table_matches_the_c_header() {
    let header = fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugin/include/streamtune/streamtune.h"),
    )
    .expect("streamtune.h");
    let mut n = 0;
    for line in header.lines() {
        let line = line.trim();
        let Some(rest) = line.strip_prefix("X(") else {
            continue;
        };
        let mut parts = rest.splitn(3, ',');
        let (Some(name), Some(value)) = (parts.next(), parts.next()) else {
            continue;
        };
        let Ok(value) = value.trim().parse::<u32>() else {
            continue;
        };
        let name = name.trim();
        let status = StatusCode::from_code(value).expect("code known to Rust");
        assert_eq!(status.name(), name);
        assert_eq!(StatusCode::from_name(name), Some(status));
        n += 1;
    }
    assert_eq!(n, StatusCode::ALL.len());
}

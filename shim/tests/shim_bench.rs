//! `shim-bench --quick --json` runs both benchmarks and prints only well-formed figures: every
//! stdout line is a JSON object with `bench`, `metric`, `value` and `unit` first (the order of
//! `streamtune bench`), the value and every other number finite. Speeds are not asserted.
//! Also: a bad argument is refused with exit code 2 and a message.

use std::process::Command;

/// A JSON value, as far as the checks need it.
#[derive(Debug, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

/// A strict parser of one JSON text (RFC 8259), enough to reject anything malformed.
struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn parse(text: &str) -> Result<Json, String> {
        let mut p = Parser {
            s: text.as_bytes(),
            i: 0,
        };
        let v = p.value()?;
        p.ws();
        if p.i != p.s.len() {
            return Err(format!("trailing text at byte {}", p.i));
        }
        Ok(v)
    }

    fn ws(&mut self) {
        while self.i < self.s.len() && b" \t\r\n".contains(&self.s[self.i]) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> Result<(), String> {
        self.ws();
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            Ok(())
        } else {
            Err(format!("expected {:?} at byte {}", c as char, self.i))
        }
    }

    fn value(&mut self) -> Result<Json, String> {
        self.ws();
        match self.s.get(self.i) {
            Some(b'{') => {
                self.i += 1;
                let mut fields = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b'}') {
                    self.i += 1;
                    return Ok(Json::Obj(fields));
                }
                loop {
                    self.ws();
                    let key = self.string()?;
                    self.eat(b':')?;
                    fields.push((key, self.value()?));
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(Json::Obj(fields));
                        }
                        _ => return Err(format!("expected , or }} at byte {}", self.i)),
                    }
                }
            }
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b']') {
                    self.i += 1;
                    return Ok(Json::Arr(items));
                }
                loop {
                    items.push(self.value()?);
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(Json::Arr(items));
                        }
                        _ => return Err(format!("expected , or ] at byte {}", self.i)),
                    }
                }
            }
            Some(b'"') => Ok(Json::Str(self.string()?)),
            Some(b't') => self.word("true", Json::Bool(true)),
            Some(b'f') => self.word("false", Json::Bool(false)),
            Some(b'n') => self.word("null", Json::Null),
            Some(_) => self.number(),
            None => Err("unexpected end".into()),
        }
    }

    fn word(&mut self, w: &str, v: Json) -> Result<Json, String> {
        if self.s[self.i..].starts_with(w.as_bytes()) {
            self.i += w.len();
            Ok(v)
        } else {
            Err(format!("bad literal at byte {}", self.i))
        }
    }

    fn string(&mut self) -> Result<String, String> {
        if self.s.get(self.i) != Some(&b'"') {
            return Err(format!("expected a string at byte {}", self.i));
        }
        self.i += 1;
        let mut out = String::new();
        loop {
            let c = *self.s.get(self.i).ok_or("unterminated string")?;
            self.i += 1;
            match c {
                b'"' => return Ok(out),
                b'\\' => {
                    let e = *self.s.get(self.i).ok_or("unterminated escape")?;
                    self.i += 1;
                    match e {
                        b'"' | b'\\' | b'/' => out.push(e as char),
                        b'n' | b't' | b'r' | b'b' | b'f' => out.push(' '),
                        b'u' => {
                            let hex = self.s.get(self.i..self.i + 4).ok_or("short \\u escape")?;
                            let hex = std::str::from_utf8(hex).map_err(|e| e.to_string())?;
                            u32::from_str_radix(hex, 16).map_err(|e| e.to_string())?;
                            self.i += 4;
                            out.push('?');
                        }
                        _ => return Err(format!("bad escape at byte {}", self.i)),
                    }
                }
                c if c < 0x20 => return Err(format!("control character at byte {}", self.i)),
                c => out.push(c as char),
            }
        }
    }

    fn number(&mut self) -> Result<Json, String> {
        let start = self.i;
        let digits = |p: &mut Self| {
            let from = p.i;
            while p.i < p.s.len() && p.s[p.i].is_ascii_digit() {
                p.i += 1;
            }
            p.i > from
        };
        if self.s.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        let int_start = self.i;
        if !digits(self) {
            return Err(format!("bad value at byte {start}"));
        }
        if self.s[int_start] == b'0' && self.i - int_start > 1 {
            return Err(format!("leading zero at byte {start}"));
        }
        if self.s.get(self.i) == Some(&b'.') {
            self.i += 1;
            if !digits(self) {
                return Err(format!("bad fraction at byte {start}"));
            }
        }
        if matches!(self.s.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.s.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if !digits(self) {
                return Err(format!("bad exponent at byte {start}"));
            }
        }
        let text = std::str::from_utf8(&self.s[start..self.i]).map_err(|e| e.to_string())?;
        text.parse::<f64>()
            .map(Json::Num)
            .map_err(|e| e.to_string())
    }
}

#[test]
fn parser_accepts_json_and_rejects_the_rest() {
    let v = Parser::parse(r#"{"a":1.5e+06,"b":[true,null,"x\"y"],"c":-0.25}"#).unwrap();
    assert_eq!(
        v,
        Json::Obj(vec![
            ("a".into(), Json::Num(1.5e6)),
            (
                "b".into(),
                Json::Arr(vec![Json::Bool(true), Json::Null, Json::Str("x\"y".into())])
            ),
            ("c".into(), Json::Num(-0.25)),
        ])
    );
    for bad in [
        "{\"a\":nan}",
        "{\"a\":inf}",
        "{\"a\":1,}",
        "{\"a\" 1}",
        "{\"a\":01}",
        "{\"a\":1} x",
        "{\"a\":.5}",
    ] {
        assert!(Parser::parse(bad).is_err(), "{bad} parsed");
    }
}

#[test]
fn quick_json_lines_are_well_formed() {
    let out = Command::new(env!("CARGO_BIN_EXE_shim-bench"))
        .args(["--quick", "--json"])
        .output()
        .expect("shim-bench runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "shim-bench failed: {stderr}");
    let stdout = String::from_utf8(out.stdout).expect("UTF-8 output");
    let mut seen = Vec::new();
    for line in stdout.lines() {
        let Json::Obj(fields) = Parser::parse(line).unwrap_or_else(|e| panic!("{line}: {e}"))
        else {
            panic!("not an object: {line}");
        };
        let keys: Vec<&str> = fields.iter().take(4).map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["bench", "metric", "value", "unit"], "{line}");
        for (i, (key, v)) in fields.iter().enumerate() {
            match (i, v) {
                (0 | 1 | 3, Json::Str(s)) => assert!(!s.is_empty(), "{line}: empty {key}"),
                (0 | 1 | 3, _) => panic!("{line}: {key} is not a string"),
                (2, Json::Num(n)) => assert!(n.is_finite(), "{line}"),
                (2, _) => panic!("{line}: value is not a number"),
                (_, Json::Num(n)) => assert!(n.is_finite(), "{line}: {key}"),
                (_, Json::Null) => panic!("{line}: {key} is null"),
                _ => {}
            }
        }
        let field = |k: &str| fields.iter().find(|(key, _)| key == k).map(|(_, v)| v);
        if let (Some(Json::Str(b)), Some(Json::Str(m))) = (field("bench"), field("metric")) {
            seen.push(format!("{b}/{m}"));
        }
        if field("metric") == Some(&Json::Str("ratio".into())) {
            assert_eq!(field("target"), Some(&Json::Num(0.97)), "{line}");
            assert!(
                matches!(field("shim_attached"), Some(Json::Bool(_))),
                "{line}"
            );
        }
    }
    for expected in [
        "overhead/plain_records_per_s",
        "overhead/plain_binned_records_per_s",
        "overhead/tuned_records_per_s",
        "overhead/ratio",
        "overhead/ratio_vs_binned",
        "rescale_pause/steady_p99",
        "rescale_pause/switch_p50",
        "rescale_pause/switch_p99",
        "rescale_pause/switch_max",
    ] {
        assert!(
            seen.iter().any(|s| s == expected),
            "{expected} missing in:\n{stdout}"
        );
    }
}

#[test]
fn bad_arguments_are_refused() {
    for args in [&["--workers", "0"][..], &["--workers"], &["--bogus"]] {
        let out = Command::new(env!("CARGO_BIN_EXE_shim-bench"))
            .args(args)
            .output()
            .expect("shim-bench runs");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("shim-bench:"), "{args:?}: {stderr}");
    }
}

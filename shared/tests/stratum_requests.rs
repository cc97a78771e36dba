//! `parse_request`: one golden test per method, each error with its consequence, and the
//! no-panic property on random bytes, every truncation and every byte flip of real lines, deep
//! nesting, huge numbers and wrong types.

mod support;
use support::Rng;

use std::borrow::Cow;

use ironpool_shared::stratum::{
    parse_request, ConfigureRequest, FieldProblem, MinimumDifficultyRequest, ParamsError, Request,
    RequestError, RequestId, VersionRollingAnswer, VersionRollingRequest, CONFIGURE_UNKNOWN_MAX,
    USER_AGENT_BYTES_MAX,
};

fn ok(line: &str) -> Request<'_> {
    parse_request(line.as_bytes()).unwrap_or_else(|e| panic!("{line}: {e}"))
}

fn bad_params(line: &str) -> (String, &'static str, ParamsError) {
    match parse_request(line.as_bytes()) {
        Err(RequestError::BadParams { id, method, detail }) => {
            (id.as_json().to_owned(), method, detail)
        }
        other => panic!("{line}: expected bad params, got {other:?}"),
    }
}

fn field(index: usize, field: &'static str, problem: FieldProblem) -> ParamsError {
    ParamsError::Field {
        index,
        field,
        problem,
    }
}

#[test]
fn subscribe() {
    let Request::Subscribe {
        id,
        user_agent,
        session_id,
    } = ok(r#"{"id": 1, "method": "mining.subscribe", "params": ["cgminer/4.10.0", "deadbeef"]}"#)
    else {
        panic!("subscribe");
    };
    assert_eq!(id.as_json(), "1");
    assert_eq!(user_agent.as_deref(), Some("cgminer/4.10.0"));
    assert!(
        matches!(user_agent, Some(Cow::Borrowed(_))),
        "borrowed from the line"
    );
    assert_eq!(session_id.as_deref(), Some("deadbeef"));

    // No params, null params, an empty list, junk where nothing is needed: all plain subscribes.
    for line in [
        r#"{"id":2,"method":"mining.subscribe"}"#,
        r#"{"id":2,"method":"mining.subscribe","params":null}"#,
        r#"{"id":2,"method":"mining.subscribe","params":[]}"#,
        r#"{"id":2,"method":"mining.subscribe","params":{"a":1}}"#,
        r#"{"id":2,"method":"mining.subscribe","params":[null, 7]}"#,
    ] {
        assert_eq!(
            ok(line),
            Request::Subscribe {
                id: RequestId::from_raw(serde_json::from_str("2").unwrap()),
                user_agent: None,
                session_id: None
            },
            "{line}"
        );
    }

    // A long user agent is cut at a character boundary.
    let long = format!(
        r#"{{"id":3,"method":"mining.subscribe","params":["{}é"]}}"#,
        "a".repeat(USER_AGENT_BYTES_MAX - 1)
    );
    let Request::Subscribe { user_agent, .. } = ok(&long) else {
        panic!("subscribe");
    };
    assert_eq!(user_agent.unwrap().len(), USER_AGENT_BYTES_MAX - 1);
}

#[test]
fn authorize() {
    let Request::Authorize { id, user, password } =
        ok(r#"{"params": ["slush.miner1", "password"], "id": 2, "method": "mining.authorize"}"#)
    else {
        panic!("authorize");
    };
    assert_eq!((id.as_json(), &*user), ("2", "slush.miner1"));
    assert_eq!(password.as_deref(), Some("password"));

    // A password that is missing, null or not a string is tolerated (ViaBTC closed on these).
    for line in [
        r#"{"id":2,"method":"mining.authorize","params":["alice.rig1"]}"#,
        r#"{"id":2,"method":"mining.authorize","params":["alice.rig1",null]}"#,
        r#"{"id":2,"method":"mining.authorize","params":["alice.rig1",123]}"#,
        r#"{"id":2,"method":"mining.authorize","params":["alice.rig1",{"x":1}]}"#,
    ] {
        let Request::Authorize { user, password, .. } = ok(line) else {
            panic!("{line}");
        };
        assert_eq!((&*user, password), ("alice.rig1", None), "{line}");
    }
    // An escaped user name is unescaped (then owned).
    let Request::Authorize { user, .. } =
        ok(r#"{"id":2,"method":"mining.authorize","params":["al\u0069ce","x"]}"#)
    else {
        panic!("authorize");
    };
    assert_eq!(user, "alice");

    // The user is required and must be a string.
    assert_eq!(
        bad_params(r#"{"id":5,"method":"mining.authorize","params":[]}"#),
        (
            "5".into(),
            "mining.authorize",
            field(
                0,
                "user",
                FieldProblem::Type {
                    expected: "a string",
                    found: "nothing"
                }
            )
        )
    );
    assert_eq!(
        bad_params(r#"{"id":5,"method":"mining.authorize","params":[42,"x"]}"#).2,
        field(
            0,
            "user",
            FieldProblem::Type {
                expected: "a string",
                found: "a number"
            }
        )
    );
    assert_eq!(
        bad_params(r#"{"id":5,"method":"mining.authorize","params":"alice"}"#).2,
        ParamsError::NotArray { found: "a string" }
    );
}

#[test]
fn configure_as_in_bip310() {
    let Request::Configure { id, configure } = ok(
        r#"{"method": "mining.configure", "id": 1, "params": [["minimum-difficulty", "version-rolling"], {"minimum-difficulty.value": 2048, "version-rolling.mask": "1fffe000", "version-rolling.min-bit-count": 2}]}"#,
    ) else {
        panic!("configure");
    };
    assert_eq!(id.as_json(), "1");
    assert_eq!(
        configure,
        ConfigureRequest {
            version_rolling: Some(VersionRollingRequest {
                mask: 0x1fff_e000,
                min_bit_count: 2
            }),
            minimum_difficulty: Some(MinimumDifficultyRequest {
                value: Some(2048.0)
            }),
            subscribe_extranonce: false,
            unknown: vec![],
        }
    );
    // BIP310: the granted mask is the intersection with the pool's.
    let rolling = configure.version_rolling.unwrap();
    assert_eq!(
        rolling.negotiate(0x1800_0000),
        VersionRollingAnswer::Granted {
            mask: 0x1800_0000,
            meets_min_bit_count: true
        }
    );
    assert_eq!(
        rolling.negotiate(0x0000_2000),
        VersionRollingAnswer::Granted {
            mask: 0x0000_2000,
            meets_min_bit_count: false
        }
    );
    assert_eq!(
        rolling.negotiate(0xe000_0000),
        VersionRollingAnswer::Refused
    );
}

#[test]
fn configure_defaults_tolerance_and_unknown_extensions() {
    // No mask: BIP310's default ffffffff; no min-bit-count: 0; not-first version-rolling is fine
    // (ViaBTC answered only when it came first); unknown extensions are listed once each.
    let Request::Configure { configure, .. } = ok(
        r#"{"id":"c","method":"mining.configure","params":[["info","version-rolling","subscribe-extranonce","info",7,"minimum-difficulty"],{"info.hw-version":"x","minimum-difficulty.value":-1}]}"#,
    ) else {
        panic!("configure");
    };
    assert_eq!(
        configure.version_rolling,
        Some(VersionRollingRequest {
            mask: u32::MAX,
            min_bit_count: 0
        })
    );
    assert!(configure.subscribe_extranonce);
    assert_eq!(
        configure.minimum_difficulty,
        Some(MinimumDifficultyRequest { value: None }),
        "a negative minimum is answered false, not an error"
    );
    assert_eq!(configure.unknown, vec![Cow::Borrowed("info")]);

    // Only the parameters object missing or null: the extensions still count.
    for line in [
        r#"{"id":1,"method":"mining.configure","params":[["version-rolling"]]}"#,
        r#"{"id":1,"method":"mining.configure","params":[["version-rolling"],null]}"#,
    ] {
        let Request::Configure { configure, .. } = ok(line) else {
            panic!("{line}");
        };
        assert_eq!(configure.version_rolling.unwrap().mask, u32::MAX);
    }
    // min-bit-count as a string, and above 32, is read and capped.
    let Request::Configure { configure, .. } = ok(
        r#"{"id":1,"method":"mining.configure","params":[["version-rolling"],{"version-rolling.mask":"FFFFFFFF","version-rolling.min-bit-count":"40"}]}"#,
    ) else {
        panic!("configure");
    };
    assert_eq!(
        configure.version_rolling,
        Some(VersionRollingRequest {
            mask: u32::MAX,
            min_bit_count: 32
        })
    );
    // Unknown names are bounded.
    let many: Vec<String> = (0..50).map(|i| format!("\"x{i}\"")).collect();
    let line = format!(
        r#"{{"id":1,"method":"mining.configure","params":[[{}],{{}}]}}"#,
        many.join(",")
    );
    let Request::Configure { configure, .. } = ok(&line) else {
        panic!("configure");
    };
    assert_eq!(configure.unknown.len(), CONFIGURE_UNKNOWN_MAX);
}

#[test]
fn configure_errors() {
    let cases = [
        (
            r#"{"id":1,"method":"mining.configure","params":[]}"#,
            ParamsError::Count {
                expected: "2",
                found: 0,
            },
        ),
        (
            r#"{"id":1,"method":"mining.configure","params":["version-rolling",{}]}"#,
            field(
                0,
                "extensions",
                FieldProblem::Type {
                    expected: "an array of strings",
                    found: "a string",
                },
            ),
        ),
        (
            r#"{"id":1,"method":"mining.configure","params":[["version-rolling"],"1fffe000"]}"#,
            field(
                1,
                "extension parameters",
                FieldProblem::Type {
                    expected: "an object",
                    found: "a string",
                },
            ),
        ),
        (
            r#"{"id":1,"method":"mining.configure","params":[["version-rolling"],{"version-rolling.mask":"1fffe000","version-rolling.mask":"1"}]}"#,
            field(
                1,
                "extension parameters",
                FieldProblem::Type {
                    expected: "an object with unique keys",
                    found: "an object with a repeated key",
                },
            ),
        ),
        (
            r#"{"id":1,"method":"mining.configure","params":[["version-rolling"],{"version-rolling.mask":"1fffe0001"}]}"#,
            field(
                1,
                "version-rolling.mask",
                FieldProblem::HexLength {
                    expected: "1 to 8",
                    found: 9,
                },
            ),
        ),
        (
            r#"{"id":1,"method":"mining.configure","params":[["version-rolling"],{"version-rolling.mask":536862720}]}"#,
            field(
                1,
                "version-rolling.mask",
                FieldProblem::Type {
                    expected: "a hex string",
                    found: "a number",
                },
            ),
        ),
        (
            r#"{"id":1,"method":"mining.configure","params":[["version-rolling"],{"version-rolling.min-bit-count":-2}]}"#,
            field(
                1,
                "version-rolling.min-bit-count",
                FieldProblem::Range {
                    expected: "an integer from 0 to 32",
                    value: -2.0,
                },
            ),
        ),
    ];
    for (line, expected) in cases {
        assert_eq!(bad_params(line).2, expected, "{line}");
    }
}

#[test]
fn suggest_difficulty() {
    for (line, expected) in [
        (
            r#"{"id":4,"method":"mining.suggest_difficulty","params":[0.0001]}"#,
            0.0001,
        ),
        (
            r#"{"id":4,"method":"mining.suggest_difficulty","params":[512]}"#,
            512.0,
        ),
        (
            r#"{"id":4,"method":"mining.suggest_difficulty","params":["0.5"]}"#,
            0.5,
        ),
        (
            r#"{"id":4,"method":"mining.suggest_difficulty","params":[1e20]}"#,
            1e20,
        ),
    ] {
        let Request::SuggestDifficulty { id, difficulty } = ok(line) else {
            panic!("{line}");
        };
        assert_eq!((id.as_json(), difficulty), ("4", expected), "{line}");
    }
    let range = |value: f64| {
        field(
            0,
            "difficulty",
            FieldProblem::Range {
                expected: "a finite number above 0",
                value,
            },
        )
    };
    for (line, expected) in [
        (
            r#"{"id":4,"method":"mining.suggest_difficulty","params":[0]}"#,
            range(0.0),
        ),
        (
            r#"{"id":4,"method":"mining.suggest_difficulty","params":[-1]}"#,
            range(-1.0),
        ),
        (
            r#"{"id":4,"method":"mining.suggest_difficulty","params":[1e400]}"#,
            range(f64::INFINITY),
        ),
        (
            r#"{"id":4,"method":"mining.suggest_difficulty","params":["inf"]}"#,
            range(f64::INFINITY),
        ),
        (
            r#"{"id":4,"method":"mining.suggest_difficulty","params":[]}"#,
            ParamsError::Count {
                expected: "1",
                found: 0,
            },
        ),
        (
            r#"{"id":4,"method":"mining.suggest_difficulty","params":[true]}"#,
            field(
                0,
                "difficulty",
                FieldProblem::Type {
                    expected: "a number",
                    found: "a boolean",
                },
            ),
        ),
        (
            r#"{"id":4,"method":"mining.suggest_difficulty","params":["lots"]}"#,
            field(
                0,
                "difficulty",
                FieldProblem::Type {
                    expected: "a number",
                    found: "a string that is not one",
                },
            ),
        ),
    ] {
        assert_eq!(bad_params(line).2, expected, "{line}");
    }
    // NaN from a string is refused too (NaN != NaN, so check the variant).
    assert!(matches!(
        bad_params(r#"{"id":4,"method":"mining.suggest_difficulty","params":["NaN"]}"#).2,
        ParamsError::Field { problem: FieldProblem::Range { value, .. }, .. } if value.is_nan()
    ));
}

#[test]
fn extranonce_subscribe() {
    for line in [
        r#"{"id": 3, "method": "mining.extranonce.subscribe", "params": []}"#,
        r#"{"id": 3, "method": "mining.extranonce.subscribe"}"#,
        r#"{"id": 3, "method": "mining.extranonce.subscribe", "params": 5}"#,
    ] {
        assert_eq!(
            ok(line),
            Request::ExtranonceSubscribe {
                id: RequestId::from_raw(serde_json::from_str("3").unwrap())
            }
        );
    }
}

#[test]
fn submit_with_five_and_six_params() {
    let Request::Submit { id, submit } = ok(
        r#"{"params": ["slush.miner1", "bf", "00000001", "504e86ed", "b2957c02"], "id": 4, "method": "mining.submit"}"#,
    ) else {
        panic!("submit");
    };
    assert_eq!(id.as_json(), "4");
    assert_eq!(submit.worker, "slush.miner1");
    assert_eq!(submit.job_id, 0xbf);
    assert_eq!(submit.extranonce2.as_slice(), &[0, 0, 0, 1]);
    assert_eq!(
        (submit.ntime, submit.nonce, submit.version_bits),
        (0x504e_86ed, 0xb295_7c02, None)
    );

    let Request::Submit { submit, .. } = ok(
        r#"{"id":9,"method":"mining.submit","params":["w","FFFFFFFF","0011223344556677","504E86ED","B2957C02","1fffe000"]}"#,
    ) else {
        panic!("submit");
    };
    assert_eq!(submit.job_id, u32::MAX);
    assert_eq!(
        submit.extranonce2.as_slice(),
        &[0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77]
    );
    assert_eq!(submit.version_bits, Some(0x1fff_e000));
    // A null sixth parameter means no version bits; short version bits are read as a number.
    let Request::Submit { submit, .. } = ok(
        r#"{"id":9,"method":"mining.submit","params":["w","1","00","504e86ed","b2957c02",null]}"#,
    ) else {
        panic!("submit");
    };
    assert_eq!(submit.version_bits, None);
    let Request::Submit { submit, .. } = ok(
        r#"{"id":9,"method":"mining.submit","params":["w","1","00","504e86ed","b2957c02","2000"]}"#,
    ) else {
        panic!("submit");
    };
    assert_eq!(submit.version_bits, Some(0x2000));
}

#[test]
fn submit_errors_name_the_field() {
    let line = |params: &str| format!(r#"{{"id":7,"method":"mining.submit","params":[{params}]}}"#);
    let cases = [
        (
            line(r#""w","1","00","504e86ed""#),
            ParamsError::Count {
                expected: "5 or 6",
                found: 4,
            },
        ),
        (
            line(r#""w","1","00","504e86ed","b2957c02","0","x""#),
            ParamsError::Count {
                expected: "5 or 6",
                found: 7,
            },
        ),
        (
            line(r#"1,"1","00","504e86ed","b2957c02""#),
            field(
                0,
                "worker",
                FieldProblem::Type {
                    expected: "a string",
                    found: "a number",
                },
            ),
        ),
        (
            line(r#""w","xyz","00","504e86ed","b2957c02""#),
            field(1, "job_id", FieldProblem::HexDigit { offset: 0 }),
        ),
        (
            line(r#""w","123456789","00","504e86ed","b2957c02""#),
            field(
                1,
                "job_id",
                FieldProblem::HexLength {
                    expected: "1 to 8",
                    found: 9,
                },
            ),
        ),
        (
            line(r#""w",1,"00","504e86ed","b2957c02""#),
            field(
                1,
                "job_id",
                FieldProblem::Type {
                    expected: "a string",
                    found: "a number",
                },
            ),
        ),
        (
            line(r#""w","1","000","504e86ed","b2957c02""#),
            field(
                2,
                "extranonce2",
                FieldProblem::HexBytes {
                    bytes_max: 16,
                    digits: 3,
                },
            ),
        ),
        (
            line(&format!(
                r#""w","1","{}","504e86ed","b2957c02""#,
                "00".repeat(17)
            )),
            field(
                2,
                "extranonce2",
                FieldProblem::HexBytes {
                    bytes_max: 16,
                    digits: 34,
                },
            ),
        ),
        (
            line(r#""w","1","0g","504e86ed","b2957c02""#),
            field(2, "extranonce2", FieldProblem::HexDigit { offset: 1 }),
        ),
        (
            line(r#""w","1","00","504e86e","b2957c02""#),
            field(
                3,
                "ntime",
                FieldProblem::HexLength {
                    expected: "8",
                    found: 7,
                },
            ),
        ),
        (
            line(r#""w","1","00","504e86ed","b2957c0z""#),
            field(4, "nonce", FieldProblem::HexDigit { offset: 7 }),
        ),
        (
            line(r#""w","1","00","504e86ed","b2957c02",536862720"#),
            field(
                5,
                "version_bits",
                FieldProblem::Type {
                    expected: "a string",
                    found: "a number",
                },
            ),
        ),
        (
            line(r#""w","1","00","504e86ed","b2957c02","1fffe0000""#),
            field(
                5,
                "version_bits",
                FieldProblem::HexLength {
                    expected: "1 to 8",
                    found: 9,
                },
            ),
        ),
    ];
    for (text, expected) in cases {
        let (id, method, detail) = bad_params(&text);
        assert_eq!((id.as_str(), method), ("7", "mining.submit"), "{text}");
        assert_eq!(detail, expected, "{text}");
    }
}

#[test]
fn unknown_methods_are_requests_not_errors() {
    let Request::Unknown { id, method } =
        ok(r#"{"id":"x","method":"mining.get_transactions","params":["1"]}"#)
    else {
        panic!("unknown");
    };
    assert_eq!(
        (id.as_json(), &*method),
        (r#""x""#, "mining.get_transactions")
    );
    // Method names are case-sensitive.
    assert!(matches!(
        ok(r#"{"id":1,"method":"Mining.Submit","params":[]}"#),
        Request::Unknown { .. }
    ));
}

#[test]
fn ids_are_echoed_byte_for_byte() {
    for (line, id) in [
        (r#"{"id":17,"method":"x"}"#, "17"),
        (r#"{"id":"a\"b","method":"x"}"#, r#""a\"b""#),
        (r#"{"id":null,"method":"x"}"#, "null"),
        (r#"{"method":"x"}"#, "null"),
        (r#"{"id":1.50,"method":"x"}"#, "1.50"),
        (r#"{"id":1e400,"method":"x"}"#, "1e400"),
        (r#"{"id":-0,"method":"x"}"#, "-0"),
        (r#"{"id":[1, {"a" : 2}],"method":"x"}"#, r#"[1, {"a" : 2}]"#),
        (r#"{"method":"x","id":  99  }"#, "99"),
    ] {
        assert_eq!(ok(line).id().as_json(), id, "{line}");
    }
}

#[test]
fn not_json_is_abuse() {
    for line in [
        &b""[..],
        b"hello",
        b"{",
        b"{\"id\":1,\"method\":\"mining.subscribe\"",
        b"{\"id\":1,\"method\":\"x\"} trailing",
        b"{\"id\":1,\"method\":\"x\"}{\"id\":2,\"method\":\"x\"}",
        b"{\"id\":1,\"method\":\"\xff\"}",
        b"{'id':1}",
        b"\x00\x01\x02",
        b"GET / HTTP/1.1",
    ] {
        let err = parse_request(line).expect_err("not json");
        assert!(
            err.is_abuse(),
            "{:?}: {err:?}",
            String::from_utf8_lossy(line)
        );
        assert!(matches!(err, RequestError::NotJson { .. }));
        let mut out = Vec::new();
        assert!(!err.write_reply(&mut out));
        assert!(out.is_empty(), "no reply to abuse");
    }
}

#[test]
fn json_that_is_not_a_request_is_answered() {
    for (line, id, detail) in [
        ("[1,2,3]", "null", "expected one object with unique keys"),
        ("42", "null", "expected one object with unique keys"),
        (
            r#""mining.subscribe""#,
            "null",
            "expected one object with unique keys",
        ),
        (
            r#"{"id":1,"id":2,"method":"x"}"#,
            "null",
            "expected one object with unique keys",
        ),
        (
            r#"{"id":1,"method":"a","method":"b"}"#,
            "null",
            "expected one object with unique keys",
        ),
        (r#"{"id":5}"#, "5", "method is missing"),
        (
            r#"{"id":5,"method":["mining.submit"]}"#,
            "5",
            "method is not a string",
        ),
        (r#"{"id":5,"method":null}"#, "5", "method is not a string"),
    ] {
        let err = parse_request(line.as_bytes()).expect_err(line);
        assert!(!err.is_abuse(), "{line}");
        assert_eq!(
            err,
            RequestError::NotRequest {
                id: RequestId::from_raw(serde_json::from_str(id).unwrap()),
                detail
            },
            "{line}"
        );
        let mut out = Vec::new();
        assert!(err.write_reply(&mut out));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!(
                "{{\"id\":{id},\"result\":null,\"error\":[20,\"line is not a json-rpc request: {detail}\",null]}}\n"
            )
        );
    }
}

#[test]
fn bad_params_are_answered_with_error_20_and_the_id() {
    let err = parse_request(
        br#"{"id":"s1","method":"mining.submit","params":["w","1","00","504e86e","b2957c02"]}"#,
    )
    .expect_err("bad ntime");
    assert!(!err.is_abuse());
    let mut out = Vec::new();
    assert!(err.write_reply(&mut out));
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "{\"id\":\"s1\",\"result\":null,\"error\":[20,\"mining.submit: param 3 (ntime): expected 8 hex digits, got 7\",null]}\n"
    );
}

#[test]
fn other_keys_are_ignored_in_any_order() {
    let Request::Submit { id, submit } = ok(
        r#"{"jsonrpc":"2.0","params":["w","a","00ff","504e86ed","b2957c02"],"extra":{"deep":[[[1]]]},"method":"mining.submit","id":8}"#,
    ) else {
        panic!("submit");
    };
    assert_eq!((id.as_json(), submit.job_id), ("8", 0xa));
}

const REAL_LINES: [&str; 9] = [
    r#"{"id": 1, "method": "mining.subscribe", "params": ["bmminer/2.0.0", "01ab"]}"#,
    r#"{"id": 2, "method": "mining.authorize", "params": ["alice.rig1", "x"]}"#,
    r#"{"method": "mining.configure", "id": 3, "params": [["minimum-difficulty", "version-rolling", "subscribe-extranonce"], {"minimum-difficulty.value": 2048, "version-rolling.mask": "1fffe000", "version-rolling.min-bit-count": 2}]}"#,
    r#"{"id": 4, "method": "mining.suggest_difficulty", "params": [0.0001]}"#,
    r#"{"id": 5, "method": "mining.extranonce.subscribe", "params": []}"#,
    r#"{"params": ["alice.rig1", "bf", "0000000000000001", "504e86ed", "b2957c02", "1fffe000"], "id": 6, "method": "mining.submit"}"#,
    r#"{"id": 7, "method": "mining.get_transactions", "params": []}"#,
    r#"{"id":"\u0038","method":"mining.authorize","params":["\u00e9\ud83d\ude00", null]}"#,
    r#"{"id": [1,{"a":[2]}], "method": "client.get_version", "params": [[[]],{"x":{}}]}"#,
];

/// Parses without panicking, and checks the classification is self-consistent.
fn parse_any(line: &[u8]) {
    match parse_request(line) {
        Ok(request) => {
            let _ = request.id().as_json();
        }
        Err(err) => {
            let mut out = Vec::new();
            let replied = err.write_reply(&mut out);
            assert_eq!(replied, !err.is_abuse());
            if replied {
                assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1);
                // Valid JSON (IgnoredAny: an echoed 16,000-digit id is valid JSON that a Value
                // could not hold as a number).
                assert!(serde_json::from_slice::<serde::de::IgnoredAny>(&out).is_ok());
            }
        }
    }
}

#[test]
fn every_truncation_and_byte_flip_of_real_lines_is_handled() {
    for line in REAL_LINES {
        let bytes = line.as_bytes();
        assert!(parse_request(bytes).is_ok(), "{line}");
        for cut in 0..bytes.len() {
            parse_any(&bytes[..cut]);
            parse_any(&bytes[cut..]);
        }
        for i in 0..bytes.len() {
            for flip in [0x01, 0x20, 0x80, 0xff] {
                let mut b = bytes.to_vec();
                b[i] ^= flip;
                parse_any(&b);
            }
        }
    }
}

#[test]
fn random_bytes_and_random_json_shapes_never_panic() {
    let mut rng = Rng(42);
    // Random bytes.
    for _ in 0..20_000 {
        let len = rng.below(64);
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        parse_any(&bytes);
    }
    // Random splices of JSON tokens: far more lines that get deep into the parser.
    let tokens = [
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "\"id\"",
        "\"method\"",
        "\"params\"",
        "\"mining.submit\"",
        "\"mining.configure\"",
        "\"mining.authorize\"",
        "\"mining.suggest_difficulty\"",
        "\"mining.subscribe\"",
        "\"version-rolling\"",
        "\"version-rolling.mask\"",
        "\"minimum-difficulty.value\"",
        "null",
        "true",
        "1",
        "-1",
        "0.0001",
        "1e400",
        "18446744073709551616",
        "\"504e86ed\"",
        "\"zz\"",
        "\"\"",
        "\"\\u0000\"",
        "\"\\ud800\"",
    ];
    for _ in 0..50_000 {
        let n = 1 + rng.below(24);
        let line: String = (0..n).map(|_| tokens[rng.below(tokens.len())]).collect();
        parse_any(line.as_bytes());
    }
    // Random params for every known method.
    let values = [
        "null",
        "true",
        "0",
        "-5",
        "1e400",
        "0.5",
        "\"\"",
        "\"ff\"",
        "\"504e86ed\"",
        "\"0000000000000000000000000000000000\"",
        "[]",
        "[[\"version-rolling\"]]",
        "{}",
        "{\"version-rolling.mask\":\"zz\"}",
        "\"\\u00e9\"",
    ];
    let methods = [
        "mining.subscribe",
        "mining.authorize",
        "mining.configure",
        "mining.suggest_difficulty",
        "mining.extranonce.subscribe",
        "mining.submit",
    ];
    for _ in 0..50_000 {
        let n = rng.below(10);
        let params: Vec<&str> = (0..n).map(|_| values[rng.below(values.len())]).collect();
        let line = format!(
            r#"{{"id":{},"method":"{}","params":[{}]}}"#,
            rng.below(100),
            methods[rng.below(methods.len())],
            params.join(",")
        );
        match parse_request(line.as_bytes()) {
            Ok(_) | Err(RequestError::BadParams { .. }) => {}
            Err(e) => panic!("{line}: a known method with any params is a request: {e:?}"),
        }
    }
}

#[test]
fn deep_nesting_and_huge_values_within_a_line_are_handled() {
    let limit = 16 * 1024;
    for open in ["[", "{\"a\":"] {
        let deep = open.repeat(limit / open.len());
        parse_any(deep.as_bytes());
        let wrapped = format!(r#"{{"id":{deep},"method":"x"}}"#);
        parse_any(wrapped.as_bytes());
        let in_params = format!(r#"{{"id":1,"method":"mining.submit","params":[{deep}]}}"#);
        parse_any(in_params.as_bytes());
    }
    // Deep but valid nesting in an ignored key and in params is skipped, not recursed into.
    let nested = format!("{}{}", "[".repeat(2000), "]".repeat(2000));
    let line =
        format!(r#"{{"id":1,"method":"mining.subscribe","params":[{nested}],"x":{nested}}}"#);
    assert!(matches!(ok(&line), Request::Subscribe { .. }));
    let huge = "9".repeat(limit - 100);
    parse_any(
        format!(r#"{{"id":{huge},"method":"mining.suggest_difficulty","params":[{huge}]}}"#)
            .as_bytes(),
    );
    let many = vec!["1"; 5000].join(",");
    let line = format!(r#"{{"id":1,"method":"mining.submit","params":[{many}]}}"#);
    let err = parse_request(line.as_bytes()).expect_err("too many");
    assert!(matches!(
        err,
        RequestError::BadParams {
            detail: ParamsError::Count { found: 5000, .. },
            ..
        }
    ));
}

/// Rough cost of parsing a submit, next to serde_json into a borrowed struct with no checks at
/// all (run with `--release -- --ignored --nocapture`).
#[test]
#[ignore = "timing, not a check"]
fn submit_parse_cost() {
    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Plain<'a> {
        #[serde(borrow)]
        id: &'a serde_json::value::RawValue,
        method: &'a str,
        #[serde(borrow)]
        params: (&'a str, &'a str, &'a str, &'a str, &'a str, &'a str),
    }
    let line = br#"{"params": ["alice.rig1", "bf", "0000000000000001", "504e86ed", "b2957c02", "1fffe000"], "id": 6, "method": "mining.submit"}"#;
    let rounds = 1_000_000;
    for _ in 0..3 {
        let start = std::time::Instant::now();
        for _ in 0..rounds {
            std::hint::black_box(parse_request(std::hint::black_box(line)).is_ok());
        }
        let ours = start.elapsed().as_nanos() as f64 / f64::from(rounds);
        let start = std::time::Instant::now();
        for _ in 0..rounds {
            std::hint::black_box(
                serde_json::from_slice::<Plain<'_>>(std::hint::black_box(line)).is_ok(),
            );
        }
        let plain = start.elapsed().as_nanos() as f64 / f64::from(rounds);
        println!("mining.submit: parse_request {ours:.0} ns, plain borrowed struct {plain:.0} ns");
    }
}

//! Golden bytes of every reply and server message: one test per reply shape, per error code, and
//! per server-initiated method. Each line is also checked to be one line of valid JSON.

use std::borrow::Cow;

use ironpool_shared::stratum::{
    configure_reply, reconnect_line, reply_error, reply_error_default, reply_result_raw,
    reply_true, set_difficulty_line, set_extranonce_line, set_version_mask_line, subscribe_reply,
    ConfigureAnswer, DifficultyOutOfRange, RequestId, StratumError, VersionRollingAnswer,
};
use serde_json::value::RawValue;

fn id(json: &str) -> RequestId<'_> {
    let raw: &RawValue = serde_json::from_str(json).expect("valid id");
    RequestId::from_raw(raw)
}

fn text(out: Vec<u8>) -> String {
    assert_eq!(
        out.iter().filter(|&&b| b == b'\n').count(),
        1,
        "exactly one line"
    );
    assert_eq!(out.last(), Some(&b'\n'));
    let _: serde_json::Value = serde_json::from_slice(&out).expect("valid json");
    String::from_utf8(out).expect("utf-8")
}

fn written(f: impl FnOnce(&mut Vec<u8>)) -> String {
    let mut out = Vec::new();
    f(&mut out);
    text(out)
}

#[test]
fn reply_true_echoes_any_id() {
    for (raw, expected) in [
        ("1", "{\"id\":1,\"result\":true,\"error\":null}\n"),
        (
            "\"abc\"",
            "{\"id\":\"abc\",\"result\":true,\"error\":null}\n",
        ),
        ("null", "{\"id\":null,\"result\":true,\"error\":null}\n"),
        ("1.50", "{\"id\":1.50,\"result\":true,\"error\":null}\n"),
    ] {
        assert_eq!(written(|out| reply_true(out, id(raw))), expected);
    }
    assert_eq!(
        written(|out| reply_true(out, RequestId::NULL)),
        "{\"id\":null,\"result\":true,\"error\":null}\n"
    );
}

#[test]
fn replies_append_to_the_write_buffer() {
    let mut out = b"pending\n".to_vec();
    reply_true(&mut out, id("1"));
    reply_true(&mut out, id("2"));
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "pending\n{\"id\":1,\"result\":true,\"error\":null}\n{\"id\":2,\"result\":true,\"error\":null}\n"
    );
}

#[test]
fn reply_result_raw_inserts_the_result() {
    assert_eq!(
        written(|out| reply_result_raw(out, id("7"), "[]")),
        "{\"id\":7,\"result\":[],\"error\":null}\n"
    );
    assert_eq!(
        written(|out| reply_result_raw(out, id("7"), "false")),
        "{\"id\":7,\"result\":false,\"error\":null}\n"
    );
}

#[test]
fn error_20_other() {
    assert_eq!(
        written(|out| reply_error_default(out, id("3"), StratumError::Other)),
        "{\"id\":3,\"result\":null,\"error\":[20,\"Other/Unknown\",null]}\n"
    );
    assert_eq!(
        written(|out| reply_error(
            out,
            id("3"),
            StratumError::Other,
            "unknown method mining.foo"
        )),
        "{\"id\":3,\"result\":null,\"error\":[20,\"unknown method mining.foo\",null]}\n"
    );
}

#[test]
fn error_21_job_not_found() {
    assert_eq!(
        written(|out| reply_error_default(out, id("4"), StratumError::JobNotFound)),
        "{\"id\":4,\"result\":null,\"error\":[21,\"Job not found\",null]}\n"
    );
}

#[test]
fn error_22_duplicate() {
    assert_eq!(
        written(|out| reply_error_default(out, id("4"), StratumError::Duplicate)),
        "{\"id\":4,\"result\":null,\"error\":[22,\"Duplicate share\",null]}\n"
    );
}

#[test]
fn error_23_low_difficulty() {
    assert_eq!(
        written(|out| reply_error_default(out, id("4"), StratumError::LowDifficulty)),
        "{\"id\":4,\"result\":null,\"error\":[23,\"Low difficulty share\",null]}\n"
    );
}

#[test]
fn error_24_unauthorized() {
    assert_eq!(
        written(|out| reply_error_default(out, id("\"a\""), StratumError::Unauthorized)),
        "{\"id\":\"a\",\"result\":null,\"error\":[24,\"Unauthorized worker\",null]}\n"
    );
}

#[test]
fn error_25_not_subscribed() {
    assert_eq!(
        written(|out| reply_error_default(out, RequestId::NULL, StratumError::NotSubscribed)),
        "{\"id\":null,\"result\":null,\"error\":[25,\"Not subscribed\",null]}\n"
    );
}

#[test]
fn error_messages_are_json_escaped() {
    assert_eq!(
        written(|out| reply_error(out, id("1"), StratumError::Other, "bad \"user\"\n\\ \u{0}")),
        "{\"id\":1,\"result\":null,\"error\":[20,\"bad \\\"user\\\"\\n\\\\ \\u0000\",null]}\n"
    );
}

#[test]
fn ids_with_line_breaks_between_tokens_stay_on_one_line() {
    let raw: &RawValue = serde_json::from_str("[1,\n2]").unwrap();
    assert_eq!(
        written(|out| reply_true(out, RequestId::from_raw(raw))),
        "{\"id\":[1,2],\"result\":true,\"error\":null}\n"
    );
}

#[test]
fn subscribe_result() {
    assert_eq!(
        written(|out| subscribe_reply(out, id("1"), "ae6812eb4cd7735a", &[0x08, 0x00, 0x00, 0x02], 8)),
        "{\"id\":1,\"result\":[[[\"mining.set_difficulty\",\"ae6812eb4cd7735a\"],[\"mining.notify\",\"ae6812eb4cd7735a\"]],\"08000002\",8],\"error\":null}\n"
    );
}

#[test]
fn configure_result_as_in_bip310() {
    // The BIP's own example result.
    assert_eq!(
        written(|out| configure_reply(
            out,
            id("1"),
            &ConfigureAnswer {
                version_rolling: Some(VersionRollingAnswer::Granted {
                    mask: 0x1800_0000,
                    meets_min_bit_count: true
                }),
                minimum_difficulty: Some(true),
                ..ConfigureAnswer::default()
            }
        )),
        "{\"id\":1,\"result\":{\"version-rolling\":true,\"version-rolling.mask\":\"18000000\",\"minimum-difficulty\":true},\"error\":null}\n"
    );
    // Refused and unknown extensions are `false`; every asked extension is answered.
    let unknown = [Cow::Borrowed("info"), Cow::Owned("x\"y".to_owned())];
    assert_eq!(
        written(|out| configure_reply(
            out,
            id("2"),
            &ConfigureAnswer {
                version_rolling: Some(VersionRollingAnswer::Refused),
                minimum_difficulty: Some(false),
                subscribe_extranonce: Some(true),
                unknown: &unknown,
            }
        )),
        "{\"id\":2,\"result\":{\"version-rolling\":false,\"minimum-difficulty\":false,\"subscribe-extranonce\":true,\"info\":false,\"x\\\"y\":false},\"error\":null}\n"
    );
    // Nothing asked: an empty object.
    assert_eq!(
        written(|out| configure_reply(out, id("3"), &ConfigureAnswer::default())),
        "{\"id\":3,\"result\":{},\"error\":null}\n"
    );
}

#[test]
fn set_difficulty_is_a_short_positional_decimal() {
    for (difficulty, number) in [
        (1.0, "1"),
        (0.001, "0.001"),
        (0.0001, "0.0001"),
        (65536.0, "65536"),
        (1e-7, "0.0000001"),
        (123_000.0, "123000"),
        (0.5, "0.5"),
        (1e15, "1000000000000000"),
        (1e-9, "0.000000001"),
    ] {
        assert_eq!(
            written(|out| set_difficulty_line(out, difficulty).expect("in range")),
            format!("{{\"id\":null,\"method\":\"mining.set_difficulty\",\"params\":[{number}]}}\n")
        );
    }
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e16, 1e-10] {
        let mut out = Vec::new();
        let err = set_difficulty_line(&mut out, bad).expect_err("out of range");
        assert!(out.is_empty(), "nothing written for {bad}");
        assert!(matches!(err, DifficultyOutOfRange { .. }));
    }
}

#[test]
fn set_version_mask() {
    assert_eq!(
        written(|out| set_version_mask_line(out, 0x1fff_e000)),
        "{\"id\":null,\"method\":\"mining.set_version_mask\",\"params\":[\"1fffe000\"]}\n"
    );
    assert_eq!(
        written(|out| set_version_mask_line(out, 0x3000)),
        "{\"id\":null,\"method\":\"mining.set_version_mask\",\"params\":[\"00003000\"]}\n"
    );
}

#[test]
fn set_extranonce() {
    assert_eq!(
        written(|out| set_extranonce_line(out, &[0xab, 0x01, 0x00, 0xff], 8)),
        "{\"id\":null,\"method\":\"mining.set_extranonce\",\"params\":[\"ab0100ff\",8]}\n"
    );
}

#[test]
fn client_reconnect() {
    assert_eq!(
        written(|out| reconnect_line(out, "pool.example.com", 3333, 5)),
        "{\"id\":null,\"method\":\"client.reconnect\",\"params\":[\"pool.example.com\",3333,5]}\n"
    );
    assert_eq!(
        written(|out| reconnect_line(out, "::1", 0, 0)),
        "{\"id\":null,\"method\":\"client.reconnect\",\"params\":[\"::1\",0,0]}\n"
    );
}

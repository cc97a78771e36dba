//! `WorkerName` under the default rules and configured ones: every rule, its exact error, and
//! Bitcoin addresses as user names.

use ironpool_shared::stratum::{
    CharSet, WorkerName, WorkerNameError, WorkerNameRules, DEFAULT_WORKER, USER_BYTES_MAX,
};

fn parse(account: &str) -> Result<(String, String), WorkerNameError> {
    WorkerName::parse(account, &WorkerNameRules::default())
        .map(|n| (n.user().to_owned(), n.worker().to_owned()))
}

fn pair(user: &str, worker: &str) -> Result<(String, String), WorkerNameError> {
    Ok((user.to_owned(), worker.to_owned()))
}

#[test]
fn splits_at_the_first_dot_and_defaults_the_worker() {
    assert_eq!(parse("alice.rig1"), pair("alice", "rig1"));
    assert_eq!(parse("alice.rig.1"), pair("alice", "rig.1"));
    assert_eq!(parse("alice"), pair("alice", DEFAULT_WORKER));
    assert_eq!(parse("alice."), pair("alice", "default"));
    assert_eq!(parse("  alice.rig1\t"), pair("alice", "rig1"));
    assert_eq!(parse("Alice_B-2.S19_01-a"), pair("Alice_B-2", "S19_01-a"));
    // `_` is part of the user, not a separator, by default.
    assert_eq!(parse("alice_rig1"), pair("alice_rig1", "default"));
}

#[test]
fn bitcoin_addresses_are_users() {
    for address in [
        "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
        "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy",
        "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
        "bc1p5d7rjq7g6rdk2yhzks9smlaqtedr4dekq08ge8ztwac72sfr9rusxg3297",
        "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080",
    ] {
        assert_eq!(parse(&format!("{address}.bitaxe")), pair(address, "bitaxe"));
        assert_eq!(parse(address), pair(address, "default"));
    }
}

#[test]
fn each_rule_has_its_error() {
    let rules = WorkerNameRules::default();
    assert_eq!(parse(""), Err(WorkerNameError::EmptyUser));
    assert_eq!(parse("   "), Err(WorkerNameError::EmptyUser));
    assert_eq!(parse(".rig1"), Err(WorkerNameError::EmptyUser));
    assert_eq!(
        parse(&"a".repeat(65)),
        Err(WorkerNameError::UserTooLong { len: 65, max: 64 })
    );
    assert_eq!(parse(&"a".repeat(64)), pair(&"a".repeat(64), "default"));
    assert_eq!(
        parse(&format!("alice.{}", "w".repeat(65))),
        Err(WorkerNameError::WorkerTooLong { len: 65, max: 64 })
    );
    assert_eq!(
        parse("al ice.rig"),
        Err(WorkerNameError::UserChar {
            offset: 2,
            found: ' ',
            allowed: rules.user_chars
        })
    );
    assert_eq!(
        parse("alicé.rig"),
        Err(WorkerNameError::UserChar {
            offset: 4,
            found: 'é',
            allowed: rules.user_chars
        })
    );
    assert_eq!(
        parse("alice.rig/1"),
        Err(WorkerNameError::WorkerChar {
            offset: 9,
            found: '/',
            allowed: rules.worker_chars
        })
    );
    assert_eq!(
        parse("alice.rig/1").unwrap_err().to_string(),
        "worker name has '/' at byte 9; allowed: [-.0-9A-Z_a-z]"
    );
    assert_eq!(
        parse("a:b").unwrap_err().to_string(),
        "user name has ':' at byte 1; allowed: [-0-9A-Z_a-z]"
    );
}

#[test]
fn configured_rules_change_charset_lengths_separators_and_default() {
    let rules = WorkerNameRules {
        user_chars: CharSet::from_spec("a-z0-9").unwrap(),
        worker_chars: CharSet::from_spec("a-z0-9").unwrap(),
        separators: CharSet::from_spec("._").unwrap(),
        user_bytes_max: 8,
        worker_bytes_max: 4,
        default_worker: "w0".to_owned(),
    };
    assert_eq!(rules.validate(), Ok(()));
    let parse = |s: &str| {
        WorkerName::parse(s, &rules).map(|n| (n.user().to_owned(), n.worker().to_owned()))
    };
    assert_eq!(parse("alice_rig1"), pair("alice", "rig1"));
    assert_eq!(parse("alice"), pair("alice", "w0"));
    assert_eq!(
        parse("Alice"),
        Err(WorkerNameError::UserChar {
            offset: 0,
            found: 'A',
            allowed: rules.user_chars
        })
    );
    assert_eq!(
        parse("alicebob1"),
        Err(WorkerNameError::UserTooLong { len: 9, max: 8 })
    );
    assert_eq!(
        parse("alice.rig12"),
        Err(WorkerNameError::WorkerTooLong { len: 5, max: 4 })
    );
    // With `_` as a separator, a second separator lands in the worker and is refused there.
    assert!(matches!(
        parse("a_b_c"),
        Err(WorkerNameError::WorkerChar { found: '_', .. })
    ));
}

#[test]
fn rules_are_validated() {
    let ok = WorkerNameRules::default();
    assert_eq!(ok.validate(), Ok(()));
    let key = |rules: WorkerNameRules| rules.validate().unwrap_err().0;
    assert_eq!(
        key(WorkerNameRules {
            user_bytes_max: 0,
            ..ok.clone()
        }),
        "user_bytes_max"
    );
    assert_eq!(
        key(WorkerNameRules {
            user_bytes_max: USER_BYTES_MAX + 1,
            ..ok.clone()
        }),
        "user_bytes_max"
    );
    assert_eq!(
        key(WorkerNameRules {
            worker_bytes_max: 65,
            ..ok.clone()
        }),
        "worker_bytes_max"
    );
    assert_eq!(
        key(WorkerNameRules {
            separators: CharSet::EMPTY,
            ..ok.clone()
        }),
        "separators"
    );
    assert_eq!(
        key(WorkerNameRules {
            user_chars: CharSet::EMPTY.with_bytes(b"."),
            ..ok.clone()
        }),
        "user_chars"
    );
    assert_eq!(
        key(WorkerNameRules {
            default_worker: "no spaces".to_owned(),
            ..ok.clone()
        }),
        "default_worker"
    );
    assert_eq!(
        key(WorkerNameRules {
            default_worker: String::new(),
            ..ok
        }),
        "default_worker"
    );
}

#[test]
fn charsets_from_configuration_text() {
    let set = CharSet::from_spec("a-c_-").unwrap();
    assert!(set.contains(b'a') && set.contains(b'c') && set.contains(b'_') && set.contains(b'-'));
    assert!(!set.contains(b'd') && !set.contains(b'A'));
    assert_eq!(set.to_string(), "-_a-c");
    assert_eq!(CharSet::from_spec("a b"), Err(' '));
    assert_eq!(CharSet::from_spec("é"), Err('é'));
    assert_eq!(CharSet::ALPHANUMERIC.to_string(), "0-9A-Za-z");
    assert!(!CharSet::ALPHANUMERIC.contains(200));
}

#[test]
fn names_never_allocate_and_round_trip_through_display() {
    let name = WorkerName::parse("alice.rig1", &WorkerNameRules::default()).unwrap();
    assert_eq!(name.to_string(), "alice.rig1");
    assert!(std::mem::size_of::<WorkerName>() <= 2 * 64 + 2);
}

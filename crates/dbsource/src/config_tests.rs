//! Unit tests of configuration parsing, validation and redaction.

use super::*;

fn pg(url: &str) -> DbSource {
    DbSource {
        kind: DbKind::Postgres,
        name: "appdb".into(),
        url: Some(url.into()),
        path: None,
        password_file: None,
        bin_dir: None,
    }
}

#[test]
fn parses_a_full_postgres_url() {
    let conn = pg("postgresql://bob:s%40cret@db.example:6543/app?sslmode=require")
        .resolve()
        .expect("valid");
    let e = conn.endpoint.expect("endpoint");
    assert_eq!(e.host.as_deref(), Some("db.example"));
    assert_eq!(e.port, Some(6543));
    assert_eq!(e.user.as_deref(), Some("bob"));
    assert_eq!(e.password.as_deref(), Some("s@cret"));
    assert_eq!(e.database, "app");
    assert_eq!(e.params, vec![("PGSSLMODE", "require".to_owned())]);
    assert_eq!(
        conn.secrets.scrub("x s@cret s%40cret"),
        "x ******** ********"
    );
}

#[test]
fn parses_ipv6_and_socket_hosts() {
    let e = pg("postgres://u@[::1]:5432/app")
        .resolve()
        .expect("v6")
        .endpoint;
    assert_eq!(e.expect("e").host.as_deref(), Some("::1"));
    let e = pg("postgres://u@%2Fvar%2Frun%2Fpostgresql/app")
        .resolve()
        .expect("socket");
    assert_eq!(
        e.endpoint.expect("e").host.as_deref(),
        Some("/var/run/postgresql")
    );
}

#[test]
fn refuses_bad_configurations_clearly() {
    let cases: Vec<(DbSource, &str)> = vec![
        (pg("mysql://u@h/app"), "does not fit kind postgres"),
        (pg("postgres://u@h:99999/app"), "port is not a number"),
        (pg("postgres://u:pw@h/"), "no database name"),
        (
            pg("postgres://u@h/app?foo=1"),
            "unsupported parameter \"foo\"",
        ),
        (pg("postgres://u@h/a;b"), "database name must be"),
        (
            DbSource {
                name: "a b".into(),
                ..pg("postgres://u@h/app")
            },
            "name must be",
        ),
        (
            DbSource {
                url: None,
                ..pg("x")
            },
            "needs `url`",
        ),
        (
            DbSource {
                path: Some("/x".into()),
                ..pg("postgres://u@h/app")
            },
            "takes `url`, not `path`",
        ),
        (
            DbSource {
                kind: DbKind::Sqlite,
                path: Some("/x.db".into()),
                ..pg("x")
            },
            "takes `path` only",
        ),
        (
            DbSource {
                kind: DbKind::Sqlite,
                url: None,
                ..pg("x")
            },
            "needs `path`",
        ),
    ];
    for (source, want) in cases {
        let err = source.validate().expect_err(want).to_string();
        assert!(err.contains(want), "{err:?} should contain {want:?}");
        assert!(!err.contains("pw@"), "{err}");
    }
}

#[test]
fn debug_and_display_never_show_the_password() {
    let s = pg("postgres://bob:hunter2@h:5432/app");
    for text in [format!("{s:?}"), s.to_string()] {
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("bob:****@h:5432/app"), "{text}");
    }
    assert_eq!(redact_url("mysql://root@h/app"), "mysql://root@h/app");
}

#[test]
fn password_file_comes_second_and_is_secret() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("pw");
    std::fs::write(&file, "from-file\n").expect("write");
    let with_file = DbSource {
        password_file: Some(file.clone()),
        ..pg("postgres://u@h/app")
    };
    let conn = with_file.resolve().expect("ok");
    assert_eq!(
        conn.endpoint.expect("e").password.as_deref(),
        Some("from-file")
    );
    assert_eq!(conn.secrets.scrub("from-file"), "********");
    let url_wins = DbSource {
        password_file: Some(file),
        ..pg("postgres://u:inurl@h/app")
    };
    let e = url_wins.resolve().expect("ok").endpoint.expect("e");
    assert_eq!(e.password.as_deref(), Some("inurl"));
    let missing = DbSource {
        password_file: Some(dir.path().join("nope")),
        ..pg("postgres://u@h/app")
    };
    assert!(matches!(
        missing.validate(),
        Err(DbError::PasswordFile { .. })
    ));
}

#[test]
fn deserializes_from_toml_like_json() {
    let s: DbSource = serde_json::from_str(
        r#"{"kind":"mysql","name":"docspace","url":"mysql://root@127.0.0.1:3306/app"}"#,
    )
    .expect("parse");
    assert_eq!(s.kind, DbKind::Mysql);
    assert_eq!(s.database().expect("ok").as_deref(), Some("app"));
    let bad = serde_json::from_str::<DbSource>(r#"{"kind":"oracle","name":"x"}"#);
    assert!(bad.is_err());
}

//! Crash tests of the MySQL switch against the real MariaDB (127.0.0.1:3306, root): the swap
//! is cut after each of its steps and `recover` must finish it or undo it. Skipped when the
//! server does not answer, unless `CI` is set.

use super::*;
use crate::config::{DbKind, DbSource};

fn conn(live: &str) -> Conn {
    let source = DbSource {
        kind: DbKind::Mysql,
        name: "unit".into(),
        url: Some(format!("mysql://root@127.0.0.1:3306/{live}")),
        path: None,
        password_file: None,
        bin_dir: None,
    };
    source.resolve().expect("valid source")
}

fn server_up() -> bool {
    let up = run_sql(&conn("mysql"), None, "SELECT 1;").is_ok();
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    assert!(
        up || !ci,
        "MariaDB at 127.0.0.1:3306 is not answering and CI is set"
    );
    up
}

/// With `//` as the delimiter: the procedure's body holds `;`; view `av` builds on `v` and
/// sorts before it.
const OBJECTS: &str = "CREATE TABLE t (id int PRIMARY KEY)// CREATE TABLE log (id int)//
CREATE TRIGGER t_log AFTER INSERT ON t FOR EACH ROW INSERT INTO log VALUES (NEW.id)//
CREATE VIEW v AS SELECT COUNT(*) AS n FROM t// CREATE VIEW av AS SELECT n * 2 AS m FROM v//
CREATE PROCEDURE p() BEGIN INSERT INTO t SELECT MAX(id) + 1 FROM t; SELECT 1; END//";

/// `live` with rows 1, 2 and `staged` with rows 10, 20, 30, the same objects in each.
fn setup(c: &Conn, state: &SwitchState) {
    for (schema, rows) in [
        (&state.live, "(1), (2)"),
        (&state.staged, "(10), (20), (30)"),
    ] {
        run_sql(c, None, &format!("CREATE DATABASE {};", ident(schema))).expect("create");
        let sql = format!(
            "DELIMITER //\n{}//\nINSERT INTO t VALUES {rows}//\n",
            OBJECTS
        );
        mysql_in(c, schema, &sql).expect("objects");
    }
}

/// `(rows of t, view, trigger count, procedure count)` of `schema`.
fn shape(c: &Conn, schema: &str) -> String {
    mysql_in(
        c,
        schema,
        "SELECT (SELECT COUNT(*) FROM t), (SELECT m FROM av),
           (SELECT COUNT(*) FROM information_schema.triggers WHERE trigger_schema = DATABASE()),
           (SELECT COUNT(*) FROM information_schema.routines WHERE routine_schema = DATABASE());",
    )
    .expect("shape")
    .trim()
    .replace('\t', " ")
}

/// Drops the three schemas when the test ends, passed or not.
struct Cleanup(Conn, SwitchState);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for schema in [&self.1.live, &self.1.staged, &self.1.old] {
            let _ = drop_schema(&self.0, schema);
        }
    }
}

#[test]
fn recover_finishes_or_undoes_a_swap_cut_after_any_step() {
    if !server_up() {
        return;
    }
    for step in 1..=4 {
        for forward in [true, false] {
            let id = crate::new_id();
            let live = format!("dsbu_{id}");
            let c = conn(&live);
            let state = SwitchState {
                kind: DbKind::Mysql,
                live: live.clone(),
                staged: format!("{live}__dsb_new_{id}"),
                old: format!("{live}__dsb_old_{id}"),
            };
            let _cleanup = Cleanup(conn(&live), state.clone());
            setup(&c, &state);
            let (l, s, o) = (&state.live, &state.staged, &state.old);
            write_book(&c, l, s, o).expect("book");
            if step >= 2 {
                drop_objects(&c, l, false).expect("drop live objects");
                drop_objects(&c, s, true).expect("drop staged triggers");
            }
            if step >= 3 {
                let saved = read_book(&c, o).expect("read book");
                move_tables(&c, l, s, o, &saved).expect("rename");
            }
            if step >= 4 {
                let saved = read_book(&c, o).expect("read book");
                let live_objects: Vec<&Saved> = saved
                    .iter()
                    .filter(|x| x.target == "live")
                    .take(1)
                    .collect();
                create_objects(&c, l, &live_objects).expect("some objects");
            }
            let old_left = recover(&c, &state, forward).expect("recover");
            let at = format!("cut after step {step}, forward {forward}");
            if forward {
                assert!(old_left, "{at}");
                assert_eq!(shape(&c, l), "3 6 1 1", "{at}");
                assert_eq!(shape(&c, o), "2 4 1 1", "{at}");
                assert!(!exists(&c, s).expect("exists"), "{at}");
                assert!(!has_book(&c, o).expect("book"), "{at}");
            } else {
                assert!(!old_left, "{at}");
                assert_eq!(shape(&c, l), "2 4 1 1", "{at}");
                assert!(!exists(&c, s).expect("exists"), "{at}");
                assert!(!exists(&c, o).expect("exists"), "{at}");
            }
            // The trigger still fires in live.
            mysql_in(&c, l, "CALL p();").expect("procedure and trigger");
        }
    }
}

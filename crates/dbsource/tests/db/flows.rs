//! The restore scenarios every engine goes through, written once over a [`Fixture`]: round
//! trip after mutation, truncated input, a backup taken while another connection writes, and
//! recovery of an interrupted switch in both directions.

use std::collections::BTreeMap;

use dsbackup_dbsource::{DbError, DbSource, DumpSummary, dump, recover, restore, sweep_staged};

use crate::support::read_dump;

/// One throwaway database of some engine, seeded with the common schema.
pub trait Fixture: Sized {
    /// A fresh database with the common schema and rows.
    fn seeded() -> Self;
    fn source(&self) -> DbSource;
    /// Table → checksum of its rows.
    fn checksums(&self) -> BTreeMap<String, String>;
    /// The live database and every staged or old copy of it.
    fn family(&self) -> Vec<String>;
    /// Drops table `kinds`, deletes rows, changes others.
    fn mutate(&self);
    /// Something beyond tables that must come back: a sequence's value, a trigger that fires,
    /// a view that answers.
    fn extras(&self) -> String;
    /// Starts transfers on another connection; returns a handle that stops them.
    fn start_writer(&self) -> Box<dyn FnOnce()>;
    /// Asserts the transfer invariant on the live database.
    fn assert_invariant(&self);
}

fn take(f: &impl Fixture) -> (Vec<u8>, DumpSummary) {
    read_dump(dump(&f.source()).expect("dump starts"))
}

pub fn round_trip_after_mutation(f: &impl Fixture) {
    let before = f.checksums();
    let extras = f.extras();
    let (bytes, summary) = take(f);
    f.mutate();
    let mutated = f.checksums();
    assert_ne!(mutated, before);
    let discarded = restore(&f.source(), &bytes[..], &summary.info).expect("restore");
    discarded.discard().expect("discard");
    assert_eq!(f.family().len(), 1, "discarded: {:?}", f.family());
    let staged = restore(&f.source(), &bytes[..], &summary.info).expect("restore");
    assert_eq!(staged.info().tables, summary.info.tables);
    assert_eq!(
        f.checksums(),
        mutated,
        "staging must not touch the live database"
    );
    assert_eq!(f.family().len(), 2, "live + staged: {:?}", f.family());
    let switched = staged.switch().expect("switch");
    assert_eq!(f.checksums(), before);
    assert_eq!(f.extras(), extras);
    let state = switched.state().clone();
    switched.finish(false).expect("finish");
    assert_eq!(f.family().len(), 1, "only live is left: {:?}", f.family());
    assert!(
        recover(&f.source(), &state, true)
            .expect("nothing to do")
            .is_none()
    );
}

pub fn truncated_input_leaves_live_untouched(f: &impl Fixture) {
    let (bytes, summary) = take(f);
    f.mutate();
    let mutated = f.checksums();
    for cut in [bytes.len() / 2, bytes.len() - 40, 10] {
        let err = restore(&f.source(), &bytes[..cut], &summary.info).expect_err("truncated");
        assert!(
            matches!(
                err,
                DbError::ToolFailed { .. }
                    | DbError::Unexpected { .. }
                    | DbError::Mismatch { .. }
                    | DbError::Sqlite { .. }
            ),
            "{err:?}"
        );
        assert_eq!(f.family().len(), 1, "staged copy dropped: {:?}", f.family());
        assert_eq!(
            f.checksums(),
            mutated,
            "live untouched after a cut at {cut}"
        );
    }
    // Counts that disagree with the backup are refused too.
    let mut wrong = summary.info.clone();
    wrong.tables[0].rows += 1;
    let err = restore(&f.source(), &bytes[..], &wrong).expect_err("count mismatch");
    assert!(matches!(err, DbError::Mismatch { .. }), "{err:?}");
    assert_eq!(f.family().len(), 1);
    assert_eq!(f.checksums(), mutated);
}

pub fn backup_while_writing_is_consistent(f: &impl Fixture) {
    let stop = f.start_writer();
    let (bytes, summary) = take(f);
    stop();
    let staged = restore(&f.source(), &bytes[..], &summary.info).expect("restore");
    staged
        .switch()
        .expect("switch")
        .finish(false)
        .expect("finish");
    f.assert_invariant();
}

pub fn recover_forward_and_back(f: &impl Fixture) {
    let original = f.checksums();
    let (bytes, summary) = take(f);
    f.mutate();
    let mutated = f.checksums();
    let source = f.source();

    // A crash before anything was journaled leaves a staged copy: swept, the old kept.
    let forgotten = restore(&source, &bytes[..], &summary.info).expect("restore");
    let name = forgotten.state().staged.clone();
    drop(forgotten);
    assert_eq!(sweep_staged(&source).expect("sweep"), [name]);
    assert_eq!((f.family().len(), f.checksums()), (1, mutated.clone()));

    // Crash before the switch, then back: the staged copy goes, live stays.
    let state = restore(&source, &bytes[..], &summary.info)
        .expect("restore")
        .state()
        .clone();
    assert!(recover(&source, &state, false).expect("back").is_none());
    assert_eq!((f.family().len(), f.checksums()), (1, mutated.clone()));

    // Crash after the switch, then back: the previous database returns.
    let staged = restore(&source, &bytes[..], &summary.info).expect("restore");
    let state = staged.switch().expect("switch").state().clone();
    assert_eq!(f.checksums(), original);
    assert!(recover(&source, &state, false).expect("back").is_none());
    assert_eq!((f.family().len(), f.checksums()), (1, mutated.clone()));

    // Crash before the switch, then forward: switched, the previous database kept until told.
    let state = restore(&source, &bytes[..], &summary.info)
        .expect("restore")
        .state()
        .clone();
    let switched = recover(&source, &state, true)
        .expect("forward")
        .expect("switched");
    assert_eq!(f.checksums(), original);
    assert_eq!(f.family().len(), 2);
    // Forward again (a second crash) finds it done and still hands back the old copy.
    let again = recover(&source, &state, true)
        .expect("forward again")
        .expect("old left");
    drop(switched);
    again.finish(true).expect("keep the old copy");
    assert!(
        sweep_staged(&source).expect("sweep").is_empty(),
        "old copies are kept"
    );
    assert_eq!(f.family().len(), 2);
    recover(&source, &state, true)
        .expect("forward")
        .expect("old left")
        .finish(false)
        .expect("drop");
    assert_eq!((f.family().len(), f.checksums()), (1, original.clone()));
    assert!(
        recover(&source, &state, false)
            .expect("nothing left")
            .is_none()
    );
    assert_eq!(f.checksums(), original);

    // A state journaled for another source is refused.
    let mut foreign = state.clone();
    foreign.live = "elsewhere".into();
    assert!(matches!(
        recover(&source, &foreign, true),
        Err(DbError::Recover { .. })
    ));
}

/// The four scenarios as `#[test]`s for one fixture type, run when `$up` is true.
macro_rules! scenarios {
    ($fixture:ty, $up:expr) => {
        #[test]
        fn round_trip_after_mutation() {
            if $up {
                $crate::flows::round_trip_after_mutation(
                    &<$fixture as $crate::flows::Fixture>::seeded(),
                );
            }
        }

        #[test]
        fn truncated_input_leaves_live_untouched() {
            if $up {
                $crate::flows::truncated_input_leaves_live_untouched(
                    &<$fixture as $crate::flows::Fixture>::seeded(),
                );
            }
        }

        #[test]
        fn backup_while_writing_is_consistent() {
            if $up {
                $crate::flows::backup_while_writing_is_consistent(
                    &<$fixture as $crate::flows::Fixture>::seeded(),
                );
            }
        }

        #[test]
        fn recover_forward_and_back() {
            if $up {
                $crate::flows::recover_forward_and_back(
                    &<$fixture as $crate::flows::Fixture>::seeded(),
                );
            }
        }
    };
}
pub(crate) use scenarios;

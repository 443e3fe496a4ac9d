//! The encrypt → hash → decrypt plumbing of `crypt.rs`, in memory.

use std::io::{Read, Write};

use age::x25519::Identity;
use sha2::{Digest, Sha256};

use super::*;

fn recipients(ids: &[&Identity]) -> Recipients {
    let keys: Vec<String> = ids.iter().map(|i| i.to_public().to_string()).collect();
    Recipients::parse(keys.iter().map(String::as_str))
        .unwrap()
        .unwrap()
}

/// Encrypts `plain` in odd-sized writes; returns the ciphertext and the recorded hash/size.
fn seal(plain: &[u8], to: &Recipients) -> (Vec<u8>, String, u64) {
    let mut w = Encrypting::new(Vec::new(), to).unwrap();
    for piece in plain.chunks(7919) {
        w.write_all(piece).unwrap();
    }
    w.finish().unwrap()
}

fn sample(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

#[test]
fn the_record_hash_is_of_the_ciphertext_and_it_round_trips() {
    let id = Identity::generate();
    // More than two 64 KiB STREAM chunks, and not a multiple of one.
    let plain = sample(200_000);
    let (stored, sha, size) = seal(&plain, &recipients(&[&id]));
    assert!(stored.starts_with(AGE_MAGIC));
    assert_eq!(size, stored.len() as u64);
    assert_eq!(sha, hex::encode_upper(Sha256::digest(&stored)));

    let mut opened = open(&stored[..], Some(&sha.to_lowercase()), || {
        Ok(Identities::from_x25519([id.clone()]))
    })
    .unwrap();
    assert!(opened.is_encrypted());
    assert_eq!(opened.engine_expect(Some("x")), None);
    let digest = opened.stored_digest().unwrap();
    let mut out = Vec::new();
    opened.read_to_end(&mut out).unwrap();
    assert_eq!(out, plain);
    assert_eq!(digest.get(), Some((sha, size)));
}

#[test]
fn a_chunk_sized_plaintext_and_an_empty_one_round_trip() {
    let id = Identity::generate();
    for len in [0, 64 * 1024, 128 * 1024] {
        let plain = sample(len);
        let (stored, sha, _) = seal(&plain, &recipients(&[&id]));
        let mut opened = open(&stored[..], Some(&sha), || {
            Ok(Identities::from_x25519([id.clone()]))
        })
        .unwrap();
        let mut out = Vec::new();
        opened.read_to_end(&mut out).unwrap();
        assert_eq!(out, plain, "{len} bytes");
    }
}

#[test]
fn any_of_several_recipients_decrypts() {
    let (a, b) = (Identity::generate(), Identity::generate());
    let (stored, ..) = seal(b"archive", &recipients(&[&a, &b]));
    let mut out = Vec::new();
    open(&stored[..], None, || {
        Ok(Identities::from_x25519([b.clone()]))
    })
    .unwrap()
    .read_to_end(&mut out)
    .unwrap();
    assert_eq!(out, b"archive");
}

#[test]
fn a_wrong_or_missing_identity_fails_at_the_header() {
    let (stored, ..) = seal(b"archive", &recipients(&[&Identity::generate()]));
    let other = Identity::generate();
    assert!(matches!(
        open(&stored[..], None, || Ok(Identities::from_x25519([other]))),
        Err(CryptError::NoIdentity)
    ));
    assert!(matches!(
        open(&stored[..], None, || Ok(Identities::default())),
        Err(CryptError::NoIdentity)
    ));
}

#[test]
fn a_hash_unlike_the_record_fails_at_the_end() {
    let id = Identity::generate();
    let (stored, ..) = seal(&sample(100_000), &recipients(&[&id]));
    let mut opened = open(&stored[..], Some("00"), || {
        Ok(Identities::from_x25519([id.clone()]))
    })
    .unwrap();
    let err = opened.read_to_end(&mut Vec::new()).unwrap_err();
    assert!(
        err.to_string().contains("differs from the recorded"),
        "{err}"
    );
}

#[test]
fn tampered_or_truncated_ciphertext_does_not_decrypt() {
    let id = Identity::generate();
    let (mut stored, ..) = seal(&sample(100_000), &recipients(&[&id]));
    let ids = || Ok(Identities::from_x25519([id.clone()]));
    let truncated = &stored[..stored.len() - 100];
    assert!(
        open(truncated, None, ids)
            .unwrap()
            .read_to_end(&mut Vec::new())
            .is_err()
    );
    let at = stored.len() - 5000;
    stored[at] ^= 1;
    assert!(
        open(&stored[..], None, ids)
            .unwrap()
            .read_to_end(&mut Vec::new())
            .is_err()
    );
}

#[test]
fn a_plain_archive_passes_through_without_loading_identities() {
    let zstd_like = [0x28, 0xB5, 0x2F, 0xFD, 1, 2, 3];
    for input in [&zstd_like[..], &zstd_like[..2], &[][..]] {
        let mut opened = open(input, Some("H"), || -> Result<Identities, CryptError> {
            panic!("identities loaded for a plain archive")
        })
        .unwrap();
        assert_eq!(opened.engine_expect(Some("H")), Some("H"));
        let mut out = Vec::new();
        opened.read_to_end(&mut out).unwrap();
        assert_eq!(out, input);
    }
}

#[test]
fn recipients_parse_or_name_the_bad_one() {
    let id = Identity::generate().to_public().to_string();
    let parsed = Recipients::parse([id.as_str(), " ", &format!(" {id} ")]).unwrap();
    assert_eq!(parsed.unwrap().0.len(), 1);
    assert!(Recipients::parse(["", " "]).unwrap().is_none());
    let err = Recipients::parse(["age1nope"]).unwrap_err();
    assert!(err.to_string().contains("age1nope"), "{err}");
}

#[test]
fn identity_files_are_age_keygen_files() {
    let dir = tempfile::tempdir().unwrap();
    let id = Identity::generate();
    let path = dir.path().join("key.txt");
    std::fs::write(
        &path,
        format!(
            "# created: now\n# public key: {}\n{}\n",
            id.to_public(),
            age::secrecy::ExposeSecret::expose_secret(&id.to_string())
        ),
    )
    .unwrap();
    let (stored, ..) = seal(b"x", &recipients(&[&id]));
    let loaded = Identities::load(std::slice::from_ref(&path)).unwrap();
    let mut out = Vec::new();
    open(&stored[..], None, || Ok(loaded))
        .unwrap()
        .read_to_end(&mut out)
        .unwrap();
    assert_eq!(out, b"x");

    let missing = dir.path().join("none.txt");
    let err = Identities::load(&[missing]).unwrap_err();
    assert!(err.to_string().contains("none.txt"), "{err}");
    let junk = dir.path().join("junk.txt");
    std::fs::write(&junk, "not a key\n").unwrap();
    assert!(Identities::load(&[junk]).is_err());
}

fn config(toml: &str, env: &[(&str, &str)]) -> Result<Config, crate::config::ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    std::fs::write(&file, toml).unwrap();
    let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
    Config::load(Some(&file), env)
}

#[test]
fn recipients_come_from_the_portal_else_the_top_level_plus_the_request() {
    let [a, b, c] = [(); 3].map(|_| Identity::generate().to_public().to_string());
    let cfg = config(
        &format!(
            "encrypt_to = [\"{a}\"]\nidentity_files = [\"/k/top\"]\n\
             [[portals]]\nalias = \"p\"\nencrypt_to = [\"{b}\"]\nidentity_files = [\"/k/p\"]\n\
             [[portals]]\nalias = \"plain\"\nencrypt_to = []\n"
        ),
        &[("DSBACKUP_AGE_IDENTITY_FILE", "/k/env1:/k/env2")],
    )
    .unwrap();
    let remote = Target::Remote {
        module: "CustomCloud".into(),
        backend: std::sync::Arc::new(dsbackup_storage::MemoryBackend::default()),
    };
    let local = Target::Local {
        dir: PathBuf::from("/srv"),
    };
    let none = BTreeMap::new();
    let to = |portal, target, params| {
        recipients_for(&cfg, portal, target, params)
            .unwrap()
            .map(|r| r.0.iter().map(ToString::to_string).collect::<Vec<_>>())
    };
    assert_eq!(to(Some("p"), &remote, &none), Some(vec![b.clone()]));
    assert_eq!(to(Some("other"), &remote, &none), Some(vec![a.clone()]));
    assert_eq!(to(None, &remote, &none), Some(vec![a.clone()]), "a dump");
    assert_eq!(to(Some("plain"), &remote, &none), None);
    assert_eq!(to(Some("p"), &local, &none), None, "stays on the machine");
    let asked = BTreeMap::from([("encryptTo".to_string(), format!("{c}, {b}"))]);
    assert_eq!(
        to(Some("p"), &remote, &asked),
        Some(vec![b.clone(), c.clone()])
    );
    assert_eq!(to(Some("plain"), &remote, &asked), Some(vec![c, b]));
    assert!(matches!(
        recipients_for(&cfg, Some("p"), &local, &asked),
        Err(CryptError::NotRemote)
    ));
    // The environment's identity files replace the file's top-level ones; a portal adds its own.
    let files = cfg.identity_files_of(["p"]);
    let expected = ["/k/env1", "/k/env2", "/k/p"].map(PathBuf::from);
    assert_eq!(files, expected);
}

#[test]
fn a_bad_recipient_stops_the_configuration() {
    let err = config(
        "[[portals]]\nalias = \"p\"\nencrypt_to = [\"age1bad\"]\n",
        &[],
    )
    .unwrap_err();
    assert!(err.to_string().contains("age1bad"), "{err}");
}

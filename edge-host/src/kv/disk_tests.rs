use super::*;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

fn store() -> (tempfile::TempDir, DiskKv) {
    let dir = tempfile::tempdir().unwrap();
    let kv = DiskKv::open(dir.path().join("kv")).unwrap();
    (dir, kv)
}

#[test]
fn set_get_delete_round_trip() {
    let (_dir, kv) = store();
    assert_eq!(kv.get("jwks").unwrap(), None);
    assert!(!kv.exists("jwks").unwrap());
    kv.set("jwks", b"first").unwrap();
    kv.set("jwks", b"second").unwrap();
    assert_eq!(kv.get("jwks").unwrap().as_deref(), Some(&b"second"[..]));
    assert!(kv.exists("jwks").unwrap());
    kv.delete("jwks").unwrap();
    kv.delete("jwks").unwrap(); // deleting a missing key is fine
    assert_eq!(kv.get("jwks").unwrap(), None);
    assert!(!kv.exists("jwks").unwrap());
}

#[test]
fn empty_value_and_empty_key() {
    let (_dir, kv) = store();
    kv.set("", b"").unwrap();
    assert_eq!(kv.get("").unwrap(), Some(Vec::new()));
    assert_eq!(kv.get_keys().unwrap(), vec![String::new()]);
}

#[test]
fn get_keys_lists_exactly_the_keys() {
    let (_dir, kv) = store();
    let keys = [
        "jwks",
        "meta/item-1/v3",
        "chunk/item-1/v3/0",
        "chunk/item-1/v3/17",
        "weird %41 key.with.dots",
        "ünïcødé/🦀",
    ];
    for key in keys {
        kv.set(key, key.as_bytes()).unwrap();
    }
    // A stray file that no key encodes to is not reported.
    fs::write(kv.dir().join("not a key"), b"x").unwrap();
    let mut listed = kv.get_keys().unwrap();
    listed.sort();
    let mut expected: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    expected.sort();
    assert_eq!(listed, expected);
    for key in keys {
        assert_eq!(kv.get(key).unwrap().as_deref(), Some(key.as_bytes()));
    }
}

#[test]
fn keys_cannot_escape_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let kv = DiskKv::open(dir.path().join("kv")).unwrap();
    for key in [
        "..",
        ".",
        "../escape",
        "/etc/passwd",
        "a/../../b",
        "..\\x",
        ".tmp.1.1",
    ] {
        kv.set(key, b"v").unwrap();
        assert_eq!(kv.get(key).unwrap().as_deref(), Some(&b"v"[..]), "{key}");
    }
    // Everything landed inside kv/, as plain files, nothing beside it.
    let outside: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(outside.len(), 1);
    for entry in fs::read_dir(kv.dir()).unwrap() {
        let entry = entry.unwrap();
        assert!(entry.file_type().unwrap().is_file());
        let name = entry.file_name().into_string().unwrap();
        assert!(!name.contains('/') && !name.starts_with('.'), "{name}");
    }
    assert_eq!(kv.get_keys().unwrap().len(), 7);
}

#[test]
fn encoding_round_trips_and_rejects_foreign_names() {
    for key in ["", "a", "chunk/x/v1/2", "%", "%2F", "=", "a b", "\0"] {
        assert_eq!(decode_key(&encode_key(key)).as_deref(), Some(key));
    }
    assert_eq!(encode_key("chunk/a.b"), "chunk%2Fa%2Eb");
    for name in ["", ".tmp.1.2", "a%2", "a%2f", "%41", "%+1", "a.b", "a b"] {
        assert_eq!(decode_key(name), None, "{name:?}");
    }
}

#[test]
fn too_long_key_is_an_error_not_a_panic() {
    let (_dir, kv) = store();
    let key = "k".repeat(300);
    assert!(matches!(
        kv.set(&key, b"v"),
        Err(KvError::KeyTooLong { .. })
    ));
    assert!(matches!(kv.get(&key), Err(KvError::KeyTooLong { .. })));
}

#[test]
fn leftover_temp_files_are_removed_on_open() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(".tmp.99.0"), b"half a value").unwrap();
    let kv = DiskKv::open(dir.path()).unwrap();
    assert!(!dir.path().join(".tmp.99.0").exists());
    assert!(kv.get_keys().unwrap().is_empty());
}

#[test]
fn concurrent_writers_never_tear_a_value() {
    const SIZE: usize = 1 << 20;
    let (_dir, kv) = store();
    let kv = Arc::new(kv);
    kv.set("chunk/x/v1/0", &vec![0u8; SIZE]).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (1..=3u8)
        .map(|fill| {
            let kv = kv.clone();
            std::thread::spawn(move || {
                for _ in 0..30 {
                    kv.set("chunk/x/v1/0", &vec![fill; SIZE]).unwrap();
                }
            })
        })
        .collect();
    let reader = {
        let (kv, stop) = (kv.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut reads = 0;
            while !stop.load(Ordering::Relaxed) {
                let value = kv
                    .get("chunk/x/v1/0")
                    .unwrap()
                    .expect("key never disappears");
                assert_eq!(value.len(), SIZE, "torn value length");
                assert!(value.iter().all(|&b| b == value[0]), "torn value content");
                reads += 1;
            }
            reads
        })
    };
    for writer in writers {
        writer.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    assert!(reader.join().unwrap() > 0);
    // No temp files are left behind.
    assert_eq!(kv.get_keys().unwrap(), vec!["chunk/x/v1/0".to_string()]);
    assert_eq!(fs::read_dir(kv.dir()).unwrap().count(), 1);
}

#[test]
fn increment_counts_from_zero_and_rejects_non_counters() {
    let (_dir, kv) = store();
    assert_eq!(kv.increment("uses/t1", 1).unwrap(), 1);
    assert_eq!(kv.increment("uses/t1", 5).unwrap(), 6);
    assert_eq!(kv.increment("uses/t1", -10).unwrap(), -4);
    assert_eq!(
        kv.get("uses/t1").unwrap().as_deref(),
        Some(&b"-0000000000000000004"[..])
    );
    kv.set("jwks", b"{}").unwrap();
    assert!(matches!(
        kv.increment("jwks", 1),
        Err(KvError::NotACounter { .. })
    ));
    kv.set("max", i64::MAX.to_string().as_bytes()).unwrap();
    assert!(matches!(
        kv.increment("max", 1),
        Err(KvError::NotACounter { .. })
    ));
}

#[test]
fn a_counter_is_rewritten_in_place_and_read_whole() {
    use std::os::unix::fs::MetadataExt as _;
    let (_dir, kv) = store();
    // A counter written before counters were padded is read, then rewritten at full width.
    kv.set("zone/licensed/used", b"4096").unwrap();
    assert_eq!(kv.increment("zone/licensed/used", 1).unwrap(), 4097);
    let path = kv
        .dir()
        .join(protocol::kv_name::encode_key("zone/licensed/used"));
    let inode = std::fs::metadata(&path).unwrap().ino();
    for _ in 0..100 {
        kv.increment("zone/licensed/used", 1 << 20).unwrap();
        kv.increment("zone/licensed/used", -(1 << 20)).unwrap();
    }
    assert_eq!(
        std::fs::metadata(&path).unwrap().ino(),
        inode,
        "increments rewrite the same file"
    );
    assert_eq!(kv.increment("zone/licensed/used", 0).unwrap(), 4097);
    // Readers racing a writer see whole values only.
    let kv = Arc::new(kv);
    let writer = {
        let kv = kv.clone();
        std::thread::spawn(move || {
            for i in 0..2000 {
                let delta = if i % 2 == 0 {
                    999_999_999
                } else {
                    -999_999_999
                };
                kv.increment("zone/licensed/used", delta).unwrap();
            }
        })
    };
    for _ in 0..2000 {
        let value = kv.get("zone/licensed/used").unwrap().unwrap();
        let n: i64 = std::str::from_utf8(&value).unwrap().parse().unwrap();
        assert!(n == 4097 || n == 4097 + 999_999_999, "{n}");
    }
    writer.join().unwrap();
}

#[test]
fn concurrent_increments_are_not_lost() {
    let (_dir, kv) = store();
    let kv = Arc::new(kv);
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let kv = kv.clone();
            std::thread::spawn(move || {
                for _ in 0..50 {
                    kv.increment("counter", 1).unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(kv.increment("counter", 0).unwrap(), 400);
}

#[test]
fn compare_and_swap_only_from_the_expected_value() {
    let (_dir, kv) = store();
    // Missing key: only `None` matches.
    assert!(!kv.compare_and_swap("lease", Some(b"x"), b"a").unwrap());
    assert!(kv.compare_and_swap("lease", None, b"a").unwrap());
    assert!(!kv.compare_and_swap("lease", None, b"b").unwrap());
    assert!(!kv.compare_and_swap("lease", Some(b"b"), b"c").unwrap());
    assert!(kv.compare_and_swap("lease", Some(b"a"), b"c").unwrap());
    assert_eq!(kv.get("lease").unwrap().as_deref(), Some(&b"c"[..]));
}

#[test]
fn one_of_many_racing_claims_wins() {
    let (_dir, kv) = store();
    let kv = Arc::new(kv);
    let threads: Vec<_> = (0..8u8)
        .map(|id| {
            let kv = kv.clone();
            std::thread::spawn(move || kv.compare_and_swap("fill/x/0", None, &[id]).unwrap())
        })
        .collect();
    let winners = threads
        .into_iter()
        .map(|t| t.join().unwrap())
        .filter(|won| *won)
        .count();
    assert_eq!(winners, 1);
}

#[test]
fn a_stamp_names_one_written_value() {
    let (_dir, kv) = store();
    let stamp = |kv: &DiskKv| kv.open_value("chunk/a/v1/0").unwrap().map(|v| v.stamp);
    assert_eq!(stamp(&kv), None);
    kv.set("chunk/a/v1/0", b"first").unwrap();
    let opened = kv.open_value("chunk/a/v1/0").unwrap().unwrap();
    assert_eq!((opened.len, opened.stamp.len), (5, 5));
    kv.set("chunk/a/v1/0", b"first").unwrap();
    assert_ne!(
        stamp(&kv).unwrap(),
        opened.stamp,
        "the same bytes written again are another value"
    );
    kv.delete("chunk/a/v1/0").unwrap();
    assert_eq!(stamp(&kv), None);
}

#[test]
fn open_values_are_kept_only_while_their_file_stands() {
    let (dir, kv) = store();
    kv.set("chunk/a/v1/0", b"bytes").unwrap();
    let first = kv.open_value("chunk/a/v1/0").unwrap().unwrap();
    let again = kv.open_value("chunk/a/v1/0").unwrap().unwrap();
    assert!(Arc::ptr_eq(&first.file, &again.file), "kept open");
    assert_eq!(Arc::strong_count(&first.file), 3);
    kv.delete("chunk/a/v1/0").unwrap();
    assert_eq!(
        Arc::strong_count(&first.file),
        2,
        "a delete closes the store's copy"
    );
    kv.set("chunk/a/v1/1", b"bytes").unwrap();
    let kept = kv.open_value("chunk/a/v1/1").unwrap().unwrap();
    kv.set("chunk/a/v1/1", b"other").unwrap();
    let fresh = kv.open_value("chunk/a/v1/1").unwrap().unwrap();
    assert!(!Arc::ptr_eq(&kept.file, &fresh.file), "a set replaces it");
    // Replaced behind the store's back (another process, a hand): the stamp differs.
    let path = dir.path().join("kv").join("chunk%2Fa%2Fv1%2F1");
    std::fs::remove_file(&path).unwrap();
    std::fs::write(&path, b"third").unwrap();
    let outside = kv.open_value("chunk/a/v1/1").unwrap().unwrap();
    assert!(!Arc::ptr_eq(&fresh.file, &outside.file));
    let mut read = String::new();
    std::io::Read::read_to_string(&mut &*outside.file, &mut read).unwrap();
    assert_eq!(read, "third");
    for i in 0..MAX_OPEN_FILES + 1 {
        kv.set(&format!("k{i}"), b"x").unwrap();
        kv.open_value(&format!("k{i}")).unwrap().unwrap();
    }
    assert!(kv.open_files().len() <= MAX_OPEN_FILES);
}

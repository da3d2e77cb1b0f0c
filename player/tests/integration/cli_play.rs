//! `player play` end to end through the binary, with a licence signed here and the clock moved
//! with the `PLAYER_NOW` test hook. Main is unreachable: the cached JWKS is enough to play.

use std::path::Path;
use std::process::{Command, Output};

use player::store::Home;
use protocol::licence::{Policy, Window};
use protocol::seal::seal_to_vec;
use protocol::{ContentKey, DeviceKey, Header, ItemId, Licence, SealParams, Signer};

const START: u64 = 1_700_000_000;
const DAY: u64 = 86_400;

/// A home with a device, a cached JWKS, an enabled licence and a downloaded object.
fn home(dir: &Path) -> Vec<u8> {
    home_with(dir, Policy::default())
}

/// [`home`] with a licence of `policy`.
fn home_with(dir: &Path, policy: Policy) -> Vec<u8> {
    home_at(dir, policy, START)
}

/// [`home_with`], the licence's window starting at `start` (a reactivated window of the same
/// licence, when called again).
fn home_at(dir: &Path, policy: Policy, start: u64) -> Vec<u8> {
    let home = Home::new(dir);
    let item = ItemId::parse("film").unwrap();
    let key = ContentKey::generate();
    let plaintext: Vec<u8> = (0..100_000u32).map(|i| (i % 241) as u8).collect();
    let params = SealParams {
        chunk_size: protocol::sealed::MIN_CHUNK_SIZE,
        ..SealParams::new(item.clone(), 2)
    };
    let sealed = seal_to_vec(&key, params, &plaintext).unwrap();
    let header = Header::decode(&sealed).unwrap();
    std::fs::create_dir_all(dir.join("downloads")).unwrap();
    std::fs::write(home.download_path(&item), &sealed).unwrap();

    let device = home.device().unwrap();
    let public = DeviceKey::from_secret(device.key().unwrap().secret()).public();
    let mut licence = Licence {
        licence_id: "lic-9".into(),
        item: item.clone(),
        key_version: 2,
        object_root: hex::encode(header.digest_root),
        account: "acct".into(),
        device_id: device.device_id.clone(),
        player_id: device.player_id.clone(),
        policy,
        window: Some(Window {
            start,
            end: start + DAY,
        }),
        wrapped_key: None,
    };
    licence.wrap_key(&key, &public).unwrap();
    let signer = Signer::generate("main-key");
    home.save_jwks(&signer.jwks()).unwrap();
    home.save_licence(
        &item,
        &licence.sign(&signer, START, START + 365 * DAY).unwrap(),
    )
    .unwrap();
    plaintext
}

fn player(dir: &Path, now: u64, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_player"))
        .arg("--home")
        .arg(dir)
        .args(["--main", "http://127.0.0.1:9"])
        .args(args)
        .env("PLAYER_NOW", now.to_string())
        .output()
        .unwrap()
}

#[test]
fn plays_inside_the_window_and_refuses_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let plaintext = home(dir.path());
    let out = dir.path().join("film.bin");
    let out_s = out.to_str().unwrap();

    let ok = player(dir.path(), START + 3600, &["play", "film", "--out", out_s]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert_eq!(
        String::from_utf8(ok.stdout).unwrap().trim(),
        format!("played: {} bytes to {out_s}", plaintext.len())
    );
    assert_eq!(std::fs::read(&out).unwrap(), plaintext);

    let to_stdout = player(dir.path(), START + 3600, &["play", "film", "--out", "-"]);
    assert!(to_stdout.status.success());
    assert_eq!(to_stdout.stdout, plaintext);

    let late = dir.path().join("late.bin");
    let refused = player(
        dir.path(),
        START + DAY + 1,
        &["play", "film", "--out", late.to_str().unwrap()],
    );
    assert!(!refused.status.success());
    let stderr = String::from_utf8(refused.stderr).unwrap();
    assert!(
        stderr.contains("the viewing window ended at 2023-11-15 22:13:20 UTC; `player reactivate"),
        "{stderr}"
    );
    assert!(refused.stdout.is_empty());
    assert!(!late.exists());
    assert!(!dir.path().join("late.bin.partial").exists());

    let late_stdout = player(dir.path(), START + DAY + 1, &["play", "film", "--out", "-"]);
    assert!(!late_stdout.status.success());
    assert!(
        late_stdout.stdout.is_empty(),
        "nothing written after expiry"
    );
}

#[test]
fn a_licence_with_a_play_limit_plays_that_many_times_per_window() {
    let dir = tempfile::tempdir().unwrap();
    let limited = Policy {
        max_plays: Some(2),
        ..Policy::default()
    };
    let plaintext = home_with(dir.path(), limited.clone());
    for play in 1..=2 {
        let ok = player(dir.path(), START + 60, &["play", "film", "--out", "-"]);
        let stderr = String::from_utf8_lossy(&ok.stderr);
        assert!(ok.status.success(), "{stderr}");
        assert!(stderr.contains(&format!("play {play} of 2")), "{stderr}");
        assert_eq!(ok.stdout, plaintext);
    }
    let refused = player(dir.path(), START + 60, &["play", "film", "--out", "-"]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8(refused.stderr).unwrap();
    assert!(
        stderr.contains("allows 2 plays and all are used"),
        "{stderr}"
    );
    assert!(refused.stdout.is_empty(), "nothing written past the limit");

    // The same licence reactivated: its new window counts plays anew.
    let later = START + 2 * DAY;
    let plaintext = home_at(dir.path(), limited, later);
    let ok = player(dir.path(), later + 60, &["play", "film", "--out", "-"]);
    let stderr = String::from_utf8_lossy(&ok.stderr);
    assert!(ok.status.success(), "{stderr}");
    assert!(stderr.contains("play 1 of 2"), "{stderr}");
    assert_eq!(ok.stdout, plaintext);
}

#[test]
fn status_lists_what_is_here() {
    let dir = tempfile::tempdir().unwrap();
    home(dir.path());
    let s = player(dir.path(), START + 10, &["status"]);
    assert!(s.status.success(), "{}", String::from_utf8_lossy(&s.stderr));
    let text = String::from_utf8(s.stdout).unwrap();
    assert!(text.contains("account: not logged in"), "{text}");
    assert!(
        text.contains("film: not rented here; downloaded ("),
        "{text}"
    );
    assert!(
        text.contains("enabled until 2023-11-15 22:13:20 UTC"),
        "{text}"
    );
}

#[test]
fn commands_that_need_a_session_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let out = player(dir.path(), START, &["rent", "film"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not logged in"));
}

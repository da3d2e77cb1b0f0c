//! The `player` command line: argument parsing and one function per command.
//!
//! Outputs meant for scripts and tests are single lines with a fixed prefix on stdout:
//! `download_url: URL` (rent), `downloaded: PATH (N bytes)` (download), `played: N bytes to PATH`
//! (play). Errors go to stderr and the exit status is non-zero.

use std::fs::{self, File};
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use clap::{Parser, Subcommand};
use player::api::{Api, ApiError, Edge};
use player::download::{self, DownloadState, MAX_RANGE};
use player::play::{Playback, verify_licence};
use player::store::{Home, PendingRental};
use player::{clock, store};
use protocol::{ItemId, Licence};

/// The test card of main's sandbox payment provider.
pub(crate) const DEFAULT_CARD: &str = "4242424242424242";

#[derive(Debug, Parser)]
#[command(
    name = "player",
    version,
    about = "Rent, download, license and play content from the delivery network",
    long_about = "Rent, download, license and play content from the delivery network.\n\n\
        A typical session:\n  \
        player register --email me@example.com --password secret\n  \
        player login --email me@example.com --password secret\n  \
        player catalog\n  \
        player rent ITEM\n  \
        player download ITEM\n  \
        player licence ITEM\n  \
        player enable ITEM\n  \
        player play ITEM --out movie.bin\n\n\
        Group accounts: `player group --help`; rent on one with `player rent ITEM --group ID`.\n\n\
        Test hook: PLAYER_NOW=<unix seconds> replaces the clock used for licence checks."
)]
struct Cli {
    /// Where the player keeps its session, device identity, rentals, licences and downloads
    /// [default: $XDG_DATA_HOME/cdn-player or ~/.local/share/cdn-player]
    #[arg(long, env = "PLAYER_HOME", global = true, value_name = "DIR")]
    home: Option<PathBuf>,
    /// Base URL of the main service; several mains sharing one store may be given, separated
    /// by commas, and are tried in order
    #[arg(
        long = "main",
        env = "PLAYER_MAIN_URL",
        global = true,
        value_name = "URL",
        default_value = "http://127.0.0.1:8080"
    )]
    main_url: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create an account
    Register {
        #[arg(long)]
        email: String,
        #[arg(long)]
        password: String,
        /// Claim the email's guest account (the code its first guest rental printed): the
        /// account keeps its rentals
        #[arg(long, value_name = "CODE")]
        claim_code: Option<String>,
    },
    /// Log in and save the session for later commands
    Login {
        #[arg(long)]
        email: String,
        #[arg(long)]
        password: String,
    },
    /// List the items on offer (id, size, title)
    Catalog {
        /// Print main's JSON items instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Pay for an item: saves the rental and prints `download_url: URL`
    Rent {
        /// Item id, as `player catalog` lists it
        item: String,
        /// Card number (the sandbox test card by default)
        #[arg(long, default_value = DEFAULT_CARD)]
        card: String,
        /// Idempotency key of the purchase [default: random, reused when retrying after a
        /// network failure, so a purchase is charged at most once]
        #[arg(long, value_name = "KEY")]
        idempotency_key: Option<String>,
        /// Rent without an account, as a guest with this email (no login needed; the session
        /// for the licence is saved; keep the claim code printed by the first checkout)
        #[arg(long, value_name = "EMAIL")]
        guest: Option<String>,
        /// The claim code of the email's first guest checkout, for a later one
        #[arg(long, value_name = "CODE", requires = "guest")]
        claim_code: Option<String>,
        /// Charge the rental to this group's account (you must be a member allowed to rent)
        #[arg(long, value_name = "GROUP", conflicts_with = "guest")]
        group: Option<String>,
    },
    /// Download the sealed object through the edge, resumably, in verified ranges of ≤ 8 MiB
    Download {
        /// Item id, as `player catalog` lists it
        item: String,
        /// Download URL [default: the saved rental's]
        #[arg(long)]
        url: Option<String>,
        /// Destination [default: DIR/downloads/ITEM.sealed]
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Largest Range request in bytes (at most 8 MiB)
        #[arg(long, value_name = "BYTES", default_value_t = MAX_RANGE,
              value_parser = clap::value_parser!(u64).range(1..=MAX_RANGE))]
        range_bytes: u64,
    },
    /// Bind the licence to this device and player, and save it
    Licence {
        /// Item id, as `player catalog` lists it
        item: String,
        /// Licence id [default: the saved rental's; give it to bind a licence bought elsewhere]
        #[arg(long)]
        licence_id: Option<String>,
    },
    /// Enable the licence: starts the viewing window (binds first if needed)
    Enable {
        /// Item id, as `player catalog` lists it
        item: String,
        /// Licence id [default: the saved rental's]
        #[arg(long)]
        licence_id: Option<String>,
    },
    /// Pay for a new viewing window once the licence's window has ended (the item's
    /// reactivation fee), and save the licence with it
    Reactivate {
        /// Item id, as `player catalog` lists it
        item: String,
        /// Licence id [default: the saved rental's]
        #[arg(long)]
        licence_id: Option<String>,
        /// Card number (the sandbox test card by default)
        #[arg(long, default_value = DEFAULT_CARD)]
        card: String,
    },
    /// Check the licence and decrypt the downloaded item to a file or stdout
    Play {
        /// Item id, as `player catalog` lists it
        item: String,
        /// Output file, or `-` for stdout [default: stdout unless it is a terminal]
        #[arg(long, value_name = "FILE")]
        out: Option<String>,
        /// The sealed object [default: DIR/downloads/ITEM.sealed]
        #[arg(long, value_name = "FILE")]
        sealed: Option<PathBuf>,
    },
    /// Show what is rented, downloaded and licensed here
    Status,
    /// Group accounts: create, invite, join, show, audit
    Group {
        #[command(subcommand)]
        command: crate::groups::GroupCommand,
    },
}

/// Parses the command line and runs the command.
pub fn run() -> Result<()> {
    let cli = Cli::parse();
    let home = Home::new(match cli.home {
        Some(h) => h,
        None => default_home()?,
    });
    let main = cli.main_url.as_str();
    match cli.command {
        Command::Register {
            email,
            password,
            claim_code,
        } => {
            let account = Api::new(main, None)?
                .register(&email, &password, claim_code.as_deref())
                .context("registration failed")?;
            println!("registered: account {account}");
        }
        Command::Login { email, password } => {
            let session = Api::new(main, None)?
                .login(&email, &password)
                .context("login failed")?;
            home.save_session(&session)?;
            println!("logged in: account {}", session.account_id);
        }
        Command::Catalog { json } => catalog(&Api::new(main, None)?, json)?,
        Command::Rent {
            item,
            card,
            idempotency_key,
            guest,
            claim_code,
            group,
        } => {
            let buyer = match &guest {
                Some(email) => Buyer::Guest {
                    api: Api::new(main, None)?,
                    email,
                    claim_code: claim_code.as_deref(),
                },
                None => Buyer::Customer {
                    api: customer(&home, main)?,
                    group: group.as_deref(),
                },
            };
            rent(&home, &buyer, &parse_item(&item)?, &card, idempotency_key)?
        }
        Command::Download {
            item,
            url,
            out,
            range_bytes,
        } => download(&home, main, &parse_item(&item)?, url, out, range_bytes)?,
        Command::Licence { item, licence_id } => {
            let item = parse_item(&item)?;
            bind(&home, &customer(&home, main)?, &item, licence_id)?;
        }
        Command::Enable { item, licence_id } => enable(
            &home,
            &customer(&home, main)?,
            &parse_item(&item)?,
            licence_id,
        )?,
        Command::Reactivate {
            item,
            licence_id,
            card,
        } => reactivate(
            &home,
            &customer(&home, main)?,
            &parse_item(&item)?,
            licence_id,
            &card,
        )?,
        Command::Play { item, out, sealed } => {
            play(&home, main, &parse_item(&item)?, out.as_deref(), sealed)?
        }
        Command::Status => status(&home)?,
        Command::Group { command } => crate::groups::run(&customer(&home, main)?, command)?,
    }
    Ok(())
}

fn default_home() -> Result<PathBuf> {
    if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d).join("cdn-player"));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .ok_or_else(|| anyhow!("HOME is not set; pass --home DIR or set PLAYER_HOME"))?;
    Ok(PathBuf::from(home).join(".local/share/cdn-player"))
}

fn parse_item(id: &str) -> Result<ItemId> {
    Ok(ItemId::parse(id)?)
}

/// A client that sends the saved session.
fn customer(home: &Home, main: &str) -> Result<Api> {
    let session = home.session()?.ok_or(ApiError::NotLoggedIn)?;
    Ok(Api::new(main, Some(&session))?)
}

/// Adds what to do about an expired session to a refusal.
fn explain(e: ApiError, what: &str) -> anyhow::Error {
    match &e {
        ApiError::Refused { status: 401, .. } => {
            anyhow!(e).context(format!("{what} (log in again with `player login`)"))
        }
        _ => anyhow!(e).context(what.to_owned()),
    }
}

fn the_rental(home: &Home, item: &ItemId) -> Result<store::Rental> {
    home.rental(item)?.ok_or_else(|| {
        anyhow!(
            "no rental of {item} saved in {}; run `player rent {item}` first",
            home.root().display()
        )
    })
}

fn catalog(api: &Api, json: bool) -> Result<()> {
    let items = api.catalog().context("cannot list the catalog")?;
    if json {
        println!("{}", serde_json::to_string_pretty(&items)?);
        return Ok(());
    }
    let width = items.iter().map(|i| i.id.len()).max().unwrap_or(2).max(2);
    println!("{:width$}  {:>12}  TITLE", "ID", "BYTES");
    for i in &items {
        println!("{:width$}  {:>12}  {}", i.id, i.plaintext_len, i.title);
    }
    Ok(())
}

/// Who rents: the logged-in customer (on their card or a group's account), or a guest with
/// an email.
enum Buyer<'a> {
    Customer {
        api: Api,
        group: Option<&'a str>,
    },
    Guest {
        api: Api,
        email: &'a str,
        claim_code: Option<&'a str>,
    },
}

fn rent(home: &Home, buyer: &Buyer, item: &ItemId, card: &str, key: Option<String>) -> Result<()> {
    let key = match key {
        Some(k) => k,
        None => {
            // A key saved by an attempt that got no answer: that purchase may have gone through,
            // and the same key makes main return it instead of charging again.
            let key = match home.pending_rental(item)? {
                Some(p) => p.idempotency_key,
                None => protocol::random_id(),
            };
            home.save_pending_rental(
                item,
                &PendingRental {
                    idempotency_key: key.clone(),
                },
            )?;
            key
        }
    };
    let answer = match buyer {
        Buyer::Customer { api, group } => api
            .rent(item.as_str(), card, *group, &key)
            .map(|r| (r, None)),
        Buyer::Guest {
            api,
            email,
            claim_code,
        } => api
            .guest_rent(email, *claim_code, item.as_str(), card, &key)
            .map(|g| (g.rental.clone(), Some(g))),
    };
    let (rental, guest) = match answer {
        Ok(r) => r,
        Err(e) if e.is_transient() => {
            return Err(anyhow!(e).context(format!(
                "the purchase of {item} got no answer; run the same command again: it reuses \
                 idempotency key {key}, so you are charged at most once"
            )));
        }
        Err(e) => {
            home.clear_pending_rental(item)?;
            return Err(explain(e, &format!("the purchase of {item} was refused")));
        }
    };
    home.save_rental(item, &rental)?;
    home.clear_pending_rental(item)?;
    if let Some(guest) = guest {
        // The guest's session binds and enables the licence, as a login's would.
        home.save_session(&store::Session {
            session: guest.session,
            account_id: guest.account_id.clone(),
        })?;
        println!("guest account: {}", guest.account_id);
        if let Some(code) = guest.claim_code {
            println!(
                "claim_code: {code} (keep it: later guest rentals with this email and \
                 `player register --claim-code` need it)"
            );
        }
    }
    println!("rented: {item} (licence {})", rental.licence_id);
    println!(
        "token_expires_at: {}",
        clock::format_unix(rental.expires_at)
    );
    println!("download_url: {}", rental.download_url);
    if let Some(fallback) = &rental.fallback_url {
        println!("fallback_url: {fallback}");
    }
    Ok(())
}

fn download(
    home: &Home,
    main: &str,
    item: &ItemId,
    url: Option<String>,
    out: Option<PathBuf>,
    range_bytes: u64,
) -> Result<()> {
    let (url, fallback, rented) = match url {
        Some(u) => (u, None, home.rental(item)?.and_then(|r| r.object)),
        None => {
            let rental = the_rental(home, item)?;
            (rental.download_url, rental.fallback_url, rental.object)
        }
    };
    let out = out.unwrap_or_else(|| home.download_path(item));
    // The object rented, which stays what the download is checked against when the item is
    // ingested again meanwhile; else the catalog's.
    let details = match rented {
        Some(object) => object,
        None => Api::new(main, None)?
            .item(item.as_str())
            .with_context(|| format!("cannot fetch the details of {item} from main"))?,
    };
    let opts = download::Options {
        max_range: range_bytes,
        ..Default::default()
    };
    let n = download::download_from(
        &Edge::new()?,
        &details,
        &url,
        fallback.as_deref(),
        &out,
        &opts,
    )
    .with_context(|| format!("download of {item} failed"))?;
    println!("downloaded: {} ({n} bytes)", out.display());
    Ok(())
}

/// Verifies a licence from main with its key set (cached in the home) at `now`.
fn check_signed(home: &Home, api: &Api, signed: &str, now: u64) -> Result<Licence> {
    let (licence, fresh) = verify_licence(home.jwks()?, || api.jwks(), signed, now)?;
    if let Some(jwks) = fresh {
        home.save_jwks(&jwks)?;
    }
    Ok(licence)
}

fn licence_id(home: &Home, item: &ItemId, given: Option<String>) -> Result<String> {
    match given {
        Some(id) => Ok(id),
        None => Ok(the_rental(home, item)?.licence_id),
    }
}

fn bind(home: &Home, api: &Api, item: &ItemId, given: Option<String>) -> Result<()> {
    let id = licence_id(home, item, given)?;
    let device = home.device()?;
    let public = device.key()?.public();
    let signed = api
        .bind(&id, &device.device_id, &device.player_id, &public)
        .map_err(|e| match e.code() {
            Some("bound_elsewhere") => anyhow!(e).context(format!(
                "licence {id} is already bound to another device or player; a licence plays only \
                 where it was first bound — rent {item} again to play it here"
            )),
            _ => explain(e, &format!("binding licence {id} failed")),
        })?;
    let licence = check_signed(home, api, &signed, clock::now().map_err(|e| anyhow!(e))?)?;
    home.save_licence(item, &signed)?;
    println!(
        "licence: {item} bound to device {} ({})",
        licence.device_id,
        home.licence_path(item).display()
    );
    Ok(())
}

fn enable(home: &Home, api: &Api, item: &ItemId, given: Option<String>) -> Result<()> {
    let id = licence_id(home, item, given)?;
    // Bind first unless the saved licence is this one (a new rental brings a new licence).
    let now = clock::now().map_err(|e| anyhow!(e))?;
    let bound = match home.licence(item)? {
        Some(signed) => check_signed(home, api, &signed, now).is_ok_and(|l| l.licence_id == id),
        None => false,
    };
    if !bound {
        bind(home, api, item, Some(id.clone()))?;
    }
    let device = home.device()?;
    let signed = api
        .enable(&id, &device.device_id, &device.player_id)
        .map_err(|e| match e.code() {
            Some("licence_expired") => anyhow!(e).context(format!(
                "the viewing window of licence {id} is over; `player reactivate {item}` buys a \
                 new window, or rent {item} again"
            )),
            _ => explain(e, &format!("enabling licence {id} failed")),
        })?;
    let licence = check_signed(home, api, &signed, now)?;
    let window = licence
        .window
        .ok_or_else(|| anyhow!("main answered with a licence that has no viewing window"))?;
    home.save_licence(item, &signed)?;
    println!(
        "enabled: {item}; the viewing window ends at {} (unix {})",
        clock::format_unix(window.end),
        window.end
    );
    Ok(())
}

fn reactivate(
    home: &Home,
    api: &Api,
    item: &ItemId,
    given: Option<String>,
    card: &str,
) -> Result<()> {
    let id = licence_id(home, item, given)?;
    // One key for this command: the client's own retries of the request charge once.
    let key = protocol::random_id();
    let done = api
        .reactivate(&id, card, &key)
        .map_err(|e| match e.code() {
            Some("window_running") => anyhow!(e).context(format!(
                "the viewing window of licence {id} is still running; play {item} now"
            )),
            Some("not_enabled") => anyhow!(e).context(format!(
                "licence {id} has no window yet; `player enable {item}` starts it"
            )),
            _ => explain(e, &format!("reactivating licence {id} failed")),
        })?;
    let now = clock::now().map_err(|e| anyhow!(e))?;
    let licence = check_signed(home, api, &done.licence, now)?;
    let window = licence
        .window
        .ok_or_else(|| anyhow!("main answered with a licence that has no viewing window"))?;
    home.save_licence(item, &done.licence)?;
    println!(
        "reactivated: {item} for {}.{:02} (charge {}); the new viewing window ends at {} (unix {})",
        done.amount_cents / 100,
        done.amount_cents % 100,
        done.charge_id,
        clock::format_unix(window.end),
        window.end
    );
    Ok(())
}

fn play(
    home: &Home,
    main: &str,
    item: &ItemId,
    out: Option<&str>,
    sealed: Option<PathBuf>,
) -> Result<()> {
    let signed = home.licence(item)?.ok_or_else(|| {
        anyhow!("no licence for {item}; run `player licence {item}` and `player enable {item}`")
    })?;
    let now = clock::now().map_err(|e| anyhow!(e))?;
    let licence = check_signed(home, &Api::new(main, None)?, &signed, now)?;
    // Ask main whether the licence still stands; without an answer (offline, logged out) the
    // signed window is the bound.
    match home
        .session()?
        .map(|s| Api::new(main, Some(&s)).and_then(|api| api.licence_status(&licence.licence_id)))
    {
        Some(Err(e)) if e.code() == Some("licence_revoked") => {
            bail!("the licence for {item} has been revoked; contact support ({e})")
        }
        Some(Err(e)) => {
            eprintln!("could not check the licence with main ({e}); playing within its window")
        }
        Some(Ok(())) | None => {}
    }
    let device = home.device()?;
    let sealed = sealed.unwrap_or_else(|| home.download_path(item));
    let playback = Playback::open(&licence, item, &device, &sealed, now)?;
    if let Some(max) = licence.policy.max_plays {
        // Counted before any byte is written: a play started is a play.
        let window_start = licence.window.map_or(0, |w| w.start);
        let plays = home.count_play(item, &licence.licence_id, window_start)?;
        if plays > max {
            bail!(
                "the licence for {item} allows {max} plays and all are used; rent {item} again \
                 to watch it again"
            );
        }
        eprintln!("play {plays} of {max} allowed by the licence");
    }
    let out = match out {
        Some(o) => o,
        None if io::stdout().is_terminal() => {
            bail!("refusing to write {item} to a terminal; pass --out FILE, or --out - to force")
        }
        None => "-",
    };
    if out == "-" {
        let n = playback.write_to(io::stdout().lock())?;
        eprintln!("played: {n} bytes to stdout");
        return Ok(());
    }
    let path = Path::new(out);
    // Written under a temporary name so that a failed playback leaves no half file behind.
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".partial");
    let tmp = PathBuf::from(tmp);
    let result = File::create(&tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))
        .and_then(|f| Ok(playback.write_to(f)?))
        .and_then(|n| {
            fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
            Ok(n)
        });
    match result {
        Ok(n) => {
            println!("played: {n} bytes to {}", path.display());
            Ok(())
        }
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

fn status(home: &Home) -> Result<()> {
    let mut out = io::stdout().lock();
    match home.session()? {
        Some(s) => writeln!(out, "account: {}", s.account_id)?,
        None => writeln!(out, "account: not logged in")?,
    }
    let mut items: Vec<String> = Vec::new();
    for dir in ["rentals", "licences", "downloads"] {
        let Ok(entries) = fs::read_dir(home.root().join(dir)) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let id = name.split('.').next().unwrap_or_default().to_owned();
            if ItemId::parse(&id).is_ok() && !items.contains(&id) {
                items.push(id);
            }
        }
    }
    items.sort();
    let now = clock::now().map_err(|e| anyhow!(e))?;
    let verifier = home
        .jwks()?
        .and_then(|j| protocol::Verifier::from_jwks(&j).ok());
    for id in items {
        let item = ItemId::parse(&id)?;
        let rented = match home.rental(&item)? {
            Some(r) => format!("rented (licence {})", r.licence_id),
            None => "not rented here".into(),
        };
        let path = home.download_path(&item);
        let downloaded = if let Ok(m) = fs::metadata(&path) {
            format!("downloaded ({} bytes)", m.len())
        } else if let Some(s) = DownloadState::load(&download::state_path(&path))? {
            format!(
                "download in progress ({} chunks verified)",
                s.verified_chunks
            )
        } else {
            "not downloaded".into()
        };
        let licensed = match (home.licence(&item)?, &verifier) {
            (None, _) => "no licence".into(),
            (Some(signed), Some(v)) => match Licence::verify(v, &signed, now) {
                Ok(l) => match l.window {
                    Some(w) if now >= w.end => {
                        format!("window ended {}", clock::format_unix(w.end))
                    }
                    Some(w) => format!("enabled until {}", clock::format_unix(w.end)),
                    None => "licence bound, not enabled".into(),
                },
                Err(e) => format!("licence unusable: {e}"),
            },
            (Some(_), None) => "licence saved".into(),
        };
        writeln!(out, "{id}: {rented}; {downloaded}; {licensed}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from([
            "player", "--home", "/tmp/h", "--main", "http://m", "rent", "film",
        ])
        .unwrap();
        assert!(matches!(cli.command, Command::Rent { ref card, .. } if card == DEFAULT_CARD));
        assert!(
            Cli::try_parse_from(["player", "download", "film", "--range-bytes", "9000000"])
                .is_err()
        );
    }
}

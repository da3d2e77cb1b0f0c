//! `player group …`: a group account from the command line — create one, invite a member with
//! privileges, join with the invitation code, show it, read its audit view. Renting on a group
//! is `player rent ITEM --group GROUP`. Script-friendly lines: `group_id: ID` (create) and
//! `code: CODE` (invite).

use anyhow::{Context, Result};
use clap::Subcommand;
use player::api::Api;
use serde_json::{Value, json};

#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// Create a group you own; its members' rentals are charged to CARD
    Create {
        /// The group's name
        name: String,
        /// Card number (the sandbox test card by default)
        #[arg(long, default_value = crate::cli::DEFAULT_CARD)]
        card: String,
    },
    /// Invite EMAIL to your group with privileges; prints the code to pass on
    Invite {
        group: String,
        email: String,
        /// Most the member may spend per calendar month, in cents [default: no cap]
        #[arg(long, value_name = "CENTS")]
        monthly_cap_cents: Option<u64>,
        /// Highest age rating the member may rent [default: any]
        #[arg(long, value_name = "AGE")]
        max_rating: Option<u8>,
        /// The member may not rent on the group's account
        #[arg(long)]
        no_rent: bool,
    },
    /// Join a group with the invitation code its owner passed you
    Join { group: String, code: String },
    /// Show a group (its members, for its owner; your privileges, for a member)
    Show { group: String },
    /// Every rental charged to your group: who, what, when, from where (owner only)
    Audit { group: String },
    /// List the groups you belong to
    List,
}

fn cents(v: &Value) -> String {
    let c = v.as_u64().unwrap_or(0);
    format!("{}.{:02}", c / 100, c % 100)
}

fn privileges(p: &Value) -> String {
    let mut parts = vec![if p["may_rent"] == json!(false) {
        "may not rent".to_owned()
    } else {
        "may rent".to_owned()
    }];
    if !p["monthly_cap_cents"].is_null() {
        parts.push(format!("cap {}/month", cents(&p["monthly_cap_cents"])));
    }
    if !p["max_rating"].is_null() {
        parts.push(format!("rated up to {}", p["max_rating"]));
    }
    parts.join(", ")
}

fn print_group(g: &Value) {
    println!("group_id: {}", g["group_id"].as_str().unwrap_or("?"));
    println!(
        "name: {} (owner {}; you are its {})",
        g["name"].as_str().unwrap_or("?"),
        g["owner_email"].as_str().unwrap_or("?"),
        g["role"].as_str().unwrap_or("?")
    );
    if let Some(pm) = g["payment_method"].as_str() {
        println!("charged to: {pm}");
    }
    for m in g["members"].as_array().into_iter().flatten() {
        println!(
            "member: {} ({}): {}; spent {} this month",
            m["email"].as_str().unwrap_or("?"),
            m["account_id"].as_str().unwrap_or("?"),
            privileges(&m["privileges"]),
            cents(&m["spent_this_month_cents"])
        );
    }
    for i in g["invitations"].as_array().into_iter().flatten() {
        println!(
            "invited: {}: {}",
            i["email"].as_str().unwrap_or("?"),
            privileges(&i["privileges"])
        );
    }
    if !g["you"].is_null() {
        println!(
            "you: {}; spent {} this month",
            privileges(&g["you"]["privileges"]),
            cents(&g["you"]["spent_this_month_cents"])
        );
    }
}

/// Runs one `player group` command.
pub fn run(api: &Api, command: GroupCommand) -> Result<()> {
    match command {
        GroupCommand::Create { name, card } => {
            let g = api
                .post_json("/v1/groups", &json!({"name": name, "card": card}))
                .context("creating the group failed")?;
            print_group(&g);
        }
        GroupCommand::Invite {
            group,
            email,
            monthly_cap_cents,
            max_rating,
            no_rent,
        } => {
            let body = json!({"email": email, "privileges": {
                "may_rent": !no_rent,
                "monthly_cap_cents": monthly_cap_cents,
                "max_rating": max_rating,
            }});
            let inv = api
                .post_json(&format!("/v1/groups/{group}/invitations"), &body)
                .context("inviting failed")?;
            println!(
                "invited: {} ({}); the invitation expires at unix {}",
                inv["email"].as_str().unwrap_or("?"),
                privileges(&inv["privileges"]),
                inv["expires_at"]
            );
            println!("code: {}", inv["code"].as_str().unwrap_or("?"));
            println!("(pass the code on; they join with `player group join {group} CODE`)");
        }
        GroupCommand::Join { group, code } => {
            let g = api
                .post_json(&format!("/v1/groups/{group}/join"), &json!({"code": code}))
                .context("joining the group failed")?;
            print_group(&g);
        }
        GroupCommand::Show { group } => {
            let g = api
                .get_json(&format!("/v1/groups/{group}"))
                .context("reading the group failed")?;
            print_group(&g);
        }
        GroupCommand::Audit { group } => {
            let a = api
                .get_json(&format!("/v1/groups/{group}/audit"))
                .context("reading the audit view failed")?;
            for r in a["rentals"].as_array().into_iter().flatten() {
                println!(
                    "rental: {} {} by {} from {} for {} ({})",
                    player::clock::format_unix(r["created_at"].as_u64().unwrap_or(0)),
                    r["item"].as_str().unwrap_or("?"),
                    r["email"].as_str().unwrap_or("?"),
                    r["client_ip"].as_str().unwrap_or("?"),
                    cents(&r["amount_cents"]),
                    r["rental_id"].as_str().unwrap_or("?"),
                );
            }
            println!("total: {}", cents(&a["total_cents"]));
        }
        GroupCommand::List => {
            let l = api
                .get_json("/v1/groups")
                .context("listing groups failed")?;
            for g in l["groups"].as_array().into_iter().flatten() {
                println!(
                    "{}  {} ({})",
                    g["group_id"].as_str().unwrap_or("?"),
                    g["name"].as_str().unwrap_or("?"),
                    g["role"].as_str().unwrap_or("?")
                );
            }
        }
    }
    Ok(())
}

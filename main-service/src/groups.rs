//! Group accounts (a family, a company): an owner creates the group with a payment method,
//! invites members by email, and gives each member privileges — whether they may rent on the
//! group's account, a monthly spend cap, a rating cap. Members' rentals charged to the group are
//! checked against their privileges first, and the owner reads who rented what, when and from
//! where in the audit view.
//!
//! A group is one record. Every change reads it, changes a copy and writes it back conditional
//! on the revision it read ([`Store::update_group`](crate::store::Store::update_group)),
//! retrying a few rounds when another change got there first — so two rentals of one member
//! cannot both pass the same spend cap.
//!
//! Invitations, like guest claim codes, are handed to the caller (the owner) rather than mailed:
//! the code is shown once and only its BLAKE3 is kept.

use crate::AppState;
use crate::records::{Group, Invitation, Member, MonthSpend, Privileges, Rental};
use crate::store::StoreError;

/// Most members (not counting removed ones) a group may have.
pub const MAX_MEMBERS: usize = 50;
/// Most open invitations a group may have.
pub const MAX_INVITATIONS: usize = 20;
/// How long an invitation may be accepted.
pub const INVITATION_SECS: u64 = 7 * 24 * 3600;
/// Rounds of "someone changed the group since we read it" before answering busy.
const ROUNDS: u32 = 8;

/// Why a group operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum GroupError {
    /// No such group, or the caller is not in it (the two are not told apart).
    #[error("no such group, or you are not a member of it")]
    NotFound,
    #[error("only the group's owner may do this")]
    NotOwner,
    #[error("{0}")]
    Invalid(String),
    #[error(
        "no open invitation to this group for your email matches this code (it may have expired or been used)"
    )]
    BadInvitation,
    #[error("{0} is already a member of this group")]
    AlreadyMember(String),
    #[error("{0}")]
    Full(&'static str),
    #[error("the owner cannot leave or be removed from the group")]
    OwnerStays,
    #[error("your group's owner has not allowed you to rent on the group's account")]
    MayNotRent,
    #[error(
        "this rental costs {price} cents; with the {spent} cents you have spent this month it would pass your monthly cap of {cap} cents on the group's account"
    )]
    SpendCap { cap: u64, spent: u64, price: u64 },
    #[error("{0}")]
    RatingCap(String),
    #[error("the group is being changed by another request; retry")]
    Busy,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The calendar month (UTC) of a unix second, as `year * 100 + month`.
pub fn month_of(unix_secs: u64) -> u32 {
    let at = time::OffsetDateTime::from_unix_timestamp(unix_secs.min(i64::MAX as u64) as i64)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    at.year().max(0) as u32 * 100 + u32::from(u8::from(at.month()))
}

/// What `member` has spent on the group's account in `month`.
pub fn spent_in(member: &Member, month: u32) -> u64 {
    member
        .spent
        .filter(|s| s.month == month)
        .map_or(0, |s| s.cents)
}

/// Checks a rental of an item costing `price` with age rating `rating` against `member`'s
/// privileges in `month`; the member's spend after it.
pub fn admit(
    member: &Member,
    price: u64,
    rating: Option<u8>,
    month: u32,
) -> Result<MonthSpend, GroupError> {
    let p = &member.privileges;
    if !p.may_rent {
        return Err(GroupError::MayNotRent);
    }
    if let Some(cap) = p.max_rating {
        match rating {
            None => {
                return Err(GroupError::RatingCap(format!(
                    "this item has no age rating, and your group allows you only items rated up to {cap}"
                )));
            }
            Some(r) if r > cap => {
                return Err(GroupError::RatingCap(format!(
                    "this item is rated {r}, and your group allows you only items rated up to {cap}"
                )));
            }
            Some(_) => {}
        }
    }
    let spent = spent_in(member, month);
    if let Some(cap) = p.monthly_cap_cents
        && spent.saturating_add(price) > cap
    {
        return Err(GroupError::SpendCap { cap, spent, price });
    }
    Ok(MonthSpend {
        month,
        cents: spent.saturating_add(price),
    })
}

/// The active member `account_id` of `group`.
fn member_mut<'a>(group: &'a mut Group, account_id: &str) -> Option<&'a mut Member> {
    group
        .members
        .iter_mut()
        .find(|m| m.account_id == account_id && m.removed_at.is_none())
}

/// Whether `account_id` belongs to `group` now.
pub fn is_member(group: &Group, account_id: &str) -> bool {
    group
        .members
        .iter()
        .any(|m| m.account_id == account_id && m.removed_at.is_none())
}

/// The group as `account_id` may see it: any active member; others are told it does not exist.
pub async fn visible(
    state: &AppState,
    account_id: &str,
    group_id: &str,
) -> Result<Group, GroupError> {
    match state.store.group(group_id).await? {
        Some(g) if is_member(&g, account_id) => Ok(g),
        _ => Err(GroupError::NotFound),
    }
}

/// Reads the group (`missing` when there is none), lets `change` edit a copy, and writes it
/// back if nobody changed it in between (else reads again, a few rounds). `change` sees the
/// group as stored and refuses by returning an error; nothing is written then.
async fn update<R>(
    state: &AppState,
    group_id: &str,
    missing: GroupError,
    mut change: impl FnMut(&mut Group) -> Result<R, GroupError>,
) -> Result<(Group, R), GroupError> {
    let mut missing = Some(missing);
    for _ in 0..ROUNDS {
        let Some(previous) = state.store.group(group_id).await? else {
            return Err(missing.take().expect("returned once"));
        };
        let mut group = previous.clone();
        let out = change(&mut group)?;
        group.revision = previous.revision + 1;
        if state.store.update_group(&previous, group.clone()).await? {
            return Ok((group, out));
        }
    }
    Err(GroupError::Busy)
}

/// [`update`] by a member of the group (others are told it does not exist).
async fn change<R>(
    state: &AppState,
    account_id: &str,
    group_id: &str,
    mut change: impl FnMut(&mut Group) -> Result<R, GroupError>,
) -> Result<(Group, R), GroupError> {
    update(state, group_id, GroupError::NotFound, |g| {
        if !is_member(g, account_id) {
            return Err(GroupError::NotFound);
        }
        change(g)
    })
    .await
}

fn owner_only(group: &Group, account_id: &str) -> Result<(), GroupError> {
    if group.owner_id == account_id {
        Ok(())
    } else {
        Err(GroupError::NotOwner)
    }
}

/// Creates a group owned by `owner`, whose rentals are charged with `payment_method`.
pub async fn create(
    state: &AppState,
    owner_id: &str,
    name: &str,
    payment_method: &str,
    now: u64,
) -> Result<Group, GroupError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 80 || name.chars().any(char::is_control) {
        return Err(GroupError::Invalid(
            "a group's name is 1 to 80 characters, without control characters".into(),
        ));
    }
    state
        .payments
        .check(payment_method)
        .map_err(|e| GroupError::Invalid(format!("the payment method is not usable: {e}")))?;
    let owner = state
        .store
        .account(owner_id)
        .await?
        .ok_or(GroupError::NotFound)?;
    let group = Group {
        group_id: format!("grp-{}", protocol::random_id()),
        name: name.to_owned(),
        owner_id: owner_id.to_owned(),
        created_at: now,
        payment_method: payment_method.to_owned(),
        revision: 1,
        members: vec![Member {
            account_id: owner_id.to_owned(),
            email: owner.email,
            privileges: Privileges {
                may_rent: true,
                monthly_cap_cents: None,
                max_rating: None,
            },
            joined_at: now,
            removed_at: None,
            spent: None,
        }],
        invitations: Vec::new(),
    };
    if !state.store.create_group(group.clone()).await? {
        return Err(GroupError::Store(StoreError::Conflict {
            operation: "create_group",
            detail: format!("group id {} exists", group.group_id),
        }));
    }
    tracing::info!(group = %group.group_id, owner = owner_id, "group created");
    Ok(group)
}

fn code_hash(group_id: &str, code: &str) -> String {
    blake3::hash(format!("{group_id}\n{code}").as_bytes())
        .to_hex()
        .to_string()
}

/// Invites `email` with `privileges`; the invitation code (to pass on to the invitee), shown
/// this once. Inviting an email again replaces its open invitation.
pub async fn invite(
    state: &AppState,
    owner_id: &str,
    group_id: &str,
    email: &str,
    privileges: Privileges,
    now: u64,
) -> Result<(Invitation, String), GroupError> {
    let email =
        crate::accounts::normalise_email(email).map_err(|e| GroupError::Invalid(e.to_string()))?;
    let code = protocol::random_id();
    let hash = code_hash(group_id, &code);
    let (_, invitation) = change(state, owner_id, group_id, |g| {
        owner_only(g, owner_id)?;
        if g.members
            .iter()
            .any(|m| m.email == email && m.removed_at.is_none())
        {
            return Err(GroupError::AlreadyMember(email.clone()));
        }
        g.invitations
            .retain(|i| i.email != email && i.expires_at > now);
        if g.invitations.len() >= MAX_INVITATIONS {
            return Err(GroupError::Full(
                "the group has as many open invitations as it may have; wait for some to be accepted or to expire",
            ));
        }
        let invitation = Invitation {
            email: email.clone(),
            code_hash: hash.clone(),
            privileges,
            invited_at: now,
            expires_at: now + INVITATION_SECS,
        };
        g.invitations.push(invitation.clone());
        Ok(invitation)
    })
    .await?;
    tracing::info!(group = group_id, "member invited");
    Ok((invitation, code))
}

/// `account_id` accepts its invitation to the group with `code`.
pub async fn join(
    state: &AppState,
    account_id: &str,
    group_id: &str,
    code: &str,
    now: u64,
) -> Result<Group, GroupError> {
    let account = state
        .store
        .account(account_id)
        .await?
        .ok_or(GroupError::BadInvitation)?;
    let hash = code_hash(group_id, code);
    // Not a member yet: a missing group and a wrong code are both a bad invitation.
    let (group, ()) = update(state, group_id, GroupError::BadInvitation, |g| {
        if is_member(g, account_id) {
            return Err(GroupError::AlreadyMember(account.email.clone()));
        }
        let Some(at) = g.invitations.iter().position(|i| {
            i.email == account.email
                && i.expires_at > now
                && crate::edges::same_secret(&i.code_hash, &hash)
        }) else {
            return Err(GroupError::BadInvitation);
        };
        if crate::store::active_members(g).count() >= MAX_MEMBERS {
            return Err(GroupError::Full(
                "the group has as many members as it may have",
            ));
        }
        let invitation = g.invitations.remove(at);
        // A member who left and is invited again comes back with their audit trail.
        let earlier = g
            .members
            .iter()
            .find(|m| m.account_id == account_id)
            .and_then(|m| m.spent);
        g.members.retain(|m| m.account_id != account_id);
        g.members.push(Member {
            account_id: account_id.to_owned(),
            email: account.email.clone(),
            privileges: invitation.privileges,
            joined_at: now,
            removed_at: None,
            spent: earlier,
        });
        Ok(())
    })
    .await?;
    tracing::info!(group = group_id, member = account_id, "member joined");
    Ok(group)
}

/// The owner sets `member_id`'s privileges.
pub async fn set_privileges(
    state: &AppState,
    owner_id: &str,
    group_id: &str,
    member_id: &str,
    privileges: Privileges,
) -> Result<Group, GroupError> {
    let (group, ()) = change(state, owner_id, group_id, |g| {
        owner_only(g, owner_id)?;
        let member = member_mut(g, member_id).ok_or(GroupError::Invalid(format!(
            "{member_id} is not a member of this group"
        )))?;
        member.privileges = privileges;
        Ok(())
    })
    .await?;
    Ok(group)
}

/// Removes `member_id` from the group: the owner removes a member, or a member leaves. The
/// member's rentals stay in the audit view.
pub async fn remove(
    state: &AppState,
    caller: &str,
    group_id: &str,
    member_id: &str,
    now: u64,
) -> Result<Group, GroupError> {
    let (group, ()) = change(state, caller, group_id, |g| {
        if caller != member_id {
            owner_only(g, caller)?;
        }
        if member_id == g.owner_id {
            return Err(GroupError::OwnerStays);
        }
        let member = member_mut(g, member_id).ok_or(GroupError::Invalid(format!(
            "{member_id} is not a member of this group"
        )))?;
        member.removed_at = Some(now);
        Ok(())
    })
    .await?;
    tracing::info!(group = group_id, member = member_id, "member removed");
    Ok(group)
}

/// A rental of `price` (item rated `rating`) by `account_id` on the group's account, checked
/// against the member's privileges and counted against their month's spend; the payment
/// method to charge and the spend to hand back to [`refund_spend`] if the rental fails.
pub async fn admit_rental(
    state: &AppState,
    account_id: &str,
    group_id: &str,
    price: u64,
    rating: Option<u8>,
    now: u64,
) -> Result<(String, MonthSpend), GroupError> {
    let month = month_of(now);
    let (group, _) = change(state, account_id, group_id, |g| {
        let member = member_mut(g, account_id).ok_or(GroupError::NotFound)?;
        member.spent = Some(admit(member, price, rating, month)?);
        Ok(())
    })
    .await?;
    Ok((
        group.payment_method,
        MonthSpend {
            month,
            cents: price,
        },
    ))
}

/// Gives back a spend [`admit_rental`] counted for a rental that then failed. A failure here
/// is logged: the member's month then counts a rental they did not get, which the owner can
/// make up by raising the cap.
pub async fn refund_spend(state: &AppState, account_id: &str, group_id: &str, spend: MonthSpend) {
    let result = change(state, account_id, group_id, |g| {
        if let Some(m) = member_mut(g, account_id)
            && let Some(s) = m.spent.as_mut()
            && s.month == spend.month
        {
            s.cents = s.cents.saturating_sub(spend.cents);
        }
        Ok(())
    })
    .await;
    if let Err(e) = result {
        tracing::error!(group = group_id, member = account_id, error = %e, cents = spend.cents, "could not give back a failed rental's spend");
    }
}

/// One rental charged to a group, as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditEntry {
    pub rental_id: String,
    pub account_id: String,
    pub email: String,
    pub item: String,
    pub amount_cents: u64,
    pub created_at: u64,
    /// The address the rental was made from.
    pub client_ip: Option<String>,
}

/// Every rental charged to the group, newest first; for the owner only.
pub async fn audit(
    state: &AppState,
    owner_id: &str,
    group_id: &str,
) -> Result<Vec<AuditEntry>, GroupError> {
    let group = visible(state, owner_id, group_id).await?;
    owner_only(&group, owner_id)?;
    let mut entries = Vec::new();
    for member in &group.members {
        let rentals: Vec<Rental> = state.store.rentals_of(&member.account_id).await?;
        entries.extend(
            rentals
                .into_iter()
                .filter(|r| r.group_id.as_deref() == Some(group_id))
                .map(|r| AuditEntry {
                    rental_id: r.rental_id,
                    account_id: r.account_id,
                    email: member.email.clone(),
                    item: r.item.to_string(),
                    amount_cents: r.amount_cents,
                    created_at: r.created_at,
                    client_ip: r.client_ip,
                }),
        );
    }
    entries.sort_by(|a, b| {
        b.created_at
            .cmp(&a.created_at)
            .then_with(|| a.rental_id.cmp(&b.rental_id))
    });
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(p: Privileges, spent: Option<MonthSpend>) -> Member {
        Member {
            account_id: "a".into(),
            email: "a@example.com".into(),
            privileges: p,
            joined_at: 0,
            removed_at: None,
            spent,
        }
    }

    const FREE: Privileges = Privileges {
        may_rent: true,
        monthly_cap_cents: None,
        max_rating: None,
    };

    #[test]
    fn months_are_utc_calendar_months() {
        assert_eq!(month_of(0), 197001);
        // 2026-11-30T23:59:59Z and a second later.
        assert_eq!(month_of(1_796_083_199), 202611);
        assert_eq!(month_of(1_796_083_200), 202612);
    }

    #[test]
    fn privileges_refuse_with_their_reason() {
        let no = member(
            Privileges {
                may_rent: false,
                ..FREE
            },
            None,
        );
        assert!(matches!(
            admit(&no, 1, None, 1),
            Err(GroupError::MayNotRent)
        ));

        let twelve = member(
            Privileges {
                max_rating: Some(12),
                ..FREE
            },
            None,
        );
        assert!(admit(&twelve, 1, Some(12), 1).is_ok());
        let e = admit(&twelve, 1, Some(16), 1).unwrap_err();
        assert_eq!(
            e.to_string(),
            "this item is rated 16, and your group allows you only items rated up to 12"
        );
        assert!(matches!(
            admit(&twelve, 1, None, 1),
            Err(GroupError::RatingCap(m)) if m.contains("no age rating")
        ));
        assert!(admit(&member(FREE, None), 1, None, 1).is_ok());
    }

    #[test]
    fn the_cap_counts_only_this_months_spend() {
        let capped = |spent| {
            member(
                Privileges {
                    monthly_cap_cents: Some(1000),
                    ..FREE
                },
                spent,
            )
        };
        let spent = |month, cents| Some(MonthSpend { month, cents });
        assert_eq!(
            admit(&capped(spent(202611, 600)), 400, None, 202611).unwrap(),
            MonthSpend {
                month: 202611,
                cents: 1000
            }
        );
        assert!(matches!(
            admit(&capped(spent(202611, 601)), 400, None, 202611),
            Err(GroupError::SpendCap {
                cap: 1000,
                spent: 601,
                price: 400
            })
        ));
        // Last month's spend does not count.
        assert_eq!(
            admit(&capped(spent(202610, 999)), 400, None, 202611)
                .unwrap()
                .cents,
            400
        );
    }
}

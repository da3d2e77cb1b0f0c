//! Payment: a provider trait and the sandbox provider, which behaves like a real gateway's test
//! mode: well-known test cards succeed or decline, charges are idempotent by key (a repeated key
//! replays the first answer, a decline included, as real gateways do), charges can be refunded,
//! and the sandbox reports what it charged and refunded.

use std::collections::HashMap;
use std::sync::Mutex;

/// A successful charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    pub charge_id: String,
    pub amount_cents: u64,
}

/// Why a charge failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentError {
    #[error("the card was declined")]
    Declined,
    #[error("the card has insufficient funds")]
    InsufficientFunds,
    #[error("the card number is not valid")]
    InvalidCard,
    #[error("no charge {0} to refund")]
    UnknownCharge(String),
}

/// A payment gateway.
pub trait PaymentProvider: Send + Sync + std::fmt::Debug {
    /// Charges `card` once per `idempotency_key`: a repeated key returns the first result.
    fn charge(
        &self,
        idempotency_key: &str,
        card: &str,
        amount_cents: u64,
    ) -> Result<Charge, PaymentError>;

    /// Refunds a successful charge in full; refunding it again changes nothing.
    fn refund(&self, charge_id: &str) -> Result<(), PaymentError>;

    /// Checks a payment method before it is kept on file (a group's), without charging it.
    fn check(&self, card: &str) -> Result<(), PaymentError>;
}

/// Test cards of the sandbox.
pub mod cards {
    pub const OK: &str = "4242424242424242";
    pub const OK_MASTERCARD: &str = "5555555555554444";
    pub const DECLINED: &str = "4000000000000002";
    pub const INSUFFICIENT_FUNDS: &str = "4000000000009995";
}

/// The sandbox gateway.
#[derive(Debug, Default)]
pub struct SandboxPayments {
    charges: Mutex<HashMap<String, Result<Charge, PaymentError>>>,
    refunded: Mutex<Vec<String>>,
}

fn luhn_valid(number: &str) -> bool {
    let digits: Option<Vec<u32>> = number
        .chars()
        .filter(|c| *c != ' ')
        .map(|c| c.to_digit(10))
        .collect();
    let Some(digits) = digits else { return false };
    if !(12..=19).contains(&digits.len()) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                if d * 2 > 9 { d * 2 - 9 } else { d * 2 }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

impl SandboxPayments {
    /// Number of distinct charge attempts made (successful or not).
    pub fn charge_count(&self) -> usize {
        self.charges.lock().expect("not poisoned").len()
    }

    /// The successful charges, refunded or not.
    pub fn charges(&self) -> Vec<Charge> {
        let charges = self.charges.lock().expect("not poisoned");
        charges.values().filter_map(|c| c.clone().ok()).collect()
    }

    /// The ids of the refunded charges.
    pub fn refunds(&self) -> Vec<String> {
        self.refunded.lock().expect("not poisoned").clone()
    }

    /// The successful charges that were not refunded: what the customers paid.
    pub fn kept_charges(&self) -> Vec<Charge> {
        let refunded = self.refunds();
        self.charges()
            .into_iter()
            .filter(|c| !refunded.contains(&c.charge_id))
            .collect()
    }
}

impl PaymentProvider for SandboxPayments {
    fn charge(
        &self,
        idempotency_key: &str,
        card: &str,
        amount_cents: u64,
    ) -> Result<Charge, PaymentError> {
        let mut charges = self.charges.lock().expect("not poisoned");
        charges
            .entry(idempotency_key.to_owned())
            .or_insert_with(|| {
                let card: String = card.chars().filter(|c| *c != ' ').collect();
                if !luhn_valid(&card) {
                    return Err(PaymentError::InvalidCard);
                }
                match card.as_str() {
                    cards::DECLINED => Err(PaymentError::Declined),
                    cards::INSUFFICIENT_FUNDS => Err(PaymentError::InsufficientFunds),
                    _ => Ok(Charge {
                        charge_id: format!("ch_{}", protocol::random_id()),
                        amount_cents,
                    }),
                }
            })
            .clone()
    }

    fn check(&self, card: &str) -> Result<(), PaymentError> {
        let card: String = card.chars().filter(|c| *c != ' ').collect();
        if luhn_valid(&card) {
            Ok(())
        } else {
            Err(PaymentError::InvalidCard)
        }
    }

    fn refund(&self, charge_id: &str) -> Result<(), PaymentError> {
        let known = self.charges().iter().any(|c| c.charge_id == charge_id);
        if !known {
            return Err(PaymentError::UnknownCharge(charge_id.to_owned()));
        }
        let mut refunded = self.refunded.lock().expect("not poisoned");
        if !refunded.iter().any(|r| r == charge_id) {
            refunded.push(charge_id.to_owned());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_cards_behave() {
        let p = SandboxPayments::default();
        assert!(p.charge("a", cards::OK, 100).is_ok());
        assert_eq!(
            p.charge("b", cards::DECLINED, 100),
            Err(PaymentError::Declined)
        );
        assert_eq!(p.charge("c", "1234", 100), Err(PaymentError::InvalidCard));
        assert_eq!(
            p.charge("d", "4242424242424241", 100),
            Err(PaymentError::InvalidCard)
        );
        let first = p.charge("e", cards::OK_MASTERCARD, 100).unwrap();
        assert_eq!(p.charge("e", cards::OK_MASTERCARD, 100).unwrap(), first);
        assert_eq!(p.charge_count(), 5);
        assert_eq!(p.charges().len(), 2);
        p.refund(&first.charge_id).unwrap();
        p.refund(&first.charge_id).unwrap();
        assert_eq!(p.refunds(), vec![first.charge_id.clone()]);
        assert_eq!(p.kept_charges().len(), 1);
        assert!(p.refund("ch_unknown").is_err());
    }
}

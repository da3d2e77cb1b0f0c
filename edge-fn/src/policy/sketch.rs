//! How often items were requested lately, in constant space: a count-min sketch whose counters
//! halve every `sample` increments, so that yesterday's hit fades and a new release can win.

use serde::{Deserialize, Serialize};

use super::ItemKey;

const DEPTH: usize = 4;

/// A count-min sketch of request counts with periodic halving (the TinyLFU "reset").
///
/// Hashes are computed here (FNV-1a, then a mix per row) rather than with std's hasher, whose
/// output may change between Rust releases: the sketch is stored and read back across upgrades.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrequencySketch {
    /// Counters per row, a power of two.
    width: u32,
    /// Increments between two halvings.
    sample: u32,
    /// Increments since the last halving.
    additions: u32,
    /// `DEPTH` rows of `width` counters, as hex (two characters per counter) to keep the stored
    /// state small.
    #[serde(with = "hex_bytes")]
    counters: Vec<u8>,
}

impl FrequencySketch {
    /// A sketch with at least `width` counters per row (rounded up to a power of two), halving
    /// every `sample` increments.
    pub fn new(width: u32, sample: u32) -> Self {
        let width = width.max(16).next_power_of_two();
        Self {
            width,
            sample: sample.max(1),
            additions: 0,
            counters: vec![0; DEPTH * width as usize],
        }
    }

    /// Counts one request of `item`; halves every counter once `sample` requests were counted.
    pub fn increment(&mut self, item: &ItemKey) {
        let slots = self.slots(item);
        // Conservative update: raise only the counters at the minimum, which keeps the
        // over-estimate of rare items (hash collisions with popular ones) low.
        let min = slots.iter().map(|&s| self.counters[s]).min().unwrap_or(0);
        if min < u8::MAX {
            for s in slots {
                if self.counters[s] == min {
                    self.counters[s] += 1;
                }
            }
        }
        self.additions += 1;
        if self.additions >= self.sample {
            self.halve();
        }
    }

    /// The estimated number of recent requests of `item` (never an under-estimate, before halving).
    pub fn estimate(&self, item: &ItemKey) -> u32 {
        self.slots(item)
            .iter()
            .map(|&s| u32::from(self.counters[s]))
            .min()
            .unwrap_or(0)
    }

    /// Changes the number of increments between two halvings (the policy scales it with the
    /// number of items it holds, as TinyLFU does).
    pub fn set_sample(&mut self, sample: u32) {
        self.sample = sample.max(1);
    }

    /// Ages every count: what is not requested again fades by half each period.
    pub fn halve(&mut self) {
        for c in &mut self.counters {
            *c >>= 1;
        }
        self.additions /= 2;
    }

    /// Whether a stored sketch is consistent (its counters fill `DEPTH` rows of a power-of-two
    /// width), so that lookups cannot index out of bounds.
    pub fn check(&self) -> Result<(), String> {
        if self.width.is_power_of_two() && self.counters.len() == DEPTH * self.width as usize {
            Ok(())
        } else {
            Err(format!(
                "sketch of width {} has {} counters",
                self.width,
                self.counters.len()
            ))
        }
    }

    fn slots(&self, item: &ItemKey) -> [usize; DEPTH] {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in item.0.as_bytes() {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        let mask = self.width as usize - 1;
        let mut out = [0; DEPTH];
        for (row, slot) in out.iter_mut().enumerate() {
            let mixed = mix(h ^ (row as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
            *slot = row * self.width as usize + (mixed as usize & mask);
        }
        out
    }
}

/// SplitMix64's finaliser: spreads FNV's weak low bits over the whole word.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        let mut out = String::with_capacity(bytes.len() * 2);
        for b in bytes {
            out.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
            out.push(char::from_digit(u32::from(b & 15), 16).unwrap_or('0'));
        }
        s.serialize_str(&out)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        let digits = text.as_bytes();
        if digits.len() % 2 != 0 {
            return Err(D::Error::custom("odd number of hex digits"));
        }
        digits
            .chunks(2)
            .map(|pair| {
                let hi = char::from(pair[0]).to_digit(16);
                let lo = char::from(pair[1]).to_digit(16);
                match (hi, lo) {
                    (Some(hi), Some(lo)) => Ok((hi * 16 + lo) as u8),
                    _ => Err(D::Error::custom("not a hex digit")),
                }
            })
            .collect()
    }
}

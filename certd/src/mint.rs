//! Fresh secrets: contract ids, reply and bounce tokens, ENVID secrets and SMS codes.
//! Drawn here, at the edge, so that the store only saves what it is given.

use crate::store::Minted;

/// 128 random bits, RFC 4648 base32 lower-case without padding (26 characters).
pub fn secret() -> String {
    let bytes: [u8; 16] = rand::random();
    data_encoding::BASE32_NOPAD
        .encode(&bytes)
        .to_ascii_lowercase()
}

/// An id and three secrets per destination for a new contract.
pub fn contract(destinations: usize) -> Minted {
    Minted {
        contract_id: secret(),
        destinations: (0..destinations)
            .map(|_| [secret(), secret(), secret()])
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_distinct_base32() {
        let m = contract(2);
        let mut all: Vec<&String> = m.destinations.iter().flatten().collect();
        all.push(&m.contract_id);
        assert!(all.iter().all(|s| s.len() == 26
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b))));
        let n = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), n);
    }
}

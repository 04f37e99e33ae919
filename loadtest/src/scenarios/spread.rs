//! Which server each connection of a run goes to when several `--url`s are given.
//!
//! Connections are spread round-robin over the URLs. A fanout subscriber also has a channel
//! (connection i → channel i mod K); when K and the number of URLs N share a factor, plain
//! round-robin would put all subscribers of a channel on the same URL (K = N = 2: channel 0 only
//! on the first URL), so the URL index is rotated by one every lcm(K, N) connections. Then every
//! channel with at least N subscribers has subscribers on every URL, and the URLs still get
//! equal shares (to within one per lcm(K, N) block).

/// URL index of connection `i` of `urls` URLs whose channel is `i mod channels`.
pub fn url_index(i: u64, channels: u32, urls: usize) -> usize {
    let n = urls.max(1) as u64;
    let k = u64::from(channels.max(1));
    let g = gcd(k, n);
    let shift = if g > 1 { i / (k / g * n) } else { 0 };
    ((i + shift) % n) as usize
}

/// Connections per URL index when connection `i` goes to [`url_index`]`(i, channels, urls)`.
pub fn counts(connections: u64, channels: u32, urls: usize) -> Vec<u64> {
    let mut out = vec![0; urls.max(1)];
    for i in 0..connections {
        out[url_index(i, channels, urls)] += 1;
    }
    out
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn one_url_takes_everything() {
        assert!((0..50).all(|i| url_index(i, 3, 1) == 0));
        assert_eq!(counts(7, 2, 1), vec![7]);
    }

    #[test]
    fn one_channel_is_plain_round_robin() {
        let got: Vec<usize> = (0..6).map(|i| url_index(i, 1, 2)).collect();
        assert_eq!(got, vec![0, 1, 0, 1, 0, 1]);
        assert_eq!(counts(1000, 1, 2), vec![500, 500]);
        assert_eq!(counts(10, 1, 3), vec![4, 3, 3]);
    }

    #[test]
    fn every_channel_reaches_every_url() {
        for (k, n) in [
            (2u32, 2usize),
            (4, 2),
            (2, 4),
            (6, 4),
            (3, 3),
            (5, 2),
            (1, 3),
        ] {
            let c = (k as u64) * (n as u64) * 3;
            for ch in 0..k {
                let urls: BTreeSet<usize> = (0..c)
                    .filter(|i| i % k as u64 == ch as u64)
                    .map(|i| url_index(i, k, n))
                    .collect();
                assert_eq!(urls.len(), n, "K={k} N={n} channel {ch}: {urls:?}");
            }
            let per = counts(c, k, n);
            assert!(
                per.iter().all(|&x| x == c / n as u64),
                "K={k} N={n}: {per:?}"
            );
        }
    }
}

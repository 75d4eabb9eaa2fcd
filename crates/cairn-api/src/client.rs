//! The client's address, which the failure locks and the audit log key on.
//!
//! It is the connection's peer, unless the peer is one of the operator's trusted proxies
//! (`[server] trusted_proxies`): then it is the right-most address of `X-Forwarded-For` that is
//! not a trusted proxy (each proxy appends the address it was reached from, so the hops to its
//! left are the client's to invent and never read).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use crate::state::AppState;

/// An address range in CIDR notation (`10.0.0.0/8`, `::1/128`; a bare address is one host).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let bad = || format!("{text:?} is not an address range such as 10.0.0.0/8 or ::1/128");
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let network: IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(bad)?,
            None => max,
        };
        Ok(Cidr { network, prefix })
    }
}

impl Cidr {
    pub fn contains(&self, addr: IpAddr) -> bool {
        fn masked(bits: u128, width: u8, prefix: u8) -> u128 {
            let keep = u32::from(prefix);
            let shift = u32::from(width) - keep;
            if keep == 0 { 0 } else { bits >> shift }
        }
        match (self.network, addr.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(a)) => {
                masked(u32::from(net).into(), 32, self.prefix)
                    == masked(u32::from(a).into(), 32, self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(a)) => {
                masked(u128::from(net), 128, self.prefix) == masked(u128::from(a), 128, self.prefix)
            }
            _ => false,
        }
    }
}

/// The proxies whose `X-Forwarded-For` is believed; none by default.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Arc<[Cidr]>);

impl TrustedProxies {
    pub fn new(ranges: Vec<Cidr>) -> Self {
        TrustedProxies(ranges.into())
    }

    /// Parses a comma-separated list (the `CAIRN_TRUSTED_PROXIES` form) or one range each.
    pub fn parse<'a>(items: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let ranges = items
            .into_iter()
            .flat_map(|item| item.split(','))
            .filter(|item| !item.trim().is_empty())
            .map(str::parse)
            .collect::<Result<Vec<Cidr>, String>>()?;
        Ok(TrustedProxies::new(ranges))
    }

    fn trusts(&self, addr: IpAddr) -> bool {
        self.0.iter().any(|range| range.contains(addr))
    }

    /// The client behind `peer`, given the request's `X-Forwarded-For` values in order.
    pub fn client<'a>(&self, peer: IpAddr, forwarded_for: impl Iterator<Item = &'a str>) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.trusts(peer) {
            return peer;
        }
        let hops: Vec<&str> = forwarded_for.flat_map(|v| v.split(',')).collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            // A hop that is no address (proxies write addresses) ends the walk at the last one.
            let Some(addr) = parse_hop(hop) else { break };
            client = addr;
            if !self.trusts(addr) {
                break;
            }
        }
        client
    }
}

/// `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1` or `[2001:db8::1]:443`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(|a| a.to_canonical())
}

/// The client's address of a request (see the module's doc).
pub fn client_addr(parts: &Parts, proxies: &TrustedProxies) -> IpAddr {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let forwarded = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok());
    proxies.client(peer, forwarded)
}

/// The client's address, as an extractor.
pub struct ClientAddr(pub IpAddr);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(client_addr(parts, &state.trusted_proxies)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn proxies(list: &str) -> TrustedProxies {
        TrustedProxies::parse([list]).unwrap()
    }

    #[test]
    fn ranges_parse_and_match() {
        let r: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(r.contains(ip("10.255.1.2")) && !r.contains(ip("11.0.0.1")));
        assert!("::1".parse::<Cidr>().unwrap().contains(ip("::1")));
        assert!(
            "0.0.0.0/0"
                .parse::<Cidr>()
                .unwrap()
                .contains(ip("203.0.113.9"))
        );
        assert!(
            "127.0.0.1/32"
                .parse::<Cidr>()
                .unwrap()
                .contains(ip("::ffff:127.0.0.1")),
            "an IPv4 peer seen through an IPv6 socket"
        );
        assert!(!"fd00::/8".parse::<Cidr>().unwrap().contains(ip("10.0.0.1")));
        for bad in [
            "10.0.0.0/33",
            "10.0.0/8",
            "proxy.local",
            "::/129",
            "1.2.3.4/-1",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
        assert!(TrustedProxies::parse(["127.0.0.1/32, 10.0.0.0/8", ""]).is_ok());
        assert!(TrustedProxies::parse(["127.0.0.1/32,nope"]).is_err());
    }

    #[test]
    fn the_client_is_the_right_most_untrusted_hop_behind_a_trusted_peer_only() {
        let p = proxies("127.0.0.1/32,10.0.0.0/8");
        let client = |peer: &str, xff: &[&str]| p.client(ip(peer), xff.iter().copied());
        // Not from a proxy: the header is the client's own words.
        assert_eq!(client("198.51.100.7", &["203.0.113.1"]), ip("198.51.100.7"));
        // From the proxy: what it appended, not what the client claimed before it.
        assert_eq!(
            client("127.0.0.1", &["1.1.1.1, 203.0.113.9"]),
            ip("203.0.113.9")
        );
        // Through two proxies, and a header split over two lines.
        assert_eq!(
            client("127.0.0.1", &["6.6.6.6, 203.0.113.9", "10.1.2.3"]),
            ip("203.0.113.9")
        );
        assert_eq!(client("127.0.0.1", &[]), ip("127.0.0.1"), "no header");
        assert_eq!(client("127.0.0.1", &["garbage"]), ip("127.0.0.1"));
        assert_eq!(
            client("127.0.0.1", &["[2001:db8::5]:443"]),
            ip("2001:db8::5")
        );
        assert_eq!(
            TrustedProxies::default().client(ip("127.0.0.1"), ["203.0.113.9"].into_iter()),
            ip("127.0.0.1"),
            "no trusted proxies: the peer"
        );
    }
}

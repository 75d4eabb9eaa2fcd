//! The outbound guard: which addresses Cairn may connect to on behalf of an org admin (site
//! URLs, every redirect hop, S3 endpoints). By default only public addresses: loopback, private,
//! link-local (the cloud metadata service), unique-local, CGNAT, unspecified, multicast,
//! documentation and reserved ranges are refused, in every spelling the URL parser accepts
//! (`127.1`, `2130706433`, `[::ffff:127.0.0.1]`). The operator allows chosen hosts or ranges.
//!
//! Names are checked where they are resolved ([`Outbound`] is reqwest's DNS resolver), so the
//! address checked is the address connected to and DNS rebinding cannot get round it; IP-literal
//! hosts, which skip the resolver, are checked before every request and redirect hop
//! ([`Outbound::check_url`]).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

use ipnet::IpNet;
use reqwest::Url;

/// One entry of the allow-list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Allow {
    /// `127.0.0.0/8`, `10.1.2.3`, `::1`: these addresses, any port, however they are reached.
    Net(IpNet),
    /// `127.0.0.1:8081`, `[::1]:9000`: this address and port, named in a URL as an IP literal
    /// (a name that resolves to it is not allowed by it: the resolver does not see the port).
    Addr(SocketAddr),
    /// `backup.internal`, `backup.internal:9000`: this name (on this port), whatever it
    /// resolves to: the operator trusts its DNS.
    Host { name: String, port: Option<u16> },
}

impl FromStr for Allow {
    type Err = String;

    fn from_str(raw: &str) -> Result<Allow, String> {
        let s = raw.trim();
        let bad = || {
            format!(
                "{raw:?} is not an address, a CIDR range, a host name or one of these with :PORT"
            )
        };
        if s.is_empty() {
            return Err(bad());
        }
        if let Ok(net) = IpNet::from_str(s) {
            return Ok(Allow::Net(net.trunc()));
        }
        if let Ok(ip) = IpAddr::from_str(s.trim_start_matches('[').trim_end_matches(']')) {
            return Ok(Allow::Net(IpNet::from(ip)));
        }
        if let Ok(addr) = SocketAddr::from_str(s) {
            return Ok(Allow::Addr(addr));
        }
        let (name, port) = match s.rsplit_once(':') {
            Some((name, port)) => (name, Some(port.parse::<u16>().map_err(|_| bad())?)),
            None => (s, None),
        };
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if name.len() > 253 || !name.split('.').all(label_ok) {
            return Err(bad());
        }
        if let Some(port) = port
            && let Ok(ip) = Ipv4Addr::from_str(&name)
        {
            return Ok(Allow::Addr(SocketAddr::from((ip, port))));
        }
        Ok(Allow::Host { name, port })
    }
}

impl fmt::Display for Allow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Allow::Net(net) => write!(f, "{net}"),
            Allow::Addr(addr) => write!(f, "{addr}"),
            Allow::Host { name, port: None } => write!(f, "{name}"),
            Allow::Host {
                name,
                port: Some(p),
            } => write!(f, "{name}:{p}"),
        }
    }
}

/// Why a connection was not made. Its text names only the host and the rule, never anything
/// fetched, so it may be shown to whoever asked for the connection.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{host}: {reason}")]
pub struct Refused {
    pub host: String,
    pub reason: String,
}

/// The policy: public addresses, plus what the operator allows. Cheap to clone. `Default` allows
/// nothing beyond public addresses.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Outbound {
    allow: Arc<Vec<Allow>>,
}

impl fmt::Debug for Outbound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list: Vec<String> = self.allow.iter().map(Allow::to_string).collect();
        f.debug_struct("Outbound").field("allow", &list).finish()
    }
}

impl Outbound {
    pub fn new(allow: impl IntoIterator<Item = Allow>) -> Outbound {
        Outbound {
            allow: Arc::new(allow.into_iter().collect()),
        }
    }

    /// Parses entries as the settings write them (see [`Allow`]).
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Outbound, String> {
        entries
            .iter()
            .map(|e| e.as_ref().parse())
            .collect::<Result<Vec<Allow>, _>>()
            .map(Outbound::new)
    }

    /// Loopback allowed (`127.0.0.0/8`, `::1`): local stand-ins in tests and the demo.
    pub fn loopback() -> Outbound {
        Outbound::new([
            Allow::Net(IpNet::from(IpAddr::from(Ipv4Addr::LOCALHOST))).widen(8),
            Allow::Net(IpNet::from(IpAddr::from(Ipv6Addr::LOCALHOST))),
        ])
    }

    /// This policy with `more` allowed too.
    pub fn with(&self, more: impl IntoIterator<Item = Allow>) -> Outbound {
        let mut allow = (*self.allow).clone();
        allow.extend(more);
        Outbound::new(allow)
    }

    pub fn entries(&self) -> &[Allow] {
        &self.allow
    }

    /// Whether the operator allowed this host (and port) by name, address or range: such a host
    /// may also be reached over plain http.
    pub fn allows(&self, url: &Url) -> bool {
        let port = url.port_or_known_default().unwrap_or(0);
        match host_of(url) {
            Some(Target::Ip(ip)) => self.allows_ip(ip, Some(port)),
            Some(Target::Name(name)) => self.allows_name(&name, Some(port)),
            None => false,
        }
    }

    /// Checks a URL before a request is sent to it: the scheme, and an IP-literal host (a name
    /// is checked when it is resolved). Makes no connection and no DNS query.
    pub fn check_url(&self, url: &Url) -> Result<(), Refused> {
        let host = url.host_str().unwrap_or_default().to_string();
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refused {
                host,
                reason: "only http(s) URLs are followed".into(),
            });
        }
        let port = url.port_or_known_default();
        match host_of(url) {
            None => Err(Refused {
                host,
                reason: "the URL names no host".into(),
            }),
            Some(Target::Ip(ip)) if !is_public(ip) && !self.allows_ip(ip, port) => Err(Refused {
                host,
                reason: NOT_PUBLIC.into(),
            }),
            Some(_) => Ok(()),
        }
    }

    /// What a name may connect to, of the addresses it resolved to: all of them when the name is
    /// allowed; otherwise each must be public or in an allowed range, or the name is refused.
    pub fn filter(&self, name: &str, addrs: Vec<SocketAddr>) -> Result<Vec<SocketAddr>, Refused> {
        if self.allows_name(name, None) {
            return Ok(addrs);
        }
        if let Some(a) = addrs
            .iter()
            .find(|a| !is_public(a.ip()) && !self.allows_ip(a.ip(), None))
        {
            tracing::debug!(host = name, address = %a.ip(), "refused a non-public address");
            return Err(Refused {
                host: name.to_string(),
                reason: NOT_PUBLIC.into(),
            });
        }
        if addrs.is_empty() {
            return Err(Refused {
                host: name.to_string(),
                reason: "the name resolves to no address".into(),
            });
        }
        Ok(addrs)
    }

    /// `port`: the port connected to when known (an entry with a port then must match it);
    /// `None` where it is not (the resolver), where only port-less entries count.
    fn allows_ip(&self, ip: IpAddr, port: Option<u16>) -> bool {
        let ip = canonical(ip);
        self.allow.iter().any(|a| match a {
            Allow::Net(net) => net.contains(&ip),
            Allow::Addr(addr) => canonical(addr.ip()) == ip && Some(addr.port()) == port,
            Allow::Host { .. } => false,
        })
    }

    /// `port`: as in [`Outbound::allows_ip`], except that the resolver (`None`) trusts a name
    /// allowed on any port: the port was checked before the request (`allows`).
    fn allows_name(&self, name: &str, port: Option<u16>) -> bool {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        self.allow.iter().any(|a| match a {
            Allow::Host { name: n, port: p } => {
                *n == name && (p.is_none() || port.is_none() || *p == port)
            }
            _ => false,
        })
    }
}

const NOT_PUBLIC: &str = "not a public address; Cairn connects only to public addresses unless \
     the operator allows others ([outbound] allow, CAIRN_OUTBOUND_ALLOW)";

impl Allow {
    /// A network of `prefix` bits around this entry's address (for [`Outbound::loopback`]).
    fn widen(self, prefix: u8) -> Allow {
        match self {
            Allow::Net(net) => IpNet::new(net.addr(), prefix)
                .map(|n| Allow::Net(n.trunc()))
                .unwrap_or(Allow::Net(net)),
            other => other,
        }
    }
}

impl reqwest::dns::Resolve for Outbound {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            // As PermissionDenied, so clients that retry connection failures (the vault's S3
            // client) see a refusal as final.
            let allowed = policy
                .filter(&host, addrs)
                .map_err(|r| std::io::Error::new(std::io::ErrorKind::PermissionDenied, r))?;
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The first [`Refused`] in an error's chain of sources (the resolver's, inside an I/O error).
pub fn refused_in(e: &(dyn std::error::Error + 'static)) -> Option<Refused> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(r) = c.downcast_ref::<Refused>() {
            return Some(r.clone());
        }
        if let Some(r) = c
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<Refused>())
        {
            return Some(r.clone());
        }
        cause = c.source();
    }
    None
}

enum Target {
    Ip(IpAddr),
    Name(String),
}

fn host_of(url: &Url) -> Option<Target> {
    match url.host()? {
        url::Host::Ipv4(ip) => Some(Target::Ip(IpAddr::V4(ip))),
        url::Host::Ipv6(ip) => Some(Target::Ip(IpAddr::V6(ip))),
        url::Host::Domain(d) => Some(Target::Name(d.to_string())),
    }
}

/// An IPv4 address written in IPv6 (`::ffff:a.b.c.d`) as the IPv4 address it reaches.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// Whether an address is on the public internet (unicast, globally routed).
pub fn is_public(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => public_v4(v4),
        IpAddr::V6(v6) => public_v6(v6),
    }
}

fn public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0 // "this network", 0.0.0.0 included
        || a == 10
        || a == 127
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64/10
        || (a == 169 && b == 254) // link-local, cloud metadata
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // TEST-NET-1
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
        || (a == 192 && b == 168)
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || (a == 198 && b == 51 && c == 100) // TEST-NET-2
        || (a == 203 && b == 0 && c == 113) // TEST-NET-3
        || a >= 224) // multicast, reserved, broadcast
}

fn public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let embedded_v4 = |hi: usize| {
        let [a, b] = s[hi].to_be_bytes();
        let [c, d] = s[hi + 1].to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    if ip.is_unspecified() || ip.is_loopback() {
        return false;
    }
    match s[0] {
        // ::/96 (IPv4-compatible, deprecated) and the rest of ::/8
        0x0000 => false,
        // NAT64 (64:ff9b::/96, 64:ff9b:1::/48): reaches the embedded IPv4 address
        0x0064 if s[1] == 0xff9b => s[2] == 0 && public_v4(embedded_v4(6)),
        0x0100 if s[1..4] == [0, 0, 0] => false, // discard-only
        // 2001::/23 IETF (Teredo 2001::/32 included), 2001:db8::/32 documentation
        0x2001 if s[1] < 0x0200 || s[1] == 0x0db8 => false,
        0x2002 => public_v4(embedded_v4(1)), // 6to4
        0x3fff if s[1] < 0x1000 => false,    // documentation 3fff::/20
        x if x & 0xfe00 == 0xfc00 => false,  // unique-local fc00::/7
        x if x & 0xffc0 == 0xfe80 => false,  // link-local fe80::/10
        x if x & 0xffc0 == 0xfec0 => false,  // site-local (deprecated) fec0::/10
        x if x & 0xff00 == 0xff00 => false,  // multicast
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn odd_spellings_of_private_addresses_are_refused() {
        let strict = Outbound::default();
        for u in [
            "http://127.0.0.1/",
            "http://127.1/",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://017700000001/",
            "http://0.0.0.0/",
            "http://0/",
            "http://10.0.0.1/",
            "http://172.16.5.4/",
            "http://172.31.255.255/",
            "http://192.168.1.1/",
            "http://169.254.169.254/latest/meta-data/",
            "http://100.64.0.1/",
            "http://[::1]/",
            "http://[::]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:a9fe:a9fe]/",
            "http://[::127.0.0.1]/",
            "http://[fe80::1]/",
            "http://[fd00::1]/",
            "http://[fc00::1]/",
            "http://[64:ff9b::a00:1]/",
            "http://[2002:7f00:1::]/",
            "http://224.0.0.1/",
            "http://255.255.255.255/",
        ] {
            let e = strict.check_url(&url(u)).expect_err(u);
            assert!(e.reason.contains("not a public address"), "{u}: {e}");
        }
        for u in [
            "https://acme.atlassian.net/",
            "https://8.8.8.8/",
            "https://172.32.0.1/",
            "https://[2606:4700::1111]/",
            "http://localhost/", // a name: checked where it is resolved
        ] {
            assert!(strict.check_url(&url(u)).is_ok(), "{u}");
        }
        assert!(strict.check_url(&url("ftp://8.8.8.8/")).is_err());
    }

    #[test]
    fn resolved_addresses_are_filtered_unless_allowed() {
        let strict = Outbound::default();
        let a = |s: &str| -> SocketAddr { s.parse().unwrap() };
        assert!(strict.filter("evil.test", vec![a("127.0.0.1:0")]).is_err());
        assert!(
            strict
                .filter("evil.test", vec![a("93.184.216.34:0"), a("10.0.0.1:0")])
                .is_err(),
            "one private address among public ones refuses the name"
        );
        assert!(
            strict
                .filter("evil.test", vec![a("[::ffff:10.0.0.1]:0")])
                .is_err()
        );
        assert!(strict.filter("ok.test", vec![a("93.184.216.34:0")]).is_ok());
        assert!(strict.filter("none.test", vec![]).is_err());
        let allow = Outbound::parse(&["10.0.0.0/8", "backup.internal:9000"]).unwrap();
        assert!(allow.filter("x.test", vec![a("10.9.9.9:0")]).is_ok());
        assert!(
            allow
                .filter("BACKUP.internal.", vec![a("192.168.0.1:0")])
                .is_ok()
        );
        assert!(allow.filter("x.test", vec![a("192.168.0.1:0")]).is_err());
    }

    #[test]
    fn entries_allow_what_they_name() {
        let o = Outbound::parse(&[
            "127.0.0.1:8081",
            "192.168.0.0/16",
            "backup.internal",
            "s3.internal:9000",
            "[::1]:7000",
        ])
        .unwrap();
        assert!(o.allows(&url("http://127.0.0.1:8081")));
        assert!(o.check_url(&url("http://127.0.0.1:8081/x")).is_ok());
        assert!(!o.allows(&url("http://127.0.0.1:8082")));
        assert!(o.check_url(&url("http://127.0.0.1:8082/x")).is_err());
        assert!(
            o.check_url(&url("http://127.1:8081/")).is_ok(),
            "the same address"
        );
        assert!(o.allows(&url("http://192.168.4.4:1")));
        assert!(o.allows(&url("https://Backup.Internal:444")));
        assert!(o.allows(&url("http://s3.internal:9000")));
        assert!(!o.allows(&url("http://s3.internal:9001")));
        assert!(o.allows(&url("http://[::1]:7000")));
        assert!(!o.allows(&url("https://acme.atlassian.net")));
        assert!(
            o.filter("other.test", vec!["127.0.0.1:0".parse().unwrap()])
                .is_err(),
            "an entry with a port does not allow a name that resolves to it"
        );
        for bad in ["", "a b", "host:port", "10.0.0.0/33", "-:1", "x:99999"] {
            assert!(bad.parse::<Allow>().is_err(), "{bad}");
        }
        assert_eq!(
            "10.1.2.3/8".parse::<Allow>().unwrap().to_string(),
            "10.0.0.0/8"
        );
        let lo = Outbound::loopback();
        assert!(lo.check_url(&url("http://127.3.4.5:1/")).is_ok());
        assert!(lo.check_url(&url("http://[::1]:1/")).is_ok());
        assert!(lo.check_url(&url("http://10.0.0.1/")).is_err());
    }
}

//! The egress policy: which destinations the gateway's HTTP client may reach.
//!
//! Tenant admins choose URLs (upstream MCP servers, integration and account
//! base URLs, OAuth token endpoints) that the gateway then calls from its own
//! network position, so a URL is a request to reach something on the
//! gateway's behalf (server-side request forgery, SSRF). The policy allows
//! `http`/`https` only and refuses, by the address actually connected to:
//!
//! - always: unspecified, broadcast, multicast and link-local addresses
//!   (which include the cloud metadata service at `169.254.169.254`), other
//!   metadata addresses (`fd00:ec2::254`, `100.100.100.200`) and names
//!   (`metadata.google.internal`…), and the gateway's own listeners;
//! - unless `egress.private_networks` allows the URL's writer or an
//!   `egress.allow` rule covers the address: loopback, private networks
//!   (RFC 1918, RFC 4193), shared address space (RFC 6598) and other ranges
//!   that are not globally routable (RFC 6890). By default only URLs the
//!   operator wrote (a super-admin, the config directory) may reach them:
//!   the operator controls the network, a tenant admin must not reach into
//!   it. Each check is made for a [`UrlProvenance`], and the gateway holds
//!   one HTTP client per provenance ([`Clients`]), so a URL is called with
//!   the policy of whoever wrote it.
//!
//! It is enforced in three places, so no one of them has to be perfect:
//!
//! 1. [`EgressPolicy::check_url`] on a URL before it is stored (admin
//!    validation) and on every redirect hop: scheme, names, IP literals
//!    (the `url` crate has already turned `127.1`, `0x7f.1` and
//!    `2130706433` into `127.0.0.1`) and the gateway's public origin;
//! 2. a DNS resolver that drops every resolved address the policy refuses
//!    (a name that resolves only to refused addresses is never connected
//!    to, so its ports cannot be probed);
//! 3. a check of each new connection's peer address and port, which is the
//!    address really connected to: DNS rebinding between a check and the
//!    connect cannot get past it, and a name resolving to the gateway's own
//!    port is caught here.
//!
//! Redirects are followed only within the origin (scheme, host, port) of
//! the first request, and each hop is checked: a credential (a bearer token,
//! a configured header, a query parameter) is never sent to an origin it
//! was not configured for. The client never sends `Referer`.
//!
//! With a proxy from `HTTPS_PROXY`/`HTTP_PROXY`, the connection is to the
//! proxy, so checks 2 and 3 apply to the proxy (a proxy on a private address
//! needs an `egress.allow` rule) and the proxy resolves the targets; check 1
//! still applies to every target URL.

use hyper_util::client::legacy::connect::{Connection, HttpInfo};
use ipnet::IpNet;
pub use mcpgate_catalog::UrlProvenance;
use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// Redirect hops followed within one origin before giving up.
pub const MAX_REDIRECTS: usize = 10;

/// What a tenant sees when a call was refused at connect time: one short
/// text whatever the reason, so it says nothing about the target's services.
pub const REFUSED: &str = "refused by the gateway's egress policy";

/// Why a destination is refused. `Display` is written for the admin who
/// typed the URL (it names their own input); [`Denied::public_text`] is what
/// a refused call reports.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// Not a URL at all.
    #[error("is not a valid URL")]
    Invalid,
    /// A scheme other than `http` or `https` (`file`, `gopher`, `unix`…).
    #[error("uses the scheme {0:?}; only http:// and https:// URLs are allowed")]
    Scheme(String),
    /// No host to connect to.
    #[error("has no host")]
    NoHost,
    /// An address class the policy never allows.
    #[error("{0} is a {1} address, which the egress policy never allows")]
    Forbidden(IpAddr, &'static str),
    /// A loopback or private address that the URL's writer may not reach.
    #[error("{0} is a {1} address; {2}")]
    Private(IpAddr, &'static str, PrivateNetworks),
    /// A name the policy never allows (cloud metadata services).
    #[error("{0} is a cloud metadata name, which the egress policy never allows")]
    ForbiddenName(String),
    /// A name of this machine that the URL's writer may not reach.
    #[error("{0} names this machine; {1}")]
    LocalName(String, PrivateNetworks),
    /// The gateway itself.
    #[error("{0} is this gateway's own listener")]
    OwnListener(String),
    /// Every address a name resolved to is refused.
    #[error("{0} resolves only to addresses the egress policy does not allow")]
    Resolved(String),
    /// A redirect to another origin.
    #[error(
        "the upstream redirected to another origin, and redirects are followed only within one origin (configure the final URL)"
    )]
    CrossOriginRedirect,
    /// Too many redirects within the origin.
    #[error("the upstream redirected more than {MAX_REDIRECTS} times")]
    TooManyRedirects,
}

impl Denied {
    /// The text a refused call reports to a tenant: the redirect reasons as
    /// they are (they describe the upstream's answer, not a network), every
    /// other reason as [`REFUSED`].
    pub fn public_text(&self) -> String {
        match self {
            Self::CrossOriginRedirect | Self::TooManyRedirects => self.to_string(),
            _ => REFUSED.to_owned(),
        }
    }
}

/// `egress.private_networks`: whose URLs may reach loopback and private
/// networks. Its `Display` says, for a refused URL, who may reach them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PrivateNetworks {
    /// `"super-admins"`: URLs the operator wrote (a super-admin token, the
    /// config directory), not a tenant admin's.
    #[default]
    SuperAdmins,
    /// `"everyone"`: every admin's URLs (a single-tenant or development setup).
    Everyone,
    /// `"nobody"`: no URL; only `egress.allow` rules open private destinations.
    Nobody,
}

impl PrivateNetworks {
    /// Whether URLs written by `by` may reach loopback and private networks.
    pub fn allows(self, by: UrlProvenance) -> bool {
        match self {
            Self::SuperAdmins => by == UrlProvenance::Operator,
            Self::Everyone => true,
            Self::Nobody => false,
        }
    }

    /// The configured spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SuperAdmins => "super-admins",
            Self::Everyone => "everyone",
            Self::Nobody => "nobody",
        }
    }
}

impl std::str::FromStr for PrivateNetworks {
    type Err = String;

    /// `super-admins`, `everyone` or `nobody`.
    fn from_str(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "super-admins" => Ok(Self::SuperAdmins),
            "everyone" => Ok(Self::Everyone),
            "nobody" => Ok(Self::Nobody),
            other => Err(format!(
                "{other:?} is not one of \"super-admins\", \"everyone\", \"nobody\""
            )),
        }
    }
}

impl fmt::Display for PrivateNetworks {
    /// Who may reach a private destination, for a refusal's message.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SuperAdmins | Self::Everyone => f.write_str(
                "only URLs a super-admin sets may reach it (egress.private_networks = \"super-admins\"), unless an egress.allow rule covers it",
            ),
            Self::Nobody => f.write_str(
                "no URL may reach it (egress.private_networks = \"nobody\") unless an egress.allow rule covers it",
            ),
        }
    }
}

/// An `egress.allow` rule: an address or network, optionally one port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowRule {
    net: IpNet,
    port: Option<u16>,
}

impl std::str::FromStr for AllowRule {
    type Err = String;

    /// `10.0.0.0/8`, `10.1.2.3`, `10.1.2.3:8443`, `fd00::/8`, `::1`,
    /// `[::1]:9000`. Names are not accepted: what a name resolves to can
    /// change, an address cannot.
    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "{text:?} is not an address, a network (CIDR) or an address:port, e.g. \"10.0.0.0/8\" or \"127.0.0.1:9000\""
            )
        };
        let text = text.trim();
        if let Ok(addr) = text.parse::<SocketAddr>() {
            return Ok(Self {
                net: IpNet::from(addr.ip()),
                port: Some(addr.port()),
            });
        }
        if let Ok(ip) = text.parse::<IpAddr>() {
            return Ok(Self {
                net: IpNet::from(ip),
                port: None,
            });
        }
        let net = text.parse::<IpNet>().map_err(|_| bad())?;
        Ok(Self {
            net: net.trunc(),
            port: None,
        })
    }
}

impl AllowRule {
    fn covers(&self, ip: IpAddr, port: Option<u16>) -> bool {
        self.net.contains(&ip)
            && match (self.port, port) {
                (Some(allowed), Some(port)) => allowed == port,
                // The resolver does not know the port: an address allowed on
                // some port passes there, the connect check decides.
                (Some(_), None) | (None, _) => true,
            }
    }
}

/// How an address is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Public,
    Private(&'static str),
    Forbidden(&'static str),
}

const METADATA_V4: [Ipv4Addr; 2] = [
    // AWS, GCP, Azure, OCI, DigitalOcean… (also link-local).
    Ipv4Addr::new(169, 254, 169, 254),
    // Alibaba Cloud.
    Ipv4Addr::new(100, 100, 100, 200),
];
// AWS's IPv6 instance metadata endpoint.
const METADATA_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254);

/// Names of cloud metadata services (compared without a trailing dot).
const METADATA_NAMES: [&str; 5] = [
    "metadata.google.internal",
    "metadata.goog",
    "metadata",
    "instance-data",
    "instance-data.ec2.internal",
];

fn classify(ip: IpAddr) -> Class {
    match ip.to_canonical() {
        IpAddr::V4(a) => classify_v4(a),
        IpAddr::V6(a) => classify_v6(a),
    }
}

fn classify_v4(a: Ipv4Addr) -> Class {
    let [o0, o1, o2, _] = a.octets();
    if METADATA_V4.contains(&a) {
        Class::Forbidden("cloud metadata")
    } else if o0 == 0 {
        // 0.0.0.0/8 "this network"; Linux connects 0.0.0.0 to itself.
        Class::Forbidden("unspecified")
    } else if a.is_broadcast() {
        Class::Forbidden("broadcast")
    } else if a.is_multicast() {
        Class::Forbidden("multicast")
    } else if a.is_link_local() {
        Class::Forbidden("link-local")
    } else if a.is_loopback() {
        Class::Private("loopback")
    } else if a.is_private() {
        Class::Private("private network")
    } else if o0 == 100 && (o1 & 0xc0) == 64 {
        Class::Private("shared address space (100.64.0.0/10)")
    } else if (o0, o1, o2) == (192, 0, 0) {
        Class::Private("IETF protocol assignment (192.0.0.0/24)")
    } else if o0 == 198 && (o1 & 0xfe) == 18 {
        Class::Private("benchmarking (198.18.0.0/15)")
    } else if a.is_documentation() {
        Class::Private("documentation")
    } else if o0 >= 240 {
        Class::Private("reserved (240.0.0.0/4)")
    } else {
        Class::Public
    }
}

fn classify_v6(a: Ipv6Addr) -> Class {
    let s = a.segments();
    let embedded =
        |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    if a == METADATA_V6 {
        Class::Forbidden("cloud metadata")
    } else if a.is_unspecified() {
        Class::Forbidden("unspecified")
    } else if a.is_multicast() {
        Class::Forbidden("multicast")
    } else if (s[0] & 0xffc0) == 0xfe80 {
        Class::Forbidden("link-local")
    } else if a.is_loopback() {
        Class::Private("loopback")
    } else if (s[0] & 0xfe00) == 0xfc00 {
        Class::Private("unique local (private network)")
    } else if (s[0] & 0xffc0) == 0xfec0 {
        Class::Private("site-local")
    } else if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] || s[..6] == [0, 0, 0, 0, 0, 0] {
        // NAT64 (RFC 6052) and the deprecated IPv4-compatible form reach
        // the embedded IPv4 address: judge that.
        classify_v4(embedded(s[6], s[7]))
    } else if s[0] == 0x2002 {
        // 6to4 (RFC 3056) embeds an IPv4 address in bits 16..48.
        classify_v4(embedded(s[1], s[2]))
    } else if s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1 {
        Class::Private("local-use NAT64")
    } else if s[0] == 0x2001 && s[1] == 0xdb8 {
        Class::Private("documentation")
    } else if s[..4] == [0x100, 0, 0, 0] {
        Class::Private("discard-only")
    } else {
        Class::Public
    }
}

/// The policy, built once from configuration; shared by the admin API and
/// the HTTP client.
#[derive(Debug, Clone, Default)]
pub struct EgressPolicy {
    private_networks: PrivateNetworks,
    allow: Vec<AllowRule>,
    listeners: Vec<SocketAddr>,
    /// The gateway's public URLs: (origin, path prefix without a trailing slash).
    own_urls: Vec<(url::Origin, String)>,
}

/// What [`EgressPolicy::new`] is built from.
#[derive(Debug, Clone, Default)]
pub struct EgressSettings {
    /// Whose URLs may reach loopback and private networks (`egress.private_networks`).
    pub private_networks: PrivateNetworks,
    /// Destinations allowed even when private (`egress.allow`).
    pub allow: Vec<AllowRule>,
    /// The gateway's own listening addresses (refused as destinations).
    pub listeners: Vec<SocketAddr>,
    /// The gateway's own public URLs (`public_url`): URLs under them are
    /// refused (the whole origin when the URL has no path).
    pub own_urls: Vec<String>,
}

impl EgressPolicy {
    /// Build the policy. An unparsable entry of `own_urls` is ignored.
    pub fn new(settings: EgressSettings) -> Self {
        Self {
            private_networks: settings.private_networks,
            allow: settings.allow,
            listeners: settings.listeners,
            own_urls: settings
                .own_urls
                .iter()
                .filter_map(|u| Url::parse(u).ok())
                .map(|u| (u.origin(), u.path().trim_end_matches('/').to_owned()))
                .collect(),
        }
    }

    /// Whose URLs may reach loopback and private networks.
    pub fn private_networks(&self) -> PrivateNetworks {
        self.private_networks
    }

    /// Check a URL written by `by` before it is stored or requested:
    /// `http`/`https`, a host, no refused name, no refused IP literal, not
    /// the gateway's own origin or listener. Names are not resolved here
    /// (that happens, and is checked, at connect time).
    pub fn check_url(&self, raw: &str, by: UrlProvenance) -> Result<Url, Denied> {
        let url = Url::parse(raw).map_err(|_| Denied::Invalid)?;
        self.check_parsed(&url, by)?;
        Ok(url)
    }

    /// [`check_url`](Self::check_url) on a parsed URL.
    pub fn check_parsed(&self, url: &Url, by: UrlProvenance) -> Result<(), Denied> {
        match url.scheme() {
            "http" | "https" => {}
            other => return Err(Denied::Scheme(other.to_owned())),
        }
        let own = self.own_urls.iter().any(|(origin, prefix)| {
            *origin == url.origin()
                && url
                    .path()
                    .strip_prefix(prefix.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        });
        if own {
            return Err(Denied::OwnListener(url.origin().ascii_serialization()));
        }
        let port = url.port_or_known_default();
        match url.host() {
            None => Err(Denied::NoHost),
            Some(url::Host::Domain(name)) => self.check_name(name, by),
            Some(url::Host::Ipv4(ip)) => self.check_ip(IpAddr::V4(ip), port, None, by),
            Some(url::Host::Ipv6(ip)) => self.check_ip(IpAddr::V6(ip), port, None, by),
        }
    }

    /// A URL template with `{placeholders}` (an integration's base URL):
    /// each placeholder stands for a plain name label, so a literal refused
    /// host is still caught while `https://{tenant}.example.com` passes.
    pub fn check_template(&self, template: &str, by: UrlProvenance) -> Result<(), Denied> {
        let mut filled = String::with_capacity(template.len());
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            filled.push_str(&rest[..open]);
            match rest[open..].find('}') {
                Some(close) => {
                    filled.push_str("placeholder");
                    rest = &rest[open + close + 1..];
                }
                None => {
                    rest = &rest[open..];
                    break;
                }
            }
        }
        filled.push_str(rest);
        self.check_url(&filled, by).map(drop)
    }

    fn check_name(&self, name: &str, by: UrlProvenance) -> Result<(), Denied> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if METADATA_NAMES.contains(&name.as_str()) {
            return Err(Denied::ForbiddenName(name));
        }
        // RFC 6761 §6.3: localhost and its subdomains are this machine.
        let local = name == "localhost"
            || name.ends_with(".localhost")
            || matches!(
                name.as_str(),
                "localhost.localdomain" | "ip6-localhost" | "ip6-loopback"
            );
        if local && !self.private_networks.allows(by) {
            return Err(Denied::LocalName(name, self.private_networks));
        }
        Ok(())
    }

    /// Whether `ip` may be connected to on `port` (`None`: on some port)
    /// for a URL written by `by`; `local` is the connection's own address
    /// when known.
    fn check_ip(
        &self,
        ip: IpAddr,
        port: Option<u16>,
        local: Option<IpAddr>,
        by: UrlProvenance,
    ) -> Result<(), Denied> {
        let ip = ip.to_canonical();
        if let Some(port) = port
            && self.is_own_listener(ip, port, local)
        {
            return Err(Denied::OwnListener(SocketAddr::new(ip, port).to_string()));
        }
        match classify(ip) {
            Class::Public => Ok(()),
            Class::Forbidden(kind) => Err(Denied::Forbidden(ip, kind)),
            Class::Private(kind) => {
                if self.private_networks.allows(by) || self.allow.iter().any(|r| r.covers(ip, port))
                {
                    Ok(())
                } else {
                    Err(Denied::Private(ip, kind, self.private_networks))
                }
            }
        }
    }

    fn is_own_listener(&self, ip: IpAddr, port: u16, local: Option<IpAddr>) -> bool {
        self.listeners.iter().any(|l| {
            l.port() == port
                && (l.ip().to_canonical() == ip
                    || (l.ip().is_unspecified()
                        && (ip.is_loopback()
                            || ip.is_unspecified()
                            // Connecting to one of this host's own addresses
                            // uses that address as the source.
                            || local.is_some_and(|local| local.to_canonical() == ip))))
        })
    }

    /// Check a connection's peer, the address really connected to, for a
    /// URL written by `by`.
    pub fn check_peer(
        &self,
        remote: SocketAddr,
        local: SocketAddr,
        by: UrlProvenance,
    ) -> Result<(), Denied> {
        self.check_ip(remote.ip(), Some(remote.port()), Some(local.ip()), by)
    }

    /// An HTTP client builder with the policy for URLs written by `by`
    /// installed: the filtering resolver, the connect check, the
    /// same-origin redirect policy and no `Referer`. Callers add their own
    /// settings (user agent, pool) and build it.
    pub fn client_builder(self: &Arc<Self>, by: UrlProvenance) -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .dns_resolver(PolicyResolver(Arc::clone(self), by))
            .connector_layer(PeerCheckLayer(Arc::clone(self), by))
            .redirect(self.redirect_policy(by))
            .referer(false)
    }

    /// The gateway's HTTP clients, one per [`UrlProvenance`], each built
    /// by [`client_builder`](Self::client_builder) and `configure` (user
    /// agent, pool). When the policy treats both provenances alike
    /// (`everyone`, `nobody`) they are one client with one connection pool.
    pub fn clients(
        self: &Arc<Self>,
        configure: impl Fn(reqwest::ClientBuilder) -> reqwest::ClientBuilder,
    ) -> reqwest::Result<Clients> {
        let operator = configure(self.client_builder(UrlProvenance::Operator)).build()?;
        let same = self.private_networks.allows(UrlProvenance::Operator)
            == self.private_networks.allows(UrlProvenance::Tenant);
        let tenant = if same {
            operator.clone()
        } else {
            configure(self.client_builder(UrlProvenance::Tenant)).build()?
        };
        Ok(Clients { operator, tenant })
    }

    fn redirect_policy(self: &Arc<Self>, by: UrlProvenance) -> reqwest::redirect::Policy {
        let policy = Arc::clone(self);
        reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() > MAX_REDIRECTS {
                return attempt.error(Denied::TooManyRedirects);
            }
            // `previous` starts with the first request's URL.
            let cross = attempt
                .previous()
                .first()
                .is_some_and(|first| first.origin() != attempt.url().origin());
            if cross {
                return attempt.error(Denied::CrossOriginRedirect);
            }
            match policy.check_parsed(attempt.url(), by) {
                Ok(()) => attempt.follow(),
                Err(denied) => attempt.error(denied),
            }
        })
    }
}

/// The gateway's HTTP clients ([`EgressPolicy::clients`]): a URL is called
/// with the client of whoever wrote it, so the policy that admitted it when
/// it was written is the one enforced when it is called.
#[derive(Debug, Clone)]
pub struct Clients {
    operator: reqwest::Client,
    tenant: reqwest::Client,
}

impl Clients {
    /// The client for URLs written by `by`.
    pub fn for_urls_by(&self, by: UrlProvenance) -> &reqwest::Client {
        match by {
            UrlProvenance::Operator => &self.operator,
            UrlProvenance::Tenant => &self.tenant,
        }
    }
}

/// The reason a request failed, for a message: [`Denied::public_text`] when
/// the egress policy refused it, else the error without its URL (which may
/// hold a `query` credential).
pub fn reason(error: reqwest::Error) -> String {
    match denial(&error) {
        Some(denied) => denied.public_text(),
        None => error.without_url().to_string(),
    }
}

/// The policy's refusal inside an error's chain of causes, if any.
pub fn denial<'a>(error: &'a (dyn StdError + 'static)) -> Option<&'a Denied> {
    let mut cause: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(e) = cause {
        if let Some(denied) = e.downcast_ref::<Denied>() {
            return Some(denied);
        }
        cause = e.source();
    }
    None
}

/// Resolves names with the system resolver and keeps only the addresses
/// the policy allows on some port (the port is checked on connect) for
/// URLs written by its provenance.
struct PolicyResolver(Arc<EgressPolicy>, UrlProvenance);

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let (policy, by) = (Arc::clone(&self.0), self.1);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            policy.check_name(&host, by).map_err(boxed)?;
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed = policy.filter_resolved(&host, resolved, by).map_err(boxed)?;
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

impl EgressPolicy {
    /// The addresses `host` resolved to that the policy allows on some
    /// port for URLs written by `by`; refused when there were some and
    /// none is allowed.
    fn filter_resolved(
        &self,
        host: &str,
        resolved: Vec<SocketAddr>,
        by: UrlProvenance,
    ) -> Result<Vec<SocketAddr>, Denied> {
        let total = resolved.len();
        let allowed: Vec<SocketAddr> = resolved
            .into_iter()
            .filter(|a| self.check_ip(a.ip(), None, None, by).is_ok())
            .collect();
        if allowed.is_empty() && total > 0 {
            tracing::warn!(
                host,
                "egress refused: the name resolves only to refused addresses"
            );
            return Err(Denied::Resolved(host.to_owned()));
        }
        Ok(allowed)
    }
}

fn boxed(denied: Denied) -> Box<dyn StdError + Send + Sync> {
    Box::new(denied)
}

/// Installs [`PeerCheck`] on the client's connector.
#[derive(Clone)]
struct PeerCheckLayer(Arc<EgressPolicy>, UrlProvenance);

impl<S> tower::Layer<S> for PeerCheckLayer {
    type Service = PeerCheck<S>;

    fn layer(&self, inner: S) -> PeerCheck<S> {
        PeerCheck {
            inner,
            policy: Arc::clone(&self.0),
            by: self.1,
        }
    }
}

/// Checks each new connection's peer against the policy before any byte
/// of a request is written on it; a refused connection is dropped.
#[derive(Clone)]
struct PeerCheck<S> {
    inner: S,
    policy: Arc<EgressPolicy>,
    by: UrlProvenance,
}

type BoxError = Box<dyn StdError + Send + Sync>;

impl<S, R> tower::Service<R> for PeerCheck<S>
where
    S: tower::Service<R>,
    S::Response: Connection + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: R) -> Self::Future {
        let connecting = self.inner.call(request);
        let (policy, by) = (Arc::clone(&self.policy), self.by);
        Box::pin(async move {
            let conn = connecting.await.map_err(Into::into)?;
            let mut extras = http::Extensions::new();
            conn.connected().get_extras(&mut extras);
            let Some(info) = extras.get::<HttpInfo>() else {
                // No peer address to check: refuse rather than guess.
                return Err(boxed(Denied::Resolved("the connection".into())));
            };
            if let Err(denied) = policy.check_peer(info.remote_addr(), info.local_addr(), by) {
                tracing::warn!(peer = %info.remote_addr(), reason = %denied, "egress refused at connect");
                return Err(boxed(denied));
            }
            Ok(conn)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use UrlProvenance::{Operator, Tenant};

    fn policy(private_networks: PrivateNetworks, allow: &[&str]) -> EgressPolicy {
        EgressPolicy::new(EgressSettings {
            private_networks,
            allow: allow.iter().map(|r| r.parse().unwrap()).collect(),
            listeners: vec!["127.0.0.1:7000".parse().unwrap()],
            own_urls: vec!["https://gw.example.com".into()],
        })
    }

    #[test]
    fn only_http_and_https() {
        let p = policy(PrivateNetworks::Everyone, &[]);
        for url in [
            "file:///etc/passwd",
            "gopher://example.com/",
            "unix:///run/docker.sock",
            "ftp://example.com/",
            "data:text/plain,x",
        ] {
            assert!(
                matches!(p.check_url(url, Tenant), Err(Denied::Scheme(_))),
                "{url}: {:?}",
                p.check_url(url, Tenant)
            );
        }
        assert!(p.check_url("https://api.example.com/v1", Tenant).is_ok());
        assert!(p.check_url("http://api.example.com:8080/", Tenant).is_ok());
        assert_eq!(p.check_url("not a url", Tenant), Err(Denied::Invalid));
    }

    #[test]
    fn every_spelling_of_loopback_is_loopback() {
        let p = policy(PrivateNetworks::Nobody, &[]);
        for url in [
            "http://127.0.0.1/",
            "http://127.1/",
            "http://0x7f.1/",
            "http://2130706433/",
            "http://0177.0.0.1/",
            "http://127.255.255.254:9/",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:7f00:1]/",
            "http://[64:ff9b::7f00:1]/",
            "http://[2002:7f00:1::]/",
        ] {
            assert!(
                matches!(
                    p.check_url(url, Tenant),
                    Err(Denied::Private(_, "loopback", _))
                ),
                "{url}: {:?}",
                p.check_url(url, Tenant)
            );
        }
        for url in [
            "http://localhost/",
            "http://LOCALHOST./x",
            "http://a.localhost/",
        ] {
            assert!(
                matches!(p.check_url(url, Tenant), Err(Denied::LocalName(..))),
                "{url}"
            );
        }
    }

    #[test]
    fn metadata_and_link_local_are_never_allowed() {
        let p = policy(PrivateNetworks::Everyone, &["169.254.0.0/16", "0.0.0.0/0"]);
        for url in [
            "http://169.254.169.254/latest/meta-data/",
            "http://[::ffff:169.254.169.254]/",
            "http://[fd00:ec2::254]/",
            "http://100.100.100.200/",
            "http://169.254.1.1/",
            "http://[fe80::1]/",
            "http://0.0.0.0:80/",
            "http://0/",
            "http://[::]/",
            "http://255.255.255.255/",
            "http://224.0.0.1/",
            "http://[ff02::1]/",
        ] {
            assert!(
                matches!(p.check_url(url, Tenant), Err(Denied::Forbidden(..))),
                "{url}: {:?}",
                p.check_url(url, Tenant)
            );
        }
        for url in [
            "http://metadata.google.internal/computeMetadata/v1/",
            "http://METADATA.GOOGLE.INTERNAL./",
            "http://metadata/",
            "http://instance-data/",
        ] {
            assert!(
                matches!(p.check_url(url, Tenant), Err(Denied::ForbiddenName(_))),
                "{url}"
            );
        }
    }

    #[test]
    fn private_networks_need_the_switch_or_a_rule() {
        let strict = policy(PrivateNetworks::Nobody, &[]);
        for url in [
            "http://10.0.0.5/",
            "http://172.16.0.1/",
            "http://192.168.1.1/",
            "http://100.64.0.1/",
            "http://[fd12::1]/",
            "http://198.18.0.1/",
        ] {
            assert!(
                matches!(strict.check_url(url, Tenant), Err(Denied::Private(..))),
                "{url}"
            );
            assert!(
                policy(PrivateNetworks::Everyone, &[])
                    .check_url(url, Tenant)
                    .is_ok(),
                "{url}"
            );
        }
        let ruled = policy(
            PrivateNetworks::Nobody,
            &["10.0.0.0/8", "127.0.0.1:9000", "[::1]:9001"],
        );
        assert!(ruled.check_url("http://10.1.2.3/", Tenant).is_ok());
        assert!(ruled.check_url("http://127.0.0.1:9000/", Tenant).is_ok());
        assert!(ruled.check_url("http://127.0.0.1:9001/", Tenant).is_err());
        assert!(ruled.check_url("http://[::1]:9001/", Tenant).is_ok());
        assert!(ruled.check_url("http://172.16.0.1/", Tenant).is_err());
        // The resolver, not knowing the port, passes an address some rule allows.
        assert!(
            ruled
                .check_ip("127.0.0.1".parse().unwrap(), None, None, Tenant)
                .is_ok()
        );
        for public in [
            "http://8.8.8.8/",
            "https://[2606:4700::1111]/",
            "http://172.32.0.1/",
        ] {
            assert!(strict.check_url(public, Tenant).is_ok(), "{public}");
        }
    }

    #[test]
    fn the_gateway_itself_is_refused_even_on_loopback() {
        let p = policy(PrivateNetworks::Everyone, &["127.0.0.0/8"]);
        assert!(matches!(
            p.check_url("http://127.0.0.1:7000/mcp/x", Tenant),
            Err(Denied::OwnListener(_))
        ));
        assert!(p.check_url("http://127.0.0.1:7001/", Tenant).is_ok());
        assert!(matches!(
            p.check_url("https://gw.example.com/mcp/abc", Tenant),
            Err(Denied::OwnListener(_))
        ));
        assert!(p.check_url("https://gw.example.com:8443/", Tenant).is_ok());
        // Behind a proxy that routes by path, only the gateway's own path is refused.
        let pathed = EgressPolicy::new(EgressSettings {
            own_urls: vec!["https://tools.example.com/gw/".into()],
            ..Default::default()
        });
        for own in [
            "https://tools.example.com/gw",
            "https://tools.example.com/gw/mcp/x",
        ] {
            assert!(
                matches!(pathed.check_url(own, Tenant), Err(Denied::OwnListener(_))),
                "{own}"
            );
        }
        assert!(
            pathed
                .check_url("https://tools.example.com/weather/mcp", Tenant)
                .is_ok()
        );
        assert!(
            pathed
                .check_url("https://tools.example.com/gwx", Tenant)
                .is_ok()
        );
        let any = EgressPolicy::new(EgressSettings {
            private_networks: PrivateNetworks::Everyone,
            listeners: vec!["0.0.0.0:7000".parse().unwrap()],
            ..Default::default()
        });
        let peer =
            |a: &str, l: &str| any.check_peer(a.parse().unwrap(), l.parse().unwrap(), Tenant);
        assert!(peer("127.0.0.1:7000", "127.0.0.1:50000").is_err());
        assert!(peer("10.0.0.5:7000", "10.0.0.5:50000").is_err());
        assert!(peer("10.0.0.6:7000", "10.0.0.5:50000").is_ok());
        assert!(peer("127.0.0.1:7001", "127.0.0.1:50000").is_ok());
    }

    #[test]
    fn resolved_addresses_are_filtered_and_a_name_of_refused_ones_is_refused() {
        let p = policy(PrivateNetworks::Nobody, &[]);
        let addrs = |list: &[&str]| list.iter().map(|a| a.parse().unwrap()).collect::<Vec<_>>();
        // DNS rebinding's second answer, or an internal name.
        assert_eq!(
            p.filter_resolved(
                "x.example",
                addrs(&["10.0.0.1:0", "169.254.169.254:0"]),
                Tenant
            ),
            Err(Denied::Resolved("x.example".into()))
        );
        assert_eq!(
            p.filter_resolved(
                "x.example",
                addrs(&["127.0.0.1:0", "93.184.215.14:0"]),
                Tenant
            ),
            Ok(addrs(&["93.184.215.14:0"]))
        );
        assert_eq!(
            p.filter_resolved("x.example", Vec::new(), Tenant),
            Ok(Vec::new())
        );
        let open = policy(PrivateNetworks::Everyone, &[]);
        assert_eq!(
            open.filter_resolved(
                "x.example",
                addrs(&["127.0.0.1:0", "169.254.169.254:0"]),
                Tenant
            ),
            Ok(addrs(&["127.0.0.1:0"]))
        );
    }

    #[test]
    fn templates_are_checked_with_placeholders_as_names() {
        let p = policy(PrivateNetworks::Nobody, &[]);
        assert!(
            p.check_template("https://{subdomain}.zendesk.com/api/v2", Tenant)
                .is_ok()
        );
        assert!(p.check_template("https://{host}/api", Tenant).is_ok());
        assert!(matches!(
            p.check_template("http://169.254.169.254/{path}", Tenant),
            Err(Denied::Forbidden(..))
        ));
        assert!(matches!(
            p.check_template("file:///{x}", Tenant),
            Err(Denied::Scheme(_))
        ));
    }

    #[test]
    fn allow_rules_parse_or_say_what_they_expect() {
        for ok in [
            "10.0.0.0/8",
            "10.1.2.3",
            "10.1.2.3:8443",
            "::1",
            "[::1]:9000",
            "fd00::/8",
        ] {
            assert!(ok.parse::<AllowRule>().is_ok(), "{ok}");
        }
        let e = "api.internal".parse::<AllowRule>().unwrap_err();
        assert!(e.contains("api.internal") && e.contains("CIDR"), "{e}");
    }

    #[test]
    fn refusals_read_the_same_to_tenants() {
        let reasons = [
            Denied::Private(
                "10.0.0.1".parse().unwrap(),
                "private network",
                PrivateNetworks::SuperAdmins,
            ),
            Denied::Forbidden("169.254.169.254".parse().unwrap(), "cloud metadata"),
            Denied::Resolved("internal.example".into()),
            Denied::OwnListener("127.0.0.1:7000".into()),
        ];
        for r in reasons {
            assert_eq!(r.public_text(), REFUSED);
        }
    }

    #[test]
    fn by_default_only_the_operators_urls_reach_private_networks() {
        let p = policy(PrivateNetworks::default(), &["127.0.0.1:9000"]);
        for url in [
            "http://127.0.0.1:9/",
            "http://localhost:9/",
            "http://10.0.0.5/",
            "http://[::1]/",
        ] {
            assert!(p.check_url(url, Operator).is_ok(), "{url}");
            let refused = p.check_url(url, Tenant).unwrap_err();
            assert!(
                refused.to_string().contains("super-admin"),
                "{url}: {refused}"
            );
        }
        // A rule opens its address to everyone.
        assert!(p.check_url("http://127.0.0.1:9000/", Tenant).is_ok());
        // Metadata, link-local and the gateway itself stay refused for the operator.
        for url in [
            "http://169.254.169.254/latest/meta-data/",
            "http://[fe80::1]/",
            "http://metadata.google.internal/",
            "http://127.0.0.1:7000/mcp/x",
            "https://gw.example.com/mcp/x",
        ] {
            assert!(p.check_url(url, Operator).is_err(), "{url}");
        }
        let at = |p: &EgressPolicy, by| {
            p.check_peer(
                "127.0.0.1:9".parse().unwrap(),
                "127.0.0.1:50000".parse().unwrap(),
                by,
            )
        };
        assert!(at(&p, Operator).is_ok());
        assert!(at(&p, Tenant).is_err());
        // "nobody" refuses the operator too; "everyone" lets the tenant through.
        let nobody = policy(PrivateNetworks::Nobody, &[]);
        assert!(at(&nobody, Operator).is_err());
        assert!(
            nobody
                .check_url("http://127.0.0.1:9/", Operator)
                .unwrap_err()
                .to_string()
                .contains("\"nobody\"")
        );
        assert!(at(&policy(PrivateNetworks::Everyone, &[]), Tenant).is_ok());
    }

    #[test]
    fn the_setting_parses_from_config_and_environment() {
        for (text, setting) in [
            ("super-admins", PrivateNetworks::SuperAdmins),
            ("everyone", PrivateNetworks::Everyone),
            (" Nobody ", PrivateNetworks::Nobody),
        ] {
            assert_eq!(text.parse::<PrivateNetworks>(), Ok(setting));
        }
        let e = "true".parse::<PrivateNetworks>().unwrap_err();
        assert!(e.contains("super-admins"), "{e}");
    }
}

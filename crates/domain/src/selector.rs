//! The selector language (§7.2 scans, §7.3 deployments, exceptions and reports all target hosts the
//! same way). A selector is terms separated by spaces; each term is `key:value`, `+key:value` to
//! add the hosts it matches, or `-key:value` to exclude:
//!
//! | key | matches | example |
//! |---|---|---|
//! | `ip` | an address in a CIDR block, an `a-b` range, or one address (§7.2.1) | `ip:10.1.0.0/16` |
//! | `group` | membership of a directory (AD/LDAP) group, case-insensitive (§7.2.2) | `group:"Finance PCs"` |
//! | `name` | the machine name, a glob with `*` and `?` (§7.2.3) | `name:web-*` |
//! | `department`, `class`, `env` | the host's labels | `class:server` |
//! | `os` | the ecosystem, a glob | `os:Ubuntu:*` |
//!
//! Terms with the same key are alternatives (any may match); different keys must all match; a `+`
//! term adds every host it matches; an excluding term removes every host it matches. So
//! `ip:10.9.0.0/24 +group:"Ward PCs" -name:kiosk-*` is "the range, plus the group, minus the
//! kiosks". The empty selector selects every host. Values with spaces are written in double
//! quotes. Parse errors point at the column.

use std::net::IpAddr;

/// An inclusive range of addresses of one family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    first: IpAddr,
    last: IpAddr,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: {message}")]
pub struct SelectorError {
    pub column: usize,
    pub message: String,
}

fn error(column: usize, message: impl Into<String>) -> SelectorError {
    SelectorError {
        column,
        message: message.into(),
    }
}

fn to_bits(ip: IpAddr) -> (u128, u32) {
    match ip {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32),
        IpAddr::V6(v6) => (u128::from(v6), 128),
    }
}

fn from_bits(bits: u128, v4: bool) -> IpAddr {
    if v4 {
        IpAddr::V4(u32::try_from(bits).unwrap_or(u32::MAX).into())
    } else {
        IpAddr::V6(bits.into())
    }
}

impl IpRange {
    /// `10.1.0.0/16`, `10.1.2.3-10.1.2.40`, or one address.
    pub fn parse(text: &str) -> Result<IpRange, SelectorError> {
        let address = |s: &str, column: usize| {
            s.trim()
                .parse::<IpAddr>()
                .map_err(|_| error(column, format!("{:?} is not an IP address", s.trim())))
        };
        if let Some((base, prefix)) = text.split_once('/') {
            let ip = address(base, 1)?;
            let (bits, width) = to_bits(ip);
            let column = base.len() + 2;
            let prefix: u32 = prefix
                .trim()
                .parse()
                .map_err(|_| error(column, format!("{prefix:?} is not a prefix length")))?;
            if prefix > width {
                return Err(error(column, format!("prefix /{prefix} is longer than {width} bits")));
            }
            let host_bits = width - prefix;
            let mask = if host_bits >= 128 {
                u128::MAX
            } else {
                (1u128 << host_bits) - 1
            };
            let v4 = width == 32;
            return Ok(IpRange {
                first: from_bits(bits & !mask, v4),
                last: from_bits(bits | mask, v4),
            });
        }
        if let Some((a, b)) = text.split_once('-') {
            let (first, last) = (address(a, 1)?, address(b, a.len() + 2)?);
            if first.is_ipv4() != last.is_ipv4() {
                return Err(error(a.len() + 2, "a range's ends must both be IPv4 or both IPv6"));
            }
            if to_bits(first).0 > to_bits(last).0 {
                return Err(error(a.len() + 2, "a range must start at its lower end"));
            }
            return Ok(IpRange { first, last });
        }
        let ip = address(text, 1)?;
        Ok(IpRange { first: ip, last: ip })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.first.is_ipv4() && (to_bits(self.first).0..=to_bits(self.last).0).contains(&to_bits(ip).0)
    }
}

/// Shell-style glob over machine names: `*` any run, `?` one character; case-insensitive, as DNS
/// and NetBIOS names are.
pub fn glob_matches(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (
        pattern.to_lowercase().chars().collect(),
        name.to_lowercase().chars().collect(),
    );
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
            }
            Some(&c) if c == '?' || c == n[ni] => {
                pi += 1;
                ni += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// What a selector looks at on one host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostFacts {
    pub name: String,
    pub addresses: Vec<IpAddr>,
    pub groups: Vec<String>,
    pub department: String,
    pub platform_class: String,
    pub environment: String,
    pub os: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Test {
    Ip(IpRange, String),
    Name(String),
    Group(String),
    Department(String),
    Class(String),
    Env(String),
    Os(String),
}

impl Test {
    fn key(&self) -> &'static str {
        match self {
            Test::Ip(..) => "ip",
            Test::Name(_) => "name",
            Test::Group(_) => "group",
            Test::Department(_) => "department",
            Test::Class(_) => "class",
            Test::Env(_) => "env",
            Test::Os(_) => "os",
        }
    }

    fn value(&self) -> &str {
        match self {
            Test::Ip(_, text) => text,
            Test::Name(v) | Test::Group(v) | Test::Department(v) | Test::Class(v) | Test::Env(v) | Test::Os(v) => v,
        }
    }

    fn matches(&self, host: &HostFacts) -> bool {
        let same = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
        match self {
            Test::Ip(range, _) => host.addresses.iter().any(|ip| range.contains(*ip)),
            Test::Name(glob) => glob_matches(glob, &host.name),
            Test::Group(group) => host.groups.iter().any(|g| same(g, group)),
            Test::Department(d) => same(&host.department, d),
            Test::Class(c) => same(&host.platform_class, c),
            Test::Env(e) => same(&host.environment, e),
            Test::Os(glob) => glob_matches(glob, &host.os),
        }
    }
}

/// A parsed selector.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector {
    include: Vec<Test>,
    /// `+` terms: hosts added whatever the plain terms say.
    add: Vec<Test>,
    exclude: Vec<Test>,
}

impl Selector {
    pub fn parse(text: &str) -> Result<Selector, SelectorError> {
        let mut selector = Selector::default();
        let chars: Vec<(usize, char)> = text.char_indices().collect();
        let mut i = 0;
        let column = |i: usize| chars.get(i).map_or(text.chars().count() + 1, |_| i + 1);
        while i < chars.len() {
            if chars[i].1.is_whitespace() {
                i += 1;
                continue;
            }
            let start = i;
            let sign = chars[i].1;
            if sign == '-' || sign == '+' {
                i += 1;
            }
            let key_start = i;
            while i < chars.len() && chars[i].1 != ':' && !chars[i].1.is_whitespace() {
                i += 1;
            }
            let key: String = chars[key_start..i].iter().map(|(_, c)| c).collect();
            if i >= chars.len() || chars[i].1 != ':' {
                return Err(error(column(start), format!("expected key:value, found {key:?}")));
            }
            i += 1;
            let value_start = i;
            let value: String = if chars.get(i).is_some_and(|(_, c)| *c == '"') {
                i += 1;
                let from = i;
                while i < chars.len() && chars[i].1 != '"' {
                    i += 1;
                }
                if i >= chars.len() {
                    return Err(error(column(value_start), "the quoted value has no closing \""));
                }
                let quoted: String = chars[from..i].iter().map(|(_, c)| c).collect();
                i += 1;
                quoted
            } else {
                while i < chars.len() && !chars[i].1.is_whitespace() {
                    i += 1;
                }
                chars[value_start..i].iter().map(|(_, c)| c).collect()
            };
            if value.is_empty() {
                return Err(error(column(value_start), format!("{key}: has no value")));
            }
            let test = match key.as_str() {
                "ip" => {
                    let range = IpRange::parse(&value)
                        .map_err(|e| error(column(value_start) + e.column - 1, format!("ip: {}", e.message)))?;
                    Test::Ip(range, value)
                }
                "name" => Test::Name(value),
                "group" => Test::Group(value),
                "department" => Test::Department(value),
                "class" => Test::Class(value),
                "env" => Test::Env(value),
                "os" => Test::Os(value),
                other => {
                    return Err(error(
                        column(key_start),
                        format!("unknown key {other:?}: use ip, name, group, department, class, env or os"),
                    ));
                }
            };
            match sign {
                '-' => selector.exclude.push(test),
                '+' => selector.add.push(test),
                _ => selector.include.push(test),
            }
        }
        Ok(selector)
    }

    /// Whether the selector selects this host.
    pub fn matches(&self, host: &HostFacts) -> bool {
        if self.exclude.iter().any(|t| t.matches(host)) {
            return false;
        }
        if self.add.iter().any(|t| t.matches(host)) {
            return true;
        }
        // With only `+` terms, the plain part selects nothing (not everything).
        if self.include.is_empty() {
            return self.add.is_empty();
        }
        let mut keys: Vec<&str> = self.include.iter().map(Test::key).collect();
        keys.sort_unstable();
        keys.dedup();
        keys.iter()
            .all(|key| self.include.iter().filter(|t| t.key() == *key).any(|t| t.matches(host)))
    }
}

impl std::fmt::Display for Selector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let terms = self
            .include
            .iter()
            .map(|t| ("", t))
            .chain(self.add.iter().map(|t| ("+", t)))
            .chain(self.exclude.iter().map(|t| ("-", t)));
        let mut first = true;
        for (sign, test) in terms {
            if !first {
                f.write_str(" ")?;
            }
            first = false;
            let value = test.value();
            if value.contains(char::is_whitespace) {
                write!(f, "{sign}{}:\"{value}\"", test.key())?;
            } else {
                write!(f, "{sign}{}:{value}", test.key())?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plus_adds_hosts_minus_removes_them() {
        let s = Selector::parse("ip:10.9.0.0/24 +group:\"Ward PCs\" -name:kiosk-*").unwrap();
        let h = |name: &str, ip: &str, groups: &[&str]| HostFacts {
            name: name.into(),
            addresses: vec![ip.parse().unwrap()],
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
            ..HostFacts::default()
        };
        assert!(s.matches(&h("pc-1", "10.9.0.5", &[])), "in the range");
        assert!(s.matches(&h("pc-2", "10.7.0.5", &["ward pcs"])), "in the group");
        assert!(!s.matches(&h("pc-3", "10.7.0.5", &[])), "neither");
        assert!(!s.matches(&h("kiosk-1", "10.9.0.6", &["Ward PCs"])), "excluded");
        assert_eq!(s.to_string(), "ip:10.9.0.0/24 +group:\"Ward PCs\" -name:kiosk-*");
        let only_added = Selector::parse("+name:pc-1").unwrap();
        assert!(only_added.matches(&h("pc-1", "10.0.0.1", &[])));
        assert!(!only_added.matches(&h("pc-2", "10.0.0.1", &[])));
    }

    fn host(name: &str, ip: &str, groups: &[&str], class: &str, os: &str) -> HostFacts {
        HostFacts {
            name: name.into(),
            addresses: vec![ip.parse().unwrap()],
            groups: groups.iter().map(|g| g.to_string()).collect(),
            department: "Finance".into(),
            platform_class: class.into(),
            environment: "production".into(),
            os: os.into(),
        }
    }

    #[test]
    fn selectors_combine_terms() {
        let web = host("web-01", "10.1.2.3", &["Web Servers"], "server", "Debian:12");
        let pc = host("fin-pc-7", "10.2.0.9", &["Finance PCs"], "desktop", "Ubuntu:20.04:LTS");
        let s = Selector::parse("ip:10.1.0.0/16 ip:10.2.0.0/16 -name:fin-* class:server").unwrap();
        assert!(s.matches(&web));
        assert!(!s.matches(&pc));
        let s = Selector::parse("group:\"finance pcs\" os:Ubuntu:*").unwrap();
        assert!(s.matches(&pc) && !s.matches(&web));
        assert!(Selector::parse("").unwrap().matches(&web));
        assert!(!Selector::parse("-env:production").unwrap().matches(&web));
        assert_eq!(s.to_string(), "group:\"finance pcs\" os:Ubuntu:*");
    }

    #[test]
    fn errors_point_at_the_column() {
        assert_eq!(Selector::parse("name:web-* colour:blue").unwrap_err().column, 12);
        // Column 20 is the "40" of the prefix.
        assert_eq!(Selector::parse("name:a ip:10.0.0.0/40").unwrap_err().column, 20);
        assert_eq!(Selector::parse("class:server web").unwrap_err().column, 14);
        assert_eq!(Selector::parse("group:\"open").unwrap_err().column, 7);
        assert_eq!(Selector::parse("os:").unwrap_err().column, 4);
    }

    #[test]
    fn ranges() {
        let r = IpRange::parse("10.1.0.0/16").unwrap();
        assert!(r.contains("10.1.255.7".parse().unwrap()));
        assert!(!r.contains("10.2.0.1".parse().unwrap()));
        let r = IpRange::parse("192.168.1.10-192.168.1.20").unwrap();
        assert!(r.contains("192.168.1.20".parse().unwrap()));
        assert!(!r.contains("192.168.1.21".parse().unwrap()));
        assert!(IpRange::parse("::1").unwrap().contains("::1".parse().unwrap()));
        assert_eq!(IpRange::parse("10.0.0.0/33").unwrap_err().column, 10);
        assert_eq!(IpRange::parse("10.0.0.9-10.0.0.1").unwrap_err().column, 10);
        assert_eq!(IpRange::parse("10.0.0.x").unwrap_err().column, 1);
    }

    #[test]
    fn globs() {
        assert!(glob_matches("web-*", "WEB-01"));
        assert!(glob_matches("db-?", "db-1"));
        assert!(!glob_matches("db-?", "db-10"));
        assert!(glob_matches("*", ""));
        assert!(glob_matches("*a*b", "xxaxxb"));
        assert!(!glob_matches("*a*b", "xxaxxc"));
    }

    proptest::proptest! {
        #[test]
        fn parsing_never_panics(text in "\\PC{0,40}") {
            let _ = IpRange::parse(&text);
            let _ = glob_matches(&text, "web-01.example.org");
            if let Err(e) = Selector::parse(&text) {
                proptest::prop_assert!(e.column >= 1 && e.column <= text.chars().count() + 1);
            }
        }

        /// What a selector prints parses back to the same selector.
        #[test]
        fn selectors_round_trip(terms in proptest::collection::vec(
            ("-?", "(name|group|department|class|env|os)", "[a-z*?][a-z0-9 *-]{0,8}"), 0..5)) {
            let text: Vec<String> = terms.iter().map(|(sign, key, value)| {
                let value = value.trim();
                let value = if value.is_empty() { "x" } else { value };
                if value.contains(' ') { format!("{sign}{key}:\"{value}\"") } else { format!("{sign}{key}:{value}") }
            }).collect();
            let parsed = Selector::parse(&text.join(" ")).unwrap();
            proptest::prop_assert_eq!(Selector::parse(&parsed.to_string()).unwrap(), parsed);
        }
    }
}

//! Targeting pieces (§7.2.1 IP ranges, §7.2.3 machine names): IP ranges in CIDR or `a-b` form and
//! machine-name globs. Parse errors point at the column.

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

#[cfg(test)]
mod tests {
    use super::*;

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
        }
    }
}

//! Series keys: the bytes that identify one aggregated series.
//!
//! A key is built into a reused buffer for every line and looked up by slice, so only a
//! series seen for the first time in an interval allocates (its boxed copy). Tags are
//! sorted, so `#a:1,b:2` and `#b:2,a:1` are one series; when a key repeats, the first
//! value in sorted order is kept (OTLP attributes must have unique keys).
//!
//! Layout: `[type][source][name]\n[container id]\n[key:value]\n[key:value]...`, where
//! `source` is `0`, or `4` and 4 address bytes, or `6` and 16 bytes. `\n` cannot occur
//! inside a line, so it separates fields unambiguously.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::line::{MetricLine, MetricType};

/// Reused buffers for building keys.
#[derive(Debug, Default)]
pub struct KeyBuilder {
    pub bytes: Vec<u8>,
    /// (key start, key end, value start, value end) offsets into the raw tag list.
    tag_ranges: Vec<(u32, u32, u32, u32)>,
}

impl KeyBuilder {
    /// Builds the key of `metric` (from `source` when aggregating by IP) into `self.bytes`.
    pub fn build(&mut self, metric: &MetricLine<'_>, source: Option<IpAddr>) -> &[u8] {
        let out = &mut self.bytes;
        out.clear();
        out.push(metric.kind.code());
        match source {
            None => out.push(0),
            Some(IpAddr::V4(ip)) => {
                out.push(4);
                out.extend_from_slice(&ip.octets());
            }
            Some(IpAddr::V6(ip)) => {
                out.push(6);
                out.extend_from_slice(&ip.octets());
            }
        }
        for part in metric.name_parts() {
            out.extend_from_slice(part.as_bytes());
        }
        out.push(b'\n');
        out.extend_from_slice(metric.container_id.as_bytes());

        let raw = metric.raw_tags;
        let base = raw.as_ptr() as usize;
        self.tag_ranges.clear();
        for tag in metric.tags() {
            let key_start = (tag.key.as_ptr() as usize - base) as u32;
            // A bare tag's empty value does not point into `raw`.
            let value_start = if tag.value.is_empty() {
                key_start + tag.key.len() as u32
            } else {
                (tag.value.as_ptr() as usize - base) as u32
            };
            self.tag_ranges.push((
                key_start,
                key_start + tag.key.len() as u32,
                value_start,
                value_start + tag.value.len() as u32,
            ));
        }
        let slice = |start: u32, end: u32| &raw[start as usize..end as usize];
        self.tag_ranges.sort_unstable_by(|a, b| {
            (slice(a.0, a.1), slice(a.2, a.3)).cmp(&(slice(b.0, b.1), slice(b.2, b.3)))
        });
        let mut previous_key: Option<&str> = None;
        for &(ks, ke, vs, ve) in &self.tag_ranges {
            let key = slice(ks, ke);
            if previous_key == Some(key) {
                continue;
            }
            previous_key = Some(key);
            out.push(b'\n');
            out.extend_from_slice(key.as_bytes());
            out.push(b':');
            out.extend_from_slice(slice(vs, ve).as_bytes());
        }
        &self.bytes
    }
}

/// A decoded key, for building the OTLP output at the end of an interval.
#[derive(Debug, PartialEq)]
pub struct KeyView<'a> {
    pub kind: MetricType,
    pub source: Option<IpAddr>,
    pub name: &'a str,
    pub container_id: &'a str,
    /// `key:value` entries, sorted, keys unique.
    pub tags: Vec<(&'a str, &'a str)>,
}

/// Decodes a key written by [`KeyBuilder::build`]; `None` only for bytes it did not write.
pub fn decode(key: &[u8]) -> Option<KeyView<'_>> {
    let kind = MetricType::from_code(*key.first()?)?;
    let (source, rest) = match *key.get(1)? {
        0 => (None, key.get(2..)?),
        4 => {
            let octets: [u8; 4] = key.get(2..6)?.try_into().ok()?;
            (Some(IpAddr::V4(Ipv4Addr::from(octets))), key.get(6..)?)
        }
        6 => {
            let octets: [u8; 16] = key.get(2..18)?.try_into().ok()?;
            (Some(IpAddr::V6(Ipv6Addr::from(octets))), key.get(18..)?)
        }
        _ => return None,
    };
    let text = std::str::from_utf8(rest).ok()?;
    let mut parts = text.split('\n');
    let name = parts.next()?;
    let container_id = parts.next()?;
    let tags = parts.filter_map(|entry| entry.split_once(':')).collect();
    Some(KeyView {
        kind,
        source,
        name,
        container_id,
        tags,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::line::{parse_line, Line, ParseOptions};

    fn key_of(line: &str, source: Option<IpAddr>) -> Vec<u8> {
        let options = ParseOptions {
            simple_tags: true,
            ..Default::default()
        };
        let Ok(Some(Line::Metric(m))) = parse_line(line, &options) else {
            panic!("{line}")
        };
        KeyBuilder::default().build(&m, source).to_vec()
    }

    #[test]
    fn tag_order_and_stray_hashes_do_not_split_series() {
        assert_eq!(
            key_of("a:1|c|#x:1,y:2", None),
            key_of("a:2|c|#y:2,#x:1", None)
        );
        assert_ne!(key_of("a:1|c|#x:1", None), key_of("a:1|g|#x:1", None));
        assert_eq!(key_of("a:1|c|#bare", None), key_of("a:1|c|#bare:", None));
    }

    #[test]
    fn round_trip() {
        let ip = Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7)));
        let key = key_of("web.hits:1|c|#b:2,a:x:y,a:z|c:abc", ip);
        let view = decode(&key).unwrap();
        assert_eq!(view.kind, MetricType::Counter);
        assert_eq!(view.source, ip);
        assert_eq!(view.name, "web.hits");
        assert_eq!(view.container_id, "abc");
        assert_eq!(view.tags, vec![("a", "x:y"), ("b", "2")]);
    }
}

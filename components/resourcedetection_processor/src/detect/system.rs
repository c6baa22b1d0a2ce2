//! `system`: host.name (from `hostname_sources`), os.type, host.id (the machine id),
//! host.arch and os.description, read from the local system; no network.

use std::path::Path;

use super::{enabled, first_line, Attributes};
use crate::config::SystemConfig;

/// The attributes the Collector's system detector knows. Weir detects the first five;
/// the rest are accepted and, when enabled, reported as not detected.
pub const KNOWN: [&str; 13] = [
    "host.name",
    "os.type",
    "host.id",
    "host.arch",
    "os.description",
    "host.ip",
    "host.mac",
    "host.cpu.vendor.id",
    "host.cpu.family",
    "host.cpu.model.id",
    "host.cpu.model.name",
    "host.cpu.stepping",
    "host.cpu.cache.l2.size",
];

/// Where the machine id is read, in order (the Collector reads the same files).
pub const MACHINE_ID_FILES: [&str; 2] = ["/etc/machine-id", "/var/lib/dbus/machine-id"];

/// The enabled-by-default attributes, as in the Collector.
fn default_enabled(name: &str) -> bool {
    matches!(name, "host.name" | "os.type")
}

/// Runs the detector. Fails, as the Collector does, when no hostname source answers.
pub fn detect(config: &SystemConfig) -> Result<(Attributes, Vec<String>), String> {
    let on = |name: &str| enabled(&config.resource_attributes, name, default_enabled(name));
    let sources: Vec<&str> = if config.hostname_sources.is_empty() {
        vec!["dns", "os"]
    } else {
        config.hostname_sources.iter().map(String::as_str).collect()
    };
    let mut errors = Vec::new();
    let mut hostname = None;
    for source in sources {
        let found = match source {
            "os" => os_hostname(),
            "dns" => os_hostname().and_then(|h| canonical_name(&h, Path::new("/etc/hosts"))),
            other => Err(format!("hostname source {other} is not supported")),
        };
        match found {
            Ok(name) => {
                hostname = Some(name);
                break;
            }
            Err(err) => errors.push(err),
        }
    }
    let Some(hostname) = hostname else {
        return Err(format!(
            "all hostname sources failed to get hostname: {}",
            errors.join("; ")
        ));
    };
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    if on("host.name") {
        out.push(("host.name".to_string(), hostname));
    }
    if on("os.type") {
        out.push(("os.type".to_string(), os_type().to_string()));
    }
    if on("host.id") {
        match MACHINE_ID_FILES
            .iter()
            .find_map(|f| first_line(Path::new(f)))
        {
            Some(id) => out.push(("host.id".to_string(), id)),
            None => warnings.push(format!(
                "host.id: no machine id in {}",
                MACHINE_ID_FILES.join(" or ")
            )),
        }
    }
    if on("host.arch") {
        out.push(("host.arch".to_string(), host_arch().to_string()));
    }
    if on("os.description") {
        match os_description(Path::new("/etc/os-release")) {
            Some(text) => out.push(("os.description".to_string(), text)),
            None => warnings.push("os.description: /etc/os-release has no PRETTY_NAME".into()),
        }
    }
    for name in &KNOWN[5..] {
        if on(name) {
            warnings.push(format!("{name} is not detected by Weir"));
        }
    }
    Ok((out, warnings))
}

/// The kernel's hostname.
pub fn os_hostname() -> Result<String, String> {
    first_line(Path::new("/proc/sys/kernel/hostname"))
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()))
        .or_else(|| first_line(Path::new("/etc/hostname")))
        .ok_or_else(|| "cannot read the OS hostname".to_string())
}

/// The canonical (first) name of the /etc/hosts line that lists `hostname`.
pub fn canonical_name(hostname: &str, hosts: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(hosts)
        .map_err(|e| format!("dns: cannot read {}: {e}", hosts.display()))?;
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or_default();
        let mut fields = line.split_whitespace();
        let Some(_address) = fields.next() else {
            continue;
        };
        let names: Vec<&str> = fields.collect();
        if names.iter().any(|n| n.eq_ignore_ascii_case(hostname)) {
            if let Some(first) = names.first() {
                return Ok(first.to_string());
            }
        }
    }
    Err(format!("dns: {hostname} is not in {}", hosts.display()))
}

/// `os.type` in the semantic conventions' values.
pub fn os_type() -> &'static str {
    match std::env::consts::OS {
        "macos" => "darwin",
        other => other,
    }
}

/// `host.arch` in the semantic conventions' values.
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm32",
        "powerpc" => "ppc32",
        "powerpc64" => "ppc64",
        other => other,
    }
}

/// `PRETTY_NAME` from an os-release file.
pub fn os_description(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find_map(|line| {
        let value = line.strip_prefix("PRETTY_NAME=")?;
        let value = value.trim().trim_matches('"');
        (!value.is_empty()).then(|| value.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_name_from_hosts() {
        let dir = std::env::temp_dir().join(format!("weir-rd-hosts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let hosts = dir.join("hosts");
        std::fs::write(
            &hosts,
            "127.0.0.1 localhost\n# 10.0.0.9 box\n10.0.0.5 box.example.com box  # me\n",
        )
        .unwrap();
        assert_eq!(canonical_name("box", &hosts).unwrap(), "box.example.com");
        assert!(canonical_name("other", &hosts).is_err());
        std::fs::write(
            dir.join("os-release"),
            "NAME=X\nPRETTY_NAME=\"Debian GNU/Linux 13\"\n",
        )
        .unwrap();
        assert_eq!(
            os_description(&dir.join("os-release")).unwrap(),
            "Debian GNU/Linux 13"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn defaults_are_host_name_and_os_type() {
        let (attrs, warnings) = detect(&SystemConfig::default()).unwrap();
        let keys: Vec<&str> = attrs.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["host.name", "os.type"]);
        assert_eq!(attrs[1].1, "linux");
        assert!(!attrs[0].1.is_empty());
        assert!(warnings.is_empty());
    }

    #[test]
    fn os_source_is_the_kernel_hostname() {
        let config: SystemConfig = serde_yaml_ng::from_str(
            "hostname_sources: [os]\nresource_attributes: {host.arch: {enabled: true}, os.type: {enabled: false}, host.ip: {enabled: true}}",
        )
        .unwrap();
        let (attrs, warnings) = detect(&config).unwrap();
        assert_eq!(attrs[0], ("host.name".to_string(), os_hostname().unwrap()));
        assert_eq!(attrs[1], ("host.arch".to_string(), host_arch().to_string()));
        assert_eq!(attrs.len(), 2);
        assert_eq!(warnings, ["host.ip is not detected by Weir"]);
    }
}

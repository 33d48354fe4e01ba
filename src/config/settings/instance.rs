//! BOSUN_INSTANCE_ID: the name of this replica in its metrics.

use super::Sources;

/// The given id (trimmed), else the host's name, else `bosun-` and 8 random hex digits.
pub(super) fn instance_id(sources: &Sources) -> String {
    sources
        .get("instance_id")
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .or_else(hostname)
        .unwrap_or_else(|| format!("bosun-{:08x}", fastrand::u32(..)))
}

/// The kernel's host name (Linux), else `/etc/hostname`; `None` when neither names one.
fn hostname() -> Option<String> {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .map(|name| name.trim().to_owned())
        .find(|name| !name.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_given_id_is_used_else_the_host_name() {
        let mut s = Sources::default();
        s.env.set("instance_id", "  replica-a ");
        assert_eq!(instance_id(&s), "replica-a");
        let unset = instance_id(&Sources::default());
        assert!(!unset.is_empty());
        if let Some(host) = hostname() {
            assert_eq!(unset, host);
        }
    }
}

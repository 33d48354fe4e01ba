//! A release's `SHA256SUMS` file: one `HEX  FILENAME` line per artifact.

/// The SHA-256 the signed `sums` give for `file`; `Err` says why there is none (no line for
/// it, two lines for it, or a malformed line for it).
pub fn digest_of(sums: &[u8], file: &str) -> Result<[u8; 32], String> {
    let text =
        std::str::from_utf8(sums).map_err(|_| "the SHA256SUMS file is not text".to_owned())?;
    let mut found = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Some((hex, name)) = line.split_once(char::is_whitespace) else {
            continue;
        };
        // `sha256sum -b` writes `*NAME`.
        let name = name.trim_start();
        let name = name.strip_prefix('*').unwrap_or(name);
        if name != file {
            continue;
        }
        let mut digest = [0u8; 32];
        hex::decode_to_slice(hex, &mut digest)
            .map_err(|_| format!("the SHA256SUMS line for {file} has no valid SHA-256"))?;
        if found.replace(digest).is_some() {
            return Err(format!("the SHA256SUMS file lists {file} twice"));
        }
    }
    found.ok_or_else(|| format!("the SHA256SUMS file has no line for {file}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "0000000000000000000000000000000000000000000000000000000000000001";
    const B: &str = "00000000000000000000000000000000000000000000000000000000000000ff";

    #[test]
    fn the_line_of_the_file_gives_its_digest() {
        let sums = format!(
            "{A}  terraform_1.9.3_darwin_arm64.zip\n{B}  terraform_1.9.3_linux_amd64.zip\n\n"
        );
        let got = digest_of(sums.as_bytes(), "terraform_1.9.3_linux_amd64.zip").unwrap();
        assert_eq!(got[31], 0xff);
        let star = format!("{B} *tofu_1.8.0_linux_amd64.zip\r\n");
        assert_eq!(
            digest_of(star.as_bytes(), "tofu_1.8.0_linux_amd64.zip").unwrap()[31],
            0xff
        );
    }

    #[test]
    fn a_missing_doubled_or_malformed_line_is_refused() {
        let sums = format!("{A}  other.zip\n");
        let err = digest_of(sums.as_bytes(), "t.zip").unwrap_err();
        assert_eq!(err, "the SHA256SUMS file has no line for t.zip");
        let twice = format!("{A}  t.zip\n{B}  t.zip\n");
        assert!(
            digest_of(twice.as_bytes(), "t.zip")
                .unwrap_err()
                .contains("twice")
        );
        let short = "abcd  t.zip\n";
        assert!(
            digest_of(short.as_bytes(), "t.zip")
                .unwrap_err()
                .contains("no valid SHA-256")
        );
        assert!(digest_of(&[0xff, 0xfe], "t.zip").is_err());
        // A file name that only ends like the one asked for is another file.
        let suffix = format!("{A}  x-t.zip\n");
        assert!(digest_of(suffix.as_bytes(), "t.zip").is_err());
    }
}

//! The library's messages in command-line words.

/// The library names an option `option some_name`; on the command line that is
/// `--some-name`.
pub fn flags(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find("option ") {
        let name_len = rest[at + 7..]
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(rest.len() - at - 7);
        let name = &rest[at + 7..at + 7 + name_len];
        let word_start = rest[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric());
        if name.is_empty() || !word_start {
            out.push_str(&rest[..at + 7]);
            rest = &rest[at + 7..];
            continue;
        }
        out.push_str(&rest[..at]);
        out.push_str("--");
        out.push_str(&name.replace('_', "-"));
        rest = &rest[at + 7 + name_len..];
    }
    out.push_str(rest);
    out
}

/// An error and its causes, each cause shown once: a cause whose text the message
/// already holds ("x: No such file ..." over "No such file ...") is not repeated.
pub fn chain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn library_option_names_become_flags() {
        assert_eq!(
            super::flags("give option timestep_fs and option stride (or an INCAR); option k 3"),
            "give --timestep-fs and --stride (or an INCAR); --k 3"
        );
        assert_eq!(
            super::flags("no options here, no option"),
            "no options here, no option"
        );
    }
}

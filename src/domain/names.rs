//! Application names as people see them.
//!
//! A person choosing an app on a consent or admin screen cannot tell apart
//! `Café` written with a composed `é` or with `e` and a combining accent,
//! `Billing` and fullwidth `Ｂｉｌｌｉｎｇ`, `Billing` with a zero-width space
//! inside, `Invoice` and `ınvoıce`, `Straße` and `STRASSE`, or Latin and
//! Cyrillic `B`. So names are stored in NFC; invisible, default-ignorable
//! and unassigned characters are refused, as are names that mix scripts
//! beyond what a language does (UTS #39 "moderately restrictive"); and
//! uniqueness is kept on two look-alike keys, each a UTS #39 confusable
//! skeleton: of the name case-folded (NFKC_Casefold), and of the name as
//! written (NFKC), which catches capital look-alikes such as `I` and `l`.
//! Descriptions, shown next to names, are checked here too.

use icu_properties::{
    CodePointMapData, CodePointSetData,
    props::{DefaultIgnorableCodePoint, GeneralCategory},
};
use unicode_normalization::UnicodeNormalization as _;
use unicode_script::Script;
use unicode_security::{mixed_script::AugmentedScriptSet, skeleton};

use super::refusal::FieldViolation;

/// Bumped when the keys' definition (or the Unicode tables behind them)
/// changes, together with a migration that sets `name_keys_version` back
/// to NULL on rows with an older version: start-up keys every row whose
/// version is NULL (found through a partial index, so a start costs
/// nothing once every row is keyed, however many there are).
pub const NAME_KEYS_VERSION: i16 = 1;

/// The form a name is stored in.
pub fn normalize(name: &str) -> String {
    name.nfc().collect()
}

/// Characters that show nothing, or nothing reliably: default-ignorable code
/// points (zero-width spaces and joiners, bidirectional controls, variation
/// selectors, tags...), controls, format characters, separators other than
/// the plain space, unassigned and private-use code points, and blanks that
/// render as nothing.
pub fn is_invisible(c: char) -> bool {
    use GeneralCategory as G;
    if CodePointSetData::new::<DefaultIgnorableCodePoint>().contains(c) {
        return true;
    }
    match CodePointMapData::<GeneralCategory>::new().get(c) {
        G::Control
        | G::Format
        | G::Unassigned
        | G::PrivateUse
        | G::Surrogate
        | G::LineSeparator
        | G::ParagraphSeparator => true,
        G::SpaceSeparator => c != ' ',
        _ => matches!(c, '\u{2800}' | '\u{3164}' | '\u{FFFC}' | '\u{FFFD}'),
    }
}

/// The scripts of a name that mixes them beyond what a language does, for
/// the violation's message. A name may be in one script (counting the CJK
/// combinations as one, as UTS #39 does), or Latin with one other script
/// that is neither Cyrillic nor Greek, whose letters pass for Latin ones
/// (UTS #39 "moderately restrictive", without its identifier profile:
/// spaces and punctuation are fine in a name).
pub fn mixed_scripts(name: &str) -> Option<String> {
    if !AugmentedScriptSet::for_str(name).is_empty() {
        return None;
    }
    let latin = |set: &AugmentedScriptSet| set.base.contains_script(Script::Latin);
    let mut others = AugmentedScriptSet::default();
    for c in name.chars() {
        let set = AugmentedScriptSet::for_char(c);
        if !latin(&set) {
            others.intersect_with(set);
        }
    }
    let passes_for_latin =
        others.base.contains_script(Script::Cyrillic) || others.base.contains_script(Script::Greek);
    if !others.is_empty() && !passes_for_latin {
        return None;
    }
    let mut scripts: Vec<String> = Vec::new();
    for c in name.chars() {
        let set = AugmentedScriptSet::for_char(c);
        if set.is_all() {
            continue; // Common or Inherited: spaces, digits, punctuation
        }
        let shown = set.to_string();
        if !scripts.contains(&shown) {
            scripts.push(shown);
        }
    }
    Some(scripts.join(" and "))
}

/// The two look-alike keys of a name: two names with one equal key look
/// the same.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameKeys {
    /// skeleton(NFKC_Casefold(name)): case-insensitive.
    pub folded: String,
    /// skeleton(NFKC(name)): as written.
    pub visual: String,
}

pub fn keys(name: &str) -> NameKeys {
    let nfkc: String = name.nfkc().collect();
    let folded: String = caseless::default_case_fold_str(&nfkc).nfkc().collect();
    NameKeys {
        folded: skeleton(&folded).collect(),
        visual: skeleton(&nfkc).collect(),
    }
}

pub const NAME_MAX_CHARS: usize = 100;
pub const DESCRIPTION_MAX_CHARS: usize = 500;

/// Characters that reorder or hide text (bidirectional overrides and marks),
/// used to make one name look like another.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Checks a name, already in NFC ([`normalize`]).
pub fn validate_name(name: &str, field: &str, out: &mut Vec<FieldViolation>) {
    let chars = name.chars().count();
    if name.trim().is_empty() {
        out.push(FieldViolation::new(field, "must not be empty or blank"));
    } else if chars > NAME_MAX_CHARS {
        out.push(FieldViolation::new(
            field,
            format!("must be at most {NAME_MAX_CHARS} characters (has {chars})"),
        ));
    }
    if !name.trim().is_empty() && name.trim() != name {
        out.push(FieldViolation::new(
            field,
            "must not start or end with whitespace",
        ));
    }
    if let Some(c) = name.chars().find(|c| is_invisible(*c)) {
        out.push(FieldViolation::new(
            field,
            format!(
                "must not contain invisible, control or unassigned characters (has U+{:04X})",
                u32::from(c)
            ),
        ));
    } else if let Some(scripts) = mixed_scripts(name) {
        out.push(FieldViolation::new(
            field,
            format!(
                "mixes {scripts} letters, which can pass for each other: write it in one script"
            ),
        ));
    }
}

pub fn validate_description(description: &str, field: &str, out: &mut Vec<FieldViolation>) {
    let chars = description.chars().count();
    if chars > DESCRIPTION_MAX_CHARS {
        out.push(FieldViolation::new(
            field,
            format!("must be at most {DESCRIPTION_MAX_CHARS} characters (has {chars})"),
        ));
    }
    let bad = |c: char| (c.is_control() && !matches!(c, '\n' | '\r' | '\t')) || is_bidi_control(c);
    if description.chars().any(bad) {
        out.push(FieldViolation::new(
            field,
            "must not contain control characters other than newlines and tabs",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let cases: &[(&str, bool)] = &[
            ("Billing", true),
            ("a", true),
            ("Ünïcödé 🚀", true),
            (&"x".repeat(100), true),
            (&"é".repeat(100), true),
            (&"x".repeat(101), false),
            ("", false),
            ("   ", false),
            ("\t", false),
            ("bad\nname", false),
            ("bell\u{7}", false),
            ("evil\u{202E}gnp.exe", false),
            (" Billing", false),
            ("Billing ", false),
            ("Bill ing", true),
            ("Bill\u{200B}ing", false),
            ("\u{0412}illing", false),
            ("東京 Tokyo", true),
        ];
        for (name, ok) in cases {
            let mut out = vec![];
            validate_name(name, "name", &mut out);
            assert_eq!(out.is_empty(), *ok, "{name:?}: {out:?}");
            assert!(out.iter().all(|v| v.field == "name"));
        }
    }

    #[test]
    fn descriptions() {
        let cases: &[(&str, bool)] = &[
            ("", true),
            ("Line one\nline two\ttabbed", true),
            (&"d".repeat(500), true),
            (&"d".repeat(501), false),
            ("nul\0", false),
            ("rlo\u{202E}", false),
        ];
        for (d, ok) in cases {
            let mut out = vec![];
            validate_description(d, "description", &mut out);
            assert_eq!(out.is_empty(), *ok, "{d:?}: {out:?}");
        }
    }

    /// The attack review's pairs: each looks the same, so one key collides
    /// or one side is refused.
    #[test]
    fn look_alikes_collide_or_are_refused() {
        let refused = |s: &str| s.chars().any(is_invisible) || mixed_scripts(s).is_some();
        let pairs = [
            ("Café", "Cafe\u{0301}"),
            ("Billing", "Ｂｉｌｌｉｎｇ"),
            ("Billing", "Bill\u{200B}ing"),
            ("Invoice", "ınvoıce"),
            ("Straße", "STRASSE"),
            ("Billing", "\u{0412}illing"),
            ("PayPal", "PayPaI"),
            ("BILLING", "billing"),
            ("paypal", "\u{0440}\u{0430}ypal"),
        ];
        for (a, b) in pairs {
            let (a, b) = (normalize(a), normalize(b));
            let (ka, kb) = (keys(&a), keys(&b));
            let collide = ka.folded == kb.folded || ka.visual == kb.visual;
            assert!(
                collide || refused(&a) || refused(&b),
                "{a:?} and {b:?} coexist"
            );
        }
    }

    #[test]
    fn different_names_stay_different() {
        for (a, b) in [
            ("Billing", "Billings"),
            ("Invoice", "Invoices"),
            ("App 1", "App 2"),
            ("Alpha", "Beta"),
            ("Mail", "Mall"),
            ("Café", "Cafe"),
            ("東京", "大阪"),
        ] {
            let (ka, kb) = (keys(a), keys(b));
            assert!(
                ka.folded != kb.folded && ka.visual != kb.visual,
                "{a:?} vs {b:?}"
            );
        }
    }

    #[test]
    fn invisible_characters() {
        for c in [
            '\u{200B}',
            '\u{200D}',
            '\u{2060}',
            '\u{FEFF}',
            '\u{00AD}',
            '\u{202E}',
            '\u{2066}',
            '\u{FE0F}',
            '\u{E0041}',
            '\u{00A0}',
            '\u{3000}',
            '\u{2800}',
            '\u{3164}',
            '\u{0007}',
            '\u{E000}',
            '\u{0378}',
            '\u{2028}',
        ] {
            assert!(is_invisible(c), "U+{:04X}", c as u32);
        }
        for c in ['a', ' ', 'é', '東', '🚀', '-', '1', 'ß'] {
            assert!(!is_invisible(c), "{c:?}");
        }
    }

    #[test]
    fn scripts_mix_only_as_languages_do() {
        for ok in [
            "Billing",
            "Café 2",
            "Служба",
            "東京 Tokyo",
            "ひらがな 漢字 Latin",
            "Ünïcödé 🚀",
            "Shop العربية",
        ] {
            assert_eq!(mixed_scripts(ok), None, "{ok}");
        }
        for bad in [
            "\u{0412}illing",
            "Billing Служба",
            "Alpha Ωmega",
            "Служба ΩΩ",
        ] {
            assert!(mixed_scripts(bad).is_some(), "{bad}");
        }
        assert_eq!(
            mixed_scripts("\u{0412}illing").unwrap(),
            "Cyrillic and Latin"
        );
    }

    #[test]
    fn names_are_stored_composed() {
        assert_eq!(normalize("Cafe\u{0301}"), "Café");
        assert_eq!(
            normalize("Ｂｉｌｌｉｎｇ"),
            "Ｂｉｌｌｉｎｇ",
            "NFC keeps what was written"
        );
    }
}

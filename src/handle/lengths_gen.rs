//! Writes `lengths.rs` from libphonenumber's `PhoneNumberMetadata.xml`: for each country calling
//! code, the possible lengths of the region libphonenumber's `isPossibleNumber` reads for it (the
//! one marked `mainCountryForCode`, else the first: `+1` is the US's 10 digits, not Canada's
//! 7-digit `310` numbers), derived as libphonenumber's build
//! (`BuildMetadataFromXml.setPossibleLengthsGeneralDesc`) derives a region's: the union of the
//! `national` lengths of its number types, `noInternationalDialling` left out (such numbers are
//! never written with a `+`). Unlike `isPossibleNumber`, `localOnly` lengths are left out too: a
//! number that needs an area code added is not a whole E.164 number, and Linq needs a whole one.
//!
//! Run it when libphonenumber's metadata changes, with the XML of a release (its
//! `resources/PhoneNumberMetadata.xml`) and that release's version:
//!
//! ```text
//! ROSTER_PHONE_METADATA=path/to/PhoneNumberMetadata.xml ROSTER_PHONE_METADATA_VERSION=9.0.33 \
//!     cargo test --lib handle::lengths_gen -- --ignored
//! ```
//!
//! It also checks that every example number of the regions chosen is possible by the new table.

use std::collections::{BTreeMap, BTreeSet};

/// The number types whose lengths make a region's possible lengths.
const TYPES: &[&str] = &[
    "fixedLine",
    "mobile",
    "pager",
    "tollFree",
    "premiumRate",
    "sharedCost",
    "personalNumber",
    "voip",
    "uan",
    "voicemail",
];

/// What the metadata says, by country calling code: the lengths of the region libphonenumber's
/// `isPossibleNumber` reads for the code (the one marked `mainCountryForCode`, else the only or
/// first one), and that region's example numbers.
#[derive(Default)]
struct Metadata {
    lengths: BTreeMap<u16, BTreeSet<u8>>,
    /// The example numbers of those regions, with their calling code.
    examples: Vec<(u16, String)>,
}

/// One `<territory>`: its calling code, whether it is the main region of the code, the
/// possible lengths of its number types and their example numbers.
struct Territory {
    code: u16,
    main: bool,
    lengths: BTreeSet<u8>,
    examples: Vec<String>,
}

#[test]
#[ignore = "regenerates src/handle/lengths.rs from a PhoneNumberMetadata.xml named by ROSTER_PHONE_METADATA"]
fn regenerate_lengths() {
    let path = std::env::var("ROSTER_PHONE_METADATA").expect("ROSTER_PHONE_METADATA names the XML");
    let version = std::env::var("ROSTER_PHONE_METADATA_VERSION").expect("ROSTER_PHONE_METADATA_VERSION");
    let xml = std::fs::read_to_string(path).unwrap();
    let metadata = read(&without_comments(&xml));
    assert!(
        metadata.lengths.len() > 200,
        "only {} calling codes",
        metadata.lengths.len()
    );
    for (code, example) in &metadata.examples {
        let lengths = &metadata.lengths[code];
        assert!(
            lengths.contains(&(example.len() as u8)),
            "+{code} {example}: {lengths:?}"
        );
    }
    let out = concat!(env!("CARGO_MANIFEST_DIR"), "/src/handle/lengths.rs");
    std::fs::write(out, render(&metadata.lengths, &version)).unwrap();
}

fn without_comments(xml: &str) -> String {
    let mut out = String::with_capacity(xml.len());
    let mut rest = xml;
    while let Some(start) = rest.find("<!--") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("-->").expect("a closed comment");
        rest = &rest[start + end + 3..];
    }
    out.push_str(rest);
    out
}

fn read(xml: &str) -> Metadata {
    let mut chosen: BTreeMap<u16, Territory> = BTreeMap::new();
    let mut rest = xml;
    while let Some(start) = rest.find("<territory ") {
        let end = rest[start..].find("</territory>").expect("a closed territory") + start;
        let territory = territory(&rest[start..end]);
        // The first region of a code stands for it until one marked main comes.
        if territory.main || !chosen.contains_key(&territory.code) {
            chosen.insert(territory.code, territory);
        }
        rest = &rest[end..];
    }
    let mut metadata = Metadata::default();
    for (code, territory) in chosen {
        metadata
            .examples
            .extend(territory.examples.into_iter().map(|e| (code, e)));
        metadata.lengths.insert(code, territory.lengths);
    }
    metadata
}

fn territory(text: &str) -> Territory {
    let tag = &text[..text.find('>').unwrap()];
    let mut territory = Territory {
        code: attribute(tag, "countryCode").unwrap().parse().unwrap(),
        main: attribute(tag, "mainCountryForCode") == Some("true"),
        lengths: BTreeSet::new(),
        examples: Vec::new(),
    };
    for kind in TYPES {
        let Some(at) = text.find(&format!("<{kind}>")) else {
            continue;
        };
        let body = &text[at..at + text[at..].find(&format!("</{kind}>")).unwrap()];
        let tag = &body[body.find("<possibleLengths").unwrap()..];
        let tag = &tag[..tag.find('>').unwrap()];
        territory
            .lengths
            .extend(parse_lengths(attribute(tag, "national").unwrap()));
        if let Some(example) = element(body, "exampleNumber") {
            territory.examples.push(example.to_owned());
        }
    }
    territory
}

fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    Some(&tag[start..start + tag[start..].find('"')?])
}

fn element<'a>(body: &'a str, name: &str) -> Option<&'a str> {
    let start = body.find(&format!("<{name}>"))? + name.len() + 2;
    Some(body[start..start + body[start..].find('<')?].trim())
}

/// `7,9,[11-13]` → 7, 9, 11, 12, 13.
fn parse_lengths(text: &str) -> Vec<u8> {
    let mut lengths = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let item_end = if rest.starts_with('[') {
            rest.find(']').unwrap() + 1
        } else {
            rest.find(',').unwrap_or(rest.len())
        };
        let item = &rest[..item_end];
        match item.strip_prefix('[').and_then(|range| range.strip_suffix(']')) {
            Some(range) => {
                let (low, high) = range.split_once('-').unwrap();
                lengths.extend(low.parse::<u8>().unwrap()..=high.parse().unwrap());
            }
            None => lengths.push(item.parse().unwrap()),
        }
        rest = rest[item_end..].strip_prefix(',').unwrap_or(&rest[item_end..]);
    }
    lengths
}

fn render(lengths: &BTreeMap<u16, BTreeSet<u8>>, version: &str) -> String {
    let mut out = format!(
        "//! Generated by `src/handle/lengths_gen.rs` from libphonenumber {version}'s \
         `PhoneNumberMetadata.xml`:\n\
         //! do not edit by hand, run the generator (its module doc says how).\n\n\
         /// The libphonenumber release whose metadata [`LENGTHS`] holds.\n\
         pub(super) const METADATA: &str = \"libphonenumber {version}\";\n\n\
         /// Every country calling code, ascending, with the lengths a whole number of it may have\n\
         /// after the code (those of the code's main region).\n\
         #[rustfmt::skip]\n\
         pub(super) const LENGTHS: &[(u16, &[u8])] = &[\n"
    );
    for (code, set) in lengths {
        let list: Vec<String> = set.iter().map(u8::to_string).collect();
        out.push_str(&format!("    ({code}, &[{}]),\n", list.join(", ")));
    }
    out.push_str("];\n");
    out
}

#[test]
fn lengths_are_read_as_lists_and_ranges() {
    assert_eq!(parse_lengths("10"), [10]);
    assert_eq!(parse_lengths("7,9,[11-13]"), [7, 9, 11, 12, 13]);
    assert_eq!(parse_lengths("[6-8],10,12"), [6, 7, 8, 10, 12]);
}

#[test]
fn a_code_has_its_main_regions_lengths_but_not_local_or_national_only_ones() {
    let xml = without_comments(
        r#"<territory id="XX" countryCode="99" nationalPrefix="0">
      <generalDesc><nationalNumberPattern>\d+</nationalNumberPattern></generalDesc>
      <noInternationalDialling><possibleLengths national="4"/></noInternationalDialling>
      <!-- <mobile><possibleLengths national="3"/></mobile> -->
      <fixedLine><possibleLengths national="[8-9]" localOnly="6"/>
        <exampleNumber>12345678</exampleNumber></fixedLine>
      <tollFree><possibleLengths national="10"/></tollFree>
    </territory>
    <territory id="YY" countryCode="99" mainCountryForCode="true"><mobile><possibleLengths national="11"/></mobile></territory>"#,
    );
    let metadata = read(&xml);
    assert_eq!(metadata.lengths[&99], BTreeSet::from([11]));
    assert_eq!(metadata.examples, []);
    // With no region marked main, the first stands for the code.
    let first = read(&xml.replace(" mainCountryForCode=\"true\"", ""));
    assert_eq!(first.lengths[&99], BTreeSet::from([8, 9, 10]));
    assert_eq!(first.examples, [(99, "12345678".to_owned())]);
}

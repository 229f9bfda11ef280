//! A newcomer's mistakes that the rest of the suite does not already pin (issue 16): a phone
//! number with a digit too few or too many, and the README's first steps.

use crate::common::Linq;

/// `"+1 205 555 01"` is E.164 (`+` and 2 to 15 digits) but no number of `+1`: before the
/// possible-length check it planned as `+ add +120555501`, which Linq would have sent to no one.
/// Now it is a config error at its place, and apply neither reads nor changes anything.
#[test]
fn a_number_with_a_digit_too_few_is_a_config_error_and_nothing_is_called() {
    let linq = Linq::team();
    let sales = linq.ws.read("config/sales.yaml");
    let typo = sales.replace(
        "members: [ops, sales-lead, sales-new]",
        "members: [ops, sales-lead, sales-new, \"+1 205 555 01\"]",
    );
    assert_ne!(typo, sales, "the team example changed: update this test");
    linq.ws.write("config/sales.yaml", typo);
    let before = linq.ws.snapshot_files();

    let run = linq.expect(1, &["apply", "-c", "config", "--auto-approve"]);
    let (line, column) = typo_at(&linq.ws.read("config/sales.yaml"));
    assert!(
        run.stderr().contains(&format!(
            "config/sales.yaml:{line}:{column}: `+1 205 555 01` is not a possible phone number: a number of `+1` has 10 digits after the `+1`, this one has 8"
        )),
        "{}",
        run.combined()
    );
    assert_eq!(run.stdout(), "", "nothing is planned");
    assert!(linq.sandbox.calls().is_empty(), "nothing was read or changed");
    assert_eq!(linq.ws.snapshot_files(), before, "nothing was written");
}

/// The 1-based line and column of the typo (its opening quote) in the edited file.
fn typo_at(text: &str) -> (usize, usize) {
    let quoted = "\"+1 205 555 01\"";
    let (index, line) = text.lines().enumerate().find(|(_, l)| l.contains(quoted)).unwrap();
    (index + 1, line.find(quoted).unwrap() + 1)
}

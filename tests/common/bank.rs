//! A generated stand-in for the bank-marketing file: the same 21 columns, kinds of values and
//! `;`-separated, quoted layout, about 11 % `yes`, and an outcome planted in a few columns
//! (`poutcome`, `contact`, `age`, `nr.employed`, `day_of_week`, `campaign`; `duration`, as in
//! the real file, is known only after the call and follows the outcome). It lets the
//! lead-scoring mechanics — training, the manifest, save and load, encodings, segments,
//! weekday priors, the CLI's output — be tested where the real file is absent. What the real
//! file alone can show (the AUC a pre-call score reaches on real calls) stays on it.
//!
//! Included by `tests/leads.rs` (through `common`) and by `benches/leads.rs` (by path).

use aicall::profile::csv::{self, Table};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The bank file's header, in its order.
pub const COLUMNS: [&str; 21] = [
    "age",
    "job",
    "marital",
    "education",
    "default",
    "housing",
    "loan",
    "contact",
    "month",
    "day_of_week",
    "duration",
    "campaign",
    "pdays",
    "previous",
    "poutcome",
    "emp.var.rate",
    "cons.price.idx",
    "cons.conf.idx",
    "euribor3m",
    "nr.employed",
    "y",
];

const JOBS: [&str; 12] = [
    "admin.",
    "blue-collar",
    "technician",
    "services",
    "management",
    "retired",
    "entrepreneur",
    "self-employed",
    "housemaid",
    "unemployed",
    "student",
    "unknown",
];
const EDUCATION: [&str; 8] = [
    "basic.4y",
    "basic.6y",
    "basic.9y",
    "high.school",
    "professional.course",
    "university.degree",
    "illiterate",
    "unknown",
];
const DAYS: [&str; 5] = ["mon", "tue", "wed", "thu", "fri"];
/// Months with the macro indicators of their period: (month, emp.var.rate, cons.price.idx,
/// cons.conf.idx, euribor3m, nr.employed), values as the real file has them.
const PERIODS: [(&str, f64, f64, f64, f64, f64); 8] = [
    ("may", 1.1, 93.994, -36.4, 4.857, 5191.0),
    ("jun", 1.4, 94.465, -41.8, 4.961, 5228.1),
    ("jul", 1.4, 93.918, -42.7, 4.962, 5228.1),
    ("aug", 1.4, 93.444, -36.1, 4.965, 5228.1),
    ("nov", -0.1, 93.2, -42.0, 4.021, 5195.8),
    ("apr", -1.8, 93.075, -47.1, 1.405, 5099.1),
    ("oct", -3.4, 92.431, -26.9, 0.754, 5017.5),
    ("mar", -1.8, 92.843, -50.0, 1.531, 5099.1),
];

/// `rows` generated contacts as the text of a bank-style file (header included, CRLF line
/// ends, strings quoted), reproducible from `seed`.
pub fn text(rows: usize, seed: u64) -> String {
    let mut rng = StdRng::seed_from_u64(seed);
    let quoted: Vec<String> = COLUMNS.iter().map(|c| format!("\"{c}\"")).collect();
    let mut out = quoted.join(";");
    out.push_str("\r\n");
    for _ in 0..rows {
        let age: u32 = if rng.random_bool(0.1) {
            rng.random_range(18..25)
        } else if rng.random_bool(0.1) {
            rng.random_range(60..90)
        } else {
            rng.random_range(25..60)
        };
        let job = if age >= 60 && rng.random_bool(0.6) {
            "retired"
        } else if age < 25 && rng.random_bool(0.5) {
            "student"
        } else {
            JOBS[rng.random_range(0..JOBS.len())]
        };
        let marital =
            ["married", "married", "single", "divorced", "unknown"][rng.random_range(0..5)];
        let education = EDUCATION[rng.random_range(0..EDUCATION.len())];
        let default = if rng.random_bool(0.2) {
            "unknown"
        } else {
            "no"
        };
        let housing = ["yes", "no", "unknown"][rng.random_range(0..3)];
        let loan = ["no", "no", "yes", "unknown"][rng.random_range(0..4)];
        let cellular = rng.random_bool(0.63);
        let (month, emp, price, conf, euribor, employed) =
            PERIODS[rng.random_range(0..PERIODS.len())];
        let day = rng.random_range(0..DAYS.len());
        let campaign: u32 = 1 + rng.random_range(0..4) * rng.random_range(1..3);
        let contacted_before = rng.random_bool(0.14);
        let poutcome = if !contacted_before {
            "nonexistent"
        } else if rng.random_bool(0.3) {
            "success"
        } else {
            "failure"
        };
        let pdays = if poutcome == "success" {
            rng.random_range(0..27)
        } else {
            999
        };
        let previous = if contacted_before {
            rng.random_range(1..5)
        } else {
            0
        };

        // The planted outcome: a logistic model over a handful of columns.
        let mut logit = -3.25;
        logit += match poutcome {
            "success" => 2.2,
            "failure" => 0.4,
            _ => 0.0,
        };
        logit += if cellular { 0.7 } else { -0.3 };
        logit += if !(25..60).contains(&age) { 0.9 } else { 0.0 };
        logit += (5191.0 - employed) / 100.0;
        logit += [-0.3, 0.0, 0.1, 0.4, 0.0][day];
        logit -= 0.08 * f64::from(campaign - 1);
        let yes = rng.random_bool(1.0 / (1.0 + (-logit).exp()));
        let duration: u32 = if yes {
            rng.random_range(250..1200)
        } else {
            rng.random_range(10..450)
        };

        out.push_str(&format!(
            "{age};\"{job}\";\"{marital}\";\"{education}\";\"{default}\";\"{housing}\";\
             \"{loan}\";\"{}\";\"{month}\";\"{}\";{duration};{campaign};{pdays};{previous};\
             \"{poutcome}\";{emp};{price};{conf};{euribor};{employed:.1};\"{}\"\r\n",
            if cellular { "cellular" } else { "telephone" },
            DAYS[day],
            if yes { "yes" } else { "no" },
        ));
    }
    out
}

/// [`text`] read as a table, as the CSV reader reads the real file.
pub fn table(rows: usize, seed: u64) -> Table {
    // The text above is well-formed by construction; a parse failure is a bug in it.
    csv::parse(&text(rows, seed)).expect("the generated bank-style file parses")
}

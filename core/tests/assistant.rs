//! The Assistant's planner against written cases: `assistant/cases.txt` (the development set,
//! which the planner is tuned on) and `assistant/holdout.txt` (written before the planner and
//! never tuned on; its score is printed, with a floor that only catches regressions).
//!
//! A case is one line, `images | context | message | expect`:
//! - `images`: how many images are attached to the message;
//! - `context`: `-` (a new conversation), `last` (one earlier result), `results=N` (N earlier
//!   results);
//! - `expect`: the chain of API model names joined by `>` (`product-to-model>edit>upscale`), or
//!   `answer`, `analyze` (a look at the attached images), `ask`, `refuse:url|account|video`; then checks, separated by spaces:
//!   `[N.]key=value` (step N's input equals value; N defaults to 0), `[N.]key~word` (the input
//!   contains the word, any case), `reply~text` (the reply contains the text, any case; the text
//!   runs to the next check).
//!
//! Two scores: the chain (the right kind and tools in the right order) and the exact parameters
//! (the chain and every check).

use std::time::Instant;

use atelier_core::assistant::{plan, Kind, Plan, PlanRequest, Refs, Step, Turn};
use serde_json::{json, Value};

struct Case {
    file: &'static str,
    line: usize,
    images: u32,
    results: u32,
    message: String,
    expect: String,
    checks: Vec<String>,
}

fn parse(file: &'static str, text: &str) -> Vec<Case> {
    let mut out = vec![];
    for (n, raw) in text.lines().enumerate() {
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let parts: Vec<&str> = l.splitn(4, " | ").collect();
        assert_eq!(
            parts.len(),
            4,
            "{file}:{}: want `images | context | message | expect`",
            n + 1
        );
        let images = parts[0]
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{file}:{}: images", n + 1));
        let results = match parts[1].trim() {
            "-" => 0,
            "last" => 1,
            c => c
                .strip_prefix("results=")
                .and_then(|k| k.parse().ok())
                .unwrap_or_else(|| panic!("{file}:{}: context {c}", n + 1)),
        };
        let mut tokens = parts[3].split_whitespace();
        let expect = tokens
            .next()
            .unwrap_or_else(|| panic!("{file}:{}: expect", n + 1))
            .to_string();
        let mut checks: Vec<String> = vec![];
        for t in tokens {
            if t.contains('=') || t.contains('~') {
                checks.push(t.to_string());
            } else if let Some(last) = checks.last_mut() {
                last.push(' ');
                last.push_str(t);
            }
        }
        out.push(Case {
            file,
            line: n + 1,
            images,
            results,
            message: parts[2].trim().to_string(),
            expect,
            checks,
        });
    }
    out
}

/// The conversation a context stands for: `results` earlier results, each an on-model image.
fn request(c: &Case) -> PlanRequest {
    let step = Step {
        model_name: "product-to-model".into(),
        inputs: json!({"product_image": "$image:0"})
            .as_object()
            .cloned()
            .unwrap(),
    };
    let history = if c.results == 0 {
        vec![]
    } else {
        vec![Turn {
            message: "put this on a model".into(),
            images: 1,
            steps: vec![step; c.results as usize],
        }]
    };
    PlanRequest {
        message: c.message.clone(),
        images: c.images,
        history,
    }
}

fn chain_ok(c: &Case, p: &Plan) -> bool {
    match c.expect.as_str() {
        "answer" => p.kind == Kind::Answer,
        "analyze" => p.kind == Kind::Analyze,
        "ask" => p.kind == Kind::Question,
        r if r.starts_with("refuse:") => {
            let word = match &r[7..] {
                "url" => "web",
                "account" => "account",
                "video" => "video",
                other => panic!("{}:{}: refuse:{other}", c.file, c.line),
            };
            p.kind == Kind::Refusal && p.reply.to_lowercase().contains(word)
        }
        chain => {
            p.kind == Kind::Run
                && p.steps
                    .iter()
                    .map(|s| s.model_name.as_str())
                    .collect::<Vec<_>>()
                    == chain.split('>').collect::<Vec<_>>()
        }
    }
}

fn value_text(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_string)
}

/// The checks that fail.
fn failed_checks(c: &Case, p: &Plan) -> Vec<String> {
    c.checks
        .iter()
        .filter(|check| {
            let (key, op, want) = match (check.find('='), check.find('~')) {
                (Some(e), Some(t)) if t < e => (&check[..t], '~', &check[t + 1..]),
                (Some(e), _) => (&check[..e], '=', &check[e + 1..]),
                (None, Some(t)) => (&check[..t], '~', &check[t + 1..]),
                _ => unreachable!(),
            };
            if key == "reply" {
                return !p.reply.to_lowercase().contains(&want.to_lowercase());
            }
            let (n, field) = match key.split_once('.') {
                Some((n, f)) => (n.parse::<usize>().unwrap(), f),
                None => (0, key),
            };
            let got = p
                .steps
                .get(n)
                .and_then(|s| s.inputs.get(field))
                .map(value_text);
            let ok = match (op, got) {
                ('=', Some(g)) => g == want,
                ('~', Some(g)) => g.to_lowercase().contains(&want.to_lowercase()),
                _ => false,
            };
            !ok
        })
        .cloned()
        .collect()
}

struct Score {
    total: usize,
    chain: usize,
    exact: usize,
    failures: Vec<String>,
    micros: f64,
}

fn score(cases: &[Case]) -> Score {
    let mut s = Score {
        total: cases.len(),
        chain: 0,
        exact: 0,
        failures: vec![],
        micros: 0.0,
    };
    let started = Instant::now();
    let plans: Vec<Plan> = cases.iter().map(|c| plan(&request(c))).collect();
    s.micros = started.elapsed().as_secs_f64() * 1e6 / cases.len().max(1) as f64;
    for (c, p) in cases.iter().zip(&plans) {
        let chain = chain_ok(c, p);
        let bad = if chain { failed_checks(c, p) } else { vec![] };
        s.chain += usize::from(chain);
        s.exact += usize::from(chain && bad.is_empty());
        if !chain || !bad.is_empty() {
            let got: Vec<String> = p
                .steps
                .iter()
                .map(|st| format!("{} {}", st.model_name, Value::Object(st.inputs.clone())))
                .collect();
            s.failures.push(format!(
                "{}:{} {:?} [{} img, {} res] want {} {:?}; got {:?} {} {:?}",
                c.file,
                c.line,
                c.message,
                c.images,
                c.results,
                c.expect,
                if chain { bad } else { c.checks.clone() },
                p.kind,
                got.join(" > "),
                p.reply
            ));
        }
    }
    s
}

fn pct(n: usize, d: usize) -> f64 {
    100.0 * n as f64 / d.max(1) as f64
}

#[test]
fn the_development_set_plans_as_written() {
    let cases = parse("cases.txt", include_str!("assistant/cases.txt"));
    assert!(
        cases.len() >= 150,
        "the development set has {} cases",
        cases.len()
    );
    let s = report("development set", &cases, true);
    assert!(
        pct(s.chain, s.total) >= 95.0,
        "chain accuracy {:.1}% < 95%",
        pct(s.chain, s.total)
    );
    assert!(
        pct(s.exact, s.total) >= 90.0,
        "exact-parameter accuracy {:.1}% < 90%",
        pct(s.exact, s.total)
    );
}

/// Scores a set and prints its score; its misses too when `show_misses` (or with
/// `ASSISTANT_SHOW_HOLDOUT=1`).
fn report(name: &str, cases: &[Case], show_misses: bool) -> Score {
    let s = score(cases);
    if show_misses || std::env::var_os("ASSISTANT_SHOW_HOLDOUT").is_some() {
        for f in &s.failures {
            println!("MISS {f}");
        }
    }
    println!(
        "{name}: {} cases, chain {:.1}%, exact parameters {:.1}%, {:.0} µs a plan",
        s.total,
        pct(s.chain, s.total),
        pct(s.exact, s.total),
        s.micros
    );
    s
}

/// A set that is measured, never tuned on: a floor under the first measurement, against
/// regressions.
fn measured(name: &str, cases: &[Case], floor: f64) {
    let s = report(name, cases, false);
    assert!(
        pct(s.chain, s.total) >= floor,
        "{name}: chain accuracy {:.1}%",
        pct(s.chain, s.total)
    );
}

#[test]
fn the_held_out_set_is_reported() {
    // Written before the planner, by the same hand.
    measured(
        "held-out set",
        &parse("holdout.txt", include_str!("assistant/holdout.txt")),
        70.0,
    );
}

#[test]
fn the_independent_set_is_reported() {
    // Written by someone who never saw the planner or the other sets.
    measured(
        "independent set",
        &parse("fresh.txt", include_str!("assistant/fresh.txt")),
        75.0,
    );
}

#[test]
fn every_plan_is_valid_and_priced() {
    // Whatever a case plans, its steps are valid /v1/run bodies with resolvable references.
    for c in parse("cases.txt", include_str!("assistant/cases.txt")) {
        let req = request(&c);
        let p = plan(&req);
        if p.kind == Kind::Run {
            let credits = atelier_core::assistant::check_steps(&p.steps, Refs::of(&req))
                .unwrap_or_else(|e| panic!("{}:{}: {e:?}", c.file, c.line));
            assert_eq!(credits, p.credits, "{}:{}", c.file, c.line);
            assert!(p.credits > 0 && !p.reply.is_empty());
            for (n, s) in p.steps.iter().enumerate() {
                studio_body_is_valid(s)
                    .unwrap_or_else(|e| panic!("{}:{} step {n}: {e}", c.file, c.line));
            }
        }
    }
}

/// A step as the Assistant runs it: its Studio body (references replaced by an asset hash)
/// passes the Studio's parser and the catalog, at the step's own App price.
fn studio_body_is_valid(step: &Step) -> Result<(), String> {
    use atelier_core::catalog::{self, Context};
    use atelier_core::pricing::Surface;
    let atelier_core::assistant::StudioStep {
        tool,
        mut inputs,
        params,
    } = atelier_core::assistant::studio_body(step).map_err(|e| format!("{e:?}"))?;
    for v in inputs.values_mut() {
        *v = json!("a".repeat(64));
    }
    let body = atelier_core::studio::GenerationRequest {
        tool: tool.id().into(),
        inputs,
        params,
    };
    let valid = atelier_core::studio::validate_generation_with(&body, &|_| true)
        .map_err(|e| format!("{e:?} in {body:?}"))?;
    let mut req = valid.request(900, 1000);
    for (_, slot, _) in &valid.refs {
        atelier_core::studio::add_reference_from(
            &mut req,
            *slot,
            1024,
            1536,
            catalog::ImageSource::Upload,
        );
    }
    let ctx = Context {
        surface: Surface::App,
        plan: None,
    };
    let resolved = catalog::validate(tool, &req, ctx).map_err(|e| format!("{e:?} in {body:?}"))?;
    let studio = catalog::quote(Surface::App, &resolved).credits;
    let planned = atelier_core::assistant::price(step).map_err(|e| format!("{e:?}"))?;
    if studio != planned {
        return Err(format!(
            "the Studio prices {body:?} at {studio}, the plan at {planned}"
        ));
    }
    Ok(())
}

#[test]
fn an_analysis_names_what_each_image_is_and_the_tools_that_fit() {
    use atelier_core::assistant::{analysis_reply, Framing, ImageFacts, Subject};
    use atelier_core::Tool;
    let model = ImageFacts {
        width: 832,
        height: 1248,
        faces: 1,
        person: true,
        framing: Some(Framing::FullBody),
        plain_background: false,
        subject_share: 0.3,
    };
    let product = ImageFacts {
        width: 1600,
        height: 1600,
        faces: 0,
        person: false,
        framing: None,
        plain_background: true,
        subject_share: 0.5,
    };
    let face = ImageFacts {
        framing: Some(Framing::CloseUp),
        ..model.clone()
    };
    assert_eq!(model.subject(), Subject::Model);
    assert_eq!(product.subject(), Subject::Product);
    assert_eq!(face.subject(), Subject::Face);
    let first = |f: &ImageFacts| f.fitting_tools()[0].0;
    assert_eq!(first(&model), Tool::TryOn);
    assert_eq!(first(&product), Tool::ProductToModel);
    assert_eq!(first(&face), Tool::CreateModel);
    let r = analysis_reply(std::slice::from_ref(&model));
    assert!(r.starts_with("This is a model photo: a person, full body in frame, face visible, on a busy background, 832×1248 (2:3)."), "{r}");
    assert!(
        r.contains("Try-On") && r.contains("Background Remove to cut the model out"),
        "{r}"
    );
    assert!(!r.contains("Upscale"), "{r}");
    let small = ImageFacts {
        width: 512,
        height: 768,
        ..model.clone()
    };
    let r = analysis_reply(&[small]);
    assert!(
        r.contains("512×768 (2:3)") && r.contains("Upscale to enlarge it first (it is small)"),
        "an image under 1024 px suggests Upscale: {r}"
    );
    let r = analysis_reply(&[product.clone(), model.clone()]);
    assert!(r.starts_with("Image 1 is a product photo with no person in it, on a plain background, 1600×1600 (1:1). Fits: Product to Model"), "{r}");
    assert!(r.contains("\nImage 2 is a model photo"), "{r}");
    assert!(
        !r.lines().next().unwrap().contains("Upscale"),
        "a large image needs no Upscale: {r}"
    );
}

#[test]
fn a_language_models_plan_goes_through_the_same_checks() {
    use atelier_core::assistant::{llm_system_prompt, llm_tools, plan_from_llm, LLM_FUNCTION};
    let refs = Refs {
        images: 1,
        results: 2,
        uploads: 0,
    };
    // The offered function lists every model; the prompt names the references that exist.
    let tools = llm_tools();
    assert_eq!(tools[0]["function"]["name"], LLM_FUNCTION);
    let models = tools[0]["function"]["parameters"]["properties"]["steps"]["items"]["properties"]
        ["model_name"]["enum"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(models, atelier_core::catalog::ApiModel::ALL.len());
    let prompt = llm_system_prompt(refs);
    assert!(
        prompt.contains("$image:0..$image:0 (the 1 image(s)"),
        "{prompt}"
    );
    assert!(prompt.contains("$result:0..$result:1 (the conversation's 2 results)"));
    assert!(prompt.contains("- upscale (Upscale)"));
    // A valid plan: checked, priced by core, the model's sentence kept.
    let p = plan_from_llm(
        r#"{"reply": "Sure.", "steps": [{"model_name": "upscale", "inputs": {"image": "$image:0", "factor": "4x"}}, {"model_name": "reframe", "inputs": {"image": "$step:0", "aspect_ratio": "9:16"}}]}"#,
        refs,
    )
    .unwrap();
    assert_eq!(p.kind, Kind::Run);
    assert_eq!(p.steps.len(), 2);
    assert_eq!(p.credits, 2);
    assert!(p.reply.starts_with("Sure. I'll run 2 steps"), "{}", p.reply);
    // Invented models, references the conversation lacks, bad options and non-JSON are refused
    // with the field.
    let bad = |args: &str| {
        plan_from_llm(args, refs)
            .unwrap_err()
            .into_iter()
            .map(|e| e.path)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        bad(r#"{"steps": [{"model_name": "teleport", "inputs": {}}]}"#),
        ["steps[0].model_name"]
    );
    assert_eq!(
        bad(r#"{"steps": [{"model_name": "upscale", "inputs": {"image": "$image:3"}}]}"#),
        ["steps[0].inputs.image"]
    );
    assert_eq!(
        bad(
            r#"{"steps": [{"model_name": "upscale", "inputs": {"image": "https://127.0.0.1/x.png", "factor": "9x"}}]}"#
        ),
        ["steps[0].inputs.image", "steps[0].inputs.factor"]
    );
    assert_eq!(bad(r#"{"steps": []}"#), ["steps"]);
    assert_eq!(bad("run it"), ["arguments"]);
}

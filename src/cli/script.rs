//! `aicall script validate FILE` and `aicall script graph FILE [--dot]`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};

use aicall::call::script::{Script, Severity};
use aicall::nlu::question;

#[derive(Debug, Subcommand)]
pub enum ScriptCommand {
    /// Check a call script: dangling branches, unreachable nodes, unknown placeholders,
    /// missing audio, intents outside the label set (each with file and line).
    Validate(FileArg),
    /// Print a script's graph as text, or as Graphviz DOT with --dot.
    Graph(GraphArgs),
}

#[derive(Debug, Args)]
pub struct FileArg {
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct GraphArgs {
    pub file: PathBuf,
    #[arg(long)]
    pub dot: bool,
}

pub fn run(cmd: ScriptCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ScriptCommand::Validate(a) => {
            let text = std::fs::read_to_string(&a.file)
                .with_context(|| format!("reading {}", a.file.display()))?;
            let base = a.file.parent().unwrap_or(std::path::Path::new("."));
            let (script, findings) = Script::check(&text, &a.file, base);
            let errors = findings
                .iter()
                .filter(|f| f.severity == Severity::Error)
                .count();
            for f in &findings {
                let sev = match f.severity {
                    Severity::Error => "error",
                    Severity::Warning => "warning",
                };
                println!("{}:{}: {sev}: {}", a.file.display(), f.line, f.message);
            }
            if let Some(s) = &script {
                print_meanings(s, &a.file);
            }
            match script {
                Some(s) if errors == 0 => {
                    println!(
                        "{}: ok — {} nodes, {} prompts, {} handlers, {} Q&A entries, {} warning(s)",
                        a.file.display(),
                        s.nodes.len(),
                        s.prompts.len(),
                        s.handlers.intents.len()
                            + usize::from(s.handlers.negative_sentiment.is_some()),
                        s.qa.len(),
                        findings.len()
                    );
                    Ok(ExitCode::SUCCESS)
                }
                _ => {
                    println!("{}: {errors} error(s)", a.file.display());
                    Ok(ExitCode::from(1))
                }
            }
        }
        ScriptCommand::Graph(a) => {
            let script = Script::load(&a.file)?;
            if a.dot {
                print!("{}", script.to_dot());
            } else {
                print!("{}", script.to_text());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// What each listening node's yes, no and open answers mean, as a call applies it, with where
/// it comes from: the node's declaration, or its question as aicall reads it.
fn print_meanings(s: &Script, file: &std::path::Path) {
    for n in s.nodes.iter().filter(|n| n.listen && !n.meaning.is_empty()) {
        let read = n
            .say
            .last()
            .and_then(|&i| s.prompt(i).text.as_deref())
            .map(question::meaning)
            .unwrap_or_default();
        let m = &n.meaning;
        let from = |read: bool| {
            if read {
                "from its question"
            } else {
                "declared"
            }
        };
        let mut parts = Vec::new();
        if let Some(i) = m.affirm {
            parts.push(format!("yes means {i} ({})", from(read.affirm == Some(i))));
        }
        if let Some(i) = m.deny {
            parts.push(format!("no means {i} ({})", from(read.deny == Some(i))));
        }
        if !m.expects.is_empty() {
            let names: Vec<&str> = m.expects.iter().map(|i| i.as_str()).collect();
            let read = m.expects == read.expects;
            parts.push(format!("expects {} ({})", names.join(", "), from(read)));
        }
        println!(
            "{}:{}: note: node `{}`: {}",
            file.display(),
            n.line,
            n.name,
            parts.join("; ")
        );
    }
}

//! `aicall script validate FILE` and `aicall script graph FILE [--dot]`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};

use aicall::call::script::{Script, Severity};

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

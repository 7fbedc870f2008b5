//! `gander-demo`: serves the bundled demo SUT on 127.0.0.1 until SIGINT or SIGTERM.

use clap::Parser;

/// The bundled system under test of gander: a salon-CRM API over SQLite.
#[derive(Debug, Parser)]
#[command(name = "gander-demo", version)]
struct Cli {
    #[command(flatten)]
    serve: gander_demo::ServeArgs,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match gander_demo::serve(&cli.serve) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gander-demo: error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

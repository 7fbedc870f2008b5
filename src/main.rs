fn main() -> std::process::ExitCode {
    gander::cli::main(std::env::args_os()).into()
}

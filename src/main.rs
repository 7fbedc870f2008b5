fn main() -> std::process::ExitCode {
    gander::run(std::env::args_os()).into()
}

//! Printing to standard output from the command-line tools.

/// `println!` that ends the program quietly when standard output is closed (`ledger ... |
/// head -1`, `ledger-node genesis-merge ... | head -1`) instead of panicking, and with an
/// error message and exit status 1 on any other write error.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout(), $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            eprintln!("error: writing to stdout: {e}");
            std::process::exit(1);
        }
    }};
}

//! Terminal output, GitHub Actions annotations and the step summary.

/// Prints an error for a person; under GitHub Actions also as an `::error` annotation.
pub fn error(message: &str) {
    eprintln!("{message}");
    if std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true") {
        // Annotations are one line: GitHub's escaping for newlines is %0A.
        let escaped = message
            .replace('%', "%25")
            .replace('\r', "%0D")
            .replace('\n', "%0A");
        println!("::error::{escaped}");
    }
}

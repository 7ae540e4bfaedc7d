//! Markdown for pull-request comments, issues and job summaries, fitted to a size limit:
//! collapsible blocks are kept while they fit, the rest are named on one line each, and a note
//! says where the full text is. The result is always well-formed markdown.

use std::fmt::Write as _;

/// Room kept for the closing note when something has to be left out.
const RESERVE: usize = 600;

/// Builds markdown up to a limit (see the module documentation).
#[derive(Debug)]
pub(crate) struct Fitter {
    out: String,
    used: usize,
    limit: usize,
    blocks: usize,
    omitted: usize,
}

impl Fitter {
    /// Starts with `head` (always kept); `limit` is in characters, `None` for no limit.
    #[must_use]
    pub(crate) fn new(head: &str, limit: Option<usize>) -> Self {
        Self {
            out: head.to_owned(),
            used: head.chars().count(),
            limit: limit.unwrap_or(usize::MAX),
            blocks: 0,
            omitted: 0,
        }
    }

    /// Adds text that belongs to the frame (a heading), if it fits.
    pub(crate) fn text(&mut self, text: &str) {
        let size = text.chars().count();
        if self.used + size + RESERVE <= self.limit {
            self.out.push_str(text);
            self.used += size;
        }
    }

    /// Adds `block`, or once one block did not fit, `short` (a one-line stand-in) instead.
    pub(crate) fn block(&mut self, block: &str, short: &str) {
        self.blocks += 1;
        let size = block.chars().count();
        if self.omitted == 0 && self.used + size + RESERVE <= self.limit {
            self.out.push_str(block);
            self.used += size;
            return;
        }
        self.omitted += 1;
        self.text(short);
    }

    /// The markdown; when blocks were left out, a note saying how many and where the full
    /// text is (`full_text_at`, e.g. a link to the job summary).
    #[must_use]
    pub(crate) fn finish(mut self, full_text_at: Option<&str>) -> String {
        if self.omitted > 0 {
            let at = full_text_at.unwrap_or("the job summary");
            let _ = write!(
                self.out,
                "\n> [!NOTE]\n> This text is longer than GitHub allows here: {} of {} diffs are left out. The full text is in {at}.\n",
                self.omitted, self.blocks
            );
        }
        if self.out.chars().count() > self.limit {
            // Only a frame of thousands of lines gets here; cut it, keep valid UTF-8.
            self.out = self
                .out
                .chars()
                .take(self.limit.saturating_sub(1))
                .collect();
            self.out.push('…');
        }
        self.out
    }
}

/// A collapsible block: `summary` (HTML: escape plain text with [`html_escape`]) over a diff
/// in a fence longer than any backtick run inside it.
#[must_use]
pub(crate) fn details(summary: &str, diff: &str) -> String {
    let longest = diff.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    format!("<details><summary>{summary}</summary>\n\n{fence}diff\n{diff}{fence}\n\n</details>\n")
}

/// Escapes `&`, `<` and `>` for HTML inside markdown.
#[must_use]
pub(crate) fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_that_do_not_fit_become_lines_and_a_note() {
        let mut f = Fitter::new("# head\n", Some(1500));
        f.block(&"a".repeat(500), "- a\n");
        f.block(&"b".repeat(500), "- b\n");
        f.block("c", "- c\n");
        let out = f.finish(Some("[the summary](u)"));
        assert!(out.chars().count() <= 1500, "{}", out.len());
        assert!(out.contains(&"a".repeat(500)));
        assert!(!out.contains("bbb"));
        assert!(out.contains("- b\n- c\n"), "{out}");
        assert!(out.contains("2 of 3 diffs are left out. The full text is in [the summary](u)."));
        let all = Fitter::new("h\n", None);
        assert_eq!(all.finish(None), "h\n");
    }

    #[test]
    fn fences_outgrow_backticks_in_the_diff() {
        let block = details(&html_escape("x <y>"), "+a ```` b\n");
        assert!(block.contains("<summary>x &lt;y&gt;</summary>"), "{block}");
        assert!(block.contains("`````diff\n+a ```` b\n`````\n"), "{block}");
    }
}

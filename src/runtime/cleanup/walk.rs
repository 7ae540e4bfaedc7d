//! How a table is walked: along an index in timestamp order, or through the
//! heap in physical order with TID range scans; which one a table gets; and
//! the batch statements of both.
//!
//! Every batch statement picks at most `$2` eligible rows, deletes them by
//! `ctid` with the table's full rule checked again on the row version being
//! deleted, and returns three values: rows picked, rows deleted, and where the
//! walk resumes (the largest picked timestamp, or the largest picked `ctid` as
//! text). Picked rows that are not deleted were changed or locked by another
//! transaction: they are counted as skipped and left to the next run.
//!
//! Each statement comes in two forms. The plain form deletes directly; a row
//! locked by another transaction makes it wait, and the session's short
//! `lock_timeout` turns that wait into an error, after which the same batch runs
//! in the skip-locked form, which locks the picked rows with
//! `for update skip locked` first. Locking writes every row once more, so only
//! the batches that meet a locked row pay for it.

use crate::cli::CleanupWalk;

use super::TableRule;

/// The walk a table gets in one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Walk {
    /// Along each of the rule's timestamp indexes, oldest first.
    Index,
    /// Through the heap in physical order, a range of pages per batch.
    Heap,
}

impl Walk {
    /// The name shown in the summary line and the logs.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Walk::Index => "index walk",
            Walk::Heap => "heap walk",
        }
    }
}

/// Whether a batch deletes directly or locks its rows first, skipping locked ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// Delete the picked rows; waits (up to `lock_timeout`) on a locked row.
    Plain,
    /// Lock the picked rows with `for update skip locked`, then delete those.
    SkipLocked,
}

/// What the planner knows about one table, as read at the start of its walk.
#[derive(Debug, Clone, PartialEq)]
pub struct TableStats {
    /// Heap pages (the relation's current size).
    pub pages: f64,
    /// Estimated live rows.
    pub rows: f64,
    /// Estimated eligible rows (the full rule).
    pub eligible: f64,
    /// Per walked column: estimated rows below the cutoff, and the
    /// correlation of the column with the physical order (`pg_stats`; 0 when
    /// unknown).
    pub columns: Vec<(f64, f64)>,
}

impl TableStats {
    /// Estimated heap pages the index walk visits: the rows below the cutoff
    /// share pages when the column follows the physical order, and each sits
    /// on its own page when it does not (the planner's own interpolation by
    /// the squared correlation).
    #[must_use]
    pub fn index_pages(&self) -> f64 {
        let rows = self.rows.max(1.0);
        self.columns
            .iter()
            .map(|&(below, correlation)| {
                let c2 = (correlation * correlation).clamp(0.0, 1.0);
                let dense = (below / rows).min(1.0) * self.pages;
                let scattered = below.min(self.pages);
                c2 * dense + (1.0 - c2) * scattered
            })
            .sum()
    }

    /// The walk that reads fewer pages. The heap walk reads every page once,
    /// in order and without the index; the index walk is chosen only when it
    /// visits fewer than half the heap's pages, i.e. when the eligible rows are
    /// few and, unless very few, gathered on few pages.
    #[must_use]
    pub fn choose(&self) -> Walk {
        if self.eligible < 1.0 || self.pages < 1.0 {
            return Walk::Index;
        }
        if self.pages <= 2.0 * self.index_pages() {
            Walk::Heap
        } else {
            Walk::Index
        }
    }

    /// Pages per heap-walk batch expected to hold about `batch_size` eligible rows.
    #[must_use]
    pub fn pages_per_batch(&self, batch_size: i64) -> u32 {
        pages_for(batch_size, self.eligible / self.pages.max(1.0))
    }
}

/// Most pages one heap-walk batch scans (8 MiB with 8 kB pages), so that a
/// stretch without eligible rows never makes a batch long.
pub const MAX_PAGES_PER_BATCH: u32 = 1024;

/// Pages expected to hold `batch_size` eligible rows at `density` eligible rows per page.
#[must_use]
pub fn pages_for(batch_size: i64, density: f64) -> u32 {
    if density <= 0.0 || !density.is_finite() {
        return MAX_PAGES_PER_BATCH;
    }
    let pages = (batch_size as f64 / density).ceil();
    pages.clamp(1.0, f64::from(MAX_PAGES_PER_BATCH)) as u32
}

/// Applies `--walk`: `auto` asks the statistics.
#[must_use]
pub fn decide(choice: CleanupWalk, stats: &TableStats) -> Walk {
    match choice {
        CleanupWalk::Auto => stats.choose(),
        CleanupWalk::Index => Walk::Index,
        CleanupWalk::Heap => Walk::Heap,
    }
}

/// The common tail of both walks: delete the picked rows, report.
fn finish(rule: &TableRule, form: Form, last: &str) -> String {
    let table = rule.table;
    let eligible = rule.eligible;
    let delete_from = match form {
        Form::Plain => "picked",
        Form::SkipLocked => "locked",
    };
    let lock = match form {
        Form::Plain => String::new(),
        Form::SkipLocked => format!(
            ", locked as materialized (\
             select ctid as id from {table} where ctid = any(array(select id from picked)) \
             for update skip locked)"
        ),
    };
    format!(
        "{lock}, deleted as (\
         delete from {table} where ctid = any(array(select id from {delete_from})) \
         and {eligible} returning 1) \
         select (select count(*) from picked), (select count(*) from deleted), \
         (select {last} from picked)"
    )
}

/// One batch of the index walk along `column`.
///
/// `$1` is the cutoff (timestamptz), `$2` the number of rows (bigint), `$3`
/// where the walk resumes (timestamptz, null for the start of the index). The
/// rows are the next `$2` entries of the index from `$3` on: the scan starts
/// at the last picked value, so it does not step again over the entries of
/// rows deleted earlier in the run (they stay in the index until vacuum).
#[must_use]
pub fn index_statement(rule: &TableRule, column: &str, form: Form) -> String {
    format!(
        "with picked as materialized (\
         select ctid as id, {column} as pos from {table} \
         where {column} >= coalesce($3, '-infinity'::timestamptz) and {column} < $1 \
         order by {column} limit $2){tail}",
        table = rule.table,
        tail = finish(rule, form, "max(pos)"),
    )
}

/// One batch of the heap walk.
///
/// `$1` is the cutoff, `$2` the number of rows, `$3` and `$4` the `ctid`s (as
/// text) after which and before which the batch looks: the batch is the next
/// `$2` eligible rows in physical order. The range is a TID range scan, so the
/// batch reads only its own pages.
#[must_use]
pub fn heap_statement(rule: &TableRule, form: Form) -> String {
    format!(
        "with picked as materialized (\
         select ctid as id from {table} \
         where ctid > $3::tid and ctid < $4::tid and {eligible} \
         order by ctid limit $2){tail}",
        table = rule.table,
        eligible = rule.eligible,
        // Compared as tids, not as text: "(9,1)" > "(10,1)" as text.
        tail = finish(rule, form, "max(id)::text"),
    )
}

/// A position in the heap: block number and line pointer (`ctid`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Tid {
    /// Block (page) number.
    pub page: u32,
    /// Line pointer within the page; 0 stands before the first row.
    pub line: u16,
}

impl Tid {
    /// The position before the first row of `page`.
    #[must_use]
    pub fn page_start(page: u32) -> Self {
        Self { page, line: 0 }
    }

    /// Parses PostgreSQL's text form, `(page,line)`.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        let inner = text.trim().strip_prefix('(')?.strip_suffix(')')?;
        let (page, line) = inner.split_once(',')?;
        Some(Self {
            page: page.trim().parse().ok()?,
            line: line.trim().parse().ok()?,
        })
    }
}

impl std::fmt::Display for Tid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "({},{})", self.page, self.line)
    }
}

#[cfg(test)]
mod tests {
    use super::super::TABLES;
    use super::*;

    fn stats(pages: f64, rows: f64, eligible: f64, correlation: f64) -> TableStats {
        TableStats {
            pages,
            rows,
            eligible,
            columns: vec![(eligible, correlation)],
        }
    }

    #[test]
    fn dense_or_scattered_tables_get_the_heap_walk() {
        // 1M rows on 9,300 pages, 90% eligible, in insertion order or scattered.
        assert_eq!(stats(9300.0, 1e6, 9e5, 0.99).choose(), Walk::Heap);
        assert_eq!(stats(9300.0, 1e6, 9e5, 0.0).choose(), Walk::Heap);
        // 2% eligible but scattered: they sit on (nearly) every page.
        assert_eq!(stats(9300.0, 1e6, 2e4, 0.01).choose(), Walk::Heap);
    }

    #[test]
    fn sparse_correlated_tables_keep_the_index_walk() {
        // A daily run: 2% eligible, gathered at the start of the heap.
        assert_eq!(stats(9300.0, 1e6, 2e4, 0.98).choose(), Walk::Index);
        // A few scattered rows: a few hundred page reads beat reading them all.
        assert_eq!(stats(9300.0, 1e6, 300.0, 0.0).choose(), Walk::Index);
        // Nothing to do, or an empty table.
        assert_eq!(stats(9300.0, 1e6, 0.0, 0.0).choose(), Walk::Index);
        assert_eq!(stats(0.0, 0.0, 0.0, 0.0).choose(), Walk::Index);
    }

    #[test]
    fn forced_walks_win_over_the_statistics() {
        let s = stats(9300.0, 1e6, 9e5, 0.0);
        assert_eq!(decide(CleanupWalk::Index, &s), Walk::Index);
        assert_eq!(decide(CleanupWalk::Auto, &s), Walk::Heap);
        let s = stats(9300.0, 1e6, 10.0, 1.0);
        assert_eq!(decide(CleanupWalk::Heap, &s), Walk::Heap);
    }

    #[test]
    fn pages_per_batch_follow_the_density() {
        assert_eq!(pages_for(1000, 96.0), 11);
        assert_eq!(pages_for(1000, 0.0), MAX_PAGES_PER_BATCH);
        assert_eq!(pages_for(1, 500.0), 1);
        assert_eq!(pages_for(100_000, 0.5), MAX_PAGES_PER_BATCH);
    }

    #[test]
    fn tids_round_trip_through_text() {
        let t = Tid::parse("(12,7)").unwrap();
        assert_eq!(t, Tid { page: 12, line: 7 });
        assert_eq!(t.to_string(), "(12,7)");
        assert!(Tid::page_start(3) < Tid { page: 3, line: 1 });
        assert_eq!(Tid::parse("12,7"), None);
        assert_eq!(Tid::parse("(x,1)"), None);
    }

    #[test]
    fn every_statement_rechecks_the_full_rule_and_never_names_the_audit_table() {
        for rule in &TABLES {
            for form in [Form::Plain, Form::SkipLocked] {
                let mut statements = vec![heap_statement(rule, form)];
                statements.extend(rule.columns.iter().map(|c| index_statement(rule, c, form)));
                for sql in statements {
                    assert!(
                        sql.contains(&format!("and {} returning 1", rule.eligible)),
                        "{sql}"
                    );
                    assert!(!sql.contains("gpt_oauth_events"), "{sql}");
                    assert_eq!(
                        sql.contains("for update skip locked"),
                        form == Form::SkipLocked,
                        "{sql}"
                    );
                }
            }
        }
        let sql = heap_statement(&TABLES[1], Form::Plain);
        assert!(sql.contains(
            "where ctid > $3::tid and ctid < $4::tid and (revoked_at < $1 or expires_at < $1) order by ctid limit $2"
        ));
    }
}

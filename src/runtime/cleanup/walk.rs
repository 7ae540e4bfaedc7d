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
pub(crate) enum Walk {
    /// Along each of the rule's timestamp indexes, oldest first.
    Index,
    /// Through the heap in physical order, a range of pages per batch.
    Heap,
}

impl Walk {
    /// The name shown in the summary line and the logs.
    #[must_use]
    pub(crate) fn name(self) -> &'static str {
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
pub(crate) struct TableStats {
    /// Heap pages (the relation's current size).
    pub(crate) pages: f64,
    /// Estimated live rows.
    pub(crate) rows: f64,
    /// Estimated eligible rows (the full rule).
    pub(crate) eligible: f64,
    /// Per walked column: estimated rows below the cutoff, and the
    /// correlation of the column with the physical order (`pg_stats`; 0 when
    /// unknown).
    pub(crate) columns: Vec<(f64, f64)>,
}

impl TableStats {
    /// Estimated heap pages the index walk visits: the rows below the cutoff
    /// share pages when the column follows the physical order, and each sits
    /// on its own page when it does not (the planner's own interpolation by
    /// the squared correlation).
    #[must_use]
    pub(crate) fn index_pages(&self) -> f64 {
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
    pub(crate) fn choose(&self) -> Walk {
        if self.eligible < 1.0 || self.pages < 1.0 {
            return Walk::Index;
        }
        if self.pages <= 2.0 * self.index_pages() {
            Walk::Heap
        } else {
            Walk::Index
        }
    }
}

/// Most pages one heap-walk batch scans (8 MiB with 8 kB pages), so that a
/// stretch without eligible rows never makes a batch long.
pub(crate) const MAX_PAGES_PER_BATCH: u32 = 1024;

/// Pages expected to hold `batch_size` eligible rows at `density` eligible rows per page.
#[must_use]
pub(crate) fn pages_for(batch_size: i64, density: f64) -> u32 {
    if density <= 0.0 || !density.is_finite() {
        return MAX_PAGES_PER_BATCH;
    }
    let pages = (batch_size as f64 / density).ceil();
    pages.clamp(1.0, f64::from(MAX_PAGES_PER_BATCH)) as u32
}

/// Applies `--walk`: `auto` asks the statistics.
#[must_use]
pub(crate) fn decide(choice: CleanupWalk, stats: &TableStats) -> Walk {
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

/// A whole-range batch of the heap walk: every eligible row strictly between
/// the `ctid`s `$3` and `$4` (a TID range scan), `$1` the cutoff. Only
/// [`heap_run_procedure`] runs it, and rolls it back when the range held more
/// rows than the batch size.
#[must_use]
pub fn range_statement(rule: &TableRule) -> String {
    format!(
        "delete from {table} where ctid > $3::tid and ctid < $4::tid and {eligible}",
        table = rule.table,
        eligible = rule.eligible
    )
}

/// The session's temporary procedure that runs heap-walk batches on the server.
pub(crate) const HEAP_RUN: &str = "pg_temp.gpt_cleanup_heap_run";

/// The `call` of [`HEAP_RUN`]: `$1` the table, `$2` the cutoff, `$3` the batch
/// size, `$4` the rows `--limit` still allows, `$5` the page the walk ends at,
/// `$6` the time budget in milliseconds, `$7` the `ctid` (text) after which the
/// walk goes on, `$8` the eligible rows per page seen so far, `$9` whether the
/// walk is inside a range too dense for a whole-range batch. It returns the new
/// position, density and dense flag, rows deleted and skipped, per batch the
/// rows deleted, picked and its time in microseconds (commit included), and
/// why it stopped: `done` (end of the heap), `limit`, `budget`, `locked` (a
/// batch met a row locked by another transaction) or `cancelled` (a batch ran
/// into `statement_timeout` or was cancelled). After `locked` and `cancelled`
/// the batch at the returned position was rolled back and is left to the client.
pub(crate) const HEAP_RUN_CALL: &str = "call pg_temp.gpt_cleanup_heap_run(\
     $1, $2, $3, $4, $5, $6, $7, $8, $9, 0, 0, '{}', '{}', '{}', '')";

/// Share of the batch size a whole-range batch aims at, so that a range rarely
/// holds more eligible rows than the batch size.
pub(crate) const RANGE_FILL: f64 = 0.9;

/// A whole-range batch spans at most this many batch sizes' worth of row
/// slots (a heap page holds at most `(block_size - 24) / 28` rows, 291 with
/// 8 kB pages; at least one page): if the eligible rows turn out denser than
/// the walk expected, the delete that finds out touches at most about this
/// many times the batch size before it is rolled back. Sparser stretches get
/// the row-limited batch, which stops at the batch size whatever the range.
pub const RANGE_SLOTS: i64 = 8;

/// `create or replace` of [`HEAP_RUN`], a PL/pgSQL procedure that walks the
/// heap like the client does, committing after every batch, until the walk
/// ends, `--limit` is reached, a time budget is spent, or a batch fails.
///
/// Each batch is at most the batch size of rows in its own transaction. While
/// the eligible rows per page allow it, a batch is one `delete` of a whole TID
/// range sized to hold under the batch size ([`RANGE_FILL`]) and never wider
/// than [`RANGE_SLOTS`] batch sizes of row slots; if the range holds more, the
/// delete is rolled back (a subtransaction) and the range is worked with the
/// batch statement of the client ([`heap_statement`], first rows in `ctid`
/// order, at most the batch size) until it is exhausted. Where the rows are
/// too sparse for a whole range within that width, every batch takes the
/// client's form. Both forms check the table's full rule on the row version
/// they delete. A batch's time runs from the previous commit (or the start of
/// the call) to its own commit, so a rolled-back whole-range attempt counts
/// towards the batch that follows it, in the same transaction. The procedure
/// names only the tables of [`super::TABLES`]; any other name is an error.
#[must_use]
pub(crate) fn heap_run_procedure() -> String {
    let mut range = String::new();
    let mut picked = String::new();
    for (i, rule) in super::TABLES.iter().enumerate() {
        let branch = if i == 0 { "if" } else { "elsif" };
        let table = rule.table;
        let local = |sql: String| {
            sql.replace("$3::tid", "_after_tid")
                .replace("$4::tid", "_range_end")
                .replace("$2", "_n")
                .replace("$1", "_cutoff")
        };
        range.push_str(&format!(
            "{branch} _table = '{table}' then\n{};\n",
            local(range_statement(rule))
        ));
        picked.push_str(&format!(
            "{branch} _table = '{table}' then\n{} into _p, _d, _last;\n",
            local(heap_statement(rule, Form::Plain))
        ));
    }
    let unknown = "else raise exception 'not a table cleanup works on: %', _table;\nend if;\n";
    format!(
        r"create or replace procedure {HEAP_RUN}(
    _table text, _cutoff timestamptz, _batch_size bigint, _remaining bigint,
    _end_page integer, _budget_ms float8,
    inout _after text, inout _density float8, inout _dense boolean,
    inout _deleted bigint, inout _skipped bigint,
    inout _rows bigint[], inout _picked bigint[], inout _micros bigint[], inout _stop text)
language plpgsql as $run$
declare
    _started timestamptz := clock_timestamp();
    -- The current transaction's start: the call, then each commit.
    _t0 timestamptz := _started;
    -- Rows a page can hold at most (MaxHeapTuplesPerPage).
    _slots integer := (current_setting('block_size')::integer - 24) / 28;
    _whole_pages integer;
    _after_tid tid := _after::tid;
    _range_end tid;
    _page integer;
    _pages integer;
    _n bigint;
    _p bigint;
    _d bigint;
    _last text;
    _whole boolean;
    _over boolean;
    _failed text;
begin
    loop
        _page := (_after_tid::text::point)[0]::integer;
        if _page >= _end_page then _stop := 'done'; exit; end if;
        _n := least(_batch_size, _remaining - _deleted);
        if _n <= 0 then _stop := 'limit'; exit; end if;
        if clock_timestamp() - _started > _budget_ms * interval '1 millisecond' then
            _stop := 'budget'; exit;
        end if;
        -- In floating point until clamped: a density of 0 means a huge range.
        _whole_pages := greatest(least({RANGE_SLOTS} * _n / _slots, {MAX_PAGES_PER_BATCH}), 1);
        _whole := not _dense and {RANGE_FILL} * _n >= _density
            and {RANGE_FILL} * _n / greatest(_density, 1e-9) < _whole_pages + 1;
        if _whole then
            _pages := least(floor({RANGE_FILL} * _n / greatest(_density, 1e-9)), _whole_pages);
        else
            _pages := greatest(least(ceil(_n / greatest(_density, 1e-9)), {MAX_PAGES_PER_BATCH}), 1);
        end if;
        _range_end := format('(%s,0)', least(_page + _pages, _end_page))::tid;
        _over := false;
        _failed := null;
        _last := null;
        begin
            if _whole then
{range}{unknown}                get diagnostics _d = row_count;
                _p := _d;
                if _d > _n then
                    raise exception 'range over the batch size' using errcode = 'GPC01';
                end if;
            else
{picked}{unknown}            end if;
        exception
            when sqlstate 'GPC01' then _over := true;
            when lock_not_available then _failed := 'locked';
            when query_canceled then _failed := 'cancelled';
        end;
        if _failed is not null then _stop := _failed; exit; end if;
        _pages := (_range_end::text::point)[0]::integer - _page;
        if _over then
            -- Rolled back: work this range with the row-limited form.
            _density := _d::float8 / greatest(_pages, 1);
            _dense := true;
            continue;
        end if;
        commit;
        _rows := _rows || _d;
        _picked := _picked || _p;
        _micros := _micros || (extract(epoch from clock_timestamp() - _t0) * 1000000)::bigint;
        _t0 := clock_timestamp();
        _deleted := _deleted + _d;
        _skipped := _skipped + (_p - _d);
        if not _whole and _last is not null and _p >= _n then
            -- The range goes on after the last row picked.
            _pages := (_last::tid::text::point)[0]::integer - _page + 1;
            _after_tid := _last::tid;
        else
            _after_tid := _range_end;
            _dense := false;
        end if;
        _density := _p::float8 / greatest(_pages, 1);
    end loop;
    _after := _after_tid::text;
end
$run$"
    )
}

/// A position in the heap: block number and line pointer (`ctid`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Tid {
    /// Block (page) number.
    pub(crate) page: u32,
    /// Line pointer within the page; 0 stands before the first row.
    pub(crate) line: u16,
}

impl Tid {
    /// The position before the first row of `page`.
    #[must_use]
    pub(crate) fn page_start(page: u32) -> Self {
        Self { page, line: 0 }
    }

    /// Parses PostgreSQL's text form, `(page,line)`.
    #[must_use]
    pub(crate) fn parse(text: &str) -> Option<Self> {
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
        let procedure = heap_run_procedure();
        assert!(!procedure.contains("gpt_oauth_events"), "{procedure}");
        assert!(procedure.contains("commit;"), "{procedure}");
        for rule in &TABLES {
            let eligible = rule.eligible.replace("$1", "_cutoff");
            let range = format!(
                "delete from {} where ctid > _after_tid and ctid < _range_end and {eligible};",
                rule.table
            );
            assert!(procedure.contains(&range), "{procedure}");
            assert!(
                procedure.contains(&format!("and {eligible} returning 1)")),
                "{procedure}"
            );
        }
        // Every statement parameter became a local variable of the procedure.
        for placeholder in ["$1", "$2", "$3", "$4"] {
            assert!(!procedure.contains(placeholder), "{procedure}");
        }
        let sql = heap_statement(&TABLES[1], Form::Plain);
        assert!(sql.contains(
            "where ctid > $3::tid and ctid < $4::tid and (revoked_at < $1 or expires_at < $1) order by ctid limit $2"
        ));
    }
}

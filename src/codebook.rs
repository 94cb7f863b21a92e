//! Codebooks: hierarchical codes with definitions and rules, loaded from TOML or
//! JSON (see docs/codebook-format.md), compiled once into a matcher that codes a
//! passage in one pass over its words. Every hit names the code, the rule and the
//! spans that matched, so a researcher can see why.
//!
//! Pure: no store, no index. The project applies a codebook to the archive.

use crate::analysis::forms::FormMap;
use crate::analysis::{split_words, words, NorwegianTokenizer};
use crate::decode::{continuation_bits, is_continuation, NotUnicode, Text};
use crate::query::{self, Ast};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use toml::Spanned;

pub const FORMAT: u32 = 1;
/// Limits on one codebook: codes, rules, and bytes of source.
pub const MAX_CODES: usize = 20_000;
pub const MAX_RULES: usize = 100_000;
pub const MAX_SOURCE_BYTES: usize = 32 * 1024 * 1024;

/// A codebook that cannot be loaded: where (file, line, column, code, rule) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodebookError {
    pub path: Option<PathBuf>,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub code: Option<String>,
    pub rule: Option<String>,
    pub message: String,
}

impl fmt::Display for CodebookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(p) = &self.path {
            write!(f, "{}", p.display())?;
            if let Some(l) = self.line {
                write!(f, ":{l}")?;
                if let Some(c) = self.column {
                    write!(f, ":{c}")?;
                }
            }
            write!(f, ": ")?;
        } else if let Some(l) = self.line {
            write!(f, "line {l}: ")?;
        }
        if let Some(c) = &self.code {
            write!(f, "code {c}")?;
            if let Some(r) = &self.rule {
                write!(f, ", rule {r}")?;
            }
            write!(f, ": ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for CodebookError {}

#[derive(Deserialize)]
struct RawFile {
    format: Option<u32>,
    codebook: RawMeta,
    #[serde(default)]
    code: Vec<RawCode>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMeta {
    id: String,
    name: Option<String>,
    version: String,
    description: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCode {
    id: Spanned<String>,
    name: String,
    parent: Option<Spanned<String>>,
    description: Option<String>,
    include: Option<String>,
    exclude: Option<String>,
    #[serde(default)]
    examples: Vec<String>,
    colour: Option<String>,
    #[serde(default)]
    rule: Vec<Spanned<RawRule>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: Option<String>,
    query: Option<Spanned<String>>,
    regex: Option<Spanned<String>>,
    unless: Option<Spanned<String>>,
    #[serde(rename = "where", default)]
    scope: BTreeMap<String, Vec<String>>,
}

/// Codebook identity and version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Meta {
    pub id: String,
    pub name: String,
    pub version: String,
    pub description: String,
}

/// A code as defined in the codebook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Code {
    pub id: String,
    pub name: String,
    pub parent: Option<String>,
    pub description: String,
    pub include: String,
    pub exclude: String,
    pub examples: Vec<String>,
    pub colour: Option<String>,
    /// Rule ids, in file order.
    pub rules: Vec<String>,
    /// Depth in the code tree (0 for a root).
    pub depth: usize,
}

#[derive(Debug, Clone)]
enum Node {
    Terms(Vec<u32>),
    Phrase(Vec<Vec<u32>>, u32),
    Near(Vec<Vec<u32>>, Vec<Vec<u32>>, u32),
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
    All,
}

#[derive(Debug, Clone)]
struct Rule {
    code: usize,
    id: String,
    query: Option<Node>,
    regex: Option<regex::Regex>,
    unless: Option<Node>,
    scope: Vec<(String, Vec<String>, Vec<String>)>,
    /// Sets of positive terms: the rule can only fire when a term of each set is
    /// in the passage (see [`Trigger::sets`]). Empty for a rule that can fire
    /// without any term.
    trigger_options: Vec<Vec<u32>>,
    /// What triggers the rule, as a tree a matcher picks a set of terms from
    /// (see [`Trigger`]); None exactly when `trigger_options` is empty.
    trigger: Option<Trigger>,
}

/// Where a passage comes from, for rules' `where` scopes.
pub type Context = BTreeMap<String, String>;

/// One rule firing on one passage: spans are code-point offsets into the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub code: usize,
    pub rule: usize,
    pub spans: Vec<(usize, usize)>,
}

/// The hits of a batch of texts, flat: one row per hit, and every hit's spans
/// (code-point offsets into its text) in one shared list. A batch of passages
/// can have millions of hits; this shape costs two allocations for all of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hits {
    rows: Vec<HitRow>,
    spans: Vec<(u32, u32)>,
}

/// One rule firing on one text of a batch. Its spans are [`Hits::spans`]; there
/// is always at least one (the whole text for a rule that names no words).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HitRow {
    /// Index of the text in the batch.
    pub text: u32,
    /// Index into [`Codebook::codes`].
    pub code: u32,
    /// Index of the rule, as in [`Codebook::rule_name`].
    pub rule: u32,
    from: u32,
    to: u32,
}

impl Hits {
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn rows(&self) -> &[HitRow] {
        &self.rows
    }

    /// The spans of a hit, ascending and without duplicates.
    pub fn spans(&self, row: &HitRow) -> &[(u32, u32)] {
        &self.spans[row.from as usize..row.to as usize]
    }

    /// The hits as [`Hit`]s (for one text, or where the batch is small).
    pub fn to_vec(&self) -> Vec<Hit> {
        self.rows
            .iter()
            .map(|r| Hit {
                code: r.code as usize,
                rule: r.rule as usize,
                spans: self
                    .spans(r)
                    .iter()
                    .map(|&(a, b)| (a as usize, b as usize))
                    .collect(),
            })
            .collect()
    }

    /// The codes that hit each of `texts` texts, each once, in the order of
    /// their ids: for text `i`, `codes[ends[i - 1]..ends[i]]` (indexes into
    /// [`Codebook::codes`]), as `(ends, codes)`.
    pub fn codes_per_text(&self, cb: &Codebook, texts: usize) -> (Vec<u32>, Vec<u32>) {
        // Each code's place among the codes sorted by id.
        let mut by_id: Vec<u32> = (0..cb.codes.len() as u32).collect();
        by_id.sort_by(|&a, &b| cb.codes[a as usize].id.cmp(&cb.codes[b as usize].id));
        let mut rank = vec![0u32; cb.codes.len()];
        for (r, &c) in by_id.iter().enumerate() {
            rank[c as usize] = r as u32;
        }
        let mut ends = Vec::with_capacity(texts);
        let mut codes = Vec::with_capacity(self.rows.len());
        // Rows come in text order.
        debug_assert!(self.rows.windows(2).all(|w| w[0].text <= w[1].text));
        let mut rows = self.rows.iter().peekable();
        for text in 0..texts as u32 {
            let start = codes.len();
            while let Some(r) = rows.next_if(|r| r.text == text) {
                codes.push(rank[r.code as usize]);
            }
            let n = sort_dedup(&mut codes[start..]);
            codes.truncate(start + n);
            for c in &mut codes[start..] {
                *c = by_id[*c as usize];
            }
            ends.push(codes.len() as u32);
        }
        (ends, codes)
    }

    /// Moves `other`'s hits to the end of these.
    /// Adds `other`'s hits after these, leaving `other` empty (its buffers kept).
    fn append(&mut self, other: &mut Hits) {
        let shift = self.spans.len() as u32;
        self.spans.append(&mut other.spans);
        self.rows.extend(other.rows.drain(..).map(|r| HitRow {
            from: r.from + shift,
            to: r.to + shift,
            ..r
        }));
    }

    fn clear(&mut self) {
        self.rows.clear();
        self.spans.clear();
    }
}

/// A loaded, compiled codebook. Immutable; cheap to share between threads.
#[derive(Debug, Clone)]
pub struct Codebook {
    pub meta: Meta,
    pub codes: Vec<Code>,
    rules: Vec<Rule>,
    terms: FxHashMap<String, u32>,
    term_rules: TriggerTable,
    always: Vec<usize>,
    /// Literals that regex rules need (lower-cased) and that may span more than
    /// a word, one automaton for all, run over the lower-cased passage.
    regex_prefilter: Option<aho_corasick::AhoCorasick>,
    /// For each prefilter literal, the rules it lets through.
    literal_rules: Vec<Vec<usize>>,
    /// Regex-only rules without a usable literal: always tried.
    regex_always: Vec<usize>,
    /// Whether any rule asks for an exact word form (`=form`): the term of an
    /// exact form is `=` and the form, looked up for every new lower-case form.
    exact_forms: bool,
    /// The prefixes rules ask for (`prefix*`), lower-cased, each with its term
    /// (the prefix and `*`), which every new form that begins with it stands for.
    prefixes: Vec<(String, u32)>,
    /// The literals of letters and digits that regex rules need (see
    /// [`Prefilter::Words`]), lower-cased, each with its term (`~` and the
    /// literal), which every new form that contains it stands for.
    word_literals: Vec<(String, u32)>,
    /// By rule: how a matcher evaluates it (see [`Plan`]), and its code.
    plans: Vec<Plan>,
    /// The terms of [`Plan::Terms`] rules, each rule's a range ([`Plan::Term`] holds its one).
    plan_terms: Vec<u32>,
    /// The source text, kept so an archive can store every version it coded with.
    pub source: String,
    /// What finished matchers learnt, for the next ones.
    warm: WarmPool,
}

fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let before = &src[..offset.min(src.len())];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count() + 1)
        .unwrap_or(1);
    (line, col)
}

struct Compiler<'a> {
    src: &'a str,
    path: Option<PathBuf>,
    positions: bool,
    terms: FxHashMap<String, u32>,
    exact_forms: bool,
    prefixes: Vec<(String, u32)>,
    word_literals: Vec<(String, u32)>,
}

impl Compiler<'_> {
    fn err(
        &self,
        span: Option<std::ops::Range<usize>>,
        code: Option<&str>,
        rule: Option<&str>,
        msg: String,
    ) -> CodebookError {
        let (line, column) = match span.filter(|_| self.positions) {
            Some(s) => {
                let (l, c) = line_col(self.src, s.start);
                (Some(l), Some(c))
            }
            None => (None, None),
        };
        CodebookError {
            path: self.path.clone(),
            line,
            column,
            code: code.map(String::from),
            rule: rule.map(String::from),
            message: msg,
        }
    }

    fn term_id(&mut self, t: &str) -> u32 {
        let n = self.terms.len() as u32;
        *self.terms.entry(t.to_string()).or_insert(n)
    }

    /// The term of a regex rule's word literal (no analyser term has `~` in it).
    fn word_literal_id(&mut self, literal: &str) -> u32 {
        let id = self.term_id(&format!("~{literal}"));
        if !self.word_literals.iter().any(|(_, t)| *t == id) {
            self.word_literals.push((literal.to_string(), id));
        }
        id
    }

    fn word_alts(&mut self, text: &str) -> Vec<Vec<u32>> {
        words(text)
            .map(|w| {
                crate::analysis::analyze_word(&w.lower)
                    .full
                    .iter()
                    .map(|t| self.term_id(t))
                    .collect()
            })
            .collect()
    }

    fn node(&mut self, ast: &Ast) -> Result<Node, String> {
        Ok(match ast {
            Ast::All => Node::All,
            Ast::Term(w) => {
                let ws = self.word_alts(w);
                if ws.len() == 1 {
                    Node::Terms(ws.into_iter().next().unwrap())
                } else {
                    Node::Phrase(ws, 0)
                }
            }
            Ast::Phrase(p, slop) => Node::Phrase(self.word_alts(p), *slop),
            // Exact forms and prefixes are terms of their own, which a matcher
            // gives a word form when it first meets it (no analyser term has `=`
            // or `*` in it): a rule with them is triggered and evaluated like
            // any other.
            Ast::Exact(w) => {
                let ws: Vec<Vec<u32>> = words(w)
                    .map(|x| vec![self.term_id(&format!("={}", x.lower))])
                    .collect();
                self.exact_forms |= !ws.is_empty();
                // Without words (`=«»`), a phrase of none: it matches nothing,
                // as in search.
                match <[_; 1]>::try_from(ws) {
                    Ok([one]) => Node::Terms(one),
                    Err(ws) => Node::Phrase(ws, 0),
                }
            }
            Ast::Prefix(p) => {
                let id = self.term_id(&format!("{p}*"));
                if !self.prefixes.iter().any(|(_, t)| *t == id) {
                    self.prefixes.push((p.clone(), id));
                }
                Node::Terms(vec![id])
            }
            Ast::Near(a, b, n) => {
                let side = |c: &mut Self, x: &Ast| match x {
                    Ast::Term(w) | Ast::Phrase(w, _) => Ok(c.word_alts(w)),
                    _ => Err("NEAR joins words or phrases".to_string()),
                };
                Node::Near(side(self, a)?, side(self, b)?, *n)
            }
            Ast::Field(f, _) => {
                return Err(format!(
                    "field filters ({f}:…) are not allowed in rules; use `where`"
                ))
            }
            Ast::And(items) => Node::And(
                items
                    .iter()
                    .map(|i| self.node(i))
                    .collect::<Result<_, _>>()?,
            ),
            Ast::Or(items) => Node::Or(
                items
                    .iter()
                    .map(|i| self.node(i))
                    .collect::<Result<_, _>>()?,
            ),
            Ast::Not(inner) => Node::Not(Box::new(self.node(inner)?)),
        })
    }
}

/// Where a rule's trigger terms can come from. A match of `Each` needs a term
/// of every child (the parts of an AND, the words of a phrase or NEAR), so any
/// one child will do as the trigger; a match of `Either` needs a term of one
/// child (the alternatives of an OR), so the trigger is a set from each child.
/// Picking the rarest child of every `Each` keeps an OR of phrases from being
/// evaluated wherever the first word of one of them occurs.
#[derive(Debug, Clone)]
enum Trigger {
    Terms(Vec<u32>),
    Each(Vec<Trigger>),
    Either(Vec<Trigger>),
}

impl Trigger {
    /// The trigger of a node; None when it can match without any term (a pure
    /// negation).
    fn of(n: &Node) -> Option<Trigger> {
        let words = |ws: &[Vec<u32>]| -> Vec<Trigger> {
            ws.iter()
                .filter(|w| !w.is_empty())
                .map(|w| Trigger::Terms(w.clone()))
                .collect()
        };
        let each = |v: Vec<Trigger>| (!v.is_empty()).then_some(Trigger::Each(v));
        match n {
            Node::Terms(t) => (!t.is_empty()).then(|| Trigger::Terms(t.clone())),
            Node::Phrase(ws, _) => each(words(ws)),
            Node::Near(a, b, _) => each([words(a), words(b)].concat()),
            Node::And(items) => each(
                items
                    .iter()
                    .filter(|i| !matches!(i, Node::Not(_)))
                    .filter_map(Trigger::of)
                    .collect(),
            ),
            Node::Or(items) => Some(Trigger::Either(
                items.iter().map(Trigger::of).collect::<Option<_>>()?,
            )),
            Node::Not(_) | Node::All => None,
        }
    }

    /// The sets of terms of which a match needs a term of each: the sets under
    /// nested `Each`s (any one child's sets are necessary for it), an `Either`
    /// as one set, the union of its children's first picks. The first set is
    /// [`Trigger::first`]'s.
    fn sets(&self, out: &mut Vec<Vec<u32>>) {
        match self {
            Trigger::Terms(t) => out.push(t.clone()),
            Trigger::Each(cs) => cs.iter().for_each(|c| c.sets(out)),
            Trigger::Either(_) => {
                let mut all = Vec::new();
                self.first(&mut all);
                all.sort_unstable();
                all.dedup();
                out.push(all);
            }
        }
    }

    /// The codebook's default: the first child of every `Each`.
    fn first(&self, out: &mut Vec<u32>) {
        match self {
            Trigger::Terms(t) => out.extend_from_slice(t),
            Trigger::Each(cs) => cs[0].first(out),
            Trigger::Either(cs) => cs.iter().for_each(|c| c.first(out)),
        }
    }

    /// The set whose terms weigh least by `weight` (a term's passages so far):
    /// the lightest child of every `Each`, and the union over an `Either`.
    /// Returns the set's weight.
    fn lightest(&self, weight: &impl Fn(u32) -> u64, out: &mut Vec<u32>) -> u64 {
        match self {
            Trigger::Terms(t) => {
                out.extend_from_slice(t);
                t.iter().map(|&x| weight(x)).sum()
            }
            Trigger::Each(cs) => {
                let mut best: Option<(u64, Vec<u32>)> = None;
                for c in cs {
                    let mut set = Vec::new();
                    let w = c.lightest(weight, &mut set);
                    if best.as_ref().is_none_or(|(bw, _)| w < *bw) {
                        best = Some((w, set));
                    }
                }
                let (w, set) = best.expect("an Each has children");
                out.extend_from_slice(&set);
                w
            }
            Trigger::Either(cs) => cs.iter().map(|c| c.lightest(weight, out)).sum(),
        }
    }
}

/// By term: the rules it triggers, each rule (with a query and a trigger) under
/// the terms `pick` chooses from its trigger, with its partner there (see
/// [`partner`]; `weight` tells the rarer of two candidates).
fn trigger_table(
    rules: &[Rule],
    terms: usize,
    weight: impl Fn(u32) -> u64,
    pick: impl Fn(&Trigger, &mut Vec<u32>),
) -> TriggerTable {
    // The term no passage lacks: that of a rule without a partner.
    let always = terms as u32;
    let mut table = vec![Vec::new(); terms];
    let mut set = Vec::new();
    for (i, r) in rules.iter().enumerate() {
        if let Some(trigger) = &r.trigger {
            set.clear();
            pick(trigger, &mut set);
            set.sort_unstable();
            set.dedup();
            let partner = partner(r, &set, &weight).unwrap_or([always; 2]);
            for &t in &set {
                table[t as usize].push((i as u32, partner));
            }
        }
    }
    let mut out = TriggerTable {
        start: Vec::with_capacity(terms + 1),
        rules: Vec::new(),
        partners: Vec::new(),
        first_two: Vec::with_capacity(terms + 1),
    };
    out.start.push(0);
    // The spare rule, one past the last: what stands for a rule a term lacks.
    let spare = u32::try_from(rules.len())
        .ok()
        .filter(|&s| s < MORE_RULES)
        .expect("fewer than 2^31 rules");
    let none = (spare, [always; 2]);
    for mut v in table {
        v.dedup_by_key(|e| e.0);
        let ([a, b], more) = match v[..] {
            [] => ([none, none], false),
            [one] => ([one, none], false),
            [first, second] => ([first, second], false),
            [first, second, ..] => ([first, second], true),
        };
        out.first_two.push(FirstTwo {
            rules: [a.0 | if more { MORE_RULES } else { 0 }, b.0],
            partners: [a.1, b.1],
        });
        out.rules.extend(v.iter().map(|e| e.0));
        out.partners.extend(v.iter().map(|e| e.1));
        out.start.push(out.rules.len() as u32);
    }
    // The term every passage has triggers no rule.
    out.first_two.push(FirstTwo {
        rules: [none.0; 2],
        partners: [none.1; 2],
    });
    out
}

/// The partner of rule `r` triggered by a term of `trigger`: a trigger set of
/// one or two terms (one term given twice) of which the rule needs a term to
/// fire besides the trigger's, the rarest by `weight` of those that share no
/// term with `trigger`, for a query checked against all its sets before it is
/// evaluated (`Plan::General`); None when it has no such set. A rule is
/// marked only where a term of its partner occurs too: a two-word phrase
/// triggered by its rarer word is not even marked where the other word (one of
/// its one or two lemmas) is missing, which was most of the passages such
/// rules were marked in (1.94 million of 2.63 million for the 1,000-rule
/// benchmark codebook on 100 MB).
fn partner(r: &Rule, trigger: &[u32], weight: &impl Fn(u32) -> u64) -> Option<[u32; 2]> {
    if r.query.is_none() || r.trigger_options.len() < 2 {
        return None;
    }
    r.trigger_options
        .iter()
        .filter_map(|set| match set[..] {
            [t] if !trigger.contains(&t) => Some([t, t]),
            [a, b] if !trigger.contains(&a) && !trigger.contains(&b) => Some([a, b]),
            _ => None,
        })
        .min_by_key(|&[a, b]| weight(a) + if a == b { 0 } else { weight(b) })
}

/// The rules each term triggers, all in one list: term `t`'s are
/// `rules[start[t]..start[t + 1]]`, ascending.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct TriggerTable {
    start: Vec<u32>,
    rules: Vec<u32>,
    /// Beside each of `rules`: its partner under this term (see [`partner`]),
    /// or twice the one past the last term, which every passage has.
    partners: Vec<[u32; 2]>,
    /// By term, and for the term every passage has: its first two rules and
    /// their partners; a matcher reads them from its [`TermSlot`]s.
    first_two: Vec<FirstTwo>,
}

/// A term's first two rules, the spare rule (one past the codebook's last)
/// for each it lacks, and [`MORE_RULES`] set in the first when it has more
/// than two; and the partners of the two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FirstTwo {
    rules: [u32; 2],
    partners: [[u32; 2]; 2],
}

/// What a matcher reads of one codebook term in a passage, in one cache line:
/// where the term's occurrences are (`at`: the passage's stamp, then the
/// range of `occ`, or the count while they are counted) and the term's first
/// two rules with their partners. Counting a passage's occurrences brings the
/// term's line in, and marking its rules then reads the same line; with the
/// rules in tables of their own, each marked term cost one or two more
/// first-level cache misses (7 % of a first 1,000-rule call's, counted).
#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
struct TermSlot {
    at: (u32, u32, u32),
    two: FirstTwo,
}

/// The bit of [`FirstTwo::rules`] that tells a term of three rules or more.
const MORE_RULES: u32 = 1 << 31;

impl TriggerTable {
    #[cfg(test)]
    fn of(&self, term: u32) -> &[u32] {
        let t = term as usize;
        &self.rules[self.start[t] as usize..self.start[t + 1] as usize]
    }

    fn terms(&self) -> usize {
        self.start.len().saturating_sub(1)
    }

    /// The table's first two rules of each term (and of the term every
    /// passage has), with `at` for its place in a passage.
    fn slots(&self) -> Vec<TermSlot> {
        self.first_two
            .iter()
            .map(|&two| TermSlot { at: (0, 0, 0), two })
            .collect()
    }

    /// Copies the table's first two rules of each term into `slots` (made by
    /// [`TriggerTable::slots`]), leaving their `at`.
    fn install(&self, slots: &mut [TermSlot]) {
        for (slot, &two) in slots.iter_mut().zip(&self.first_two) {
            slot.two = two;
        }
    }

    /// Marks in `set` (which has room for the spare rule) the rules `term`
    /// triggers whose partners occur: a term of the partner has the passage's
    /// `stamp` in `slots` (by term, one past the last included; the first two
    /// rules are read from there too, see [`TermSlot`]). A term of up to
    /// two rules, most terms, takes no branch: a loop over each term's rules
    /// mispredicted its end at most terms of a large codebook, whose terms
    /// trigger none, one or two rules about as often; nor does a partner.
    #[inline]
    fn mark(&self, term: u32, set: &mut RuleSet, slots: &[TermSlot], stamp: u32) {
        let t = term as usize;
        let FirstTwo {
            rules: [first, second],
            partners: [p1, p2],
        } = slots[t].two;
        let occurs = |[a, b]: [u32; 2]| {
            (slots[a as usize].at.0 == stamp) | (slots[b as usize].at.0 == stamp)
        };
        set.insert_if(first & !MORE_RULES, occurs(p1));
        set.insert_if(second, occurs(p2));
        if first & MORE_RULES != 0 {
            let (from, to) = (self.start[t] as usize + 2, self.start[t + 1] as usize);
            for (&rule, &p) in self.rules[from..to].iter().zip(&self.partners[from..to]) {
                set.insert_if(rule, occurs(p));
            }
        }
    }
}

/// A set of rules by index, one bit each, for the rules a passage triggers:
/// read back in ascending order, so the rules are evaluated (and their hits
/// listed) in the order of the codebook.
#[derive(Debug, Clone)]
struct RuleSet {
    words: Vec<u64>,
    /// Up to [`SCAN_ALL_WORDS`] words: bit `k` set when word `k` has a bit set.
    summary: u64,
    /// Beyond that, the words that have a bit set, in the order first set.
    touched: Vec<u32>,
}

/// Codebooks of up to this many 64-rule words keep their marked words as the
/// bits of one summary word.
const SCAN_ALL_WORDS: usize = 64;

impl RuleSet {
    fn new(rules: usize) -> RuleSet {
        RuleSet {
            words: vec![0; rules.div_ceil(64)],
            summary: 0,
            touched: Vec::new(),
        }
    }

    #[inline]
    fn insert(&mut self, rule: u32) {
        let k = (rule / 64) as usize;
        let summary = self.words.len() <= SCAN_ALL_WORDS;
        let w = &mut self.words[k];
        if summary {
            self.summary |= 1 << k;
        } else if *w == 0 {
            self.touched.push(k as u32);
        }
        *w |= 1 << (rule % 64);
    }

    /// [`RuleSet::insert`] when `yes`, without a branch on it.
    #[inline]
    fn insert_if(&mut self, rule: u32, yes: bool) {
        let k = (rule / 64) as usize;
        let summary = self.words.len() <= SCAN_ALL_WORDS;
        let w = &mut self.words[k];
        if summary {
            self.summary |= u64::from(yes) << k;
        } else if *w == 0 && yes {
            self.touched.push(k as u32);
        }
        *w |= u64::from(yes) << (rule % 64);
    }

    /// Moves the marked rules, ascending, to `out` and empties the set. Only
    /// the words marked are read: no branch per word of the set (with a
    /// 1,000-rule codebook, one such branch per word mispredicted often).
    fn drain_into(&mut self, out: &mut Vec<usize>) {
        out.clear();
        let mut take = |k: usize, w: &mut u64| {
            let mut bits = std::mem::take(w);
            while bits != 0 {
                out.push(k * 64 + bits.trailing_zeros() as usize);
                bits &= bits - 1;
            }
        };
        if self.words.len() > SCAN_ALL_WORDS {
            self.touched.sort_unstable();
            for &k in &self.touched {
                take(k as usize, &mut self.words[k as usize]);
            }
            self.touched.clear();
        } else {
            let mut marked = std::mem::take(&mut self.summary);
            while marked != 0 {
                let k = marked.trailing_zeros() as usize;
                take(k, &mut self.words[k]);
                marked &= marked - 1;
            }
        }
    }
}

/// How a matcher evaluates a rule once the rule is triggered.
#[derive(Debug, Clone, Copy)]
enum Plan {
    /// The rule matches exactly the words where its one term occurs: the most
    /// common rule of a large codebook, with no look into `plan_terms`.
    Term { code: u32, term: u32 },
    /// The rule matches exactly the words where one of its terms occurs
    /// (`plan_terms[from..to]`, two or more): terms joined by OR, without
    /// `unless`, `where` or a regex. With [`Plan::Term`], most rules of a large
    /// codebook.
    Terms { code: u32, from: u32, to: u32 },
    /// Anything else: the rule's query is evaluated as a whole, where a term
    /// of each of its trigger sets occurs (the sets are `plan_terms[from..to]`,
    /// each as its length followed by its terms; empty when the trigger alone
    /// tells).
    General { from: u32, to: u32 },
}

/// The terms a rule matches exactly the occurrences of, when its query is a
/// term or an OR of terms (see [`Plan::Terms`]).
fn direct_terms(n: &Node, out: &mut Vec<u32>) -> bool {
    match n {
        Node::Terms(alts) => {
            out.extend_from_slice(alts);
            true
        }
        Node::Or(items) => items.iter().all(|i| direct_terms(i, out)),
        _ => false,
    }
}

/// `text.to_lowercase()`, written into `buf` (reused from call to call): a run
/// of ASCII at a time, a Latin-1 letter (all of Norwegian's) by its bytes, any
/// other character by its own lower case.
fn lowercase_into<'b>(text: &str, buf: &'b mut String) -> &'b str {
    let bytes = text.as_bytes();
    let mut out = std::mem::take(buf).into_bytes();
    out.clear();
    let mut i = 0;
    while i < bytes.len() {
        let mut j = i;
        while j + 8 <= bytes.len()
            && u64::from_le_bytes(bytes[j..j + 8].try_into().unwrap()) & 0x8080_8080_8080_8080 == 0
        {
            j += 8;
        }
        while j < bytes.len() && bytes[j] < 0x80 {
            j += 1;
        }
        if j > i {
            let from = out.len();
            out.extend_from_slice(&bytes[i..j]);
            out[from..].make_ascii_lowercase();
            i = j;
        }
        match bytes.get(i..i + 2) {
            None => break,
            // U+0080 to U+00BF: none is an upper-case letter.
            Some(&[0xC2, c]) => out.extend_from_slice(&[0xC2, c]),
            // U+00C0 to U+00DE, but for ×, are the upper case of U+00E0 to U+00FE.
            Some(&[0xC3, c]) => {
                let lower = if (0x80..=0x9E).contains(&c) && c != 0x97 {
                    c + 0x20
                } else {
                    c
                };
                out.extend_from_slice(&[0xC3, lower]);
            }
            _ => {
                // Any other character: its own lower case, as the standard library
                // gives it outside a word-final capital sigma, which sends the
                // whole text there.
                let c = text[i..].chars().next().expect("a character starts here");
                if c == 'Σ' {
                    *buf = text.to_lowercase();
                    return buf;
                }
                let mut utf8 = [0; 4];
                for l in c.to_lowercase() {
                    out.extend_from_slice(l.encode_utf8(&mut utf8).as_bytes());
                }
                i += c.len_utf8();
                continue;
            }
        }
        i += 2;
    }
    // SAFETY: `out` is `text` with ASCII upper-case letters made lower-case,
    // after a 0xC3 lead byte continuation bytes 0x80..=0x9E raised by 0x20 to
    // 0xA0..=0xBE (still continuation bytes: the character keeps its length), and
    // every other character replaced by the UTF-8 of its lower case: the bytes
    // stay UTF-8.
    *buf = unsafe { String::from_utf8_unchecked(out) };
    buf
}

/// What a regex-only rule is tried behind.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Prefilter {
    /// Lower-cased literals of letters and digits, at least three each, of
    /// which every match contains one. A run of letters and digits in a text
    /// lies inside one word (words break only between other characters), so
    /// the rule is triggered by the forms that contain one of them, which a
    /// matcher finds once per form instead of searching every passage.
    Words(Vec<String>),
    /// Lower-cased literals, at least two characters each, of which every match
    /// contains one, searched for in the lower-cased passage.
    Text(Vec<String>),
    /// No usable literal: the regex is tried on every passage.
    None,
}

/// The prefilter of a regex: of the literal sets every match must contain one
/// of (the prefix or suffix set of the pattern, or of a part of a top-level
/// sequence), the one whose shortest literal is longest; as word literals when
/// the longest run of letters and digits in each literal of some set is long
/// enough, since those cost no search of the passage.
fn prefilter(pattern: &str) -> Prefilter {
    use regex_syntax::hir::{literal::ExtractKind, HirKind};
    // Literals are compared lower-cased with the lower-cased text, so a leading
    // (?i) is dropped here: case variants (with Unicode folds such as K/k/U+212A)
    // would otherwise multiply past the extractor's limits.
    let core = pattern.strip_prefix("(?i)").unwrap_or(pattern);
    let Ok(hir) = regex_syntax::ParserBuilder::new().build().parse(core) else {
        return Prefilter::None;
    };
    // Candidate sets: the whole pattern's prefixes and suffixes, and the prefixes
    // of each part of a top-level sequence (every match contains a match of each
    // part, so one of its literals). The set whose shortest literal is longest wins:
    // `(?:vi|me) lykkes` is prefiltered on `lykkes`, not on `vi`.
    let mut candidates = vec![
        literal_set(&hir, ExtractKind::Prefix),
        literal_set(&hir, ExtractKind::Suffix),
    ];
    let mut top = &hir;
    while let HirKind::Capture(c) = top.kind() {
        top = &c.sub;
    }
    if let HirKind::Concat(parts) = top.kind() {
        candidates.extend(parts.iter().map(|p| literal_set(p, ExtractKind::Prefix)));
    }
    let candidates: Vec<Vec<String>> = candidates.into_iter().flatten().collect();
    if let Some(words) = longest_shortest(candidates.iter().filter_map(|c| word_literals(c))) {
        return Prefilter::Words(words);
    }
    match longest_shortest(candidates.into_iter()) {
        Some(text) => Prefilter::Text(text),
        None => Prefilter::None,
    }
}

/// Of literal sets, the first whose shortest literal is longest.
fn longest_shortest(sets: impl Iterator<Item = Vec<String>>) -> Option<Vec<String>> {
    let shortest = |v: &Vec<String>| v.iter().map(|s| s.chars().count()).min().unwrap_or(0);
    let mut best: Option<Vec<String>> = None;
    for c in sets {
        if best.as_ref().is_none_or(|b| shortest(&c) > shortest(b)) {
            best = Some(c);
        }
    }
    best
}

/// A character that no word boundary falls before or after when it stands
/// between two others of its kind: a letter of the Latin blocks or an ASCII
/// digit (Unicode's word rules never break between two letters, two digits,
/// or a letter and a digit). Other scripts are left out on purpose: the rules
/// break between some of their letters.
fn word_inner(c: char) -> bool {
    (c.is_alphabetic() && (c as u32) < 0x250) || c.is_ascii_digit()
}

/// `set` as word literals: each literal's longest run of [`word_inner`]
/// characters, which occurs wherever the literal does (so every match still
/// contains one of them); None when a run is shorter than three characters.
/// A literal that contains another of the set is dropped: the other occurs
/// wherever it does.
fn word_literals(set: &[String]) -> Option<Vec<String>> {
    let mut runs: Vec<String> = Vec::new();
    for lit in set {
        let run = lit
            .split(|c: char| !word_inner(c))
            .max_by_key(|r| r.chars().count())
            .unwrap_or("");
        if run.chars().count() < 3 {
            return None;
        }
        runs.push(run.to_string());
    }
    let mut out: Vec<String> = Vec::new();
    for (i, r) in runs.iter().enumerate() {
        let covered = runs
            .iter()
            .enumerate()
            .any(|(j, o)| j != i && r.contains(o.as_str()) && (o != r || j < i));
        if !covered {
            out.push(r.clone());
        }
    }
    Some(out)
}

/// Lower-cased literals (at least two characters each) of which every match of
/// `hir` starts (or ends) with one; None when there is no such finite set.
fn literal_set(
    hir: &regex_syntax::hir::Hir,
    kind: regex_syntax::hir::literal::ExtractKind,
) -> Option<Vec<String>> {
    let seq = regex_syntax::hir::literal::Extractor::new()
        .kind(kind)
        .extract(hir);
    let mut out: Vec<String> = Vec::new();
    for lit in seq.literals()? {
        let s = std::str::from_utf8(lit.as_bytes()).ok()?.to_lowercase();
        if s.chars().count() < 2 {
            return None;
        }
        if !out.contains(&s) {
            out.push(s);
        }
    }
    (!out.is_empty()).then_some(out)
}

fn check_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
}

impl Codebook {
    /// Load a codebook file (`.toml` or `.json`).
    // A codebook error is large (file, line, column, code, rule): it is made
    // once per failed load, never on a hot path, so it is not boxed.
    #[allow(clippy::result_large_err)]
    pub fn load(path: &Path) -> Result<Codebook, CodebookError> {
        if let Ok(m) = std::fs::metadata(path) {
            if m.len() as usize > MAX_SOURCE_BYTES {
                return Err(CodebookError {
                    path: Some(path.to_path_buf()),
                    line: None,
                    column: None,
                    code: None,
                    rule: None,
                    message: format!(
                        "the codebook is {} MiB; the limit is {} MiB",
                        m.len() >> 20,
                        MAX_SOURCE_BYTES >> 20
                    ),
                });
            }
        }
        let src = std::fs::read_to_string(path).map_err(|e| CodebookError {
            path: Some(path.to_path_buf()),
            line: None,
            column: None,
            code: None,
            rule: None,
            message: e.to_string().to_lowercase(),
        })?;
        let json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        Self::parse(&src, json, Some(path))
    }

    /// Parse a codebook from text (TOML, or JSON when `json`).
    // A codebook error is large (file, line, column, code, rule): it is made
    // once per failed load, never on a hot path, so it is not boxed.
    #[allow(clippy::result_large_err)]
    pub fn parse(src: &str, json: bool, path: Option<&Path>) -> Result<Codebook, CodebookError> {
        let base = CodebookError {
            path: path.map(Path::to_path_buf),
            line: None,
            column: None,
            code: None,
            rule: None,
            message: String::new(),
        };
        if src.len() > MAX_SOURCE_BYTES {
            return Err(CodebookError {
                message: format!(
                    "the codebook is {} MiB; the limit is {} MiB",
                    src.len() >> 20,
                    MAX_SOURCE_BYTES >> 20
                ),
                ..base
            });
        }
        // JSON is converted to TOML so that one loader checks both; positions are
        // then only reported for TOML files.
        let toml_src;
        let (text, positions) = if json {
            let v: serde_json::Value = serde_json::from_str(src).map_err(|e| CodebookError {
                line: Some(e.line()),
                column: Some(e.column()),
                message: format!("invalid json: {e}"),
                ..base.clone()
            })?;
            toml_src = toml::to_string(&v).map_err(|e| CodebookError {
                message: e.to_string(),
                ..base.clone()
            })?;
            (toml_src.as_str(), false)
        } else {
            (src, true)
        };
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            let (line, column) = match e.span().filter(|_| positions) {
                Some(s) => {
                    let (l, c) = line_col(text, s.start);
                    (Some(l), Some(c))
                }
                None => (None, None),
            };
            CodebookError {
                line,
                column,
                message: e.message().trim().to_lowercase(),
                ..base.clone()
            }
        })?;
        let mut c = Compiler {
            src: text,
            path: path.map(Path::to_path_buf),
            positions,
            terms: FxHashMap::default(),
            exact_forms: false,
            prefixes: Vec::new(),
            word_literals: Vec::new(),
        };
        if raw.format.unwrap_or(FORMAT) != FORMAT {
            return Err(c.err(
                None,
                None,
                None,
                format!(
                    "codebook format {} is not supported (this build reads {FORMAT})",
                    raw.format.unwrap_or(0)
                ),
            ));
        }
        let n_rules: usize = raw.code.iter().map(|c| c.rule.len()).sum();
        if raw.code.len() > MAX_CODES || n_rules > MAX_RULES {
            return Err(c.err(
                None,
                None,
                None,
                format!(
                    "{} codes and {n_rules} rules; the limits are {MAX_CODES} codes and {MAX_RULES} rules",
                    raw.code.len()
                ),
            ));
        }
        let mut ids: HashMap<String, usize> = HashMap::new();
        for (i, code) in raw.code.iter().enumerate() {
            let id = code.id.get_ref();
            if !check_id(id) {
                return Err(c.err(
                    Some(code.id.span()),
                    Some(id),
                    None,
                    "code ids use a-z, 0-9, '.', '_' and '-'".into(),
                ));
            }
            if ids.insert(id.clone(), i).is_some() {
                return Err(c.err(
                    Some(code.id.span()),
                    Some(id),
                    None,
                    "duplicate code id".into(),
                ));
            }
        }
        let mut codes = Vec::new();
        let mut rules = Vec::new();
        // By rule: the literals of a regex-only rule that the lower-cased
        // passage is searched for (see `Prefilter::Text`).
        let mut text_literals: Vec<Option<Vec<String>>> = Vec::new();
        for (ci, code) in raw.code.iter().enumerate() {
            let cid = code.id.get_ref().clone();
            if let Some(p) = &code.parent {
                if !ids.contains_key(p.get_ref()) {
                    return Err(c.err(
                        Some(p.span()),
                        Some(&cid),
                        None,
                        format!("parent {:?} is not a code in this codebook", p.get_ref()),
                    ));
                }
            }
            let mut rule_ids = Vec::new();
            for (ri, r) in code.rule.iter().enumerate() {
                let span = r.span();
                let r = r.get_ref();
                let rid = r.id.clone().unwrap_or_else(|| format!("r{}", ri + 1));
                if rule_ids.contains(&rid) {
                    return Err(c.err(
                        Some(span),
                        Some(&cid),
                        Some(&rid),
                        "duplicate rule id".into(),
                    ));
                }
                if r.query.is_none() && r.regex.is_none() {
                    return Err(c.err(
                        Some(span),
                        Some(&cid),
                        Some(&rid),
                        "a rule needs `query` or `regex`".into(),
                    ));
                }
                let compile_query =
                    |c: &mut Compiler, q: &Spanned<String>| -> Result<Node, CodebookError> {
                        let ast = query::parse(q.get_ref()).map_err(|e| {
                            c.err(Some(q.span()), Some(&cid), Some(&rid), e.to_string())
                        })?;
                        if ast == Ast::All {
                            return Err(c.err(
                                Some(q.span()),
                                Some(&cid),
                                Some(&rid),
                                "empty query".into(),
                            ));
                        }
                        c.node(&ast)
                            .map_err(|m| c.err(Some(q.span()), Some(&cid), Some(&rid), m))
                    };
                let query = match &r.query {
                    Some(q) => Some(compile_query(&mut c, q)?),
                    None => None,
                };
                let unless = match &r.unless {
                    Some(q) => Some(compile_query(&mut c, q)?),
                    None => None,
                };
                let regex = match &r.regex {
                    Some(re) => Some(
                        regex::RegexBuilder::new(re.get_ref())
                            .size_limit(1 << 20)
                            .dfa_size_limit(4 << 20)
                            .build()
                            .map_err(|e| {
                                let msg = e
                                    .to_string()
                                    .lines()
                                    .last()
                                    .unwrap_or("invalid regex")
                                    .trim()
                                    .trim_start_matches("error: ")
                                    .to_lowercase();
                                c.err(
                                    Some(re.span()),
                                    Some(&cid),
                                    Some(&rid),
                                    format!("bad regex: {msg}"),
                                )
                            })?,
                    ),
                    None => None,
                };
                let scope = r
                    .scope
                    .iter()
                    .map(|(field, values)| {
                        let (deny, allow): (Vec<String>, Vec<String>) = values
                            .iter()
                            .map(|v| v.to_lowercase())
                            .partition(|v| v.starts_with('!'));
                        (
                            field.clone(),
                            allow,
                            deny.into_iter().map(|d| d[1..].to_string()).collect(),
                        )
                    })
                    .collect();
                let mut trigger = query.as_ref().and_then(Trigger::of);
                let mut literals = None;
                if let (None, Some(re)) = (&query, &regex) {
                    match prefilter(re.as_str()) {
                        // The rule is triggered like a query by the terms of
                        // its word literals, which forms are given once each.
                        Prefilter::Words(ls) => {
                            let ids = ls.iter().map(|l| c.word_literal_id(l)).collect();
                            trigger = Some(Trigger::Terms(ids));
                        }
                        Prefilter::Text(ls) => literals = Some(ls),
                        Prefilter::None => {}
                    }
                }
                text_literals.push(literals);
                let mut trigger_options = Vec::new();
                if let Some(t) = &trigger {
                    t.sets(&mut trigger_options);
                }
                rules.push(Rule {
                    code: ci,
                    id: rid.clone(),
                    query,
                    regex,
                    unless,
                    scope,
                    trigger_options,
                    trigger,
                });
                rule_ids.push(rid);
            }
            codes.push(Code {
                id: cid,
                name: code.name.clone(),
                parent: code.parent.as_ref().map(|p| p.get_ref().clone()),
                description: code.description.clone().unwrap_or_default(),
                include: code.include.clone().unwrap_or_default(),
                exclude: code.exclude.clone().unwrap_or_default(),
                examples: code.examples.clone(),
                colour: code.colour.clone(),
                rules: rule_ids,
                depth: 0,
            });
        }
        // Depths, and no cycles in the tree.
        for i in 0..codes.len() {
            let mut depth = 0;
            let mut cur = codes[i].parent.clone();
            while let Some(p) = cur {
                depth += 1;
                if depth > codes.len() {
                    return Err(c.err(
                        Some(raw.code[i].id.span()),
                        Some(&codes[i].id),
                        None,
                        "the parent chain forms a cycle".into(),
                    ));
                }
                cur = codes[ids[&p]].parent.clone();
            }
            codes[i].depth = depth;
        }
        let term_rules = trigger_table(&rules, c.terms.len(), |_| 0, Trigger::first);
        let mut always = Vec::new();
        let mut literals: Vec<String> = Vec::new();
        let mut literal_rules: Vec<Vec<usize>> = Vec::new();
        let mut regex_always = Vec::new();
        for (i, r) in rules.iter().enumerate() {
            if r.query.is_some() || r.trigger.is_some() {
                // Rules with trigger sets (queries, and regexes triggered by
                // word literals) are in `term_rules`.
                if r.trigger_options.is_empty() {
                    always.push(i);
                }
            } else {
                match text_literals[i].take() {
                    Some(lits) => {
                        for l in lits {
                            match literals.iter().position(|x| *x == l) {
                                Some(k) => literal_rules[k].push(i),
                                None => {
                                    literals.push(l);
                                    literal_rules.push(vec![i]);
                                }
                            }
                        }
                    }
                    None => regex_always.push(i),
                }
            }
        }
        let mut plan_terms = Vec::new();
        let plans = rules
            .iter()
            .map(|r| {
                let from = plan_terms.len();
                let direct = r.unless.is_none()
                    && r.regex.is_none()
                    && r.scope.is_empty()
                    && r.query
                        .as_ref()
                        .is_some_and(|q| direct_terms(q, &mut plan_terms));
                let n = sort_dedup(&mut plan_terms[from..]);
                plan_terms.truncate(from + n);
                if direct && n == 1 {
                    let term = plan_terms[from];
                    plan_terms.truncate(from);
                    Plan::Term {
                        code: r.code as u32,
                        term,
                    }
                } else if direct && n > 0 {
                    Plan::Terms {
                        code: r.code as u32,
                        from: from as u32,
                        to: plan_terms.len() as u32,
                    }
                } else {
                    plan_terms.truncate(from);
                    // A rule fires only where a term of each of its trigger sets
                    // occurs; one set is the trigger, the others are checked
                    // before the query is evaluated: each as its length, then
                    // its terms.
                    if r.query.is_some() && r.trigger_options.len() > 1 {
                        for set in &r.trigger_options {
                            plan_terms.push(set.len() as u32);
                            plan_terms.extend_from_slice(set);
                        }
                    }
                    Plan::General {
                        from: from as u32,
                        to: plan_terms.len() as u32,
                    }
                }
            })
            .collect();
        let regex_prefilter = if literals.is_empty() {
            None
        } else {
            Some(
                aho_corasick::AhoCorasick::new(&literals)
                    .map_err(|e| c.err(None, None, None, format!("regex prefilter: {e}")))?,
            )
        };
        Ok(Codebook {
            meta: Meta {
                id: raw.codebook.id.clone(),
                name: raw
                    .codebook
                    .name
                    .clone()
                    .unwrap_or_else(|| raw.codebook.id.clone()),
                version: raw.codebook.version.clone(),
                description: raw.codebook.description.clone().unwrap_or_default(),
            },
            codes,
            rules,
            terms: c.terms,
            exact_forms: c.exact_forms,
            prefixes: c.prefixes,
            word_literals: c.word_literals,
            term_rules,
            always,
            regex_prefilter,
            literal_rules,
            regex_always,
            plans,
            plan_terms,
            source: src.to_string(),
            warm: WarmPool::default(),
        })
    }

    /// Number of rules.
    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    /// Whether any rule has a `where` scope, so that a text's context matters.
    pub fn uses_context(&self) -> bool {
        self.rules.iter().any(|r| !r.scope.is_empty())
    }

    /// The fields the rules' `where` scopes look at, each once, sorted: the only
    /// ones a passage's context needs.
    pub fn context_fields(&self) -> Vec<&str> {
        let mut fields: Vec<&str> = self
            .rules
            .iter()
            .flat_map(|r| r.scope.iter().map(|(f, _, _)| f.as_str()))
            .collect();
        fields.sort_unstable();
        fields.dedup();
        fields
    }

    /// (code id, rule id) of rule `i`.
    pub fn rule_name(&self, i: usize) -> (&str, &str) {
        (&self.codes[self.rules[i].code].id, &self.rules[i].id)
    }

    /// Code one text. For many texts, make one [`Matcher`] and reuse it.
    /// This codebook's terms of the forms of vocabulary `lines` (each a
    /// lower-case form and the terms its analysis gives, full then parts,
    /// separated by tabs; a line without a term is skipped). A form listed
    /// twice keeps its first line.
    pub fn known_forms(&self, lines: &str) -> KnownForms {
        let mut known = KnownForms::default();
        for line in lines.lines() {
            let Some((form, terms)) = line.split_once('\t') else {
                continue;
            };
            if known.text.len() + form.len() > u32::MAX as usize
                || known.ids.len() + terms.len() > u32::MAX as usize
            {
                // Offsets are u32: forms past that are analysed where they occur.
                break;
            }
            let std::collections::hash_map::Entry::Vacant(slot) =
                known.slots.entry(KnownForms::hash(form))
            else {
                continue;
            };
            let from = known.ids.len();
            for t in terms.split('\t') {
                if let Some(&id) = self.terms.get(t) {
                    if !known.ids[from..].contains(&id) {
                        known.ids.push(id);
                    }
                }
            }
            slot.insert(known.entries.len() as u32);
            let a = known.text.len();
            known.text.push_str(form);
            known.entries.push([
                a as u32,
                known.text.len() as u32,
                from as u32,
                known.ids.len() as u32,
            ]);
        }
        known
    }

    pub fn apply(&self, text: &str, ctx: &Context) -> Vec<Hit> {
        Matcher::new(self).apply(text, ctx)
    }
}

/// The number of worker threads to use when none is given: one per core, at most 8.
/// The codebook terms of the word forms of a vocabulary (an index keeps one:
/// each lower-case form it met with its terms), for a [`Matcher`] to take
/// instead of analysing a form it has not met. Built for one codebook.
#[derive(Debug, Default)]
pub struct KnownForms {
    /// By the hash of a lower-case form: its entry. Of two forms with one hash
    /// only the first is held (the other is analysed where it occurs).
    slots: FxHashMap<u64, u32>,
    /// Each form's range of `text` and range of `ids`.
    entries: Vec<[u32; 4]>,
    text: String,
    ids: Vec<u32>,
}

impl KnownForms {
    /// The forms held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn hash(form: &str) -> u64 {
        use std::hash::BuildHasher;
        rustc_hash::FxBuildHasher.hash_one(form)
    }

    /// Every form held, with its codebook term ids, in the order added.
    fn iter(&self) -> impl Iterator<Item = (&str, &[u32])> + '_ {
        self.entries.iter().map(|&[a, b, from, to]| {
            (
                &self.text[a as usize..b as usize],
                &self.ids[from as usize..to as usize],
            )
        })
    }

    /// The codebook term ids of a lower-case form, if it is held.
    fn get(&self, lower: &str) -> Option<&[u32]> {
        let &e = self.slots.get(&Self::hash(lower))?;
        let [a, b, from, to] = self.entries[e as usize];
        (&self.text[a as usize..b as usize] == lower).then(|| &self.ids[from as usize..to as usize])
    }
}

pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().clamp(1, 8))
}

/// One warm [`Matcher`] per worker thread. `apply_all` codes a batch of texts
/// with all of them at once, each taking a contiguous share, and returns the hits
/// in text order, so the result does not depend on the number of threads.
pub struct Matchers<'a> {
    workers: Vec<Matcher<'a>>,
    min_share: usize,
    /// Emptied hits handed back ([`Matchers::recycle`]), whose buffers hold
    /// the next batch's: a caller coding batch after batch then writes its
    /// hits into memory already mapped.
    spare: Vec<Hits>,
}

/// Text a worker thread should have before a batch is split: a new thread starts
/// with cold analyzer caches, which costs more than it saves on small batches.
const MIN_BYTES_PER_THREAD: usize = 2 << 20;

impl<'a> Matchers<'a> {
    /// `threads` workers (at least one).
    pub fn new(cb: &'a Codebook, threads: usize) -> Matchers<'a> {
        Matchers {
            workers: (0..threads.max(1)).map(|_| Matcher::new(cb)).collect(),
            min_share: MIN_BYTES_PER_THREAD,
            spare: Vec::new(),
        }
    }

    /// Let every worker take a form's codebook terms from `known` before it
    /// analyses the form (the hits are the same when `known` was made from
    /// this build's analysis).
    pub fn with_known_forms(mut self, known: &'a KnownForms) -> Self {
        for w in &mut self.workers {
            w.known = Some(known);
            w.learn_known = true;
        }
        self
    }

    /// Let every worker note each form it had to analyse, in lower case with
    /// the terms of its analysis (the lines of an index's vocabulary), for
    /// [`Matchers::take_noted`].
    pub fn noting(mut self) -> Self {
        for w in &mut self.workers {
            w.noted = Some(String::new());
        }
        self
    }

    /// The lines the workers noted since the last call (see [`Matchers::noting`]).
    pub fn take_noted(&mut self) -> String {
        let mut all = String::new();
        for w in &mut self.workers {
            if let Some(n) = &mut w.noted {
                all.push_str(n);
                n.clear();
            }
        }
        all
    }

    /// Split batches with at least `bytes` of text per thread (default 2 MiB).
    pub fn min_bytes_per_thread(mut self, bytes: usize) -> Self {
        self.min_share = bytes;
        self
    }

    pub fn threads(&self) -> usize {
        self.workers.len()
    }

    /// Keep the buffers of hits this set of matchers gave, for the next batch's.
    pub fn recycle(&mut self, mut hits: Hits) {
        if self.spare.len() < self.workers.len() {
            hits.clear();
            self.spare.push(hits);
        }
    }

    /// The codebook the workers apply.
    pub fn codebook(&self) -> &'a Codebook {
        self.workers[0].cb
    }

    /// Code every text (with its context); the hits come in text order. A
    /// worker's panic is passed on to the caller. A code point without a UTF-8
    /// form (a lone surrogate in a [`Text`]) is coded as U+FFFD.
    ///
    /// # Panics
    /// With more than `u32::MAX` texts, or a text longer than `u32::MAX` bytes.
    pub fn apply_all<T, C>(&mut self, texts: &[T], ctxs: &[C]) -> Hits
    where
        T: ToCode,
        C: std::borrow::Borrow<Context> + Sync,
    {
        match self.apply_all_checked(texts, ctxs, false) {
            Ok(hits) => hits,
            Err(e) => unreachable!("a lossy read of a text failed: {e}"),
        }
    }

    /// [`Matchers::apply_all`], or the first code point of the batch that has
    /// no UTF-8 form: each text is checked as it is coded, so a batch of texts
    /// held as code points is read once, not checked first and coded after.
    ///
    /// # Panics
    /// As [`Matchers::apply_all`].
    pub fn try_apply_all<T, C>(&mut self, texts: &[T], ctxs: &[C]) -> Result<Hits, NotUnicode>
    where
        T: ToCode,
        C: std::borrow::Borrow<Context> + Sync,
    {
        self.apply_all_checked(texts, ctxs, true)
    }

    fn apply_all_checked<T, C>(
        &mut self,
        texts: &[T],
        ctxs: &[C],
        strict: bool,
    ) -> Result<Hits, NotUnicode>
    where
        T: ToCode,
        C: std::borrow::Borrow<Context> + Sync,
    {
        assert_eq!(texts.len(), ctxs.len(), "one context per text");
        assert!(u32::try_from(texts.len()).is_ok(), "at most u32::MAX texts");
        let run = |m: &mut Matcher, mut out: Hits, offset: usize, texts: &[T], ctxs: &[C]| {
            // A text held as code points is written here as UTF-8, one at a time.
            let mut buf = Vec::new();
            let share: usize = texts.iter().map(ToCode::size).sum();
            // After a sixteenth of the text, room for the rest of the hits is
            // reserved at the rate seen so far: large batches then grow their
            // buffers once or twice instead of doubling a dozen times.
            let mut sample = Some((share / 16).max(1 << 20));
            let mut done = 0;
            for (k, (t, c)) in texts.iter().zip(ctxs).enumerate() {
                let text = match t.utf8(&mut buf) {
                    Ok(text) => text,
                    Err((at, code_point)) if strict => {
                        return Err(NotUnicode {
                            text: offset + k,
                            at,
                            code_point,
                        })
                    }
                    Err(_) => t.utf8_lossy(&mut buf),
                };
                m.apply_into(text, c.borrow(), (offset + k) as u32, &mut out);
                done += t.size();
                if sample.is_some_and(|s| done >= s) && done < share {
                    sample = None;
                    let scale =
                        |n: usize| (n as f64 * (share as f64 / done as f64) * 1.05) as usize;
                    out.rows
                        .reserve(scale(out.rows.len()).saturating_sub(out.rows.len()));
                    out.spans
                        .reserve(scale(out.spans.len()).saturating_sub(out.spans.len()));
                }
            }
            Ok(out)
        };
        let n = texts.len();
        let bytes: usize = texts.iter().map(ToCode::size).sum();
        let threads = self
            .workers
            .len()
            .min(bytes / self.min_share.max(1))
            .min(n)
            .max(1);
        let mut outs: Vec<Hits> = (0..threads)
            .map(|_| self.spare.pop().unwrap_or_default())
            .collect();
        if threads == 1 {
            let out = outs.pop().unwrap_or_default();
            return run(&mut self.workers[0], out, 0, texts, ctxs);
        }
        let chunk = n.div_ceil(threads);
        let parts: Vec<Result<Hits, NotUnicode>> = std::thread::scope(|s| {
            let handles: Vec<_> = self
                .workers
                .iter_mut()
                .zip(outs)
                .zip(texts.chunks(chunk).zip(ctxs.chunks(chunk)))
                .enumerate()
                .map(|(i, ((m, out), (t, c)))| s.spawn(move || run(m, out, i * chunk, t, c)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        });
        // The first text without a UTF-8 form is in the first share that has one.
        let mut parts = parts
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?
            .into_iter();
        let mut all = parts.next().unwrap_or_default();
        for mut p in parts {
            all.append(&mut p);
            self.recycle(p);
        }
        Ok(all)
    }
}

/// A text [`Matchers::apply_all`] codes: any string, or a [`Text`] held as code
/// points, which is written as UTF-8 just before it is coded into a buffer the
/// worker reuses (so a batch is never copied whole).
pub trait ToCode: Sync {
    /// Its size, in bytes or near it: how a batch is shared between workers.
    fn size(&self) -> usize;
    /// The text as UTF-8, written into `buf` when it is not UTF-8 already; or
    /// the first code point that has no UTF-8 form, as (its index, its value).
    fn utf8<'b>(&'b self, buf: &'b mut Vec<u8>) -> Result<&'b str, (usize, u32)>;
    /// [`ToCode::utf8`], with U+FFFD for a code point without a UTF-8 form.
    fn utf8_lossy<'b>(&'b self, buf: &'b mut Vec<u8>) -> &'b str;
}

impl<T: AsRef<str> + Sync + ?Sized> ToCode for T {
    fn size(&self) -> usize {
        self.as_ref().len()
    }
    fn utf8<'b>(&'b self, _: &'b mut Vec<u8>) -> Result<&'b str, (usize, u32)> {
        Ok(self.as_ref())
    }
    fn utf8_lossy<'b>(&'b self, _: &'b mut Vec<u8>) -> &'b str {
        self.as_ref()
    }
}

impl ToCode for Text<'_> {
    fn size(&self) -> usize {
        self.units()
    }
    fn utf8<'b>(&'b self, buf: &'b mut Vec<u8>) -> Result<&'b str, (usize, u32)> {
        Text::utf8(self, buf)
    }
    fn utf8_lossy<'b>(&'b self, buf: &'b mut Vec<u8>) -> &'b str {
        Text::utf8_lossy(self, buf)
    }
}

/// Text a matcher codes with the codebook's default triggers before it picks
/// each rule's rarest necessary terms from what it has seen.
const TUNE_AFTER_BYTES: usize = 1 << 20;

/// Word forms a matcher remembers before it starts afresh (bounds its memory).
const MATCHER_CACHE_LIMIT: usize = 1 << 20;

/// The length a form's value in a matcher's table of forms has when the form
/// stands for one codebook term: its start is then that term.
const ONE_TERM: u32 = u32::MAX;

/// Applies one codebook to many texts, one thread each. It remembers, for every
/// word form it has seen, which of the codebook's terms the form stands for, so
/// a passage costs one pass of word splitting and one hash lookup per word;
/// rules are evaluated only when one of their terms occurs.
pub struct Matcher<'a> {
    cb: &'a Codebook,
    /// Codebook terms of forms a vocabulary holds, taken instead of analysing.
    known: Option<&'a KnownForms>,
    /// Whether `known` is still to be put into `forms` (before the first passage).
    learn_known: bool,
    /// Forms analysed, with their terms, when the caller asked for them.
    noted: Option<String>,
    /// By codebook term: the rules it triggers. Starts as the codebook's
    /// default; after `TUNE_AFTER_BYTES` of text, each rule is triggered by the
    /// necessary set of terms the matcher has met least (see [`Trigger`]).
    term_rules: TriggerTable,
    /// By codebook term: in how many passages it occurred, until tuned.
    term_passages: Vec<u32>,
    /// Text seen before tuning; None once tuned.
    untuned_bytes: Option<usize>,
    /// Word form as written → range of `arena` holding its codebook term ids,
    /// or its one term and [`ONE_TERM`].
    forms: FormMap,
    arena: Vec<u32>,
    /// Per passage: each word's value in `forms`.
    ranges: Vec<(u32, u32)>,
    // Buffers reused from passage to passage.
    spans: Vec<(usize, usize)>,
    /// (codebook term, word index) in word order, then grouped by term in `occ`.
    raw: Vec<(u32, u32)>,
    occ: Vec<(u32, u32)>,
    /// The passage's codebook terms, each once, in order of first occurrence.
    distinct: Vec<u32>,
    /// `=` and a form's lower case, the key of its exact-form term.
    exact_key: String,
    /// The passage in lower case, for the regex rules' literals.
    lower_text: String,
    /// The merged word positions of a phrase's words that stand for more than
    /// one term, reused from evaluation to evaluation.
    merged: std::cell::RefCell<Vec<(u32, u32)>>,
    marked: RuleSet,
    stamp: u32,
    /// The rules to evaluate for the passage, ascending.
    order: Vec<usize>,
    /// By codebook term (and one more, the term every passage has): where its
    /// entries are in `occ` for the passage with the stamp in `at`, and its
    /// first two rules under `term_rules` (see [`TermSlot`]).
    terms: Vec<TermSlot>,
    /// Word spans of the rule being evaluated, and of its `unless` clause.
    word_spans: Vec<(u32, u32)>,
    unless_spans: Vec<(u32, u32)>,
    /// By eight bytes of a passage: the UTF-8 continuation bytes before them
    /// and their own as bits, for the move from byte to code-point offsets.
    continuations: Vec<u64>,
}

impl<'a> Matcher<'a> {
    pub fn new(cb: &'a Codebook) -> Matcher<'a> {
        let warm = cb.warm.take();
        let Warm {
            term_rules,
            term_passages,
            untuned_bytes,
            forms,
            arena,
        } = warm.unwrap_or_else(|| Warm {
            term_rules: cb.term_rules.clone(),
            term_passages: vec![0; cb.terms.len()],
            untuned_bytes: Some(0),
            forms: FormMap::new(),
            arena: Vec::new(),
        });
        let terms = term_rules.slots();
        Matcher {
            cb,
            known: None,
            learn_known: false,
            noted: None,
            term_rules,
            term_passages,
            untuned_bytes,
            forms,
            arena,
            ranges: Vec::new(),
            spans: Vec::new(),
            raw: Vec::new(),
            occ: Vec::new(),
            distinct: Vec::new(),
            exact_key: String::new(),
            lower_text: String::new(),
            merged: Default::default(),
            // With room for the spare rule.
            marked: RuleSet::new(cb.rules.len() + 1),
            stamp: 0,
            order: Vec::new(),
            // With one for the term every passage has (see `TriggerTable::partners`).
            terms,
            word_spans: Vec::new(),
            unless_spans: Vec::new(),
            continuations: Vec::new(),
        }
    }

    /// The codebook term ids of a form not seen before, added to `arena`: their
    /// range there, or the one term and [`ONE_TERM`].
    #[cold]
    fn codebook_terms(
        cb: &Codebook,
        known: Option<&KnownForms>,
        noted: &mut Option<String>,
        form: &str,
        arena: &mut Vec<u32>,
        exact_key: &mut String,
    ) -> (u32, u32) {
        let lower = form.to_lowercase();
        let start = arena.len() as u32;
        if let Some(ids) = known.and_then(|k| k.get(&lower)) {
            arena.extend_from_slice(ids);
        } else {
            let terms = NorwegianTokenizer.terms(&lower);
            if let Some(n) = noted {
                n.push_str(&lower);
            }
            for t in terms.full.iter().chain(terms.parts.iter()) {
                if let Some(n) = noted {
                    n.push('\t');
                    n.push_str(t);
                }
                if let Some(&id) = cb.terms.get(t.as_str()) {
                    if !arena[start as usize..].contains(&id) {
                        arena.push(id);
                    }
                }
            }
            if let Some(n) = noted {
                n.push('\n');
            }
        }
        Self::form_terms(cb, &lower, start, arena, exact_key)
    }

    /// Adds to the lower-case form's terms, `arena[start..]`, those of its
    /// exact form, prefixes and word literals; the form's value in `forms`.
    fn form_terms(
        cb: &Codebook,
        lower: &str,
        start: u32,
        arena: &mut Vec<u32>,
        exact_key: &mut String,
    ) -> (u32, u32) {
        let add = |arena: &mut Vec<u32>, id: u32| {
            if !arena[start as usize..].contains(&id) {
                arena.push(id);
            }
        };
        if cb.exact_forms {
            exact_key.clear();
            exact_key.push('=');
            exact_key.push_str(lower);
            if let Some(&id) = cb.terms.get(exact_key.as_str()) {
                add(arena, id);
            }
        }
        for (prefix, id) in &cb.prefixes {
            if lower.starts_with(prefix.as_str()) {
                add(arena, *id);
            }
        }
        for (literal, id) in &cb.word_literals {
            if lower.contains(literal.as_str()) {
                add(arena, *id);
            }
        }
        match arena.len() as u32 - start {
            // One term (most forms that have any): the term itself, so that the
            // passage's words need no look into `arena`.
            1 => (arena.pop().unwrap_or_default(), ONE_TERM),
            len => (start, len),
        }
    }

    /// Puts each known form that is its own lower case into `forms`, as written,
    /// with the value its first occurrence would store. A form met for the first
    /// time was otherwise lower-cased into a new string and looked up in the
    /// known forms' hash table, two or three cache misses each, while its
    /// passage waited; here the known forms are read in the order they are held.
    /// Other forms (capitalised, or beyond the cache's limit) are found as before.
    #[cold]
    fn learn_known(&mut self) {
        self.learn_known = false;
        let Some(known) = self.known else { return };
        if self.forms.len() + known.len() >= MATCHER_CACHE_LIMIT {
            return;
        }
        let (cb, arena, exact_key) = (self.cb, &mut self.arena, &mut self.exact_key);
        for (form, ids) in known.iter() {
            let lower = if form.is_ascii() {
                !form.bytes().any(|b| b.is_ascii_uppercase())
            } else {
                form.to_lowercase() == form
            };
            if lower {
                self.forms.insert_new(form, || {
                    let start = arena.len() as u32;
                    arena.extend_from_slice(ids);
                    Self::form_terms(cb, form, start, arena, exact_key)
                });
            }
        }
    }

    /// Triggers each rule by the set of necessary terms that occurred in the
    /// fewest passages so far: a phrase whose first word is common is then
    /// evaluated only where its rarest word occurs. Which rules are evaluated
    /// changes; which match does not.
    #[cold]
    fn tune(&mut self) {
        self.untuned_bytes = None;
        let passages = &self.term_passages;
        let weight = |t: u32| u64::from(passages[t as usize]);
        self.term_rules = trigger_table(
            &self.cb.rules,
            self.term_rules.terms(),
            weight,
            |trigger, out| {
                trigger.lightest(&weight, out);
            },
        );
        self.term_rules.install(&mut self.terms);
    }

    fn mark(&mut self, rule: usize) {
        self.marked.insert(rule as u32);
    }

    /// Code a text. `ctx` gives the fields that rules' `where` scopes test; a field
    /// missing from it fails an allow-list and passes a deny-list.
    pub fn apply(&mut self, text: &str, ctx: &Context) -> Vec<Hit> {
        let mut out = Hits::default();
        self.apply_into(text, ctx, 0, &mut out);
        out.to_vec()
    }

    /// Code a text, adding its hits to `out` as those of text `index`.
    ///
    /// # Panics
    /// When the text is longer than `u32::MAX` bytes.
    pub fn apply_into(&mut self, text: &str, ctx: &Context, index: u32, out: &mut Hits) {
        assert!(
            u32::try_from(text.len()).is_ok(),
            "a text to code is at most u32::MAX bytes"
        );
        let cb = self.cb;
        if self.learn_known {
            self.learn_known();
        }
        // One pass over the words: word spans and the rule terms present at each position.
        let mut spans = std::mem::take(&mut self.spans);
        split_words(text, &mut spans);
        self.raw.clear();
        if self.forms.len() >= MATCHER_CACHE_LIMIT {
            self.forms.clear();
            self.arena.clear();
        }
        let (arena, exact_key, known, noted) = (
            &mut self.arena,
            &mut self.exact_key,
            self.known,
            &mut self.noted,
        );
        self.forms.look_up(text, &spans, &mut self.ranges, |form| {
            Self::codebook_terms(cb, known, noted, form, arena, exact_key)
        });
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            // Stamps start at 1, so 0 is never a passage's stamp.
            self.terms.iter_mut().for_each(|t| t.at.0 = 0);
            self.stamp = 1;
        }
        let stamp = self.stamp;
        // The words' terms, in word order. Most words have no term or one: each
        // is written without a branch on which (with a large codebook, such a
        // branch mispredicts at every few words), and `n` moves past it only
        // when it is a term. The rare word with several takes the branch.
        let words = self.ranges.len();
        self.raw.clear();
        self.raw.resize(words, (0, 0));
        let mut n = 0;
        for (i, &(start, len)) in self.ranges.iter().enumerate() {
            if len != 0 && len != ONE_TERM {
                let terms = &self.arena[start as usize..(start + len) as usize];
                // Room for these and one for each word after.
                let room = n + terms.len() + (words - i - 1);
                if self.raw.len() < room {
                    self.raw.resize(room, (0, 0));
                }
                for &term in terms {
                    self.raw[n] = (term, i as u32);
                    n += 1;
                }
                continue;
            }
            self.raw[n] = (start, i as u32);
            n += usize::from(len == ONE_TERM);
        }
        self.raw.truncate(n);
        // Count each term's occurrences, and list the passage's terms once each;
        // the stamp tells a term first seen in this passage, again without a
        // branch.
        self.distinct.clear();
        self.distinct.resize(n, 0);
        let mut d = 0;
        for &(term, _) in &self.raw {
            let at = &mut self.terms[term as usize].at;
            let first = at.0 != stamp;
            self.distinct[d] = term;
            d += usize::from(first);
            at.2 = at.2 * u32::from(!first) + 1;
            at.0 = stamp;
        }
        self.distinct.truncate(d);
        self.spans = spans;
        for k in 0..cb.always.len() {
            self.mark(cb.always[k]);
        }
        // Rules are marked once per distinct term, not per occurrence, where
        // their partners occur too (every passage has the last term's).
        let always = self.terms.len() - 1;
        self.terms[always].at.0 = stamp;
        for &term in &self.distinct {
            self.term_rules
                .mark(term, &mut self.marked, &self.terms, stamp);
        }
        if let Some(seen) = self.untuned_bytes {
            for &t in &self.distinct {
                self.term_passages[t as usize] += 1;
            }
            self.untuned_bytes = Some(seen + text.len());
            if seen + text.len() >= TUNE_AFTER_BYTES {
                self.tune();
            }
        }
        for k in 0..cb.regex_always.len() {
            self.mark(cb.regex_always[k]);
        }
        if let Some(ac) = &cb.regex_prefilter {
            // Regex rules run only where one of their required literals occurs.
            let lower = lowercase_into(text, &mut self.lower_text);
            for m in ac.find_overlapping_iter(lower) {
                for &r in &cb.literal_rules[m.pattern().as_usize()] {
                    self.marked.insert(r as u32);
                }
            }
        }
        self.marked.drain_into(&mut self.order);
        if self.order.last() == Some(&cb.rules.len()) {
            // The spare rule: it stands for rules terms lack.
            self.order.pop();
        }
        if self.order.is_empty() {
            return;
        }
        // Group the occurrences by term, each group in word order: a counting
        // sort over the passage's distinct terms (`terms` hold the counts).
        let mut next = 0;
        for &term in &self.distinct {
            let at = &mut self.terms[term as usize].at;
            let count = at.2;
            *at = (stamp, next, next);
            next += count;
        }
        self.occ.clear();
        self.occ.resize(next as usize, (0, 0));
        for &(term, word) in &self.raw {
            let at = &mut self.terms[term as usize].at;
            self.occ[at.2 as usize] = (term, word);
            at.2 += 1;
        }
        let view = View {
            occ: &self.occ,
            merged: &self.merged,
            terms: &self.terms,
            stamp: self.stamp,
        };
        let (mut word_spans, mut unless_spans) = (
            std::mem::take(&mut self.word_spans),
            std::mem::take(&mut self.unless_spans),
        );
        let first_span = out.spans.len();
        for &ri in &self.order {
            let words = &self.spans;
            let start = out.spans.len();
            let direct = match cb.plans[ri] {
                Plan::Term { code, term } => {
                    // The rule's hit is every word where its term occurs; a
                    // term's words are ascending and distinct, so are their spans.
                    out.spans.extend(
                        view.entries(term)
                            .iter()
                            .map(|&(_, w)| byte_span(words, (w, w))),
                    );
                    Some(code)
                }
                Plan::Terms { code, from, to } => {
                    // The rule's hit is every word where one of its terms occurs.
                    word_spans.clear();
                    for &t in &cb.plan_terms[from as usize..to as usize] {
                        word_spans.extend(view.entries(t).iter().map(|&(_, w)| (w, w)));
                    }
                    let n = sort_dedup(&mut word_spans);
                    out.spans
                        .extend(word_spans[..n].iter().map(|&ws| byte_span(words, ws)));
                    Some(code)
                }
                Plan::General { from, to } => {
                    // Evaluated only where a term of each trigger set occurs.
                    let (mut k, to) = (from as usize, to as usize);
                    let present = |t: &u32| self.terms[*t as usize].at.0 == stamp;
                    while k < to {
                        let n = cb.plan_terms[k] as usize;
                        if !cb.plan_terms[k + 1..k + 1 + n].iter().any(present) {
                            break;
                        }
                        k += 1 + n;
                    }
                    if k < to {
                        continue;
                    }
                    None
                }
            };
            if let Some(code) = direct {
                if out.spans.len() > start {
                    out.rows.push(HitRow {
                        text: index,
                        code,
                        rule: ri as u32,
                        from: start as u32,
                        to: out.spans.len() as u32,
                    });
                }
                continue;
            }
            let r = &cb.rules[ri];
            if !scope_ok(&r.scope, ctx) {
                continue;
            }
            word_spans.clear();
            if let Some(q) = &r.query {
                if !eval(q, &view, &mut word_spans) {
                    continue;
                }
            }
            if let Some(u) = &r.unless {
                unless_spans.clear();
                if eval(u, &view, &mut unless_spans) {
                    continue;
                }
            }
            let from = out.spans.len();
            out.spans
                .extend(word_spans.iter().map(|&ws| byte_span(&self.spans, ws)));
            if let Some(re) = &r.regex {
                let before = out.spans.len();
                out.spans.extend(
                    re.find_iter(text)
                        .map(|m| (m.start() as u32, m.end() as u32)),
                );
                if out.spans.len() == before {
                    out.spans.truncate(from);
                    continue;
                }
            }
            if out.spans.len() == from {
                out.spans.push((0, text.len() as u32));
            }
            let end = from + sort_dedup(&mut out.spans[from..]);
            out.spans.truncate(end);
            out.rows.push(HitRow {
                text: index,
                code: r.code as u32,
                rule: ri as u32,
                from: from as u32,
                to: end as u32,
            });
        }
        self.word_spans = word_spans;
        self.unless_spans = unless_spans;
        to_char_offsets(text, &mut out.spans[first_span..], &mut self.continuations);
    }
}

impl Drop for Matcher<'_> {
    /// Hands what the matcher learnt (word forms, tuned triggers) back to its
    /// codebook, for the next matcher.
    fn drop(&mut self) {
        self.cb.warm.put(Warm {
            term_rules: std::mem::take(&mut self.term_rules),
            term_passages: std::mem::take(&mut self.term_passages),
            untuned_bytes: self.untuned_bytes,
            forms: std::mem::replace(&mut self.forms, FormMap::empty()),
            arena: std::mem::take(&mut self.arena),
        });
    }
}

/// What a [`Matcher`] learns while it works, kept by its codebook between
/// calls: the codebook terms of every word form met, and the tuned triggers.
/// Only ever built for that codebook.
struct Warm {
    term_rules: TriggerTable,
    term_passages: Vec<u32>,
    untuned_bytes: Option<usize>,
    forms: FormMap,
    arena: Vec<u32>,
}

/// The [`Warm`] states of matchers that have finished, one per worker thread
/// at most, so that a codebook applied batch after batch (a notebook's loop,
/// autocoding) does not look every word form up again. A clone starts cold.
#[derive(Default)]
struct WarmPool(std::sync::Mutex<Vec<Warm>>);

/// Warm states kept at most (one per worker thread, see [`default_threads`]).
const WARM_KEPT: usize = 8;

/// Word forms a warm state may hold to be kept (its tables are then at most
/// about 16 MiB for the short forms and 32 MiB for the long ones).
const WARM_FORMS_KEPT: usize = 1 << 18;

impl WarmPool {
    fn take(&self) -> Option<Warm> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).pop()
    }

    fn put(&self, w: Warm) {
        // A matcher that met a very large vocabulary is not kept: its table
        // would stay in memory for as long as the codebook lives.
        if w.forms.len() > WARM_FORMS_KEPT {
            return;
        }
        let mut pool = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < WARM_KEPT {
            pool.push(w);
        }
    }
}

impl Clone for WarmPool {
    fn clone(&self) -> Self {
        WarmPool::default()
    }
}

impl fmt::Debug for WarmPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WarmPool")
    }
}

/// The byte span from the start of word `a` to the end of word `b`.
#[inline]
fn byte_span(words: &[(usize, usize)], (a, b): (u32, u32)) -> (u32, u32) {
    (words[a as usize].0 as u32, words[b as usize].1 as u32)
}

/// Sorts `v` and moves its distinct values to the front; returns their count.
fn sort_dedup<T: Ord + Copy>(v: &mut [T]) -> usize {
    // Most hits' spans come out of the matcher ascending already.
    if v.windows(2).all(|w| w[0] < w[1]) {
        return v.len();
    }
    v.sort_unstable();
    let mut n = 0;
    for i in 0..v.len() {
        if n == 0 || v[i] != v[n - 1] {
            v[n] = v[i];
            n += 1;
        }
    }
    n
}

/// Turns the byte offsets of a passage's hits into code-point offsets, in place.
/// A code point's offset is its byte offset less the UTF-8 continuation bytes
/// before it. One pass over the text up to the last offset (16 bytes at a
/// time) notes, for each eight bytes, how many continuation bytes came before
/// them and which of them are one; each offset is then two looks. (A binary
/// search per offset over the continuation bytes' places took an eighth of the
/// extra matching work of a 1,000-rule book.)
fn to_char_offsets(text: &str, spans: &mut [(u32, u32)], eights: &mut Vec<u64>) {
    let Some(end) = spans.iter().map(|s| s.1).max() else {
        return;
    };
    let bytes = &text.as_bytes()[..(end as usize).min(text.len())];
    // Per eight bytes: the continuation bytes before them, shifted up by 8,
    // and a bit for each of theirs; one more after the last.
    let whole = bytes.len() / 16;
    eights.clear();
    eights.resize(bytes.len().div_ceil(8) + 1, 0);
    let (pairs, rest) = eights.split_at_mut(2 * whole);
    let mut before = 0u64;
    let mut any = 0;
    for (pair, block) in pairs.chunks_exact_mut(2).zip(bytes.chunks_exact(16)) {
        let bits = continuation_bits(block.try_into().expect("16 bytes"));
        let (low, high) = (bits as u8, (bits >> 8) as u8);
        pair[0] = before << 8 | u64::from(low);
        before += u64::from(BITS_SET[low as usize]);
        pair[1] = before << 8 | u64::from(high);
        before += u64::from(BITS_SET[high as usize]);
        any |= bits;
    }
    for (slot, eight) in rest.iter_mut().zip(bytes[16 * whole..].chunks(8)) {
        let bits = eight
            .iter()
            .enumerate()
            .fold(0u8, |m, (k, &b)| m | u8::from(is_continuation(b)) << k);
        *slot = before << 8 | u64::from(bits);
        before += u64::from(BITS_SET[bits as usize]);
        any |= u16::from(bits);
    }
    if any == 0 {
        return;
    }
    if let Some(last) = rest.last_mut() {
        *last = before << 8;
    }
    let chars = |b: u32| {
        let e = eights[(b / 8) as usize];
        let below = (e as u8) & ((1u8 << (b % 8)) - 1);
        b - (e >> 8) as u32 - u32::from(BITS_SET[below as usize])
    };
    for s in spans {
        *s = (chars(s.0), chars(s.1));
    }
}

/// The number of bits set in each byte value: a look instead of a count where
/// the target has no instruction for it.
const BITS_SET: [u8; 256] = {
    let mut t = [0; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = (i as u8).count_ones() as u8;
        i += 1;
    }
    t
};

fn scope_ok(scope: &[(String, Vec<String>, Vec<String>)], ctx: &Context) -> bool {
    scope
        .iter()
        .all(|(field, allow, deny)| match ctx.get(field) {
            Some(v) => {
                let is = |x: &String| lower_case_is(v, x);
                (allow.is_empty() || allow.iter().any(is)) && !deny.iter().any(is)
            }
            None => allow.is_empty(),
        })
}

/// Whether `v.to_lowercase()` is `lower`, without making it (a scope is checked
/// for every rule it guards that a passage triggers).
fn lower_case_is(v: &str, lower: &str) -> bool {
    if v.is_ascii() {
        // `lower` is lower case: equal ignoring ASCII case is equal to it.
        v.eq_ignore_ascii_case(lower)
    } else if v.contains('Σ') {
        // A word-final capital sigma lowers differently from a lone one.
        v.to_lowercase() == lower
    } else {
        v.chars().flat_map(char::to_lowercase).eq(lower.chars())
    }
}

struct View<'a> {
    /// (term, word index) of every codebook term in the passage, sorted.
    occ: &'a [(u32, u32)],
    /// Room for the merged positions of words with several terms.
    merged: &'a std::cell::RefCell<Vec<(u32, u32)>>,
    /// Where each term's entries are in `occ` (valid where the stamp matches).
    terms: &'a [TermSlot],
    stamp: u32,
}

impl View<'_> {
    /// Word indexes where `term` occurs, ascending.
    fn positions(&self, term: u32) -> impl Iterator<Item = u32> + '_ {
        self.entries(term).iter().map(|&(_, p)| p)
    }

    /// The (term, word index) entries of `term`: a slice of `occ`, ascending by
    /// word index.
    fn entries(&self, term: u32) -> &[(u32, u32)] {
        match self.terms.get(term as usize).map(|s| s.at) {
            Some((stamp, from, to)) if stamp == self.stamp => &self.occ[from as usize..to as usize],
            _ => &[],
        }
    }

    /// Like [`View::at`], as (_, word index) entries; borrowed when there is one
    /// alternative, so that a phrase of single terms allocates nothing per word.
    fn at_entries(&self, alts: &[u32]) -> std::borrow::Cow<'_, [(u32, u32)]> {
        if let [one] = alts {
            return std::borrow::Cow::Borrowed(self.entries(*one));
        }
        let mut v: Vec<(u32, u32)> = alts
            .iter()
            .flat_map(|&a| self.entries(a).iter().map(|&(_, p)| (0, p)))
            .collect();
        v.sort_unstable_by_key(|e| e.1);
        v.dedup_by_key(|e| e.1);
        std::borrow::Cow::Owned(v)
    }

    /// Adds to `out` the word-index spans where `ws` occur in order with at most
    /// `slop` extra words between.
    fn phrase(&self, ws: &[Vec<u32>], slop: u32, out: &mut Vec<(u32, u32)>) {
        // Most phrases are of single-term words that do not all occur: say so
        // before anything is gathered.
        if ws
            .iter()
            .any(|w| w.iter().all(|&t| self.entries(t).is_empty()))
        {
            return;
        }
        // A phrase without words (`""`, or only punctuation) matches nothing.
        if ws.is_empty() {
            return;
        }
        // Phrases of up to eight words (nearly all) allocate nothing: a word of
        // one term borrows its list, the positions of a word of several terms
        // are merged into a buffer reused from evaluation to evaluation.
        if ws.len() <= 8 {
            let mut merged = self.merged.borrow_mut();
            merged.clear();
            let mut ranges = [None; 8];
            for (range, w) in ranges.iter_mut().zip(ws) {
                if w.len() > 1 {
                    let from = merged.len();
                    for &t in w {
                        merged.extend(self.entries(t).iter().map(|&(_, p)| (0, p)));
                    }
                    let n = sort_dedup(&mut merged[from..]);
                    merged.truncate(from + n);
                    *range = Some((from, merged.len()));
                }
            }
            let mut lists: [&[(u32, u32)]; 8] = [&[]; 8];
            for ((l, w), range) in lists.iter_mut().zip(ws).zip(ranges) {
                *l = match range {
                    Some((a, b)) => &merged[a..b],
                    None => self.entries(w[0]),
                };
            }
            return Self::phrase_in(&lists[..ws.len()], slop, out);
        }
        let lists: Vec<std::borrow::Cow<'_, [(u32, u32)]>> =
            ws.iter().map(|w| self.at_entries(w)).collect();
        let lists: Vec<&[(u32, u32)]> = lists.iter().map(|l| l.as_ref()).collect();
        Self::phrase_in(&lists, slop, out);
    }

    /// [`View::phrase`] over the words' lists of (_, word index) entries.
    fn phrase_in(lists: &[&[(u32, u32)]], slop: u32, out: &mut Vec<(u32, u32)>) {
        for &(_, start) in lists[0].iter() {
            let mut prev = start;
            let mut used = 0u32;
            let mut ok = true;
            for l in &lists[1..] {
                // The first position after `prev` leaves the least gap: if it
                // is too far, every later one is too.
                let next = l.get(l.partition_point(|&(_, p)| p <= prev));
                match next.filter(|&&(_, p)| p - prev - 1 + used <= slop) {
                    Some(&(_, p)) => {
                        used += p - prev - 1;
                        prev = p;
                    }
                    None => {
                        ok = false;
                        break;
                    }
                }
            }
            if ok {
                out.push((start, prev));
            }
        }
    }
}

/// Adds the word spans where `n` matches to `out` and says whether it matched;
/// when it did not, `out` is left as it was. (A match can have no spans: `NOT`
/// and a rule without a query match the passage as a whole.)
fn eval(n: &Node, v: &View, out: &mut Vec<(u32, u32)>) -> bool {
    let mark = out.len();
    match n {
        Node::All => true,
        Node::Terms(alts) if alts.len() == 1 => {
            out.extend(v.positions(alts[0]).map(|p| (p, p)));
            out.len() > mark
        }
        Node::Terms(alts) => {
            for &a in alts {
                out.extend(v.positions(a).map(|p| (p, p)));
            }
            let n = sort_dedup(&mut out[mark..]);
            out.truncate(mark + n);
            out.len() > mark
        }
        Node::Phrase(ws, slop) => {
            v.phrase(ws, *slop, out);
            out.len() > mark
        }
        Node::Near(a, b, n) => {
            // The spans of `a`, then those of `b`, then the matches go to the
            // end of `out`; the matches are moved down to `mark` at the end.
            v.phrase(a, 0, out);
            let a_end = out.len();
            if a_end == mark {
                return false;
            }
            v.phrase(b, 0, out);
            let b_end = out.len();
            // For each span of `a`, only the spans of `b` starting within its
            // window can be near it (a `b` span is exactly `b.len()` words long).
            out[a_end..b_end].sort_unstable();
            let reach = n.saturating_add(b.len() as u32);
            for i in mark..a_end {
                let (a0, a1) = out[i];
                let sb = &out[a_end..b_end];
                let from = a_end + sb.partition_point(|&(b0, _)| b0 < a0.saturating_sub(reach));
                for j in from..b_end {
                    let (b0, b1) = out[j];
                    if b0 > a1.saturating_add(n.saturating_add(1)) {
                        break;
                    }
                    let gap = if b0 > a1 {
                        b0 - a1 - 1
                    } else if a0 > b1 {
                        a0 - b1 - 1
                    } else {
                        continue;
                    };
                    if gap <= *n {
                        out.push((a0.min(b0), a1.max(b1)));
                    }
                }
            }
            out.copy_within(b_end.., mark);
            out.truncate(mark + (out.len() - b_end));
            out.len() > mark
        }
        Node::And(items) => {
            for i in items {
                if !eval(i, v, out) {
                    out.truncate(mark);
                    return false;
                }
            }
            true
        }
        Node::Or(items) => {
            let mut any = false;
            for i in items {
                any |= eval(i, v, out);
            }
            any
        }
        Node::Not(inner) => {
            let matched = eval(inner, v, out);
            out.truncate(mark);
            !matched
        }
    }
}

impl Codebook {
    /// Hits as JSON (`[{"code", "rule", "spans"}]`), the shape of the rule test cases.
    pub fn hits_json(&self, hits: &[Hit]) -> serde_json::Value {
        serde_json::Value::Array(
            hits.iter()
                .map(|h| {
                    let (code, rule) = self.rule_name(h.rule);
                    serde_json::json!({"code": code, "rule": rule, "spans": h.spans})
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::{prefilter, to_char_offsets, Codebook, Context, Matchers, Plan, Prefilter};

    /// A test codebook: the header, then `codes`.
    fn book(codes: &str) -> Codebook {
        let src = format!("format = 1\n[codebook]\nid = \"t\"\nversion = \"1\"\n{codes}");
        Codebook::parse(&src, false, None).unwrap()
    }

    /// A codebook of one code per query, `c0`, `c1`, …, each with that query as
    /// its one rule (rule `i` is query `i`).
    fn book_of_queries(queries: &[&str]) -> Codebook {
        let mut src = String::new();
        for (i, q) in queries.iter().enumerate() {
            src += &format!(
                "[[code]]\nid = \"c{i}\"\nname = \"c\"\n  [[code.rule]]\n  query = {q:?}\n"
            );
        }
        book(&src)
    }

    #[test]
    fn codes_per_text_are_each_text_s_hit_codes_once_in_id_order() {
        // Codes in the book out of id order; two rules of one code.
        let cb = book(
            "[[code]]\nid = \"z.skole\"\nname = \"S\"\n  [[code.rule]]\n  query = \"skole\"\n\
             [[code]]\nid = \"a.jobb\"\nname = \"J\"\n  [[code.rule]]\n  query = \"jobb\"\n\
             \x20 [[code.rule]]\n  id = \"r2\"\n  query = \"sommerjobb\"\n\
             [[code]]\nid = \"m.nav\"\nname = \"N\"\n  [[code.rule]]\n  query = \"nav\"\n",
        );
        let texts = [
            "skolen og sommerjobben, en jobb",
            "ingenting",
            "",
            "NAV og skole",
            "jobb",
        ];
        let hits = Matchers::new(&cb, 1).apply_all(&texts, &vec![Context::new(); texts.len()]);
        let (ends, codes) = hits.codes_per_text(&cb, texts.len() + 1);
        let ids = |i: usize| {
            let from = if i == 0 { 0 } else { ends[i - 1] as usize };
            codes[from..ends[i] as usize]
                .iter()
                .map(|&c| cb.codes[c as usize].id.as_str())
                .collect::<Vec<_>>()
        };
        assert_eq!(ends.len(), texts.len() + 1);
        assert_eq!(ids(0), ["a.jobb", "z.skole"]);
        assert!(ids(1).is_empty() && ids(2).is_empty());
        assert_eq!(ids(3), ["m.nav", "z.skole"]);
        assert_eq!(ids(4), ["a.jobb"]);
        // A text past the batch's has none.
        assert!(ids(5).is_empty());
    }

    #[test]
    fn matchers_give_the_same_hits_in_the_same_order_for_any_thread_count() {
        let cb = book(
            r#"
[[code]]
id = "samarbeid"
name = "Samarbeid"
  [[code.rule]]
  query = "samarbeid OR \"faste møter\""
[[code]]
id = "nav"
name = "NAV"
  [[code.rule]]
  query = "NAV NEAR/3 skole"
  where = { municipality = ["Hamar"] }
"#,
        );
        let words = [
            "samarbeid",
            "skolen",
            "NAV",
            "faste",
            "møter",
            "ungdom",
            "og",
            "med",
        ];
        let texts: Vec<String> = (0..2000)
            .map(|i| {
                (0..(i % 17 + 1))
                    .map(|k| words[(i * 7 + k * 3) % words.len()])
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        let ctxs: Vec<Context> = (0..texts.len())
            .map(|i| {
                Context::from([(
                    "municipality".to_string(),
                    if i % 3 == 0 { "Hamar" } else { "Åsnes" }.to_string(),
                )])
            })
            .collect();
        let one = Matchers::new(&cb, 1).apply_all(&texts, &ctxs);
        assert!(one.len() > 1000, "{}", one.len());
        for threads in [2, 3, 8] {
            let mut m = Matchers::new(&cb, threads).min_bytes_per_thread(1);
            assert_eq!(m.apply_all(&texts, &ctxs), one, "{threads} threads");
            // Warm matchers give the same again, also into recycled buffers.
            let warm = m.apply_all(&texts, &ctxs);
            assert_eq!(warm, one, "{threads} threads, warm");
            m.recycle(warm);
            assert_eq!(
                m.apply_all(&texts, &ctxs),
                one,
                "{threads} threads, recycled"
            );
        }
    }

    #[test]
    fn texts_held_as_code_points_are_coded_as_their_utf8_and_the_first_bad_one_is_named() {
        use crate::decode::{CodePoints, Text};
        let cb = book(
            r#"
[[code]]
id = "jobb"
name = "Jobb"
  [[code.rule]]
  query = "sommerjobb OR lærer"
"#,
        );
        // Every width a holder keeps code points in, on several threads.
        let base = [
            "Læreren ga ham sommerjobb",
            "– sommerjobb i banken",
            "🙂 lærer",
        ];
        let strings: Vec<String> = (0..3000).map(|i| format!("{} {i}", base[i % 3])).collect();
        let latin1: Vec<Vec<u8>> = strings
            .iter()
            .map(|s| {
                s.chars()
                    .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
                    .collect()
            })
            .collect();
        let ucs2: Vec<Vec<u16>> = strings.iter().map(|s| s.encode_utf16().collect()).collect();
        let ucs4: Vec<Vec<u32>> = strings
            .iter()
            .map(|s| s.chars().map(u32::from).collect())
            .collect();
        let held: Vec<Text> = (0..strings.len())
            .map(|i| match i % 3 {
                0 => Text::Points(CodePoints::Latin1(&latin1[i])),
                1 if i % 2 == 0 => Text::Points(CodePoints::Ucs2(&ucs2[i])),
                1 => Text::Utf8(&strings[i]),
                _ => Text::Points(CodePoints::Ucs4(&ucs4[i])),
            })
            .collect();
        let ctxs = vec![Context::new(); strings.len()];
        let want = Matchers::new(&cb, 1).apply_all(&strings, &ctxs);
        assert_eq!(want.len(), 3000);
        for threads in [1, 2, 3] {
            let mut m = Matchers::new(&cb, threads).min_bytes_per_thread(1);
            assert_eq!(m.try_apply_all(&held, &ctxs).unwrap(), want, "{threads}");
            assert_eq!(m.apply_all(&held, &ctxs), want, "{threads}");
        }
        // A lone surrogate late in two threads' shares: the first is named, and
        // a lossy run codes it as U+FFFD, the other characters where they were.
        let lone: Vec<u16> = "x sommerjobb \u{fffd}".encode_utf16().collect();
        let mut lone_bad = lone.clone();
        *lone_bad.last_mut().unwrap() = 0xDC00;
        let mut bad = held.clone();
        bad[2400] = Text::Points(CodePoints::Ucs2(&lone_bad));
        bad[1400] = Text::Points(CodePoints::Ucs2(&lone_bad));
        for threads in [1, 2, 3] {
            let mut m = Matchers::new(&cb, threads).min_bytes_per_thread(1);
            let e = m.try_apply_all(&bad, &ctxs).unwrap_err();
            assert_eq!(
                (e.text, e.at, e.code_point),
                (1400, 13, 0xDC00),
                "{threads}"
            );
            let mut fixed = held.clone();
            fixed[2400] = Text::Points(CodePoints::Ucs2(&lone));
            fixed[1400] = Text::Points(CodePoints::Ucs2(&lone));
            assert_eq!(
                m.apply_all(&bad, &ctxs),
                m.apply_all(&fixed, &ctxs),
                "{threads}"
            );
        }
    }

    #[test]
    fn a_large_batch_gives_each_text_its_own_hits() {
        // Over a mebibyte of text, so that the matcher reserves room for the
        // rest of the batch part-way through.
        let cb = book(
            r#"
[[code]]
id = "bolig"
name = "Bolig"
  [[code.rule]]
  query = "bolig OR \"egen leilighet\""
[[code]]
id = "alle"
name = "Alle"
  [[code.rule]]
  query = "NOT kommunen"
"#,
        );
        let texts: Vec<String> = (0..30_000)
            .map(|i| match i % 4 {
                0 => format!("{i}: Hun fikk «egen leilighet» og en bolig i Åsnes, så bolig igjen."),
                1 => format!("{i}: Kommunen svarte ikke på henvendelsen om bolig i tide."),
                2 => format!("{i}: Ingen treff her, bare vanlig tekst om møter og skole."),
                _ => "kommunen".repeat(i % 7 + 1),
            })
            .collect();
        assert!(texts.iter().map(String::len).sum::<usize>() > 1 << 20);
        let ctxs = vec![Context::new(); texts.len()];
        let all = Matchers::new(&cb, 1).apply_all(&texts, &ctxs);
        let mut m = super::Matcher::new(&cb);
        let mut rows = all.rows().iter().peekable();
        for (i, t) in texts.iter().enumerate() {
            let mut got = Vec::new();
            while let Some(r) = rows.next_if(|r| r.text as usize == i) {
                let spans = all.spans(r).iter().map(|&(a, b)| (a as usize, b as usize));
                got.push(super::Hit {
                    code: r.code as usize,
                    rule: r.rule as usize,
                    spans: spans.collect(),
                });
            }
            assert_eq!(got, m.apply(t, &Context::new()), "text {i}");
        }
        assert!(rows.next().is_none());
        assert!(all.len() > texts.len(), "{}", all.len());
    }

    #[test]
    fn tuned_triggers_change_what_is_evaluated_not_what_matches() {
        // Each rule's first necessary word is common; after a mebibyte the
        // matcher triggers them by their rarer words instead.
        let cb = book(
            r#"
[[code]]
id = "skole"
name = "Skole"
  [[code.rule]]
  query = "\"og skolen\""
[[code]]
id = "nabo"
name = "Nabo"
  [[code.rule]]
  query = "det NEAR/3 naboen"
[[code]]
id = "bolig"
name = "Bolig"
  [[code.rule]]
  query = "og AND bolig AND NOT kommunen"
[[code]]
id = "begge"
name = "Begge"
  [[code.rule]]
  query = "\"det var\" OR (og AND naboen)"
[[code]]
id = "eller"
name = "Eller"
  [[code.rule]]
  query = "\"og skolen\" OR \"det ble\" OR kaldt"
"#,
        );
        let texts: Vec<String> = (0..60_000)
            .map(|i| match i % 6 {
                0 => format!("{i}: Det var kaldt, og skolen stengte; naboen kom og det ble bolig."),
                1 => format!("{i}: Skolen og naboen, og det var det. Kommunen sa bolig."),
                2 => format!("{i}: Det og det og det, og ingenting mer om {i}."),
                3 => format!("{i}: Naboen sa at det var greit å flytte til en bolig."),
                4 => "og det ".repeat(i % 9 + 1),
                _ => format!("{i}: Vi snakket om skolen, om naboen og om bolig."),
            })
            .collect();
        assert!(texts.iter().map(String::len).sum::<usize>() > 2 * super::TUNE_AFTER_BYTES);
        let mut tuned = super::Matcher::new(&cb);
        let mut plain = super::Matcher::new(&cb);
        plain.untuned_bytes = None;
        let (mut a, mut b) = (super::Hits::default(), super::Hits::default());
        for (i, t) in texts.iter().enumerate() {
            tuned.apply_into(t, &Context::new(), i as u32, &mut a);
            plain.apply_into(t, &Context::new(), i as u32, &mut b);
        }
        assert!(tuned.untuned_bytes.is_none());
        assert_ne!(
            tuned.term_rules, cb.term_rules,
            "tuning picked other triggers"
        );
        assert_eq!(plain.term_rules, cb.term_rules);
        // An OR of phrases is triggered by a word of each phrase: the first
        // ones by default, the rarer ones once tuned (not `og` and `det`).
        let (og, det) = (cb.terms["og"], cb.terms["det"]);
        assert!(cb.term_rules.of(og).contains(&4) && cb.term_rules.of(det).contains(&4));
        assert!(!tuned.term_rules.of(og).contains(&4) && !tuned.term_rules.of(det).contains(&4));
        assert_eq!(a, b);
        let codes: std::collections::BTreeSet<u32> = a.rows().iter().map(|r| r.code).collect();
        assert_eq!(codes.len(), 5, "every rule matched somewhere");
    }

    #[test]
    fn a_codebook_keeps_what_its_matchers_learnt() {
        let cb = book(
            r#"
[[code]]
id = "skole"
name = "Skole"
  [[code.rule]]
  query = "\"og skolen\" OR lærerne"
"#,
        );
        let texts: Vec<String> = (0..40_000)
            .map(|i| format!("{i}: Lærerne og skolen, og det var det; og så {}.", i % 97))
            .collect();
        let ctxs = vec![Context::new(); texts.len()];
        let first = Matchers::new(&cb, 2)
            .min_bytes_per_thread(1)
            .apply_all(&texts, &ctxs);
        assert_eq!(cb.warm.0.lock().unwrap().len(), 2);
        let m = super::Matcher::new(&cb);
        assert!(m.untuned_bytes.is_none() && m.forms.len() > 100);
        drop(m);
        let again = Matchers::new(&cb, 2)
            .min_bytes_per_thread(1)
            .apply_all(&texts, &ctxs);
        assert_eq!(first, again);
        assert_eq!(first.len(), texts.len());
        // A clone starts cold.
        assert!(cb.clone().warm.0.lock().unwrap().is_empty());
        // A matcher that met too large a vocabulary is not kept.
        let kept = cb.warm.0.lock().unwrap().len();
        let mut big = super::Matcher::new(&cb);
        big.forms.pretend_len(super::WARM_FORMS_KEPT + 1);
        drop(big);
        assert_eq!(cb.warm.0.lock().unwrap().len(), kept - 1);
    }

    #[test]
    fn rules_of_terms_hit_what_their_general_evaluation_hits() {
        // Each query twice: as it is (evaluated as a plan of terms) and with an
        // `unless` that never matches (evaluated as a whole).
        let queries = [
            "ungdom",
            "samarbeid OR skole OR NAV",
            "tjeneste OR barnevern",
            "arbeidsmarkedspolitikk",
            "kvalitetsforbedringsarbeidsgruppe OR ungdom",
        ];
        let mut src = String::new();
        for (i, q) in queries.iter().enumerate() {
            for general in [false, true] {
                src +=
                    &format!(
                    "[[code]]\nid = \"c{i}{}\"\nname = \"c\"\n  [[code.rule]]\n  query = {q:?}\n{}",
                    if general { "g" } else { "" },
                    if general { "  unless = \"qqqzzz\"\n" } else { "" }
                );
            }
        }
        let cb = book(&src);
        for (r, plan) in cb.plans.iter().enumerate() {
            let direct = matches!(plan, Plan::Term { .. } | Plan::Terms { .. });
            assert_eq!(direct, r % 2 == 0, "rule {r}");
        }
        let words = [
            "ungdommene",
            "ungdomsrådet",
            "samarbeidet",
            "skolen",
            "NAV",
            "helsetjenester",
            "barneverntjenesten",
            "arbeidsmarkedspolitikken",
            "kvalitetsforbedringsarbeidsgruppene",
            "og",
            "i",
            "møter",
        ];
        let texts: Vec<String> = (0..3000)
            .map(|i| {
                (0..(i % 23 + 1))
                    .map(|k| words[(i * 5 + k * 7 + k * k) % words.len()])
                    .collect::<Vec<_>>()
                    .join(if i % 2 == 0 { " " } else { ", «" })
            })
            .collect();
        let fired: usize = pairs_hit_alike(&cb, &texts).iter().sum();
        assert!(fired > 5000, "{fired}");
    }

    /// Codes `texts` with `cb`, whose rules come in pairs (2k, 2k + 1) that must
    /// hit the same texts with the same spans, and checks that they do; returns
    /// how many hits each pair's rules made.
    fn pairs_hit_alike(cb: &Codebook, texts: &[String]) -> Vec<usize> {
        let hits = Matchers::new(cb, 1).apply_all(texts, &vec![Context::new(); texts.len()]);
        let mut by_rule: std::collections::HashMap<(u32, u32), Vec<(u32, u32)>> =
            Default::default();
        for row in hits.rows() {
            by_rule.insert((row.text, row.rule), hits.spans(row).to_vec());
        }
        let mut fired = vec![0; cb.rules.len().div_ceil(2)];
        for (&(text, rule), spans) in &by_rule {
            assert_eq!(
                by_rule.get(&(text, rule ^ 1)),
                Some(spans),
                "text {text} rule {rule}"
            );
            fired[rule as usize / 2] += 1;
        }
        fired
    }

    /// A matcher takes a form's terms from the known forms before it analyses
    /// the form: with a vocabulary made by the analysis the hits are the same,
    /// and a form the vocabulary gives another term hits by that term.
    #[test]
    fn known_forms_stand_in_for_the_analysis_of_the_forms_they_hold() {
        let codes = r#"
[[code]]
id = "krise"
name = "Krise"
  [[code.rule]]
  id = "r1"
  query = 'krise OR barn OR "ingen løsning"'
[[code]]
id = "sak"
name = "Sak"
  [[code.rule]]
  id = "r1"
  query = 'sak NEAR/3 barnehage'
"#;
        // A codebook of its own for each matcher: one keeps what the last learnt.
        let cb = book(codes);
        let texts: Vec<String> = crate::analysis::sample_texts()
            .into_iter()
            .chain(["Finanskrisen rammet saken om barnehagen, og krisa fant ingen løsning.".into()])
            .collect();
        let ctxs = vec![Context::new(); texts.len()];
        let mut lines = String::new();
        for t in &texts {
            for w in crate::analysis::words(t) {
                let a = crate::analysis::analyze_word(&w.lower);
                let terms: Vec<&str> = a.full.iter().chain(&a.parts).map(String::as_str).collect();
                lines.push_str(&format!("{}\t{}\n", w.lower, terms.join("\t")));
            }
        }
        let known = cb.known_forms(&lines);
        assert!(known.len() > 1000, "{}", known.len());
        let plain = Matchers::new(&book(codes), 1).apply_all(&texts, &ctxs);
        let with = Matchers::new(&cb, 1)
            .with_known_forms(&known)
            .apply_all(&texts, &ctxs);
        assert!(plain.len() > 20, "{}", plain.len());
        assert_eq!(with, plain);
        // The vocabulary is taken at its word: *kaos* is listed as *krise*.
        let odd = cb.known_forms("kaos\tkrise\nsaken\tsak\n");
        let texts = ["Det ble kaos.", "Saken er kaos."];
        let hits = Matchers::new(&book(codes), 1)
            .with_known_forms(&odd)
            .apply_all(&texts, &[Context::new(), Context::new()]);
        let codes: Vec<(u32, &str)> = hits
            .rows()
            .iter()
            .map(|r| (r.text, cb.codes[r.code as usize].id.as_str()))
            .collect();
        assert_eq!(codes, [(0, "krise"), (1, "krise")]);
    }

    #[test]
    fn known_forms_in_lower_case_are_learnt_before_the_first_passage_as_a_lookup_would_store_them()
    {
        use super::{Matcher, MATCHER_CACHE_LIMIT, ONE_TERM};
        let cb = book_of_queries(&["krise OR barn", "\"ingen løsning\"", "=saken", "barneh*"]);
        let lines = "krisa\tkrise\nbarnehagen\tbarnehage\tbarn\tbarnehage\nløsning\tløsning\n\
                     saken\tsak\nværet\tvær\nOslo\toslo\n";
        let known = cb.known_forms(lines);
        assert_eq!(known.len(), 6);
        // The terms a value stands for, whatever the arena.
        let terms = |(start, len): (u32, u32), arena: &[u32]| -> Vec<u32> {
            if len == ONE_TERM {
                vec![start]
            } else {
                arena[start as usize..(start + len) as usize].to_vec()
            }
        };
        let mut m = Matcher::new(&cb);
        m.known = Some(&known);
        m.learn_known = true;
        m.apply("-", &Context::new());
        assert!(!m.learn_known);
        for (form, learnt) in [
            ("krisa", true),
            ("barnehagen", true),
            ("løsning", true),
            ("saken", true),
            ("været", true),
            ("Oslo", false),
        ] {
            let mut out = Vec::new();
            let mut missed = false;
            m.forms.look_up(form, &[(0, form.len())], &mut out, |_| {
                missed = true;
                (0, 0)
            });
            assert_eq!(!missed, learnt, "{form}");
            if learnt {
                let (mut arena, mut key) = (Vec::new(), String::new());
                let want = Matcher::codebook_terms(
                    &cb,
                    Some(&known),
                    &mut None,
                    form,
                    &mut arena,
                    &mut key,
                );
                assert_eq!(terms(out[0], &m.arena), terms(want, &arena), "{form}");
            }
        }
        // A matcher whose cache could not hold them all learns none.
        let mut full = Matcher::new(&cb);
        full.forms.pretend_len(MATCHER_CACHE_LIMIT - 3);
        full.known = Some(&known);
        full.learn_known = true;
        full.learn_known();
        assert_eq!(full.forms.len(), MATCHER_CACHE_LIMIT - 3);
    }

    #[test]
    fn char_offsets_count_code_points_before_every_boundary() {
        let texts = [
            "",
            "ascii only, no continuation bytes at all here",
            "æøå ÆØÅ «sitat» – tankestrek, € og 😀 i én setning",
            "😀😀😀😀😀😀😀😀😀",
            "ordet «barnevernstenestene» står på slutten: på",
        ]
        .map(String::from);
        // Longer texts span several 64-byte blocks, with a block's last byte a
        // continuation byte, and a text ending on a block's edge.
        let long = [
            "på ".repeat(70),
            format!("{}æ{}", "a".repeat(62), "b".repeat(100)),
            format!("{}ø", "x".repeat(126)),
            format!("{}😀 og å", "y".repeat(61)),
        ];
        let mut cont = Vec::new();
        for text in texts.iter().chain(&long) {
            let text = text.as_str();
            let bounds: Vec<u32> = (0..=text.len())
                .filter(|&b| text.is_char_boundary(b))
                .map(|b| b as u32)
                .collect();
            // Every boundary as a span's start and as the next one's end.
            let mut spans: Vec<(u32, u32)> = bounds.windows(2).map(|w| (w[0], w[1])).collect();
            spans.push((0, text.len() as u32));
            let want: Vec<(u32, u32)> = spans
                .iter()
                .map(|&(a, b)| {
                    let chars = |x: u32| text[..x as usize].chars().count() as u32;
                    (chars(a), chars(b))
                })
                .collect();
            to_char_offsets(text, &mut spans, &mut cont);
            assert_eq!(spans, want, "{text}");
        }
    }

    #[test]
    fn rules_checked_by_all_their_trigger_sets_hit_what_their_evaluation_hits() {
        // Each query twice: as it is (evaluated only where a term of each of
        // its trigger sets occurs) and OR-ed with a word that never occurs,
        // which leaves one trigger set and so evaluates it wherever that set's
        // terms occur.
        let queries = [
            "skole AND nabo",
            "\"og skolen\" AND NOT bolig",
            "\"naboen kom\"",
            "skole NEAR/2 bolig",
            "(skole OR kommune) AND (nabo OR bolig) AND NOT kaldt",
            "\"det var\" NEAR/4 \"og skolen\"",
            "kommune AND \"flytte til\"",
        ];
        let mut src = String::new();
        for (i, q) in queries.iter().enumerate() {
            for (k, q) in [q.to_string(), format!("({q}) OR qqqzzz")]
                .iter()
                .enumerate()
            {
                src += &format!(
                    "[[code]]\nid = \"c{i}{k}\"\nname = \"c\"\n  [[code.rule]]\n  query = {q:?}\n"
                );
            }
        }
        let cb = book(&src);
        for r in 0..cb.rules.len() {
            let checked = matches!(cb.plans[r], Plan::General { from, to } if to > from);
            assert_eq!(checked, r % 2 == 0, "rule {r}: {:?}", cb.plans[r]);
        }
        let words = [
            "Skolen", "naboen", "kom", "og", "det", "var", "bolig", "kommunen", "kaldt", "flytte",
            "til", "skole", "i", "nabo",
        ];
        let texts: Vec<String> = (0..4000)
            .map(|i| {
                (0..(i % 19 + 1))
                    .map(|k| words[(i * 3 + k * 5 + k * k * (i % 4)) % words.len()])
                    .collect::<Vec<_>>()
                    .join(if i % 3 == 0 { " " } else { ", " })
                    + match i % 5 {
                        0 => ". Det var kaldt, og skolen ville flytte til kommunen.",
                        1 => ". Vi ville flytte til byen; det var og skolen.",
                        _ => "",
                    }
            })
            .collect();
        let fired = pairs_hit_alike(&cb, &texts);
        assert!(fired.iter().all(|&n| n > 20), "{fired:?}");
    }

    #[test]
    fn exact_forms_and_prefixes_hit_the_lower_case_words_they_name() {
        // Exact forms and prefixes are terms a matcher gives each new word form;
        // checked here against the words' lower case, found directly.
        let queries = [
            "=skolen",
            "=Og-Skolen",
            "kom*",
            "ÆR*",
            "=naboen OR bo*",
            "kom* AND NOT =kaldt",
            "=«»",
        ];
        let cb = book_of_queries(&queries);
        let words = [
            "Skolen", "skolens", "og", "OG", "naboen", "NABOEN", "kom", "kommunen", "Kaldt",
            "bolig", "BOR", "Ærlig", "ærend", "æra", "ÆRE", "skole", "sko",
        ];
        let mut fired = vec![0; queries.len()];
        for i in 0..3000usize {
            let text: String = (0..(i % 13 + 1))
                .map(|k| words[(i * 7 + k * 3 + k * k * (i % 5)) % words.len()])
                .collect::<Vec<_>>()
                .join(if i % 2 == 0 { " " } else { ", " });
            let ws: Vec<_> = crate::analysis::words(&text).collect();
            let chars = |b: usize| text[..b].chars().count();
            let at = |k: usize| (chars(ws[k].start), chars(ws[k].end));
            let exact = |form: &str| -> Vec<(usize, usize)> {
                (0..ws.len())
                    .filter(|&k| ws[k].lower == form)
                    .map(at)
                    .collect()
            };
            let prefix = |p: &str| -> Vec<(usize, usize)> {
                (0..ws.len())
                    .filter(|&k| ws[k].lower.starts_with(p))
                    .map(at)
                    .collect()
            };
            let pair: Vec<(usize, usize)> = (0..ws.len().saturating_sub(1))
                .filter(|&k| ws[k].lower == "og" && ws[k + 1].lower == "skolen")
                .map(|k| (at(k).0, at(k + 1).1))
                .collect();
            let mut either = [exact("naboen"), prefix("bo")].concat();
            either.sort_unstable();
            either.dedup();
            let expected = [
                exact("skolen"),
                pair,
                prefix("kom"),
                prefix("ær"),
                either,
                if exact("kaldt").is_empty() {
                    prefix("kom")
                } else {
                    vec![]
                },
                vec![],
            ];
            let hits = cb.apply(&text, &Context::new());
            for (r, want) in expected.iter().enumerate() {
                let got = hits.iter().find(|h| h.rule == r).map(|h| h.spans.clone());
                let want = (!want.is_empty()).then(|| want.clone());
                assert_eq!(got, want, "query {:?} on {text:?}", queries[r]);
                fired[r] += usize::from(want.is_some());
            }
        }
        assert!(fired[..6].iter().all(|&n| n > 50), "{fired:?}");
    }

    #[test]
    fn lower_case_written_into_a_buffer_is_the_standard_library_s() {
        use super::lowercase_into;
        let mut texts: Vec<String> = vec![
            String::new(),
            "ABC".into(),
            "Æ".into(),
            "Ærlig talt, ØYVIND og ÅSE møtte ×-tegnet i ÞÓRR; ß og ÿ står.".into(),
            "Kommunen (PD-NIVÅ: INDIVID) «VANLIG» – 2022".into(),
            "ΟΔΟΣ ΣΟΦΙΑΣ".into(),
            "\u{212A}elvin og İstanbul".into(),
            "Han sa – «JA» – og ’NEI’ … «ЖУРНАЛ» koster 5 € 😀 ǄUNGEL".into(),
            "a".repeat(37) + "Ø" + &"B".repeat(9),
        ];
        // Every character up to U+024F, alone and between ASCII letters.
        for c in (0u32..0x250).filter_map(char::from_u32) {
            texts.push(c.to_string());
            texts.push(format!("Ab{c}Cd EFGHIJKL{c}"));
        }
        let mut buf = String::new();
        for t in &texts {
            assert_eq!(lowercase_into(t, &mut buf), t.to_lowercase(), "{t:?}");
        }
    }

    #[test]
    fn a_scope_compares_lower_case_as_the_standard_library_makes_it() {
        use super::lower_case_is;
        let values = [
            "",
            "Intervjuer",
            "INTERVJUER",
            "intervjuer",
            "Åsnes",
            "ÅSNES",
            "åsnes",
            "Asnes",
            "ΟΔΟΣ",
            "οδος",
            "οδοσ",
            "Σ",
            "\u{212A}ommune",
            "İ",
            "ß",
            "SS",
        ];
        for v in values {
            for w in values {
                let lower = w.to_lowercase();
                assert_eq!(
                    lower_case_is(v, &lower),
                    v.to_lowercase() == lower,
                    "{v:?} {lower:?}"
                );
            }
        }
    }

    #[test]
    fn a_rule_set_gives_its_rules_ascending_once_each_and_empties() {
        use super::{RuleSet, SCAN_ALL_WORDS};
        // Small sets keep a summary word; large ones a list of the words touched.
        for rules in [1, 64, 1000, SCAN_ALL_WORDS * 64 + 1, 50_000] {
            let mut set = RuleSet::new(rules);
            let mut out = Vec::new();
            let mut state = 7u64;
            for round in 0..20 {
                let mut want = std::collections::BTreeSet::new();
                for _ in 0..(round * 7 % 40) {
                    state = state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let r = ((state >> 33) % rules as u64) as u32;
                    set.insert(r);
                    set.insert(r);
                    want.insert(r as usize);
                }
                set.drain_into(&mut out);
                assert_eq!(out, want.into_iter().collect::<Vec<_>>(), "{rules} rules");
                set.drain_into(&mut out);
                assert!(out.is_empty());
            }
        }
    }

    #[test]
    fn a_rule_of_several_trigger_sets_is_marked_only_where_its_partner_occurs_too() {
        use super::RuleSet;
        let queries = [
            "\"epsilon zeta\"",
            "epsilon NEAR/3 eta",
            "epsilon AND NOT zeta",
            "epsilon",
            "\"epsilon eta zeta\"",
            "epsilon AND (zeta OR eta)",
        ];
        let cb = book_of_queries(&queries);
        let term = |w: &str| cb.terms[super::NorwegianTokenizer.terms(w).full[0].as_str()];
        let (epsilon, zeta, eta) = (term("epsilon"), term("zeta"), term("eta"));
        let spare = cb.rule_count();
        let marked = |present: &[u32]| {
            let mut at = cb.term_rules.slots();
            for &t in present.iter().chain([&(cb.term_rules.terms() as u32)]) {
                at[t as usize].at.0 = 7;
            }
            let mut set = RuleSet::new(spare + 1);
            let mut out = Vec::new();
            for &t in present {
                cb.term_rules.mark(t, &mut set, &at, 7);
            }
            set.drain_into(&mut out);
            out.retain(|&r| r != spare);
            out
        };
        // Untuned, each rule is triggered by its first word. Alone, it marks
        // the rules that need nothing else: the negation and the term.
        assert_eq!(marked(&[epsilon]), [2, 3]);
        // The phrase's partner is its other word; the three-word phrase's the
        // first other set (then all its sets are checked as before); the
        // AND's its two-term set, either of whose terms will do.
        assert_eq!(marked(&[epsilon, zeta]), [0, 2, 3, 5]);
        assert_eq!(marked(&[epsilon, eta]), [1, 2, 3, 4, 5]);
        // A partner alone marks nothing: it does not trigger.
        assert_eq!(marked(&[zeta]), Vec::<usize>::new());
        // And the hits are those of the queries.
        let hits = |text: &str| {
            cb.apply(text, &Context::new())
                .into_iter()
                .map(|h| h.rule)
                .collect::<Vec<_>>()
        };
        assert_eq!(hits("epsilon zeta"), [0, 3, 5]);
        assert_eq!(hits("epsilon og eta"), [1, 2, 3, 5]);
        assert_eq!(hits("epsilon eta zeta"), [1, 3, 4, 5]);
        assert_eq!(hits("zeta epsilon zeta eta"), [0, 1, 3, 5]);
    }

    #[test]
    fn a_term_marks_its_rules_and_otherwise_only_the_spare_rule() {
        use super::RuleSet;
        // `alfa` triggers five rules, `beta` two, `gamma` one; a phrase is
        // triggered by one of its words only, so the other triggers none.
        let queries = [
            "alfa",
            "beta",
            "alfa",
            "beta",
            "alfa",
            "gamma",
            "alfa",
            "alfa",
            "\"epsilon zeta\"",
        ];
        let cb = book_of_queries(&queries);
        let spare = cb.rule_count();
        let mut set = RuleSet::new(spare + 1);
        let mut out = Vec::new();
        let mut counts = Vec::new();
        // Every term occurs, so every partner does.
        let mut every = cb.term_rules.slots();
        every.iter_mut().for_each(|s| s.at.0 = 1);
        for term in 0..cb.term_rules.terms() as u32 {
            cb.term_rules.mark(term, &mut set, &every, 1);
            set.drain_into(&mut out);
            let mut want: Vec<usize> = cb.term_rules.of(term).iter().map(|&r| r as usize).collect();
            counts.push(want.len());
            if want.len() < 2 {
                want.push(spare);
            }
            assert_eq!(out, want, "term {term}");
        }
        // Terms of no rule, one, two and more than two were all met.
        for n in [0, 1, 2] {
            assert!(counts.contains(&n), "a term of {n} rules in {counts:?}");
        }
        assert!(
            counts.iter().any(|&n| n > 2),
            "a term of three rules or more in {counts:?}"
        );
    }

    #[test]
    fn regexes_get_literal_prefilters() {
        let words = |ls: &[&str]| Prefilter::Words(ls.iter().map(|l| l.to_string()).collect());
        let text = |ls: &[&str]| Prefilter::Text(ls.iter().map(|l| l.to_string()).collect());
        assert_eq!(prefilter(r"(?i)veldig\s+uvanle?i?g"), words(&["veldig"]));
        // The suffix set is more selective here than the prefix "vi".
        assert_eq!(
            prefilter(r"(?i)vi\s+(?:lykkes|lukkast)"),
            words(&["lykkes", "lukkast"])
        );
        // A leading digit class gives no prefix, but the suffix is usable, and
        // its letters are a word literal.
        assert_eq!(prefilter(r"\d+ prosent"), words(&["prosent"]));
        // Nothing literal at all: the regex is tried on every passage.
        assert_eq!(prefilter(r"\d{11}"), Prefilter::None);
        // A rarer part inside the pattern beats short prefixes and suffixes.
        assert_eq!(
            prefilter(r"(?i)\b(?:vi|me|nav)\s+(?:lykkes|lukkast)\s+(?:ikke|ikkje)\b"),
            words(&["lykkes", "lukkast"])
        );
        // An optional part gives no literal of its own.
        match prefilter(r"ab(?:langtord)?cd") {
            Prefilter::Words(ls) => assert!(ls.iter().all(|l| l.starts_with("ab")), "{ls:?}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(prefilter(r"\bfravær"), words(&["fravær"]));
        // Punctuation around letters: the letters are the word literal, and a
        // literal that contains another of its set is dropped.
        assert_eq!(
            prefilter(r"(?i)\((?:pd-nivå:?\s*)?individ(?:nivå)?\)"),
            words(&["individ"])
        );
        assert_eq!(prefilter(r"(?i)[«]\s*(?:pd-nivå|nivå)"), words(&["nivå"]));
        // Too short a run of letters, or letters of a script whose words the
        // rules may break inside: the passage is searched instead.
        assert_eq!(prefilter(r"(?i)«\s*ja\s*»"), text(&["ja"]));
        assert_eq!(prefilter(r"(?i)привет"), text(&["привет"]));
    }

    /// The codebook the repository ships has regexes whose literals are all
    /// runs of letters: coding with it searches no passage for literals.
    #[test]
    fn the_pd_codebook_s_regexes_are_all_triggered_by_word_forms() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let cb = Codebook::load(&root.join("corpus-sample/codebooks/pd.toml")).unwrap();
        assert!(
            cb.rules
                .iter()
                .filter(|r| r.regex.is_some() && r.query.is_none())
                .count()
                >= 10
        );
        assert!(cb.regex_prefilter.is_none());
        assert!(cb.regex_always.is_empty());
        let literals: Vec<&str> = cb.word_literals.iter().map(|(l, _)| l.as_str()).collect();
        for l in ["individ", "grupp", "vanl", "lykkes"] {
            assert!(literals.contains(&l), "{l} in {literals:?}");
        }
    }

    /// Regex rules triggered by word literals (and those searched for in the
    /// passage) find exactly what their regex finds anywhere in the text,
    /// whatever letters, digits, marks and punctuation surround the literals.
    mod regex_prefilters {
        use super::book;
        use crate::codebook::{prefilter, Context, Prefilter};
        use proptest::prelude::*;

        const PATTERNS: [&str; 8] = [
            r"(?i)\((?:pd-nivå:?\s*)?individ(?:nivå)?\)",
            r"(?i)[«\x22]\s*vanl[ei]g\s*[»\x22]",
            r"\d+ prosent",
            r"(?i)\bkelvin",
            r"(?i)ĳsbaan",
            r"(?i)«\s*ja\s*»",
            r"(?i)aªb",
            r"(?i)(?:vi|me)\s+lykkes",
        ];

        fn codebook() -> crate::codebook::Codebook {
            let mut src = String::new();
            for (i, p) in PATTERNS.iter().enumerate() {
                src.push_str(&format!(
                    "[[code]]\nid = \"c{i}\"\nname = \"C\"\n  [[code.rule]]\n  regex = '{p}'\n"
                ));
            }
            book(&src)
        }

        #[test]
        fn the_patterns_cover_both_kinds_of_prefilter() {
            let kinds: Vec<bool> = PATTERNS
                .iter()
                .map(|p| matches!(prefilter(p), Prefilter::Words(_)))
                .collect();
            assert_eq!(kinds, [true, true, true, true, true, false, true, true]);
        }

        proptest! {
            #[test]
            fn regex_rules_find_what_their_regex_finds(
                parts in proptest::collection::vec(proptest::sample::select(vec![
                    "individ", "INDIVID", "Individ", "nivå", "NIVÅ", "pd", "PD", "(", ")",
                    ":", " ", " ", "-", "«", "»", "\"", "vanlig", "VANLEG", "u", "\u{212a}",
                    "elvin", "KELVIN", "ĳsbaan", "Ĳsbaan", "ª", "a", "b", "ja", "JA", "vi",
                    "me", "lykkes", "4", "12", "prosent", "_", "'", "\u{ad}", "\u{301}",
                    "\u{200d}", "é", "日本", "\n", ".", "ǅ",
                ]), 0..30)
            ) {
                let cb = codebook();
                let text: String = parts.concat();
                let chars = |b: usize| text[..b].chars().count();
                let mut got: Vec<(usize, Vec<(usize, usize)>)> = cb
                    .apply(&text, &Context::new())
                    .into_iter()
                    .map(|h| (h.rule, h.spans))
                    .collect();
                got.sort();
                let want: Vec<(usize, Vec<(usize, usize)>)> = PATTERNS
                    .iter()
                    .enumerate()
                    .filter_map(|(i, p)| {
                        let spans: Vec<(usize, usize)> = regex::Regex::new(p)
                            .unwrap()
                            .find_iter(&text)
                            .map(|m| (chars(m.start()), chars(m.end())))
                            .collect();
                        (!spans.is_empty()).then_some((i, spans))
                    })
                    .collect();
                prop_assert_eq!(got, want, "{:?}", text);
            }
        }
    }
}

//! The query language and its translation to tantivy queries.
//!
//! ```text
//! ungdom samarbeid            both words (AND is implied)
//! ungdom OR barnevern         either
//! ungdom AND NOT skole        NOT works inside any clause, also alone
//! "psykisk helse"             phrase;  "ungdom skole"~3  words within 3 positions, in order
//! ungdom NEAR/5 skole         within 5 words, either order
//! ungdoms*                    prefix of the written word form
//! =ungdommene                 this exact word form, no analysis
//! municipality:Åsnes  speaker_role:intervjuer  document_type:"møtereferat"
//! date:2022*  date:[2022-01-01 TO 2022-06-30]
//! ```
//!
//! Parsing is pure; building needs a searcher only to expand the text's prefixes.

use crate::analysis::{analyze_word, words};
use crate::index::Fields;
use std::collections::BTreeSet;
use std::fmt;
use std::ops::Bound;
use tantivy::query::{
    AllQuery, BooleanQuery, EmptyQuery, InvertedIndexRangeQuery, Occur, PhraseQuery, Query,
    TermQuery,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{Searcher, Term};

/// A query that cannot be parsed or built; `position` is a character offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    pub position: usize,
    pub message: String,
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bad query at character {}: {}",
            self.position + 1,
            self.message
        )
    }
}

impl std::error::Error for QueryError {}

#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    Equals(String),
    Prefix(String),
    Range(Option<String>, Option<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Ast {
    Term(String),
    Exact(String),
    Prefix(String),
    Phrase(String, u32),
    Near(Box<Ast>, Box<Ast>, u32),
    Field(String, FieldValue),
    And(Vec<Ast>),
    Or(Vec<Ast>),
    Not(Box<Ast>),
    All,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    And,
    Or,
    Not,
    Near(u32),
    Quoted(String, Option<u32>),
    Word(String),
}

fn lex(q: &str) -> Result<Vec<(usize, Tok)>, QueryError> {
    let chars: Vec<char> = q.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        match c {
            '(' => {
                out.push((i, Tok::LParen));
                i += 1;
            }
            ')' => {
                out.push((i, Tok::RParen));
                i += 1;
            }
            '"' | '«' | '“' => {
                let close = if c == '"' {
                    '"'
                } else if c == '«' {
                    '»'
                } else {
                    '”'
                };
                let mut j = i + 1;
                while j < chars.len() && chars[j] != close {
                    j += 1;
                }
                if j >= chars.len() {
                    return Err(QueryError {
                        position: start,
                        message: "unclosed quote".into(),
                    });
                }
                let phrase: String = chars[i + 1..j].iter().collect();
                i = j + 1;
                let mut slop = None;
                if i < chars.len() && chars[i] == '~' {
                    let mut k = i + 1;
                    while k < chars.len() && chars[k].is_ascii_digit() {
                        k += 1;
                    }
                    let n: String = chars[i + 1..k].iter().collect();
                    slop = Some(n.parse().map_err(|_| QueryError {
                        position: i,
                        message: "expected a number after ~".into(),
                    })?);
                    i = k;
                }
                out.push((start, Tok::Quoted(phrase, slop)));
            }
            _ => {
                let mut j = i;
                let mut in_brackets = false;
                while j < chars.len() {
                    let d = chars[j];
                    if d == '[' {
                        in_brackets = true;
                    }
                    if d == ']' {
                        in_brackets = false;
                    }
                    if !in_brackets && (d.is_whitespace() || d == '(' || d == ')') {
                        break;
                    }
                    if d == '"' && j > i && chars[j - 1] == ':' {
                        // field:"quoted value"
                        let mut k = j + 1;
                        while k < chars.len() && chars[k] != '"' {
                            k += 1;
                        }
                        j = k.min(chars.len() - 1);
                    }
                    j += 1;
                }
                let word: String = chars[i..j].iter().collect();
                i = j;
                let tok = match word.as_str() {
                    "AND" | "&&" => Tok::And,
                    "OR" | "||" => Tok::Or,
                    "NOT" => Tok::Not,
                    w if w.starts_with("NEAR/") => {
                        Tok::Near(w[5..].parse().map_err(|_| QueryError {
                            position: start,
                            message: "expected NEAR/<number>".into(),
                        })?)
                    }
                    "NEAR" => Tok::Near(10),
                    _ => Tok::Word(word),
                };
                out.push((start, tok));
            }
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<(usize, Tok)>,
    pos: usize,
    len: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(_, t)| t)
    }
    fn at(&self) -> usize {
        self.toks.get(self.pos).map(|(p, _)| *p).unwrap_or(self.len)
    }
    fn err<T>(&self, msg: impl Into<String>) -> Result<T, QueryError> {
        Err(QueryError {
            position: self.at(),
            message: msg.into(),
        })
    }

    fn or_expr(&mut self, depth: usize) -> Result<Ast, QueryError> {
        let mut items = vec![self.and_expr(depth)?];
        while self.peek() == Some(&Tok::Or) {
            self.pos += 1;
            items.push(self.and_expr(depth)?);
        }
        Ok(if items.len() == 1 {
            items.pop().unwrap()
        } else {
            Ast::Or(items)
        })
    }

    fn and_expr(&mut self, depth: usize) -> Result<Ast, QueryError> {
        let mut items = vec![self.near_expr(depth)?];
        loop {
            match self.peek() {
                Some(Tok::And) => {
                    self.pos += 1;
                    items.push(self.near_expr(depth)?);
                }
                Some(Tok::Or) | Some(Tok::RParen) | None => break,
                _ => items.push(self.near_expr(depth)?),
            }
        }
        Ok(if items.len() == 1 {
            items.pop().unwrap()
        } else {
            Ast::And(items)
        })
    }

    fn near_expr(&mut self, depth: usize) -> Result<Ast, QueryError> {
        let mut left = self.unary(depth)?;
        while let Some(Tok::Near(n)) = self.peek().cloned() {
            self.pos += 1;
            let right = self.unary(depth)?;
            for side in [&left, &right] {
                if !matches!(side, Ast::Term(_) | Ast::Phrase(..) | Ast::Near(..)) {
                    return self.err("NEAR joins words or phrases");
                }
            }
            left = Ast::Near(Box::new(left), Box::new(right), n);
        }
        Ok(left)
    }

    fn unary(&mut self, depth: usize) -> Result<Ast, QueryError> {
        if depth > 64 {
            return self.err("query nests too deeply");
        }
        match self.peek().cloned() {
            Some(Tok::Not) => {
                self.pos += 1;
                Ok(Ast::Not(Box::new(self.unary(depth + 1)?)))
            }
            Some(Tok::LParen) => {
                self.pos += 1;
                if self.peek() == Some(&Tok::RParen) {
                    return self.err("empty parentheses");
                }
                let inner = self.or_expr(depth + 1)?;
                if self.peek() != Some(&Tok::RParen) {
                    return self.err("missing closing parenthesis");
                }
                self.pos += 1;
                Ok(inner)
            }
            Some(Tok::Quoted(p, slop)) => {
                self.pos += 1;
                Ok(Ast::Phrase(p, slop.unwrap_or(0)))
            }
            Some(Tok::Word(w)) => {
                let at = self.at();
                self.pos += 1;
                word_ast(&w, at)
            }
            Some(Tok::RParen) => self.err("unexpected closing parenthesis"),
            Some(Tok::And) | Some(Tok::Or) | Some(Tok::Near(_)) => {
                self.err("operator without a left-hand side")
            }
            None => self.err("query ends where a term was expected"),
        }
    }
}

fn is_field_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 40
        && s.chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
        && s.chars().next().is_some_and(|c| c.is_alphabetic())
}

fn word_ast(w: &str, at: usize) -> Result<Ast, QueryError> {
    if let Some(rest) = w.strip_prefix('-').filter(|r| !r.is_empty()) {
        return Ok(Ast::Not(Box::new(word_ast(rest, at + 1)?)));
    }
    if let Some(rest) = w.strip_prefix('+').filter(|r| !r.is_empty()) {
        return word_ast(rest, at + 1);
    }
    if let Some((field, value)) = w.split_once(':') {
        if is_field_name(field) && !value.is_empty() {
            if field == "text" {
                return word_ast(value, at + field.len() + 1);
            }
            let value = value.trim_matches('"');
            if let Some(inner) = value.strip_prefix('[').and_then(|v| v.strip_suffix(']')) {
                let (lo, hi) = inner.split_once(" TO ").ok_or(QueryError {
                    position: at,
                    message: "a range reads [from TO to]".into(),
                })?;
                let bound = |s: &str| {
                    let s = s.trim();
                    (s != "*" && !s.is_empty()).then(|| s.to_lowercase())
                };
                return Ok(Ast::Field(
                    field.to_string(),
                    FieldValue::Range(bound(lo), bound(hi)),
                ));
            }
            if let Some(prefix) = value.strip_suffix('*') {
                return Ok(Ast::Field(
                    field.to_string(),
                    FieldValue::Prefix(prefix.to_lowercase()),
                ));
            }
            return Ok(Ast::Field(
                field.to_string(),
                FieldValue::Equals(value.to_lowercase()),
            ));
        }
    }
    if let Some(rest) = w.strip_prefix('=') {
        if rest.is_empty() {
            return Err(QueryError {
                position: at,
                message: "= needs a word".into(),
            });
        }
        return Ok(Ast::Exact(rest.to_lowercase()));
    }
    if let Some(prefix) = w.strip_suffix('*') {
        let lower = prefix.to_lowercase();
        if lower.chars().count() < 2 {
            return Err(QueryError {
                position: at,
                message: "a prefix needs at least two letters".into(),
            });
        }
        return Ok(Ast::Prefix(lower));
    }
    if words(w).next().is_none() {
        return Err(QueryError {
            position: at,
            message: format!("{w:?} has no words in it"),
        });
    }
    Ok(Ast::Term(w.to_string()))
}

/// Parse a query string.
pub fn parse(q: &str) -> Result<Ast, QueryError> {
    let toks = lex(q)?;
    if toks.is_empty() {
        return Ok(Ast::All);
    }
    let mut p = Parser {
        toks,
        pos: 0,
        len: q.chars().count(),
    };
    let ast = p.or_expr(0)?;
    if p.pos < p.toks.len() {
        return p.err("unexpected text after the query");
    }
    Ok(ast)
}

/// Terms a query looks for, used to highlight hits.
#[derive(Debug, Default, Clone)]
pub struct Highlight {
    /// Analyzed terms (matched against any term of a word).
    pub analyzed: BTreeSet<String>,
    /// Exact lower-case word forms.
    pub exact: BTreeSet<String>,
}

const MAX_EXPANSION: usize = 4096;
const MAX_PHRASE_VARIANTS: usize = 16;

/// Turns an [`Ast`] into a tantivy query.
pub struct Builder<'a> {
    pub searcher: &'a Searcher,
    pub fields: Fields,
    pub highlight: Highlight,
}

fn term_query(t: Term) -> Box<dyn Query> {
    Box::new(TermQuery::new(t, IndexRecordOption::WithFreqsAndPositions))
}

fn union(mut qs: Vec<Box<dyn Query>>) -> Box<dyn Query> {
    match qs.len() {
        0 => Box::new(EmptyQuery),
        1 => qs.pop().unwrap(),
        _ => Box::new(BooleanQuery::new(
            qs.into_iter().map(|q| (Occur::Should, q)).collect(),
        )),
    }
}

/// Passages with any term of `field` in `lo..hi` (byte strings of terms), all
/// scored alike: a metadata prefix or range is a filter, not a measure of
/// relevance. Each segment streams its own terms in the range into a bit set of
/// their passages; the terms are not gathered first (a date range is hundreds of
/// them, which a set of terms made into an automaton at every search).
fn term_range(field: Field, lo: &[u8], hi: Bound<Vec<u8>>) -> Box<dyn Query> {
    let term = |b: &[u8]| Term::from_field_bytes(field, b);
    Box::new(InvertedIndexRangeQuery::new(
        Bound::Included(term(lo)),
        match hi {
            Bound::Included(h) => Bound::Included(term(&h)),
            Bound::Excluded(h) => Bound::Excluded(term(&h)),
            Bound::Unbounded => Bound::Unbounded,
        },
    ))
}

/// The bound just past every byte string that starts with `prefix`.
fn past_prefix(prefix: &[u8]) -> Bound<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Bound::Excluded(end);
        }
    }
    Bound::Unbounded
}

impl<'a> Builder<'a> {
    pub fn new(searcher: &'a Searcher, fields: Fields) -> Self {
        Builder {
            searcher,
            fields,
            highlight: Highlight::default(),
        }
    }

    /// Canonical analyzed terms of each word in `text` (alternatives per word).
    fn analyzed_words(&mut self, text: &str) -> Vec<Vec<String>> {
        words(text)
            .map(|w| {
                let terms = analyze_word(&w.lower).full;
                self.highlight.analyzed.extend(terms.iter().cloned());
                terms
            })
            .collect()
    }

    fn phrase(&self, field: Field, words: &[Vec<String>], slop: u32) -> Box<dyn Query> {
        if words.is_empty() || words.iter().any(|w| w.is_empty()) {
            return Box::new(EmptyQuery);
        }
        if words.len() == 1 {
            return union(
                words[0]
                    .iter()
                    .map(|t| term_query(Term::from_field_text(field, t)))
                    .collect(),
            );
        }
        // One phrase per combination of alternatives (bounded).
        let mut variants: Vec<Vec<&String>> = vec![vec![]];
        for alts in words {
            let mut next = Vec::new();
            for v in &variants {
                for a in alts {
                    if next.len() < MAX_PHRASE_VARIANTS {
                        let mut v2 = v.clone();
                        v2.push(a);
                        next.push(v2);
                    }
                }
            }
            variants = next;
        }
        union(
            variants
                .into_iter()
                .map(|v| {
                    let terms: Vec<(usize, Term)> = v
                        .iter()
                        .enumerate()
                        .map(|(i, t)| (i, Term::from_field_text(field, t)))
                        .collect();
                    Box::new(PhraseQuery::new_with_offset_and_slop(terms, slop)) as Box<dyn Query>
                })
                .collect(),
        )
    }

    /// All indexed terms of `field` whose bytes start with `prefix`: the word forms
    /// a prefix of the text stands for, each searched for and marked.
    fn expand(&self, field: Field, prefix: &[u8]) -> Result<Vec<Term>, QueryError> {
        let mut found: BTreeSet<Vec<u8>> = BTreeSet::new();
        for seg in self.searcher.segment_readers() {
            let inv = seg.inverted_index(field).map_err(|e| QueryError {
                position: 0,
                message: e.to_string(),
            })?;
            let dict = inv.terms();
            let mut stream = dict
                .range()
                .ge(prefix)
                .into_stream()
                .map_err(|e| QueryError {
                    position: 0,
                    message: e.to_string(),
                })?;
            while stream.advance() {
                let key = stream.key();
                if !key.starts_with(prefix) {
                    break;
                }
                found.insert(key.to_vec());
                if found.len() > MAX_EXPANSION {
                    return Err(QueryError {
                        position: 0,
                        message: format!(
                            "the pattern matches more than {MAX_EXPANSION} terms; make it narrower"
                        ),
                    });
                }
            }
        }
        Ok(found
            .into_iter()
            .map(|k| Term::from_field_bytes(field, &k))
            .collect())
    }

    fn json_term(&self, path: &str, value: &str) -> Term {
        let mut t = Term::from_field_json_path(self.fields.meta, path, false);
        t.append_type_and_str(value);
        t
    }

    pub fn build(&mut self, ast: &Ast) -> Result<Box<dyn Query>, QueryError> {
        Ok(match ast {
            Ast::All => Box::new(AllQuery),
            Ast::Term(w) => {
                let ws = self.analyzed_words(w);
                self.phrase(self.fields.text, &ws, 0)
            }
            Ast::Phrase(p, slop) => {
                let ws = self.analyzed_words(p);
                if ws.is_empty() {
                    return Ok(Box::new(EmptyQuery));
                }
                self.phrase(self.fields.text, &ws, *slop)
            }
            Ast::Exact(w) => {
                let ws: Vec<Vec<String>> = words(w).map(|x| vec![x.lower]).collect();
                for x in &ws {
                    self.highlight.exact.insert(x[0].clone());
                }
                if ws.is_empty() {
                    return Ok(Box::new(EmptyQuery));
                }
                self.phrase(self.fields.exact, &ws, 0)
            }
            Ast::Prefix(p) => {
                let terms = self.expand(self.fields.exact, p.as_bytes())?;
                for t in &terms {
                    if let Some(s) = t.value().as_str() {
                        self.highlight.exact.insert(s.to_string());
                    }
                }
                union(terms.into_iter().map(term_query).collect())
            }
            Ast::Near(a, b, n) => {
                let left = self.phrase_words(a)?;
                let right = self.phrase_words(b)?;
                let mut ab = left.clone();
                ab.extend(right.iter().cloned());
                let mut ba = right;
                ba.extend(left);
                union(vec![
                    self.phrase(self.fields.text, &ab, *n),
                    self.phrase(self.fields.text, &ba, *n),
                ])
            }
            Ast::Field(name, value) => match value {
                FieldValue::Equals(v) => term_query(self.json_term(name, v)),
                FieldValue::Prefix(p) => {
                    let lo = self.json_term(name, p);
                    let lo = lo.serialized_value_bytes();
                    term_range(self.fields.meta, lo, past_prefix(lo))
                }
                FieldValue::Range(lo, hi) => {
                    let lo_t = self.json_term(name, lo.as_deref().unwrap_or(""));
                    // Without an upper end, the range ends with the field's values.
                    let hi = match hi {
                        Some(h) => Bound::Included(
                            self.json_term(name, h).serialized_value_bytes().to_vec(),
                        ),
                        None => past_prefix(self.json_term(name, "").serialized_value_bytes()),
                    };
                    term_range(self.fields.meta, lo_t.serialized_value_bytes(), hi)
                }
            },
            Ast::Not(inner) => {
                let q = self.build_negated(inner)?;
                Box::new(BooleanQuery::new(vec![
                    (Occur::Must, Box::new(AllQuery)),
                    (Occur::MustNot, q),
                ]))
            }
            Ast::And(items) => {
                let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
                for it in items {
                    match it {
                        Ast::Not(inner) => {
                            clauses.push((Occur::MustNot, self.build_negated(inner)?))
                        }
                        other => clauses.push((Occur::Must, self.build(other)?)),
                    }
                }
                if clauses.iter().all(|(o, _)| *o == Occur::MustNot) {
                    clauses.push((Occur::Must, Box::new(AllQuery)));
                }
                Box::new(BooleanQuery::new(clauses))
            }
            Ast::Or(items) => {
                let mut qs = Vec::new();
                for it in items {
                    qs.push(self.build(it)?);
                }
                union(qs)
            }
        })
    }

    /// Build the inside of a NOT without adding its terms to the highlight.
    fn build_negated(&mut self, ast: &Ast) -> Result<Box<dyn Query>, QueryError> {
        let saved = self.highlight.clone();
        let q = self.build(ast);
        self.highlight = saved;
        q
    }

    fn phrase_words(&mut self, ast: &Ast) -> Result<Vec<Vec<String>>, QueryError> {
        match ast {
            Ast::Term(w) | Ast::Phrase(w, _) => Ok(self.analyzed_words(w)),
            _ => Err(QueryError {
                position: 0,
                message: "NEAR joins words or phrases".into(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_operators() {
        assert_eq!(
            parse("ungdom AND NOT skole").unwrap(),
            Ast::And(vec![
                Ast::Term("ungdom".into()),
                Ast::Not(Box::new(Ast::Term("skole".into())))
            ])
        );
        assert_eq!(
            parse("a b OR c").unwrap(),
            Ast::Or(vec![
                Ast::And(vec![Ast::Term("a".into()), Ast::Term("b".into())]),
                Ast::Term("c".into())
            ])
        );
        assert_eq!(
            parse("\"psykisk helse\"~2").unwrap(),
            Ast::Phrase("psykisk helse".into(), 2)
        );
        assert_eq!(
            parse("municipality:\"Nord-Odal\"").unwrap(),
            Ast::Field(
                "municipality".into(),
                FieldValue::Equals("nord-odal".into())
            )
        );
        assert_eq!(
            parse("date:[2022-01-01 TO 2022-06-30]").unwrap(),
            Ast::Field(
                "date".into(),
                FieldValue::Range(Some("2022-01-01".into()), Some("2022-06-30".into()))
            )
        );
        assert!(parse("(ungdom").is_err());
        assert!(parse("\"open").is_err());
        assert!(parse("AND x").is_err());
    }
}

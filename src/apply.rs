//! Coding a batch of texts a share at a time, for callers that hand the whole
//! batch over at once (`apply_table` and `apply` from Python): the texts are
//! coded 16 MiB per thread at a time, each share's hits added to the result
//! (a hits table, or each text's codes) and their buffers handed back to the
//! matchers for the next share. So one share's hits, not the whole batch's, sit
//! beside the result, and progress and cancellation are heard between shares.
//!
//! Codes texts and shapes results; touches neither store nor index.

use crate::codebook::{Context, Hits, Matchers, ToCode};
use crate::decode::NotUnicode;
use crate::progress::Progress;
use crate::table::HitsTable;
use crate::{Error, Result};
use arrow_array::RecordBatch;
use std::borrow::Borrow;

/// Text coded at a time (on each thread): the hits of this much text exist at
/// once, beside the result they are added to.
const SHARE_BYTES: usize = 16 << 20;

/// Codes `texts` (with their contexts) and builds the table of their hits
/// ([`crate::table::hits_table`]) a share of the batch at a time. The table is
/// the one [`crate::table::hits_table_on`] builds from
/// [`Matchers::try_apply_all`] of the whole batch, for any number of threads.
/// After each share `progress` hears how many of the texts are coded; it stops
/// the call by returning false ([`Error::Cancelled`]). A code point of a text
/// without a UTF-8 form is an [`Error::Invalid`] naming the first such text.
///
/// # Panics
/// As [`Matchers::apply_all`].
pub fn apply_table<T: ToCode, C: Borrow<Context> + Sync>(
    matchers: &mut Matchers<'_>,
    texts: &[T],
    ctxs: &[C],
    progress: &mut dyn Progress,
) -> Result<RecordBatch> {
    let share = SHARE_BYTES.saturating_mul(matchers.threads());
    apply_table_in_shares(matchers, texts, ctxs, share, progress)
}

/// Each text's codes, as [`Hits::codes_per_text`] gives them for the whole
/// batch (the end of each text's codes, and the codes), coded a share at a
/// time as [`apply_table`] codes.
///
/// # Panics
/// As [`Matchers::apply_all`].
pub fn apply_codes<T: ToCode, C: Borrow<Context> + Sync>(
    matchers: &mut Matchers<'_>,
    texts: &[T],
    ctxs: &[C],
    progress: &mut dyn Progress,
) -> Result<(Vec<u32>, Vec<u32>)> {
    let share = SHARE_BYTES.saturating_mul(matchers.threads());
    apply_codes_in_shares(matchers, texts, ctxs, share, progress)
}

fn apply_table_in_shares<T: ToCode, C: Borrow<Context> + Sync>(
    matchers: &mut Matchers<'_>,
    texts: &[T],
    ctxs: &[C],
    share_bytes: usize,
    progress: &mut dyn Progress,
) -> Result<RecordBatch> {
    let threads = matchers.threads();
    let mut table = HitsTable::new(matchers.codebook());
    let total: usize = texts.iter().map(ToCode::size).sum();
    in_shares(
        matchers,
        texts,
        ctxs,
        share_bytes,
        progress,
        |hits, from, to, size| {
            if from == 0 {
                // Room for the whole batch's rows at the first share's rate.
                let rows = if to == texts.len() {
                    hits.len()
                } else {
                    (hits.len() as f64 * (total as f64 / size.max(1) as f64) * 1.05) as usize
                };
                table.reserve(rows);
            }
            table.push(hits, from, threads);
        },
    )?;
    Ok(table.finish())
}

fn apply_codes_in_shares<T: ToCode, C: Borrow<Context> + Sync>(
    matchers: &mut Matchers<'_>,
    texts: &[T],
    ctxs: &[C],
    share_bytes: usize,
    progress: &mut dyn Progress,
) -> Result<(Vec<u32>, Vec<u32>)> {
    let cb = matchers.codebook();
    let (mut ends, mut codes) = (Vec::with_capacity(texts.len()), Vec::new());
    in_shares(
        matchers,
        texts,
        ctxs,
        share_bytes,
        progress,
        |hits, from, to, _| {
            let (share_ends, share_codes) = hits.codes_per_text(cb, to - from);
            let before = codes.len() as u32;
            ends.extend(share_ends.iter().map(|&e| e + before));
            codes.extend_from_slice(&share_codes);
        },
    )?;
    Ok((ends, codes))
}

/// Codes the batch share by share, handing `take` each share's hits with the
/// share's first text, its end and its size; then the hits go back to the
/// matchers, and `progress` hears how many texts are coded.
fn in_shares<T: ToCode, C: Borrow<Context> + Sync>(
    matchers: &mut Matchers<'_>,
    texts: &[T],
    ctxs: &[C],
    share_bytes: usize,
    progress: &mut dyn Progress,
    mut take: impl FnMut(&Hits, usize, usize, usize),
) -> Result<()> {
    assert_eq!(texts.len(), ctxs.len(), "one context per text");
    let mut from = 0;
    while from < texts.len() {
        // The next share: texts up to `share_bytes` of text, at least one.
        let mut to = from;
        let mut size = 0;
        while to < texts.len() && (to == from || size < share_bytes) {
            size += texts[to].size();
            to += 1;
        }
        let hits = matchers
            .try_apply_all(&texts[from..to], &ctxs[from..to])
            .map_err(|e| {
                let e = NotUnicode {
                    text: from + e.text,
                    ..e
                };
                Error::Invalid(e.to_string())
            })?;
        take(&hits, from, to, size);
        matchers.recycle(hits);
        from = to;
        if !progress.update(to as u64, texts.len() as u64, "apply") {
            return Err(Error::Cancelled);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_built_share_by_share_is_the_table_of_the_whole_batch() {
        use crate::codebook::{Context, Matchers};
        use crate::decode::{CodePoints, Text};
        use crate::progress::Silent;
        // Enough hits for the spans to get a thread of their own in one share.
        let (cb, texts) = crate::table::tests::many_hits(crate::table::SPANS_THREAD_MIN_HITS + 7);
        let ctxs = vec![Context::new(); texts.len()];
        let whole = crate::table::hits_table(&cb, &Matchers::new(&cb, 1).apply_all(&texts, &ctxs));
        assert!(whole.num_rows() > crate::table::SPANS_THREAD_MIN_HITS);
        for threads in [1, 2, 3] {
            let mut m = Matchers::new(&cb, threads).min_bytes_per_thread(1);
            assert_eq!(
                apply_table(&mut m, &texts, &ctxs, &mut Silent).unwrap(),
                whole,
                "{threads}"
            );
            // Shares of one text, of a few and of many.
            for share in [1, 100, 1 << 20] {
                let t = apply_table_in_shares(
                    &mut m,
                    &texts[..5000],
                    &ctxs[..5000],
                    share,
                    &mut Silent,
                )
                .unwrap();
                assert_eq!(
                    t,
                    whole.slice(0, t.num_rows()),
                    "{threads} threads, shares of {share}"
                );
            }
        }
        // The first text without UTF-8 is named by its place in the batch.
        let bad = [0x61u16, 0xDFFF];
        let mut held: Vec<Text> = texts[..5000].iter().map(|t| Text::Utf8(t)).collect();
        held[3001] = Text::Points(CodePoints::Ucs2(&bad));
        held[4000] = Text::Points(CodePoints::Ucs2(&bad));
        let mut m = Matchers::new(&cb, 2).min_bytes_per_thread(1);
        let e = apply_table_in_shares(&mut m, &held, &ctxs[..5000], 100, &mut Silent).unwrap_err();
        assert_eq!(
            e.to_string(),
            "text 3001 is not valid unicode: a lone surrogate, U+DFFF, at character 1"
        );
        let empty: [&str; 0] = [];
        let t = apply_table(&mut m, &empty, &[] as &[Context], &mut Silent).unwrap();
        assert_eq!(t.num_rows(), 0);
        // Progress after every share, in texts coded; false stops the call.
        let total: usize = texts[..5000].iter().map(|t| t.len()).sum();
        let mut heard = Vec::new();
        let mut note = |done: u64, all: u64, what: &str| {
            heard.push((done, all, what.to_string()));
            true
        };
        let share = total.div_ceil(3);
        apply_table_in_shares(&mut m, &texts[..5000], &ctxs[..5000], share, &mut note).unwrap();
        assert_eq!(heard.len(), 3, "{heard:?}");
        assert!(heard.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(heard[2], (5000, 5000, "apply".to_string()));
        let mut calls = 0;
        let mut stop = |_: u64, _: u64, _: &str| {
            calls += 1;
            calls < 2
        };
        let e = apply_table_in_shares(&mut m, &texts[..5000], &ctxs[..5000], share, &mut stop);
        assert!(matches!(e, Err(Error::Cancelled)));
        assert_eq!(calls, 2);
    }

    #[test]
    fn codes_coded_share_by_share_are_the_codes_of_the_whole_batch() {
        use crate::progress::Silent;
        let (cb, texts) = crate::table::tests::many_hits(3001);
        let ctxs = vec![Context::new(); texts.len()];
        let whole = Matchers::new(&cb, 1).apply_all(&texts, &ctxs);
        let want = whole.codes_per_text(&cb, texts.len());
        assert!(want.1.len() > 2000);
        for threads in [1, 2, 3] {
            let mut m = Matchers::new(&cb, threads).min_bytes_per_thread(1);
            assert_eq!(
                apply_codes(&mut m, &texts, &ctxs, &mut Silent).unwrap(),
                want
            );
            for share in [1, 100, 1 << 20] {
                let got = apply_codes_in_shares(&mut m, &texts, &ctxs, share, &mut Silent).unwrap();
                assert_eq!(got, want, "{threads} threads, shares of {share}");
            }
        }
        let mut stop = |_: u64, _: u64, _: &str| false;
        let e = apply_codes_in_shares(&mut Matchers::new(&cb, 1), &texts, &ctxs, 100, &mut stop);
        assert!(matches!(e, Err(Error::Cancelled)));
    }
}

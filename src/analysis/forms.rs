//! Word forms as fixed-size keys, and an open-addressing table of them: the
//! per-thread tables from a form as written to what it stands for (the
//! matcher's codebook terms, the indexer's terms) look a form up with one
//! probe of one cache line, without hashing or comparing a string.
//!
//! Only keys, slots and ranges; what a range points into belongs to its user.

use rustc_hash::FxHashMap;

/// A word form packed into a fixed-size key: its bytes, zero-padded, with its
/// length in the last byte. The all-zero key is never a form's (a form is not
/// empty), so it marks a free slot.
pub(crate) trait FormKey: Copy + Eq + Default {
    /// Bytes a form of this key has at most.
    const MAX: usize;
    /// A table's slot for this key: the key and a range, aligned so that a
    /// slot never straddles two cache lines.
    type Slot: SlotOf<Self>;
    fn hash(&self) -> u64;
    fn is_free(&self) -> bool {
        *self == Self::default()
    }
}

/// A slot of a [`FormTable`]: a key and the range stored for it.
pub(crate) trait SlotOf<K>: Copy + Default {
    fn new(key: K, start: u32, len: u32) -> Self;
    fn key(&self) -> K;
    fn range(&self) -> (u32, u32);
}

/// Key of a form of up to 15 bytes; a slot of it is 32 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
#[repr(C)]
pub(crate) struct Key16(pub(crate) u128);

/// Key of a form of 16 to 31 bytes (compounds, mostly); a slot of it is 64 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
#[repr(C)]
pub(crate) struct Key32(pub(crate) [u128; 2]);

/// Half a cache line.
#[derive(Clone, Copy, Default)]
#[repr(C, align(32))]
pub(crate) struct Slot16 {
    key: Key16,
    start: u32,
    len: u32,
}

/// One cache line.
#[derive(Clone, Copy, Default)]
#[repr(C, align(64))]
pub(crate) struct Slot32 {
    key: Key32,
    start: u32,
    len: u32,
}

const _: () = assert!(std::mem::size_of::<Slot16>() == 32 && std::mem::size_of::<Slot32>() == 64);

macro_rules! slot_of {
    ($slot:ty, $key:ty) => {
        impl SlotOf<$key> for $slot {
            #[inline]
            fn new(key: $key, start: u32, len: u32) -> Self {
                Self { key, start, len }
            }
            #[inline]
            fn key(&self) -> $key {
                self.key
            }
            #[inline]
            fn range(&self) -> (u32, u32) {
                (self.start, self.len)
            }
        }
    };
}
slot_of!(Slot16, Key16);
slot_of!(Slot32, Key32);

impl FormKey for Key16 {
    const MAX: usize = 15;
    type Slot = Slot16;
    #[inline]
    fn hash(&self) -> u64 {
        let k = self.0;
        ((k as u64) ^ ((k >> 64) as u64).rotate_left(29)).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }
}

impl FormKey for Key32 {
    const MAX: usize = 31;
    type Slot = Slot32;
    #[inline]
    fn hash(&self) -> u64 {
        let [a, b] = self.0;
        ((a as u64)
            ^ ((a >> 64) as u64).rotate_left(19)
            ^ (b as u64).rotate_left(37)
            ^ ((b >> 64) as u64).rotate_left(53))
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }
}

/// An open-addressing table from word forms (as [`FormKey`]s) to ranges of its
/// user's arena. One probe sequence is linear, and the table doubles at half
/// load; a slot is one cache line or half of one.
pub(crate) struct FormTable<K: FormKey> {
    slots: Vec<K::Slot>,
    len: usize,
    /// Changes whenever slots move (growth, clearing).
    pub(crate) epoch: u64,
}

impl<K: FormKey> FormTable<K> {
    pub(crate) fn new() -> FormTable<K> {
        FormTable {
            slots: vec![K::Slot::default(); 1 << 12],
            len: 0,
            epoch: 0,
        }
    }

    /// A table without slots, only to be replaced (see `Matcher::drop`).
    pub(crate) fn empty() -> FormTable<K> {
        FormTable {
            slots: Vec::new(),
            len: 0,
            epoch: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Makes the table count `n` forms (for tests of what happens to a large one).
    #[cfg(test)]
    pub(crate) fn pretend_len(&mut self, n: usize) {
        self.len = n;
    }

    pub(crate) fn clear(&mut self) {
        let epoch = self.epoch + 1;
        *self = FormTable::new();
        self.epoch = epoch;
    }

    #[inline]
    pub(crate) fn slot_of(&self, key: K) -> usize {
        (key.hash() >> 20) as usize & (self.slots.len() - 1)
    }

    #[inline]
    pub(crate) fn prefetch(&self, slot: usize) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a prefetch is a hint; it reads nothing and cannot fault, and the
        // address is inside `slots` anyway.
        #[allow(unused_unsafe)]
        unsafe {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            _mm_prefetch::<_MM_HINT_T0>(self.slots.as_ptr().add(slot) as *const i8);
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = slot;
    }

    /// The range stored for `key`, probing from `slot` (its [`Self::slot_of`]).
    #[inline]
    pub(crate) fn get(&self, key: K, mut slot: usize) -> Option<(u32, u32)> {
        let mask = self.slots.len() - 1;
        loop {
            let s = &self.slots[slot];
            if s.key() == key {
                return Some(s.range());
            }
            if s.key().is_free() {
                return None;
            }
            slot = (slot + 1) & mask;
        }
    }

    pub(crate) fn insert(&mut self, key: K, (start, len): (u32, u32)) {
        if (self.len + 1) * 2 > self.slots.len() {
            let bigger = vec![K::Slot::default(); self.slots.len() * 2];
            let old = std::mem::replace(&mut self.slots, bigger);
            self.epoch += 1;
            for s in old.into_iter().filter(|s| !s.key().is_free()) {
                self.place(s);
            }
        }
        self.place(K::Slot::new(key, start, len));
        self.len += 1;
    }

    fn place(&mut self, new: K::Slot) {
        let mask = self.slots.len() - 1;
        let mut slot = self.slot_of(new.key());
        while !self.slots[slot].key().is_free() && self.slots[slot].key() != new.key() {
            slot = (slot + 1) & mask;
        }
        self.slots[slot] = new;
    }
}

/// Word forms as written → ranges of their user's arena: forms of up to 15
/// bytes and of 16 to 31 bytes in [`FormTable`]s, longer ones in a hash map.
/// A passage's words are looked up together ([`FormMap::look_up`]): their keys
/// first, with their slots fetched into the cache ahead of use, since a table
/// larger than the CPU caches would otherwise make each lookup wait on memory
/// in turn.
pub(crate) struct FormMap {
    short: FormTable<Key16>,
    long: FormTable<Key32>,
    other: FxHashMap<Box<str>, (u32, u32)>,
    /// Per passage: each word's short key (0 for a longer word) and its slot in
    /// `short`; each word of 16 to 31 bytes, in order, its key and slot in `long`.
    keys: Vec<(u128, usize)>,
    long_keys: Vec<(Key32, usize)>,
}

impl FormMap {
    pub(crate) fn new() -> FormMap {
        FormMap {
            short: FormTable::new(),
            long: FormTable::new(),
            ..FormMap::empty()
        }
    }

    /// A map without slots, only to be dropped or replaced.
    pub(crate) fn empty() -> FormMap {
        FormMap {
            short: FormTable::empty(),
            long: FormTable::empty(),
            other: FxHashMap::default(),
            keys: Vec::new(),
            long_keys: Vec::new(),
        }
    }

    /// The forms held.
    pub(crate) fn len(&self) -> usize {
        self.short.len() + self.long.len() + self.other.len()
    }

    /// Stores `form` with the range `range` gives, unless it is held already.
    pub(crate) fn insert_new(&mut self, form: &str, range: impl FnOnce() -> (u32, u32)) {
        let len = form.len();
        if let Some(key) = short_key(form) {
            let key = Key16(key);
            if self.short.get(key, self.short.slot_of(key)).is_none() {
                self.short.insert(key, range());
            }
        } else if len <= Key32::MAX {
            let key = long_key(form.as_bytes());
            if self.long.get(key, self.long.slot_of(key)).is_none() {
                self.long.insert(key, range());
            }
        } else if !self.other.contains_key(form) {
            self.other.insert(form.into(), range());
        }
    }

    /// Forgets every form (the scratch buffers are kept).
    pub(crate) fn clear(&mut self) {
        self.short.clear();
        self.long.clear();
        self.other.clear();
    }

    /// Makes the map count `n` more forms than it holds (for tests of what
    /// happens to a large one).
    #[cfg(test)]
    pub(crate) fn pretend_len(&mut self, n: usize) {
        self.short.pretend_len(self.short.len() + n);
    }

    /// The range stored for each word of `text` (its `spans`, in order) into
    /// `out`. A form not met before gets the range `missing` gives for it,
    /// which is stored.
    pub(crate) fn look_up(
        &mut self,
        text: &str,
        spans: &[(usize, usize)],
        out: &mut Vec<(u32, u32)>,
        mut missing: impl FnMut(&str) -> (u32, u32),
    ) {
        // The buffers are sized first and written in step with `spans` (a push
        // per word, with its check of room, cost as much as making the key).
        self.keys.clear();
        self.keys.resize(spans.len(), (0, 0));
        self.long_keys.clear();
        for (k, &(a, b)) in self.keys.iter_mut().zip(spans) {
            let key = short_key_at(text, a, b);
            let slot = self.short.slot_of(Key16(key));
            self.short.prefetch(slot);
            *k = (key, slot);
            if key == 0 && b - a <= Key32::MAX {
                let key = long_key_at(text, a, b);
                let slot = self.long.slot_of(key);
                self.long.prefetch(slot);
                self.long_keys.push((key, slot));
            }
        }
        out.clear();
        out.resize(spans.len(), (0, 0));
        // An insert may grow a table and move its slots: then they are found anew.
        let (epoch, long_epoch) = (self.short.epoch, self.long.epoch);
        let mut long_at = 0;
        for ((o, &(a, b)), &(key, mut slot)) in out.iter_mut().zip(spans).zip(&self.keys) {
            let range = if key != 0 {
                if self.short.epoch != epoch {
                    slot = self.short.slot_of(Key16(key));
                }
                match self.short.get(Key16(key), slot) {
                    Some(r) => r,
                    None => {
                        let r = missing(&text[a..b]);
                        self.short.insert(Key16(key), r);
                        r
                    }
                }
            } else if b - a <= Key32::MAX {
                let (key, mut slot) = self.long_keys[long_at];
                long_at += 1;
                if self.long.epoch != long_epoch {
                    slot = self.long.slot_of(key);
                }
                match self.long.get(key, slot) {
                    Some(r) => r,
                    None => {
                        let r = missing(&text[a..b]);
                        self.long.insert(key, r);
                        r
                    }
                }
            } else {
                match self.other.get(&text[a..b]) {
                    Some(&r) => r,
                    None => {
                        let r = missing(&text[a..b]);
                        self.other.insert(text[a..b].into(), r);
                        r
                    }
                }
            };
            *o = range;
        }
    }
}

/// A word form of up to 15 bytes as one integer: its bytes, then its length.
#[inline]
pub(crate) fn short_key(form: &str) -> Option<u128> {
    let b = form.as_bytes();
    (b.len() < 16).then(|| {
        let mut k = [0u8; 16];
        k[..b.len()].copy_from_slice(b);
        k[15] = b.len() as u8;
        u128::from_le_bytes(k)
    })
}

/// By length: the bits of a short key's first `len` bytes (a table, since a
/// 128-bit shift by a variable amount takes a dozen instructions).
const SHORT_MASKS: [u128; 16] = {
    let mut t = [0u128; 16];
    let mut len = 1;
    while len < 16 {
        t[len] = (1u128 << (8 * len)) - 1;
        len += 1;
    }
    t
};

/// [`short_key`] of `text[a..b]`, or 0 for a longer form; reads 16 bytes at
/// once where the text allows.
#[inline]
pub(crate) fn short_key_at(text: &str, a: usize, b: usize) -> u128 {
    let len = b - a;
    if len >= 16 {
        return 0;
    }
    match text.as_bytes().get(a..a + 16) {
        Some(chunk) => {
            let mut k = [0u8; 16];
            k.copy_from_slice(chunk);
            (u128::from_le_bytes(k) & SHORT_MASKS[len]) | ((len as u128) << 120)
        }
        None => short_key(&text[a..b]).unwrap_or(0),
    }
}

/// The key of a form of 16 to 31 bytes: its bytes, zero-padded, then its length
/// in the last byte.
#[inline]
pub(crate) fn long_key(form: &[u8]) -> Key32 {
    debug_assert!((16..32).contains(&form.len()));
    let mut k = [0u8; 32];
    k[..form.len()].copy_from_slice(form);
    k[31] = form.len() as u8;
    Key32([
        u128::from_le_bytes(k[..16].try_into().expect("16 bytes")),
        u128::from_le_bytes(k[16..].try_into().expect("16 bytes")),
    ])
}

/// [`long_key`] of `text[a..b]` (16 to 31 bytes), reading 32 bytes at once where
/// the text allows.
#[inline]
pub(crate) fn long_key_at(text: &str, a: usize, b: usize) -> Key32 {
    let len = b - a;
    match text.as_bytes().get(a..a + 32) {
        Some(chunk) => {
            let lo = u128::from_le_bytes(chunk[..16].try_into().expect("16 bytes"));
            let hi = u128::from_le_bytes(chunk[16..].try_into().expect("16 bytes"));
            // The first 16 bytes are all the form's; of the rest, `len - 16`.
            let mask = (1u128 << (8 * (len - 16))) - 1;
            Key32([lo, (hi & mask) | ((len as u128) << 120)])
        }
        None => long_key(&text.as_bytes()[a..b]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::split_words;

    #[test]
    fn form_keys_agree_however_they_are_read() {
        // Words of every length class, near the end of the text too (where fewer
        // than 16 or 32 bytes follow a word).
        let text = "a æø barnevern-tjenesten kommunen arbeidsmarkedspolitikken i dag \
                    ungdomsrådsmedlemmene helsetjenestetilbudene kvalitetssikringssystemene \
                    sykehjemsplassar barnevernstenestene";
        let mut spans = Vec::new();
        split_words(text, &mut spans);
        let mut longs = std::collections::HashSet::new();
        for (a, b) in spans {
            let form = &text[a..b];
            assert_eq!(
                short_key_at(text, a, b),
                short_key(form).unwrap_or(0),
                "{form}"
            );
            if (16..32).contains(&form.len()) {
                let key = long_key_at(text, a, b);
                assert!(key == long_key(form.as_bytes()), "{form}");
                assert!(!key.is_free());
                longs.insert(key.0);
            }
        }
        // Different forms, different keys.
        assert_eq!(longs.len(), 6);
    }
}

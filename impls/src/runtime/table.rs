//! The greenlet record table: a growable array indexed by slot that never moves or copies its
//! elements when it grows. It is made of fixed chunks of [`CHUNK`] records, so a hub holding
//! many greenlets has at most one partly used chunk of slack, and growing leaves no old,
//! freed copy of the table in the heap (a `Vec` doubling would leave up to as much again).
//! Part of issue 12's memory budget per suspended greenlet.

use std::ops::{Index, IndexMut};

/// Records per chunk.
const CHUNK: usize = 64;

/// A growable array in chunks of [`CHUNK`].
pub(super) struct Table<T> {
    /// Every chunk but the last is full; each has capacity [`CHUNK`] exactly.
    chunks: Vec<Vec<T>>,
    len: usize,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Table {
            chunks: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Table<T> {
    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn push(&mut self, value: T) {
        if self.len.is_multiple_of(CHUNK) {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        if let Some(last) = self.chunks.last_mut() {
            last.push(value);
        }
        self.len += 1;
    }

    #[inline]
    pub(super) fn get(&self, i: usize) -> Option<&T> {
        self.chunks.get(i / CHUNK)?.get(i % CHUNK)
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &T> {
        self.chunks.iter().flatten()
    }

    pub(super) fn iter_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.chunks.iter_mut().flatten()
    }

    pub(super) fn into_elements(self) -> impl Iterator<Item = T> {
        self.chunks.into_iter().flatten()
    }
}

impl<T> Index<usize> for Table<T> {
    type Output = T;

    #[inline]
    fn index(&self, i: usize) -> &T {
        &self.chunks[i / CHUNK][i % CHUNK]
    }
}

impl<T> IndexMut<usize> for Table<T> {
    #[inline]
    fn index_mut(&mut self, i: usize) -> &mut T {
        &mut self.chunks[i / CHUNK][i % CHUNK]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_keep_their_index_and_address_as_the_table_grows() {
        let mut t = Table::default();
        t.push(0usize);
        let first = &t[0] as *const usize;
        for i in 1..1000 {
            t.push(i);
        }
        assert_eq!(t.len(), 1000);
        assert_eq!(&t[0] as *const usize, first);
        assert!((0..1000).all(|i| t[i] == i && t.get(i) == Some(&i)));
        assert_eq!(t.get(1000), None);
        t[999] = 5;
        assert_eq!(t.iter().copied().sum::<usize>(), 999 * 1000 / 2 - 999 + 5);
        for x in t.iter_mut() {
            *x += 1;
        }
        assert_eq!(t.into_elements().count(), 1000);
    }
}

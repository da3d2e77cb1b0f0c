//! Which parts of a sealed object a byte range consists of: header bytes, pieces of sealed
//! chunks, trailer bytes — in object order.

use std::ops::Range;

use crate::Layout;

/// One contiguous part of a response body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Bytes of the 160-byte header.
    Header(Range<usize>),
    /// Bytes `within` of sealed chunk `index`.
    Chunk { index: u64, within: Range<usize> },
    /// Bytes of the trailer (digest list).
    Trailer(Range<usize>),
}

fn overlap(a: &Range<u64>, b: &Range<u64>) -> Option<Range<u64>> {
    let r = a.start.max(b.start)..a.end.min(b.end);
    (r.start < r.end).then_some(r)
}

fn relative(r: Range<u64>, base: u64) -> Range<usize> {
    (r.start - base) as usize..(r.end - base) as usize
}

/// The pieces of object bytes `range` (half-open, inside the object), in order.
pub fn pieces(layout: &Layout, range: Range<u64>) -> Vec<Piece> {
    let mut out = Vec::new();
    let header = 0..layout.header_len();
    if let Some(r) = overlap(&range, &header) {
        out.push(Piece::Header(relative(r, 0)));
    }
    let trailer = layout.trailer_range();
    let body = header.end..trailer.start;
    if let Some(r) = overlap(&range, &body) {
        let first = layout
            .chunk_at_object_offset(r.start)
            .expect("inside the body");
        let last = layout
            .chunk_at_object_offset(r.end - 1)
            .expect("inside the body");
        for index in first..=last {
            let chunk = layout.sealed_chunk_range(index);
            let part = overlap(&r, &chunk).expect("chunks between first and last overlap");
            out.push(Piece::Chunk {
                index,
                within: relative(part, chunk.start),
            });
        }
    }
    if let Some(r) = overlap(&range, &trailer) {
        out.push(Piece::Trailer(relative(r, trailer.start)));
    }
    out
}

/// The chunk indices among `pieces`.
pub fn chunk_indices(pieces: &[Piece]) -> impl Iterator<Item = u64> + '_ {
    pieces.iter().filter_map(|p| match p {
        Piece::Chunk { index, .. } => Some(*index),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: u64 = 4096;
    const S: usize = 4096 + 16;

    fn layout() -> Layout {
        // Three chunks: two full, one of 10 bytes.
        Layout::new(C as u32, 2 * C + 10)
    }

    #[test]
    fn whole_object() {
        let l = layout();
        let p = pieces(&l, 0..l.object_len());
        assert_eq!(
            p,
            vec![
                Piece::Header(0..160),
                Piece::Chunk {
                    index: 0,
                    within: 0..S
                },
                Piece::Chunk {
                    index: 1,
                    within: 0..S
                },
                Piece::Chunk {
                    index: 2,
                    within: 0..26
                },
                Piece::Trailer(0..96),
            ]
        );
        let total: usize = p
            .iter()
            .map(|p| match p {
                Piece::Header(r) | Piece::Trailer(r) | Piece::Chunk { within: r, .. } => r.len(),
            })
            .sum();
        assert_eq!(total as u64, l.object_len());
        assert_eq!(chunk_indices(&p).collect::<Vec<_>>(), vec![0, 1, 2]);
    }

    #[test]
    fn ranges_inside_and_across_parts() {
        let l = layout();
        assert_eq!(pieces(&l, 5..6), vec![Piece::Header(5..6)]);
        assert_eq!(
            pieces(&l, 150..170),
            vec![
                Piece::Header(150..160),
                Piece::Chunk {
                    index: 0,
                    within: 0..10
                }
            ]
        );
        let c1 = l.sealed_chunk_range(1);
        assert_eq!(
            pieces(&l, c1.start - 1..c1.start + 1),
            vec![
                Piece::Chunk {
                    index: 0,
                    within: S - 1..S
                },
                Piece::Chunk {
                    index: 1,
                    within: 0..1
                }
            ]
        );
        let t = l.trailer_range();
        assert_eq!(
            pieces(&l, t.start - 2..t.start + 3),
            vec![
                Piece::Chunk {
                    index: 2,
                    within: 24..26
                },
                Piece::Trailer(0..3)
            ]
        );
        assert_eq!(pieces(&l, t.end - 1..t.end), vec![Piece::Trailer(95..96)]);
    }

    #[test]
    fn empty_plaintext_still_has_one_chunk() {
        let l = Layout::new(C as u32, 0);
        assert_eq!(
            pieces(&l, 0..l.object_len()),
            vec![
                Piece::Header(0..160),
                Piece::Chunk {
                    index: 0,
                    within: 0..16
                },
                Piece::Trailer(0..32)
            ]
        );
    }
}

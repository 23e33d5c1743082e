//! How many states a zone of SIZE bytes holds: nginx's slab allocator (`ngx_slab.c`) as far
//! as it bounds the count. Pages of 4 KiB are cut into power-of-two chunks, one size per page;
//! a state takes the chunk its node fits in (so the key's length matters). Approximate: the
//! pool's own header is estimated, and a page whose chunks are all freed stays with its size
//! (nginx returns it to the free pages).

const PAGE: u64 = 4096;
/// Chunk sizes from 8 (`ngx_slab_min_shift` 3) to half a page: 9 classes.
const CLASSES: usize = 9;

/// The free space of one zone.
#[derive(Debug)]
pub struct Slab {
    pages: u64,
    /// Free chunks of each size class (8, 16, ... 2048).
    free: [u64; CLASSES],
}

impl Slab {
    /// The pool nginx builds in a zone of `size` bytes (`ngx_slab_init` on 64-bit Linux).
    pub fn new(size: u64) -> Slab {
        // ngx_slab_pool_t, then 9 slot headers and 9 stats.
        let header = 200 + 9 * 24 + 9 * 32;
        let usable = size.saturating_sub(header);
        let pages = usable / (PAGE + 24);
        let start = (header + pages * 24).div_ceil(PAGE) * PAGE;
        let fit = size.saturating_sub(start) / PAGE;
        Slab {
            pages: pages.min(fit),
            free: [0; CLASSES],
        }
    }

    /// Takes room for `size` bytes; `false` when the zone is full.
    pub fn alloc(&mut self, size: u64) -> bool {
        let Some(class) = class(size) else {
            let pages = size.div_ceil(PAGE);
            if self.pages < pages {
                return false;
            }
            self.pages -= pages;
            return true;
        };
        if self.free[class] == 0 {
            if self.pages == 0 {
                return false;
            }
            self.pages -= 1;
            self.free[class] = per_page(class);
        }
        self.free[class] -= 1;
        true
    }

    /// Gives back what `alloc(size)` took.
    pub fn free(&mut self, size: u64) {
        match class(size) {
            Some(class) => self.free[class] += 1,
            None => self.pages += size.div_ceil(PAGE),
        }
    }
}

/// The size class of a chunk of `size` bytes; `None` for whole pages.
fn class(size: u64) -> Option<usize> {
    let chunk = size.max(8).next_power_of_two();
    (chunk <= PAGE / 2).then(|| chunk.trailing_zeros() as usize - 3)
}

/// Chunks a page of `class` gives: chunks under 64 bytes keep their bitmap in the page.
fn per_page(class: usize) -> u64 {
    let chunk = 8u64 << class;
    let n = PAGE / chunk;
    if chunk < 64 {
        n - (n / 8).div_ceil(chunk)
    } else {
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_32k_zone_holds_191_limit_req_states_of_binary_addresses() {
        let mut slab = Slab::new(32 * 1024);
        // The shared context (128-byte chunk) and the log context (32-byte chunk).
        assert!(slab.alloc(80) && slab.alloc(25));
        let mut n = 0;
        while slab.alloc(80 + 4) {
            n += 1;
        }
        assert_eq!(n, 191);
        slab.free(84);
        assert!(slab.alloc(84));
        assert!(!slab.alloc(84));
    }

    #[test]
    fn big_nodes_take_pages() {
        let mut slab = Slab::new(32 * 1024);
        assert_eq!(slab.pages, 7);
        assert!(slab.alloc(5000));
        assert_eq!(slab.pages, 5);
    }
}

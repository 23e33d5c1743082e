//! CRC-32 (IEEE, reflected) with nginx's split init/update/final steps, which the `hash`
//! balancer needs to reproduce nginx's choices (Cache::Memcached-compatible keys and ketama
//! points built from a running checksum).

const fn table() -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xedb8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

static TABLE: [u32; 256] = table();

/// nginx's `ngx_crc32_init`.
pub(crate) const INIT: u32 = 0xffff_ffff;

/// nginx's `ngx_crc32_update`: feeds `data` into a running (not yet finalised) checksum.
pub(crate) fn update(mut crc: u32, data: &[u8]) -> u32 {
    for &b in data {
        crc = TABLE[((crc ^ u32::from(b)) & 0xff) as usize] ^ (crc >> 8);
    }
    crc
}

/// nginx's `ngx_crc32_final`.
pub(crate) fn finish(crc: u32) -> u32 {
    crc ^ 0xffff_ffff
}

/// nginx's `ngx_crc32_long`: the checksum of one buffer.
pub(crate) fn crc32(data: &[u8]) -> u32 {
    finish(update(INIT, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(finish(update(update(INIT, b"1234"), b"56789")), 0xcbf4_3926);
    }
}

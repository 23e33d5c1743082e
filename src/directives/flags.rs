//! nginx's `NGX_*_CONF` and `NGX_CONF_*` bits, with nginx's values, so the table reads like
//! nginx's own command arrays.

pub const NOARGS: u32 = 0x0000_0001;
pub const TAKE1: u32 = 0x0000_0002;
pub const TAKE2: u32 = 0x0000_0004;
pub const TAKE3: u32 = 0x0000_0008;
pub const TAKE4: u32 = 0x0000_0010;
pub const TAKE5: u32 = 0x0000_0020;
pub const TAKE6: u32 = 0x0000_0040;
pub const TAKE7: u32 = 0x0000_0080;
pub const TAKE12: u32 = TAKE1 | TAKE2;
pub const TAKE123: u32 = TAKE1 | TAKE2 | TAKE3;
pub const TAKE1234: u32 = TAKE1 | TAKE2 | TAKE3 | TAKE4;
pub const TAKE23: u32 = TAKE2 | TAKE3;
pub const BLOCK: u32 = 0x0000_0100;
pub const FLAG: u32 = 0x0000_0200;
pub const ANY: u32 = 0x0000_0400;
pub const MORE1: u32 = 0x0000_0800;
pub const MORE2: u32 = 0x0000_1000;
pub const DIRECT: u32 = 0x0001_0000;
pub const MAIN: u32 = 0x0100_0000;
pub const ANY_CONF: u32 = 0xFF00_0000;
pub const EVENT: u32 = 0x0200_0000;
pub const HTTP_MAIN: u32 = 0x0200_0000;
pub const HTTP_SRV: u32 = 0x0400_0000;
pub const HTTP_LOC: u32 = 0x0800_0000;
pub const HTTP_UPS: u32 = 0x1000_0000;
pub const HTTP_SIF: u32 = 0x2000_0000;
pub const HTTP_LIF: u32 = 0x4000_0000;
pub const HTTP_LMT: u32 = 0x8000_0000;

/// `argument_number[]` in ngx_conf_file.c: the bit for N arguments.
pub const ARGUMENT_NUMBER: [u32; 8] = [NOARGS, TAKE1, TAKE2, TAKE3, TAKE4, TAKE5, TAKE6, TAKE7];

/// nginx's limit on arguments for directives without `1MORE`/`2MORE`/`ANY`.
pub const MAX_ARGS: usize = 8;

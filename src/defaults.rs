//! Every compiled-in default in one place. Paths are Debian's nginx 1.22 build, so a config
//! that relies on them means the same under ngxr; protocol defaults are nginx 1.22's (nginx
//! 1.29.7 changed some proxy defaults: a later switch selects them here, nowhere else).

/// `--prefix`: where relative log, pid and temp paths start when `-p` is not given.
pub const PREFIX: &str = "/usr/share/nginx/";
/// `--conf-path`: the configuration read when `-c` is not given.
pub const CONF_PATH: &str = "/etc/nginx/nginx.conf";
/// `--error-log-path`: the error log before (and unless) the configuration names one.
pub const ERROR_LOG_PATH: &str = "/var/log/nginx/error.log";
/// `--pid-path`.
pub const PID_PATH: &str = "/run/nginx.pid";
/// The version nginx-compatible output reports (`-v`, `Server:`), the one ngxr follows.
pub const NGINX_VERSION: &str = "1.22.1";

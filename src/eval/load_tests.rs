//! What `nginx -t` checks at load beyond ngxr's served directives, named after the corpus
//! files that showed each: rewrite-module variables, upstreams of `fastcgi_pass` and its
//! siblings, unix upstream servers, and listen sockets the system refuses (unix-domain ones
//! included).

use super::plan::Site;
use super::tests::{http, load};

fn err(body: &str) -> String {
    load(&http(body)).err().unwrap_or_default().join("\n")
}

fn ok(body: &str) -> bool {
    load(&http(body)).is_ok()
}

#[test]
fn rewrite_module_variables_must_be_known() {
    // tailhook ifs.conf / rewrite.conf
    assert_eq!(err("server { if ($x = y) { } }"), "unknown \"x\" variable");
    assert_eq!(
        err("server { rewrite ^/s$ $other_thing break; }"),
        "unknown \"other_thing\" variable"
    );
    assert_eq!(
        err("server { return 200 $nope; }"),
        "unknown \"nope\" variable"
    );
    assert_eq!(err("server { set $a $nope; }"), "unknown \"nope\" variable");
    assert_eq!(
        err("server { location / { if ($uri) { add_header X $nope; } } }"),
        "unknown \"nope\" variable"
    );
}

#[test]
fn inert_cache_predicates_name_known_variables() {
    // `proxy_cache_bypass $http_upgrade` is the tutorials' line; ngxr ignores it but nginx
    // compiles it.
    assert_eq!(
        err("server { location / { proxy_cache_bypass $http_upgrade $nope; } }"),
        "unknown \"nope\" variable"
    );
    assert_eq!(
        err("proxy_no_cache $arg_x $nope2; server { }"),
        "unknown \"nope2\" variable"
    );
    assert_eq!(
        err("server { proxy_cache_key $scheme$nope3; }"),
        "unknown \"nope3\" variable"
    );
    assert!(ok(
        "server { location / { proxy_cache_bypass $http_upgrade $cookie_nocache; } }"
    ));
}

#[test]
fn set_and_other_modules_define_variables_everywhere() {
    // linuxserver-docker-swag ldap-server.conf.sample, authelia-location.conf.sample
    assert!(ok(
        "server { location /a { proxy_set_header X $later; } set $later 1; }"
    ));
    assert!(ok(
        "server { location / { auth_request_set $email $upstream_http_remote_email; \
         proxy_set_header Remote-Email $email; } }"
    ));
    assert!(ok(
        "server { if ($uri ~ ^/(?<part>.+)$) { return 200 $part; } rewrite ^/(?<b>x) /$b$1; }"
    ));
    // magento2: a quoted word may be followed by the closing parenthesis
    assert!(ok("server { if ($uri = \"/x\") { return 404; } }"));
}

#[test]
fn built_in_variables_cannot_be_redefined() {
    assert_eq!(
        err("map $host $scheme { default 1; }"),
        "the duplicate \"scheme\" variable"
    );
    assert_eq!(
        err("server { set $request_id 1; }"),
        "the duplicate \"request_id\" variable"
    );
    assert_eq!(
        err("server { location / { auth_request /a; auth_request_set $scheme x; } }"),
        "the duplicate \"scheme\" variable"
    );
    assert!(ok(
        "map $host $args { default 1; } map $host $http_x { default 1; }"
    ));
}

#[test]
fn rewrite_directives_in_nginx_words() {
    assert_eq!(
        err("server { if ($a ! b) { } }"),
        "unexpected \"!\" in condition"
    );
    assert_eq!(
        err("server { if (-z $uri) { } }"),
        "invalid condition \"-z\""
    );
    assert_eq!(
        err("server { rewrite ^/ /x often; }"),
        "invalid parameter \"often\""
    );
    assert_eq!(err("server { set x 1; }"), "invalid variable name \"x\"");
}

#[test]
fn fastcgi_pass_names_an_upstream_or_a_port() {
    // nginx-swarm-demo phpfpmbase/default.conf, magento2 nginx.conf.sample
    assert!(
        err("server { location / { fastcgi_pass php-handler; } }")
            .starts_with("no port in upstream \"php-handler\" in ")
    );
    assert!(ok(
        "upstream php { server 127.0.0.1:9000; } server { location / { fastcgi_pass php; } }"
    ));
    assert!(ok(
        "server { location / { fastcgi_pass unix:/run/php.sock; grpc_pass grpc://127.0.0.1:9; } }"
    ));
    assert!(
        err("server { location / { uwsgi_pass no-such-host.invalid:9; } }")
            .starts_with("host not found in upstream \"no-such-host.invalid:9\" in ")
    );
}

#[test]
fn unix_upstream_servers_are_valid() {
    // nginx-swarm-demo phpfpmbase/nginx.conf
    assert!(ok("upstream php { server unix:/var/run/php5-fpm.sock; }"));
    assert!(ok("upstream php { server UNIX:/var/run/php5-fpm.sock; }"));
    assert!(ok(
        "server { location / { proxy_pass http://Unix:/run/a.sock:/x; } }"
    ));
}

#[test]
fn multibyte_text_where_unix_may_stand() {
    // Found by the `load` fuzz target: a character across byte 5 of an upstream server.
    assert!(err("upstream u { server loca\u{fffd}x; }").starts_with("host not found"));
    assert!(
        err("server { location / { proxy_pass http://loca\u{fffd}x; } }")
            .starts_with("host not found")
    );
}

#[test]
fn listen_addresses_the_system_refuses() {
    // drupal-with-nginx sites-available/000-default: link-local without a scope
    assert_eq!(
        err("server { listen [fe80::202:b3ff:fe1e:8328]:18080; }"),
        "bind() to [fe80::202:b3ff:fe1e:8328]:18080 failed (22: Invalid argument)"
    );
}

#[test]
fn unix_listen_sockets_as_nginx_checks_them() {
    assert_eq!(
        err("server { listen unix:; }"),
        "no path in the unix domain socket in \"unix:\" of the \"listen\" directive"
    );
    let long = format!("unix:/{}", "x".repeat(107));
    assert_eq!(
        err(&format!("server {{ listen {long}; }}")),
        format!(
            "too long path in the unix domain socket in \"{long}\" of the \"listen\" directive"
        )
    );
    assert_eq!(
        err("server { listen unix:/nonexistent-dir/a.sock; }"),
        "bind() to unix:/nonexistent-dir/a.sock failed (2: No such file or directory)"
    );
    let sock = std::env::temp_dir().join(format!("ngxr-check-{}.sock", std::process::id()));
    let conf = format!(
        "server {{ listen unix:{0} default_server; }} server {{ listen unix:{0} default; }}",
        sock.display()
    );
    assert_eq!(
        err(&conf),
        format!("a duplicate default server for unix:{}", sock.display())
    );
    // The check binds, then deletes the file it made, as `nginx -t` does.
    assert!(ok(&format!("server {{ listen unix:{}; }}", sock.display())));
    assert!(!sock.exists());
}

#[test]
fn listen_options_belong_to_the_socket() {
    // nginx-tests http_listen.t; messages checked with `nginx -t`
    let a = "127.0.0.1:8180";
    assert_eq!(
        err(&format!("server {{ listen {a}; listen {a}; }}")),
        format!("a duplicate listen {a}")
    );
    assert_eq!(
        err(&format!(
            "server {{ listen {a} rcvbuf=8k; }} server {{ listen {a} bind; }}"
        )),
        format!("duplicate listen options for {a}")
    );
    // The same listen first: a duplicate listen, though the options are duplicated too.
    assert_eq!(
        err(&format!("server {{ listen {a} bind; listen {a} bind; }}")),
        format!("a duplicate listen {a}")
    );
    assert_eq!(
        err(&format!(
            "server {{ listen {a} default_server; }} server {{ listen {a} default bind; }}"
        )),
        format!("a duplicate default server for {a}")
    );
    assert_eq!(
        err("server { listen 127.0.0.1:8180 fastopen=x; }"),
        "invalid fastopen \"fastopen=x\""
    );
    // Options given by a later listen of the address are the socket's.
    let site = load(&http(&format!(
        "server {{ listen {a}; }} server {{ listen {a} sndbuf=4k deferred so_keepalive=off; }}"
    )))
    .unwrap();
    let socket = &site.listens()[0].socket;
    assert_eq!(socket.sndbuf, Some(4096));
    assert!(socket.deferred);
    assert_eq!(
        socket.so_keepalive,
        Some(crate::config::listen_options::SoKeepalive::Off)
    );
}

#[test]
fn a_specific_address_with_options_has_its_own_socket() {
    let listens = |body: &str| {
        let site = load(&http(body)).unwrap();
        let addrs: Vec<String> = site.listens().iter().map(|l| l.addr.to_string()).collect();
        addrs
    };
    assert_eq!(
        listens("server { listen 8180; } server { listen 127.0.0.1:8180; }"),
        ["0.0.0.0:8180"]
    );
    assert_eq!(
        listens("server { listen 8180; } server { listen 127.0.0.1:8180 bind; }"),
        ["127.0.0.1:8180", "0.0.0.0:8180"]
    );
    assert_eq!(
        listens("server { listen 8181; listen 8180; } server { listen 127.0.0.1:8180 backlog=9; }"),
        ["0.0.0.0:8181", "127.0.0.1:8180", "0.0.0.0:8180"]
    );
}

#[test]
fn upstream_zones_are_checked_across_upstreams() {
    // nginx-tests upstream_zone.t: a zone sized once may be named again without a size
    let u = |name: &str, zone: &str| format!("upstream {name} {{ server 127.0.0.1:1; {zone} }}");
    assert!(ok(&(u("a", "zone z 1m;") + &u("b", "zone z;"))));
    assert!(ok(&(u("a", "zone z;") + &u("b", "zone z 64k;"))));
    assert_eq!(
        err(&u("a", "zone z;")),
        "zero size shared memory zone \"z\""
    );
    assert_eq!(err(&u("a", "zone z 32767;")), "zone \"z\" is too small");
    assert_eq!(err(&u("a", "zone z big;")), "invalid zone size \"big\"");
    assert_eq!(
        err(&(u("a", "zone z 1m;") + &u("b", "zone z 2m;"))),
        "the size 2097152 of shared memory zone \"z\" conflicts with already declared size 1048576"
    );
}

/// The `ngxr::unsupported` diagnostics of `conf`, as the text each one points at.
fn unsupported(conf: &str) -> Vec<String> {
    let dir = std::env::temp_dir().join(format!("ngxr-unsup-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{:?}.conf", std::thread::current().id()));
    std::fs::write(&path, http(conf)).unwrap();
    let paths = crate::cli::Paths::resolve(Some(&dir), Some(&path));
    let loaded = crate::load::load(&paths).unwrap();
    assert!(loaded.refusal().is_some());
    loaded
        .diagnostics
        .iter()
        .filter(|d| d.code == crate::directives::UNSUPPORTED)
        .map(|d| loaded.tree.sources.text(d.span.unwrap()).to_string())
        .collect()
}

#[test]
fn unimplemented_variables_are_refused_where_they_are_written() {
    // Inherited by both locations, compiled at each: reported once.
    assert_eq!(
        unsupported(
            "log_format f '$tcpinfo_rttvar ' \"$remote_addr ${tcpinfo_rtt}\";
             server { add_header X \"a$tcpinfo_rtt\"; location /a { } location /b { } }"
        ),
        ["$tcpinfo_rttvar", "${tcpinfo_rtt}", "$tcpinfo_rtt"]
    );
    assert_eq!(
        unsupported(
            "server { if ($upstream_queue_time) { } set $x $upstream_trailer_grpc_status; }"
        ),
        ["$upstream_queue_time", "$upstream_trailer_grpc_status"]
    );
    assert!(ok(
        "server { set $limit_rate 10k; add_header X $limit_rate$connections_active; }"
    ));
    assert!(ok(
        "server { return 200 $upstream_cache_status$proxy_protocol_addr$http2; }"
    ));
    assert!(ok("server { add_header X $request_body; }"));
}

#[test]
fn malformed_directives_are_reported_not_lowered() {
    // Found by the `load` fuzz target: lowering runs after the arity error is known.
    assert_eq!(
        err("server { error_page x; }"),
        "invalid number of arguments in \"error_page\" directive"
    );
}

/// Every directive of nginx's table, in every context it may stand in, with argument lists of
/// each awkward shape at once: lowering runs after the directive rules have reported them and
/// must carry on without a panic (the `load` fuzz target found two that did not).
#[test]
fn every_directive_with_awkward_arguments_loads() {
    use crate::directives::flags::*;
    const SHAPES: [&str; 11] = [
        "",
        " x",
        " =",
        " x y",
        " = x",
        " 1 2 3",
        " ~ x",
        " \"\" \"\"",
        " x= =y",
        " unix: -1 0 a=b",
        " loca\u{fffd}x é=ü ~*ü",
    ];
    // Context bit, then the text around the directive's lines.
    let contexts: [(u32, &str, &str); 8] = [
        (MAIN, "", ""),
        (EVENT, "events {\n", "}\n"),
        (HTTP_MAIN, "http {\n", "}\n"),
        (HTTP_SRV, "http { server {\n", "} }\n"),
        (HTTP_LOC, "http { server { location / {\n", "} } }\n"),
        (HTTP_UPS, "http { upstream u {\n", "} }\n"),
        (HTTP_SIF, "http { server { if ($uri) {\n", "} } }\n"),
        (
            HTTP_LIF,
            "http { server { location / { if ($uri) {\n",
            "} } } }\n",
        ),
    ];
    for (bit, open, close) in contexts {
        for shape in SHAPES {
            let mut conf = String::from(open);
            for spec in crate::directives::all()
                .iter()
                .filter(|s| s.flags & bit != 0)
            {
                let body = if spec.flags & BLOCK != 0 {
                    " { x y; }"
                } else {
                    ";"
                };
                conf.push_str(&format!("{}{shape}{body}\n", spec.name));
            }
            conf.push_str(close);
            let outcome = std::panic::catch_unwind(|| load(&conf).map(drop));
            assert!(outcome.is_ok(), "a panic loading:\n{conf}");
        }
    }
}

#[test]
fn access_log_parameters_in_nginx_words() {
    assert_eq!(
        err("access_log /dev/null combined buffer=0;"),
        "invalid buffer size \"0\""
    );
    assert_eq!(
        err("access_log /dev/null combined flush=x buffer=4k;"),
        "invalid flush time \"x\""
    );
    assert_eq!(
        err("access_log /dev/null combined flush=5s;"),
        "no buffer is defined for access_log \"/dev/null\""
    );
    assert_eq!(
        err("access_log /dev/null combined sometimes;"),
        "invalid parameter \"sometimes\""
    );
    assert!(ok(
        "access_log /dev/null combined buffer=32k flush=5s if=$arg_x;"
    ));
    assert_eq!(
        err("access_log /dev/null combined gzip=10;"),
        "invalid compression level \"10\""
    );
    assert_eq!(
        err("access_log /dev/null combined gzipped;"),
        "invalid parameter \"gzipped\""
    );
    assert_eq!(
        err("access_log /dev/null combined buffer=8k; \
             server { access_log /dev/null combined gzip; }"),
        "access_log \"/dev/null\" already defined with conflicting parameters"
    );
    assert!(ok("access_log /dev/null combined buffer=64k; \
                server { access_log /dev/null combined; access_log /dev/null combined buffer=64k; }"));
    // `gzip` alone buffers 64k, so `flush=` has its buffer.
    assert!(ok("access_log /dev/null combined flush=5s gzip=9;"));
}

#[test]
fn keepalive_timeout_takes_a_header_value() {
    assert!(ok("keepalive_timeout 75s 60;"));
    assert_eq!(
        err("keepalive_timeout 75s 1x;"),
        "\"keepalive_timeout\" directive invalid value"
    );
}

#[test]
fn proxy_bind_is_checked_as_nginx_checks_it() {
    let bind = |value: &str| err(&format!("proxy_bind {value}; server {{ }}"));
    assert_eq!(bind("127.0.0.2"), "");
    assert_eq!(bind("127.0.0.2:8000 transparent"), "");
    assert_eq!(bind("[::1]:80"), "");
    assert_eq!(bind("off"), "");
    assert_eq!(bind("$arg_b"), "");
    assert_eq!(bind("localhost"), "invalid address \"localhost\"");
    assert_eq!(bind("off transparent"), "invalid address \"off\"");
    assert_eq!(bind("127.0.0.2 other"), "invalid parameter \"other\"");
    assert_eq!(bind("$nope"), "unknown \"nope\" variable");
    assert_eq!(
        err("proxy_bind off; proxy_bind 127.0.0.2; server { }"),
        "\"proxy_bind\" directive is duplicate"
    );
}

#[test]
fn client_body_temp_path_levels_as_nginx_reads_them() {
    assert!(ok("client_body_temp_path /tmp/b 1 2 3;"));
    assert!(ok(
        "client_body_temp_path /tmp/b/ 5 5; client_body_in_file_only clean;"
    ));
    let invalid = "\"client_body_temp_path\" directive invalid value";
    assert_eq!(err("client_body_temp_path /tmp/b 0;"), invalid);
    // The levels take more than a file's 10 digits.
    assert_eq!(err("client_body_temp_path /tmp/b 5 5 1;"), invalid);
    assert_eq!(
        err("client_body_in_file_only maybe;"),
        "invalid value \"maybe\""
    );
}

#[test]
fn cache_zones_belong_to_the_module_that_names_them_first() {
    let fastcgi_zone = "fastcgi_cache_path /tmp/ngxr-fc keys_zone=f:1m;";
    assert_eq!(
        err(&format!(
            "{fastcgi_zone} server {{ location / {{ proxy_cache f; proxy_pass http://127.0.0.1:9; }} }}"
        )),
        "the shared memory zone \"f\" is already declared for a different use"
    );
    // `proxy_cache` named it first: the path is the one refused.
    assert_eq!(
        err("server { proxy_cache f; } fastcgi_cache_path /tmp/ngxr-fc keys_zone=f:1m;"),
        "the shared memory zone \"f\" is already declared for a different use"
    );
    assert_eq!(
        err(
            "server { location / { fastcgi_cache nope; fastcgi_cache_key $uri; \
             fastcgi_pass 127.0.0.1:9; } }"
        ),
        "\"fastcgi_cache\" zone \"nope\" is unknown"
    );
    // No key is a warning only.
    assert!(ok(&format!(
        "{fastcgi_zone} server {{ location / {{ fastcgi_cache f; fastcgi_pass 127.0.0.1:9; }} }}"
    )));
}

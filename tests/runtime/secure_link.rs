//! The secure_link module against nginx: links with and without an expiry (passed, to
//! come, malformed), hashes in base64url with padding or garbage after `=`, the old
//! `secure_link_secret` form on the request URI, and the settings inherited one by one.

use base64ct::Encoding as _;
use md5::{Digest as _, Md5};

use crate::common::{nginx, temp_dir};
use crate::files::through_both;

const CONFIG: &str = r#"
events {}
http {
    access_log off;
    server {
        listen 127.0.0.1:PORT;
        location /s/ {
            secure_link $arg_h,$arg_e;
            secure_link_md5 "$secure_link_expires$uri secret";
            return 200 "[$secure_link][$secure_link_expires]\n";
        }
        location /plain/ {
            secure_link $arg_h;
            secure_link_md5 "$uri";
            if ($secure_link = "") { return 403; }
            return 200 "[$secure_link][$secure_link_expires]\n";
        }
        location /old/ {
            secure_link_secret s3;
            return 200 "[$secure_link]\n";
        }
        location /half/ {
            secure_link $arg_h;
            location /half/md5/ {
                secure_link_md5 "$uri";
                return 200 "[$secure_link]\n";
            }
            return 200 "[$secure_link]\n";
        }
    }
}
"#;

fn hash(text: &str) -> String {
    base64ct::Base64UrlUnpadded::encode_string(&Md5::digest(text.as_bytes()))
}

#[test]
fn links_are_judged_as_nginx_judges_them() {
    let Some(nginx) = nginx() else { return };
    let base = temp_dir("secure-link");
    let later = "4102444800";
    let mut targets = vec![
        format!("/s/a?h={}", hash("/s/a secret")),
        format!("/s/a?h={}&e={later}", hash(&format!("{later}/s/a secret"))),
        format!("/s/a?h={}&e=1000", hash("1000/s/a secret")),
        format!("/s/a?h={}&e=0", hash("0/s/a secret")),
        format!("/s/a?h={}&e=1x", hash("1x/s/a secret")),
        format!("/s/a?h=AAAA&e={later}"),
        "/s/a?h=&e=".to_string(),
        format!("/plain/b?h={}", hash("/plain/b")),
        format!("/plain/b?h={}==", hash("/plain/b")),
        format!("/plain/b?h={}=zz", hash("/plain/b")),
        format!("/plain/b?h={}A", hash("/plain/b")),
        format!("/plain/b?h={}", hash("/plain/c")),
        "/plain/b".to_string(),
        format!("/half/md5/x?h={}", hash("/half/md5/x")),
        format!("/half/x?h={}", hash("/half/x")),
    ];
    let link = "p/a.txt?x=1";
    let hex: String = Md5::digest(format!("{link}s3").as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    targets.push(format!("/old/{hex}/{link}"));
    targets.push(format!("/old/{}/{link}", hex.to_uppercase()));
    targets.push(format!("/old/{hex}/p/b.txt"));
    targets.push(format!("/old/{hex}/"));
    targets.push("/old/short/p".to_string());
    let probes: Vec<String> = targets
        .iter()
        .map(|t| format!("GET {t} HTTP/1.1\r\nHost: a\r\n"))
        .collect();
    let seen = through_both(nginx, CONFIG, &base, &probes);
    assert_eq!(seen[0].0, seen[1].0);
    for answer in [
        "[1][]",
        &format!("[1][{later}]"),
        "[0][1000]",
        &format!("[][{later}]"),
        "403",
        "[p/a.txt?x=1]",
        "[]",
    ] {
        assert!(seen[1].0.iter().any(|a| a.contains(answer)), "{answer}");
    }
}

use super::*;

/// Method, target, HTTP/1.0, headers and head length, as text.
type Parts = (String, String, bool, Vec<(String, String)>, usize);

/// Parses `input` and renders the parts found, or the error.
fn check(input: &[u8]) -> Result<Option<Parts>, ParseError> {
    let mut at = HeadAt::default();
    if !parse_head(input, &mut at)? {
        return Ok(None);
    }
    let s = |r: &Range<usize>| String::from_utf8_lossy(&input[r.clone()]).into_owned();
    let headers = at.headers.iter().map(|(n, v)| (s(n), s(v))).collect();
    Ok(Some((
        s(&at.method),
        s(&at.target),
        at.http10,
        headers,
        at.len,
    )))
}

fn headers(input: &[u8]) -> Vec<(String, String)> {
    check(input).expect("valid").expect("complete").3
}

#[test]
fn names_keep_their_spelling_and_order() {
    let got = headers(b"GET / HTTP/1.1\r\nhost: a\r\nX-b: 1\r\nx-B:2\r\n\r\n");
    let want = [("host", "a"), ("X-b", "1"), ("x-B", "2")];
    assert_eq!(got, want.map(|(n, v)| (n.to_string(), v.to_string())));
}

#[test]
fn bare_lf_ends_lines_as_in_nginx() {
    let (method, target, http10, headers, len) =
        check(b"\r\n\nPOST /a?b HTTP/1.0\nHost: x \n\nbody")
            .expect("valid")
            .expect("complete");
    assert_eq!(
        (method.as_str(), target.as_str(), http10),
        ("POST", "/a?b", true)
    );
    assert_eq!(headers, [("Host".to_string(), "x".to_string())]);
    assert_eq!(len, 32);
}

#[test]
fn values_lose_outer_spaces_only() {
    let got = headers(b"GET / HTTP/1.1\r\nA:   x y  \r\nB:\r\nC\r\nD: \tz\r\n\r\n");
    let values: Vec<&str> = got.iter().map(|(_, v)| v.as_str()).collect();
    assert_eq!(values, ["x y", "", "", "\tz"]);
    assert_eq!(got[2].0, "C");
}

#[test]
fn incomplete_heads_wait_for_more() {
    let full = b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n";
    for n in 0..full.len() {
        assert_eq!(check(&full[..n]), Ok(None), "{n} bytes");
    }
    assert!(check(full).expect("valid").is_some());
}

#[test]
fn obs_fold_is_an_invalid_header() {
    let folded = b"GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n  continued\r\n\r\n";
    assert_eq!(check(folded), Err(ParseError::InvalidHeader));
    assert_eq!(
        check(b"GET / HTTP/1.1\r\n: x\r\n\r\n"),
        Err(ParseError::InvalidHeader)
    );
    assert_eq!(
        check(b"GET / HTTP/1.1\r\nA\x01b: x\r\n\r\n"),
        Err(ParseError::InvalidHeader)
    );
    assert_eq!(
        check(b"GET / HTTP/1.1\r\nA: x\0\r\n\r\n"),
        Err(ParseError::InvalidHeader)
    );
    assert_eq!(
        check(b"GET / HTTP/1.1\r\nA: x\rB\r\n\r\n"),
        Err(ParseError::InvalidHeader)
    );
}

#[test]
fn names_nginx_ignores_are_passed_on_for_the_site_to_drop() {
    let got = headers(b"GET / HTTP/1.1\r\nX_Under: 1\r\nX@y: 2\r\n\r\n");
    assert_eq!(got.len(), 2);
}

#[test]
fn bad_request_lines_get_nginx_s_status() {
    let status = |line: &[u8]| check(line).map(|_| 200).unwrap_or_else(ParseError::status);
    assert_eq!(status(b"get / HTTP/1.1\r\n\r\n"), 400);
    assert_eq!(status(b"GET x/ HTTP/1.1\r\n\r\n"), 400);
    assert_eq!(status(b"GET /a b HTTP/1.1\r\n\r\n"), 400);
    assert_eq!(status(b"GET /\x01 HTTP/1.1\r\n\r\n"), 400);
    assert_eq!(status(b"GET / HTTP/2.0\r\n\r\n"), 505);
    assert_eq!(status(b"GET / HTTP/1.1x\r\n\r\n"), 400);
    assert_eq!(status(b"GET / HTTP/1.1\rx\r\n"), 400);
    assert_eq!(status(b"GET / HTTP/0.9\r\n\r\n"), 400);
    assert_eq!(status(b"GET  /  HTTP/1.1  \r\n\r\n"), 200);
    assert_eq!(status(b"GET http://h/x HTTP/1.1\r\n\r\n"), 200);
}

#[test]
fn huge_heads_are_refused_as_nginx_does() {
    let long_uri = [b"GET /".as_slice(), &[b'a'; LINE_LIMIT], b" HTTP/1.1\r\n"].concat();
    assert_eq!(check(&long_uri), Err(ParseError::UriTooLarge));
    assert_eq!(ParseError::UriTooLarge.status(), 414);
    let long_line = [b"GET / HTTP/1.1\r\nX: ".as_slice(), &[b'a'; LINE_LIMIT]].concat();
    assert_eq!(check(&long_line), Err(ParseError::HeaderTooLarge));
    let mut many = b"GET / HTTP/1.1\r\n".to_vec();
    while many.len() <= HEAD_LIMIT {
        many.extend_from_slice(b"X-Filler: 0123456789012345678901234567890123456789\r\n");
    }
    assert_eq!(check(&many), Err(ParseError::HeaderTooLarge));
    assert_eq!(ParseError::HeaderTooLarge.status(), 494);
}

#[test]
fn pipelined_heads_end_where_the_next_begins() {
    let two = b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n";
    let first = check(two).expect("valid").expect("complete");
    assert_eq!(first.1, "/1");
    let second = check(&two[first.4..]).expect("valid").expect("complete");
    assert_eq!((second.1.as_str(), first.4 + second.4), ("/2", two.len()));
}

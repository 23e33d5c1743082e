use super::*;

/// Method, target, HTTP/1.0, headers and head length, as text.
type Parts = (String, String, bool, Vec<(String, String)>, usize);

const DEFAULT: HeaderBuffers = crate::defaults::http::HEADER_BUFFERS;

/// Parses `input` and renders the parts found, or the error.
fn check(input: &[u8]) -> Result<Option<Parts>, ParseError> {
    check_in(input, DEFAULT)
}

/// `client_header_buffer_size` and `large_client_header_buffers` as given.
fn buffers(client: usize, large_num: usize, large_size: usize) -> HeaderBuffers {
    HeaderBuffers {
        client,
        large_num,
        large_size,
        uniform: true,
        merge_slashes: true,
    }
}

/// [`check`] with other header buffers.
fn check_in(input: &[u8], buffers: HeaderBuffers) -> Result<Option<Parts>, ParseError> {
    let mut at = HeadAt::default();
    let vhost = Vhost {
        buffers,
        by_name: &|_| buffers,
    };
    if !parse_head(input, &mut at, Room::fresh(&buffers), &vhost)? {
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
fn targets_nginx_cannot_resolve_are_refused_once_the_line_is_read() {
    // No header is needed: the line alone decides.
    assert_eq!(
        check(b"GET /a%zz HTTP/1.1\r\n"),
        Err(ParseError::InvalidTarget)
    );
    assert_eq!(
        check(b"GET /a%00 HTTP/1.1\r\n"),
        Err(ParseError::InvalidTarget)
    );
    assert_eq!(
        check(b"GET /a/../.. HTTP/1.1\r\n"),
        Err(ParseError::InvalidTarget)
    );
    assert_eq!(check(b"GET /a/%2e%2e/x HTTP/1.1\r\n"), Ok(None));
    // An absolute form's host of bytes the line's states refuse is the line's error.
    assert_eq!(
        check(b"GET http://h_x/ HTTP/1.1\r\n"),
        Err(ParseError::InvalidRequest)
    );
    assert_eq!(check(b"GET http://h:8/ HTTP/1.1\r\n"), Ok(None));
}

/// A request line and a header line of `len` bytes, line end included.
fn line(prefix: &str, len: usize, end: &str) -> Vec<u8> {
    let fill = len - prefix.len() - end.len();
    [prefix.as_bytes(), &vec![b'a'; fill], end.as_bytes()].concat()
}

#[test]
fn huge_heads_are_refused_as_nginx_does() {
    let request = |len| line("GET /", len, " HTTP/1.1\r\n");
    let fits = [request(8192), b"\r\n".to_vec()].concat();
    assert!(check(&fits).expect("valid").is_some());
    let long_uri = [request(8193), b"\r\n".to_vec()].concat();
    assert_eq!(check(&long_uri), Err(ParseError::UriTooLarge));
    assert_eq!(ParseError::UriTooLarge.status(), 414);
    let header = |len| {
        [
            b"GET / HTTP/1.1\r\n".to_vec(),
            line("X: ", len, "\r\n"),
            b"\r\n".to_vec(),
        ]
        .concat()
    };
    assert!(check(&header(8192)).expect("valid").is_some());
    assert_eq!(check(&header(8193)), Err(ParseError::HeaderTooLarge));
    let mut many = b"GET / HTTP/1.1\r\n".to_vec();
    while many.len() <= 1024 + 4 * 8192 {
        many.extend_from_slice(b"X-Filler: 0123456789012345678901234567890123456789\r\n");
    }
    assert_eq!(check(&many), Err(ParseError::HeaderTooLarge));
    assert_eq!(ParseError::HeaderTooLarge.status(), 494);
}

#[test]
fn a_request_line_fitting_the_first_buffer_may_be_longer_than_a_large_one() {
    let head = [line("GET /", 9000, " HTTP/1.1\r\n"), b"\r\n".to_vec()].concat();
    assert!(
        check_in(&head, buffers(16384, 4, 8192))
            .expect("valid")
            .is_some()
    );
    assert_eq!(check(&head), Err(ParseError::UriTooLarge));
}

#[test]
fn lines_move_to_large_buffers_until_none_is_left() {
    let small = buffers(10, 2, 20);
    // The request line moves to the first large buffer (0..20), `A` to the second (16..36).
    let head = b"GET / HTTP/1.1\r\nA: 1\r\nB: 1\r\n\r\n";
    assert!(check_in(head, small).expect("valid").is_some());
    // `C` ends the second buffer: the empty line after it needs a third.
    let full = b"GET / HTTP/1.1\r\nA: 1\r\nB: 1\r\nC: 123\r\n\r\n";
    assert_eq!(check_in(full, small), Err(ParseError::HeaderTooLarge));
    // A line as long as a large buffer moves whole; one byte more cannot.
    let long = b"GET / HTTP/1.1\r\nA: 123456789012345\r\n\r\n";
    assert_eq!(check_in(long, small), Err(ParseError::HeaderTooLarge));
    assert!(check_in(long, buffers(10, 3, 20)).expect("valid").is_some());
    let longer = b"GET / HTTP/1.1\r\nA: 1234567890123456\r\n\r\n";
    assert_eq!(
        check_in(longer, buffers(10, 3, 20)),
        Err(ParseError::HeaderTooLarge)
    );
}

#[test]
fn empty_lines_before_the_request_line_reuse_the_first_buffer() {
    let head = [&b"\r\n".repeat(6)[..], b"GET / HTTP/1.1\r\n\r\n"].concat();
    assert!(
        check_in(&head, buffers(10, 1, 20))
            .expect("valid")
            .is_some()
    );
}

#[test]
fn an_empty_first_buffer_does_not_loop() {
    // The runtime closes such a connection first, as nginx does; the parser still ends.
    let head = b"\r\n\r\nGET / HTTP/1.1\r\n\r\n";
    assert!(check_in(head, buffers(0, 2, 100)).expect("valid").is_some());
}

#[test]
fn what_lies_past_the_buffer_is_not_parsed_before_the_move() {
    // nginx refuses the size before it reads the bad byte.
    let head = [line("GET /", 8193, " HTTP/1.1\r\n"), b"\x01".to_vec()].concat();
    let mut at = HeadAt::default();
    let vhost = Vhost {
        buffers: DEFAULT,
        by_name: &|_| DEFAULT,
    };
    let got = parse_head(&head, &mut at, Room::fresh(&DEFAULT), &vhost);
    assert_eq!((got, at.cut), (Err(ParseError::UriTooLarge), 8192));
}

#[test]
fn the_host_chooses_the_buffers_of_the_lines_after_it() {
    let wide = buffers(10, 4, 8192);
    let narrow = buffers(10, 4, 100);
    let parse = |head: &[u8]| {
        let mut at = HeadAt::default();
        let by_name = |name: &[u8]| if name == b"wide" { wide } else { narrow };
        let vhost = Vhost {
            buffers: HeaderBuffers {
                uniform: false,
                merge_slashes: true,
                ..narrow
            },
            by_name: &by_name,
        };
        parse_head(head, &mut at, Room::fresh(&narrow), &vhost).map(|_| ())
    };
    let long = line("X: ", 200, "\r\n");
    let head =
        |first: &[u8], second: &[u8]| [b"GET / HTTP/1.1\r\n", first, second, b"\r\n"].concat();
    assert_eq!(parse(&head(b"Host: wide\r\n", &long)), Ok(()));
    assert_eq!(
        parse(&head(&long, b"Host: wide\r\n")),
        Err(ParseError::HeaderTooLarge)
    );
    assert_eq!(
        parse(&head(b"Host: other\r\n", &long)),
        Err(ParseError::HeaderTooLarge)
    );
    let absolute = [
        b"GET http://wide/ HTTP/1.1\r\nHost: other\r\n".as_slice(),
        &long,
        b"\r\n",
    ]
    .concat();
    assert_eq!(parse(&absolute), Ok(()));
}

#[test]
fn pipelined_heads_end_where_the_next_begins() {
    let two = b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n";
    let first = check(two).expect("valid").expect("complete");
    assert_eq!(first.1, "/1");
    let second = check(&two[first.4..]).expect("valid").expect("complete");
    assert_eq!((second.1.as_str(), first.4 + second.4), ("/2", two.len()));
}

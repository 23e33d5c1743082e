use super::*;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, ExtendedKeyUsagePurpose, IsCa, KeyPair,
};

/// A CA named `name`, self-signed or issued by `by`.
fn ca(
    name: &str,
    by: Option<&CertifiedIssuer<'static, KeyPair>>,
) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::new()).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    let key = KeyPair::generate().expect("key");
    match by {
        None => CertifiedIssuer::self_signed(params, key).expect("root"),
        Some(issuer) => CertifiedIssuer::signed_by(params, key, issuer).expect("intermediate"),
    }
}

/// A client certificate issued by `by`, shaped by `edit`.
fn client(
    by: &CertifiedIssuer<'static, KeyPair>,
    edit: impl FnOnce(&mut CertificateParams),
) -> CertificateDer<'static> {
    let mut params = CertificateParams::new(Vec::new()).expect("params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "client");
    edit(&mut params);
    let key = KeyPair::generate().expect("key");
    params.signed_by(&key, by).expect("client").der().clone()
}

fn store(trusted: &[&CertifiedIssuer<'static, KeyPair>], depth: u32) -> Store {
    Store {
        trusted: trusted.iter().map(|c| c.der().to_vec()).collect(),
        crls: None,
        depth,
        algorithms: rustls::crypto::ring::default_provider().signature_verification_algorithms,
    }
}

fn now() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_secs(),
    )
    .expect("secs")
}

fn code_of(store: &Store, chain: &[CertificateDer<'_>]) -> u32 {
    store.verify(chain, now()).map_or(0, |e| e.code)
}

#[test]
fn chains_verify_as_openssl_builds_them() {
    let root = ca("root", None);
    let int = ca("int", Some(&root));
    let direct = client(&root, |_| {});
    let below_int = client(&int, |_| {});
    let trusting_root = store(&[&root], 1);
    assert_eq!(code_of(&trusting_root, std::slice::from_ref(&direct)), 0);
    assert_eq!(
        code_of(&trusting_root, &[below_int.clone(), int.der().clone()]),
        0
    );
    assert_eq!(
        code_of(&trusting_root, std::slice::from_ref(&below_int)),
        21,
        "a lone certificate of an unknown issuer"
    );
    assert_eq!(
        code_of(&store(&[&root], 0), &[below_int.clone(), int.der().clone()]),
        20,
        "depth 0 leaves no room for the intermediate"
    );
    assert_eq!(
        code_of(&store(&[&root, &int], 0), std::slice::from_ref(&below_int)),
        2,
        "the trusted intermediate's issuer is past the depth"
    );
    assert_eq!(code_of(&store(&[&root, &int], 1), &[below_int]), 0);
    // A CA certificate as the client's own, as nginx's tests use them.
    assert_eq!(code_of(&trusting_root, &[int.der().clone()]), 0);
    assert_eq!(code_of(&trusting_root, &[root.der().clone()]), 0);
    let stranger = ca("stranger", None);
    assert_eq!(code_of(&trusting_root, &[stranger.der().clone()]), 18);
    assert_eq!(
        code_of(
            &trusting_root,
            &[client(&stranger, |_| {}), stranger.der().clone()]
        ),
        19
    );
}

#[test]
fn validity_purpose_and_signatures_are_checked() {
    let root = ca("root", None);
    let trusting_root = store(&[&root], 1);
    let expired = client(&root, |p| {
        p.not_before = rcgen::date_time_ymd(2000, 1, 1);
        p.not_after = rcgen::date_time_ymd(2001, 1, 1);
    });
    assert_eq!(code_of(&trusting_root, &[expired]), 10);
    let future = client(&root, |p| {
        p.not_before = rcgen::date_time_ymd(2090, 1, 1);
        p.not_after = rcgen::date_time_ymd(2091, 1, 1);
    });
    assert_eq!(code_of(&trusting_root, &[future]), 9);
    let server_only = client(&root, |p| {
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    });
    assert_eq!(code_of(&trusting_root, &[server_only]), 26);
    let client_auth = client(&root, |p| {
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    });
    assert_eq!(code_of(&trusting_root, &[client_auth]), 0);
    // Same name as the trusted root, another key.
    let impostor = ca("root", None);
    assert_eq!(code_of(&trusting_root, &[client(&impostor, |_| {})]), 7);
}

#[test]
fn crls_are_needed_for_every_certificate_when_set() {
    let root = ca("root", None);
    let int = ca("int", Some(&root));
    let crl = |issuer: &CertifiedIssuer<'static, KeyPair>, revoked: &[&CertificateDer<'_>]| {
        let revoked_certs = revoked
            .iter()
            .map(|c| rcgen::RevokedCertParams {
                serial_number: rcgen::SerialNumber::from_slice(
                    crate::x509::Certificate::parse(c).expect("cert").serial,
                ),
                revocation_time: rcgen::date_time_ymd(2020, 1, 1),
                reason_code: None,
                invalidity_date: None,
            })
            .collect();
        rcgen::CertificateRevocationListParams {
            this_update: rcgen::date_time_ymd(2020, 1, 1),
            next_update: rcgen::date_time_ymd(2090, 1, 1),
            crl_number: rcgen::SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: rcgen::KeyIdMethod::Sha256,
        }
        .signed_by(issuer)
        .expect("crl")
        .der()
        .to_vec()
    };
    let leaf = client(&int, |_| {});
    let chain = [leaf.clone(), int.der().clone()];
    let with = |crls: Vec<Vec<u8>>| Store {
        crls: Some(crls),
        ..store(&[&root], 2)
    };
    assert_eq!(
        code_of(&with(vec![crl(&root, &[])]), &chain),
        3,
        "no CRL of int"
    );
    assert_eq!(
        code_of(&with(vec![crl(&root, &[]), crl(&int, &[])]), &chain),
        0
    );
    assert_eq!(
        code_of(
            &with(vec![crl(&root, &[int.der()]), crl(&int, &[])]),
            &chain
        ),
        23,
        "the intermediate is revoked"
    );
    assert_eq!(
        code_of(&with(vec![crl(&root, &[]), crl(&int, &[&leaf])]), &chain),
        23
    );
    assert_eq!(
        code_of(&with(vec![crl(&root, &[int.der()])]), &chain),
        23,
        "the leaf's missing CRL does not hide the intermediate's revocation"
    );
}

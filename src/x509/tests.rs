use super::*;

fn ca() -> rcgen::CertifiedIssuer<'static, rcgen::KeyPair> {
    let mut params = rcgen::CertificateParams::new(Vec::new()).expect("params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(2));
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "test ca");
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "Org, Inc.");
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    rcgen::CertifiedIssuer::self_signed(params, rcgen::KeyPair::generate().expect("key"))
        .expect("ca")
}

#[test]
fn a_certificate_reads_as_openssl_sees_it() {
    let ca = ca();
    let mut params = rcgen::CertificateParams::new(vec!["a.test".into()]).expect("params");
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&[0x00, 0xff, 0x01]));
    params.not_before = rcgen::date_time_ymd(2000, 2, 29);
    params.not_after = rcgen::date_time_ymd(2050, 1, 1);
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "leaf");
    let leaf = params
        .signed_by(&rcgen::KeyPair::generate().expect("key"), &ca)
        .expect("leaf");
    let cert = Certificate::parse(leaf.der()).expect("parses");
    assert_eq!(cert.serial, &[0x00, 0xff, 0x01]);
    assert_eq!(cert.not_before, 951_782_400);
    assert_eq!(cert.not_after, 2_524_608_000);
    assert_eq!(
        cert.issuer,
        Certificate::parse(ca.der()).expect("ca").subject
    );
    assert_eq!(name::rfc2253(cert.issuer), "O=Org\\, Inc.,CN=test ca");
    assert_eq!(name::rfc2253(cert.subject), "CN=leaf");
    assert!(!cert.self_issued());
    let ext = &cert.extensions;
    assert_eq!(ext.client_auth, Some(false));
    assert_eq!(ext.key_usage, Some(key_usage::DIGITAL_SIGNATURE));
    assert!(!ext.unhandled_critical);
    assert!(cert.tbs.len() < cert.der.len() && cert.der.ends_with(cert.signature));

    let root = Certificate::parse(ca.der()).expect("ca");
    assert!(root.self_issued());
    assert_eq!(root.extensions.ca, Some(true));
    assert_eq!(root.extensions.path_len, Some(2));
    assert_eq!(
        root.extensions.key_usage,
        Some(key_usage::KEY_CERT_SIGN | key_usage::CRL_SIGN)
    );
    assert_eq!(root.extensions.client_auth, None);
    assert!(Certificate::parse(&leaf.der()[..40]).is_none());
}

#[test]
fn a_crl_lists_its_revoked_serials() {
    let ca = ca();
    let revoked = |serial: &[u8]| rcgen::RevokedCertParams {
        serial_number: rcgen::SerialNumber::from_slice(serial),
        revocation_time: rcgen::date_time_ymd(2020, 1, 1),
        reason_code: None,
        invalidity_date: None,
    };
    let params = rcgen::CertificateRevocationListParams {
        this_update: rcgen::date_time_ymd(2020, 1, 1),
        next_update: rcgen::date_time_ymd(2050, 1, 1),
        crl_number: rcgen::SerialNumber::from(1u64),
        issuing_distribution_point: None,
        revoked_certs: vec![revoked(&[0x10, 0x00]), revoked(&[0x05])],
        key_identifier_method: rcgen::KeyIdMethod::Sha256,
    };
    let crl = params.signed_by(&ca).expect("crl");
    let parsed = Crl::parse(crl.der()).expect("parses");
    assert_eq!(
        parsed.issuer,
        Certificate::parse(ca.der()).expect("ca").subject
    );
    assert_eq!(parsed.this_update, 1_577_836_800);
    assert_eq!(parsed.next_update, Some(2_524_608_000));
    assert_eq!(parsed.revoked, vec![&[0x10, 0x00][..], &[0x05][..]]);
}

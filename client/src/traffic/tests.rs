//! Captures written packet by packet with known answers; bad inputs.
#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

use std::net::IpAddr;
use std::path::Path;

use attestlog_proto::predicate::{Statement, statement_from_value, template};
use attestlog_proto::verification::{FindingResult, Verdict};
use serde_json::json;

use super::analysis::{Flag, Report, analyse};
use super::geoip::GeoIp;
use super::testing::{
    Frames, LinkType, Packet, Tcp, client_hello, dns_response, geoip_db, pcap_file, pcapng_file,
};
use super::{Limits, Observations, TrafficError, Transport, read_capture};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

const DEVICE: &str = "10.0.0.2";
const DEVICE6: &str = "fd00::2";
const RESOLVER: &str = "10.0.0.1";

/// The claim: flow 0 (threat samples, CH) to ksn-eu/*.cdn by name or 192.0.2.0/24 on 443,
/// update.vendor.example (never contacted) and 2001:db8:10::/48 on UDP 123; flow 1
/// (telemetry, DE) to telemetry.vendor.example:443; RU excluded.
pub(crate) fn claim_value() -> serde_json::Value {
    let mut t = template();
    let flow0 = &mut t["predicate"]["data_flows"][0];
    flow0["destinations"] = json!([
        {"hostnames": ["ksn-eu.vendor.example", "*.cdn.vendor.example"], "ip_ranges": ["192.0.2.0/24"], "ports": [443]},
        {"hostnames": ["update.vendor.example"], "ports": [443]},
        {"ip_ranges": ["2001:db8:10::/48"], "ports": [123]}
    ]);
    let mut flow1 = flow0.clone();
    flow1["category"] = json!("telemetry");
    flow1["destinations"] = json!([{"hostnames": ["telemetry.vendor.example"], "ports": [443]}]);
    flow1["processing_locations"][0]["country"] = json!("DE");
    flow1["processing_locations"][0]["city"] = json!("Frankfurt");
    flow1["remote_access_jurisdictions"] = json!(["DE"]);
    flow1["processors"][0]["jurisdiction"] = json!("DE");
    t["predicate"]["data_flows"] = json!([flow0.clone(), flow1]);
    t
}

fn claim() -> Statement {
    statement_from_value(claim_value()).unwrap()
}

pub(crate) fn geoip_networks() -> Vec<(&'static str, &'static str)> {
    vec![
        ("192.0.2.0/24", "CH"),
        ("198.51.100.0/24", "CH"),
        ("203.0.113.0/25", "RU"),
        ("203.0.113.128/25", "NL"),
        ("2001:db8:10::/48", "CH"),
        ("2001:db8:20::/48", "DE"),
    ]
}

/// Expected byte counts of one endpoint: (sent, received).
struct Expect {
    sent: u64,
    received: u64,
}

/// The story capture and its expected per-endpoint bytes (IP layer).
pub(crate) struct Story {
    pub packets: Vec<Packet>,
    ksn: Expect,
    cdn: Expect,
    ntp6: Expect,
    telemetry6: Expect,
    tracker: Expect,
    udp_nl: Expect,
    wrong_port: Expect,
}

fn ip_len(frame_payload: usize, v6: bool, tcp: bool) -> u64 {
    let ip = if v6 { 40 } else { 20 };
    let l4 = if tcp { 20 } else { 8 };
    (ip + l4 + frame_payload) as u64
}

/// Builds the story capture on `link`: IPv4 and IPv6, DNS, TLS (a ClientHello split over two
/// segments), plain TCP and UDP, local traffic.
pub(crate) fn story(link: LinkType) -> Story {
    let f = Frames { link };
    let dev = |p| (ip(DEVICE), p);
    let dev6 = |p| (ip(DEVICE6), p);
    let mut packets = Vec::new();
    let mut t = 1_796_000_000u32;
    let mut push = |data: Vec<u8>| {
        t += 1;
        packets.push(Packet { time: t, data });
    };
    // DNS answers (from the local resolver).
    for (name, cname, addrs) in [
        ("ksn-eu.vendor.example", None, vec![ip("192.0.2.10")]),
        (
            "img.cdn.vendor.example",
            Some("edge.cdnprovider.example"),
            vec![ip("198.51.100.20")],
        ),
        ("telemetry.vendor.example", None, vec![ip("2001:db8:20::5")]),
        ("collector.tracker.example", None, vec![ip("203.0.113.50")]),
    ] {
        push(f.udp(dev(40_000), (ip(RESOLVER), 53), b"query"));
        push(f.udp(
            (ip(RESOLVER), 53),
            dev(40_000),
            &dns_response(name, cname, &addrs),
        ));
    }
    // TLS to ksn-eu: handshake, a ClientHello split over two segments, a server answer.
    let hello = client_hello("ksn-eu.vendor.example", 1800);
    let srv = (ip("192.0.2.10"), 443);
    push(f.tcp(dev(50_000), srv, Tcp::Syn, &[]));
    push(f.tcp(srv, dev(50_000), Tcp::SynAck, &[]));
    push(f.tcp(dev(50_000), srv, Tcp::Data, &hello[..1000]));
    push(f.tcp(dev(50_000), srv, Tcp::Data, &hello[1000..]));
    push(f.tcp(srv, dev(50_000), Tcp::Data, &[0x16; 500]));
    let ksn = Expect {
        sent: ip_len(0, false, true)
            + ip_len(1000, false, true)
            + ip_len(hello.len() - 1000, false, true),
        received: ip_len(0, false, true) + ip_len(500, false, true),
    };
    // Plain HTTP to the CDN name (named by the DNS answer's CNAME chain).
    let cdn_srv = (ip("198.51.100.20"), 443);
    push(f.tcp(dev(50_001), cdn_srv, Tcp::Syn, &[]));
    push(f.tcp(dev(50_001), cdn_srv, Tcp::Data, b"GET / HTTP/1.1\r\n\r\n"));
    let cdn = Expect {
        sent: ip_len(0, false, true) + ip_len(18, false, true),
        received: 0,
    };
    // The same address serving another site over TLS: its SNI, not the address's DNS names,
    // names that connection, so it is undeclared.
    let other = client_hello("other.site.example", 0);
    push(f.tcp(dev(50_004), cdn_srv, Tcp::Syn, &[]));
    push(f.tcp(dev(50_004), cdn_srv, Tcp::Data, &other));
    // IPv6 TLS to telemetry; the opening was not captured (port heuristics decide).
    let tel = (ip("2001:db8:20::5"), 443);
    let hello6 = client_hello("telemetry.vendor.example", 0);
    push(f.tcp(dev6(51_000), tel, Tcp::Data, &hello6));
    push(f.tcp(tel, dev6(51_000), Tcp::Data, &[1; 100]));
    let telemetry6 = Expect {
        sent: ip_len(hello6.len(), true, true),
        received: ip_len(100, true, true),
    };
    // IPv6 UDP to a declared range.
    let ntp = (ip("2001:db8:10::1"), 123);
    push(f.udp(dev6(51_001), ntp, &[0; 48]));
    push(f.udp(ntp, dev6(51_001), &[0; 48]));
    let ntp6 = Expect {
        sent: ip_len(48, true, false),
        received: ip_len(48, true, false),
    };
    // Undeclared: TLS to a tracker in an excluded country.
    let tr = (ip("203.0.113.50"), 443);
    let hello_tr = client_hello("collector.tracker.example", 0);
    push(f.tcp(dev(50_002), tr, Tcp::Syn, &[]));
    push(f.tcp(dev(50_002), tr, Tcp::Data, &hello_tr));
    push(f.tcp(dev(50_002), tr, Tcp::Data, &[9; 4000]));
    let tracker = Expect {
        sent: ip_len(0, false, true)
            + ip_len(hello_tr.len(), false, true)
            + ip_len(4000, false, true),
        received: 0,
    };
    // Undeclared: plain UDP, no name.
    let nl = (ip("203.0.113.200"), 9999);
    push(f.udp(dev(40_001), nl, b"hello"));
    let udp_nl = Expect {
        sent: ip_len(5, false, false),
        received: 0,
    };
    // Undeclared: a declared address on an undeclared port.
    let wp = (ip("192.0.2.10"), 8080);
    push(f.tcp(dev(50_003), wp, Tcp::Syn, &[]));
    let wrong_port = Expect {
        sent: ip_len(0, false, true),
        received: 0,
    };
    // Local traffic: not matched.
    push(f.udp(dev(40_002), (ip("10.0.0.255"), 137), b"netbios"));
    Story {
        packets,
        ksn,
        cdn,
        ntp6,
        telemetry6,
        tracker,
        udp_nl,
        wrong_port,
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn read(p: &Path) -> Result<Observations, TrafficError> {
    read_capture(p, Limits::default(), &|_| {})
}

fn geoip(dir: &Path) -> GeoIp {
    let p = write(dir, "geo.mmdb", &geoip_db(&geoip_networks()));
    GeoIp::open(&p).unwrap()
}

fn find<'a>(
    eps: impl IntoIterator<Item = &'a super::analysis::EndpointReport>,
    addr: &str,
    port: u16,
) -> &'a super::analysis::EndpointReport {
    eps.into_iter()
        .find(|e| e.ip == ip(addr) && e.port == port)
        .unwrap_or_else(|| panic!("{addr}:{port} not in the report"))
}

fn check_story(report: &Report, s: &Story, with_geo: bool) {
    let f0 = &report.flows[0];
    let ksn = find(&f0.destinations[0].seen, "192.0.2.10", 443);
    assert_eq!(ksn.hostname.as_deref(), Some("ksn-eu.vendor.example"));
    assert_eq!(
        (ksn.bytes_sent, ksn.bytes_received),
        (s.ksn.sent, s.ksn.received)
    );
    assert_eq!(ksn.transport, Transport::Tcp);
    assert_eq!(ksn.connections, 1);
    let cdn = find(&f0.destinations[0].seen, "198.51.100.20", 443);
    assert_eq!(
        cdn.names,
        ["edge.cdnprovider.example", "img.cdn.vendor.example"]
    );
    assert_eq!(
        (cdn.bytes_sent, cdn.bytes_received),
        (s.cdn.sent, s.cdn.received)
    );
    assert_eq!(f0.destinations[0].seen.len(), 2);
    assert!(
        f0.destinations[1].seen.is_empty(),
        "update.vendor.example: declared, not seen"
    );
    let ntp = find(&f0.destinations[2].seen, "2001:db8:10::1", 123);
    assert_eq!(ntp.transport, Transport::Udp);
    assert_eq!(
        (ntp.bytes_sent, ntp.bytes_received),
        (s.ntp6.sent, s.ntp6.received)
    );
    let tel = find(&report.flows[1].destinations[0].seen, "2001:db8:20::5", 443);
    assert_eq!(tel.hostname.as_deref(), Some("telemetry.vendor.example"));
    assert_eq!(
        (tel.bytes_sent, tel.bytes_received),
        (s.telemetry6.sent, s.telemetry6.received)
    );
    assert_eq!(report.undeclared.len(), 4, "{:#?}", report.undeclared);
    let shared = report
        .undeclared
        .iter()
        .find(|e| e.hostname.as_deref() == Some("other.site.example"))
        .unwrap();
    assert_eq!((shared.ip, shared.port), (ip("198.51.100.20"), 443));
    assert_eq!(shared.names, ["other.site.example"]);
    let tr = find(&report.undeclared, "203.0.113.50", 443);
    assert_eq!(tr.hostname.as_deref(), Some("collector.tracker.example"));
    assert_eq!(
        (tr.bytes_sent, tr.bytes_received),
        (s.tracker.sent, s.tracker.received)
    );
    let nl = find(&report.undeclared, "203.0.113.200", 9999);
    assert_eq!(nl.hostname, None);
    assert_eq!(
        (nl.bytes_sent, nl.bytes_received),
        (s.udp_nl.sent, s.udp_nl.received)
    );
    let wp = find(&report.undeclared, "192.0.2.10", 8080);
    assert_eq!(wp.hostname.as_deref(), Some("ksn-eu.vendor.example"));
    assert_eq!(wp.bytes_sent, s.wrong_port.sent);
    // DNS to the local resolver and NetBIOS broadcast are local.
    assert_eq!(report.capture.local_connections, 2);
    if with_geo {
        assert_eq!(ksn.country.as_deref(), Some("CH"));
        assert_eq!(tel.country.as_deref(), Some("DE"));
        assert_eq!(tr.country.as_deref(), Some("RU"));
        assert_eq!(tr.flags, [Flag::ExcludedJurisdiction]);
        assert_eq!(nl.country.as_deref(), Some("NL"));
        assert!(nl.flags.is_empty());
        assert_eq!(f0.result, FindingResult::Consistent);
        assert_eq!(report.flows[1].result, FindingResult::Consistent);
        assert_eq!(report.verdict, Verdict::Contradicted);
    } else {
        assert!(ksn.country.is_none());
        assert_eq!(report.verdict, Verdict::Inconclusive);
    }
}

#[test]
fn story_capture_every_link_type_and_format() {
    let dir = tempfile::tempdir().unwrap();
    let geo = geoip(dir.path());
    for link in [LinkType::Ethernet, LinkType::LinuxSll, LinkType::RawIp] {
        let s = story(link);
        for (name, bytes) in [
            ("c.pcap", pcap_file(link, &s.packets)),
            ("c.pcapng", pcapng_file(link, &s.packets)),
        ] {
            let p = write(dir.path(), name, &bytes);
            let obs = read(&p).unwrap();
            assert_eq!(obs.packets, s.packets.len() as u64, "{link:?} {name}");
            assert!(obs.warnings.is_empty(), "{:?}", obs.warnings);
            assert_eq!(obs.first_seen, Some(1_796_000_001));
            assert_eq!(obs.last_seen, Some(1_796_000_000 + s.packets.len() as i64));
            let with = analyse(&claim(), &obs, Some(&geo)).unwrap();
            check_story(&with, &s, true);
            let without = analyse(&claim(), &obs, None).unwrap();
            check_story(&without, &s, false);
        }
    }
}

#[test]
fn a_declared_endpoint_in_another_country_contradicts_its_flow() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "geo.mmdb", &geoip_db(&[("192.0.2.0/24", "US")]));
    let geo = GeoIp::open(&p).unwrap();
    let s = story(LinkType::Ethernet);
    let cap = write(
        dir.path(),
        "c.pcap",
        &pcap_file(LinkType::Ethernet, &s.packets),
    );
    let report = analyse(&claim(), &read(&cap).unwrap(), Some(&geo)).unwrap();
    let ksn = find(&report.flows[0].destinations[0].seen, "192.0.2.10", 443);
    assert_eq!(ksn.flags, [Flag::OutsideDeclaredLocations]);
    assert_eq!(report.flows[0].result, FindingResult::Contradicted);
    assert_eq!(report.verdict, Verdict::Contradicted);
    let text = report.render_text();
    assert!(
        text.contains("!! outside the flow's declared countries"),
        "{text}"
    );
    assert!(
        text.contains("data flow 0 (threat_samples), declared countries CH: CONTRADICTED"),
        "{text}"
    );
}

#[test]
fn a_truncated_final_packet_is_skipped_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let s = story(LinkType::Ethernet);
    let mut bytes = pcap_file(LinkType::Ethernet, &s.packets);
    let f = Frames {
        link: LinkType::Ethernet,
    };
    // One more packet, cut short in each file format.
    let extra_packet = Packet {
        time: 1_796_100_000,
        data: f.tcp(
            (ip(DEVICE), 50_009),
            (ip("203.0.113.60"), 443),
            Tcp::Syn,
            &[],
        ),
    };
    let extra = super::testing::pcap_record(&extra_packet);
    bytes.extend_from_slice(&extra[..extra.len() - 7]);
    let p = write(dir.path(), "trunc.pcap", &bytes);
    let obs = read(&p).unwrap();
    assert_eq!(obs.packets, s.packets.len() as u64);
    assert_eq!(obs.warnings.len(), 1);
    assert!(
        obs.warnings[0].contains("truncated final packet"),
        "{:?}",
        obs.warnings
    );
    let report = analyse(&claim(), &obs, None).unwrap();
    check_story(&report, &s, false);
    // The same in pcapng: the last enhanced packet block cut short.
    let mut bytes = pcapng_file(LinkType::Ethernet, &s.packets);
    let whole = pcapng_file(LinkType::Ethernet, &[]).len();
    let with_extra = pcapng_file(LinkType::Ethernet, &[extra_packet]);
    let block = &with_extra[whole..];
    bytes.extend_from_slice(&block[..block.len() - 7]);
    let p = write(dir.path(), "trunc.pcapng", &bytes);
    let obs = read(&p).unwrap();
    assert_eq!(obs.packets, s.packets.len() as u64);
    assert_eq!(obs.warnings.len(), 1, "{:?}", obs.warnings);
    assert!(
        obs.warnings[0].contains("truncated final packet"),
        "{:?}",
        obs.warnings
    );
    check_story(&analyse(&claim(), &obs, None).unwrap(), &s, false);
    // A packet cut by the snapshot length (caplen < the IP length) still counts.
    let cut = f.tcp(
        (ip(DEVICE), 50_010),
        (ip("203.0.113.61"), 443),
        Tcp::Data,
        &[5; 1000],
    );
    let short = Packet {
        time: 1_796_100_001,
        data: cut[..80].to_vec(),
    };
    let p = write(
        dir.path(),
        "snap.pcap",
        &pcap_file(LinkType::Ethernet, &[short]),
    );
    let obs = read(&p).unwrap();
    let (key, stats) = obs.endpoints.iter().next().unwrap();
    assert_eq!(key.ip, ip("203.0.113.61"));
    assert_eq!(
        stats.bytes_sent, 1040,
        "the IP header's length, not the captured bytes"
    );
}

#[test]
fn corrupt_and_unsupported_captures_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    // A pcap header, then a record claiming 4 GiB.
    let mut bytes = pcap_file(LinkType::Ethernet, &[]);
    bytes.extend_from_slice(&[
        0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    ]);
    bytes.extend_from_slice(&[0u8; 300_000]);
    let p = write(dir.path(), "huge-record.pcap", &bytes);
    let e = read(&p).unwrap_err();
    assert!(matches!(e, TrafficError::Corrupt { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("huge-record.pcap is not a valid capture"),
        "{e}"
    );
    // pcapng magic, then a broken block length.
    let p = write(
        dir.path(),
        "bad.pcapng",
        &[
            0x0a, 0x0d, 0x0d, 0x0a, 3, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
            16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28,
        ],
    );
    let e = read(&p).unwrap_err();
    assert!(matches!(e, TrafficError::Corrupt { .. }), "{e}");
    // Another link type (IEEE 802.11 = 105).
    let p = write(
        dir.path(),
        "wifi.pcap",
        &pcap_file(LinkType::Other(105), &[]),
    );
    let e = read(&p).unwrap_err();
    assert!(
        e.to_string().contains("link type 105 is not supported"),
        "{e}"
    );
    let p = write(
        dir.path(),
        "wifi.pcapng",
        &pcapng_file(LinkType::Other(105), &[]),
    );
    assert!(read(&p).unwrap_err().to_string().contains("link type 105"));
    // Empty.
    let p = write(dir.path(), "empty.pcap", &[]);
    assert!(matches!(read(&p).unwrap_err(), TrafficError::Empty { .. }));
}

#[test]
fn csv_and_zeek_conn_logs() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "c.csv",
        b"ts,src_ip,dst_ip,dst_port,proto,hostname,bytes_sent,bytes_received\n\
          2026-12-01T10:00:00Z,10.0.0.2,192.0.2.10,443,tcp,ksn-eu.vendor.example,100,200\n\
          2026-12-01T10:00:05Z,10.0.0.2,192.0.2.10,443,tcp,ksn-eu.vendor.example,1,2\n\
          2026-12-01T10:01:00Z,10.0.0.2,203.0.113.50,443,tcp,\"collector.tracker.example\",5,0\n",
    );
    let obs = read(&p).unwrap();
    assert_eq!(obs.packets, 3);
    let report = analyse(&claim(), &obs, Some(&geoip(dir.path()))).unwrap();
    let ksn = find(&report.flows[0].destinations[0].seen, "192.0.2.10", 443);
    assert_eq!(
        (ksn.connections, ksn.bytes_sent, ksn.bytes_received),
        (2, 101, 202)
    );
    assert_eq!(report.undeclared[0].flags, [Flag::ExcludedJurisdiction]);
    assert_eq!(report.verdict, Verdict::Contradicted);
    assert_eq!(obs.first_seen, Some(1_796_119_200));

    let p = write(
        dir.path(),
        "cols.csv",
        b"ts,dst_ip,bytes\n2026-12-01T10:00:00Z,192.0.2.10,5\n",
    );
    let e = read(&p).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}: the connections CSV lacks the required column(s) dst_port (its header: ts,dst_ip,bytes)",
            p.display()
        )
    );
    let p = write(
        dir.path(),
        "row.csv",
        b"dst_ip,dst_port\n192.0.2.10,443\n192.0.2.10,https\n",
    );
    let e = read(&p).unwrap_err();
    assert!(
        e.to_string()
            .ends_with("line 3: dst_port \"https\" is not a port number"),
        "{e}"
    );

    let zeek = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n\
#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents\n\
#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]\n\
1796000000.123456\tC1\t10.0.0.2\t50000\t192.0.2.10\t443\ttcp\tssl\t1.0\t500\t900\tSF\t-\t-\t0\tShADadFf\t5\t700\t4\t1100\t-\n\
1796000010.5\tC2\t10.0.0.2\t40000\t203.0.113.200\t9999\tudp\t-\t-\t5\t-\tS0\t-\t-\t0\tD\t1\t33\t0\t0\t-\n\
1796000011.5\tC3\t10.0.0.2\t0\t192.0.2.10\t0\ticmp\t-\t-\t-\t-\tOTH\t-\t-\t0\t-\t1\t28\t0\t0\t-\n";
    let p = write(dir.path(), "conn.log", zeek.as_bytes());
    let obs = read(&p).unwrap();
    assert_eq!((obs.packets, obs.other_packets), (3, 1));
    assert_eq!(obs.first_seen, Some(1_796_000_000));
    let report = analyse(&claim(), &obs, None).unwrap();
    let ksn = find(&report.flows[0].destinations[0].seen, "192.0.2.10", 443);
    assert_eq!((ksn.bytes_sent, ksn.bytes_received), (700, 1100));
    assert_eq!(
        find(&report.undeclared, "203.0.113.200", 9999).transport,
        Transport::Udp
    );
    let json_log = "{\"ts\":1796000000.1,\"id.orig_h\":\"10.0.0.2\",\"id.orig_p\":5,\"id.resp_h\":\"2001:db8:20::5\",\"id.resp_p\":443,\"proto\":\"tcp\",\"orig_bytes\":10,\"resp_bytes\":20}\n";
    let p = write(dir.path(), "conn.json", json_log.as_bytes());
    let obs = read(&p).unwrap();
    let (key, stats) = obs.endpoints.iter().next().unwrap();
    assert_eq!((key.ip, key.port), (ip("2001:db8:20::5"), 443));
    assert_eq!((stats.bytes_sent, stats.bytes_received), (10, 20));
}

#[test]
fn too_many_connections_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let f = Frames {
        link: LinkType::RawIp,
    };
    let packets: Vec<Packet> = (0..50u16)
        .map(|i| Packet {
            time: 1,
            data: f.udp((ip(DEVICE), 10_000 + i), (ip("203.0.113.9"), 53), b"x"),
        })
        .collect();
    let p = write(
        dir.path(),
        "many.pcap",
        &pcap_file(LinkType::RawIp, &packets),
    );
    let limits = Limits {
        max_connections: 20,
        ..Limits::default()
    };
    let e = read_capture(&p, limits, &|_| {}).unwrap_err();
    assert!(
        matches!(e, TrafficError::TooManyConnections { limit: 20, .. }),
        "{e}"
    );
}

/// The conn.log and CSV readers keep one entry per remote endpoint: the same bound on
/// distinct connections as a capture's (`Limits::admit_connection`), refused naming the
/// file and the limit; repeated connections to a known endpoint and local ones add nothing.
#[test]
fn connection_logs_are_bounded_like_captures() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_connections: 20,
        ..Limits::default()
    };
    let remote = |i: u16| format!("203.0.113.{}", 1 + i % 200);
    // CSV rows, TSV conn.log rows and JSON conn.log rows of connections to `n` endpoints
    // (ports tell them apart), each endpoint `times` times, plus `local` local connections.
    let logs = |n: u16, times: u16, local: u16| {
        let (mut csv, mut tsv, mut json) = (
            String::from("dst_ip,dst_port,proto\n"),
            String::from("#separator \\x09\n#fields\tid.resp_h\tid.resp_p\tproto\n"),
            String::new(),
        );
        for _ in 0..times {
            for i in 0..n {
                let (a, port) = (remote(i), 1000 + i);
                csv.push_str(&format!("{a},{port},tcp\n"));
                tsv.push_str(&format!("{a}\t{port}\ttcp\n"));
                json.push_str(&format!(
                    "{{\"id.resp_h\":\"{a}\",\"id.resp_p\":{port},\"proto\":\"udp\"}}\n"
                ));
            }
        }
        for i in 0..local {
            csv.push_str(&format!("10.0.0.9,{i},tcp\n"));
            tsv.push_str(&format!("10.0.0.9\t{i}\ttcp\n"));
            json.push_str(&format!(
                "{{\"id.resp_h\":\"10.0.0.9\",\"id.resp_p\":{i},\"proto\":\"udp\"}}\n"
            ));
        }
        [("c.csv", csv), ("conn.log", tsv), ("conn.json", json)]
    };
    // At the limit, with every connection repeated and many local ones: read.
    for (name, text) in logs(20, 5, 100) {
        let p = write(dir.path(), name, text.as_bytes());
        let obs = read_capture(&p, limits, &|_| {}).unwrap();
        assert_eq!(obs.endpoints.len(), 20, "{name}");
        assert_eq!(obs.local_connections, 100, "{name}");
        assert!(obs.endpoints.values().all(|e| e.connections == 5), "{name}");
    }
    // One endpoint more: refused, naming the file and the limit.
    for (name, text) in logs(21, 1, 0) {
        let p = write(dir.path(), name, text.as_bytes());
        let e = read_capture(&p, limits, &|_| {}).unwrap_err();
        assert!(
            matches!(e, TrafficError::TooManyConnections { limit: 20, .. }),
            "{name}: {e}"
        );
        let msg = e.to_string();
        assert!(
            msg.starts_with(&format!(
                "{} holds more than 20 distinct connections",
                p.display()
            )),
            "{msg}"
        );
    }
}

/// Unfinished TLS ClientHellos are held within a budget for all connections together: a
/// finished one gives its bytes back; more unfinished ones than the budget allows is a clear
/// error, not memory growing with the capture.
#[test]
fn unfinished_client_hellos_are_held_within_a_budget() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_pending_hellos: 20_000,
        ..Limits::default()
    };
    // The story's ClientHello split over two segments is held, then given back.
    let s = story(LinkType::Ethernet);
    let p = write(
        dir.path(),
        "story.pcap",
        &pcap_file(LinkType::Ethernet, &s.packets),
    );
    let obs = read_capture(&p, limits, &|_| {}).unwrap();
    check_story(&analyse(&claim(), &obs, None).unwrap(), &s, false);
    // Connections that each send the first 1,000 bytes of a 1,800-byte ClientHello and stop.
    let f = Frames {
        link: LinkType::Ethernet,
    };
    let hello = client_hello("ksn-eu.vendor.example", 1800);
    let unfinished = |n: u16| -> Vec<Packet> {
        (0..n)
            .flat_map(|i| {
                let me = (ip(DEVICE), 52_000 + i);
                let srv = (ip("192.0.2.10"), 443);
                [
                    Packet {
                        time: 1,
                        data: f.tcp(me, srv, Tcp::Syn, &[]),
                    },
                    Packet {
                        time: 2,
                        data: f.tcp(me, srv, Tcp::Data, &hello[..1000]),
                    },
                ]
            })
            .collect()
    };
    let p = write(
        dir.path(),
        "few.pcap",
        &pcap_file(LinkType::Ethernet, &unfinished(10)),
    );
    let obs = read_capture(&p, limits, &|_| {}).unwrap();
    let (key, stats) = obs.endpoints.iter().next().unwrap();
    assert_eq!((key.name.as_deref(), stats.connections), (None, 10));
    let p = write(
        dir.path(),
        "many.pcap",
        &pcap_file(LinkType::Ethernet, &unfinished(40)),
    );
    let e = read_capture(&p, limits, &|_| {}).unwrap_err();
    assert!(
        matches!(e, TrafficError::TooManyPendingHellos { limit: 20_000, .. }),
        "{e}"
    );
    assert!(
        e.to_string()
            .contains("many.pcap holds more than 20000 bytes of unfinished TLS ClientHellos"),
        "{e}"
    );
}

/// Peak resident memory of this process (Linux), in bytes.
fn peak_rss() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[test]
fn a_huge_capture_is_streamed_in_bounded_memory() {
    use std::io::Write as _;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("huge.pcap");
    let f = Frames {
        link: LinkType::Ethernet,
    };
    let srv = (ip("192.0.2.10"), 443);
    let frame = f.tcp((ip(DEVICE), 50_000), srv, Tcp::Data, &[0xab; 1400]);
    let record = super::testing::pcap_record(&Packet {
        time: 7,
        data: frame,
    });
    let count: u64 = 60_000;
    {
        let mut w = std::io::BufWriter::new(std::fs::File::create(&p).unwrap());
        w.write_all(&pcap_file(LinkType::Ethernet, &[])).unwrap();
        for _ in 0..count {
            w.write_all(&record).unwrap();
        }
        w.flush().unwrap();
    }
    let size = std::fs::metadata(&p).unwrap().len();
    assert!(size > 80 * 1024 * 1024);
    let before = peak_rss();
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
    let seen = AtomicU64::new(0);
    let largest_read = AtomicU64::new(0);
    let obs = read_capture(&p, Limits::default(), &|n| {
        let before = seen.swap(n, Relaxed);
        largest_read.fetch_max(n - before, Relaxed);
    })
    .unwrap();
    assert_eq!(obs.packets, count);
    assert_eq!(seen.load(Relaxed), size, "progress reaches the end");
    // Streamed: read in buffer-sized pieces, never slurped.
    assert!(
        largest_read.load(Relaxed) <= 1024 * 1024,
        "{largest_read:?}"
    );
    let (_, stats) = obs.endpoints.iter().next().unwrap();
    assert_eq!(stats.bytes_sent, count * 1440);
    if let (Some(b), Some(a)) = (before, peak_rss()) {
        assert!(
            // Generous: other tests run in this process at the same time.
            a.saturating_sub(b) < size / 2,
            "reading a {size}-byte capture raised peak memory by {} bytes",
            a - b
        );
    }
}

#[test]
fn geoip_file_that_is_not_a_maxmind_db_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "x.mmdb", b"not a database");
    let e = GeoIp::open(&p).unwrap_err();
    assert!(
        e.to_string().contains("is not a usable MaxMind DB file"),
        "{e}"
    );
}

fn cli(args: &[&str]) -> (u8, String) {
    let mut out = Vec::new();
    let mut argv = vec!["attestlog"];
    argv.extend_from_slice(args);
    let code = crate::cli::run(argv, &mut out).unwrap();
    (code, String::from_utf8(out).unwrap())
}

#[test]
fn check_traffic_command_reports_by_data_flow() {
    let dir = tempfile::tempdir().unwrap();
    let claim = write(
        dir.path(),
        "claim.json",
        serde_json::to_string_pretty(&claim_value())
            .unwrap()
            .as_bytes(),
    );
    let s = story(LinkType::Ethernet);
    let cap = write(
        dir.path(),
        "c.pcapng",
        &pcapng_file(LinkType::Ethernet, &s.packets),
    );
    let geo = write(dir.path(), "geo.mmdb", &geoip_db(&geoip_networks()));
    let (claim, cap, geo) = (
        claim.to_str().unwrap(),
        cap.to_str().unwrap(),
        geo.to_str().unwrap(),
    );
    let (code, text) = cli(&["check-traffic", claim, "--capture", cap, "--geoip", geo]);
    assert_eq!(
        code,
        crate::cli::EXIT_FAILURE,
        "contradicted exits 1:\n{text}"
    );
    for want in [
        "data flow 0 (threat_samples), declared countries CH: consistent",
        "  declared, not seen: update.vendor.example (port 443)",
        "    ksn-eu.vendor.example 192.0.2.10:443/tcp 1 connection(s)",
        "data flow 1 (telemetry), declared countries DE: consistent",
        "    telemetry.vendor.example [2001:db8:20::5]:443/tcp",
        "UNDECLARED endpoints (seen, never declared):",
        "  collector.tracker.example 203.0.113.50:443/tcp 1 connection(s)",
        ", country RU  !! in an excluded jurisdiction",
        "verdict: CONTRADICTED",
    ] {
        assert!(text.contains(want), "{want:?} not in\n{text}");
    }
    let (code, json_text) = cli(&["--json", "check-traffic", claim, "--capture", cap]);
    assert_eq!(code, crate::cli::EXIT_OK, "inconclusive without countries");
    let v: serde_json::Value = serde_json::from_str(&json_text).unwrap();
    assert_eq!(v["verdict"], "inconclusive");
    assert_eq!(v["flows"][0]["destinations"][1]["seen"], json!([]));
    assert_eq!(v["undeclared"].as_array().unwrap().len(), 4);
    assert_eq!(v["capture"]["format"], "pcapng");
    // Signing needs the claim's log entry.
    let key = dir.path().join("lab.key");
    std::fs::write(&key, "x").unwrap();
    let out = dir.path().join("v.json");
    let mut buf = Vec::new();
    let err = crate::cli::run(
        [
            "attestlog",
            "check-traffic",
            claim,
            "--capture",
            cap,
            "--sign",
            key.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
        &mut buf,
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("--sign needs the claim's log entry"),
        "{err}"
    );
    assert!(!out.exists());
}

/// The policy for an endpoint no flow declares (docs/check-traffic.md, "Undeclared
/// endpoints"): in an excluded jurisdiction it contradicts the claim; elsewhere — even in a
/// country no flow names — it makes the verdict `inconclusive`, never `consistent`, and is
/// listed with its country in `undeclared`.
#[test]
fn undeclared_endpoints_outside_excluded_countries_are_inconclusive() {
    let dir = tempfile::tempdir().unwrap();
    let geo = write(
        dir.path(),
        "geo.mmdb",
        &geoip_db(&[
            ("192.0.2.0/24", "CH"),
            ("203.0.113.0/25", "RU"),
            ("203.0.113.128/25", "US"),
        ]),
    );
    let geo = GeoIp::open(&geo).unwrap();
    let csv = |rows: &str| {
        let p = write(
            dir.path(),
            "c.csv",
            format!(
                "dst_ip,dst_port,hostname,bytes\n192.0.2.10,443,ksn-eu.vendor.example,100\n{rows}"
            )
            .as_bytes(),
        );
        analyse(&claim(), &read(&p).unwrap(), Some(&geo)).unwrap()
    };
    // Declared traffic only: consistent.
    assert_eq!(csv("").verdict, Verdict::Consistent);
    // An undeclared host in the US, a country no flow declares and the claim does not exclude.
    let r = csv("203.0.113.200,443,ads.example,5000\n");
    assert_eq!(r.verdict, Verdict::Inconclusive);
    assert_eq!(r.undeclared.len(), 1);
    assert_eq!(r.undeclared[0].country.as_deref(), Some("US"));
    assert!(r.undeclared[0].flags.is_empty());
    assert_eq!(r.flows[0].result, FindingResult::Consistent);
    // The same in RU, which the claim excludes: contradicted.
    let r = csv("203.0.113.7,443,ads.example,5000\n");
    assert_eq!(r.verdict, Verdict::Contradicted);
    assert_eq!(r.undeclared[0].flags, [Flag::ExcludedJurisdiction]);
}

/// The seed corpora of the fuzz targets `traffic_csv` and `traffic_zeek`
/// (`fuzz/corpus/<target>/`), run as the targets run them, so CI exercises the readers
/// without cargo-fuzz: each file, and every prefix and one-byte mutation of it, is read
/// without a panic and with consistent results; the corpus holds inputs that read and inputs
/// that do not.
#[test]
fn fuzz_seed_corpora_of_the_text_readers() {
    for (target, check) in [
        ("traffic_csv", super::csv_check as fn(&[u8]) -> bool),
        ("traffic_zeek", super::zeek_check),
    ] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fuzz/corpus")
            .join(target);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        assert!(files.len() >= 8, "{target}: {files:?}");
        let mut read = 0;
        for f in &files {
            let data = std::fs::read(f).unwrap();
            read += usize::from(check(&data));
            let step = (data.len() / 61).max(1);
            for i in (0..data.len()).step_by(step) {
                let _ = check(&data[..i]);
                for b in [b'\n', b',', b'\t', b'"', b'{', b'9', b'-', 0xff] {
                    let mut m = data.clone();
                    m[i] = b;
                    let _ = check(&m);
                }
            }
        }
        assert!(
            read >= 2 && read < files.len(),
            "{target}: {read} of {} read",
            files.len()
        );
    }
}

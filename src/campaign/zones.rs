//! The callee's time zone(s) from the number: IANA zones (chrono-tz, so daylight saving is
//! applied on the right dates) per region, and per area code where the number tells more —
//! NANP area codes (+1) to US / Canadian zones, Australian landline prefixes. Pure.
//!
//! When a number does not pin one zone (a US area code that straddles two zones, an Australian
//! mobile, a Russian number), it gets every zone it may be in, and compliance requires the
//! calling window to be open in all of them — the callee's local window is never missed,
//! whichever zone they are in. A region missing from the table gets no zone, and compliance
//! refuses to dial it (the refusal says why).

use std::collections::HashMap;
use std::sync::OnceLock;

use chrono_tz::Tz;

/// The zones a callee may be in (the calling window must be open in every one).
pub type Zones = &'static [Tz];

/// Regions → zones. A region with several zones lists them all (intersection of windows).
const REGIONS: &[(&str, &[&str])] = &[
    ("CN", &["Asia/Shanghai"]),
    ("HK", &["Asia/Hong_Kong"]),
    ("MO", &["Asia/Macau"]),
    ("TW", &["Asia/Taipei"]),
    ("SG", &["Asia/Singapore"]),
    ("MY", &["Asia/Kuala_Lumpur"]),
    ("PH", &["Asia/Manila"]),
    ("BN", &["Asia/Brunei"]),
    ("JP", &["Asia/Tokyo"]),
    ("KR", &["Asia/Seoul"]),
    ("MN", &["Asia/Ulaanbaatar", "Asia/Hovd"]),
    ("IN", &["Asia/Kolkata"]),
    ("LK", &["Asia/Colombo"]),
    ("NP", &["Asia/Kathmandu"]),
    ("BD", &["Asia/Dhaka"]),
    ("PK", &["Asia/Karachi"]),
    ("TH", &["Asia/Bangkok"]),
    ("VN", &["Asia/Ho_Chi_Minh"]),
    ("KH", &["Asia/Phnom_Penh"]),
    ("LA", &["Asia/Vientiane"]),
    ("MM", &["Asia/Yangon"]),
    (
        "ID",
        &[
            "Asia/Jakarta",
            "Asia/Pontianak",
            "Asia/Makassar",
            "Asia/Jayapura",
        ],
    ),
    ("KZ", &["Asia/Almaty", "Asia/Aqtobe", "Asia/Oral"]),
    ("UZ", &["Asia/Tashkent"]),
    ("AE", &["Asia/Dubai"]),
    ("OM", &["Asia/Muscat"]),
    ("IR", &["Asia/Tehran"]),
    ("SA", &["Asia/Riyadh"]),
    ("QA", &["Asia/Qatar"]),
    ("KW", &["Asia/Kuwait"]),
    ("BH", &["Asia/Bahrain"]),
    ("IQ", &["Asia/Baghdad"]),
    ("JO", &["Asia/Amman"]),
    ("LB", &["Asia/Beirut"]),
    ("IL", &["Asia/Jerusalem"]),
    ("TR", &["Europe/Istanbul"]),
    (
        "RU",
        &[
            "Europe/Kaliningrad",
            "Europe/Moscow",
            "Europe/Samara",
            "Asia/Yekaterinburg",
            "Asia/Omsk",
            "Asia/Novosibirsk",
            "Asia/Krasnoyarsk",
            "Asia/Irkutsk",
            "Asia/Yakutsk",
            "Asia/Vladivostok",
            "Asia/Magadan",
            "Asia/Kamchatka",
        ],
    ),
    ("BY", &["Europe/Minsk"]),
    ("UA", &["Europe/Kiev"]),
    ("GB", &["Europe/London"]),
    ("IE", &["Europe/Dublin"]),
    (
        "PT",
        &["Europe/Lisbon", "Atlantic/Azores", "Atlantic/Madeira"],
    ),
    ("ES", &["Europe/Madrid", "Atlantic/Canary"]),
    ("FR", &["Europe/Paris"]),
    ("DE", &["Europe/Berlin"]),
    ("IT", &["Europe/Rome"]),
    ("NL", &["Europe/Amsterdam"]),
    ("BE", &["Europe/Brussels"]),
    ("LU", &["Europe/Luxembourg"]),
    ("CH", &["Europe/Zurich"]),
    ("AT", &["Europe/Vienna"]),
    ("DK", &["Europe/Copenhagen"]),
    ("SE", &["Europe/Stockholm"]),
    ("NO", &["Europe/Oslo"]),
    ("FI", &["Europe/Helsinki"]),
    ("IS", &["Atlantic/Reykjavik"]),
    ("PL", &["Europe/Warsaw"]),
    ("CZ", &["Europe/Prague"]),
    ("SK", &["Europe/Bratislava"]),
    ("HU", &["Europe/Budapest"]),
    ("RO", &["Europe/Bucharest"]),
    ("BG", &["Europe/Sofia"]),
    ("GR", &["Europe/Athens"]),
    ("HR", &["Europe/Zagreb"]),
    ("SI", &["Europe/Ljubljana"]),
    ("RS", &["Europe/Belgrade"]),
    ("EE", &["Europe/Tallinn"]),
    ("LV", &["Europe/Riga"]),
    ("LT", &["Europe/Vilnius"]),
    ("MA", &["Africa/Casablanca"]),
    ("EG", &["Africa/Cairo"]),
    ("NG", &["Africa/Lagos"]),
    ("KE", &["Africa/Nairobi"]),
    ("ZA", &["Africa/Johannesburg"]),
    ("GH", &["Africa/Accra"]),
    ("ET", &["Africa/Addis_Ababa"]),
    (
        "MX",
        &[
            "America/Mexico_City",
            "America/Cancun",
            "America/Chihuahua",
            "America/Hermosillo",
            "America/Mazatlan",
            "America/Tijuana",
        ],
    ),
    ("CO", &["America/Bogota"]),
    ("PE", &["America/Lima"]),
    ("CL", &["America/Santiago", "Pacific/Easter"]),
    ("AR", &["America/Argentina/Buenos_Aires"]),
    (
        "BR",
        &[
            "America/Sao_Paulo",
            "America/Manaus",
            "America/Rio_Branco",
            "America/Noronha",
        ],
    ),
    ("PR", &["America/Puerto_Rico"]),
    ("JM", &["America/Jamaica"]),
    ("DO", &["America/Santo_Domingo"]),
    ("TT", &["America/Port_of_Spain"]),
    ("BS", &["America/Nassau"]),
    ("BB", &["America/Barbados"]),
    ("CU", &["America/Havana"]),
    ("VE", &["America/Caracas"]),
    ("EC", &["America/Guayaquil", "Pacific/Galapagos"]),
    ("UY", &["America/Montevideo"]),
    ("PY", &["America/Asuncion"]),
    ("BO", &["America/La_Paz"]),
    ("CR", &["America/Costa_Rica"]),
    ("PA", &["America/Panama"]),
    ("GT", &["America/Guatemala"]),
    ("HN", &["America/Tegucigalpa"]),
    ("SV", &["America/El_Salvador"]),
    ("NI", &["America/Managua"]),
    ("DZ", &["Africa/Algiers"]),
    ("TN", &["Africa/Tunis"]),
    ("SN", &["Africa/Dakar"]),
    ("CI", &["Africa/Abidjan"]),
    ("CM", &["Africa/Douala"]),
    ("TZ", &["Africa/Dar_es_Salaam"]),
    ("UG", &["Africa/Kampala"]),
    ("AO", &["Africa/Luanda"]),
    ("ZW", &["Africa/Harare"]),
    ("ZM", &["Africa/Lusaka"]),
    ("MZ", &["Africa/Maputo"]),
    ("CY", &["Asia/Nicosia", "Asia/Famagusta"]),
    ("MT", &["Europe/Malta"]),
    ("GE", &["Asia/Tbilisi"]),
    ("AM", &["Asia/Yerevan"]),
    ("AZ", &["Asia/Baku"]),
    ("KG", &["Asia/Bishkek"]),
    ("TJ", &["Asia/Dushanbe"]),
    ("TM", &["Asia/Ashgabat"]),
    ("AF", &["Asia/Kabul"]),
    ("YE", &["Asia/Aden"]),
    ("SY", &["Asia/Damascus"]),
    ("PS", &["Asia/Gaza", "Asia/Hebron"]),
    ("BT", &["Asia/Thimphu"]),
    ("MV", &["Indian/Maldives"]),
    ("FJ", &["Pacific/Fiji"]),
    ("PG", &["Pacific/Port_Moresby", "Pacific/Bougainville"]),
    ("NZ", &["Pacific/Auckland"]),
    // The Chatham Islands (+64 3 305): 45 minutes ahead of the rest of New Zealand.
    ("NZ-CHATHAM", &["Pacific/Chatham"]),
    (
        "AU",
        &[
            "Australia/Sydney",
            "Australia/Broken_Hill",
            "Australia/Melbourne",
            "Australia/Hobart",
            "Australia/Brisbane",
            "Australia/Adelaide",
            "Australia/Darwin",
            "Australia/Perth",
        ],
    ),
    (
        "US",
        &[
            "America/New_York",
            "America/Chicago",
            "America/Denver",
            "America/Phoenix",
            "America/Los_Angeles",
            "America/Anchorage",
            "Pacific/Honolulu",
        ],
    ),
    (
        "CA",
        &[
            "America/St_Johns",
            "America/Halifax",
            "America/Toronto",
            "America/Winnipeg",
            "America/Regina",
            "America/Edmonton",
            "America/Vancouver",
        ],
    ),
];

const ET: &[&str] = &["America/New_York"];
const CT: &[&str] = &["America/Chicago"];
const MT: &[&str] = &["America/Denver"];
const PT: &[&str] = &["America/Los_Angeles"];

/// NANP area codes (US and Canada) → zones. An area code that straddles a zone line lists
/// both; one that is not here gets every zone of its country.
const NANP: &[(&[u16], &[&str])] = &[
    // Eastern: CT DE DC FL GA MA MD ME MI NC NH NJ NY OH PA RI SC VA VT WV, east KY / TN.
    (
        &[
            203, 475, 860, 959, 302, 202, 771, 239, 305, 321, 352, 386, 407, 561, 656, 689, 727,
            754, 772, 786, 813, 863, 904, 941, 954, 229, 404, 470, 478, 678, 706, 762, 770, 912,
            943, 339, 351, 413, 508, 617, 774, 781, 857, 978, 240, 301, 410, 443, 667, 207, 231,
            248, 269, 313, 517, 586, 616, 679, 734, 810, 947, 989, 252, 336, 472, 704, 743, 828,
            910, 919, 980, 984, 603, 201, 551, 609, 640, 732, 848, 856, 862, 908, 973, 212, 315,
            332, 347, 363, 516, 518, 585, 607, 631, 646, 680, 716, 718, 838, 845, 914, 917, 929,
            934, 216, 220, 234, 326, 330, 380, 419, 436, 440, 513, 567, 614, 740, 937, 215, 223,
            267, 272, 412, 445, 484, 570, 582, 610, 717, 724, 814, 835, 878, 401, 803, 839, 843,
            854, 864, 276, 434, 540, 571, 703, 757, 804, 826, 948, 802, 304, 681, 502, 606, 859,
            423, 865,
        ],
        ET,
    ),
    // Indiana (Eastern, no longer split on DST; the north-west and south-west corners are
    // Central).
    (
        &[260, 317, 463, 574, 765, 930],
        &["America/Indiana/Indianapolis"],
    ),
    (
        &[219, 812],
        &["America/Indiana/Indianapolis", "America/Chicago"],
    ),
    // Florida panhandle, Michigan's upper peninsula, west Tennessee line: straddling.
    (&[850], &["America/New_York", "America/Chicago"]),
    (&[906], &["America/Detroit", "America/Menominee"]),
    // Central: AL AR IA IL LA MN MO MS OK TX WI, west KY, middle / west TN, east NE.
    (
        &[
            205, 251, 256, 334, 659, 938, 327, 479, 501, 870, 319, 515, 563, 641, 712, 217, 224,
            309, 312, 331, 447, 464, 618, 630, 708, 773, 779, 815, 847, 872, 225, 318, 337, 504,
            985, 218, 320, 507, 612, 651, 763, 952, 228, 601, 662, 769, 314, 417, 557, 573, 636,
            660, 816, 975, 405, 539, 572, 580, 918, 210, 214, 254, 281, 325, 346, 361, 409, 430,
            432, 469, 512, 682, 713, 726, 737, 806, 817, 830, 832, 903, 936, 940, 945, 956, 972,
            979, 262, 274, 414, 534, 608, 715, 920, 270, 364, 615, 629, 731, 901, 931, 402, 531,
            316, 913,
        ],
        CT,
    ),
    (
        &[620, 785, 308, 605, 701],
        &["America/Chicago", "America/Denver"],
    ),
    // Mountain: CO MT NM UT WY, El Paso; Arizona keeps standard time all year.
    (
        &[
            303, 719, 720, 970, 983, 406, 505, 575, 385, 435, 801, 307, 915,
        ],
        MT,
    ),
    (&[480, 520, 602, 623, 928], &["America/Phoenix"]),
    (&[208, 986], &["America/Boise", "America/Los_Angeles"]),
    (&[541], &["America/Los_Angeles", "America/Boise"]),
    // Pacific: CA NV OR WA.
    (
        &[
            209, 213, 279, 310, 323, 341, 350, 408, 415, 424, 442, 510, 530, 559, 562, 619, 626,
            628, 650, 657, 661, 669, 707, 714, 747, 760, 805, 818, 820, 831, 840, 858, 909, 916,
            925, 949, 951, 702, 725, 775, 458, 503, 971, 206, 253, 360, 425, 509, 564,
        ],
        PT,
    ),
    (&[907], &["America/Anchorage"]),
    (&[808], &["Pacific/Honolulu"]),
    // Canada.
    (&[236, 604, 672, 778], &["America/Vancouver"]),
    (&[250], &["America/Vancouver", "America/Edmonton"]),
    (&[368, 403, 587, 780, 825], &["America/Edmonton"]),
    (&[306, 474, 639], &["America/Regina"]),
    (&[204, 431, 584], &["America/Winnipeg"]),
    (
        &[
            226, 249, 289, 343, 365, 382, 416, 437, 519, 548, 613, 647, 683, 705, 742, 753, 905,
            942, 263, 354, 367, 418, 438, 450, 468, 514, 579, 581, 819, 873,
        ],
        &["America/Toronto"],
    ),
    (&[807], &["America/Toronto", "America/Winnipeg"]),
    (&[428, 506, 782, 902], &["America/Halifax"]),
    (&[709, 879], &["America/St_Johns", "America/Halifax"]),
    (
        &[867],
        &["America/Whitehorse", "America/Edmonton", "America/Iqaluit"],
    ),
];

/// Australian landline trunk digit (after +61) → zones.
const AU_AREAS: &[(u8, &[&str])] = &[
    (b'2', &["Australia/Sydney", "Australia/Broken_Hill"]),
    (b'3', &["Australia/Melbourne", "Australia/Hobart"]),
    (b'7', &["Australia/Brisbane"]),
    (
        b'8',
        &["Australia/Adelaide", "Australia/Darwin", "Australia/Perth"],
    ),
];

struct Tables {
    regions: HashMap<&'static str, Zones>,
    nanp: HashMap<u16, Zones>,
    au: HashMap<u8, Zones>,
}

fn parse(names: &[&str]) -> Zones {
    // Every name is checked by the tests; an unknown one would only narrow the set.
    let zones: Vec<Tz> = names.iter().filter_map(|n| n.parse().ok()).collect();
    Box::leak(zones.into_boxed_slice())
}

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(|| Tables {
        regions: REGIONS.iter().map(|(r, z)| (*r, parse(z))).collect(),
        nanp: NANP
            .iter()
            .flat_map(|(codes, z)| {
                let zones = parse(z);
                codes.iter().map(move |c| (*c, zones))
            })
            .collect(),
        au: AU_AREAS.iter().map(|(d, z)| (*d, parse(z))).collect(),
    })
}

/// The zones of a callee from the number's region (ISO 3166) and its E.164 form. Empty when
/// the region is not known (compliance then refuses to dial: no window can be checked).
pub fn zones_of(region: &str, e164: &str) -> Zones {
    let t = tables();
    let digits = e164.strip_prefix('+').unwrap_or(e164).as_bytes();
    if region == "US" || region == "CA" {
        let area = digits
            .get(1..4)
            .filter(|_| digits.first() == Some(&b'1'))
            .and_then(|a| std::str::from_utf8(a).ok())
            .and_then(|a| a.parse::<u16>().ok());
        if let Some(z) = area.and_then(|a| t.nanp.get(&a)) {
            return z;
        }
    }
    if region == "AU" && digits.starts_with(b"61") {
        if let Some(z) = digits.get(2).and_then(|d| t.au.get(d)) {
            return z;
        }
    }
    if region == "NZ" && digits.starts_with(b"643305") {
        if let Some(z) = t.regions.get("NZ-CHATHAM") {
            return z;
        }
    }
    t.regions.get(region).copied().unwrap_or(&[])
}

/// The standard (current) UTC offset in minutes of the first zone, for ordering by best
/// hour and for display; compliance uses the zones themselves.
pub fn offset_min_now(zones: Zones, now: i64) -> Option<i32> {
    use chrono::{Offset, TimeZone};
    let tz = zones.first()?;
    let utc = chrono::DateTime::from_timestamp(now, 0)?.naive_utc();
    Some(tz.offset_from_utc_datetime(&utc).fix().local_minus_utc() / 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_zone_name_in_the_tables_is_known_to_chrono_tz() {
        let names = REGIONS
            .iter()
            .flat_map(|(_, z)| z.iter())
            .chain(NANP.iter().flat_map(|(_, z)| z.iter()))
            .chain(AU_AREAS.iter().flat_map(|(_, z)| z.iter()));
        for n in names {
            assert!(n.parse::<Tz>().is_ok(), "unknown zone {n}");
        }
        // No area code is listed twice.
        let mut seen = std::collections::HashSet::new();
        for (codes, _) in NANP {
            for c in *codes {
                assert!(seen.insert(*c), "area code {c} listed twice");
            }
        }
    }

    #[test]
    fn numbers_to_zones() {
        let z = |r: &str, n: &str| -> Vec<String> {
            zones_of(r, n).iter().map(|t| t.name().to_owned()).collect()
        };
        assert_eq!(z("CN", "+8613800138000"), ["Asia/Shanghai"]);
        assert_eq!(z("US", "+12125550123"), ["America/New_York"]);
        assert_eq!(z("US", "+14155550123"), ["America/Los_Angeles"]);
        assert_eq!(z("US", "+16025550123"), ["America/Phoenix"]);
        assert_eq!(z("CA", "+16045550123"), ["America/Vancouver"]);
        assert_eq!(
            z("US", "+18505550123"),
            ["America/New_York", "America/Chicago"]
        );
        // An area code not in the table: every zone of the country.
        assert_eq!(z("US", "+19995550123").len(), 7);
        assert_eq!(
            z("AU", "+61298765432"),
            ["Australia/Sydney", "Australia/Broken_Hill"]
        );
        assert_eq!(z("AU", "+61412345678").len(), 8);
        assert_eq!(z("GB", "+442079460958"), ["Europe/London"]);
        assert_eq!(z("NZ", "+6493001234"), ["Pacific/Auckland"]);
        assert_eq!(z("NZ", "+6433051234"), ["Pacific/Chatham"]);
        assert!(z("XX", "+999").is_empty());
    }
}

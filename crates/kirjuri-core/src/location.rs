//! Where personal data may be stored (privacy notice §9, docs/requirements.md DIS-1):
//! every storage location — the database and each object store — declares
//! its country in configuration, and Kirjuri refuses to start unless that
//! country is in the EU/EEA and, on AWS, the region is an EU one in that same
//! country.
//!
//! [`check_storage_location`] is the one rule; the server calls it for every
//! configured location before it opens anything. Country codes are ISO 3166-1
//! alpha-2, compared without regard to case.
//!
//! Not here: deciding whether an endpoint is AWS (the caller knows its
//! configuration; the vault's S3 backend says "AWS" for no custom endpoint or
//! a host under `amazonaws.com`), and transfers to recipients, which have
//! their own rules.

/// The 27 EU member states (ISO 3166-1 alpha-2; Greece is `GR`, not the EU's
/// own `EL`).
const EU_MEMBERS: [&str; 27] = [
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IT",
    "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
];

/// The EEA members outside the EU.
const EEA_NON_EU: [&str; 3] = ["IS", "LI", "NO"];

/// Parts of a member state that ISO 3166-1 codes separately (Åland and the
/// French outermost regions), with the member state to declare instead. They
/// are inside the EU, but a storage location is declared by its state so the
/// privacy notice names one country per location.
const TERRITORIES: [(&str, &str); 7] = [
    ("AX", "FI"),
    ("GF", "FR"),
    ("GP", "FR"),
    ("MF", "FR"),
    ("MQ", "FR"),
    ("RE", "FR"),
    ("YT", "FR"),
];

/// Every officially assigned ISO 3166-1 alpha-2 code (249), so that a typo is
/// told apart from a real country outside the EU/EEA.
const ISO_3166_ALPHA2: &str = "\
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ \
BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ \
CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ \
DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR \
GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY \
HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP \
KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY \
MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ \
NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY \
QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ \
TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ \
VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

/// AWS regions inside the EU/EEA, with the country each one is in. The other
/// `eu-*` regions are outside: eu-west-2 is London (GB), eu-central-2 is
/// Zurich (CH).
const EU_AWS_REGIONS: [(&str, &str); 6] = [
    ("eu-central-1", "DE"),
    ("eu-west-1", "IE"),
    ("eu-west-3", "FR"),
    ("eu-north-1", "SE"),
    ("eu-south-1", "IT"),
    ("eu-south-2", "ES"),
];

/// `eu-*` AWS regions known to be outside the EU/EEA, with where they are.
const NON_EEA_EU_AWS_REGIONS: [(&str, &str); 2] = [
    ("eu-west-2", "London, United Kingdom (GB)"),
    ("eu-central-2", "Zurich, Switzerland (CH)"),
];

/// Longest country input echoed back in an error.
const MAX_ECHO: usize = 16;

/// Why a storage location is refused. The messages name the configured value
/// (a country code or region, never personal data) and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocationError {
    /// Not an ISO 3166-1 alpha-2 code at all.
    #[error(
        "{0:?} is not an ISO 3166-1 alpha-2 country code; declare the storage location's \
         country as two letters, e.g. \"FI\""
    )]
    UnknownCountry(String),

    /// A code that is not ISO's but is close to one that is.
    #[error("{given:?} is not an ISO 3166-1 alpha-2 country code; use {iso:?}")]
    NonIsoSpelling {
        /// What was configured.
        given: String,
        /// The ISO code meant.
        iso: &'static str,
    },

    /// A real country outside the EU/EEA.
    #[error(
        "country {0} is outside the EU/EEA; personal data may be stored, processed or sent only \
         in an EU member state, Iceland, Liechtenstein or Norway (privacy notice §9, DIS-1)"
    )]
    OutsideEea(String),

    /// A territory with its own code that belongs to a member state.
    #[error("{territory} is part of {state}; declare the member state's code {state:?} instead")]
    Territory {
        /// The territory's code.
        territory: String,
        /// The member state's code.
        state: &'static str,
    },

    /// An AWS region outside the EU/EEA.
    #[error(
        "AWS region {region:?} is outside the EU/EEA ({location}); use one of: {allowed} \
         (privacy notice §9, DIS-1)"
    )]
    NonEuAwsRegion {
        /// The configured region.
        region: String,
        /// Where it is, as far as known.
        location: String,
        /// The accepted regions, comma-separated.
        allowed: String,
    },

    /// The AWS region is in the EU, but not in the declared country.
    #[error(
        "AWS region {region} is in {region_country}, but the storage location declares country \
         {declared}; declare {region_country} so the privacy notice names the right country"
    )]
    RegionCountryMismatch {
        /// The configured region.
        region: String,
        /// The country the region is in.
        region_country: &'static str,
        /// The declared country.
        declared: String,
    },
}

/// Checks one storage location: `country` must be an EU/EEA member state;
/// `aws_region` is `Some` when the location is on AWS and must then be an EU
/// region in that same country. `None` means a self-hosted or non-AWS
/// service, whose country is as declared.
pub fn check_storage_location(
    country: &str,
    aws_region: Option<&str>,
) -> Result<(), LocationError> {
    let country = check_country(country)?;
    let Some(region) = aws_region else {
        return Ok(());
    };
    let Some(&(_, region_country)) = EU_AWS_REGIONS.iter().find(|(name, _)| *name == region) else {
        let location = NON_EEA_EU_AWS_REGIONS
            .iter()
            .find(|(name, _)| *name == region)
            .map_or("not an EU/EEA region", |(_, place)| place);
        return Err(LocationError::NonEuAwsRegion {
            region: echo(region),
            location: location.to_owned(),
            allowed: EU_AWS_REGIONS.map(|(name, _)| name).join(", "),
        });
    };
    if region_country != country {
        return Err(LocationError::RegionCountryMismatch {
            region: region.to_owned(),
            region_country,
            declared: country.to_owned(),
        });
    }
    Ok(())
}

/// Checks that `country` is an EU/EEA member state; returns its canonical
/// (upper-case) code.
pub fn check_country(country: &str) -> Result<&'static str, LocationError> {
    let upper = country.to_ascii_uppercase();
    if let Some(member) = EU_MEMBERS
        .iter()
        .chain(EEA_NON_EU.iter())
        .find(|code| **code == upper)
    {
        return Ok(member);
    }
    if let Some(&(territory, state)) = TERRITORIES.iter().find(|(code, _)| *code == upper) {
        return Err(LocationError::Territory {
            territory: territory.to_owned(),
            state,
        });
    }
    match upper.as_str() {
        "EL" => {
            return Err(LocationError::NonIsoSpelling {
                given: echo(country),
                iso: "GR",
            });
        }
        "UK" => {
            return Err(LocationError::NonIsoSpelling {
                given: echo(country),
                iso: "GB (outside the EU/EEA)",
            });
        }
        _ => {}
    }
    if upper.len() == 2 && ISO_3166_ALPHA2.split(' ').any(|code| code == upper) {
        return Err(LocationError::OutsideEea(upper));
    }
    Err(LocationError::UnknownCountry(echo(country)))
}

/// The input as shown in an error, cut short if long.
fn echo(input: &str) -> String {
    input.chars().take(MAX_ECHO).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_eu_and_eea_member_is_accepted_in_either_case() {
        for code in EU_MEMBERS.iter().chain(EEA_NON_EU.iter()) {
            assert_eq!(check_storage_location(code, None), Ok(()), "{code}");
            assert_eq!(
                check_storage_location(&code.to_ascii_lowercase(), None),
                Ok(()),
                "{code}"
            );
        }
        assert_eq!(EU_MEMBERS.len() + EEA_NON_EU.len(), 30);
    }

    #[test]
    fn countries_outside_the_eea_are_refused() {
        for code in ["GB", "US", "CH", "CN", "RU", "TR", "IN"] {
            let error = check_storage_location(code, None).unwrap_err();
            assert_eq!(error, LocationError::OutsideEea(code.into()));
            assert!(error.to_string().contains("outside the EU/EEA"), "{error}");
        }
    }

    #[test]
    fn an_unknown_code_is_refused_with_a_clear_message() {
        for code in ["XX", "", "FIN", "Finland", "F", "ZZ", " FI"] {
            let error = check_storage_location(code, None).unwrap_err();
            assert!(
                matches!(error, LocationError::UnknownCountry(_)),
                "{code}: {error}"
            );
            assert!(
                error
                    .to_string()
                    .contains("not an ISO 3166-1 alpha-2 country code"),
                "{error}"
            );
        }
    }

    #[test]
    fn the_eus_own_abbreviations_point_at_the_iso_code() {
        let greece = check_country("EL").unwrap_err().to_string();
        let britain = check_country("uk").unwrap_err().to_string();

        assert!(greece.contains("use \"GR\""), "{greece}");
        assert!(britain.contains("GB"), "{britain}");
    }

    #[test]
    fn territories_ask_for_their_member_state() {
        let error = check_country("AX").unwrap_err();

        assert_eq!(
            error,
            LocationError::Territory {
                territory: "AX".into(),
                state: "FI"
            }
        );
        assert!(error.to_string().contains("\"FI\""), "{error}");
    }

    #[test]
    fn the_iso_list_is_complete_and_well_formed() {
        let codes: Vec<&str> = ISO_3166_ALPHA2.split(' ').collect();
        assert_eq!(codes.len(), 249);
        assert!(
            codes.windows(2).all(|pair| pair[0] < pair[1]),
            "sorted, unique"
        );
        assert!(codes.iter().all(|code| code.len() == 2));
        for code in EU_MEMBERS.iter().chain(EEA_NON_EU.iter()) {
            assert!(codes.contains(code), "{code}");
        }
    }

    #[test]
    fn eu_aws_regions_are_accepted_in_their_own_country() {
        assert_eq!(check_storage_location("SE", Some("eu-north-1")), Ok(()));
        for (region, country) in EU_AWS_REGIONS {
            assert_eq!(check_storage_location(country, Some(region)), Ok(()));
        }
    }

    #[test]
    fn aws_regions_outside_the_eea_are_refused() {
        for (region, place) in [
            ("us-east-1", "not an EU/EEA region"),
            ("eu-west-2", "London"),
            ("eu-central-2", "Zurich"),
            ("eu-west-9", "not an EU/EEA region"),
            ("ap-northeast-1", "not an EU/EEA region"),
            ("", "not an EU/EEA region"),
        ] {
            let error = check_storage_location("FI", Some(region)).unwrap_err();
            let message = error.to_string();
            assert!(
                matches!(error, LocationError::NonEuAwsRegion { .. }),
                "{region}: {message}"
            );
            assert!(message.contains(place), "{message}");
            assert!(message.contains("eu-north-1"), "{message}");
        }
    }

    #[test]
    fn an_aws_region_in_another_country_than_declared_is_refused() {
        let error = check_storage_location("FI", Some("eu-north-1")).unwrap_err();

        assert_eq!(
            error,
            LocationError::RegionCountryMismatch {
                region: "eu-north-1".into(),
                region_country: "SE",
                declared: "FI".into(),
            }
        );
    }

    #[test]
    fn a_bad_country_is_reported_before_the_region() {
        let error = check_storage_location("US", Some("eu-north-1")).unwrap_err();

        assert_eq!(error, LocationError::OutsideEea("US".into()));
    }

    #[test]
    fn a_long_input_is_not_echoed_whole() {
        let long = "A".repeat(10_000);

        let message = check_country(&long).unwrap_err().to_string();

        assert!(message.len() < 200, "{message}");
    }
}

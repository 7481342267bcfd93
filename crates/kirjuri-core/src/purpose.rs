//! The purposes for which personal data may be read (docs/requirements.md ACC-2, notice §5).
//! Every read names one; an unknown or missing purpose is refused.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// Why someone is reading personal data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// Checking what was ordered or agreed on the call.
    OrderVerification,
    /// Checking the facts behind a complaint.
    ComplaintVerification,
    /// Quality assurance of customer service.
    QualityAssurance,
    /// Training staff.
    Training,
    /// Developing the service.
    Development,
    /// Customer-satisfaction surveys.
    Survey,
    /// Establishing, exercising or defending a legal claim.
    LegalClaim,
    /// Handling the data subject's own request (access, erasure, …).
    DataSubjectRequest,
}

impl Purpose {
    /// Every purpose, in the order of the notice.
    pub const ALL: [Purpose; 8] = [
        Purpose::OrderVerification,
        Purpose::ComplaintVerification,
        Purpose::QualityAssurance,
        Purpose::Training,
        Purpose::Development,
        Purpose::Survey,
        Purpose::LegalClaim,
        Purpose::DataSubjectRequest,
    ];

    /// The wire name, e.g. `complaint_verification`.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::OrderVerification => "order_verification",
            Purpose::ComplaintVerification => "complaint_verification",
            Purpose::QualityAssurance => "quality_assurance",
            Purpose::Training => "training",
            Purpose::Development => "development",
            Purpose::Survey => "survey",
            Purpose::LegalClaim => "legal_claim",
            Purpose::DataSubjectRequest => "data_subject_request",
        }
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Purpose {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Purpose::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| Error::Unknown {
                kind: "purpose",
                // Purpose names are not personal data, but cap what we echo back.
                name: s.chars().take(40).collect(),
            })
    }
}

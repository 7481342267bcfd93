//! The access package's `summary.html`: the information Art. 15(1)(a)–(h)
//! requires, in the requester's language (fi, sv, en), with a table of
//! contents of the package. Plain, self-contained HTML (no script, no
//! outside resources) that any browser opens offline.
//!
//! The texts are here, one [`Texts`] per language, because the package is
//! built in the application, which knows no template engine (only the web
//! layer may use askama, `tests/tidy.rs`); every value that is not one of
//! these fixed texts is escaped with `html-escape`. The retention periods
//! are read from the policies in force, not written here.
//!
//! Not here: the package's files themselves (`access`).

use html_escape::encode_text;

use kirjuri_core::purpose::Purpose;

use super::Language;
use super::access::PackageCounts;
use crate::register::LegalBasis;

/// What the summary states besides its fixed texts.
#[derive(Debug, Clone)]
pub struct SummaryFacts {
    /// The request's reference.
    pub reference: String,
    /// The requester's language.
    pub language: Language,
    /// What the package holds.
    pub counts: PackageCounts,
    /// Recordings left out because the proven assurance is too low.
    pub recordings_withheld: bool,
    /// Contacts (ids) whose recordings the Art. 15(4) review withholds.
    pub third_party_withheld: Vec<String>,
    /// Retention policies in force: the stored kind and its months.
    pub retention: Vec<(String, u32)>,
    /// For a portability request: what Art. 20 covers.
    pub portability: Option<Portability>,
}

/// What the right to data portability (Art. 20(1)(a)) covers in this
/// register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Portability {
    /// The purposes processed on consent or a contract, with the basis.
    pub portable: Vec<(Purpose, LegalBasis)>,
    /// The bases of the register's other purposes.
    pub excluded_bases: Vec<LegalBasis>,
}

impl Portability {
    /// Whether any data are portable.
    pub fn included(&self) -> bool {
        !self.portable.is_empty()
    }
}

/// One language's fixed texts.
struct Texts {
    lang: &'static str,
    title: &'static str,
    reference: &'static str,
    contents: &'static str,
    counts: &'static str,
    contacts: &'static str,
    recordings: &'static str,
    history: &'static str,
    withheld: &'static str,
    third_party: &'static str,
    purposes_h: &'static str,
    purposes: &'static str,
    categories_h: &'static str,
    categories: &'static str,
    recipients_h: &'static str,
    recipients: &'static str,
    retention_h: &'static str,
    months: &'static str,
    rights_h: &'static str,
    rights: &'static str,
    complaint: &'static str,
    source_h: &'static str,
    source: &'static str,
    automated_h: &'static str,
    automated: &'static str,
    files_h: &'static str,
    files: &'static str,
    portability_h: &'static str,
    portability_included: &'static str,
    portability_excluded: &'static str,
    public_task: &'static str,
    legal_obligation: &'static str,
    other_basis: &'static str,
}

const FI: Texts = Texts {
    lang: "fi",
    title: "Tietopyyntösi: henkilötietosi asiakasrekisterissä",
    reference: "Pyynnön tunnus",
    contents: "Sisällys",
    counts: "Paketti sisältää",
    contacts: "yhteydenottoa",
    recordings: "tallennetta",
    history: "käsittelymerkintää",
    withheld: "Puhelutallenteita ei ole liitetty, koska henkilöllisyytesi on todennettu vain \
        heikolla varmuustasolla (esimerkiksi sähköpostiin lähetetyllä koodilla). Saat tallenteet, \
        kun henkilöllisyytesi on todennettu tekstiviestikoodilla tai henkilökohtaisesti.",
    third_party: "Seuraavien yhteydenottojen tallenteita ei ole liitetty, koska niissä on \
        myös toisen henkilön tietoja ja niiden luovuttaminen voisi loukata tämän oikeuksia \
        (EU:n tietosuoja-asetuksen 15 artiklan 4 kohta):",
    purposes_h: "Käsittelyn tarkoitukset (15(1)(a) art.)",
    purposes: "Tilausten ja reklamaatioiden todentaminen, palvelun laadun varmistaminen ja \
        koulutus, asiakaskyselyt, palvelun kehittäminen, oikeudellisten vaatimusten \
        selvittäminen ja rekisteröidyn pyyntöjen käsittely.",
    categories_h: "Henkilötietoryhmät (15(1)(b) art.)",
    categories: "Yhteystiedot (nimi, puhelinnumero, sähköpostiosoite), asiakas- ja \
        kiinteistötunnukset, yhteydenoton ajat ja kanava, palvelun sisältö sekä \
        puhelutallenteet.",
    recipients_h: "Vastaanottajat (15(1)(c) art.)",
    recipients: "Rekisterinpitäjän asiakaspalvelu, esihenkilöt ja rekisterin hoitajat \
        tehtäviensä mukaan; henkilöstö esitetään tässä roolinsa mukaan. Tietoja ei siirretä \
        EU:n tai ETA:n ulkopuolelle.",
    retention_h: "Säilytysajat (15(1)(d) art.)",
    months: "kuukautta",
    rights_h: "Oikeutesi (15(1)(e) art.)",
    rights: "Sinulla on oikeus pyytää tietojesi oikaisemista tai poistamista, käsittelyn \
        rajoittamista, vastustaa käsittelyä sekä siirtää tietosi järjestelmästä toiseen.",
    complaint: "Voit tehdä valituksen valvontaviranomaiselle (15(1)(f) art.): \
        tietosuojavaltuutetun toimisto, tietosuoja.fi.",
    source_h: "Tietolähteet (15(1)(g) art.)",
    source: "Tiedot on saatu sinulta itseltäsi yhteydenottojen yhteydessä sekä \
        asiakaspalvelun järjestelmistä.",
    automated_h: "Automaattinen päätöksenteko (15(1)(h) art.)",
    automated: "Tietojasi ei käytetä automaattiseen päätöksentekoon eikä profilointiin.",
    files_h: "Paketin tiedostot",
    files: "Jokaisen tiedoston SHA-256-tiiviste on tiedostossa manifest.json, jonka \
        allekirjoitus on tiedostossa manifest.sig.",
    portability_h: "Tietojen siirto järjestelmästä toiseen (20 art.)",
    portability_included: "Suostumukseen tai sopimukseen perustuvasti käsitellyt tietosi ovat \
        koneluettavassa muodossa tiedostossa portability.json.",
    portability_excluded: "Oikeus siirtää tiedot järjestelmästä toiseen koskee vain \
        tietoja, joita käsitellään suostumuksen tai sopimuksen perusteella. Tämän rekisterin \
        tietoja käsitellään muulla perusteella, joten siirrettäviä tietoja ei ole \
        (tiedosto portability.json on tyhjä). Käsittelyperusteet:",
    public_task: "yleistä etua koskevan tehtävän suorittaminen",
    legal_obligation: "rekisterinpitäjän lakisääteinen velvoite",
    other_basis: "muu peruste",
};

const SV: Texts = Texts {
    lang: "sv",
    title: "Din begäran: dina personuppgifter i kundregistret",
    reference: "Ärendets beteckning",
    contents: "Innehåll",
    counts: "Paketet innehåller",
    contacts: "kontakter",
    recordings: "inspelningar",
    history: "behandlingsanteckningar",
    withheld: "Samtalsinspelningar har inte bifogats, eftersom din identitet har styrkts \
        endast med låg tillitsnivå (till exempel med en kod per e-post). Du får inspelningarna \
        när din identitet har styrkts med en sms-kod eller personligen.",
    third_party: "Inspelningarna av följande kontakter har inte bifogats, eftersom de \
        också innehåller en annan persons uppgifter och ett utlämnande kunde inkräkta på \
        dennes rättigheter (artikel 15.4 i EU:s dataskyddsförordning):",
    purposes_h: "Ändamål med behandlingen (art. 15.1 a)",
    purposes: "Verifiering av beställningar och reklamationer, kvalitetssäkring och \
        utbildning, kundenkäter, utveckling av tjänsten, rättsliga anspråk och behandling av \
        den registrerades begäranden.",
    categories_h: "Kategorier av personuppgifter (art. 15.1 b)",
    categories: "Kontaktuppgifter (namn, telefonnummer, e-postadress), kund- och \
        fastighetsbeteckningar, kontaktens tider och kanal, tjänstens innehåll samt \
        samtalsinspelningar.",
    recipients_h: "Mottagare (art. 15.1 c)",
    recipients: "Den personuppgiftsansvariges kundtjänst, förmän och registerhandläggare \
        enligt sina uppgifter; personalen anges här med sin roll. Uppgifterna överförs inte \
        utanför EU eller EES.",
    retention_h: "Lagringstider (art. 15.1 d)",
    months: "månader",
    rights_h: "Dina rättigheter (art. 15.1 e)",
    rights: "Du har rätt att begära rättelse eller radering av dina uppgifter, begränsning \
        av behandlingen, att invända mot behandlingen och att flytta dina uppgifter.",
    complaint: "Du kan lämna in ett klagomål till tillsynsmyndigheten (art. 15.1 f): \
        dataombudsmannens byrå, tietosuoja.fi.",
    source_h: "Varifrån uppgifterna kommer (art. 15.1 g)",
    source: "Uppgifterna har lämnats av dig i samband med kontakterna och kommer från \
        kundtjänstens system.",
    automated_h: "Automatiserat beslutsfattande (art. 15.1 h)",
    automated: "Dina uppgifter används inte för automatiserat beslutsfattande eller \
        profilering.",
    files_h: "Paketets filer",
    files: "Varje fils SHA-256-kontrollsumma finns i manifest.json, vars signatur finns i \
        manifest.sig.",
    portability_h: "Dataportabilitet (art. 20)",
    portability_included: "Dina uppgifter som behandlas på grundval av samtycke eller avtal \
        finns i maskinläsbar form i filen portability.json.",
    portability_excluded: "Rätten till dataportabilitet gäller endast uppgifter som \
        behandlas på grundval av samtycke eller avtal. Uppgifterna i detta register behandlas \
        på en annan grund, så det finns inga uppgifter att flytta (filen portability.json är \
        tom). Rättslig grund:",
    public_task: "en uppgift av allmänt intresse",
    legal_obligation: "en rättslig förpliktelse för den personuppgiftsansvarige",
    other_basis: "en annan grund",
};

const EN: Texts = Texts {
    lang: "en",
    title: "Your request: your personal data in the customer register",
    reference: "Request reference",
    contents: "Contents",
    counts: "This package holds",
    contacts: "contacts",
    recordings: "recordings",
    history: "access-history entries",
    withheld: "Call recordings are not included, because your identity was proven only at a \
        low level of assurance (for example by a code sent by email). You will receive them \
        once your identity is proven by a text-message code or in person.",
    third_party: "The recordings of the following contacts are not included, because they \
        also hold another person's data and releasing them could adversely affect that \
        person's rights (GDPR Article 15(4)):",
    purposes_h: "Purposes of the processing (Art. 15(1)(a))",
    purposes: "Verifying orders and complaints, quality assurance and training, customer \
        surveys, developing the service, legal claims, and handling data subjects' requests.",
    categories_h: "Categories of personal data (Art. 15(1)(b))",
    categories: "Contact details (name, phone number, email address), customer and property \
        identifiers, the times and channel of each contact, what the service was about, and \
        call recordings.",
    recipients_h: "Recipients (Art. 15(1)(c))",
    recipients: "The controller's customer service, supervisors and registrars, as their \
        duties require; staff are shown here by role. The data are not transferred outside \
        the EU or EEA.",
    retention_h: "Retention periods (Art. 15(1)(d))",
    months: "months",
    rights_h: "Your rights (Art. 15(1)(e))",
    rights: "You may ask for your data to be rectified or erased, for the processing to be \
        restricted, object to the processing, and receive your data to move it elsewhere.",
    complaint: "You may lodge a complaint with the supervisory authority (Art. 15(1)(f)): \
        the Office of the Data Protection Ombudsman, tietosuoja.fi.",
    source_h: "Where the data come from (Art. 15(1)(g))",
    source: "From you, in the course of your contacts, and from the customer-service systems.",
    automated_h: "Automated decision-making (Art. 15(1)(h))",
    automated: "Your data are not used for automated decision-making or profiling.",
    files_h: "The package's files",
    files: "Every file's SHA-256 is listed in manifest.json, whose signature is in \
        manifest.sig.",
    portability_h: "Data portability (Art. 20)",
    portability_included: "Your data processed on consent or a contract are in \
        portability.json, in a machine-readable form.",
    portability_excluded: "The right to data portability covers only data processed on \
        consent or a contract. This register processes your data on another basis, so there \
        are no data to port (portability.json is empty). Legal basis:",
    public_task: "a task carried out in the public interest",
    legal_obligation: "a legal obligation of the controller",
    other_basis: "another basis",
};

fn texts(language: Language) -> &'static Texts {
    match language {
        Language::Fi => &FI,
        Language::Sv => &SV,
        Language::En => &EN,
    }
}

/// Why the portability part holds what it holds.
fn portability_text(t: &Texts, portability: &Portability) -> String {
    if portability.included() {
        return t.portability_included.to_owned();
    }
    let bases: Vec<&str> = portability
        .excluded_bases
        .iter()
        .map(|basis| match basis {
            LegalBasis::PublicTask => t.public_task,
            LegalBasis::LegalObligation => t.legal_obligation,
            _ => t.other_basis,
        })
        .collect();
    format!("{} {}.", t.portability_excluded, bases.join(", "))
}

/// The summary page for `facts`, listing the package's `files`.
pub fn render(facts: &SummaryFacts, files: &[String]) -> String {
    let t = texts(facts.language);
    let mut html = String::with_capacity(8 * 1024);
    let sections: [(&str, &str); 8] = [
        ("purposes", t.purposes_h),
        ("categories", t.categories_h),
        ("recipients", t.recipients_h),
        ("retention", t.retention_h),
        ("rights", t.rights_h),
        ("source", t.source_h),
        ("automated", t.automated_h),
        ("files", t.files_h),
    ];
    html.push_str(&format!(
        "<!DOCTYPE html>\n<html lang=\"{}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{}</title>\n</head>\n<body>\n<main>\n<h1>{}</h1>\n<p>{}: {}</p>\n",
        t.lang,
        t.title,
        t.title,
        t.reference,
        encode_text(&facts.reference)
    ));
    html.push_str(&format!(
        "<p>{}: {} {}, {} {}, {} {}.</p>\n",
        t.counts,
        facts.counts.contacts,
        t.contacts,
        facts.counts.recordings,
        t.recordings,
        facts.counts.access_history,
        t.history
    ));
    if facts.recordings_withheld {
        html.push_str(&format!("<p><strong>{}</strong></p>\n", t.withheld));
    }
    if let Some(portability) = &facts.portability {
        html.push_str(&format!(
            "<section id=\"portability\">\n<h2>{}</h2>\n<p>{}</p>\n</section>\n",
            t.portability_h,
            portability_text(t, portability)
        ));
    }
    if !facts.third_party_withheld.is_empty() {
        html.push_str(&format!(
            "<section id=\"third-party\">\n<p><strong>{}</strong></p>\n<ul>\n",
            t.third_party
        ));
        for contact in &facts.third_party_withheld {
            html.push_str(&format!("<li><code>{}</code></li>\n", encode_text(contact)));
        }
        html.push_str("</ul>\n</section>\n");
    }
    html.push_str(&format!(
        "<nav aria-labelledby=\"toc\">\n<h2 id=\"toc\">{}</h2>\n<ol>\n",
        t.contents
    ));
    for (id, heading) in sections {
        html.push_str(&format!("<li><a href=\"#{id}\">{heading}</a></li>\n"));
    }
    html.push_str("</ol>\n</nav>\n");
    let section = |html: &mut String, id: &str, heading: &str, body: &str| {
        html.push_str(&format!(
            "<section id=\"{id}\">\n<h2>{heading}</h2>\n{body}\n</section>\n"
        ));
    };
    section(
        &mut html,
        "purposes",
        t.purposes_h,
        &format!("<p>{}</p>", t.purposes),
    );
    section(
        &mut html,
        "categories",
        t.categories_h,
        &format!("<p>{}</p>", t.categories),
    );
    section(
        &mut html,
        "recipients",
        t.recipients_h,
        &format!("<p>{}</p>", t.recipients),
    );
    let mut retention = String::from("<ul>\n");
    for (kind, months) in &facts.retention {
        retention.push_str(&format!(
            "<li>{}: {} {}</li>\n",
            encode_text(kind),
            months,
            t.months
        ));
    }
    retention.push_str("</ul>");
    section(&mut html, "retention", t.retention_h, &retention);
    section(
        &mut html,
        "rights",
        t.rights_h,
        &format!("<p>{}</p>\n<p>{}</p>", t.rights, t.complaint),
    );
    section(
        &mut html,
        "source",
        t.source_h,
        &format!("<p>{}</p>", t.source),
    );
    section(
        &mut html,
        "automated",
        t.automated_h,
        &format!("<p>{}</p>", t.automated),
    );
    let mut list = format!("<p>{}</p>\n<ul>\n", t.files);
    for file in files {
        list.push_str(&format!("<li><code>{}</code></li>\n", encode_text(file)));
    }
    list.push_str("</ul>");
    section(&mut html, "files", t.files_h, &list);
    html.push_str("</main>\n</body>\n</html>\n");
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(language: Language) -> SummaryFacts {
        SummaryFacts {
            reference: "DSR-2026-000001".into(),
            language,
            counts: PackageCounts::default(),
            recordings_withheld: true,
            third_party_withheld: vec!["0193a1a4-0000-7000-8000-000000000001".into()],
            retention: vec![("call_recording".into(), 12)],
            portability: None,
        }
    }

    #[test]
    fn a_portability_request_on_a_legal_obligation_is_told_why_nothing_is_portable() {
        let mut facts = facts(Language::Sv);
        facts.portability = Some(Portability {
            portable: Vec::new(),
            excluded_bases: vec![LegalBasis::LegalObligation, LegalBasis::PublicTask],
        });
        let sv = render(&facts, &[]);
        assert!(sv.contains("Dataportabilitet"), "{sv}");
        assert!(sv.contains("rättslig förpliktelse"), "{sv}");
        assert!(sv.contains("allmänt intresse"), "{sv}");
        facts.portability = Some(Portability {
            portable: vec![(Purpose::OrderVerification, LegalBasis::Contract)],
            excluded_bases: Vec::new(),
        });
        assert!(render(&facts, &[]).contains("maskinläsbar"));
    }

    #[test]
    fn the_summary_is_in_the_requesters_language_and_names_the_ombudsman() {
        let fi = render(&facts(Language::Fi), &[]);
        assert!(fi.contains("<html lang=\"fi\">"));
        assert!(fi.contains("tietosuojavaltuutetun"));
        let sv = render(&facts(Language::Sv), &[]);
        assert!(sv.contains("dataombudsmannens"));
        let en = render(&facts(Language::En), &[]);
        assert!(en.contains("Data Protection Ombudsman"));
        assert!(en.contains("call_recording: 12 months"));
        assert!(en.contains("Call recordings are not included"));
        assert!(en.contains("Article 15(4)"));
        assert!(en.contains("0193a1a4-0000-7000-8000-000000000001"));
        assert!(fi.contains("15 artiklan 4 kohta"));
    }

    #[test]
    fn a_file_name_is_escaped() {
        let html = render(&facts(Language::En), &["a<b>&\"c".into()]);
        assert!(html.contains("a&lt;b&gt;&amp;"));
        assert!(!html.contains("a<b>"));
    }
}

//! The default description: the privacy notice Kirjuri was built from —
//! HSY's (Helsinki Region Environmental Services) notice for the register
//! of contacts arriving at its customer service — section by section, in
//! Finnish (the original), Swedish and English. Roles are named by title;
//! no person's name is carried.

use kirjuri_core::purpose::Purpose;

use super::{
    ChangeNotice, ContactPoint, Controller, LegalBasis, ProtectionOfficer, PurposeEntry,
    RecipientCategory, RecipientKind, RegisterConfig, Text,
};

fn text(fi: &str, sv: &str, en: &str) -> Text {
    Text {
        fi: fi.into(),
        sv: sv.into(),
        en: en.into(),
    }
}

fn purpose(purpose: Purpose, fi: &str, sv: &str, en: &str) -> PurposeEntry {
    PurposeEntry {
        purpose,
        legal_basis: LegalBasis::LegalObligation,
        text: text(fi, sv, en),
    }
}

/// HSY's notice.
pub(super) fn hsy() -> RegisterConfig {
    RegisterConfig {
        name: text(
            "HSY:n asiakaspalveluun saapuvien yhteydenottojen rekisteri",
            "Register över kontakter till HRM:s kundtjänst",
            "The register of contacts arriving at HSY's customer service",
        ),
        controller: Controller {
            name: "Helsingin seudun ympäristöpalvelut -kuntayhtymä HSY".into(),
            business_id: "2274241-9".into(),
            address: "Ilmalantori 1, 00240 Helsinki".into(),
            country: "FI".into(),
        },
        contact: ContactPoint {
            title: text(
                "Asiakaspalvelupäällikkö",
                "Kundtjänstchef",
                "Customer service manager",
            ),
            address: "Ilmalantori 1, 00240 Helsinki".into(),
            phone: "09 15611".into(),
        },
        responsible: text(
            "Asiakaspalvelujohtaja",
            "Kundtjänstdirektör",
            "Customer service director",
        ),
        dpo: ProtectionOfficer {
            email: "tietosuojavastaava@hsy.fi".into(),
        },
        purpose_summary: text(
            "Henkilötietoja käsitellään asiakassuhteiden ja asiakaspalveluiden hoitamiseksi, \
             asiakaspalvelun laadun varmistamiseksi ja verkossa hoidettavien asioiden \
             helpottamiseksi. Tilastot ja raportit kootaan vain muodossa, josta yksittäistä \
             asiakasta ei voi tunnistaa.",
            "Personuppgifter behandlas för att sköta kundrelationer och kundtjänst, säkra \
             kundtjänstens kvalitet och underlätta ärenden som sköts på nätet. Statistik och \
             rapporter sammanställs endast i en form där ingen enskild kund kan identifieras.",
            "Personal data are processed to manage customer relationships and customer \
             services, to assure the quality of customer service and to ease matters handled \
             online. Statistics and reports are compiled only in a form in which no individual \
             customer can be identified.",
        ),
        purposes: vec![
            purpose(
                Purpose::OrderVerification,
                "Asiakkaiden toimeksiantojen varmistaminen",
                "Att säkerställa kundernas uppdrag",
                "Verifying customers' orders and instructions",
            ),
            purpose(
                Purpose::ComplaintVerification,
                "Puhelun sisällön todentaminen esimerkiksi reklamaatiotilanteessa",
                "Att verifiera samtalets innehåll, till exempel vid reklamation",
                "Verifying what was said, e.g. when a complaint is made",
            ),
            purpose(
                Purpose::QualityAssurance,
                "Palvelun laadun varmistaminen",
                "Att säkra tjänstens kvalitet",
                "Assuring service quality",
            ),
            purpose(
                Purpose::Training,
                "Asiakaspalvelun henkilökunnan kouluttaminen",
                "Utbildning av kundtjänstens personal",
                "Training customer-service staff",
            ),
            purpose(
                Purpose::Development,
                "Asiakaspalvelun toiminnan suunnittelu ja kehittäminen",
                "Planering och utveckling av kundtjänsten",
                "Planning and developing customer service",
            ),
            purpose(
                Purpose::Survey,
                "Kohdistetut asiakaskyselyt (esim. tekstiviesti) asiakaskohtaamisten laadun \
                 mittaamiseksi",
                "Riktade kundenkäter (t.ex. sms) för att mäta kvaliteten i kundmöten",
                "Targeted customer surveys (e.g. text messages) measuring the quality of \
                 customer encounters",
            ),
            purpose(
                Purpose::LegalClaim,
                "Oikeudellisen vaateen laatiminen, esittäminen tai puolustaminen",
                "Fastställande, utövande eller försvar av rättsliga anspråk",
                "Establishing, exercising or defending legal claims",
            ),
            purpose(
                Purpose::DataSubjectRequest,
                "Rekisteröidyn oikeuksia koskevien pyyntöjen käsittely",
                "Behandling av den registrerades begäranden",
                "Handling data subjects' requests about their rights",
            ),
        ],
        data_subjects: vec![
            text(
                "Asiakkaat ja maksajat",
                "Kunder och betalare",
                "Customers and payers",
            ),
            text(
                "Asiakkaan yhteyshenkilöt (isännöitsijä tai muu)",
                "Kundens kontaktpersoner (disponent eller annan)",
                "Customers' contact persons (property manager or other)",
            ),
            text(
                "Asiakaspalvelijat",
                "Kundtjänstens personal",
                "Customer-service agents",
            ),
        ],
        data_categories: vec![
            text(
                "Asiakkaan nimi, osoite, sähköpostiosoite, puhelinnumero ja kieli",
                "Kundens namn, adress, e-postadress, telefonnummer och språk",
                "The customer's name, address, email address, phone number and language",
            ),
            text(
                "Yhteyshenkilön nimi ja puhelinnumero",
                "Kontaktpersonens namn och telefonnummer",
                "The contact person's name and phone number",
            ),
            text(
                "Asiakkaan tai maksajan tili-, laskutus- ja maksutilannetiedot",
                "Kundens eller betalarens konto-, fakturerings- och betalningsuppgifter",
                "The customer's or payer's account, billing and payment status data",
            ),
            text(
                "Kiinteistön nimi, osoite, kiinteistötunnus, tyyppi, liittymätiedot ja \
                 palvelun sisältö",
                "Fastighetens namn, adress, fastighetsbeteckning, typ, anslutningsuppgifter \
                 och tjänstens innehåll",
                "The property's name, address, property ID, type, connection data and the \
                 content of the service",
            ),
            text(
                "Puheluista: alkamisaika, palvelu, vastannut asiakasneuvoja, asiakkaan \
                 puhelinnumero (jos se ei ole salainen), kesto ja .wav-tallenne",
                "För samtal: starttid, tjänst, kundrådgivaren som svarade, kundens \
                 telefonnummer (om det inte är hemligt), längd och .wav-inspelning",
                "For calls: start time, service, the agent who answered, the customer's \
                 phone number (unless withheld), length and the .wav recording",
            ),
            text(
                "Chat-keskustelut, sähköpostit ja asiakaslomakkeet",
                "Chattsamtal, e-post och kundformulär",
                "Chat conversations, emails and customer forms",
            ),
        ],
        sources: text(
            "Tiedot saadaan asiakkaalta itseltään.",
            "Uppgifterna fås av kunden själv.",
            "The data come from the customers themselves.",
        ),
        recipients: vec![
            RecipientCategory {
                kind: RecipientKind::Processor,
                text: text(
                    "Yhteistyökumppanit ja alihankkijat vain rekisterinpitäjän lukuun \
                     suoritettaviin asiakassuhteen tehtäviin",
                    "Samarbetspartner och underleverantörer endast för uppgifter som utförs \
                     för den personuppgiftsansvariges räkning",
                    "Partners and subcontractors, only for tasks carried out on the \
                     controller's behalf",
                ),
            },
            RecipientCategory {
                kind: RecipientKind::Authority,
                text: text(
                    "Viranomaiset erillisestä pyynnöstä vain lakisääteisen tehtävän vaatimassa \
                     laajuudessa",
                    "Myndigheter på särskild begäran, endast i den omfattning som en \
                     lagstadgad uppgift kräver",
                    "Authorities on a separate request, only as far as a statutory task needs",
                ),
            },
            RecipientCategory {
                kind: RecipientKind::Police,
                text: text(
                    "Poliisi erillisestä pyynnöstä vain tarpeellisilta osin",
                    "Polisen på särskild begäran, endast i nödvändig omfattning",
                    "The police on a separate request, only as far as necessary",
                ),
            },
        ],
        transfers: text(
            "Tietoja ei siirretä EU:n tai ETA:n ulkopuolelle.",
            "Uppgifterna överförs inte utanför EU eller EES.",
            "No data are transferred outside the EU/EEA.",
        ),
        security: vec![
            text(
                "Henkilökohtaiset käyttäjätunnukset; pääsy vain työtehtävien sitä vaatiessa; \
                 asiakasneuvojat näkevät vain omat puhelunsa",
                "Personliga användarkonton; åtkomst endast när arbetet kräver det; \
                 kundrådgivare ser endast sina egna samtal",
                "Personal user accounts; access only where work needs it; agents see only \
                 their own calls",
            ),
            text(
                "Tallenteet, chat-keskustelut ja muut henkilötiedot salataan levossa \
                 kohdekohtaisin avaimin",
                "Inspelningar, chattsamtal och andra personuppgifter krypteras i vila med \
                 nycklar per objekt",
                "Recordings, chat conversations and other personal data are encrypted at \
                 rest with a key per object",
            ),
            text(
                "Jokainen tietojen käyttö kirjataan käyttötarkoituksineen peukaloinnin \
                 paljastavaan lokiin",
                "Varje användning av uppgifterna loggas med sitt ändamål i en logg som \
                 avslöjar manipulering",
                "Every use of the data is logged with its purpose in a tamper-evident log",
            ),
        ],
        rights: text(
            "Teillä on oikeus saada tietoa käsittelystä, tarkastaa tietonne ja vaatia \
             virheellisen tiedon oikaisua sekä tietyissä tilanteissa pyytää käsittelyn \
             rajoittamista, vastustaa käsittelyä tai pyytää tietojen poistamista. Pyynnön voi \
             tehdä verkkolomakkeella tai henkilökohtaisesti toimipisteessä; henkilöllisyys \
             varmistetaan ennen käsittelyä. Voitte tehdä valituksen tietosuojavaltuutetun \
             toimistolle.",
            "Ni har rätt att få information om behandlingen, granska era uppgifter och kräva \
             rättelse av felaktiga uppgifter samt i vissa fall begära begränsning, invända \
             mot behandlingen eller begära radering. Begäran kan göras med webbformuläret \
             eller personligen på kontoret; identiteten kontrolleras före behandlingen. Ni \
             kan klaga hos dataombudsmannens byrå.",
            "You have the right to be informed, to inspect your data and to have wrong data \
             rectified, and in certain situations to ask for restriction, to object or to \
             ask for erasure. A request can be made with the web form or in person at the \
             office; identity is verified before it is handled. You may complain to the \
             Office of the Data Protection Ombudsman.",
        ),
        change: ChangeNotice::default(),
    }
}

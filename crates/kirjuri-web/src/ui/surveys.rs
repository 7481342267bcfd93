//! The survey settings page (`/surveys`, SURV-1; issue 15 §5): every
//! service's satisfaction-survey settings as a table, a form per service to
//! change them and one to set up a new service — sampling rate, delay,
//! quiet hours, period and the invitation in fi/sv/en, the same fields as
//! `PUT /api/v1/surveys/settings/{service}`. A plain POST with the
//! session's CSRF token; no JavaScript.
//!
//! The page calls the same `Kirjuri::survey_settings` and
//! `Kirjuri::put_survey_settings` as the API, which decide access
//! (supervisors only), check every field and audit the change
//! (`survey.configured`). A refused change stores nothing and gives the
//! form back as typed, each failing field marked (`aria-invalid`) with its
//! explanation beside it (`aria-describedby`); the explanations come from
//! core's `SurveySettings::invalid_fields`, the list the application's
//! check refuses by.
//!
//! Not here: the rules (`kirjuri_core::survey`) or sending
//! (`kirjuri_app::surveys`).

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use kirjuri_app::Error;
use kirjuri_app::app::Kirjuri;
use kirjuri_app::surveys::SurveySettingsView;
use kirjuri_core::access::Action;
use kirjuri_core::survey::SurveySettings;
use serde::Deserialize;

use super::context::{Frame, Posted, Staff, see_other};
use super::format;
use super::html;
use super::i18n::Tr;

/// The form's fields, as typed (every one a string, so a value that is not
/// a number comes back to its field rather than failing the whole form).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SettingsForm {
    service: String,
    /// A checkbox: present when ticked.
    enabled: Option<String>,
    sample_per_mille: String,
    delay_minutes: String,
    quiet_start: String,
    quiet_end: String,
    period_days: String,
    text_fi: String,
    text_sv: String,
    text_en: String,
}

impl SettingsForm {
    fn from_settings(service: &str, s: &SurveySettings) -> Self {
        Self {
            service: service.to_owned(),
            enabled: s.enabled.then(|| "on".to_owned()),
            sample_per_mille: s.sample_per_mille.to_string(),
            delay_minutes: s.delay_minutes.to_string(),
            quiet_start: s.quiet_start.clone(),
            quiet_end: s.quiet_end.clone(),
            period_days: s.period_days.to_string(),
            text_fi: s.text_fi.clone(),
            text_sv: s.text_sv.clone(),
            text_en: s.text_en.clone(),
        }
    }

    /// The settings, or the numeric fields that are not numbers.
    fn settings(&self) -> Result<SurveySettings, Vec<&'static str>> {
        let mut bad = Vec::new();
        let mut number = |field: &'static str, value: &str| {
            value.trim().parse::<u32>().unwrap_or_else(|_| {
                bad.push(field);
                0
            })
        };
        let sample_per_mille = number("sample_per_mille", &self.sample_per_mille);
        let delay_minutes = number("delay_minutes", &self.delay_minutes);
        let period_days = number("period_days", &self.period_days);
        if !bad.is_empty() {
            return Err(bad);
        }
        Ok(SurveySettings {
            enabled: self.enabled.is_some(),
            sample_per_mille,
            delay_minutes,
            quiet_start: self.quiet_start.trim().to_owned(),
            quiet_end: self.quiet_end.trim().to_owned(),
            period_days,
            text_fi: self.text_fi.clone(),
            text_sv: self.text_sv.clone(),
            text_en: self.text_en.clone(),
        })
    }
}

/// The translation key explaining what `field` must be.
fn field_key(field: &str) -> &'static str {
    match field {
        "service" => "surveys.invalid_service",
        "sample_per_mille" => "surveys.invalid_sample_per_mille",
        "delay_minutes" => "surveys.invalid_delay_minutes",
        "quiet_start" | "quiet_end" => "surveys.invalid_time",
        "period_days" => "surveys.invalid_period_days",
        _ => "surveys.invalid_text",
    }
}

/// One service's form (or the new service's).
pub struct ServiceForm {
    /// The prefix of its element ids (`svc-0`, …, `svc-new`).
    id: String,
    /// Whether it sets up a service not yet configured.
    is_new: bool,
    /// Its values.
    values: SettingsForm,
    /// Its failing fields and their explanations' keys.
    errors: Vec<(&'static str, &'static str)>,
}

impl ServiceForm {
    /// The explanation's key of `field`, if it failed.
    pub fn error(&self, field: &str) -> Option<&'static str> {
        self.errors
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, key)| *key)
    }

    /// `aria-describedby` of `field`: its help and, if it failed, its
    /// explanation.
    pub fn described_by(&self, field: &str) -> String {
        match self.error(field) {
            Some(_) => format!("{0}-{field}-help {0}-{field}-error", self.id),
            None => format!("{}-{field}-help", self.id),
        }
    }
}

/// A configured service as a line of the overview.
pub struct Line {
    service: String,
    enabled: bool,
    sample: String,
    delay: u32,
    quiet: String,
    period: u32,
    version: u32,
    updated: String,
}

/// The page.
#[derive(Template)]
#[template(path = "surveys.html")]
pub struct SurveysPage {
    frame: Frame,
    t: Tr,
    lines: Vec<Line>,
    forms: Vec<ServiceForm>,
    saved: bool,
    error: Option<(&'static str, String)>,
}

/// `?saved=1` after a change.
#[derive(Deserialize)]
pub struct Shown {
    #[serde(default)]
    saved: Option<String>,
}

/// A refused change: the form as typed and what was wrong with it.
struct Refusal {
    form: SettingsForm,
    fields: Vec<&'static str>,
    error: Error,
}

async fn surveys_page(
    app: &Kirjuri,
    staff: &Staff,
    saved: bool,
    refusal: Option<Refusal>,
) -> Response {
    let t = staff.tr();
    let views: Vec<SurveySettingsView> = match app.survey_settings(&staff.actor, staff.id).await {
        Ok(views) => views,
        Err(e) => return staff.error(e),
    };
    let errors_of = |fields: &[&'static str]| -> Vec<(&'static str, &'static str)> {
        fields.iter().map(|f| (*f, field_key(f))).collect()
    };
    let mut forms: Vec<ServiceForm> = views
        .iter()
        .enumerate()
        .map(|(i, v)| ServiceForm {
            id: format!("svc-{i}"),
            is_new: false,
            values: SettingsForm::from_settings(&v.service, &v.settings),
            errors: Vec::new(),
        })
        .collect();
    let mut new = ServiceForm {
        id: "svc-new".into(),
        is_new: true,
        values: SettingsForm::from_settings("", &defaults()),
        errors: Vec::new(),
    };
    let status = refusal
        .as_ref()
        .map_or(StatusCode::OK, |r| crate::error::status(&r.error));
    let error = refusal.as_ref().map(|r| {
        let code = r.error.code();
        (code, t.error_key("surveys", code))
    });
    if let Some(refusal) = refusal {
        let target = forms
            .iter_mut()
            .find(|f| f.values.service == refusal.form.service)
            .unwrap_or(&mut new);
        target.values = refusal.form;
        target.errors = errors_of(&refusal.fields);
    }
    forms.push(new);
    let page = SurveysPage {
        frame: staff.frame(),
        t,
        lines: views
            .iter()
            .map(|v| Line {
                service: v.service.clone(),
                enabled: v.settings.enabled,
                sample: format!("{} ‰", v.settings.sample_per_mille),
                delay: v.settings.delay_minutes,
                quiet: format!("{}–{}", v.settings.quiet_start, v.settings.quiet_end),
                period: v.settings.period_days,
                version: v.version,
                updated: format::time(v.updated_at),
            })
            .collect(),
        forms,
        saved,
        error,
    };
    let mut response = html(&page);
    *response.status_mut() = status;
    response
}

/// What the new service's form starts with: surveys off, one contact in
/// ten, an hour's delay, quiet 21–09, once a quarter; the texts to write.
fn defaults() -> SurveySettings {
    SurveySettings {
        enabled: false,
        sample_per_mille: 100,
        delay_minutes: 60,
        quiet_start: "21:00".into(),
        quiet_end: "09:00".into(),
        period_days: 90,
        text_fi: String::new(),
        text_sv: String::new(),
        text_en: String::new(),
    }
}

/// `GET /surveys`.
pub async fn page(
    State(app): State<Kirjuri>,
    staff: Staff,
    Query(shown): Query<Shown>,
) -> Response {
    surveys_page(&app, &staff, shown.saved.is_some(), None).await
}

/// `POST /surveys` — 303 back to the page, or the form again as typed with
/// each failing field explained (nothing stored).
pub async fn save(State(app): State<Kirjuri>, posted: Posted<SettingsForm>) -> Response {
    let Posted { staff, form } = posted;
    // Who may, before anything posted is looked at.
    if let Err(e) = app
        .authorize_register(&staff.actor, staff.id, Action::ConfigureSurveys, None)
        .await
    {
        return staff.error(e);
    }
    let settings = match form.settings() {
        Ok(settings) => settings,
        Err(fields) => {
            let error = Error::Unprocessable {
                code: "invalid_survey",
                message: "a number is not a whole number".into(),
            };
            let refusal = Refusal {
                form,
                fields,
                error,
            };
            return surveys_page(&app, &staff, false, Some(refusal)).await;
        }
    };
    match app
        .put_survey_settings(&staff.actor, staff.id, &form.service, &settings)
        .await
    {
        Ok(_) => see_other("/surveys?saved=1"),
        Err(e @ Error::Forbidden(_)) => staff.error(e),
        Err(error) => {
            let fields = match error.code() {
                "invalid_service" => vec!["service"],
                _ => settings.invalid_fields().iter().map(|i| i.field).collect(),
            };
            let refusal = Refusal {
                form,
                fields,
                error,
            };
            surveys_page(&app, &staff, false, Some(refusal)).await
        }
    }
}

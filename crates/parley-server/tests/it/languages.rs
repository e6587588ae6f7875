//! Issue 18, languages (WEB-06, CO-18): no console text outside the catalogue (every key used
//! exists in every language; no literal text in a template or a page script), the agent's console
//! language, and translators writing keyword responses and widget labels that customers then get,
//! on both databases.

use std::collections::HashMap;
use std::path::Path;

use parley_core::i18n::{Locale, catalogue};
use parley_core::model::{AgentRole, TokenRole};
use parley_store::testing::TestBackend;
use parley_testkit::build;
use reqwest::header::{ACCEPT_LANGUAGE, COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::TestApp;
use crate::console::Desk;

/// Scripts whose texts come from elsewhere: the widget's labels are served by the widget config
/// (`/widget/v1/.../config`, area `widget`) with English built in as the fallback.
const OWN_LABELS: &[&str] = &["widget.js"];

/// Words that are the same in every language and may be written as they are: the product and its
/// commands.
const ALLOWED_TEXT: &[&str] = &["Parley", "parley apply"];

/// A literal a machine reads rather than a person: a URL, a path, a time zone, a field name or a
/// slug — one token without spaces that has a separator in it or is all lowercase ASCII. (A
/// single lowercase word of running text would pass too; text in the console starts with a
/// capital or has spaces.)
fn machine_value(s: &str) -> bool {
    let s = s.trim();
    !s.is_empty()
        && !s.chars().any(char::is_whitespace)
        && (s.contains("://")
            || s.chars().any(|c| "/._*:@".contains(c))
            || s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'))
}

fn files(dir: &str, ext: &str) -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut out: Vec<(String, String)> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    out.sort();
    out
}

fn line_of(text: &str, at: usize) -> usize {
    text[..at].matches('\n').count() + 1
}

/// `text` with every match of `re` replaced by spaces (line breaks kept), so positions and
/// line numbers stay those of the file.
fn blank(text: &str, re: &regex::Regex) -> String {
    re.replace_all(text, |c: &regex::Captures| {
        c[0].chars()
            .map(|ch| if ch == '\n' { '\n' } else { ' ' })
            .collect::<String>()
    })
    .into_owned()
}

fn has_letters(s: &str) -> bool {
    let entities = regex::Regex::new(r"&[a-zA-Z]+;|&#x?[0-9a-fA-F]+;").unwrap();
    let s = entities.replace_all(s, " ");
    let rest: String = ALLOWED_TEXT
        .iter()
        .fold(s.into_owned(), |acc, w| acc.replace(w, " "));
    rest.chars().any(char::is_alphabetic)
}

/// Every `t("area.key")` in templates and `t('area.key')` / `P.t(..)` / `Parley.t(..)` in scripts.
/// A key built at run time (`t('console.entry_' + status)`) is checked as a prefix: some key must
/// start with it.
fn used_keys(name: &str, text: &str, problems: &mut Vec<String>) {
    let call = regex::Regex::new(r#"\bt\(\s*["']([a-z_]+\.[a-z0-9_.]*)["']"#).unwrap();
    for c in call.captures_iter(text) {
        let key = &c[1];
        let at = c.get(1).unwrap().start();
        for locale in Locale::ALL {
            let table = catalogue(*locale);
            let ok = if key.ends_with('_') || key.ends_with('.') {
                table.keys().any(|k| k.starts_with(key))
            } else {
                table.contains_key(key)
            };
            if !ok {
                problems.push(format!(
                    "{name}:{}: key {key} missing in {locale}",
                    line_of(text, at)
                ));
            }
        }
    }
}

fn template_text(name: &str, source: &str, problems: &mut Vec<String>) {
    let mut text = source.to_owned();
    for re in [
        r"(?s)\{#.*?#\}",
        r"(?s)\{%.*?%\}",
        r"(?s)\{\{.*?\}\}",
        r"(?is)<script\b[^>]*>.*?</script>",
        r"(?is)<style\b[^>]*>.*?</style>",
    ] {
        text = blank(&text, &regex::Regex::new(re).unwrap());
    }
    let tag = regex::Regex::new(r"(?s)<[^>]*>").unwrap();
    let attr =
        regex::Regex::new(r#"(?i)\s(placeholder|title|aria-label|alt|label|value)="([^"]*)""#)
            .unwrap();
    for m in tag.find_iter(&text) {
        for c in attr.captures_iter(m.as_str()) {
            // A value attribute is a form value, not text, except on an input drawn as a button.
            let tag = m.as_str().to_ascii_lowercase();
            let shows_value = tag.starts_with("<input")
                && ["submit", "button", "reset"]
                    .iter()
                    .any(|t| tag.contains(&format!("type=\"{t}\"")));
            if c[1].eq_ignore_ascii_case("value") && !shows_value {
                continue;
            }
            if has_letters(&c[2]) {
                problems.push(format!(
                    "{name}:{}: {}=\"{}\" is not from the catalogue",
                    line_of(&text, m.start()),
                    &c[1],
                    c[2].trim()
                ));
            }
        }
    }
    let text = blank(&text, &tag);
    let mut offset = 0;
    for line in text.split('\n') {
        if has_letters(line) {
            problems.push(format!(
                "{name}:{}: text \"{}\" is not from the catalogue",
                line_of(&text, offset),
                line.trim()
            ));
        }
        offset += line.len() + 1;
    }
}

/// Literal words where a script writes what a person reads: `text:`, `title:`, `placeholder:`,
/// `'aria-label':`, `textContent =`, notices and errors.
fn script_text(name: &str, source: &str, problems: &mut Vec<String>) {
    let shown = regex::Regex::new(
        r#"(?:\btext:|\btitle:|\bplaceholder:|'aria-label':|\.textContent\s*=|\.title\s*=|\bnotify\(|\bshowError\(|\bproblems\.push\()\s*(?:[^'"`;]*\?\s*)?(['"`])([^'"`]*)['"`]"#,
    )
    .unwrap();
    for c in shown.captures_iter(source) {
        let literal = &c[2];
        if has_letters(literal) && !machine_value(literal) {
            problems.push(format!(
                "{name}:{}: '{literal}' is not from the catalogue",
                line_of(source, c.get(0).unwrap().start())
            ));
        }
    }
}

#[test]
fn no_console_text_outside_the_catalogue() {
    let mut problems = Vec::new();
    for (name, source) in files("templates", "html") {
        used_keys(&name, &source, &mut problems);
        if !OWN_LABELS.contains(&name.as_str()) {
            template_text(&name, &source, &mut problems);
        }
    }
    for (name, source) in files("assets", "js") {
        used_keys(&name, &source, &mut problems);
        if !OWN_LABELS.contains(&name.as_str()) {
            script_text(&name, &source, &mut problems);
        }
    }
    assert!(
        problems.is_empty(),
        "{} untranslated:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn the_checks_catch_what_they_are_for() {
    let mut p = Vec::new();
    template_text(
        "x.html",
        "{% block main %}\n<p>{{ t(\"common.save\") }}</p>\n<p>Hello</p>\n<input placeholder=\"Name\">\n<h1>Parley</h1>{% endblock %}",
        &mut p,
    );
    assert_eq!(p.len(), 2, "{p:?}");
    assert!(p[0].starts_with("x.html:4: placeholder"), "{p:?}");
    assert!(p[1].starts_with("x.html:3: text \"Hello\""), "{p:?}");
    let mut p = Vec::new();
    script_text(
        "x.js",
        "h('b', { text: t('common.save') });\nnotify('Saved', 'info');\nel.textContent = ok ? 'Fine' : t('x.y');",
        &mut p,
    );
    assert_eq!(p.len(), 2, "{p:?}");
    let mut p = Vec::new();
    used_keys(
        "x.js",
        "P.t('common.save'); t('common.nope'); t('console.entry_' + s)",
        &mut p,
    );
    assert_eq!(p.len(), Locale::ALL.len(), "{p:?}");
}

// ---------------------------------------------------------------------------------------------

async fn call(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut r = app
        .client
        .request(method, format!("{}{path}", app.base))
        .bearer_auth(token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    parley_testkit::status_and_json(r).await
}

fn keyword_set(stop: &str, help: &[&str], stopped: &str, help_text: &str) -> Value {
    json!({"opt_out": [stop], "help": help,
           "responses": {"help": help_text, "opt_out_confirmation": stopped}})
}

async fn replies_to(
    app: &TestApp,
    channel_id: &str,
    from: &str,
    text: &str,
    n: usize,
) -> Vec<String> {
    let r = app
        .anon(Method::POST, "/simulator/inbound")
        .json(&json!({"channel": channel_id, "from": from, "text": text}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let user = app.wait_for_user(channel_id.parse().unwrap(), from).await;
    app.wait_for_entries(user.id, n)
        .await
        .into_iter()
        .filter(|(_, e)| e.direction == parley_core::model::Direction::Outbound)
        .map(|(_, e)| e.body)
        .collect()
}

async fn translators_write_responses_and_labels(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    let admin = app.token.clone();
    let sets = json!({
        "en": keyword_set("STOP", &["HELP", "INFO"], "Stopped.", "Acme Alerts: Help at help@acme.example. Msg&data rates may apply. 1 msg/day. Text STOP to cancel."),
        "fr": keyword_set("ARRET", &["AIDE"], "Arrêté.", "Alertes Acme : aide à aide@acme.example. Des frais peuvent s'appliquer. 1 msg/jour. Textez ARRET pour annuler."),
    });
    let (s, ch) = call(
        &app,
        &admin,
        Method::POST,
        "/api/v1/channels",
        Some(json!({
        "name": "CA", "kind": "sms", "provider": "simulator", "address": "24680",
        "number_type": "short_code", "country": "CA", "keyword_sets": sets})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{ch}");
    let ch = ch["id"].as_str().unwrap().to_owned();
    let (s, web) = call(
        &app,
        &admin,
        Method::POST,
        "/api/v1/channels",
        Some(json!({
        "name": "Shop", "kind": "web", "provider": "web", "address": "shop"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{web}");
    let (s, dep) = call(
        &app,
        &admin,
        Method::POST,
        "/api/v1/web-deployments",
        Some(json!({
        "name": "boutique", "channel_id": web["id"], "origins": ["https://shop.example"],
        "language": "fr",
        "branding": {"title": "Chat with us", "color": "#FF6600", "greeting": "Hi!"},
        "prechat": {"enabled": true, "fields": [
            {"name": "first_name", "label": "First name", "kind": "text", "required": true},
            {"name": "plan", "kind": "text", "hidden": true}]}})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{dep}");
    let dep = dep["id"].as_str().unwrap().to_owned();

    // Without `translate`, neither the list nor a write.
    let agent = TestApp::token_for(&app.db, TokenRole::Agent).await;
    let (s, v) = call(
        &app,
        &agent,
        Method::GET,
        "/api/v1/translations?locale=fr",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert!(v["message"].as_str().unwrap().contains("translate"), "{v}");
    let stop_id = format!("{ch}:opt_out_confirmation");
    let path = format!("/api/v1/translations/keyword_response/{stop_id}/fr");
    let (s, _) = call(
        &app,
        &agent,
        Method::PUT,
        &path,
        Some(json!({"text": "Non."})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // A translator: a token holding `translate` only (a permission set of that one permission).
    let (s, set) = call(
        &app,
        &admin,
        Method::POST,
        "/api/v1/permission-sets",
        Some(json!({"name": "Translators", "permissions": ["translate"]})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{set}");
    let (s, v) = call(
        &app,
        &admin,
        Method::POST,
        "/api/v1/api-tokens",
        Some(json!({"name": "translator", "role": "admin", "permission_set_id": set["id"]})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let translator = v["token"].as_str().unwrap().to_owned();
    // No configuration rights: the channel itself stays out of reach.
    let (s, v) = call(
        &app,
        &translator,
        Method::PUT,
        &format!("/api/v1/channels/{ch}"),
        Some(json!({"name": "Renamed"})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");

    // The list: each text with its English source and what French it has.
    let (s, list) = call(
        &app,
        &translator,
        Method::GET,
        "/api/v1/translations?locale=fr",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{list}");
    let items = list["items"].as_array().unwrap();
    let find = |id: &str| items.iter().find(|i| i["id"] == id).cloned();
    let stop = find(&stop_id).expect("the opt-out confirmation is listed");
    assert_eq!(stop["source"], "Stopped.");
    assert_eq!(stop["source_locale"], "en");
    assert_eq!(stop["translation"], "Arrêté.");
    assert_eq!(stop["translated"], false);
    assert_eq!(stop["max_length"], 160);
    let title = find(&format!("{dep}:title")).expect("the widget title is listed");
    assert_eq!(title["source"], "Chat with us");
    assert!(find(&format!("{dep}:prechat.first_name")).is_some());
    assert!(
        find(&format!("{dep}:prechat.plan")).is_none(),
        "hidden fields have no label"
    );

    // Writes: one language of one text; bad input is a 422 naming the field.
    let (s, v) = call(
        &app,
        &translator,
        Method::PUT,
        &path,
        Some(json!({"text": "Vous ne recevrez plus nos messages."})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    for (path, body, field) in [
        (path.clone(), json!({"text": "x".repeat(161)}), "text"),
        (
            format!("/api/v1/translations/channel/{stop_id}/fr"),
            json!({"text": "x"}),
            "kind",
        ),
        (
            format!("/api/v1/translations/keyword_response/{stop_id}/de"),
            json!({"text": "x"}),
            "locale",
        ),
        (
            format!("/api/v1/translations/keyword_response/{ch}:nothing/fr"),
            json!({"text": "x"}),
            "id",
        ),
        (
            format!("/api/v1/translations/widget_label/{dep}:prechat.plan/fr"),
            json!({"text": "x"}),
            "id",
        ),
    ] {
        let (s, v) = call(&app, &admin, Method::PUT, &path, Some(body)).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {v}");
        assert!(
            v["message"].as_str().unwrap().starts_with(field),
            "{path}: {v}"
        );
    }
    let (s, v) = call(
        &app,
        &admin,
        Method::GET,
        "/api/v1/translations?locale=xx",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    for (key, text) in [
        ("title", "Clavardez avec nous"),
        ("prechat.first_name", "Prénom"),
    ] {
        let (s, v) = call(
            &app,
            &translator,
            Method::PUT,
            &format!("/api/v1/translations/widget_label/{dep}:{key}/fr"),
            Some(json!({"text": text})),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }

    // Customers get the translations: ARRET in French (CO-18), STOP still in English.
    assert_eq!(
        replies_to(&app, &ch, "+15145550101", "ARRET", 2).await,
        vec!["Vous ne recevrez plus nos messages."]
    );
    assert_eq!(
        replies_to(&app, &ch, "+15145550102", "STOP", 2).await,
        vec!["Stopped."]
    );
    let r = app
        .anon(Method::GET, "/widget/v1/deployments/boutique/config")
        .header("origin", "https://shop.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let config: Value = r.json().await.unwrap();
    assert_eq!(config["branding"]["title"], "Clavardez avec nous");
    assert_eq!(config["prechat"]["fields"][0]["label"], "Prénom");

    // The configuration itself is untouched: the translation lies beside it.
    let (_, d) = call(
        &app,
        &admin,
        Method::GET,
        &format!("/api/v1/web-deployments/{dep}"),
        None,
    )
    .await;
    assert_eq!(d["branding"]["title"], "Chat with us");
    // An empty text removes the translation.
    let (s, _) = call(&app, &admin, Method::PUT, &path, Some(json!({"text": ""}))).await;
    assert_eq!(s, StatusCode::OK);
    let (_, list) = call(
        &app,
        &admin,
        Method::GET,
        "/api/v1/translations?locale=fr",
        None,
    )
    .await;
    let stop = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == stop_id.as_str())
        .cloned()
        .unwrap();
    assert_eq!(stop["translated"], false);
    assert_eq!(stop["translation"], "Arrêté.");
}

async fn the_agent_chooses_the_console_language(b: TestBackend) {
    let desk = Desk::new(b).await;
    let agent = desk
        .app
        .agent_with_password(
            &build::agent_spec("Chloe", AgentRole::Agent, 2, vec![desk.queue.id]),
            crate::console::PASSWORD,
        )
        .await;
    let c = desk.sign_in(&agent).await;
    let page = |c: &crate::console::Console| desk.call(c, Method::GET, "/console").send();
    let html = page(&c).await.unwrap().text().await.unwrap();
    assert!(html.contains("<html lang=\"en\">"), "{html}");
    assert!(html.contains("My sessions"));

    let r = desk
        .call(&c, Method::PUT, "/api/v1/me/locale")
        .json(&json!({"locale": "de"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = desk
        .call(&c, Method::PUT, "/api/v1/me/locale")
        .json(&json!({"locale": "fr"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    let html = page(&c).await.unwrap().text().await.unwrap();
    assert!(html.contains("<html lang=\"fr\">"), "{html}");
    assert!(html.contains("Mes sessions") && !html.contains("My sessions"));
    // The page's catalogue for `Parley.t` is the French one.
    let json_block = html
        .split("<script id=\"i18n\" type=\"application/json\">")
        .nth(1)
        .and_then(|rest| rest.split("</script>").next())
        .unwrap();
    let table: HashMap<String, String> = serde_json::from_str(json_block).unwrap();
    assert_eq!(table["console.accept"], "Accepter");
    crate::pages::assert_csp_clean(&html);

    let me: Value = desk
        .call(&c, Method::GET, "/api/v1/me")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["agent"]["locale"], "fr", "{me}");

    // The sign-in page follows the browser until someone signs in.
    let login = |lang: Option<&'static str>| {
        let mut r = desk.app.anon(Method::GET, "/console/login");
        if let Some(l) = lang {
            r = r.header(ACCEPT_LANGUAGE, l);
        }
        r.send()
    };
    let fr = login(Some("fr-CA,fr;q=0.9,en;q=0.5"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        fr.contains("<html lang=\"fr\">") && fr.contains("Se connecter"),
        "{fr}"
    );
    let en = login(Some("de")).await.unwrap().text().await.unwrap();
    assert!(
        en.contains("<html lang=\"en\">") && en.contains("Sign in"),
        "{en}"
    );
    let failed = desk
        .app
        .anon(Method::POST, "/console/login")
        .header(ACCEPT_LANGUAGE, "fr")
        .form(&[("email", "nobody@example.test"), ("password", "wrong")])
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status(), StatusCode::UNAUTHORIZED);
    let body = failed.text().await.unwrap();
    assert!(
        body.contains("Ce courriel et ce mot de passe ne correspondent pas."),
        "{body}"
    );
    let _ = COOKIE;
}

/// The console in French in headless Chromium (`tests/browser/french.mjs`): sign in, pick
/// Français, accept, reply, end, with every readable text checked against the catalogue.
async fn french_console_in_a_real_browser(b: TestBackend) {
    let backend = format!("{b:?}").to_lowercase();
    let desk = Desk::new(b).await;
    let agent = desk
        .app
        .agent_with_password(
            &build::agent_spec("Chloe", AgentRole::Agent, 3, vec![desk.queue.id]),
            crate::console::PASSWORD,
        )
        .await;
    let admin = desk
        .app
        .agent_with_password(
            &build::agent_spec("Ada", AgentRole::Admin, 3, vec![desk.queue.id]),
            crate::console::PASSWORD,
        )
        .await;
    let shots = std::env::var_os("PARLEY_SHOTS").map_or_else(
        || {
            std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
                .join("french-shots")
                .join(&backend)
        },
        |p| std::path::PathBuf::from(p).join(&backend),
    );
    let customer = format!("+1514555{:04}", uuid::Uuid::now_v7().as_u128() % 10_000);
    crate::browser::run_scenario(
        "french.mjs",
        &[
            format!("--url={}", desk.app.base),
            format!("--agent={}:{}", agent.email, crate::console::PASSWORD),
            format!("--admin={}:{}", admin.email, crate::console::PASSWORD),
            format!("--channel={}", desk.channel.name),
            format!("--customer={customer}"),
            format!("--shots={}", shots.display()),
        ],
        std::time::Duration::from_secs(240),
    )
    .await;
    let me = desk.app.db.store.agent(agent.id).await.unwrap();
    assert_eq!(me.locale, Locale::Fr);
    let written = desk
        .app
        .db
        .store
        .translations_of("keyword_response", &desk.channel.id.to_string())
        .await
        .unwrap();
    assert_eq!(written.len(), 1, "{written:?}");
    assert_eq!(written[0].text, "Merci! Vous recevrez nos messages.");
}

parley_store::on_both_backends!(
    translators_write_responses_and_labels,
    the_agent_chooses_the_console_language,
    french_console_in_a_real_browser,
);

//! The keyword matcher: does an inbound text opt the customer out, in, ask for help, or say a
//! custom keyword, on which channel (shared short codes pick the program by its first word)?
//!
//! Input: one flags byte, then UTF-8 (lossy) fields separated by U+001F: the customer's text, a
//! provider keyword, and a keyword an admin adds. Flags: bits 0-1 the number type (none, long
//! code, short code, shared short code), bit 2 a Canadian number, bit 3 the Canadian defaults,
//! bit 4 the admin's keyword goes to the opt-out list rather than the custom keywords, bits 5-6
//! the channel kind, bit 7 the SMS process of the number is Started.
//!
//! Invariants: nothing panics; `normalize` is idempotent; a match is the text's keyword; the
//! whole message is matched whatever its case and surrounding spaces or punctuation; and in a
//! configuration that validates, every keyword of every list is matched as itself, so no valid
//! configuration can hold a STOP that never works.
#![no_main]

use libfuzzer_sys::fuzz_target;
use parley_core::keyword_process::{
    InboundNumber, KeywordHandler, ProcessStatus, ProcessType, SmsProcess, resolve,
};
use parley_core::keywords::{
    ChannelProfile, CustomKeyword, KeywordConfig, check_custom_keyword, normalize, program_of,
};
use parley_core::model::{ChannelKind, ConsentLevel, KeywordList, NumberType};

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let input = String::from_utf8_lossy(rest);
    let mut fields = input.split('\u{1F}');
    let text = fields.next().unwrap_or_default();
    let provider = fields.next().unwrap_or_default();
    let admin = fields.next().unwrap_or_default();

    let normal = normalize(text);
    assert_eq!(
        normalize(&normal),
        normal,
        "normalize is not idempotent on {text:?}"
    );

    let kind = [
        ChannelKind::Sms,
        ChannelKind::Whatsapp,
        ChannelKind::Messenger,
        ChannelKind::Web,
    ][usize::from(flags >> 5 & 3)];
    let number_type = [
        None,
        Some(NumberType::LongCode),
        Some(NumberType::ShortCode),
        Some(NumberType::SharedShortCode),
    ][usize::from(flags & 3)];
    let mut profile = ChannelProfile::new(kind, ConsentLevel::Implicit);
    profile.number_type = number_type;
    profile.country = (flags & 4 != 0).then(|| "CA".to_owned());
    profile.provider_keyword = (!provider.is_empty()).then(|| provider.to_owned());

    let mut config = if flags & 8 != 0 {
        KeywordConfig::canadian_defaults(
            "Help: reply STOP to opt out.",
            "Aide : ARRET pour arrêter.",
        )
    } else {
        KeywordConfig::defaults("Help: reply STOP to opt out.")
    };
    if !admin.is_empty() {
        let _ = check_custom_keyword(admin);
        if let Some(en) = config.languages.first_mut() {
            if flags & 16 != 0 {
                en.opt_out.push(admin.to_owned());
            } else {
                en.custom.push(CustomKeyword {
                    keyword: admin.to_owned(),
                    response: "Thanks!".to_owned(),
                });
            }
        }
    }

    let found = config.match_text(&profile, text);
    if let Some(m) = &found {
        let body = profile
            .service_text(text)
            .expect("a match is for this channel");
        assert_eq!(normalize(&m.keyword), normalize(body));
    }
    if !profile.is_shared_short_code() {
        let key = |m: Option<parley_core::keywords::KeywordMatch>| m.map(|m| (m.list, m.keyword));
        let padded = format!(" \t{text} !\n");
        assert_eq!(
            key(config.match_text(&profile, &padded)),
            key(found.clone()),
            "padding changes the match of {text:?}"
        );
        assert_eq!(
            key(config.match_text(&profile, &text.to_uppercase())),
            key(found.clone()),
            "upper case changes the match of {text:?}"
        );
    }
    let _ = program_of(text, [provider, "baby", "kids"]);

    if config.validate(&profile).is_ok() {
        let prefix = if profile.is_shared_short_code() {
            format!("{provider} ")
        } else {
            String::new()
        };
        for section in &config.languages {
            for (list, keyword) in section.keywords() {
                let sent = format!("{prefix}{keyword}");
                let matched = config.match_text(&profile, &sent);
                assert_eq!(
                    matched.as_ref().map(|m| m.list),
                    Some(list),
                    "valid configuration, but {sent:?} is not its {list:?} keyword"
                );
            }
        }
    }

    let process = SmsProcess {
        id: uuid::Uuid::nil(),
        name: "fuzz".to_owned(),
        kind: if flags & 16 != 0 {
            ProcessType::Unsubscribe
        } else {
            ProcessType::Help
        },
        status: if flags & 128 != 0 {
            ProcessStatus::Started
        } else {
            ProcessStatus::Paused
        },
        inbound: InboundNumber::new("12345", (!provider.is_empty()).then_some(provider)),
        custom_keywords: (!admin.is_empty())
            .then(|| admin.to_owned())
            .into_iter()
            .collect(),
        message: Some("Reply STOP to stop.".to_owned()),
    };
    let processes = [process];
    match resolve(&processes, "12345", text, &config, &profile) {
        Some(KeywordHandler::Process(p)) => {
            assert_eq!(p.process.status, ProcessStatus::Started);
            let m = KeywordHandler::Process(p).into_keyword_match(&config.default_language);
            assert!(matches!(m.list, KeywordList::OptOut | KeywordList::Help));
        }
        Some(KeywordHandler::Channel(_)) | None => {}
    }
});

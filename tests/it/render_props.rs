//! Properties of the render pipeline over arbitrary secret values and image tags, in process.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use gpt_deploy::config::{self, Config, Source};
use gpt_deploy::render::{PLACEHOLDER, RenderOptions, SecretValues, render};
use gpt_deploy::secret::SecretString;
use proptest::prelude::*;

fn production() -> Config {
    config::load_from(Source::Embedded, "production").expect("the shipped configuration loads")
}

fn options(clerk: &str, database: &str, tag: Option<String>) -> RenderOptions {
    let mut secrets = SecretValues::empty();
    secrets.insert("CLERK_WEBHOOK_SECRET", SecretString::new(clerk));
    secrets.insert("DATABASE_URL", SecretString::new(database));
    RenderOptions {
        image_tag: tag,
        secrets,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any value (quotes, newlines, YAML syntax, unicode) round-trips through `--show-secrets`
    /// and is absent, in plain and base64 form, from the default output and the Debug form.
    #[test]
    fn secret_values_round_trip_and_never_leak(
        // The prefixes make every value distinctive, so a substring match really is a leak.
        clerk in "whsec_[ -~\n\té€]{6,40}",
        database in "postgres://[a-z]{3,8}:[!-~]{6,30}@db/[a-z]{2,6}",
    ) {
        let config = production();
        let rendered = render(&config, &options(&clerk, &database, None)).unwrap();
        let secret = &rendered.objects[0];
        prop_assert_eq!(&secret.kind, "Secret");
        for (key, value) in [("clerk-webhook-secret", &clerk), ("database-url", &database)] {
            let encoded = secret.value["data"][key].as_str().unwrap();
            prop_assert_eq!(STANDARD.decode(encoded).unwrap(), value.as_bytes());
        }
        let shown = rendered.to_yaml(true);
        prop_assert!(shown.contains(&STANDARD.encode(&clerk)));
        let hidden = format!("{}{}{:?}", rendered.to_yaml(false), rendered.to_json(false), rendered);
        for value in [&clerk, &database] {
            prop_assert!(!hidden.contains(&STANDARD.encode(value)));
            prop_assert!(!hidden.contains(value.as_str()));
        }
        prop_assert_eq!(secret.value["data"].as_object().unwrap().len(), 2);
        let placeholder_line = format!("clerk-webhook-secret: {PLACEHOLDER}");
        prop_assert!(rendered.to_yaml(false).contains(&placeholder_line));
    }

    /// Any valid tag (an image tag that is also a label value) ends up, verbatim, in every
    /// workload's image and in the version label.
    #[test]
    fn image_tags_are_used_verbatim(tag in "[A-Za-z0-9]([A-Za-z0-9_.-]{0,38}[A-Za-z0-9])?") {
        let config = production();
        let rendered = render(&config, &options("a", "b", Some(tag.clone()))).unwrap();
        let image = format!("gptservice.azurecr.io/gpt-service:{tag}");
        let find = |kind: &str| {
            &rendered.objects.iter().find(|o| o.kind == kind).expect("rendered").value
        };
        let (deployment, cronjob, job) = (find("Deployment"), find("CronJob"), find("Job"));
        prop_assert_eq!(deployment["spec"]["template"]["spec"]["containers"][0]["image"].as_str(), Some(image.as_str()));
        prop_assert_eq!(job["spec"]["template"]["spec"]["containers"][0]["image"].as_str(), Some(image.as_str()));
        prop_assert_eq!(
            cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["image"].as_str(),
            Some(image.as_str())
        );
        prop_assert_eq!(deployment["metadata"]["labels"]["app.kubernetes.io/version"].as_str(), Some(tag.as_str()));
    }
}

#[test]
fn rendering_twice_gives_identical_objects() {
    let first = render(&production(), &options("x", "y", None)).unwrap();
    let second = render(&production(), &options("x", "y", None)).unwrap();
    assert_eq!(first, second);
    assert_eq!(first.to_yaml(true), second.to_yaml(true));
}

#[test]
fn a_missing_required_secret_is_listed_and_rendered_as_the_placeholder() {
    let config = production();
    let mut secrets = SecretValues::empty();
    secrets.insert("DATABASE_URL", SecretString::new("postgres://x"));
    let rendered = render(
        &config,
        &RenderOptions {
            image_tag: None,
            secrets,
        },
    )
    .unwrap();
    assert_eq!(rendered.missing_secrets, ["CLERK_WEBHOOK_SECRET"]);
    assert_eq!(
        rendered.objects[0].value["data"]["clerk-webhook-secret"],
        PLACEHOLDER
    );
}

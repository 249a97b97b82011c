//! The shipped configuration files parse, and a wrong key is named in the error.

use std::path::Path;

use screener_trainer::config::TrainConfig;

fn config_path(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../config")
        .join(name)
}

#[test]
fn the_example_config_holds_the_cpu_defaults() {
    let example = TrainConfig::load(&config_path("train.example.toml")).unwrap();
    assert_eq!(example, TrainConfig::default());
}

#[test]
fn the_ci_config_parses_and_round_trips() {
    let ci = TrainConfig::load(&config_path("train-ci.toml")).unwrap();
    assert_eq!(ci.models.patch, [12, 12, 8]);
    let again = TrainConfig::from_toml(&ci.to_toml(), "round trip").unwrap();
    assert_eq!(again, ci);
}

#[test]
fn a_wrong_key_in_a_nested_section_names_itself_and_its_file() {
    let text = std::fs::read_to_string(config_path("train-ci.toml"))
        .unwrap()
        .replace(
            "[density.training]\n",
            "[density.training]\nlearning_rate = 0.1\n",
        );
    let err = TrainConfig::from_toml(&text, "train-ci.toml")
        .unwrap_err()
        .to_string();
    assert!(err.contains("learning_rate"), "{err}");
    assert!(err.contains("train-ci.toml"), "{err}");
}

#[test]
fn the_default_model_config_keeps_the_evaluation_scan_and_phantoms_out_of_training() {
    let config = TrainConfig::load(&config_path("train-default.toml")).unwrap();
    assert!(!config.data.roots.is_empty());
    for root in &config.data.roots {
        assert!(
            !root.to_string_lossy().contains("pyradiomics-lung1"),
            "{} is the evaluation scan",
            root.display()
        );
    }
    assert!(config
        .data
        .labelled
        .iter()
        .all(|p| p.role == screener_trainer::config::LabelledRole::Evaluate));
    for scan in &config.data.lesion_scans {
        assert_eq!(scan.role, screener_trainer::config::LabelledRole::Evaluate);
        assert!(
            !config.data.roots.iter().any(|r| scan.image.starts_with(r)),
            "{} is trained on",
            scan.image.display()
        );
    }
    // `screener calibrate --phantoms N` scores seeds 1000.., evaluation uses its own range;
    // 10 000 leaves room for any training phantom count the script sets.
    let training = config.data.phantoms.seed..config.data.phantoms.seed + 10_000;
    assert!(!training.contains(&1000));
    assert!(!training.contains(&config.data.eval_phantoms.seed));
    assert_eq!(config.data.phantoms.lesions, 0);
}

//! Any sentence-transformers folder: pooling, prompts and normalisation are read from the
//! folder's own files. Each test builds a folder from the shipped model's files with one
//! config changed, and checks the vectors against a computation on the unchanged model.

use std::path::Path;

use lore::config::EmbedConfig;
use lore::embed::{Embedder, ModelSpec, PoolingMode, Workload};
use tempfile::TempDir;

use crate::support::{embedder, model_dir};

/// A copy of the shipped model folder (the ONNX file linked, not copied), then `edits`
/// applied as (relative path, new contents).
fn variant(edits: &[(&str, &str)]) -> TempDir {
    let src = model_dir();
    let dir = TempDir::new().expect("temp model folder");
    for entry in std::fs::read_dir(&src).expect("model folder") {
        let entry = entry.expect("entry");
        let name = entry.file_name();
        let to = dir.path().join(&name);
        if entry.path().is_dir() {
            std::fs::create_dir_all(&to).expect("mkdir");
            for f in std::fs::read_dir(entry.path()).expect("subfolder") {
                let f = f.expect("entry");
                std::fs::copy(f.path(), to.join(f.file_name())).expect("copy");
            }
        } else if name.to_string_lossy().ends_with(".onnx") {
            std::os::unix::fs::symlink(entry.path(), &to).expect("link the ONNX file");
        } else {
            std::fs::copy(entry.path(), &to).expect("copy");
        }
    }
    for (path, text) in edits {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write edit");
    }
    dir
}

fn load(dir: &Path, workload: Workload) -> Embedder {
    let spec = ModelSpec::from_dir(dir, false, 256).expect("usable model folder");
    Embedder::load(spec, &EmbedConfig::default(), workload).expect("model loads")
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

const TEXT: &str = "Arctic terns migrate from pole to pole every year.";

fn pooling_config(mode: &str) -> String {
    format!(
        r#"{{"word_embedding_dimension": 384, "pooling_mode_cls_token": {}, "pooling_mode_mean_tokens": {}, "pooling_mode_max_tokens": {}, "pooling_mode_mean_sqrt_len_tokens": false}}"#,
        mode == "cls",
        mode == "mean",
        mode == "max"
    )
}

#[test]
fn pooling_is_read_from_the_folder_and_changes_the_vectors() {
    let mean = embedder();
    assert_eq!(mean.spec().pooling, PoolingMode::Mean);
    let base = mean.embed(&[TEXT]).expect("embed").remove(0);
    let mut seen = vec![base];
    for (mode, expected) in [("cls", PoolingMode::Cls), ("max", PoolingMode::Max)] {
        let dir = variant(&[("1_Pooling/config.json", &pooling_config(mode))]);
        let e = load(dir.path(), Workload::Batch);
        assert_eq!(e.spec().pooling, expected);
        assert_eq!(e.info().pooling, expected.name());
        assert_ne!(
            e.info().id(),
            mean.info().id(),
            "{mode} is in the fingerprint"
        );
        let v = e.embed(&[TEXT]).expect("embed").remove(0);
        let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "{mode} vector has norm {norm}");
        for other in &seen {
            let c = cosine(&v, other);
            assert!(c < 0.995, "{mode} pooling gives the same vector (cos {c})");
        }
        // Pooling is deterministic: the same text twice gives the same vector.
        let again = e.embed(&[TEXT]).expect("embed").remove(0);
        assert!(cosine(&v, &again) > 0.99999);
        seen.push(v);
    }
}

#[test]
fn query_and_document_prompts_are_prepended() {
    let config =
        r#"{"prompts": {"query": "query: ", "passage": "passage: "}, "default_prompt_name": null}"#;
    let dir = variant(&[("config_sentence_transformers.json", config)]);
    let e = load(dir.path(), Workload::Queries);
    assert_eq!(e.spec().query_prompt, "query: ");
    assert_eq!(e.spec().document_prompt, "passage: ");
    assert!(e.info().id().contains("query: "), "{}", e.info().id());
    let plain = embedder();
    let q = e.embed_query("how far do terns fly").expect("query");
    let expected = plain
        .embed(&["query: how far do terns fly"])
        .expect("embed")
        .remove(0);
    assert!(cosine(&q, &expected) > 0.9999, "query prompt not applied");
    let unprompted = plain
        .embed(&["how far do terns fly"])
        .expect("embed")
        .remove(0);
    assert!(
        cosine(&q, &unprompted) < 0.9999,
        "the prompt changed nothing"
    );
    let d = e.embed(&[TEXT]).expect("embed").remove(0);
    let expected = plain
        .embed(&[format!("passage: {TEXT}").as_str()])
        .expect("embed")
        .remove(0);
    assert!(
        cosine(&d, &expected) > 0.9999,
        "document prompt not applied"
    );
}

#[test]
fn a_missing_normalize_module_is_recorded() {
    let modules = r#"[{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]"#;
    let dir = variant(&[("modules.json", modules)]);
    let spec = ModelSpec::from_dir(dir.path(), false, 256).expect("usable folder");
    assert!(!spec.normalize);
    assert!(embedder().spec().normalize);
}

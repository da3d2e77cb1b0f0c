//! The built edge component has the shape every host expects: a component (not a core module)
//! that exports `wasi:http/incoming-handler@0.2.0` and imports Spin's key-value and variables
//! interfaces at the versions Spin 3 and edge-host provide.

use std::path::PathBuf;

use wasmparser::{Encoding, Parser, Payload};

/// Top-level imports and exports of a component, plus whether it is one.
struct Shape {
    component: bool,
    imports: Vec<String>,
    exports: Vec<String>,
}

fn shape(bytes: &[u8]) -> Shape {
    let mut shape = Shape {
        component: false,
        imports: vec![],
        exports: vec![],
    };
    // Nested modules and components each open with `Version` and close with `End`; only the
    // outermost level (depth 1) describes what the host links.
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.expect("edge_fn.wasm parses") {
            Payload::Version { encoding, .. } => {
                depth += 1;
                if depth == 1 {
                    shape.component = encoding == Encoding::Component;
                }
            }
            Payload::End(_) => depth -= 1,
            Payload::ComponentImportSection(reader) if depth == 1 => {
                for import in reader {
                    shape
                        .imports
                        .push(import.expect("import").name.0.to_owned());
                }
            }
            Payload::ComponentExportSection(reader) if depth == 1 => {
                for export in reader {
                    shape
                        .exports
                        .push(export.expect("export").name.0.to_owned());
                }
            }
            _ => {}
        }
    }
    shape
}

#[test]
fn edge_component_has_the_spin_shape() {
    let path = e2e::network::edge_wasm();
    let bytes = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {} ({e}): build it with cargo build -p edge-fn --target wasm32-wasip2 --profile edge",
            path.display()
        )
    });
    let shape = shape(&bytes);
    assert!(
        shape.component,
        "{} is a core module, not a component",
        path.display()
    );
    eprintln!("imports: {:?}\nexports: {:?}", shape.imports, shape.exports);
    let has = |list: &[String], name: &str| list.iter().any(|n| n == name);
    assert!(
        has(&shape.exports, "wasi:http/incoming-handler@0.2.0"),
        "missing export wasi:http/incoming-handler@0.2.0; exports: {:?}",
        shape.exports
    );
    for import in [
        "fermyon:spin/key-value@2.0.0",
        "fermyon:spin/variables@2.0.0",
    ] {
        assert!(
            has(&shape.imports, import),
            "missing import {import}; imports: {:?}",
            shape.imports
        );
    }
    // Everything else must be something edge-host links (wasmtime-wasi, wasmtime-wasi-http)
    // or Spin's 2.0 interfaces above; an interface from nowhere would fail instantiation there.
    let known = [
        "wasi:cli/",
        "wasi:io/",
        "wasi:clocks/",
        "wasi:random/",
        "wasi:filesystem/",
        "wasi:sockets/",
        "wasi:http/types@",
        "wasi:http/outgoing-handler@",
        "fermyon:spin/key-value@2.0.0",
        "fermyon:spin/variables@2.0.0",
        // The same store's counters and compare-and-swap (Spin 3+, edge-host's wasi_kv).
        "wasi:keyvalue/store@0.2.0-draft2",
        "wasi:keyvalue/atomics@0.2.0-draft2",
    ];
    for import in &shape.imports {
        assert!(
            known.iter().any(|k| import.starts_with(k)),
            "unexpected import {import}; imports: {:?}",
            shape.imports
        );
    }
}

/// `infra/spin.toml` parses, and every variable its component and allow-list refer to is declared
/// at the application level (Spin refuses to start otherwise).
#[test]
fn spin_manifest_declares_what_it_uses() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let text = std::fs::read_to_string(root.join("infra/spin.toml")).unwrap();
    let manifest: toml::Table = toml::from_str(&text).expect("infra/spin.toml is TOML");
    let declared = manifest["variables"].as_table().expect("[variables]");
    let component = manifest["component"]["edge-fn"]
        .as_table()
        .expect("[component.edge-fn]");
    let mut templates: Vec<String> = component["variables"]
        .as_table()
        .expect("[component.edge-fn.variables]")
        .values()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    let hosts = component["allowed_outbound_hosts"].as_array().unwrap();
    templates.extend(hosts.iter().map(|v| v.as_str().unwrap().to_owned()));
    for t in &templates {
        for used in t.split("{{").skip(1) {
            let name = used.split("}}").next().unwrap().trim();
            assert!(
                declared.contains_key(name),
                "{t:?} uses undeclared variable {name}"
            );
        }
    }
    assert!(
        hosts.iter().all(|h| !h.as_str().unwrap().contains('*')),
        "the outbound allow-list names main and the parents, no wildcard: {hosts:?}"
    );
    let given = component["variables"].as_table().unwrap();
    for needed in [
        "edge_id",
        "edge_secret",
        "edge_region",
        "main_url",
        "licensed_budget_bytes",
        "other_budget_bytes",
    ] {
        assert!(declared.contains_key(needed), "{needed} is not declared");
        assert!(
            given.contains_key(needed),
            "{needed} is not given to the component"
        );
    }
}

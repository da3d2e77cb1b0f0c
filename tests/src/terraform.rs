//! Reading `terraform/` the way Terraform would, for the tests that check it against the code:
//! every `.tf` file parsed with `hcl-rs`, a module's `locals`, the literal keys of an object
//! expression, a variable's `optional(…, default)` fields, and a `templatefile` template rendered
//! with the values a test gives (`jsonencode` included).
//!
//! Names are the contract between the Terraform tree and the code (the DynamoDB attributes, the
//! environment variables each function reads, the config files rendered into the functions'
//! layers). No `terraform` binary runs here; these helpers read what it would read.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use hcl::eval::{Context, Evaluate, FuncArgs, FuncDef, ParamType};
use hcl::{Body, Expression, ObjectKey, Template};
pub use hcl::{Map, Value};

/// The `terraform/` directory of the workspace.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../terraform")
}

/// Every `.tf` file under `dir`, parsed; a file that does not parse is an error naming it.
pub fn parse_all(dir: &Path) -> anyhow::Result<Vec<(PathBuf, Body)>> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            let hidden = path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'));
            if path.is_dir() && !hidden {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "tf") {
                let body = parse(&path)?;
                files.push((path, body));
            }
        }
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(files)
}

/// One `.tf` file, parsed.
pub fn parse(path: &Path) -> anyhow::Result<Body> {
    let text = std::fs::read_to_string(path)?;
    hcl::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// The expression of `name` in any `locals` block of `body`.
pub fn local<'a>(body: &'a Body, name: &str) -> Option<&'a Expression> {
    body.blocks()
        .filter(|b| b.identifier() == "locals")
        .flat_map(|b| b.body().attributes())
        .find(|a| a.key() == name)
        .map(|a| a.expr())
}

/// A string literal's text.
pub fn string(expr: &Expression) -> Option<&str> {
    match expr {
        Expression::String(s) => Some(s),
        _ => None,
    }
}

/// The keys of an object expression, and of every object literal among the arguments of a
/// function call such as `merge({…}, var.more)` (the names written in the file).
pub fn literal_keys(expr: &Expression) -> Vec<String> {
    match expr {
        Expression::Object(object) => object.keys().filter_map(key_name).collect(),
        Expression::FuncCall(call) => call.args.iter().flat_map(literal_keys).collect(),
        Expression::Parenthesis(inner) => literal_keys(inner),
        _ => Vec::new(),
    }
}

/// The entries of an object expression by key.
pub fn entries(expr: &Expression) -> Vec<(String, &Expression)> {
    match expr {
        Expression::Object(object) => object
            .iter()
            .filter_map(|(k, v)| key_name(k).map(|k| (k, v)))
            .collect(),
        _ => Vec::new(),
    }
}

fn key_name(key: &ObjectKey) -> Option<String> {
    match key {
        ObjectKey::Identifier(id) => Some(id.to_string()),
        ObjectKey::Expression(Expression::String(s)) => Some(s.clone()),
        _ => None,
    }
}

/// The defaults of a variable typed `object({ name = optional(type, default), … })`: each field
/// with a default, evaluated. Fields without one are left out.
pub fn optional_defaults(body: &Body, variable: &str) -> anyhow::Result<hcl::Map<String, Value>> {
    let block = body
        .blocks()
        .find(|b| {
            b.identifier() == "variable"
                && b.labels().first().is_some_and(|l| l.as_str() == variable)
        })
        .ok_or_else(|| anyhow::anyhow!("no variable {variable:?}"))?;
    let ty = block
        .body()
        .attributes()
        .find(|a| a.key() == "type")
        .ok_or_else(|| anyhow::anyhow!("variable {variable:?} has no type"))?;
    let Expression::FuncCall(object) = ty.expr() else {
        anyhow::bail!("variable {variable:?} is not an object type");
    };
    let fields = object
        .args
        .first()
        .ok_or_else(|| anyhow::anyhow!("object() without fields"))?;
    let mut defaults = hcl::Map::new();
    for (name, field) in entries(fields) {
        if let Expression::FuncCall(call) = field
            && call.name.name.as_str() == "optional"
            && let Some(default) = call.args.get(1)
        {
            let value = default
                .evaluate(&Context::new())
                .map_err(|e| anyhow::anyhow!("default of {name}: {e}"))?;
            defaults.insert(name, value);
        }
    }
    Ok(defaults)
}

/// Renders a `templatefile` template with `vars`, as Terraform would; of Terraform's functions
/// only `jsonencode` is offered (what the templates use).
pub fn render(template: &Path, vars: &[(&str, Value)]) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(template)?;
    let parsed =
        Template::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", template.display()))?;
    let mut context = Context::new();
    for (name, value) in vars {
        context.declare_var(*name, value.clone());
    }
    context.declare_func(
        "jsonencode",
        FuncDef::builder().param(ParamType::Any).build(jsonencode),
    );
    parsed
        .evaluate(&context)
        .map_err(|e| anyhow::anyhow!("{}: {e}", template.display()))
}

fn jsonencode(args: FuncArgs) -> Result<Value, String> {
    let value = args.into_values().into_iter().next().unwrap_or(Value::Null);
    serde_json::to_string(&value)
        .map(Value::String)
        .map_err(|e| e.to_string())
}

/// Evaluates an expression with variables `vars` (e.g. `var` and `local` as objects).
pub fn evaluate(expr: &Expression, vars: &[(&str, Value)]) -> anyhow::Result<Value> {
    let mut context = Context::new();
    for (name, value) in vars {
        context.declare_var(*name, value.clone());
    }
    expr.evaluate(&context).map_err(|e| anyhow::anyhow!("{e}"))
}

/// A JSON value as an HCL value (test data is easier to write as `serde_json::json!`).
pub fn value(json: serde_json::Value) -> Value {
    hcl::to_value(json).expect("JSON converts to an HCL value")
}

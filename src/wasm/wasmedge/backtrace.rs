//! A trap's report from what WasmEdge logged. WasmEdge logs a trap as an error line, a few
//! context lines and `calling stack:2, 1, 0`: the indices of the functions on the stack,
//! innermost first. runw names them from the module's name section (or its exports) and
//! prints them as a `wasm backtrace`, like wasmtime's.

use std::collections::HashMap;

/// Function names by index, read at create from the module's name section and exports.
#[derive(Default)]
pub struct FunctionNames(HashMap<u32, String>);

impl FunctionNames {
    pub fn of(binary: &[u8]) -> Self {
        let mut names = HashMap::new();
        let mut exported = HashMap::new();
        for payload in wasmparser::Parser::new(0).parse_all(binary).flatten() {
            match payload {
                wasmparser::Payload::ExportSection(exports) => {
                    for export in exports.into_iter().flatten() {
                        if export.kind == wasmparser::ExternalKind::Func {
                            exported.insert(export.index, export.name.to_string());
                        }
                    }
                }
                wasmparser::Payload::CustomSection(section) => {
                    if let wasmparser::KnownCustom::Name(reader) = section.as_known() {
                        for name in reader.into_iter().flatten() {
                            if let wasmparser::Name::Function(map) = name {
                                for naming in map.into_iter().flatten() {
                                    names.insert(naming.index, naming.name.to_string());
                                }
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        for (index, name) in exported {
            names.entry(index).or_insert(name);
        }
        Self(names)
    }

    fn name(&self, index: u32) -> String {
        self.0
            .get(&index)
            .cloned()
            .unwrap_or_else(|| format!("<function {index}>"))
    }

    /// `why`, what else WasmEdge logged, and the backtrace named.
    pub fn report(&self, why: &str, logged: Vec<String>) -> String {
        let mut context = Vec::new();
        let mut stack = Vec::new();
        for line in logged {
            let line = line.trim();
            if let Some(indices) = line.strip_prefix("calling stack:") {
                stack = indices
                    .split(',')
                    .filter_map(|i| i.trim().parse::<u32>().ok())
                    .collect();
            } else if !line.is_empty() && !why.contains(line) {
                context.push(line.to_string());
            }
        }
        // A frame can appear twice in a row (the entry trampoline of a function).
        stack.dedup();
        let mut report = why.to_string();
        if !context.is_empty() {
            report += &format!(" ({})", context.join("; "));
        }
        if !stack.is_empty() {
            report += "\nwasm backtrace:";
            for (n, index) in stack.iter().enumerate() {
                report += &format!("\n  {n:>4}: {}", self.name(*index));
            }
        }
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_calling_stack() {
        let module = wat::parse_str(
            r#"(module
                (func $deep unreachable)
                (func $middle call $deep)
                (func (export "_start") call $middle)
                (func (export "other")))"#,
        )
        .unwrap();
        let names = FunctionNames::of(&module);
        let report = names.report(
            "unreachable",
            vec![
                "execution failed: unreachable, Code: 0x40a".into(),
                "calling stack:0, 1, 2, 2".into(),
            ],
        );
        assert_eq!(
            report,
            "unreachable (execution failed: unreachable, Code: 0x40a)\nwasm backtrace:\
             \n     0: deep\n     1: middle\n     2: _start"
        );
        assert_eq!(names.name(3), "other");
        assert_eq!(names.name(9), "<function 9>");
        assert_eq!(names.report("x", vec![]), "x");
    }
}

//! A trap's report from what WasmEdge logged. WasmEdge logs a trap as an error line, a few
//! context lines and `calling stack:2, 1, 0`: the indices of the functions on the stack,
//! innermost first. runw names them from the module's name section (or its exports) and
//! prints them as a `wasm backtrace`, like wasmtime's.
//!
//! Two limits of WasmEdge's calling stack for AOT code: functions LLVM inlined are part of
//! their caller's frame, and WasmEdge maps every return address above the module's code (its
//! own trap handler and executor, in libwasmedge) to the function with the highest address,
//! the module's last one, so that function shows up at both ends of every stack. runw drops
//! it there, unless it is all there is.

use std::collections::HashMap;

/// Function names by index, read at create from the module's name section and exports.
#[derive(Default)]
pub struct FunctionNames {
    names: HashMap<u32, String>,
    /// Index of the module's last function (imports count).
    last: Option<u32>,
}

impl FunctionNames {
    pub fn of(binary: &[u8]) -> Self {
        let mut names = HashMap::new();
        let mut exported = HashMap::new();
        let mut functions = 0u32;
        for payload in wasmparser::Parser::new(0).parse_all(binary).flatten() {
            match payload {
                wasmparser::Payload::ImportSection(imports) => {
                    functions += imports
                        .into_imports()
                        .flatten()
                        .filter(|i| matches!(i.ty, wasmparser::TypeRef::Func(_)))
                        .count() as u32;
                }
                wasmparser::Payload::FunctionSection(section) => functions += section.count(),
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
        Self {
            names,
            last: functions.checked_sub(1),
        }
    }

    fn name(&self, index: u32) -> String {
        self.names
            .get(&index)
            .cloned()
            .unwrap_or_else(|| format!("<function {index}>"))
    }

    /// `why`, what else WasmEdge logged, and the backtrace named; `native` for AOT code.
    pub fn report(&self, why: &str, logged: Vec<String>, native: bool) -> String {
        let mut context = Vec::new();
        let mut stack = Vec::new();
        for line in logged {
            let line = line.trim();
            if let Some(indices) = line.strip_prefix("calling stack:") {
                stack = indices
                    .split(',')
                    .filter_map(|i| i.trim().parse::<u32>().ok())
                    .collect();
            } else {
                context.push(line.to_string());
            }
        }
        // A frame can appear twice in a row (the entry trampoline of a function).
        stack.dedup();
        if native {
            self.drop_foreign_frames(&mut stack);
        }
        let mut report = super::log::clause(why, context);
        if !stack.is_empty() {
            report += "\nwasm backtrace:";
            for (n, index) in stack.iter().enumerate() {
                report += &format!("\n  {n:>4}: {}", self.name(*index));
            }
        }
        report
    }

    /// Drops the module's last function from both ends of an AOT stack (see above).
    fn drop_foreign_frames(&self, stack: &mut Vec<u32>) {
        let Some(last) = self.last else { return };
        while stack.len() > 1 && stack.first() == Some(&last) {
            stack.remove(0);
        }
        while stack.len() > 1 && stack.last() == Some(&last) {
            stack.pop();
        }
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
        let logged = |stack: &str| {
            vec![
                "execution failed: unreachable, Code: 0x40a".to_string(),
                format!("calling stack:{stack}"),
            ]
        };
        let report = names.report("unreachable", logged("0, 1, 2, 2"), false);
        assert_eq!(
            report,
            "unreachable (execution failed: unreachable, Code: 0x40a)\nwasm backtrace:\
             \n     0: deep\n     1: middle\n     2: _start"
        );
        assert_eq!(names.name(3), "other");
        assert_eq!(names.name(9), "<function 9>");
        assert_eq!(names.report("x", vec![], true), "x");
        // AOT: the last function (3, "other") stands for WasmEdge's own frames at both ends.
        let report = names.report("unreachable", logged("3, 0, 2, 3"), true);
        assert!(
            report.ends_with("backtrace:\n     0: deep\n     1: _start"),
            "{report}"
        );
        let report = names.report("unreachable", logged("3, 3"), true);
        assert!(report.ends_with("backtrace:\n     0: other"), "{report}");
    }
}

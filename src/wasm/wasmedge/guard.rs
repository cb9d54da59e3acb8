//! What runw changes in a module before WasmEdge compiles it (the cache holds the result):
//!
//! * **A call-depth guard.** WasmEdge 0.17 has no call-depth or stack limit: its interpreter
//!   keeps frames on the heap, so `(func $r call $r)` grows until the cgroup's OOM killer or
//!   `std::bad_alloc`, and AOT code recurses on the native stack, whose overflow WasmEdge's
//!   fault handler cannot catch (it runs on the overflowed stack, without `SA_ONSTACK`): the
//!   process dies of SIGSEGV. wasmtime traps ("call stack exhausted"). So every call to a
//!   function of the module (`call` to a defined function, `call_indirect`, `call_ref`) counts
//!   the depth in a global that runw adds, and traps with `unreachable` past [`MAX_DEPTH`];
//!   runw exports the global as [`DEPTH_EXPORT`] and, after a trap, reads it to say that the
//!   call stack was exhausted. Calls to imports (WASI) are not counted; `return_call`
//!   replaces the caller's frame and keeps the depth. A trap unwinds everything, so the
//!   counter is not decremented on that path.
//! * **No foreign AOT code.** WasmEdge's "universal WASM" carries native code in a custom
//!   section named `wasmedge`, which WasmEdge runs in AOT mode. A container's file must never
//!   bring native code into runw's process, so such sections are dropped; the only native
//!   code WasmEdge runs is what runw's own compiler made from this output.

use wasm_encoder::reencode::{self, Reencode};
use wasm_encoder::{
    BlockType, ConstExpr, ExportKind, GlobalType, Instruction, Module, SectionId, ValType,
};
use wasmparser::{Parser, Payload, TypeRef};

/// Deepest call chain a module may build. wasmtime's default 512 KiB stack holds about 20,000
/// frames of a small function; this allows a bit more while keeping AOT code, whose frames
/// live on the init's native stack (8 MiB by default), far from that stack's end.
pub const MAX_DEPTH: i32 = 30_000;

/// Name of the exported call-depth counter (not a valid WASI export name, so no clash).
pub const DEPTH_EXPORT: &str = "runw:call-depth";

/// The custom section in which WasmEdge keeps AOT-compiled native code.
const AOT_SECTION: &str = "wasmedge";

/// Part of the cache key: a change here must not reuse code compiled from an older output.
pub const VERSION: &str = "guard-1";

/// `binary` with the call-depth guard and without AOT sections.
pub fn guard(binary: &[u8]) -> Result<Vec<u8>, String> {
    let shape = Shape::of(binary)?;
    let mut guard = Guard {
        imported_functions: shape.imported_functions,
        depth_global: shape.imported_globals + shape.defined_globals,
        has_global_section: shape.defined_globals > 0,
        global_added: false,
    };
    let mut module = Module::new();
    guard
        .parse_core_module(&mut module, Parser::new(0), binary)
        .map_err(|e| format!("cannot add runw's call-depth guard: {e}"))?;
    Ok(module.finish())
}

/// The counts the rewrite needs, from a first pass.
#[derive(Default)]
struct Shape {
    imported_functions: u32,
    imported_globals: u32,
    defined_globals: u32,
}

impl Shape {
    fn of(binary: &[u8]) -> Result<Self, String> {
        let mut shape = Shape::default();
        for payload in Parser::new(0).parse_all(binary) {
            match payload.map_err(|e| e.to_string())? {
                Payload::ImportSection(imports) => {
                    for import in imports.into_imports() {
                        match import.map_err(|e| e.to_string())?.ty {
                            TypeRef::Func(_) => shape.imported_functions += 1,
                            TypeRef::Global(_) => shape.imported_globals += 1,
                            _ => {}
                        }
                    }
                }
                Payload::GlobalSection(globals) => shape.defined_globals = globals.count(),
                _ => {}
            }
        }
        Ok(shape)
    }
}

struct Guard {
    imported_functions: u32,
    depth_global: u32,
    has_global_section: bool,
    global_added: bool,
}

impl Guard {
    fn add_depth_global(&mut self, globals: &mut wasm_encoder::GlobalSection) {
        let ty = GlobalType {
            val_type: ValType::I32,
            mutable: true,
            shared: false,
        };
        globals.global(ty, &ConstExpr::i32_const(0));
        self.global_added = true;
    }

    /// Whether `instruction` makes a frame the guard counts.
    fn counts(&self, instruction: &Instruction<'_>) -> bool {
        match instruction {
            Instruction::Call(function) => *function >= self.imported_functions,
            Instruction::CallIndirect { .. } | Instruction::CallRef(_) => true,
            _ => false,
        }
    }

    fn enter(&self, f: &mut wasm_encoder::Function) {
        let depth = self.depth_global;
        f.instruction(&Instruction::GlobalGet(depth))
            .instruction(&Instruction::I32Const(1))
            .instruction(&Instruction::I32Add)
            .instruction(&Instruction::GlobalSet(depth))
            .instruction(&Instruction::GlobalGet(depth))
            .instruction(&Instruction::I32Const(MAX_DEPTH))
            .instruction(&Instruction::I32GtU)
            .instruction(&Instruction::If(BlockType::Empty))
            .instruction(&Instruction::Unreachable)
            .instruction(&Instruction::End);
    }

    fn leave(&self, f: &mut wasm_encoder::Function) {
        let depth = self.depth_global;
        f.instruction(&Instruction::GlobalGet(depth))
            .instruction(&Instruction::I32Const(1))
            .instruction(&Instruction::I32Sub)
            .instruction(&Instruction::GlobalSet(depth));
    }
}

/// Position of a section in a module's required order (the tag section sits between the
/// memory and global sections, whatever its id).
fn order(id: SectionId) -> u8 {
    match id {
        SectionId::Custom => 0,
        SectionId::Type => 1,
        SectionId::Import => 2,
        SectionId::Function => 3,
        SectionId::Table => 4,
        SectionId::Memory => 5,
        SectionId::Tag => 6,
        SectionId::Global => 7,
        SectionId::Export => 8,
        SectionId::Start => 9,
        SectionId::Element => 10,
        SectionId::DataCount => 11,
        SectionId::Code => 12,
        SectionId::Data => 13,
    }
}

impl Reencode for Guard {
    type Error = std::convert::Infallible;

    fn parse_global_section(
        &mut self,
        globals: &mut wasm_encoder::GlobalSection,
        section: wasmparser::GlobalSectionReader<'_>,
    ) -> Result<(), reencode::Error<Self::Error>> {
        reencode::utils::parse_global_section(self, globals, section)?;
        self.add_depth_global(globals);
        Ok(())
    }

    /// A module without globals gets a global section where the order puts it.
    fn intersperse_section_hook(
        &mut self,
        module: &mut Module,
        _after: Option<SectionId>,
        before: Option<SectionId>,
    ) -> Result<(), reencode::Error<Self::Error>> {
        let global_goes_here = before.is_none_or(|next| order(next) > order(SectionId::Global));
        if !self.has_global_section && !self.global_added && global_goes_here {
            let mut globals = wasm_encoder::GlobalSection::new();
            self.add_depth_global(&mut globals);
            module.section(&globals);
        }
        Ok(())
    }

    fn parse_export_section(
        &mut self,
        exports: &mut wasm_encoder::ExportSection,
        section: wasmparser::ExportSectionReader<'_>,
    ) -> Result<(), reencode::Error<Self::Error>> {
        reencode::utils::parse_export_section(self, exports, section)?;
        exports.export(DEPTH_EXPORT, ExportKind::Global, self.depth_global);
        Ok(())
    }

    fn parse_custom_section(
        &mut self,
        module: &mut Module,
        section: wasmparser::CustomSectionReader<'_>,
    ) -> Result<(), reencode::Error<Self::Error>> {
        if section.name() == AOT_SECTION {
            return Ok(());
        }
        reencode::utils::parse_custom_section(self, module, section)
    }

    fn parse_function_body(
        &mut self,
        code: &mut wasm_encoder::CodeSection,
        body: wasmparser::FunctionBody<'_>,
    ) -> Result<(), reencode::Error<Self::Error>> {
        let mut f = self.new_function_with_parsed_locals(&body)?;
        let mut reader = body.get_operators_reader()?;
        while !reader.eof() {
            let instruction = self.parse_instruction(&mut reader)?;
            if self.counts(&instruction) {
                self.enter(&mut f);
                f.instruction(&instruction);
                self.leave(&mut f);
            } else {
                f.instruction(&instruction);
            }
        }
        code.function(&f);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exports(binary: &[u8]) -> Vec<String> {
        let mut names = Vec::new();
        for payload in Parser::new(0).parse_all(binary) {
            if let Payload::ExportSection(section) = payload.unwrap() {
                names.extend(section.into_iter().map(|e| e.unwrap().name.to_string()));
            }
        }
        names
    }

    fn custom_sections(binary: &[u8]) -> Vec<String> {
        Parser::new(0)
            .parse_all(binary)
            .filter_map(|p| match p.unwrap() {
                Payload::CustomSection(c) => Some(c.name().to_string()),
                _ => None,
            })
            .collect()
    }

    fn valid(binary: &[u8]) {
        wasmparser::Validator::new().validate_all(binary).unwrap();
    }

    #[test]
    fn adds_and_exports_the_counter_with_or_without_globals() {
        for module in [
            r#"(module (func $r call $r) (func (export "_start") call $r))"#,
            r#"(module (global $g (mut i32) (i32.const 5)) (memory 1) (tag $t)
                 (func $r global.get $g drop call $r) (func (export "_start") call $r))"#,
            r#"(module (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
                 (import "env" "g" (global $g i32))
                 (table 1 funcref) (elem (i32.const 0) $f) (type $t (func))
                 (func $f (call_indirect (type $t) (i32.const 0)))
                 (func (export "_start") (call $exit (global.get $g))))"#,
        ] {
            let guarded = guard(&wat::parse_str(module).unwrap()).unwrap();
            valid(&guarded);
            assert!(exports(&guarded).contains(&DEPTH_EXPORT.to_string()));
        }
    }

    #[test]
    fn counts_calls_to_defined_functions_only() {
        let module = r#"(module
            (import "wasi_snapshot_preview1" "sched_yield" (func $yield (result i32)))
            (func $f (drop (call $yield)))
            (func (export "_start") (call $f)))"#;
        let guarded = guard(&wat::parse_str(module).unwrap()).unwrap();
        let guarded_calls = unreachable_count(&guarded);
        // One guarded call ($f from _start): one `unreachable` in the whole module.
        assert_eq!(guarded_calls, 1);
    }

    /// Counts `unreachable` instructions (the guard adds one per counted call).
    fn unreachable_count(binary: &[u8]) -> usize {
        let mut count = 0;
        for payload in Parser::new(0).parse_all(binary) {
            if let Payload::CodeSectionEntry(body) = payload.unwrap() {
                let mut reader = body.get_operators_reader().unwrap();
                while !reader.eof() {
                    if matches!(reader.read().unwrap(), wasmparser::Operator::Unreachable) {
                        count += 1;
                    }
                }
            }
        }
        count
    }

    #[test]
    fn drops_foreign_aot_sections_and_keeps_names() {
        let mut module = wasm_encoder::Module::new();
        let mut types = wasm_encoder::TypeSection::new();
        types.ty().function([], []);
        module.section(&types);
        let mut funcs = wasm_encoder::FunctionSection::new();
        funcs.function(0);
        module.section(&funcs);
        let mut exports = wasm_encoder::ExportSection::new();
        exports.export("_start", ExportKind::Func, 0);
        module.section(&exports);
        let mut code = wasm_encoder::CodeSection::new();
        let mut f = wasm_encoder::Function::new([]);
        f.instruction(&Instruction::End);
        code.function(&f);
        module.section(&code);
        module.section(&wasm_encoder::CustomSection {
            name: AOT_SECTION.into(),
            data: b"\x7fELF native code"[..].into(),
        });
        module.section(&wasm_encoder::CustomSection {
            name: "producers".into(),
            data: b"\0"[..].into(),
        });
        let guarded = guard(&module.finish()).unwrap();
        valid(&guarded);
        assert_eq!(custom_sections(&guarded), ["producers"]);
    }

    #[test]
    fn rejects_what_is_not_a_module() {
        assert!(guard(b"\0asm\x0d\0\x01\0").is_err());
        assert!(guard(b"not wasm").is_err());
    }
}

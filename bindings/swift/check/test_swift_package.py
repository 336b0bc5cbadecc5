"""What can be checked of the Swift package on a machine without a Swift
toolchain (Linux CI): the checked-in generated sources are what the built
library generates; every Swift file parses with a real Swift grammar
(tree-sitter-swift) without an error node; the generated C header compiles;
every uniffi_*/ffi_* function the header declares is exported by the built
library; the module map and the Swift agree on the module name; the XCTest,
Kotlin and Python suites carry the shared test names; no Swift file uses an
API iOS lacks (Foundation's Process, ...) outside an `#if os(macOS)` block.
Compiling and running the Swift itself needs macOS (see ../README.md).

Environment: LP2P_LIBRARY (the built liblp2p_uniffi.so), LP2P_BINDGEN (the
in-repo uniffi-bindgen binary), set by ../test.sh.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import tree_sitter
import tree_sitter_swift

PACKAGE = Path(__file__).resolve().parent.parent
ROOT = PACKAGE.parent.parent
SWIFT_SOURCE = PACKAGE / "Sources" / "Lp2p" / "Lp2p.swift"
HEADER = PACKAGE / "Sources" / "lp2pFFI" / "include" / "lp2pFFI.h"
MODULE_MAP = PACKAGE / "Sources" / "lp2pFFI" / "include" / "module.modulemap"
XCTESTS = PACKAGE / "Tests" / "Lp2pTests" / "Lp2pTests.swift"
KOTLIN_TESTS = ROOT / "bindings" / "kotlin" / "src" / "test" / "kotlin" / "org" / "lp2p" / "Lp2pTest.kt"

SHARED_TEST_NAMES = [
    "test_two_nodes_ping",
    "test_echo_round_trip_through_handler",
    "test_transfer_16_mib_checked",
    "test_invalid_multiaddr_raises",
    "test_unknown_protocol_raises",
    "test_talks_to_lp2p_node_cli",
    "test_resource_limits_and_conn_manager",
    "test_perf_counts_bytes_both_ways",
    "test_perf_is_off_by_default",
]


def env_path(name):
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set (run bindings/swift/test.sh)")
    path = Path(value)
    assert path.exists(), f"{name}={path} does not exist"
    return path


def swift_parser():
    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_swift.language()))


def syntax_problems(source: bytes):
    """Every ERROR or MISSING node of the parse, as 'line:col type'."""
    tree = swift_parser().parse(source)
    problems = []
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.type == "ERROR" or node.is_missing:
            row, col = node.start_point
            problems.append(f"{row + 1}:{col + 1} {'MISSING ' if node.is_missing else ''}{node.type}")
        stack.extend(node.children)
    return problems


def as_a_swift_5_8_compiler_reads_it(source: str):
    """The source with two constructs of the generated code that
    tree-sitter-swift 0.7.4 cannot parse, although Swift compiles them, put in
    an equivalent form the grammar knows. Returns (text, how many changes).

    1. `#if swift(>=5.8)` / attribute / `#endif`: a conditional block around a
       lone attribute of the next declaration. The grammar wants whole
       statements inside `#if`. A Swift 5.8+ compiler keeps the attribute, so
       the directive lines are blanked (line numbers stay).
    2. `= { () }`: a closure whose body is the empty tuple. The grammar has no
       rule for it; `{ }` is the same closure (returns Void).

    Nothing else is touched; the test below checks every change is one of these.
    """
    lines = source.split("\n")
    changes = 0
    for i, line in enumerate(lines):
        if line.strip() == "#if swift(>=5.8)":
            assert lines[i + 1].strip().startswith("@"), f"line {i + 2}: not a lone attribute"
            assert lines[i + 2].strip() == "#endif", f"line {i + 3}: not a lone attribute"
            lines[i] = ""
            lines[i + 2] = ""
            changes += 1
        elif line.rstrip().endswith("= { () }"):
            lines[i] = line.replace("= { () }", "= { }")
            changes += 1
    return "\n".join(lines), changes


@pytest.fixture(scope="session")
def regenerated(tmp_path_factory):
    """The Swift sources the built library generates now."""
    out = tmp_path_factory.mktemp("swift")
    subprocess.run(
        [str(env_path("LP2P_BINDGEN")), "generate", "--library", str(env_path("LP2P_LIBRARY")),
         "--language", "swift", "--no-format", "--out-dir", str(out)],
        check=True, cwd=ROOT,
    )
    return out


def test_checked_in_sources_are_generated_from_the_library(regenerated):
    assert (regenerated / "Lp2p.swift").read_text() == SWIFT_SOURCE.read_text(), \
        "Sources/Lp2p/Lp2p.swift is stale: run bindings/swift/test.sh --regenerate"
    assert (regenerated / "lp2pFFI.h").read_text() == HEADER.read_text(), \
        "lp2pFFI.h is stale: run bindings/swift/test.sh --regenerate"


def test_the_grammar_finds_errors():
    # The check below means something only if broken Swift is caught.
    assert syntax_problems(b"public func f(x: Int) async throws -> Int { return x }\n") == []
    assert syntax_problems(b"public func f(x: Int -> { return }\n") != []


@pytest.mark.parametrize("path", [XCTESTS, PACKAGE / "Package.swift"], ids=lambda p: p.name)
def test_swift_parses_without_error_nodes(path):
    assert syntax_problems(path.read_bytes()) == []


def test_generated_swift_parses_without_error_nodes():
    text, changes = as_a_swift_5_8_compiler_reads_it(SWIFT_SOURCE.read_text())
    assert changes > 0, "the known grammar gaps are gone: parse the file as it is"
    assert syntax_problems(text.encode()) == []


def test_each_grammar_gap_is_real_and_its_rewrite_parses():
    # Each gap alone gives an error node; each rewritten form parses.
    gap_attr = b"extension A {\n#if swift(>=5.8)\n    @_documentation(visibility: private)\n#endif\n    public static func f() {}\n}\n"
    gap_closure = b"func f() {\n    let writeReturn = { () }\n}\n"
    for gap in [gap_attr, gap_closure]:
        assert syntax_problems(gap) != []
        fixed, changes = as_a_swift_5_8_compiler_reads_it(gap.decode())
        assert changes == 1
        assert syntax_problems(fixed.encode()) == []


def test_generated_swift_has_the_api():
    # Whitespace-insensitive: the generated code is not formatted.
    swift = " ".join(SWIFT_SOURCE.read_text().split())
    for needle in [
        "open class Node:", "open class Lp2pStream:", "open class Keypair:", "public struct NodeConfig",
        "public protocol StreamHandler", "public protocol EventListener", "public enum Lp2pError",
        "public enum NodeEvent", "func dial(address: String)async throws", "func ping(peerId: String)async throws",
        "func newStream(peerId: String, `protocol`: String)async throws", "func handle(stream: Lp2pStream)async",
        "public var perf: Bool", "func perfServerStats() -> PerfServerStats",
    ]:
        assert needle in swift, needle


# _Nonnull and friends are Clang's nullability qualifiers (Apple's compiler is
# Clang); GCC has none, so they are defined away for it.
GCC_NULLABILITY = ["-D_Nonnull=", "-D_Nullable=", "-D_Null_unspecified="]


def test_header_compiles(tmp_path):
    # As a consumer sees it: included (twice, to exercise its guards).
    user = tmp_path / "user.c"
    user.write_text('#include "lp2pFFI.h"\n#include "lp2pFFI.h"\nint main(void) { return 0; }\n')
    compilers = [["cc", *GCC_NULLABILITY]]
    if shutil.which("clang"):
        compilers.append(["clang"])
    for compiler in compilers:
        for std in ["c99", "c11"]:
            subprocess.run([*compiler, "-fsyntax-only", f"-std={std}", "-Wall", "-Wextra", "-Werror",
                            "-I", str(HEADER.parent), str(user)], check=True)


def test_every_declared_symbol_is_exported():
    declared = set(re.findall(r"\b((?:uniffi|ffi)_[A-Za-z0-9_]+)\s*\(", HEADER.read_text()))
    assert len(declared) > 50, "the header declares the library's functions"
    nm = subprocess.run(["nm", "-D", "--defined-only", str(env_path("LP2P_LIBRARY"))],
                        check=True, capture_output=True, text=True).stdout
    exported = {line.split()[-1] for line in nm.splitlines() if line.strip()}
    missing = sorted(declared - exported)
    assert missing == [], f"declared in lp2pFFI.h, not exported: {missing}"


def test_module_map_names_the_header_and_the_module_swift_imports():
    module_map = MODULE_MAP.read_text()
    assert re.search(r"\bmodule lp2pFFI\b", module_map)
    assert 'header "lp2pFFI.h"' in module_map
    assert "import lp2pFFI" in SWIFT_SOURCE.read_text()


PYTHON_TESTS = ROOT / "bindings" / "python" / "tests"


@pytest.mark.parametrize("suite", ["swift", "kotlin", "python"])
def test_suite_has_the_shared_test_names(suite):
    if suite == "python":
        files = sorted(PYTHON_TESTS.glob("test_*.py"))
        assert files, f"no Python suite in {PYTHON_TESTS}"
    else:
        files = [XCTESTS if suite == "swift" else KOTLIN_TESTS]
    text = "\n".join(f.read_text() for f in files)
    for name in SHARED_TEST_NAMES:
        # Swift `func name(`, Kotlin `fun name(`, Python `def name(` (async or not).
        assert re.search(rf"\b(?:func|fun|def) {name}\(", text), f"the {suite} suite lacks {name}"


def test_xctest_suite_mirrors_the_kotlin_suite():
    swift = set(re.findall(r"\bfunc (test_\w+)\(", XCTESTS.read_text()))
    kotlin = set(re.findall(r"\bfun (test_\w+)\(", KOTLIN_TESTS.read_text()))
    assert len(kotlin) >= len(SHARED_TEST_NAMES)
    assert swift == kotlin


# Foundation (and framework) APIs that exist on macOS but not on iOS, as
# regexes over Swift code with comments and string literals removed. The
# package declares iOS, so each use must sit inside `#if os(macOS)`.
MACOS_ONLY_APIS = {
    "Process": r"\bProcess\b",  # Foundation's Process (NSTask): no iOS
    "NSTask": r"\bNSTask\b",
    "homeDirectoryForCurrentUser": r"\bhomeDirectoryForCurrentUser\b",  # FileManager, macOS only
    "homeDirectory(forUser:)": r"\bhomeDirectory\s*\(\s*forUser\s*:",
    "NSUserUnixTask / NSUserScriptTask": r"\bNSUser(?:Unix|Script|AppleScript|Automator)Task\b",
    "NSAppleScript": r"\bNSAppleScript\b",
    "DistributedNotificationCenter": r"\b(?:NS)?DistributedNotificationCenter\b",
    "Host / NSHost": r"\bNSHost\b|\bHost\s*\.\s*current\b",
    "import AppKit / Cocoa": r"^\s*import\s+(?:AppKit|Cocoa)\b",
}
SWIFT_FILES = [PACKAGE / "Package.swift", *sorted((PACKAGE / "Sources").rglob("*.swift")),
               *sorted((PACKAGE / "Tests").rglob("*.swift"))]


def code_only(line, in_block_comment):
    """The line without comments and string literals (one-line strings; a
    multi-line string is not used in these files). Returns (code, whether a
    /* comment is still open)."""
    out = []
    i = 0
    while i < len(line):
        if in_block_comment:
            end = line.find("*/", i)
            if end < 0:
                return "".join(out), True
            in_block_comment = False
            i = end + 2
        elif line.startswith("//", i):
            break
        elif line.startswith("/*", i):
            in_block_comment = True
            i += 2
        elif line[i] == '"':
            i += 1
            while i < len(line) and line[i] != '"':
                i += 2 if line[i] == "\\" else 1
            i += 1
            out.append('""')
        else:
            out.append(line[i])
            i += 1
    return "".join(out), in_block_comment


def unguarded_macos_only_uses(source):
    """Every use of a MACOS_ONLY_APIS entry outside an `#if os(macOS)` branch,
    as 'line: name'. Nested `#if`s are followed; the `#else`/`#elseif` of an
    `#if os(macOS)` is not macOS-only."""
    problems = []
    stack = []  # per open #if: is the current branch macOS-only?
    in_comment = False
    for number, raw in enumerate(source.split("\n"), start=1):
        code, in_comment = code_only(raw, in_comment)
        directive = code.strip()
        if directive.startswith("#if "):
            stack.append(re.fullmatch(r"#if\s+os\(\s*macOS\s*\)", directive) is not None)
            continue
        if directive.startswith("#elseif") or directive == "#else":
            if stack:
                stack[-1] = re.fullmatch(r"#elseif\s+os\(\s*macOS\s*\)", directive) is not None
            continue
        if directive == "#endif":
            if stack:
                stack.pop()
            continue
        if any(stack):
            continue
        for name, pattern in MACOS_ONLY_APIS.items():
            if re.search(pattern, code):
                problems.append(f"{number}: {name}")
    return problems


def test_the_ios_check_finds_unguarded_uses():
    # The check below means something only if it flags what iOS lacks and
    # passes what is guarded, commented out, quoted, or merely alike.
    assert unguarded_macos_only_uses("let p = Process()\n") == ["1: Process"]
    assert unguarded_macos_only_uses("let t = NSTask()\n") == ["1: NSTask"]
    assert unguarded_macos_only_uses("let h = FileManager.default.homeDirectoryForCurrentUser\n") \
        == ["1: homeDirectoryForCurrentUser"]
    assert unguarded_macos_only_uses("import AppKit\n") == ["1: import AppKit / Cocoa"]
    assert unguarded_macos_only_uses("#if os(macOS)\nlet p = Process()\n#endif\n") == []
    assert unguarded_macos_only_uses(
        "#if os(macOS)\n#if DEBUG\nlet p = Process()\n#endif\n#else\nlet q = Process()\n#endif\n") \
        == ["6: Process"]
    assert unguarded_macos_only_uses("#if os(iOS)\nlet p = Process()\n#endif\n") == ["2: Process"]
    assert unguarded_macos_only_uses(
        'let env = ProcessInfo.processInfo.environment // Process()\nlet s = "Process()"\n/* Process */\n') == []


@pytest.mark.parametrize("path", SWIFT_FILES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_macos_only_api_outside_if_os_macos(path):
    # Package.swift declares iOS: anything iOS lacks must be behind #if os(macOS).
    problems = unguarded_macos_only_uses(path.read_text())
    assert problems == [], f"{path.name}: macOS-only APIs outside #if os(macOS): {problems}"

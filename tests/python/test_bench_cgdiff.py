"""bench/cgdiff.py on two small hand-written callgrind files (tests/data/callgrind)."""
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "callgrind"


@pytest.fixture(scope="module")
def cgdiff(bench_script):
    return bench_script("cgdiff")


def test_self_costs_by_function_leave_out_the_calls(cgdiff):
    old = cgdiff.Profile(str(DATA / "old.callgrind"), "Ir")
    # The inlined library line counts in the function it was inlined into; the
    # call's inclusive cost (60) counts nowhere.
    assert old.by_function() == {("m::outer",): 60, ("m::inner",): 90}
    assert old.total == 150 == sum(old.cost.values())
    new = cgdiff.Profile(str(DATA / "new.callgrind"), "Ir")
    assert new.by_function() == {("m::outer",): 160, ("m::inner",): 80, ("m::added",): 40}
    assert new.total == sum(new.cost.values())


def test_lines_follow_relative_positions_and_inlined_files(cgdiff):
    old = cgdiff.Profile(str(DATA / "old.callgrind"), "Ir")
    lines = old.by_line()
    assert lines[("m::outer", "/opt/app/src/m.rs:10")] == 20
    assert lines[("m::outer", "/opt/app/src/m.rs:12")] == 5
    # `fi=` moves to the toolchain's file, shown without its prefix; `*` repeats the
    # line before in the file `fe=` returns to.
    assert lines[("m::outer", "core/src/slice/index.rs:272")] == 30
    assert lines[("m::outer", "/opt/app/src/m.rs:272")] == 5
    assert lines[("m::inner", "/opt/app/src/m.rs:50")] == 90


def test_another_event_is_its_own_column(cgdiff):
    old = cgdiff.Profile(str(DATA / "old.callgrind"), "D1mr")
    assert old.by_function() == {("m::outer",): 5, ("m::inner",): 2}
    assert old.total == 7
    with pytest.raises(SystemExit, match="no event D1mw"):
        cgdiff.Profile(str(DATA / "old.callgrind"), "D1mw")


def test_the_largest_difference_comes_first(cgdiff, capsys):
    assert cgdiff.main([str(DATA / "old.callgrind"), str(DATA / "new.callgrind")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"Ir: 150 in {DATA / 'old.callgrind'}, 280 in {DATA / 'new.callgrind'} (+130)"
    rows = [line.split() for line in out[2:]]
    assert [(r[0], r[3]) for r in rows] == [("+100", "m::outer"), ("+40", "m::added"), ("-10", "m::inner")]
    cgdiff.main([str(DATA / "old.callgrind"), str(DATA / "new.callgrind"), "--lines", "--match", "m.rs:10"])
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 3 and out[2].split() == ["+100", "20", "120", "/opt/app/src/m.rs:10", "m::outer"]


def test_instruction_addresses_are_read_beside_the_lines(cgdiff):
    p = cgdiff.Profile(str(DATA / "instr.callgrind"), "Ir")
    assert p.by_function() == {("m::outer",): 55, ("m::inner",): 45}
    assert p.by_line()[("m::outer", "/opt/app/src/m.rs:11")] == 35
    obj = "/opt/app/bin/x"
    assert p.at == {
        (obj, "m::outer", 0x1000): 20,
        (obj, "m::outer", 0x1004): 30,
        (obj, "m::outer", 0x1010): 5,
        (obj, "m::inner", 0x2000): 40,
        (obj, "m::inner", 0x1FF0): 5,
    }
    with pytest.raises(SystemExit, match="no instruction addresses"):
        cgdiff.Profile(str(DATA / "old.callgrind"), "Ir").by_own("src/", None)


def test_own_lines_take_the_cost_of_the_library_code_inlined_into_them(cgdiff):
    # addr2line -i -f -a: each address, then its frames innermost first.
    text = """0x0000000000001000
core::slice::index
/rustc/0123abcd/library/core/src/slice/index.rs:272
m::outer
src/m.rs:10 (discriminator 2)
0x0000000000001004
alloc::vec::Vec::push
/rustc/0123abcd/library/alloc/src/vec/mod.rs:2978
m::outer
src/m.rs:10
0x0000000000001010
m::outer
src/m.rs:12
0x0000000000002000
core::iter::next
/rustc/0123abcd/library/core/src/iter/mod.rs:1
0x0000000000001ff0
m::inner
src/m.rs:49
"""
    frames = cgdiff.parse_addr2line(text.splitlines())
    assert frames[0x1000] == [
        ("core::slice::index", "/rustc/0123abcd/library/core/src/slice/index.rs:272"),
        ("m::outer", "src/m.rs:10"),
    ]
    p = cgdiff.Profile(str(DATA / "instr.callgrind"), "Ir")
    seen = []

    def resolve(obj, addrs):
        seen.append((obj, addrs))
        return frames

    own = p.by_own("src/", resolve)
    # One look-up per object file, of its addresses in order, each once.
    assert seen == [("/opt/app/bin/x", [0x1000, 0x1004, 0x1010, 0x1FF0, 0x2000])]
    assert own == {
        ("m::outer", "src/m.rs:10"): 50,
        ("m::outer", "src/m.rs:12"): 5,
        ("m::inner", "(other)"): 40,
        ("m::inner", "src/m.rs:49"): 5,
    }

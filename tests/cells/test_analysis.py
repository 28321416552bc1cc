"""Static cell analysis: inputs, outputs, side effects, normalization (pure, no shell)."""

from __future__ import annotations

import pytest

from jlcache.cells.analysis import analyze, first_line, normalize


def io(source: str) -> tuple[set[str], set[str]]:
    result = analyze(source)
    return set(result.inputs), set(result.outputs)


@pytest.mark.parametrize(("source", "inputs", "outputs"), [
    ("y = x + 1", {"x"}, {"y"}),
    ("x = 1\ny = x", set(), {"x", "y"}),
    ("x += 1", {"x"}, {"x"}),
    ("x: int = n\nz: float", {"int", "n", "float"}, {"x"}),
    ("a, (b, *c) = t", {"t"}, {"a", "b", "c"}),
    ("import numpy as np\nimport os.path\nfrom m import a as b, c", set(), {"np", "os", "b", "c"}),
    ("for i in range(n):\n    acc.append(i)", {"range", "n", "acc"}, {"i"}),
    ("with open(p) as fh:\n    data = fh.read()", {"open", "p"}, {"fh", "data"}),
    ("(n := 5)\nm = n", set(), {"n", "m"}),
    ("df['x'] = 1\nobj.attr = 2", {"df", "obj"}, set()),
    ("try:\n    v = f()\nexcept E as e:\n    v = 0", {"f", "E"}, {"v", "e"}),
])
def test_top_level_reads_and_bindings(source, inputs, outputs):
    assert io(source) == (inputs, outputs)


def test_a_read_before_its_assignment_is_an_input():
    assert io("print(x)\nx = 1") == ({"print", "x"}, {"x"})


def test_conditional_assignment_does_not_hide_a_later_read():
    assert io("if c:\n    y = 1\nprint(y)") == ({"c", "print", "y"}, {"y"})
    assert io("if c:\n    y = 1\nelse:\n    y = 2\nprint(y)") == ({"c", "print"}, {"y"})
    assert "y" in analyze("for i in r:\n    y = i\nz = y").inputs
    assert "y" in analyze("while c:\n    y = 1\nz = y").inputs


def test_function_parameters_and_locals_are_not_inputs_but_its_globals_are():
    src = "def f(a, *args, k=d, **kw):\n    b = a + g\n    return b + h(a) + len(args)\nz = f(1)"
    assert io(src) == ({"d", "g", "h", "len"}, {"f", "z"})


def test_global_read_by_a_function_is_no_input_when_the_cell_binds_it():
    assert io("def f():\n    return y\ny = 2") == (set(), {"f", "y"})
    assert io("def f():\n    return y\nif c:\n    y = 2") == ({"y", "c"}, {"f", "y"})


def test_closures_resolve_to_the_enclosing_function():
    src = "def outer():\n    v = 1\n    def inner():\n        return v + u\n    return inner"
    assert io(src) == ({"u"}, {"outer"})


def test_global_declaration_inside_a_function_reads_the_module_name():
    src = "def f():\n    global counter\n    counter = counter + 1"
    assert io(src) == ({"counter"}, {"f"})


def test_class_bodies_and_methods():
    src = ("class C(Base):\n    k = K\n    def m(self):\n        return self.k + G + k\n")
    inputs, outputs = io(src)
    assert outputs == {"C"}
    assert {"Base", "K", "G", "k"} <= inputs  # a method cannot see the class-level `k`


def test_lambdas_and_comprehensions_have_their_own_scope():
    assert io("f = lambda q: q + w") == ({"w"}, {"f"})
    assert io("r = [a * k for a in xs if a > t]") == ({"k", "xs", "t"}, {"r"})
    assert io("d = {k: v for k, v in items.items()}") == ({"items"}, {"d"})
    assert io("fs = [lambda: y for _ in range(3)]") == ({"y", "range"}, {"fs"})
    assert io("s = sum(x * y for x in a for y in b)") == ({"sum", "a", "b"}, {"s"})


def test_del_removes_an_output_and_records_the_deletion():
    result = analyze("tmp = 1\nkeep = tmp\ndel tmp\ndel old")
    assert set(result.outputs) == {"keep"}
    assert set(result.deleted) == {"tmp", "old"}
    assert "old" in result.inputs and "tmp" not in result.inputs


def test_star_import_binds_nothing_statically():
    assert io("from os.path import *") == (set(), set())


def test_normalization_ignores_comments_and_whitespace_but_not_code():
    a = normalize("x = 1  # one\n\n\ny = x+2\n")
    assert a == normalize("x=1\ny = x + 2")
    assert a != normalize("x = 1\ny = x + 3")


def test_side_effects_are_described():
    src = ("get_ipython().system('ls -l')\nf = open('out.txt', 'w')\ndf.to_csv('a.csv')\n"
           "g = open('in.txt')\nget_ipython().run_line_magic('time', 'x = 1')")
    effects = analyze(src).side_effects
    assert "shell command (!cmd)" in effects
    assert "file write (open(..., 'w'))" in effects
    assert "file write (.to_csv(...))" in effects
    assert "line magic (%time)" in effects
    assert len(effects) == 4  # reading a file is not a side effect


def test_last_expression_and_await_detection():
    assert analyze("x = 1\nx").has_last_expr
    assert not analyze("x = 1").has_last_expr
    assert analyze("await f()").uses_await
    assert not analyze("async def f():\n    await g()").uses_await


def test_syntax_errors_propagate():
    with pytest.raises(SyntaxError):
        analyze("x = (")


def test_first_line_skips_comments_and_blank_lines():
    assert first_line("\n# comment\n  total = 0\nmore") == "total = 0"
    assert first_line("# only a comment") == ""


def test_reads_attribute_chains_and_bare_uses():
    reads = analyze("r = mymod.helper(3) * mymod.SCALE\ns = pkg.sub.f(x.y)\nreload(other)\n"
                    "def g():\n    return mymod.inner()").reads
    assert reads.attr_chains["mymod"] == {("helper",), ("SCALE",), ("inner",)}
    assert reads.attr_chains["pkg"] == {("sub", "f")}
    assert "mymod" not in reads.bare and "pkg" not in reads.bare
    assert "other" in reads.bare and "x" not in reads.bare


def test_reads_imports_and_file_candidates():
    reads = analyze("import a.b, c\nfrom d.e import f\nfrom . import g\n"
                    "df = pd.read_csv('data.csv', sep=';')\nopen(path)\n"
                    "df.to_csv('out.csv')\nopen('log.txt', 'a')\np = 'x.npy'\nnp.load(p)").reads
    assert reads.imports == ("a.b", "c", "d.e")
    assert {"data.csv", ";"} <= set(reads.path_literals)
    assert "out.csv" not in reads.path_literals and "log.txt" not in reads.path_literals
    assert {"path", "p"} <= set(reads.path_names) and reads.assigned_paths["p"] == "x.npy"


@pytest.mark.parametrize(("source", "dynamic"), [
    ("r = eval('x')", ("eval()",)),
    ("exec(code)\nv = globals()['k']", ("exec()", "globals()")),
    ("v = vars()['k']", ("vars()",)),
    ("def f():\n    return locals()", ()),
    ("v = vars(obj)", ()),
    ("f = lambda: globals()", ("globals()",)),
])
def test_reads_through_the_namespace_are_flagged(source, dynamic):
    assert analyze(source).reads.dynamic == dynamic


@pytest.mark.parametrize(("source", "expected"), [
    ("def helper(x):\n    return x", "def helper(x)"),
    ("time.sleep(1)            # something slow", "time.sleep(1)"),
    ("# comment\n\nclass A(B):  # note\n    pass", "class A(B)"),
    ("s = '# not a comment'", "s = '# not a comment'"),
    ('x = """doc', 'x = """doc'),
])
def test_label(source, expected):
    from jlcache.cells.analysis import label

    assert label(source) == expected

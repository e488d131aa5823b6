"""Graph: building, reverse-sweep gradients against sympy.diff and finite differences, Hessians."""

import numpy as np
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from propagate.errors import GraphError, ParseError
from propagate.symbolic import Graph, gelu, leaky_relu, parse, relu, sigmoid, softplus

x, y, z = sympy.symbols("x y z", real=True)


def graph_of(expr: sympy.Expr) -> tuple[Graph, str]:
    """Return a graph with one node per compound subexpression of ``expr`` and its output."""
    graph = Graph()
    graph.add_inputs(sorted(s.name for s in expr.free_symbols) or ["x"])
    names = {}

    def visit(node):
        if node.is_Atom:
            return node
        if node in names:
            return graph.symbol(names[node])
        args = [visit(arg) for arg in node.args]
        name = f"n{len(names)}"
        names[node] = name
        return graph.add_node(name, node.func(*args))

    out = visit(expr)
    if not isinstance(out, sympy.Symbol) or out.name not in graph.nodes:
        graph.add_node("out", out)
        return graph, "out"
    return graph, out.name


def test_graph_example_gradient():
    g = Graph()
    w, x_, b, y_ = g.add_inputs("w x b y")
    zn = g.add_node("z", w * x_ + b)
    a = g.add_node("a", sigmoid(zn))
    g.add_node("L", (a - y_) ** 2 / 2)
    full = (sigmoid(w * x_ + b) - y_) ** 2 / 2
    gradient = g.gradient("L", wrt=["w", "b"])
    assert sympy.simplify(gradient["w"] - sympy.diff(full, w)) == 0
    assert sympy.simplify(gradient["b"] - sympy.diff(full, b)) == 0


def test_graph_inputs_and_nodes():
    g = Graph.from_text({"z": "w*x + b", "a": "sigmoid(z)", "L": "(a - y)**2/2"})
    assert g.inputs == ("w", "x", "b", "y")
    assert list(g.nodes) == ["z", "a", "L"]
    assert g.nodes["a"] == sigmoid(g.symbol("z"))


def test_graph_from_list_with_inputs_order():
    g = Graph.from_text(["z = w*x + b", "a = sigmoid(z)"], inputs=["b", "x", "w"])
    assert g.inputs == ("b", "x", "w")


def test_graph_from_text_missing_input():
    with pytest.raises(GraphError, match="'y'"):
        Graph.from_text(["L = x + y"], inputs=["x"])


def test_graph_from_text_forward_reference():
    with pytest.raises(GraphError, match="before their definition"):
        Graph.from_text(["a = sigmoid(z)", "z = w*x"])


def test_graph_from_text_duplicate():
    with pytest.raises(GraphError, match="twice"):
        Graph.from_text(["a = x", "a = y"])


def test_graph_from_text_parse_error():
    with pytest.raises(ParseError, match="definition of 'a'"):
        Graph.from_text(["a = x +"])


def test_graph_add_inputs_list():
    g = Graph()
    symbols = g.add_inputs(["E", "lambda"])
    assert symbols == (sympy.Symbol("E", real=True), sympy.Symbol("lambda", real=True))


def test_graph_unknown_name_in_node():
    g = Graph()
    g.add_inputs("x")
    with pytest.raises(GraphError, match="'q'"):
        g.add_node("a", x + sympy.Symbol("q", real=True))


def test_graph_adopts_nonreal_symbol():
    g = Graph()
    g.add_inputs("x")
    g.add_node("a", sympy.Symbol("x") ** 2)
    assert g.nodes["a"] == x**2


@pytest.mark.parametrize("name", ["x", "sin", "pi", "e", "__a", "1a", "a b", ""])
def test_graph_rejects_bad_name(name):
    g = Graph()
    g.add_inputs("x")
    with pytest.raises(GraphError):
        g.add_node(name, x)


def test_graph_rejects_undefined_function():
    g = Graph()
    g.add_inputs("x")
    with pytest.raises(GraphError, match="undefined functions"):
        g.add_node("a", sympy.Function("f")(x))


def test_graph_unknown_symbol_lookup():
    with pytest.raises(GraphError, match="unknown name 'q'"):
        Graph().symbol("q")


def test_graph_expression_in_inputs():
    g = Graph.from_text(["z = w*x", "a = sigmoid(z)"])
    assert g.expression("a") == sigmoid(sympy.Symbol("w", real=True) * x)


def test_graph_gradient_wrt_node_is_delta():
    g = Graph.from_text(["z = w*x", "L = z**2"])
    assert g.gradient("L", wrt=["z"])["z"] == 2 * sympy.Symbol("w", real=True) * x


def test_graph_gradient_of_independent_input():
    g = Graph.from_text(["L = x**2"], inputs=["x", "y"])
    assert g.gradient("L")["y"] == 0


def test_graph_gradient_after_new_input():
    g = Graph.from_text(["L = x**2"])
    g.adjoints("L")
    g.add_inputs("q")
    assert g.gradient("L", ["q"])["q"] == 0


def test_graph_adjoints_keep_node_symbols():
    g = Graph.from_text({"z": "w*x + b", "a": "sigmoid(z)", "L": "(a - y)**2/2"})
    adjoint = g.adjoints("L")
    a, zs, y_ = g.symbol("a"), g.symbol("z"), g.symbol("y")
    assert adjoint["a"] == a - y_
    assert adjoint["z"] == (a - y_) * sigmoid(zs) * (1 - sigmoid(zs))
    assert adjoint["L"] == 1


EXPRESSIONS = [
    "x*sin(y)/z",
    "exp(x*y) + log(z)",
    "sqrt(x**2 + y**2)",
    "atan2(y, x)",
    "tanh(x*y - z)",
    "sigmoid(x*y + z)",
    "softplus(x - y)*z",
    "gelu(x)*y",
    "relu(x*y)",
    "leaky_relu(x - y, 0.2)",
    "max(x, y)*z",
    "min(x, y, z)",
    "abs(x - y)",
    "(x + y)**3/(1 + z**2)",
    "log(x, 2) + log10(y)",
    "pow(x, y)",
    "cosh(x) - sinh(y) + tan(z)",
    "asin(x/2) + acos(y/3) + atan(z)",
    "x^x",
    "sin(x)*sin(x)*sin(y)",
]


@pytest.mark.parametrize("text", EXPRESSIONS)
def test_gradient_matches_sympy_diff(text):
    expr = parse(text)
    graph, output = graph_of(expr)
    gradient = graph.gradient(output)
    for name in graph.inputs:
        reference = sympy.diff(expr, sympy.Symbol(name, real=True))
        assert sympy.simplify(gradient[name] - reference) == 0, name


_leaves = st.sampled_from([x, y, z, sympy.Integer(2), sympy.Rational(-1, 2)])


def _extend(children):
    unary = st.sampled_from([sympy.sin, sympy.cos, sympy.tanh, sigmoid, softplus, gelu, sympy.exp])
    return st.one_of(
        st.tuples(unary, children).map(lambda pair: pair[0](pair[1])),
        st.tuples(children, children).map(lambda pair: pair[0] + pair[1]),
        st.tuples(children, children).map(lambda pair: pair[0] * pair[1]),
        st.tuples(children, children).map(lambda pair: pair[0] - pair[1]),
        st.tuples(children, st.sampled_from([2, 3])).map(lambda pair: pair[0] ** pair[1]),
        st.tuples(children).map(lambda pair: 1 / (1 + pair[0] ** 2)),
    )


random_expressions = st.recursive(_leaves, _extend, max_leaves=10).filter(
    lambda expr: bool(expr.free_symbols)
)
points = st.tuples(*[st.floats(-2, 2, allow_nan=False) for _ in range(3)])


@settings(max_examples=60, deadline=None)
@given(random_expressions, points)
def test_gradient_random_trees_match_sympy(expr, point):
    graph, output = graph_of(expr)
    gradient = graph.gradient(output)
    at = dict(zip(("x", "y", "z"), (sympy.Rational(v) for v in point), strict=True))
    at = {name: at[name] for name in graph.inputs}
    for name in graph.inputs:
        reference = sympy.diff(expr, sympy.Symbol(name, real=True))
        mine = graph.evaluate(gradient[name], at, dps=30)
        theirs = reference.xreplace({sympy.Symbol(n, real=True): v for n, v in at.items()})
        theirs = theirs.evalf(30)
        assert abs(mine - theirs) <= sympy.Float(10) ** -20 * (1 + abs(theirs)), name


@settings(max_examples=40, deadline=None)
@given(random_expressions, points)
def test_gradient_random_trees_finite_differences(expr, point):
    graph, output = graph_of(expr)
    gradient = graph.gradient(output)
    names = graph.inputs
    compiled_value = graph.compile([output])
    compiled_gradient = graph.compile([gradient[name] for name in names])
    at = np.array([dict(zip(("x", "y", "z"), point, strict=True))[name] for name in names])
    exact = np.array(compiled_gradient(*at)).reshape(-1)
    step = 1e-6
    for index in range(len(names)):
        forward, backward = at.copy(), at.copy()
        forward[index] += step
        backward[index] -= step
        difference = (compiled_value(*forward)[0] - compiled_value(*backward)[0]) / (2 * step)
        scale = 1 + abs(exact[index]) + abs(float(compiled_value(*at)[0]))
        assert abs(difference - exact[index]) <= 1e-5 * scale, names[index]


def test_jacobian_matches_sympy():
    g = Graph.from_text(["R = V/I*cos(phi)", "X = V/I*sin(phi)"])
    jacobian = g.jacobian(["R", "X"], wrt=["V", "I", "phi"])
    V, I, phi = (g.symbol(n) for n in ("V", "I", "phi"))
    reference = sympy.Matrix([V / I * sympy.cos(phi), V / I * sympy.sin(phi)]).jacobian([V, I, phi])
    assert jacobian.shape == (2, 3)
    assert sympy.simplify(jacobian - reference) == sympy.zeros(2, 3)


def test_hessian_matches_sympy():
    g = Graph.from_text(["u = x*y", "v = sigmoid(u) + x**3", "L = v*z"])
    full = g.expression("L")
    wrt = ["x", "y", "z"]
    hessian = g.hessian("L", wrt)
    reference = sympy.hessian(full, [g.symbol(n) for n in wrt])
    for i in range(3):
        for j in range(3):
            assert sympy.simplify(hessian[i, j] - reference[i, j]) == 0, (i, j)


def test_hessian_symmetric():
    g = Graph.from_text(["a = softplus(x*y)", "L = a*exp(y)"])
    hessian = g.hessian("L")
    assert hessian[0, 1] == hessian[1, 0]


def test_hessian_of_relu_is_zero():
    g = Graph.from_text(["L = relu(x)"])
    assert g.hessian("L")[0, 0] == 0


def test_evaluate_float():
    g = Graph.from_text(["z = w*x + b", "a = sigmoid(z)"])
    value = g.evaluate("a", {"w": 0.5, "x": 2.0, "b": -1.0})
    assert value == 0.5


def test_evaluate_50_digits():
    g = Graph.from_text(["a = sigmoid(x)"])
    value = g.evaluate("a", {"x": sympy.Rational(1, 3)}, dps=50)
    expected = (1 / (1 + sympy.exp(-sympy.Rational(1, 3)))).evalf(50)
    assert abs(value - expected) < sympy.Float(10) ** -48


def test_evaluate_missing_input():
    g = Graph.from_text(["a = x*y"])
    with pytest.raises(GraphError, match="missing value for input 'y'"):
        g.evaluate("a", {"x": 1.0})


def test_evaluate_bad_value():
    g = Graph.from_text(["a = x*y"])
    with pytest.raises(GraphError, match="'x'"):
        g.evaluate("a", {"x": "abc", "y": 1})


def test_evaluate_relu_kink():
    g = Graph.from_text(["a = relu(x)"])
    assert g.evaluate(g.gradient("a")["x"], {"x": 0.0}) == 0.0


def test_relu_kink_in_reverse_sweep_matches_zero():
    g = Graph.from_text(["z = w*x", "a = relu(z)", "L = a*2"])
    assert g.evaluate(g.gradient("L", ["w"])["w"], {"w": 0.0, "x": 3.0}) == 0.0


def test_leaky_kink_in_reverse_sweep():
    g = Graph()
    g.add_inputs("x")
    g.add_node("L", leaky_relu(x))
    assert g.evaluate(g.gradient("L")["x"], {"x": 0}) == 0.01


def test_relu_graph_gradient_not_heaviside():
    g = Graph()
    g.add_inputs("x")
    g.add_node("L", relu(x))
    assert not g.gradient("L")["x"].has(sympy.Heaviside)


# Exact constants that nodes combine are bounded in size, as in the parser.


def test_graph_power_of_constant_nodes_rejected():
    graph = Graph.from_text("a = 9; b = a^a^a")
    with pytest.raises(GraphError) as info:
        graph.expression("b")
    assert "node 'b'" in str(info.value)


def test_graph_squaring_chain_rejected():
    # a40 would be 10**(2**40), a number of about 10**12 digits.
    definitions = ["a0 = 10", *[f"a{i} = a{i - 1}*a{i - 1}" for i in range(1, 41)]]
    graph = Graph.from_text([*definitions, "L = a40*x"])
    with pytest.raises(GraphError):
        graph.gradient("L")


def test_graph_evaluate_exact_power_rejected():
    graph = Graph.from_text({"f": "x^(10^20)"})
    with pytest.raises(GraphError):
        graph.evaluate("f", {"x": 2})


def test_graph_constant_nodes_within_limit():
    graph = Graph.from_text("a = 10^900; b = a*a*a; L = b*x")
    assert graph.gradient("L")["x"] == sympy.Integer(10) ** 2700


def test_power_gradient_at_zero_base():
    # d/dx x^y = y x^(y-1) is 0 at x = 0 for y = 2; sympy's own form x^y*y/x gives nan.
    graph = Graph.from_text({"f": "x^y"})
    assert graph.gradient_values("f", {"x": 0.0, "y": 2.0}, wrt=["x"])["x"] == 0.0


def test_power_gradient_matches_sympy():
    graph = Graph.from_text({"f": "x^(y^z) + 2^x"})
    expr = graph.expression("f")
    for name in graph.inputs:
        reference = sympy.diff(expr, graph.symbol(name))
        assert sympy.simplify(graph.gradient("f")[name] - reference) == 0, name

"""The report charts (common/charts.py): well-formed SVG, readable without colour, safe under the CSP."""

import xml.etree.ElementTree as ET

from common import charts

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg):
    return ET.fromstring(str(svg))


def texts(root):
    return [element.text for element in root.iter(f"{SVG}text")]


def test_bar_chart_writes_every_value_on_its_bar_and_every_label():
    root = parse(charts.bar_chart("Calls per week", ["2026-W01", "2026-W02", "2026-W03"], [12, 0, 7]))
    assert root.get("role") == "img" and root.get("aria-label") == "Calls per week"
    written = texts(root)
    assert {"12", "0", "7", "2026-W01", "2026-W02", "2026-W03"} <= set(written)
    assert len(root.findall(f".//{SVG}rect")) >= 3


def test_grouped_bars_tell_series_apart_by_pattern_and_legend():
    svg = charts.grouped_bar_chart("Calls", ["W1", "W2"], [("Ana", [3, 4]), ("Bo", [5, None])])
    root = parse(svg)
    patterns = root.findall(f".//{SVG}pattern")
    assert len(patterns) == 2
    fills = {rect.get("fill") for rect in root.iter(f"{SVG}rect") if (rect.get("fill") or "").startswith("url(")}
    assert fills == {f"url(#{patterns[0].get('id')})", f"url(#{patterns[1].get('id')})"}
    assert {"Ana", "Bo", "3", "4", "5"} <= set(texts(root))


def test_line_chart_labels_each_point_and_leaves_a_gap_for_none():
    root = parse(
        charts.line_chart(
            "Retention", ["4 wk", "8 wk", "12 wk"], [("all", [0.9, None, 0.5])], y_max=1, value_format="{:.0%}"
        )
    )
    assert {"90%", "50%"} <= set(texts(root))
    assert len(root.findall(f".//{SVG}circle")) == 2
    assert root.findall(f".//{SVG}polyline") == []  # two points separated by a gap: no line drawn across it


def test_funnel_shows_counts_and_share_of_the_first_step():
    root = parse(charts.funnel_chart("Pipeline", [("Leads", 40), ("Converted", 10), ("Referred", 0)]))
    assert {"40 (100%)", "10 (25%)", "0 (0%)"} <= set(texts(root))


def test_horizontal_bars_and_empty_data():
    root = parse(charts.horizontal_bar_chart("Outcomes", [("Reached", 5), ("Voicemail", 2)]))
    assert {"Reached", "Voicemail", "5", "2"} <= set(texts(root))
    for empty in (
        charts.bar_chart("Nothing", [], []),
        charts.horizontal_bar_chart("Nothing", []),
        charts.line_chart("Nothing", ["W1"], [("a", [None])]),
        charts.funnel_chart("Nothing", []),
    ):
        assert "No data in this period" in texts(parse(empty))


def test_text_is_escaped_and_no_style_attribute_or_element_is_used():
    svg = str(charts.grouped_bar_chart('<script>"x"</script>', ["<b>"], [("a&b", [1]), ("c", [2])]))
    root = parse(svg)
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    for element in root.iter():
        assert "style" not in element.attrib, element.tag
        assert element.tag not in (f"{SVG}style", f"{SVG}script")


def test_pattern_ids_differ_between_charts_on_one_page():
    first = parse(charts.grouped_bar_chart("a", ["x"], [("s", [1]), ("t", [2])]))
    second = parse(charts.grouped_bar_chart("b", ["x"], [("s", [1]), ("t", [2])]))
    ids = [p.get("id") for root in (first, second) for p in root.iter(f"{SVG}pattern")]
    assert len(ids) == len(set(ids)) == 4

"""Speed profiles: the file format, the hour of the week, and the times they give."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from dispatch_engine.cli import app
from dispatch_engine.errors import DataError, InvalidInputError
from dispatch_engine.network.compile import compile_graph
from dispatch_engine.network.profiles import (
    DEFAULT_PROFILE,
    SpeedProfile,
    TrafficModel,
    load_speed_profile,
    profile_from_settings,
)
from dispatch_engine.settings import load_settings

SHANGHAI = ZoneInfo("Asia/Shanghai")
RUSH = [0.9] * 7 + [0.5, 0.5] + [0.9] * 15  # 07:00 and 08:00 at half speed


def _write(tmp_path, document) -> object:
    path = tmp_path / "profile.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def mixed_network(mixed_class_graph):
    return compile_graph(mixed_class_graph)


def test_default_profile_has_peaks_and_free_nights(settings):
    """The shipped profile slows urban streets at 08:00 and 18:00 on weekdays, not at 03:00."""
    profile = load_speed_profile(settings.data_dir / DEFAULT_PROFILE)
    street = profile.factors["residential"]
    monday = datetime(2026, 3, 2, tzinfo=SHANGHAI)
    hour = profile.hour_of_week
    assert (
        street[hour(monday.replace(hour=8))] < 0.8 and street[hour(monday.replace(hour=18))] < 0.8
    )
    assert street[hour(monday.replace(hour=3))] == 1.0
    assert all(f.shape == (168,) and np.all((f > 0) & (f <= 1)) for f in profile.factors.values())
    assert "unclassified" not in profile.factors  # village roads keep free flow


def test_hour_of_week_is_local_and_starts_monday():
    """Hour 0 is Monday 00:00 in the profile's timezone, whatever timezone the time has."""
    profile = SpeedProfile("t", SHANGHAI, {})
    assert profile.hour_of_week(datetime(2026, 3, 2, 0, 0, tzinfo=SHANGHAI)) == 0
    assert profile.hour_of_week(datetime(2026, 3, 8, 23, 59, tzinfo=SHANGHAI)) == 167
    # Sunday 16:30 UTC is Monday 00:30 in Shanghai
    assert profile.hour_of_week(datetime(2026, 3, 1, 16, 30, tzinfo=UTC)) == 0
    with pytest.raises(InvalidInputError) as err:
        profile.hour_of_week(datetime(2026, 3, 2, 8, 0))
    assert err.value.field == "at"


def test_a_day_overrides_its_group_and_unlisted_is_free_flow(tmp_path):
    """mon..sun beat weekday/weekend; days and classes the file omits are 1.0."""
    sunday = [0.7] * 24
    path = _write(tmp_path, {"name": "t", "classes": {"primary": {"weekday": RUSH, "sun": sunday}}})
    profile = load_speed_profile(path)
    week = profile.factors["primary"]
    np.testing.assert_array_equal(week[2 * 24 : 3 * 24], RUSH)  # Wednesday: weekday
    np.testing.assert_array_equal(week[5 * 24 : 6 * 24], np.ones(24))  # Saturday: nothing given
    np.testing.assert_array_equal(week[6 * 24 :], sunday)
    wednesday_8 = datetime(2026, 3, 4, 8, 15, tzinfo=SHANGHAI)
    factors = profile.speed_factors(("primary", "motorway"), wednesday_8)
    np.testing.assert_array_equal(factors, [0.5, 1.0])


@pytest.mark.parametrize(
    ("classes", "timezone", "field"),
    [
        ({"primary": {"weekday": [1.5] * 24}}, "Asia/Shanghai", "classes.primary.weekday.0"),
        ({"primary": {"weekday": [0.0] * 24}}, "Asia/Shanghai", "classes.primary.weekday.0"),
        ({"primary": {"weekday": [0.9] * 23}}, "Asia/Shanghai", "classes.primary.weekday"),
        ({"primary": {"monday": RUSH}}, "Asia/Shanghai", "classes.primary.monday"),
        ({"primry": {"weekday": RUSH}}, "Asia/Shanghai", "classes.primry"),
        ({"primary": {"weekday": RUSH}}, "Mars/Olympus", "timezone"),
    ],
)
def test_bad_profile_files_name_the_field(tmp_path, classes, timezone, field):
    """Factors outside (0, 1], wrong day lengths, unknown keys, classes or zones name the field."""
    path = _write(tmp_path, {"name": "t", "timezone": timezone, "classes": classes})
    with pytest.raises(InvalidInputError) as err:
        load_speed_profile(path)
    assert err.value.field == field


def test_unreadable_profile_files(tmp_path):
    """A missing file is a data error; a file that is not YAML names speed_profile."""
    with pytest.raises(DataError):
        load_speed_profile(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("classes: [unclosed", encoding="utf-8")
    with pytest.raises(InvalidInputError) as err:
        load_speed_profile(broken)
    assert err.value.field == "speed_profile"


def test_settings_select_the_profile(tmp_path):
    """speed_profile: 'default' is the shipped file, 'none' free flow, else a path."""
    assert profile_from_settings(load_settings(speed_profile="none")) is None
    assert profile_from_settings(load_settings()).name == "shaoguan-default"
    path = _write(tmp_path, {"name": "mine", "classes": {"primary": {"weekday": RUSH}}})
    assert profile_from_settings(load_settings(speed_profile=str(path))).name == "mine"


def test_profile_changes_exactly_the_chains_of_affected_classes(mixed_network):
    """Slowing two classes changes exactly the chains holding their edges, by the edge sum."""
    net = mixed_network
    factors = np.ones(len(net.road_classes))
    slowed = [net.road_classes.index("residential"), net.road_classes.index("tertiary")]
    factors[slowed] = [0.5, 0.8]
    times = TrafficModel(net, None).times(factors)
    edge_s = net.edge_time_s.astype(np.float64) / factors[net.edge_class]
    bounds = zip(net.chain_ptr[:-1], net.chain_ptr[1:], strict=True)
    expected = np.array([edge_s[net.chain_edges[a:b]].sum() for a, b in bounds])
    np.testing.assert_allclose(times.chain_time_s, expected, rtol=1e-12, atol=1e-9)
    has_slowed = np.isin(net.edge_class[net.chain_edges], slowed)
    affected = np.unique(net.edge_chain[net.chain_edges[has_slowed]])
    changed = np.flatnonzero(~np.isclose(times.chain_time_s, net.chain_time_s, rtol=1e-12))
    np.testing.assert_array_equal(changed, affected)
    assert 0 < affected.size < net.n_chains
    free = TrafficModel(net, None).times(np.ones(len(net.road_classes)))
    assert free.chain_time_s is net.chain_time_s  # free flow: the network's own arrays


def test_positions_on_mixed_chains_match_a_walk_along_the_edges(mixed_network):
    """A free-flow position maps to the slowed time of the edges before it and into its own."""
    net = mixed_network
    rng = np.random.default_rng(22)
    factors = rng.uniform(0.4, 1.0, len(net.road_classes))
    times = TrafficModel(net, None).times(factors)
    chains = rng.integers(net.n_chains, size=200)
    pos_s = rng.uniform(0, 1, 200) * net.chain_time_s[chains]
    got = times.positions_s(chains, pos_s)
    for chain, pos, mapped in zip(chains, pos_s, got, strict=True):
        left, want = pos, 0.0
        for edge in net.chain_edges[net.chain_ptr[chain] : net.chain_ptr[chain + 1]]:
            part = min(left, float(net.edge_time_s[edge]))
            want += part / factors[net.edge_class[edge]]
            left -= part
        assert mapped == pytest.approx(want, abs=1e-6)
    unplaced = times.positions_s(np.array([-1]), np.array([3.0]))
    np.testing.assert_array_equal(unplaced, [3.0])


def test_eta_at_uses_the_profile_hour(tmp_path, grid_graph, monkeypatch):
    """dispatch-engine eta --at: slower in the profile's rush hour than at night."""
    network_path = tmp_path / "grid.npz"
    compile_graph(grid_graph).save(network_path)
    slow = {"weekday": RUSH}
    profile = _write(
        tmp_path,
        {"name": "t", "classes": {c: slow for c in ("primary", "residential", "unclassified")}},
    )
    monkeypatch.setenv("DISPATCH_NETWORK", str(network_path))
    monkeypatch.setenv("DISPATCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("DISPATCH_SPEED_PROFILE", str(profile))
    runner = CliRunner()

    def eta(at: str) -> dict:
        result = runner.invoke(
            app, ["eta", "--from", "24.805,113.585", "--to", "24.82,113.60", "--at", at, "--json"]
        )
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    rush, night = eta("2026-03-02T08:10"), eta("2026-03-02T03:00")
    assert rush["seconds"] > night["seconds"] * 1.5
    assert rush["at"] == "2026-03-02T08:10:00+08:00"
    assert rush["meters"] > 0 and not rush["estimate"]


def test_prepare_week_readies_each_distinct_hour_once(grid_graph):
    """Every hour's state is ready after ``prepare_week`` (no new state on any query) and
    answers as a state made on demand does; hours with equal factors share one."""
    from dispatch_engine.network.engine import RoadEngine

    network = compile_graph(grid_graph)
    profile = SpeedProfile(
        "t",
        SHANGHAI,
        {"primary": np.array(RUSH * 7), "residential": np.array([0.8] * 24 * 5 + [1.0] * 48)},
    )
    engine = RoadEngine(network, snap_max_m=2000.0, offroad_speed_kph=15.0, profile=profile)
    fresh = RoadEngine(network, snap_max_m=2000.0, offroad_speed_kph=15.0, profile=profile)
    count = engine.prepare_week()
    monday = datetime(2026, 3, 2, tzinfo=SHANGHAI)
    hours = [monday + timedelta(hours=h) for h in range(168)]
    distinct = {tuple(engine.traffic.speed_factors(at).tolist()) for at in hours}
    assert count == len(distinct)
    free_flow = (1.0,) * len(network.road_classes)  # made at construction, for ``at=None``
    assert set(engine._states) == distinct | {free_flow}
    points = engine.locate(np.array([24.805, 24.82]), np.array([113.585, 113.60]))
    for at in hours[::7]:
        before = len(engine._states)
        np.testing.assert_array_equal(
            engine.many_to_many(points, points, at=at), fresh.many_to_many(points, points, at=at)
        )
        assert len(engine._states) == before

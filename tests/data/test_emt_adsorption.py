"""emt-adsorption: deterministic, cached, physical energies, CGCNN graph shapes."""

from __future__ import annotations

import numpy as np
import pytest

from hpotk.data import _crystal_graph as cg
from hpotk.data import emt_adsorption as emt
from hpotk.errors import ConfigError

SIZE = 40


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("emt-cache")


@pytest.fixture(scope="module")
def dataset(data_dir):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HPOTK_DATA_DIR", str(data_dir))
        return emt.build(size=SIZE, seed=3, workers=2)


def test_first_build_generates_second_hits_the_cache(dataset, data_dir, monkeypatch):
    monkeypatch.setenv("HPOTK_DATA_DIR", str(data_dir))
    assert not dataset.cache_hit
    assert dataset.cache_path.startswith(str(data_dir))

    def must_not_run(**_):
        raise AssertionError("generated again although cached")

    monkeypatch.setattr(emt, "generate", must_not_run)
    again = emt.build(size=SIZE, seed=3)
    assert again.cache_hit and again.cache_path == dataset.cache_path
    np.testing.assert_array_equal(again.energies, dataset.energies)
    # split parameters are applied at load time: same cache file, other split
    other = emt.build(size=SIZE, seed=3, val_fraction=0.3)
    assert other.cache_path == dataset.cache_path
    assert len(other.split["val"]) == 12


def test_generation_is_deterministic_whatever_the_worker_count(dataset):
    # the dataset was built by 2 worker processes; structures recomputed here, in this process
    for index in (0, 17, SIZE - 1):
        one = emt.one_structure(3, index, 6.0, 12, 10)
        assert one["energy"] == dataset.energies[index]
        assert one["record"] == dataset.records[index]
        np.testing.assert_array_equal(one["edge_index"], dataset.graphs[index].edge_index.numpy())


def test_other_parameters_are_another_cache_entry(data_dir, monkeypatch):
    from hpotk.data.cache import cache_path

    monkeypatch.setenv("HPOTK_DATA_DIR", str(data_dir))
    base = {"size": SIZE, "seed": 3, "cutoff": 6.0, "max_neighbors": 12, "relax_steps": 10}
    paths = {cache_path(emt.NAME, {**base, **change}, emt.FORMAT_VERSION)
             for change in ({}, {"seed": 4}, {"size": 41}, {"cutoff": 5.0},
                            {"max_neighbors": 8}, {"relax_steps": 0})}
    assert len(paths) == 6


def test_energies_are_physical(dataset):
    energies = dataset.energies
    assert np.all(np.isfinite(energies))
    assert np.all(energies < 0), "every adsorbate binds to the surface"
    assert energies.min() > -10
    assert np.std(energies) > 0.3
    forces = np.array([r["force_z"] for r in dataset.records])
    assert np.mean(np.abs(forces) < 0.05) > 0.9, "height relaxation converges"
    for r in dataset.records:
        assert r["host"] in emt.METALS and r["guest"] in emt.METALS and r["guest"] != r["host"]
        assert 0 <= r["substituted"] <= 4 and 0.8 < r["height"] < 3.0


def test_different_sites_give_different_energies():
    energy = {site: emt.adsorption_energy("Cu", "Au", [1, 2], "O", site)[1]
              for site in emt.SITES}
    assert energy["fcc"] < energy["ontop"], "O prefers the hollow site to ontop on Cu(111)"
    values = sorted(energy.values())
    assert all(b - a > 1e-6 for a, b in zip(values, values[1:], strict=False))
    assert energy["bridge"] - energy["fcc"] > 0.01 and energy["ontop"] - energy["bridge"] > 0.01


def test_relaxation_lowers_the_energy_and_substitution_changes_it():
    _, unrelaxed, r0 = emt.adsorption_energy("Pt", "Ni", [], "C", "ontop", relax_steps=0)
    _, relaxed, r1 = emt.adsorption_energy("Pt", "Ni", [], "C", "ontop", relax_steps=10)
    assert relaxed < unrelaxed and r0["evaluations"] == 1 and abs(r1["force_z"]) < 0.05
    _, substituted, _ = emt.adsorption_energy("Pt", "Ni", [0, 1, 2, 3], "C", "ontop")
    assert abs(substituted - relaxed) > 0.01


def test_graph_shapes_and_split(dataset):
    features = len(cg.ELEMENTS) + 4
    for graph, energy in zip(dataset.graphs, dataset.energies, strict=True):
        atoms = 4 * 3 + 1
        assert graph.x.shape == (atoms, features)
        assert graph.edge_index.shape == (2, atoms * 12)
        assert graph.edge_attr.shape == (atoms * 12,)
        assert float(graph.edge_attr.max()) <= 6.0 and float(graph.edge_attr.min()) > 0.5
        assert np.bincount(graph.edge_index[1].numpy(), minlength=atoms).tolist() == [12] * atoms
        assert graph.y.item() == pytest.approx(energy, abs=1e-5)
    parts = [set(dataset.split[k].tolist()) for k in ("train", "val", "test")]
    assert sum(map(len, parts)) == SIZE and set.union(*parts) == set(range(SIZE))
    assert len(dataset.split["test"]) == 6 and len(dataset.split["val"]) == 6


def test_periodic_images_are_neighbours():
    from ase.build import bulk

    copper = bulk("Cu", "fcc", a=3.6)  # one atom per cell: all neighbours are its own images
    edge_index, distance = cg.crystal_graph(copper, cutoff=3.0, max_neighbors=20)
    assert edge_index.shape == (2, 12) and np.allclose(distance, 3.6 / np.sqrt(2), atol=1e-5)
    edge_index, distance = cg.crystal_graph(copper, cutoff=4.0, max_neighbors=14)
    assert edge_index.shape == (2, 14) and np.allclose(distance[12:], 3.6, atol=1e-5)


def test_feature_table_one_hot_plus_properties():
    table = cg.atom_feature_table()
    assert table.shape == (len(cg.ELEMENTS), len(cg.ELEMENTS) + 4)
    np.testing.assert_array_equal(table[:, :len(cg.ELEMENTS)], np.eye(len(cg.ELEMENTS)))
    assert len({tuple(row) for row in table[:, len(cg.ELEMENTS):]}) == len(cg.ELEMENTS)


def test_prepare_reports_the_cost(monkeypatch, tmp_path):
    from hpotk.data import prepare

    monkeypatch.setenv("HPOTK_DATA_DIR", str(tmp_path))
    first = prepare("emt-adsorption", size=10, seed=0, workers=1)
    assert "built 10 structures" in first and "structures/s" in first
    assert str(tmp_path) in first and " MB)" in first
    assert "already cached" in prepare("emt-adsorption", size=10, seed=0)


@pytest.mark.parametrize(("params", "path", "words"), [
    ({"sise": 10}, "data.sise", "unknown option"),
    ({"size": 5}, "data.size", "at least 10"),
    ({"size": 10, "cutoff": -1.0}, "data.cutoff", "(0, 12]"),
    ({"size": 10, "test_fraction": 0.6, "val_fraction": 0.6}, "data.val_fraction", "below 0.9"),
    ({"size": "10"}, "data.size", "expected int"),
])
def test_bad_parameters_name_the_key(params, path, words):
    with pytest.raises(ConfigError) as info:
        emt.load({"name": "emt-adsorption", **params})
    assert info.value.path == path and words in str(info.value)


def test_unknown_dataset_lists_the_choices():
    from hpotk.data import prepare

    with pytest.raises(ConfigError, match="emt-adsorption"):
        prepare("emt-adsorbtion", size=10)

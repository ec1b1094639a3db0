"""superion from Python: parity with the CLI on the bundled data, scikit-learn parity
for the estimators, the ASE and pymatgen adapters, errors, and the GIL released."""
import gzip
import json
import os
import pathlib
import shutil
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import superion

ROOT = pathlib.Path(__file__).resolve().parents[2]
XDATCAR = ROOT / "data" / "Li6PS5Cl.XDATCAR.gz"
CLI = pathlib.Path(os.environ.get("SUPERION_CLI", ROOT / "target" / "release" / "superion"))


@pytest.fixture(scope="module")
def traj():
    return superion.read_trajectory(XDATCAR, timestep_fs=2, stride=50)


def cli(*args):
    """The CLI's JSON output (the release binary that `cargo test --release` built)."""
    if not CLI.exists():
        pytest.fail(f"{CLI} is missing: run `cargo build --release` first (the README's test command does)")
    out = subprocess.run([str(CLI), "--backend", "cpu", *map(str, args)], capture_output=True, check=True)
    return json.loads(out.stdout)


def test_trajectory_arrays(traj):
    assert (traj.n_frames, traj.n_atoms) == (140, 416)
    assert traj.positions.shape == (140, 416, 3) and traj.positions.dtype == np.float64
    assert traj.cells.shape == (140, 3, 3)
    assert traj.species.count("Li") == 192
    assert traj.dt_ps == pytest.approx(0.1)
    # Cartesian positions are the fractional ones times the cell.
    assert np.allclose(traj.positions[3], traj.frac[3].astype(np.float64) @ traj.cells[3])
    again = superion.Trajectory.from_arrays(traj.positions, traj.cells[0], traj.species, traj.dt_ps)
    assert np.allclose(again.positions, traj.positions, atol=1e-4)


def test_msd_matches_the_cli(traj):
    r = superion.msd(traj, "Li", backend="cpu")
    expected = cli("traj", "msd", XDATCAR, "--timestep-fs", 2, "--stride", 50, "--json")
    assert f"{r.d_cm2_s:.4e}" == "1.3568e-05"  # the CLI prints D = 1.3568e-5
    assert r.d_cm2_s == pytest.approx(expected["d_cm2_s"], rel=1e-12)
    assert r.d_err_cm2_s == pytest.approx(expected["d_err_cm2_s"], rel=1e-12)
    assert r.msd_a2.shape == r.dt_ps.shape == (139,)
    assert r.fit_start_ps == pytest.approx(expected["fit_start_ps"])
    assert "D = 1.3568e-5" in r._repr_html_()
    assert r.svg().startswith("<svg")
    d = r.to_dict()
    assert d["fit"]["d_cm2_s"] == r.d_cm2_s and d["msd_a2"].shape == (139,)
    # The diffusive-regime check, as the CLI reports it.
    assert r.diffusive and expected["diffusive"]
    assert r.loglog_exponent == pytest.approx(expected["loglog_exponent"], rel=1e-12)
    assert r.diffusive_note == expected["diffusive_note"]
    # The whole summary is the CLI's, field for field: Haven ratio, D_sigma, the
    # Nernst-Einstein conductivity and the notes included.
    r = superion.msd(traj, "li", temperature=750, backend="cpu")
    expected = cli("traj", "msd", XDATCAR, "--timestep-fs", 2, "--stride", 50,
                   "--temperature", 750, "--json")
    assert r.summary == expected
    assert r.conductivity["sigma_tracer_s_cm"] == expected["conductivity"]["sigma_tracer_s_cm"] > 0
    assert r.d_sigma_cm2_s == expected["d_sigma_cm2_s"] and r.notes == expected["notes"]
    assert r.to_dict()["summary"] == expected
    # msd_file with no memory or scratch takes the path the CLI takes (the library's
    # one policy; here: in memory) and returns exactly the CLI's summary.
    f = superion.msd_file(XDATCAR, "li", timestep_fs=2, stride=50, temperature=750,
                          backend="cpu")
    assert f.summary == expected
    s = superion.msd_file(XDATCAR, "Li", timestep_fs=2, stride=50, temperature=750,
                          memory=1 << 16, backend="cpu")
    # Streamed: the same numbers, bit for bit.
    assert s.conductivity["sigma_tracer_s_cm"] == expected["conductivity"]["sigma_tracer_s_cm"]
    # The CLI's checks, in the library: Python gets the same refusals.
    with pytest.raises(superion.InputError, match="option temperature must be positive"):
        superion.msd(traj, temperature=-3)
    with pytest.raises(superion.InputError, match="no default charge for Xe"):
        superion.msd(traj, "Xe", temperature=300)
    with pytest.raises(superion.InputError, match="option lags"):
        superion.msd(traj, lags="log:1")


def test_a_plateau_gets_no_d():
    # Atoms vibrating about fixed sites (0.05 A per axis): MSD flat at 0.015 A^2.
    rng = np.random.default_rng(3)
    home = rng.uniform(0, 10, (1, 30, 3))
    pos = home + 0.05 * rng.standard_normal((400, 30, 3))
    t = superion.Trajectory.from_arrays(pos, np.eye(3) * 10, ["Li"] * 30, 0.01)
    r = superion.msd(t, "Li", backend="cpu")
    assert not r.diffusive and np.isnan(r.d_cm2_s) and np.isnan(r.d_err_cm2_s)
    assert "t^" in r.diffusive_note or "1 A" in r.diffusive_note or "1 Å" in r.diffusive_note
    assert r.to_dict()["fit"]["d_cm2_s"] is None


def test_figures_are_the_clis(traj, tmp_path):
    """m.svg() and h.svg() are built as text (no temporary folder) and are the very
    figures `traj msd --out` and `traj hops --out` write."""
    subprocess.run([str(CLI), "--backend", "cpu", "traj", "msd", str(XDATCAR), "--timestep-fs",
                    "2", "--stride", "50", "--out", str(tmp_path / "m")], check=True,
                   capture_output=True)
    assert superion.msd(traj, "Li", backend="cpu").svg() == (tmp_path / "m" / "msd.svg").read_text()
    subprocess.run([str(CLI), "--backend", "cpu", "traj", "hops", str(XDATCAR), "--timestep-fs",
                    "2", "--stride", "50", "--out", str(tmp_path / "h")], check=True,
                   capture_output=True)
    h = superion.hops(traj, backend="cpu")
    assert h.svg() == (tmp_path / "h" / "sitemap.svg").read_text()


def test_hops_match_the_cli(traj):
    h = superion.hops(traj, species=["Li"], backend="cpu")
    expected = cli("traj", "hops", XDATCAR, "--timestep-fs", 2, "--stride", 50, "--json")
    assert h.mode == "sites"
    ev = h.events
    assert len(ev["ion"]) == len(expected["events"]) == expected["summary"]["events"]
    assert [int(i) for i in ev["ion"]] == [e["ion"] for e in expected["events"]]
    assert [int(i) for i in ev["start_frame"]] == [e["start_frame"] for e in expected["events"]]
    assert np.allclose(ev["length_a"], [e["length_a"] for e in expected["events"]])
    s = h.summary
    assert s["jumps"]["jumps"] == len(ev["ion"])
    assert 0.2 < s["jumps"]["tracer_over_jump"] < 1.0
    assert len(h.sites["label"]) == expected["summary"]["sites"]
    # IonDiff mode on Li: IonDiff 1.6's 10 events.
    i = superion.hops(traj, species=["Li"], mode="iondiff", backend="cpu")
    assert i.n_events == 10
    # Species as the CLI takes them: a str, a list, any case.
    assert superion.hops(traj, species="li", mode="iondiff", backend="cpu").n_events == 10
    # Site discovery's options as the CLI's, and the whole summary the CLI's.
    h = superion.hops(traj, saddle_fraction=1.0, single_radius=True, backend="cpu")
    expected = cli("traj", "hops", XDATCAR, "--timestep-fs", 2, "--stride", 50,
                   "--saddle-fraction", 1, "--single-radius", "--json")
    assert h.summary == expected["summary"]
    assert h.summary["options"]["sites"]["saddle_fraction"] == 1.0
    assert h.n_events == expected["summary"]["events"] != len(ev["ion"])
    with pytest.raises(superion.InputError, match="saddle"):
        superion.hops(traj, saddle_fraction=2.0, backend="cpu")
    # The collective-hop window as the CLI takes it.
    h = superion.hops(traj, collective_dt_ps=0.1, collective_dr_a=3.0, backend="cpu")
    expected = cli("traj", "hops", XDATCAR, "--timestep-fs", 2, "--stride", 50,
                   "--collective-dt-ps", 0.1, "--collective-dr-a", 3, "--json")
    assert h.summary == expected["summary"]
    # hops_file with no memory or scratch: the CLI's path and its whole summary.
    f = superion.hops_file(XDATCAR, timestep_fs=2, stride=50, collective_dt_ps=0.1,
                           collective_dr_a=3.0, backend="cpu")
    assert f.summary == expected["summary"]
    with pytest.raises(superion.InputError, match="collective_dt_ps"):
        superion.hops(traj, collective_dt_ps=-1, backend="cpu")


def test_a_format_added_in_one_file_reaches_python(tmp_path):
    """The engine's toy format (src/io/toy.rs plus one registry line; the test build
    has it): Python detects it by name and by content and takes format="toy", with no
    line of the binding naming it."""
    lines = ["TOYTRAJ 1", "cell 10 0 0 0 10 0 0 0 10"]
    for f in range(6):
        lines += [f"frame {2.0 * f}", f"Li {1.0 + 0.1 * f} 2 3", "S 5 5 5"]
    path = tmp_path / "walk.toy"
    path.write_text("\n".join(lines) + "\n")
    t = superion.read_trajectory(path)
    assert (t.n_frames, t.species, t.dt_ps) == (6, ["Li", "S"], 0.002)
    assert np.allclose(t.positions[:, 0, 0], [1.0 + 0.1 * f for f in range(6)], atol=1e-6)
    plain = tmp_path / "walk.dat"
    plain.write_text(path.read_text())
    assert superion.read_trajectory(plain, format="TOY").n_frames == 6
    m = superion.msd_file(plain, "Li", drift=False, backend="cpu")
    assert m.msd_a2[0] == pytest.approx(0.01, rel=1e-5)  # (0.1 Å per frame)^2
    with pytest.raises(superion.InputError, match="expected one of .*toy"):
        superion.read_trajectory(path, format="nope")


def test_species_and_type_maps_as_the_command_line_takes_them(traj):
    a = superion.msd(traj, "Li", backend="cpu").d_cm2_s
    assert superion.msd(traj, "li", backend="cpu").d_cm2_s == a
    assert superion.msd(traj, ["LI"], backend="cpu").d_cm2_s == a
    assert superion.msd(traj, backend="cpu").d_cm2_s == a  # Li by default
    with pytest.raises(superion.InputError, match="one species"):
        superion.msd(traj, ["Li", "S"], backend="cpu")
    with pytest.raises(superion.InputError, match="not a chemical element"):
        superion.msd(traj, "Lithium", backend="cpu")
    d = ROOT / "data" / "lammps" / "walk.lammpstrj.gz"
    want = superion.read_trajectory(d, timestep_fs=1, type_map={"1": "Li", "2": "S"}).species
    for tm in ({1: "Li", 2: "S"}, "1=Li,2=S"):
        assert superion.read_trajectory(d, timestep_fs=1, type_map=tm).species == want
    with pytest.raises(superion.InputError, match="type_map"):
        superion.read_trajectory(d, timestep_fs=1, type_map=["Li"])


def test_hops_with_known_sites_and_outputs(traj, tmp_path):
    h = superion.hops(traj, sites=ROOT / "data" / "sites" / "argyrodite.cif", supercell=(2, 2, 2), backend="cpu")
    assert h.n_events == 1353  # GEMDAT's count on this file (tests/sites.rs)
    written = h.write(tmp_path)
    assert "events.csv" in written and (tmp_path / "sites.vasp").is_file()
    # ASE (and so VESTA's POSCAR) opens the sites.
    ase_io = pytest.importorskip("ase.io")
    for name, fmt in (("sites.xyz", "extxyz"), ("sites.vasp", "vasp")):
        atoms = ase_io.read(tmp_path / name, format=fmt)
        assert len(atoms) == 384 and set(atoms.get_chemical_symbols()) == {"Li"}, name
        assert np.allclose(atoms.cell.lengths(), traj.cells[0].diagonal(), atol=1e-4)
    pd = pytest.importorskip("pandas")
    df = h.to_pandas()
    assert isinstance(df, pd.DataFrame) and len(df) == 1353
    assert set(df["jump_type"]) >= {"48h-48h 1.92 Å", "48h-48h 2.97 Å"}


def test_hops_file_streams_with_the_in_memory_jumps(traj, tmp_path):
    """hops_file reads the trajectory as a stream (atom windows within `memory`,
    scratch in `scratch`) and finds hops(read_trajectory(...))'s jumps."""
    whole = superion.hops(traj, sites=ROOT / "data" / "sites" / "argyrodite.cif",
                          supercell=(2, 2, 2), backend="cpu")
    s = superion.hops_file(XDATCAR, sites=ROOT / "data" / "sites" / "argyrodite.cif",
                           supercell=(2, 2, 2), timestep_fs=2, stride=50, memory=1 << 16,
                           scratch=tmp_path, backend="cpu")
    assert s.n_events == whole.n_events == 1353
    for k in ("ion", "start_frame", "end_frame", "from_site", "to_site"):
        assert np.array_equal(s.events[k], whole.events[k]), k
    assert s.summary["jumps"]["d_jump_cm2_s"] == whole.summary["jumps"]["d_jump_cm2_s"]
    assert s.summary["jumps"]["d_tracer_cm2_s"] == whole.summary["jumps"]["d_tracer_cm2_s"]
    assert list(tmp_path.iterdir()) == []  # the scratch files are gone
    with pytest.raises(superion.InputError, match="no Na atoms"):
        superion.hops_file(XDATCAR, species=["Na"], timestep_fs=2, stride=50)


def test_from_ase_equals_reading_the_file(traj, tmp_path):
    ase_io = pytest.importorskip("ase.io")
    plain = tmp_path / "XDATCAR"
    with gzip.open(XDATCAR) as src, open(plain, "wb") as dst:
        shutil.copyfileobj(src, dst)
    frames = ase_io.read(plain, index=":", format="vasp-xdatcar")
    t = superion.Trajectory.from_ase(frames, timestep_fs=2, stride=50)
    assert t.species == traj.species and t.dt_ps == pytest.approx(traj.dt_ps)
    d = t.frac.astype(np.float64) - traj.frac.astype(np.float64)
    assert np.abs(d - np.round(d)).max() < 1e-5
    assert superion.msd(t, backend="cpu").d_cm2_s == pytest.approx(superion.msd(traj, backend="cpu").d_cm2_s, rel=1e-4)


class _Specie:
    def __init__(self, s):
        self.symbol = s


class _Site:
    def __init__(self, s):
        self.specie = _Specie(s)


class _Lattice:
    def __init__(self, m):
        self.matrix = m


class _Structure:
    """What Trajectory.from_pymatgen reads of a pymatgen Structure."""

    def __init__(self, cart, lattice, species):
        self.cart_coords = cart
        self.lattice = _Lattice(lattice)
        self._sites = [_Site(s) for s in species]

    def __iter__(self):
        return iter(self._sites)


def test_from_pymatgen_equals_reading_the_file(traj):
    frames = [_Structure(traj.positions[f], traj.cells[f], traj.species) for f in range(traj.n_frames)]
    t = superion.Trajectory.from_pymatgen(frames, timestep_fs=2, stride=50)
    assert t.species == traj.species
    assert np.allclose(t.positions, traj.positions, atol=1e-4)


def test_from_real_pymatgen_structures(traj):
    mg = pytest.importorskip("pymatgen.core", reason="pymatgen is optional and not installed")
    s = [mg.Structure(mg.Lattice(traj.cells[f]), traj.species, traj.positions[f], coords_are_cartesian=True)
         for f in range(3)]
    t = superion.Trajectory.from_pymatgen(s, timestep_fs=2, stride=50)
    assert np.allclose(t.positions, traj.positions[:3], atol=1e-4)


def blobs(n=600, d=5, k=4, seed=3):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 6, (k, d))
    return np.concatenate([c + rng.normal(0, 1, (n // k, d)) for c in centres])


def test_kmeans_and_silhouettes_agree_with_definitions():
    X = blobs()
    km = superion.KMeans(4, random_state=0, backend="cpu").fit(X)
    d = ((X[:, None] - km.cluster_centers_[None]) ** 2).sum(-1)
    assert (km.labels_ == d.argmin(1)).all()
    assert km.inertia_ == pytest.approx(d.min(1).sum(), rel=1e-5)
    assert (km.predict(X) == km.labels_).all()
    # The silhouette from its definition.
    D = np.sqrt(((X[:, None] - X[None]) ** 2).sum(-1))
    lab = km.labels_
    a = np.array([D[i, lab == lab[i]].sum() / ((lab == lab[i]).sum() - 1) for i in range(len(X))])
    b = np.array([min(D[i, lab == c].mean() for c in set(lab) if c != lab[i]) for i in range(len(X))])
    s = (b - a) / np.maximum(a, b)
    assert np.allclose(superion.silhouette_samples(X, lab, backend="cpu"), s, atol=1e-5)
    assert superion.silhouette_score(X, lab, backend="cpu") == pytest.approx(s.mean(), abs=1e-6)
    ag = superion.AgglomerativeClustering(4, backend="cpu").fit(X)
    assert ag.n_clusters_ == 4


def test_estimators_match_scikit_learn():
    sk = pytest.importorskip("sklearn.cluster")
    from sklearn.metrics import adjusted_rand_score, silhouette_score

    X = blobs(800, 8, 5, seed=11)
    ours = superion.KMeans(5, n_init=10, random_state=0, backend="cpu").fit(X)
    theirs = sk.KMeans(5, n_init=10, random_state=0).fit(X)
    assert adjusted_rand_score(ours.labels_, theirs.labels_) == pytest.approx(1.0)
    assert ours.inertia_ == pytest.approx(theirs.inertia_, rel=1e-5)
    assert superion.silhouette_score(X, theirs.labels_, backend="cpu") == pytest.approx(
        silhouette_score(X, theirs.labels_), abs=1e-5)
    wa = sk.AgglomerativeClustering(5, linkage="ward").fit(X)
    assert adjusted_rand_score(superion.AgglomerativeClustering(5, backend="cpu").fit_predict(X), wa.labels_) == 1.0


def test_phonon_features_of_the_bundled_examples():
    f = superion.phonon_features(ROOT / "data" / "phonopy", legacy=True)
    assert len(f) == 6 and f.failures == []
    i = f.columns["formula"].index("LiF")
    assert f.columns["li_centre_thz"][i] == pytest.approx(10.696, abs=1e-3)  # data/README.md


def test_structure_features_are_the_command_lines(tmp_path):
    import csv

    # Li2S (antifluorite, a = 5.71 A): S on the fcc sites, Li in every tetrahedral hole.
    s = [(0, 0, 0), (0, .5, .5), (.5, 0, .5), (.5, .5, 0)]
    li = [((x + d) % 1, (y + d) % 1, (z + d) % 1) for d in (.25, .75) for (x, y, z) in s]
    poscar = tmp_path / "POSCAR"
    poscar.write_text("Li2S\n1.0\n5.71 0 0\n0 5.71 0\n0 0 5.71\nLi S\n8 4\nDirect\n"
                      + "".join(f"{x} {y} {z}\n" for x, y, z in li + s))
    f = superion.structure_features(poscar, backend="cpu")
    assert len(f) == 1 and f.failures == []
    out = tmp_path / "cli"
    subprocess.run([str(CLI), "--backend", "cpu", "structure", "features", str(poscar), "--out",
                    str(out)], capture_output=True, check=True)
    with open(out / "features.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == list(f.columns)
    for name, cell in rows[0].items():
        got = f.columns[name][0]
        if name in ("id", "formula", "anion", "oxidation_states", "source"):
            assert got == cell, name
        elif cell == "":
            assert got is None, name
        else:
            assert got == float(cell), name
    assert f.columns["formula"] == ["Li2S"] and f.columns["li_coordination"] == [4.0]
    assert f.columns["li_li_min_a"][0] == pytest.approx(5.71 / 2)
    # bvlain 0.25.1 on the same structure (benches/peers/bvlain_bvse.py): 0.3418 eV,
    # within its 0.0098 eV bisection step.
    assert f.columns["bvse_e3d_ev"][0] == pytest.approx(0.3418, abs=0.01)
    with pytest.raises(superion.InputError, match="spacing"):
        superion.structure_features(poscar, spacing=0.001)
    with pytest.raises(superion.InputError, match="framework"):
        superion.structure_features(poscar, framework="random")


def test_bad_input_raises_located_errors(tmp_path):
    with pytest.raises(OSError) as e:
        superion.read_trajectory(tmp_path / "nothere.XDATCAR")
    assert isinstance(e.value, superion.FileError) and "nothere.XDATCAR" in str(e.value)
    bad = tmp_path / "bad.xyz"
    bad.write_text("2\nLattice=\"5 0 0 0 5 0 0 0 5\" Properties=species:S:1:pos:R:3\nLi 0 0 0\nLi 1 one 1\n")
    with pytest.raises(ValueError) as e:
        superion.read_trajectory(bad)
    assert isinstance(e.value, superion.InputError) and "bad.xyz:4" in str(e.value)
    t = superion.Trajectory.from_arrays(np.zeros((5, 2, 3)), np.eye(3) * 5, ["Li", "S"], 0.1)
    with pytest.raises(superion.InputError, match="no Na atoms"):
        superion.msd(t, "Na", backend="cpu")
    with pytest.raises(superion.InputError, match="species"):
        superion.Trajectory.from_arrays(np.zeros((5, 2, 3)), np.eye(3), ["Li"], 0.1)
    with pytest.raises(superion.InputError, match="mode"):
        superion.hops(t, mode="magic")


def test_the_gil_is_released_during_compute(traj):
    done = threading.Event()
    counter = [0]

    def spin():
        while not done.is_set():
            counter[0] += 1

    th = threading.Thread(target=spin)
    th.start()
    t0 = time.perf_counter()
    superion.hops(traj, backend="cpu")
    superion.msd(traj, backend="cpu")
    elapsed = time.perf_counter() - t0
    before = counter[0]
    done.set()
    th.join()
    # A thread that needs the GIL kept running all through the calls.
    assert before > 1000, (before, elapsed)


def test_readme_example_runs(tmp_path):
    """The README's Python walk-through, as written."""
    readme = (ROOT / "README.md").read_text()
    start = readme.index("```python\n", readme.index("## Python")) + len("```python\n")
    code = readme[start:readme.index("```", start)]
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        exec(compile(code, "README.md", "exec"), {})
    finally:
        os.chdir(cwd)


def test_ctrl_c_interrupts_a_long_call(traj):
    import signal

    # Ctrl-C every 50 ms until one lands (a single early one can be lost to the
    # scheduler on a loaded machine); the first raises, later ones are ignored.
    main = threading.main_thread().ident
    raised = []

    def once(signum, frame):
        if not raised:
            raised.append(signum)
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, once)
    stop = threading.Event()

    def pester():
        while not stop.wait(0.05):
            signal.pthread_kill(main, signal.SIGINT)

    sender = threading.Thread(target=pester)
    sender.start()
    t0 = time.perf_counter()
    try:
        with pytest.raises(KeyboardInterrupt):
            for _ in range(50):  # far longer than 0.05 s in all
                superion.hops(traj, backend="cpu")
        # A bounded wait, not a speed claim: 50 calls would take far longer.
        waited = time.perf_counter() - t0
        assert waited < 5.0, f"Ctrl-C took {waited:.1f} s to stop the calls"
    finally:
        stop.set()
        sender.join()
        signal.signal(signal.SIGINT, previous)


STUDY = ROOT.parent / "shared" / "data" / "urop"
if os.environ.get("SUPERION_REQUIRE_SHARED") == "1" and not STUDY.is_dir():
    raise RuntimeError(f"SUPERION_REQUIRE_SHARED=1 but {STUDY} is absent")


@pytest.mark.skipif(not STUDY.is_dir(), reason="the study tables are in ../shared/data/urop (beside the checkout)")
@pytest.mark.parametrize("table", ["data_small.csv", "data_big.csv"])
def test_kmeans_and_silhouette_match_scikit_learn_on_the_study_tables(table):
    sk = pytest.importorskip("sklearn.cluster")
    from sklearn.metrics import adjusted_rand_score, silhouette_samples
    from sklearn.preprocessing import StandardScaler

    import csv

    with open(STUDY / table) as f:
        rows = list(csv.DictReader(f))
    X = np.array([[float(r["fav"]), float(r["298"]), float(r["first_f_a"]), float(r["relative_w"])] for r in rows])
    X = StandardScaler().fit_transform(X)
    # Both are Lloyd's local optima from different random streams; with 50 restarts
    # superion's is as good as scikit-learn's or better, and where the two reach the
    # same inertia they are the same partition.
    for k in (2, 3, 4, 5):
        ours = superion.KMeans(k, n_init=50, random_state=0, backend="cpu").fit(X)
        theirs = sk.KMeans(k, n_init=50, random_state=0).fit(X)
        assert ours.inertia_ <= theirs.inertia_ * (1 + 1e-6), (k, ours.inertia_, theirs.inertia_)
        if ours.inertia_ == pytest.approx(theirs.inertia_, rel=1e-6):
            assert adjusted_rand_score(ours.labels_, theirs.labels_) > 0.99, k
        assert np.allclose(superion.silhouette_samples(X, theirs.labels_, backend="cpu"),
                           silhouette_samples(X, theirs.labels_), atol=1e-5)


def test_frames_are_chosen_as_a_slice(traj):
    part = superion.read_trajectory(XDATCAR, timestep_fs=2, stride=50, start=20, stop=120, every=2)
    assert part.n_frames == 50
    assert abs(part.dt_ps - 0.2) < 1e-12
    with pytest.raises(superion.InputError, match="140 frames"):
        superion.read_trajectory(XDATCAR, timestep_fs=2, stride=50, start=500)


def test_a_converted_trajectory_is_read_by_ase_as_superion_read_it(tmp_path, traj):
    ase_io = pytest.importorskip("ase.io")
    out = tmp_path / "li.extxyz"
    subprocess.run([str(CLI), "--backend", "cpu", "traj", "convert", str(XDATCAR), "--timestep-fs", "2",
                    "--stride", "50", "--every", "10", "--out", str(out)], check=True, capture_output=True)
    frames = ase_io.read(str(out), index=":")
    assert len(frames) == 14 and len(frames[0]) == 416
    assert [f.info["time"] for f in frames[:3]] == [0, 1000, 2000]  # fs
    part = superion.read_trajectory(XDATCAR, timestep_fs=2, stride=50, every=10)
    ase_pos = np.stack([f.positions for f in frames])
    assert np.abs(part.positions - ase_pos).max() < 1e-4
    assert np.abs(part.cells - np.stack([f.cell.array for f in frames])).max() < 1e-5


def test_ase_traj_reads_as_ase_reads_it(tmp_path):
    """A .traj written by ASE here, read by superion and by ASE."""
    ase = pytest.importorskip("ase")
    from ase.io.trajectory import Trajectory as AseTrajectory

    rng = np.random.default_rng(3)
    cell = np.array([[8.0, 0.0, 0.0], [1.0, 9.0, 0.0], [0.5, -0.5, 7.5]])
    frames = []
    frac = rng.random((10, 3))
    for f in range(12):
        frac = frac + rng.normal(0, 0.01, frac.shape)
        a = ase.Atoms("Li6S4", scaled_positions=frac, cell=cell, pbc=True)
        a.set_momenta(rng.normal(0, 1, (10, 3)))
        frames.append(a)
    path = tmp_path / "md.traj"
    with AseTrajectory(str(path), "w") as t:
        for a in frames:
            t.write(a)
    ours = superion.read_trajectory(path, timestep_fs=1.0, stride=5)
    assert ours.n_frames == 12 and abs(ours.dt_ps - 0.005) < 1e-12
    theirs = [a for a in AseTrajectory(str(path))]
    assert np.abs(ours.positions - np.stack([a.positions for a in theirs])).max() < 1e-4
    assert np.abs(ours.cells - np.stack([a.cell.array for a in theirs])).max() < 1e-5
    assert list(ours.species) == theirs[0].get_chemical_symbols()


def test_a_lammps_dcd_reads_with_its_topology():
    """The DCD LAMMPS wrote (data/lammps) named by its data file, as MDAnalysis reads
    it (walk.mda.csv) and as LAMMPS's text dump of the same frames."""
    d = ROOT / "data" / "lammps"
    t = superion.read_trajectory(d / "walk.dcd", timestep_fs=1, topology=d / "walk.data")
    assert (t.n_frames, t.n_atoms) == (61, 60) and t.dt_ps == pytest.approx(0.02)
    assert t.species.count("Li") == 36 and t.species.count("S") == 24
    text = superion.read_trajectory(d / "walk.lammpstrj.gz", timestep_fs=1, type_map={"1": "Li", "2": "S"})
    assert text.species == t.species
    rows = np.genfromtxt(d / "walk.mda.csv", delimiter=",", skip_header=1)
    for frame in (0, 30, 60):
        want = rows[rows[:, 0] == frame][:, 3:6]
        cell = t.cells[frame]
        # Same points up to a lattice translation (superion wraps into the cell).
        f = (t.positions[frame] - want) @ np.linalg.inv(cell)
        assert np.abs((f - np.round(f)) @ cell).max() < 3e-4
    with pytest.raises(superion.InputError, match="topology"):
        superion.read_trajectory(d / "walk.dcd", timestep_fs=1)


def test_vasprun_reads_as_ase_reads_it():
    """VASP's vasprun.xml (data/vasprun: a variable-cell relaxation) as ASE reads it,
    cell and positions of every ionic step; a relaxation's steps are no time."""
    import ase.io

    path = ROOT / "data" / "vasprun" / "vasprun.xml"
    t = superion.read_trajectory(path, timestep_fs=1)
    images = ase.io.read(path, index=":", format="vasp-xml")
    assert (t.n_frames, t.n_atoms) == (len(images), 8) == (19, 8)
    assert t.species == images[0].get_chemical_symbols()
    for k, atoms in enumerate(images):
        assert np.abs(t.cells[k] - atoms.cell.array).max() < 1e-6
        f = (t.positions[k] - atoms.positions) @ np.linalg.inv(atoms.cell.array)
        assert np.abs((f - np.round(f)) @ atoms.cell.array).max() < 1e-5
    with pytest.raises(superion.InputError, match="IBRION = 1, a relaxation"):
        superion.read_trajectory(path)


def test_msd_file_streams_with_the_in_memory_numbers(traj, tmp_path):
    """msd_file reads the trajectory as a stream (atom windows within `memory`,
    scratch in `scratch`) and gives msd(read_trajectory(...))'s numbers."""
    whole = superion.msd(traj, "Li", backend="cpu")
    s = superion.msd_file(XDATCAR, "Li", timestep_fs=2, stride=50, memory=1 << 16,
                          scratch=tmp_path, backend="cpu")
    assert s.d_cm2_s == whole.d_cm2_s and s.d_err_cm2_s == whole.d_err_cm2_s
    assert np.array_equal(s.msd_a2, whole.msd_a2)  # bit for bit
    assert list(tmp_path.iterdir()) == []  # the scratch files are gone
    d = ROOT / "data" / "lammps"
    t = superion.read_trajectory(d / "walk.dcd", timestep_fs=1, topology=d / "walk.data")
    s = superion.msd_file(d / "walk.lammpstrj.gz", timestep_fs=1, type_map={"1": "Li", "2": "S"})
    assert s.d_cm2_s == pytest.approx(superion.msd(t, "Li", backend="cpu").d_cm2_s, rel=1e-4)


def test_no_mesa_runtime_dir_warning_without_xdg_runtime_dir():
    """The module sets up the GPU environment itself, as the CLI does (issue 31: every
    Python call printed Mesa's 'XDG_RUNTIME_DIR is invalid' unless the user set it)."""
    env = {k: v for k, v in os.environ.items() if k != "XDG_RUNTIME_DIR"}
    code = (
        "import numpy as np, superion\n"
        "x = np.arange(40, dtype=np.float64).reshape(20, 2)\n"
        "for b in ('auto', 'gpu'):\n"
        "    try:\n"
        "        superion._superion.kmeans(x, 2, backend=b)\n"
        "    except superion.DeviceError:\n"
        "        pass\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
    assert "XDG_RUNTIME_DIR" not in out.stderr, out.stderr


def _all_input_errors(code: str, n: int) -> list:
    """Run `code` in a fresh interpreter: it prints a line per case; all `n` must start
    with "InputError" and nothing may panic."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == n and all(l.startswith("InputError") for l in lines), out.stdout
    assert "panicked" not in out.stderr, out.stderr
    return lines


def test_bombs_raise_input_error_in_bounded_memory(tmp_path):
    """Inputs whose headers claim huge sizes raise InputError in a process capped at
    1 GiB of address space: nothing that size is allocated (issue 31: they killed the
    interpreter with SIGABRT)."""
    head = gzip.open(XDATCAR, "rt").read().splitlines()[: 7 + 2 * 417]
    head[6] = " 1000000000000 32 160 32"
    (tmp_path / "XDATCAR").write_text("\n".join(head) + "\n")
    with gzip.open(tmp_path / "line.extxyz.gz", "wb", compresslevel=1) as f:
        for _ in range(512):
            f.write(b"a" * (1 << 20))
    (tmp_path / "vel.extxyz").write_text(
        '2\nLattice="5 0 0 0 5 0 0 0 5" Properties=species:S:1:pos:R:3:vel:R:4294967296\n'
        "Li 0 0 0 0 0 0\nLi 1 1 1 0 0 0\n"
    )
    h5 = ROOT / "tests" / "fuzz-regressions" / "H5MD" / "huge-frames.h5md"
    pdb = ROOT / "data" / "xtc" / "test_topology.pdb"
    code = f"""
import resource, superion
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, resource.RLIM_INFINITY))
cases = [
    dict(path={str(tmp_path / 'XDATCAR')!r}, timestep_fs=2, stride=1),
    dict(path={str(tmp_path / 'line.extxyz.gz')!r}, timestep_fs=1),
    dict(path={str(tmp_path / 'vel.extxyz')!r}, timestep_fs=1),
    dict(path={str(h5)!r}, topology={str(pdb)!r}, type_map='CA=Li'),
]
for c in cases:
    p = c.pop('path')
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        superion.read_trajectory(p, **c)
    except superion.InputError as e:
        grew = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
        print('InputError', round(grew), str(e)[:60])
    else:
        print('read')
"""
    lines = _all_input_errors(code, 4)
    # Each refused within 100 MB above what the interpreter had already used.
    assert all(int(l.split()[1]) < 100 for l in lines), lines


def test_option_bombs_raise_input_error_at_once():
    """Options that would size an allocation or a loop (restarts, clusters, lags, the time
    step, a supercell, a grid spacing, coordinates) raise InputError within 1 s in a
    process capped at 1 GiB of address space (issue 31; KMeans(n_init=10**9) aborted the
    interpreter asking for 36 GB, and 10**12 was an OverflowError)."""
    sites = ROOT / "data" / "sites" / "argyrodite.cif"
    code = f"""
import resource, time, numpy as np, superion
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, resource.RLIM_INFINITY))
x = np.random.default_rng(0).random((20, 3))
t = superion.read_trajectory({str(XDATCAR)!r}, timestep_fs=2, stride=50)
cases = [
    lambda: superion.KMeans(n_clusters=3, n_init=10**9).fit(x),
    lambda: superion.KMeans(n_clusters=3, n_init=10**12).fit(x),
    lambda: superion.KMeans(n_clusters=10**12).fit(x),
    lambda: superion.AgglomerativeClustering(n_clusters=10**9).fit(x),
    lambda: superion.msd(t, "Li", lags="log:1000000000000"),
    lambda: superion.read_trajectory({str(XDATCAR)!r}, timestep_fs=1e308, stride=50),
    lambda: superion.hops(t, "Li", sites={str(sites)!r}, supercell=(100000, 100000, 100000)),
    lambda: superion.structure_features([{str(sites)!r}], spacing=1e-9),
    lambda: superion.Trajectory.from_arrays(
        np.full((3, 2, 3), 1e40), np.tile(np.eye(3) * 10, (3, 1, 1)), ["Li", "Li"], dt_ps=0.1
    ),
]
for f in cases:
    t0 = time.perf_counter()
    try:
        f()
    except superion.InputError as e:
        print('InputError', round(time.perf_counter() - t0, 3), str(e)[:70])
    else:
        print('ran')
"""
    lines = _all_input_errors(code, 9)
    assert all(float(l.split()[1]) < 1.0 for l in lines), lines


def test_mutated_files_raise_superion_errors_only(tmp_path):
    """Seeded byte mutations of real files of several formats, read and analysed from
    Python: each reads or raises InputError/FileError, never another exception, a
    panic or an abort (the Rust suite's tests/fuzz.rs covers every reader; this is the
    Python path over the same readers)."""
    import random

    rng = random.Random(31)
    lines = gzip.open(XDATCAR, "rt").read().splitlines(keepends=True)[: 7 + 6 * 417]
    seeds = {
        "XDATCAR": ("".join(lines).encode(), dict(timestep_fs=2, stride=50)),
        "walk.extxyz": (
            b"".join((ROOT / "data" / "ase" / "walk.extxyz").read_bytes().splitlines(keepends=True)[: 4 * 26]),
            dict(timestep_fs=1),
        ),
        "walk.dcd": (
            (ROOT / "data" / "lammps" / "walk.dcd").read_bytes(),
            dict(timestep_fs=1, stride=20, topology=str(ROOT / "data" / "lammps" / "walk.data"), type_map="1=Li,2=S"),
        ),
        "walk.xtc": (
            (ROOT / "data" / "xtc" / "walk.xtc").read_bytes(),
            dict(topology=str(ROOT / "data" / "lammps" / "walk.data"), type_map="1=Li,2=S"),
        ),
    }
    outcomes = {"read": 0, "refused": 0}
    for name, (seed, kw) in seeds.items():
        for case in range(60):
            b = bytearray(seed)
            for _ in range(rng.randint(1, 3)):
                kind = rng.randrange(4)
                i = rng.randrange(len(b))
                if kind == 0:
                    b[i] ^= 1 << rng.randrange(8)
                elif kind == 1:
                    b[i : i + 1] = rng.choice([b"1e308", b"nan", b"-1", b"4294967296", b"\n", b"\xff"])
                elif kind == 2:
                    del b[i : i + rng.randint(1, 256)]
                else:
                    del b[i:]
                if not b:
                    b = bytearray(b"1")
            p = tmp_path / f"{case}" / name
            p.parent.mkdir(exist_ok=True)
            p.write_bytes(bytes(b))
            try:
                t = superion.read_trajectory(p, **kw)
                superion.msd(t, "Li", backend="cpu")
                outcomes["read"] += 1
            except (superion.InputError, superion.FileError):
                outcomes["refused"] += 1
    assert sum(outcomes.values()) == 240


def test_batch_from_python_is_the_cli_batch(tmp_path):
    """Planning, running, merging and status from Python (superion.batch_*) are the
    library's batch module, the one `superion batch` calls: the same plan, the same
    results folders, the same merged table as the CLI's batch and as a single-process
    run; a shard run through a Python callable gives the same table (issue 32)."""
    cli = os.environ.get("SUPERION_CLI")
    if not cli:
        pytest.skip("SUPERION_CLI not set (python/run-tests.sh sets it)")
    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        f"command: phonon features\ninputs: [{ROOT / 'data' / 'phonopy'}]\n"
    )
    plan = superion.batch_plan(manifest, 2, tmp_path / "py")
    assert plan["kind"] == "phonon-features" and len(plan["shards"]) == 2
    assert superion.batch_status(tmp_path / "py")["pending"] == len(plan["inputs"])
    # Shard 0 through the executable, shard 1 through a Python callable.
    r0 = superion.batch_run(tmp_path / "py", 0, cli=cli)
    calls = []

    def run(argv):
        calls.append(argv)
        subprocess.run([cli] + argv[1:], check=True, capture_output=True)

    r1 = superion.batch_run(tmp_path / "py", 1, backend="cpu", run=run)
    assert r0["computed"] + r1["computed"] == len(plan["inputs"]) and not r0["failures"]
    assert calls and calls[0][:4] == ["superion", "--backend", "cpu", "phonon"]
    # A second run skips what is done.
    assert superion.batch_run(tmp_path / "py", 0, cli=cli)["skipped"] == r0["inputs"]
    merged = superion.batch_merge(tmp_path / "py")
    assert merged["ok"] == len(plan["inputs"]) and merged["pending"] == 0
    status = superion.batch_status(tmp_path / "py")
    cli_status = json.loads(
        subprocess.run([cli, "batch", "status", str(tmp_path / "py"), "--json"],
                       check=True, capture_output=True, text=True).stdout
    )
    assert status == cli_status and status["merged"]
    # The CLI's batch of the same manifest, and a single-process run.
    subprocess.run([cli, "batch", "plan", str(manifest), "--shards", "2", "--out", str(tmp_path / "cli")],
                   check=True, capture_output=True)
    for s in ("0", "1"):
        subprocess.run([cli, "--backend", "cpu", "batch", "run", str(tmp_path / "cli"), "--shard", s],
                       check=True, capture_output=True)
    subprocess.run([cli, "batch", "merge", str(tmp_path / "cli")], check=True, capture_output=True)
    subprocess.run([cli, "--backend", "cpu", "phonon", "features", str(ROOT / "data" / "phonopy"),
                    "--out", str(tmp_path / "single.csv")], check=True, capture_output=True)
    py_table = (tmp_path / "py" / "merged" / "features.csv").read_text()
    assert py_table == (tmp_path / "cli" / "merged" / "features.csv").read_text()
    rows = lambda t: sorted(t.splitlines()[1:])
    assert rows(py_table) == rows((tmp_path / "single.csv").read_text())
    # Slurm scripts name the executable, quoted; a bad partition is an InputError.
    s = superion.batch_slurm(tmp_path / "py", cli=cli, partition="debug")
    assert s["tasks"] == 2 and os.path.realpath(cli) in open(s["array"]).read()
    with pytest.raises(superion.InputError, match="--partition|partition"):
        superion.batch_slurm(tmp_path / "py", cli=cli, partition="a$(id)")
    with pytest.raises(superion.InputError, match="not a batch run directory"):
        superion.batch_status(tmp_path)



def test_batch_run_failures_and_ctrl_c_from_a_callable(tmp_path):
    """A callable's exception is that input's failure (recorded, the shard goes on);
    KeyboardInterrupt stops the shard at once, is raised, and leaves the input pending,
    so a rerun computes it."""
    manifest = tmp_path / "m.yaml"
    manifest.write_text(f"command: phonon features\ninputs: [{ROOT / 'data' / 'phonopy'}]\n")
    plan = superion.batch_plan(manifest, 1, tmp_path / "run")
    n = len(plan["inputs"])
    assert n >= 3

    def fail(argv):
        raise RuntimeError("no such luck")

    r = superion.batch_run(tmp_path / "run", 0, run=fail)
    assert r["failed"] == n and "no such luck" in r["failures"][0][1]
    st = superion.batch_status(tmp_path / "run")
    assert st["failed"] == n and st["pending"] == 0

    calls = []

    def interrupt(argv):
        calls.append(argv)
        if len(calls) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        superion.batch_run(tmp_path / "run", 0, run=interrupt)
    assert len(calls) == 2  # stopped at the second input, not after every input
    st = superion.batch_status(tmp_path / "run")
    # The first input was rerun and is done (the callable wrote nothing, which
    # counts as done here); the second is still failed from the first run, never
    # marked anything by the interrupted one; the rest are untouched.
    assert st["done"] == 1 and st["failed"] == n - 1
    assert not any(p.name.startswith(".") for p in (tmp_path / "run" / "results").iterdir())

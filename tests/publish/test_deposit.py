"""deposit: a snapshot as a BagIt bag with a DataCite record; `verify` recognises the bag and names faults."""

from __future__ import annotations

import filecmp
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.publish.conftest import append_batch, cli_env, record
from toolkit.core.errors import NewsarchiveError
from toolkit.publish import deposit, publish, verify_bag

ORCID = "0000-0002-1825-0097"  # ORCID's own example iD, with a valid check digit
DEPOSIT_FIELDS = (
    'publisher = "Test Archive Press"\n'
    '[contact]\nname = "Data Desk"\nemail = "data@example.org"\n'
    '[[creators]]\nname = "Carberry, Josiah"\ngiven_name = "Josiah"\nfamily_name = "Carberry"\n'
    f'orcid = "{ORCID}"\naffiliation = "Example University"\n'
    '[[creators]]\nname = "Newsroom Lab"\ntype = "Organizational"\n'
)
RECIPE_HEAD = (
    'name = "maghress-test"\n'
    'pretty_name = "Maghress test articles"\n'
    'description = "Moroccan news in French and Arabic, collected through Maghress."\n'
    'license = "CC-BY-4.0"\n'
    'languages = ["fr", "ar"]\n'
    'tags = ["news", "morocco"]\n'
)


def write_recipe(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dataset.toml").write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def made(tmp_path_factory, _offline):
    """One snapshot (published with --repo-id) and one bag of it, shared by the read-only tests."""
    base = tmp_path_factory.mktemp("deposit")
    append_batch(base / "archive", [record(i) for i in range(20)], "batch-0001")
    recipe = write_recipe(base / "datasets" / "maghress-test", RECIPE_HEAD + DEPOSIT_FIELDS)
    snapshot = publish(str(base / "archive"), "v1.0.0", base / "snapshots" / "v1.0.0", dataset=recipe,
                       repo_id="maghress/news").path
    bag = deposit(snapshot, base / "deposits" / "v1.0.0", dataset=recipe)
    return base, recipe, snapshot, bag


@pytest.fixture
def bag_copy(made, tmp_path) -> Path:
    target = tmp_path / "bag"
    shutil.copytree(made[3].path, target)
    return target


def test_the_bag_validates_with_bagit_and_its_command_line(made):
    import bagit

    bag_dir = made[3].path
    bag = bagit.Bag(str(bag_dir))
    assert bag.validate(processes=1)
    assert bag.tags["BagIt-Version"] == "1.0"
    assert sorted(bag.algorithms) == ["sha256", "sha512"]
    script = Path(sys.executable).parent / "bagit.py"
    done = subprocess.run([str(script), "--validate", str(bag_dir)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "is valid" in done.stderr
    for name in ("manifest-sha256.txt", "manifest-sha512.txt", "tagmanifest-sha256.txt", "tagmanifest-sha512.txt",
                 "metadata/datacite.xml", "data/README.md", "data/croissant.json", "data/SHA256SUMS",
                 "data/articles_per_month.png"):
        assert (bag_dir / name).is_file(), name
    assert list((bag_dir / "data" / "data").glob("*.parquet"))
    assert "metadata/datacite.xml" in (bag_dir / "tagmanifest-sha512.txt").read_text(encoding="utf-8")


def test_bag_info_says_who_what_and_where_from(made):
    import bagit

    info = bagit.Bag(str(made[3].path)).info
    assert info["Source-Organization"] == "Test Archive Press"
    assert info["Contact-Name"] == "Data Desk" and info["Contact-Email"] == "data@example.org"
    assert info["External-Identifier"] == "maghress-test v1.0.0"
    assert info["Bag-Group-Identifier"] == "maghress-test"
    assert "20 news articles" in info["External-Description"]
    assert info["Bagging-Date"] == "2024-08-01"  # the snapshot's publication date (its last append)
    assert info["Payload-Oxum"].endswith(".5") and info["Bag-Size"]
    assert info["Newsarchive-Archive-Version"] == "0" and info["Newsarchive-Version"]


def test_datacite_record_passes_the_datacite_package_and_is_the_xml_written(made):
    from datacite import schema45
    from lxml import etree

    from toolkit.publish.bagging import deposit_record
    from toolkit.publish.recipe import load_recipe

    _, recipe, snapshot, bag = made
    data = deposit_record(snapshot, load_recipe(recipe))
    assert schema45.validate(data)
    written = (bag.path / "metadata" / "datacite.xml").read_bytes()
    assert written == schema45.tostring(data).encode("utf-8")
    ns = {"d": "http://datacite.org/schema/kernel-4"}
    root = etree.fromstring(written)
    assert root.findtext("d:titles/d:title", namespaces=ns) == "Maghress test articles"
    assert root.findtext("d:creators/d:creator/d:nameIdentifier", namespaces=ns) == f"https://orcid.org/{ORCID}"
    assert root.findtext("d:publisher", namespaces=ns) == "Test Archive Press"
    assert root.findtext("d:version", namespaces=ns) == "v1.0.0"
    assert root.find("d:rightsList/d:rights", namespaces=ns).get("rightsIdentifier") == "CC-BY-4.0"
    assert root.findtext("d:descriptions/d:description[@descriptionType='Abstract']", namespaces=ns) \
        == "Moroccan news in French and Arabic, collected through Maghress."
    dates = {d.get("dateType"): d.text for d in root.findall("d:dates/d:date", namespaces=ns)}
    assert dates["Created"] == "2024-08-01"
    first, last = dates["Other"].split("/")  # the covered period (Coverage)
    assert first.startswith("2023-") and last.startswith("2024-") and first < last
    assert root.findtext("d:language", namespaces=ns) == "fr"
    related = root.find("d:relatedIdentifiers/d:relatedIdentifier", namespaces=ns)
    assert related.text == "https://huggingface.co/datasets/maghress/news/tree/v1.0.0"
    assert "application/vnd.apache.parquet" in [f.text for f in root.findall("d:formats/d:format", namespaces=ns)]
    assert "20 articles" in [s.text for s in root.findall("d:sizes/d:size", namespaces=ns)]


def test_a_fresh_bag_verifies_and_the_snapshot_inside_loads(made, tmp_path):
    from datasets import load_dataset

    check = verify_bag(made[3].path)
    assert check.ok, check.problems
    assert check.snapshot is not None and check.snapshot.rows == 20
    loaded = load_dataset(str(made[3].path / "data"), split="train", cache_dir=str(tmp_path / "cache"))
    assert loaded.num_rows == 20


def test_a_flipped_bit_in_a_shard_is_named(bag_copy):
    shard = sorted((bag_copy / "data" / "data").glob("*.parquet"))[0]
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0x01
    shard.write_bytes(bytes(data))
    problems = verify_bag(bag_copy).problems
    name = f"data/data/{shard.name}"
    assert problems == [f"{name}: sha256 does not match manifest-sha256.txt (the file changed or is corrupt)",
                        f"{name}: sha512 does not match manifest-sha512.txt (the file changed or is corrupt)"]


def test_a_removed_file_is_named(bag_copy):
    (bag_copy / "data" / "articles_per_month.png").unlink()
    problems = verify_bag(bag_copy).problems
    assert "data/articles_per_month.png: listed in the manifests but missing" in problems
    assert any(p.startswith("bag-info.txt: Payload-Oxum validation failed") for p in problems), problems


def test_an_added_file_is_named_by_the_command(bag_copy):
    (bag_copy / "data" / "data" / "extra.parquet").write_bytes(b"PAR1")
    (bag_copy / "metadata" / "notes.txt").write_text("added later\n", encoding="utf-8")
    done = run_cli("verify", str(bag_copy), env=cli_env())
    assert done.code == 1, done.err
    assert "FAULT  data/data/extra.parquet: not listed in the manifests (a file was added after bagging)" in done.out
    assert "FAULT  metadata/notes.txt: not listed in the tag manifests" in done.out
    assert "problem(s)" in done.out and done.err == ""  # bagit's own log lines stay quiet


@pytest.mark.parametrize(("name", "content", "expected"), [
    ("bag-info.txt", b"\xff\xfe garbage\n", "bag-info.txt: not UTF-8 text (byte 0xff at offset 0)"),
    ("manifest-sha512.txt", b"\xff\xfe garbage\n", "manifest-sha512.txt: not UTF-8 text (byte 0xff at offset 0)"),
    ("bag-info.txt", b"Payload-Oxum: lots\n", "bag-info.txt: Payload-Oxum or another tag is malformed"),
    ("manifest-sha256.txt", b"00  ../../outside\n", "bagit.txt: not a readable bag (Path \"../../outside\""),
])
def test_damaged_tag_files_are_named_not_a_crash(bag_copy, name, content, expected):
    (bag_copy / name).write_bytes(content)
    problems = verify_bag(bag_copy).problems
    assert len(problems) == 1 and problems[0].startswith(expected), problems


def test_a_changed_datacite_record_is_named(bag_copy):
    path = bag_copy / "metadata" / "datacite.xml"
    path.write_bytes(path.read_bytes().replace(b"Test Archive Press", b"Someone Else"))
    problems = verify_bag(bag_copy).problems
    assert "metadata/datacite.xml: sha256 does not match tagmanifest-sha256.txt (the file changed or is corrupt)" \
        in problems


def test_two_bags_of_one_snapshot_are_byte_identical(made, tmp_path, monkeypatch):
    import os

    _, recipe, snapshot, _ = made
    one = deposit(snapshot, tmp_path / "one", dataset=recipe, bagging_date="2025-01-02").path
    two = tmp_path / "elsewhere" / "two"
    done = run_cli("deposit", str(snapshot), "--output", str(two), "--dataset", str(recipe),
                   "--bagging-date", "2025-01-02", env=cli_env())  # another process, another folder
    assert done.code == 0, done.err
    # another file system lists folders in another order: bagit writes its tag manifests in that order
    listdir = os.listdir
    monkeypatch.setattr(os, "listdir", lambda path=".": list(reversed(listdir(path))))
    three = deposit(snapshot, tmp_path / "three", dataset=recipe, bagging_date="2025-01-02").path
    monkeypatch.undo()
    files_one = sorted(p.relative_to(one).as_posix() for p in one.rglob("*") if p.is_file())
    for other in (two, three):
        files = sorted(p.relative_to(other).as_posix() for p in other.rglob("*") if p.is_file())
        assert files == files_one and len(files) == 12
        for name in files_one:
            assert filecmp.cmp(one / name, other / name, shallow=False), (other.name, name)
    tagmanifest = (one / "tagmanifest-sha256.txt").read_text(encoding="utf-8").splitlines()
    assert [line.split(" ", 1)[1] for line in tagmanifest] == sorted(line.split(" ", 1)[1] for line in tagmanifest)
    assert "Bagging-Date: 2025-01-02\n" in (one / "bag-info.txt").read_text(encoding="utf-8")


@pytest.mark.parametrize(("drop", "field"), [
    ('email = "data@example.org"\n', "contact.email"),
    ('publisher = "Test Archive Press"\n', "publisher"),
    ('[[creators]]\nname = "Carberry, Josiah"\ngiven_name = "Josiah"\nfamily_name = "Carberry"\n'
     f'orcid = "{ORCID}"\naffiliation = "Example University"\n[[creators]]\nname = "Newsroom Lab"\n'
     'type = "Organizational"\n', "creators"),
])
def test_missing_deposit_metadata_is_one_line_naming_the_field(made, tmp_path, drop, field):
    _, _, snapshot, _ = made
    text = RECIPE_HEAD + DEPOSIT_FIELDS
    assert drop in text
    recipe = write_recipe(tmp_path / "datasets" / "maghress-test", text.replace(drop, ""))
    done = run_cli("deposit", str(snapshot), "--output", str(tmp_path / "bag"), "--dataset", str(recipe),
                   env=cli_env())
    assert done.code == 2
    assert done.err.count("\n") == 1 and f"`{field}` is missing" in done.err, done.err
    assert not (tmp_path / "bag").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".bag")]


def test_a_mistyped_orcid_is_refused(made, tmp_path):
    recipe = write_recipe(tmp_path / "datasets" / "maghress-test",
                          RECIPE_HEAD + DEPOSIT_FIELDS.replace(ORCID, "0000-0002-1825-0098"))
    with pytest.raises(NewsarchiveError, match=r"creators\[0\]\.orcid.*not a valid ORCID"):
        deposit(made[2], tmp_path / "bag", dataset=recipe)


def test_outputs_are_never_written_over_unless_they_are_bags(made, tmp_path):
    _, recipe, snapshot, _ = made
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "thesis.pdf").write_bytes(b"%PDF")
    with pytest.raises(NewsarchiveError, match="is not a bag"):
        deposit(snapshot, taken, dataset=recipe, force=True)
    assert (taken / "thesis.pdf").read_bytes() == b"%PDF"
    bag = deposit(snapshot, tmp_path / "bag", dataset=recipe).path
    with pytest.raises(NewsarchiveError, match="already holds a bag; pass --force"):
        deposit(snapshot, bag, dataset=recipe)
    deposit(snapshot, bag, dataset=recipe, bagging_date="2030-01-01", force=True)
    assert "Bagging-Date: 2030-01-01" in (bag / "bag-info.txt").read_text(encoding="utf-8")
    with pytest.raises(NewsarchiveError, match="inside the snapshot"):
        deposit(snapshot, snapshot / "bag", dataset=recipe)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bag", "taken"]  # no build folder left behind


def test_algorithm_picks_the_manifests(made, tmp_path):
    _, recipe, snapshot, _ = made
    bag = deposit(snapshot, tmp_path / "bag", dataset=recipe, algorithms="sha512").path
    assert sorted(p.name for p in bag.glob("*manifest-*.txt")) == ["manifest-sha512.txt", "tagmanifest-sha512.txt"]
    assert verify_bag(bag).ok
    with pytest.raises(NewsarchiveError, match="--algorithm crc32: not a checksum bagit knows"):
        deposit(snapshot, tmp_path / "other", dataset=recipe, algorithms="sha256,crc32")


def test_an_interrupted_deposit_leaves_the_old_bag_whole(made, tmp_path, monkeypatch):
    from toolkit.publish import bagging

    _, recipe, snapshot, _ = made
    bag = deposit(snapshot, tmp_path / "bag", dataset=recipe, bagging_date="2025-01-01").path
    before = {p.relative_to(bag): p.read_bytes() for p in bag.rglob("*") if p.is_file()}

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt  # Ctrl-C with the new bag half made beside the old one

    monkeypatch.setattr(bagging, "_sort_tagmanifests", interrupt)
    with pytest.raises(KeyboardInterrupt):
        deposit(snapshot, bag, dataset=recipe, bagging_date="2030-01-01", force=True)
    assert {p.relative_to(bag): p.read_bytes() for p in bag.rglob("*") if p.is_file()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["bag"]  # the half-made bag is gone


def test_a_damaged_snapshot_is_not_bagged(made, tmp_path):
    _, recipe, snapshot, _ = made
    copy = tmp_path / "snapshot"
    shutil.copytree(snapshot, copy)
    (copy / "croissant.json").write_text("{}", encoding="utf-8")
    with pytest.raises(NewsarchiveError, match="croissant.json: SHA-256 does not match"):
        deposit(copy, tmp_path / "bag", dataset=recipe)
    assert not (tmp_path / "bag").exists()


def test_publish_with_bag_does_both(made, tmp_path):
    base, recipe, _, _ = made
    snapshot, bag = tmp_path / "snapshots" / "v2.0.0", tmp_path / "deposits" / "v2.0.0"
    done = run_cli("publish", "--archive", str(base / "archive"), "--dataset", str(recipe), "--version", "v2.0.0",
                   "--output", str(snapshot), "--bag", str(bag), env=cli_env())
    assert done.code == 0, done.err
    assert f"-> {bag}" in done.out
    assert verify_bag(bag).ok


def test_publish_with_bag_refuses_missing_metadata_before_publishing(made, tmp_path):
    base = made[0]
    recipe = write_recipe(tmp_path / "datasets" / "maghress-test", RECIPE_HEAD)  # no deposit fields
    snapshot = tmp_path / "snapshots" / "v3.0.0"
    done = run_cli("publish", "--archive", str(base / "archive"), "--dataset", str(recipe), "--version", "v3.0.0",
                   "--output", str(snapshot), "--bag", str(tmp_path / "bag"), env=cli_env())
    assert done.code == 2 and "`creators` is missing" in done.err and done.err.count("\n") == 1, done.err
    assert not snapshot.exists()  # nothing published that could not be deposited

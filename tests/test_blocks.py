"""Block counts have one owner (bifsmn.blocks): conversion, validation, old indices in
configs and ``.bkws`` files of format versions 1-2."""

from __future__ import annotations

import numpy as np
import pytest

from bifsmn import blocks
from bifsmn.engine import Engine, export_checkpoint
from bifsmn.engine.format import decode, encode, legacy_paths, make_record
from bifsmn.engine.testing import make_checkpoint, random_features
from bifsmn.errors import BifsmnError, MissingPath
from bifsmn.train.config import config_from_dict, load_config, resolve_config


def test_counts_and_indices() -> None:
    assert blocks.counts() == [8, 4, 2, 1]
    assert blocks.counts(8, 1) == [8]
    assert blocks.counts(4) == [4, 2, 1]  # a path that would run no block does not exist
    assert [blocks.to_index(b) for b in (8, 4, 2, 1)] == [0, 1, 2, 3]
    assert [blocks.from_index(p) for p in range(4)] == [8, 4, 2, 1]
    assert blocks.to_index(2, 4) == 1 and blocks.from_index(1, 6) == 3
    assert blocks.layers_of(4) == [1, 3, 5, 7] and blocks.layers_of(1) == [7]
    assert blocks.parse("4") == 4 and blocks.parse_many([8, "2"]) == [8, 2]
    for bad in (3, 0, 16, "x", 8.0, True):
        with pytest.raises(BifsmnError):
            blocks.to_index(bad)  # type: ignore[arg-type]
    with pytest.raises(BifsmnError, match="repeat"):
        blocks.parse_many([8, 8])
    assert blocks.parse_many(4) == [4] and blocks.parse_many("2") == [2]
    for bad in (4.0, None):  # one wrong value: named as parse names it, not "not iterable"
        with pytest.raises(BifsmnError, match="blocks must be one of"):
            blocks.parse_many(bad)
    with pytest.raises(MissingPath, match="4 blocks not available"):
        blocks.require(4, 8, 1)
    assert blocks.require(4, 8, 4) == 1


def test_config_speaks_block_counts_and_reads_old_path_indices() -> None:
    cfg = load_config(resolve_config("bifsmnv2"))
    assert cfg.train.blocks == [8, 4, 2, 1] and cfg.path_indices == [0, 1, 2, 3]
    old = config_from_dict({"train": {"paths": [0, 2], "path_weights": [1.0, 0.5]}})
    assert old.train.blocks == [8, 2] and old.path_indices == [0, 2]
    assert "paths" not in old.to_dict()["train"]  # written back in the new form
    with pytest.raises(BifsmnError, match="train.blocks"):
        config_from_dict({"train": {"blocks": [8, 3]}})
    with pytest.raises(BifsmnError, match="not also"):
        config_from_dict({"train": {"blocks": [8], "paths": [0]}})
    with pytest.raises(BifsmnError, match="train.paths"):
        config_from_dict({"train": {"paths": [7]}})


@pytest.mark.parametrize("layers", [8, 4])
def test_bkws_v3_stores_block_counts_and_old_files_load(tmp_path, layers) -> None:
    kw = {} if layers == 8 else {"num_layers": 4, "dim": 32, "hidden": 48}
    ckpt = make_checkpoint(tmp_path / "m.pt", "bifsmnv2", seed=1, **kw)
    v3 = export_checkpoint(ckpt, tmp_path / "m.bkws")
    recs = decode(v3.read_bytes())
    assert list(recs["paths"].array()) == blocks.counts(layers)
    x = random_features(3, seed=2)
    new = Engine(v3)
    assert new.paths == blocks.counts(layers)
    # the same file as version 2 (path indices): same paths, same logits
    v2 = tmp_path / "v2.bkws"
    v2.write_bytes(encode(legacy_paths(list(recs.values())), version=2))
    assert list(decode(v2.read_bytes())["paths"].array()) == list(range(len(new.paths)))
    old = Engine(v2)
    assert old.paths == new.paths
    for b in new.paths:
        old.set_blocks(b)
        new.set_blocks(b)
        np.testing.assert_array_equal(old.predict(x), new.predict(x))
    assert old.blocks == new.paths[-1]
    with pytest.raises(MissingPath):
        old.set_blocks(16)
    if layers == 4:  # an old 4-layer export named index 3 (runs no block): dropped on load
        legacy = [r if r.name != "paths" else make_record("paths", np.arange(4), "i32")
                  for r in legacy_paths(list(recs.values()))]
        v2.write_bytes(encode(legacy, version=2))
        assert Engine(v2).paths == [4, 2, 1]

"""Precomputes what `estimate` needs for the bundled catalog, so it answers without importing torch or trl.

Writes engine/catalog/structures.json (each catalog model measured on torch's meta device) and
engine/catalog/schema-<versions>.json (the SFTConfig/LoraConfig/BitsAndBytesConfig fields of the
installed versions) and engine/catalog/trainer-keys-<versions>.json (the settings of TRL's other trainers).
Rerun after changing the catalog or bumping trl/transformers/peft.
"""

import json
import os
import tempfile
from pathlib import Path

os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp()  # measure fresh, never from a stale cache

from engine.config import schema  # noqa: E402
from engine.importing import trainer_keys  # noqa: E402
from engine.models import structure as modelinfo  # noqa: E402

catalog_dir = Path(modelinfo.__file__).parent / "catalog"
structures = {}
for entry in modelinfo.catalog():
    key = modelinfo.config_key(entry["config"])
    structures[key] = modelinfo.structure_to_json(modelinfo.structure_for_config(entry["config"]))
(catalog_dir / "structures.json").write_text(json.dumps(structures, indent=0) + "\n")
for old in [*catalog_dir.glob("schema-*.json"), *catalog_dir.glob("trainer-keys-*.json")]:
    old.unlink()
raw = schema._build_raw_schema()
(catalog_dir / f"schema-{schema.versions_key()}.json").write_text(json.dumps(raw) + "\n")
trainers = trainer_keys.build_other_trainers()
(catalog_dir / trainer_keys.trainer_keys_file_name()).write_text(json.dumps(trainers) + "\n")
print(f"{len(structures)} structures, schema for {schema.versions_key()}")

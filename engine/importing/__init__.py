"""What `sft-wizard import` reads: tutorial code (Python, notebooks) and other tools' configs, turned into presets."""
